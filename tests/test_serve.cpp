// maskctl serve on a real socket: the server started on a free port of 127.0.0.1 with the model the
// detection tests train, every route hit with httplib's own client (and a raw socket where a client
// library would hide what is tested), the demo clip as a looping live source, and the CLI.
#include <atomic>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "detect_model.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/process.hpp"
#include "maskctl/serve/event_log.hpp"
#include "maskctl/serve/http.hpp"
#include "maskctl/serve/metrics.hpp"
#include "maskctl/serve/predictor.hpp"
#include "maskctl/serve/server.hpp"
#include "maskctl/serve/web_assets.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using nlohmann::json;

namespace {

const std::string kToken = "s3cret-token-for-tests";

std::string media_bytes(const std::string& name) {
    const fs::path file = test::shared_dir() / "media" / name;
    REQUIRE(fs::exists(file));
    return test::read_text(file);
}

DetectOptions detect_options() {
    DetectOptions o;
    o.detector.models_dir = test::shared_dir() / "models" / "face";
    return o;
}

// A client that gives up instead of hanging a test: connecting takes milliseconds on 127.0.0.1, a
// photo a fraction of a second (but up to 20 of them queue for one detector).
std::unique_ptr<httplib::Client> client(int port, bool with_token = true) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_connection_timeout(10);
    c->set_read_timeout(60);
    c->set_write_timeout(30);
    if (with_token) c->set_default_headers({{"Authorization", "Bearer " + kToken}});
    return c;
}

json body_json(const httplib::Result& r) {
    REQUIRE(r);
    INFO(r->body.substr(0, 300));
    return json::parse(r->body);
}

// Sends `request` as it is on a plain socket and returns the first bytes of the answer: what the
// server decides before a client library would even send the body.
std::string raw_exchange(int port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        answer.append(buf, static_cast<std::size_t>(n));
        if (answer.find("\r\n\r\n") != std::string::npos && answer.find('}') != std::string::npos) break;
    }
    ::close(fd);
    return answer;
}

// Polls `done` every 100 ms for up to `seconds`; true when it held.
template <class F>
bool eventually(F done, double seconds = 60) {
    const auto start = Clock::now();
    while (seconds_since(start) < seconds) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
}

void check_faces(const json& j) {
    CHECK(j["width"].get<int>() > 0);
    CHECK(j["height"].get<int>() > 0);
    REQUIRE(j["faces"].size() >= 3);  // pic2.jpg: three women (test_detect.cpp)
    std::set<std::string> labels;
    for (const auto& f : j["faces"]) {
        REQUIRE(f["box"].size() == 4);
        labels.insert(f["label"].get<std::string>());
        CHECK(f["confidence"].get<double>() > 0.5);
        CHECK((f["kind"] == "mask" || f["kind"] == "no_mask"));
        CHECK(f["violation"].get<bool>() == (f["label"] == "without_mask"));
        CHECK(f["probabilities"].size() == 2);
    }
    CHECK(labels == std::set<std::string>{"with_mask", "without_mask"});
}

}  // namespace

