// maskctl detect: live mask detection on a camera, a network stream, a video file or photos.
#include <cstdlib>
#include <ctime>
#include <iostream>

#include <fmt/format.h>
#include <opencv2/core/utils/logger.hpp>
#include <unistd.h>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>

#include "command.hpp"
#include "console.hpp"
#include "detector_options.hpp"
#include "tracking_options.hpp"
#include "mqtt_options.hpp"
#include "precision_option.hpp"
#include "maskctl/detect/action.hpp"
#include "maskctl/detect/compliance.hpp"
#include "maskctl/fleet/mqtt_output.hpp"
#include "maskctl/core/append_file.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/report/bench.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/detect/predictions.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/folder_listing.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/core/run_dir.hpp"

namespace maskctl::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWindow = "maskctl detect";

struct Args {
    std::string model;
    int camera = -1;
    std::string url, video, image;
    DetectorOptions faces;
    PrecisionOption precision;
    TrackingOptions tracking;
    int width = 0, height = 0;
    int reconnects = -1;
    bool headless = false, bench = false, gate = false, no_panel = false, quiet = false, loop = false;
    std::string save, events, out_dir, on_violation;
    std::int64_t max_frames = 0;
    std::string summary_json;  // where to write the DetectSummary (maskctl bench reads it)
    std::string name;          // camera name in the statistics (default: the host name)
    std::string stats_json;
    double stats_every = 0;    // seconds between stats lines (events file, MQTT); 0 = none (15 with --mqtt)
    MqttArgs mqtt;
    int mqtt_queue = 1000;
    std::string save_txt, save_json;  // machine-readable labels (predictions.hpp)
    std::string color_mask, color_no_mask, color_other;
};

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !*buf) return "camera";
    return buf;
}

DetectOptions detect_options(const Args& a, const std::atomic<bool>& stop) {
    DetectOptions o;
    a.faces.apply(o);
    a.tracking.apply(o);
    o.panel = !a.no_panel;
    o.max_frames = a.max_frames;
    if (!a.color_mask.empty()) o.style.mask = parse_color(a.color_mask);
    if (!a.color_no_mask.empty()) o.style.no_mask = parse_color(a.color_no_mask);
    if (!a.color_other.empty()) o.style.other = parse_color(a.color_other);
    o.stop = &stop;
    return o;
}

// ---- --save-txt and --save-json ---------------------------------------------------------------

class SavedLabels {
public:
    SavedLabels(const Args& a, const std::vector<std::string>& classes, bool video)
        : txt_(a.save_txt), json_(a.save_json), classes_(classes) {
        if (!txt_.empty()) {
            create_output_folder(txt_);
            write_file_atomic(txt_ / "classes.txt", fmt::format("{}\n", fmt::join(classes, "\n")));
        }
        if (!video || json_.empty()) return;
        // Frames as JSON lines, written one by one: a camera never ends, readers follow the file, and a
        // failed write (disk full) is an error rather than lost frames.
        lines_ = AppendFile(json_, /*truncate=*/true);
    }

    void image(const fs::path& relative, cv::Size size, const std::vector<FaceResult>& faces) {
        if (!txt_.empty()) write_txt(txt_path(txt_, relative), size, faces);
        if (json_.empty()) return;
        images_.push_back({{"file", relative.generic_string()}, {"width", size.width}, {"height", size.height},
                           {"faces", faces_json(faces)}});
    }

    void frame(const std::string& stem, const FrameResult& r) {
        if (!txt_.empty()) write_txt(txt_ / fmt::format("{}_{}.txt", stem, r.frame.index), r.frame.bgr.size(), r.faces);
        if (lines_.is_open())
            lines_.write_line(nlohmann::json{{"frame", r.frame.index},
                                             {"time", std::round(r.frame.time * 1000) / 1000},
                                             {"faces", faces_json(r.faces)}}.dump());
    }

