#include "maskctl/model/mobilenetv2.hpp"

#include <omp.h>

#include <future>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

int mobilenetv2_feature_size(int input_size) {
    int size = input_size;
    for (int i = 0; i < 5; ++i) size = (size + 1) / 2;  // stride 2 with 'SAME': ceil(size / 2)
    return size;
}

std::array<int64_t, 2> same_padding(int64_t size, int kernel, int stride) {
    const int64_t out = (size + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - size, 0);
    // TensorFlow puts the odd pixel after, not before.
    return {total / 2, total - total / 2};
}

SameConvImpl::SameConvImpl(int in_channels, int out_channels, int kernel_, int stride_, int groups, bool relu6_)
    : kernel(kernel_), stride(stride_), relu6(relu6_) {
    // With stride 1 'SAME' is symmetric and the conv can pad by itself; stride 2 pads in forward().
    const int pad = stride == 1 ? kernel / 2 : 0;
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel)
                                                         .stride(stride)
                                                         .padding(pad)
                                                         .groups(groups)
                                                         .bias(true)));
}

namespace {

namespace F = torch::nn::functional;

torch::Tensor conv_with(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x, int64_t padding) {
    return F::conv2d(x, conv.weight, F::Conv2dFuncOptions().bias(conv.bias).stride(conv.options.stride())
                                         .padding(padding).groups(conv.options.groups()));
}

// 3x3 stride 2 on an even-sized input, padded (0, 1) on both axes, without copying the padded input
// (that copy cost as much as the conv itself): the unpadded conv gives all but the last output row
// and column, which come from thin padded slices. Bit-identical to pad + conv.
torch::Tensor conv_pad_after(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
    const int64_t h = x.size(2), w = x.size(3);
    auto inner = conv_with(conv, x, 0);  // [N, O, h/2 - 1, w/2 - 1]
    auto out = torch::empty({x.size(0), inner.size(1), h / 2, w / 2},
                            inner.options().memory_format(at::MemoryFormat::ChannelsLast));
    out.narrow(2, 0, h / 2 - 1).narrow(3, 0, w / 2 - 1).copy_(inner);
    auto last_row = torch::constant_pad_nd(x.narrow(2, h - 2, 2), {0, 1, 0, 1}, 0.0);
    auto last_col = torch::constant_pad_nd(x.narrow(3, w - 2, 2), {0, 1, 0, 1}, 0.0);
    out.narrow(2, h / 2 - 1, 1).copy_(conv_with(conv, last_row, 0));
    out.narrow(3, w / 2 - 1, 1).copy_(conv_with(conv, last_col, 0));
    return out;
}

}  // namespace

torch::Tensor SameConvImpl::forward(torch::Tensor x) {
    if (stride > 1) {
        const auto h = same_padding(x.size(2), kernel, stride);
        const auto w = same_padding(x.size(3), kernel, stride);
        if (h == w && h[0] == h[1])  // symmetric (odd sizes): the conv pads by itself
            x = conv_with(*conv, x, h[0]);
        else if (kernel == 3 && stride == 2 && h == w && h[0] == 0 && h[1] == 1)
            x = conv_pad_after(*conv, x);
        else
            x = conv->forward(torch::constant_pad_nd(x, {w[0], w[1], h[0], h[1]}, 0.0));
    } else {
        x = conv->forward(x);
    }
    return relu6 ? torch::hardtanh_(x, 0.0, 6.0) : x;
}

InvertedResidualImpl::InvertedResidualImpl(int in, int out, int stride_, int t)
    : in_channels(in), out_channels(out), stride(stride_), expansion(t), residual(stride_ == 1 && in == out) {
    const int hidden = in * t;
    if (t != 1) expand = register_module("expand", SameConv(in, hidden, 1, 1, 1, true));
    depthwise = register_module("depthwise", SameConv(hidden, hidden, 3, stride, hidden, true));
    project = register_module("project", SameConv(hidden, out, 1, 1, 1, false));
}

torch::Tensor InvertedResidualImpl::forward(torch::Tensor x) {
    torch::Tensor y = expand ? expand->forward(x) : x;
    y = project->forward(depthwise->forward(y));
    return residual ? y + x : y;
}

MobileNetV2Impl::MobileNetV2Impl() {
    stem = register_module("stem", SameConv(3, kMobileNetV2StemChannels, 3, 2, 1, true));
    blocks = register_module("blocks", torch::nn::ModuleList());
    int channels = kMobileNetV2StemChannels;
    for (const auto& row : kMobileNetV2Table) {
        for (int i = 0; i < row.n; ++i) {
            blocks->push_back(InvertedResidual(channels, row.c, i == 0 ? row.s : 1, row.t));
            channels = row.c;
        }
    }
    last_conv = register_module("last_conv", SameConv(channels, kMobileNetV2Features, 1, 1, 1, true));
    set_trainable_blocks(0);
    to_channels_last();
}

void MobileNetV2Impl::set_trainable_blocks(int k) {
    if (k < 0 || k > kMobileNetV2Blocks)
        throw ConfigError(fmt::format("model.backbone.trainable_blocks is {}, expected 0..{}", k, kMobileNetV2Blocks));
    trainable_blocks_ = k;
    for (auto& p : stem->parameters()) p.set_requires_grad(false);
    for (int i = 0; i < kMobileNetV2Blocks; ++i)
        for (auto& p : blocks[i]->parameters()) p.set_requires_grad(i >= kMobileNetV2Blocks - k);
    for (auto& p : last_conv->parameters()) p.set_requires_grad(k > 0);
}

