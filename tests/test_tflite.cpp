// TFLite import: the imported weights are the ImageNet MobileNetV2, and bad files are refused.
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/model/imagenet.hpp"
#include "maskctl/data/preprocess.hpp"
#include "maskctl/model/tflite.hpp"
#include "test_helpers.hpp"

#include <sys/wait.h>

using namespace maskctl;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

fs::path imagenet_dir() { return test::shared_dir() / "models" / "imagenet"; }

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("TFLite MobileNetV2 classifies the ImageNet reference photos", "[model][tflite]") {
    const auto file = GENERATE(as<std::string>{}, "tf2_mobilenet_v2_1.0_224_ptq.tflite",
                               "mobilenet_v2_1.0_224_quant.tflite");
    INFO(file);
    auto net = import_tflite_mobilenetv2(imagenet_dir() / file);
    REQUIRE(net.input_size == 224);
    REQUIRE(net.classifier);
    CHECK(net.classifier->weight.sizes() == torch::IntArrayRef{1001, 1280});
    CHECK(net.quantization == (file[0] == 't' ? "int8 per-channel" : "uint8 per-tensor"));

    const auto labels = read_imagenet_labels(imagenet_dir() / "imagenet_labels.txt");
    REQUIRE(labels.size() == 1001);
    const std::vector<std::string> photos{"grace_hopper.bmp", "cat.bmp", "parrot.jpg", "bird.bmp",
                                          "hot_dog.jpg", "owl.jpg", "dragonfly.bmp"};
    Preprocess pre;
    std::vector<cv::Mat> images;
    for (const auto& p : photos) images.push_back(resize_for_model(decode_image(imagenet_dir() / p), pre));
    const auto probs = imagenet_probabilities(net, to_batch(images, pre));
    REQUIRE(probs.sizes() == torch::IntArrayRef{7, 1001});
    for (size_t i = 0; i < photos.size(); ++i) {
        const int top1 = top_k(probs[static_cast<int64_t>(i)], 1).classes[0];
        const auto expected = reference_labels(fs::path(photos[i]).stem().string());
        INFO(photos[i] << " -> " << labels[static_cast<size_t>(top1)]);
        CHECK(std::find(expected.begin(), expected.end(), short_label(labels[static_cast<size_t>(top1)])) !=
              expected.end());
    }
    // Confident, not lucky: the unambiguous photos win by a wide margin.
    CHECK(probs[0][653].item<float>() > 0.5f);  // grace_hopper: military uniform
    CHECK(probs[2][89].item<float>() > 0.5f);   // parrot: macaw
}

TEST_CASE("both TFLite files give nearly the same float backbone", "[model][tflite]") {
    auto a = import_tflite_mobilenetv2(imagenet_dir() / "tf2_mobilenet_v2_1.0_224_ptq.tflite");
    auto b = import_tflite_mobilenetv2(imagenet_dir() / "mobilenet_v2_1.0_224_quant.tflite");
    // Same architecture, different trainings: parameters line up one to one by name and shape.
    auto pa = a.backbone->named_parameters();
    auto pb = b.backbone->named_parameters();
    REQUIRE(pa.size() == pb.size());
    REQUIRE(pa.size() == 2 * (1 + 17 * 3 - 1 + 1));  // stem, 3 convs per block (2 in the first), last conv
    for (const auto& p : pa) CHECK(pb[p.key()].sizes() == p.value().sizes());
    // Imported weights are frozen and channels-last (the fast layout for depthwise convs).
    for (const auto& p : pa) {
        CHECK_FALSE(p.value().requires_grad());
        if (p.value().dim() == 4) CHECK(p.value().is_contiguous(at::MemoryFormat::ChannelsLast));
    }
}

