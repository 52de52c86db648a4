#include "maskctl/data/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/folder_listing.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/core/random.hpp"

namespace fs = std::filesystem;

namespace maskctl {
namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool hidden(const fs::path& path) {
    const std::string name = path.filename().string();
    return !name.empty() && name.front() == '.';
}

// Byte order of the generic path: the same on every machine and file system.
void sort_by_path(std::vector<Sample>& samples) {
    std::sort(samples.begin(), samples.end(),
              [](const Sample& a, const Sample& b) { return a.path.generic_string() < b.path.generic_string(); });
}

// Non-hidden subfolders of `dir`, sorted bytewise (Python's sorted(), as Keras uses).
std::vector<std::string> subfolders(const fs::path& dir) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) throw DataError(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) throw DataError(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
        std::error_code type_ec;
        if (!hidden(it->path()) && it->is_directory(type_ec)) names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Adds every image under `folder` (recursively, like flow_from_directory) with `label`. Entries that
// cannot be used (unreadable subfolders, symlink loops, named pipes, bad images) go to bad_files.
void index_class_folder(const fs::path& folder, int label, std::vector<Sample>& dest, Dataset& dataset) {
    FolderListing listing;
    try {
        listing = list_folder(folder);
    } catch (const IoError& e) {
        throw DataError(fmt::format("class folder {}", e.what()));
    }
    dataset.ignored_files += listing.hidden_files;
    for (const auto& entry : listing.skipped)
        dataset.bad_files.add({entry.path, ImageProblem::unreadable, fmt::format("{}: {}", entry.path.string(), entry.reason)});
    std::size_t usable = 0;
    std::size_t bad = listing.skipped.size();
    for (const auto& path : listing.files) {
        if (!has_image_extension(path)) {
            ++dataset.ignored_files;
            continue;
        }
        if (const ImageProblem problem = check_image_file(path); problem != ImageProblem::none) {
            dataset.bad_files.add({path, problem, fmt::format("{}: {}", path.string(), describe(problem))});
            ++bad;
            continue;
        }
        dest.push_back({path, label});
        ++usable;
    }
    if (usable == 0)
        throw DataError(bad ? fmt::format("{}: class folder has no usable image ({} bad files)", folder.string(), bad)
                            : fmt::format("{}: class folder has no images", folder.string()));
}

// Class names: the config's list (each must exist as a folder) or the folders found, sorted. Folders
// the list leaves out are noted in `unlisted`.
std::vector<std::string> resolve_classes(const std::vector<std::string>& found, const DataConfig& config,
                                         const fs::path& where, std::vector<std::string>& unlisted) {
    if (!config.class_names) {
        if (found.empty())
            throw DataError(fmt::format("{}: no class folders (expected {}/<class>/<images>)", where.string(),
                                        where.string()));
        return found;
    }
    for (const auto& name : *config.class_names)
        if (std::find(found.begin(), found.end(), name) == found.end())
            throw DataError(fmt::format("data.class_names lists \"{}\" but folder {} does not exist", name,
                                        (where / name).string()));
    for (const auto& name : found)
        if (std::find(config.class_names->begin(), config.class_names->end(), name) == config.class_names->end())
            unlisted.push_back(name);
    return *config.class_names;
}

std::map<Split, fs::path> split_folders(const fs::path& root) {
    std::map<Split, fs::path> folders;
    for (const auto& name : subfolders(root)) {
        const auto split = parse_split(name);
        if (!split)
            throw DataError(fmt::format("{}: folder \"{}\" is not train, val/validation or test (set data.layout to "
                                        "\"flat\" if the subfolders are classes)",
                                        root.string(), name));
        if (folders.count(*split))
            throw DataError(fmt::format("{}: both \"{}\" and \"{}\" are {} folders", root.string(),
                                        folders[*split].filename().string(), name, split_name(*split)));
        folders[*split] = root / name;
    }
    if (!folders.count(Split::train)) throw DataError(fmt::format("{}: split layout without a train folder", root.string()));
    return folders;
}

void open_flat(const DataConfig& config, Dataset& dataset) {
    dataset.class_names = resolve_classes(subfolders(dataset.root), config, dataset.root, dataset.unlisted_classes);
    std::vector<Sample> all;
    for (std::size_t c = 0; c < dataset.class_names.size(); ++c)
        index_class_folder(dataset.root / dataset.class_names[c], static_cast<int>(c), all, dataset);
    dataset.splits = stratified_split(std::move(all), config.split, static_cast<std::uint64_t>(config.seed),
                                      dataset.class_names);
}

void open_split(const DataConfig& config, Dataset& dataset) {
    const auto folders = split_folders(dataset.root);
    std::vector<std::string> found;
    for (const auto& [split, folder] : folders)
        for (auto& name : subfolders(folder))
            if (std::find(found.begin(), found.end(), name) == found.end()) found.push_back(std::move(name));
    std::sort(found.begin(), found.end());
    dataset.class_names = resolve_classes(found, config, folders.at(Split::train), dataset.unlisted_classes);
    for (const auto& [split, folder] : folders) {
        auto& dest = dataset.samples(split);
        for (std::size_t c = 0; c < dataset.class_names.size(); ++c) {
            const fs::path class_folder = folder / dataset.class_names[c];
            std::error_code ec;
            if (fs::is_directory(class_folder, ec))  // a class may be absent from one split
                index_class_folder(class_folder, static_cast<int>(c), dest, dataset);
        }
        sort_by_path(dest);
    }
}

void open_csv(const DataConfig& config, Dataset& dataset) {
    const fs::path file = config.split_file;
    std::string text;
    if (const FileProblem problem = read_file(file, text); problem != FileProblem::none)
        throw DataError(fmt::format("data.split_file {}: {}", file.string(), describe(problem)));
    const std::vector<SplitRow> parsed = parse_split_csv(text, file.string(), dataset.root);

    std::set<std::string> distinct;
    for (const auto& row : parsed) distinct.insert(row.label);
    std::vector<std::string> labels(distinct.begin(), distinct.end());
    if (config.class_names) {
        for (const auto& label : labels)
            if (std::find(config.class_names->begin(), config.class_names->end(), label) == config.class_names->end())
                throw DataError(fmt::format("{}: label \"{}\" is not in data.class_names", file.string(), label));
        labels = *config.class_names;
    }
    if (labels.empty()) throw DataError(fmt::format("{}: split file lists no images", file.string()));
    dataset.class_names = labels;

    std::map<std::string, int> index;
    for (std::size_t i = 0; i < labels.size(); ++i) index.emplace(labels[i], static_cast<int>(i));
    for (const auto& row : parsed) {
        if (const ImageProblem problem = check_image_file(row.path); problem != ImageProblem::none) {
            dataset.bad_files.add({row.path, problem, fmt::format("{}: {}", row.path.string(), describe(problem))});
            continue;
        }
        dataset.samples(row.split).push_back({row.path, index.at(row.label)});
    }
    for (auto& split : dataset.splits) sort_by_path(split);
}

}  // namespace

