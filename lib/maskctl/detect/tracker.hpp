#pragma once
// Following faces from frame to frame so labels stay put: detections are matched to tracks by box
// overlap (IoU), each track averages its last few classifications, and the label it shows changes
// only when another class wins by a margin (hysteresis). Pure bookkeeping: no images, no threads.
#include <cstdint>
#include <deque>
#include <vector>

#include <opencv2/core.hpp>

namespace maskctl {

struct TrackerOptions {
    float match_iou = 0.3f;      // a detection continues a track when their boxes overlap at least this much
    int max_missed = 10;         // frames a track survives without a detection (detectors miss masked faces now and then)
    int smooth_window = 3;       // classifications averaged per track
    float hysteresis = 0.2f;     // a new label must beat the shown one's averaged probability by this margin
    float box_smoothing = 0.6f;  // weight of the new detection in the shown box (1 = raw boxes, no smoothing)
};

struct Track {
    int id = 0;                 // unique, increasing from 1
    cv::Rect2f box;             // smoothed box, what is drawn
    cv::Rect2f detection;       // the last matched detection, unsmoothed
    float score = 0;            // detector score of that detection
    int hits = 0;               // frames with a matched detection
    int missed = 0;             // consecutive frames without one
    int label = -1;             // the shown class; -1 until the first classification
    std::vector<float> probabilities;  // mean of the window, one per class (empty before the first)
    std::deque<std::vector<float>> window;
    std::int64_t classified_at = -1;   // tracker frame of the last classification
    cv::Rect2f classified_box;         // box at that time
    int label_frames = 0;       // frames with a detection since the shown label last changed
    int last_argmax = -1;       // class of the latest classification alone

    // The latest classification disagrees with the shown label: a change may be under way.
    bool unsettled() const { return last_argmax >= 0 && last_argmax != label; }

    bool visible() const { return missed == 0; }
    float confidence() const { return label >= 0 ? probabilities[static_cast<size_t>(label)] : 0.0f; }
};

struct TrackUpdate {
    std::vector<int> track_of_detection;  // track id per input box, same order
    std::vector<int> created;             // ids of tracks started by this update
    std::vector<Track> lost;              // tracks removed by this update (missed too long), as they were
};

// The label a track should show: `current` unless another class's averaged probability beats it by
// more than `hysteresis`; the argmax when there is no current label (-1).
int stable_label(int current, const std::vector<float>& averaged, float hysteresis);

class Tracker {
public:
    explicit Tracker(TrackerOptions options = {});

    // One frame's detections. Greedy matching, highest IoU first; unmatched boxes start tracks.
    TrackUpdate update(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores = {});

    // Adds a classification (probabilities per class) to track `id`. Returns true when the shown
    // label changed, the first label included. Unknown ids are ignored (false).
    bool observe(int id, const std::vector<float>& probabilities);

    const std::vector<Track>& tracks() const { return tracks_; }
    const Track* find(int id) const;
    std::int64_t frame() const { return frame_; }  // updates so far
    int created_total() const { return next_id_ - 1; }
    const TrackerOptions& options() const { return options_; }

private:
    TrackerOptions options_;
    std::vector<Track> tracks_;
    std::int64_t frame_ = 0;
    int next_id_ = 1;
};

// Which visible tracks to classify this frame: the backbone is the expensive stage, so steady
// tracks are refreshed only every `every` frames, or sooner when the box moved (IoU with the box at
// the last classification below `moved_iou`) or the track is unsettled (its latest classification
// disagreed with its label: confirm or reject the change quickly instead of waiting `every` frames).
// New tracks come first, then unsettled ones, then the stalest; at most `max_per_frame` per frame
// (0 = no limit), except that a track with no label yet is never left waiting (it would show none).
struct ClassifySchedule {
    int every = 5;
    int max_per_frame = 2;
    float moved_iou = 0.5f;
};
std::vector<int> tracks_to_classify(const Tracker& tracker, const ClassifySchedule& schedule);

}  // namespace maskctl
