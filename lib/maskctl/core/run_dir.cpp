#include "maskctl/core/run_dir.hpp"

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

void create_output_folder(const std::filesystem::path& dir) {
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw WriteError(fmt::format("{}: cannot create folder: {}", dir.string(), ec.message()));
}

std::filesystem::path create_run_dir(const std::filesystem::path& parent, const std::string& name) {
    namespace fs = std::filesystem;
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        throw IoError(fmt::format("run name '{}' is not a plain folder name", name));
    create_output_folder(parent);
    std::error_code ec;
    for (int i = 1; i < 100000; ++i) {
        const fs::path dir = parent / (i == 1 ? name : name + std::to_string(i));
        if (fs::create_directory(dir, ec)) return dir;
        if (ec) throw WriteError(fmt::format("{}: cannot create folder: {}", dir.string(), ec.message()));
    }
    throw WriteError(fmt::format("{}: no free run folder name for '{}'", parent.string(), name));
}

}  // namespace maskctl
