// Decoding: channel order, gray/RGBA/16-bit conversion, EXIF orientation, bad-file classification.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include "data_helpers.hpp"
#include "maskctl/data/image.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using maskctl::test::TempDir;

namespace {

ImageProblem problem_of(const fs::path& path) {
    try {
        decode_image(path);
    } catch (const ImageError& e) {
        return e.problem();
    }
    return ImageProblem::none;
}

// A JPEG with an APP1 Exif segment whose IFD0 holds only Orientation = `orientation`.
std::vector<unsigned char> jpeg_with_orientation(const cv::Mat& bgr, std::uint16_t orientation) {
    std::vector<unsigned char> jpeg = test::encode(bgr, ".jpg");
    const std::vector<unsigned char> app1{
        0xFF, 0xE1, 0x00, 34,                                      // APP1, length 34 (counts itself)
        'E',  'x',  'i',  'f',  0,    0,                           // Exif header
        'M',  'M',  0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,            // big-endian TIFF, IFD0 at offset 8
        0x00, 0x01,                                                // one entry
        0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,            // tag 0x0112 Orientation, SHORT, count 1
        static_cast<unsigned char>(orientation >> 8), static_cast<unsigned char>(orientation), 0, 0,
        0x00, 0x00, 0x00, 0x00};                                   // no next IFD
    jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());  // right after SOI
    return jpeg;
}

}  // namespace

TEST_CASE("decode_image returns 8-bit RGB in R, G, B order", "[data][image]") {
    TempDir dir;
    test::write_image(dir / "red.png", 8, 6, cv::Scalar(0, 0, 255));  // BGR red
    const cv::Mat rgb = decode_image(dir / "red.png");
    REQUIRE(rgb.type() == CV_8UC3);
    REQUIRE(rgb.size() == cv::Size(8, 6));
    CHECK(rgb.at<cv::Vec3b>(0, 0) == cv::Vec3b(255, 0, 0));
}

TEST_CASE("gray, RGBA and 16-bit PNGs become 8-bit RGB", "[data][image]") {
    TempDir dir;
    test::write_bytes(dir / "gray.png", test::encode(cv::Mat(5, 7, CV_8UC1, cv::Scalar(77))));
    test::write_bytes(dir / "rgba.png", test::encode(cv::Mat(5, 7, CV_8UC4, cv::Scalar(10, 20, 30, 0))));
    test::write_bytes(dir / "deep.png", test::encode(cv::Mat(5, 7, CV_16UC3, cv::Scalar(0x8000, 0x4000, 0xFFFF))));

    const cv::Mat gray = decode_image(dir / "gray.png");
    CHECK(gray.type() == CV_8UC3);
    CHECK(gray.at<cv::Vec3b>(2, 3) == cv::Vec3b(77, 77, 77));

    const cv::Mat rgba = decode_image(dir / "rgba.png");  // alpha dropped, as PIL's convert("RGB") does
    CHECK(rgba.type() == CV_8UC3);
    CHECK(rgba.at<cv::Vec3b>(0, 0) == cv::Vec3b(30, 20, 10));

    const cv::Mat deep = decode_image(dir / "deep.png");  // high byte of each 16-bit value
    CHECK(deep.type() == CV_8UC3);
    CHECK(deep.at<cv::Vec3b>(4, 6) == cv::Vec3b(255, 64, 128));
}

TEST_CASE("EXIF orientation is applied", "[data][image]") {
    // 40 x 20 stored: left half red, right half blue (BGR).
    cv::Mat bgr(20, 40, CV_8UC3, cv::Scalar(255, 0, 0));
    bgr(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(0, 0, 255));
    TempDir dir;
    test::write_bytes(dir / "plain.jpg", jpeg_with_orientation(bgr, 1));
    test::write_bytes(dir / "rotated.jpg", jpeg_with_orientation(bgr, 6));

    const cv::Mat plain = decode_image(dir / "plain.jpg");
    REQUIRE(plain.size() == cv::Size(40, 20));
    CHECK(plain.at<cv::Vec3b>(10, 5)[0] > 200);  // red stays left

    // Orientation 6: the stored image must be turned 90 degrees clockwise for display,
    // so the stored left (red) half ends up on top.
    const cv::Mat rotated = decode_image(dir / "rotated.jpg");
    REQUIRE(rotated.size() == cv::Size(20, 40));
    CHECK(rotated.at<cv::Vec3b>(5, 10)[0] > 200);
    CHECK(rotated.at<cv::Vec3b>(5, 10)[2] < 50);
    CHECK(rotated.at<cv::Vec3b>(35, 10)[2] > 200);  // blue at the bottom

    // Reduced-scale decoding (the loader's fast path) applies the orientation too.
    cv::Mat big;
    cv::resize(bgr, big, {400, 200}, 0, 0, cv::INTER_NEAREST);
    const cv::Mat reduced = decode_image(jpeg_with_orientation(big, 6), "big rotated", 50);
    REQUIRE(reduced.size() == cv::Size(50, 100));  // 1/4 scale, then turned
    CHECK(reduced.at<cv::Vec3b>(10, 25)[0] > 200);
    CHECK(reduced.at<cv::Vec3b>(90, 25)[2] > 200);
}

