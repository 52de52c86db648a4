// maskctl predict: label and confidence for single images or folders ("upload a photo").
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "console.hpp"
#include "precision_option.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/model/model_file.hpp"

namespace maskctl::app {
namespace {

// Every image named or found under the folders named; entries that cannot be used go to `bad`.
std::vector<Sample> collect(const std::vector<std::string>& inputs, BadFileReport& bad) {
    std::vector<Sample> out;
    for (const auto& in : inputs)
        for (auto& file : list_image_files(in, bad)) out.push_back({std::move(file), -1});
    if (out.empty())
        throw DataError(bad.empty() ? "predict: no image files found in the given folders"
                                    : "predict: no usable image: " + bad.summary());
    return out;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("predict", "Label images with a model file");
    struct Args {
        std::string model;
        std::vector<std::string> inputs;
        std::string format = "table";
        PrecisionOption precision;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("-m,--model", a->model, "Model file")->required()->check(CLI::ExistingFile);
    cmd->add_option("inputs", a->inputs, "Image files or folders")->required();
    cmd->add_option("--format", a->format, "Output: table, csv or json")->capture_default_str()
        ->check(CLI::IsMember({"table", "csv", "json"}));
    a->precision.add_to(cmd);
    cmd->callback([a, &exit_code] {
        LoadedModel m = load_model(a->model);
        a->precision.apply(m);
        const auto& classes = m.info.class_names;
        BadFileReport bad;
        const auto samples = collect(a->inputs, bad);
        InferenceOptions io;
        io.stop = &install_stop_handler();
        const auto preds = predict_samples(m.model, m.info.preprocess, samples, io, &bad);
        if (a->format == "json") {
            nlohmann::json j = nlohmann::json::array();
            for (const auto& p : preds) {
                nlohmann::json probs;
                for (size_t c = 0; c < classes.size(); ++c) probs[classes[c]] = p.probabilities[c];
                j.push_back({{"path", p.path.string()}, {"label", classes[p.predicted]},
                             {"confidence", p.probabilities[p.predicted]}, {"probabilities", probs}});
            }
            std::cout << j.dump(2) << "\n";
        } else if (a->format == "csv") {
            std::cout << "path,label,confidence\n";
            for (const auto& p : preds)
                fmt::print("{},{},{:.4f}\n", csv_field(p.path.string()), csv_field(classes[p.predicted]),
                           p.probabilities[p.predicted]);
        } else {
            std::size_t width = 4;
            for (const auto& p : preds) width = std::max(width, p.path.string().size());
            fmt::print("{:<{}}  {:<16} {:>10}\n", "file", width, "label", "confidence");
            for (const auto& p : preds)
                fmt::print("{:<{}}  {:<16} {:>9.1f}%\n", p.path.string(), width, classes[p.predicted],
                           100 * p.probabilities[p.predicted]);
        }
        if (!bad.empty()) std::cerr << "warning: " << bad.summary() << "\n";
        exit_code = exit_code_for(bad.total);
    });
}

const CommandRegistration registration{36, setup};

}  // namespace
}  // namespace maskctl::app
