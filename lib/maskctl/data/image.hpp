#pragma once
// Decoding image files into the one pixel format the rest of the library uses: 8-bit, 3-channel RGB.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/core/errors.hpp"

namespace maskctl {

// Why a file is not a usable image. Datasets and loaders count and list these instead of failing.
enum class ImageProblem {
    none,
    missing,       // the file does not exist (any more)
    unreadable,    // it exists but cannot be read (permissions, I/O error, a folder)
    empty,         // 0 bytes
    not_an_image,  // the first bytes match no image format OpenCV reads
    truncated,     // a JPEG without its end marker or a PNG without IEND
    corrupt,       // the decoder rejected it
};

// A short phrase for reports, e.g. "empty (0 bytes)".
std::string_view describe(ImageProblem problem);

// Writes describe(problem) (for logs and test failure messages).
std::ostream& operator<<(std::ostream& out, ImageProblem problem);

// A DataError that also says what kind of problem the file has.
class ImageError : public DataError {
public:
    ImageError(ImageProblem problem, const std::string& message) : DataError(message), problem_(problem) {}
    ImageProblem problem() const { return problem_; }

private:
    ImageProblem problem_;
};

// True for the extensions OpenCV decodes (jpg, jpeg, png, bmp, webp, tif, tiff, ...), in any letter case.
bool has_image_extension(const std::filesystem::path& path);

struct BadFile {
    std::filesystem::path path;
    ImageProblem problem = ImageProblem::corrupt;
    std::string message;  // one line naming the file and the problem
};

// Skipped files: the total and the first few, so a report stays short on a huge folder.
struct BadFileReport {
    static constexpr std::size_t kListed = 10;
    std::size_t total = 0;
    std::vector<BadFile> first;  // at most kListed

    void add(BadFile file);
    void merge(const BadFileReport& other);
    bool empty() const { return total == 0; }
    // "2 bad files skipped: a.jpg: empty (0 bytes); b.png: truncated ..." ("" when none).
    std::string summary() const;
};

// Image files to label: `path` itself when it is a file, else the files with an image extension in
// the folder (and its subfolders when `recursive`; hidden files left out), sorted. Entries that cannot
// be used (symlink loops, broken links, named pipes, folders that cannot be listed) are added to
// `skipped` with their reason. Throws DataError when `path` itself does not exist or cannot be listed.
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& path, BadFileReport& skipped,
                                                    bool recursive = true);

// Reads a whole file. Throws ImageError (missing, unreadable, empty).
std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path);

// Cheap checks on bytes already read: a known signature and, for JPEG and PNG, the end marker.
// Returns none when the bytes may well decode (only decoding proves it).
ImageProblem check_image_bytes(const std::vector<unsigned char>& bytes);

// Same from the file, reading only its first and last bytes (for a fast indexing pass).
ImageProblem check_image_file(const std::filesystem::path& path);

// Width and height recorded in a JPEG's frame header (before EXIF rotation), if the bytes are a JPEG.
std::optional<cv::Size> jpeg_size(const std::vector<unsigned char>& bytes);

// Reads and decodes `path` (any format OpenCV reads; the content decides, not the extension).
// Grayscale and RGBA become RGB, 16-bit becomes 8-bit, EXIF orientation is applied.
// Throws ImageError naming the file and the problem (missing, empty, not an image, ...).
cv::Mat decode_image(const std::filesystem::path& path);

// Same, from bytes already in memory; `name` is used in error messages.
cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name);

// Same, but a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, several
// times faster) as long as both sides stay >= min_side. For callers that resize to min_side anyway.
cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name, int min_side);

// The scale divisor (1, 2, 4 or 8) the call above decodes `bytes` at for `min_side`: 1 unless a JPEG.
int jpeg_reduction(const std::vector<unsigned char>& bytes, int min_side);

// How many images decode_image has decoded in this process, all threads (the loader's tests and
// `maskctl data bench` count decodes per image with it).
std::uint64_t images_decoded();

}  // namespace maskctl
