#include "maskctl/data/loader.hpp"

#include <algorithm>
#include <iterator>
#include <numeric>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "maskctl/data/augment.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/core/random.hpp"

namespace maskctl {

LoaderOptions make_loader_options(const Config& config, bool training) {
    LoaderOptions options;
    options.preprocess.input_size = config.image_size();
    options.batch_size = config.train.batch_size;
    options.workers = config.train.workers;
    options.shuffle = training;
    options.seed = static_cast<std::uint64_t>(config.train.seed);
    if (training && config.augment.enabled) options.augment = config.augment;
    return options;
}

int resolve_workers(int configured) {
    if (configured > 0) return configured;
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

cv::Mat load_sample_image(const Sample& sample, std::size_t index, int epoch, const LoaderOptions& options) {
    const int size = options.preprocess.input_size;
    const auto bytes = read_file_bytes(sample.path);
    if (!options.augment) return resize_for_model(decode_image(bytes, sample.path.string()), options.preprocess);
    // Augmented images are resized inside the warp anyway, so a large JPEG may decode at reduced scale.
    const cv::Mat rgb = decode_image(bytes, sample.path.string(), size);
    Rng rng(augment_seed(options.seed, static_cast<std::uint64_t>(epoch), index));
    return augment_image(rgb, draw_augment(*options.augment, rng), *options.augment, size);
}

std::vector<cv::Mat> load_sample_views(const Sample& sample, std::size_t index, int views, const LoaderOptions& options) {
    const int size = options.preprocess.input_size;
    const auto bytes = read_file_bytes(sample.path);
    const cv::Mat rgb = decode_image(bytes, sample.path.string());
    std::vector<cv::Mat> out{resize_for_model(rgb, options.preprocess)};
    if (views <= 1 || !options.augment) {
        out.resize(static_cast<std::size_t>(std::max(1, views)), out[0]);  // no augmentation: every view is view 0
        return out;
    }
    cv::Mat source = rgb;
    if (const int k = jpeg_reduction(bytes, size); k > 1)
        cv::resize(rgb, source, cv::Size((rgb.cols + k - 1) / k, (rgb.rows + k - 1) / k), 0, 0, cv::INTER_AREA);
    for (int v = 1; v < views; ++v) {
        Rng rng(augment_seed(options.seed, static_cast<std::uint64_t>(v), index));
        out.push_back(augment_image(source, draw_augment(*options.augment, rng), *options.augment, size));
    }
    return out;
}

Loader::Loader(std::vector<Sample> samples, LoaderOptions options)
    : samples_(std::move(samples)), options_(std::move(options)) {
    if (options_.batch_size < 1) throw ConfigError(fmt::format("train.batch_size: {} must be >= 1", options_.batch_size));
    if (options_.views < 1) throw Error(fmt::format("LoaderOptions::views is {}, expected >= 1", options_.views));
    const int workers = resolve_workers(options_.workers);
    if (options_.queue_batches <= 0) options_.queue_batches = 2 * workers;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

Loader::~Loader() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    changed_.notify_all();
    for (auto& thread : threads_) thread.join();
}

std::size_t Loader::batches_per_epoch() const {
    const auto b = static_cast<std::size_t>(options_.batch_size);
    return options_.drop_last ? samples_.size() / b : (samples_.size() + b - 1) / b;
}

void Loader::start_epoch(int epoch) {
    std::vector<std::int64_t> order(samples_.size());
    std::iota(order.begin(), order.end(), 0);
    if (options_.shuffle) {
        Rng rng(derive_seed({options_.seed, static_cast<std::uint64_t>(epoch), 0x73687566666c65ULL /* "shuffle" */}));
        shuffle(order, rng);
    }
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        started_ = true;
        epoch_ = epoch;
        order_ = std::move(order);
        next_claim_ = 0;
        next_out_ = 0;
        ready_.clear();
        error_ = nullptr;
    }
    changed_.notify_all();
}

std::optional<Batch> Loader::next() {
    std::unique_lock lock(mutex_);
    if (!started_) throw Error("Loader::next() called before start_epoch()");
    while (next_out_ < batches_per_epoch()) {
        changed_.wait(lock, [&] { return error_ || ready_.count(next_out_); });
        if (error_) std::rethrow_exception(error_);  // stays set: the failed batch will never arrive
        auto node = ready_.extract(next_out_);
        ++next_out_;
        changed_.notify_all();  // a queue slot is free
        if (node.mapped().indices.empty()) continue;  // every file of this batch failed to decode
        return std::move(node.mapped());
    }
    return std::nullopt;
}

BadFileReport Loader::bad_files() const {
    std::lock_guard lock(mutex_);
    return bad_;
}

void Loader::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] {
            return stop_ || (started_ && next_claim_ < batches_per_epoch() &&
                             next_claim_ < next_out_ + static_cast<std::size_t>(options_.queue_batches));
        });
        if (stop_) return;
        const std::size_t number = next_claim_++;
        const std::uint64_t generation = generation_;
        const int epoch = epoch_;
        const auto b = static_cast<std::size_t>(options_.batch_size);
        const auto first = order_.begin() + static_cast<std::ptrdiff_t>(number * b);
        const std::vector<std::int64_t> indices(first, first + static_cast<std::ptrdiff_t>(std::min(b, order_.size() - number * b)));
        lock.unlock();
        std::optional<Batch> batch;
        std::exception_ptr error;
        try {
            batch = build(number, indices, epoch);
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        if (generation != generation_) continue;  // start_epoch() moved on while we worked
        if (error) error_ = error;
        else ready_[number] = std::move(*batch);
        changed_.notify_all();
    }
}

