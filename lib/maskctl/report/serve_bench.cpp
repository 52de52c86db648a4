#include "maskctl/report/serve_bench.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "maskctl/core/clock.hpp"
#include "maskctl/serve/http.hpp"

namespace maskctl {
namespace {

std::unique_ptr<httplib::Client> bench_client(int port, const std::string& token, double read_timeout) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_connection_timeout(10);
    c->set_read_timeout(static_cast<time_t>(read_timeout));
    c->set_keep_alive(true);
    if (!token.empty()) c->set_default_headers({{"Authorization", "Bearer " + token}});
    return c;
}

}  // namespace

PredictLoad measure_predict_load(int port, const std::string& image, int clients, double seconds, const std::string& token) {
    PredictLoad out;
    out.clients = clients;
    std::mutex mutex;
    std::vector<double> ms;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    Clock::time_point start;
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
        threads.emplace_back([&] {
            auto c = bench_client(port, token, 120);
            c->Post("/api/predict", image, "image/jpeg");  // warm-up: connection, detector caches
            ++ready;
            while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::vector<double> mine;
            int failed = 0;
            while (seconds_since(start) < seconds) {
                const auto t0 = Clock::now();
                const auto r = c->Post("/api/predict", image, "image/jpeg");
                if (r && r->status == 200) mine.push_back(ms_since(t0));
                else ++failed;
            }
            std::lock_guard lock(mutex);
            ms.insert(ms.end(), mine.begin(), mine.end());
            out.failures += failed;
        });
    while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    start = Clock::now();
    go.store(true);
    for (auto& t : threads) t.join();
    out.seconds = seconds_since(start);
    out.requests = static_cast<int>(ms.size());
    out.requests_per_second = out.seconds > 0 ? out.requests / out.seconds : 0;
    out.latency = latency_stats(ms);
    return out;
}

StreamLoad measure_stream_viewers(int port, const std::string& source, int viewers, double seconds, const std::string& token) {
    StreamLoad out;
    out.viewers = viewers;
    out.seconds = seconds;
    std::vector<int> parts(static_cast<std::size_t>(viewers), 0);
    std::vector<std::thread> threads;
    static const std::string kPart = "Content-Type: image/jpeg\r\n";
    for (int i = 0; i < viewers; ++i)
        threads.emplace_back([&, i] {
            auto c = bench_client(port, token, seconds + 30);
            std::string tail;  // a part header may arrive split over two reads
            Clock::time_point start;
            bool started = false;
            c->Get("/stream/" + source, [&](const char* data, std::size_t n) {
                // Counting starts with the first part, so connecting does not count as slowness.
                tail.append(data, n);
                for (std::size_t at = 0; (at = tail.find(kPart, at)) != std::string::npos; at += kPart.size()) {
                    if (started) ++parts[static_cast<std::size_t>(i)];
                    else start = Clock::now(), started = true;
                }
                if (tail.size() >= kPart.size()) tail.erase(0, tail.size() - (kPart.size() - 1));
                return !started || seconds_since(start) < seconds;
            });
        });
    for (auto& t : threads) t.join();
    double sum = 0, lowest = 1e18;
    for (int p : parts) {
        const double fps = p / seconds;
        sum += fps;
        lowest = std::min(lowest, fps);
    }
    out.frames_per_second = viewers > 0 ? sum / viewers : 0;
    out.min_frames_per_second = viewers > 0 ? lowest : 0;
    return out;
}

}  // namespace maskctl
