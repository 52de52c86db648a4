#include "maskctl/core/process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
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

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    if (argv.empty()) throw IoError("cannot start a program: no command");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) throw IoError(fmt::format("{}: cannot start: {}", argv[0], std::strerror(err)));
    return pid;
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