Batch Loader::build(std::size_t number, const std::vector<std::int64_t>& indices, int epoch) {
    Batch batch;
    batch.number = number;
    const auto views = static_cast<std::size_t>(options_.views);
    std::vector<std::vector<cv::Mat>> by_view(views);  // [view][sample]
    std::vector<std::int64_t> labels;
    for (auto& v : by_view) v.reserve(indices.size());
    for (const std::int64_t index : indices) {
        const Sample& sample = samples_[static_cast<std::size_t>(index)];
        const auto at = static_cast<std::size_t>(index);
        try {
            if (views == 1) {
                by_view[0].push_back(load_sample_image(sample, at, epoch, options_));
            } else {
                auto all = load_sample_views(sample, at, options_.views, options_);
                for (std::size_t v = 0; v < views; ++v) by_view[v].push_back(std::move(all[v]));
            }
        } catch (const ImageError& e) {
            record_bad(sample, e);  // skipped: the batch is one shorter, the same way on every run
            continue;
        }
        labels.push_back(sample.label);
        batch.indices.push_back(index);
    }
    std::vector<cv::Mat> images;
    images.reserve(views * indices.size());
    for (auto& v : by_view) images.insert(images.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
    batch.images = to_batch(images, options_.preprocess);
    batch.labels = torch::tensor(labels, torch::kInt64);
    return batch;
}

void Loader::record_bad(const Sample& sample, const ImageError& error) {
    std::lock_guard lock(mutex_);
    if (bad_paths_.insert(sample.path.string()).second) bad_.add({sample.path, error.problem(), error.what()});
}

void for_each_batch(const std::vector<Sample>& samples, LoaderOptions options, int epoch,
                    const std::function<void(const Batch&, std::size_t done)>& fn, BadFileReport* bad) {
    options.shuffle = false;
    Loader loader(samples, options);
    loader.start_epoch(epoch);
    std::size_t done = 0;
    const auto stopped = [&] { return options.stop && options.stop->load(); };
    while (auto batch = loader.next()) {
        if (stopped()) throw Interrupted(fmt::format("interrupted after {} of {} images", done, samples.size()));
        if (batch->indices.empty()) continue;  // every file of the batch failed to decode
        done += batch->indices.size();
        fn(*batch, done);
    }
    if (bad) bad->merge(loader.bad_files());
}

}  // namespace maskctl
