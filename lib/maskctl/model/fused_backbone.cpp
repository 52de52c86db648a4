#include "maskctl/model/fused_backbone.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/model/mobilenetv2.hpp"

namespace maskctl {

std::string to_string(Precision p) { return p == Precision::bf16 ? "bf16" : "float"; }

Precision precision_from_string(const std::string& name) {
    if (name == "float") return Precision::float32;
    if (name == "bf16") return Precision::bf16;
    if (name == "auto") return auto_precision();
    if (name == "int8") throw ConfigError(kInt8Unavailable);
    throw ConfigError(fmt::format("precision '{}' is not one of: float, bf16, auto", name));
}

Precision auto_precision() {
    return kBf16AccuracyShown && precision_supported(Precision::bf16) ? Precision::bf16 : Precision::float32;
}

bool precision_supported(Precision p) {
    if (p == Precision::float32) return true;
    const auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& cpu_engine() {
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

// One convolution of the network, with the weights as LibTorch holds them.
struct ConvSpec {
    torch::Tensor weight;  // [O, I/groups, K, K] float, contiguous
    torch::Tensor bias;    // [O]
    int stride = 1;
    int groups = 1;
    bool relu6 = false;
    bool block_start = false;  // first conv of an inverted residual: its input is the block input
    bool residual = false;     // adds the block input (stride 1, same channels)
};

void add_conv(std::vector<ConvSpec>& specs, const SameConvImpl& c, bool block_start, bool residual) {
    ConvSpec s;
    s.weight = c.conv->weight.detach().contiguous().clone();
    s.bias = c.conv->bias.detach().contiguous().clone();
    s.stride = c.stride;
    s.groups = static_cast<int>(c.conv->options.groups());
    s.relu6 = c.relu6;
    s.block_start = block_start;
    s.residual = residual;
    specs.push_back(std::move(s));
}

std::vector<ConvSpec> conv_specs(const MobileNetV2Impl& net) {
    std::vector<ConvSpec> specs;
    add_conv(specs, *net.stem, false, false);
    for (const auto& module : *net.blocks) {
        const auto& block = *module->as<InvertedResidualImpl>();
        if (block.expand) add_conv(specs, *block.expand, true, false);
        add_conv(specs, *block.depthwise, !block.expand, false);
        add_conv(specs, *block.project, false, block.residual);
    }
    add_conv(specs, *net.last_conv, false, false);
    return specs;
}

// Where a layer reads or writes: the caller's input, the output tensor, or one of the reused buffers.
constexpr int kInput = -1;
constexpr int kOutput = -2;
constexpr int kBuffers = 3;

struct LayerPlan {
    dnnl::convolution_forward conv;
    memory::desc src, dst;
    memory weights;  // a handle: shared with the layer's cache
    int src_buffer = kInput, dst_buffer = kOutput;
};

// The primitives for one input shape.
struct Plan {
    std::vector<LayerPlan> layers;
    std::optional<dnnl::reorder> to_act;  // input float -> activation type (bf16 only)
    memory::desc input_md, act_input_md;
    std::size_t buffer_bytes = 0;
    std::size_t scratch_bytes = 0;
    int64_t out_h = 0, out_w = 0;
};

// Activation buffers and scratchpad of one call in flight; grown on demand, then reused.
struct Workspace {
    std::array<torch::Tensor, kBuffers> buffers;
    torch::Tensor scratch;
    void reserve(const Plan& plan) {
        const auto grow = [](torch::Tensor& t, std::size_t bytes) {
            if (!t.defined() || static_cast<std::size_t>(t.numel()) < bytes)
                t = torch::empty({static_cast<int64_t>(std::max<std::size_t>(bytes, 64))}, torch::kUInt8);
        };
        for (auto& b : buffers) grow(b, plan.buffer_bytes);
        grow(scratch, plan.scratch_bytes);
    }
};

int free_buffer(std::initializer_list<int> taken) {
    for (int b = 0; b < kBuffers; ++b)
        if (std::find(taken.begin(), taken.end(), b) == taken.end()) return b;
    throw Error("fused backbone: no free activation buffer");  // cannot happen with 3 buffers
}

}  // namespace

struct FusedBackbone::Impl {
    Precision precision;
    memory::data_type act;
    std::vector<ConvSpec> specs;
    std::vector<memory> biases;
    // Weights reordered for each layer, per layout asked for by a primitive (usually one).
    std::vector<std::vector<std::pair<memory::desc, memory>>> weights;
    std::mutex mutex;
    std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Plan>> plans;
    std::vector<std::unique_ptr<Workspace>> idle;

    memory weights_for(std::size_t layer, const memory::desc& md);
    Plan& plan_for(int64_t n, int64_t h, int64_t w);
    std::unique_ptr<Plan> build(int64_t n, int64_t h, int64_t w);
    LayerPlan build_layer(std::size_t i, const memory::desc& src, int64_t& h, int64_t& w, const memory::desc* sum_dst,
                          bool last, Plan& plan);
};

memory FusedBackbone::Impl::weights_for(std::size_t layer, const memory::desc& md) {
    for (const auto& [have, mem] : weights[layer])
        if (have == md) return mem;
    const ConvSpec& s = specs[layer];
    const auto& w = s.weight;
    memory::dims dims = s.groups > 1 ? memory::dims{s.groups, w.size(0) / s.groups, w.size(1), w.size(2), w.size(3)}
                                     : memory::dims{w.size(0), w.size(1), w.size(2), w.size(3)};
    memory user({dims, memory::data_type::f32, s.groups > 1 ? Tag::goihw : Tag::oihw}, cpu_engine(), w.data_ptr());
    memory packed(md, cpu_engine());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(user, packed).execute(stream, user, packed);
    stream.wait();
    weights[layer].emplace_back(md, packed);
    return packed;
}

LayerPlan FusedBackbone::Impl::build_layer(std::size_t i, const memory::desc& src, int64_t& h, int64_t& w,
                                           const memory::desc* sum_dst, bool last, Plan& plan) {
    const ConvSpec& s = specs[i];
    const int64_t n = src.dims()[0], out_c = s.weight.size(0), k = s.weight.size(2);
    const auto ph = same_padding(h, static_cast<int>(k), s.stride), pw = same_padding(w, static_cast<int>(k), s.stride);
    h = (h + ph[0] + ph[1] - k) / s.stride + 1;
    w = (w + pw[0] + pw[1] - k) / s.stride + 1;
    const memory::dims wdims = s.groups > 1 ? memory::dims{s.groups, out_c / s.groups, s.weight.size(1), k, k}
                                            : memory::dims{out_c, s.weight.size(1), k, k};
    memory::desc dst = sum_dst ? *sum_dst
                       : last  ? memory::desc({n, out_c, h, w}, memory::data_type::f32, Tag::nhwc)
                               : memory::desc({n, out_c, h, w}, act, Tag::any);
    dnnl::post_ops ops;
    if (s.relu6) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
    if (sum_dst) ops.append_sum(1.0f);  // dst already holds the block input: dst += conv(src)
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
        memory::desc(wdims, act, Tag::any), memory::desc({out_c}, memory::data_type::f32, Tag::x), dst,
        {s.stride, s.stride}, {ph[0], pw[0]}, {ph[1], pw[1]});
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
    LayerPlan layer;
    layer.conv = dnnl::convolution_forward(pd);
    layer.src = pd.src_desc();
    layer.dst = pd.dst_desc();
    layer.weights = weights_for(i, pd.weights_desc());
    plan.scratch_bytes = std::max(plan.scratch_bytes, pd.scratchpad_desc().get_size());
    if (!last) plan.buffer_bytes = std::max(plan.buffer_bytes, layer.dst.get_size());
    return layer;
}

std::unique_ptr<Plan> FusedBackbone::Impl::build(int64_t n, int64_t h, int64_t w) {
    auto plan = std::make_unique<Plan>();
    plan->input_md = memory::desc({n, 3, h, w}, memory::data_type::f32, Tag::nhwc);
    memory::desc cur = plan->input_md;
    int cur_buffer = kInput, block_in = kInput;
    memory::desc block_in_md;
    if (act != memory::data_type::f32) {  // the stem reads activations in the compute type
        plan->act_input_md = memory::desc({n, 3, h, w}, act, Tag::nhwc);
        plan->to_act = dnnl::reorder(
            dnnl::reorder::primitive_desc(cpu_engine(), plan->input_md, cpu_engine(), plan->act_input_md));
        plan->buffer_bytes = plan->act_input_md.get_size();
        cur = plan->act_input_md;
        cur_buffer = 0;
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const ConvSpec& s = specs[i];
        const bool last = i + 1 == specs.size();
        if (s.block_start) block_in = cur_buffer, block_in_md = cur;
        if (s.residual && block_in == kInput) throw Error("fused backbone: a residual on the input");
        LayerPlan layer = build_layer(i, cur, h, w, s.residual ? &block_in_md : nullptr, last, *plan);
        if (layer.src != cur) throw Error(fmt::format("fused backbone: layer {} wants another input layout", i));
        layer.src_buffer = cur_buffer;
        layer.dst_buffer = last ? kOutput : s.residual ? block_in : free_buffer({cur_buffer, block_in});
        cur = layer.dst;
        cur_buffer = layer.dst_buffer;
        plan->layers.push_back(std::move(layer));
    }
    plan->out_h = h;
    plan->out_w = w;
    return plan;
}

Plan& FusedBackbone::Impl::plan_for(int64_t n, int64_t h, int64_t w) {
    const std::lock_guard lock(mutex);
    auto& plan = plans[{n, h, w}];
    if (!plan) plan = build(n, h, w);
    return *plan;
}

FusedBackbone::FusedBackbone(const MobileNetV2Impl& net, Precision precision) : impl_(std::make_unique<Impl>()) {
    if (!precision_supported(precision))
        throw ConfigError(fmt::format("precision {}: this CPU has no fast path for it", to_string(precision)));
    impl_->precision = precision;
    impl_->act = precision == Precision::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    impl_->specs = conv_specs(net);
    impl_->weights.resize(impl_->specs.size());
    for (auto& s : impl_->specs)
        impl_->biases.emplace_back(memory::desc({s.bias.size(0)}, memory::data_type::f32, Tag::x), cpu_engine(),
                                   s.bias.data_ptr());
}

FusedBackbone::~FusedBackbone() = default;

Precision FusedBackbone::precision() const { return impl_->precision; }

torch::Tensor FusedBackbone::forward(const torch::Tensor& x_in) {
    if (x_in.dim() != 4 || x_in.size(1) != 3)
        throw Error(fmt::format("MobileNetV2 expects a [N, 3, H, W] batch, got {}", fmt::join(x_in.sizes(), "x")));
    const torch::Tensor x = x_in.to(torch::kFloat32).contiguous(at::MemoryFormat::ChannelsLast);
    const int64_t n = x.size(0);
    Plan& plan = impl_->plan_for(n, x.size(2), x.size(3));

    std::unique_ptr<Workspace> ws;
    {
        const std::lock_guard lock(impl_->mutex);
        if (!impl_->idle.empty()) ws = std::move(impl_->idle.back()), impl_->idle.pop_back();
    }
    if (!ws) ws = std::make_unique<Workspace>();
    ws->reserve(plan);
    auto out = torch::empty({n, kMobileNetV2Features, plan.out_h, plan.out_w},
                            x.options().memory_format(at::MemoryFormat::ChannelsLast));
    const auto data = [&](int buffer) -> void* {
        if (buffer == kInput) return x.data_ptr();
        if (buffer == kOutput) return out.data_ptr();
        return ws->buffers[static_cast<std::size_t>(buffer)].data_ptr();
    };
    auto& engine = cpu_engine();
    dnnl::stream stream(engine);
    const memory scratch(memory::desc({static_cast<int64_t>(plan.scratch_bytes)}, memory::data_type::u8, Tag::x), engine,
                         ws->scratch.data_ptr());
    if (plan.to_act)
        plan.to_act->execute(stream, {{DNNL_ARG_FROM, memory(plan.input_md, engine, x.data_ptr())},
                                      {DNNL_ARG_TO, memory(plan.act_input_md, engine, data(0))}});
    for (std::size_t i = 0; i < plan.layers.size(); ++i) {
        const LayerPlan& l = plan.layers[i];
        l.conv.execute(stream, {{DNNL_ARG_SRC, memory(l.src, engine, data(l.src_buffer))},
                                {DNNL_ARG_WEIGHTS, l.weights},
                                {DNNL_ARG_BIAS, impl_->biases[i]},
                                {DNNL_ARG_DST, memory(l.dst, engine, data(l.dst_buffer))},
                                {DNNL_ARG_SCRATCHPAD, scratch}});
    }
    stream.wait();
    const std::lock_guard lock(impl_->mutex);
    impl_->idle.push_back(std::move(ws));
    return out;
}

}  // namespace maskctl
