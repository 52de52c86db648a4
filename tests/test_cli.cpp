// The CLI as a user meets it: help, version, exit codes and one-line errors.
#include <catch2/catch.hpp>

#include "test_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using maskctl::test::run_cli;

TEST_CASE("maskctl --help lists the subcommands and --version names the libraries", "[cli]") {
    maskctl::test::TempDir dir;
    auto [code, out] = run_cli("--help", dir / "log");
    CHECK(code == 0);
    for (const char* sub : {"config", "data", "augment", "train", "eval", "predict", "backbone"})
        CHECK_THAT(out, Contains(std::string("  ") + sub));
    std::tie(code, out) = run_cli("--version", dir / "log");
    CHECK(code == 0);
    CHECK_THAT(out, StartsWith("maskctl 0.1.0 (LibTorch 1.13"));
    CHECK_THAT(out, Contains("OpenCV 4.6"));
}

TEST_CASE("bad configs and flags stop with exit code 2 and one line", "[cli]") {
    maskctl::test::TempDir dir;
    auto [code, out] = run_cli("train --set train.epocs=3", dir / "log");
    CHECK(code == 2);
    CHECK(out == "error: --set train.epocs=3: unknown key 'train.epocs' (did you mean 'train.epochs'?)\n");

    std::tie(code, out) = run_cli("train --set data.root=" + (dir / "nowhere").string(), dir / "log");
    CHECK(code == 2);
    CHECK_THAT(out, StartsWith("error: "));
    CHECK_THAT(out, Contains((dir / "nowhere").string()));

    std::tie(code, out) = run_cli("eval --model " + (dir / "log").string(), dir / "log2");
    CHECK(code == 2);
    CHECK(out == "error: eval: give --data DIR or --config FILE to say which images to evaluate\n");

    std::tie(code, out) = run_cli("config check " + (maskctl::test::source_dir() / "configs/mobilenetv2.json").string(),
                                  dir / "log");
    CHECK(code == 0);
}

TEST_CASE("a model file that is not one is refused by eval and predict", "[cli]") {
    maskctl::test::TempDir dir;
    {
        std::ofstream(dir / "fake.maskctl") << "not a model";
    }
    auto [code, out] = run_cli("predict --model " + (dir / "fake.maskctl").string() + " " +
                                   (maskctl::test::shared_dir() / "media/pic1.jpeg").string(),
                               dir / "log");
    CHECK(code == 2);
    CHECK_THAT(out, StartsWith("error: " + (dir / "fake.maskctl").string() + ": "));
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}
