#include "maskctl/model/tflite.hpp"

#include <cstring>
#include <numeric>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "tflite_schema_generated.h"

namespace maskctl {
namespace {

namespace tfl = tflite_min;

// BuiltinOperator codes (official schema values).
enum Op : int {
    kAdd = 0,
    kAveragePool2D = 1,
    kConv2D = 3,
    kDepthwiseConv2D = 4,
    kDequantize = 6,
    kFullyConnected = 9,
    kReshape = 22,
    kSoftmax = 25,
    kSqueeze = 43,
    kMean = 40,
    kQuantize = 114,
};

// TensorType codes (official schema values).
enum Type : int { kFloat32 = 0, kInt32 = 2, kUInt8 = 3, kInt8 = 9 };

std::string op_name(int code) {
    switch (code) {
        case kAdd: return "ADD";
        case kAveragePool2D: return "AVERAGE_POOL_2D";
        case kConv2D: return "CONV_2D";
        case kDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
        case kDequantize: return "DEQUANTIZE";
        case kFullyConnected: return "FULLY_CONNECTED";
        case kReshape: return "RESHAPE";
        case kSoftmax: return "SOFTMAX";
        case kSqueeze: return "SQUEEZE";
        case kMean: return "MEAN";
        case kQuantize: return "QUANTIZE";
        default: return fmt::format("operator code {}", code);
    }
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& file) {
    std::vector<uint8_t> bytes;
    if (const FileProblem p = read_file(file, bytes); p != FileProblem::none)
        throw ModelFileError(fmt::format("{}: weights file {}", file.string(), describe(p)));
    return bytes;
}

// One conv layer of the MobileNetV2 we build, as the TFLite graph must contain it.
struct ExpectedConv {
    std::string name;
    SameConvImpl* module;
    bool depthwise;
    bool block_start;  // first conv of an inverted residual: its input feeds the residual ADD
    bool add_after;    // the block's residual ADD follows this (projection) conv
};

std::vector<ExpectedConv> expected_convs(MobileNetV2Impl& net) {
    std::vector<ExpectedConv> out{{"stem", net.stem.get(), false, false, false}};
    for (int i = 0; i < kMobileNetV2Blocks; ++i) {
        auto* block = net.blocks[i]->as<InvertedResidualImpl>();
        const std::string prefix = fmt::format("blocks.{}.", i);
        if (block->expand) out.push_back({prefix + "expand", block->expand.get(), false, true, false});
        out.push_back({prefix + "depthwise", block->depthwise.get(), true, !block->expand, false});
        out.push_back({prefix + "project", block->project.get(), false, false, block->residual});
    }
    out.push_back({"last_conv", net.last_conv.get(), false, false, false});
    return out;
}

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

// Walks the first subgraph of a verified TFLite model and fills a MobileNetV2 with its weights.
class Importer {
public:
    Importer(std::filesystem::path file, std::vector<uint8_t> bytes) : file_(std::move(file)), bytes_(std::move(bytes)) {
        verify();
    }

    TfliteMobileNetV2 run() {
        TfliteMobileNetV2 result;
        result.input_size = input_size();
        for (const auto& conv : expected_convs(*result.backbone)) load_conv(conv);
        result.classifier = read_tail();
        result.backbone->to_channels_last();
        result.quantization = fmt::format("{}", fmt::join(quantization_, ", "));
        return result;
    }

private:
    [[noreturn]] void fail(const std::string& problem) const {
        throw ModelFileError(fmt::format("{}: {}", file_.string(), problem));
    }
    [[noreturn]] void not_mobilenet(const std::string& problem) const {
        fail("not a MobileNetV2 1.0 TFLite model: " + problem);
    }

