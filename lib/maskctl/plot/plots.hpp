#pragma once
// The pictures of a training run, drawn with OpenCV: loss/accuracy curves (results.png) and the
// confusion-matrix heatmap with counts (confusion_matrix.png). Images are RGB.
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace maskctl {

struct Series {
    std::string name;
    std::vector<double> values;  // one per epoch; NaN = no value that epoch
    cv::Scalar color;            // RGB
};

// One panel: x = epoch (1-based), y auto-scaled to the values, with a legend.
cv::Mat draw_line_panel(const std::string& title, const std::vector<Series>& series, cv::Size size = {640, 420});

// counts[row][column], rows = true class, columns = predicted class (the two lists may differ, e.g. a
// detection matrix with a "background" row and a "missed" column); cell colour by the row-normalized
// share, text = count.
cv::Mat draw_confusion_matrix(const std::vector<std::vector<std::int64_t>>& counts,
                              const std::vector<std::string>& row_names, const std::vector<std::string>& column_names,
                              const std::string& title = "Confusion matrix");

// Precision (y) against recall (x), both 0..1, one line per curve with its legend entry (e.g.
// "with_mask 0.912" for the class and its AP).
struct PrSeries {
    std::string name;
    std::vector<double> recall, precision;
    cv::Scalar color;  // RGB
};
cv::Mat draw_pr_curves(const std::string& title, const std::vector<PrSeries>& curves, cv::Size size = {640, 480});

}  // namespace maskctl
