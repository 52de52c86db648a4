#pragma once
// Elapsed time on the steady clock, for durations the library reports (epoch times, stage latencies).
#include <chrono>

namespace maskctl {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

inline double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace maskctl
