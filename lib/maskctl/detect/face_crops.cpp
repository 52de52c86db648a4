#include "maskctl/detect/face_crops.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "maskctl/data/image.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/face_detector.hpp"

namespace fs = std::filesystem;

namespace maskctl {

std::vector<std::size_t> write_face_crops(const DetectionDataset& dataset, const fs::path& out,
                                          const FaceCropOptions& options, BadFileReport& bad,
                                          const std::function<void(std::size_t, std::size_t)>& progress) {
    std::vector<std::size_t> counts(dataset.class_names.size(), 0);
    for (std::size_t i = 0; i < dataset.images.size(); ++i) {
        const auto& a = dataset.images[i];
        cv::Mat bgr;
        try {
            cv::cvtColor(decode_image(a.image), bgr, cv::COLOR_RGB2BGR);
        } catch (const ImageError& e) {
            bad.add({a.image, e.problem(), e.what()});
            continue;
        }
        const auto boxes = in_pixels(a, bgr.size());
        // Names keep the image's path below images/, so crops of one photo stay recognisable.
        fs::path stem = a.image.lexically_relative(dataset.images_dir);
        stem.replace_extension();
        const std::string base = stem.generic_string();
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            const auto& b = boxes[k];
            if ((options.skip_difficult && b.difficult) || std::min(b.box.width, b.box.height) < options.min_side) continue;
            std::string file = fmt::format("{}_{}.png", base, k);
            std::replace(file.begin(), file.end(), '/', '_');
            // Folders only for classes that have a crop: the trainer refuses an empty class folder.
            const fs::path folder = out / dataset.class_names[static_cast<std::size_t>(b.label)];
            fs::create_directories(folder);
            write_image(folder / file,
                        face_crop(bgr, b.box, options.pad, options.shift));
            ++counts[static_cast<std::size_t>(b.label)];
        }
        if (progress) progress(i + 1, dataset.images.size());
    }
    return counts;
}

}  // namespace maskctl
