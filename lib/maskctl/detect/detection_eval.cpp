#include "maskctl/detect/detection_eval.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/predictions.hpp"

namespace fs = std::filesystem;

namespace maskctl {
namespace {

std::string relative_name(const fs::path& image, const fs::path& dir) { return image.lexically_relative(dir).generic_string(); }

// Decodes `image` as BGR (the detectors' order); nullopt (and `bad` told) when it cannot be.
std::optional<cv::Mat> decode_bgr(const fs::path& image, BadFileReport& bad) {
    try {
        cv::Mat bgr;
        cv::cvtColor(decode_image(image), bgr, cv::COLOR_RGB2BGR);
        return bgr;
    } catch (const ImageError& e) {
        bad.add({image, e.problem(), e.what()});
        return std::nullopt;
    }
}

ImagePrediction prediction_for(const DetectionDataset& dataset, const AnnotatedImage& a, cv::Size size) {
    ImagePrediction p;
    p.image = a.image;
    p.relative = relative_name(a.image, dataset.images_dir);
    p.size = size;
    p.truth = in_pixels(a, size);
    return p;
}

cv::Rect2f clipped(const cv::Rect2f& r, cv::Size size) {
    return r & cv::Rect2f(0, 0, static_cast<float>(size.width), static_cast<float>(size.height));
}

}  // namespace

std::vector<ImagePrediction> predict_dataset(MaskDetector& detector, const DetectionDataset& dataset,
                                             const EvalProgress& progress, BadFileReport& bad) {
    std::vector<ImagePrediction> out;
    for (std::size_t i = 0; i < dataset.images.size(); ++i) {
        const auto& a = dataset.images[i];
        if (const auto bgr = decode_bgr(a.image, bad)) {
            ImagePrediction p = prediction_for(dataset, a, bgr->size());
            p.faces = detector.detect_image(*bgr);
            out.push_back(std::move(p));
        }
        if (progress) progress(i + 1, dataset.images.size());
    }
    return out;
}

std::vector<ImagePrediction> saved_dataset_predictions(const fs::path& predictions, const DetectionDataset& dataset,
                                                       std::vector<std::string>& classes, BadFileReport& bad) {
    std::vector<ImagePrediction> out;
    for (const auto& a : dataset.images)
        if (const auto bgr = decode_bgr(a.image, bad)) out.push_back(prediction_for(dataset, a, bgr->size()));
    std::vector<std::string> names;
    std::vector<cv::Size> sizes;
    for (const auto& p : out) names.push_back(p.relative), sizes.push_back(p.size);
    SavedPredictions saved = read_saved_predictions(predictions, names, sizes);
    classes = saved.classes;
    for (auto& p : out) p.faces = saved.faces.at(p.relative);
    return out;
}

std::vector<std::pair<cv::Rect2f, cv::Rect2f>> matched_box_pairs(const std::vector<ImagePrediction>& predictions,
                                                                 float min_iou, float min_side) {
    std::vector<std::pair<cv::Rect2f, cv::Rect2f>> pairs;
    for (const auto& p : predictions)
        for (const auto& t : p.truth) {
            if (t.difficult || std::min(t.box.width, t.box.height) < min_side) continue;
            const FaceResult* best = nullptr;
            float best_iou = min_iou;
            for (const auto& f : p.faces)
                if (const float v = iou(f.box, t.box); v >= best_iou) best = &f, best_iou = v;
            if (best) pairs.emplace_back(best->box, t.box);
        }
    return pairs;
}

EvalImage to_eval_image(const ImagePrediction& p) {
    EvalImage e;
    for (const auto& t : p.truth) e.truth.push_back({t.box, t.label, t.difficult});
    for (const auto& f : p.faces) {
        if (f.label < 0) continue;
        const cv::Rect2f box = clipped(f.box, p.size);
        if (box.area() <= 0) continue;
        e.detections.push_back({box, f.label, f.score, f.confidence});
    }
    return e;
}

cv::Mat draw_mistakes(const cv::Mat& bgr, const ImagePrediction& p, const std::vector<std::string>& dataset_classes,
                      const std::vector<std::string>& model_classes, const DetectionEvalOptions& options) {
    const EvalImage e = to_eval_image(p);
    std::vector<int> order(e.detections.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return e.detections[a].face_score > e.detections[b].face_score; });
    std::vector<cv::Rect2f> gts, dets;
    std::vector<bool> difficult, small;
    for (const auto& t : e.truth) gts.push_back(t.box), difficult.push_back(t.difficult);
    for (int d : order) {
        dets.push_back(e.detections[static_cast<std::size_t>(d)].box);
        small.push_back(std::min(dets.back().width, dets.back().height) < options.ignore_below);
    }
    const BoxMatch m = match_boxes(gts, difficult, dets, 0.5f, small);

    cv::Mat out = bgr.clone();
    AnnotateStyle style;
    const cv::Scalar magenta(255, 0, 255), grey(170, 170, 170), red(0, 0, 230);
    bool any = false;
    for (std::size_t g = 0; g < gts.size(); ++g) {
        if (difficult[g]) continue;
        const std::string& truth = dataset_classes[static_cast<std::size_t>(e.truth[g].label)];
        const int d = m.gt_to_det[g];
        if (d < 0) {
            draw_face(out, cv::Rect(gts[g]), "missed: " + truth, magenta, style);
            any = true;
            continue;
        }
        const std::string& said = model_classes[static_cast<std::size_t>(e.detections[order[d]].label)];
        const auto mapped = options.class_map.count(truth) ? options.class_map.at(truth) : truth;
        const bool known = std::count(model_classes.begin(), model_classes.end(), mapped) > 0;
        const bool wrong = known ? said != mapped : (label_kind(said) == LabelKind::mask) != (label_kind(truth) == LabelKind::mask);
        if (wrong) any = true;
        draw_face(out, cv::Rect(dets[static_cast<std::size_t>(d)]), wrong ? truth + " -> " + said : said,
                  wrong ? red : grey, style);
    }
    for (std::size_t d = 0; d < dets.size(); ++d) {
        if (m.det_to_gt[d] >= 0 || m.det_ignored[d]) continue;
        draw_face(out, cv::Rect(dets[d]), "background: " + model_classes[e.detections[order[d]].label], red, style);
        any = true;
    }
    return any ? out : cv::Mat();
}

}  // namespace maskctl