    void finish() {
        if (lines_.is_open()) lines_.close();
        else if (!json_.empty()) write_file_atomic(json_, nlohmann::json{{"classes", classes_}, {"images", images_}}.dump(1) + "\n");
    }

private:
    static void write_txt(const fs::path& file, cv::Size size, const std::vector<FaceResult>& faces) {
        if (file.has_parent_path()) create_output_folder(file.parent_path());
        write_file_atomic(file, faces_yolo_txt(faces, size));
    }
    nlohmann::json faces_json(const std::vector<FaceResult>& faces) const {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& f : faces)
            if (f.visible) out.push_back(face_json(f, classes_));
        return out;
    }

    fs::path txt_, json_;
    std::vector<std::string> classes_;
    nlohmann::json images_ = nlohmann::json::array();
    AppendFile lines_;
};

// ---- photos ----------------------------------------------------------------------------------

int run_images(const Args& a, MaskDetector& detector, const std::atomic<bool>& stop) {
    const fs::path root(a.image);
    BadFileReport bad;
    const auto files = list_images(root, &bad);
    if (files.empty()) throw DataError(bad.summary());
    if (!a.save.empty() && files.size() != 1)
        throw DataError(fmt::format("--save takes one image; {} holds {}: use --out DIR", a.image, files.size()));
    // A gate answers with its exit code; it writes pictures only when asked to.
    fs::path out_dir;
    if (!a.out_dir.empty()) {
        out_dir = a.out_dir;
        create_output_folder(out_dir);
    } else if (a.save.empty() && !a.gate) {
        out_dir = create_run_dir("runs/detect");
    }
    // Annotated copies over the photos themselves would lose the user's originals.
    std::error_code ec;
    if (!out_dir.empty() && fs::equivalent(out_dir, fs::is_directory(root) ? root : fs::absolute(root).parent_path(), ec))
        throw ConfigError(fmt::format("--out {} is the photo folder: the annotated copies would replace the photos",
                                      out_dir.string()));
    if (!a.save.empty() && fs::equivalent(a.save, root, ec))
        throw ConfigError(fmt::format("--save {} is the photo itself: the annotated copy would replace it", a.save));
    const auto& names = detector.class_names();
    SavedLabels saved(a, names, false);
    int violations = 0, faceless = 0, faces_total = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const fs::path& file = files[i];
        if (stop.load()) throw Interrupted(fmt::format("interrupted after {} of {} photos", i, files.size()));
        cv::Mat bgr;
        try {  // one bad photo is reported and skipped; the others are still labelled
            cv::cvtColor(decode_image(file), bgr, cv::COLOR_RGB2BGR);
        } catch (const ImageError& e) {
            bad.add({file, e.problem(), e.what()});
            continue;
        }
        const auto faces = detector.detect_image(bgr);
        const fs::path name = fs::is_directory(root) ? path_below(root, file) : file.filename();
        saved.image(name, bgr.size(), faces);
        faces_total += static_cast<int>(faces.size());
        if (faces.empty()) ++faceless;
        std::string line;
        for (const auto& f : faces) {
            violations += f.violation;
            line += fmt::format("{}{} at {},{} {}x{}", line.empty() ? "" : "; ",
                                face_label(names[static_cast<size_t>(f.label)], f.confidence),
                                static_cast<int>(f.box.x), static_cast<int>(f.box.y), static_cast<int>(f.box.width),
                                static_cast<int>(f.box.height));
        }
        if (!a.quiet) fmt::print("{}: {} face{}{}{}\n", file.string(), faces.size(), faces.size() == 1 ? "" : "s",
                                 faces.empty() ? "" : ": ", line);
        if (a.save.empty() && out_dir.empty()) continue;
        detector.draw(bgr, faces);
        const fs::path dest = !a.save.empty() ? fs::path(a.save) : out_dir / name;
        if (dest.has_parent_path()) create_output_folder(dest.parent_path());
        write_image(dest, bgr);
    }
    saved.finish();
    if (!a.quiet) {
        if (!out_dir.empty()) fmt::print("annotated images in {}\n", out_dir.string());
        else if (!a.save.empty() && bad.empty()) fmt::print("annotated image: {}\n", a.save);
    }
    if (!bad.empty()) fmt::print(stderr, "warning: {}\n", bad.summary());
    if (!a.gate) return exit_code_for(bad.total);
    // Gate: a violation anywhere says no; then a photo that could not be read, or one without a face,
    // cannot be passed.
    const int code = violations > 0 ? kExitFailure : !bad.empty() ? kExitSkipped : faceless > 0 ? kExitNoFace : kExitOk;
    if (!a.quiet)
        fmt::print("gate: {} ({} face{}, {} without a mask{})\n",
                   code == kExitOk ? "pass" : code == kExitFailure ? "FAIL" : code == kExitSkipped ? "unreadable photo" : "no face",
                   faces_total, faces_total == 1 ? "" : "s", violations,
                   faceless ? fmt::format(", {} image{} without a face", faceless, faceless == 1 ? "" : "s") : "");
    return code;
}

