#pragma once
// Running a user's command when something happens (a face stays unmasked: sound an alarm, keep a
// door shut) without stalling the video: the command is started and left to run; finished ones are
// collected later.
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace maskctl {

class CommandRunner {
public:
    // `command` runs through /bin/sh -c, so it may use pipes and redirections.
    explicit CommandRunner(std::string command);
    ~CommandRunner();  // waits up to 2 s for running commands, then leaves them (never kills them)
    CommandRunner(const CommandRunner&) = delete;
    CommandRunner& operator=(const CommandRunner&) = delete;

    // Starts the command with `env` added to this process's environment and returns at once.
    // Throws IoError when it cannot be started.
    pid_t start(const std::map<std::string, std::string>& env = {});

    // Collects finished commands (no zombies); returns how many finished since the last call.
    int reap();

    // Waits until every started command has finished or `seconds` have passed; returns how many still run.
    int wait(double seconds);

    int running() const { return static_cast<int>(children_.size()); }
    int started() const { return started_; }
    int failed() const { return failed_; }  // finished with a non-zero status or a signal

private:
    std::string command_;
    std::vector<pid_t> children_;
    int started_ = 0;
    int failed_ = 0;
};

}  // namespace maskctl
