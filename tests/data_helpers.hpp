#pragma once
// Synthetic image files for the data tests: written with OpenCV's encoders so their content is
// exactly known, under any file name (spaces, quotes, non-ASCII) and extension.
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <utility>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "test_helpers.hpp"

namespace maskctl::test {

inline void write_bytes(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<unsigned char> encode(const cv::Mat& bgr, const std::string& ext = ".png") {
    std::vector<unsigned char> bytes;
    cv::imencode(ext, bgr, bytes);
    return bytes;
}

// A w x h image of one BGR colour, encoded as `ext` (".png", ".jpg", ...) whatever `path` ends with.
inline void write_image(const std::filesystem::path& path, int w = 24, int h = 16,
                        cv::Scalar bgr = cv::Scalar(40, 80, 160), const std::string& ext = ".png") {
    write_bytes(path, encode(cv::Mat(h, w, CV_8UC3, bgr), ext));
}

// root/<class>/<name> for each class and name.
inline void make_flat(const std::filesystem::path& root, const std::vector<std::string>& classes, int per_class) {
    for (std::size_t c = 0; c < classes.size(); ++c)
        for (int i = 0; i < per_class; ++i)
            write_image(root / classes[c] / ("img" + std::to_string(i) + ".png"), 20 + i, 10 + static_cast<int>(c));
}

// A small copy of the real 2-class dataset (../shared): the first `with_mask` and `without_mask`
// files of each class folder, by name, as dest/<class>/*.
inline std::filesystem::path make_real_subset(const std::filesystem::path& dest, int with_mask, int without_mask) {
    namespace fs = std::filesystem;
    for (const auto& [cls, count] : {std::pair<const char*, int>{"with_mask", with_mask}, {"without_mask", without_mask}}) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(shared_dir() / "data" / "face-mask-3833" / cls))
            files.push_back(e.path());
        std::sort(files.begin(), files.end());
        fs::create_directories(dest / cls);
        for (int i = 0; i < count; ++i) fs::copy_file(files[static_cast<std::size_t>(i)], dest / cls / files[i].filename());
    }
    return dest;
}

inline std::filesystem::path imagenet_weights() {
    return shared_dir() / "models/imagenet/tf2_mobilenet_v2_1.0_224_ptq.tflite";
}

}  // namespace maskctl::test
