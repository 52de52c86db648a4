#include "maskctl/model/model_file.hpp"

#include <array>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/core/version.hpp"

namespace maskctl {
namespace {

// The compiler's macro rather than std::endian: the fuzz build (tests/fuzz) compiles this file as C++17,
// the standard clang 14 can compile LibTorch's headers in.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the model file format is little-endian");

constexpr char kMagic[8] = {'M', 'A', 'S', 'K', 'C', 'T', 'L', '\0'};
constexpr std::uint8_t kFloat32 = 1;
constexpr std::size_t kHeaderSize = 8 + 4 + 8;  // magic, version, file size

template <class T>
void put(std::string& out, T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Bounds-checked reading of the file's bytes; every failure names the file.
class Cursor {
public:
    Cursor(const std::filesystem::path& file, const std::string& bytes, std::size_t end)
        : file_(file), bytes_(bytes), end_(end) {}

    template <class T>
    T get(const char* what) {
        T value;
        std::memcpy(&value, take(sizeof value, what), sizeof value);
        return value;
    }
    const char* take(std::size_t n, const char* what) {
        if (n > end_ - pos_) fail(fmt::format("corrupt: {} runs past the end of the data", what));
        const char* p = bytes_.data() + pos_;
        pos_ += n;
        return p;
    }
    bool at_end() const { return pos_ == end_; }
    [[noreturn]] void fail(const std::string& problem) const {
        throw ModelFileError(fmt::format("{}: {}", file_.string(), problem));
    }

private:
    const std::filesystem::path& file_;
    const std::string& bytes_;
    std::size_t end_;
    std::size_t pos_ = kHeaderSize;
};

std::string read_all(const std::filesystem::path& file) {
    std::string bytes;
    if (const FileProblem p = read_file(file, bytes); p != FileProblem::none)
        throw ModelFileError(fmt::format("{}: model file {}", file.string(), describe(p)));
    return bytes;
}

// Magic, version, size and checksum, in that order: a file of another kind or version is named as
// such rather than as corrupt.
void check_envelope(const std::filesystem::path& file, const std::string& bytes) {
    auto fail = [&](const std::string& problem) {
        throw ModelFileError(fmt::format("{}: {}", file.string(), problem));
    };
    if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        fail("not a maskctl model file (wrong magic bytes)");
    if (bytes.size() < kHeaderSize + 4) fail(fmt::format("truncated: only {} bytes", bytes.size()));
    std::uint32_t version;
    std::uint64_t declared;
    std::memcpy(&version, bytes.data() + 8, 4);
    std::memcpy(&declared, bytes.data() + 12, 8);
    if (version != kModelFormatVersion)
        fail(fmt::format("model file format version {}, this maskctl reads version {}", version, kModelFormatVersion));
    if (bytes.size() < declared) fail(fmt::format("truncated: {} of {} bytes", bytes.size(), declared));
    if (bytes.size() > declared) fail(fmt::format("corrupt: {} bytes, the header says {}", bytes.size(), declared));
    std::uint32_t stored;
    std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
    if (crc32(bytes.data(), bytes.size() - 4) != stored) fail("corrupt: checksum mismatch");
}

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

template <class T>
T meta_get(const std::filesystem::path& file, const nlohmann::json& meta, const char* key) {
    try {
        return meta.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
        throw ModelFileError(fmt::format("{}: metadata key \"{}\" is missing or of the wrong type", file.string(), key));
    }
}

void load_weights(const std::filesystem::path& file, Classifier& model, const ModelFileContents& contents) {
    std::map<std::string, torch::Tensor> stored(contents.tensors.begin(), contents.tensors.end());
    auto fail = [&](const std::string& problem) {
        throw ModelFileError(fmt::format("{}: {}", file.string(), problem));
    };
    torch::NoGradGuard no_grad;
    auto params = model->named_parameters();
    for (auto& p : params) {
        const auto it = stored.find(p.key());
        if (it == stored.end()) fail(fmt::format("tensor {} is missing", p.key()));
        if (it->second.sizes() != p.value().sizes())
            fail(fmt::format("tensor {} has shape {}, the architecture needs {}", p.key(), shape_str(it->second.sizes()),
                             shape_str(p.value().sizes())));
        p.value().copy_(it->second);  // keeps the parameter's channels-last layout
        stored.erase(it);
    }
    if (!stored.empty()) fail(fmt::format("unexpected tensor {} for this architecture", stored.begin()->first));
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size) {
    // crc32_z takes a size_t length (plain crc32 a 32-bit one).
    return static_cast<std::uint32_t>(::crc32_z(::crc32_z(0, nullptr, 0), static_cast<const Bytef*>(data), size));
}

std::string encode_model_file(const ModelFileContents& contents) {
    std::string out(kMagic, sizeof kMagic);
    put(out, kModelFormatVersion);
    put<std::uint64_t>(out, 0);  // file size, patched below
    const std::string meta = contents.metadata.dump();
    put<std::uint64_t>(out, meta.size());
    out += meta;
    put<std::uint32_t>(out, static_cast<std::uint32_t>(contents.tensors.size()));
    for (const auto& [name, tensor] : contents.tensors) {
        if (tensor.scalar_type() != torch::kFloat32) throw Error(fmt::format("model tensor {} is not float32", name));
        put<std::uint16_t>(out, static_cast<std::uint16_t>(name.size()));
        out += name;
        put<std::uint8_t>(out, kFloat32);
        put<std::uint8_t>(out, static_cast<std::uint8_t>(tensor.dim()));
        for (auto d : tensor.sizes()) put<std::int64_t>(out, d);
        const auto data = tensor.detach().to(torch::kCPU).contiguous();  // logical (NCHW) order
        const std::uint64_t nbytes = static_cast<std::uint64_t>(data.numel()) * sizeof(float);
        put(out, nbytes);
        out.append(static_cast<const char*>(data.data_ptr()), nbytes);
    }
    const std::uint64_t total = out.size() + 4;
    std::memcpy(out.data() + 12, &total, sizeof total);
    put(out, crc32(out.data(), out.size()));
    return out;
}

void write_model_file(const std::filesystem::path& file, const ModelFileContents& contents) {
    write_file_atomic(file, encode_model_file(contents));
}

ModelFileContents read_model_file(const std::filesystem::path& file) { return decode_model_file(read_all(file), file); }

ModelFileContents decode_model_file(const std::string& bytes, const std::filesystem::path& file) {
    check_envelope(file, bytes);
    Cursor in(file, bytes, bytes.size() - 4);
    ModelFileContents out;
    const auto meta_size = in.get<std::uint64_t>("metadata size");
    const char* meta = in.take(meta_size, "metadata");
    JsonParse parsed = parse_json(std::string_view(meta, meta_size));
    if (!parsed.ok()) in.fail("corrupt: metadata is not valid JSON (" + parsed.error + ")");
    if (!parsed.value.is_object()) in.fail("corrupt: metadata is not a JSON object");
    out.metadata = std::move(parsed.value);
    const auto count = in.get<std::uint32_t>("tensor count");
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto name_size = in.get<std::uint16_t>("tensor name size");
        std::string name(in.take(name_size, "tensor name"), name_size);
        if (in.get<std::uint8_t>("tensor dtype") != kFloat32) in.fail(fmt::format("tensor {} is not float32", name));
        std::vector<int64_t> shape(in.get<std::uint8_t>("tensor rank"));
        int64_t numel = 1;
        for (auto& d : shape) {
            d = in.get<std::int64_t>("tensor shape");
            if (d < 0 || d > (int64_t{1} << 32)) in.fail(fmt::format("corrupt: tensor {} has dimension {}", name, d));
            // Bounded so the product cannot overflow (the fuzzer's find); no real tensor comes near.
            if (d > 0 && numel > (int64_t{1} << 40) / d) in.fail(fmt::format("corrupt: tensor {} is too large", name));
            numel *= d;
        }
        const auto nbytes = in.get<std::uint64_t>("tensor size");
        if (nbytes != static_cast<std::uint64_t>(numel) * sizeof(float))
            in.fail(fmt::format("corrupt: tensor {} has {} bytes for shape {}", name, nbytes, shape_str(shape)));
        // The bytes are checked to be in the file before anything is allocated for them.
        const char* data = in.take(nbytes, "tensor data");
        auto t = torch::empty(shape, torch::kFloat32);
        if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);  // an empty tensor has no data pointer
        out.tensors.emplace_back(std::move(name), std::move(t));
    }
    if (!in.at_end()) in.fail("corrupt: extra bytes after the last tensor");
    return out;
}

nlohmann::json architecture_json(const ModelConfig& m, int num_classes) {
    return {{"backbone", m.backbone.name},
            {"input_size", m.input_size},
            {"num_classes", num_classes},
            {"trainable_blocks", m.backbone.trainable_blocks},
            {"head",
             {{"pool", m.head.pool},
              {"pool_size", m.head.pool_size},
              {"hidden_units", m.head.hidden_units},
              {"dropout", m.head.dropout}}}};
}

ModelConfig architecture_from_json(const nlohmann::json& arch) {
    // The same keys and ranges as a run config's "model" section: validated by the config schema, so a
    // crafted file cannot ask for a 10^9-class head or a 0-pixel input.
    nlohmann::json model;
    try {
        model = {{"backbone", {{"name", arch.at("backbone")}, {"trainable_blocks", arch.at("trainable_blocks")}}},
                 {"input_size", arch.at("input_size")},
                 {"num_classes", arch.at("num_classes")},
                 {"head", arch.at("head")}};
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(fmt::format("architecture: {}", e.what()));
    }
    if (model["num_classes"].is_null()) throw ConfigError("architecture: num_classes is null, expected a number");
    ModelConfig m = config_from_json({{"model", model}}, "architecture").model;
    m.backbone.weights.clear();  // the weights are in the model file
    return m;
}

ModelInfo model_info(const Config& config, std::vector<std::string> class_names) {
    ModelInfo info;
    info.class_names = std::move(class_names);
    info.preprocess = Preprocess{config.image_size()};
    info.config = to_json(config);
    return info;
}

void save_model(const std::filesystem::path& file, Classifier& model, const ModelInfo& info) {
    if (static_cast<int>(info.class_names.size()) != model->num_classes())
        throw Error(fmt::format("{}: {} class names for a model with {} classes", file.string(), info.class_names.size(),
                                model->num_classes()));
    if (info.preprocess.input_size != model->config().input_size)
        throw Error(fmt::format("{}: preprocessing input size {} but the model takes {}", file.string(),
                                info.preprocess.input_size, model->config().input_size));
    ModelFileContents contents;
    contents.metadata = {{"format", "maskctl-model"},
                         {"architecture", architecture_json(model->config(), model->num_classes())},
                         {"class_names", info.class_names},
                         {"preprocess", info.preprocess},
                         {"config", info.config},
                         {"metrics", info.metrics},
                         {"created_by", fmt::format("maskctl {} ({})", version(), library_versions())}};
    for (const auto& p : model->named_parameters()) contents.tensors.emplace_back(p.key(), p.value());
    write_model_file(file, contents);
}

LoadedModel load_model(const std::filesystem::path& file) { return model_from_contents(read_model_file(file), file); }

LoadedModel model_from_contents(const ModelFileContents& contents, const std::filesystem::path& file) {
    const auto& meta = contents.metadata;
    if (meta.value("format", "") != "maskctl-model")
        throw ModelFileError(fmt::format("{}: metadata format is not \"maskctl-model\"", file.string()));
    LoadedModel out;
    ModelConfig arch;
    try {
        arch = architecture_from_json(meta.at("architecture"));
        out.model = Classifier(arch, *arch.num_classes);
    } catch (const std::exception& e) {  // ConfigError, or a missing "architecture"
        throw ModelFileError(fmt::format("{}: unsupported architecture: {}", file.string(), e.what()));
    }
    out.info.class_names = meta_get<std::vector<std::string>>(file, meta, "class_names");
    out.info.preprocess = meta_get<Preprocess>(file, meta, "preprocess");
    out.info.config = meta.value("config", nlohmann::json::object());
    out.info.metrics = meta.value("metrics", nlohmann::json::object());
    if (static_cast<int>(out.info.class_names.size()) != *arch.num_classes)
        throw ModelFileError(fmt::format("{}: {} class names for {} classes", file.string(),
                                         out.info.class_names.size(), *arch.num_classes));
    if (out.info.preprocess.input_size != arch.input_size)
        throw ModelFileError(fmt::format("{}: preprocessing input size {} but the architecture takes {}", file.string(),
                                         out.info.preprocess.input_size, arch.input_size));
    load_weights(file, out.model, contents);
    out.model->eval();
    return out;
}

}  // namespace maskctl
