#pragma once
// `maskctl data inspect`: what is in a dataset, from a full decode of every image (which is also
// the thorough check for corrupt files that indexing's cheap checks cannot see).
#include <array>
#include <cstddef>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/data/dataset.hpp"

namespace maskctl {

struct SizeStats {
    int min = 0;
    int median = 0;  // the lower middle value for an even count
    int max = 0;
};

struct InspectReport {
    std::array<std::vector<std::size_t>, 3> counts;  // [split][class], decodable images only
    std::size_t decoded = 0;
    SizeStats width, height;                          // over every decodable image (after EXIF rotation)
    std::vector<SizeStats> class_width, class_height;  // per class
    BadFileReport bad_files;                          // indexing's plus those that failed to decode
};

// Decodes every image of `dataset` on `workers` threads (0 = one per core).
InspectReport inspect_dataset(const Dataset& dataset, int workers);

// min / median / max of `values` (all zero when empty).
SizeStats size_stats(std::vector<int> values);

// The class distribution as a grouped bar chart (RGB): one bar per split in each class.
cv::Mat draw_class_chart(const Dataset& dataset, const InspectReport& report);

}  // namespace maskctl
