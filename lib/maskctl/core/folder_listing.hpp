#pragma once
// Listing the files under a folder the user gave us (a dataset, `predict DIR`, `detect --image DIR`)
// by one rule: an entry that cannot be used (a symlink loop, a broken link, a named pipe, a folder we
// may not read) is reported with its reason and left out; the rest is listed. Nothing here throws on a
// bad entry, and nothing opens a file (opening a named pipe would block).
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace maskctl {

struct SkippedEntry {
    std::filesystem::path path;
    std::string reason;  // e.g. "symlink loop (too many levels of symbolic links)"
};

struct FolderListing {
    std::vector<std::filesystem::path> files;  // regular files and links to them, sorted bytewise
    std::vector<SkippedEntry> skipped;         // entries that cannot be used, in the order met
    std::size_t hidden_files = 0;              // names starting with '.', left out (hidden folders are not entered)
};

// Every file under `root`, with its subfolders when `recursive` (links to folders are reported, not
// followed, so a link cannot make a loop). A `root` that is a file lists that file. Throws IoError
// only when `root` itself cannot be listed (missing, unreadable); everything below it is reported.
FolderListing list_folder(const std::filesystem::path& root, bool recursive = true);

// A listed file's name below `root`, as listed: a link keeps its own name. This is what outputs
// (annotated copies, label files) are named by; std::filesystem::relative would follow the link and
// give "../../photos/a.jpg", and out / that is the user's own photo. Throws Error when `file` is not
// below `root`.
std::filesystem::path path_below(const std::filesystem::path& root, const std::filesystem::path& file);

}  // namespace maskctl
