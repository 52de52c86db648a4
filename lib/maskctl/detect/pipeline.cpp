#include "maskctl/detect/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/preprocess.hpp"

namespace maskctl {
namespace {

// A small blocking queue between two pipeline stages. close() wakes everyone: pushes fail, pops
// drain what is left and then fail.
template <class T>
class StageQueue {
public:
    explicit StageQueue(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

    // With drop_oldest the producer never waits (live sources): the stalest frame makes room.
    // Returns false when closed; `dropped` counts frames thrown away.
    bool push(T item, bool drop_oldest, std::int64_t* dropped = nullptr) {
        std::unique_lock lock(mutex_);
        if (drop_oldest) {
            while (items_.size() >= capacity_) {
                items_.pop_front();
                if (dropped) ++*dropped;
            }
        } else {
            not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
        }
        if (closed_) return false;
        items_.push_back(std::move(item));
        not_empty_.notify_one();
        return true;
    }
    bool pop(T& out) {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
        if (items_.empty()) return false;
        out = std::move(items_.front());
        items_.pop_front();
        not_full_.notify_one();
        return true;
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        not_empty_.notify_all();
        not_full_.notify_all();
    }

private:
    size_t capacity_;
    std::deque<T> items_;
    bool closed_ = false;
    std::mutex mutex_;
    std::condition_variable not_empty_, not_full_;
};

struct Work {
    Frame frame;
    Clock::time_point captured;
    StageTimes ms;
    std::vector<Face> faces;
};

struct Done {
    FrameResult result;
    Clock::time_point captured;
};

// Everything the classification stage keeps between frames.
class TrackStage {
public:
    TrackStage(MaskDetector& detector) : d_(detector), tracker_(detector.options().tracker) {}

    FrameResult process(Work& w) {
        FrameResult r;
        r.frame = std::move(w.frame);
        r.ms = w.ms;
        const auto t0 = Clock::now();
        std::vector<cv::Rect2f> boxes;
        std::vector<float> scores;
        for (const auto& f : w.faces) boxes.push_back(f.box), scores.push_back(f.score);
        const TrackUpdate up = tracker_.update(boxes, scores);
        for (const auto& t : up.lost) lost(t, r);

        const std::vector<int> ids = tracks_to_classify(tracker_, d_.options().schedule);
        std::vector<cv::Rect2f> crops;
        for (int id : ids) crops.push_back(tracker_.find(id)->detection);
        const auto probs = d_.classify(r.frame.bgr, crops);
        for (size_t i = 0; i < ids.size(); ++i) {
            const int before = tracker_.find(ids[i])->label;
            if (tracker_.observe(ids[i], probs[i])) labelled(*tracker_.find(ids[i]), before, r);
        }
        r.classified = static_cast<int>(ids.size());
        for (const auto& t : tracker_.tracks()) violations(t, r);
        collect(r);
        r.ms.classify = ms_since(t0);
        return r;
    }

    int faces_seen() const { return static_cast<int>(labelled_.size()); }
    int violations() const { return violations_; }
    int violating_tracks() const { return static_cast<int>(violators_.size()); }

private:
    DetectEvent event(const std::string& type, const Track& t, const FrameResult& r) const {
        DetectEvent e;
        e.type = type;
        e.time = r.frame.time;
        e.frame = r.frame.index;
        e.track = t.id;
        e.box = cv::Rect(t.box);
        e.label = t.label >= 0 ? d_.class_names()[static_cast<size_t>(t.label)] : "";
        e.confidence = t.confidence();
        return e;
    }

    void labelled(const Track& t, int before, FrameResult& r) {
        labelled_.insert(t.id);
        DetectEvent e = event(before < 0 ? "appear" : "change", t, r);
        if (before >= 0) e.previous = d_.class_names()[static_cast<size_t>(before)];
        r.events.push_back(std::move(e));
    }

    void lost(const Track& t, FrameResult& r) {
        last_violation_.erase(t.id);
        if (t.label >= 0) r.events.push_back(event("lost", t, r));
    }

