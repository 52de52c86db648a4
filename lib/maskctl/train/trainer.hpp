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
#include "maskctl/train/feature_cache.hpp"
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
    // Once the run is set up: its own config (on --resume, the run folder's with the overrides).
    virtual void on_start(const Config& /*config*/, const std::filesystem::path& /*run_dir*/) {}
    // A notable event worth one line: data found, bad files skipped, cache built, early stop, ...
    virtual void on_message(const std::string& /*line*/) {}
    // Progress inside a long phase ("features", "train", "val", "test"): images done of total.
    virtual void on_progress(const std::string& /*phase*/, std::size_t /*done*/, std::size_t /*total*/) {}
    virtual void on_epoch(const EpochRecord& /*record*/, bool /*is_best*/) {}
};

struct TrainOptions {
    std::string name = "exp";       // run folder name under <runs_dir>/train (numbered when taken)
    std::filesystem::path resume;   // a run folder to continue from its last checkpoint
    // With `resume`: "key=value" overrides of the run's config.json; only resume-safe keys (see
    // resume_safe_key). The `config` argument of train() is not used when resuming.
    std::vector<std::string> overrides;
    const std::atomic<bool>* stop = nullptr;  // set by the app on Ctrl-C: stop after the current batch
};

struct TrainResult {
    std::filesystem::path run_dir;
    std::vector<EpochRecord> history;
    int best_epoch = 0;  // 1-based
    Metrics test;        // of the evaluated model on the test split (empty when there is none)
    std::string evaluated_model = "best";  // "last" when train.early_stopping.restore_best is false
    int evaluated_epoch = 0;               // the epoch whose weights were evaluated
    std::string evaluated_split;  // "test", or "val" when the data has no test split
    bool stopped_early = false;
    bool interrupted = false;
    double seconds = 0;
    std::string mode;  // "feature cache (K views)" or "full forward"
    Config config;     // the run's own config
};

// Keys that --resume may change: train.epochs, train.schedule.*, train.early_stopping.*,
// train.threads and train.workers. Everything else defines the model, the data or the optimizer
// the checkpoint was made with.
bool resume_safe_key(const std::string& key);

// The config a resumed run continues with: <run_dir>/config.json plus `overrides`. Throws
// ConfigError naming the key for an override of a key that is not resume-safe, and IoError when
// `run_dir` has no last.ckpt.
Config resume_config(const std::filesystem::path& run_dir, const std::vector<std::string>& overrides);

// Runs a whole training. Throws ConfigError/DataError/ModelFileError/IoError on bad input.
TrainResult train(const Config& config, const TrainOptions& options, TrainObserver& observer);

}  // namespace maskctl
