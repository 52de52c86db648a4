#pragma once
// Proof that imported backbone weights are the ImageNet network: classify the reference photos that
// ship with the weights and compare the top-1 class with what they show.
#include <filesystem>
#include <string>
#include <vector>

#include <torch/types.h>

#include "maskctl/model/tflite.hpp"

namespace maskctl {

// imagenet_labels.txt: one label per line, line 0 "background". Throws DataError.
std::vector<std::string> read_imagenet_labels(const std::filesystem::path& file);

// Probabilities [N, classes] of the imported network with its own classifier (global average
// pooling, then the classifier, then softmax). Throws Error when the file had no classifier.
torch::Tensor imagenet_probabilities(TfliteMobileNetV2& net, const torch::Tensor& batch);

// What a reference photo shows, by file stem ("grace_hopper" -> {"military uniform"}): the labels
// (first comma-separated name in imagenet_labels.txt) any of which is a right top-1. Empty for a
// file that is not one of the reference photos.
std::vector<std::string> reference_labels(const std::string& stem);

// First comma-separated name of a label line: "tabby, tabby cat" -> "tabby".
std::string short_label(const std::string& label);

struct TopK {
    std::vector<int> classes;
    std::vector<float> probabilities;
};
TopK top_k(const torch::Tensor& probabilities_row, int k);

}  // namespace maskctl
