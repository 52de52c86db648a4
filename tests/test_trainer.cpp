#include <fstream>

#include <catch2/catch.hpp>

#include "maskctl/data/dataset.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;

namespace {

// A small copy of the real dataset: the first `per_class` files of each class, by name.
fs::path make_subset(const fs::path& dest, int per_class) {
    for (const char* cls : {"with_mask", "without_mask"}) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(test::shared_dir() / "data" / "face-mask-3833" / cls))
            files.push_back(e.path());
        std::sort(files.begin(), files.end());
        fs::create_directories(dest / cls);
        for (int i = 0; i < per_class; ++i) fs::copy_file(files[i], dest / cls / files[i].filename());
    }
    return dest;
}

Config tiny_config(const fs::path& data, const fs::path& runs) {
    Config c = load_config("", {"data.split.train=0.5", "data.split.val=0.25", "data.split.test=0.25",
                                "train.epochs=3", "train.batch_size=8", "train.feature_cache.views=2",
                                "train.lr=0.001"});
    c.data.root = data.string();
    c.output.runs_dir = runs.string();
    c.model.backbone.weights = (test::shared_dir() / "models/imagenet/tf2_mobilenet_v2_1.0_224_ptq.tflite").string();
    return c;
}

// Stops the run after a given number of epochs, as Ctrl-C would.
struct StopAfter : TrainObserver {
    explicit StopAfter(int n) : n(n) {}
    void on_epoch(const EpochRecord& r, bool) override {
        if (r.epoch >= n) stop = true;
    }
    int n;
    std::atomic<bool> stop{false};
};

}  // namespace

TEST_CASE("a tiny end-to-end run writes a complete run folder and a model that beats chance", "[train][slow]") {
    test::TempDir tmp;
    const Config config = tiny_config(make_subset(tmp / "data", 24), tmp / "runs");
    TrainObserver quiet;
    const TrainResult r = train(config, {}, quiet);
    CHECK(r.run_dir == tmp / "runs" / "train" / "exp");
    REQUIRE(r.history.size() == 3);
    for (const char* f : {"config.json", "split.csv", "history.csv", "best.maskctl", "last.maskctl", "last.ckpt",
                          "results.png", "confusion_matrix.png", "report.txt", "log.jsonl"})
        CHECK(fs::exists(r.run_dir / f));
    CHECK(r.test.total == 12);

    // The saved model, evaluated on its own, gives the numbers the run reported.
    LoadedModel m = load_model(r.run_dir / "best.maskctl");
    CHECK(m.info.class_names == std::vector<std::string>{"with_mask", "without_mask"});
    const Dataset d = open_dataset(config.data);
    const Evaluation e = evaluate(m.model, m.info.preprocess, d.samples(Split::test), m.info.class_names, {});
    CHECK(e.metrics.accuracy > 0.75);  // chance is 0.5; ImageNet features separate masks well
    CHECK(e.metrics.accuracy == Approx(r.test.accuracy));

    // A second run takes the next folder and, with the same seed, reproduces the numbers.
    const TrainResult again = train(config, {}, quiet);
    CHECK(again.run_dir.filename() == "exp2");
    REQUIRE(again.history.size() == r.history.size());
    for (size_t i = 0; i < r.history.size(); ++i) {
        CHECK(again.history[i].train_loss == r.history[i].train_loss);
        CHECK(again.history[i].val_loss == r.history[i].val_loss);
    }
}

TEST_CASE("an interrupted run resumes from its last epoch and ends as an uninterrupted one", "[train][slow]") {
    test::TempDir tmp;
    const Config config = tiny_config(make_subset(tmp / "data", 16), tmp / "runs");
    TrainObserver quiet;
    const TrainResult full = train(config, {"full"}, quiet);

    StopAfter stopper(1);
    TrainOptions first{"cut"};
    first.stop = &stopper.stop;
    const TrainResult cut = train(config, first, stopper);
    CHECK(cut.interrupted);
    REQUIRE(cut.history.size() == 1);

    TrainOptions resume;
    resume.resume = cut.run_dir;
    const TrainResult resumed = train(config, resume, quiet);
    CHECK_FALSE(resumed.interrupted);
    REQUIRE(resumed.history.size() == full.history.size());
    for (size_t i = 0; i < full.history.size(); ++i) {
        CHECK(resumed.history[i].epoch == static_cast<int>(i + 1));
        CHECK(resumed.history[i].val_loss == Approx(full.history[i].val_loss).epsilon(1e-5));
    }
}

TEST_CASE("resume refuses a folder that is not a run", "[train]") {
    test::TempDir tmp;
    TrainOptions o;
    o.resume = tmp.path();
    TrainObserver quiet;
    CHECK_THROWS_WITH(train(Config{}, o, quiet),
                      tmp.path().string() + ": no last.ckpt to resume from (is it a run folder of maskctl train?)");
}
