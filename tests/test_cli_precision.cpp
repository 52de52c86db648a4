// --precision through the CLI: the one flag of every command that runs the backbone, its refusals
// (int8, unknown values, bf16 on a CPU without a fast path) and what each choice runs.
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include "detect_model.hpp"
#include "maskctl/model/fused_backbone.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using Catch::Contains;
using Catch::StartsWith;
using test::run_cli;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

long lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST_CASE("precision flag: int8 or an unknown value: every backbone command stops with one line and exit code 2",
          "[cli][precision]") {
    test::TempDir tmp;
    // The refusal comes while the command line is parsed, before the model file is read: any file will do.
    { std::ofstream(tmp / "model.maskctl") << "never read"; }
    const std::string model = quoted(tmp / "model.maskctl");
    const std::string photo = quoted(test::shared_dir() / "media/pic1.jpeg");
    const std::string realworld = quoted(test::shared_dir() / "data/face-mask-realworld");
    // Each with everything else it needs, so only --precision can be what is wrong.
    const std::vector<std::string> commands = {
        "train --set output.runs_dir=" + quoted(tmp / "runs"),
        "eval -m " + model + " --data " + quoted(test::shared_dir() / "data/face-mask-3833"),
        "predict -m " + model + " " + photo,
        "detect -m " + model + " --image " + photo + " --out " + quoted(tmp / "detect"),
        "val " + realworld + " -m " + model + " --split val --out " + quoted(tmp / "val"),
        "bench --quick --set output.runs_dir=" + quoted(tmp / "runs"),
        "backbone bench --batch 1 --seconds 0.1",
        "serve -m " + model + " --port 0",
    };
    for (const auto& command : commands) {
        INFO(command);
        auto [code, out] = run_cli(command + " --precision int8", tmp / "log");
        CHECK(code == 2);
        CHECK_THAT(out, StartsWith("error: --precision: int8 is not available: "));
        CHECK(lines(out) == 1);
        std::tie(code, out) = run_cli(command + " --precision fp16", tmp / "log");
        CHECK(code == 2);
        CHECK_THAT(out, StartsWith("error: --precision: 'fp16' is not one of: float, bf16, auto, int8"));
        CHECK(lines(out) == 1);
    }
    CHECK(!fs::exists(tmp / "runs"));  // refused before any work
    CHECK(!fs::exists(tmp / "detect"));
}

TEST_CASE("precision flag: auto runs what auto_precision() picks; bf16 runs bf16 where the CPU has it", "[cli][precision]") {
    test::TempDir tmp;
    auto [code, out] = run_cli("backbone bench --batch 1 --seconds 0.1 --precision auto", tmp / "log");
    INFO(out);
    CHECK(code == 0);
    CHECK_THAT(out, Contains("fused oneDNN, " + to_string(auto_precision()) + ","));
    // bf16 exactly where the CPU has a fast path for it, once shown as accurate (docs/benchmarks.md).
    const bool bf16 = kBf16AccuracyShown && precision_supported(Precision::bf16);
    CHECK(auto_precision() == (bf16 ? Precision::bf16 : Precision::float32));

    std::tie(code, out) = run_cli("backbone bench --batch 1 --seconds 0.1 --precision bf16", tmp / "log");
    if (precision_supported(Precision::bf16)) {
        CHECK(code == 0);
        CHECK_THAT(out, Contains("fused oneDNN, bf16,"));
    } else {
        CHECK(code == 2);
        CHECK_THAT(out, StartsWith("error: --precision: bf16 needs a CPU with AMX or AVX-512 BF16"));
    }
}

TEST_CASE("predict --precision: float is the model file's own default, bf16 gives the same labels on real photos",
          "[cli][precision][slow]") {
    test::TempDir tmp;
    const std::string args = "predict --format json -m " + quoted(test::mask_model()) + " " +
                             quoted(test::shared_dir() / "media/pic1.jpeg") + " " +
                             quoted(test::shared_dir() / "media/face.jpg");
    const auto [code_default, plain] = run_cli(args, tmp / "default.json");
    const auto [code_float, as_float] = run_cli(args + " --precision float", tmp / "float.json");
    REQUIRE(code_default == 0);
    REQUIRE(code_float == 0);
    CHECK(as_float == plain);
    if (!precision_supported(Precision::bf16)) return;
    const auto [code_bf16, as_bf16] = run_cli(args + " --precision bf16", tmp / "bf16.json");
    REQUIRE(code_bf16 == 0);
    const auto f = nlohmann::json::parse(as_float), b = nlohmann::json::parse(as_bf16);
    REQUIRE(f.size() == b.size());
    for (std::size_t i = 0; i < f.size(); ++i) {
        CHECK(b[i].at("label") == f[i].at("label"));
        // bf16 keeps 8 significant bits: confidences move a little, not the answer.
        CHECK(b[i].at("confidence").get<double>() == Approx(f[i].at("confidence").get<double>()).margin(0.05));
    }
}

TEST_CASE("train --precision is model.backbone.precision: the run's config records it; --resume keeps the run's",
          "[cli][precision]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 6, 6);
    const std::string args = fmt::format(
        "train -q --name p --set data.root={} --set output.runs_dir={} --set model.backbone.weights={} "
        "--set train.epochs=1 --set train.feature_cache.views=1 --set train.batch_size=8 --precision auto",
        quoted(data), quoted(tmp / "runs"), quoted(test::imagenet_weights()));
    auto [code, out] = run_cli(args, tmp / "log");
    INFO(out);
    REQUIRE(code == 0);
    const auto config = nlohmann::json::parse(std::ifstream(tmp / "runs/train/p/config.json"));
    CHECK(config.at("model").at("backbone").at("precision") == "auto");

    std::tie(code, out) = run_cli("train --resume " + quoted(tmp / "runs/train/p") + " --precision float", tmp / "log");
    CHECK(code == 2);
    CHECK_THAT(out, Contains("key 'model.backbone.precision' cannot change on --resume"));
    CHECK(lines(out) == 1);
}
