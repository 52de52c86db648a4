// Model files: bit-identical round trip, and one clear error per kind of damage.
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"
#include "test_helpers.hpp"

using namespace maskctl;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A small but real model: ImageNet backbone, random head, 256 input so the pool-7 rule is exercised.
Classifier make_model(ModelInfo& info) {
    torch::manual_seed(3);
    ModelConfig cfg;
    cfg.input_size = 256;
    cfg.backbone.trainable_blocks = 1;
    Classifier model(cfg, 2);
    load_tflite_backbone(model->backbone,
                         test::shared_dir() / "models" / "imagenet" / "tf2_mobilenet_v2_1.0_224_ptq.tflite");
    info.class_names = {"with_mask", "without_mask"};
    info.preprocess.input_size = 256;
    info.config = {{"train", {{"epochs", 20}, {"lr", 1e-4}}}};
    info.metrics = {{"test", {{"accuracy", 0.99}, {"f1", {0.98, 0.995}}}}};
    return model;
}

void require_model_error(const fs::path& file, const std::string& problem) {
    REQUIRE_THROWS_MATCHES(load_model(file), ModelFileError,
                           Catch::Matchers::Predicate<ModelFileError>(
                               [&](const ModelFileError& e) {
                                   const std::string what = e.what();
                                   return what.rfind(file.string() + ": ", 0) == 0 &&
                                          what.find(problem) != std::string::npos &&
                                          what.find('\n') == std::string::npos;
                               },
                               "one line starting with " + file.string() + " and naming '" + problem + "'"));
}

}  // namespace

TEST_CASE("model file round trip gives bit-identical outputs and metadata", "[model][model_file]") {
    test::TempDir dir;
    ModelInfo info;
    auto model = make_model(info);
    const auto file = dir / "model.maskctl";
    save_model(file, model, info);
    save_model(file, model, info);  // overwriting is fine too
    // Atomic write: only the final file remains, no temporaries.
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}) == 1);

    auto loaded = load_model(file);
    CHECK(loaded.info.class_names == info.class_names);
    CHECK(loaded.info.preprocess == info.preprocess);
    CHECK(loaded.info.config == info.config);
    CHECK(loaded.info.metrics == info.metrics);
    CHECK(loaded.model->config().input_size == 256);
    CHECK(loaded.model->config().backbone.trainable_blocks == 1);
    CHECK(loaded.model->num_classes() == 2);

    const auto x = torch::rand({2, 3, 256, 256}) * 2 - 1;
    model->eval();
    c10::InferenceMode guard;
    CHECK(torch::equal(model->forward(x), loaded.model->forward(x)));
}

TEST_CASE("damaged or foreign model files give one clear error each", "[model][model_file]") {
    test::TempDir dir;
    ModelInfo info;
    auto model = make_model(info);
    const auto good = dir / "good.maskctl";
    save_model(good, model, info);
    const std::string bytes = read_bytes(good);
    const auto bad = dir / "bad.maskctl";

    SECTION("missing file") { require_model_error(dir / "missing.maskctl", "model file not found"); }
    SECTION("a folder or a FIFO where the file should be (unreadable even by root), never opened") {
        fs::create_directories(dir / "folder.maskctl");
        require_model_error(dir / "folder.maskctl", "model file is not a regular file");
        REQUIRE(::mkfifo((dir / "pipe.maskctl").c_str(), 0644) == 0);
        require_model_error(dir / "pipe.maskctl", "model file is not a regular file");
    }
    SECTION("truncated") {
        write_bytes(bad, bytes.substr(0, bytes.size() - 1000));
        require_model_error(bad, fmt::format("truncated: {} of {} bytes", bytes.size() - 1000, bytes.size()));
    }
    SECTION("flipped byte in the weights") {
        auto b = bytes;
        b[b.size() / 2] ^= 0x10;
        write_bytes(bad, b);
        require_model_error(bad, "corrupt: checksum mismatch");
    }
    SECTION("wrong magic (another kind of file)") {
        require_model_error(test::shared_dir() / "models" / "imagenet" / "mobilenet_v2_1.0_224_quant.tflite",
                            "not a maskctl model file");
    }
    SECTION("newer format version") {
        auto b = bytes;
        b[8] = 2;
        write_bytes(bad, b);
        require_model_error(bad, "model file format version 2, this maskctl reads version 1");
    }
    SECTION("architecture with another number of classes than the weights") {
        auto contents = read_model_file(good);
        contents.metadata["architecture"]["num_classes"] = 3;
        contents.metadata["class_names"] = {"a", "b", "c"};
        write_model_file(bad, contents);
        require_model_error(bad, "tensor head.out.weight has shape [2, 128], the architecture needs [3, 128]");
    }
    SECTION("tensor shape mismatch") {
        auto contents = read_model_file(good);
        for (auto& [name, t] : contents.tensors)
            if (name == "backbone.blocks.3.depthwise.conv.weight") t = torch::zeros({144, 1, 5, 5});
        write_model_file(bad, contents);
        require_model_error(bad, "tensor backbone.blocks.3.depthwise.conv.weight has shape [144, 1, 5, 5], "
                                 "the architecture needs [144, 1, 3, 3]");
    }
    SECTION("missing tensor") {
        auto contents = read_model_file(good);
        contents.tensors.pop_back();
        write_model_file(bad, contents);
        require_model_error(bad, "tensor head.out.bias is missing");
    }
    SECTION("unknown backbone") {
        auto contents = read_model_file(good);
        contents.metadata["architecture"]["backbone"] = "resnet50";
        write_model_file(bad, contents);
        require_model_error(bad, "key 'model.backbone.name' has value \"resnet50\", expected one of \"mobilenetv2\"");
    }
    SECTION("class names do not match the classes") {
        auto contents = read_model_file(good);
        contents.metadata["class_names"] = {"only_one"};
        write_model_file(bad, contents);
        require_model_error(bad, "1 class names for 2 classes");
    }
}

TEST_CASE("crc32 matches the standard check value", "[model][model_file]") {
    CHECK(crc32("123456789", 9) == 0xCBF43926u);
}
