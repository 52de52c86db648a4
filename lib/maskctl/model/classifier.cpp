#include "maskctl/model/classifier.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

const ModelConfig& checked(const ModelConfig& c) {
    if (c.input_size < kMobileNetV2MinInput || c.input_size > kMobileNetV2MaxInput)
        throw ConfigError(fmt::format("model.input_size is {}, expected {}..{}", c.input_size, kMobileNetV2MinInput,
                                      kMobileNetV2MaxInput));
    return c;
}

}  // namespace

ClassifierImpl::ClassifierImpl(const ModelConfig& config, int num_classes)
    : config_(checked(config)), num_classes_(num_classes) {
    config_.num_classes = num_classes;
    backbone = register_module("backbone", MobileNetV2());
    backbone->set_trainable_blocks(config.backbone.trainable_blocks);
    backbone->precision = precision_from_string(config.backbone.precision);
    head = register_module("head", Head(config.head, kMobileNetV2Features, mobilenetv2_feature_size(config.input_size),
                                        config.input_size, num_classes));
}

torch::Tensor ClassifierImpl::forward(torch::Tensor images) {
    if (images.dim() != 4 || images.size(2) != config_.input_size || images.size(3) != config_.input_size)
        throw Error(fmt::format("the model takes [N, 3, {0}, {0}] images, got [{1}]", config_.input_size,
                                fmt::join(images.sizes(), ", ")));
    return head->forward(backbone->forward(images));
}

torch::Tensor ClassifierImpl::predict(torch::Tensor images) {
    // Restores the caller's mode even when forward throws.
    struct EvalScope {
        torch::nn::Module& m;
        bool was_training;
        explicit EvalScope(torch::nn::Module& module) : m(module), was_training(module.is_training()) { m.eval(); }
        ~EvalScope() { m.train(was_training); }
    } scope(*this);
    c10::InferenceMode inference;
    return torch::softmax(forward(images), 1);
}

std::vector<torch::Tensor> ClassifierImpl::trainable_parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : parameters())
        if (p.requires_grad()) out.push_back(p);
    return out;
}

}  // namespace maskctl
