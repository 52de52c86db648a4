#include "maskctl/fleet/fleet_view.hpp"

#include <cmath>

#include <fmt/format.h>

namespace maskctl {
namespace {

constexpr const char* kCounts[] = {"people_total", "people_with_mask", "people_without_mask", "people_other",
                                   "violations", "violators"};

std::string percent(const nlohmann::json& ratio) {
    return ratio.is_number() ? fmt::format("{:.1f}%", ratio.get<double>() * 100) : "-";
}

}  // namespace

std::string CameraState::state(double now) const {
    if (available == "offline") return "offline";
    if (stats && stats->contains("interval")) {
        const double interval = (*stats)["interval"].get<double>();
        if (age(now) > 3 * interval + 1) return "stale";
    }
    if (available == "online") return "online";
    return stats ? "online" : "unknown";
}

double CameraState::age(double now) const {
    if (!stats || !stats->contains("time")) return -1;
    return std::max(0.0, now - (*stats)["time"].get<double>());
}

FleetView::FleetView(std::string prefix) : prefix_(std::move(prefix)) {}

std::vector<std::string> FleetView::topics() const { return {prefix_ + "/+/stats", prefix_ + "/+/available"}; }

bool FleetView::add(const MqttMessage& m) {
    // <prefix>/<name>/<leaf>
    if (m.topic.rfind(prefix_ + "/", 0) != 0) return false;
    const std::string rest = m.topic.substr(prefix_.size() + 1);
    const auto slash = rest.find('/');
    if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) return false;
    const std::string name = rest.substr(0, slash), leaf = rest.substr(slash + 1);
    if (leaf == "available") {
        CameraState& c = cameras_[name];
        c.name = name;
        c.available = m.payload;
        return true;
    }
    if (leaf != "stats") return false;
    auto j = nlohmann::json::parse(m.payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return false;
    CameraState& c = cameras_[name];
    c.name = name;
    c.stats = std::move(j);
    return true;
}

std::vector<CameraState> FleetView::cameras() const {
    std::vector<CameraState> out;
    for (const auto& [name, c] : cameras_) out.push_back(c);
    return out;
}

nlohmann::json FleetView::totals() const {
    nlohmann::json t = nlohmann::json::object();
    for (const char* key : kCounts) t[key] = 0;
    t["cameras"] = 0;
    for (const auto& [name, c] : cameras_) {
        if (!c.stats) continue;
        t["cameras"] = t["cameras"].get<int>() + 1;
        for (const char* key : kCounts) t[key] = t[key].get<long>() + c.stats->value(key, 0L);
    }
    const long people = t["people_total"];
    t["compliance"] = people > 0 ? nlohmann::json(std::round(t["people_with_mask"].get<double>() / people * 1e4) / 1e4)
                                 : nlohmann::json(nullptr);
    return t;
}

nlohmann::json FleetView::to_json(double now) const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [name, c] : cameras_) {
        const double age = c.age(now);
        list.push_back({{"name", name},
                        {"state", c.state(now)},
                        {"age", age < 0 ? nlohmann::json(nullptr) : nlohmann::json(std::round(age * 10) / 10)},
                        {"stats", c.stats ? *c.stats : nlohmann::json(nullptr)}});
    }
    return {{"cameras", list}, {"total", totals()}};
}

std::string FleetView::table(double now) const {
    const auto row = [](const std::string& name, const std::string& state, const nlohmann::json& s,
                        const std::string& last_hour, const std::string& fps, const std::string& age) {
        const auto n = [&](const char* key) { return s.is_object() && s.contains(key) ? std::to_string(s[key].get<long>()) : "-"; };
        return fmt::format("{:<16} {:<8} {:>6} {:>6} {:>8} {:>6} {:>11} {:>10} {:>10} {:>6} {:>6}\n", name, state,
                           n("people_total"), n("people_with_mask"), n("people_without_mask"), n("people_other"),
                           s.is_object() ? percent(s.value("compliance", nlohmann::json())) : "-", last_hour,
                           n("violations"), fps, age);
    };
    std::string out = fmt::format("{:<16} {:<8} {:>6} {:>6} {:>8} {:>6} {:>11} {:>10} {:>10} {:>6} {:>6}\n", "camera",
                                  "state", "people", "mask", "no mask", "other", "compliance", "last hour",
                                  "violations", "fps", "age");
    for (const auto& [name, c] : cameras_) {
        const nlohmann::json s = c.stats ? *c.stats : nlohmann::json();
        const std::string last_hour = c.stats && c.stats->contains("last_hour")
                                          ? percent((*c.stats)["last_hour"].value("compliance", nlohmann::json()))
                                          : "-";
        const std::string fps = c.stats ? fmt::format("{:.1f}", c.stats->value("fps", 0.0)) : "-";
        const double age = c.age(now);
        out += row(name, c.state(now), s, last_hour, fps, age < 0 ? "-" : fmt::format("{:.0f}s", age));
    }
    const nlohmann::json t = totals();
    out += row(fmt::format("all ({})", t["cameras"].get<int>()), "", t, "", "", "");
    return out;
}

}  // namespace maskctl