TEST_CASE("every kind of bad file is classified", "[data][image]") {
    TempDir dir;
    const auto jpeg = test::encode(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".jpg");
    const auto png = test::encode(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
    test::write_bytes(dir / "empty.jpg", {});
    test::write_bytes(dir / "text.jpg", {'h', 'e', 'l', 'l', 'o', '\n'});
    test::write_bytes(dir / "cut.jpg", {jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() / 2)});
    test::write_bytes(dir / "cut.png", {png.begin(), png.begin() + static_cast<long>(png.size() / 2)});
    // A JPEG signature and end marker around garbage: only the decoder can tell.
    std::vector<unsigned char> garbage{0xFF, 0xD8, 0xFF, 0xE0};
    for (int i = 0; i < 200; ++i) garbage.push_back(static_cast<unsigned char>(i * 37));
    garbage.insert(garbage.end(), {0xFF, 0xD9});
    test::write_bytes(dir / "garbage.jpg", garbage);
    fs::create_directories(dir / "folder.jpg");

    CHECK(problem_of(dir / "empty.jpg") == ImageProblem::empty);
    CHECK(problem_of(dir / "text.jpg") == ImageProblem::not_an_image);
    CHECK(problem_of(dir / "cut.jpg") == ImageProblem::truncated);
    CHECK(problem_of(dir / "cut.png") == ImageProblem::truncated);
    CHECK(problem_of(dir / "garbage.jpg") == ImageProblem::corrupt);
    CHECK(problem_of(dir / "missing.jpg") == ImageProblem::missing);
    CHECK(problem_of(dir / "folder.jpg") == ImageProblem::unreadable);

    // The cheap file check agrees on everything it can see without decoding.
    CHECK(check_image_file(dir / "empty.jpg") == ImageProblem::empty);
    CHECK(check_image_file(dir / "text.jpg") == ImageProblem::not_an_image);
    CHECK(check_image_file(dir / "cut.jpg") == ImageProblem::truncated);
    CHECK(check_image_file(dir / "cut.png") == ImageProblem::truncated);
    CHECK(check_image_file(dir / "garbage.jpg") == ImageProblem::none);
    CHECK(check_image_file(dir / "missing.jpg") == ImageProblem::missing);

    // The message names the file and the problem.
    try {
        decode_image(dir / "empty.jpg");
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(std::string(e.what()).find("empty.jpg: empty (0 bytes)") != std::string::npos);
    }

    // Where a file is expected, something nobody can read as one, root included: the library checks
    // the type before opening (opening a FIFO would block this test until its timeout).
    REQUIRE(::mkfifo((dir / "pipe.jpg").c_str(), 0644) == 0);
    CHECK(problem_of(dir / "pipe.jpg") == ImageProblem::unreadable);
    CHECK(check_image_file(dir / "pipe.jpg") == ImageProblem::unreadable);
    CHECK(check_image_file(dir / "folder.jpg") == ImageProblem::unreadable);
    CHECK_THROWS_WITH(decode_image(dir / "pipe.jpg"), Catch::Contains("pipe.jpg: cannot be read"));

    // With plain permissions only a non-root user is refused (root reads files whatever their mode).
    if (::geteuid() != 0) {
        test::write_bytes(dir / "secret.png", png);
        fs::permissions(dir / "secret.png", fs::perms::none);
        CHECK(problem_of(dir / "secret.png") == ImageProblem::unreadable);
        CHECK(check_image_file(dir / "secret.png") == ImageProblem::unreadable);
    }
}

