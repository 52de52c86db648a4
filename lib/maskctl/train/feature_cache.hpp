#pragma once
// Feature-cache training: the frozen backbone's pooled features of every training image (a few
// augmented views each) and of the validation images are computed once; every epoch then trains the
// head alone on them, which is much faster than a full forward pass per epoch.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "maskctl/core/config.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/model/classifier.hpp"

namespace maskctl {

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

// Floats per image in the cache: the head's pooled and flattened backbone features.
std::int64_t cached_feature_size(const Config& config);

struct FeatureCache {
    int views = 0;
    torch::Tensor train;                // [views, N, D]; rows of undecodable images stay zero
    std::vector<std::int64_t> train_rows;  // rows of `train` whose image decoded
    torch::Tensor val;                  // [M, D]: decoded validation images only
    torch::Tensor val_labels;           // [M] int64
    double seconds = 0;
    double megabytes() const { return static_cast<double>(train.numel() + val.numel()) * 4 / 1e6; }
};

// Progress of the extraction: images done of total.
using CacheProgress = std::function<void(std::size_t done, std::size_t total)>;

// View 0 is each image itself; view v > 0 is the augmentation the loader draws for epoch v.
// Undecodable images are counted in `bad`. Throws DataError when no image of a split decodes.
FeatureCache build_feature_cache(Classifier& model, const std::vector<Sample>& train_samples,
                                 const std::vector<Sample>& val_samples, const LoaderOptions& loader, int views,
                                 const CacheProgress& progress, BadFileReport& bad);

// The row of the cache (in `train` viewed as [views * N, D]) that training image `row` uses in
// `epoch`: one view per image per epoch, drawn from (seed, epoch, row) only.
std::int64_t cached_view_row(const FeatureCache& cache, std::uint64_t seed, int epoch, std::int64_t row);

}  // namespace maskctl
