// What the training options promise, checked on tiny subsets of the real data: early stopping,
// restore_best, unfrozen backbone blocks, class weights, and what --resume accepts and refuses.
#include <fstream>

#include <catch2/catch.hpp>

#include "maskctl/core/errors.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using test::read_text;
using Catch::Contains;
using Catch::StartsWith;

namespace {

// 16 train, 8 val, 8 test images (with 8 + 8 per class); one cached view: seconds a run.
Config small_config(const fs::path& data, const fs::path& runs, const std::vector<std::string>& overrides = {}) {
    return test::small_train_config(data, runs, overrides);
}

// The accuracy of a saved model on the test split of `config`, computed here from the file.
double file_accuracy(const fs::path& model_file, const Config& config) {
    LoadedModel m = load_model(model_file);
    const Dataset d = open_dataset(config.data);
    return evaluate(m.model, m.info.preprocess, d.samples(Split::test), m.info.class_names, {}).metrics.accuracy;
}

struct Recorder : TrainObserver {
    std::vector<std::string> messages;
    int start_epochs = 0;
    void on_start(const Config& c, const fs::path&) override { start_epochs = c.train.epochs; }
    void on_message(const std::string& line) override { messages.push_back(line); }
};

}  // namespace

TEST_CASE("early stopping stops after `patience` epochs without improvement of the monitored metric",
          "[train][slow]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 8, 8);
    TrainObserver quiet;

    SECTION("no epoch can improve val accuracy by more than 1: it stops after patience + 1 bad epochs") {
        for (int patience : {1, 2}) {
            const Config c = small_config(data, tmp / "runs",
                                          {"train.epochs=10", "train.early_stopping.enabled=true",
                                           "train.early_stopping.monitor=val_accuracy",
                                           "train.early_stopping.min_delta=1",
                                           "train.early_stopping.patience=" + std::to_string(patience)});
            const TrainResult r = train(c, {}, quiet);
            CHECK(r.stopped_early);
            CHECK(r.history.size() == static_cast<std::size_t>(patience + 2));
        }
    }
    SECTION("it stops where the rule applied to the validation loss says, not elsewhere") {
        const Config c = small_config(data, tmp / "runs",
                                      {"train.epochs=12", "train.lr=0.01", "train.early_stopping.enabled=true",
                                       "train.early_stopping.patience=1"});
        const TrainResult r = train(c, {}, quiet);
        // Replay the rule on the recorded validation losses.
        double best = 0;
        int bad = 0;
        std::size_t expected = r.history.size();
        bool stops = false;
        for (std::size_t i = 0; i < r.history.size() && !stops; ++i) {
            const double v = r.history[i].val_loss;
            if (i == 0 || v < best) best = v, bad = 0;
            else ++bad;
            stops = bad > 1;
            expected = i + 1;
        }
        CHECK(r.history.size() == expected);
        CHECK(r.stopped_early == stops);
    }
}

TEST_CASE("restore_best: the final evaluation uses the best epoch's weights, or the last epoch's", "[train][slow]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 8, 8);
    TrainObserver quiet;
    // A large learning rate makes the epochs differ, so best and last are different models.
    const std::vector<std::string> base = {"train.epochs=4", "train.lr=0.05", "train.best_metric=val_accuracy"};

    const Config best_config = small_config(data, tmp / "runs", base);
    const TrainResult best = train(best_config, {"best"}, quiet);
    CHECK(best.evaluated_model == "best");
    CHECK(best.evaluated_epoch == best.best_epoch);
    CHECK(file_accuracy(best.run_dir / "best.maskctl", best_config) == Approx(best.test.accuracy));
    CHECK(load_model(best.run_dir / "best.maskctl").info.metrics.contains("test"));

    auto last_overrides = base;
    last_overrides.push_back("train.early_stopping.restore_best=false");
    const Config last_config = small_config(data, tmp / "runs", last_overrides);
    const TrainResult last = train(last_config, {"last"}, quiet);
    CHECK(last.evaluated_model == "last");
    CHECK(last.evaluated_epoch == 4);
    CHECK(file_accuracy(last.run_dir / "last.maskctl", last_config) == Approx(last.test.accuracy));
    CHECK(load_model(last.run_dir / "last.maskctl").info.metrics.contains("test"));
    // best.maskctl keeps what training saved: the best epoch, with its validation numbers only.
    const auto best_meta = load_model(last.run_dir / "best.maskctl").info.metrics;
    CHECK(best_meta.at("epoch") == last.best_epoch);
    CHECK_FALSE(best_meta.contains("test"));
    CHECK_THAT(read_text(last.run_dir / "report.txt"), Contains("Last model (epoch 4) on the test split"));
}

