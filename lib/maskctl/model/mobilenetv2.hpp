#pragma once
// MobileNetV2 (Sandler et al. 2018, width 1.0) as the Keras/TensorFlow model computes it: BatchNorm
// folded into conv biases (as in the TFLite files we import), ReLU6, and TensorFlow's 'SAME' padding,
// which pads stride-2 convs asymmetrically (nothing before, one after on even sizes) where
// torchvision pads symmetrically. Weights and activations are kept channels-last: oneDNN's
// depthwise kernels are about twice as fast on that layout as on NCHW.
#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "maskctl/model/fused_backbone.hpp"

namespace maskctl {

// One row of the paper's Table 2: expansion factor t, output channels c, repeats n, first stride s.
struct BottleneckSpec {
    int t, c, n, s;
};
inline constexpr std::array<BottleneckSpec, 7> kMobileNetV2Table{{
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}}};
inline constexpr int kMobileNetV2StemChannels = 32;
inline constexpr int kMobileNetV2Blocks = 17;        // inverted-residual blocks (sum of n)
inline constexpr int kMobileNetV2Features = 1280;    // channels of the final 1x1 conv
inline constexpr int kMobileNetV2MinInput = 96;
inline constexpr int kMobileNetV2MaxInput = 512;

// Side of the feature map for a square input: five stride-2 'SAME' layers, so ceil(size / 32).
int mobilenetv2_feature_size(int input_size);

// Per side (before, after) padding of TensorFlow 'SAME' for one spatial dimension.
std::array<int64_t, 2> same_padding(int64_t size, int kernel, int stride);

// Convolution with bias (BatchNorm folded), TensorFlow 'SAME' padding and optional ReLU6.
class SameConvImpl : public torch::nn::Module {
public:
    SameConvImpl(int in_channels, int out_channels, int kernel, int stride, int groups, bool relu6);
    torch::Tensor forward(torch::Tensor x);

    torch::nn::Conv2d conv{nullptr};
    int kernel;
    int stride;
    bool relu6;
};
TORCH_MODULE(SameConv);

// Bottleneck block: 1x1 expand (absent when t = 1) -> 3x3 depthwise -> 1x1 linear projection,
// plus the input when stride is 1 and channels are unchanged.
class InvertedResidualImpl : public torch::nn::Module {
public:
    InvertedResidualImpl(int in_channels, int out_channels, int stride, int expansion);
    torch::Tensor forward(torch::Tensor x);

    SameConv expand{nullptr};  // null when expansion == 1
    SameConv depthwise{nullptr};
    SameConv project{nullptr};
    int in_channels;
    int out_channels;
    int stride;
    int expansion;
    bool residual;
};
TORCH_MODULE(InvertedResidual);

// The feature extractor: stem conv 3x3/2 (32) -> 17 inverted residuals -> 1x1 conv (1280) + ReLU6.
// forward: [N, 3, S, S] float -> [N, 1280, ceil(S/32), ceil(S/32)].
//
// Frozen by default: parameters do not require gradients and the frozen part runs under
// NoGradGuard, so no autograd graph is kept through it. set_trainable_blocks(k) unfreezes the last k
// inverted residuals and, when k > 0, the final 1x1 conv after them (fine-tuning unfreezes
// everything above the cut, as in the Keras recipe).
class MobileNetV2Impl : public torch::nn::Module {
public:
    MobileNetV2Impl();
    torch::Tensor forward(torch::Tensor x);

    // Throws ConfigError unless 0 <= k <= 17.
    void set_trainable_blocks(int k);
    int trainable_blocks() const { return trainable_blocks_; }

    // Puts every 4-d parameter in channels-last memory; call after replacing parameters.
    void to_channels_last();

    // With the whole backbone frozen and more than one compute thread, a batch is split into one
    // stream per compute thread (at most one per image), each run on its own thread with one compute
    // thread (measured faster on 2 cores: see docs/benchmarks.md). Same results up to float
    // rounding; false = split every op across the threads instead.
    bool parallel_streams = true;

    // With the whole backbone frozen (no gradient ever flows through it), forward runs on a
    // FusedBackbone: the network compiled into fused oneDNN convolutions, rebuilt by itself when the
    // weights or `precision` change. Same results up to float rounding (bf16: see fused_backbone.hpp);
    // false = LibTorch's eager ops.
    bool fused = true;
    Precision precision = Precision::float32;

    SameConv stem{nullptr};
    torch::nn::ModuleList blocks{nullptr};  // InvertedResidual x 17
    SameConv last_conv{nullptr};

private:
    torch::Tensor run_blocks(torch::Tensor x, int first, int end);
    torch::Tensor forward_frozen(torch::Tensor x);
    torch::Tensor forward_streams(const torch::Tensor& x, int streams, const std::shared_ptr<FusedBackbone>& fused);
    torch::Tensor forward_one(torch::Tensor x, const std::shared_ptr<FusedBackbone>& fused);
    std::shared_ptr<FusedBackbone> fused_backbone();
    int trainable_blocks_ = 0;
    std::mutex fused_mutex_;
    std::shared_ptr<FusedBackbone> fused_;
    std::vector<int64_t> fused_key_;  // what fused_ was built from: precision, weights' addresses and versions
};
TORCH_MODULE(MobileNetV2);

}  // namespace maskctl
