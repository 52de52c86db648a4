#include "maskctl/train/feature_cache.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/random.hpp"
#include "maskctl/model/head.hpp"
#include "maskctl/model/mobilenetv2.hpp"

namespace maskctl {

FeatureCachePlan plan_feature_cache(std::size_t train_images, std::size_t val_images, int64_t floats_per_image,
                                    int views, std::size_t budget_bytes) {
    const double per_view = static_cast<double>(train_images) * static_cast<double>(floats_per_image) * 4.0;
    const double fixed = static_cast<double>(val_images) * static_cast<double>(floats_per_image) * 4.0;
    // The extraction of one view is held beside the cache while it is copied in: count it once more.
    const auto fits = [&](int v) { return fixed + per_view * (v + 1) <= static_cast<double>(budget_bytes); };
    FeatureCachePlan plan;
    plan.views = views;
    while (plan.views > 0 && !fits(plan.views)) --plan.views;
    plan.bytes = static_cast<std::size_t>(fixed + per_view * plan.views);
    return plan;
}

int64_t cached_feature_size(const Config& config) {
    const int input = config.model.input_size;
    const int cells = pooled_size(config.model.head, mobilenetv2_feature_size(input), input);
    return int64_t{kMobileNetV2Features} * cells * cells;
}

namespace {

struct Extracted {
    torch::Tensor features;    // [views, N, D]
    std::vector<bool> valid;   // which rows decoded
};

// Pooled backbone features of `samples` in `views` views (view 0 unaugmented), each image decoded once
// for all its views (load_sample_views).
Extracted extract_features(Classifier& model, const std::vector<Sample>& samples, LoaderOptions lo, int views,
                           const std::function<void(std::size_t)>& progress, BadFileReport& bad,
                           const char* split) {
    if (views == 1) lo.augment.reset();
    lo.views = views;
    // About as many images per forward pass as one view of a training batch: the same memory as before.
    lo.batch_size = std::max(1, lo.batch_size / views);
    Extracted out;
    out.valid.assign(samples.size(), false);
    for_each_batch(samples, lo, 0, [&](const Batch& batch, std::size_t done) {
        const auto n = static_cast<int64_t>(batch.indices.size());
        torch::Tensor f;
        {
            // Only here: the cache itself stays a normal tensor, which the head's training may use freely.
            c10::InferenceMode guard;
            f = model->head->pool(model->backbone->forward(batch.images)).flatten(1).reshape({views, n, -1});
        }
        if (!out.features.defined())
            out.features = torch::zeros({views, static_cast<int64_t>(samples.size()), f.size(2)});
        out.features.index_copy_(1, torch::tensor(batch.indices, torch::kInt64), f);
        for (auto i : batch.indices) out.valid[static_cast<std::size_t>(i)] = true;
        progress(done);
    }, &bad);
    if (!out.features.defined())
        throw DataError(fmt::format("no image of the {} split could be decoded", split));
    return out;
}

std::vector<int64_t> valid_rows(const std::vector<bool>& valid) {
    std::vector<int64_t> rows;
    for (std::size_t i = 0; i < valid.size(); ++i)
        if (valid[i]) rows.push_back(static_cast<int64_t>(i));
    return rows;
}

torch::Tensor labels_of(const std::vector<Sample>& samples) {
    std::vector<int64_t> l;
    for (const auto& s : samples) l.push_back(s.label);
    return torch::tensor(l, torch::kInt64);
}

}  // namespace

FeatureCache build_feature_cache(Classifier& model, const std::vector<Sample>& train_samples,
                                 const std::vector<Sample>& val_samples, const LoaderOptions& loader, int views,
                                 const CacheProgress& progress, BadFileReport& bad) {
    const auto t0 = Clock::now();
    model->eval();
    FeatureCache cache;
    cache.views = views;
    const std::size_t n = train_samples.size();
    const std::size_t total = n * views + val_samples.size();
    // All views in one pass, written straight into the cache (no second copy of it).
    Extracted e = extract_features(model, train_samples, loader, views,
                                   [&](std::size_t done) { progress(done * views, total); }, bad, "train");
    cache.train = std::move(e.features);
    cache.train_rows = valid_rows(e.valid);
    if (val_samples.empty()) {  // no validation split: nothing to score between epochs
        cache.val = torch::zeros({0, cache.train.size(2)});
        cache.val_labels = torch::zeros({0}, torch::kInt64);
        cache.seconds = seconds_since(t0);
        return cache;
    }
    Extracted val = extract_features(model, val_samples, loader, 1,
                                     [&](std::size_t done) { progress(n * views + done, total); }, bad, "val");
    const auto val_rows = torch::tensor(valid_rows(val.valid), torch::kInt64);
    cache.val = val.features[0].index_select(0, val_rows);
    cache.val_labels = labels_of(val_samples).index_select(0, val_rows);
    cache.seconds = seconds_since(t0);
    return cache;
}

std::int64_t cached_view_row(const FeatureCache& cache, std::uint64_t seed, int epoch, std::int64_t row) {
    Rng view_rng(derive_seed({seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(row), 0x71e3}));
    const auto v = static_cast<int64_t>(view_rng.below(static_cast<uint64_t>(cache.views)));
    return v * cache.train.size(1) + row;
}

}  // namespace maskctl
