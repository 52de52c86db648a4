#pragma once
// Live mask detection: frames from a source -> faces (face_detector.hpp) -> padded square crops ->
// the trained classifier, one batch per frame -> tracks with smoothed labels (tracker.hpp) ->
// events, violations and annotated frames. Capture, detection and classification run on their own
// threads behind small queues; the caller's thread gets results in frame order through an observer.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/face_detector.hpp"
#include "maskctl/model/fused_backbone.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/detect/tracker.hpp"
#include "maskctl/detect/video_source.hpp"

namespace maskctl {

struct DetectOptions {
    FaceDetectorOptions detector;
    TrackerOptions tracker;
    ClassifySchedule schedule;
    float crop_pad = 0.2f;     // see face_crop_rect
    float crop_shift = 0.05f;
    // Classes that count as a violation; empty = every class that is not a mask (label_kind), so a
    // mask worn under the nose does not open a gate either.
    std::vector<std::string> violation_classes;
    int violation_frames = 15;      // a track must show a violation label this many detected frames in a row
    double violation_repeat = 30;   // seconds (source time) before one track raises another violation
    AnnotateStyle style;
    bool draw = true;               // boxes and labels on the frames handed to the observer
    bool blur_faces = false;        // privacy: blur every face box before drawing (annotate.hpp)
    bool panel = true;              // frames/s and latency panel
    int show_missed = 3;            // keep drawing a track this many frames after its face was missed
    int queue_size = 2;             // frames waiting between two stages
    int drop_late_frames = -1;      // drop frames the pipeline cannot keep up with: -1 = for live sources only
    std::int64_t max_frames = 0;    // stop after this many frames; 0 = until the source ends
    const std::atomic<bool>* stop = nullptr;  // Ctrl-C: finish the frames in flight and return
    // The backbone's arithmetic; empty = as the model file loads (float). Set on the model given to MaskDetector.
    std::optional<Precision> precision;
};

struct FaceResult {
    int track = -1;  // track id; -1 in single-image mode
    cv::Rect2f box;
    float score = 0;  // detector score
    int label = -1;   // class index; -1 while not yet classified
    float confidence = 0;
    std::vector<float> probabilities;
    bool visible = true;    // detected in this frame (false: drawn from the track's last box)
    bool violation = false;  // label is a violation class
};

// Milliseconds spent on one frame per stage; latency = from the end of capture to the end of output.
struct StageTimes {
    double capture = 0, detect = 0, classify = 0, annotate = 0, output = 0, latency = 0;
};

struct DetectEvent {
    std::string type;  // appear (first label) | change | violation | lost
    double time = 0;   // seconds into the source
    std::int64_t frame = 0;
    int track = 0;
    cv::Rect box;
    std::string label;  // class name
    float confidence = 0;
    std::string previous;  // "change": the label before
};
// {"type", "time", "frame", "track", "box": [x, y, w, h], "label", "display", "confidence"[, "previous"]}
nlohmann::json to_json(const DetectEvent& event);

struct FrameResult {
    Frame frame;  // annotated when DetectOptions::draw
    std::vector<FaceResult> faces;
    std::vector<DetectEvent> events;
    StageTimes ms;
    int classified = 0;  // crops classified for this frame
};

struct LatencyStats {
    double mean = 0, p50 = 0, p95 = 0;
};
LatencyStats latency_stats(std::vector<double> ms);

struct DetectSummary {
    std::int64_t frames = 0;
    std::int64_t detections = 0;  // faces summed over frames
    std::int64_t classified = 0;  // crops through the classifier
    int faces_seen = 0;           // tracks that got a label
    int violations = 0;           // violation events
    int violating_tracks = 0;
    std::int64_t dropped = 0;     // frames dropped because the pipeline was behind (live sources)
    int reconnects = 0;
    double seconds = 0;
    double fps = 0;
    bool stopped = false;         // ended by the stop flag or the observer, not the source
    std::vector<std::pair<std::string, LatencyStats>> stages;  // capture, detect, classify, annotate, output, latency
};

class DetectObserver {
public:
    virtual ~DetectObserver() = default;
    // Every event, on the caller's thread, before the frame it belongs to.
    virtual void on_event(const DetectEvent& /*event*/) {}
    // Every frame in order, on the caller's thread (windows must be used from one thread).
    // Return false to stop.
    virtual bool on_frame(FrameResult& /*result*/) { return true; }
};

class MaskDetector {
public:
    // Throws like make_face_detector, and ConfigError for violation classes the model does not have.
    MaskDetector(LoadedModel model, DetectOptions options);

    std::vector<Face> find_faces(const cv::Mat& bgr);
    // Class probabilities per box of a BGR frame, as one batch (crops converted to RGB once).
    std::vector<std::vector<float>> classify(const cv::Mat& bgr, const std::vector<cv::Rect2f>& boxes);
    // A photo: every face found and classified, no tracking or smoothing.
    std::vector<FaceResult> detect_image(const cv::Mat& bgr);
    // Boxes and labels (DetectOptions::style).
    void draw(cv::Mat& bgr, const std::vector<FaceResult>& faces) const;

    bool is_violation(int label) const;
    const std::vector<std::string>& class_names() const { return model_.info.class_names; }
    const DetectOptions& options() const { return options_; }
    std::string detector_name() const { return faces_->name(); }

private:
    LoadedModel model_;
    DetectOptions options_;
    std::unique_ptr<FaceDetector> faces_;
    std::vector<bool> violation_;
};

// Runs until the source ends, max_frames, the stop flag or the observer says stop. Errors on the
// worker threads (a corrupt model, a failing detector) are rethrown here after all threads stopped.
DetectSummary run_detection(FrameSource& source, MaskDetector& detector, DetectObserver& observer);

}  // namespace maskctl
