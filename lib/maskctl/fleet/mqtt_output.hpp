#pragma once
// maskctl detect on a broker: the topics and payloads a building system subscribes to, in the shapes
// Frigate (events) and maskcam (statistics) users know. One detector = one camera name.
//
//   <prefix>/available         online | offline, retained; the last will says offline after a crash
//   <prefix>/<name>/available  online | offline, retained, this camera only (no will: see stats age)
//   <prefix>/<name>/events     {"type": "new"|"update"|"end", "before": {...}, "after": {...}}, QoS 1
//   <prefix>/<name>/stats      compliance statistics, retained, every --stats-every seconds
//
// Everything goes through MqttClient's queue: publishing never waits for the network.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "maskctl/core/wall_clock.hpp"
#include "maskctl/detect/compliance.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/fleet/mqtt_client.hpp"

namespace maskctl {

// Frigate's event messages from the pipeline's events. Per tracked face: "new" on its first label,
// "update" on a label change and on a violation (with "violation": true), "end" when it is lost.
// Objects: {"id", "camera", "frame_time", "label", "display", "sub_label", "score", "top_score", "box"
// [x1, y1, x2, y2], "area", "start_time", "end_time", "false_positive", "has_snapshot", "has_clip",
// "violation", "violations", "track", "frame", "video_time"}; "before" is the object as last sent
// ("new": the same as "after"). Each message also carries "seq", counting from 1, so a consumer sees
// gaps and repeats. Pure bookkeeping.
class FrigateEvents {
public:
    explicit FrigateEvents(std::string camera) : camera_(std::move(camera)) {}
    // `now`: wall-clock seconds of the frame.
    nlohmann::json message(const DetectEvent& event, double now);
    // "end" for every face still tracked (the source ended or the detector stops), oldest track first.
    std::vector<nlohmann::json> end_all(double now);

private:
    std::string camera_;
    std::map<int, nlohmann::json> objects_;  // by track id, until "end"
    std::int64_t seq_ = 0;
};

// The stats topic: since-start counts flat at the top, as maskcam publishes them ("people_total",
// "people_with_mask", "people_without_mask", ...), then "compliance", "fps", "frames", the windows
// ("in_view", "last_minute", "last_hour", "today"), "interval" (seconds until the next one, so a
// consumer sees a camera fall silent) and the queue's "mqtt" counters.
nlohmann::json stats_payload(const ComplianceSnapshot& snapshot, const MqttCounters& counters, double interval);

struct MqttOutputOptions {
    MqttOptions mqtt;               // url, login, TLS, queue; the will is set here
    std::string name;               // camera name, one topic level
    std::string prefix = "maskctl"; // first topic level
    double stats_every = 15;        // seconds between stats() calls, announced in the payload
};

class MqttOutput {
public:
    // Throws ConfigError for a bad URL, name or prefix; connects in the background and says online.
    MqttOutput(MqttOutputOptions options, WallClock clock = unix_now);
    ~MqttOutput();  // close(1)

    void event(const DetectEvent& event);
    void stats(const ComplianceSnapshot& snapshot);
    // Ends the faces still tracked, says offline, waits up to `drain_seconds` for the queue to empty and disconnects; returns the
    // messages left undelivered.
    std::int64_t close(double drain_seconds);

    MqttCounters counters() const { return client_->counters(); }
    std::string topic(const std::string& leaf) const;  // <prefix>/<name>/<leaf>

private:
    MqttOutputOptions options_;
    WallClock clock_;
    FrigateEvents events_;
    std::unique_ptr<MqttClient> client_;
    bool closed_ = false;
    std::int64_t left_ = 0;
};

}  // namespace maskctl
