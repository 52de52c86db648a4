#pragma once
// Console helpers shared by subcommands: a progress bar that redraws in place on a terminal and
// prints occasional plain lines otherwise (CI logs, pipes), and Ctrl-C handling.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace maskctl::app {

class Progress {
public:
    explicit Progress(bool quiet);
    // Shows `done` of `total` for `phase`, with images/s and ETA.
    void update(const std::string& phase, std::size_t done, std::size_t total);
    // Ends a bar line so the next print starts clean.
    void finish_line();
    bool tty() const { return tty_; }

private:
    bool quiet_;
    bool tty_;
    bool open_line_ = false;
    std::string phase_;
    std::size_t last_done_ = 0;
    std::chrono::steady_clock::time_point phase_start_, last_draw_;
};

// The current time as ISO 8601 UTC, e.g. "2026-11-22T03:14:15Z".
std::string utc_timestamp();

// Installs a SIGINT/SIGTERM handler that sets the returned flag (the second signal kills as usual).
const std::atomic<bool>& install_stop_handler();

}  // namespace maskctl::app
