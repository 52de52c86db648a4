#pragma once
// The one preprocessing used by training, eval, predict and detect alike (train/serve skew is the
// classic bug here): resize to the square input size, keep RGB order, scale values to the range
// the backbone was trained on. The model file stores it, so a model always gets what it expects.
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <torch/types.h>

namespace maskctl {

struct Preprocess {
    int input_size = 224;
    // y = x * scale + offset on RGB values in 0..255; MobileNetV2 expects x / 127.5 - 1.
    float scale = 1.0f / 127.5f;
    float offset = -1.0f;
    bool operator==(const Preprocess&) const = default;
};

void to_json(nlohmann::json& j, const Preprocess& p);
void from_json(const nlohmann::json& j, Preprocess& p);

// Resizes an RGB image to input_size x input_size (aspect ratio not kept, as Keras' load_img does).
cv::Mat resize_for_model(const cv::Mat& rgb, const Preprocess& p);

// Stacks RGB 8-bit images of size input_size x input_size into a normalized float batch,
// shape [N, 3, S, S] (stored channels-last, the fast layout for oneDNN convolutions).
torch::Tensor to_batch(const std::vector<cv::Mat>& rgb, const Preprocess& p);

}  // namespace maskctl
