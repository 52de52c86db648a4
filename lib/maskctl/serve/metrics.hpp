#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4), and the small counters the
// server keeps for it. Latencies are reported as quantiles over a window of recent values (the shape
// of a Prometheus summary without its sum and count), since a scrape wants "how fast lately".
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
public:
    // "# HELP" and "# TYPE" lines; type is counter, gauge or summary.
    void family(const std::string& name, const std::string& type, const std::string& help);
    // name{k="v",...} value; label values escaped (\\, \", \n), NaN and infinities spelled as Prometheus does.
    void sample(const std::string& name, const MetricLabels& labels, double value);
    const std::string& text() const { return text_; }

private:
    std::string text_;
};

// The last `capacity` values (milliseconds), for p50/p95 that follow the present.
class LatencyWindow {
public:
    explicit LatencyWindow(std::size_t capacity = 500) : capacity_(capacity) {}
    void add(double ms);
    LatencyStats stats() const;
    bool empty() const { return values_.empty(); }

private:
    std::size_t capacity_;
    std::deque<double> values_;
};

// Requests of one route by status code, and their latency. Thread-safe.
class RequestMetrics {
public:
    void add(int status, double ms);
    void count(int status);  // answered without being timed (refused before the handler)
    std::map<int, std::int64_t> counts() const;
    LatencyStats latency() const;

private:
    mutable std::mutex mutex_;
    std::map<int, std::int64_t> counts_;
    LatencyWindow latency_;
};

}  // namespace maskctl
