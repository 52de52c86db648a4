#pragma once
// Random augmentation with the semantics and parameter names of Keras' ImageDataGenerator.
// All geometric parts (rotation, shift, shear, zoom, flips and the resize to the model input)
// compose into one affine matrix about the image centre, applied by a single cv::warpAffine;
// then brightness/contrast (one pass) and an optional Gaussian blur. A sample's augmentation is a
// pure function of (seed, epoch, sample index), so it does not depend on threads or batch order.
#include <cstdint>
#include <string_view>

#include <opencv2/core.hpp>

#include "maskctl/core/config.hpp"
#include "maskctl/core/random.hpp"

namespace maskctl {

// One draw of the random parameters (Keras' get_random_transform). Identity by default.
struct AugmentParams {
    double rotation = 0.0;  // degrees, positive = counter-clockwise on screen (as cv::getRotationMatrix2D)
    double shift_x = 0.0;   // fraction of the output width; positive moves the content right
    double shift_y = 0.0;   // fraction of the output height; positive moves the content down
    double shear = 0.0;     // degrees; Keras' shear matrix: (x, y) -> (x / cos s, y + x tan s) about the centre
    double zoom_x = 1.0;    // Keras semantics: the output shows zoom_x times the width (> 1 shrinks the content)
    double zoom_y = 1.0;
    bool flip_h = false;  // mirror left-right (applied last, as Keras does)
    bool flip_v = false;
    double brightness = 1.0;  // pixel values times this factor (PIL ImageEnhance.Brightness)
    double contrast = 1.0;    // distance from the mean gray level times this factor (ImageEnhance.Contrast)
    double blur_sigma = 0.0;  // Gaussian blur sigma in output pixels; 0 = none
    bool operator==(const AugmentParams&) const = default;
};

// Draws every parameter in a fixed order (each draw happens even when its range is 0, so one
// setting never changes the values of the others).
AugmentParams draw_augment(const AugmentConfig& config, Rng& rng);

// The per-sample generator seed: hash of (seed, epoch, sample index).
std::uint64_t augment_seed(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index);

// The forward affine map (2x3) taking a pixel (x, y) of a `src`-sized image to its place in the
// `dst`-sized output: resize to dst, zoom, shear, rotate (all about the centres), shift, then flip.
// Pixel centres are integer coordinates; the centre of a w x h image is ((w-1)/2, (h-1)/2).
cv::Matx23d augment_matrix(const AugmentParams& params, cv::Size src, cv::Size dst);

// fill_mode -> OpenCV border: nearest -> REPLICATE, constant -> CONSTANT (cval), reflect -> REFLECT
// (Keras' abcddcba), wrap -> WRAP. Throws ConfigError for anything else.
int border_mode(FillMode fill_mode);

// Applies `params` to an 8-bit RGB image and returns a size x size 8-bit RGB image. Images more
// than twice the output size are first shrunk with area averaging (to avoid aliasing in the warp).
cv::Mat augment_image(const cv::Mat& rgb, const AugmentParams& params, const AugmentConfig& config, int size);

}  // namespace maskctl
