#pragma once
// The whole trainable model: MobileNetV2 features + the configurable head.
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "maskctl/core/config.hpp"
#include "maskctl/model/head.hpp"
#include "maskctl/model/mobilenetv2.hpp"

namespace maskctl {

class ClassifierImpl : public torch::nn::Module {
public:
    // Builds the architecture of `config` (backbone weights are random: load them with
    // load_tflite_backbone or load_model). Throws ConfigError for an unsupported backbone name,
    // an input size outside 96..512, trainable_blocks outside 0..17 or a head that does not fit.
    ClassifierImpl(const ModelConfig& config, int num_classes);

    // [N, 3, S, S] normalized images -> [N, num_classes] logits (training and loss).
    torch::Tensor forward(torch::Tensor images);

    // Class probabilities (softmax), computed in eval mode under InferenceMode; the training
    // mode is restored afterwards.
    torch::Tensor predict(torch::Tensor images);

    // The parameters an optimizer should update: the head, plus the unfrozen backbone blocks.
    std::vector<torch::Tensor> trainable_parameters() const;

    const ModelConfig& config() const { return config_; }
    int num_classes() const { return num_classes_; }

    MobileNetV2 backbone{nullptr};
    Head head{nullptr};

private:
    ModelConfig config_;
    int num_classes_;
};
TORCH_MODULE(Classifier);

}  // namespace maskctl
