#include "maskctl/serve/metrics.hpp"

#include <cmath>

#include <fmt/format.h>

namespace maskctl {
namespace {

std::string escape_label(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

}  // namespace

void PrometheusText::family(const std::string& name, const std::string& type, const std::string& help) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::sample(const std::string& name, const MetricLabels& labels, double value) {
    text_ += name;
    if (!labels.empty()) {
        text_ += '{';
        for (std::size_t i = 0; i < labels.size(); ++i)
            text_ += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escape_label(labels[i].second));
        text_ += '}';
    }
    text_ += ' ' + number(value) + '\n';
}

void LatencyWindow::add(double ms) {
    values_.push_back(ms);
    while (values_.size() > capacity_) values_.pop_front();
}

LatencyStats LatencyWindow::stats() const { return latency_stats({values_.begin(), values_.end()}); }

void RequestMetrics::add(int status, double ms) {
    std::lock_guard lock(mutex_);
    ++counts_[status];
    latency_.add(ms);
}

void RequestMetrics::count(int status) {
    std::lock_guard lock(mutex_);
    ++counts_[status];
}

std::map<int, std::int64_t> RequestMetrics::counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
}

LatencyStats RequestMetrics::latency() const {
    std::lock_guard lock(mutex_);
    return latency_.stats();
}

}  // namespace maskctl
