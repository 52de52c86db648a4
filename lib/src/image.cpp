#include "maskctl/image.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <span>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace maskctl {
namespace {

using Bytes = std::span<const unsigned char>;

bool starts_with(Bytes b, std::initializer_list<unsigned char> sig, std::size_t at = 0) {
    if (b.size() < at + sig.size()) return false;
    return std::equal(sig.begin(), sig.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
}

bool starts_with(Bytes b, std::string_view sig, std::size_t at = 0) {
    return b.size() >= at + sig.size() && std::memcmp(b.data() + at, sig.data(), sig.size()) == 0;
}

enum class Format { unknown, jpeg, png, other };

// Signatures of every format this OpenCV build decodes (GIF is not one of them).
Format sniff(Bytes head) {
    if (starts_with(head, {0xFF, 0xD8, 0xFF})) return Format::jpeg;
    if (starts_with(head, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return Format::png;
    const bool other = starts_with(head, "BM") ||                                     // BMP
                       (starts_with(head, "RIFF") && starts_with(head, "WEBP", 8)) ||  // WebP
                       starts_with(head, {'I', 'I', 0x2A, 0x00}) || starts_with(head, {'M', 'M', 0x00, 0x2A}) ||
                       starts_with(head, {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20}) ||  // JPEG 2000 file
                       starts_with(head, {0xFF, 0x4F, 0xFF, 0x51}) ||                          // JPEG 2000 stream
                       starts_with(head, {0x76, 0x2F, 0x31, 0x01}) ||                          // OpenEXR
                       starts_with(head, "#?RADIANCE") || starts_with(head, "#?RGBE") ||
                       starts_with(head, {0x59, 0xA6, 0x6A, 0x95}) ||  // Sun raster
                       (head.size() >= 2 && head[0] == 'P' && std::strchr("1234567Ff", head[1]) && head[1] != 0);
    return other ? Format::other : Format::unknown;
}

// Encoders may append padding or junk after the end marker; look for it near the end only.
bool has_end_marker(Format format, Bytes tail) {
    if (format == Format::jpeg) {
        for (std::size_t i = tail.size(); i >= 2; --i)
            if (tail[i - 2] == 0xFF && tail[i - 1] == 0xD9) return true;
        return false;
    }
    if (format == Format::png) {
        static constexpr std::string_view iend = "IEND";
        return std::search(tail.begin(), tail.end(), iend.begin(), iend.end()) != tail.end();
    }
    return true;
}

constexpr std::size_t kHeadBytes = 16;
constexpr std::size_t kTailBytes = 1024;

ImageProblem check(Bytes head, Bytes tail) {
    const Format format = sniff(head);
    if (format == Format::unknown) return ImageProblem::not_an_image;
    if (!has_end_marker(format, tail)) return ImageProblem::truncated;
    return ImageProblem::none;
}

[[noreturn]] void fail(ImageProblem problem, const std::string& name, const std::string& detail = {}) {
    throw ImageError(problem, detail.empty() ? fmt::format("{}: {}", name, describe(problem))
                                             : fmt::format("{}: {} ({})", name, describe(problem), detail));
}

// Distinguishes "gone" from "there but not readable" after an open failed.
ImageProblem open_problem(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec) || ec ? ImageProblem::unreadable : ImageProblem::missing;
}

}  // namespace

std::string_view describe(ImageProblem problem) {
    switch (problem) {
        case ImageProblem::none: return "ok";
        case ImageProblem::missing: return "file not found";
        case ImageProblem::unreadable: return "cannot be read (permissions or I/O error)";
        case ImageProblem::empty: return "empty (0 bytes)";
        case ImageProblem::not_an_image: return "not an image (unknown file signature)";
        case ImageProblem::truncated: return "truncated (end marker missing)";
        case ImageProblem::corrupt: return "corrupt (the decoder rejected it)";
    }
    return "unknown problem";
}

bool has_image_extension(const std::filesystem::path& path) {
    static constexpr std::array<std::string_view, 21> known{
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".jp2",
        ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".pfm", ".sr",  ".ras", ".exr", ".hdr"};
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(known.begin(), known.end(), ext) != known.end();
}

std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(ImageProblem::unreadable, path.string(), "a folder");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail(open_problem(path), path.string());
    const auto size = static_cast<std::size_t>(in.tellg());
    if (size == 0) fail(ImageProblem::empty, path.string());
    std::vector<unsigned char> bytes(size);
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        fail(ImageProblem::unreadable, path.string(), "read failed");
    return bytes;
}

ImageProblem check_image_bytes(const std::vector<unsigned char>& bytes) {
    if (bytes.empty()) return ImageProblem::empty;
    const Bytes all(bytes);
    const std::size_t tail = std::min(all.size(), kTailBytes);
    return check(all.first(std::min(all.size(), kHeadBytes)), all.last(tail));
}

ImageProblem check_image_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return ImageProblem::unreadable;
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return open_problem(path);
    const auto size = static_cast<std::size_t>(in.tellg());
    if (size == 0) return ImageProblem::empty;
    std::array<unsigned char, kHeadBytes> head{};
    std::vector<unsigned char> tail(std::min(size, kTailBytes));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(std::min(size, kHeadBytes)));
    in.seekg(static_cast<std::streamoff>(size - tail.size()));
    in.read(reinterpret_cast<char*>(tail.data()), static_cast<std::streamsize>(tail.size()));
    if (!in) return ImageProblem::unreadable;
    return check(Bytes(head).first(std::min(size, kHeadBytes)), tail);
}