TEST_CASE("serve parts: source names, sizes, tokens, the event ring, Prometheus text, the page", "[serve]") {
    CHECK(parse_source_spec("door=rtsp://cam/live?a=b").name == "door");
    CHECK(parse_source_spec("door=rtsp://cam/live?a=b").input == "rtsp://cam/live?a=b");
    CHECK(parse_source_spec("rtsp://cam/live?a=b").name == "stream");
    CHECK(parse_source_spec("../shared/media/demo.mp4").name == "demo");
    CHECK(parse_source_spec("0").name == "camera0");
    CHECK(parse_source_spec("demo.mp4", {"demo"}).name == "demo-2");
    CHECK_THROWS_AS(parse_source_spec("demo=a.mp4", {"demo"}), ConfigError);
    CHECK_THROWS_AS(parse_source_spec("front door=a.mp4"), ConfigError);
    CHECK_THROWS_AS(parse_source_spec("door="), ConfigError);

    CHECK(parse_byte_size("20MB") == 20u * 1024 * 1024);
    CHECK(parse_byte_size("512k") == 512u * 1024);
    CHECK(parse_byte_size("1048576") == 1048576u);
    CHECK(parse_byte_size("1.5 GiB") == 1610612736u);
    for (const char* bad : {"", "MB", "-1MB", "20XB", "0"}) CHECK_THROWS_AS(parse_byte_size(bad), ConfigError);

    test::TempDir dir("maskctl-serve-token");
    std::ofstream(dir / "token") << "  " << kToken << "  \nsecond line\n";
    CHECK(read_token_file(dir / "token") == kToken);
    std::ofstream(dir / "short") << "abc\n";
    CHECK_THROWS_AS(read_token_file(dir / "short"), ConfigError);
    CHECK_THROWS_AS(read_token_file(dir / "missing"), ConfigError);

    EventLog log(3);
    for (int i = 1; i <= 5; ++i) CHECK(log.add({{"n", i}}) == static_cast<std::uint64_t>(i));
    const auto recent = log.recent(10);
    REQUIRE(recent.size() == 3);  // the ring keeps the newest 3, oldest first
    CHECK(recent.front()["n"] == 3);
    CHECK(recent.back()["n"] == 5);
    const auto after = log.wait_after(4, std::chrono::milliseconds(0));
    REQUIRE(after.size() == 1);
    CHECK(sse_message("detect", after[0]) == "id: 5\nevent: detect\ndata: {\"n\":5}\n\n");
    log.close();
    CHECK(log.wait_after(0, std::chrono::hours(1)).empty());  // closed: returns at once

    PrometheusText text;
    text.family("maskctl_x_total", "counter", "Things");
    text.sample("maskctl_x_total", {{"source", "a\"b\\c\nd"}}, 3);
    text.sample("maskctl_x_total", {}, std::nan(""));
    CHECK(text.text() == "# HELP maskctl_x_total Things\n# TYPE maskctl_x_total counter\n"
                         "maskctl_x_total{source=\"a\\\"b\\\\c\\nd\"} 3\nmaskctl_x_total NaN\n");

    const WebAsset* index = find_web_asset("index.html");
    REQUIRE(index);
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(index->bytes.find("<") != std::string_view::npos);
    CHECK_FALSE(find_web_asset("../CMakeLists.txt"));
    CHECK(content_type_for("app.js") == "text/javascript; charset=utf-8");
    CHECK(base64_encode("Man") == "TWFu");
    CHECK(base64_encode("Ma") == "TWE=");
    CHECK(base64_encode("M") == "TQ==");
}

