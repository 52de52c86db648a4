#include "maskctl/model/head.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

void check_head_config(const HeadConfig& c, int num_classes) {
    if (c.pool_size < 0)
        throw ConfigError(fmt::format("model.head.pool_size is {}, expected 0 (global) or a positive size", c.pool_size));
    if (c.hidden_units < 0)
        throw ConfigError(fmt::format("model.head.hidden_units is {}, expected >= 0", c.hidden_units));
    if (!(c.dropout >= 0.0 && c.dropout < 1.0))
        throw ConfigError(fmt::format("model.head.dropout is {}, expected 0 <= p < 1", c.dropout));
    if (num_classes < 2)
        throw ConfigError(fmt::format("model.num_classes is {}, expected at least 2", num_classes));
}

// Keras' Dense default: Glorot-uniform kernel, zero bias.
torch::nn::Linear dense(int in, int out) {
    torch::nn::Linear layer(in, out);
    torch::NoGradGuard no_grad;
    torch::nn::init::xavier_uniform_(layer->weight);
    torch::nn::init::zeros_(layer->bias);
    return layer;
}

}  // namespace

int pooled_size(const HeadConfig& head, int feature_size, int input_size) {
    if (head.pool_size == 0) return 1;
    if (feature_size < head.pool_size)
        throw ConfigError(fmt::format(
            "model.head.pool_size {} does not fit the {}x{} feature map of model.input_size {} "
            "(needs input_size >= {}); use pool_size 0 for global pooling",
            head.pool_size, feature_size, feature_size, input_size, 32 * (head.pool_size - 1) + 1));
    return (feature_size - head.pool_size) / head.pool_size + 1;
}

HeadImpl::HeadImpl(const HeadConfig& config, int channels, int feature_size, int input_size, int num_classes)
    : config_(config) {
    check_head_config(config, num_classes);
    const int cells = pooled_size(config, feature_size, input_size);
    int width = channels * cells * cells;
    if (config.hidden_units > 0) {
        hidden = register_module("hidden", dense(width, config.hidden_units));
        width = config.hidden_units;
    }
    dropout = register_module("dropout", torch::nn::Dropout(config.dropout));
    out = register_module("out", dense(width, num_classes));
}

torch::Tensor HeadImpl::pool(const torch::Tensor& x) const {
    const bool avg = config_.pool == Pool::avg;
    if (config_.pool_size == 0) return avg ? x.mean({2, 3}) : x.amax({2, 3});
    const int p = config_.pool_size;
    return avg ? torch::avg_pool2d(x, {p, p}, {p, p}) : torch::max_pool2d(x, {p, p}, {p, p});
}

torch::Tensor HeadImpl::forward(torch::Tensor features) { return classify(pool(features).flatten(1)); }

torch::Tensor HeadImpl::classify(torch::Tensor x) {
    if (hidden) x = torch::relu(hidden->forward(x));
    return out->forward(dropout->forward(x));
}

}  // namespace maskctl
