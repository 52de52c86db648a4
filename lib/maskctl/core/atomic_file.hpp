#pragma once
// Files other programs may read while we write (split CSVs, charts, reports) are written to a
// temporary sibling and renamed into place: readers see the old file or the new one, never half.
#include <filesystem>
#include <string_view>

namespace maskctl {

// Throws IoError naming the file when the folder is missing or the write or rename fails.
void write_file_atomic(const std::filesystem::path& file, std::string_view bytes);

}  // namespace maskctl