TEST_CASE("serve: photos in, faces out; bad uploads get 400/413/415 and the server keeps serving; token, 404s, metrics",
          "[serve]") {
    ServerOptions o;
    o.port = 0;
    o.token = kToken;
    o.max_upload = 1024 * 1024;  // pic2.jpg is about 100 KB
    MaskServer server(test::mask_model(), detect_options(), o);
    server.start();
    REQUIRE(server.port() > 0);
    auto c = client(server.port());
    const std::string pic2 = media_bytes("pic2.jpg");

    SECTION("predict: multipart field 'image' and the raw body give the same faces") {
        const auto multipart = c->Post("/api/predict", httplib::MultipartFormDataItems{{"image", pic2, "pic2.jpg", "image/jpeg"}});
        REQUIRE(multipart);
        CHECK(multipart->status == 200);
        const json m = body_json(multipart);
        check_faces(m);
        CHECK_FALSE(m.contains("image"));
        const auto raw = c->Post("/api/predict?annotated=1", pic2, "image/jpeg");
        REQUIRE(raw);
        CHECK(raw->status == 200);
        const json r = body_json(raw);
        check_faces(r);
        CHECK(r["faces"].size() == m["faces"].size());
        CHECK(r["image"].get<std::string>().rfind("data:image/jpeg;base64,/9j/", 0) == 0);  // a JPEG
    }

    SECTION("bad uploads: 413 from the Content-Length alone, 400 empty / text / truncated, 415 no image field") {
        // The headers promise 100 MB and no byte of it is sent: the answer cannot come from reading it.
        const std::string answer = raw_exchange(server.port(),
                                                "POST /api/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                                                    "\r\nContent-Type: image/jpeg\r\nContent-Length: 104857600\r\n\r\n");
        INFO(answer);
        CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
        CHECK(answer.find("over the limit of 1.0 MB") != std::string::npos);
        // Refused before the photo handler ran, and still counted as a photo request.
        CHECK(c->Get("/metrics")->body.find("maskctl_predict_requests_total{code=\"413\"} 1\n") != std::string::npos);

        const auto empty = c->Post("/api/predict", "", "image/jpeg");
        REQUIRE(empty);
        CHECK(empty->status == 400);
        CHECK(body_json(empty)["error"].get<std::string>().find("empty") != std::string::npos);

        const auto text = c->Post("/api/predict", "hello, this is not a picture", "image/jpeg");
        REQUIRE(text);
        CHECK(text->status == 400);
        CHECK(body_json(text)["error"].get<std::string>().find("not an image") != std::string::npos);

        const auto truncated = c->Post("/api/predict", pic2.substr(0, pic2.size() / 2), "image/jpeg");
        REQUIRE(truncated);
        CHECK(truncated->status == 400);
        CHECK(body_json(truncated)["error"].get<std::string>().find("truncated") != std::string::npos);

        const auto no_image = c->Post("/api/predict", httplib::MultipartFormDataItems{{"comment", "hello", "", ""}});
        REQUIRE(no_image);
        CHECK(no_image->status == 415);

        // Still serving, with a fresh connection and the same one.
        const auto after = client(server.port())->Post("/api/predict", pic2, "image/jpeg");
        REQUIRE(after);
        CHECK(after->status == 200);
        CHECK(c->Get("/healthz")->status == 200);
    }

    SECTION("an upload over the limit is cut off at the limit, whether or not it says its length") {
        const std::string big(2 * 1024 * 1024, 'x');
        auto fresh = client(server.port());
        const auto r = fresh->Post("/api/predict", big, "image/jpeg");
        // The server answers 413 and closes without reading the rest; a client may see the answer or,
        // when the close beats it, a broken connection: never a 200, and never a body read in full.
        if (r) CHECK(r->status == 413);
        const auto chunked = client(server.port())->Post(
            "/api/predict",
            [&](std::size_t offset, httplib::DataSink& sink) {
                if (offset >= big.size()) {
                    sink.done();
                    return true;
                }
                return sink.write(big.data() + offset, std::min<std::size_t>(65536, big.size() - offset));
            },
            "image/jpeg");
        if (chunked) CHECK(chunked->status == 413);
        CHECK(c->Post("/api/predict", pic2, "image/jpeg")->status == 200);
    }

    SECTION("token: missing or wrong 401 on data routes; header, X-Maskctl-Token or ?token= 200; the page is public") {
        auto anonymous = client(server.port(), false);
        for (const char* path : {"/api/stats", "/api/info", "/api/events", "/metrics", "/stream/none"}) {
            INFO(path);
            const auto r = anonymous->Get(path);
            REQUIRE(r);
            CHECK(r->status == 401);
            CHECK(body_json(r)["error"] == "missing or wrong access token");
        }
        CHECK(anonymous->Post("/api/predict", pic2, "image/jpeg")->status == 401);
        CHECK(anonymous->Get("/api/stats", {{"Authorization", "Bearer wrong-token-123"}})->status == 401);
        CHECK(anonymous->Get("/api/stats?token=wrong")->status == 401);
        CHECK(anonymous->Get("/api/stats", {{"X-Maskctl-Token", kToken}})->status == 200);
        CHECK(anonymous->Get("/api/stats?token=" + kToken)->status == 200);
        CHECK(anonymous->Get("/api/stats", {{"Authorization", "Bearer " + kToken}})->status == 200);
        const auto page = anonymous->Get("/");
        REQUIRE(page);
        CHECK(page->status == 200);
        CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
        CHECK(page->body == std::string(find_web_asset("index.html")->bytes));
        const auto health = body_json(anonymous->Get("/healthz"));
        CHECK(health["status"] == "ok");
    }

    SECTION("unknown routes and files: 404 JSON, no way into the file system") {
        for (const char* path : {"/nope", "/api/nope", "/../CMakeLists.txt", "/%2e%2e/%2e%2e/etc/passwd", "/web/index.html",
                                 "/stream/nope", "/index.html/"}) {
            INFO(path);
            const auto r = c->Get(path);
            REQUIRE(r);
            CHECK(r->status == 404);
            CHECK(body_json(r).contains("error"));
        }
        const auto del = c->Delete("/api/stats");
        REQUIRE(del);
        CHECK(del->status >= 400);
        CHECK(c->Get("/healthz")->status == 200);
    }

    SECTION("info, stats, events and metrics without sources") {
        const json info = body_json(c->Get("/api/info"));
        CHECK(info["model"]["classes"] == json::array({"with_mask", "without_mask"}));
        CHECK(info["max_upload"] == 1024 * 1024);
        CHECK(info["token_required"] == true);
        CHECK(body_json(c->Get("/api/stats"))["sources"].empty());
        CHECK(body_json(c->Get("/api/events?limit=5"))["events"].empty());
        CHECK(c->Get("/api/events?limit=abc")->status == 400);
        REQUIRE(c->Post("/api/predict", pic2, "image/jpeg")->status == 200);
        const auto metrics = c->Get("/metrics");
        REQUIRE(metrics);
        CHECK(metrics->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
        CHECK(metrics->body.find("# TYPE maskctl_predict_requests_total counter\n") != std::string::npos);
        CHECK(metrics->body.find("maskctl_predict_requests_total{code=\"200\"} ") != std::string::npos);
        CHECK(metrics->body.find("maskctl_predict_latency_ms{quantile=\"0.95\"} ") != std::string::npos);
        CHECK(metrics->body.find("maskctl_http_requests_total{route=\"/api/predict\",code=\"200\"} ") != std::string::npos);
    }
    server.stop();
}

TEST_CASE("serve: 20 concurrent photo requests all succeed", "[serve]") {
    ServerOptions o;
    o.port = 0;
    MaskServer server(test::mask_model(), detect_options(), o);
    server.start();
    const std::string pic2 = media_bytes("pic2.jpg");
    constexpr int kClients = 20;
    std::vector<int> status(kClients, -1);
    std::vector<std::string> errors(kClients);
    std::vector<std::size_t> faces(kClients, 0);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < kClients; ++i)
        threads.emplace_back([&, i] {
            auto c = client(server.port(), false);
            while (!go.load()) std::this_thread::yield();
            const auto r = c->Post("/api/predict", pic2, "image/jpeg");
            if (!r) {
                errors[static_cast<std::size_t>(i)] = httplib::to_string(r.error());
                return;
            }
            status[static_cast<std::size_t>(i)] = r->status;
            if (r->status == 200) faces[static_cast<std::size_t>(i)] = json::parse(r->body)["faces"].size();
        });
    go.store(true);
    for (auto& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i << ": " << errors[static_cast<std::size_t>(i)]);
        CHECK(status[static_cast<std::size_t>(i)] == 200);
        CHECK(faces[static_cast<std::size_t>(i)] == faces[0]);
    }
    CHECK(faces[0] >= 3);
    server.stop();
}

