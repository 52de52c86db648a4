// Augmentation geometry checked numerically: where a known point lands after each transform, fill
// modes at the border, photometric factors, and the reproducible parameter draws.
#include <cmath>
#include <numbers>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include "data_helpers.hpp"
#include "maskctl/data/augment.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "test_helpers.hpp"

using namespace maskctl;

namespace {

cv::Point2d apply(const cv::Matx23d& m, double x, double y) {
    return {m(0, 0) * x + m(0, 1) * y + m(0, 2), m(1, 0) * x + m(1, 1) * y + m(1, 2)};
}

void check_point(const cv::Point2d& got, double x, double y) {
    CHECK(got.x == Approx(x).margin(1e-9));
    CHECK(got.y == Approx(y).margin(1e-9));
}

const cv::Size k101(101, 101);  // centre (50, 50)

AugmentConfig no_random() {
    AugmentConfig c;
    c.rotation_range = c.width_shift_range = c.height_shift_range = c.shear_range = 0;
    c.zoom_range = {1, 1};
    c.horizontal_flip = false;
    return c;
}

// Where the brightest pixel of `img` is (single-channel view of channel 0).
cv::Point brightest(const cv::Mat& rgb) {
    cv::Mat r;
    cv::extractChannel(rgb, r, 0);
    cv::Point at;
    cv::minMaxLoc(r, nullptr, nullptr, nullptr, &at);
    return at;
}

}  // namespace

TEST_CASE("identity parameters give the identity matrix", "[data][augment]") {
    const cv::Matx23d m = augment_matrix({}, k101, k101);
    CHECK(cv::norm(m - cv::Matx23d(1, 0, 0, 0, 1, 0)) < 1e-12);
}

TEST_CASE("each geometric transform moves a known point where it should", "[data][augment]") {
    SECTION("rotation: +90 degrees turns the content counter-clockwise about the centre") {
        AugmentParams p;
        p.rotation = 90;
        const auto m = augment_matrix(p, k101, k101);
        check_point(apply(m, 100, 50), 50, 0);  // right edge -> top
        check_point(apply(m, 50, 0), 0, 50);    // top -> left
        check_point(apply(m, 50, 50), 50, 50);  // the centre stays
    }
    SECTION("flips mirror about the centre line") {
        AugmentParams p;
        p.flip_h = true;
        check_point(apply(augment_matrix(p, k101, k101), 0, 7), 100, 7);
        p = {};
        p.flip_v = true;
        check_point(apply(augment_matrix(p, k101, k101), 3, 0), 3, 100);
    }
    SECTION("shear follows Keras' matrix: (x, y) -> (x / cos s, y + x tan s) about the centre") {
        AugmentParams p;
        p.shear = 30;
        const double s = 30 * std::numbers::pi / 180;
        const auto m = augment_matrix(p, k101, k101);
        check_point(apply(m, 60, 50), 50 + 10 / std::cos(s), 50 + 10 * std::tan(s));
        check_point(apply(m, 50, 60), 50, 60);  // on the vertical centre line nothing moves
    }
    SECTION("zoom > 1 shows more of the image (Keras semantics), per axis") {
        AugmentParams p;
        p.zoom_x = 2.0;
        p.zoom_y = 0.5;
        const auto m = augment_matrix(p, k101, k101);
        check_point(apply(m, 60, 50), 55, 50);
        check_point(apply(m, 50, 60), 50, 70);
    }
    SECTION("shifts are fractions of the output size") {
        AugmentParams p;
        p.shift_x = 0.1;
        p.shift_y = -0.2;
        check_point(apply(augment_matrix(p, {100, 50}, {100, 50}), 49.5, 24.5), 59.5, 14.5);
    }
    SECTION("the resize to the model size is part of the same matrix") {
        const auto m = augment_matrix({}, {50, 100}, {100, 100});
        check_point(apply(m, -0.5, -0.5), -0.5, -0.5);  // pixel edges map to pixel edges
        check_point(apply(m, 49.5, 99.5), 99.5, 99.5);
        check_point(apply(m, 24.5, 49.5), 49.5, 49.5);
    }
    SECTION("composition: shift along the output axes after rotation, flip last") {
        AugmentParams p;
        p.rotation = 90;
        p.shift_x = 0.1;
        check_point(apply(augment_matrix(p, k101, k101), 50, 50), 60.1, 50);
        check_point(apply(augment_matrix(p, k101, k101), 100, 50), 60.1, 0);
        p.flip_h = true;
        check_point(apply(augment_matrix(p, k101, k101), 50, 50), 39.9, 50);
    }
}

