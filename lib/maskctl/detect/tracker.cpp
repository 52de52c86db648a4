#include "maskctl/detect/tracker.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/detect/face_detector.hpp"

namespace maskctl {
namespace {

cv::Rect2f blend(const cv::Rect2f& old_box, const cv::Rect2f& new_box, float w) {
    return {old_box.x + w * (new_box.x - old_box.x), old_box.y + w * (new_box.y - old_box.y),
            old_box.width + w * (new_box.width - old_box.width),
            old_box.height + w * (new_box.height - old_box.height)};
}

void check(const TrackerOptions& o) {
    if (o.match_iou <= 0 || o.match_iou > 1)
        throw ConfigError(fmt::format("tracker match IoU is {}, expected > 0 and <= 1", o.match_iou));
    if (o.max_missed < 0) throw ConfigError(fmt::format("tracker max missed frames is {}, expected >= 0", o.max_missed));
    if (o.smooth_window < 1) throw ConfigError(fmt::format("smoothing window is {}, expected >= 1", o.smooth_window));
    if (o.hysteresis < 0 || o.hysteresis >= 1)
        throw ConfigError(fmt::format("hysteresis is {}, expected 0..1", o.hysteresis));
    if (o.box_smoothing <= 0 || o.box_smoothing > 1)
        throw ConfigError(fmt::format("box smoothing is {}, expected > 0 and <= 1", o.box_smoothing));
}

}  // namespace

int stable_label(int current, const std::vector<float>& averaged, float hysteresis) {
    if (averaged.empty()) return current;
    const int best = static_cast<int>(std::max_element(averaged.begin(), averaged.end()) - averaged.begin());
    if (current < 0 || current >= static_cast<int>(averaged.size())) return best;
    return averaged[static_cast<size_t>(best)] > averaged[static_cast<size_t>(current)] + hysteresis ? best : current;
}

Tracker::Tracker(TrackerOptions options) : options_(options) { check(options_); }

TrackUpdate Tracker::update(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores) {
    ++frame_;
    TrackUpdate out;
    out.track_of_detection.assign(boxes.size(), -1);

    // All overlapping (track, detection) pairs, best first; greedy is enough for a handful of faces.
    std::vector<std::tuple<float, size_t, size_t>> pairs;
    for (size_t t = 0; t < tracks_.size(); ++t)
        for (size_t d = 0; d < boxes.size(); ++d)
            if (const float v = iou(tracks_[t].detection, boxes[d]); v >= options_.match_iou) pairs.emplace_back(v, t, d);
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });

    std::vector<bool> track_used(tracks_.size(), false);
    for (const auto& [v, t, d] : pairs) {
        if (track_used[t] || out.track_of_detection[d] >= 0) continue;
        track_used[t] = true;
        Track& tr = tracks_[t];
        out.track_of_detection[d] = tr.id;
        tr.box = blend(tr.box, boxes[d], options_.box_smoothing);
        tr.detection = boxes[d];
        tr.score = d < scores.size() ? scores[d] : 1.0f;
        ++tr.hits;
        tr.missed = 0;
        if (tr.label >= 0) ++tr.label_frames;
    }
    for (size_t t = 0; t < tracks_.size(); ++t)
        if (!track_used[t]) ++tracks_[t].missed;

    auto gone = std::stable_partition(tracks_.begin(), tracks_.end(),
                                      [&](const Track& t) { return t.missed <= options_.max_missed; });
    out.lost.assign(std::make_move_iterator(gone), std::make_move_iterator(tracks_.end()));
    tracks_.erase(gone, tracks_.end());

    for (size_t d = 0; d < boxes.size(); ++d) {
        if (out.track_of_detection[d] >= 0) continue;
        Track tr;
        tr.id = next_id_++;
        tr.box = tr.detection = boxes[d];
        tr.score = d < scores.size() ? scores[d] : 1.0f;
        tr.hits = 1;
        tracks_.push_back(tr);
        out.track_of_detection[d] = tr.id;
        out.created.push_back(tr.id);
    }
    return out;
}

bool Tracker::observe(int id, const std::vector<float>& probabilities) {
    auto it = std::find_if(tracks_.begin(), tracks_.end(), [&](const Track& t) { return t.id == id; });
    if (it == tracks_.end() || probabilities.empty()) return false;
    Track& t = *it;
    if (!t.window.empty() && t.window.front().size() != probabilities.size())
        throw Error(fmt::format("track {}: {} class probabilities after {}", id, probabilities.size(),
                                t.window.front().size()));
    t.window.push_back(probabilities);
    while (static_cast<int>(t.window.size()) > options_.smooth_window) t.window.pop_front();
    t.probabilities.assign(probabilities.size(), 0.0f);
    for (const auto& p : t.window)
        for (size_t c = 0; c < p.size(); ++c) t.probabilities[c] += p[c] / static_cast<float>(t.window.size());
    t.last_argmax = static_cast<int>(std::max_element(probabilities.begin(), probabilities.end()) - probabilities.begin());
    t.classified_at = frame_;
    t.classified_box = t.detection;
    const int label = stable_label(t.label, t.probabilities, options_.hysteresis);
    if (label == t.label) return false;
    t.label = label;
    t.label_frames = t.visible() ? 1 : 0;
    return true;
}

const Track* Tracker::find(int id) const {
    auto it = std::find_if(tracks_.begin(), tracks_.end(), [&](const Track& t) { return t.id == id; });
    return it == tracks_.end() ? nullptr : &*it;
}

std::vector<int> tracks_to_classify(const Tracker& tracker, const ClassifySchedule& s) {
    struct Candidate {
        int id;
        int priority;        // 0 unlabelled, 1 unsettled, 2 due
        std::int64_t since;  // frames since the last classification
    };
    std::vector<Candidate> due;
    for (const auto& t : tracker.tracks()) {
        if (!t.visible()) continue;
        if (t.label < 0) {
            due.push_back({t.id, 0, 0});
            continue;
        }
        const std::int64_t since = tracker.frame() - t.classified_at;
        if (t.unsettled()) due.push_back({t.id, 1, since});
        else if (since >= s.every || iou(t.classified_box, t.detection) < s.moved_iou) due.push_back({t.id, 2, since});
    }
    std::stable_sort(due.begin(), due.end(), [](const Candidate& a, const Candidate& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.since > b.since;
    });
    std::vector<int> out;
    int refreshed = 0;  // labelled tracks taken so far
    for (const auto& c : due) {
        if (c.priority == 0) {
            out.push_back(c.id);
        } else if (s.max_per_frame <= 0 || refreshed < s.max_per_frame) {
            out.push_back(c.id);
            ++refreshed;
        }
    }
    return out;
}

}  // namespace maskctl
