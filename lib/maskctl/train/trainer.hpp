#pragma once
// Training a classifier from a run config, Ultralytics-style: a run folder runs/train/expN with the
// resolved config, the split, history.csv, best/last model files, results.png, confusion_matrix.png
// and report.txt. The library reports progress through TrainObserver and never prints.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "maskctl/core/config.hpp"
#include "maskctl/train/metrics.hpp"

namespace maskctl {

struct EpochRecord {
    int epoch = 0;  // 1-based
    double seconds = 0;
    double lr = 0;
    double train_loss = 0;
    double train_accuracy = 0;
    double val_loss = 0;
    double val_accuracy = 0;
    double val_f1 = 0;  // macro F1
};

class TrainObserver {
public:
    virtual ~TrainObserver() = default;
    // A notable event worth one line: data found, bad files skipped, cache built, early stop, ...
    virtual void on_message(const std::string& /*line*/) {}
    // Progress inside a long phase ("features", "train", "val", "test"): images done of total.
    virtual void on_progress(const std::string& /*phase*/, std::size_t /*done*/, std::size_t /*total*/) {}
    virtual void on_epoch(const EpochRecord& /*record*/, bool /*is_best*/) {}
};

struct TrainOptions {
    std::string name = "exp";       // run folder name under <runs_dir>/train (numbered when taken)
    std::filesystem::path resume;   // a run folder to continue from its last checkpoint
    const std::atomic<bool>* stop = nullptr;  // set by the app on Ctrl-C: stop after the current batch
};

struct TrainResult {
    std::filesystem::path run_dir;
    std::vector<EpochRecord> history;
    int best_epoch = 0;  // 1-based
    Metrics test;        // of the best model on the test split (empty when there is none)
    std::string evaluated_split;  // "test", or "val" when the data has no test split
    bool stopped_early = false;
    bool interrupted = false;
    double seconds = 0;
    std::string mode;  // "feature cache (K views)" or "full forward"
};

// The feature cache holds views x N x D floats (D = 1280 for the default head), so it grows with the
// dataset. Beyond this budget the trainer caches fewer views, and when not even one fits it runs the
// full forward pass every epoch instead (slower, but its memory does not depend on the dataset).
// 384 MiB: a default run peaked at 1063 MB with a 78 MB cache, so a full cache stays under 1.5 GB.
inline constexpr std::size_t kFeatureCacheBudgetBytes = std::size_t{384} << 20;

struct FeatureCachePlan {
    int views = 0;          // 0 = do not cache
    std::size_t bytes = 0;  // of the cache (train views + validation)
};
// The most views, at most `views`, whose cache fits `budget_bytes`.
FeatureCachePlan plan_feature_cache(std::size_t train_images, std::size_t val_images, std::int64_t floats_per_image,
                                    int views, std::size_t budget_bytes);

// Runs a whole training. Throws ConfigError/DataError/ModelFileError/IoError on bad input.
TrainResult train(const Config& config, const TrainOptions& options, TrainObserver& observer);

}  // namespace maskctl
