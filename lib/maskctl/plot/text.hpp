#pragma once
// Text on the charts: OpenCV's plain Hershey font, antialiased, measured the same way everywhere.
#include <string>

#include <opencv2/core.hpp>

namespace maskctl {

enum class Align { left, centre, right };  // of the text relative to the point given

// Width in pixels of `text` at `scale` and `thickness`.
int text_width(const std::string& text, double scale, int thickness = 1);

// Draws `text` with its baseline at `at`.y, aligned to `at`.x.
void draw_text(cv::Mat& img, const std::string& text, cv::Point at, double scale, cv::Scalar color,
               int thickness = 1, Align align = Align::left);

}  // namespace maskctl
