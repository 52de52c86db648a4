// MobileNetV2 + head: shapes for several input sizes, freezing, head options.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "maskctl/model/classifier.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/model/tflite.hpp"
#include "test_helpers.hpp"

using namespace maskctl;
using Catch::Matchers::Contains;

namespace {

ModelConfig model_config(int input_size, int pool_size = 7, int trainable_blocks = 0) {
    ModelConfig m;
    m.input_size = input_size;
    m.head.pool_size = pool_size;
    m.backbone.trainable_blocks = trainable_blocks;
    return m;
}

torch::Tensor images(int n, int size) { return torch::rand({n, 3, size, size}) * 2 - 1; }

}  // namespace

TEST_CASE("MobileNetV2 has the paper's 17 blocks and feature map sizes", "[model]") {
    MobileNetV2 net;
    REQUIRE(net->blocks->size() == 17);
    auto params = net->named_parameters();
    CHECK(params["stem.conv.weight"].sizes() == torch::IntArrayRef{32, 3, 3, 3});
    CHECK(params["blocks.0.depthwise.conv.weight"].sizes() == torch::IntArrayRef{32, 1, 3, 3});
    CHECK(params.find("blocks.0.expand.conv.weight") == nullptr);  // t = 1: no expansion
    CHECK(params["blocks.1.expand.conv.weight"].sizes() == torch::IntArrayRef{96, 16, 1, 1});
    CHECK(params["blocks.16.project.conv.weight"].sizes() == torch::IntArrayRef{320, 960, 1, 1});
    CHECK(params["last_conv.conv.weight"].sizes() == torch::IntArrayRef{1280, 320, 1, 1});
    // Residuals exactly where stride is 1 and channels are unchanged.
    int residuals = 0;
    for (int i = 0; i < 17; ++i) residuals += net->blocks[i]->as<InvertedResidualImpl>()->residual ? 1 : 0;
    CHECK(residuals == 10);

    CHECK(mobilenetv2_feature_size(224) == 7);
    CHECK(mobilenetv2_feature_size(256) == 8);
    CHECK(mobilenetv2_feature_size(96) == 3);
    CHECK(mobilenetv2_feature_size(100) == 4);  // odd sizes round up at every stride-2 layer
    c10::InferenceMode guard;
    CHECK(net->forward(images(1, 100)).sizes() == torch::IntArrayRef{1, 1280, 4, 4});
}

TEST_CASE("classifier output shapes for 224 and 256 inputs", "[model]") {
    const int size = GENERATE(224, 256);
    const int pool = GENERATE(7, 0);
    INFO("input " << size << ", pool_size " << pool);
    Classifier model(model_config(size, pool), 3);
    auto features = [&] {
        c10::InferenceMode guard;
        return model->backbone->forward(images(2, size));
    }();
    CHECK(features.sizes() == torch::IntArrayRef{2, 1280, size / 32, size / 32});
    // Keras' AveragePooling2D(7) on 8x8 gives 1x1, so the head's input width is 1280 either way.
    CHECK(model->head->hidden->weight.sizes() == torch::IntArrayRef{128, 1280});
    auto logits = model->forward(images(2, size));
    CHECK(logits.sizes() == torch::IntArrayRef{2, 3});
    auto probs = model->predict(images(2, size));
    CHECK(torch::allclose(probs.sum(1), torch::ones({2}), 1e-5, 1e-6));
    CHECK(model->is_training());  // predict restores the mode
}

TEST_CASE("head options: max pooling, no hidden layer, 2x2 pooled cells at 512", "[model]") {
    ModelConfig m = model_config(512, 7);
    m.head.pool = Pool::max;
    m.head.hidden_units = 0;
    Classifier model(m, 2);
    CHECK_FALSE(model->head->hidden);
    CHECK(model->head->out->weight.sizes() == torch::IntArrayRef{2, 4 * 1280});  // 16x16 map -> 2x2 cells
    c10::InferenceMode guard;
    model->eval();
    CHECK(model->forward(images(1, 512)).sizes() == torch::IntArrayRef{1, 2});
}

