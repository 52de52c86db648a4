#include "maskctl/detect/detection_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/face_detector.hpp"

namespace maskctl {
namespace {

constexpr int kThresholds = 10;  // IoU 0.50, 0.55, ..., 0.95
float iou_threshold(int t) { return 0.5f + 0.05f * static_cast<float>(t); }

double ratio(std::int64_t a, std::int64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

float shorter_side(const cv::Rect2f& r) { return std::min(r.width, r.height); }

// Detections of one image for one evaluation (a class, or all faces): boxes best first with their
// ranking scores, and whether an unmatched one is too small to hold against the detector.
struct Ranked {
    std::vector<cv::Rect2f> boxes;
    std::vector<float> scores;
    std::vector<int> source;  // index into EvalImage::detections
    std::vector<bool> small;
};

// Pooled over images, per IoU threshold: (score, true positive) of counted detections.
struct Pool {
    std::vector<std::pair<float, bool>> scored[kThresholds];
    std::int64_t positives = 0;
    std::int64_t detections = 0, true_positives = 0;  // at IoU 0.5
};

void add_image(Pool& pool, const std::vector<cv::Rect2f>& gts, const std::vector<bool>& gt_ignored, const Ranked& dets,
               std::vector<BoxMatch>* matches = nullptr) {
    pool.positives += std::count(gt_ignored.begin(), gt_ignored.end(), false);
    for (int t = 0; t < kThresholds; ++t) {
        BoxMatch m = match_boxes(gts, gt_ignored, dets.boxes, iou_threshold(t), dets.small);
        for (std::size_t d = 0; d < dets.boxes.size(); ++d) {
            if (m.det_ignored[d]) continue;
            pool.scored[t].emplace_back(dets.scores[d], m.det_to_gt[d] >= 0);
            if (t == 0) ++pool.detections, pool.true_positives += m.det_to_gt[d] >= 0;
        }
        if (matches) matches->push_back(std::move(m));
    }
}

DetectionScores scores_of(const std::string& name, const Pool& pool, PrCurve* curve_at_50 = nullptr) {
    DetectionScores s;
    s.name = name;
    s.truth = pool.positives;
    s.detections = pool.detections;
    s.true_positives = pool.true_positives;
    s.precision = ratio(pool.true_positives, pool.detections);
    s.recall = ratio(pool.true_positives, pool.positives);
    if (pool.positives == 0) return s;
    double sum = 0;
    for (int t = 0; t < kThresholds; ++t) {
        PrCurve c = pr_curve(pool.scored[t], pool.positives);
        const double ap = average_precision(c, pool.positives);
        if (t == 0) {
            s.ap50 = ap;
            if (curve_at_50) *curve_at_50 = std::move(c);
        }
        sum += ap;
    }
    s.ap50_95 = sum / kThresholds;
    return s;
}

Ranked rank(const EvalImage& img, int label, float ignore_below) {
    std::vector<int> idx;
    for (std::size_t d = 0; d < img.detections.size(); ++d)
        if (label < 0 || img.detections[d].label == label) idx.push_back(static_cast<int>(d));
    const auto score = [&](int d) {
        const auto& det = img.detections[static_cast<std::size_t>(d)];
        return label < 0 ? det.face_score : det.face_score * det.confidence;
    };
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score(a) > score(b); });
    Ranked r;
    for (int d : idx) {
        const auto& det = img.detections[static_cast<std::size_t>(d)];
        r.boxes.push_back(det.box);
        r.scores.push_back(score(d));
        r.source.push_back(d);
        r.small.push_back(shorter_side(det.box) < ignore_below);
    }
    return r;
}

std::vector<SizeRecall> size_buckets(const std::vector<float>& edges) {
    std::vector<SizeRecall> out;
    float lo = 0;
    for (float e : edges) {
        out.push_back({lo == 0 ? fmt::format("<{:g}", e) : fmt::format("{:g}-{:g}", lo, e), lo, e});
        lo = e;
    }
    out.push_back({fmt::format(">={:g}", lo), lo, std::numeric_limits<float>::infinity()});
    return out;
}

void finish_recall(SizeRecall& s) { s.recall = ratio(s.found, s.truth); }

// The model class each dataset class is scored as: same name, else class_map, else -1 (missing).
std::vector<int> map_classes(const std::vector<std::string>& dataset, const std::vector<std::string>& model,
                             const std::map<std::string, std::string>& class_map) {
    for (const auto& [from, to] : class_map)
        if (std::find(model.begin(), model.end(), to) == model.end())
            throw ConfigError(fmt::format("class map {}={}: '{}' is not a class of the model ({})", from, to, to,
                                          fmt::join(model, ", ")));
    std::vector<int> out;
    for (const auto& name : dataset) {
        auto it = std::find(model.begin(), model.end(), name);
        if (it == model.end() && class_map.count(name)) it = std::find(model.begin(), model.end(), class_map.at(name));
        out.push_back(it == model.end() ? -1 : static_cast<int>(it - model.begin()));
    }
    return out;
}

// Everything read from the class-agnostic matches at IoU 0.5.
struct FaceTally {
    std::vector<std::vector<std::int64_t>> confusion, classifier, masked;
    std::vector<SizeRecall> sizes;
    SizeRecall small, large;
    std::vector<MissingClass> missing;
    std::int64_t ignored = 0;
};

void tally_faces(FaceTally& f, const EvalImage& img, const Ranked& dets, const BoxMatch& m, const std::vector<int>& to_model,
                 const DetectionReport& r) {
    const std::size_t model_n = r.model_classes.size(), ds_n = r.dataset_classes.size();
    const auto is_mask = [](const std::string& n) { return label_kind(n) == LabelKind::mask ? 0 : 1; };
    for (std::size_t g = 0; g < img.truth.size(); ++g) {
        const EvalTruth& t = img.truth[g];
        if (t.difficult) continue;
        const int d = m.gt_to_det[g];
        const int pred = d >= 0 ? img.detections[static_cast<std::size_t>(dets.source[static_cast<std::size_t>(d)])].label : -1;
        ++f.confusion[static_cast<std::size_t>(t.label)][d >= 0 ? static_cast<std::size_t>(pred) : model_n];
        const float side = shorter_side(t.box);
        for (auto& b : f.sizes)
            if (side >= b.min && side < b.max) ++b.truth, b.found += d >= 0;
        SizeRecall& half = side < f.small.max ? f.small : f.large;
        ++half.truth, half.found += d >= 0;
        const int mapped = to_model[static_cast<std::size_t>(t.label)];
        if (mapped < 0) {
            auto& miss = f.missing[static_cast<std::size_t>(t.label)];
            ++miss.truth;
            if (d >= 0) ++miss.found, ++miss.labelled_as[static_cast<std::size_t>(pred)];
        }
        if (d < 0) continue;
        if (mapped >= 0) ++f.classifier[static_cast<std::size_t>(mapped)][static_cast<std::size_t>(pred)];
        ++f.masked[is_mask(r.dataset_classes[static_cast<std::size_t>(t.label)])]
                  [is_mask(r.model_classes[static_cast<std::size_t>(pred)])];
    }
    for (std::size_t d = 0; d < dets.boxes.size(); ++d) {
        if (m.det_to_gt[d] >= 0) continue;
        if (m.det_ignored[d]) {
            ++f.ignored;
            continue;
        }
        ++f.confusion[ds_n][static_cast<std::size_t>(img.detections[static_cast<std::size_t>(dets.source[d])].label)];
    }
}

std::string fmt_ap(double v, int digits) { return v < 0 ? "-" : fmt::format("{:.{}f}", v, digits); }

std::string scores_row(const DetectionScores& s, std::int64_t images, int digits, std::size_t width) {
    return fmt::format("{:>{}}  {:>7} {:>9} {:>10} {:>7.{}f} {:>7.{}f} {:>7} {:>9}\n", s.name, width, images, s.truth,
                       s.detections, s.precision, digits, s.recall, digits, fmt_ap(s.ap50, digits),
                       fmt_ap(s.ap50_95, digits));
}

std::string table_text(const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                       const std::vector<std::vector<std::int64_t>>& counts) {
    std::size_t w = std::string("true \\ predicted").size(), cell = 6;
    for (const auto& n : rows) w = std::max(w, n.size());
    for (const auto& n : cols) cell = std::max(cell, n.size());
    std::string out = fmt::format("{:<{}}", "true \\ predicted", w);
    for (const auto& n : cols) out += fmt::format("  {:>{}}", n, cell);
    out += "\n";
    for (std::size_t r = 0; r < rows.size(); ++r) {
        out += fmt::format("{:<{}}", rows[r], w);
        for (std::size_t c = 0; c < cols.size(); ++c)
            out += (r + 1 == rows.size() && c + 1 == cols.size()) ? fmt::format("  {:>{}}", "", cell)
                                                                 : fmt::format("  {:>{}}", counts[r][c], cell);
        out += "\n";
    }
    return out;
}

nlohmann::json scores_json(const DetectionScores& s) {
    const auto ap = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
    return {{"truth", s.truth},        {"detections", s.detections}, {"true_positives", s.true_positives},
            {"precision", s.precision}, {"recall", s.recall},         {"ap50", ap(s.ap50)},
            {"ap50_95", ap(s.ap50_95)}};
}

nlohmann::json size_json(const SizeRecall& s) {
    return {{"name", s.name}, {"truth", s.truth}, {"found", s.found}, {"recall", s.recall}};
}

}  // namespace

