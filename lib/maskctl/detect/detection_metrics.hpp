#pragma once
// Detection metrics the way detection people read them: boxes matched to ground truth at an IoU
// threshold exactly as pycocotools matches them (highest score first, each ground-truth box taken
// once, a duplicate is a false positive, ignored boxes neither count nor hurt), precision and
// recall at the operating point, AP with COCO's 101-point interpolation at IoU 0.5 and averaged over
// 0.5:0.05:0.95, per class and for the face detector alone; recall per face size; the classifier on
// the faces the detector found, as a confusion matrix with a "missed" column and a "background" row.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "maskctl/train/metrics.hpp"

namespace maskctl {

// ---- building blocks ---------------------------------------------------------------------------

// pycocotools' evaluateImg for one image and one class: `dets` must be sorted best score first.
// Returns, per detection, the ground-truth index it matched (-1 none) and whether it is ignored
// (matched an ignored box, or unmatched and `ignore_unmatched[d]`).
struct BoxMatch {
    std::vector<int> det_to_gt;
    std::vector<bool> det_ignored;
    std::vector<int> gt_to_det;
};
BoxMatch match_boxes(const std::vector<cv::Rect2f>& gts, const std::vector<bool>& gt_ignored,
                     const std::vector<cv::Rect2f>& dets, float iou_threshold,
                     const std::vector<bool>& ignore_unmatched = {});

// A precision-recall curve from pooled detections (score, true positive?) and the number of
// ground-truth boxes; points in descending score order, as pycocotools' accumulate builds it.
struct PrCurve {
    std::vector<double> recall, precision, score;
};
PrCurve pr_curve(std::vector<std::pair<float, bool>> scored, std::int64_t positives);

// COCO's 101-point interpolated AP: the mean over recall 0, 0.01, ..., 1 of the highest precision at
// that recall or beyond (0 past the last recall reached). -1 when there is no positive.
double average_precision(const PrCurve& curve, std::int64_t positives);

// ---- whole evaluation --------------------------------------------------------------------------

// One image: its ground truth (labels index the dataset's classes) and what the model said (labels
// index the model's classes; score ranks detections: the face score times the class probability).
struct EvalTruth {
    cv::Rect2f box;
    int label = 0;
    bool difficult = false;
};
struct EvalDetection {
    cv::Rect2f box;
    int label = 0;
    float face_score = 0;   // the face detector's score (ranks the class-agnostic evaluation)
    float confidence = 0;   // the class probability of `label`
};
struct EvalImage {
    std::vector<EvalTruth> truth;
    std::vector<EvalDetection> detections;
};

struct DetectionEvalOptions {
    // Unmatched detections whose shorter side is below this many pixels are ignored, not counted as
    // false positives: small background faces are often left unannotated. 0 = count them all.
    float ignore_below = 16;
    // Dataset class -> model class, for dataset classes the model lacks (e.g. mask_weared_incorrect
    // -> without_mask for a 2-class model). Unmapped missing classes are reported apart.
    std::map<std::string, std::string> class_map;
    std::vector<float> size_edges{16, 24, 48, 96};  // face-size buckets by shorter side, pixels
};

struct DetectionScores {
    std::string name;
    std::int64_t truth = 0;       // ground-truth boxes (not ignored)
    std::int64_t detections = 0;  // detections counted (not ignored)
    std::int64_t true_positives = 0;  // at IoU 0.5
    double precision = 0, recall = 0;
    double ap50 = -1, ap50_95 = -1;  // -1 = undefined (no ground truth)
};

struct SizeRecall {
    std::string name;  // "<16", "16-24", ..., ">=96"
    float min = 0, max = 0;  // shorter side in [min, max)
    std::int64_t truth = 0, found = 0;
    double recall = 0;
};

// A dataset class the model does not have: how many, how many the detector found, and what the
// classifier called them.
struct MissingClass {
    std::string name;
    std::int64_t truth = 0, found = 0;
    std::vector<std::int64_t> labelled_as;  // per model class
};

struct DetectionReport {
    std::int64_t images = 0;
    std::vector<std::string> dataset_classes, model_classes;
    DetectionEvalOptions options;
    std::vector<DetectionScores> per_class;  // model classes
    DetectionScores all;                      // sums of counts, means of P/R/AP over classes with truth (mAP)
    DetectionScores faces;                    // class-agnostic: the face detector alone
    std::int64_t ignored_detections = 0;      // unmatched and smaller than ignore_below (class-agnostic)
    std::vector<SizeRecall> sizes;            // the face detector alone
    SizeRecall small, large;                  // < and >= the second size edge (24 px by default)
    std::vector<PrCurve> curves;              // per model class, at IoU 0.5
    // Class-agnostic matches at IoU 0.5: rows = dataset classes + "background", columns = model
    // classes + "missed".
    std::vector<std::string> confusion_rows, confusion_columns;
    std::vector<std::vector<std::int64_t>> confusion;
    Metrics classifier;  // matched faces of classes the model has (after class_map)
    Metrics masked;      // matched faces, 2 classes: "masked" vs "not masked" (anything that is not a mask)
    std::vector<MissingClass> missing;
};

// Throws ConfigError for a class_map entry whose target is not a model class.
DetectionReport evaluate_detections(const std::vector<EvalImage>& images, const std::vector<std::string>& dataset_classes,
                                    const std::vector<std::string>& model_classes, const DetectionEvalOptions& options = {});

// The printed report: Ultralytics' val table, the size table, sklearn's classification_report of
// the matched faces, and the confusion matrix.
std::string detection_report_text(const DetectionReport& r, int digits = 3);

nlohmann::json to_json(const DetectionReport& r);

}  // namespace maskctl
