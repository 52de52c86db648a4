#include "maskctl/serve/live_source.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/detect/video_source.hpp"
#include "maskctl/model/model_file.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;

enum class InputKind { camera, stream, file };

InputKind input_kind(const std::string& input) {
    if (!input.empty() && std::all_of(input.begin(), input.end(), [](unsigned char c) { return std::isdigit(c); }))
        return InputKind::camera;
    return input.find("://") != std::string::npos ? InputKind::stream : InputKind::file;
}

bool valid_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    }) && name != "." && name != "..";
}

// A name made of the allowed characters only: "front door.mp4" -> "front_door".
std::string clean_name(const std::string& raw) {
    std::string out;
    for (unsigned char c : raw) out += std::isalnum(c) || c == '-' || c == '_' ? static_cast<char>(c) : '_';
    return out.empty() ? "source" : out.substr(0, 64);
}

// A video file played back at its own frame rate, so the web page sees it as it would see a camera:
// real-time frames, late ones dropped by the pipeline rather than queued.
class PacedSource : public FrameSource {
public:
    PacedSource(FrameSource& inner, const std::atomic<bool>& stop) : inner_(inner), stop_(stop) {}

    bool read(Frame& frame) override {
        if (!inner_.read(frame)) return false;
        if (!started_) {
            start_ = Clock::now();
            first_ = frame.time;
            started_ = true;
        }
        const auto due = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(frame.time - first_));
        while (Clock::now() < due) {
            if (stop_.load()) return false;
            std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
        }
        return !stop_.load();
    }
    std::string description() const override { return inner_.description(); }
    bool live() const override { return true; }
    double fps() const override { return inner_.fps(); }
    int reconnects() const override { return inner_.reconnects(); }

private:
    FrameSource& inner_;
    const std::atomic<bool>& stop_;
    bool started_ = false;
    Clock::time_point start_;
    double first_ = 0;
};

std::shared_ptr<const std::string> encode_jpeg(const cv::Mat& bgr, int quality) {
    std::vector<unsigned char> buf;
    cv::imencode(".jpg", bgr, buf, {cv::IMWRITE_JPEG_QUALITY, quality});
    return std::make_shared<const std::string>(buf.begin(), buf.end());
}

std::string file_time(double unix_seconds) {
    std::string t = utc_iso(unix_seconds);  // 2026-12-02T14:00:00Z
    t.erase(std::remove(t.begin(), t.end(), ':'), t.end());
    t.erase(std::remove(t.begin(), t.end(), '-'), t.end());
    return t;  // 20261202T140000Z
}

}  // namespace

SourceSpec parse_source_spec(const std::string& text, const std::vector<std::string>& taken) {
    SourceSpec spec;
    const auto eq = text.find('=');
    // "rtsp://host/x?a=b" has '=' too: a name comes before any "://".
    const auto scheme = text.find("://");
    if (eq != std::string::npos && (scheme == std::string::npos || eq < scheme)) {
        spec.name = text.substr(0, eq);
        spec.input = text.substr(eq + 1);
        if (!valid_name(spec.name))
            throw ConfigError(fmt::format("--source {}: the name '{}' may only use letters, digits, '-', '_' and '.' "
                                          "(at most 64)", text, spec.name));
    } else {
        spec.input = text;
    }
    if (spec.input.empty()) throw ConfigError(fmt::format("--source {}: expected NAME=CAMERA|URL|VIDEO", text));
    const bool named = !spec.name.empty();
    if (!named) {
        switch (input_kind(spec.input)) {
            case InputKind::camera: spec.name = "camera" + spec.input; break;
            case InputKind::stream: spec.name = "stream"; break;
            case InputKind::file: spec.name = clean_name(fs::path(spec.input).stem().string()); break;
        }
    }
    if (std::find(taken.begin(), taken.end(), spec.name) != taken.end()) {
        if (named) throw ConfigError(fmt::format("--source {}: the name '{}' is taken by another source", text, spec.name));
        const std::string base = spec.name;
        for (int i = 2; std::find(taken.begin(), taken.end(), spec.name) != taken.end(); ++i)
            spec.name = fmt::format("{}-{}", base, i);
    }
    return spec;
}

// On the pipeline's output thread: statistics, events, the latest frame, violation pictures.
class LiveSource::Observer : public DetectObserver {
public:
    explicit Observer(LiveSource& s) : s_(s) {}

