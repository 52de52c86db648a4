#pragma once
// Batches for training and evaluation: worker threads decode, augment and normalize images ahead of
// the consumer, behind a bounded queue. Everything a batch holds is a pure function of (samples,
// options, epoch): the per-epoch order comes from (seed, epoch) and each sample's augmentation from
// (seed, epoch, sample index), so 1 or 8 workers give bit-identical batches.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/types.h>

#include "maskctl/core/config.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/preprocess.hpp"

namespace maskctl {

struct LoaderOptions {
    Preprocess preprocess;                 // input size and normalization of the backbone
    int batch_size = 32;
    int workers = 0;                       // decode threads; 0 = one per core
    int queue_batches = 0;                 // batches ready or in progress ahead of the consumer; 0 = 2 per worker
    bool shuffle = true;                   // a new order each epoch, from (seed, epoch)
    bool drop_last = false;                // drop a last batch smaller than batch_size
    std::optional<AugmentConfig> augment;  // unset = resize only, exactly as predict does
    std::uint64_t seed = 42;
    const std::atomic<bool>* stop = nullptr;  // for_each_batch throws Interrupted once this is set
    // > 1: every sample in `views` versions from one decode (load_sample_views; feature caching), the
    // epoch passed to start_epoch is not used. Batch::images then holds views x N rows, view-major.
    int views = 1;
};

// Options for `config` (batch size, workers, input size, seed); `training` turns on shuffling
// and augmentation (when augment.enabled).
LoaderOptions make_loader_options(const Config& config, bool training);

// 0 -> the number of cores (at least 1); otherwise the value itself.
int resolve_workers(int configured);

struct Batch {
    torch::Tensor images;               // float [N, 3, S, S] ([views * N, ...] view-major with views > 1), channels-last memory, normalized
    torch::Tensor labels;               // int64 [N]
    std::vector<std::int64_t> indices;  // positions in Loader::samples() of each row
    std::size_t number = 0;             // batch number within the epoch
};

// One sample as the loader prepares it: decoded, augmented (or just resized), 8-bit RGB S x S.
// Throws ImageError when the file is bad.
cv::Mat load_sample_image(const Sample& sample, std::size_t index, int epoch, const LoaderOptions& options);

// Views 0..views-1 of one sample from a single decode, for the feature cache: view 0 is the image
// resized only (as load_sample_image without augmentation, and predict), view v > 0 the augmentation
// load_sample_image draws for epoch v. A large JPEG is shrunk for the augmented views by the power of
// two load_sample_image would have decoded it at (area averaging instead of libjpeg's DCT scaling:
// equal up to rounding); every other image gives exactly load_sample_image's pixels.
// Throws ImageError when the file is bad.
std::vector<cv::Mat> load_sample_views(const Sample& sample, std::size_t index, int views, const LoaderOptions& options);

class Loader {
public:
    Loader(std::vector<Sample> samples, LoaderOptions options);
    ~Loader();
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    // Starts producing the batches of `epoch` (abandoning what is left of the previous one).
    void start_epoch(int epoch);
    // The next batch of the current epoch in order, or nullopt when it is over. A file that fails
    // to decode is left out of its batch (and listed in bad_files()); a worker's unexpected error
    // is rethrown here.
    std::optional<Batch> next();

    std::size_t batches_per_epoch() const;
    std::size_t size() const { return samples_.size(); }
    const std::vector<Sample>& samples() const { return samples_; }
    const LoaderOptions& options() const { return options_; }
    int workers() const { return static_cast<int>(threads_.size()); }
    // Files that failed to decode so far, each listed once however many epochs met it.
    BadFileReport bad_files() const;

private:
    void work();
    Batch build(std::size_t number, const std::vector<std::int64_t>& indices, int epoch);
    void record_bad(const Sample& sample, const ImageError& error);

    std::vector<Sample> samples_;
    LoaderOptions options_;
    std::vector<std::thread> threads_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stop_ = false;
    bool started_ = false;
    std::uint64_t generation_ = 0;  // bumped by start_epoch; work for an older one is dropped
    int epoch_ = 0;
    std::vector<std::int64_t> order_;
    std::size_t next_claim_ = 0;  // next batch a worker will build
    std::size_t next_out_ = 0;    // next batch next() returns
    std::map<std::size_t, Batch> ready_;
    std::exception_ptr error_;
    BadFileReport bad_;
    std::set<std::string> bad_paths_;
};

// One pass over `samples` in their order (epoch `epoch` of the augmentation, if any): calls `fn` with
// each non-empty batch and the images done so far, then adds the files that failed to decode to `bad`.
// The shared loop of feature caching, evaluation and prediction. Throws Interrupted between two
// batches once options.stop is set (a batch takes about a second, so Ctrl-C acts within that).
void for_each_batch(const std::vector<Sample>& samples, LoaderOptions options, int epoch,
                    const std::function<void(const Batch&, std::size_t done)>& fn, BadFileReport* bad = nullptr);

}  // namespace maskctl
