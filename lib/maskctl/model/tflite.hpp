#pragma once
// Import of MobileNetV2 weights from TensorFlow Lite files: the Keras/TF2 int8 post-training-
// quantized model (per-channel scales) and the older TF1 uint8 quantization-aware model (per-tensor),
// or a float32 one. Weights are dequantized ((q - zero_point) * scale, per output channel; int32
// biases times input scale * weight scale) and moved from TFLite's layouts (conv OHWI, depthwise
// 1HW(C*mult)) to LibTorch's OIHW. The operator sequence and every shape are checked against the
// MobileNetV2 we build, so any other network is refused. Activations stay float here, where TFLite
// quantizes them; predictions agree to top-1, not bit for bit.
//
// Importing takes well under a second (3.5 M weights), so no float cache is kept.
#include <filesystem>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/modules/linear.h>

#include "maskctl/model/classifier.hpp"
#include "maskctl/model/mobilenetv2.hpp"

namespace maskctl {

struct TfliteMobileNetV2 {
    MobileNetV2 backbone;                   // weights loaded; frozen and channels-last
    torch::nn::Linear classifier{nullptr};  // 1280 -> classes (1001 for ImageNet incl. background); null if absent
    int input_size = 224;                   // the file's input [1, S, S, 3]
    std::string quantization;               // "int8 per-channel", "uint8 per-tensor", "float32", ...
};

// Reads a TFLite MobileNetV2 1.0. Throws ModelFileError("<file>: <problem>") for a missing or
// unreadable file, a file that is not a valid TFLite flatbuffer (truncated, corrupt, other format),
// or a network that is not MobileNetV2 1.0 (operator sequence, options or tensor shapes differ).
TfliteMobileNetV2 import_tflite_mobilenetv2(const std::filesystem::path& file);
// The same from the bytes of a file already read (`name` in messages).
TfliteMobileNetV2 import_tflite_mobilenetv2(std::vector<std::uint8_t> bytes, const std::filesystem::path& name);

// Copies the backbone weights of `file` into `backbone` (its trainable-blocks setting is kept).
void load_tflite_backbone(MobileNetV2& backbone, const std::filesystem::path& file);

// A new classifier for `num_classes`: the ImageNet backbone of model.backbone.weights and a freshly
// initialised head (drawn from torch's global generator).
Classifier imagenet_classifier(const ModelConfig& model, int num_classes);

}  // namespace maskctl
