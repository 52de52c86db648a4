#pragma once
// One JSON document describes a run. Defaults reproduce the popular Keras MobileNetV2 recipe;
// every key is validated (unknown keys, types, ranges) with messages that name key and value.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/core/enum_names.hpp"

namespace maskctl {

// ---- Options with a fixed set of values, spelled in JSON as in the comments ------------------------

enum class Layout { automatic, flat, split };  // auto | flat | split
MASKCTL_ENUM_NAMES(Layout, {{Layout::automatic, "auto"}, {Layout::flat, "flat"}, {Layout::split, "split"}})

enum class FillMode { nearest, constant, reflect, wrap };
MASKCTL_ENUM_NAMES(FillMode, {{FillMode::nearest, "nearest"},
                              {FillMode::constant, "constant"},
                              {FillMode::reflect, "reflect"},
                              {FillMode::wrap, "wrap"}})

enum class Backbone { mobilenetv2 };
MASKCTL_ENUM_NAMES(Backbone, {{Backbone::mobilenetv2, "mobilenetv2"}})

enum class Pool { avg, max };
MASKCTL_ENUM_NAMES(Pool, {{Pool::avg, "avg"}, {Pool::max, "max"}})

enum class ScheduleType { constant, step, cosine, legacy_decay, plateau };
MASKCTL_ENUM_NAMES(ScheduleType, {{ScheduleType::constant, "constant"},
                                  {ScheduleType::step, "step"},
                                  {ScheduleType::cosine, "cosine"},
                                  {ScheduleType::legacy_decay, "legacy_decay"},
                                  {ScheduleType::plateau, "plateau"}})

// A validation metric: picks the best epoch and drives early stopping.
enum class Metric { val_loss, val_accuracy, val_f1 };
MASKCTL_ENUM_NAMES(Metric, {{Metric::val_loss, "val_loss"},
                            {Metric::val_accuracy, "val_accuracy"},
                            {Metric::val_f1, "val_f1"}})

enum class Optimizer { adam, sgd };
MASKCTL_ENUM_NAMES(Optimizer, {{Optimizer::adam, "adam"}, {Optimizer::sgd, "sgd"}})

// In JSON: null, "balanced" or a list of weights (see ClassWeights).
enum class ClassWeightMode { none, balanced, manual };
MASKCTL_ENUM_NAMES(ClassWeightMode, {{ClassWeightMode::none, "none"},
                                     {ClassWeightMode::balanced, "balanced"},
                                     {ClassWeightMode::manual, "manual"}})

struct SplitRatios {
    // Validation is carved from the training part: the test split is the same 20 % (767 images of
    // face-mask-3833) as with 0.8/0/0.2 and the same seed. val = 0: no validation, the last epoch is kept.
    double train = 0.7;
    double val = 0.1;
    double test = 0.2;
    bool operator==(const SplitRatios&) const = default;
};

struct DataConfig {
    std::string root = "data/face-mask-3833";
    Layout layout = Layout::automatic;  // flat: root/<class>/*; split: root/{train,val,test}/<class>/*
    SplitRatios split;
    std::string split_file;  // CSV of (split, label, path) to reproduce a split exactly; empty = compute from seed
    int seed = 42;
    std::optional<int> image_size;                        // unset = model.input_size
    std::optional<std::vector<std::string>> class_names;  // unset = sorted folder names
    bool operator==(const DataConfig&) const = default;
};

struct AugmentConfig {
    bool enabled = true;
    double rotation_range = 20.0;      // degrees, uniform in [-r, r]
    double width_shift_range = 0.2;    // fraction of width
    double height_shift_range = 0.2;   // fraction of height
    double shear_range = 0.15;         // degrees, as Keras' ImageDataGenerator
    std::array<double, 2> zoom_range{0.85, 1.15};  // a number z in JSON means [1-z, 1+z]
    bool horizontal_flip = true;
    bool vertical_flip = false;
    FillMode fill_mode = FillMode::nearest;
    double cval = 0.0;                  // fill value for fill_mode "constant"
    std::optional<std::array<double, 2>> brightness_range;  // multiplicative factor range
    std::optional<std::array<double, 2>> contrast_range;    // factor around the image mean
    std::optional<std::array<double, 2>> blur_range;        // Gaussian sigma in pixels
    bool operator==(const AugmentConfig&) const = default;
};

struct BackboneConfig {
    Backbone name = Backbone::mobilenetv2;
    std::string weights = "data/models/imagenet/tf2_mobilenet_v2_1.0_224_ptq.tflite";
    int trainable_blocks = 0;  // unfreeze the last K inverted-residual blocks (0 = fully frozen)
    std::string precision = "float";  // float | bf16 | auto: arithmetic of the frozen backbone at inference
    bool operator==(const BackboneConfig&) const = default;
};

struct HeadConfig {
    Pool pool = Pool::avg;
    int pool_size = 7;         // 0 = global pooling
    int hidden_units = 128;    // 0 = no hidden layer
    double dropout = 0.5;
    bool operator==(const HeadConfig&) const = default;
};

struct ModelConfig {
    BackboneConfig backbone;
    int input_size = 224;
    HeadConfig head;
    std::optional<int> num_classes;  // unset = number of classes found in the data
    bool operator==(const ModelConfig&) const = default;
};

struct ScheduleConfig {
    ScheduleType type = ScheduleType::legacy_decay;
    int step_size = 10;       // step: epochs between drops
    double gamma = 0.1;       // step: multiplier at each drop
    double decay = 5e-6;      // legacy_decay: lr / (1 + decay * iterations), Keras' INIT_LR / EPOCHS
    double factor = 0.1;      // plateau: multiplier when the monitored metric stalls
    int patience = 3;         // plateau: epochs without improvement before a drop
    double min_lr = 0.0;      // floor for cosine and plateau
    bool operator==(const ScheduleConfig&) const = default;
};

struct EarlyStoppingConfig {
    bool enabled = false;
    Metric monitor = Metric::val_loss;
    int patience = 5;
    double min_delta = 0.0;
    bool restore_best = true;
    bool operator==(const EarlyStoppingConfig&) const = default;
};

// The backbone is frozen, so its pooled features can be computed once and the head trained on them.
struct FeatureCacheConfig {
    bool enabled = true;
    int views = 5;  // views per training image: the image itself plus views-1 augmented copies
    bool operator==(const FeatureCacheConfig&) const = default;
};

// Class weights: unset, "balanced" (n_samples / (n_classes * count)), or one positive weight per class.
struct ClassWeights {
    ClassWeightMode mode = ClassWeightMode::none;
    std::vector<double> values;
    bool operator==(const ClassWeights&) const = default;
};

struct TrainConfig {
    Optimizer optimizer = Optimizer::adam;
    double lr = 1e-4;
    double momentum = 0.9;  // sgd only
    bool nesterov = false;  // sgd only
    double weight_decay = 0.0;
    ScheduleConfig schedule;
    int batch_size = 32;
    int epochs = 20;
    EarlyStoppingConfig early_stopping;
    Metric best_metric = Metric::val_loss;
    ClassWeights class_weights;
    int seed = 42;
    int threads = 0;  // compute threads; 0 = all cores
    int workers = 0;  // loader threads; 0 = automatic
    FeatureCacheConfig feature_cache;
    bool operator==(const TrainConfig&) const = default;
};

struct OutputConfig {
    std::string runs_dir = "runs";
    bool operator==(const OutputConfig&) const = default;
};

struct Config {
    DataConfig data;
    AugmentConfig augment;
    ModelConfig model;
    TrainConfig train;
    OutputConfig output;
    bool operator==(const Config&) const = default;

    // data.image_size if set, else model.input_size.
    int image_size() const { return data.image_size.value_or(model.input_size); }
};

// The defaults as a JSON document (every key present).
nlohmann::json default_config_json();

// Validates `doc` (a partial document is fine: missing keys take their defaults) and converts it.
// `source` names the origin in error messages (a file path or "--set ...").
// Throws ConfigError with one line that names the key, the value and what was expected.
Config config_from_json(const nlohmann::json& doc, const std::string& source = "config");

nlohmann::json to_json(const Config& config);

// Applies one "dotted.key=value" override to `doc`. The value is parsed as JSON when it can be
// (numbers, true/false, null, [..]); otherwise, and always for string keys, it is taken as text.
void apply_override(nlohmann::json& doc, const std::string& assignment);

// Reads a config file (or the defaults when `file` is empty), applies overrides, validates.
Config load_config(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

// Same, but returns the resolved document (every key) rather than the struct.
nlohmann::json load_config_json(const std::filesystem::path& file,
                                const std::vector<std::string>& overrides = {});

// Markdown table of every key: type, default, allowed values, meaning. docs/config.md embeds it.
std::string config_reference_markdown();

}  // namespace maskctl
