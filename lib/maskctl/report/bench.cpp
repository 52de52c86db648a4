#include "maskctl/report/bench.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/process.hpp"
#include "maskctl/core/threads.hpp"
#include "maskctl/train/evaluator.hpp"
#include "maskctl/model/head.hpp"
#include "maskctl/core/version.hpp"

namespace maskctl {
namespace {

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("model name", 0) != 0) continue;
        const auto colon = line.find(':');
        if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
    return "unknown";
}

}  // namespace

MachineInfo machine_info() {
    MachineInfo m;
    m.cpu_model = cpu_model();
    m.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
    m.threads = torch::get_num_threads();
    m.versions = fmt::format("maskctl {}, {}", version(), library_versions());
    return m;
}

ProcessUsage process_usage() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return {seconds(u.ru_utime), seconds(u.ru_stime), u.ru_minflt};
}

BackboneSpeed measure_backbone(MobileNetV2& net, int batch, int size, double seconds) {
    c10::InferenceMode inference;
    auto input = torch::rand({batch, 3, size, size}).mul_(2).sub_(1).contiguous(at::MemoryFormat::ChannelsLast);
    for (int i = 0; i < 2; ++i) net->forward(input);
    int iterations = 0;
    const ProcessUsage before = process_usage();
    const auto start = Clock::now();
    do {
        net->forward(input);
        ++iterations;
    } while (seconds_since(start) < seconds || iterations < 3);
    const double wall = seconds_since(start);
    const ProcessUsage after = process_usage();
    const double images = static_cast<double>(iterations) * batch;
    const double user = after.user_seconds - before.user_seconds, sys = after.system_seconds - before.system_seconds;
    return {images / wall, static_cast<double>(after.minor_faults - before.minor_faults) / images,
            user + sys > 0 ? sys / (user + sys) : 0.0, 1000.0 * (user + sys) / images};
}

BusyCore::BusyCore() {
    pid_ = fork();
    if (pid_ < 0) throw IoError(fmt::format("cannot start a busy process: {}", std::strerror(errno)));
    if (pid_ == 0) {
        for (volatile unsigned long spin = 0;; spin = spin + 1) {
        }
    }
}

BusyCore::~BusyCore() {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

ThroughputResult time_loader_epoch(Loader& loader, int epoch) {
    ThroughputResult r;
    const auto start = Clock::now();
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) r.images += static_cast<std::size_t>(batch->images.size(0));
    r.seconds = seconds_since(start);
    return r;
}

ThroughputResult time_predict(Classifier& model, const Preprocess& preprocess, const std::vector<Sample>& samples) {
    ThroughputResult r;
    const auto start = Clock::now();
    r.images = predict_samples(model, preprocess, samples, InferenceOptions{}).size();
    r.seconds = seconds_since(start);
    return r;
}

LatencyStats time_head_step(const Config& config, int num_classes, int steps) {
    const ThreadScope one_thread(1);  // as the trainer runs the head
    const int input = config.model.input_size;
    const int cells = pooled_size(config.model.head, mobilenetv2_feature_size(input), input);
    Head head(config.model.head, kMobileNetV2Features, mobilenetv2_feature_size(input), input, num_classes);
    head->train();
    torch::optim::Adam adam(head->parameters(), torch::optim::AdamOptions(config.train.lr).eps(1e-7));
    const int64_t batch = config.train.batch_size;
    const auto x = torch::rand({batch, int64_t{kMobileNetV2Features} * cells * cells});
    const auto y = torch::randint(num_classes, {batch}, torch::kInt64);
    std::vector<double> ms;
    for (int i = 0; i < steps + 3; ++i) {  // the first 3 are warm-up
        const auto start = Clock::now();
        const auto loss = torch::nn::functional::cross_entropy(head->classify(x), y);
        adam.zero_grad();
        loss.backward();
        adam.step();
        loss.item<double>();
        if (i >= 3) ms.push_back(1000.0 * seconds_since(start));
    }
    return latency_stats(std::move(ms));
}

ChildResult run_child(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    const auto start = Clock::now();
    const pid_t pid = spawn_process(argv, log);
    int status = 0;
    rusage usage{};
    while (wait4(pid, &status, 0, &usage) < 0)
        if (errno != EINTR) throw IoError(fmt::format("{}: wait failed: {}", argv[0], std::strerror(errno)));
    ChildResult r;
    r.seconds = seconds_since(start);
    r.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    r.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

nlohmann::json to_json(const DetectSummary& s) {
    nlohmann::json stages = nlohmann::json::object();
    for (const auto& [name, st] : s.stages) stages[name] = {{"mean", st.mean}, {"p50", st.p50}, {"p95", st.p95}};
    return {{"frames", s.frames},   {"seconds", s.seconds},       {"fps", s.fps},
            {"detections", s.detections}, {"classified", s.classified}, {"stages", stages}};
}

nlohmann::json to_json(const BenchReport& report) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : report.rows)
        rows.push_back({{"name", r.name},
                        {"value", std::isfinite(r.value) ? nlohmann::json(r.value) : nlohmann::json()},
                        {"unit", r.unit},
                        {"target", r.target},
                        {"note", r.note}});
    const auto& m = report.machine;
    return {{"date", report.date},
            {"machine",
             {{"cpu", m.cpu_model}, {"logical_cpus", m.logical_cpus}, {"threads", m.threads}, {"versions", m.versions}}},
            {"rows", rows}};
}

namespace {

// Three significant digits at most, so the table reads at a glance.
std::string format_value(double v) {
    if (!std::isfinite(v)) return "-";
    if (std::fabs(v) >= 100) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 10) return fmt::format("{:.1f}", v);
    return fmt::format("{:.3g}", v);
}

}  // namespace

std::string format_bench_table(const BenchReport& report) {
    const auto& m = report.machine;
    std::string out = fmt::format("{} | {} logical CPUs, {} threads | {} | {}\n\n", m.cpu_model, m.logical_cpus,
                                  m.threads, m.versions, report.date);
    out += "| measure | value | unit | target | note |\n|---|---:|---|---|---|\n";
    for (const auto& r : report.rows)
        out += fmt::format("| {} | {} | {} | {} | {} |\n", r.name, format_value(r.value), r.unit, r.target, r.note);
    return out;
}

}  // namespace maskctl