    void violations(const Track& t, FrameResult& r) {
        const DetectOptions& o = d_.options();
        if (!t.visible() || !d_.is_violation(t.label) || t.label_frames < o.violation_frames) return;
        auto it = last_violation_.find(t.id);
        if (it != last_violation_.end() && r.frame.time - it->second < o.violation_repeat) return;
        // A label that changed back and forth restarts the streak, so the repeat timer only matters
        // for one uninterrupted streak: keyed by track, not by streak.
        last_violation_[t.id] = r.frame.time;
        violators_.insert(t.id);
        ++violations_;
        r.events.push_back(event("violation", t, r));
    }

    void collect(FrameResult& r) const {
        for (const auto& t : tracker_.tracks()) {
            if (t.missed > d_.options().show_missed) continue;
            FaceResult f;
            f.track = t.id;
            f.box = t.box;
            f.score = t.score;
            f.label = t.label;
            f.confidence = t.confidence();
            f.probabilities = t.probabilities;
            f.visible = t.visible();
            f.violation = d_.is_violation(t.label);
            r.faces.push_back(std::move(f));
        }
    }

    MaskDetector& d_;
    Tracker tracker_;
    std::set<int> labelled_, violators_;
    std::map<int, double> last_violation_;
    int violations_ = 0;
};

// Exponential moving average for the on-screen numbers (steadier than the last frame's value).
struct Ema {
    double value = 0;
    bool primed = false;
    void add(double v) {
        value = primed ? 0.9 * value + 0.1 * v : v;
        primed = true;
    }
};

// What the stages share: the queues between them, the halt flag and the first error.
class StageLinks {
public:
    explicit StageLinks(const DetectOptions& o)
        : captured(queue_size(o)), detected(queue_size(o)), classified(queue_size(o)), stop_(o.stop) {}

    StageQueue<Work> captured, detected;
    StageQueue<Done> classified;

    bool stopping() const { return halted_.load() || (stop_ && stop_->load()); }
    // Wakes every stage: pushes fail, pops drain what is left.
    void halt() {
        halted_ = true;
        captured.close(), detected.close(), classified.close();
    }
    // Keeps the first error and stops the pipeline; the caller rethrows it after the threads stopped.
    void fail(std::exception_ptr e) {
        {
            std::lock_guard lock(mutex_);
            if (!error_) error_ = std::move(e);
        }
        halt();
    }
    void rethrow_error() {
        std::lock_guard lock(mutex_);
        if (error_) std::rethrow_exception(error_);
    }

private:
    static size_t queue_size(const DetectOptions& o) { return static_cast<size_t>(std::max(1, o.queue_size)); }

    std::atomic<bool> halted_{false};
    const std::atomic<bool>* stop_;
    std::mutex mutex_;
    std::exception_ptr error_;
};

// The worker threads: each runs one stage, an exception stops the pipeline, and the destructor halts
// and joins them, so no path out of run_detection (the observer throwing included) leaves one running.
class StageThreads {
public:
    explicit StageThreads(StageLinks& links) : links_(links) {}
    ~StageThreads() {
        links_.halt();
        for (auto& t : threads_) t.join();
    }
    StageThreads(const StageThreads&) = delete;
    StageThreads& operator=(const StageThreads&) = delete;

    template <class Body>
    void start(Body body) {
        threads_.emplace_back([this, body] {
            try {
                body();
            } catch (...) {
                links_.fail(std::current_exception());
            }
        });
    }

private:
    StageLinks& links_;
    std::vector<std::thread> threads_;
};

// The loop of a middle stage: each item of `in` goes through `step` into `out`, until `in` is drained
// and closed or `out` is closed; then `out` is closed for the next stage.
template <class In, class Out, class Step>
void pump(StageQueue<In>& in, StageQueue<Out>& out, Step step) {
    In item;
    while (in.pop(item))
        if (!out.push(step(item), false)) break;
    out.close();
}

// Reads frames from the source; live sources drop the stalest frame rather than wait.
class CaptureStage {
public:
    CaptureStage(FrameSource& source, const DetectOptions& o, StageLinks& links)
        : source_(source),
          links_(links),
          max_frames_(o.max_frames),
          drop_(o.drop_late_frames < 0 ? source.live() : o.drop_late_frames > 0) {}

