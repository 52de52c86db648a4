#include "maskctl/core/process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maskctl/core/errors.hpp"

extern char** environ;

namespace maskctl {
namespace {

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// The parent's environment with `env` added or replacing variables of the same name.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& env) {
    std::vector<std::string> entries;
    for (char** e = environ; e && *e; ++e) {
        const std::string entry(*e);
        if (!env.count(entry.substr(0, entry.find('=')))) entries.push_back(entry);
    }
    for (const auto& [k, v] : env) entries.push_back(k + "=" + v);
    return entries;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options) {
    if (argv.empty()) throw IoError("cannot start a program: no command");
    std::vector<std::string> args = argv, env = child_environment(options.env);
    std::vector<char*> arg_ptrs = pointers(args), env_ptrs = pointers(env);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!options.output.empty()) {
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.output.c_str(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    pid_t pid = 0;
    const int err = posix_spawn(&pid, arg_ptrs[0], &actions, nullptr, arg_ptrs.data(), env_ptrs.data());
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) throw IoError(fmt::format("{}: cannot start: {}", argv[0], std::strerror(err)));
    return pid;
}

pid_t spawn_process(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    SpawnOptions options;
    options.output = log;
    return spawn_process(argv, options);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log)
    : pid_(spawn_process(argv, log)) {}

ChildProcess::~ChildProcess() { stop(SIGKILL, 5.0); }

bool ChildProcess::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    exit_code_ = r == pid_ ? exit_code(status) : -1;
    pid_ = -1;
    return false;
}

int ChildProcess::wait(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running()) {
        if (std::chrono::steady_clock::now() >= end) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
}

int ChildProcess::stop(int signal, double grace) {
    if (!running()) return exit_code_;
    ::kill(pid_, signal);
    if (wait(grace) == -1 && running()) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
        exit_code_ = exit_code(status);
        pid_ = -1;
    }
    return exit_code_;
}

}  // namespace maskctl
