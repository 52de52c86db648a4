#include "maskctl/serve/event_log.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

EventLog::EventLog(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw ConfigError("event log: the capacity must be at least 1");
}

std::uint64_t EventLog::add(nlohmann::json event) {
    std::uint64_t seq = 0;
    {
        std::lock_guard lock(mutex_);
        seq = ++last_;
        ring_.push_back({seq, std::move(event)});
        while (ring_.size() > capacity_) ring_.pop_front();
    }
    changed_.notify_all();
    return seq;
}

std::vector<nlohmann::json> EventLog::recent(std::size_t limit) const {
    std::lock_guard lock(mutex_);
    const std::size_t n = std::min(limit, ring_.size());
    std::vector<nlohmann::json> out;
    out.reserve(n);
    for (auto it = ring_.end() - static_cast<std::ptrdiff_t>(n); it != ring_.end(); ++it) out.push_back(it->json);
    return out;
}

std::vector<LoggedEvent> EventLog::wait_after(std::uint64_t after, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return closed_ || last_ > after; });
    std::vector<LoggedEvent> out;
    if (closed_) return out;
    for (const auto& e : ring_)
        if (e.seq > after) out.push_back(e);
    return out;
}

std::uint64_t EventLog::last_seq() const {
    std::lock_guard lock(mutex_);
    return last_;
}

void EventLog::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    changed_.notify_all();
}

bool EventLog::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

std::string sse_message(const std::string& name, const LoggedEvent& event) {
    // dump() escapes newlines, so the data is one line as SSE requires.
    return fmt::format("id: {}\nevent: {}\ndata: {}\n\n", event.seq, name, event.json.dump());
}

}  // namespace maskctl
