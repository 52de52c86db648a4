#pragma once
// maskctl val: the whole detect path (MaskDetector::detect_image, the same code and options as
// maskctl detect --image) run over a detection dataset, or predictions saved earlier, scored with
// detection_metrics.hpp; plus the pictures of the report (missed faces and wrong labels drawn on
// the photos).
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/data/annotations.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/detect/detection_metrics.hpp"
#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

struct ImagePrediction {
    std::filesystem::path image;
    std::string relative;  // to the dataset's images folder, '/' separators
    cv::Size size;
    std::vector<LabelledBox> truth;  // pixels
    std::vector<FaceResult> faces;
};

using EvalProgress = std::function<void(std::size_t done, std::size_t total)>;

// Decodes every image of the dataset and runs `detector` on it. Images that fail to decode are
// skipped and listed in `bad`.
std::vector<ImagePrediction> predict_dataset(MaskDetector& detector, const DetectionDataset& dataset,
                                             const EvalProgress& progress, BadFileReport& bad);

// The dataset's images with the faces read from a --save-txt folder or a --save-json file; returns
// the classes the predictions use.
std::vector<ImagePrediction> saved_dataset_predictions(const std::filesystem::path& predictions,
                                                       const DetectionDataset& dataset, std::vector<std::string>& classes,
                                                       BadFileReport& bad);

// Ground truth and detections of one image for evaluate_detections (detections clipped to the image,
// as a YOLO txt file holds them).
EvalImage to_eval_image(const ImagePrediction& p);

// (detected, labelled) box pairs for fit_box_adjust: every labelled face whose shorter side is at least
// `min_side` px (not difficult) with the detection that overlaps it most, when that IoU is >= min_iou.
// Below IoU 0.5 on purpose: boxes drawn another way than the labels miss 0.5, and those are the ones
// the fit must see.
std::vector<std::pair<cv::Rect2f, cv::Rect2f>> matched_box_pairs(const std::vector<ImagePrediction>& predictions,
                                                                 float min_iou = 0.3f, float min_side = 24);

// The photo with its mistakes drawn, or an empty Mat when there are none at IoU 0.5: missed faces
// (magenta, "missed: <class>"), wrong labels ("<true> -> <predicted>"), detections that match no
// face ("background"); correct faces thin grey. BGR in, BGR out.
cv::Mat draw_mistakes(const cv::Mat& bgr, const ImagePrediction& p, const std::vector<std::string>& dataset_classes,
                      const std::vector<std::string>& model_classes, const DetectionEvalOptions& options);

}  // namespace maskctl
