// The batch loader: shapes and layout, coverage and per-epoch order, bit-identical batches for any
// number of workers, the eval path equal to predict's, and files that break mid-epoch.
#include <numeric>
#include <set>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "data_helpers.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/loader.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using maskctl::test::TempDir;

namespace {

// `n` noisy images of assorted sizes (noise makes any difference in augmentation visible).
std::vector<Sample> noisy_samples(const fs::path& dir, int n) {
    std::vector<Sample> samples;
    for (int i = 0; i < n; ++i) {
        cv::Mat img(30 + 7 * (i % 5), 40 + 11 * (i % 3), CV_8UC3);
        cv::RNG(static_cast<std::uint64_t>(i + 1)).fill(img, cv::RNG::UNIFORM, 0, 256);
        const fs::path path = dir / ("c" + std::to_string(i % 3)) / ("img " + std::to_string(i) + ".png");
        test::write_bytes(path, test::encode(img));
        samples.push_back({path, i % 3});
    }
    return samples;
}

LoaderOptions options(int workers, bool augment = true) {
    LoaderOptions o;
    o.preprocess.input_size = 64;
    o.batch_size = 8;
    o.workers = workers;
    o.seed = 5;
    if (augment) o.augment = AugmentConfig{};
    return o;
}

std::vector<Batch> epoch_of(Loader& loader, int epoch) {
    std::vector<Batch> batches;
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) batches.push_back(std::move(*batch));
    return batches;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].indices != b[i].indices || !torch::equal(a[i].images, b[i].images) ||
            !torch::equal(a[i].labels, b[i].labels))
            return false;
    return true;
}

std::vector<std::int64_t> order_of(const std::vector<Batch>& batches) {
    std::vector<std::int64_t> order;
    for (const auto& b : batches) order.insert(order.end(), b.indices.begin(), b.indices.end());
    return order;
}

}  // namespace

TEST_CASE("batches have the right shape, layout, labels and cover every sample once", "[data][loader]") {
    TempDir dir;
    const auto samples = noisy_samples(dir.path(), 37);
    Loader loader(samples, options(2));
    CHECK(loader.workers() == 2);
    CHECK(loader.batches_per_epoch() == 5);
    const auto batches = epoch_of(loader, 0);
    REQUIRE(batches.size() == 5);
    for (std::size_t i = 0; i < batches.size(); ++i) {
        const Batch& b = batches[i];
        const std::int64_t n = i < 4 ? 8 : 5;
        CHECK(b.number == i);
        CHECK(b.images.sizes() == torch::IntArrayRef{n, 3, 64, 64});
        CHECK(b.images.dtype() == torch::kFloat32);
        CHECK(b.images.is_contiguous(torch::MemoryFormat::ChannelsLast));
        CHECK(b.labels.dtype() == torch::kInt64);
        CHECK(b.images.min().item<float>() >= -1.0f);
        CHECK(b.images.max().item<float>() <= 1.0f + 1e-6f);  // 255 / 127.5 - 1 in float
        for (std::int64_t r = 0; r < n; ++r)
            CHECK(b.labels[r].item<std::int64_t>() == samples[static_cast<std::size_t>(b.indices[r])].label);
    }
    auto order = order_of(batches);
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int64_t> all(37);
    std::iota(all.begin(), all.end(), 0);
    CHECK(sorted == all);
    CHECK(order != all);  // shuffled
    CHECK(order_of(epoch_of(loader, 1)) != order);  // a new order each epoch
    CHECK(order_of(epoch_of(loader, 0)) == order);  // ... that depends on the epoch only

    LoaderOptions in_order = options(1);
    in_order.shuffle = false;
    in_order.drop_last = true;
    Loader sequential(samples, in_order);
    const auto seq = epoch_of(sequential, 0);
    CHECK(seq.size() == 4);
    CHECK(order_of(seq) == std::vector<std::int64_t>(all.begin(), all.begin() + 32));
}

