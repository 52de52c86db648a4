#pragma once
// A folder of images sorted into one subfolder per class, as Keras' flow_from_directory reads it:
//   flat:  root/<class>/**            split here into train/val/test (stratified, seeded)
//   split: root/{train,val|validation,test}/<class>/**   (folder names matched case-insensitively)
// Class names are the folder names, sorted, unless the config lists them. Bad files never stop a run:
// they are skipped and reported.
#include <array>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maskctl/core/config.hpp"
#include "maskctl/core/enum_names.hpp"
#include "maskctl/data/image.hpp"

namespace maskctl {

enum class Split { train = 0, val = 1, test = 2 };
MASKCTL_ENUM_NAMES(Split, {{Split::train, "train"}, {Split::val, "val"}, {Split::test, "test"}})
inline constexpr std::array<Split, 3> kSplits{Split::train, Split::val, Split::test};

// "train", "val", "test".
inline std::string_view split_name(Split split) { return enum_name(split); }
// Accepts train|training, val|valid|validation, test|testing in any letter case.
std::optional<Split> parse_split(std::string_view name);

struct Sample {
    std::filesystem::path path;  // root / relative path
    int label = 0;               // index into Dataset::class_names
    bool operator==(const Sample&) const = default;
};

// Writes "label:path" (for logs and test failure messages).
std::ostream& operator<<(std::ostream& out, const Sample& sample);

struct Dataset {
    std::filesystem::path root;
    std::string layout;  // "flat", "split", or "csv" when data.split_file decided the split
    std::vector<std::string> class_names;
    std::array<std::vector<Sample>, 3> splits;  // indexed by Split; each sorted by path
    BadFileReport bad_files;                    // found while indexing: never in `splits`
    std::size_t ignored_files = 0;              // hidden files and files without an image extension
    std::vector<std::string> unlisted_classes;  // class folders left out because data.class_names omits them

    const std::vector<Sample>& samples(Split split) const { return splits[static_cast<int>(split)]; }
    std::vector<Sample>& samples(Split split) { return splits[static_cast<int>(split)]; }
    // Images per class in one split.
    std::vector<std::size_t> class_counts(Split split) const;
    std::size_t size() const;
};

// Indexes config.root according to config.layout (auto | flat | split), names the classes and
// splits the images (or reads config.split_file). Each file gets a cheap check (size, signature,
// end marker); failures go to bad_files. Throws DataError naming the folder when the root is
// missing, has no class folders, or a class folder has no usable image.
Dataset open_dataset(const DataConfig& config);

// "flat" or "split": what layout = "auto" resolves to for `root`.
std::string detect_layout(const std::filesystem::path& root);

// The stratified split of a flat layout, a pure function of the samples (in any order), ratios,
// seed and class names: within each class the paths are sorted bytewise, shuffled by a portable
// PRNG seeded from (seed, class name), then cut into test, val and train (the rest).
std::array<std::vector<Sample>, 3> stratified_split(std::vector<Sample> samples, const SplitRatios& ratios,
                                                    std::uint64_t seed,
                                                    const std::vector<std::string>& class_names);

// Writes the split as CSV with the header "split,label,path": label is the class name and path is
// relative to the root with '/' separators; fields are quoted as RFC 4180 says when needed.
// Written to a temporary file and renamed, so a reader never sees half a file. Throws IoError.
void write_split_csv(const Dataset& dataset, const std::filesystem::path& file);

// One row of a split file: where an image goes, its class name and its path (relative ones are taken
// from `root`).
struct SplitRow {
    Split split;
    std::string label;
    std::filesystem::path path;
};
// The rows of a split CSV ("split,label,path" header first; a UTF-8 BOM is allowed). Throws DataError
// naming `name` and the row on a bad header, a row without 3 fields, or an unknown split.
std::vector<SplitRow> parse_split_csv(std::string_view text, const std::string& name,
                                      const std::filesystem::path& root);

// One CSV field, quoted only when it contains a comma, quote, CR, LF or leading/trailing space.
std::string csv_field(std::string_view text);
// Parses a whole CSV text into rows of fields (quoted fields may hold commas, quotes and newlines).
// Throws DataError naming `name` and the line on an unterminated quote.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& name);

}  // namespace maskctl
