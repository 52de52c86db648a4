#include "maskctl/detect/action.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include "maskctl/core/errors.hpp"

extern char** environ;

namespace maskctl {

CommandRunner::CommandRunner(std::string command) : command_(std::move(command)) {
    if (command_.empty()) throw ConfigError("the violation command is empty");
}

CommandRunner::~CommandRunner() { wait(2.0); }

pid_t CommandRunner::start(const std::map<std::string, std::string>& env) {
    reap();
    // posix_spawn, not fork: fork in a process with running threads (capture, detection) may copy
    // a lock held by another thread into the child.
    std::vector<std::string> entries;
    for (char** e = environ; e && *e; ++e) {
        const std::string entry(*e);
        const auto name = entry.substr(0, entry.find('='));
        if (!env.count(name)) entries.push_back(entry);
    }
    for (const auto& [k, v] : env) entries.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : entries) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string sh = "/bin/sh", dash_c = "-c", cmd = command_;
    char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data());
    if (rc != 0) throw IoError(fmt::format("cannot start '{}': {}", command_, std::strerror(rc)));
    children_.push_back(pid);
    ++started_;
    return pid;
}

int CommandRunner::reap() {
    int done = 0;
    std::erase_if(children_, [&](pid_t pid) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == 0) return false;
        // r < 0: someone else reaped it (ECHILD); count it as finished either way.
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_;
        ++done;
        return true;
    });
    return done;
}

int CommandRunner::wait(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    reap();
    while (!children_.empty() && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        reap();
    }
    return running();
}

}  // namespace maskctl