BoxMatch match_boxes(const std::vector<cv::Rect2f>& gts, const std::vector<bool>& gt_ignored,
                     const std::vector<cv::Rect2f>& dets, float iou_threshold, const std::vector<bool>& ignore_unmatched) {
    BoxMatch m{std::vector<int>(dets.size(), -1), std::vector<bool>(dets.size(), false), std::vector<int>(gts.size(), -1)};
    // Counted boxes first, so a detection takes an ignored box only when no counted one qualifies.
    std::vector<int> order(gts.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return !gt_ignored[a] && gt_ignored[b]; });
    for (std::size_t d = 0; d < dets.size(); ++d) {
        float best_iou = std::min(iou_threshold, 1.0f - 1e-10f);
        int best = -1;
        for (int g : order) {
            if (m.gt_to_det[static_cast<std::size_t>(g)] >= 0) continue;
            if (best >= 0 && !gt_ignored[static_cast<std::size_t>(best)] && gt_ignored[static_cast<std::size_t>(g)]) break;
            const float v = iou(dets[d], gts[static_cast<std::size_t>(g)]);
            if (v < best_iou) continue;
            best_iou = v;
            best = g;
        }
        if (best < 0) {
            m.det_ignored[d] = d < ignore_unmatched.size() && ignore_unmatched[d];
            continue;
        }
        m.det_to_gt[d] = best;
        m.gt_to_det[static_cast<std::size_t>(best)] = static_cast<int>(d);
        m.det_ignored[d] = gt_ignored[static_cast<std::size_t>(best)];
    }
    return m;
}

