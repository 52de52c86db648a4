#include <fstream>

#include <catch2/catch.hpp>

#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/model/tflite.hpp"
#include "maskctl/train/feature_cache.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;

namespace {

fs::path make_subset(const fs::path& dest, int per_class) { return test::make_real_subset(dest, per_class, per_class); }

Config tiny_config(const fs::path& data, const fs::path& runs) {
    return test::small_train_config(data, runs, {"train.epochs=3", "train.feature_cache.views=2"});
}

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

    const TrainResult cut = test::interrupted_run(config, 1, "cut");
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

TEST_CASE("the feature cache holds, for every view, the features of the image load_sample_image makes", "[train][views]") {
    test::TempDir tmp;
    const Config config = test::small_train_config(make_subset(tmp / "data", 4), tmp / "runs");
    const Dataset data = open_dataset(config.data);
    const auto& samples = data.samples(Split::train);
    Classifier model = imagenet_classifier(config.model, 2);
    const LoaderOptions lo = make_loader_options(config, true);
    BadFileReport bad;
    constexpr int kViews = 3;
    const auto before = images_decoded();
    const FeatureCache cache = build_feature_cache(model, samples, {}, lo, kViews, [](std::size_t, std::size_t) {}, bad);
    CHECK(images_decoded() - before == samples.size());  // each image decoded once for all its views
    REQUIRE(cache.train.sizes() == torch::IntArrayRef{kViews, static_cast<std::int64_t>(samples.size()), 1280});
    LoaderOptions plain = lo;
    plain.augment.reset();
    c10::InferenceMode guard;
    for (std::size_t i = 0; i < samples.size(); ++i)
        for (int v = 0; v < kViews; ++v) {
            // The old path: view v as its own pass of the loader (view 0 without augmentation).
            const cv::Mat image = load_sample_image(samples[i], i, v, v == 0 ? plain : lo);
            const auto expected = model->head->pool(model->backbone->forward(to_batch({image}, lo.preprocess))).flatten(1)[0];
            CHECK(torch::allclose(cache.train[v][static_cast<std::int64_t>(i)], expected, 1e-4, 1e-4));
        }
}
