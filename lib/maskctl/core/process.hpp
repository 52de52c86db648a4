#pragma once
// Programs run beside maskctl (a broker for the tests and benchmarks, a child maskctl measured by the
// bench, violation commands of maskctl detect): started with posix_spawn, not fork, because fork in a
// process with running threads may copy a lock held by another thread into the child.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace maskctl {

struct SpawnOptions {
    std::map<std::string, std::string> env;  // set in the child's environment (the rest is inherited)
    std::filesystem::path output;            // stdout and stderr appended here; empty = inherited
};

// Starts `argv` (argv[0] is the program path, not searched in PATH) and returns its pid without
// waiting. Throws IoError naming the program when it cannot be started.
pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options);

// The same with stdout and stderr appended to `log`.
pid_t spawn_process(const std::vector<std::string>& argv, const std::filesystem::path& log);

// A child process that lives as long as this object: the destructor stops it, so a failing test or
// an exception never leaves it behind.
class ChildProcess {
public:
    ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log);
    ~ChildProcess();  // stop()
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    // True until it has exited (reaps it when it has).
    bool running();
    // Sends `signal`, waits up to `grace` seconds, then SIGKILL. Returns the exit code (128 + signal
    // when a signal ended it); -1 when it was already reaped.
    int stop(int signal = 15, double grace = 5.0);
    // Waits up to `seconds` for it to exit by itself; returns its exit code, or -1 when it still runs.
    int wait(double seconds);

private:
    pid_t pid_ = -1;
    int exit_code_ = -1;
};

}  // namespace maskctl