    void run() {
        for (std::int64_t n = 0; !links_.stopping() && (max_frames_ <= 0 || n < max_frames_); ++n) {
            Work w;
            const auto t0 = Clock::now();
            if (!source_.read(w.frame)) break;
            w.captured = Clock::now();
            w.ms.capture = ms_since(t0);
            if (!links_.captured.push(std::move(w), drop_, &dropped_)) break;
        }
        links_.captured.close();
    }
    std::int64_t dropped() const { return dropped_; }  // read after the thread stopped

private:
    FrameSource& source_;
    StageLinks& links_;
    std::int64_t max_frames_;
    bool drop_;
    std::int64_t dropped_ = 0;
};

// Finds the faces of each frame.
class DetectStage {
public:
    DetectStage(MaskDetector& detector, StageLinks& links) : detector_(detector), links_(links) {}

    void run() {
        pump(links_.captured, links_.detected, [&](Work& w) {
            const auto t0 = Clock::now();
            w.faces = detector_.find_faces(w.frame.bgr);
            w.ms.detect = ms_since(t0);
            return std::move(w);
        });
    }

private:
    MaskDetector& detector_;
    StageLinks& links_;
};

// Tracks the faces and classifies the tracks that are due.
class ClassifyStage {
public:
    ClassifyStage(MaskDetector& detector, StageLinks& links) : tracks_(detector), links_(links) {}

    void run() {
        pump(links_.detected, links_.classified, [&](Work& w) { return Done{tracks_.process(w), w.captured}; });
    }
    const TrackStage& tracks() const { return tracks_; }  // read after the thread stopped

private:
    TrackStage tracks_;
    StageLinks& links_;
};

// On the caller's thread: draws, hands frames to the observer in order and keeps the numbers.
class OutputStage {
public:
    OutputStage(MaskDetector& detector, DetectObserver& observer) : detector_(detector), observer_(observer) {}

    void run(StageQueue<Done>& in) {
        start_ = last_output_ = Clock::now();
        Done d;
        while (in.pop(d)) {
            annotate(d.result);
            if (!deliver(d)) {
                observer_stop_ = true;
                return;
            }
        }
    }

    DetectSummary summary(const TrackStage& tracks, std::int64_t dropped, int reconnects, bool stop_flag) const {
        DetectSummary s = counts_;
        s.seconds = seconds_since(start_);
        s.fps = s.seconds > 0 ? static_cast<double>(s.frames) / s.seconds : 0;
        s.faces_seen = tracks.faces_seen();
        s.violations = tracks.violations();
        s.violating_tracks = tracks.violating_tracks();
        s.dropped = dropped;
        s.reconnects = reconnects;
        s.stopped = observer_stop_ || stop_flag;
        const char* names[kStages] = {"capture", "detect", "classify", "annotate", "output", "latency"};
        for (int i = 0; i < kStages; ++i) s.stages.emplace_back(names[i], latency_stats(times_[i]));
        return s;
    }

private:
    static constexpr int kStages = 6;

    void annotate(FrameResult& r) {
        const DetectOptions& o = detector_.options();
        const auto t0 = Clock::now();
        if (o.blur_faces) {
            std::vector<cv::Rect> boxes;
            for (const auto& f : r.faces) boxes.emplace_back(f.box);
            blur_faces(r.frame.bgr, boxes);
        }
        if (o.draw) detector_.draw(r.frame.bgr, r.faces);
        detect_ms_.add(r.ms.detect);
        classify_ms_.add(r.ms.classify);
        if (o.panel) {
            int violating = 0;
            for (const auto& f : r.faces) violating += f.visible && f.violation;
            draw_panel(r.frame.bgr,
                       {fmt::format("{}  {:.1f} fps", detector_.detector_name(), fps_.value),
                        fmt::format("detect {:.0f} ms  classify {:.0f} ms", detect_ms_.value, classify_ms_.value),
                        fmt::format("faces {}  violations {}", r.faces.size(), violating)},
                       o.style);
        }
        r.ms.annotate = ms_since(t0);
    }

