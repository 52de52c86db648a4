#pragma once
// One --source of `maskctl serve`: its own thread runs the detection pipeline of `maskctl detect`
// (run_detection: tracking, smoothing, hysteresis, violations) on a camera, stream or video file, and
// keeps what the web page shows: the latest annotated frame as JPEG, the compliance statistics, the
// events (into the server's EventLog) and a state ("running", "reconnecting", ...).
//
// Viewers never slow the source down: the source only swaps in its newest frame; each viewer waits on
// a condition variable for a frame newer than the one it sent last, so a slow viewer skips frames.
// A camera or stream that drops is reopened with backoff (SourceOptions), as `maskctl detect` does,
// and one that cannot be opened at all is retried the same way; a video file plays at its own frame
// rate (like a camera) and, with `loop`, starts again at its end.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/core/enum_names.hpp"
#include "maskctl/detect/compliance.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/serve/event_log.hpp"
#include "maskctl/serve/metrics.hpp"

namespace maskctl {

// "door=rtsp://...", "0" (camera 0), "../shared/media/demo.mp4".
struct SourceSpec {
    std::string name;   // letters, digits, '-', '_', '.'; unique per server
    std::string input;  // a camera index, a URL (contains "://") or a video file
};

// Parses NAME=INPUT or INPUT; a missing name becomes the file's stem, "camera<N>" or "stream", made
// unique among `taken` by a "-2", "-3", ... suffix. Throws ConfigError for an empty input or a name
// with other characters.
SourceSpec parse_source_spec(const std::string& text, const std::vector<std::string>& taken = {});

enum class SourceState { starting, running, reconnecting, ended, error };
MASKCTL_ENUM_NAMES(SourceState, {{SourceState::starting, "starting"},
                                 {SourceState::running, "running"},
                                 {SourceState::reconnecting, "reconnecting"},
                                 {SourceState::ended, "ended"},
                                 {SourceState::error, "error"}})

struct LiveSourceOptions {
    SourceSpec spec;
    DetectOptions detect;                    // the stop flag is the source's own; blur_faces applies here
    bool loop = false;                       // video files: start again at the end
    bool pace = true;                        // video files: play at their frame rate, as a camera would
    int max_reconnects = -1;                 // cameras and streams: -1 = forever
    double reconnect_initial = 0.5, reconnect_max = 8.0;
    std::filesystem::path save_violations;   // one JPEG per violation event; empty = store nothing
    int jpeg_quality = 80;
    WallClock clock = unix_now;              // for the statistics and event timestamps
};

struct SourceStatus {
    std::string name;
    SourceState state = SourceState::starting;
    std::string message;       // the last status line or error
    std::string description;   // e.g. "video demo.mp4 (FFMPEG, 640x420, 15 fps)"
    std::int64_t frames = 0;   // frames through the pipeline since the server started
    std::int64_t faces = 0;    // face detections summed over frames
    std::int64_t violations = 0;
    std::int64_t saved = 0;    // violation pictures written
    int reconnects = 0;
    int viewers = 0;
    double fps = 0;
    std::vector<std::pair<std::string, LatencyStats>> stages;  // detect, classify, annotate, latency
    ComplianceSnapshot stats;
};

// The newest encoded frame and its number (0 = none yet).
struct JpegFrame {
    std::uint64_t seq = 0;
    std::shared_ptr<const std::string> jpeg;
};

class LiveSource {
public:
    // Loads its own detector (throws as MaskDetector); does not start anything.
    LiveSource(const std::filesystem::path& model, LiveSourceOptions options, EventLog& events);
    ~LiveSource();  // stop()
    LiveSource(const LiveSource&) = delete;
    LiveSource& operator=(const LiveSource&) = delete;

    void start();
    // Sets the stop flag and joins the thread; frames in flight are finished. Idempotent.
    void request_stop();  // without joining, so several sources stop together
    void stop();

    const std::string& name() const { return options_.spec.name; }
    SourceStatus status() const;

    // A viewer is counted while this lives: frames are encoded only while somebody watches.
    class Viewer {
    public:
        explicit Viewer(LiveSource& source);
        ~Viewer();
        Viewer(const Viewer&) = delete;
        Viewer& operator=(const Viewer&) = delete;
        // The first frame newer than `after`, waiting up to `timeout`; seq == after when none came
        // (the source is reconnecting, ended, or stopping).
        JpegFrame next(std::uint64_t after, std::chrono::milliseconds timeout);

    private:
        LiveSource& source_;
    };

    // A grey picture saying what the source is doing ("door: reconnecting"), for viewers while there
    // are no frames.
    std::shared_ptr<const std::string> placeholder() const;

private:
    class Observer;
    friend class Observer;
    friend class Viewer;

    void run();
    void run_once();
    // Makes `bgr` the latest frame; returns its JPEG when encoded (someone watches, or need_jpeg).
    std::shared_ptr<const std::string> publish(const cv::Mat& bgr, bool need_jpeg);
    void set_state(SourceState state, const std::string& message);
    bool wait(double seconds);  // false when stopping

    LiveSourceOptions options_;
    EventLog& events_;
    std::unique_ptr<MaskDetector> detector_;
    std::atomic<bool> stop_{false};
    std::thread thread_;

    mutable std::mutex mutex_;  // everything below
    SourceStatus status_;
    std::unique_ptr<ComplianceStats> stats_;
    LatencyWindow detect_ms_, classify_ms_, annotate_ms_, latency_ms_;

    mutable std::mutex frame_mutex_;
    std::condition_variable frame_changed_;
    std::uint64_t frame_seq_ = 0;
    std::shared_ptr<const std::string> frame_jpeg_;  // null while nobody watched when it came
    std::shared_ptr<const cv::Mat> frame_bgr_;
    std::atomic<int> viewers_{0};
};

}  // namespace maskctl