TEST_CASE("1, 2 or 3 workers give bit-identical batches", "[data][loader]") {
    TempDir dir;
    const auto samples = noisy_samples(dir.path(), 30);
    Loader one(samples, options(1));
    Loader two(samples, options(2));
    LoaderOptions three_opts = options(3);
    three_opts.queue_batches = 1;  // and a tiny queue
    Loader three(samples, three_opts);
    for (int epoch = 0; epoch < 2; ++epoch) {
        const auto reference = epoch_of(one, epoch);
        CHECK(same(reference, epoch_of(two, epoch)));
        CHECK(same(reference, epoch_of(three, epoch)));
    }
    // Augmentation really differs between epochs for the same sample.
    const auto e0 = epoch_of(one, 0), e1 = epoch_of(one, 1);
    auto row_of = [](const std::vector<Batch>& batches, std::int64_t index) {
        for (const auto& b : batches)
            for (std::size_t r = 0; r < b.indices.size(); ++r)
                if (b.indices[r] == index) return b.images[static_cast<std::int64_t>(r)].clone();
        return torch::Tensor();
    };
    CHECK_FALSE(torch::equal(row_of(e0, 4), row_of(e1, 4)));
}

TEST_CASE("without augmentation a batch row is exactly what predict computes", "[data][loader]") {
    TempDir dir;
    const auto samples = noisy_samples(dir.path(), 6);
    LoaderOptions o = options(2, false);
    o.shuffle = false;
    Loader loader(samples, o);
    const auto batches = epoch_of(loader, 0);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto expected = to_batch({resize_for_model(decode_image(samples[i].path), o.preprocess)}, o.preprocess);
        CHECK(torch::equal(batches[0].images[static_cast<std::int64_t>(i)], expected[0]));
    }
    // MobileNetV2 scaling: 0 -> -1, 255 -> 1.
    const cv::Mat white(64, 64, CV_8UC3, cv::Scalar::all(255)), black(64, 64, CV_8UC3, cv::Scalar::all(0));
    const auto t = to_batch({white, black}, o.preprocess);
    CHECK(t[0].min().item<float>() == Approx(1.0f).margin(1e-6));
    CHECK(t[1].max().item<float>() == -1.0f);
}

TEST_CASE("a file that breaks mid-epoch is skipped and reported once", "[data][loader]") {
    TempDir dir;
    const auto samples = noisy_samples(dir.path(), 20);
    Loader loader(samples, options(2));
    // After indexing: one file vanishes, one is cut short.
    fs::remove(samples[3].path);
    const auto bytes = read_file_bytes(samples[11].path);
    test::write_bytes(samples[11].path, {bytes.begin(), bytes.begin() + 40});

    for (int epoch = 0; epoch < 2; ++epoch) {
        const auto order = order_of(epoch_of(loader, epoch));
        CHECK(order.size() == 18);
        CHECK(std::find(order.begin(), order.end(), 3) == order.end());
        CHECK(std::find(order.begin(), order.end(), 11) == order.end());
    }
    const BadFileReport bad = loader.bad_files();
    REQUIRE(bad.total == 2);
    std::set<ImageProblem> kinds{bad.first[0].problem, bad.first[1].problem};
    CHECK(kinds == std::set<ImageProblem>{ImageProblem::missing, ImageProblem::truncated});
}

TEST_CASE("epochs can be restarted and next() needs start_epoch()", "[data][loader]") {
    TempDir dir;
    const auto samples = noisy_samples(dir.path(), 20);
    Loader loader(samples, options(2));
    CHECK_THROWS_AS(loader.next(), Error);
    loader.start_epoch(0);
    REQUIRE(loader.next());  // abandon epoch 0 after one batch
    const auto restarted = epoch_of(loader, 1);
    Loader fresh(samples, options(1));
    CHECK(same(restarted, epoch_of(fresh, 1)));
}

