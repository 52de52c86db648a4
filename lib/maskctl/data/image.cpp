#include "maskctl/data/image.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <fstream>
#include <ostream>
#include <span>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/files.hpp"
#include "maskctl/core/folder_listing.hpp"

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

// Where a walk over the JPEG header segments stopped.
struct JpegWalk {
    std::size_t at = 0;     // offset of the last marker visited
    bool ran_out = false;   // the bytes ended inside the header
    bool at_scan = false;   // stopped at the first scan (SOS)
};

// Walks the marker segments of a JPEG header, calling visit(marker, offset of the marker) until it
// returns false, the first scan (SOS) begins, or the bytes end or stop making sense.
template <typename Visit>
JpegWalk walk_jpeg_header(Bytes b, Visit visit) {
    std::size_t i = 2;
    while (i + 4 <= b.size()) {
        if (b[i] != 0xFF) return {i, false, false};
        const unsigned char marker = b[i + 1];
        if (marker == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (!visit(marker, i) || marker == 0xDA) return {i, false, marker == 0xDA};
        const std::size_t length = (std::size_t{b[i + 2]} << 8) | b[i + 3];
        if (length < 2) return {i, false, false};
        i += 2 + length;
    }
    return {i, true, false};
}

enum class JpegEnd { complete, truncated, unknown };

// A JPEG is complete when an EOI marker follows the start of its first scan. Entropy-coded data
// cannot contain FF D9 (0xFF is stuffed), so this is exact, unlike "ends with FF D9": it accepts
// data appended after EOI (motion photos, vendor trailers) and ignores the EOI of an EXIF thumbnail.
// A header that makes no sense is left to the decoder (unknown).
JpegEnd jpeg_end(Bytes b) {
    const JpegWalk walk = walk_jpeg_header(b, [](unsigned char, std::size_t) { return true; });
    if (walk.ran_out) return JpegEnd::truncated;
    if (!walk.at_scan) return JpegEnd::unknown;
    // Backwards: a normal file answers within its last bytes.
    for (std::size_t i = b.size(); i >= walk.at + 4; --i)
        if (b[i - 2] == 0xFF && b[i - 1] == 0xD9) return JpegEnd::complete;
    return JpegEnd::truncated;
}

bool contains(Bytes bytes, std::initializer_list<unsigned char> needle) {
    return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
}

constexpr std::size_t kHeadBytes = 16;
constexpr std::size_t kTailBytes = 1024;

// Whether the end marker is in the last kTailBytes: the quick answer for nearly every file.
// `false` only means "look at the whole file" (see jpeg_complete).
bool end_marker_near_end(Format format, Bytes tail) {
    if (format == Format::jpeg) return contains(tail, {0xFF, 0xD9});
    if (format == Format::png) return contains(tail, {'I', 'E', 'N', 'D'});
    return true;
}

// `whole()` returns all the bytes; it is called only when the tail alone cannot tell.
template <typename Whole>
ImageProblem check(Bytes head, Bytes tail, Whole whole) {
    const Format format = sniff(head);
    if (format == Format::unknown) return ImageProblem::not_an_image;
    if (end_marker_near_end(format, tail)) return ImageProblem::none;
    if (format == Format::jpeg && jpeg_end(whole()) == JpegEnd::complete) return ImageProblem::none;
    return ImageProblem::truncated;
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

std::ostream& operator<<(std::ostream& out, ImageProblem problem) { return out << describe(problem); }

bool has_image_extension(const std::filesystem::path& path) {
    static constexpr std::array<std::string_view, 21> known{
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".jp2",
        ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".pfm", ".sr",  ".ras", ".exr", ".hdr"};
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(known.begin(), known.end(), ext) != known.end();
}

void BadFileReport::add(BadFile file) {
    ++total;
    if (first.size() < kListed) first.push_back(std::move(file));
}

void BadFileReport::merge(const BadFileReport& other) {
    total += other.total - std::min(other.total, other.first.size());  // unlisted ones still count
    for (const auto& file : other.first) add(file);
}

std::string BadFileReport::summary() const {
    if (total == 0) return {};
    std::string text = fmt::format("{} bad file{} skipped: ", total, total == 1 ? "" : "s");
    for (std::size_t i = 0; i < first.size(); ++i) text += (i ? "; " : "") + first[i].message;
    if (total > first.size()) text += fmt::format("; and {} more", total - first.size());
    return text;
}

std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& path, BadFileReport& skipped,
                                                    bool recursive) {
    FolderListing listing;
    try {
        listing = list_folder(path, recursive);
    } catch (const IoError& e) {
        throw DataError(e.what());
    }
    for (const auto& entry : listing.skipped)
        skipped.add({entry.path, ImageProblem::unreadable, fmt::format("{}: {}", entry.path.string(), entry.reason)});
    std::error_code ec;
    const bool folder = std::filesystem::is_directory(path, ec);
    std::vector<std::filesystem::path> images;
    for (auto& file : listing.files)
        if (!folder || has_image_extension(file)) images.push_back(std::move(file));
    return images;
}

std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path) {
    std::vector<unsigned char> bytes;
    switch (read_file(path, bytes)) {
        case FileProblem::none: break;
        case FileProblem::missing: fail(ImageProblem::missing, path.string());
        case FileProblem::not_a_file: fail(ImageProblem::unreadable, path.string(), "not a regular file");
        case FileProblem::unreadable: fail(ImageProblem::unreadable, path.string());
    }
    if (bytes.empty()) fail(ImageProblem::empty, path.string());
    return bytes;
}

