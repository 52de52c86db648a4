#pragma once
// The small mask model the detection tests share: trained once per test process (about 15 s) on 150
// images per class of the real 2-class data, 5 epochs on cached features. Good enough to label the
// shared photos and the demo clip as a person would.
#include <filesystem>

#include "maskctl/core/config.hpp"
#include "maskctl/train/trainer.hpp"
#include "data_helpers.hpp"
#include "test_helpers.hpp"

namespace maskctl::test {

inline const std::filesystem::path& mask_model() {
    namespace fs = std::filesystem;
    static TempDir dir("maskctl-detect-model");
    static const fs::path model = [] {
        make_real_subset(dir / "data", 150, 150);
        Config c = load_config("", {"data.split.train=0.8", "data.split.val=0", "data.split.test=0.2",
                                    "train.epochs=5", "train.feature_cache.views=1"});
        c.data.root = (dir / "data").string();
        c.output.runs_dir = (dir / "runs").string();
        c.model.backbone.weights = imagenet_weights().string();
        TrainObserver quiet;
        return train(c, {}, quiet).run_dir / "last.maskctl";  // no validation split: the last epoch is the model
    }();
    return model;
}

}  // namespace maskctl::test