TEST_CASE("JPEG completeness: data after EOI is fine, an EOI before the scan does not count", "[data][image]") {
    cv::Mat noise(256, 256, CV_8UC3);
    cv::randu(noise, 0, 255);
    std::vector<unsigned char> jpeg = test::encode(noise, ".jpg");
    // A comment segment holding FF D9, as an EXIF thumbnail's end marker would, before the scan.
    const std::vector<unsigned char> comment{0xFF, 0xFE, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9};
    jpeg.insert(jpeg.begin() + 2, comment.begin(), comment.end());
    REQUIRE(jpeg.size() > 20000);

    std::vector<unsigned char> trailer = jpeg;  // e.g. a motion photo's video after the picture
    trailer.insert(trailer.end(), 5000, 0x42);
    const std::vector<unsigned char> cut(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() / 2));
    CHECK(check_image_bytes(trailer) == ImageProblem::none);
    CHECK(check_image_bytes(cut) == ImageProblem::truncated);

    TempDir dir;
    test::write_bytes(dir / "trailer.jpg", trailer);
    test::write_bytes(dir / "cut.jpg", cut);
    CHECK(check_image_file(dir / "trailer.jpg") == ImageProblem::none);
    CHECK(check_image_file(dir / "cut.jpg") == ImageProblem::truncated);
    CHECK(decode_image(dir / "trailer.jpg").size() == cv::Size(256, 256));
    CHECK(jpeg_size(trailer) == cv::Size(256, 256));

    // Cut right after the header: the comment's FF D9 is in the last bytes, yet the file is truncated.
    const std::vector<unsigned char> header_only(jpeg.begin(), jpeg.begin() + 700);
    CHECK(check_image_bytes(header_only) == ImageProblem::truncated);
}

TEST_CASE("image extensions are matched in any letter case", "[data][image]") {
    for (const char* name : {"a.jpg", "b.JPG", "c.Jpeg", "d.png", "e.bmp", "f.webp", "g.TIFF", "h.tif"})
        CHECK(has_image_extension(name));
    for (const char* name : {"a.gif", "b.txt", "noext", "c.jpg.txt", ".jpg"}) CHECK_FALSE(has_image_extension(name));
}

TEST_CASE("large JPEGs decode at reduced scale when asked, never below min_side", "[data][image]") {
    cv::Mat bgr(900, 1000, CV_8UC3);
    cv::randu(bgr, 0, 255);
    const auto jpeg = test::encode(bgr, ".jpg");
    REQUIRE(jpeg_size(jpeg) == cv::Size(1000, 900));
    CHECK(decode_image(jpeg, "big", 0).size() == cv::Size(1000, 900));
    CHECK(decode_image(jpeg, "big", 224).size() == cv::Size(250, 225));  // 1/4: 900 / 4 >= 224
    CHECK(decode_image(jpeg, "big", 300).size() == cv::Size(500, 450));  // 1/2
    CHECK(decode_image(jpeg, "big", 500).size() == cv::Size(1000, 900));
    CHECK_FALSE(jpeg_size(test::encode(bgr, ".png")));
}

TEST_CASE("face-mask-3833: odd names, mixed-case extensions and a PNG named .jpg decode", "[data][image]") {
    const fs::path root = test::shared_dir() / "data" / "face-mask-3833" / "with_mask";
    REQUIRE(fs::is_directory(root));
    const cv::Mat png_as_jpg = decode_image(root / "with_mask129.jpg");  // really an RGBA PNG
    CHECK(png_as_jpg.type() == CV_8UC3);
    int non_ascii = 0, spaces = 0, upper_ext = 0;
    for (const auto& entry : fs::directory_iterator(root)) {
        const std::string name = entry.path().filename().string();
        const bool odd_bytes = std::any_of(name.begin(), name.end(), [](unsigned char c) { return c >= 0x80; });
        const bool space = name.find(' ') != std::string::npos;
        const std::string ext = entry.path().extension().string();
        const bool upper = ext == ".JPG" || ext == ".JPEG";
        if ((odd_bytes && non_ascii < 3) || (space && spaces < 3) || upper) {
            const cv::Mat rgb = decode_image(entry.path());
            CHECK(rgb.type() == CV_8UC3);
            CHECK(rgb.cols > 0);
            non_ascii += odd_bytes;
            spaces += space;
            upper_ext += upper;
        }
    }
    CHECK(non_ascii >= 3);
    CHECK(spaces >= 3);
    CHECK(upper_ext == 6);
}
