#include "maskctl/serve/server.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/version.hpp"
#include "maskctl/serve/event_log.hpp"
#include "maskctl/serve/http.hpp"
#include "maskctl/serve/metrics.hpp"
#include "maskctl/serve/predictor.hpp"
#include "maskctl/serve/web_assets.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;

constexpr const char* kBoundary = "frame";

void send_json(Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body.dump(), "application/json");
}

void send_error(Response& res, int status, const std::string& message) { send_json(res, status, {{"error", message}}); }

std::string status_text(int status) {
    switch (status) {
        case 400: return "bad request";
        case 401: return "missing or wrong access token";
        case 404: return "no such route";
        case 405: return "method not allowed";
        case 413: return "upload too large";
        case 414: return "address too long";
        case 415: return "unsupported upload";
        case 503: return "server busy";
        default: return status >= 500 ? "server error" : fmt::format("HTTP {}", status);
    }
}

// Compares in time that depends on the lengths only, so the token cannot be guessed byte by byte.
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<std::size_t>(1, b.size())]);
    return diff == 0;
}

// The page and its files are public (a browser cannot send a header when it loads them); the data is not.
bool needs_token(const std::string& path) {
    return path.rfind("/api/", 0) == 0 || path.rfind("/stream/", 0) == 0 || path == "/metrics";
}

// Requests counted by route, not by URL, so /metrics stays small whatever clients ask for.
std::string route_of(const std::string& path) {
    for (const char* route : {"/api/predict", "/api/stats", "/api/info", "/api/events/stream", "/api/events", "/healthz", "/metrics"})
        if (path == route) return route;
    if (path.rfind("/stream/", 0) == 0) return "/stream";
    if (path == "/" || find_web_asset(path.substr(1))) return "page";
    return "other";
}

std::uint64_t content_length(const Request& req) {
    if (!req.has_header("Content-Length")) return 0;
    try {
        return std::stoull(req.get_header_value("Content-Length"));
    } catch (const std::exception&) {
        return std::numeric_limits<std::uint64_t>::max();  // garbage is not a small upload
    }
}

std::string mb(std::uint64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

// Why binding host:port fails, found by trying it with a plain socket (httplib only says "no").
std::string bind_problem(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
        return fmt::format("cannot resolve the address ({})", gai_strerror(rc));
    std::string problem = "cannot bind";
    for (addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        const int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        const int rc = ::bind(fd, a->ai_addr, a->ai_addrlen);
        const int err = errno;
        ::close(fd);
        if (rc != 0) {
            problem = err == EADDRINUSE ? "the port is in use (another maskctl serve, or another program?)"
                      : err == EACCES   ? "permission denied (ports below 1024 need privileges)"
                      : err == EADDRNOTAVAIL ? "no such address on this machine"
                                             : std::strerror(err);
            break;
        }
    }
    freeaddrinfo(found);
    return problem;
}

// httplib::Server with the two knobs 0.11 does not expose.
class HttpServer : public httplib::Server {
public:
    // The listen backlog is compiled in as 5: a burst of clients overflows it and waits for SYN
    // retries (1 s, then 3 s). listen() again on a listening socket only changes its backlog.
    void widen_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

}  // namespace

std::size_t parse_byte_size(const std::string& text) {
    const auto bad = [&] { return ConfigError(fmt::format("'{}': expected a size such as 20MB, 512KB or 1048576", text)); };
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        throw bad();
    }
    std::string unit = text.substr(used);
    unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
    std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::toupper(c); });
    if (!unit.empty() && unit.back() == 'B') unit.pop_back();
    if (!unit.empty() && unit.back() == 'I') unit.pop_back();  // MiB
    const std::map<std::string, double> scale = {{"", 1}, {"K", 1024}, {"M", 1024.0 * 1024}, {"G", 1024.0 * 1024 * 1024}};
    const auto it = scale.find(unit);
    if (it == scale.end() || !std::isfinite(value) || value < 1 || value * it->second > 1e12) throw bad();
    return static_cast<std::size_t>(value * it->second);
}

std::string read_token_file(const fs::path& file) {
    std::string text;
    if (const FileProblem problem = read_file(file, text); problem != FileProblem::none)
        throw ConfigError(fmt::format("--token-file {}: {}", file.string(), describe(problem)));
    const auto end = text.find_first_of("\r\n");
    std::string token = text.substr(0, end);
    const auto first = token.find_first_not_of(" \t"), last = token.find_last_not_of(" \t");
    token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
    if (token.size() < 8)
        throw ConfigError(fmt::format("--token-file {}: the token on its first line is {} (at least 8 characters, e.g. "
                                      "from `head -c 24 /dev/urandom | base64`)", file.string(), token.empty() ? "empty" : "too short"));
    return token;
}