TEST_CASE("the warped image agrees with the matrix", "[data][augment]") {
    cv::Mat img(64, 64, CV_8UC3, cv::Scalar::all(0));
    cv::rectangle(img, cv::Rect(39, 19, 3, 3), cv::Scalar::all(255), cv::FILLED);  // blob centred on (40, 20)
    AugmentConfig config = no_random();
    config.fill_mode = FillMode::constant;

    AugmentParams p;
    p.rotation = 90;
    const cv::Mat out = augment_image(img, p, config, 64);
    REQUIRE(out.size() == cv::Size(64, 64));
    const cv::Point at = brightest(out);
    const cv::Point2d want = apply(augment_matrix(p, {64, 64}, {64, 64}), 40, 20);  // (20, 23)
    CHECK(std::abs(at.x - want.x) <= 1);
    CHECK(std::abs(at.y - want.y) <= 1);
    CHECK(want.x == Approx(20));
    CHECK(want.y == Approx(23));

    // All transforms at once, and a resize 64 -> 128.
    p = {};
    p.rotation = -17;
    p.shift_x = 0.05;
    p.shift_y = -0.1;
    p.shear = 8;
    p.zoom_x = 0.9;
    p.zoom_y = 1.1;
    p.flip_h = true;
    const cv::Mat big = augment_image(img, p, config, 128);
    const cv::Point2d where = apply(augment_matrix(p, {64, 64}, {128, 128}), 40, 20);
    const cv::Point got = brightest(big);
    CHECK(std::abs(got.x - where.x) <= 2);
    CHECK(std::abs(got.y - where.y) <= 2);
}

TEST_CASE("fill modes at the border follow Keras' nearest, constant, reflect and wrap", "[data][augment]") {
    // Column c has the value 10 c + 5; shifting right by half the width exposes 5 columns of border.
    cv::Mat img(10, 10, CV_8UC3);
    for (int c = 0; c < 10; ++c) img.col(c).setTo(cv::Scalar::all(10 * c + 5));
    AugmentParams p;
    p.shift_x = 0.5;
    AugmentConfig config = no_random();
    auto row = [&](FillMode mode) {
        config.fill_mode = mode;
        config.cval = 7;
        const cv::Mat out = augment_image(img, p, config, 10);
        std::vector<int> values;
        for (int c = 0; c < 10; ++c) values.push_back(out.at<cv::Vec3b>(4, c)[0]);
        return values;
    };
    CHECK(row(FillMode::constant) == std::vector<int>{7, 7, 7, 7, 7, 5, 15, 25, 35, 45});
    CHECK(row(FillMode::nearest) == std::vector<int>{5, 5, 5, 5, 5, 5, 15, 25, 35, 45});
    CHECK(row(FillMode::reflect) == std::vector<int>{45, 35, 25, 15, 5, 5, 15, 25, 35, 45});  // edcba|abcde
    CHECK(row(FillMode::wrap) == std::vector<int>{55, 65, 75, 85, 95, 5, 15, 25, 35, 45});
}

