#include "maskctl/core/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/json.hpp"

using nlohmann::json;

// ---- JSON conversion of the typed structs ------------------------------------------------------
// Validation has already filled every key by the time these run, so plain get_to is safe.

namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
    static void to_json(json& j, const std::optional<T>& v) {
        if (v) j = *v;
        else j = nullptr;
    }
    static void from_json(const json& j, std::optional<T>& v) {
        if (j.is_null()) v.reset();
        else v = j.get<T>();
    }
};
}  // namespace nlohmann

namespace maskctl {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SplitRatios, train, val, test)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DataConfig, root, layout, split, split_file, seed, image_size, class_names)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AugmentConfig, enabled, rotation_range, width_shift_range, height_shift_range,
                                   shear_range, zoom_range, horizontal_flip, vertical_flip, fill_mode, cval,
                                   brightness_range, contrast_range, blur_range)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BackboneConfig, name, weights, trainable_blocks, precision)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HeadConfig, pool, pool_size, hidden_units, dropout)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelConfig, backbone, input_size, head, num_classes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ScheduleConfig, type, step_size, gamma, decay, factor, patience, min_lr)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EarlyStoppingConfig, enabled, monitor, patience, min_delta, restore_best)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OutputConfig, runs_dir)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FeatureCacheConfig, enabled, views)

// Class weights read as null, "balanced" or [w0, w1, ...] in JSON.
static void to_json(json& j, const ClassWeights& w) {
    switch (w.mode) {
        case ClassWeightMode::balanced: j = "balanced"; return;
        case ClassWeightMode::manual: j = w.values; return;
        case ClassWeightMode::none: j = nullptr; return;
    }
}
static void from_json(const json& j, ClassWeights& w) {
    if (j.is_null()) w = {};
    else if (j.is_string()) w = {ClassWeightMode::balanced, {}};  // the only string validation lets through
    else w = {ClassWeightMode::manual, j.get<std::vector<double>>()};
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TrainConfig, optimizer, lr, momentum, nesterov, weight_decay, schedule,
                                   batch_size, epochs, early_stopping, best_metric, class_weights, seed, threads,
                                   workers, feature_cache)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Config, data, augment, model, train, output)

