#pragma once
// Small drawings for reports and previews, made with OpenCV only. Images are RGB, like the rest of
// the library; write_png converts for the encoder.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace maskctl {

// A grouped bar chart: one group per class, one bar per series (e.g. train/val/test), with the
// counts written above the bars and a legend. counts[series][class]; empty series are left out.
cv::Mat draw_bar_chart(const std::string& title, const std::vector<std::string>& categories,
                       const std::vector<std::string>& series_names,
                       const std::vector<std::vector<std::size_t>>& counts);

// Tiles equally sized RGB images into rows of `columns`, with a gap of `gap` white pixels.
cv::Mat tile_images(const std::vector<cv::Mat>& rgb, int columns, int gap = 4);

// Encodes an RGB image as PNG and writes it atomically. Throws IoError.
void write_png(const std::filesystem::path& file, const cv::Mat& rgb);

}  // namespace maskctl