std::optional<cv::Size> jpeg_size(const std::vector<unsigned char>& bytes) {
    if (sniff(bytes) != Format::jpeg) return std::nullopt;
    std::size_t i = 2;
    while (i + 9 < bytes.size()) {
        if (bytes[i] != 0xFF) return std::nullopt;
        const unsigned char marker = bytes[i + 1];
        if (marker == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        const std::size_t length = (std::size_t{bytes[i + 2]} << 8) | bytes[i + 3];
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
            const int height = (bytes[i + 5] << 8) | bytes[i + 6];
            const int width = (bytes[i + 7] << 8) | bytes[i + 8];
            return cv::Size(width, height);
        }
        if (marker == 0xDA || length < 2) return std::nullopt;  // scan data began before any frame header
        i += 2 + length;
    }
    return std::nullopt;
}

cv::Mat decode_image(const std::filesystem::path& path) { return decode_image(read_file_bytes(path), path.string()); }

cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name) {
    return decode_image(bytes, name, 0);
}

cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name, int min_side) {
    // libjpeg "decodes" a truncated JPEG into a half-grey picture with only a warning: reject it first.
    if (const ImageProblem problem = check_image_bytes(bytes); problem != ImageProblem::none) fail(problem, name);
    int flags = cv::IMREAD_COLOR;  // drops alpha, gray -> 3 channels, 16-bit -> 8-bit, applies EXIF orientation
    if (min_side > 0) {
        if (const auto size = jpeg_size(bytes)) {
            const int shortest = std::min(size->width, size->height);
            if (shortest >= 8 * min_side) flags = cv::IMREAD_REDUCED_COLOR_8;
            else if (shortest >= 4 * min_side) flags = cv::IMREAD_REDUCED_COLOR_4;
            else if (shortest >= 2 * min_side) flags = cv::IMREAD_REDUCED_COLOR_2;
        }
    }
    cv::Mat bgr;
    try {
        bgr = cv::imdecode(bytes, flags);
    } catch (const cv::Exception& e) {
        fail(ImageProblem::corrupt, name, e.err);
    }
    if (bgr.empty()) fail(ImageProblem::corrupt, name);
    if (bgr.depth() != CV_8U) {  // formats such as EXR or HDR may still arrive as float
        cv::Mat scaled;
        bgr.convertTo(scaled, CV_8U, bgr.depth() == CV_16U ? 1.0 / 257.0 : 255.0);
        bgr = scaled;
    }
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

}  // namespace maskctl