    void on_event(const DetectEvent& e) override {
        const bool violation = e.type == "violation";
        {
            std::lock_guard lock(s_.mutex_);
            s_.stats_->add_event(e);
            s_.status_.violations += violation;
        }
        nlohmann::json j = to_json(e);
        j["source"] = s_.name();
        j["timestamp"] = utc_iso(s_.options_.clock());
        s_.events_.add(std::move(j));
        if (violation && !s_.options_.save_violations.empty()) pending_.push_back(e);
    }

    bool on_frame(FrameResult& r) override {
        int visible = 0;
        for (const auto& f : r.faces) visible += f.visible;
        {
            std::lock_guard lock(s_.mutex_);
            s_.stats_->add_frame(r.faces);
            ++s_.status_.frames;
            s_.status_.faces += visible;
            s_.detect_ms_.add(r.ms.detect);
            s_.classify_ms_.add(r.ms.classify);
            s_.annotate_ms_.add(r.ms.annotate);
            s_.latency_ms_.add(r.ms.latency);
            if (s_.status_.state != SourceState::running) {
                s_.status_.state = SourceState::running;
                s_.status_.message = s_.status_.description;
            }
        }
        const auto jpeg = s_.publish(r.frame.bgr, !pending_.empty());
        for (const auto& e : pending_) save(e, *jpeg);
        pending_.clear();
        return !s_.stop_.load();
    }

private:
    // One picture per violation event, written whole (temporary + rename) or not at all; a full disk
    // is reported in the source's message and never stops the camera.
    void save(const DetectEvent& e, const std::string& jpeg) {
        const fs::path file = s_.options_.save_violations /
                              fmt::format("{}-{}-track{}-frame{}.jpg", s_.name(), file_time(s_.options_.clock()), e.track, e.frame);
        try {
            write_file_atomic(file, jpeg);
            std::lock_guard lock(s_.mutex_);
            ++s_.status_.saved;
        } catch (const std::exception& ex) {
            std::lock_guard lock(s_.mutex_);
            s_.status_.message = fmt::format("cannot save a violation picture: {}", ex.what());
        }
    }

    LiveSource& s_;
    std::vector<DetectEvent> pending_;
};

LiveSource::LiveSource(const fs::path& model, LiveSourceOptions options, EventLog& events)
    : options_(std::move(options)), events_(events) {
    DetectOptions d = options_.detect;
    d.stop = &stop_;
    detector_ = std::make_unique<MaskDetector>(load_model(model), d);
    ComplianceOptions co;
    co.source = options_.spec.name;
    stats_ = std::make_unique<ComplianceStats>(detector_->class_names(), co, options_.clock);
    status_.name = options_.spec.name;
    status_.message = "starting";
}

LiveSource::~LiveSource() { stop(); }

void LiveSource::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
}

void LiveSource::request_stop() {
    stop_.store(true);
    frame_changed_.notify_all();
}

void LiveSource::stop() {
    request_stop();
    if (thread_.joinable()) thread_.join();
}

void LiveSource::set_state(SourceState state, const std::string& message) {
    std::lock_guard lock(mutex_);
    status_.state = state;
    status_.message = message;
}

