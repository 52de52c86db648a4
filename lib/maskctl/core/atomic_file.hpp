#pragma once
// Outputs users rely on (model files, checkpoints, reports, charts, split CSVs, statistics) are
// written to a temporary sibling and renamed into place: readers, and a run after a crash, see the
// old file or the new one, never half of one. A kill -9 can leave a temporary behind; the next write
// into the same folder removes it (only files of our own naming pattern whose process is gone).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace maskctl {

// Throws WriteError naming `file` (never the temporary) when the folder is missing or not writable,
// the disk is full or the rename fails. The previous `file` is then untouched and no temporary is left.
void write_file_atomic(const std::filesystem::path& file, std::string_view bytes);

// The temporary sibling of `file`: ".<name>.maskctl-tmp-<pid>-<n>", then `file`'s extension again
// when `keep_extension` (video writers pick the container from the last extension). Unique per call.
std::filesystem::path temp_sibling(const std::filesystem::path& file, bool keep_extension = false);

// Removes the temporaries of temp_sibling's pattern (and the "<name>.tmp<pid>-<n>" of older maskctl
// versions) in `dir` whose process no longer runs. Every other file, and the temporaries of running
// processes, are left alone. Returns the number removed.
std::size_t remove_stale_temporaries(const std::filesystem::path& dir);

// Throws WriteError naming `file` when its folder is missing or not writable, or `file` is a folder:
// checked before long work, so an output is not lost at the end of it.
void check_output_path(const std::filesystem::path& file);

// Throws WriteError naming `file` when its folder's file system has less than `bytes` free: a cheap
// check before a long write, so a full disk is reported before the work rather than after it.
void check_free_space(const std::filesystem::path& file, std::uintmax_t bytes);

}  // namespace maskctl