PrCurve pr_curve(std::vector<std::pair<float, bool>> scored, std::int64_t positives) {
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    PrCurve c;
    std::int64_t tp = 0, fp = 0;
    for (const auto& [score, hit] : scored) {
        hit ? ++tp : ++fp;
        c.recall.push_back(ratio(tp, positives));
        c.precision.push_back(ratio(tp, tp + fp));
        c.score.push_back(score);
    }
    return c;
}

double average_precision(const PrCurve& curve, std::int64_t positives) {
    if (positives <= 0) return -1;
    std::vector<double> envelope = curve.precision;
    for (std::size_t i = envelope.size(); i-- > 1;) envelope[i - 1] = std::max(envelope[i - 1], envelope[i]);
    double sum = 0;
    for (int k = 0; k <= 100; ++k) {
        const double threshold = k == 100 ? 1.0 : k * 0.01;  // numpy.linspace(0, 1, 101), bit for bit
        const auto it = std::lower_bound(curve.recall.begin(), curve.recall.end(), threshold);
        if (it != curve.recall.end()) sum += envelope[static_cast<std::size_t>(it - curve.recall.begin())];
    }
    return sum / 101.0;
}

DetectionReport evaluate_detections(const std::vector<EvalImage>& images, const std::vector<std::string>& dataset_classes,
                                    const std::vector<std::string>& model_classes, const DetectionEvalOptions& options) {
    DetectionReport r;
    r.images = static_cast<std::int64_t>(images.size());
    r.dataset_classes = dataset_classes;
    r.model_classes = model_classes;
    r.options = options;
    const std::vector<int> to_model = map_classes(dataset_classes, model_classes, options.class_map);
    const std::size_t model_n = model_classes.size(), ds_n = dataset_classes.size();

    FaceTally f;
    f.confusion.assign(ds_n + 1, std::vector<std::int64_t>(model_n + 1, 0));
    f.classifier.assign(model_n, std::vector<std::int64_t>(model_n, 0));
    f.masked.assign(2, std::vector<std::int64_t>(2, 0));
    f.sizes = size_buckets(options.size_edges);
    const float split = options.size_edges.size() > 1 ? options.size_edges[1] : 24.0f;
    f.small = {fmt::format("<{:g}", split), 0, split};
    f.large = {fmt::format(">={:g}", split), split, std::numeric_limits<float>::infinity()};
    for (std::size_t c = 0; c < ds_n; ++c) f.missing.push_back({dataset_classes[c], 0, 0, std::vector<std::int64_t>(model_n, 0)});

    Pool faces;
    std::vector<Pool> per_class(model_n);
    for (const auto& img : images) {
        std::vector<cv::Rect2f> boxes;
        std::vector<bool> difficult;
        for (const auto& t : img.truth) {
            if (t.label < 0 || static_cast<std::size_t>(t.label) >= ds_n)
                throw Error(fmt::format("evaluate_detections: truth label {} outside 0..{}", t.label, ds_n - 1));
            boxes.push_back(t.box), difficult.push_back(t.difficult);
        }
        for (const auto& d : img.detections)
            if (d.label < 0 || static_cast<std::size_t>(d.label) >= model_n)
                throw Error(fmt::format("evaluate_detections: detection label {} outside 0..{}", d.label, model_n - 1));
        const Ranked all = rank(img, -1, options.ignore_below);
        std::vector<BoxMatch> matches;
        add_image(faces, boxes, difficult, all, &matches);
        tally_faces(f, img, all, matches[0], to_model, r);
        for (std::size_t c = 0; c < model_n; ++c) {
            // A face of a class the model lacks is neither a hit nor a false alarm for any class.
            std::vector<cv::Rect2f> gts;
            std::vector<bool> ignored;
            for (const auto& t : img.truth) {
                const int mapped = to_model[static_cast<std::size_t>(t.label)];
                if (mapped != static_cast<int>(c) && mapped >= 0) continue;
                gts.push_back(t.box);
                ignored.push_back(t.difficult || mapped < 0);
            }
            add_image(per_class[c], gts, ignored, rank(img, static_cast<int>(c), options.ignore_below));
        }
    }

    r.faces = scores_of("faces (detector)", faces);
    r.ignored_detections = f.ignored;
    r.all.name = "all";
    int with_truth = 0;
    r.all.ap50 = r.all.ap50_95 = 0;
    for (std::size_t c = 0; c < model_n; ++c) {
        PrCurve curve;
        r.per_class.push_back(scores_of(model_classes[c], per_class[c], &curve));
        r.curves.push_back(std::move(curve));
        const auto& s = r.per_class.back();
        r.all.truth += s.truth, r.all.detections += s.detections, r.all.true_positives += s.true_positives;
        if (s.truth == 0) continue;
        ++with_truth;
        r.all.precision += s.precision, r.all.recall += s.recall, r.all.ap50 += s.ap50, r.all.ap50_95 += s.ap50_95;
    }
    if (with_truth) {
        for (double* v : {&r.all.precision, &r.all.recall, &r.all.ap50, &r.all.ap50_95}) *v /= with_truth;
    } else {
        r.all.ap50 = r.all.ap50_95 = -1;
    }
    for (auto& b : f.sizes) finish_recall(b);
    finish_recall(f.small), finish_recall(f.large);
    r.sizes = f.sizes, r.small = f.small, r.large = f.large;
    r.confusion_rows = dataset_classes;
    r.confusion_rows.push_back("background");
    r.confusion_columns = model_classes;
    r.confusion_columns.push_back("missed");
    r.confusion = f.confusion;
    r.classifier = metrics_from_confusion(f.classifier, model_classes);
    r.masked = metrics_from_confusion(f.masked, {"masked", "not masked"});
    for (std::size_t c = 0; c < ds_n; ++c)
        if (to_model[c] < 0) r.missing.push_back(f.missing[c]);
    return r;
}