bool LiveSource::wait(double seconds) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < end) {
        if (stop_.load()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return !stop_.load();
}

void LiveSource::run() {
    const InputKind kind = input_kind(options_.spec.input);
    double delay = options_.reconnect_initial;
    int attempts = 0;
    while (!stop_.load()) {
        try {
            run_once();
            if (stop_.load()) break;
            set_state(SourceState::ended, kind == InputKind::file ? "the video ended"
                                                                 : "no frames and no reconnect attempts left");
            break;
        } catch (const std::exception& e) {
            if (stop_.load()) break;
            // A camera that is not plugged in yet, or a stream that is down, may come back: retry as
            // `maskctl detect` does after a drop. A file that cannot be read will not.
            if (kind == InputKind::file || (options_.max_reconnects >= 0 && attempts >= options_.max_reconnects)) {
                set_state(SourceState::error, e.what());
                break;
            }
            ++attempts;
            {
                std::lock_guard lock(mutex_);
                ++status_.reconnects;
            }
            set_state(SourceState::reconnecting, fmt::format("{}; retrying in {:.1f} s", e.what(), delay));
            if (!wait(delay)) break;
            delay = std::min(delay * 2, options_.reconnect_max);
        }
    }
    frame_changed_.notify_all();
}

void LiveSource::run_once() {
    SourceOptions so;
    so.loop = options_.loop;
    so.stop = &stop_;
    so.max_reconnects = options_.max_reconnects;
    so.reconnect_initial = options_.reconnect_initial;
    so.reconnect_max = options_.reconnect_max;
    so.on_message = [this](const std::string& line) {
        const bool dropped = line.find("reopening") != std::string::npos;
        std::lock_guard lock(mutex_);
        if (dropped) status_.state = SourceState::reconnecting;
        status_.message = line;
    };
    const std::string& input = options_.spec.input;
    std::unique_ptr<FrameSource> source;
    switch (input_kind(input)) {
        case InputKind::camera: source = open_camera(std::stoi(input), so); break;
        case InputKind::stream: source = open_stream(input, so); break;
        case InputKind::file: source = open_video(input, so); break;
    }
    {
        std::lock_guard lock(mutex_);
        status_.description = source->description();
        status_.message = status_.description;
    }
    std::unique_ptr<PacedSource> paced;
    if (options_.pace && !source->live() && source->fps() > 0) paced = std::make_unique<PacedSource>(*source, stop_);
    const int reconnects_before = status().reconnects;
    Observer observer(*this);
    run_detection(paced ? static_cast<FrameSource&>(*paced) : *source, *detector_, observer);
    std::lock_guard lock(mutex_);
    status_.reconnects = reconnects_before + source->reconnects();
}

std::shared_ptr<const std::string> LiveSource::publish(const cv::Mat& bgr, bool need_jpeg) {
    // Encoding costs a few ms a frame: only when somebody watches (or a violation picture is due);
    // otherwise the raw frame is kept and the first viewer to come encodes it.
    std::shared_ptr<const std::string> jpeg;
    std::shared_ptr<const cv::Mat> raw;
    if (need_jpeg || viewers_.load() > 0) jpeg = encode_jpeg(bgr, options_.jpeg_quality);
    else raw = std::make_shared<const cv::Mat>(bgr.clone());
    {
        std::lock_guard lock(frame_mutex_);
        ++frame_seq_;
        frame_jpeg_ = jpeg;
        frame_bgr_ = raw;
    }
    frame_changed_.notify_all();
    return jpeg;
}

SourceStatus LiveSource::status() const {
    std::lock_guard lock(mutex_);
    SourceStatus s = status_;
    s.viewers = viewers_.load();
    s.stats = stats_->snapshot();
    s.fps = s.stats.fps;
    s.stages = {{"detect", detect_ms_.stats()},
                {"classify", classify_ms_.stats()},
                {"annotate", annotate_ms_.stats()},
                {"latency", latency_ms_.stats()}};
    return s;
}

std::shared_ptr<const std::string> LiveSource::placeholder() const {
    const SourceStatus s = [&] {
        std::lock_guard lock(mutex_);
        return status_;
    }();
    cv::Mat img(360, 640, CV_8UC3, cv::Scalar(90, 90, 90));
    const std::string line = fmt::format("{}: {}", s.name, enum_name(s.state));
    cv::putText(img, line, {24, 170}, cv::FONT_HERSHEY_SIMPLEX, 1.1, {255, 255, 255}, 2, cv::LINE_AA);
    cv::putText(img, s.message.substr(0, 70), {24, 215}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {225, 225, 225}, 1, cv::LINE_AA);
    return encode_jpeg(img, options_.jpeg_quality);
}

LiveSource::Viewer::Viewer(LiveSource& source) : source_(source) { ++source_.viewers_; }
LiveSource::Viewer::~Viewer() { --source_.viewers_; }

JpegFrame LiveSource::Viewer::next(std::uint64_t after, std::chrono::milliseconds timeout) {
    LiveSource& s = source_;
    std::unique_lock lock(s.frame_mutex_);
    s.frame_changed_.wait_for(lock, timeout, [&] { return s.frame_seq_ > after || s.stop_.load(); });
    if (s.frame_seq_ <= after) return {after, nullptr};
    if (s.frame_jpeg_) return {s.frame_seq_, s.frame_jpeg_};
    // Nobody watched when this frame came: encode it here, off the source's thread.
    const std::uint64_t seq = s.frame_seq_;
    const auto raw = s.frame_bgr_;
    lock.unlock();
    auto jpeg = raw ? encode_jpeg(*raw, s.options_.jpeg_quality) : nullptr;
    lock.lock();
    if (s.frame_seq_ == seq && !s.frame_jpeg_) s.frame_jpeg_ = jpeg;
    return {seq, jpeg};
}

}  // namespace maskctl
