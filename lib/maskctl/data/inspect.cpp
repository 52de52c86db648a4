#include "maskctl/data/inspect.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "maskctl/plot/chart.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/loader.hpp"

namespace maskctl {

SizeStats size_stats(std::vector<int> values) {
    if (values.empty()) return {};
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>((values.size() - 1) / 2);
    std::nth_element(values.begin(), middle, values.end());
    const int median = *middle;
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {*lo, median, *hi};
}

InspectReport inspect_dataset(const Dataset& dataset, int workers) {
    struct Item {
        const Sample* sample;
        Split split;
    };
    std::vector<Item> items;
    for (const Split split : kSplits)
        for (const auto& sample : dataset.samples(split)) items.push_back({&sample, split});

    // Each slot is written by exactly one thread; results are gathered in index order afterwards,
    // so the report does not depend on scheduling.
    std::vector<cv::Size> sizes(items.size());
    std::vector<std::optional<BadFile>> failures(items.size());
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;  // anything but a bad file (e.g. out of memory) ends the inspection
    std::mutex error_mutex;
    auto work = [&] {
        try {
            for (std::size_t i = next++; i < items.size(); i = next++) {
                try {
                    sizes[i] = decode_image(items[i].sample->path).size();
                } catch (const ImageError& e) {
                    failures[i] = BadFile{items[i].sample->path, e.problem(), e.what()};
                }
            }
        } catch (...) {
            std::lock_guard lock(error_mutex);
            error = std::current_exception();
            next = items.size();
        }
    };
    {
        std::vector<std::jthread> threads;
        const int n_threads = std::min<int>(resolve_workers(workers), static_cast<int>(std::max<std::size_t>(1, items.size())));
        for (int t = 0; t < n_threads; ++t) threads.emplace_back(work);
    }  // joined here
    if (error) std::rethrow_exception(error);

    InspectReport report;
    report.bad_files = dataset.bad_files;
    const std::size_t n_classes = dataset.class_names.size();
    for (auto& counts : report.counts) counts.assign(n_classes, 0);
    std::vector<int> widths, heights;
    std::vector<std::vector<int>> class_widths(n_classes), class_heights(n_classes);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (failures[i]) {
            report.bad_files.add(*failures[i]);
            continue;
        }
        const auto label = static_cast<std::size_t>(items[i].sample->label);
        ++report.counts[static_cast<int>(items[i].split)][label];
        ++report.decoded;
        widths.push_back(sizes[i].width);
        heights.push_back(sizes[i].height);
        class_widths[label].push_back(sizes[i].width);
        class_heights[label].push_back(sizes[i].height);
    }
    report.width = size_stats(widths);
    report.height = size_stats(heights);
    for (std::size_t c = 0; c < n_classes; ++c) {
        report.class_width.push_back(size_stats(class_widths[c]));
        report.class_height.push_back(size_stats(class_heights[c]));
    }
    return report;
}

cv::Mat draw_class_chart(const Dataset& dataset, const InspectReport& report) {
    std::vector<std::vector<std::size_t>> counts(report.counts.begin(), report.counts.end());
    return draw_bar_chart(fmt::format("{}: images per class ({} layout)", dataset.root.filename().string(), dataset.layout),
                          dataset.class_names, {"train", "val", "test"}, counts);
}

}  // namespace maskctl
