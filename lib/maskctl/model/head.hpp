#pragma once
// The classification head on top of the backbone features, as in the Keras recipe:
// pool -> flatten -> dense(hidden) + ReLU -> dropout -> dense(classes). Softmax is applied by
// Classifier::predict, not here, so training can use a numerically stable cross-entropy on logits.
//
// Pooling follows Keras' AveragePooling2D / MaxPooling2D(pool_size=p): window p, stride p, 'valid',
// so a feature map of side f gives floor((f - p) / p) + 1 cells per side. For p = 7: inputs
// 193..224 (7x7 maps) give 1x1, 225..256 (8x8) also 1x1 (the last row/column is dropped, exactly as
// Keras does), 449..512 (15x15) give 2x2, flattened into 4 x 1280 features. A map smaller than the
// window is rejected with a ConfigError; pool_size 0 means global pooling and fits every size.
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "maskctl/core/config.hpp"

namespace maskctl {

// Cells per side after pooling a feature map of side `feature_size`; throws ConfigError naming
// model.head.pool_size and model.input_size when the window does not fit.
int pooled_size(const HeadConfig& head, int feature_size, int input_size);

class HeadImpl : public torch::nn::Module {
public:
    // `feature_size` is the side of the backbone's feature map; `input_size` is only for messages.
    // Throws ConfigError on a bad pool type, pool size, hidden units, dropout or class count.
    HeadImpl(const HeadConfig& config, int channels, int feature_size, int input_size, int num_classes);

    // [N, C, f, f] features -> [N, num_classes] logits.
    torch::Tensor forward(torch::Tensor features);

    // forward() in two steps, so the trainer can cache the parameter-free part:
    // pool(features).flatten(1) gives [N, D] and classify() maps it to logits.
    torch::Tensor pool(const torch::Tensor& features) const;
    torch::Tensor classify(torch::Tensor pooled_flat);

    torch::nn::Linear hidden{nullptr};  // null when hidden_units == 0
    torch::nn::Dropout dropout{nullptr};
    torch::nn::Linear out{nullptr};

private:
    HeadConfig config_;
};
TORCH_MODULE(Head);

}  // namespace maskctl