std::string detection_report_text(const DetectionReport& r, int digits) {
    std::size_t width = std::string("faces (detector)").size();
    for (const auto& n : r.model_classes) width = std::max(width, n.size());
    std::string out = fmt::format("{:>{}}  {:>7} {:>9} {:>10} {:>7} {:>7} {:>7} {:>9}\n", "class", width, "images",
                                  "instances", "detections", "P", "R", "mAP50", "mAP50-95");
    out += scores_row(r.all, r.images, digits, width);
    for (const auto& s : r.per_class) out += scores_row(s, r.images, digits, width);
    out += scores_row(r.faces, r.images, digits, width);
    out += fmt::format("(IoU 0.5 for P and R; unmatched detections under {:g} px ignored: {})\n\n",
                       r.options.ignore_below, r.ignored_detections);

    out += "face detector recall by face size (shorter side, px)\n";
    for (const auto& b : r.sizes)
        out += fmt::format("{:>8}  {:>5} of {:>5}  {:.{}f}\n", b.name, b.found, b.truth, b.recall, digits);
    for (const auto* b : {&r.small, &r.large})
        out += fmt::format("{:>8}  {:>5} of {:>5}  {:.{}f}\n", b->name, b->found, b->truth, b->recall, digits);

    for (const auto& m : r.missing) {
        std::string as;
        for (std::size_t c = 0; c < r.model_classes.size(); ++c)
            as += fmt::format("{}{} {}", c ? ", " : "", r.model_classes[c], m.labelled_as[c]);
        out += fmt::format("\n{}: not a class of the model (not scored per class): {} faces, {} found, labelled as {}"
                           " (--map {}=CLASS scores them as CLASS)\n",
                           m.name, m.truth, m.found, as, m.name);
    }
    out += fmt::format("\nclassifier on the faces found ({} matched)\n{}", r.classifier.total,
                       classification_report(r.classifier, digits));
    out += fmt::format("\nmasked vs not masked on the faces found (anything but a mask is not masked)\n{}",
                       classification_report(r.masked, digits));
    out += "\n" + table_text(r.confusion_rows, r.confusion_columns, r.confusion);
    return out;
}

