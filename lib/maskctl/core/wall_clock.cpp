#include "maskctl/core/wall_clock.hpp"

#include <chrono>
#include <cmath>
#include <ctime>

namespace maskctl {

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string utc_iso(double unix_seconds) {
    const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double day_start(double unix_seconds, std::optional<int> utc_offset) {
    double offset = 0;
    if (utc_offset) {
        offset = *utc_offset;
    } else {
        // tm_gmtoff of that very instant, so a daylight-saving change mid-run moves the offset too.
        const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
        std::tm tm{};
        localtime_r(&t, &tm);
        offset = static_cast<double>(tm.tm_gmtoff);
    }
    const double local = unix_seconds + offset;
    return unix_seconds - (local - std::floor(local / 86400.0) * 86400.0);
}

}  // namespace maskctl
