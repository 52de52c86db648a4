// maskctl eval: metrics of a model file on a labelled folder or a config's split, in scikit-learn's
// classification_report layout, with the confusion matrix as text and as a heatmap PNG.
#include <iostream>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "command.hpp"
#include "config_options.hpp"
#include "precision_option.hpp"
#include "console.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/plot/plots.hpp"
#include "maskctl/core/run_dir.hpp"

namespace maskctl::app {
namespace {

struct Args {
    std::string model;
    std::string data;
    ConfigOptions config;
    PrecisionOption precision;
    std::string split = "test";
    std::string json;
    std::string errors;
    std::string out;
    int digits = 4;
    int batch = 32;
    bool quiet = false;
};

struct EvalSet {
    std::vector<Sample> samples;
    std::string description;  // the folder, and the split when one was chosen
    std::size_t skipped = 0;  // bad files and class folders the model does not know
};

// The samples to evaluate: every image of --data DIR (or its `split` folder when it is pre-split),
// or the chosen split of a run config; labels follow the model's class names. What is left out is
// reported on stderr.
EvalSet eval_samples(const Args& a, const std::vector<std::string>& classes) {
    const auto split = parse_split(a.split);
    if (!split) throw ConfigError(fmt::format("--split {}: expected train, val or test", a.split));
    DataConfig dc;
    if (!a.data.empty()) {
        dc.root = a.data;
        dc.split = {0.0, 0.0, 1.0};  // a plain class-folder tree is evaluated whole
    } else {
        dc = a.config.load().data;
    }
    dc.class_names = classes;
    Dataset d = open_dataset(dc);
    if (!d.bad_files.empty()) std::cerr << "warning: " << d.bad_files.summary() << "\n";
    for (const auto& name : d.unlisted_classes)
        std::cerr << fmt::format("warning: class folder '{}' in {} is not a class of the model ({}): its images are "
                                 "not evaluated\n",
                                 name, d.root.string(), fmt::join(classes, ", "));
    const bool whole = !a.data.empty() && d.layout == "flat";
    const auto& samples = d.samples(whole ? Split::test : *split);
    if (samples.empty())
        throw DataError(fmt::format("{}: the {} split has no images", d.root.string(), split_name(*split)));
    return {samples, fmt::format("{}{}", d.root.string(), whole ? "" : fmt::format(" ({} split)", split_name(*split))),
            d.bad_files.total + d.unlisted_classes.size()};
}

std::string errors_csv(const Evaluation& e, const std::vector<std::string>& classes) {
    std::string out = "path,true,predicted,confidence";
    for (const auto& c : classes) out += ",p_" + csv_field(c);
    out += "\n";
    for (const auto& p : e.predictions) {
        if (p.predicted == p.label) continue;
        out += fmt::format("{},{},{},{:.4f}", csv_field(p.path.string()), csv_field(classes[p.label]),
                           csv_field(classes[p.predicted]), p.probabilities[p.predicted]);
        for (float v : p.probabilities) out += fmt::format(",{:.4f}", v);
        out += "\n";
    }
    return out;
}

// Thumbnails of the misclassified images, each captioned "true -> predicted (confidence)".
cv::Mat errors_sheet(const Evaluation& e, const std::vector<std::string>& classes) {
    std::vector<cv::Mat> tiles;
    for (const auto& p : e.predictions) {
        if (p.predicted == p.label || tiles.size() >= 100) continue;
        cv::Mat tile(180, 200, CV_8UC3, cv::Scalar(255, 255, 255));
        try {
            cv::Mat img = decode_image(p.path), thumb;
            const double s = std::min(200.0 / img.cols, 140.0 / img.rows);
            cv::resize(img, thumb, {}, s, s, cv::INTER_AREA);
            thumb.copyTo(tile(cv::Rect((200 - thumb.cols) / 2, 0, thumb.cols, thumb.rows)));
        } catch (const Error&) {
        }
        const auto caption = fmt::format("{} -> {}", classes[p.label], classes[p.predicted]);
        cv::putText(tile, caption, {2, 156}, cv::FONT_HERSHEY_SIMPLEX, 0.36, {200, 30, 30}, 1, cv::LINE_AA);
        cv::putText(tile, fmt::format("{:.1f}%", 100 * p.probabilities[p.predicted]), {2, 174},
                    cv::FONT_HERSHEY_SIMPLEX, 0.4, {40, 40, 40}, 1, cv::LINE_AA);
        tiles.push_back(tile);
    }
    return tiles.empty() ? cv::Mat() : tile_images(tiles, 8);
}

void run(const Args& a, int& exit_code) {
    LoadedModel m = load_model(a.model);
    a.precision.apply(m);
    const auto& classes = m.info.class_names;
    const auto [samples, what, skipped] = eval_samples(a, classes);
    Progress progress(a.quiet);
    InferenceOptions io;
    io.batch_size = a.batch;
    io.progress = [&](std::size_t done, std::size_t total) { progress.update("eval", done, total); };
    io.stop = &install_stop_handler();
    const Evaluation e = evaluate(m.model, m.info.preprocess, samples, classes, io);
    progress.finish_line();
    if (!e.bad_files.empty()) std::cerr << "warning: " << e.bad_files.summary() << "\n";
    for (const auto& w : e.metrics.warnings) std::cerr << "warning: " << w << "\n";

    const std::string report = classification_report(e.metrics, a.digits);
    fmt::print("model: {}\ndata: {}, {} images\n\n{}\n{}\n", a.model, what, e.metrics.total, report,
               confusion_table(e.metrics));
    const auto out_dir = a.out.empty() ? create_run_dir("runs/eval") : std::filesystem::path(a.out);
    create_output_folder(out_dir);
    write_png(out_dir / "confusion_matrix.png", draw_confusion_matrix(e.metrics.confusion, e.metrics.class_names, e.metrics.class_names));
    write_file_atomic(out_dir / "report.txt",
                      fmt::format("model: {}\ndata: {}\n\n{}\n{}", a.model, what, report, confusion_table(e.metrics)));
    if (!a.json.empty()) {
        nlohmann::json j = to_json(e.metrics);
        j["model"] = a.model;
        j["data"] = what;
        j["bad_files"] = e.bad_files.total;
        write_file_atomic(a.json, j.dump(2) + "\n");
    }
    if (!a.errors.empty()) {
        write_file_atomic(a.errors, errors_csv(e, classes));
        const cv::Mat sheet = errors_sheet(e, classes);
        if (!sheet.empty()) write_png(std::filesystem::path(a.errors).replace_extension(".png"), sheet);
    }
    fmt::print("results saved to {}/ (confusion_matrix.png, report.txt){}{}\n", out_dir.string(),
               a.json.empty() ? "" : ", " + a.json, a.errors.empty() ? "" : ", " + a.errors);
    exit_code = exit_code_for(skipped + e.bad_files.total);
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("eval", "Evaluate a model file: accuracy, precision/recall/F1, confusion matrix");
    auto a = std::make_shared<Args>();
    cmd->add_option("-m,--model", a->model, "Model file (best.maskctl from a run)")->required()->check(CLI::ExistingFile);
    auto* data = cmd->add_option("--data", a->data, "Labelled folder: <class>/* or {train,val,test}/<class>/*")
                     ->check(CLI::ExistingDirectory);
    a->config.add_to(cmd);
    cmd->get_option("--config")->excludes(data);
    cmd->add_option("--split", a->split, "Split to evaluate with --config or a pre-split folder")->capture_default_str();
    cmd->add_option("--json", a->json, "Write every number as JSON");
    cmd->add_option("--errors", a->errors, "Write misclassified images as CSV (and a contact sheet .png beside it)");
    cmd->add_option("--out", a->out, "Folder for confusion_matrix.png and report.txt (default runs/eval/expN)");
    cmd->add_option("--digits", a->digits, "Decimals in the report")->capture_default_str()->check(CLI::Range(1, 8));
    cmd->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str()->check(CLI::Range(1, 1024));
    cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
    a->precision.add_to(cmd);
    cmd->callback([a, &exit_code] {
        if (a->data.empty() && a->config.file.empty())
            throw ConfigError("eval: give --data DIR or --config FILE to say which images to evaluate");
        run(*a, exit_code);
    });
}

const CommandRegistration registration{35, setup};

}  // namespace
}  // namespace maskctl::app
