// The honest protocol: validation alone chooses (best epoch, early stopping, plateau schedule); the
// test split is read once, at the end; without a validation split the last epoch is kept.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using test::read_text;
using Catch::Contains;

namespace {

// dest/{train,val,test}/<class>/*: `n` images per class and split, cut from the real 2-class set.
// With `swap_test` the test split's two class folders trade names: every test label is wrong.
fs::path make_presplit(const fs::path& dest, int n, bool swap_test = false) {
    const fs::path flat = test::make_real_subset(dest.string() + "-flat", 3 * n, 3 * n);
    const char* classes[] = {"with_mask", "without_mask"};
    const char* splits[] = {"train", "val", "test"};
    for (int c = 0; c < 2; ++c) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(flat / classes[c])) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (int s = 0; s < 3; ++s) {
            const char* cls = swap_test && s == 2 ? classes[1 - c] : classes[c];
            fs::create_directories(dest / splits[s] / cls);
            for (int i = 0; i < n; ++i) {
                const fs::path& f = files[static_cast<std::size_t>(s * n + i)];
                fs::copy_file(f, dest / splits[s] / cls / f.filename());
            }
        }
    }
    return dest;
}

// Records the order in which the run reads its splits.
struct PhaseRecorder : TrainObserver {
    std::vector<std::string> events;  // "epoch" or a progress phase ("features", "val", "test", ...)
    std::vector<std::string> messages;
    void on_progress(const std::string& phase, std::size_t, std::size_t) override {
        if (events.empty() || events.back() != phase) events.push_back(phase);
    }
    void on_epoch(const EpochRecord&, bool) override { events.push_back("epoch"); }
    void on_message(const std::string& line) override { messages.push_back(line); }
};

}  // namespace

TEST_CASE("the default split keeps the same 767 test images of face-mask-3833 and carves val from train",
          "[data][protocol]") {
    DataConfig now;  // the defaults: 0.7 / 0.1 / 0.2
    now.root = (test::shared_dir() / "data" / "face-mask-3833").string();
    DataConfig before = now;
    before.split = {0.8, 0.0, 0.2};
    const Dataset a = open_dataset(now), b = open_dataset(before);
    REQUIRE(a.samples(Split::test).size() == 767);
    CHECK(a.samples(Split::test) == b.samples(Split::test));
    CHECK(a.class_counts(Split::val) == std::vector<std::size_t>{191, 192});
    CHECK(a.samples(Split::train).size() + a.samples(Split::val).size() == b.samples(Split::train).size());
}

TEST_CASE("the test split never chooses: wrong test labels change the test score, not the training",
          "[train][protocol][slow]") {
    test::TempDir tmp;
    const fs::path good = make_presplit(tmp / "good", 8), bad = make_presplit(tmp / "bad", 8, true);
    // lr 0.05 makes epochs differ (a best epoch to choose); plateau and early stopping both active.
    const std::vector<std::string> set = {"train.epochs=5", "train.lr=0.05", "train.schedule.type=plateau",
                                          "train.schedule.patience=0", "train.early_stopping.enabled=true",
                                          "train.early_stopping.patience=2", "data.layout=split"};
    PhaseRecorder seen_good, seen_bad;
    const TrainResult g = train(test::small_train_config(good, tmp / "runs", set), {"good"}, seen_good);
    const TrainResult b = train(test::small_train_config(bad, tmp / "runs", set), {"bad"}, seen_bad);

    REQUIRE(g.history.size() == b.history.size());
    for (std::size_t i = 0; i < g.history.size(); ++i) {
        CHECK(g.history[i].val_loss == b.history[i].val_loss);
        CHECK(g.history[i].lr == b.history[i].lr);
    }
    CHECK(g.best_epoch == b.best_epoch);
    CHECK(g.stopped_early == b.stopped_early);
    CHECK(g.evaluated_split == "test");
    // The test split was read, with its labels: swapping them turns accuracy a into 1 - a.
    REQUIRE(g.test.total == 16);
    CHECK(b.test.accuracy == Approx(1.0 - g.test.accuracy));
    CHECK(g.test.accuracy > 0.6);

    // Read once, after the last epoch.
    const auto& ev = seen_good.events;
    CHECK(std::count(ev.begin(), ev.end(), "test") == 1);
    REQUIRE_FALSE(ev.empty());
    CHECK(ev.back() == "test");
}

TEST_CASE("without a validation split the last epoch is kept, and the run says so", "[train][protocol][slow]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 12, 12);
    const std::vector<std::string> no_val = {"data.split.train=0.5", "data.split.val=0", "data.split.test=0.5",
                                             "train.epochs=3"};
    SECTION("flat layout, data.split.val = 0") {
        PhaseRecorder seen;
        const TrainResult r = train(test::small_train_config(data, tmp / "runs", no_val), {}, seen);
        CHECK(r.best_epoch == 0);
        CHECK(r.evaluated_model == "last");
        CHECK(r.evaluated_epoch == 3);
        CHECK(r.evaluated_split == "test");
        CHECK(r.test.total == 12);
        CHECK(std::isnan(r.history.back().val_loss));
        CHECK_FALSE(fs::exists(r.run_dir / "best.maskctl"));
        CHECK(fs::exists(r.run_dir / "last.maskctl"));
        CHECK_THAT(fmt::format("{}", fmt::join(seen.messages, "\n")),
                   Contains("no validation split (data.split.val is 0): no best epoch, the last epoch is kept"));
        CHECK_THAT(read_text(r.run_dir / "report.txt"), Contains("best epoch: none (no validation split"));
        CHECK_THAT(read_text(r.run_dir / "report.txt"), Contains("Last model (epoch 3) on the test split"));
        CHECK(std::count(seen.events.begin(), seen.events.end(), "test") == 1);
    }
    SECTION("early stopping or a plateau schedule would have to look at test: refused, naming the key") {
        TrainObserver quiet;
        for (const char* key : {"train.early_stopping.enabled=true", "train.schedule.type=plateau"}) {
            auto set = no_val;
            set.push_back(key);
            const std::string name = std::string(key).substr(0, std::string(key).find('='));
            CHECK_THROWS_WITH(train(test::small_train_config(data, tmp / "runs", set), {}, quiet),
                              Contains("key '" + name + "'") && Contains("no validation split"));
        }
    }
    SECTION("a pre-split folder without val/ is the same case") {
        const fs::path split = tmp / "split";
        for (const char* c : {"with_mask", "without_mask"}) {
            std::vector<fs::path> files;
            for (const auto& e : fs::directory_iterator(data / c)) files.push_back(e.path());
            std::sort(files.begin(), files.end());
            for (std::size_t i = 0; i < files.size(); ++i) {
                const fs::path dir = split / (i % 2 ? "test" : "train") / c;
                fs::create_directories(dir);
                fs::copy_file(files[i], dir / files[i].filename());
            }
        }
        PhaseRecorder seen;
        const TrainResult r = train(test::small_train_config(split, tmp / "runs", {"train.epochs=2"}), {}, seen);
        CHECK(r.evaluated_model == "last");
        CHECK_THAT(fmt::format("{}", fmt::join(seen.messages, "\n")), Contains("no val/ folder in"));
    }
}