TEST_CASE("TFLite 'SAME' padding is asymmetric only where TensorFlow makes it so", "[model][tflite]") {
    CHECK(same_padding(224, 3, 2) == std::array<int64_t, 2>{0, 1});
    CHECK(same_padding(7, 3, 2) == std::array<int64_t, 2>{1, 1});
    CHECK(same_padding(56, 3, 1) == std::array<int64_t, 2>{1, 1});
    CHECK(same_padding(14, 1, 1) == std::array<int64_t, 2>{0, 0});

    // A stride-2 conv on an even input must see rows/cols 0..2 first, not a zero row before them;
    // on an odd input it pads one on each side. Values and gradients equal explicit pad + conv.
    const int size = GENERATE(8, 9);
    const int groups = GENERATE(1, 4);
    INFO("size " << size << ", groups " << groups);
    torch::manual_seed(1);
    SameConv conv(4, 4, 3, 2, groups, true);
    auto x = torch::randn({2, 4, size, size}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(true);
    const auto pad = same_padding(size, 3, 2);
    auto expected = torch::hardtanh(torch::conv2d(torch::constant_pad_nd(x, {pad[0], pad[1], pad[0], pad[1]}),
                                                  conv->conv->weight, conv->conv->bias, torch::IntArrayRef{2, 2},
                                                  torch::IntArrayRef{0, 0}, torch::IntArrayRef{1, 1}, groups),
                                    0.0, 6.0);
    auto got = conv->forward(x);
    REQUIRE(got.sizes() == torch::IntArrayRef{2, 4, (size + 1) / 2, (size + 1) / 2});
    CHECK(torch::allclose(got, expected, 1e-5, 1e-6));
    auto grads = [&](const torch::Tensor& y) {
        return torch::autograd::grad({(y * y).sum()}, {x, conv->conv->weight}, {}, /*retain_graph=*/true);
    };
    const auto g_got = grads(got);
    const auto g_expected = grads(expected);
    CHECK(torch::allclose(g_got[0], g_expected[0], 1e-4, 1e-5));
    CHECK(torch::allclose(g_got[1], g_expected[1], 1e-4, 1e-5));
}

TEST_CASE("TFLite import refuses files that are not MobileNetV2", "[model][tflite]") {
    test::TempDir dir;
    const auto good = imagenet_dir() / "tf2_mobilenet_v2_1.0_224_ptq.tflite";
    const auto bytes = read_bytes(good);
    auto require_error = [](const fs::path& file, const std::string& problem) {
        REQUIRE_THROWS_MATCHES(import_tflite_mobilenetv2(file), ModelFileError,
                               Catch::Matchers::Predicate<ModelFileError>([&](const ModelFileError& e) {
                                   const std::string what = e.what();
                                   return what.find(file.string()) != std::string::npos &&
                                          what.find(problem) != std::string::npos &&
                                          what.find('\n') == std::string::npos;
                               }, "one line naming " + file.string() + " and '" + problem + "'"));
    };

    SECTION("missing file") { require_error(dir / "nope.tflite", "not found"); }
    SECTION("a FIFO where the file should be: refused without opening it") {
        REQUIRE(::mkfifo((dir / "pipe.tflite").c_str(), 0644) == 0);
        require_error(dir / "pipe.tflite", "weights file is not a regular file");
    }
    SECTION("truncated file") {
        write_bytes(dir / "cut.tflite", bytes.substr(0, bytes.size() / 2));
        require_error(dir / "cut.tflite", "truncated or corrupt");
    }
    SECTION("not a TFLite file") { require_error(imagenet_dir() / "cat.bmp", "not a TFLite file"); }
    SECTION("a different network (stem with 16 filters)") {
        // The stem's weight shape [32,3,3,3] as little-endian int32s; 16 filters make another network.
        const std::string stem_shape("\x20\0\0\0\x03\0\0\0\x03\0\0\0\x03\0\0\0", 16);
        const auto at = bytes.find(stem_shape);
        REQUIRE(at != std::string::npos);
        REQUIRE(bytes.find(stem_shape, at + 1) == std::string::npos);
        auto patched = bytes;
        patched[at] = 16;
        write_bytes(dir / "other.tflite", patched);
        require_error(dir / "other.tflite", "not a MobileNetV2 1.0 TFLite model: operator 1 is CONV_2D with weights [16,3,3,3]");
    }
}

TEST_CASE("maskctl backbone check: exit 0 on ImageNet weights, 1 when labels are off, 2 on a bad file",
          "[model][tflite][cli]") {
    test::TempDir dir;
    auto run = [&](const std::string& args) { return test::run_cli("backbone check " + args, dir / "log.txt"); };
    const std::string weights = (imagenet_dir() / "mobilenet_v2_1.0_224_quant.tflite").string();

    auto [ok_code, ok_out] = run("--weights '" + weights + "'");
    INFO(ok_out);
    CHECK(ok_code == 0);
    CHECK_THAT(ok_out, Contains("7/7 reference photos right"));
    CHECK_THAT(ok_out, Contains("grace_hopper.bmp  OK"));

    // Labels shifted by one line: the network is fine but the answers read wrong, as with a
    // mismatched label file or a network that is off by a class.
    auto labels = read_imagenet_labels(imagenet_dir() / "imagenet_labels.txt");
    std::rotate(labels.begin(), labels.begin() + 1, labels.end());
    {
        std::ofstream out(dir / "shifted.txt");
        for (const auto& l : labels) out << l << "\n";
    }
    auto [bad_code, bad_out] = run("--weights '" + weights + "' --labels '" + (dir / "shifted.txt").string() +
                                   "' --images '" + (imagenet_dir() / "parrot.jpg").string() + "'");
    INFO(bad_out);
    CHECK(bad_code == 1);
    CHECK_THAT(bad_out, Contains("the network looks WRONG"));

    auto [err_code, err_out] = run("--weights '" + (imagenet_dir() / "cat.bmp").string() + "'");
    CHECK(err_code == 2);
    CHECK_THAT(err_out, Contains("not a TFLite file"));
}