    void verify() {
        if (bytes_.size() < 8 || !tfl::ModelBufferHasIdentifier(bytes_.data()))
            fail("not a TFLite file (no \"TFL3\" identifier)");
        flatbuffers::Verifier verifier(bytes_.data(), bytes_.size());
        if (!tfl::VerifyModelBuffer(verifier)) fail("invalid TFLite flatbuffer (truncated or corrupt)");
        model_ = tfl::GetModel(bytes_.data());
        if (model_->version() != 3) fail(fmt::format("TFLite schema version {}, expected 3", model_->version()));
        if (!model_->subgraphs() || model_->subgraphs()->size() == 0 || !model_->operator_codes() || !model_->buffers())
            fail("the TFLite model has no subgraph, operator codes or buffers");
        graph_ = model_->subgraphs()->Get(0);
        if (!graph_->tensors() || !graph_->operators() || !graph_->inputs() || graph_->inputs()->size() != 1)
            not_mobilenet("the graph must have tensors, operators and exactly one input");
    }

    int input_size() {
        const auto s = shape(tensor(graph_->inputs()->Get(0)));
        if (s.size() != 4 || s[0] != 1 || s[1] != s[2] || s[3] != 3)
            not_mobilenet(fmt::format("input shape {}, expected [1,S,S,3]", shape_str(s)));
        current_ = graph_->inputs()->Get(0);
        return static_cast<int>(s[1]);
    }

    const tfl::Tensor* tensor(int index) const {
        if (index < 0 || static_cast<uint32_t>(index) >= graph_->tensors()->size())
            fail(fmt::format("tensor index {} out of range", index));
        return graph_->tensors()->Get(static_cast<uint32_t>(index));
    }

    static std::vector<int64_t> shape(const tfl::Tensor* t) {
        std::vector<int64_t> out;
        if (t->shape())
            for (int d : *t->shape()) out.push_back(d);
        return out;
    }

    int opcode(const tfl::Operator* op) const {
        if (op->opcode_index() >= model_->operator_codes()->size())
            fail(fmt::format("operator code index {} out of range", op->opcode_index()));
        const auto* code = model_->operator_codes()->Get(op->opcode_index());
        // Newer files keep the code in builtin_code and a saturated copy in the deprecated byte.
        return std::max<int>(code->deprecated_builtin_code(), code->builtin_code());
    }

    int input(const tfl::Operator* op, uint32_t i) const {
        if (!op->inputs() || op->inputs()->size() <= i) fail(fmt::format("operator {} lacks input {}", op_index_, i));
        return op->inputs()->Get(i);
    }
    int output(const tfl::Operator* op) const {
        if (!op->outputs() || op->outputs()->size() != 1) fail(fmt::format("operator {} needs one output", op_index_));
        return op->outputs()->Get(0);
    }

    // Next operator that does real work; (de)quantize ops on the main path are followed through.
    const tfl::Operator* next_op() {
        const auto& ops = *graph_->operators();
        while (op_index_ < ops.size()) {
            const auto* op = ops.Get(op_index_++);
            const int code = opcode(op);
            if ((code == kQuantize || code == kDequantize) && input(op, 0) == current_) {
                current_ = output(op);
                continue;
            }
            return op;
        }
        return nullptr;
    }

    const tfl::Operator* expect_op(const std::string& what) {
        const auto* op = next_op();
        if (!op) not_mobilenet(fmt::format("the graph ends after {} operators, expected {}", op_index_, what));
        return op;
    }

    std::vector<uint8_t> data(const tfl::Tensor* t) const {
        const auto* buffers = model_->buffers();
        if (t->buffer() >= buffers->size() || !buffers->Get(t->buffer())->data())
            fail(fmt::format("constant tensor \"{}\" has no data", t->name() ? t->name()->str() : "?"));
        const auto* d = buffers->Get(t->buffer())->data();
        return {d->begin(), d->end()};
    }

    std::vector<float> scales(const tfl::Tensor* t) const {
        const auto* q = t->quantization();
        if (!q || !q->scale() || q->scale()->size() == 0) return {};
        return {q->scale()->begin(), q->scale()->end()};
    }

