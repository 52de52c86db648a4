// maskctl augment preview: a grid of augmented versions of a few images, to see what a config does.
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "config_options.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/loader.hpp"

namespace maskctl::app {
namespace {

struct PreviewOptions {
    ConfigOptions config;
    std::vector<std::string> images;
    std::string out = "augment_preview.png";
    int count = 8;
};

// One image per class from the train split, up to four, when none are named.
std::vector<Sample> default_images(const Config& config) {
    const Dataset dataset = open_dataset(config.data);
    std::vector<Sample> picked;
    const auto& train = dataset.samples(Split::train);
    for (std::size_t c = 0; c < dataset.class_names.size() && picked.size() < 4; ++c) {
        const auto it = std::find_if(train.begin(), train.end(), [&](const Sample& s) { return s.label == int(c); });
        if (it != train.end()) picked.push_back(*it);
    }
    return picked;
}

int run_preview(const PreviewOptions& opts) {
    const Config config = opts.config.load();
    std::vector<Sample> samples;
    for (const auto& image : opts.images) samples.push_back({image, 0});
    if (samples.empty()) samples = default_images(config);

    LoaderOptions options = make_loader_options(config, true);
    AugmentConfig augment = config.augment;
    augment.enabled = true;  // a preview of augmentation shows it even when training has it off
    options.augment = augment;
    LoaderOptions plain = options;
    plain.augment.reset();

    // Row i: the image as the model sees it without augmentation, then `count` epochs of augmentation.
    std::vector<cv::Mat> tiles;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        tiles.push_back(load_sample_image(samples[i], i, 0, plain));
        for (int epoch = 0; epoch < opts.count; ++epoch) tiles.push_back(load_sample_image(samples[i], i, epoch, options));
    }
    write_png(opts.out, tile_images(tiles, opts.count + 1));
    std::cout << fmt::format("{}: {} images x {} augmentations (first column: not augmented)\n", opts.out,
                             samples.size(), opts.count);
    return kExitOk;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* augment = parent.add_subcommand("augment", "See what the augmentation settings do");
    augment->require_subcommand(1);
    auto* preview = augment->add_subcommand("preview", "Write a PNG grid of augmented versions of a few images");
    auto opts = std::make_shared<PreviewOptions>();
    opts->config.add_to(preview);
    preview->add_option("--images", opts->images, "Images to augment (default: one per class from the dataset)")
        ->check(CLI::ExistingFile);
    preview->add_option("-o,--out", opts->out, "PNG file to write")->capture_default_str();
    preview->add_option("-n,--count", opts->count, "Augmented versions per image")->capture_default_str()->check(CLI::Range(1, 64));
    preview->callback([opts, &exit_code] { exit_code = run_preview(*opts); });
}

const CommandRegistration registration{25, setup};

}  // namespace
}  // namespace maskctl::app
