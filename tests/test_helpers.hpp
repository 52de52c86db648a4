#pragma once
// Paths shared by the tests: ../shared (read-only data), the source tree, the built CLI.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include <sys/wait.h>

#include <unistd.h>

namespace maskctl::test {

inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("MASKCTL_SHARED")) return env;
    return MASKCTL_SHARED_DIR;
}
inline std::filesystem::path source_dir() { return MASKCTL_SOURCE_DIR; }
inline std::filesystem::path maskctl_binary() { return MASKCTL_BINARY; }

// A fresh, empty directory under the system temp dir, removed when the object goes away.
class TempDir {
public:
    explicit TempDir(const std::string& tag = "maskctl-test") {
        namespace fs = std::filesystem;
        for (int i = 0;; ++i) {
            path_ = fs::temp_directory_path() / (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(i));
            if (fs::create_directories(path_)) break;
        }
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// All of `file` ("" when it cannot be read): test logs and outputs, read after the fact.
inline std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the maskctl CLI with `args` (shell syntax: quote paths), stdout and stderr going to `log`;
// `prefix` goes before it (e.g. "setpriv --reuid=65534 ..." to run as another user).
// Returns (exit code, everything it printed).
inline std::pair<int, std::string> run_cli(const std::string& args, const std::filesystem::path& log,
                                           const std::string& prefix = "") {
    const std::string command =
        prefix + " '" + maskctl_binary().string() + "' " + args + " > '" + log.string() + "' 2>&1";
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(log)};
}

}  // namespace maskctl::test