    // Dequantized weights in the file's layout; per-channel along the tensor's quantized_dimension.
    torch::Tensor weights(const tfl::Tensor* t, const std::string& name) {
        const auto s = shape(t);
        const int64_t numel = std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>());
        auto raw = data(t);
        const int type = t->type();
        const size_t elem = type == kFloat32 ? 4 : 1;
        if (raw.size() != static_cast<size_t>(numel) * elem)
            fail(fmt::format("{}: weight data is {} bytes, shape {} needs {}", name, raw.size(), shape_str(s), numel * elem));
        if (type == kFloat32) {
            note_quantization("float32");
            auto out = torch::empty(s, torch::kFloat32);
            std::memcpy(out.data_ptr<float>(), raw.data(), raw.size());
            return out;
        }
        if (type != kInt8 && type != kUInt8)
            fail(fmt::format("{}: weight type {} is not float32, int8 or uint8", name, type));
        return dequantize(t, s, raw, name);
    }

    // (q - zero_point) * scale, with one scale for the tensor or one per channel.
    torch::Tensor dequantize(const tfl::Tensor* t, const std::vector<int64_t>& s, std::vector<uint8_t>& raw,
                             const std::string& name) {
        const auto* q = t->quantization();
        const auto sc = scales(t);
        if (sc.empty() || !q->zero_point() || q->zero_point()->size() != sc.size())
            fail(fmt::format("{}: quantized weights without matching scales and zero points", name));
        const int dim = q->quantized_dimension();
        if (sc.size() != 1 && (dim < 0 || dim >= static_cast<int>(s.size()) || s[dim] != static_cast<int64_t>(sc.size())))
            fail(fmt::format("{}: {} scales do not match dimension {} of shape {}", name, sc.size(), dim, shape_str(s)));
        const bool int8 = t->type() == kInt8;
        note_quantization(fmt::format("{} {}", int8 ? "int8" : "uint8", sc.size() == 1 ? "per-tensor" : "per-channel"));
        auto q_values = torch::from_blob(raw.data(), s, int8 ? torch::kInt8 : torch::kUInt8).to(torch::kFloat32);
        std::vector<int64_t> bshape(s.size(), 1);
        if (sc.size() != 1) bshape[dim] = s[dim];
        auto scale = torch::tensor(sc, torch::kFloat32).view(bshape);
        std::vector<float> zp(q->zero_point()->begin(), q->zero_point()->end());
        auto zero = torch::tensor(zp, torch::kFloat32).view(bshape);
        return (q_values - zero) * scale;
    }

    // int32 biases are quantized with input_scale * weight_scale (TFLite's convention).
    torch::Tensor bias(const tfl::Tensor* b, const tfl::Tensor* in, const tfl::Tensor* w, const std::string& name) {
        const auto s = shape(b);
        auto raw = data(b);
        const int64_t n = s.empty() ? 0 : s[0];
        if (s.size() != 1 || raw.size() != static_cast<size_t>(n) * 4)
            fail(fmt::format("{}: bias shape {} with {} bytes of data", name, shape_str(s), raw.size()));
        auto out = torch::empty({n}, b->type() == kInt32 ? torch::kInt32 : torch::kFloat32);
        std::memcpy(out.data_ptr(), raw.data(), raw.size());
        if (b->type() == kFloat32) return out;
        if (b->type() != kInt32) fail(fmt::format("{}: bias type {} is not float32 or int32", name, b->type()));
        const auto in_scale = scales(in);
        auto w_scale = scales(w);
        torch::Tensor scale;
        if (in_scale.size() == 1 && (w_scale.size() == 1 || static_cast<int64_t>(w_scale.size()) == n))
            scale = torch::tensor(w_scale, torch::kFloat32) * in_scale[0];
        else if (const auto own = scales(b); own.size() == 1 || static_cast<int64_t>(own.size()) == n)
            scale = torch::tensor(own, torch::kFloat32);
        else
            fail(fmt::format("{}: int32 bias without usable scales", name));
        return out.to(torch::kFloat32) * scale;
    }

    void note_quantization(const std::string& kind) { quantization_.insert(kind); }

