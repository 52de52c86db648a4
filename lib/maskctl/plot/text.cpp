#include "maskctl/plot/text.hpp"

#include <opencv2/imgproc.hpp>

namespace maskctl {
namespace {
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
}

int text_width(const std::string& text, double scale, int thickness) {
    int baseline = 0;
    return cv::getTextSize(text, kFont, scale, thickness, &baseline).width;
}

void draw_text(cv::Mat& img, const std::string& text, cv::Point at, double scale, cv::Scalar color, int thickness,
               Align align) {
    if (align == Align::centre) at.x -= text_width(text, scale, thickness) / 2;
    if (align == Align::right) at.x -= text_width(text, scale, thickness);
    cv::putText(img, text, at, kFont, scale, color, thickness, cv::LINE_AA);
}

}  // namespace maskctl