// ---- video -----------------------------------------------------------------------------------

class AppObserver : public DetectObserver {
public:
    AppObserver(const Args& a, const FrameSource& source, const std::vector<std::string>& class_names)
        : a_(a), source_(source), names_(class_names), stats_(class_names, stats_options(a)), saved_(a, class_names, true),
          stem_(!a.video.empty() ? fs::path(a.video).stem().string() : a.camera >= 0 ? fmt::format("camera{}", a.camera) : "stream") {
        const char* display = std::getenv("DISPLAY");
        show_ = !a.headless && !a.bench && display && *display;
        if (!a.headless && !a.bench && !show_ && !a.quiet)
            fmt::print("no display (DISPLAY is not set): running headless\n");
        // A live log other programs follow (tail -f): written in place, one line per event; a failed
        // write (disk full) stops the run with an error instead of losing events in silence.
        if (!a.events.empty()) events_ = AppendFile(a.events, /*truncate=*/true);
        if (!a.on_violation.empty()) runner_ = std::make_unique<CommandRunner>(a.on_violation);
        if (!a.mqtt.url.empty()) mqtt_ = std::make_unique<MqttOutput>(mqtt_options(a));
    }

    void on_event(const DetectEvent& e) override {
        stats_.add_event(e);
        if (mqtt_) mqtt_->event(e);
        if (events_.is_open()) {
            nlohmann::json j = to_json(e);
            j["at"] = utc_timestamp();
            events_.write_line(j.dump());
        }
        if (e.type == "violation") violation(e);
        else if (!a_.quiet && !a_.bench && e.type != "lost")
            fmt::print("{:8.2f}s  track {:<3} {}{}\n", e.time, e.track, face_label(e.label, e.confidence),
                       e.previous.empty() ? "" : fmt::format(" (was {})", display_name(e.previous)));
    }

    bool on_frame(FrameResult& r) override {
        stats_.add_frame(r.faces);
        if (a_.stats_every > 0 && unix_now() >= next_stats_) {
            publish_stats();
            next_stats_ = unix_now() + a_.stats_every;
        }
        if (runner_) runner_->reap();
        saved_.frame(stem_, r);
        if (!a_.save.empty()) {
            if (!writer_) {
                const double fps = source_.fps() > 0 ? source_.fps() : 25.0;
                writer_ = std::make_unique<VideoFileWriter>(a_.save, fps, r.frame.bgr.size());
            }
            writer_->write(r.frame.bgr);
        }
        if (show_) {
            try {
                cv::imshow(kWindow, r.frame.bgr);
                const int key = cv::waitKey(1);
                if (key == 'q' || key == 'Q' || key == 27) return false;
            } catch (const cv::Exception& ex) {
                show_ = false;
                fmt::print(stderr, "warning: cannot open a window ({}); continuing headless\n", ex.err);
            }
        }
        return true;
    }

    // After an error: keeps what can be kept (the frames and events so far); a second failure is only
    // reported, so the first error stays the one the user sees.
    void finish_after_error() noexcept {
        try {
            finish();
        } catch (const std::exception& e) {
            fmt::print(stderr, "warning: {}\n", e.what());
        }
    }

    // Flushes and closes every output; runs on normal ends and on Ctrl-C alike.
    void finish() {
        if (writer_) writer_->finish();
        if (a_.stats_every > 0) publish_stats();  // the final figures, whenever the last ones were
        if (events_.is_open()) events_.close();
        if (mqtt_) {
            if (const auto c = mqtt_->counters(); !c.connected && c.waiting > 0)
                fmt::print(stderr, "mqtt: {} messages wait for the broker; giving it 5 s\n", c.waiting);
            mqtt_left_ = mqtt_->close(5.0);  // says offline; gives a broker that is away 5 s to come back
            mqtt_counters_ = mqtt_->counters();
        }
        if (!a_.stats_json.empty()) write_file_atomic(a_.stats_json, to_json(stats_.snapshot()).dump(2) + "\n");
        saved_.finish();
        if (show_) cv::destroyAllWindows();
        if (runner_ && runner_->wait(5.0) > 0 && !a_.quiet)
            fmt::print("{} violation command(s) still running; left in the background\n", runner_->running());
    }

