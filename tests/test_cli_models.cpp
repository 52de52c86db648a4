// The success paths users rely on, through the CLI with a model trained here on real images:
// `maskctl eval` (numbers and files), `maskctl predict` (labels and probabilities) and
// `maskctl train --resume` with the epoch table of the resumed run's own config.
#include <fstream>
#include <map>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "maskctl/data/dataset.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using Catch::Contains;
using test::run_cli;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

Config tiny_config(const fs::path& data, const fs::path& runs, const std::string& epochs) {
    return test::small_train_config(data, runs, {"train.epochs=" + epochs});
}

std::vector<Sample> test_samples(const Config& c) { return open_dataset(c.data).samples(Split::test); }

}  // namespace

TEST_CASE("maskctl eval and predict on real images: the numbers of the library, and the files", "[cli][slow]") {
    test::TempDir tmp;
    const Config c = tiny_config(test::make_real_subset(tmp / "data", 10, 10), tmp / "runs", "2");
    TrainObserver quiet;
    const fs::path model_file = train(c, {}, quiet).run_dir / "best.maskctl";
    LoadedModel m = load_model(model_file);

    // A labelled folder of the test images, as a user would point eval at.
    const auto samples = test_samples(c);
    for (const auto& s : samples) {
        const fs::path dest = tmp / "eval" / m.info.class_names[static_cast<std::size_t>(s.label)] / s.path.filename();
        fs::create_directories(dest.parent_path());
        fs::copy_file(s.path, dest);
    }
    const Evaluation expected = evaluate(m.model, m.info.preprocess, samples, m.info.class_names, {});

    auto [code, out] = run_cli("eval -q -m " + quoted(model_file) + " --data " + quoted(tmp / "eval") + " --out " +
                                   quoted(tmp / "out") + " --json " + quoted(tmp / "eval.json") + " --errors " +
                                   quoted(tmp / "errors.csv"),
                               tmp / "log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK_THAT(out, Contains("precision") && Contains("recall") && Contains("f1-score"));
    CHECK_THAT(out, Contains(fmt::format("{} images", samples.size())));
    const auto j = nlohmann::json::parse(std::ifstream(tmp / "eval.json"));
    CHECK(j.at("total") == samples.size());
    CHECK(j.at("accuracy").get<double>() == Approx(expected.metrics.accuracy));
    for (const char* f : {"confusion_matrix.png", "report.txt"}) CHECK(fs::file_size(tmp / "out" / f) > 0);
    // errors.csv: a header and one row per misclassified image.
    std::ifstream errors(tmp / "errors.csv");
    const auto rows = std::count(std::istreambuf_iterator<char>(errors), std::istreambuf_iterator<char>(), '\n');
    const auto wrong = std::count_if(expected.predictions.begin(), expected.predictions.end(),
                                     [](const auto& p) { return p.predicted != p.label; });
    CHECK(rows == 1 + wrong);

    // predict: one entry per image, labels and probabilities as the library computes them.
    std::tie(code, out) = run_cli("predict -m " + quoted(model_file) + " --format json " + quoted(samples[0].path) +
                                      " " + quoted(tmp / "eval"),
                                  tmp / "predict.json");
    REQUIRE(code == 0);
    const auto preds = nlohmann::json::parse(out);
    REQUIRE(preds.size() == samples.size() + 1);
    std::map<std::string, int> predicted;
    // class folder / file name: the same for data/ and eval/.
    const auto key = [](const fs::path& path) { return (path.parent_path().filename() / path.filename()).string(); };
    for (const auto& p : expected.predictions) predicted[key(p.path)] = p.predicted;
    for (const auto& p : preds) {
        const std::string name = key(p.at("path").get<std::string>());
        INFO(name);
        CHECK(p.at("label") == m.info.class_names[static_cast<std::size_t>(predicted.at(name))]);
        double sum = 0;
        for (const auto& [cls, prob] : p.at("probabilities").items()) sum += prob.get<double>();
        CHECK(sum == Approx(1.0).epsilon(1e-4));
    }
}

TEST_CASE("maskctl train --resume: safe --set overrides apply and the epoch table shows the run's own epochs",
          "[cli][slow]") {
    test::TempDir tmp;
    const Config c = tiny_config(test::make_real_subset(tmp / "data", 6, 6), tmp / "runs", "20");
    const fs::path run = test::interrupted_run(c).run_dir;

    auto [code, out] = run_cli("train --resume " + quoted(run) + " --set model.head.dropout=0.1", tmp / "log");
    CHECK(code == 2);
    CHECK_THAT(out, Contains("key 'model.head.dropout' cannot change on --resume"));
    std::tie(code, out) = run_cli("train --resume " + quoted(run) + " --config " +
                                      quoted(test::source_dir() / "configs/mobilenetv2.json"),
                                  tmp / "log");
    CHECK(code == 2);
    CHECK_THAT(out, Contains("--config cannot be used with --resume"));

    std::tie(code, out) = run_cli("train --resume " + quoted(run) + " --set train.epochs=3", tmp / "log");
    INFO(out);
    CHECK(code == 0);
    CHECK_THAT(out, Contains("      2/3 ") && Contains("      3/3 "));
    CHECK_THAT(out, !Contains("2/20"));
}
