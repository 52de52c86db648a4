#pragma once
// Logs other programs follow while they grow (detect --events, a run's log.jsonl): one line at a time,
// each written through to the file at once, so `tail -f` sees it and a kill loses nothing written.
// Unlike an ofstream, a failed write (disk full, file system gone) is an error, never silence.
#include <filesystem>
#include <string_view>

namespace maskctl {

class AppendFile {
public:
    AppendFile() = default;
    // Opens (creating it; emptied first when `truncate`). Throws WriteError naming the file.
    AppendFile(const std::filesystem::path& file, bool truncate);
    ~AppendFile();
    AppendFile(AppendFile&& other) noexcept;
    AppendFile& operator=(AppendFile&& other) noexcept;
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;

    bool is_open() const { return fd_ >= 0; }
    const std::filesystem::path& path() const { return file_; }
    // Appends `line` and a newline in one write. Throws WriteError naming the file.
    void write_line(std::string_view line);
    // Closes; throws WriteError when the system reports a late write error.
    void close();

private:
    std::filesystem::path file_;
    int fd_ = -1;
};

// Appends one line to `file`, creating it: for occasional entries such as a run's log.jsonl.
void append_line(const std::filesystem::path& file, std::string_view line);

}  // namespace maskctl
