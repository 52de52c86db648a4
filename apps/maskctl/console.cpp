#include "console.hpp"

#include <csignal>

#include <fmt/format.h>
#include <unistd.h>

#include "maskctl/core/wall_clock.hpp"

namespace maskctl::app {

Progress::Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDOUT_FILENO) != 0) {}

void Progress::update(const std::string& phase, std::size_t done, std::size_t total) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    if (phase != phase_ || done < last_done_) {
        finish_line();
        phase_ = phase;
        phase_start_ = last_draw_ = now;
    }
    last_done_ = done;
    const bool last = done >= total;
    // A terminal gets 10 redraws a second; a log gets a line every 15 s (so CI shows it is alive)
    // and none at the end of a phase, whose summary line follows anyway.
    if (tty_ ? (!last && now - last_draw_ < std::chrono::milliseconds(100))
             : (last || now - last_draw_ < std::chrono::seconds(15)))
        return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - phase_start_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total - done) / rate : 0;
    const int width = 30;
    const int filled = total ? static_cast<int>(width * static_cast<double>(done) / total) : width;
    const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
    const std::string line = fmt::format("{:>9} [{}] {}/{} {:.0f} img/s ETA {:.0f}s", phase, bar, done, total, rate, eta);
    if (tty_) {
        fmt::print("\r{}\033[K", line);
        open_line_ = true;
        if (last) finish_line();
    } else {
        fmt::print("{}\n", line);
    }
    std::fflush(stdout);
}

void Progress::finish_line() {
    if (open_line_) fmt::print("\r\033[K");
    open_line_ = false;
    std::fflush(stdout);
}

std::string utc_timestamp() { return utc_iso(unix_now()); }

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int sig) {
    g_stop.store(true);
    std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process at once
}
}  // namespace

const std::atomic<bool>& install_stop_handler() {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    return g_stop;
}

}  // namespace maskctl::app