namespace {

// ---- The schema: one rule per leaf key ---------------------------------------------------------

enum class Kind {
    Bool,
    Int,
    Number,
    String,
    Enum,
    Pair,         // [lo, hi] with lo <= hi, both within [min, max]
    ZoomRange,    // number z (-> [1-z, 1+z]) or pair
    StringList,   // non-empty list of distinct non-empty strings
    ClassWeights  // null, "balanced" or list of positive numbers
};

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Rule {
    std::string path;
    Kind kind;
    std::string doc;
    double min = -kInf;
    double max = kInf;
    bool min_open = false;  // min itself is not allowed
    bool max_open = false;
    bool nullable = false;
    std::vector<std::string> choices = {};
};

const std::vector<Rule>& rules() {
    using K = Kind;
    static const std::vector<Rule> table = {
        {"data.root", K::String, "Dataset folder. Relative paths are taken from the current directory."},
        {"data.layout", K::Enum, "`flat` = root/<class>/*, split by `data.split`; `split` = root/{train,val,test}/<class>/* (case-insensitive, `validation` accepted); `auto` picks one.", 0, 0, false, false, false, enum_choices<Layout>()},
        {"data.split.train", K::Number, "Fraction of each class used for training (flat layout).", 0, 1, true, false},
        {"data.split.val", K::Number, "Fraction of each class held out for validation (best epoch, early stopping, plateau). 0 = no validation: the last epoch is kept.", 0, 1, false, true},
        {"data.split.test", K::Number, "Fraction of each class held out for the final test.", 0, 1, false, true},
        {"data.split_file", K::String, "CSV (split,label,path) to reuse an exact split; empty = compute it from `data.seed`."},
        {"data.seed", K::Int, "Seed of the stratified split.", 0, 2147483647},
        {"data.image_size", K::Int, "Size images are resized to; null = `model.input_size` (the two must agree).", 96, 512, false, false, true},
        {"data.class_names", K::StringList, "Class folder names in label order; null = sorted folder names (as Keras).", -kInf, kInf, false, false, true},

        {"augment.enabled", K::Bool, "Apply augmentation to training images."},
        {"augment.rotation_range", K::Number, "Random rotation in degrees, uniform in [-r, r].", 0, 180},
        {"augment.width_shift_range", K::Number, "Random horizontal shift as a fraction of the width.", 0, 1},
        {"augment.height_shift_range", K::Number, "Random vertical shift as a fraction of the height.", 0, 1},
        {"augment.shear_range", K::Number, "Random shear angle in degrees, uniform in [-s, s] (Keras semantics).", 0, 89},
        {"augment.zoom_range", K::ZoomRange, "Zoom factor: a number z means [1-z, 1+z], or give [lo, hi].", 0, 10, true, false},
        {"augment.horizontal_flip", K::Bool, "Randomly mirror left-right."},
        {"augment.vertical_flip", K::Bool, "Randomly flip upside down."},
        {"augment.fill_mode", K::Enum, "How pixels outside the source are filled.", 0, 0, false, false, false, enum_choices<FillMode>()},
        {"augment.cval", K::Number, "Fill value (0-255) for `fill_mode` constant.", 0, 255},
        {"augment.brightness_range", K::Pair, "Random brightness factor [lo, hi]; null = off.", 0, 10, true, false, true},
        {"augment.contrast_range", K::Pair, "Random contrast factor [lo, hi] around the image mean; null = off.", 0, 10, true, false, true},
        {"augment.blur_range", K::Pair, "Random Gaussian blur sigma in pixels [lo, hi]; null = off.", 0, 20, false, false, true},

        {"model.backbone.name", K::Enum, "Backbone network.", 0, 0, false, false, false, enum_choices<Backbone>()},
        {"model.backbone.weights", K::String, "ImageNet weights: a TFLite MobileNetV2 file."},
        {"model.backbone.trainable_blocks", K::Int, "Unfreeze the last K of the 17 inverted-residual blocks (0 = frozen).", 0, 17},
        {"model.backbone.precision", K::Enum, "Arithmetic of the frozen backbone (feature caching, eval, predict, detect): `bf16` needs a CPU with AVX-512 BF16 or AMX; `auto` runs bf16 only where that CPU has it and bf16 was shown as accurate as float, else float; see docs/benchmarks.md.", 0, 0, false, false, false, {"float", "bf16", "auto"}},
        {"model.input_size", K::Int, "Square input size of the network in pixels.", 96, 512},
        {"model.head.pool", K::Enum, "Pooling over the 1280-channel feature map.", 0, 0, false, false, false, enum_choices<Pool>()},
        {"model.head.pool_size", K::Int, "Pool window (7 as in the Keras recipe); 0 = global pooling.", 0, 16},
        {"model.head.hidden_units", K::Int, "Units of the hidden Dense + ReLU layer; 0 = none.", 0, 65536},
        {"model.head.dropout", K::Number, "Dropout probability before the output layer.", 0, 1, false, true},
        {"model.num_classes", K::Int, "Number of classes; null = the number found in the data.", 2, 10000, false, false, true},

        {"train.optimizer", K::Enum, "Optimizer.", 0, 0, false, false, false, enum_choices<Optimizer>()},
        {"train.lr", K::Number, "Initial learning rate.", 0, 10, true, false},
        {"train.momentum", K::Number, "SGD momentum.", 0, 1, false, true},
        {"train.nesterov", K::Bool, "SGD with Nesterov momentum."},
        {"train.weight_decay", K::Number, "L2 weight decay.", 0, 1, false, true},
        {"train.schedule.type", K::Enum, "Learning-rate schedule; `legacy_decay` is Keras' lr / (1 + decay * iterations).", 0, 0, false, false, false, enum_choices<ScheduleType>()},
        {"train.schedule.step_size", K::Int, "step: epochs between drops.", 1, 100000},
        {"train.schedule.gamma", K::Number, "step: multiplier at each drop.", 0, 1, true, false},
        {"train.schedule.decay", K::Number, "legacy_decay: decay per iteration (Keras recipe: lr / epochs).", 0, 1},
        {"train.schedule.factor", K::Number, "plateau: multiplier when the validation loss stalls.", 0, 1, true, true},
        {"train.schedule.patience", K::Int, "plateau: epochs without improvement before a drop.", 0, 1000},
        {"train.schedule.min_lr", K::Number, "Lower bound of the learning rate for cosine and plateau.", 0, 10},
        {"train.batch_size", K::Int, "Images per training step.", 1, 4096},
        {"train.epochs", K::Int, "Number of passes over the training split.", 1, 100000},
        {"train.early_stopping.enabled", K::Bool, "Stop when the monitored metric stops improving."},
        {"train.early_stopping.monitor", K::Enum, "Validation metric watched by early stopping.", 0, 0, false, false, false, enum_choices<Metric>()},
        {"train.early_stopping.patience", K::Int, "Epochs without improvement before stopping.", 0, 100000},
        {"train.early_stopping.min_delta", K::Number, "Smallest change that counts as an improvement.", 0, 1},
        {"train.early_stopping.restore_best", K::Bool, "At the end, evaluate the best epoch's weights (by `train.best_metric`; the numbers go into best.maskctl); false = the last epoch's (into last.maskctl), whether or not training stopped early."},
        {"train.best_metric", K::Enum, "Validation metric that picks the `best` model file.", 0, 0, false, false, false, enum_choices<Metric>()},
        {"train.class_weights", K::ClassWeights, "null, `balanced` (n / (classes * count)) or one positive weight per class.", 0, kInf, true, false, true},
        {"train.seed", K::Int, "Seed of weight init, shuffling, dropout and augmentation.", 0, 2147483647},
        {"train.threads", K::Int, "Compute threads; 0 = all cores.", 0, 1024},
        {"train.workers", K::Int, "Image loading threads; 0 = automatic.", 0, 256},
        {"train.feature_cache.enabled", K::Bool, "Compute the frozen backbone's features once and train the head on them (needs `model.backbone.trainable_blocks` 0); false = full forward pass every epoch."},
        {"train.feature_cache.views", K::Int, "Views cached per training image: the image plus views-1 augmented copies; each epoch uses one of them per image.", 1, 1000},

        {"output.runs_dir", K::String, "Folder that receives runs/train/<name> folders."},
    };
    return table;
}

const Rule* find_rule(const std::string& path) {
    for (const auto& r : rules())
        if (r.path == path) return &r;
    return nullptr;
}

// The first key inside section `path` (in schema order), or nullptr when `path` is not a section.
const Rule* first_in_section(const std::string& path) {
    const std::string prefix = path + ".";
    for (const auto& r : rules())
        if (r.path.compare(0, prefix.size(), prefix) == 0) return &r;
    return nullptr;
}

// Every key and section path, for suggestions.
std::vector<std::string> all_paths() {
    std::vector<std::string> out;
    for (const auto& r : rules()) {
        std::string p = r.path;
        out.push_back(p);
        for (auto dot = p.rfind('.'); dot != std::string::npos; dot = p.rfind('.')) {
            p = p.substr(0, dot);
            if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
        }
    }
    return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string last_segment(const std::string& path) {
    const auto dot = path.rfind('.');
    return dot == std::string::npos ? path : path.substr(dot + 1);
}

// The closest known path: a small typo of the full path, or the same key name in another section
// (e.g. "epochs" at the top level -> "train.epochs").
std::string suggestion(const std::string& unknown) {
    std::string best;
    size_t best_distance = std::max<size_t>(2, unknown.size() / 4) + 1;
    for (const auto& candidate : all_paths()) {
        size_t d = edit_distance(unknown, candidate);
        if (last_segment(candidate) == last_segment(unknown)) d = std::min<size_t>(d, 1);
        if (d < best_distance) best_distance = d, best = candidate;
    }
    return best;
}

// A value as the message shows it: cut short when huge (a pasted file, a runaway script).
std::string show(const json& value) { return json_excerpt(value); }

// 5 rather than 5.0: bounds read better without a spurious decimal.
std::string number_text(double x) {
    if (std::floor(x) == x && std::abs(x) < 1e15) return std::to_string(static_cast<long long>(x));
    return json(x).dump();
}

std::string describe_interval(const Rule& r, const char* noun) {
    const bool has_min = std::isfinite(r.min), has_max = std::isfinite(r.max);
    if (has_min && has_max) {
        if (!r.min_open && !r.max_open)
            return fmt::format("{} between {} and {}", noun, number_text(r.min), number_text(r.max));
        return fmt::format("{} in {}{}, {}{}", noun, r.min_open ? "(" : "[", number_text(r.min), number_text(r.max),
                           r.max_open ? ")" : "]");
    }
    if (has_min) return fmt::format("{} {} {}", noun, r.min_open ? ">" : ">=", number_text(r.min));
    if (has_max) return fmt::format("{} {} {}", noun, r.max_open ? "<" : "<=", number_text(r.max));
    return noun;
}

bool in_interval(const Rule& r, double v) {
    if (!std::isfinite(v)) return false;
    if (r.min_open ? v <= r.min : v < r.min) return false;
    if (r.max_open ? v >= r.max : v > r.max) return false;
    return true;
}

// What a rule accepts, in words, for error messages and the docs.
std::string expectation(const Rule& r) {
    std::string text;
    switch (r.kind) {
        case Kind::Bool: text = "true or false"; break;
        case Kind::Int: text = describe_interval(r, "an integer"); break;
        case Kind::Number: text = describe_interval(r, "a number"); break;
        case Kind::String: text = "a string"; break;
        case Kind::Enum: {
            std::vector<std::string> quoted;
            for (const auto& c : r.choices) quoted.push_back(json(c).dump());
            text = fmt::format("one of {}", fmt::join(quoted, ", "));
            break;
        }
        case Kind::Pair: text = fmt::format("[lo, hi] with lo <= hi, each {}", describe_interval(r, "a number")); break;
        case Kind::ZoomRange:
            text = "a number z in [0, 1) (meaning [1-z, 1+z]) or [lo, hi] with 0 < lo <= hi";
            break;
        case Kind::StringList: text = "a non-empty list of distinct, non-empty strings"; break;
        case Kind::ClassWeights: text = "\"balanced\" or a list of positive numbers, one per class"; break;
    }
    if (r.nullable) text += " or null";
    return text;
}

[[noreturn]] void reject(const std::string& source, const Rule& r, const json& value) {
    throw ConfigError(
        fmt::format("{}: key '{}' has value {}, expected {}", source, r.path, show(value), expectation(r)));
}

bool is_pair(const json& v) {
    return v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number();
}

// Checks one leaf and returns it in canonical form (zoom numbers become pairs).
json check_leaf(const std::string& source, const Rule& r, const json& v) {
    if (v.is_null()) {
        if (r.nullable) return v;
        reject(source, r, v);
    }
    switch (r.kind) {
        case Kind::Bool:
            if (!v.is_boolean()) reject(source, r, v);
            return v;
        case Kind::Int:
            // 5.0 is accepted as 5: JSON writers often emit integral floats.
            if (!v.is_number() || std::floor(v.get<double>()) != v.get<double>() || !in_interval(r, v.get<double>()))
                reject(source, r, v);
            return json(static_cast<int64_t>(v.get<double>()));
        case Kind::Number:
            if (!v.is_number() || !in_interval(r, v.get<double>())) reject(source, r, v);
            return v;
        case Kind::String:
            if (!v.is_string()) reject(source, r, v);
            return v;
        case Kind::Enum:
            if (!v.is_string() ||
                std::find(r.choices.begin(), r.choices.end(), v.get<std::string>()) == r.choices.end())
                reject(source, r, v);
            return v;
        case Kind::Pair:
            if (!is_pair(v) || !in_interval(r, v[0].get<double>()) || !in_interval(r, v[1].get<double>()) ||
                v[0].get<double>() > v[1].get<double>())
                reject(source, r, v);
            return v;
        case Kind::ZoomRange:
            if (v.is_number()) {
                const double z = v.get<double>();
                if (!(z >= 0 && z < 1)) reject(source, r, v);
                return json::array({1 - z, 1 + z});
            }
            if (!is_pair(v) || !(v[0].get<double>() > 0) || v[0].get<double>() > v[1].get<double>() ||
                !in_interval(r, v[1].get<double>()))
                reject(source, r, v);
            return v;
        case Kind::StringList: {
            if (!v.is_array() || v.empty()) reject(source, r, v);
            std::set<std::string> seen;
            for (const auto& s : v)
                if (!s.is_string() || s.get<std::string>().empty() || !seen.insert(s.get<std::string>()).second)
                    reject(source, r, v);
            return v;
        }
        case Kind::ClassWeights:
            if (v.is_string() && v.get<std::string>() == "balanced") return v;
            if (!v.is_array() || v.empty()) reject(source, r, v);
            for (const auto& w : v)
                if (!w.is_number() || !(w.get<double>() > 0) || !std::isfinite(w.get<double>())) reject(source, r, v);
            return v;
    }
    return v;
}

[[noreturn]] void reject_unknown(const std::string& source, const std::string& path) {
    // The suggestion is an edit distance per known key: only worth it (and cheap) for key-sized text.
    const std::string hint = path.size() <= 100 ? suggestion(path) : "";
    if (!hint.empty())
        throw ConfigError(fmt::format("{}: unknown key '{}' (did you mean '{}'?)", source, path, hint));
    throw ConfigError(fmt::format("{}: unknown key '{}'", source, text_excerpt(path)));
}

// Walks the user's document: unknown keys and bad values are rejected, and good values are
// written into `merged` (which starts as the defaults).
void check_object(const std::string& source, const json& doc, const std::string& prefix, json& merged) {
    for (const auto& [key, value] : doc.items()) {
        const std::string path = prefix.empty() ? key : prefix + "." + key;
        if (const Rule* rule = find_rule(path)) {
            merged[key] = check_leaf(source, *rule, value);
        } else if (const Rule* first = first_in_section(path)) {
            if (!value.is_object())
                throw ConfigError(fmt::format("{}: key '{}' has value {}, expected an object with keys such as '{}'",
                                              source, path, show(value), first->path));
            check_object(source, value, path, merged[key]);
        } else {
            reject_unknown(source, path);
        }
    }
}

// Rules that involve more than one key.
void check_consistency(const std::string& source, const Config& c) {
    const auto& s = c.data.split;
    if (std::abs(s.train + s.val + s.test - 1.0) > 1e-6)
        throw ConfigError(fmt::format("{}: keys 'data.split.train', 'data.split.val', 'data.split.test' are {:g}, {:g}, {:g} "
                                      "(sum {:g}), expected them to sum to 1",
                                      source, s.train, s.val, s.test, s.train + s.val + s.test));
    if (c.data.image_size && *c.data.image_size != c.model.input_size)
        throw ConfigError(fmt::format("{}: key 'data.image_size' has value {}, expected null or the same as "
                                      "'model.input_size' ({})",
                                      source, *c.data.image_size, c.model.input_size));
    const int feature_size = (c.model.input_size + 31) / 32;
    if (c.model.head.pool_size > feature_size)
        throw ConfigError(fmt::format("{}: key 'model.head.pool_size' has value {}, expected at most {} (the feature "
                                      "map of a {}px input is {}x{}) or 0 for global pooling",
                                      source, c.model.head.pool_size, feature_size, c.model.input_size,
                                      feature_size, feature_size));
    const auto n = c.model.num_classes;
    if (n && c.data.class_names && static_cast<int>(c.data.class_names->size()) != *n)
        throw ConfigError(fmt::format("{}: key 'model.num_classes' has value {}, expected {} (the length of "
                                      "'data.class_names')",
                                      source, *n, c.data.class_names->size()));
    const auto& w = c.train.class_weights;
    const std::optional<size_t> known_classes =
        c.data.class_names ? std::optional<size_t>(c.data.class_names->size())
                           : (n ? std::optional<size_t>(*n) : std::nullopt);
    if (w.mode == ClassWeightMode::manual && known_classes && w.values.size() != *known_classes)
        throw ConfigError(fmt::format("{}: key 'train.class_weights' has {} values, expected {} (one per class)",
                                      source, w.values.size(), *known_classes));
}

json parse_file(const std::filesystem::path& file) {
    std::string text;
    if (const FileProblem problem = read_file(file, text); problem != FileProblem::none)
        throw ConfigError(fmt::format("{}: cannot read config file: {}", file.string(), describe(problem)));
    JsonParse parsed = parse_json(text, /*comments=*/true);
    if (!parsed.ok()) throw ConfigError(fmt::format("{}: invalid JSON: {}", file.string(), parsed.error));
    return std::move(parsed.value);
}

// Leaves the document as the user wrote it but with canonical values, for the overrides step.
void set_dotted(json& doc, const std::string& path, json value) {
    json* node = &doc;
    std::string rest = path;
    for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
        node = &(*node)[rest.substr(0, dot)];
        if (!node->is_object()) *node = json::object();
        rest = rest.substr(dot + 1);
    }
    (*node)[rest] = std::move(value);
}

}  // namespace