    std::int64_t written() const { return writer_ ? writer_->frames() : 0; }
    int commands_started() const { return runner_ ? runner_->started() : 0; }
    int commands_failed() const { return runner_ ? runner_->failed() : 0; }
    ComplianceSnapshot stats() const { return stats_.snapshot(); }
    // After finish(): what the broker got.
    std::optional<std::pair<MqttCounters, std::int64_t>> mqtt() const {
        if (!mqtt_) return std::nullopt;
        return std::make_pair(mqtt_counters_, mqtt_left_);
    }

private:
    static ComplianceOptions stats_options(const Args& a) {
        ComplianceOptions o;
        o.source = a.name;
        return o;
    }

    static MqttOutputOptions mqtt_options(const Args& a) {
        MqttOutputOptions o;
        o.name = a.name;
        o.prefix = a.mqtt.prefix;
        o.stats_every = a.stats_every;
        o.mqtt = a.mqtt.options();
        o.mqtt.queue_size = static_cast<std::size_t>(a.mqtt_queue);
        // One line per change of the connection's state, from the MQTT thread (stderr, whole lines).
        o.mqtt.on_status = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
        return o;
    }

    // Events file: {"type": "stats", "at", ...the snapshot without its chart series}, one line like the
    // events. Broker: the retained stats topic.
    void publish_stats() {
        const ComplianceSnapshot snap = stats_.snapshot();
        if (mqtt_) mqtt_->stats(snap);
        if (!events_.is_open()) return;
        nlohmann::json j = to_json(snap);
        j.erase("series");
        j["type"] = "stats";
        j["at"] = j["timestamp"];
        events_.write_line(j.dump());
    }

    void violation(const DetectEvent& e) {
        if (!a_.quiet && !a_.bench)
            fmt::print("{:8.2f}s  track {:<3} VIOLATION: {}\n", e.time, e.track, face_label(e.label, e.confidence));
        if (!runner_) return;
        // Many faces at once must not fork-bomb the box: the per-track repeat limit is upstream,
        // this is the global one.
        if (runner_->running() >= 8) {
            fmt::print(stderr, "warning: 8 violation commands still running; skipping one\n");
            return;
        }
        runner_->start({{"MASKCTL_EVENT", to_json(e).dump()},
                        {"MASKCTL_TRACK", std::to_string(e.track)},
                        {"MASKCTL_LABEL", e.label},
                        {"MASKCTL_CONFIDENCE", fmt::format("{:.4f}", e.confidence)},
                        {"MASKCTL_FRAME", std::to_string(e.frame)},
                        {"MASKCTL_TIME", fmt::format("{:.3f}", e.time)},
                        {"MASKCTL_SOURCE", source_.description()}});
    }

    const Args& a_;
    const FrameSource& source_;
    const std::vector<std::string>& names_;
    bool show_ = false;
    AppendFile events_;
    std::unique_ptr<VideoFileWriter> writer_;
    std::unique_ptr<CommandRunner> runner_;
    ComplianceStats stats_;
    double next_stats_ = 0;
    std::unique_ptr<MqttOutput> mqtt_;
    MqttCounters mqtt_counters_;
    std::int64_t mqtt_left_ = 0;
    SavedLabels saved_;
    std::string stem_;
};

std::unique_ptr<FrameSource> open_source(const Args& a, const std::atomic<bool>& stop) {
    SourceOptions so;
    so.width = a.width;
    so.height = a.height;
    so.max_reconnects = a.reconnects;
    so.loop = a.loop || (a.bench && !a.video.empty());
    so.stop = &stop;
    so.on_message = [quiet = a.quiet](const std::string& line) {
        if (!quiet) fmt::print(stderr, "{}\n", line);
    };
    if (a.camera >= 0) return open_camera(a.camera, so);
    if (!a.url.empty()) return open_stream(a.url, so);
    return open_video(a.video, so);
}

