// maskctl bench: the speed and memory table of docs/benchmarks.md, printed and written as JSON.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iostream>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <torch/torch.h>

#include "command.hpp"
#include "console.hpp"
#include "config_options.hpp"
#include "precision_option.hpp"
#include "detector_options.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/report/bench.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/fleet/broker.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"
#include "maskctl/report/serve_bench.hpp"
#include "maskctl/serve/server.hpp"

namespace maskctl::app {
namespace {

namespace fs = std::filesystem;
constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

struct BenchArgs {
    ConfigOptions config;
    PrecisionOption precision;  // also given to the child processes
    bool quick = false;
    std::string json;
    std::string video;
    double seconds = 5.0;
    int frames = 300;
    int mqtt_pairs = 2;
    bool serve_only = false;
};

std::string default_video() {
    const char* shared = std::getenv("MASKCTL_SHARED");
    return (fs::path(shared ? shared : "../shared") / "media" / "demo.mp4").string();
}

void step(const std::string& line) { std::cerr << "bench: " << line << std::endl; }

// Collects rows and echoes each as it is measured, so a long run shows progress.
struct Rows {
    BenchReport& report;
    void add(std::string name, double value, std::string unit, std::string target = "", std::string note = "") {
        step(fmt::format("{}: {:.4g} {}", name, value, unit));
        report.rows.push_back({std::move(name), value, std::move(unit), std::move(target), std::move(note)});
    }
};

void add_backbone_rows(const BackboneSpeed& r, int batch, Rows& rows) {
    const std::string name = fmt::format("backbone forward 224, batch {}", batch);
    if (batch == 1)
        rows.add(name, 1000.0 / r.images_per_second, "ms/image", "<= 15",
                 fmt::format("{:.0f} images/s", r.images_per_second));
    else
        rows.add(name, r.images_per_second, "images/s", ">= 100", "random input, InferenceMode");
    rows.add(name + ", page faults", r.faults_per_image, "per image", "< 100",
             fmt::format("minor faults; {:.1f}% system time; {:.1f} CPU ms/image", 100.0 * r.system_share,
                         r.cpu_ms_per_image));
}

void bench_backbone(const Config& config, const BenchArgs& a, Rows& rows) {
    MobileNetV2 net;
    load_tflite_backbone(net, config.model.backbone.weights);
    net->eval();
    net->precision = precision_from_string(config.model.backbone.precision);
    std::map<int, double> idle;
    for (int batch : {32, 1}) {
        const auto r = measure_backbone(net, batch, 224, a.seconds);
        idle[batch] = r.images_per_second;
        add_backbone_rows(r, batch, rows);
    }
    // A shared machine: maskctl should keep at least half its speed beside a process that holds a core.
    const BusyCore busy;
    for (int batch : {32, 1}) {
        const auto r = measure_backbone(net, batch, 224, a.seconds);
        rows.add(fmt::format("backbone forward 224, batch {}, one core busy", batch),
                 r.images_per_second / idle[batch], "x idle", ">= 0.5",
                 fmt::format("{:.1f} images/s; {:.0f} page faults/image", r.images_per_second, r.faults_per_image));
    }
}

void bench_loader(const Config& config, Rows& rows) {
    const Dataset data = open_dataset(config.data);
    Loader loader(data.samples(Split::train), make_loader_options(config, true));
    const auto r = time_loader_epoch(loader, 1);
    rows.add("loader, train split, augmented", r.images_per_second(), "images/s", "",
             fmt::format("{} images, {} workers", r.images, loader.workers()));
}

void bench_head(const Config& config, int classes, Rows& rows) {
    const auto st = time_head_step(config, classes, 200);
    rows.add("head training step (cached features)", st.p50, "ms p50", "",
             fmt::format("batch {}, p95 {:.2f} ms, 1 thread", config.train.batch_size, st.p95));
}

struct TrainOutcome {
    fs::path model;
    nlohmann::json end;  // the "end" event of log.jsonl
};

nlohmann::json last_log_event(const fs::path& log) {
    std::ifstream in(log);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last.empty() ? nlohmann::json::object() : nlohmann::json::parse(last);
}

TrainOutcome bench_train(const BenchArgs& a, const fs::path& work, Rows& rows) {
    fs::remove_all(work / "train");  // our own scratch runs only, so the run folder name is known
    std::vector<std::string> argv{self_executable().string(), "train"};
    if (!a.config.file.empty()) argv.insert(argv.end(), {"--config", a.config.file});
    for (const auto& o : a.config.overrides) argv.insert(argv.end(), {"--set", o});
    argv.insert(argv.end(), {"--set", "output.runs_dir=" + work.string(), "--name", "bench"});
    step("training (child process): " + fmt::format("{}", fmt::join(argv, " ")));
    const auto r = run_child(argv, work / "train.log");
    if (r.exit_code != 0)
        throw Error(fmt::format("maskctl train exited with {}; see {}", r.exit_code, (work / "train.log").string()));
    const fs::path run = work / "train" / "bench";
    TrainOutcome out{run / "best.maskctl", last_log_event(run / "log.jsonl")};
    double accuracy = kNotMeasured;
    for (const char* split : {"test", "val"})
        if (out.end.contains(split)) accuracy = out.end[split].value("accuracy", kNotMeasured);
    rows.add("default training run, wall time", r.seconds, "s", "", "maskctl train, configs/mobilenetv2.json");
    rows.add("default training run, accuracy", accuracy, "", "", "best model on the test split");
    rows.add("default training run, peak RSS", r.peak_rss_mb, "MB", "<= 1536", "ru_maxrss of the child");
    return out;
}

// Speed does not depend on the head's weights: without a trained model, save an untrained one.
fs::path untrained_model(const Config& config, const std::vector<std::string>& classes, const fs::path& work) {
    Classifier model = imagenet_classifier(config.model, static_cast<int>(classes.size()));
    const ModelInfo info = model_info(config, classes);
    const fs::path file = work / "untrained.maskctl";
    save_model(file, model, info);
    return file;
}

void bench_eval(const Config& config, const BenchArgs& a, const fs::path& model_file, Rows& rows) {
    const Dataset data = open_dataset(config.data);
    auto loaded = load_model(model_file);
    a.precision.apply(loaded);
    const auto& samples = data.samples(Split::test).empty() ? data.samples(Split::val) : data.samples(Split::test);
    const auto r = time_predict(loaded.model, loaded.info.preprocess, samples);
    rows.add("eval (decode + resize + forward)", r.images_per_second(), "images/s", "",
             fmt::format("{} test images, batch 32", r.images));
}

// `maskctl detect --bench` on the clip in a child process, with `flags` added; its summary JSON.
nlohmann::json run_detect_bench(const BenchArgs& a, const fs::path& model_file, const fs::path& work,
                                const std::vector<std::string>& flags, ChildResult* child = nullptr) {
    const fs::path summary = work / "detect.json";
    fs::remove(summary);
    std::vector<std::string> argv{self_executable().string(), "detect", "--model", model_file.string(), "--video",
                                  a.video, "--bench", "--quiet", "--max-frames", std::to_string(a.frames),
                                  "--summary-json", summary.string()};
    if (a.precision.given()) argv.insert(argv.end(), {"--precision", a.precision.value});
    argv.insert(argv.end(), flags.begin(), flags.end());
    step("detect (child process): " + fmt::format("{}", fmt::join(argv, " ")));
    const auto r = run_child(argv, work / "detect.log");
    if (r.exit_code != 0 || !fs::exists(summary))
        throw Error(fmt::format("maskctl detect exited with {}; see {}", r.exit_code, (work / "detect.log").string()));
    if (child) *child = r;
    return nlohmann::json::parse(std::ifstream(summary));
}

double detect_stage_p50(const nlohmann::json& summary) {
    return summary["stages"].contains("detect") ? summary["stages"]["detect"].value("p50", kNotMeasured) : kNotMeasured;
}

void bench_detect(const BenchArgs& a, const fs::path& model_file, const fs::path& work, Rows& rows) {
    if (!fs::exists(a.video)) {
        rows.add("detect", kNotMeasured, "frames/s", "", a.video + " not found");
        return;
    }
    ChildResult r;
    const auto s = run_detect_bench(a, model_file, work, {}, &r);
    const std::string clip = fs::path(a.video).filename().string();
    rows.add("detect, " + clip, s.value("fps", kNotMeasured), "frames/s", "",
             fmt::format("{} frames, {} crops classified", s.value("frames", 0), s.value("classified", 0)));
    for (const auto& [stage, st] : s["stages"].items())
        rows.add(fmt::format("detect stage {}", stage), st.value("p50", kNotMeasured), "ms p50", "",
                 fmt::format("p95 {:.1f} ms", st.value("p95", kNotMeasured)));
    rows.add("detect, peak RSS", r.peak_rss_mb, "MB", "", "ru_maxrss of the child");
    if (a.quick) return;
    // What the opt-in detector passes cost (docs/evaluation.md has what they find).
    for (const std::vector<std::string>& flags :
         {std::vector<std::string>{"--flip"}, std::vector<std::string>{"--small-faces", "2"}}) {
        const auto v = run_detect_bench(a, model_file, work, flags);
        const std::string name = fmt::format("detect {}, {}", fmt::join(flags, " "), clip);
        rows.add(name, v.value("fps", kNotMeasured), "frames/s", "",
                 fmt::format("{:.2f}x the default's frames/s; detect stage p50 {:.1f} ms (default {:.1f} ms)",
                             v.value("fps", 0.0) / std::max(1e-9, s.value("fps", 0.0)), detect_stage_p50(v),
                             detect_stage_p50(s)));
    }
}

// The cost of publishing: detect runs without and with --mqtt (a broker on this machine, stats every
// second: more messages than the default 15 s), in ABBA order so a machine getting busier or quieter
// during the runs weighs on both sides alike.
void bench_detect_mqtt(const BenchArgs& a, const fs::path& model_file, const fs::path& work, Rows& rows) {
    if (!fs::exists(a.video) || a.mqtt_pairs == 0) return;
    if (LocalBroker::program().empty()) {
        rows.add("detect, MQTT publishing cost", kNotMeasured, "%", "< 2",
                 "skipped: mosquitto is not installed (apt-get install mosquitto)");
        return;
    }
    LocalBroker broker(work / "broker");
    struct Run {
        double fps = 0, cpu_ms = 0;  // frames/s; CPU ms per frame, all threads of the child
        long messages = 0;
    };
    const auto run = [&](bool mqtt) {
        const fs::path summary = work / "detect-mqtt.json", log = work / "detect-mqtt.log";
        fs::remove(summary);
        fs::remove(log);
        std::vector<std::string> argv{self_executable().string(), "detect", "--model", model_file.string(), "--video",
                                      a.video, "--bench", "--quiet", "--max-frames", std::to_string(a.frames),
                                      "--summary-json", summary.string()};
        if (a.precision.given()) argv.insert(argv.end(), {"--precision", a.precision.value});
        if (mqtt) argv.insert(argv.end(), {"--mqtt", broker.url(), "--name", "bench", "--stats-every", "1"});
        step(fmt::format("detect {} --mqtt (child process)", mqtt ? "with" : "without"));
        const auto r = run_child(argv, log);
        if (r.exit_code != 0 || !fs::exists(summary))
            throw Error(fmt::format("maskctl detect exited with {}; see {}", r.exit_code, log.string()));
        const auto s = nlohmann::json::parse(std::ifstream(summary));
        Run out{s.value("fps", 0.0), 1000.0 * r.cpu_seconds / std::max(1L, s.value("frames", 1L)), 0};
        std::ifstream in(log);
        for (std::string line; std::getline(in, line);)
            if (line.rfind("mqtt: ", 0) == 0 && line.find(" messages delivered") != std::string::npos)
                out.messages = std::stol(line.substr(6));
        return out;
    };
    std::vector<Run> off, on;
    for (int i = 0; i < a.mqtt_pairs; ++i) {
        if (i % 2 == 0) off.push_back(run(false)), on.push_back(run(true));
        else on.push_back(run(true)), off.push_back(run(false));
    }
    const auto mean = [](const std::vector<Run>& v, double Run::*field) {
        double sum = 0;
        for (const auto& r : v) sum += r.*field;
        return sum / static_cast<double>(v.size());
    };
    const double fps_off = mean(off, &Run::fps), fps_on = mean(on, &Run::fps);
    const double cpu_off = mean(off, &Run::cpu_ms), cpu_on = mean(on, &Run::cpu_ms);
    const auto each = [](const std::vector<Run>& v) {
        std::vector<std::string> out;
        for (const auto& r : v) out.push_back(fmt::format("{:.2f}", r.fps));
        return fmt::format("mean of {} runs ({}), ABBA order", v.size(), fmt::join(out, ", "));
    };
    rows.add("detect without --mqtt", fps_off, "frames/s", "", each(off));
    rows.add("detect --mqtt (mosquitto on this machine)", fps_on, "frames/s", "",
             fmt::format("{}; stats every 1 s, {} messages delivered per run", each(on), on.back().messages));
    // How far apart runs of the same command land here: a cost below that is not resolved by frames/s
    // (CPU time per frame, below, is much less sensitive to other processes).
    const auto [lo, hi] = std::minmax_element(off.begin(), off.end(), [](const Run& x, const Run& y) { return x.fps < y.fps; });
    rows.add("detect, MQTT publishing cost in frames/s", 100.0 * (1.0 - fps_on / fps_off), "%", "< 2",
             fmt::format("1 - with/without; runs without --mqtt spread {:.0f} % (max-min)/mean",
                         100.0 * (hi->fps - lo->fps) / fps_off));
    rows.add("detect, MQTT publishing cost in CPU time", 100.0 * (cpu_on / cpu_off - 1.0), "%", "< 2",
             fmt::format("{:.1f} vs {:.1f} CPU ms per frame, all threads", cpu_on, cpu_off));
}

// The detector `maskctl serve` runs by default (the same defaults as detect).
DetectOptions serve_detect_options() {
    DetectOptions d;
    DetectorOptions{}.apply(d);
    return d;
}

// maskctl serve, in this process on a free port, loaded through real sockets: photos from 1 and 8
// clients at once (one detector, as `serve` starts by default), then viewers of a live stream.
void bench_serve_predict(const BenchArgs& a, const fs::path& model_file, Rows& rows) {
    const fs::path photo = fs::path(a.video).parent_path() / "pic2.jpg";
    std::string image;
    if (const FileProblem problem = read_file(photo, image); problem != FileProblem::none) {
        rows.add("serve /api/predict", kNotMeasured, "requests/s", "", photo.string() + " " + std::string(describe(problem)));
        return;
    }
    ServerOptions o;
    o.port = 0;
    MaskServer server(model_file, serve_detect_options(), o);
    server.start();
    for (int clients : {1, 8}) {
        step(fmt::format("serve: POST /api/predict, {} client(s), {:g} s", clients, a.seconds));
        const PredictLoad r = measure_predict_load(server.port(), image, clients, a.seconds);
        const std::string who = fmt::format("{} client{}", clients, clients == 1 ? "" : "s");
        rows.add("serve /api/predict, " + who, r.requests_per_second, "requests/s", "",
                 fmt::format("{} requests of pic2.jpg ({} KB), {} failed", r.requests, image.size() / 1024, r.failures));
        rows.add("serve /api/predict latency, " + who, r.latency.p50, "ms p50", "<= 1000",
                 fmt::format("p95 {:.0f} ms; one detector (--threads 1)", r.latency.p95));
    }
    server.stop();
}

void bench_serve_stream(const BenchArgs& a, const fs::path& model_file, Rows& rows) {
    if (!fs::exists(a.video)) {
        rows.add("serve live stream", kNotMeasured, "frames/s", "", a.video + " not found");
        return;
    }
    // Unpaced: the clip runs as fast as the pipeline goes, so the rows show what viewers cost it.
    ServerOptions o;
    o.port = 0;
    o.loop = true;
    o.pace = false;
    o.sources = {parse_source_spec("demo=" + a.video)};
    MaskServer server(model_file, serve_detect_options(), o);
    server.start();
    const auto frames = [&] { return server.stats_json()["sources"][0]["frames"].get<std::int64_t>(); };
    for (int i = 0; i < 600 && frames() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int viewers : {1, 4}) {
        step(fmt::format("serve: /stream/demo, {} viewer(s), {:g} s", viewers, a.seconds));
        const std::int64_t before = frames();
        const auto t0 = std::chrono::steady_clock::now();
        const StreamLoad s = measure_stream_viewers(server.port(), "demo", viewers, a.seconds);
        const double pipeline = static_cast<double>(frames() - before) /
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rows.add(fmt::format("serve live stream, {} viewer{}", viewers, viewers == 1 ? "" : "s"), s.frames_per_second,
                 "frames/s per viewer", "",
                 fmt::format("slowest viewer {:.1f}; pipeline {:.1f} frames/s meanwhile; {} looping, unpaced",
                             s.min_frames_per_second, pipeline, fs::path(a.video).filename().string()));
    }
    server.stop();
}

int run_bench(BenchArgs& a) {
    a.precision.add_override(a.config.overrides);  // the backbone rows and the child training run
    const Config config = a.config.load();
    const fs::path work = fs::path(config.output.runs_dir) / "bench";
    fs::create_directories(work);
    if (a.json.empty()) a.json = (work / "bench.json").string();
    BenchReport report;
    report.machine = machine_info();
    report.date = utc_timestamp();
    Rows rows{report};
    const auto classes = open_dataset(config.data).class_names;
    if (a.serve_only) {
        const fs::path model = untrained_model(config, classes, work);
        bench_serve_predict(a, model, rows);
        bench_serve_stream(a, model, rows);
        write_file_atomic(a.json, to_json(report).dump(2) + "\n");
        std::cout << "\n" << format_bench_table(report) << "\njson: " << a.json << "\n";
        return kExitOk;
    }

    bench_backbone(config, a, rows);
    bench_loader(config, rows);
    bench_head(config, static_cast<int>(classes.size()), rows);
    fs::path model_file;
    if (a.quick) {
        rows.add("default training run", kNotMeasured, "s", "", "skipped (--quick)");
        model_file = untrained_model(config, classes, work);
    } else {
        model_file = bench_train(a, work, rows).model;
    }
    bench_eval(config, a, model_file, rows);
    bench_detect(a, model_file, work, rows);
    bench_detect_mqtt(a, model_file, work, rows);
    bench_serve_predict(a, model_file, rows);
    bench_serve_stream(a, model_file, rows);

    write_file_atomic(a.json, to_json(report).dump(2) + "\n");
    std::cout << "\n" << format_bench_table(report) << "\njson: " << a.json << "\n";
    return kExitOk;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("bench", "Measure speed and memory: backbone, loader, training, eval, detect");
    auto a = std::make_shared<BenchArgs>();
    a->video = default_video();
    a->config.add_to(cmd, "configs/mobilenetv2.json");
    cmd->add_flag("--quick", a->quick, "Skip the full training run (about 3 minutes) and the detector-pass rows");
    cmd->add_option("--json", a->json, "Where to write the table as JSON (default: <runs_dir>/bench/bench.json)");
    cmd->add_option("--video", a->video, "Video for the detect measurement")->capture_default_str();
    cmd->add_option("--seconds", a->seconds, "Time per backbone measurement")->capture_default_str()
        ->check(CLI::Range(0.1, 600.0));
    cmd->add_option("--frames", a->frames, "Frames of the detect measurement")->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--serve-only", a->serve_only, "Only the maskctl serve rows (photo requests, live-stream viewers)");
    cmd->add_option("--mqtt-pairs", a->mqtt_pairs, "Detect runs without and with --mqtt, alternating (0 = skip)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    a->precision.add_to(cmd);
    cmd->callback([a, &exit_code] { exit_code = run_bench(*a); });
}

const CommandRegistration registration{60, setup};

}  // namespace
}  // namespace maskctl::app