    template <class Options>
    void check_options(const Options* o, const ExpectedConv& e, const std::string& got) {
        const auto& m = *e.module;
        const int act = m.relu6 ? tfl::ActivationFunctionType_RELU6 : tfl::ActivationFunctionType_NONE;
        // 1x1 stride-1 convs pad nothing either way, so only larger kernels must say SAME.
        if (!o) not_mobilenet(fmt::format("operator {} ({}): {} without options", op_index_ - 1, e.name, got));
        const bool padding_ok = m.kernel == 1 || o->padding() == tfl::Padding_SAME;
        if (o->stride_h() != m.stride || o->stride_w() != m.stride || !padding_ok ||
            o->fused_activation_function() != act || o->dilation_h_factor() != 1 || o->dilation_w_factor() != 1)
            not_mobilenet(fmt::format("operator {} ({}): {} options differ: expected stride {}, SAME padding, {}",
                                      op_index_ - 1, e.name, got, m.stride, m.relu6 ? "ReLU6" : "no activation"));
    }

    // The next operator must be the conv `e` describes: type, weight shape, options, input.
    const tfl::Operator* expect_conv(const ExpectedConv& e) {
        const auto& conv = *e.module->conv;
        const int64_t out_c = conv.weight.size(0), in_c = conv.options.in_channels(), k = e.module->kernel;
        const std::vector<int64_t> want = e.depthwise ? std::vector<int64_t>{1, k, k, out_c}
                                                      : std::vector<int64_t>{out_c, k, k, in_c};
        const std::string want_desc = fmt::format("{} {}x{} stride {} with weights {}",
                                                  e.depthwise ? "DEPTHWISE_CONV_2D" : "CONV_2D", k, k,
                                                  e.module->stride, shape_str(want));
        const auto* op = expect_op(e.name + " (" + want_desc + ")");
        const int code = opcode(op);
        const auto* w = tensor(input(op, 1));
        if (code != (e.depthwise ? kDepthwiseConv2D : kConv2D) || shape(w) != want)
            not_mobilenet(fmt::format("operator {} is {} with weights {}, expected {} ({})", op_index_ - 1,
                                      op_name(code), shape_str(shape(w)), e.name, want_desc));
        if (e.depthwise) {
            const auto* o = op->builtin_options_as_DepthwiseConv2DOptions();
            check_options(o, e, "DEPTHWISE_CONV_2D");
            if (o->depth_multiplier() != 1) not_mobilenet(fmt::format("{}: depth multiplier {}", e.name, o->depth_multiplier()));
        } else {
            check_options(op->builtin_options_as_Conv2DOptions(), e, "CONV_2D");
        }
        if (input(op, 0) != current_)
            not_mobilenet(fmt::format("operator {} ({}) does not take the previous layer's output", op_index_ - 1, e.name));
        return op;
    }

    void load_conv(const ExpectedConv& e) {
        const auto* op = expect_conv(e);
        const int in = input(op, 0);
        if (e.block_start) block_input_ = in;
        const auto* w = tensor(input(op, 1));
        auto weight = weights(w, e.name + ".weight");
        // OHWI -> OIHW; depthwise 1HWC -> C1HW.
        weight = e.depthwise ? weight.permute({3, 0, 1, 2}) : weight.permute({0, 3, 1, 2});
        auto b = bias(tensor(input(op, 2)), tensor(in), w, e.name + ".bias");
        const int64_t out_c = e.module->conv->weight.size(0);
        if (b.size(0) != out_c) not_mobilenet(fmt::format("{}: bias has {} values, expected {}", e.name, b.size(0), out_c));
        torch::NoGradGuard no_grad;
        e.module->conv->weight.copy_(weight);
        e.module->conv->bias.copy_(b);
        current_ = output(op);
        if (e.add_after) read_residual_add(e);
    }

    void read_residual_add(const ExpectedConv& e) {
        const int block_in = block_input_;
        const auto* op = expect_op(e.name + " residual ADD");
        const auto* o = op->builtin_options_as_AddOptions();
        const std::set<int> ins{input(op, 0), input(op, 1)};
        if (opcode(op) != kAdd || ins != std::set<int>{current_, block_in} ||
            (o && o->fused_activation_function() != tfl::ActivationFunctionType_NONE))
            not_mobilenet(fmt::format("operator {} is {}, expected the residual ADD of {}", op_index_ - 1,
                                      op_name(opcode(op)), e.name.substr(0, e.name.size() - 8)));
        current_ = output(op);
    }

