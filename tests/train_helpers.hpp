#pragma once
// Small, fast training runs on subsets of the real data (data_helpers.hpp) for the trainer and CLI tests.
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "data_helpers.hpp"
#include "maskctl/core/config.hpp"
#include "maskctl/train/trainer.hpp"

namespace maskctl::test {

// Half of the images for training, a quarter each for validation and test, batches of 8, one cached
// view, lr 0.001; `overrides` ("key=value") on top.
inline Config small_train_config(const std::filesystem::path& data, const std::filesystem::path& runs,
                                 const std::vector<std::string>& overrides = {}) {
    std::vector<std::string> all = {"data.split.train=0.5", "data.split.val=0.25", "data.split.test=0.25",
                                    "train.batch_size=8", "train.feature_cache.views=1", "train.lr=0.001"};
    all.insert(all.end(), overrides.begin(), overrides.end());
    Config c = load_config("", all);
    c.data.root = data.string();
    c.output.runs_dir = runs.string();
    c.model.backbone.weights = imagenet_weights().string();
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

// A run interrupted after `epochs` epochs, ready for --resume.
inline TrainResult interrupted_run(const Config& config, int epochs = 1, const std::string& name = "exp") {
    StopAfter stopper(epochs);
    TrainOptions options{name};
    options.stop = &stopper.stop;
    return train(config, options, stopper);
}

}  // namespace maskctl::test
