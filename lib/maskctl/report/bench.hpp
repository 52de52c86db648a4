#pragma once
// Measuring speed and memory: functions that time one thing and return plain structs, shared by
// `maskctl bench` and the single-purpose benches (`backbone bench`, `data bench`, `detect --bench`).
// Peak memory of a whole command is measured on a child process, so each command gets its own peak.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/model/classifier.hpp"
#include "maskctl/core/config.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/model/mobilenetv2.hpp"

namespace maskctl {

struct MachineInfo {
    std::string cpu_model;  // /proc/cpuinfo "model name"
    int logical_cpus = 0;
    int threads = 0;        // LibTorch compute threads in use
    std::string versions;   // maskctl, LibTorch, OpenCV
};
MachineInfo machine_info();

// CPU time and minor page faults of this process so far (getrusage, all threads).
struct ProcessUsage {
    double user_seconds = 0;
    double system_seconds = 0;
    long minor_faults = 0;
};
ProcessUsage process_usage();

// What a timed loop cost beyond wall time: minor page faults per image (memory taken from the kernel
// again instead of reused: each fault is expensive on virtual machines) and the share of CPU time
// spent in the kernel.
struct BackboneSpeed {
    double images_per_second = 0;
    double faults_per_image = 0;
    double system_share = 0;  // system / (user + system) CPU time
    // CPU time per image (user + system, all threads): depends far less on other jobs than images/s,
    // so it compares paths on a busy machine.
    double cpu_ms_per_image = 0;
};

// The backbone's forward pass on random input under InferenceMode, after a warm-up (oneDNN builds
// its kernels on first use, the allocator fills its caches): at least `seconds` and 3 iterations.
BackboneSpeed measure_backbone(MobileNetV2& net, int batch, int size, double seconds);

// Another process that keeps one core busy for the lifetime of this object (a spinning child,
// killed and reaped by the destructor): how a shared machine looks to maskctl. Throws IoError when
// it cannot start.
class BusyCore {
public:
    BusyCore();
    ~BusyCore();
    BusyCore(const BusyCore&) = delete;
    BusyCore& operator=(const BusyCore&) = delete;

private:
    int pid_ = -1;
};

struct ThroughputResult {
    std::size_t images = 0;
    double seconds = 0;
    double images_per_second() const { return seconds > 0 ? static_cast<double>(images) / seconds : 0; }
};

// One epoch of the loader, consumed as fast as it produces.
ThroughputResult time_loader_epoch(Loader& loader, int epoch);

// Classifying `samples` with predict_samples (decode + resize + forward), batch 32.
ThroughputResult time_predict(Classifier& model, const Preprocess& preprocess, const std::vector<Sample>& samples);

// Milliseconds of one optimizer step of the head on cached features (batch from the config),
// as the trainer's feature-cache mode runs it: forward, cross-entropy, backward, Adam, 1 thread.
LatencyStats time_head_step(const Config& config, int num_classes, int steps);

struct ChildResult {
    int exit_code = -1;      // the child's exit status; 128 + signal when killed by one
    double seconds = 0;      // wall time
    double peak_rss_mb = 0;  // ru_maxrss of the child, from wait4
    double cpu_seconds = 0;  // user + system time of the child (all its threads), from wait4
};

// Runs `argv` (argv[0] is the program path) with stdout and stderr appended to `log`, waits for it and
// returns its exit code, wall time and peak resident memory. Throws IoError when it cannot start.
// The peak is the kernel's ru_maxrss, which also counts the memory the child shared with this process
// until its exec (posix_spawn's vfork): it is the larger of the child's peak and this process's
// resident size at the spawn, so callers start children while they are still small.
ChildResult run_child(const std::vector<std::string>& argv, const std::filesystem::path& log);

// The path of the running executable (/proc/self/exe), to run maskctl subcommands as children.
std::filesystem::path self_executable();

// {"frames", "seconds", "fps", "detections", "classified", "stages": {name: {"mean", "p50", "p95"}}}
nlohmann::json to_json(const DetectSummary& summary);

// One measured quantity of the benchmark table.
struct BenchRow {
    std::string name;    // e.g. "backbone forward, batch 32"
    double value = 0;    // NaN when not measured
    std::string unit;    // e.g. "images/s"
    std::string target;  // e.g. ">= 100", or empty
    std::string note;    // how it was measured, or why it was skipped
};

struct BenchReport {
    MachineInfo machine;
    std::string date;  // UTC, ISO 8601
    std::vector<BenchRow> rows;
};

nlohmann::json to_json(const BenchReport& report);
// A Markdown table (| measure | value | unit | target | note |) preceded by the machine line.
std::string format_bench_table(const BenchReport& report);

}  // namespace maskctl
