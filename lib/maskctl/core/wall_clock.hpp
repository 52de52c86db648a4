#pragma once
// Wall-clock time as plain seconds since the Unix epoch, so code that keeps time windows (compliance
// statistics, MQTT stats) takes the clock as a function and tests can drive it without sleeping.
#include <functional>
#include <optional>
#include <string>

namespace maskctl {

// Seconds since 1970-01-01T00:00:00Z.
using WallClock = std::function<double()>;

// The system clock as a WallClock.
double unix_now();

// "2026-11-22T03:14:15Z" (whole seconds, UTC).
std::string utc_iso(double unix_seconds);

// The start of the calendar day holding `unix_seconds`: local midnight in this process's time zone
// (TZ), or midnight at `utc_offset` seconds east of UTC when given.
double day_start(double unix_seconds, std::optional<int> utc_offset = std::nullopt);

}  // namespace maskctl