json default_config_json() { return to_json(Config{}); }

json to_json(const Config& config) {
    json j = config;
    return j;
}

Config config_from_json(const json& doc, const std::string& source) {
    if (!doc.is_object())
        throw ConfigError(fmt::format("{}: expected a JSON object at the top level, got {}", source, show(doc)));
    json merged = default_config_json();
    check_object(source, doc, "", merged);
    Config config = merged.get<Config>();
    check_consistency(source, config);
    return config;
}

void apply_override(json& doc, const std::string& assignment) {
    const std::string source = "--set " + text_excerpt(assignment);
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw ConfigError(fmt::format("{}: expected key=value, e.g. train.epochs=5", source));
    const std::string path = assignment.substr(0, eq);
    const std::string text = assignment.substr(eq + 1);
    const Rule* rule = find_rule(path);
    if (!rule) {
        if (const Rule* first = first_in_section(path))
            throw ConfigError(fmt::format("{}: '{}' is a section, expected a key inside it such as '{}'", source, path,
                                          first->path));
        reject_unknown(source, path);
    }
    json value;
    const bool textual = rule->kind == Kind::String || rule->kind == Kind::Enum;
    const JsonParse parsed = parse_json(text);
    if (textual && !(parsed.value.is_string() || (parsed.value.is_null() && text == "null" && rule->nullable)))
        value = text;  // paths and names need no quotes on the command line
    else if (parsed.ok())
        value = parsed.value;
    else
        value = text;  // not JSON: keep it as text so the error shows what was typed
    set_dotted(doc, path, check_leaf(source, *rule, value));
}

json load_config_json(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
    json doc = file.empty() ? json::object() : parse_file(file);
    const std::string source = file.empty() ? "defaults" : file.string();
    // Validate the file alone first so its errors name the file, not the override.
    to_json(config_from_json(doc, source));
    for (const auto& o : overrides) apply_override(doc, o);
    return to_json(config_from_json(doc, overrides.empty() ? source : source + " with --set overrides"));
}

Config load_config(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
    return load_config_json(file, overrides).get<Config>();
}

std::string config_reference_markdown() {
    const json defaults = default_config_json();
    std::ostringstream out;
    out << "| key | default | accepts | meaning |\n|---|---|---|---|\n";
    for (const auto& r : rules()) {
        const json value = defaults.at(json::json_pointer("/" + [&] {
            std::string p = r.path;
            std::replace(p.begin(), p.end(), '.', '/');
            return p;
        }()));
        std::string accepts = expectation(r);
        std::string::size_type pos = 0;
        while ((pos = accepts.find('|', pos)) != std::string::npos) accepts.replace(pos, 1, "\\|"), pos += 2;
        out << fmt::format("| `{}` | `{}` | {} | {} |\n", r.path, value.dump(), accepts, r.doc);
    }
    return out.str();
}

}  // namespace maskctl
