// The parts of the benchmark suite that can be checked without timing: the report's table and
// JSON, the detect summary JSON, and a child's exit code, output and peak memory.
#include <cmath>
#include <fstream>
#include <limits>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "maskctl/report/bench.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"

using namespace maskctl;

namespace {

BenchReport sample_report() {
    BenchReport r;
    r.machine = {"Test CPU", 2, 2, "maskctl 0.0"};
    r.date = "2024-01-01T00:00:00Z";
    r.rows.push_back({"backbone forward 224, batch 32", 123.456, "images/s", ">= 100", "random input"});
    r.rows.push_back({"batch 1", 11.04, "ms/image", "<= 15", ""});
    r.rows.push_back({"default training run", std::numeric_limits<double>::quiet_NaN(), "s", "", "skipped (--quick)"});
    return r;
}

}  // namespace

TEST_CASE("bench table: machine line, one row per measure, '-' when not measured", "[bench]") {
    const std::string t = format_bench_table(sample_report());
    CHECK(t.find("Test CPU | 2 logical CPUs, 2 threads | maskctl 0.0 | 2024-01-01T00:00:00Z") == 0);
    CHECK(t.find("| backbone forward 224, batch 32 | 123 | images/s | >= 100 | random input |") != std::string::npos);
    CHECK(t.find("| batch 1 | 11.0 | ms/image | <= 15 |  |") != std::string::npos);
    CHECK(t.find("| default training run | - | s |  | skipped (--quick) |") != std::string::npos);
}

TEST_CASE("bench JSON: rows keep full precision, NaN becomes null", "[bench]") {
    const auto j = to_json(sample_report());
    CHECK(j["machine"]["cpu"] == "Test CPU");
    CHECK(j["machine"]["threads"] == 2);
    REQUIRE(j["rows"].size() == 3);
    CHECK(j["rows"][0]["value"].get<double>() == Approx(123.456));
    CHECK(j["rows"][2]["value"].is_null());
    CHECK(j["rows"][2]["note"] == "skipped (--quick)");
}

TEST_CASE("detect summary JSON has frames/s and each stage's percentiles", "[bench]") {
    DetectSummary s;
    s.frames = 10;
    s.fps = 25.5;
    s.stages.emplace_back("detect", latency_stats({1, 2, 3, 4}));
    const auto j = to_json(s);
    CHECK(j["frames"] == 10);
    CHECK(j["fps"].get<double>() == Approx(25.5));
    CHECK(j["stages"]["detect"]["p50"].get<double>() == Approx(2));
    CHECK(j["stages"]["detect"]["p95"].get<double>() == Approx(4));
}

TEST_CASE("run_child returns the exit code, appends output to the log and measures the child's peak memory",
          "[bench]") {
    test::TempDir dir;
    const auto log = dir.path() / "child.log";
    // The shell holds a 40 MB string: its own peak, not ours, must show it.
    const auto r = run_child({"/bin/sh", "-c", "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ${#x}; exit 3"}, log);
    CHECK(r.exit_code == 3);
    CHECK(r.peak_rss_mb > 35);
#if defined(__SANITIZE_ADDRESS__)
    // Under ASan this test process alone is over 500 MB (shadow memory), and ru_maxrss counts it (bench.hpp).
    WARN("peak below 500 MB not checked under AddressSanitizer: " << r.peak_rss_mb << " MB");
#else
    CHECK(r.peak_rss_mb < 500);
#endif
    std::ifstream in(log);
    std::string line;
    std::getline(in, line);
    CHECK(line == "40000000");
}

TEST_CASE("run_child reports a program that cannot start", "[bench]") {
    test::TempDir dir;
    // glibc's posix_spawn reports a failed exec to the parent.
    CHECK_THROWS_AS(run_child({"/nonexistent/program"}, dir.path() / "log"), IoError);
}

TEST_CASE("feature cache plan: all views when they fit, fewer when not, none when one view does not fit",
          "[bench][train]") {
    const int64_t d = 1280;
    const std::size_t mb = std::size_t{1} << 20;
    // 3066 train + 767 val images, 5 views: about 94 MB with the transient view.
    auto p = plan_feature_cache(3066, 767, d, 5, kFeatureCacheBudgetBytes);
    CHECK(p.views == 5);
    CHECK(p.bytes == static_cast<std::size_t>((3066 * 5 + 767) * d * 4));
    // 100k images: one view is 512 MB, plus the transient one being extracted.
    p = plan_feature_cache(100000, 0, d, 5, 1100 * mb);
    CHECK(p.views == 1);
    p = plan_feature_cache(100000, 0, d, 5, kFeatureCacheBudgetBytes);
    CHECK(p.views == 0);
    CHECK(p.bytes == 0);
}

TEST_CASE("the backbone gives the same features with one stream per thread as with ops split across threads",
          "[bench][model]") {
    const int threads = torch::get_num_threads();
    torch::set_num_threads(2);
    MobileNetV2 net;
    net->eval();
    net->fused = GENERATE(false, true);
    INFO("fused " << net->fused);
    c10::InferenceMode inference;
    const auto x = torch::rand({3, 3, 96, 96}).mul_(2).sub_(1);  // 3 images: uneven halves
    net->parallel_streams = false;
    const auto split_ops = net->forward(x);
    net->parallel_streams = true;
    const auto streams = net->forward(x);
    const auto one = net->forward(x.narrow(0, 1, 1));  // a batch of 1 takes the one-thread path
    torch::set_num_threads(threads);
    REQUIRE(streams.sizes() == split_ops.sizes());
    CHECK(split_ops.abs().sum().item<double>() > 0);
    CHECK(torch::allclose(streams, split_ops, 1e-4, 1e-4));
    CHECK(torch::allclose(one, split_ops.narrow(0, 1, 1), 1e-4, 1e-4));
}
