// Compliance statistics: people counted once per track with their majority label, rolling windows
// and the per-minute series, driven by a hand-set clock (no sleeps).
#include <catch2/catch.hpp>

#include "maskctl/core/errors.hpp"
#include "maskctl/core/wall_clock.hpp"
#include "maskctl/detect/compliance.hpp"

using namespace maskctl;

namespace {

const std::vector<std::string> kClasses{"with_mask", "without_mask", "mask_weared_incorrect"};
constexpr int kMask = 0, kNoMask = 1, kIncorrect = 2;
constexpr double kT0 = 1709287200;  // 2024-03-01T10:00:00Z

// A camera at 15 frames/s feeding the statistics as the pipeline's observer would: events first,
// then the frame's faces.
struct Scene {
    double now = kT0;
    ComplianceStats stats;
    std::int64_t frame = 0;

    explicit Scene(ComplianceOptions o = {}) : stats(kClasses, with_utc(std::move(o)), [this] { return now; }) {}
    static ComplianceOptions with_utc(ComplianceOptions o) {
        o.utc_offset = 0;
        return o;
    }

    void event(const std::string& type, int track, int label) {
        DetectEvent e;
        e.type = type;
        e.track = track;
        e.frame = frame;
        e.label = kClasses[static_cast<size_t>(label)];
        stats.add_event(e);
    }
    // One frame with these (track, label) faces in view.
    void frame_with(const std::vector<std::pair<int, int>>& faces) {
        std::vector<FaceResult> r;
        for (const auto& [track, label] : faces) {
            FaceResult f;
            f.track = track;
            f.label = label;
            f.violation = label != kMask;
            r.push_back(f);
        }
        stats.add_frame(r);
        ++frame;
        now += 1.0 / 15;
    }
    // A person who walks in labelled `label`, stays `frames` frames and leaves.
    void visit(int track, int label, int frames) {
        event("appear", track, label);
        for (int i = 0; i < frames; ++i) frame_with({{track, label}});
        event("lost", track, label);
    }
};

}  // namespace

TEST_CASE("a person in view for 500 frames counts once", "[compliance]") {
    Scene s;
    s.visit(1, kMask, 500);
    const auto snap = s.stats.snapshot();
    CHECK(snap.frames == 500);
    CHECK(snap.since_start.total() == 1);
    CHECK(snap.since_start.with_mask == 1);
    CHECK(snap.since_start.labels.at("with_mask") == 1);
    CHECK(snap.last_minute.total() == 1);
    CHECK(snap.today.total() == 1);
    REQUIRE(snap.since_start.compliance().has_value());
    CHECK(*snap.since_start.compliance() == 1.0);
    CHECK(snap.fps == Approx(15).epsilon(0.01));

    // Two people at once are two, whatever the frame count.
    s.event("appear", 2, kNoMask);
    s.event("appear", 3, kMask);
    for (int i = 0; i < 300; ++i) s.frame_with({{2, kNoMask}, {3, kMask}});
    const auto two = s.stats.snapshot();
    CHECK(two.since_start.total() == 3);
    CHECK(two.since_start.without_mask == 1);
    CHECK(two.in_view.total() == 2);
    CHECK(two.in_view.violators == 1);
    CHECK(*two.since_start.compliance() == Approx(2.0 / 3));
}

TEST_CASE("a label flicker does not count two people, and the majority label wins", "[compliance]") {
    Scene s;
    s.event("appear", 7, kMask);
    for (int i = 0; i < 60; ++i) s.frame_with({{7, kMask}});
    s.event("change", 7, kNoMask);
    for (int i = 0; i < 4; ++i) s.frame_with({{7, kNoMask}});
    s.event("change", 7, kMask);
    for (int i = 0; i < 60; ++i) s.frame_with({{7, kMask}});
    s.event("lost", 7, kMask);
    auto snap = s.stats.snapshot();
    CHECK(snap.since_start.total() == 1);
    CHECK(snap.since_start.with_mask == 1);
    CHECK(snap.since_start.without_mask == 0);

    // Mostly unmasked, masked at the end: counted by the frames, not the last label.
    s.event("appear", 8, kNoMask);
    for (int i = 0; i < 50; ++i) s.frame_with({{8, kNoMask}});
    s.event("violation", 8, kNoMask);
    s.event("change", 8, kMask);
    for (int i = 0; i < 10; ++i) s.frame_with({{8, kMask}});
    snap = s.stats.snapshot();
    CHECK(snap.since_start.total() == 2);
    CHECK(snap.since_start.without_mask == 1);
    CHECK(snap.since_start.violations == 1);
    CHECK(snap.since_start.violators == 1);
    CHECK(*snap.since_start.compliance() == 0.5);

    // A mask worn wrong is its own kind and does not comply.
    s.visit(9, kIncorrect, 20);
    snap = s.stats.snapshot();
    CHECK(snap.since_start.other == 1);
    CHECK(snap.since_start.labels.at("mask_weared_incorrect") == 1);
    CHECK(*snap.since_start.compliance() == Approx(1.0 / 3));
}

