#pragma once
// A trained model as one self-contained file: architecture, weights, class names, preprocessing,
// the config that trained it and its metrics, so it runs on another machine with nothing else.
//
// Layout (little-endian), format version 1:
//   "MASKCTL\0"              8-byte magic
//   u32 format version
//   u64 file size            total bytes, so truncation is reported as such
//   u64 n, n bytes           metadata, UTF-8 JSON (see below)
//   u32 tensor count, then per tensor:
//     u16 n, n bytes name    e.g. "backbone.blocks.3.depthwise.conv.weight"
//     u8 dtype (1 = float32), u8 rank, rank x i64 dims, u64 byte count, raw data (logical NCHW order)
//   u32 CRC-32 (IEEE)        of every byte before it
// Metadata: {"format": "maskctl-model", "architecture": {backbone, input_size, num_classes,
// trainable_blocks, head: {pool, pool_size, hidden_units, dropout}}, "class_names": [...],
// "preprocess": {...}, "config": {...}, "metrics": {...}, "created_by": "maskctl x.y.z (...)"}.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "maskctl/model/classifier.hpp"
#include "maskctl/core/config.hpp"
#include "maskctl/data/preprocess.hpp"

namespace maskctl {

inline constexpr std::uint32_t kModelFormatVersion = 1;

// Everything a model file carries besides the architecture and weights.
struct ModelInfo {
    std::vector<std::string> class_names;
    Preprocess preprocess;
    nlohmann::json config = nlohmann::json::object();   // the run config that trained the model
    nlohmann::json metrics = nlohmann::json::object();  // e.g. test accuracy, per-class F1
};

// What a model trained with `config` on `class_names` carries, before any metrics.
ModelInfo model_info(const Config& config, std::vector<std::string> class_names);

struct LoadedModel {
    Classifier model{nullptr};  // eval mode, weights from the file
    ModelInfo info;
};

// Writes atomically (temporary sibling + rename). Throws Error when `info` does not fit the model
// (class count, input size) and IoError when the file cannot be written.
void save_model(const std::filesystem::path& file, Classifier& model, const ModelInfo& info);

// Throws ModelFileError("<file>: <problem>") when the file is missing, not a model file, of another
// format version, truncated, corrupt (checksum), or its weights do not fit its architecture.
LoadedModel load_model(const std::filesystem::path& file);

// The architecture part of the metadata, and back (ConfigError on bad values).
nlohmann::json architecture_json(const ModelConfig& model, int num_classes);
ModelConfig architecture_from_json(const nlohmann::json& arch);

// The container without interpretation (tools and tests that inspect or craft files).
struct ModelFileContents {
    nlohmann::json metadata;
    std::vector<std::pair<std::string, torch::Tensor>> tensors;  // float32
};
std::string encode_model_file(const ModelFileContents& contents);
void write_model_file(const std::filesystem::path& file, const ModelFileContents& contents);
ModelFileContents read_model_file(const std::filesystem::path& file);
// The same from bytes in memory (`file` names them in messages).
ModelFileContents decode_model_file(const std::string& bytes, const std::filesystem::path& file);
// load_model's second half: the architecture and weights of decoded contents. Throws ModelFileError.
LoadedModel model_from_contents(const ModelFileContents& contents, const std::filesystem::path& file);

// CRC-32 (IEEE 802.3) of `size` bytes, computed by zlib.
std::uint32_t crc32(const void* data, std::size_t size);

}  // namespace maskctl
