#include "maskctl/plot/chart.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/plot/text.hpp"

namespace maskctl {
namespace {

const cv::Scalar kInk(30, 30, 30);
const std::array<cv::Scalar, 6> kPalette{cv::Scalar(31, 119, 180), cv::Scalar(255, 127, 14), cv::Scalar(44, 160, 44),
                                         cv::Scalar(214, 39, 40), cv::Scalar(148, 103, 189), cv::Scalar(140, 86, 75)};
void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, bool centred = false) {
    draw_text(img, s, at, scale, kInk, 1, centred ? Align::centre : Align::left);
}

}  // namespace

cv::Mat draw_bar_chart(const std::string& title, const std::vector<std::string>& categories,
                       const std::vector<std::string>& series_names,
                       const std::vector<std::vector<std::size_t>>& counts) {
    std::vector<std::size_t> shown;  // series with at least one image
    std::size_t peak = 1;
    for (std::size_t s = 0; s < counts.size(); ++s) {
        const std::size_t most = counts[s].empty() ? 0 : *std::max_element(counts[s].begin(), counts[s].end());
        if (most > 0) shown.push_back(s);
        peak = std::max(peak, most);
    }
    const int bar = 36, group_gap = 40, left = 60, top = 70, plot_h = 300, bottom = 70;
    // Groups are wide enough for their bars and for the longest class name under them.
    int group_w = std::max<int>(1, static_cast<int>(shown.size())) * bar;
    for (const auto& name : categories) group_w = std::max(group_w, text_width(name, 0.5));
    const int width = std::max(left + text_width(title, 0.7) + 20,
                               left + static_cast<int>(categories.size()) * (group_w + group_gap) + 20);
    cv::Mat img(top + plot_h + bottom, width, CV_8UC3, cv::Scalar::all(255));
    text(img, title, {left, 30}, 0.7);

    const int base_y = top + plot_h;
    cv::line(img, {left - 5, base_y}, {width - 10, base_y}, kInk, 1);
    for (std::size_t c = 0; c < categories.size(); ++c) {
        const int x0 = left + static_cast<int>(c) * (group_w + group_gap);
        const int bars_x = x0 + (group_w - static_cast<int>(shown.size()) * bar) / 2;
        for (std::size_t k = 0; k < shown.size(); ++k) {
            const std::size_t value = counts[shown[k]].at(c);
            const int h = static_cast<int>(static_cast<double>(value) / static_cast<double>(peak) * (plot_h - 20));
            const int x = bars_x + static_cast<int>(k) * bar;
            cv::rectangle(img, cv::Rect(x + 2, base_y - h, bar - 4, h), kPalette[shown[k] % kPalette.size()], cv::FILLED);
            text(img, std::to_string(value), {x + bar / 2, base_y - h - 6}, 0.4, true);
        }
        text(img, categories[c], {x0 + group_w / 2, base_y + 22}, 0.5, true);
    }
    // Legend along the bottom.
    int lx = left;
    for (std::size_t k = 0; k < shown.size(); ++k) {
        cv::rectangle(img, cv::Rect(lx, base_y + 40, 14, 14), kPalette[shown[k] % kPalette.size()], cv::FILLED);
        text(img, series_names.at(shown[k]), {lx + 20, base_y + 52}, 0.5);
        lx += 110;
    }
    return img;
}

cv::Mat tile_images(const std::vector<cv::Mat>& rgb, int columns, int gap) {
    if (rgb.empty()) return {};
    const cv::Size tile = rgb.front().size();
    columns = std::max(1, std::min(columns, static_cast<int>(rgb.size())));
    const int rows = (static_cast<int>(rgb.size()) + columns - 1) / columns;
    cv::Mat grid(rows * (tile.height + gap) + gap, columns * (tile.width + gap) + gap, CV_8UC3, cv::Scalar::all(255));
    for (std::size_t i = 0; i < rgb.size(); ++i) {
        const int r = static_cast<int>(i) / columns, c = static_cast<int>(i) % columns;
        if (rgb[i].size() != tile || rgb[i].type() != CV_8UC3)
            throw Error(fmt::format("tile_images: image {} is {}x{}, expected {}x{} RGB", i, rgb[i].cols, rgb[i].rows,
                                    tile.width, tile.height));
        rgb[i].copyTo(grid(cv::Rect(gap + c * (tile.width + gap), gap + r * (tile.height + gap), tile.width, tile.height)));
    }
    return grid;
}

void write_png(const std::filesystem::path& file, const cv::Mat& rgb) {
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<unsigned char> bytes;
    if (!cv::imencode(".png", bgr, bytes)) throw IoError(fmt::format("{}: PNG encoding failed", file.string()));
    write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace maskctl