TEST_CASE("a new run of the pipeline reusing a track id is a new person", "[compliance]") {
    Scene s;
    s.event("appear", 1, kMask);
    for (int i = 0; i < 5; ++i) s.frame_with({{1, kMask}});
    s.event("appear", 1, kNoMask);  // no "lost": the previous pipeline ended
    for (int i = 0; i < 5; ++i) s.frame_with({{1, kNoMask}});
    const auto snap = s.stats.snapshot();
    CHECK(snap.since_start.total() == 2);
    CHECK(snap.since_start.with_mask == 1);
    CHECK(snap.since_start.without_mask == 1);
}

TEST_CASE("windows roll over with the clock", "[compliance]") {
    Scene s;
    s.event("appear", 1, kNoMask);  // 10:00:00 to 10:00:10, one violation
    for (int i = 0; i < 150; ++i) s.frame_with({{1, kNoMask}});
    s.event("violation", 1, kNoMask);
    s.event("lost", 1, kNoMask);
    s.now = kT0 + 30;
    auto snap = s.stats.snapshot();
    CHECK(snap.last_minute.total() == 1);
    CHECK(snap.last_minute.violations == 1);

    // A minute after they were last seen: gone from the last minute, still in the hour.
    s.now = kT0 + 10 + 61;
    s.visit(2, kMask, 15);
    snap = s.stats.snapshot();
    CHECK(snap.last_minute.total() == 1);
    CHECK(snap.last_minute.with_mask == 1);
    CHECK(snap.last_minute.violations == 0);
    CHECK(snap.last_hour.total() == 2);
    CHECK(snap.last_hour.violations == 1);

    // The per-minute series: person 1 in the 10:00 bucket, person 2 in the 10:01 bucket (the last).
    REQUIRE(snap.buckets.size() == 60);
    CHECK(snap.bucket_start.back() == kT0 + 60);
    CHECK(snap.buckets.back().with_mask == 1);
    CHECK(snap.buckets[58].without_mask == 1);
    CHECK(snap.buckets[58].violations == 1);
    CHECK(snap.buckets[57].total() == 0);

    // Two hours later: out of the hour, still today.
    s.now = kT0 + 2 * 3600;
    s.frame_with({});
    snap = s.stats.snapshot();
    CHECK(snap.last_hour.total() == 0);
    CHECK(snap.last_hour.violations == 0);
    CHECK(snap.today.total() == 2);
    CHECK(snap.today.violations == 1);
    for (const auto& b : snap.buckets) CHECK(b.total() == 0);

    // The next day (UTC here): today starts empty, since-start keeps everyone (after they were
    // folded out of the retained people).
    s.now = kT0 + 14 * 3600 + 5;  // 00:00:05 on March 2nd
    s.visit(3, kMask, 15);
    snap = s.stats.snapshot();
    CHECK(snap.today.total() == 1);
    CHECK(snap.today.violations == 0);
    CHECK(snap.since_start.total() == 3);
    CHECK(snap.since_start.with_mask == 2);
    CHECK(snap.since_start.without_mask == 1);
    CHECK(snap.since_start.violations == 1);
    CHECK(snap.since_start.violators == 1);
    CHECK(snap.last_hour.total() == 1);

    // A stalled camera: fps falls to 0 once its frames are older than the fps window.
    CHECK(snap.fps > 0);
    s.now += 10;
    CHECK(s.stats.snapshot().fps == 0);
}

TEST_CASE("today starts at local midnight or at the given UTC offset", "[compliance]") {
    CHECK(day_start(kT0, 0) == kT0 - 10 * 3600);
    CHECK(day_start(kT0, 3600) == kT0 - 11 * 3600);
    CHECK(day_start(kT0, -11 * 3600) == kT0 - 23 * 3600);  // 23:00 the day before there
    CHECK(utc_iso(kT0) == "2024-03-01T10:00:00Z");
    const double local = day_start(kT0);
    CHECK(local <= kT0);
    CHECK(local > kT0 - 86400);
}

TEST_CASE("compliance statistics as JSON", "[compliance]") {
    ComplianceOptions o;
    o.source = "door1";
    o.series_buckets = 5;
    Scene s(o);
    auto j = to_json(s.stats.snapshot());
    CHECK(j["source"] == "door1");
    CHECK(j["since_start"]["people_total"] == 0);
    CHECK(j["since_start"]["compliance"].is_null());  // nobody seen: no ratio, not 0 %
    s.visit(1, kMask, 30);
    s.visit(2, kNoMask, 30);
    s.now = kT0 + 4.5;
    j = to_json(s.stats.snapshot());
    CHECK(j["timestamp"] == "2024-03-01T10:00:04Z");
    CHECK(j["frames"] == 60);
    for (const char* w : {"in_view", "last_minute", "last_hour", "today", "since_start"}) CHECK(j.contains(w));
    CHECK(j["last_hour"]["people_with_mask"] == 1);
    CHECK(j["last_hour"]["people_without_mask"] == 1);
    CHECK(j["last_hour"]["compliance"] == 0.5);
    CHECK(j["series"]["bucket_seconds"] == 60);
    CHECK(j["series"]["time"].size() == 5);
    CHECK(j["series"]["people_with_mask"].back() == 1);
    CHECK(j["series"]["people_without_mask"].back() == 1);

    ComplianceOptions bad;
    bad.bucket_seconds = 0;
    CHECK_THROWS_AS(ComplianceStats(kClasses, bad), ConfigError);
}
