#include <fstream>

#include <catch2/catch.hpp>

#include "maskctl/core/config.hpp"
#include "maskctl/core/errors.hpp"
#include "test_helpers.hpp"

using maskctl::Config;
using maskctl::ConfigError;
using nlohmann::json;

namespace {

Config with_overrides(const std::vector<std::string>& overrides) { return maskctl::load_config("", overrides); }

std::string error_of(const json& doc) {
    try {
        maskctl::config_from_json(doc, "run.json");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string override_error(const std::string& assignment) {
    try {
        with_overrides({assignment});
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("defaults reproduce the Keras MobileNetV2 recipe", "[config]") {
    const Config c = maskctl::config_from_json(json::object());
    CHECK(c.model.input_size == 224);
    CHECK(c.image_size() == 224);
    CHECK(c.augment.rotation_range == 20);
    CHECK(c.augment.zoom_range == std::array<double, 2>{0.85, 1.15});
    CHECK(c.augment.width_shift_range == 0.2);
    CHECK(c.augment.height_shift_range == 0.2);
    CHECK(c.augment.shear_range == 0.15);
    CHECK(c.augment.horizontal_flip);
    CHECK_FALSE(c.augment.vertical_flip);
    CHECK(c.augment.fill_mode == maskctl::FillMode::nearest);
    CHECK(c.model.backbone.trainable_blocks == 0);
    CHECK(c.model.head.pool == maskctl::Pool::avg);
    CHECK(c.model.head.pool_size == 7);
    CHECK(c.model.head.hidden_units == 128);
    CHECK(c.model.head.dropout == 0.5);
    CHECK(c.train.optimizer == maskctl::Optimizer::adam);
    CHECK(c.train.lr == 1e-4);
    CHECK(c.train.batch_size == 32);
    CHECK(c.train.epochs == 20);
    CHECK(c.data.split.train == 0.7);
    CHECK(c.data.split.val == 0.1);
    CHECK(c.data.split.test == 0.2);
    CHECK(c.data.seed == 42);
    CHECK(c == Config{});
}

TEST_CASE("configs/mobilenetv2.json is valid and equals the built-in defaults", "[config]") {
    const auto file = maskctl::test::source_dir() / "configs" / "mobilenetv2.json";
    CHECK(maskctl::load_config(file) == Config{});
}

TEST_CASE("every shipped config validates", "[config]") {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(maskctl::test::source_dir() / "configs")) {
        if (entry.path().extension() != ".json") continue;
        INFO(entry.path());
        CHECK_NOTHROW(maskctl::load_config(entry.path()));
        ++count;
    }
    CHECK(count >= 1);
}

TEST_CASE("a partial document keeps the defaults of the keys it does not name", "[config]") {
    const Config c = maskctl::config_from_json(json{{"train", {{"epochs", 3}}}, {"augment", {{"zoom_range", 0.3}}}});
    CHECK(c.train.epochs == 3);
    CHECK(c.train.lr == 1e-4);
    CHECK(c.augment.zoom_range[0] == Approx(0.7));
    CHECK(c.augment.zoom_range[1] == Approx(1.3));
}

TEST_CASE("overrides given with --set accept any key, with typed values", "[config]") {
    const Config c = with_overrides({"train.epochs=5", "train.optimizer=sgd", "train.momentum=0.85",
                                     "train.nesterov=true", "augment.brightness_range=[0.8,1.2]",
                                     "data.root=/tmp/my photos", "data.class_names=[\"a\",\"b\",\"c\"]",
                                     "model.head.pool_size=0", "train.class_weights=balanced"});
    CHECK(c.train.epochs == 5);
    CHECK(c.train.optimizer == maskctl::Optimizer::sgd);
    CHECK(c.train.momentum == 0.85);
    CHECK(c.train.nesterov);
    REQUIRE(c.augment.brightness_range);
    CHECK(*c.augment.brightness_range == std::array<double, 2>{0.8, 1.2});
    CHECK(c.data.root == "/tmp/my photos");
    REQUIRE(c.data.class_names);
    CHECK(c.data.class_names->size() == 3);
    CHECK(c.model.head.pool_size == 0);
    CHECK(c.train.class_weights.mode == maskctl::ClassWeightMode::balanced);
}

TEST_CASE("a later --set wins and null resets an optional key", "[config]") {
    const Config c = with_overrides({"train.epochs=5", "train.epochs=7", "augment.brightness_range=[0.5,1.5]",
                                     "augment.brightness_range=null"});
    CHECK(c.train.epochs == 7);
    CHECK_FALSE(c.augment.brightness_range);
}

TEST_CASE("overrides apply on top of a config file", "[config]") {
    maskctl::test::TempDir dir;
    std::ofstream(dir / "run.json") << R"({"train": {"epochs": 3, "lr": 0.001}})";
    const Config c = maskctl::load_config(dir / "run.json", {"train.epochs=9"});
    CHECK(c.train.epochs == 9);
    CHECK(c.train.lr == 0.001);
}

TEST_CASE("round trip through JSON gives the same config", "[config]") {
    Config c = with_overrides({"train.optimizer=sgd", "augment.contrast_range=[0.7,1.3]", "model.num_classes=3",
                               "data.class_names=[\"x\",\"y\",\"z\"]", "train.class_weights=[1,2,3]",
                               "data.image_size=224", "augment.fill_mode=reflect"});
    const json j = maskctl::to_json(c);
    CHECK(maskctl::config_from_json(j) == c);
    CHECK(maskctl::config_from_json(json::parse(j.dump())) == c);
    CHECK(maskctl::to_json(maskctl::config_from_json(j)) == j);
    CHECK(maskctl::to_json(Config{}) == maskctl::default_config_json());
}

TEST_CASE("unknown keys are rejected with a suggestion", "[config]") {
    CHECK(error_of({{"train", {{"epocs", 5}}}}) ==
          "run.json: unknown key 'train.epocs' (did you mean 'train.epochs'?)");
    CHECK(error_of({{"epochs", 5}}) == "run.json: unknown key 'epochs' (did you mean 'train.epochs'?)");
    CHECK(error_of({{"augment", {{"rotaton_range", 5}}}}) ==
          "run.json: unknown key 'augment.rotaton_range' (did you mean 'augment.rotation_range'?)");
    CHECK(error_of({{"qqqqqqqqqqqqqqqqqq", 1}}) == "run.json: unknown key 'qqqqqqqqqqqqqqqqqq'");
    CHECK(override_error("model.head.hiden_units=64") ==
          "--set model.head.hiden_units=64: unknown key 'model.head.hiden_units' (did you mean "
          "'model.head.hidden_units'?)");
}

TEST_CASE("wrong types are rejected naming key, value and expectation", "[config]") {
    CHECK(error_of({{"train", {{"epochs", "five"}}}}) ==
          "run.json: key 'train.epochs' has value \"five\", expected an integer between 1 and 100000");
    CHECK(error_of({{"train", {{"epochs", 2.5}}}}) ==
          "run.json: key 'train.epochs' has value 2.5, expected an integer between 1 and 100000");
    CHECK(error_of({{"augment", {{"horizontal_flip", "yes"}}}}) ==
          "run.json: key 'augment.horizontal_flip' has value \"yes\", expected true or false");
    CHECK(error_of({{"data", {{"root", 5}}}}) == "run.json: key 'data.root' has value 5, expected a string");
    CHECK(error_of({{"train", 5}}) ==
          "run.json: key 'train' has value 5, expected an object with keys such as 'train.optimizer'");
    CHECK(error_of({{"augment", {{"brightness_range", {1.2}}}}}) ==
          "run.json: key 'augment.brightness_range' has value [1.2], expected [lo, hi] with lo <= hi, each a "
          "number in (0, 10] or null");
    CHECK(error_of({{"data", {{"class_names", {"a", "a"}}}}}) ==
          "run.json: key 'data.class_names' has value [\"a\",\"a\"], expected a non-empty list of distinct, "
          "non-empty strings or null");
    CHECK(error_of({{"train", {{"class_weights", "even"}}}}) ==
          "run.json: key 'train.class_weights' has value \"even\", expected \"balanced\" or a list of positive "
          "numbers, one per class or null");
    CHECK(error_of(json::array({1, 2})) == "run.json: expected a JSON object at the top level, got [1,2]");
    CHECK(override_error("train.epochs=many") ==
          "--set train.epochs=many: key 'train.epochs' has value \"many\", expected an integer between 1 and 100000");
}

TEST_CASE("out-of-range values are rejected", "[config]") {
    CHECK(error_of({{"train", {{"lr", -1}}}}) == "run.json: key 'train.lr' has value -1, expected a number in (0, 10]");
    CHECK(error_of({{"train", {{"lr", 0}}}}) == "run.json: key 'train.lr' has value 0, expected a number in (0, 10]");
    CHECK(error_of({{"model", {{"input_size", 64}}}}) ==
          "run.json: key 'model.input_size' has value 64, expected an integer between 96 and 512");
    CHECK(error_of({{"model", {{"head", {{"dropout", 1}}}}}}) ==
          "run.json: key 'model.head.dropout' has value 1, expected a number in [0, 1)");
    CHECK(error_of({{"augment", {{"zoom_range", 1.5}}}}) ==
          "run.json: key 'augment.zoom_range' has value 1.5, expected a number z in [0, 1) (meaning [1-z, 1+z]) or "
          "[lo, hi] with 0 < lo <= hi");
    CHECK(error_of({{"augment", {{"brightness_range", {1.5, 0.5}}}}}) ==
          "run.json: key 'augment.brightness_range' has value [1.5,0.5], expected [lo, hi] with lo <= hi, each a "
          "number in (0, 10] or null");
    CHECK(override_error("train.batch_size=0") ==
          "--set train.batch_size=0: key 'train.batch_size' has value 0, expected an integer between 1 and 4096");
}

TEST_CASE("enumerations list their choices", "[config]") {
    CHECK(error_of({{"train", {{"optimizer", "adamw"}}}}) ==
          "run.json: key 'train.optimizer' has value \"adamw\", expected one of \"adam\", \"sgd\"");
    CHECK(override_error("augment.fill_mode=mirror") ==
          "--set augment.fill_mode=mirror: key 'augment.fill_mode' has value \"mirror\", expected one of "
          "\"nearest\", \"constant\", \"reflect\", \"wrap\"");
}

TEST_CASE("rules that span keys are checked", "[config]") {
    CHECK(error_of({{"data", {{"split", {{"train", 0.6}, {"test", 0.2}}}}}}) ==
          "run.json: keys 'data.split.train', 'data.split.val', 'data.split.test' are 0.6, 0.1, 0.2 (sum 0.9), "
          "expected them to sum to 1");
    CHECK(error_of({{"data", {{"image_size", 256}}}}) ==
          "run.json: key 'data.image_size' has value 256, expected null or the same as 'model.input_size' (224)");
    CHECK(error_of({{"model", {{"input_size", 160}}}}) ==
          "run.json: key 'model.head.pool_size' has value 7, expected at most 5 (the feature map of a 160px input "
          "is 5x5) or 0 for global pooling");
    CHECK(error_of({{"model", {{"num_classes", 2}}}, {"data", {{"class_names", {"a", "b", "c"}}}}}) ==
          "run.json: key 'model.num_classes' has value 2, expected 3 (the length of 'data.class_names')");
    CHECK(error_of({{"train", {{"class_weights", {1, 2, 3}}}}, {"model", {{"num_classes", 2}}}}) ==
          "run.json: key 'train.class_weights' has 3 values, expected 2 (one per class)");
}

TEST_CASE("malformed --set and config files give one-line errors", "[config]") {
    CHECK(override_error("train.epochs") == "--set train.epochs: expected key=value, e.g. train.epochs=5");
    CHECK(override_error("train=5") ==
          "--set train=5: 'train' is a section, expected a key inside it such as 'train.optimizer'");
    maskctl::test::TempDir dir;
    std::ofstream(dir / "bad.json") << "{\n  \"train\": {\"epochs\": 5,}\n}\n";
    try {
        maskctl::load_config(dir / "bad.json");
        FAIL("no error");
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        CHECK(what.rfind((dir / "bad.json").string() + ": invalid JSON: parse error at line 2", 0) == 0);
        CHECK(what.find('\n') == std::string::npos);
    }
    try {
        maskctl::load_config(dir / "missing.json");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) == (dir / "missing.json").string() + ": cannot read config file: not found");
    }
}

TEST_CASE("docs/config.md documents every key with its current default", "[config]") {
    std::ifstream in(maskctl::test::source_dir() / "docs" / "config.md");
    REQUIRE(in);
    const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(doc.find(maskctl::config_reference_markdown()) != std::string::npos);
}