struct MaskServer::Impl {
    Impl(const fs::path& model, DetectOptions d, ServerOptions o);

    void configure();
    void add_routes();
    bool authorized(const Request& req) const;
    // Decisions made from the headers alone, before any body is read: 401 and 413.
    int early_status(const Request& req, Response& res) const;
    int refused_early(const Request& req, Response& res);  // early_status, counted for /api/predict
    void predict(const Request& req, Response& res, const httplib::ContentReader& reader);
    void get_asset(const Request& req, Response& res) const;
    void get_events(const Request& req, Response& res) const;
    void stream_events(const Request& req, Response& res);
    void stream_frames(const Request& req, Response& res);
    std::string metrics_text() const;
    void metrics_sources(PrometheusText& out, const std::vector<SourceStatus>& all) const;
    void count(const Request& req, const Response& res);
    bool take_stream(Response& res);
    nlohmann::json source_json(const SourceStatus& s) const;
    std::vector<SourceStatus> statuses() const;
    nlohmann::json stats_json_impl() const;
    nlohmann::json info_json_impl() const;
    double uptime() const { return seconds_since(started_at); }

    ServerOptions options;
    fs::path model_file;
    EventLog events;
    std::unique_ptr<Predictor> predictor;
    std::vector<std::unique_ptr<LiveSource>> sources;
    HttpServer http;
    std::thread listener;
    int port = 0;
    int threads = 0;
    int max_streams = 0;
    std::atomic<bool> stopping{false};
    std::mutex lifecycle;
    bool started = false, stopped = false;
    Clock::time_point started_at = Clock::now();
    RequestMetrics predicts;
    mutable std::mutex counts_mutex;
    std::map<std::pair<std::string, int>, std::int64_t> counts;  // (route, status) -> requests
    std::atomic<int> open_streams{0};
    std::atomic<int> event_clients{0};
};

MaskServer::Impl::Impl(const fs::path& model, DetectOptions d, ServerOptions o)
    : options(std::move(o)), model_file(model), events(options.event_capacity) {
    if (options.max_upload == 0) throw ConfigError("--max-upload must be more than 0 bytes");
    if (options.port < 0 || options.port > 65535) throw ConfigError(fmt::format("--port {}: expected 0..65535", options.port));
    if (options.predict_workers < 1) throw ConfigError("--threads must be at least 1");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = options.http_threads > 0 ? options.http_threads : std::max(32, 4 * cores);
    max_streams = options.max_streams > 0 ? options.max_streams : std::max(1, threads / 2);
    if (!options.save_violations.empty()) {
        fs::create_directories(options.save_violations);
        check_output_path(options.save_violations / "probe.jpg");
    }
    std::vector<std::string> names;
    for (const auto& spec : options.sources) {
        if (std::find(names.begin(), names.end(), spec.name) != names.end())
            throw ConfigError(fmt::format("--source: the name '{}' is used twice", spec.name));
        names.push_back(spec.name);
        const bool file = spec.input.find("://") == std::string::npos &&
                          !std::all_of(spec.input.begin(), spec.input.end(), [](unsigned char c) { return std::isdigit(c); });
        if (file && !fs::is_regular_file(spec.input))
            throw IoError(fmt::format("--source {}={}: no such video file", spec.name, spec.input));
    }
    d.blur_faces = options.blur_faces;
    PredictorOptions po;
    po.workers = options.predict_workers;
    po.blur_faces = options.blur_faces;
    predictor = std::make_unique<Predictor>(model, d, po);
    for (const auto& spec : options.sources) {
        LiveSourceOptions lo;
        lo.spec = spec;
        lo.detect = d;
        lo.loop = options.loop;
        lo.pace = options.pace;
        lo.max_reconnects = options.max_reconnects;
        lo.save_violations = options.save_violations;
        sources.push_back(std::make_unique<LiveSource>(model, lo, events));
    }
}