    // Events, then the frame; false when the observer says stop.
    bool deliver(Done& d) {
        FrameResult& r = d.result;
        const auto t0 = Clock::now();
        // The observer sees the latency up to its own turn (it cannot time itself); the pipeline's
        // statistics below include the output.
        r.ms.latency = std::chrono::duration<double, std::milli>(t0 - d.captured).count();
        for (const auto& e : r.events) observer_.on_event(e);
        const bool go_on = observer_.on_frame(r);
        const auto now = Clock::now();
        r.ms.output = std::chrono::duration<double, std::milli>(now - t0).count();
        r.ms.latency = std::chrono::duration<double, std::milli>(now - d.captured).count();
        const double gap = std::chrono::duration<double>(now - last_output_).count();
        if (gap > 0 && counts_.frames > 0) fps_.add(1.0 / gap);
        last_output_ = now;
        count(r);
        return go_on;
    }

    void count(const FrameResult& r) {
        ++counts_.frames;
        counts_.detections += static_cast<std::int64_t>(
            std::count_if(r.faces.begin(), r.faces.end(), [](const FaceResult& f) { return f.visible; }));
        counts_.classified += r.classified;
        const double v[kStages] = {r.ms.capture, r.ms.detect, r.ms.classify, r.ms.annotate, r.ms.output, r.ms.latency};
        for (int i = 0; i < kStages; ++i) times_[i].push_back(v[i]);
    }

