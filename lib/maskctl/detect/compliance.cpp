#include "maskctl/detect/compliance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/detect/annotate.hpp"

namespace maskctl {
namespace {

constexpr double kMinute = 60, kHour = 3600;

void add(PeopleCounts& to, const PeopleCounts& from) {
    to.with_mask += from.with_mask;
    to.without_mask += from.without_mask;
    to.other += from.other;
    to.violations += from.violations;
    to.violators += from.violators;
    for (const auto& [label, n] : from.labels) to.labels[label] += n;
}

void add_kind(PeopleCounts& c, const std::string& label) {
    switch (label_kind(label)) {
        case LabelKind::mask: ++c.with_mask; break;
        case LabelKind::no_mask: ++c.without_mask; break;
        case LabelKind::other: ++c.other; break;
    }
    ++c.labels[label];
}

}  // namespace

std::optional<double> PeopleCounts::compliance() const {
    if (total() == 0) return std::nullopt;
    return static_cast<double>(with_mask) / total();
}

nlohmann::json to_json(const PeopleCounts& c) {
    const auto ratio = c.compliance();
    return {{"people_total", c.total()},
            {"people_with_mask", c.with_mask},
            {"people_without_mask", c.without_mask},
            {"people_other", c.other},
            {"compliance", ratio ? nlohmann::json(std::round(*ratio * 10000) / 10000) : nlohmann::json(nullptr)},
            {"violations", c.violations},
            {"violators", c.violators},
            {"labels", c.labels}};
}

nlohmann::json to_json(const ComplianceSnapshot& s) {
    nlohmann::json series = {{"bucket_seconds", s.bucket_seconds}, {"time", s.bucket_start}};
    for (const char* key : {"people_with_mask", "people_without_mask", "people_other", "violations"})
        series[key] = nlohmann::json::array();
    for (const auto& b : s.buckets) {
        series["people_with_mask"].push_back(b.with_mask);
        series["people_without_mask"].push_back(b.without_mask);
        series["people_other"].push_back(b.other);
        series["violations"].push_back(b.violations);
    }
    return {{"source", s.source},
            {"timestamp", utc_iso(s.time)},
            {"time", std::round(s.time * 1000) / 1000},
            {"started", utc_iso(s.started)},
            {"uptime", std::round((s.time - s.started) * 10) / 10},
            {"frames", s.frames},
            {"fps", std::round(s.fps * 100) / 100},
            {"in_view", to_json(s.in_view)},
            {"last_minute", to_json(s.last_minute)},
            {"last_hour", to_json(s.last_hour)},
            {"today", to_json(s.today)},
            {"since_start", to_json(s.since_start)},
            {"series", series}};
}

ComplianceStats::ComplianceStats(std::vector<std::string> class_names, ComplianceOptions options, WallClock clock)
    : names_(std::move(class_names)), options_(std::move(options)), clock_(std::move(clock)) {
    if (!(options_.bucket_seconds > 0))
        throw ConfigError(fmt::format("stats bucket is {} s, expected > 0", options_.bucket_seconds));
    if (options_.series_buckets < 1)
        throw ConfigError(fmt::format("stats series has {} buckets, expected >= 1", options_.series_buckets));
    if (!(options_.fps_window > 0))
        throw ConfigError(fmt::format("stats fps window is {} s, expected > 0", options_.fps_window));
    if (!clock_) clock_ = unix_now;
    started_ = clock_();
}

int ComplianceStats::class_index(const std::string& name) {
    const auto it = std::find(names_.begin(), names_.end(), name);
    if (it != names_.end()) return static_cast<int>(it - names_.begin());
    names_.push_back(name);  // events from another model: count them under their own name
    return static_cast<int>(names_.size()) - 1;
}

ComplianceStats::Person& ComplianceStats::person(int track) {
    if (const auto it = open_.find(track); it != open_.end()) return people_[it->second - dropped_];
    Person p;
    p.track = track;
    p.first_seen = p.last_seen = clock_();
    people_.push_back(std::move(p));
    open_[track] = dropped_ + people_.size() - 1;
    return people_.back();
}

void ComplianceStats::add_event(const DetectEvent& e) {
    const double now = clock_();
    if (e.type == "appear") {
        // Track ids restart with each run of the pipeline: an "appear" always begins a new person.
        if (const auto it = open_.find(e.track); it != open_.end()) {
            people_[it->second - dropped_].open = false;
            open_.erase(it);
        }
        person(e.track).shown = class_index(e.label);
    } else if (e.type == "change") {
        person(e.track).shown = class_index(e.label);
    } else if (e.type == "violation") {
        ++person(e.track).violations;
        violation_times_.push_back(now);
    } else if (e.type == "lost") {
        if (const auto it = open_.find(e.track); it != open_.end()) {
            people_[it->second - dropped_].open = false;
            open_.erase(it);
        }
    }
    prune(now);
}

void ComplianceStats::add_frame(const std::vector<FaceResult>& faces) {
    const double now = clock_();
    ++frames_;
    frame_times_.push_back(now);
    while (!frame_times_.empty() && frame_times_.front() < now - options_.fps_window) frame_times_.pop_front();
    in_view_ = {};
    for (const auto& f : faces) {
        if (f.label < 0 || f.label >= static_cast<int>(names_.size())) continue;
        // Faces drawn for a few frames after a miss still stand there: count them as in view, but
        // only frames where the face was detected vote for a label.
        add_kind(in_view_, names_[static_cast<size_t>(f.label)]);
        in_view_.violators += f.violation;
        if (!f.visible || f.track < 0) continue;
        Person& p = person(f.track);
        p.frames.resize(names_.size(), 0);
        ++p.frames[static_cast<size_t>(f.label)];
        p.shown = f.label;
        p.last_seen = now;
    }
    prune(now);
}

int ComplianceStats::majority(const Person& p) const {
    int best = p.shown;
    std::int64_t best_frames = best >= 0 && best < static_cast<int>(p.frames.size()) ? p.frames[static_cast<size_t>(best)] : 0;
    for (size_t c = 0; c < p.frames.size(); ++c)
        if (p.frames[c] > best_frames) best = static_cast<int>(c), best_frames = p.frames[c];
    return best;
}

void ComplianceStats::count(PeopleCounts& c, const Person& p) const {
    const int label = majority(p);
    if (label < 0) return;
    add_kind(c, names_[static_cast<size_t>(label)]);
    c.violators += p.violations > 0;
}

PeopleCounts ComplianceStats::window(double from) const {
    PeopleCounts c;
    for (const auto& p : people_)
        if (p.last_seen >= from) count(c, p);
    c.violations = static_cast<int>(std::count_if(violation_times_.begin(), violation_times_.end(),
                                                  [&](double t) { return t >= from; }));
    return c;
}

double ComplianceStats::horizon(double now) const {
    const double series = options_.bucket_seconds * options_.series_buckets;
    return std::min(now - std::max(kHour, series), day_start(now, options_.utc_offset));
}

// People and violations no window can see any more move into the since-start totals.
void ComplianceStats::prune(double now) {
    const double h = horizon(now);
    while (!people_.empty() && !people_.front().open && people_.front().last_seen < h) {
        count(folded_, people_.front());
        people_.pop_front();
        ++dropped_;
    }
    while (!violation_times_.empty() && violation_times_.front() < h) {
        ++folded_.violations;
        violation_times_.pop_front();
    }
}

ComplianceSnapshot ComplianceStats::snapshot() const {
    ComplianceSnapshot s;
    const double now = clock_();
    s.source = options_.source;
    s.time = now;
    s.started = started_;
    s.frames = frames_;
    // Frames of the last fps_window seconds; a stalled camera falls to 0 once its frames age out.
    const auto first_recent = std::find_if(frame_times_.begin(), frame_times_.end(),
                                          [&](double t) { return t >= now - options_.fps_window; });
    const auto recent = std::distance(first_recent, frame_times_.end());
    if (recent >= 2 && frame_times_.back() > *first_recent)
        s.fps = static_cast<double>(recent - 1) / (frame_times_.back() - *first_recent);
    s.in_view = in_view_;
    s.last_minute = window(now - kMinute);
    s.last_hour = window(now - kHour);
    s.today = window(day_start(now, options_.utc_offset));
    s.since_start = window(-std::numeric_limits<double>::infinity());
    add(s.since_start, folded_);

    // Buckets on whole multiples of their size (minutes start at :00), the current one last.
    const double b = options_.bucket_seconds;
    const int n = options_.series_buckets;
    s.bucket_seconds = b;
    const double first = std::floor(now / b) * b - (n - 1) * b;
    for (int i = 0; i < n; ++i) s.bucket_start.push_back(first + i * b);
    s.buckets.resize(static_cast<size_t>(n));
    const auto bucket = [&](double t) -> PeopleCounts* {
        const double i = std::floor((t - first) / b);
        return i >= 0 && i < n ? &s.buckets[static_cast<size_t>(i)] : nullptr;
    };
    for (const auto& p : people_)
        if (auto* c = bucket(p.first_seen)) count(*c, p);
    for (double t : violation_times_)
        if (auto* c = bucket(t)) ++c->violations;
    return s;
}

}  // namespace maskctl