void MaskServer::Impl::configure() {
    const int n = threads;
    http.new_task_queue = [n] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    // Browsers and scripts reuse connections; an idle one holds a worker thread until it times out,
    // so the timeout is short (and stop() waits at most that long for idle connections).
    http.set_keep_alive_max_count(100);
    http.set_keep_alive_timeout(2);
    http.set_read_timeout(10);   // a client that stops sending its upload
    http.set_write_timeout(5);   // a viewer that stops reading: its stream ends, its thread is free again
    // Backstop for bodies sent to any other route: never buffered beyond the upload limit.
    http.set_payload_max_length(options.max_upload);
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server
    // share the port silently instead of failing with "in use".
    http.set_socket_options([](int sock) {
        const int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"}});
    http.set_pre_routing_handler([this](const Request& req, Response& res) {
        return refused_early(req, res) ? httplib::Server::HandlerResponse::Handled
                                       : httplib::Server::HandlerResponse::Unhandled;
    });
    // curl sends "Expect: 100-continue" before a large body: answer 401/413 before it sends a byte.
    http.set_expect_100_continue_handler([this](const Request& req, Response& res) {
        const int status = refused_early(req, res);
        return status ? status : 100;
    });
    http.set_error_handler([](const Request&, Response& res) {
        if (res.body.empty()) send_error(res, res.status, status_text(res.status));
    });
    http.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            send_error(res, 500, e.what());
        } catch (...) {
            send_error(res, 500, "unknown error");
        }
    });
    // Counted before the answer is written (the logger runs after it): a client that reads /metrics
    // right after an answer sees that answer counted.
    http.set_post_routing_handler([this](const Request& req, Response& res) { count(req, res); });
    add_routes();
}

int MaskServer::Impl::early_status(const Request& req, Response& res) const {
    if (needs_token(req.path) && !authorized(req)) {
        send_error(res, 401, status_text(401));
        return 401;
    }
    if (const std::uint64_t length = content_length(req); length > options.max_upload) {
        send_error(res, 413, fmt::format("the upload is {}, over the limit of {} (--max-upload)", mb(length), mb(options.max_upload)));
        // The body is not read: the connection cannot carry another request after it.
        res.set_header("Connection", "close");
        return 413;
    }
    return 0;
}

int MaskServer::Impl::refused_early(const Request& req, Response& res) {
    const int status = early_status(req, res);
    // The photo handler never runs for these, so it cannot count them itself.
    if (status && route_of(req.path) == "/api/predict") predicts.count(status);
    return status;
}