nlohmann::json to_json(const DetectionReport& r) {
    nlohmann::json per_class = nlohmann::json::object();
    for (const auto& s : r.per_class) per_class[s.name] = scores_json(s);
    nlohmann::json sizes = nlohmann::json::array(), missing = nlohmann::json::array();
    for (const auto& b : r.sizes) sizes.push_back(size_json(b));
    for (const auto& m : r.missing) {
        nlohmann::json as = nlohmann::json::object();
        for (std::size_t c = 0; c < r.model_classes.size(); ++c) as[r.model_classes[c]] = m.labelled_as[c];
        missing.push_back({{"name", m.name}, {"truth", m.truth}, {"found", m.found}, {"labelled_as", as}});
    }
    return {{"images", r.images},
            {"dataset_classes", r.dataset_classes},
            {"model_classes", r.model_classes},
            {"ignore_below", r.options.ignore_below},
            {"class_map", r.options.class_map},
            {"all", scores_json(r.all)},
            {"per_class", per_class},
            {"faces", scores_json(r.faces)},
            {"ignored_detections", r.ignored_detections},
            {"sizes", sizes},
            {"small", size_json(r.small)},
            {"large", size_json(r.large)},
            {"confusion", {{"rows", r.confusion_rows}, {"columns", r.confusion_columns}, {"counts", r.confusion}}},
            {"classifier", to_json(r.classifier)},
            {"masked", to_json(r.masked)},
            {"missing_classes", missing}};
}

}  // namespace maskctl