void print_summary(const DetectSummary& s, const AppObserver& obs, const Args& a) {
    fmt::print("\n{} frames in {:.1f} s: {:.1f} frames/s{}\n", s.frames, s.seconds, s.fps,
               s.stopped ? " (stopped)" : "");
    fmt::print("faces seen {}, face detections {}, crops classified {}, violations {} ({} track{})\n", s.faces_seen,
               s.detections, s.classified, s.violations, s.violating_tracks, s.violating_tracks == 1 ? "" : "s");
    if (s.dropped) fmt::print("frames dropped (pipeline behind a live source): {}\n", s.dropped);
    if (s.reconnects) fmt::print("reconnects: {}\n", s.reconnects);
    if (obs.commands_started())
        fmt::print("violation commands started {}, failed {}\n", obs.commands_started(), obs.commands_failed());
    if (!a.save.empty()) fmt::print("annotated video: {} ({} frames)\n", a.save, obs.written());
    const ComplianceSnapshot people = obs.stats();
    const PeopleCounts& total = people.since_start;
    const auto ratio = total.compliance();
    fmt::print("people {}: {} with a mask, {} without, {} other; compliance {}\n", total.total(), total.with_mask,
               total.without_mask, total.other, ratio ? fmt::format("{:.1f}%", *ratio * 100) : "-");
    if (!a.events.empty()) fmt::print("events: {}\n", a.events);
    if (!a.stats_json.empty()) fmt::print("statistics: {}\n", a.stats_json);
    if (const auto m = obs.mqtt()) {
        const auto& [c, left] = *m;
        fmt::print("mqtt: {} messages delivered, {} dropped (queue full), {} undelivered at the end, {} connection{}\n",
                   c.delivered, c.dropped, left, c.connects, c.connects == 1 ? "" : "s");
    }
    fmt::print("\n{:<10} {:>8} {:>8} {:>8}\n", "stage", "mean ms", "p50 ms", "p95 ms");
    for (const auto& [name, st] : s.stages) fmt::print("{:<10} {:>8.1f} {:>8.1f} {:>8.1f}\n", name, st.mean, st.p50, st.p95);
}

