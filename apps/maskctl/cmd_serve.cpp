// maskctl serve: the web app (photo upload, live sources, compliance) and its JSON API over HTTP.
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <opencv2/core/utils/logger.hpp>

#include "command.hpp"
#include "console.hpp"
#include "detector_options.hpp"
#include "precision_option.hpp"
#include "tracking_options.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/serve/server.hpp"

namespace maskctl::app {
namespace {

struct ServeArgs {
    std::string model;
    std::vector<std::string> sources;
    bool loop = false;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string token_file;
    std::string max_upload = "20MB";
    bool blur_faces = false;
    std::string save_violations;
    std::string stats_json;
    int threads = 1;
    int reconnects = -1;
    bool no_panel = false;
    DetectorOptions faces;
    TrackingOptions tracking;
    PrecisionOption precision;
};

ServerOptions server_options(const ServeArgs& a) {
    ServerOptions o;
    o.host = a.host;
    o.port = a.port;
    if (!a.token_file.empty()) o.token = read_token_file(a.token_file);
    o.max_upload = parse_byte_size(a.max_upload);
    o.blur_faces = a.blur_faces;
    o.save_violations = a.save_violations;
    o.predict_workers = a.threads;
    o.loop = a.loop;
    o.max_reconnects = a.reconnects;
    std::vector<std::string> names;
    for (const auto& text : a.sources) {
        o.sources.push_back(parse_source_spec(text, names));
        names.push_back(o.sources.back().name);
    }
    return o;
}

bool loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

void print_end(const MaskServer& server) {
    // Named: a range-for over a member of a temporary would outlive the temporary (found by ASan).
    const nlohmann::json stats = server.stats_json();
    for (const auto& s : stats["sources"]) {
        const auto& people = s["stats"]["since_start"];
        fmt::print("{}: {} frames, {} people ({} with a mask, {} without), {} violations\n", s["name"].get<std::string>(),
                   s["frames"].get<std::int64_t>(), people["people_total"].get<int>(), people["people_with_mask"].get<int>(),
                   people["people_without_mask"].get<int>(), people["violations"].get<int>());
    }
}

int run_serve(const ServeArgs& a) {
    ServerOptions options = server_options(a);
    if (!a.stats_json.empty()) check_output_path(a.stats_json);
    // OpenCV logs every backend it tries to stderr; the page shows our own status lines.
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    const auto& stop = install_stop_handler();
    DetectOptions detect;
    a.faces.apply(detect);
    a.tracking.apply(detect);
    a.precision.apply(detect);
    detect.panel = !a.no_panel;
    MaskServer server(a.model, detect, options);
    server.start();
    const std::string shown = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    fmt::print("maskctl serve: http://{}:{}/ ({} source{}{}; Ctrl-C stops)\n", shown, server.port(), options.sources.size(),
               options.sources.size() == 1 ? "" : "s", options.token.empty() ? "" : "; access token required");
    for (const auto& s : options.sources) fmt::print("  {}: {} -> /stream/{}\n", s.name, s.input, s.name);
    if (!loopback(options.host) && options.token.empty())
        fmt::print(stderr, "warning: listening on {} without --token-file: anyone who can reach this machine can use it\n",
                   options.host);
    std::fflush(stdout);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fmt::print("stopping: finishing requests in flight, stopping the sources\n");
    std::fflush(stdout);
    server.stop();
    if (!a.stats_json.empty()) {
        write_file_atomic(a.stats_json, server.stats_json().dump(2) + "\n");
        fmt::print("statistics: {}\n", a.stats_json);
    }
    print_end(server);
    return kExitOk;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("serve", "Web app: upload a photo, watch live sources, see compliance (docs/serve.md)");
    auto a = std::make_shared<ServeArgs>();
    cmd->add_option("-m,--model", a->model, "Model file (.maskctl)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--source", a->sources,
                    "Live source NAME=CAMERA|URL|VIDEO (repeatable; without NAME= the file stem, camera<N> or stream)");
    cmd->add_flag("--loop", a->loop, "Play video sources again at their end");
    cmd->add_option("--host", a->host, "Address to listen on (0.0.0.0: every interface; then use --token-file)")
        ->capture_default_str();
    cmd->add_option("--port", a->port, "Port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
    cmd->add_option("--token-file", a->token_file,
                    "File whose first line is the access token (header 'Authorization: Bearer T' or ?token=T)");
    cmd->add_option("--max-upload", a->max_upload, "Largest photo upload (413 above it)")->capture_default_str();
    cmd->add_flag("--blur-faces", a->blur_faces, "Blur every face in streamed frames, annotated photos and saved pictures");
    cmd->add_option("--save-violations", a->save_violations, "Write one JPEG per violation event into DIR (nothing is stored without it)");
    cmd->add_option("--stats-json", a->stats_json, "Write the statistics of every source as JSON when stopped");
    cmd->add_option("--threads", a->threads, "Photos labelled at the same time (one detector each)")
        ->capture_default_str()->check(CLI::Range(1, 64));
    cmd->add_option("--reconnect", a->reconnects, "Reopen attempts when a camera or stream drops (-1 = forever)")
        ->capture_default_str();
    cmd->add_flag("--no-panel", a->no_panel, "No frames/s and latency panel on streamed frames");
    a->faces.add_to(cmd);
    a->tracking.add_to(cmd);
    a->precision.add_to(cmd);
    cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });
}

const CommandRegistration registration{55, setup};

}  // namespace
}  // namespace maskctl::app
