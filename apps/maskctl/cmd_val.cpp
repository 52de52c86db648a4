// maskctl val: detection-level evaluation on photos with labelled face boxes (Pascal VOC or YOLO),
// Ultralytics-style: the whole detect path (same code and flags as maskctl detect) on every image,
// then P, R, mAP50, mAP50-95 per class, the face detector's recall by face size, the classifier on the
// faces found, a PR-curve and a confusion-matrix PNG, and optionally the photos with their mistakes.
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>

#include "command.hpp"
#include "console.hpp"
#include "detector_options.hpp"
#include "precision_option.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/run_dir.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/detection_eval.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/plot/plots.hpp"

namespace maskctl::app {
namespace {

namespace fs = std::filesystem;

struct Args {
    std::string model, dataset, split, predictions;
    DetectorOptions faces;
    PrecisionOption precision;
    std::vector<std::string> class_map, classes;
    float ignore_below = 16;
    std::string json, out, errors;
    int digits = 3;
    bool quiet = false;
};

std::map<std::string, std::string> parse_map(const std::vector<std::string>& items) {
    std::map<std::string, std::string> out;
    for (const auto& item : items) {
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw ConfigError(fmt::format("--map {}: expected DATASET_CLASS=MODEL_CLASS", item));
        out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return out;
}

void write_pictures(const fs::path& dir, const DetectionReport& r) {
    const cv::Scalar palette[] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14}, {148, 103, 189}};
    std::vector<PrSeries> curves;
    for (std::size_t c = 0; c < r.per_class.size(); ++c) {
        const auto& s = r.per_class[c];
        curves.push_back({fmt::format("{} {}", s.name, s.ap50 < 0 ? "-" : fmt::format("{:.3f}", s.ap50)),
                          r.curves[c].recall, r.curves[c].precision, palette[c % 5]});
    }
    write_png(dir / "PR_curve.png", draw_pr_curves(fmt::format("Precision-recall at IoU 0.5 (mAP50 {:.3f})",
                                                               std::max(0.0, r.all.ap50)), curves));
    write_png(dir / "confusion_matrix.png", draw_confusion_matrix(r.confusion, r.confusion_rows, r.confusion_columns,
                                                                  "Faces matched at IoU 0.5"));
}

// Where the detector's boxes sit against the labels, and the --box-adjust that would centre them: how
// a user fits the adjustment to their own labelling (docs/evaluation.md).
std::string box_fit_text(const BoxAdjust& fit, std::size_t faces, const std::optional<BoxAdjust>& used,
                         const std::optional<BoxAdjust>& to_labels) {
    if (faces == 0) return "";
    std::string text = fmt::format(
        "\nboxes against the labels (medians over {} faces >= 24 px at IoU >= 0.3): labelled centres {:.3f} box "
        "heights lower, width x{:.3f}, height x{:.3f}\n",
        faces, fit.shift_down, fit.width, fit.height);
    if (used && to_labels)
        text += fmt::format("to match them: --box-adjust {:.3f},{:.3f},{:.3f} (this run: {:g},{:g},{:g})\n",
                            to_labels->shift_down, to_labels->width, to_labels->height, used->shift_down, used->width,
                            used->height);
    return text;
}

// One annotated copy per photo with a mistake; returns how many.
int write_mistakes(const fs::path& dir, const std::vector<ImagePrediction>& predictions, const DetectionReport& r) {
    create_output_folder(dir);
    int n = 0;
    for (const auto& p : predictions) {
        cv::Mat bgr;
        cv::cvtColor(decode_image(p.image), bgr, cv::COLOR_RGB2BGR);
        const cv::Mat drawn = draw_mistakes(bgr, p, r.dataset_classes, r.model_classes, r.options);
        if (drawn.empty()) continue;
        fs::path dest = dir / p.relative;
        dest.replace_extension(".jpg");
        if (dest.has_parent_path()) create_output_folder(dest.parent_path());
        write_image(dest, drawn);
        ++n;
    }
    return n;
}

void run(const Args& a, int& exit_code) {
    DetectionDatasetOptions dso;
    dso.split = a.split;
    dso.class_names = a.classes;
    const DetectionDataset dataset = open_detection_dataset(a.dataset, dso);
    BadFileReport bad = dataset.bad_files;
    std::vector<std::string> model_classes;
    std::vector<ImagePrediction> predictions;
    std::string what;
    std::optional<BoxAdjust> used_adjust;  // unknown for saved predictions
    if (!a.predictions.empty()) {
        predictions = saved_dataset_predictions(a.predictions, dataset, model_classes, bad);
        what = fmt::format("predictions {}", a.predictions);
    } else {
        DetectOptions o;
        a.faces.apply(o);
        used_adjust = o.detector.box_adjust.value_or(default_box_adjust(o.detector.kind));
        o.draw = o.panel = false;
        LoadedModel model = load_model(a.model);
        a.precision.apply(model);
        MaskDetector detector(std::move(model), o);
        model_classes = detector.class_names();
        Progress progress(a.quiet);
        predictions = predict_dataset(detector, dataset,
                                      [&](std::size_t done, std::size_t total) { progress.update("val", done, total); },
                                      bad);
        progress.finish_line();
        what = fmt::format("model {} | detector {}, min face {} px", a.model, detector.detector_name(), a.faces.min_face);
    }
    if (!bad.empty()) std::cerr << "warning: " << bad.summary() << "\n";
    DetectionEvalOptions eo;
    eo.ignore_below = a.ignore_below;
    eo.class_map = parse_map(a.class_map);
    std::vector<EvalImage> images;
    for (const auto& p : predictions) images.push_back(to_eval_image(p));
    const DetectionReport r = evaluate_detections(images, dataset.class_names, model_classes, eo);

    const std::string header = fmt::format("{}\ndata: {} ({}, {}{} images, {} boxes)\n", what, a.dataset, dataset.format,
                                           a.split.empty() ? "" : a.split + " split, ", dataset.images.size(),
                                           dataset.boxes());
    const auto pairs = matched_box_pairs(predictions);
    const BoxAdjust fit = fit_box_adjust(pairs);
    std::optional<BoxAdjust> to_labels;  // the --box-adjust that would match the labels
    if (used_adjust) to_labels = combine(*used_adjust, fit);
    const std::string text =
        detection_report_text(r, a.digits) + box_fit_text(fit, pairs.size(), used_adjust, to_labels);
    fmt::print("{}\n{}", header, text);
    const fs::path out = a.out.empty() ? create_run_dir("runs/val") : fs::path(a.out);
    create_output_folder(out);
    write_file_atomic(out / "report.txt", header + "\n" + text);
    write_pictures(out, r);
    if (!a.json.empty()) {
        nlohmann::json j = to_json(r);
        j["source"] = what;
        j["data"] = a.dataset;
        j["split"] = a.split;
        j["box_fit"] = {{"faces", pairs.size()}, {"shift_down", fit.shift_down}, {"width", fit.width}, {"height", fit.height}};
        if (to_labels) j["box_fit"]["box_adjust"] = {to_labels->shift_down, to_labels->width, to_labels->height};
        write_file_atomic(a.json, j.dump(2) + "\n");
    }
    if (!a.errors.empty())
        fmt::print("photos with mistakes: {} in {}\n", write_mistakes(a.errors, predictions, r), a.errors);
    fmt::print("results saved to {}/ (report.txt, PR_curve.png, confusion_matrix.png){}\n", out.string(),
               a.json.empty() ? "" : ", " + a.json);
    exit_code = exit_code_for(bad.total);
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand(
        "val", "Detection-level evaluation on labelled photos (VOC/YOLO): P, R, mAP, recall by face size");
    auto a = std::make_shared<Args>();
    cmd->add_option("dataset", a->dataset, "Folder with images/ and annotations/ (Pascal VOC) or labels/ (YOLO)")
        ->required()->check(CLI::ExistingDirectory);
    auto* model = cmd->add_option("-m,--model", a->model, "Model file (.maskctl)")->check(CLI::ExistingFile);
    auto* saved = cmd->add_option("--predictions", a->predictions,
                                  "Score saved predictions instead of running a model: a detect --save-txt folder or --save-json file")
                      ->check(CLI::ExistingPath);
    model->excludes(saved);
    cmd->add_option("--split", a->split, "train, val or test (images/<split>/ or split.csv); default: every image");
    a->faces.add_to(cmd);
    a->precision.add_to(cmd);
    cmd->add_option("--ignore-below", a->ignore_below,
                    "Unmatched detections smaller than this (shorter side, px) are not false positives (0 = count all)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    cmd->add_option("--map", a->class_map, "Score a dataset class the model lacks as a model class: FROM=TO (repeatable)");
    cmd->add_option("--classes", a->classes, "Class names of YOLO labels when there is no classes.txt or data.yaml")
        ->delimiter(',');
    cmd->add_option("--json", a->json, "Write every number as JSON");
    cmd->add_option("--out", a->out, "Folder for report.txt and the PNGs (default runs/val/expN)");
    cmd->add_option("--errors", a->errors, "Write the photos with missed faces, wrong labels and false alarms drawn, into DIR");
    cmd->add_option("--digits", a->digits, "Decimals in the report")->capture_default_str()->check(CLI::Range(1, 8));
    cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
    cmd->callback([a, &exit_code] {
        if (a->model.empty() && a->predictions.empty())
            throw ConfigError("val: give -m MODEL to run the detect path, or --predictions PATH to score saved ones");
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        run(*a, exit_code);
    });
}

const CommandRegistration registration{37, setup};

}  // namespace
}  // namespace maskctl::app