    MaskDetector& detector_;
    DetectObserver& observer_;
    DetectSummary counts_;
    std::vector<double> times_[kStages];
    Ema fps_, detect_ms_, classify_ms_;
    Clock::time_point start_, last_output_;
    bool observer_stop_ = false;
};

}  // namespace

nlohmann::json to_json(const DetectEvent& e) {
    nlohmann::json j = {{"type", e.type},
                        {"time", std::round(e.time * 1000) / 1000},
                        {"frame", e.frame},
                        {"track", e.track},
                        {"box", {e.box.x, e.box.y, e.box.width, e.box.height}},
                        {"label", e.label},
                        {"display", display_name(e.label)},
                        {"confidence", std::round(static_cast<double>(e.confidence) * 10000) / 10000}};
    if (!e.previous.empty()) j["previous"] = e.previous;
    return j;
}

LatencyStats latency_stats(std::vector<double> ms) {
    LatencyStats s;
    if (ms.empty()) return s;
    std::sort(ms.begin(), ms.end());
    double sum = 0;
    for (double v : ms) sum += v;
    s.mean = sum / static_cast<double>(ms.size());
    // Nearest-rank percentiles: an actual observed value.
    const auto rank = [&](double p) {
        const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
        return ms[std::clamp<size_t>(k, 1, ms.size()) - 1];
    };
    s.p50 = rank(0.50);
    s.p95 = rank(0.95);
    return s;
}

MaskDetector::MaskDetector(LoadedModel model, DetectOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
    if (!model_.model) throw Error("mask detector: no model");
    if (options_.precision) model_.model->backbone->precision = *options_.precision;
    const auto& names = model_.info.class_names;
    for (const auto& v : options_.violation_classes)
        if (std::find(names.begin(), names.end(), v) == names.end())
            throw ConfigError(fmt::format("violation class '{}' is not a class of the model ({})", v,
                                          fmt::join(names, ", ")));
    for (const auto& n : names)
        violation_.push_back(options_.violation_classes.empty()
                                 ? label_kind(n) != LabelKind::mask
                                 : std::count(options_.violation_classes.begin(), options_.violation_classes.end(), n) > 0);
    if (options_.violation_frames < 1)
        throw ConfigError(fmt::format("violation frames is {}, expected >= 1", options_.violation_frames));
    if (options_.crop_pad < 0 || options_.crop_pad > 2)
        throw ConfigError(fmt::format("crop padding is {}, expected 0..2", options_.crop_pad));
    if (options_.schedule.every < 1)
        throw ConfigError(fmt::format("classify every is {}, expected >= 1", options_.schedule.every));
    faces_ = make_face_detector(options_.detector);
    model_.model->eval();
}

bool MaskDetector::is_violation(int label) const {
    return label >= 0 && label < static_cast<int>(violation_.size()) && violation_[static_cast<size_t>(label)];
}

std::vector<Face> MaskDetector::find_faces(const cv::Mat& bgr) { return faces_->detect(bgr); }

std::vector<std::vector<float>> MaskDetector::classify(const cv::Mat& bgr, const std::vector<cv::Rect2f>& boxes) {
    if (boxes.empty()) return {};
    const Preprocess& pre = model_.info.preprocess;
    std::vector<cv::Mat> rgb;
    for (const auto& b : boxes) {
        cv::Mat crop = resize_for_model(face_crop(bgr, b, options_.crop_pad, options_.crop_shift), pre);
        cv::Mat converted;
        cv::cvtColor(crop, converted, cv::COLOR_BGR2RGB);
        rgb.push_back(converted);
    }
    const torch::Tensor p = model_.model->predict(to_batch(rgb, pre)).contiguous();
    std::vector<std::vector<float>> out(boxes.size());
    const float* data = p.data_ptr<float>();
    const auto classes = static_cast<size_t>(p.size(1));
    for (size_t i = 0; i < boxes.size(); ++i) out[i].assign(data + i * classes, data + (i + 1) * classes);
    return out;
}

std::vector<FaceResult> MaskDetector::detect_image(const cv::Mat& bgr) {
    const auto faces = find_faces(bgr);
    std::vector<cv::Rect2f> boxes;
    for (const auto& f : faces) boxes.push_back(f.box);
    const auto probs = classify(bgr, boxes);
    std::vector<FaceResult> out;
    for (size_t i = 0; i < faces.size(); ++i) {
        FaceResult r;
        r.box = faces[i].box;
        r.score = faces[i].score;
        r.probabilities = probs[i];
        r.label = static_cast<int>(std::max_element(probs[i].begin(), probs[i].end()) - probs[i].begin());
        r.confidence = probs[i][static_cast<size_t>(r.label)];
        r.violation = is_violation(r.label);
        out.push_back(std::move(r));
    }
    return out;
}

void MaskDetector::draw(cv::Mat& bgr, const std::vector<FaceResult>& faces) const {
    const AnnotateStyle& style = options_.style;
    for (const auto& f : faces) {
        const cv::Rect box(f.box);
        if (f.label < 0) {
            draw_face(bgr, box, "", style.pending, style);
            continue;
        }
        const std::string& name = class_names()[static_cast<size_t>(f.label)];
        draw_face(bgr, box, face_label(name, f.confidence), color_for(label_kind(name), style), style);
    }
}

DetectSummary run_detection(FrameSource& source, MaskDetector& detector, DetectObserver& observer) {
    const DetectOptions& o = detector.options();
    // Every stage exists before any thread starts; the threads only run them.
    StageLinks links(o);
    CaptureStage capture(source, o, links);
    DetectStage detect(detector, links);
    ClassifyStage classify(detector, links);
    OutputStage output(detector, observer);
    {
        StageThreads threads(links);
        threads.start([&] { capture.run(); });
        threads.start([&] { detect.run(); });
        threads.start([&] { classify.run(); });
        output.run(links.classified);
    }  // the threads are joined here, also when the observer threw
    links.rethrow_error();
    return output.summary(classify.tracks(), capture.dropped(), source.reconnects(), o.stop && o.stop->load());
}

}  // namespace maskctl