int run_video(const Args& a, MaskDetector& detector, const std::atomic<bool>& stop) {
    auto source = open_source(a, stop);
    if (!a.quiet) fmt::print("{} | detector {} | classes {}\n", source->description(), detector.detector_name(),
                             fmt::join(detector.class_names(), ", "));
    AppObserver obs(a, *source, detector.class_names());
    DetectSummary s;
    try {
        s = run_detection(*source, detector, obs);
    } catch (...) {
        obs.finish_after_error();
        throw;
    }
    obs.finish();
    print_summary(s, obs, a);
    if (!a.summary_json.empty()) write_file_atomic(a.summary_json, to_json(s).dump(2) + "\n");
    return stop.load() ? kExitInterrupted : kExitOk;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("detect", "Find faces and label masks live: camera, stream, video or photos");
    auto a = std::make_shared<Args>();
    cmd->add_option("-m,--model", a->model, "Model file (.maskctl)")->required()->check(CLI::ExistingFile);
    auto* src = cmd->add_option_group("source", "Where frames come from (one of)");
    src->add_option("--camera", a->camera, "Camera index (V4L2)")->check(CLI::Range(0, 99));
    src->add_option("--source", a->url, "Network stream URL (rtsp://, http://, anything OpenCV/FFmpeg opens)");
    src->add_option("--video", a->video, "Video file");
    src->add_option("--image", a->image, "Image file or folder: annotated copies are written out");
    src->require_option(1);
    a->faces.add_to(cmd);
    a->precision.add_to(cmd);
    a->tracking.add_to(cmd);
    cmd->add_option("--width", a->width, "Camera width to request");
    cmd->add_option("--height", a->height, "Camera height to request");
    cmd->add_option("--reconnect", a->reconnects, "Reopen attempts when a live source drops (-1 = forever)")
        ->capture_default_str();
    cmd->add_flag("--headless", a->headless, "No window (the default when DISPLAY is not set)");
    cmd->add_option("--save", a->save, "Write the annotated video (.mp4, .avi) or, with --image, the annotated image");
    cmd->add_option("--events", a->events, "Write one JSON line per change of a face's state");
    cmd->add_option("--out", a->out_dir, "With --image: folder for annotated copies (default runs/detect/expN)");
    cmd->add_option("--on-violation", a->on_violation,
                    "Command run (sh -c) when a face stays unmasked; gets MASKCTL_TRACK, MASKCTL_LABEL, MASKCTL_EVENT, ...");
    cmd->add_flag("--gate", a->gate, "With --image: exit 0 when every face wears a mask, 1 when any does not, 3 when no face");
    cmd->add_flag("--bench", a->bench, "Measure: headless, loops a video to --max-frames (300), prints frames/s and latencies");
    cmd->add_flag("--loop", a->loop, "Play a video file again at its end");
    cmd->add_option("--max-frames", a->max_frames, "Stop after N frames");
    cmd->add_option("--summary-json", a->summary_json, "Write the frames/s and per-stage latencies as JSON");
    cmd->add_option("--name", a->name, "Camera name in the statistics and MQTT topics (default: the host name)");
    cmd->add_option("--stats-json", a->stats_json, "Write the compliance statistics (people with/without a mask, windows) as JSON at the end");
    cmd->add_option("--stats-every", a->stats_every,
                    "Statistics every S seconds: a line in the --events file, the retained MQTT stats topic (default with --mqtt: 15)")
        ->check(CLI::PositiveNumber);
    a->mqtt.add_to(cmd, "MQTT", "Publish events and statistics to this broker: mqtt://host[:1883] or mqtts://host[:8883]");
    cmd->add_option("--mqtt-queue", a->mqtt_queue, "Messages kept while the broker is away (the oldest is dropped first)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--save-txt", a->save_txt, "Write YOLO txt labels with confidence (and track id) per image or frame into DIR");
    cmd->add_option("--save-json", a->save_json,
                    "Write boxes, scores, class probabilities (and track ids) as JSON (photos) or JSON lines (video)");
    cmd->add_flag("--no-panel", a->no_panel, "No frames/s and latency panel on the frames");
    cmd->add_option("--color-mask", a->color_mask, "Box colour for a mask (#RRGGBB)");
    cmd->add_option("--color-no-mask", a->color_no_mask, "Box colour for no mask (#RRGGBB)");
    cmd->add_option("--color-other", a->color_other, "Box colour for other classes (#RRGGBB)");
    cmd->add_flag("-q,--quiet", a->quiet, "Print only the summary");
    cmd->callback([a, &exit_code] {
        if (a->gate && a->image.empty()) throw ConfigError("--gate works on photos: use it with --image");
        if (!a->image.empty() && (a->stats_every > 0 || !a->stats_json.empty()))
            throw ConfigError("--stats-json and --stats-every count tracked people: use a video, stream or camera");
        if (a->stats_every > 0 && a->events.empty() && a->mqtt.url.empty())
            throw ConfigError("--stats-every writes to the events file or the broker: add --events FILE or --mqtt URL");
        if (a->name.empty()) a->name = host_name();
        if (!a->mqtt.url.empty()) {
            // Checked before the model loads: a typo should not cost a second.
            a->mqtt.check();
            check_topic_level(a->name, "--name");
            if (a->stats_every == 0) a->stats_every = 15;
        }
        // OpenCV logs every backend it tries to stderr; our errors already say what was tried.
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        if (a->bench && a->max_frames == 0) a->max_frames = a->video.empty() ? 0 : 300;
        // Outputs are checked before any work, so a typo in a path does not cost a run.
        if (!a->save.empty() && a->image.empty()) VideoFileWriter::check_path(a->save);
        for (const auto& out : {a->events, a->stats_json, a->summary_json, a->save_json})
            if (!out.empty()) check_output_path(out);
        const auto& stop = install_stop_handler();
        LoadedModel model = load_model(a->model);
        a->precision.apply(model);
        MaskDetector detector(std::move(model), detect_options(*a, stop));
        exit_code = a->image.empty() ? run_video(*a, detector, stop) : run_images(*a, detector, stop);
    });
}

const CommandRegistration registration{50, setup};

}  // namespace
}  // namespace maskctl::app
