#include "maskctl/core/atomic_file.hpp"

#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <regex>
#include <set>
#include <string>

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTempMarker = ".maskctl-tmp-";

fs::path folder_of(const fs::path& file) { return file.has_parent_path() ? file.parent_path() : fs::path("."); }

[[noreturn]] void fail(const fs::path& file, const std::string& what, int error) {
    throw WriteError(fmt::format("{}: {}: {}", file.string(), what, std::strerror(error)));
}

// Writes all of `bytes` to a new file and flushes it to the disk; returns errno, or 0.
int write_new_file(const fs::path& temp, std::string_view bytes) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return errno;
    int error = 0;
    for (std::size_t done = 0; done < bytes.size() && !error;) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) error = errno;
        else if (n == 0) error = EIO;
    }
    // fsync: the data reaches the disk before the rename makes it the file (a power cut then leaves
    // the old file, not an empty new one).
    if (!error && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && !error) error = errno;
    return error;
}

// The first write into a folder in this process sweeps it once.
void sweep_once(const fs::path& dir) {
    static std::mutex mutex;
    static std::set<std::string> swept;
    std::error_code ec;
    const fs::path key = fs::absolute(dir, ec).lexically_normal();
    {
        std::lock_guard lock(mutex);
        if (!swept.insert(key.string()).second) return;
    }
    remove_stale_temporaries(dir);
}

}  // namespace

fs::path temp_sibling(const fs::path& file, bool keep_extension) {
    static std::atomic<unsigned> counter{0};
    // pid + counter: two processes or two threads writing the same target never share a temporary.
    return folder_of(file) / fmt::format(".{}{}{}-{}{}", file.filename().string(), kTempMarker,
                                         static_cast<long>(::getpid()), counter++,
                                         keep_extension ? file.extension().string() : "");
}

std::size_t remove_stale_temporaries(const fs::path& dir) {
    // Ours, and the "<name>.tmp<pid>-<n>" of maskctl versions before this one (a kill then left those).
    static const std::regex pattern(R"(\..+\.maskctl-tmp-([0-9]{1,9})-[0-9]+(\.[A-Za-z0-9]{1,8})?|.+\.tmp([0-9]{1,9})-[0-9]+)");
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return 0;
    std::size_t removed = 0;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        const std::string name = it->path().filename().string();
        std::smatch m;
        if (name.find(".maskctl-tmp-") == std::string::npos && name.find(".tmp") == std::string::npos) continue;
        if (!std::regex_match(name, m, pattern)) continue;
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec)) continue;
        const auto pid = static_cast<pid_t>(std::stol(m[1].matched ? m[1].str() : m[3].str()));
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still run
        std::error_code rm_ec;
        if (fs::remove(it->path(), rm_ec)) ++removed;
    }
    return removed;
}

void check_output_path(const fs::path& file) {
    const fs::path dir = folder_of(file);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw WriteError(fmt::format("{}: the folder {} does not exist", file.string(), dir.string()));
    if (::access(dir.c_str(), W_OK) != 0)
        throw WriteError(fmt::format("{}: the folder {} is not writable", file.string(), dir.string()));
    if (fs::is_directory(file, ec)) throw WriteError(fmt::format("{}: is a folder, expected a file name", file.string()));
}

void check_free_space(const fs::path& file, std::uintmax_t bytes) {
    struct statvfs s {};
    if (::statvfs(folder_of(file).c_str(), &s) != 0) return;  // the write itself will say what is wrong
    const std::uintmax_t free = static_cast<std::uintmax_t>(s.f_bavail) * s.f_frsize;
    // Needed rounded up, free rounded down: the two never print as the same number.
    if (free < bytes)
        throw WriteError(fmt::format("{}: not enough disk space: {:.1f} MB needed, {:.1f} MB free", file.string(),
                                     std::ceil(static_cast<double>(bytes) / 1e5) / 10,
                                     std::floor(static_cast<double>(free) / 1e5) / 10));
}

void write_file_atomic(const fs::path& file, std::string_view bytes) {
    const fs::path dir = folder_of(file);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw WriteError(fmt::format("{}: the folder {} does not exist", file.string(), dir.string()));
    sweep_once(dir);
    check_free_space(file, bytes.size());
    const fs::path temp = temp_sibling(file);
    if (const int error = write_new_file(temp, bytes)) {
        fs::remove(temp, ec);
        fail(file, "cannot write", error);
    }
    if (::rename(temp.c_str(), file.c_str()) != 0) {
        const int error = errno;
        fs::remove(temp, ec);
        fail(file, "cannot replace the file", error);
    }
}

}  // namespace maskctl
