#pragma once
// Class folders of face crops from a detection dataset, cut exactly as the detect path cuts faces
// for the classifier (face_crop), so a model trained on them sees at training time what it will see
// on a camera. The output is a class-folder tree that maskctl train reads as it is.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <vector>

#include "maskctl/data/annotations.hpp"
#include "maskctl/data/dataset.hpp"

namespace maskctl {

struct FaceCropOptions {
    float pad = 0.2f;     // DetectOptions::crop_pad
    float shift = 0.05f;  // DetectOptions::crop_shift
    int min_side = 1;     // faces whose shorter side is smaller are left out
    bool skip_difficult = true;
};

// Writes out/<class>/<image stem>_<k>.png for every face of `dataset` (PNG: no second compression)
// and returns the crops written per class. Images that fail to decode go to `bad`.
std::vector<std::size_t> write_face_crops(const DetectionDataset& dataset, const std::filesystem::path& out,
                                          const FaceCropOptions& options, BadFileReport& bad,
                                          const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace maskctl