ImageProblem check_image_bytes(const std::vector<unsigned char>& bytes) {
    if (bytes.empty()) return ImageProblem::empty;
    const Bytes all(bytes);
    // With every byte at hand, JPEGs get the exact test: an EOI in the tail could belong to an
    // EXIF thumbnail when the file was cut just after its header.
    if (sniff(all) == Format::jpeg) {
        const JpegEnd end = jpeg_end(all);
        if (end != JpegEnd::unknown) return end == JpegEnd::complete ? ImageProblem::none : ImageProblem::truncated;
    }
    return check(all.first(std::min(all.size(), kHeadBytes)), all.last(std::min(all.size(), kTailBytes)),
                 [&] { return all; });
}

ImageProblem check_image_file(const std::filesystem::path& path) {
    switch (file_problem(path)) {  // before opening: a FIFO would block the open
        case FileProblem::none: break;
        case FileProblem::missing: return ImageProblem::missing;
        case FileProblem::not_a_file:
        case FileProblem::unreadable: return ImageProblem::unreadable;
    }
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
    std::vector<unsigned char> all;
    auto whole = [&] {
        in.seekg(0);
        all.resize(size);
        in.read(reinterpret_cast<char*>(all.data()), static_cast<std::streamsize>(size));
        return Bytes(all);
    };
    return check(Bytes(head).first(std::min(size, kHeadBytes)), tail, whole);
}

std::optional<cv::Size> jpeg_size(const std::vector<unsigned char>& bytes) {
    const Bytes b(bytes);
    if (sniff(b) != Format::jpeg) return std::nullopt;
    std::optional<cv::Size> size;
    (void)walk_jpeg_header(b, [&](unsigned char marker, std::size_t at) {
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame && at + 9 <= b.size()) size = cv::Size((b[at + 7] << 8) | b[at + 8], (b[at + 5] << 8) | b[at + 6]);
        return !frame;
    });
    return size;
}

cv::Mat decode_image(const std::filesystem::path& path) { return decode_image(read_file_bytes(path), path.string()); }

cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name) {
    return decode_image(bytes, name, 0);
}

namespace {
std::atomic<std::uint64_t> decoded_count{0};
}  // namespace

std::uint64_t images_decoded() { return decoded_count.load(std::memory_order_relaxed); }

int jpeg_reduction(const std::vector<unsigned char>& bytes, int min_side) {
    if (min_side <= 0) return 1;
    const auto size = jpeg_size(bytes);
    if (!size) return 1;
    const int shortest = std::min(size->width, size->height);
    for (int k : {8, 4, 2})
        if (shortest >= k * min_side) return k;
    return 1;
}

cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name, int min_side) {
    // libjpeg "decodes" a truncated JPEG into a half-grey picture with only a warning: reject it first.
    if (const ImageProblem problem = check_image_bytes(bytes); problem != ImageProblem::none) fail(problem, name);
    int flags = cv::IMREAD_COLOR;  // drops alpha, gray -> 3 channels, 16-bit -> 8-bit, applies EXIF orientation
    switch (jpeg_reduction(bytes, min_side)) {
        case 8: flags = cv::IMREAD_REDUCED_COLOR_8; break;
        case 4: flags = cv::IMREAD_REDUCED_COLOR_4; break;
        case 2: flags = cv::IMREAD_REDUCED_COLOR_2; break;
        default: break;
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
    decoded_count.fetch_add(1, std::memory_order_relaxed);
    return rgb;
}

}  // namespace maskctl