bool MaskServer::Impl::authorized(const Request& req) const {
    if (options.token.empty()) return true;
    std::string given;
    if (const std::string auth = req.get_header_value("Authorization"); auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
    else if (req.has_header("X-Maskctl-Token")) given = req.get_header_value("X-Maskctl-Token");
    else if (req.has_param("token")) given = req.get_param_value("token");
    return !given.empty() && same_secret(given, options.token);
}

void MaskServer::Impl::add_routes() {
    http.Get("/healthz", [this](const Request&, Response& res) {
        nlohmann::json s = nlohmann::json::object();
        for (const auto& src : sources) s[src->name()] = enum_name(src->status().state);
        send_json(res, 200, {{"status", "ok"}, {"uptime", std::round(uptime() * 10) / 10}, {"sources", s}});
    });
    http.Get("/api/info", [this](const Request&, Response& res) { send_json(res, 200, info_json_impl()); });
    http.Get("/api/stats", [this](const Request&, Response& res) { send_json(res, 200, stats_json_impl()); });
    http.Get("/api/events", [this](const Request& req, Response& res) { get_events(req, res); });
    http.Get("/api/events/stream", [this](const Request& req, Response& res) { stream_events(req, res); });
    http.Get(R"(/stream/([^/]+))", [this](const Request& req, Response& res) { stream_frames(req, res); });
    http.Get("/metrics", [this](const Request&, Response& res) {
        res.set_header("Cache-Control", "no-store");
        res.set_content(metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Post("/api/predict", [this](const Request& req, Response& res, const httplib::ContentReader& reader) {
        const auto t0 = Clock::now();
        predict(req, res, reader);
        predicts.add(res.status, ms_since(t0));
    });
    // Last: everything else is one of the embedded files or a 404, never a file on disk.
    http.Get(R"(/(.*))", [this](const Request& req, Response& res) { get_asset(req, res); });
}

void MaskServer::Impl::predict(const Request& req, Response& res, const httplib::ContentReader& reader) {
    const std::size_t max = options.max_upload;
    std::string image;
    std::size_t received = 0;
    bool too_big = false;
    // Counted as it arrives, so a body without a Content-Length (chunked) is cut off at the limit too.
    const auto keep = [&](const char* data, std::size_t n, bool wanted) {
        received += n;
        if (received > max) {
            too_big = true;
            return false;
        }
        if (wanted) image.append(data, n);
        return true;
    };
    bool complete = false, found = true;
    if (req.is_multipart_form_data()) {
        // The field "image"; failing that, the first part that carries a file name.
        bool chosen = false, current = false;
        found = false;
        complete = reader(
            [&](const httplib::MultipartFormData& part) {
                current = !chosen && (part.name == "image" || !part.filename.empty());
                chosen = chosen || current;
                found = found || current;
                return true;
            },
            [&](const char* data, std::size_t n) { return keep(data, n, current); });
    } else {
        complete = reader([&](const char* data, std::size_t n) { return keep(data, n, true); });
    }
    if (too_big)
        return send_error(res, 413, fmt::format("the upload is over the limit of {} (--max-upload)", mb(max)));
    if (!complete) return send_error(res, 400, "the upload ended before its end (a truncated or malformed request body)");
    if (!found)
        return send_error(res, 415, "no picture in the form: send the image as the field 'image' (or the raw bytes as the body)");
    const std::string annotated = req.get_param_value("annotated");
    try {
        const PhotoResult p = predictor->predict(image, annotated == "1" || annotated == "true");
        send_json(res, 200, predictor->to_json(p));
    } catch (const DataError& e) {
        send_error(res, 400, e.what());
    }
}

void MaskServer::Impl::get_asset(const Request& req, Response& res) const {
    const std::string name = req.matches.size() > 1 ? req.matches[1].str() : "";
    const WebAsset* asset = find_web_asset(name.empty() ? "index.html" : name);
    if (!asset) return send_error(res, 404, fmt::format("no such page or file: {}", req.path.substr(0, 200)));
    // The page changes with the binary only; a short cache still lets a new version show up soon.
    res.set_header("Cache-Control", "max-age=60");
    res.set_content(asset->bytes.data(), asset->bytes.size(), std::string(asset->content_type));
}

void MaskServer::Impl::get_events(const Request& req, Response& res) const {
    std::size_t limit = 50;
    if (req.has_param("limit")) {
        const std::string text = req.get_param_value("limit");
        try {
            std::size_t used = 0;
            const long v = std::stol(text, &used);
            if (used != text.size() || v < 1) throw std::invalid_argument(text);
            limit = std::min(static_cast<std::size_t>(v), events.capacity());
        } catch (const std::exception&) {
            return send_error(res, 400, fmt::format("limit={}: expected a whole number from 1 to {}", text.substr(0, 40), events.capacity()));
        }
    }
    send_json(res, 200, {{"events", events.recent(limit)}});
}

// Long-lived responses each hold a worker thread: capped, so they cannot starve the API.
bool MaskServer::Impl::take_stream(Response& res) {
    if (++open_streams > max_streams) {
        --open_streams;
        send_error(res, 503, fmt::format("too many open streams ({}); close a page or try again later", max_streams));
        return false;
    }
    return true;
}

void MaskServer::Impl::stream_events(const Request& req, Response& res) {
    if (!take_stream(res)) return;
    ++event_clients;
    struct State {
        std::uint64_t last = 0;
        bool greeted = false;
        Clock::time_point wrote = Clock::now();
    };
    auto state = std::make_shared<State>();
    state->last = events.last_seq();
    // A browser that reconnects says where it was; the events since then still in the ring follow.
    if (req.has_header("Last-Event-ID")) {
        try {
            state->last = std::min<std::uint64_t>(std::stoull(req.get_header_value("Last-Event-ID")), state->last);
        } catch (const std::exception&) {
        }
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, state](std::size_t, httplib::DataSink& sink) {
            if (stopping.load()) {
                sink.done();
                return true;
            }
            std::string out;
            if (!state->greeted) {
                out = "retry: 2000\n: connected\n\n";
                state->greeted = true;
            }
            for (const auto& e : events.wait_after(state->last, std::chrono::milliseconds(250))) {
                out += sse_message("detect", e);
                state->last = e.seq;
            }
            if (out.empty() && seconds_since(state->wrote) >= options.sse_keepalive) out = ": keepalive\n\n";
            if (out.empty()) return true;
            state->wrote = Clock::now();
            return sink.write(out.data(), out.size());
        },
        [this](bool) {
            --open_streams;
            --event_clients;
        });
}

void MaskServer::Impl::stream_frames(const Request& req, Response& res) {
    const std::string name = req.matches[1].str();
    const auto it = std::find_if(sources.begin(), sources.end(), [&](const auto& s) { return s->name() == name; });
    if (it == sources.end()) return send_error(res, 404, fmt::format("no source named '{}'", name.substr(0, 64)));
    if (!take_stream(res)) return;
    LiveSource& source = **it;
    struct State {
        explicit State(LiveSource& s) : viewer(s) {}
        LiveSource::Viewer viewer;
        std::uint64_t last = 0;
        Clock::time_point sent = Clock::now() - std::chrono::hours(1);
    };
    auto state = std::make_shared<State>(source);
    res.set_header("Cache-Control", "no-store");
    res.set_content_provider(
        fmt::format("multipart/x-mixed-replace; boundary={}", kBoundary),
        [this, state, &source](std::size_t, httplib::DataSink& sink) {
            if (stopping.load()) {
                sink.done();
                return true;
            }
            JpegFrame frame = state->viewer.next(state->last, std::chrono::milliseconds(250));
            std::shared_ptr<const std::string> jpeg = frame.jpeg;
            if (frame.seq != state->last) state->last = frame.seq;
            // No new frame for a second (reconnecting, ended, not started): a picture that says so.
            else if (seconds_since(state->sent) >= 1.0 && source.status().state != SourceState::running) jpeg = source.placeholder();
            if (!jpeg) return true;
            state->sent = Clock::now();
            const std::string head = fmt::format("--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", kBoundary, jpeg->size());
            return sink.write(head.data(), head.size()) && sink.write(jpeg->data(), jpeg->size()) && sink.write("\r\n", 2);
        },
        [this](bool) { --open_streams; });
}

void MaskServer::Impl::count(const Request& req, const Response& res) {
    std::lock_guard lock(counts_mutex);
    ++counts[{route_of(req.path), res.status}];
}

std::vector<SourceStatus> MaskServer::Impl::statuses() const {
    std::vector<SourceStatus> out;
    for (const auto& s : sources) out.push_back(s->status());
    return out;
}

nlohmann::json MaskServer::Impl::source_json(const SourceStatus& s) const {
    return {{"name", s.name},
            {"state", enum_name(s.state)},
            {"message", s.message},
            {"stream", "/stream/" + s.name},
            {"fps", std::round(s.fps * 10) / 10},
            {"frames", s.frames},
            {"reconnects", s.reconnects},
            {"viewers", s.viewers},
            {"saved", s.saved},
            {"stats", to_json(s.stats)}};
}

nlohmann::json MaskServer::Impl::stats_json_impl() const {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : statuses()) all.push_back(source_json(s));
    return {{"time", std::round(unix_now() * 1000) / 1000}, {"uptime", std::round(uptime() * 10) / 10}, {"sources", all}};
}

nlohmann::json MaskServer::Impl::info_json_impl() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : sources) list.push_back({{"name", s->name()}, {"stream", "/stream/" + s->name()}});
    return {{"version", version()},
            {"model", {{"file", model_file.filename().string()}, {"classes", predictor->class_names()}}},
            {"detector", predictor->detector_name()},
            {"max_upload", options.max_upload},
            {"token_required", !options.token.empty()},
            {"blur_faces", options.blur_faces},
            {"sources", list}};
}

