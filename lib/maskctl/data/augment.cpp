#include "maskctl/data/augment.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

double radians(double degrees) { return degrees * std::numbers::pi / 180.0; }

// A factor in [lo, hi] when the range is set; the draw happens either way to keep the sequence fixed.
double draw_factor(const std::optional<std::array<double, 2>>& range, double unset, Rng& rng) {
    const double u = rng.uniform01();
    return range ? (*range)[0] + ((*range)[1] - (*range)[0]) * u : unset;
}

}  // namespace

AugmentParams draw_augment(const AugmentConfig& config, Rng& rng) {
    AugmentParams p;
    p.rotation = rng.uniform(-config.rotation_range, config.rotation_range);
    p.shift_x = rng.uniform(-config.width_shift_range, config.width_shift_range);
    p.shift_y = rng.uniform(-config.height_shift_range, config.height_shift_range);
    p.shear = rng.uniform(-config.shear_range, config.shear_range);
    // Independent x and y factors, as Keras draws them (so zoom also changes the aspect ratio a little).
    p.zoom_x = rng.uniform(config.zoom_range[0], config.zoom_range[1]);
    p.zoom_y = rng.uniform(config.zoom_range[0], config.zoom_range[1]);
    p.flip_h = rng.chance(0.5) && config.horizontal_flip;
    p.flip_v = rng.chance(0.5) && config.vertical_flip;
    p.brightness = draw_factor(config.brightness_range, 1.0, rng);
    p.contrast = draw_factor(config.contrast_range, 1.0, rng);
    p.blur_sigma = draw_factor(config.blur_range, 0.0, rng);
    return p;
}

std::uint64_t augment_seed(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
    return derive_seed({seed, epoch, index});
}

cv::Matx23d augment_matrix(const AugmentParams& p, cv::Size src, cv::Size dst) {
    const cv::Vec2d src_centre((src.width - 1) / 2.0, (src.height - 1) / 2.0);
    const cv::Vec2d dst_centre((dst.width - 1) / 2.0, (dst.height - 1) / 2.0);
    const double theta = radians(p.rotation);
    const double shear = radians(p.shear);

    const cv::Matx22d resize(double(dst.width) / src.width, 0, 0, double(dst.height) / src.height);
    const cv::Matx22d zoom(1.0 / p.zoom_x, 0, 0, 1.0 / p.zoom_y);
    // Keras maps output to input with [[1, -sin s], [0, cos s]] in (row, col); this is its inverse in (x, y).
    const cv::Matx22d shear_m(1.0 / std::cos(shear), 0, std::tan(shear), 1);
    // y points down, so this turns the content counter-clockwise on screen for positive angles.
    const cv::Matx22d rotate(std::cos(theta), std::sin(theta), -std::sin(theta), std::cos(theta));
    const cv::Matx22d flip(p.flip_h ? -1 : 1, 0, 0, p.flip_v ? -1 : 1);
    const cv::Vec2d shift(p.shift_x * dst.width, p.shift_y * dst.height);

    // out = dst_centre + flip * (shift + rotate * shear * zoom * resize * (in - src_centre))
    const cv::Matx22d linear = flip * rotate * shear_m * zoom * resize;
    const cv::Vec2d offset = dst_centre + flip * shift - linear * src_centre;
    return {linear(0, 0), linear(0, 1), offset[0], linear(1, 0), linear(1, 1), offset[1]};
}

int border_mode(FillMode fill_mode) {
    switch (fill_mode) {
        case FillMode::nearest: return cv::BORDER_REPLICATE;
        case FillMode::constant: return cv::BORDER_CONSTANT;
        case FillMode::reflect: return cv::BORDER_REFLECT;  // abcd|dcba, Keras' (scipy's) "reflect"
        case FillMode::wrap: return cv::BORDER_WRAP;
    }
    return cv::BORDER_REPLICATE;
}

cv::Mat augment_image(const cv::Mat& rgb, const AugmentParams& params, const AugmentConfig& config, int size) {
    const cv::Size out_size(size, size);
    cv::Mat src = rgb;
    if (rgb.cols > 2 * size || rgb.rows > 2 * size) cv::resize(rgb, src, out_size, 0, 0, cv::INTER_AREA);

    cv::Mat out;
    cv::warpAffine(src, out, augment_matrix(params, src.size(), out_size), out_size, cv::INTER_LINEAR,
                   border_mode(config.fill_mode), cv::Scalar::all(config.cval));

    if (params.brightness != 1.0 || params.contrast != 1.0) {
        // brightness then contrast about the (brightened) mean luma, folded into one y = a x + b pass.
        double mean = 0.0;
        if (params.contrast != 1.0) {
            const cv::Scalar m = cv::mean(out);
            mean = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
        }
        out.convertTo(out, -1, params.brightness * params.contrast,
                      params.brightness * (1.0 - params.contrast) * mean);
    }
    if (params.blur_sigma > 0.0) cv::GaussianBlur(out, out, cv::Size(), params.blur_sigma);
    return out;
}

}  // namespace maskctl