    // After the 1280-channel conv: optional global pooling and 1x1-conv or dense classifier.
    torch::nn::Linear read_tail() {
        const auto* pool = next_op();
        if (!pool) return nullptr;
        const int code = opcode(pool);
        if ((code != kMean && code != kAveragePool2D) || input(pool, 0) != current_)
            not_mobilenet(fmt::format("operator {} is {}, expected global pooling (MEAN or AVERAGE_POOL_2D)",
                                      op_index_ - 1, op_name(code)));
        current_ = output(pool);
        const auto pooled = shape(tensor(current_));
        if (std::accumulate(pooled.begin(), pooled.end(), int64_t{1}, std::multiplies<>()) != kMobileNetV2Features)
            not_mobilenet(fmt::format("pooling gives shape {}, expected {} features", shape_str(pooled),
                                      kMobileNetV2Features));
        const auto* op = next_op();
        while (op && opcode(op) == kReshape && input(op, 0) == current_) {  // flatten before a dense layer
            current_ = output(op);
            op = next_op();
        }
        if (!op) return nullptr;
        const int cls = opcode(op);
        const auto* w = tensor(input(op, 1));
        auto s = shape(w);
        const bool conv_ok = cls == kConv2D && s.size() == 4 && s[1] == 1 && s[2] == 1 && s[3] == kMobileNetV2Features;
        const bool dense_ok = cls == kFullyConnected && s.size() == 2 && s[1] == kMobileNetV2Features;
        if ((!conv_ok && !dense_ok) || input(op, 0) != current_)
            not_mobilenet(fmt::format("operator {} is {} with weights {}, expected the classifier (1x1 conv or dense "
                                      "from {} features)", op_index_ - 1, op_name(cls), shape_str(s),
                                      kMobileNetV2Features));
        auto weight = weights(w, "classifier.weight").reshape({s[0], kMobileNetV2Features});
        auto b = bias(tensor(input(op, 2)), tensor(input(op, 0)), w, "classifier.bias");
        current_ = output(op);
        check_rest();
        torch::nn::Linear linear(kMobileNetV2Features, s[0]);
        torch::NoGradGuard no_grad;
        linear->weight.copy_(weight);
        linear->bias.copy_(b);
        for (auto& p : linear->parameters()) p.set_requires_grad(false);
        return linear;
    }

    void check_rest() {
        while (const auto* op = next_op()) {
            const int code = opcode(op);
            if ((code != kReshape && code != kSqueeze && code != kSoftmax) || input(op, 0) != current_)
                not_mobilenet(fmt::format("unexpected {} (operator {}) after the classifier", op_name(code), op_index_ - 1));
            current_ = output(op);
        }
    }

    std::filesystem::path file_;
    std::vector<uint8_t> bytes_;
    const tfl::Model* model_ = nullptr;
    const tfl::SubGraph* graph_ = nullptr;
    uint32_t op_index_ = 0;
    int current_ = -1;               // tensor that carries the activations so far
    int block_input_ = -1;            // input of the block being read (for its residual ADD)
    std::set<std::string> quantization_;
};

}  // namespace

TfliteMobileNetV2 import_tflite_mobilenetv2(const std::filesystem::path& file) {
    return Importer(file, read_bytes(file)).run();
}

Classifier imagenet_classifier(const ModelConfig& model, int num_classes) {
    Classifier classifier(model, num_classes);
    load_tflite_backbone(classifier->backbone, model.backbone.weights);
    return classifier;
}

TfliteMobileNetV2 import_tflite_mobilenetv2(std::vector<uint8_t> bytes, const std::filesystem::path& name) {
    return Importer(name, std::move(bytes)).run();
}

void load_tflite_backbone(MobileNetV2& backbone, const std::filesystem::path& file) {
    auto imported = import_tflite_mobilenetv2(file);
    torch::NoGradGuard no_grad;
    auto src = imported.backbone->named_parameters();
    for (auto& p : backbone->named_parameters()) p.value().copy_(src[p.key()]);
}

}  // namespace maskctl