void MaskServer::Impl::metrics_sources(PrometheusText& out, const std::vector<SourceStatus>& all) const {
    const auto each = [&](const std::string& name, const std::string& type, const std::string& help, auto value) {
        out.family(name, type, help);
        for (const auto& s : all) out.sample(name, {{"source", s.name}}, static_cast<double>(value(s)));
    };
    each("maskctl_source_up", "gauge", "1 while the source delivers frames", [](const SourceStatus& s) { return s.state == SourceState::running; });
    each("maskctl_frames_total", "counter", "Frames through the detection pipeline", [](const SourceStatus& s) { return s.frames; });
    each("maskctl_faces_total", "counter", "Face detections summed over frames", [](const SourceStatus& s) { return s.faces; });
    each("maskctl_violations_total", "counter", "Violation events (a face without a mask for long enough)", [](const SourceStatus& s) { return s.violations; });
    each("maskctl_source_reconnects_total", "counter", "Times the source was reopened", [](const SourceStatus& s) { return s.reconnects; });
    each("maskctl_source_fps", "gauge", "Frames per second over the last seconds", [](const SourceStatus& s) { return s.fps; });
    each("maskctl_stream_viewers", "gauge", "Open MJPEG streams of the source", [](const SourceStatus& s) { return s.viewers; });
    each("maskctl_violation_pictures_total", "counter", "Violation pictures written (--save-violations)", [](const SourceStatus& s) { return s.saved; });
    out.family("maskctl_people_total", "counter", "Tracked people since the start, by label kind");
    for (const auto& s : all) {
        const PeopleCounts& c = s.stats.since_start;
        for (const auto& [kind, n] : {std::pair{"with_mask", c.with_mask}, {"without_mask", c.without_mask}, {"other", c.other}})
            out.sample("maskctl_people_total", {{"source", s.name}, {"kind", kind}}, n);
    }
    out.family("maskctl_stage_latency_ms", "summary", "Per-stage milliseconds over the last 500 frames");
    for (const auto& s : all)
        for (const auto& [stage, st] : s.stages)
            for (const auto& [q, v] : {std::pair{"0.5", st.p50}, {"0.95", st.p95}})
                out.sample("maskctl_stage_latency_ms", {{"source", s.name}, {"stage", stage}, {"quantile", q}}, v);
}