TEST_CASE("head and input size errors name the key and the fix", "[model]") {
    REQUIRE_THROWS_MATCHES(Classifier(model_config(96, 7), 2), ConfigError,
                           Catch::Matchers::Message("model.head.pool_size 7 does not fit the 3x3 feature map of "
                                                    "model.input_size 96 (needs input_size >= 193); use pool_size 0 "
                                                    "for global pooling"));
    CHECK_NOTHROW(Classifier(model_config(96, 0), 2));
    CHECK_THROWS_MATCHES(Classifier(model_config(64, 0), 2), ConfigError, Catch::Matchers::Message(
                             "model.input_size is 64, expected 96..512"));
    CHECK_THROWS_MATCHES(Classifier(model_config(224, 7, 18), 2), ConfigError,
                         Catch::Matchers::Message("model.backbone.trainable_blocks is 18, expected 0..17"));
    Classifier model(model_config(224), 2);
    CHECK_THROWS_WITH(model->forward(images(1, 256)), Contains("[N, 3, 224, 224]"));
}

TEST_CASE("frozen backbone: an optimizer step changes the head only", "[model]") {
    torch::manual_seed(7);
    const int trainable = GENERATE(0, 2);
    INFO("trainable_blocks " << trainable);
    Classifier model(model_config(224, 7, trainable), 2);
    // Snapshot every parameter, then take one Adam step over *all* of them (as a careless caller
    // might): frozen ones have no gradient and must not move.
    std::map<std::string, torch::Tensor> before;
    for (const auto& p : model->named_parameters()) before[p.key()] = p.value().detach().clone();
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    auto logits = model->forward(images(2, 224));
    if (trainable == 0) CHECK_FALSE(model->backbone->forward(images(1, 224)).requires_grad());  // no graph kept
    torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1})).backward();
    opt.step();

    for (const auto& p : model->named_parameters()) {
        const std::string& name = p.key();
        const bool changed = !torch::equal(before[name], p.value());
        const bool in_unfrozen_block = name.rfind("backbone.blocks.15.", 0) == 0 ||
                                       name.rfind("backbone.blocks.16.", 0) == 0 ||
                                       name.rfind("backbone.last_conv.", 0) == 0;
        const bool should_train = name.rfind("head.", 0) == 0 || (trainable == 2 && in_unfrozen_block);
        INFO(name);
        CHECK(changed == should_train);
        CHECK(p.value().requires_grad() == should_train);
    }
    CHECK(model->trainable_parameters().size() == (trainable == 0 ? 4u : 4u + 2 * 3 * 2 + 2));
}

TEST_CASE("the fused oneDNN backbone gives the eager features on ImageNet weights", "[model][fused]") {
    MobileNetV2 net;
    load_tflite_backbone(net, test::shared_dir() / "models/imagenet/tf2_mobilenet_v2_1.0_224_ptq.tflite");
    net->eval();
    const int threads = torch::get_num_threads();
    torch::set_num_threads(2);
    c10::InferenceMode inference;
    // 3 images: two uneven streams; 97: odd sizes pad symmetrically, 224 (even) pads after only.
    const int size = GENERATE(224, 97);
    const int batch = GENERATE(1, 3);
    INFO("batch " << batch << ", size " << size);
    const auto x = images(batch, size);
    net->fused = false;
    const auto eager = net->forward(x);
    net->fused = true;
    const auto fused = net->forward(x);
    const auto again = net->forward(x);  // the second call reuses the plan and buffers
    torch::set_num_threads(threads);
    REQUIRE(fused.sizes() == eager.sizes());
    CHECK(eager.abs().mean().item<double>() > 0.1);
    // ReLU6 features in [0, 6]: float rounding in a different order stays far below 1e-3.
    CHECK((fused - eager).abs().max().item<double>() < 1e-3);
    CHECK(torch::equal(fused, again));
}

TEST_CASE("the fused backbone follows weight changes and runs bf16 within bf16 rounding", "[model][fused]") {
    MobileNetV2 net;
    net->eval();
    c10::InferenceMode inference;
    const auto x = images(2, 96);
    const auto before = net->forward(x);
    {
        torch::NoGradGuard no_grad;
        net->last_conv->conv->bias.add_(1.0);  // in place: the fused copy must notice
    }
    net->fused = false;
    const auto eager = net->forward(x);
    net->fused = true;
    const auto fused = net->forward(x);
    CHECK((fused - before).abs().max().item<double>() > 0.5);
    CHECK((fused - eager).abs().max().item<double>() < 1e-3);
    if (precision_supported(Precision::bf16)) {
        net->precision = Precision::bf16;
        const auto bf16 = net->forward(x);
        CHECK((bf16 - eager).abs().max().item<double>() > 0);  // really another path
        CHECK((bf16 - eager).abs().mean().item<double>() < 0.05 * eager.abs().mean().item<double>() + 1e-3);
    }
    CHECK_THROWS_WITH(precision_from_string("int4"), Contains("float, bf16"));
}
