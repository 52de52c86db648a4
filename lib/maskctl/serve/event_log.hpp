#pragma once
// The server's recent detection events, all sources together: a bounded ring that GET /api/events
// reads and that Server-Sent Events streams follow. A stream waits for "anything after sequence
// number N", so a slow stream never holds up a source: the sources only append, and a stream that
// fell behind by more than the ring's capacity skips what was overwritten.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace maskctl {

struct LoggedEvent {
    std::uint64_t seq = 0;  // 1, 2, 3, ... in the order added
    nlohmann::json json;
};

class EventLog {
public:
    // Throws ConfigError when capacity is 0.
    explicit EventLog(std::size_t capacity = 1000);

    // Appends and wakes the waiting streams; returns the event's sequence number.
    std::uint64_t add(nlohmann::json event);
    // The newest `limit` events, oldest first.
    std::vector<nlohmann::json> recent(std::size_t limit) const;
    // The events after `after` still in the ring, waiting up to `timeout` for one to arrive. Empty on
    // timeout and after close().
    std::vector<LoggedEvent> wait_after(std::uint64_t after, std::chrono::milliseconds timeout) const;
    std::uint64_t last_seq() const;
    std::size_t capacity() const { return capacity_; }

    // Wakes every waiter for good: streams end when the server stops.
    void close();
    bool closed() const;

private:
    std::size_t capacity_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::deque<LoggedEvent> ring_;
    std::uint64_t last_ = 0;
    bool closed_ = false;
};

// One Server-Sent Events message: "id: <seq>\nevent: <name>\ndata: <json>\n\n".
std::string sse_message(const std::string& name, const LoggedEvent& event);

}  // namespace maskctl