std::string MaskServer::Impl::metrics_text() const {
    PrometheusText out;
    out.family("maskctl_uptime_seconds", "gauge", "Seconds since the server started");
    out.sample("maskctl_uptime_seconds", {}, std::round(uptime() * 1000) / 1000);
    metrics_sources(out, statuses());
    out.family("maskctl_predict_requests_total", "counter", "POST /api/predict requests by status code");
    for (const auto& [code, n] : predicts.counts())
        out.sample("maskctl_predict_requests_total", {{"code", std::to_string(code)}}, static_cast<double>(n));
    const LatencyStats pl = predicts.latency();
    out.family("maskctl_predict_latency_ms", "summary", "POST /api/predict milliseconds over the last 500 requests");
    out.sample("maskctl_predict_latency_ms", {{"quantile", "0.5"}}, pl.p50);
    out.sample("maskctl_predict_latency_ms", {{"quantile", "0.95"}}, pl.p95);
    out.family("maskctl_http_requests_total", "counter", "Answered HTTP requests by route and status code");
    {
        std::lock_guard lock(counts_mutex);
        for (const auto& [key, n] : counts)
            out.sample("maskctl_http_requests_total", {{"route", key.first}, {"code", std::to_string(key.second)}}, static_cast<double>(n));
    }
    out.family("maskctl_open_streams", "gauge", "Open MJPEG and event streams");
    out.sample("maskctl_open_streams", {}, open_streams.load());
    out.family("maskctl_event_subscribers", "gauge", "Open Server-Sent Events streams");
    out.sample("maskctl_event_subscribers", {}, event_clients.load());
    out.family("maskctl_events_total", "counter", "Detection events of all sources");
    out.sample("maskctl_events_total", {}, static_cast<double>(events.last_seq()));
    return out.text();
}

MaskServer::MaskServer(const fs::path& model, DetectOptions detect, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(detect), std::move(options))) {}

MaskServer::~MaskServer() { stop(); }

void MaskServer::start() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle);
    if (m.started) return;
    m.configure();
    const std::string& host = m.options.host;
    const int port = m.options.port == 0 ? m.http.bind_to_any_port(host) : (m.http.bind_to_port(host, m.options.port) ? m.options.port : -1);
    if (port <= 0) {
        const std::string problem = bind_problem(host, m.options.port);
        throw IoError(fmt::format("cannot listen on {}:{}: {}", host, m.options.port, problem));
    }
    m.http.widen_backlog(128);
    m.port = port;
    m.started_at = Clock::now();
    for (auto& s : m.sources) s->start();
    m.listener = std::thread([&m] { m.http.listen_after_bind(); });
    // stop() only works on a running server: wait until the accept loop is up.
    while (!m.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    m.started = true;
}

int MaskServer::port() const { return impl_->port; }

void MaskServer::stop() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle);
    if (!m.started || m.stopped) return;
    m.stopped = true;
    // Streams see the flag (and the closed log, the stopped sources) within a quarter second and end;
    // requests in flight finish; then the accept loop and the worker threads are joined.
    m.stopping.store(true);
    m.events.close();
    for (auto& s : m.sources) s->request_stop();
    m.http.stop();
    if (m.listener.joinable()) m.listener.join();
    for (auto& s : m.sources) s->stop();
}

nlohmann::json MaskServer::stats_json() const { return impl_->stats_json_impl(); }
nlohmann::json MaskServer::info_json() const { return impl_->info_json_impl(); }
const ServerOptions& MaskServer::options() const { return impl_->options; }

}  // namespace maskctl
