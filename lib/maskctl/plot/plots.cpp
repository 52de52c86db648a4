#include "maskctl/plot/plots.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "maskctl/plot/text.hpp"

namespace maskctl {
namespace {

const cv::Scalar kInk{40, 40, 40};
const cv::Scalar kGrid{225, 225, 225};
void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, cv::Scalar color = kInk, int thickness = 1) {
    draw_text(img, s, at, scale, color, thickness);
}

}  // namespace

cv::Mat draw_line_panel(const std::string& title, const std::vector<Series>& series, cv::Size size) {
    cv::Mat img(size, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::Rect plot(60, 40, size.width - 80, size.height - 90);
    double lo = INFINITY, hi = -INFINITY;
    size_t epochs = 0;
    for (const auto& s : series) {
        epochs = std::max(epochs, s.values.size());
        for (double v : s.values)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
    const double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    auto to_px = [&](size_t i, double v) {
        const double fx = epochs <= 1 ? 0.5 : static_cast<double>(i) / (epochs - 1);
        return cv::Point(plot.x + static_cast<int>(fx * plot.width),
                         plot.y + static_cast<int>((hi - v) / (hi - lo) * plot.height));
    };
    text(img, title, {plot.x, 26}, 0.6, kInk, 2);
    for (int k = 0; k <= 4; ++k) {  // horizontal grid with y labels
        const double v = lo + (hi - lo) * k / 4;
        const int y = plot.y + static_cast<int>((hi - v) / (hi - lo) * plot.height);
        cv::line(img, {plot.x, y}, {plot.x + plot.width, y}, kGrid);
        text(img, fmt::format("{:.3g}", v), {4, y + 4}, 0.4);
    }
    cv::rectangle(img, plot, kInk);
    const size_t step = std::max<size_t>(1, epochs / 10);
    for (size_t i = 0; i < epochs; i += step) {  // x labels: epochs, 1-based
        const auto p = to_px(i, lo);
        text(img, std::to_string(i + 1), {p.x - 4, plot.y + plot.height + 16}, 0.4);
    }
    text(img, "epoch", {plot.x + plot.width - text_width("epoch", 0.45), size.height - 5}, 0.45);
    int legend_x = plot.x;
    for (const auto& s : series) {
        std::vector<cv::Point> pts;
        for (size_t i = 0; i < s.values.size(); ++i)
            if (std::isfinite(s.values[i])) pts.push_back(to_px(i, s.values[i]));
        if (pts.size() > 1) cv::polylines(img, pts, false, s.color, 2, cv::LINE_AA);
        for (const auto& p : pts) cv::circle(img, p, 3, s.color, cv::FILLED, cv::LINE_AA);
        cv::line(img, {legend_x, size.height - 10}, {legend_x + 20, size.height - 10}, s.color, 3);
        text(img, s.name, {legend_x + 26, size.height - 5}, 0.45);
        legend_x += 40 + text_width(s.name, 0.45);
    }
    return img;
}

cv::Mat draw_confusion_matrix(const std::vector<std::vector<std::int64_t>>& counts,
                              const std::vector<std::string>& row_names, const std::vector<std::string>& column_names,
                              const std::string& title) {
    const int rows = static_cast<int>(row_names.size()), cols = static_cast<int>(column_names.size());
    int label_w = 0;
    for (const auto& name : row_names) label_w = std::max(label_w, text_width(name, 0.5));
    const int cell = std::max(90, std::min(160, 480 / std::max({1, rows, cols})));
    const int left = label_w + 40, top = 70;
    cv::Mat img(top + rows * cell + 60, std::max(left + cols * cell + 20, text_width(title, 0.6, 2) + 20), CV_8UC3,
                cv::Scalar(255, 255, 255));
    text(img, title, {10, 26}, 0.6, kInk, 2);
    text(img, "predicted", {left + cols * cell / 2 - 40, 52}, 0.5);
    for (int r = 0; r < rows; ++r) {
        std::int64_t row_total = 0;
        for (auto v : counts[r]) row_total += v;
        for (int c = 0; c < cols; ++c) {
            const auto count = counts[r][c];
            const double share = row_total ? static_cast<double>(count) / row_total : 0.0;
            // White to a deep blue as the share of the true class grows.
            const cv::Scalar fill(255 - share * 215, 255 - share * 160, 255 - share * 60);
            const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
            cv::rectangle(img, box, fill, cv::FILLED);
            cv::rectangle(img, box, kGrid);
            const cv::Scalar ink = share > 0.55 ? cv::Scalar(255, 255, 255) : kInk;
            const std::string count_text = std::to_string(count);
            text(img, count_text, {box.x + (cell - text_width(count_text, 0.8, 2)) / 2, box.y + cell / 2 + 4}, 0.8, ink, 2);
            const std::string pct = fmt::format("{:.1f}%", share * 100);
            text(img, pct, {box.x + (cell - text_width(pct, 0.45)) / 2, box.y + cell / 2 + 26}, 0.45, ink);
        }
        text(img, row_names[r], {left - 10 - text_width(row_names[r], 0.5), top + r * cell + cell / 2 + 5}, 0.5);
    }
    for (int c = 0; c < cols; ++c) {
        const auto& name = column_names[c];
        text(img, name, {left + c * cell + (cell - text_width(name, 0.5)) / 2, top + rows * cell + 22}, 0.5);
    }
    text(img, "true", {8, top + rows * cell / 2}, 0.5);
    return img;
}

cv::Mat draw_pr_curves(const std::string& title, const std::vector<PrSeries>& curves, cv::Size size) {
    cv::Mat img(size, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::Rect plot(60, 40, size.width - 80, size.height - 110);
    const auto to_px = [&](double r, double p) {
        return cv::Point(plot.x + static_cast<int>(r * plot.width), plot.y + static_cast<int>((1 - p) * plot.height));
    };
    text(img, title, {plot.x, 26}, 0.6, kInk, 2);
    for (int k = 0; k <= 4; ++k) {
        const double v = k / 4.0;
        cv::line(img, to_px(0, v), to_px(1, v), kGrid);
        cv::line(img, to_px(v, 0), to_px(v, 1), kGrid);
        text(img, fmt::format("{:.2f}", v), {12, to_px(0, v).y + 4}, 0.4);
        text(img, fmt::format("{:.2f}", v), {to_px(v, 0).x - 12, plot.y + plot.height + 16}, 0.4);
    }
    cv::rectangle(img, plot, kInk);
    text(img, "recall", {plot.x + plot.width - text_width("recall", 0.45), plot.y + plot.height + 34}, 0.45);
    text(img, "precision", {plot.x + 4, plot.y - 6}, 0.45);
    int legend_y = plot.y + plot.height + 56;
    int legend_x = plot.x;
    for (const auto& c : curves) {
        std::vector<cv::Point> pts;
        for (std::size_t i = 0; i < c.recall.size() && i < c.precision.size(); ++i)
            pts.push_back(to_px(c.recall[i], c.precision[i]));
        if (pts.size() > 1) cv::polylines(img, pts, false, c.color, 2, cv::LINE_AA);
        else if (pts.size() == 1) cv::circle(img, pts[0], 3, c.color, cv::FILLED, cv::LINE_AA);
        const int w = 40 + text_width(c.name, 0.45);
        if (legend_x + w > size.width) legend_x = plot.x, legend_y += 20;
        cv::line(img, {legend_x, legend_y - 5}, {legend_x + 20, legend_y - 5}, c.color, 3);
        text(img, c.name, {legend_x + 26, legend_y}, 0.45);
        legend_x += w;
    }
    return img;
}

}  // namespace maskctl