TEST_CASE("serve: the demo clip as a looping live source: MJPEG frames, growing statistics, events, a prompt stop",
          "[serve]") {
    ServerOptions o;
    o.port = 0;
    o.loop = true;
    o.sources = {parse_source_spec((test::shared_dir() / "media" / "demo.mp4").string())};
    DetectOptions d = detect_options();
    d.violation_frames = 5;  // as in test_detect.cpp: the clip's one violation
    MaskServer server(test::mask_model(), d, o);
    server.start();
    auto c = client(server.port());

    // Statistics: frames counted, and still counting a moment later.
    std::int64_t first = 0;
    REQUIRE(eventually([&] {
        const json s = body_json(c->Get("/api/stats"));
        REQUIRE(s["sources"].size() == 1);
        first = s["sources"][0]["frames"].get<std::int64_t>();
        return first > 0;
    }));
    const json stats = body_json(c->Get("/api/stats"))["sources"][0];
    CHECK(stats["name"] == "demo");
    CHECK(stats["stream"] == "/stream/demo");
    CHECK(stats["state"] == "running");
    CHECK(stats["stats"].contains("since_start"));
    CHECK(eventually([&] { return body_json(c->Get("/api/stats"))["sources"][0]["frames"].get<std::int64_t>() > first; }));
    CHECK(body_json(c->Get("/healthz"))["sources"]["demo"] == "running");

    // MJPEG: a few whole JPEG parts.
    std::string stream;
    std::string content_type;
    int parts = 0;
    const auto r = c->Get(
        "/stream/demo",
        [&](const httplib::Response& res) {
            content_type = res.get_header_value("Content-Type");
            return res.status == 200;
        },
        [&](const char* data, std::size_t n) {
            stream.append(data, n);
            std::size_t at = 0;
            parts = 0;
            while ((at = stream.find("--frame\r\nContent-Type: image/jpeg\r\n", at)) != std::string::npos) ++parts, ++at;
            return parts < 4;  // the 4th part has begun: three are whole
        });
    CHECK(content_type == "multipart/x-mixed-replace; boundary=frame");
    CHECK(parts >= 4);
    CHECK(stream.find("\r\n\r\n\xff\xd8") != std::string::npos);  // a JPEG starts after the part's headers

    // Events: the clip's appear/change/violation events, through the ring and through SSE (from the start).
    REQUIRE(eventually([&] { return !body_json(c->Get("/api/events"))["events"].empty(); }));
    const json events = body_json(c->Get("/api/events?limit=1000"))["events"];
    CHECK(events[0]["source"] == "demo");
    CHECK(events[0].contains("timestamp"));
    CHECK(events[0]["type"] == "appear");
    std::string sse;
    const auto es = c->Get("/api/events/stream", {{"Last-Event-ID", "0"}}, [&](const char* data, std::size_t n) {
        sse.append(data, n);
        return sse.find("\n\n", sse.find("event: detect\n")) == std::string::npos;  // until one whole event
    });
    CHECK(sse.find("event: detect\ndata: {") != std::string::npos);
    CHECK(sse.find("\"source\":\"demo\"") != std::string::npos);

    const std::string metrics = c->Get("/metrics")->body;
    CHECK(metrics.find("maskctl_frames_total{source=\"demo\"} ") != std::string::npos);
    CHECK(metrics.find("maskctl_source_up{source=\"demo\"} 1\n") != std::string::npos);
    CHECK(metrics.find("maskctl_stage_latency_ms{source=\"demo\",stage=\"detect\",quantile=\"0.5\"} ") != std::string::npos);
    // Capture to the page's turn: more than the detector's own time, never 0.
    const auto latency = metrics.find("maskctl_stage_latency_ms{source=\"demo\",stage=\"latency\",quantile=\"0.5\"} ");
    REQUIRE(latency != std::string::npos);
    CHECK(std::stod(metrics.substr(metrics.find("} ", latency) + 2)) > 1.0);

    // A viewer still connected when the server stops: its stream ends and stop() returns.
    std::atomic<int> viewer_bytes{0};
    std::atomic<bool> viewer_done{false};
    std::thread viewer([&] {
        auto v = client(server.port());
        v->Get("/stream/demo", [&](const char*, std::size_t n) {
            viewer_bytes += static_cast<int>(n);
            return true;
        });
        viewer_done = true;
    });
    REQUIRE(eventually([&] { return viewer_bytes.load() > 0; }));
    server.stop();
    viewer.join();
    CHECK(viewer_done.load());
    CHECK(server.stats_json()["sources"][0]["frames"].get<std::int64_t>() > first);
}