TEST_CASE("brightness, contrast and blur change pixel values as specified", "[data][augment]") {
    const AugmentConfig config = no_random();
    cv::Mat img(8, 8, CV_8UC3, cv::Scalar::all(0));
    img(cv::Rect(4, 0, 4, 8)).setTo(cv::Scalar::all(200));  // mean 100

    AugmentParams p;
    p.brightness = 1.2;
    cv::Mat out = augment_image(img, p, config, 8);
    CHECK(out.at<cv::Vec3b>(0, 7)[1] == 240);

    p = {};
    p.contrast = 0.5;
    out = augment_image(img, p, config, 8);
    CHECK(out.at<cv::Vec3b>(0, 0)[0] == 50);
    CHECK(out.at<cv::Vec3b>(0, 7)[0] == 150);

    p = {};
    p.blur_sigma = 1.5;
    out = augment_image(img, p, config, 8);
    CHECK(out.at<cv::Vec3b>(0, 3)[0] > 20);   // the edge is spread
    CHECK(out.at<cv::Vec3b>(0, 4)[0] < 180);
}

TEST_CASE("augment_image always returns size x size RGB, from tiny or huge input", "[data][augment]") {
    const AugmentConfig config;
    Rng rng(3);
    const AugmentParams p = draw_augment(config, rng);
    CHECK(augment_image(cv::Mat(37, 26, CV_8UC3, cv::Scalar::all(9)), p, config, 224).size() == cv::Size(224, 224));
    CHECK(augment_image(cv::Mat(800, 1000, CV_8UC3, cv::Scalar::all(9)), p, config, 96).size() == cv::Size(96, 96));
}

TEST_CASE("parameter draws stay in their ranges and are reproducible", "[data][augment]") {
    AugmentConfig config;
    config.rotation_range = 20;
    config.zoom_range = {0.85, 1.15};
    config.brightness_range = std::array<double, 2>{0.5, 1.5};
    Rng rng(augment_seed(42, 0, 0));
    int flips = 0, negative = 0;
    for (int i = 0; i < 2000; ++i) {
        const AugmentParams p = draw_augment(config, rng);
        CHECK(std::abs(p.rotation) <= 20);
        CHECK(std::abs(p.shift_x) <= 0.2);
        CHECK((p.zoom_x >= 0.85 && p.zoom_x <= 1.15));
        CHECK((p.brightness >= 0.5 && p.brightness <= 1.5));
        CHECK(p.contrast == 1.0);
        CHECK_FALSE(p.flip_v);
        flips += p.flip_h;
        negative += p.rotation < 0;
    }
    CHECK((flips > 900 && flips < 1100));
    CHECK((negative > 900 && negative < 1100));

    Rng a(augment_seed(42, 3, 17)), b(augment_seed(42, 3, 17));
    CHECK(draw_augment(config, a) == draw_augment(config, b));
    CHECK(augment_seed(42, 3, 17) != augment_seed(42, 17, 3));
    CHECK(augment_seed(42, 3, 17) != augment_seed(43, 3, 17));

    // Turning one range off leaves the other draws unchanged.
    AugmentConfig no_rotation = config;
    no_rotation.rotation_range = 0;
    Rng c(augment_seed(1, 2, 3)), d(augment_seed(1, 2, 3));
    const AugmentParams with = draw_augment(config, c), without = draw_augment(no_rotation, d);
    CHECK(without.rotation == 0);
    CHECK(with.zoom_x == without.zoom_x);
    CHECK(with.flip_h == without.flip_h);
}

TEST_CASE("maskctl augment preview writes a grid of augmented images", "[data][cli]") {
    namespace fs = std::filesystem;
    maskctl::test::TempDir dir;
    maskctl::test::write_image(dir / "a b.png", 50, 40, {0, 120, 255});
    maskctl::test::write_image(dir / "c.jpg", 30, 60, {255, 0, 0}, ".jpg");
    const fs::path out = dir / "preview.png";
    const std::string command = "'" + maskctl::test::maskctl_binary().string() + "' augment preview --images '" +
                                (dir / "a b.png").string() + "' '" + (dir / "c.jpg").string() + "' --count 3 --set model.input_size=96 --set model.head.pool_size=0 --out '" +
                                out.string() + "' > /dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    const cv::Mat grid = decode_image(out);
    // 2 rows of (1 plain + 3 augmented) 96 px tiles with 4 px gaps.
    CHECK(grid.size() == cv::Size(4 * 100 + 4, 2 * 100 + 4));
}