void MobileNetV2Impl::to_channels_last() {
    torch::NoGradGuard no_grad;
    for (auto& p : parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

torch::Tensor MobileNetV2Impl::run_blocks(torch::Tensor x, int first, int end) {
    for (int i = first; i < end; ++i) x = blocks[i]->as<InvertedResidualImpl>()->forward(x);
    return x;
}

namespace {

// OpenMP threads of the calling thread for a scope. LibTorch and oneDNN read the calling thread's
// OpenMP setting; at::set_num_threads would also change the default of threads started later.
// at::get_num_threads() first runs LibTorch's lazy per-thread init, which would undo our setting.
struct OmpThreads {
    int before;
    explicit OmpThreads(int n) : before((at::get_num_threads(), omp_get_max_threads())) { omp_set_num_threads(n); }
    ~OmpThreads() { omp_set_num_threads(before); }
};

// The fused chain keeps activations channels-last. oneDNN has JIT kernels for that layout on AVX-512
// CPUs, but on AVX2-only ones (a 2-core AMD EPYC here) it falls back to its reference kernels, more
// than 100x slower than LibTorch's own path. Asked once per process with a depthwise layer of the
// chain, so such CPUs run the eager path instead.
bool fused_chain_has_jit_kernels() {
    static const bool jit = [] {
        using memory = dnnl::memory;
        using Tag = memory::format_tag;
        const dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
        const memory::desc src({1, 32, 56, 56}, memory::data_type::f32, Tag::nhwc);
        const memory::desc weights({32, 1, 1, 3, 3}, memory::data_type::f32, Tag::any);
        const memory::desc bias({32}, memory::data_type::f32, Tag::x);
        const memory::desc dst({1, 32, 56, 56}, memory::data_type::f32, Tag::any);
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                   dnnl::algorithm::convolution_direct, src, weights, bias, dst,
                                                   {1, 1}, {1, 1}, {1, 1});
        const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu);
        return std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
    }();
    return jit;
}

}  // namespace

torch::Tensor MobileNetV2Impl::forward(torch::Tensor x) {
    if (x.dim() != 4 || x.size(1) != 3)
        throw Error(fmt::format("MobileNetV2 expects a [N, 3, H, W] batch, got {}", fmt::join(x.sizes(), "x")));
    const int threads = at::get_num_threads();
    const auto engine = trainable_blocks_ == 0 && fused && fused_chain_has_jit_kernels() ? fused_backbone() : nullptr;
    if (threads > 1 && trainable_blocks_ == 0 && parallel_streams)
        return forward_streams(x, static_cast<int>(std::min<int64_t>(x.size(0), threads)), engine);
    return forward_one(x, engine);
}

torch::Tensor MobileNetV2Impl::forward_one(torch::Tensor x, const std::shared_ptr<FusedBackbone>& engine) {
    return engine ? engine->forward(x) : forward_frozen(x.contiguous(at::MemoryFormat::ChannelsLast));
}

// Frozen, so no graph to keep: each stream runs on one core, without the per-op fork/join that
// splitting every conv across cores costs (and that stalls badly when another process holds a core).
// A batch of 1 is one stream on one compute thread: faster than two threads on one image. Even the
// layout copy and the final cat run on one thread: a 2-thread op leaves an OpenMP worker spinning
// beside the stream for a while after it, which measurably slowed the batch of 1.
torch::Tensor MobileNetV2Impl::forward_streams(const torch::Tensor& x, int streams,
                                               const std::shared_ptr<FusedBackbone>& engine) {
    const OmpThreads one(1);
    const auto parts = x.chunk(streams, 0);
    std::vector<torch::Tensor> outs(parts.size());
    const bool inference = c10::InferenceMode::is_enabled();
    std::vector<std::future<void>> others;
    for (std::size_t i = 1; i < parts.size(); ++i)
        others.push_back(std::async(std::launch::async, [&, i] {
            c10::InferenceMode mode(inference);  // thread-local: carry the caller's over
            const OmpThreads one_here(1);
            outs[i] = forward_one(parts[i], engine);
        }));
    outs[0] = forward_one(parts[0], engine);
    for (auto& f : others) f.get();
    return outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
}

std::shared_ptr<FusedBackbone> MobileNetV2Impl::fused_backbone() {
    // Parameters are replaced (set_data) or overwritten in place (copy_, which bumps the version).
    std::vector<int64_t> key{static_cast<int64_t>(precision)};
    for (const auto& p : parameters()) {
        key.push_back(reinterpret_cast<int64_t>(p.data_ptr()));
        key.push_back(static_cast<int64_t>(p._version()));
    }
    const std::lock_guard lock(fused_mutex_);
    if (!fused_ || key != fused_key_) {
        fused_ = std::make_shared<FusedBackbone>(*this, precision);
        fused_key_ = std::move(key);
    }
    return fused_;
}

torch::Tensor MobileNetV2Impl::forward_frozen(torch::Tensor x) {
    const int frozen_end = kMobileNetV2Blocks - trainable_blocks_;
    {
        torch::NoGradGuard no_grad;  // the frozen part keeps no graph
        x = run_blocks(stem->forward(x), 0, frozen_end);
        if (trainable_blocks_ == 0) return last_conv->forward(x);
    }
    return last_conv->forward(run_blocks(x, frozen_end, kMobileNetV2Blocks));
}

}  // namespace maskctl
