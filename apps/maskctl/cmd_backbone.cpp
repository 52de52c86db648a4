// maskctl backbone: check that imported weights are the ImageNet network; measure its speed.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "command.hpp"
#include "precision_option.hpp"
#include "maskctl/report/bench.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/model/imagenet.hpp"
#include "maskctl/data/preprocess.hpp"
#include "maskctl/model/tflite.hpp"

namespace maskctl::app {
namespace {

namespace fs = std::filesystem;
// Folders expand to the image files directly inside them, sorted by name; entries that cannot be
// used are reported on stderr.
std::vector<fs::path> expand_images(const std::vector<std::string>& args) {
    std::vector<fs::path> out;
    BadFileReport skipped;
    for (const auto& a : args) {
        std::error_code ec;
        if (!fs::is_directory(a, ec)) {
            out.emplace_back(a);
            continue;
        }
        const auto found = list_image_files(a, skipped, /*recursive=*/false);
        out.insert(out.end(), found.begin(), found.end());
    }
    if (!skipped.empty()) std::cerr << "warning: " << skipped.summary() << "\n";
    return out;
}

struct CheckOptions {
    std::string weights;
    std::vector<std::string> images;
    std::string labels;
    int top = 5;
};

// Prints the top-k of one image; returns false when it is a reference photo classified wrongly.
bool report_image(const fs::path& path, const torch::Tensor& probs, const std::vector<std::string>& labels, int top) {
    const auto expected = reference_labels(path.stem().string());
    const auto best = top_k(probs, top);
    const std::string top1 = short_label(labels[static_cast<size_t>(best.classes[0])]);
    const bool right = std::find(expected.begin(), expected.end(), top1) != expected.end();
    std::string verdict = expected.empty() ? "(not a reference photo)"
                                           : fmt::format("{} (expected {})", right ? "OK" : "WRONG",
                                                         fmt::join(expected, " | "));
    std::cout << fmt::format("{}  {}\n", path.filename().string(), verdict);
    for (size_t i = 0; i < best.classes.size(); ++i)
        std::cout << fmt::format("  {}. {:<40} {:6.2f}%  (class {})\n", i + 1,
                                 labels[static_cast<size_t>(best.classes[i])], 100.0f * best.probabilities[i],
                                 best.classes[i]);
    return expected.empty() || right;
}

int run_check(const CheckOptions& o) {
    const fs::path weights = o.weights;
    const auto start = Clock::now();
    auto net = import_tflite_mobilenetv2(weights);
    const double import_s = seconds_since(start);
    if (!net.classifier)
        throw ModelFileError(fmt::format("{}: has no ImageNet classifier to check with", weights.string()));
    const auto labels = read_imagenet_labels(o.labels.empty() ? weights.parent_path() / "imagenet_labels.txt"
                                                              : fs::path(o.labels));
    if (static_cast<int64_t>(labels.size()) != net.classifier->weight.size(0))
        throw DataError(fmt::format("the labels file has {} labels but the network has {} classes", labels.size(),
                                    net.classifier->weight.size(0)));
    std::cout << fmt::format("{}: MobileNetV2 1.0, {} weights, input {}, {} classes, imported in {:.2f} s\n\n",
                             weights.string(), net.quantization, net.input_size, labels.size(), import_s);

    const auto images = expand_images(o.images.empty() ? std::vector<std::string>{weights.parent_path().string()}
                                                       : o.images);
    if (images.empty()) throw DataError("no images to classify");
    Preprocess pre;
    pre.input_size = net.input_size;
    int judged = 0, wrong = 0;
    for (const auto& path : images) {
        auto batch = to_batch({resize_for_model(decode_image(path), pre)}, pre);
        const bool ok = report_image(path, imagenet_probabilities(net, batch)[0], labels, o.top);
        judged += reference_labels(path.stem().string()).empty() ? 0 : 1;
        wrong += ok ? 0 : 1;
    }
    if (judged == 0) {
        std::cout << "\ncannot judge: none of the images is a reference photo (grace_hopper, cat, parrot, ...)\n";
        return kExitFailure;
    }
    std::cout << fmt::format("\n{}/{} reference photos right: {}\n", judged - wrong, judged,
                             wrong == 0 ? "the weights are the ImageNet network" : "the network looks WRONG");
    return wrong == 0 ? kExitOk : kExitFailure;
}

struct BenchOptions {
    std::string weights;
    std::vector<int> batches{32, 1};
    int size = 224;
    double seconds = 10.0;
    int threads = 0;
    bool no_streams = false;
    bool busy_core = false;
    bool eager = false;
    PrecisionOption precision;
};

int run_bench(const BenchOptions& o) {
    // LibTorch's own default here is its count of physical cores, which VMs often report as 1.
    torch::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    MobileNetV2 net;
    if (!o.weights.empty()) load_tflite_backbone(net, o.weights);
    net->eval();
    net->parallel_streams = !o.no_streams;
    net->fused = !o.eager;
    net->precision = precision_from_string(o.precision.given() ? o.precision.value : "float");
    std::cout << fmt::format("MobileNetV2 1.0 features, {0}x{0}, {1} threads, {2}, {3} weights, {4}\n", o.size,
                             torch::get_num_threads(),
                             o.eager ? "LibTorch eager channels-last"
                                     : fmt::format("fused oneDNN, {}", to_string(net->precision)),
                             o.weights.empty() ? "random" : "imported",
                             o.no_streams ? "ops split across threads" : "one stream per thread");
    const auto print = [&](int batch, const char* when) {
        const auto r = measure_backbone(net, batch, o.size, o.seconds);
        std::cout << fmt::format("batch {:>3}{}: {:7.1f} images/s  ({:.1f} ms per batch)  {:.1f} CPU ms/image  "
                                 "{:.1f} page faults/image  {:.1f}% system time\n",
                                 batch, when, r.images_per_second, 1000.0 * batch / r.images_per_second,
                                 r.cpu_ms_per_image, r.faults_per_image, 100.0 * r.system_share);
    };
    for (int batch : o.batches) print(batch, "");
    if (o.busy_core) {
        const BusyCore busy;
        for (int batch : o.batches) print(batch, ", one core busy");
    }
    return kExitOk;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* backbone = parent.add_subcommand("backbone", "Check and benchmark the MobileNetV2 backbone");
    backbone->require_subcommand(1);

    auto* check = backbone->add_subcommand(
        "check", "Classify the ImageNet reference photos with imported TFLite weights; exit 1 if the network looks wrong");
    auto c = std::make_shared<CheckOptions>();
    check->add_option("--weights", c->weights, "TFLite MobileNetV2 1.0 file (with its ImageNet classifier)")
        ->required();
    check->add_option("--images", c->images, "Images or folders (default: the folder of the weights file)")
        ->take_all();
    check->add_option("--labels", c->labels, "ImageNet labels, one per line (default: imagenet_labels.txt beside the weights)");
    check->add_option("--top", c->top, "How many classes to print per image")->check(CLI::Range(1, 20));
    check->callback([c, &exit_code] { exit_code = run_check(*c); });

    auto* bench = backbone->add_subcommand("bench", "Measure the backbone's forward throughput (images/s)");
    auto b = std::make_shared<BenchOptions>();
    bench->add_option("--weights", b->weights, "TFLite weights to load (default: random; speed is the same)");
    bench->add_option("--batch", b->batches, "Batch sizes to measure")->take_all()->check(CLI::Range(1, 1024));
    bench->add_option("--size", b->size, "Input size")->check(CLI::Range(32, 1024));
    bench->add_option("--seconds", b->seconds, "Time per batch size")->check(CLI::Range(0.1, 600.0));
    bench->add_option("--threads", b->threads, "Compute threads (0 = all cores)")->check(CLI::Range(0, 256));
    bench->add_flag("--no-streams", b->no_streams, "Split each op across threads instead of one stream per thread");
    bench->add_flag("--eager", b->eager, "LibTorch's eager ops instead of the fused oneDNN backbone");
    b->precision.add_to(bench);
    bench->add_flag("--busy-core", b->busy_core, "Measure again while another process keeps one core busy");
    bench->callback([b, &exit_code] { exit_code = run_bench(*b); });
}

const CommandRegistration registration{40, setup};

}  // namespace
}  // namespace maskctl::app