TEST_CASE("serve: a port in use is named; maskctl serve stops on SIGTERM and writes its statistics", "[serve]") {
    ServerOptions o;
    o.port = 0;
    MaskServer first(test::mask_model(), detect_options(), o);
    first.start();
    ServerOptions same = o;
    same.port = first.port();
    MaskServer second(test::mask_model(), detect_options(), same);
    try {
        second.start();
        FAIL("a second server started on a port in use");
    } catch (const IoError& e) {
        CHECK(std::string(e.what()) == fmt::format("cannot listen on 127.0.0.1:{}: the port is in use (another maskctl "
                                                   "serve, or another program?)", first.port()));
    }
    first.stop();

    test::TempDir dir("maskctl-serve-cli");
    const std::string base = fmt::format("serve -m '{}' --face-models '{}'", test::mask_model().string(),
                                         (test::shared_dir() / "models" / "face").string());
    for (const std::string bad : {"--port 70000", "--max-upload lots", "--source a=x.mp4 --source a=y.mp4",
                                  "--source 'bad name=x.mp4'", "--source nowhere.mp4", "--threads 0"}) {
        INFO(bad);
        const auto [code, out] = test::run_cli(base + " " + bad, dir / "bad.log");
        CHECK(code == 2);
        CHECK(std::count(out.begin(), out.end(), '\n') == 1);
        CHECK(out.rfind("error: ", 0) == 0);
    }

    const fs::path stats = dir / "stats.json", log = dir / "serve.log";
    ChildProcess child({test::maskctl_binary().string(), "serve", "-m", test::mask_model().string(), "--face-models",
                        (test::shared_dir() / "models" / "face").string(), "--port", "0", "--loop", "--source",
                        "door=" + (test::shared_dir() / "media" / "demo.mp4").string(), "--stats-json", stats.string()},
                       log);
    int port = 0;
    REQUIRE(eventually([&] {
        std::ifstream in(log);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto at = text.find("http://127.0.0.1:");
        if (at != std::string::npos) port = std::stoi(text.substr(at + 17));
        return port > 0 || !child.running();
    }));
    REQUIRE(port > 0);
    auto c = client(port, false);
    REQUIRE(eventually([&] {
        const auto r = c->Get("/api/stats");
        return r && json::parse(r->body)["sources"][0]["frames"].get<int>() > 0;
    }));
    CHECK(child.stop(SIGTERM, 30) == 0);
    std::ifstream in(stats);
    REQUIRE(in);
    const json j = json::parse(in);
    CHECK(j["sources"][0]["name"] == "door");
    CHECK(j["sources"][0]["frames"].get<int>() > 0);
}