std::vector<SplitRow> parse_split_csv(std::string_view text, const std::string& name, const fs::path& root) {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // spreadsheet programs add a UTF-8 BOM
    const auto rows = parse_csv(text, name);
    if (rows.empty() || rows[0] != std::vector<std::string>{"split", "label", "path"})
        throw DataError(fmt::format("{}: first line must be the header split,label,path", name));
    std::vector<SplitRow> parsed;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto& row = rows[r];
        if (row.size() == 1 && row[0].empty()) continue;  // blank line
        if (row.size() != 3)
            throw DataError(fmt::format("{}: row {} has {} fields, expected 3 (split,label,path)", name, r + 1, row.size()));
        const auto split = parse_split(row[0]);
        if (!split)
            throw DataError(fmt::format("{}: row {}: split \"{}\" is not train, val or test", name, r + 1,
                                        text_excerpt(row[0])));
        const fs::path path = fs::path(row[2]).is_absolute() ? fs::path(row[2]) : root / row[2];
        parsed.push_back({*split, row[1], path});
    }
    return parsed;
}

std::optional<Split> parse_split(std::string_view name) {
    const std::string n = lower(name);
    if (n == "train" || n == "training") return Split::train;
    if (n == "val" || n == "valid" || n == "validation") return Split::val;
    if (n == "test" || n == "testing") return Split::test;
    return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, const Sample& sample) {
    return out << sample.label << ":" << sample.path.string();
}

