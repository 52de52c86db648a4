// maskctl data: look at a dataset (inspect), pin its split (split), cut face crops from labelled photos
// (crops), time the loader (bench).
#include <sys/resource.h>

#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "config_options.hpp"
#include "maskctl/report/bench.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/inspect.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/detect/face_crops.hpp"

namespace maskctl::app {
namespace {

// A dataset folder on the command line wins over data.root from the config.
struct DataOptions {
    ConfigOptions config;
    std::string dir;

    void add_to(CLI::App* cmd) {
        cmd->add_option("dir", dir, "Dataset folder (overrides data.root)")->check(CLI::ExistingDirectory);
        config.add_to(cmd);
    }
    Config load() const {
        Config c = config.load();
        if (!dir.empty()) c.data.root = dir;
        return c;
    }
};

std::string stats_text(const SizeStats& w, const SizeStats& h) {
    return fmt::format("width {}/{}/{}, height {}/{}/{}", w.min, w.median, w.max, h.min, h.median, h.max);
}

// Lists the skipped files and returns the exit code that says whether any were.
int print_bad_files(const BadFileReport& bad) {
    if (bad.empty()) {
        std::cout << "bad files: none\n";
        return kExitOk;
    }
    std::cout << fmt::format("bad files: {} skipped\n", bad.total);
    for (const auto& file : bad.first) std::cout << "  " << file.message << "\n";
    if (bad.total > bad.first.size()) std::cout << fmt::format("  ... and {} more\n", bad.total - bad.first.size());
    return exit_code_for(bad.total);
}

int run_inspect(const Config& config, const std::string& chart, int workers) {
    const Dataset dataset = open_dataset(config.data);
    const InspectReport report = inspect_dataset(dataset, workers);
    std::cout << fmt::format("dataset: {} ({} layout, {} classes, {} images decoded)\n", dataset.root.string(),
                             dataset.layout, dataset.class_names.size(), report.decoded);
    std::size_t width = 5;
    for (const auto& name : dataset.class_names) width = std::max(width, name.size());
    std::cout << fmt::format("{:<{}}  {:>6}  {:>6}  {:>6}  {:>6}  size min/median/max\n", "class", width, "train",
                             "val", "test", "total");
    std::array<std::size_t, 4> totals{};
    for (std::size_t c = 0; c < dataset.class_names.size(); ++c) {
        std::array<std::size_t, 3> n{report.counts[0][c], report.counts[1][c], report.counts[2][c]};
        totals[0] += n[0], totals[1] += n[1], totals[2] += n[2], totals[3] += n[0] + n[1] + n[2];
        std::cout << fmt::format("{:<{}}  {:>6}  {:>6}  {:>6}  {:>6}  {}\n", dataset.class_names[c], width, n[0], n[1],
                                 n[2], n[0] + n[1] + n[2], stats_text(report.class_width[c], report.class_height[c]));
    }
    std::cout << fmt::format("{:<{}}  {:>6}  {:>6}  {:>6}  {:>6}  {}\n", "all", width, totals[0], totals[1], totals[2],
                             totals[3], stats_text(report.width, report.height));
    const int code = print_bad_files(report.bad_files);
    if (dataset.ignored_files) std::cout << fmt::format("ignored: {} hidden or non-image files\n", dataset.ignored_files);
    if (!chart.empty()) {
        write_png(chart, draw_class_chart(dataset, report));
        std::cout << "chart: " << chart << "\n";
    }
    return code;
}

long peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024;  // Linux reports KiB
}

int run_bench(const Config& config, int epochs, int workers, bool augment, int views) {
    const Dataset dataset = open_dataset(config.data);
    std::vector<Sample> all;
    for (const Split split : kSplits) all.insert(all.end(), dataset.samples(split).begin(), dataset.samples(split).end());
    LoaderOptions options = make_loader_options(config, true);
    if (workers > 0) options.workers = workers;
    if (!augment) options.augment.reset();
    if (views > 1) {  // as build_feature_cache loads them: about batch_size images per batch in all
        options.views = views;
        options.batch_size = std::max(1, options.batch_size / views);
    }
    Loader loader(std::move(all), options);
    std::cout << fmt::format("loader bench: {} images, {}x{}, batch {}, {} workers, augmentation {}{}\n", loader.size(),
                             options.preprocess.input_size, options.preprocess.input_size, options.batch_size,
                             loader.workers(), options.augment ? "on" : "off",
                             views > 1 ? fmt::format(", {} views per decode (as feature caching)", views) : "");
    for (int epoch = 0; epoch < epochs; ++epoch) {
        const auto decoded = images_decoded();
        const auto before = process_usage();
        const auto r = time_loader_epoch(loader, epoch);
        const auto after = process_usage();
        const double cpu = after.user_seconds + after.system_seconds - before.user_seconds - before.system_seconds;
        // CPU time, unlike images/s, hardly depends on what else runs on the machine.
        std::cout << fmt::format("epoch {}: {} images in {:.2f} s = {:.0f} images/s, {:.2f} CPU ms/image, {:.2f} decodes/image\n",
                                 epoch, r.images, r.seconds, r.images_per_second(),
                                 r.images ? 1000.0 * cpu / static_cast<double>(r.images) : 0.0,
                                 loader.size() ? static_cast<double>(images_decoded() - decoded) / static_cast<double>(loader.size()) : 0.0);
    }
    std::cout << fmt::format("peak memory (ru_maxrss): {} MB\n", peak_rss_mb());
    BadFileReport bad = dataset.bad_files;  // found while indexing, never given to the loader
    bad.merge(loader.bad_files());
    return print_bad_files(bad);
}

struct CropArgs {
    std::string dataset, out, split;
    std::vector<std::string> classes;
    FaceCropOptions crop;
};

// Every split of a dataset that has them (split.csv or images/<split>/) into out/<split>/<class>/, the
// layout train reads with its val/ and test/; one split or a dataset without splits into out/<class>/.
int run_crops(const CropArgs& c) {
    const std::filesystem::path root(c.dataset);
    const bool all_splits = c.split.empty() && (std::filesystem::is_regular_file(root / "split.csv") ||
                                                std::filesystem::is_directory(root / "images" / "train"));
    const std::vector<std::string> splits = all_splits ? std::vector<std::string>{"train", "val", "test"}
                                                       : std::vector<std::string>{c.split};
    BadFileReport bad;
    for (const auto& split : splits) {
        DetectionDatasetOptions o;
        o.split = split;
        o.class_names = c.classes;
        o.allow_empty = all_splits;  // a set without a val split still has train and test
        const DetectionDataset d = open_detection_dataset(root, o);
        bad.merge(d.bad_files);
        const auto dest = all_splits ? std::filesystem::path(c.out) / split : std::filesystem::path(c.out);
        const auto counts = write_face_crops(d, dest, c.crop, bad);
        std::string line;
        for (std::size_t k = 0; k < counts.size(); ++k) line += fmt::format("{}{} {}", k ? ", " : "", d.class_names[k], counts[k]);
        std::cout << fmt::format("{}: {} images -> {} ({})\n", split.empty() ? "all" : split, d.images.size(),
                                 dest.string(), line);
    }
    return print_bad_files(bad);
}

void setup(CLI::App& parent, int& exit_code) {
    auto* data = parent.add_subcommand("data", "Inspect datasets, write their split, cut face crops, benchmark the loader");
    data->require_subcommand(1);

    auto* inspect = data->add_subcommand("inspect", "Images per class and split, image sizes, bad files, a chart");
    auto inspect_opts = std::make_shared<DataOptions>();
    auto chart = std::make_shared<std::string>("class_distribution.png");
    auto inspect_workers = std::make_shared<int>(0);
    inspect_opts->add_to(inspect);
    inspect->add_option("--chart", *chart, "Class-distribution bar chart PNG to write (\"\" = none)")->capture_default_str();
    inspect->add_option("--workers", *inspect_workers, "Decode threads (0 = one per core)");
    inspect->callback([inspect_opts, chart, inspect_workers, &exit_code] {
        exit_code = run_inspect(inspect_opts->load(), *chart, *inspect_workers);
    });

    auto* split = data->add_subcommand("split", "Write the train/val/test split as CSV (for data.split_file)");
    auto split_opts = std::make_shared<DataOptions>();
    auto out = std::make_shared<std::string>();
    split_opts->add_to(split);
    split->add_option("-o,--out", *out, "CSV file to write")->required();
    split->callback([split_opts, out, &exit_code] {
        const Dataset dataset = open_dataset(split_opts->load().data);
        write_split_csv(dataset, *out);
        std::cout << fmt::format("{}: train {}, val {}, test {} images\n", *out, dataset.samples(Split::train).size(),
                                 dataset.samples(Split::val).size(), dataset.samples(Split::test).size());
        exit_code = print_bad_files(dataset.bad_files);
    });

    auto* crops = data->add_subcommand("crops", "Face crops from photos with labelled boxes (VOC/YOLO), cut as detect cuts them");
    auto crop_args = std::make_shared<CropArgs>();
    crops->add_option("dataset", crop_args->dataset, "Folder with images/ and annotations/ (VOC) or labels/ (YOLO)")
        ->required()->check(CLI::ExistingDirectory);
    crops->add_option("-o,--out", crop_args->out, "Folder for <class>/ (or <split>/<class>/) crops")->required();
    crops->add_option("--split", crop_args->split, "Only this split (default: every split the dataset defines)");
    crops->add_option("--crop-pad", crop_args->crop.pad, "Padding around the face box (as detect --crop-pad)")
        ->capture_default_str()->check(CLI::Range(0.0, 2.0));
    crops->add_option("--min-side", crop_args->crop.min_side, "Leave out faces smaller than this (shorter side, px)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    crops->add_option("--classes", crop_args->classes, "Class names of YOLO labels without classes.txt/data.yaml")
        ->delimiter(',');
    crops->callback([crop_args, &exit_code] { exit_code = run_crops(*crop_args); });

    auto* bench = data->add_subcommand("bench", "Time decode + augment + normalize over every image of the dataset");
    auto bench_opts = std::make_shared<DataOptions>();
    auto epochs = std::make_shared<int>(2);
    auto workers = std::make_shared<int>(0);
    auto no_augment = std::make_shared<bool>(false);
    auto views = std::make_shared<int>(1);
    bench_opts->add_to(bench);
    bench->add_option("--epochs", *epochs, "Passes over the data")->capture_default_str()->check(CLI::PositiveNumber);
    bench->add_option("--workers", *workers, "Loader threads (default: train.workers)");
    bench->add_flag("--no-augment", *no_augment, "Resize and normalize only (the eval path)");
    bench->add_option("--views", *views, "Versions of each image from one decode, as feature caching makes them (view 0 unaugmented)")
        ->capture_default_str()->check(CLI::Range(1, 64));
    bench->callback([bench_opts, epochs, workers, no_augment, views, &exit_code] {
        exit_code = run_bench(bench_opts->load(), *epochs, *workers, !*no_augment, *views);
    });
}

const CommandRegistration registration{20, setup};

}  // namespace
}  // namespace maskctl::app