TEST_CASE("loads a face-mask-3833 subset at 96 px from its config", "[data][loader]") {
    Config config;
    config.data.root = (test::shared_dir() / "data" / "face-mask-3833").string();
    config.data.image_size = 96;
    config.train.batch_size = 16;
    config.train.workers = 2;
    const Dataset dataset = open_dataset(config.data);
    std::vector<Sample> subset;
    for (const auto& s : dataset.samples(Split::train))
        if (subset.size() < 40 && (s.path.filename().string().find(' ') != std::string::npos || s.label == 1))
            subset.push_back(s);
    REQUIRE(subset.size() == 40);
    const LoaderOptions o = make_loader_options(config, true);
    CHECK(o.augment.has_value());
    CHECK(o.shuffle);
    CHECK_FALSE(make_loader_options(config, false).augment.has_value());
    Loader loader(subset, o);
    const auto batches = epoch_of(loader, 0);
    REQUIRE(batches.size() == 3);
    CHECK(batches[0].images.sizes() == torch::IntArrayRef{16, 3, 96, 96});
    CHECK(loader.bad_files().empty());
}

TEST_CASE("feature-cache views: one decode per image for all its views, each view as load_sample_image makes it",
          "[data][loader][views]") {
    // Real photos, small and large: at 96 px the large JPEGs would have been decoded at reduced scale.
    Config config;
    config.data.root = (test::shared_dir() / "data" / "face-mask-3833").string();
    config.data.image_size = 96;
    const Dataset dataset = open_dataset(config.data);
    std::vector<Sample> subset;
    int large = 0, small = 0;
    for (const auto& s : dataset.samples(Split::train)) {
        if (large == 4 && small == 8) break;
        const int k = jpeg_reduction(read_file_bytes(s.path), 96);
        if (k > 1 && large < 4) subset.push_back(s), ++large;
        if (k == 1 && small < 8) subset.push_back(s), ++small;
    }
    REQUIRE(large == 4);
    REQUIRE(small == 8);
    const LoaderOptions o = make_loader_options(config, true);
    LoaderOptions plain = o;
    plain.augment.reset();
    constexpr int kViews = 4;
    for (std::size_t i = 0; i < subset.size(); ++i) {
        INFO(subset[i].path);
        const auto before = images_decoded();
        const auto views = load_sample_views(subset[i], i, kViews, o);
        CHECK(images_decoded() - before == 1);
        REQUIRE(views.size() == kViews);
        // View 0: exactly the eval and predict path.
        CHECK(cv::norm(views[0], load_sample_image(subset[i], i, 0, plain), cv::NORM_INF) == 0);
        const bool reduced = jpeg_reduction(read_file_bytes(subset[i].path), 96) > 1;
        for (int v = 1; v < kViews; ++v) {
            const cv::Mat old_path = load_sample_image(subset[i], i, v, o);
            if (!reduced) {
                CHECK(cv::norm(views[static_cast<std::size_t>(v)], old_path, cv::NORM_INF) == 0);
            } else {  // area-averaged instead of DCT-scaled: the same picture up to rounding
                CHECK(cv::norm(views[static_cast<std::size_t>(v)], old_path, cv::NORM_L1) / static_cast<double>(old_path.total() * 3) < 6.0);
            }
        }
    }

    // Through the loader: one decode per image, views x N rows, view-major, whatever the workers.
    LoaderOptions lo = o;
    lo.views = kViews;
    lo.shuffle = false;
    lo.batch_size = 5;
    lo.workers = 2;
    const auto before = images_decoded();
    Loader loader(subset, lo);
    const auto batches = epoch_of(loader, 0);
    CHECK(images_decoded() - before == subset.size());
    for (const auto& b : batches) {
        const auto n = static_cast<std::int64_t>(b.indices.size());
        REQUIRE(b.images.size(0) == kViews * n);
        for (std::int64_t r = 0; r < n; ++r) {
            const auto index = static_cast<std::size_t>(b.indices[static_cast<std::size_t>(r)]);
            const auto views = load_sample_views(subset[index], index, kViews, o);
            for (std::int64_t v = 0; v < kViews; ++v)
                CHECK(torch::equal(b.images[v * n + r], to_batch({views[static_cast<std::size_t>(v)]}, o.preprocess)[0]));
        }
    }
}
