#pragma once
// Compliance statistics of one source (one camera): how many people wore a mask, over rolling
// windows, for the console summary, --stats-json, the web page and the MQTT stats topic.
//
// People, not frames: each tracked face counts once, with its majority label over the frames it was
// seen in (ties go to the label it shows last), so a person standing in view for 500 frames is one
// person and a label that flickers does not make two. A person counts in a window when they were in
// view at any moment of it; the time series puts each person in the bucket where they were first seen
// (so its buckets add up to the total). Time comes from an injected WallClock, not from the frames,
// so a looping video or a paused camera keeps real time.
//
// Usage, from a DetectObserver (on the detection's output thread):
//     ComplianceStats stats(detector.class_names(), {.source = "door1"});
//     on_event(e):  stats.add_event(e);
//     on_frame(r):  stats.add_frame(r.faces);
//     anywhere:     nlohmann::json j = to_json(stats.snapshot());
// Pure bookkeeping: no threads, no locks. A reader on another thread (an HTTP handler) must take a
// mutex around add_* and snapshot() itself. Memory stays bounded: people older than the longest
// window (an hour, or since midnight) are folded into the since-start totals.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/core/wall_clock.hpp"
#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

struct ComplianceOptions {
    std::string source;               // camera name, echoed in the JSON
    double bucket_seconds = 60;       // time-series resolution
    int series_buckets = 60;          // buckets in the series (60 x 1 min = the last hour)
    double fps_window = 5;            // seconds of frames behind the fps figure
    std::optional<int> utc_offset;    // seconds east of UTC where "today" starts; empty = local time zone
};

// People by label kind (annotate.hpp: mask / no mask / anything else, e.g. a mask under the nose).
struct PeopleCounts {
    int with_mask = 0, without_mask = 0, other = 0;
    int violations = 0;  // violation events (by the time they were raised)
    int violators = 0;   // people with at least one violation
    std::map<std::string, int> labels;  // people per class name

    int total() const { return with_mask + without_mask + other; }
    // with_mask / total: a mask worn wrong does not comply. Empty when nobody was seen.
    std::optional<double> compliance() const;
};

struct ComplianceSnapshot {
    std::string source;
    double time = 0;     // the clock when taken
    double started = 0;  // the clock when the statistics began
    std::int64_t frames = 0;
    double fps = 0;      // frames/s over the last fps_window seconds
    PeopleCounts in_view;                                // faces in view in the last frame, by the label shown
    PeopleCounts last_minute, last_hour, today, since_start;
    double bucket_seconds = 60;
    std::vector<double> bucket_start;                    // oldest first; the last holds `time`
    std::vector<PeopleCounts> buckets;                   // people first seen in each bucket
};

// {"source", "timestamp" (ISO UTC), "time", "started", "uptime", "frames", "fps",
//  "in_view" | "last_minute" | "last_hour" | "today" | "since_start": {"people_total",
//      "people_with_mask", "people_without_mask", "people_other", "compliance" (null when nobody),
//      "violations", "violators", "labels": {class: people}},
//  "series": {"bucket_seconds", "time": [bucket starts], "people_with_mask": [...],
//             "people_without_mask": [...], "people_other": [...], "violations": [...]}}
nlohmann::json to_json(const PeopleCounts& counts);
nlohmann::json to_json(const ComplianceSnapshot& snapshot);

class ComplianceStats {
public:
    // `class_names` as the model has them (FaceResult::label indexes them). Throws ConfigError on
    // a bucket size, bucket count or fps window that is not positive.
    explicit ComplianceStats(std::vector<std::string> class_names, ComplianceOptions options = {},
                             WallClock clock = unix_now);

    // appear/change open or relabel a person, violation counts, lost closes the person.
    void add_event(const DetectEvent& event);
    // Once per frame: every visible, labelled face adds one frame to its person's label tally.
    void add_frame(const std::vector<FaceResult>& faces);

    ComplianceSnapshot snapshot() const;
    const ComplianceOptions& options() const { return options_; }

private:
    struct Person {
        int track = 0;
        double first_seen = 0, last_seen = 0;
        std::vector<std::int64_t> frames;  // per class index
        int shown = -1;                    // the label shown last
        int violations = 0;
        bool open = true;                  // not lost yet
    };

    Person& person(int track);
    int class_index(const std::string& name);
    int majority(const Person& p) const;
    void count(PeopleCounts& c, const Person& p) const;
    PeopleCounts window(double from) const;  // people seen since `from`
    void prune(double now);
    double horizon(double now) const;

    std::vector<std::string> names_;
    ComplianceOptions options_;
    WallClock clock_;
    double started_;
    std::deque<Person> people_;       // by first sighting, oldest first
    std::map<int, std::size_t> open_;  // track id -> index into people_ + dropped_
    std::size_t dropped_ = 0;          // people folded into folded_
    PeopleCounts folded_;
    std::deque<double> violation_times_;
    std::int64_t frames_ = 0;
    std::deque<double> frame_times_;   // within fps_window
    PeopleCounts in_view_;
};

}  // namespace maskctl
