#include "maskctl/detect/action.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <sys/wait.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/core/process.hpp"

namespace maskctl {

CommandRunner::CommandRunner(std::string command) : command_(std::move(command)) {
    if (command_.empty()) throw ConfigError("the violation command is empty");
}

CommandRunner::~CommandRunner() { wait(2.0); }

pid_t CommandRunner::start(const std::map<std::string, std::string>& env) {
    reap();
    SpawnOptions options;
    options.env = env;
    const pid_t pid = spawn_process({"/bin/sh", "-c", command_}, options);
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