TEST_CASE("trainable_blocks > 0 trains the unfrozen backbone blocks and leaves the frozen ones as they were",
          "[train][slow]") {
    test::TempDir tmp;
    const Config c = small_config(test::make_real_subset(tmp / "data", 4, 4), tmp / "runs",
                                  {"train.epochs=1", "model.backbone.trainable_blocks=1", "augment.enabled=false"});
    TrainObserver quiet;
    const TrainResult r = train(c, {}, quiet);
    CHECK(r.mode == "full forward pass every epoch");

    Classifier imagenet = imagenet_classifier(c.model, 2);
    auto before = imagenet->named_parameters();
    LoadedModel trained = load_model(r.run_dir / "last.maskctl");
    int changed = 0, kept = 0;
    for (const auto& p : trained.model->named_parameters()) {
        if (p.key().rfind("backbone.", 0) != 0) continue;
        const bool unfrozen = p.key().rfind("backbone.blocks.16.", 0) == 0 || p.key().rfind("backbone.last_conv.", 0) == 0;
        const bool same = torch::equal(p.value(), before[p.key()]);
        INFO(p.key());
        CHECK(same != unfrozen);
        (same ? kept : changed) += 1;
    }
    CHECK(changed == 8);  // block 16: expand, depthwise, project (weight + bias each); last_conv weight + bias
    CHECK(kept == 96);    // stem, block 0 (no expand), blocks 1-15
}

TEST_CASE("class weights: balanced is n / (classes * count) per class and changes the loss", "[train][slow]") {
    test::TempDir tmp;
    // 24 with_mask and 12 without_mask: 12 and 6 training images, weights 18/24 = 0.75 and 18/12 = 1.5.
    const fs::path data = test::make_real_subset(tmp / "data", 24, 12);
    TrainObserver quiet;
    const auto first_loss = [&](const std::string& weights) {
        const Config c = small_config(data, tmp / "runs", {"train.epochs=1", "train.class_weights=" + weights});
        return train(c, {}, quiet).history.at(0).train_loss;
    };
    const double none = first_loss("null");
    const double balanced = first_loss("balanced");
    CHECK(balanced == first_loss("[0.75,1.5]"));  // the same weights, given by hand: the same run
    CHECK(balanced != none);
    CHECK(first_loss("[1,1]") == Approx(none).epsilon(1e-6));  // equal weights are no weights
}

TEST_CASE("resume honours safe overrides, refuses the others, and refuses a config.json that changed",
          "[train][slow]") {
    test::TempDir tmp;
    const Config c = small_config(test::make_real_subset(tmp / "data", 8, 8), tmp / "runs", {"train.epochs=20"});
    const TrainResult cut = test::interrupted_run(c);
    REQUIRE(cut.interrupted);

    TrainOptions resume;
    resume.resume = cut.run_dir;
    resume.overrides = {"model.head.dropout=0.3"};
    Recorder rec;
    CHECK_THROWS_WITH(train(c, resume, rec),
                      StartsWith("--set model.head.dropout=0.3: key 'model.head.dropout' cannot change on --resume"));

    // config.json edited by hand since the checkpoint: refused, naming the key.
    const std::string original = read_text(cut.run_dir / "config.json");
    nlohmann::json edited = nlohmann::json::parse(original);
    edited["model"]["head"]["hidden_units"] = 64;
    { std::ofstream(cut.run_dir / "config.json") << edited.dump(2); }
    resume.overrides = {};
    CHECK_THROWS_WITH(train(c, resume, rec), Contains("key 'model.head.hidden_units' is 64 but last.ckpt was trained "
                                                      "with 128"));
    { std::ofstream(cut.run_dir / "config.json") << original; }

    resume.overrides = {"train.epochs=3", "train.early_stopping.patience=7"};
    const TrainResult done = train(c, resume, rec);
    CHECK(rec.start_epochs == 3);  // what the epoch table shows: 2/3, 3/3
    CHECK(done.config.train.epochs == 3);
    CHECK(done.history.size() == 3);
    CHECK(load_config(cut.run_dir / "config.json").train.early_stopping.patience == 7);
}

TEST_CASE("resume from a corrupt last.ckpt: a clear error, and nothing in the run folder changes", "[train][slow]") {
    test::TempDir tmp;
    const Config c = small_config(test::make_real_subset(tmp / "data", 8, 8), tmp / "runs", {"train.epochs=2"});
    TrainObserver quiet;
    const TrainResult r = train(c, {}, quiet);
    const fs::path ckpt = r.run_dir / "last.ckpt";
    const std::string full = read_text(ckpt);
    const std::vector<std::string> kept = {"best.maskctl", "last.maskctl", "config.json", "history.csv", "log.jsonl"};
    std::vector<std::string> before;
    for (const auto& f : kept) before.push_back(read_text(r.run_dir / f));

    for (const std::string& bytes : {full.substr(0, full.size() / 2), std::string("not a checkpoint")}) {
        { std::ofstream(ckpt, std::ios::binary) << bytes; }
        TrainOptions resume;
        resume.resume = r.run_dir;
        CHECK_THROWS_AS(train(c, resume, quiet), ModelFileError);
        CHECK_THROWS_WITH(train(c, resume, quiet), StartsWith(ckpt.string() + ": not a usable checkpoint ("));
        for (std::size_t i = 0; i < kept.size(); ++i) {
            INFO(kept[i]);
            CHECK(read_text(r.run_dir / kept[i]) == before[i]);
        }
    }
}
