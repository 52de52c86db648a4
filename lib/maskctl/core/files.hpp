#pragma once
// Reading whole files safely: the type is checked before anything is opened, because opening a FIFO
// blocks until a writer comes and a device may never end; a folder cannot be read at all.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace maskctl {

enum class FileProblem { none, missing, not_a_file, unreadable };

// "not found", "is not a regular file (a folder, FIFO or device)", "cannot be read (...)".
std::string_view describe(FileProblem problem);

// Why `file` cannot be read as a regular file, without opening it; none when it looks fine.
FileProblem file_problem(const std::filesystem::path& file);

// Reads all of `file` into `out` (replacing its content). Returns why it could not.
FileProblem read_file(const std::filesystem::path& file, std::string& out);
FileProblem read_file(const std::filesystem::path& file, std::vector<unsigned char>& out);

}  // namespace maskctl