std::vector<std::size_t> Dataset::class_counts(Split split) const {
    std::vector<std::size_t> counts(class_names.size(), 0);
    for (const auto& sample : samples(split)) ++counts.at(static_cast<std::size_t>(sample.label));
    return counts;
}

std::size_t Dataset::size() const { return splits[0].size() + splits[1].size() + splits[2].size(); }

std::string detect_layout(const fs::path& root) {
    for (const auto& name : subfolders(root))
        if (parse_split(name) == Split::train) return "split";
    return "flat";
}

std::array<std::vector<Sample>, 3> stratified_split(std::vector<Sample> samples, const SplitRatios& ratios,
                                                    std::uint64_t seed,
                                                    const std::vector<std::string>& class_names) {
    const double total = ratios.train + ratios.val + ratios.test;
    if (!(total > 0) || ratios.train < 0 || ratios.val < 0 || ratios.test < 0)
        throw ConfigError(fmt::format("data.split: ratios {}/{}/{} must be >= 0 with a positive sum", ratios.train,
                                      ratios.val, ratios.test));
    sort_by_path(samples);
    std::vector<std::vector<Sample>> by_class(class_names.size());
    for (auto& sample : samples) by_class.at(static_cast<std::size_t>(sample.label)).push_back(std::move(sample));

    std::array<std::vector<Sample>, 3> out;
    for (std::size_t c = 0; c < by_class.size(); ++c) {
        auto& items = by_class[c];
        // Seeded by the class name, not its index: adding a class leaves the other classes' splits alone.
        Rng rng(derive_seed({seed, hash_string(class_names[c])}));
        shuffle(items, rng);
        const std::size_t n = items.size();
        const auto n_test = std::min(n, static_cast<std::size_t>(std::llround(static_cast<double>(n) * ratios.test / total)));
        const auto n_val = std::min(n - n_test, static_cast<std::size_t>(std::llround(static_cast<double>(n) * ratios.val / total)));
        for (std::size_t i = 0; i < n; ++i) {
            const Split split = i < n_test ? Split::test : i < n_test + n_val ? Split::val : Split::train;
            out[static_cast<int>(split)].push_back(std::move(items[i]));
        }
    }
    for (auto& split : out) sort_by_path(split);
    return out;
}

Dataset open_dataset(const DataConfig& config) {
    Dataset dataset;
    dataset.root = config.root;
    if (!config.split_file.empty()) {
        dataset.layout = "csv";
        open_csv(config, dataset);
        return dataset;
    }
    std::error_code ec;
    if (!fs::is_directory(dataset.root, ec))
        throw DataError(fmt::format("data.root {}: folder not found", dataset.root.string()));
    dataset.layout = config.layout == Layout::automatic ? detect_layout(dataset.root) : enum_name(config.layout);
    if (dataset.layout == "flat") open_flat(config, dataset);
    else open_split(config, dataset);
    return dataset;
}

std::string csv_field(std::string_view text) {
    const bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                       (!text.empty() && (text.front() == ' ' || text.back() == ' '));
    if (!quote) return std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& name) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    std::size_t line = 1;
    std::size_t quote_line = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                if (c == '\n') ++line;
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            quote_line = line;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            ++line;
        } else {
            field += c;
        }
    }
    if (quoted) throw DataError(fmt::format("{}: line {}: quoted field is never closed", name, quote_line));
    if (!field.empty() || !row.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

void write_split_csv(const Dataset& dataset, const fs::path& file) {
    std::string text = "split,label,path\n";
    for (const Split split : kSplits) {
        for (const auto& sample : dataset.samples(split)) {
            fs::path relative = sample.path.lexically_relative(dataset.root);
            // Outside the root (a CSV may point anywhere): keep the path as it is.
            if (relative.empty() || *relative.begin() == "..") relative = sample.path;
            text += fmt::format("{},{},{}\n", split_name(split), csv_field(dataset.class_names.at(sample.label)),
                                csv_field(relative.generic_string()));
        }
    }
    write_file_atomic(file, text);
}

}  // namespace maskctl
