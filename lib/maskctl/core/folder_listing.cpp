#include "maskctl/core/folder_listing.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;

bool hidden(const fs::path& path) {
    const std::string name = path.filename().string();
    return !name.empty() && name.front() == '.';
}

std::string type_name(fs::file_type type) {
    switch (type) {
        case fs::file_type::fifo: return "a named pipe (FIFO)";
        case fs::file_type::socket: return "a socket";
        case fs::file_type::block: return "a block device";
        case fs::file_type::character: return "a character device";
        case fs::file_type::directory: return "a folder";
        default: return "not a regular file";
    }
}

// The reason a link or a file status cannot be used, from the error of following it.
std::string status_problem(const fs::path& path, const std::error_code& ec) {
    if (ec == std::errc::too_many_symbolic_link_levels) return "symlink loop (too many levels of symbolic links)";
    if (ec == std::errc::no_such_file_or_directory) {
        std::error_code link_ec;
        return fs::is_symlink(path, link_ec) ? "broken link (its target does not exist)" : "file not found";
    }
    if (ec == std::errc::permission_denied) return "cannot be read (permission denied)";
    return "cannot be read (" + ec.message() + ")";
}

}  // namespace

FolderListing list_folder(const fs::path& root, bool recursive) {
    FolderListing out;
    std::error_code ec;
    const fs::file_status root_status = fs::status(root, ec);
    if (ec || !fs::exists(root_status))
        throw IoError(fmt::format("{}: {}", root.string(), ec ? status_problem(root, ec) : "no such file or folder"));
    if (!fs::is_directory(root_status)) {
        if (fs::is_regular_file(root_status)) out.files.push_back(root);
        else out.skipped.push_back({root, type_name(root_status.type()) + ", not a file"});
        return out;
    }
    // An explicit stack rather than recursion: a folder tree thousands of levels deep cannot overflow it.
    std::vector<fs::path> folders{root};
    bool first = true;
    while (!folders.empty()) {
        const fs::path dir = std::move(folders.back());
        folders.pop_back();
        fs::directory_iterator it(dir, ec);
        if (ec) {
            if (first) throw IoError(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
            out.skipped.push_back({dir, "folder cannot be listed (" + ec.message() + ")"});
            continue;
        }
        first = false;
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) {
                out.skipped.push_back({dir, "folder listing failed part way (" + ec.message() + ")"});
                break;
            }
            const fs::path& path = it->path();
            if (hidden(path)) {
                std::error_code dir_ec;
                if (!it->is_directory(dir_ec)) ++out.hidden_files;
                continue;
            }
            std::error_code link_ec, type_ec;
            const bool link = it->is_symlink(link_ec);
            const fs::file_status st = it->status(type_ec);  // follows links
            if (type_ec) out.skipped.push_back({path, status_problem(path, type_ec)});
            else if (fs::is_directory(st) && link) out.skipped.push_back({path, "link to a folder (not followed)"});
            else if (fs::is_directory(st) && recursive) folders.push_back(path);
            else if (fs::is_directory(st)) continue;
            else if (fs::is_regular_file(st)) out.files.push_back(path);
            else if (!fs::exists(st)) out.skipped.push_back({path, status_problem(path, std::make_error_code(std::errc::no_such_file_or_directory))});
            else out.skipped.push_back({path, type_name(st.type()) + ", not a file"});
        }
    }
    std::sort(out.files.begin(), out.files.end(),
              [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
    return out;
}

fs::path path_below(const fs::path& root, const fs::path& file) {
    const fs::path below = file.lexically_normal().lexically_relative(root.lexically_normal());
    if (below.empty() || below == "." || below.is_absolute() || *below.begin() == "..")
        throw Error(fmt::format("{}: not a file below {}", file.string(), root.string()));
    return below;
}

}  // namespace maskctl
