#include "maskctl/fleet/mqtt_output.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "maskctl/detect/annotate.hpp"

namespace maskctl {
namespace {

double rounded(double v, double scale) { return std::round(v * scale) / scale; }

// The fields of a tracked face that change from one event to the next.
void refresh(nlohmann::json& o, const DetectEvent& e, double now) {
    const double score = rounded(e.confidence, 1e4);
    o["frame_time"] = rounded(now, 1e3);
    o["label"] = e.label;
    o["display"] = display_name(e.label);
    o["score"] = score;
    o["top_score"] = std::max(o.value("top_score", 0.0), score);
    o["box"] = {e.box.x, e.box.y, e.box.x + e.box.width, e.box.y + e.box.height};
    o["area"] = e.box.area();
    o["frame"] = e.frame;
    o["video_time"] = rounded(e.time, 1e3);
}

}  // namespace

nlohmann::json FrigateEvents::message(const DetectEvent& e, double now) {
    auto it = objects_.find(e.track);
    // "appear" always starts a new object: track ids restart when the pipeline does.
    const bool fresh = e.type == "appear" || it == objects_.end();
    nlohmann::json before, after;
    if (fresh) {
        after = {{"id", fmt::format("{:.6f}-{}", now, e.track)},
                 {"camera", camera_},
                 {"sub_label", nullptr},
                 {"start_time", rounded(now, 1e3)},
                 {"end_time", nullptr},
                 {"false_positive", false},
                 {"has_snapshot", false},
                 {"has_clip", false},
                 {"violations", 0},
                 {"track", e.track}};
    } else {
        before = it->second;
        after = it->second;
    }
    refresh(after, e, now);
    const bool violation = e.type == "violation";
    after["violation"] = violation;
    if (violation) after["violations"] = after["violations"].get<int>() + 1;
    const bool end = e.type == "lost";
    if (end) after["end_time"] = rounded(now, 1e3);
    if (fresh) before = after;

    nlohmann::json m = {{"type", fresh ? "new" : end ? "end" : "update"}, {"before", before}, {"after", after}, {"seq", ++seq_}};
    if (violation) m["violation"] = true;
    if (end) objects_.erase(e.track);
    else objects_[e.track] = std::move(after);
    return m;
}

std::vector<nlohmann::json> FrigateEvents::end_all(double now) {
    std::vector<nlohmann::json> out;
    for (auto& [track, before] : objects_) {
        nlohmann::json after = before;
        after["frame_time"] = after["end_time"] = rounded(now, 1e3);
        after["violation"] = false;
        out.push_back({{"type", "end"}, {"before", std::move(before)}, {"after", std::move(after)}, {"seq", ++seq_}});
    }
    objects_.clear();
    return out;
}

nlohmann::json stats_payload(const ComplianceSnapshot& s, const MqttCounters& c, double interval) {
    nlohmann::json j = to_json(s);
    j.erase("series");
    j.erase("started");
    nlohmann::json since = j["since_start"];
    j.erase("since_start");
    j.update(since);
    j["camera"] = j["source"];
    j.erase("source");
    j["interval"] = interval;
    j["mqtt"] = {{"accepted", c.accepted}, {"delivered", c.delivered}, {"dropped", c.dropped},
                 {"waiting", c.waiting}, {"connects", c.connects}};
    return j;
}

MqttOutput::MqttOutput(MqttOutputOptions options, WallClock clock)
    : options_(std::move(options)), clock_(std::move(clock)), events_(options_.name) {
    check_topic_level(options_.name, "camera name");
    check_topic_level(options_.prefix, "MQTT topic prefix");
    MqttOptions& m = options_.mqtt;
    if (m.client_id.empty()) m.client_id = "maskctl-" + options_.name;
    const std::string available = options_.prefix + "/available";
    m.will = MqttMessage{available, "offline", true};
    m.birth = {{available, "online", true}, {topic("available"), "online", true}};
    client_ = std::make_unique<MqttClient>(m);
}

MqttOutput::~MqttOutput() { close(1.0); }

std::string MqttOutput::topic(const std::string& leaf) const {
    return options_.prefix + "/" + options_.name + "/" + leaf;
}

void MqttOutput::event(const DetectEvent& e) {
    client_->publish(topic("events"), events_.message(e, clock_()).dump());
}

void MqttOutput::stats(const ComplianceSnapshot& s) {
    client_->publish(topic("stats"), stats_payload(s, client_->counters(), options_.stats_every).dump(), true, true);
}

std::int64_t MqttOutput::close(double drain_seconds) {
    if (closed_) return left_;
    closed_ = true;
    for (const auto& m : events_.end_all(clock_())) client_->publish(topic("events"), m.dump());
    client_->publish(topic("available"), "offline", true, true);
    client_->publish(options_.prefix + "/available", "offline", true, true);
    left_ = client_->close(drain_seconds);
    return left_;
}

}  // namespace maskctl
