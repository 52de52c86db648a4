#pragma once
// The small mask model the detection tests share: trained once per test process (about 15 s) on 150
// images per class of the real 2-class data, 5 epochs on cached features. Good enough to label the
// shared photos and the demo clip as a person would.
#include <algorithm>
#include <filesystem>
#include <vector>

#include "maskctl/core/config.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"

namespace maskctl::test {

inline const std::filesystem::path& mask_model() {
    namespace fs = std::filesystem;
    static TempDir dir("maskctl-detect-model");
    static const fs::path model = [] {
        for (const char* cls : {"with_mask", "without_mask"}) {
            std::vector<fs::path> files;
            for (const auto& e : fs::directory_iterator(shared_dir() / "data" / "face-mask-3833" / cls))
                files.push_back(e.path());
            std::sort(files.begin(), files.end());
            fs::create_directories(dir / "data" / cls);
            for (size_t i = 0; i < 150; ++i) fs::copy_file(files[i], dir / "data" / cls / files[i].filename());
        }
        Config c = load_config("", {"data.split.train=0.8", "data.split.val=0", "data.split.test=0.2",
                                    "train.epochs=5", "train.feature_cache.views=1"});
        c.data.root = (dir / "data").string();
        c.output.runs_dir = (dir / "runs").string();
        c.model.backbone.weights = (shared_dir() / "models/imagenet/tf2_mobilenet_v2_1.0_224_ptq.tflite").string();
        TrainObserver quiet;
        return train(c, {}, quiet).run_dir / "best.maskctl";
    }();
    return model;
}

}  // namespace maskctl::test
