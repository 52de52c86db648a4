#include "maskctl/core/append_file.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

AppendFile::AppendFile(const std::filesystem::path& file, bool truncate) : file_(file) {
    fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0666);
    if (fd_ < 0) throw WriteError(fmt::format("{}: cannot open for writing: {}", file.string(), std::strerror(errno)));
}

AppendFile::~AppendFile() {
    if (fd_ >= 0) ::close(fd_);
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : file_(std::move(other.file_)), fd_(std::exchange(other.fd_, -1)) {}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        file_ = std::move(other.file_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

void AppendFile::write_line(std::string_view line) {
    if (fd_ < 0) throw WriteError(fmt::format("{}: not open for writing", file_.string()));
    std::string text(line);
    text += '\n';
    const off_t before = ::lseek(fd_, 0, SEEK_END);
    // One write() per line with O_APPEND: a reader never sees two lines interleaved.
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        const int error = n < 0 ? errno : EIO;
        // A half-written line would break every reader of the log: take it back.
        if (done > 0 && before >= 0 && ::ftruncate(fd_, before) != 0) {
            // nothing more to do: the error below is what the caller needs to know
        }
        throw WriteError(fmt::format("{}: cannot append: {}", file_.string(), std::strerror(error)));
    }
}

void AppendFile::close() {
    if (fd_ < 0) return;
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0)
        throw WriteError(fmt::format("{}: cannot close: {}", file_.string(), std::strerror(errno)));
}

void append_line(const std::filesystem::path& file, std::string_view line) {
    AppendFile out(file, false);
    out.write_line(line);
    out.close();
}

}  // namespace maskctl
