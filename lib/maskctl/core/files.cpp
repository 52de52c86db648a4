#include "maskctl/core/files.hpp"

#include <fstream>

namespace maskctl {
namespace fs = std::filesystem;

std::string_view describe(FileProblem problem) {
    switch (problem) {
        case FileProblem::none: return "ok";
        case FileProblem::missing: return "not found";
        case FileProblem::not_a_file: return "is not a regular file (a folder, FIFO or device)";
        case FileProblem::unreadable: return "cannot be read (permissions or I/O error)";
    }
    return "cannot be read";
}

FileProblem file_problem(const fs::path& file) {
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (status.type() == fs::file_type::not_found) return FileProblem::missing;
    if (ec) return FileProblem::unreadable;
    return status.type() == fs::file_type::regular ? FileProblem::none : FileProblem::not_a_file;
}

namespace {

template <class Bytes>
FileProblem read_whole(const fs::path& file, Bytes& out) {
    if (const FileProblem p = file_problem(file); p != FileProblem::none) return p;
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    if (!in) return FileProblem::unreadable;
    const std::streamoff size = in.tellg();
    if (size < 0) return FileProblem::unreadable;
    out.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size))) return FileProblem::unreadable;
    return FileProblem::none;
}

}  // namespace

FileProblem read_file(const fs::path& file, std::string& out) { return read_whole(file, out); }
FileProblem read_file(const fs::path& file, std::vector<unsigned char>& out) { return read_whole(file, out); }

}  // namespace maskctl
