// The fleet layer on a real broker: Debian's mosquitto started per test on a free port of 127.0.0.1,
// clients that really connect, and maskctl detect publishing to it, watched with mosquitto_sub.
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "detect_model.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/process.hpp"
#include "maskctl/core/wall_clock.hpp"
#include "maskctl/detect/compliance.hpp"
#include "maskctl/fleet/broker.hpp"
#include "maskctl/fleet/fleet_view.hpp"
#include "maskctl/fleet/mqtt_client.hpp"
#include "maskctl/fleet/mqtt_output.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using nlohmann::json;

namespace {

// What a subscriber or a status callback received, readable from the test's thread.
template <class T>
class Inbox {
public:
    void add(T item) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(item));
        changed_.notify_all();
    }
    // Waits until `done(items)` holds or `seconds` passed; returns a copy of the items.
    template <class Pred>
    std::vector<T> wait(Pred done, double seconds) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done(items_); });
        return items_;
    }
    std::vector<T> items() {
        std::lock_guard lock(mutex_);
        return items_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<T> items_;
};

MqttOptions subscriber(const std::string& url, const std::string& filter, Inbox<MqttMessage>& inbox,
                       const std::string& id = "", bool clean = true) {
    MqttOptions o;
    o.url = url;
    o.client_id = id;
    o.clean_session = clean;
    o.subscribe = {filter};
    o.reconnect_min = o.reconnect_max = 0.2;
    o.on_message = [&inbox](const MqttMessage& m) { inbox.add(m); };
    return o;
}

auto at_least(size_t n) {
    return [n](const auto& items) { return items.size() >= n; };
}

// Publishes `topic` until `inbox` has seen it: the subscription is live.
void probe(MqttClient& pub, Inbox<MqttMessage>& inbox, const std::string& topic) {
    for (int i = 0; i < 50; ++i) {
        pub.publish(topic, "probe");
        const auto got = inbox.wait(
            [&](const auto& items) {
                return std::any_of(items.begin(), items.end(), [&](const MqttMessage& m) { return m.topic == topic; });
            },
            0.2);
        if (std::any_of(got.begin(), got.end(), [&](const MqttMessage& m) { return m.topic == topic; })) return;
    }
    FAIL("the subscriber never got " << topic);
}

std::string slurp(const fs::path& file) {
    std::ifstream in(file);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// mosquitto_sub -v output: "topic payload" per line.
std::vector<std::pair<std::string, std::string>> sub_lines(const fs::path& file) {
    std::vector<std::pair<std::string, std::string>> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        const auto space = line.find(' ');
        if (space != std::string::npos) out.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return out;
}

bool wait_for_line(const fs::path& file, const std::string& line, double seconds, int count = 1) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        int n = 0;
        std::istringstream in(slurp(file));
        for (std::string l; std::getline(in, l);) n += l == line;
        if (n >= count) return true;
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

fs::path client_program(const std::string& name) {
    const fs::path p = fs::path("/usr/bin") / name;
    INFO("install mosquitto-clients (scripts/setup.sh --test-deps)");
    REQUIRE(fs::exists(p));
    return p;
}

// mosquitto_sub on every maskctl topic, printing "topic payload" lines to `out`; subscribed when
// this returns. `session`: a client id whose session the broker keeps (QoS 1 messages wait for it).
std::unique_ptr<ChildProcess> watch(const LocalBroker& broker, const fs::path& out, const std::string& session = "") {
    std::vector<std::string> argv{client_program("mosquitto_sub").string(), "-h", "127.0.0.1", "-p",
                                  std::to_string(broker.port()), "-v", "-q", "1", "-t", "maskctl/#"};
    if (!session.empty()) argv.insert(argv.end(), {"-c", "-i", session});
    auto sub = std::make_unique<ChildProcess>(argv, out);
    MqttOptions o;
    o.url = broker.url();
    MqttClient pub(o);
    for (int i = 0; i < 100 && slurp(out).find("maskctl/probe") == std::string::npos; ++i) {
        pub.publish("maskctl/probe", "probe");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(slurp(out).find("maskctl/probe") != std::string::npos);
    return sub;
}

std::vector<json> events_file(const fs::path& file, bool stats) {
    std::vector<json> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        json j = json::parse(line);
        if ((j["type"] == "stats") == stats) out.push_back(j);
    }
    return out;
}

std::vector<json> payloads(const fs::path& sub, const std::string& topic) {
    std::vector<json> out;
    for (const auto& [t, p] : sub_lines(sub))
        if (t == topic) out.push_back(json::parse(p));
    return out;
}

std::vector<std::string> detect_argv(const LocalBroker& broker, const std::string& name) {
    return {test::maskctl_binary().string(), "detect", "-m", test::mask_model().string(), "--face-models",
            (test::shared_dir() / "models" / "face").string(), "--video",
            (test::shared_dir() / "media" / "demo.mp4").string(), "--headless", "-q", "--mqtt", broker.url(),
            "--name", name};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("MQTT URLs, topic levels and password files", "[fleet]") {
    auto u = parse_mqtt_url("mqtt://broker");
    CHECK(u.host == "broker");
    CHECK(u.port == 1883);
    CHECK_FALSE(u.tls);
    u = parse_mqtt_url("mqtts://b.example.org:8884/");
    CHECK(u.tls);
    CHECK(u.port == 8884);
    CHECK(u.text() == "mqtts://b.example.org:8884");
    CHECK(parse_mqtt_url("mqtts://b").port == 8883);
    CHECK(parse_mqtt_url("mqtt://[::1]:1884").host == "::1");
    for (const char* bad : {"http://x", "mqtt://", "mqtt://h:99999", "mqtt://h:abc", "broker:1883", "mqtt://u@h"})
        CHECK_THROWS_AS(parse_mqtt_url(bad), ConfigError);
    CHECK_THROWS_WITH(parse_mqtt_url("tcp://h"), Catch::Contains("'tcp://h': expected mqtt://host[:port]"));

    CHECK_NOTHROW(check_topic_level("door-1.north", "--name"));
    for (const char* bad : {"", "a/b", "+", "door#1"}) CHECK_THROWS_AS(check_topic_level(bad, "--name"), ConfigError);

    test::TempDir tmp("maskctl-fleet-pw");
    std::ofstream(tmp / "pw") << "s3cret word\r\nsecond line\n";
    CHECK(read_password_file((tmp / "pw").string()) == "s3cret word");
    std::ofstream(tmp / "empty") << "\n";
    CHECK_THROWS_WITH(read_password_file((tmp / "empty").string()), Catch::Contains("password file is empty"));
    CHECK_THROWS_WITH(read_password_file((tmp / "none").string()), Catch::Contains("cannot read the MQTT password file"));

    MqttOptions o;
    o.url = "mqtt://127.0.0.1:1";
    o.ca_file = (tmp / "pw").string();
    CHECK_THROWS_WITH(MqttClient(o), Catch::Contains("needs a TLS URL"));
    o.url = "mqtts://127.0.0.1:1";
    o.ca_file = (tmp / "no-ca.pem").string();
    CHECK_THROWS_WITH(MqttClient(o), Catch::Contains("no-ca.pem: no such CA file"));
}

TEST_CASE("events in Frigate's shape: new, update, violation, end", "[fleet]") {
    FrigateEvents frigate("door1");
    DetectEvent e;
    e.type = "appear";
    e.track = 3;
    e.label = "with_mask";
    e.confidence = 0.9f;
    e.box = cv::Rect(10, 20, 30, 40);
    e.frame = 7;
    e.time = 0.5;
    const json n = frigate.message(e, 1000.0);
    CHECK(n["type"] == "new");
    CHECK(n["seq"] == 1);
    CHECK(n["before"] == n["after"]);
    const json& a = n["after"];
    CHECK(a["camera"] == "door1");
    CHECK(a["label"] == "with_mask");
    CHECK(a["display"] == "Mask");
    CHECK(a["box"] == json::array({10, 20, 40, 60}));
    CHECK(a["area"] == 1200);
    CHECK(a["start_time"] == 1000.0);
    CHECK(a["end_time"].is_null());
    CHECK(a["score"] == Approx(0.9));
    CHECK(a["violation"] == false);
    CHECK_FALSE(n.contains("violation"));

    e.type = "change";
    e.label = "without_mask";
    e.previous = "with_mask";
    e.confidence = 0.7f;
    const json u = frigate.message(e, 1001.0);
    CHECK(u["type"] == "update");
    CHECK(u["before"]["label"] == "with_mask");
    CHECK(u["after"]["label"] == "without_mask");
    CHECK(u["after"]["id"] == a["id"]);
    CHECK(u["after"]["top_score"] == Approx(0.9));  // the best score so far

    e.type = "violation";
    const json v = frigate.message(e, 1002.0);
    CHECK(v["type"] == "update");
    CHECK(v["violation"] == true);
    CHECK(v["after"]["violation"] == true);
    CHECK(v["after"]["violations"] == 1);

    e.type = "lost";
    const json end = frigate.message(e, 1003.0);
    CHECK(end["type"] == "end");
    CHECK(end["before"]["end_time"].is_null());
    CHECK(end["after"]["end_time"] == 1003.0);
    CHECK(end["after"]["violation"] == false);
    CHECK(end["seq"] == 4);

    // The same track id after the pipeline restarted is a new object; faces still in view at the end
    // are ended by end_all.
    e.type = "appear";
    const json again = frigate.message(e, 1004.0);
    CHECK(again["type"] == "new");
    CHECK(again["after"]["id"] != a["id"]);
    const auto ends = frigate.end_all(1005.0);
    REQUIRE(ends.size() == 1);
    CHECK(ends[0]["type"] == "end");
    CHECK(ends[0]["after"]["end_time"] == 1005.0);
    CHECK(frigate.end_all(1006.0).empty());
}

TEST_CASE("a real broker: order kept, queue bounded while it is away, drained when it is back", "[fleet]") {
    test::TempDir tmp("maskctl-fleet-queue");
    LocalBrokerOptions bo;
    bo.persistence = true;  // the subscriber's session survives the restart
    LocalBroker broker(tmp / "broker", bo);
    Inbox<MqttMessage> inbox;
    MqttClient sub(subscriber(broker.url(), "t/#", inbox, "maskctl-test-sub", false));
    REQUIRE(sub.wait_connected(10));

    Inbox<std::string> status;
    MqttOptions po;
    po.url = broker.url();
    po.reconnect_min = po.reconnect_max = 0.2;
    po.on_status = [&status](const std::string& line) { status.add(line); };
    MqttClient pub(po);
    probe(pub, inbox, "t/probe");
    const size_t before = inbox.items().size();
    for (int i = 0; i < 100; ++i) pub.publish("t/n", std::to_string(i));
    auto got = inbox.wait(at_least(before + 100), 10);
    REQUIRE(got.size() == before + 100);
    for (int i = 0; i < 100; ++i) CHECK(got[before + i].payload == std::to_string(i));

    // Broker away: publish() never waits for it (this thread would hang here otherwise); 1,500
    // messages in a queue of 1,000 drop the 500 oldest.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the subscriber's acks land
    broker.stop();
    for (int i = 0; i < 100 && pub.counters().connected; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_FALSE(pub.counters().connected);
    for (int i = 0; i < 1500; ++i) pub.publish("t/q", std::to_string(i));
    auto c = pub.counters();
    CHECK(c.dropped == 500);
    CHECK(c.waiting == 1000);

    broker.start();
    // The queued messages arrive in order, each once. (A message the subscriber got just before the
    // broker went down may come again: QoS 1 redelivery by the broker, not ours; hence per topic.)
    const auto queued = [](const std::vector<MqttMessage>& items) {
        std::vector<std::string> q;
        for (const auto& m : items)
            if (m.topic == "t/q") q.push_back(m.payload);
        return q;
    };
    got = inbox.wait([&](const auto& items) { return queued(items).size() >= 1000; }, 30);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing more comes
    const auto q = queued(inbox.items());
    REQUIRE(q.size() == 1000);
    for (int i = 0; i < 1000; ++i) CHECK(q[i] == std::to_string(500 + i));
    c = pub.counters();
    CHECK(c.waiting == 0);
    CHECK(c.connects == 2);
    const auto lines = status.items();
    CHECK(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
              return l.find("lost the connection to " + broker.url()) != std::string::npos;
          }) == 1);
    CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
        return l.find("sending 1000 queued messages") != std::string::npos;
    }));

    // Latest-only (retained state): while away, only the newest waits; a newcomer gets it retained.
    broker.stop();
    for (int i = 0; i < 100 && pub.counters().connected; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (int i = 0; i < 5; ++i) pub.publish("t/state", std::to_string(i), true, true);
    CHECK(pub.counters().waiting == 1);
    broker.start();
    CHECK(pub.close(10) == 0);
    Inbox<MqttMessage> late;
    MqttClient newcomer(subscriber(broker.url(), "t/state", late));
    got = late.wait(at_least(1), 10);
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "4");
    CHECK(got[0].retain);
}

TEST_CASE("a closed port, an unknown host or a refused login: one line each, no exception", "[fleet]") {
    const auto attempt = [](const std::string& url, const std::string& user = "", const std::string& password = "") {
        Inbox<std::string> status;
        MqttOptions o;
        o.url = url;
        o.user = user;
        o.password = password;
        o.reconnect_min = o.reconnect_max = 0.1;  // several attempts in the second we wait
        o.on_status = [&status](const std::string& line) { status.add(line); };
        MqttClient c(o);
        c.publish("t/x", "1");
        c.publish("t/x", "2");
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const bool connected = c.counters().connected;
        const auto left = c.close(0);
        return std::make_tuple(status.items(), connected, left);
    };
    const int port = free_local_port();
    auto [closed, up1, left1] = attempt(fmt::format("mqtt://127.0.0.1:{}", port));
    REQUIRE(closed.size() == 1);  // retried several times, said once
    CHECK(closed[0] == fmt::format("mqtt: cannot connect to mqtt://127.0.0.1:{}: Connection refused; retrying "
                                   "(messages wait in the queue)", port));
    CHECK_FALSE(up1);
    CHECK(left1 == 2);

    auto [unknown, up2, left2] = attempt("mqtt://no-such-host.invalid:1883");
    REQUIRE(unknown.size() == 1);
    CHECK_THAT(unknown[0], Catch::Contains("cannot connect to mqtt://no-such-host.invalid:1883: cannot resolve the host name"));

    test::TempDir tmp("maskctl-fleet-login");
    const fs::path passwd = tmp / "passwd";
    REQUIRE(std::system(("mosquitto_passwd -c -b '" + passwd.string() + "' camera s3cret").c_str()) == 0);
    LocalBrokerOptions bo;
    bo.password_file = passwd.string();
    LocalBroker broker(tmp / "broker", bo);
    auto [refused, up3, left3] = attempt(broker.url(), "camera", "wrong");
    REQUIRE(refused.size() == 1);
    CHECK(refused[0] == "mqtt: " + broker.url() + " refused the login (not authorised); retrying (messages wait in the queue)");
    CHECK_FALSE(up3);
    auto [welcome, up4, left4] = attempt(broker.url(), "camera", "s3cret");
    CHECK(up4);
    CHECK(left4 == 0);
    REQUIRE(welcome.size() == 1);
    CHECK(welcome[0] == "mqtt: connected to " + broker.url() + ", sending 2 queued messages");
}

TEST_CASE("maskctl detect --mqtt: events, retained stats, online then offline, the will", "[fleet][detect]") {
    test::TempDir tmp("maskctl-fleet-detect");
    LocalBroker broker(tmp / "broker");
    const fs::path sub = tmp / "sub.txt", events = tmp / "events.jsonl", stats = tmp / "stats.json";
    const auto watcher = watch(broker, sub);

    ChildProcess detect(detect_argv(broker, "door1") + std::vector<std::string>{"--events", events.string(),
                        "--stats-json", stats.string(), "--stats-every", "0.5", "--violation-frames", "5"},
                        tmp / "detect.log");
    REQUIRE(detect.wait(300) == 0);
    INFO(slurp(tmp / "detect.log"));
    CHECK_THAT(slurp(tmp / "detect.log"), Catch::Contains("0 dropped (queue full), 0 undelivered at the end, 1 connection"));
    REQUIRE(wait_for_line(sub, "maskctl/available offline", 10));

    // Availability: online before anything else of this camera, offline last.
    const auto lines = sub_lines(sub);
    std::vector<std::string> available, camera_available;
    for (const auto& [t, p] : lines) {
        if (t == "maskctl/available") available.push_back(p);
        if (t == "maskctl/door1/available") camera_available.push_back(p);
    }
    CHECK(available == std::vector<std::string>{"online", "offline"});
    CHECK(camera_available == std::vector<std::string>{"online", "offline"});
    const auto first_of = [&](const std::string& topic) {
        return std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == topic; }) - lines.begin();
    };
    CHECK(first_of("maskctl/available") < first_of("maskctl/door1/events"));

    // One message per event of the events file, in order, mapped to Frigate's types; the face still
    // in view when the clip ends gets its "end".
    const auto sent = payloads(sub, "maskctl/door1/events");
    const auto logged = events_file(events, false);
    REQUIRE(logged.size() >= 4);
    REQUIRE(sent.size() == logged.size() + 1);
    for (size_t i = 0; i < logged.size(); ++i) {
        INFO("event " << i << ": " << logged[i].dump() << " -> " << sent[i].dump());
        const std::string type = logged[i]["type"];
        CHECK(sent[i]["seq"] == i + 1);
        CHECK(sent[i]["type"] == (type == "appear" ? "new" : type == "lost" ? "end" : "update"));
        CHECK(sent[i].value("violation", false) == (type == "violation"));
        CHECK(sent[i]["after"]["label"] == logged[i]["label"]);
        CHECK(sent[i]["after"]["frame"] == logged[i]["frame"]);
        CHECK(sent[i]["after"]["camera"] == "door1");
        CHECK(sent[i]["after"]["track"] == logged[i]["track"]);
        CHECK(sent[i]["after"]["box"].size() == 4);
    }
    CHECK(sent.back()["type"] == "end");
    CHECK_FALSE(sent.back()["after"]["end_time"].is_null());

    // Stats every half second; the last equals --stats-json and stays retained for newcomers.
    const auto stats_sent = payloads(sub, "maskctl/door1/stats");
    REQUIRE(stats_sent.size() >= 2);
    const json written = json::parse(std::ifstream(stats)), last = stats_sent.back();
    for (const char* key : {"people_total", "people_with_mask", "people_without_mask", "people_other", "violations",
                            "violators", "compliance"})
        CHECK(last[key] == written["since_start"][key]);
    CHECK(last["people_total"] == 1);
    CHECK(last["violations"] == 1);
    CHECK(last["frames"] == 65);
    CHECK(last["camera"] == "door1");
    CHECK(last.contains("timestamp"));
    CHECK(last.contains("fps"));
    CHECK(last["last_hour"]["people_total"] == 1);

    const fs::path retained = tmp / "retained.txt";
    ChildProcess get({client_program("mosquitto_sub").string(), "-h", "127.0.0.1", "-p", std::to_string(broker.port()),
                      "-v", "-C", "3", "-W", "10", "-t", "maskctl/door1/stats", "-t", "maskctl/available", "-t",
                      "maskctl/door1/available"},
                     retained);
    CHECK(get.wait(15) == 0);
    std::map<std::string, std::string> kept;
    for (const auto& [t, p] : sub_lines(retained)) kept[t] = p;
    CHECK(kept["maskctl/available"] == "offline");
    CHECK(kept["maskctl/door1/available"] == "offline");
    REQUIRE(kept.count("maskctl/door1/stats"));
    CHECK(json::parse(kept["maskctl/door1/stats"]) == last);

    // A detector that dies without a goodbye: the broker publishes its will, available = offline.
    ChildProcess crash(detect_argv(broker, "door2") + std::vector<std::string>{"--loop"}, tmp / "crash.log");
    REQUIRE(wait_for_line(sub, "maskctl/available online", 60, 2));
    crash.stop(SIGKILL);
    CHECK(wait_for_line(sub, "maskctl/available offline", 10, 2));
}

TEST_CASE("broker killed mid-run: queued events arrive after the reconnect, in order, once, and frames/s holds",
          "[fleet][detect]") {
    test::TempDir tmp("maskctl-fleet-restart");
    LocalBrokerOptions bo;
    bo.persistence = true;  // the watcher's session (and what waits for it) survives the restart
    LocalBroker broker(tmp / "broker", bo);
    const fs::path sub = tmp / "sub.txt", events = tmp / "events.jsonl";
    const auto watcher = watch(broker, sub, "maskctl-test-watcher");

    // The clip looped, a violation every second while the mask is off: events keep coming.
    ChildProcess detect(detect_argv(broker, "door1") +
                            std::vector<std::string>{"--loop", "--events", events.string(),
                                                     "--summary-json", (tmp / "summary.json").string(),
                                                     "--stats-every", "0.5", "--violation-frames", "3",
                                                     "--violation-repeat", "1"},
                        tmp / "detect.log");
    const auto events_seen = [&] { return payloads(sub, "maskctl/door1/events").size(); };
    for (int i = 0; i < 1200 && events_seen() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(events_seen() >= 2);

    std::this_thread::sleep_for(std::chrono::seconds(2));
    const double away = unix_now();
    broker.stop();
    std::this_thread::sleep_for(std::chrono::seconds(6));
    REQUIRE(detect.running());  // detection went on
    const double back = unix_now();
    broker.start();
    // The run ends on Ctrl-C, not after a frame count: a fast machine would otherwise finish its frames
    // while the broker is still away. Stop once it is back online and has delivered new events.
    REQUIRE(wait_for_line(sub, "maskctl/available online", 60, 2));
    const auto before_stop = events_seen();
    for (int i = 0; i < 1200 && events_seen() < before_stop + 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(detect.stop(SIGINT, 120) == 130);
    const std::string log = slurp(tmp / "detect.log");
    INFO(log);
    REQUIRE(wait_for_line(sub, "maskctl/available offline", 20));
    CHECK_THAT(log, Catch::Contains("mqtt: lost the connection to " + broker.url()));
    CHECK_THAT(log, Catch::Contains("queued messages"));
    CHECK_THAT(log, Catch::Contains("0 dropped (queue full), 0 undelivered at the end, 2 connections"));

    // Every event exactly once and in order: seq 1..N, as many as the events file holds (+ the end).
    // A message redelivered by the broker to the watcher after its restart repeats its seq (QoS 1).
    const auto sent = payloads(sub, "maskctl/door1/events");
    std::vector<int> seqs;
    for (const auto& m : sent)
        if (seqs.empty() || m["seq"].get<int>() > seqs.back()) seqs.push_back(m["seq"]);
        else CHECK(std::find(seqs.begin(), seqs.end(), m["seq"].get<int>()) != seqs.end());
    const auto logged = events_file(events, false);
    REQUIRE(seqs.size() == logged.size() + 1);
    for (size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == static_cast<int>(i) + 1);
    // Some of them were raised while the broker was away (so they waited in the queue).
    const auto queued = std::count_if(sent.begin(), sent.end(), [&](const json& m) {
        const double t = m["after"]["frame_time"];
        return t > away && t < back;
    });
    CHECK(queued >= 1);

    // Publishing never held the detection loop up: the observer's share of each frame (events, stats,
    // MQTT queue) stayed tiny, broker or not ...
    const json summary = json::parse(std::ifstream(tmp / "summary.json"));
    CHECK(summary["stages"]["output"]["p95"].get<double>() < 10.0);
    // ... and frames/s from the stats lines (frames and wall time every half second) while the broker
    // was away matched the whole run's. (A shared 2-core machine is noisy and the clip's phases cost
    // differently, hence the margin; `maskctl bench` measures the cost of publishing precisely.)
    const auto stats = events_file(events, true);
    REQUIRE(stats.size() >= 10);
    const auto rate = [](const json& a, const json& b) {
        return (b["frames"].get<double>() - a["frames"].get<double>()) / (b["time"].get<double>() - a["time"].get<double>());
    };
    const auto first_away = std::find_if(stats.begin(), stats.end(), [&](const json& j) { return j["time"] > away + 0.5; });
    const auto last_away = std::find_if(stats.rbegin(), stats.rend(), [&](const json& j) { return j["time"] < back; });
    REQUIRE(first_away != stats.end());
    REQUIRE(last_away->at("time").get<double>() - first_away->at("time").get<double>() > 4);
    const double without = rate(*first_away, *last_away), overall = rate(stats.front(), stats.back());
    INFO("frames/s while the broker was away " << without << ", over the run " << overall);
    CHECK(without >= 0.7 * overall);
}

TEST_CASE("the fleet view: cameras side by side, totals, stale and offline cameras", "[fleet]") {
    FleetView view;
    CHECK(view.topics() == std::vector<std::string>{"maskctl/+/stats", "maskctl/+/available"});
    const auto stats = [](int total, int mask, double time) {
        return json{{"people_total", total}, {"people_with_mask", mask}, {"people_without_mask", total - mask},
                    {"people_other", 0}, {"violations", total - mask}, {"violators", total - mask},
                    {"compliance", total ? json(static_cast<double>(mask) / total) : json(nullptr)},
                    {"time", time}, {"interval", 15}, {"fps", 12.5},
                    {"last_hour", {{"compliance", total ? json(static_cast<double>(mask) / total) : json(nullptr)}}}}
            .dump();
    };
    CHECK(view.add({"maskctl/door1/available", "online", true}));
    CHECK(view.add({"maskctl/door1/stats", stats(4, 3, 1000), true}));
    CHECK(view.add({"maskctl/door2/stats", stats(6, 6, 1000), true}));
    CHECK(view.add({"maskctl/door3/available", "offline", true}));
    CHECK_FALSE(view.add({"maskctl/available", "online", true}));       // not a camera's
    CHECK_FALSE(view.add({"maskctl/door1/events", "{}", false}));       // events are not shown
    CHECK_FALSE(view.add({"other/door1/stats", stats(1, 1, 1000), true}));
    CHECK_FALSE(view.add({"maskctl/door4/stats", "not json", true}));  // ignored, not fatal

    const auto cams = view.cameras();
    REQUIRE(cams.size() == 3);
    CHECK(cams[0].state(1010) == "online");
    CHECK(cams[1].state(1010) == "online");
    CHECK(cams[1].state(1100) == "stale");  // silent for more than 3 intervals
    CHECK(cams[2].state(1010) == "offline");
    const json t = view.totals();
    CHECK(t["cameras"] == 2);
    CHECK(t["people_total"] == 10);
    CHECK(t["people_with_mask"] == 9);
    CHECK(t["compliance"] == 0.9);

    const std::string table = view.table(1010);
    INFO(table);
    CHECK_THAT(table, Catch::StartsWith("camera "));
    CHECK_THAT(table, Catch::Contains("75.0%"));
    CHECK_THAT(table, Catch::Contains("100.0%"));
    CHECK_THAT(table, Catch::Contains("90.0%"));
    CHECK_THAT(table, Catch::Contains("all (2)"));
    CHECK(std::count(table.begin(), table.end(), '\n') == 5);  // header, 3 cameras, total
    const json j = view.to_json(1010);
    CHECK(j["cameras"].size() == 3);
    CHECK(j["cameras"][0]["age"] == 10.0);
    CHECK(j["cameras"][2]["stats"].is_null());
}

TEST_CASE("maskctl stats --mqtt: every camera of a broker side by side", "[fleet]") {
    test::TempDir tmp("maskctl-fleet-stats");
    LocalBroker broker(tmp / "broker");
    // Two cameras' real stats messages (the compliance module and MqttOutput, without a model): door1
    // saw a person with a mask and one without, door2 one with a mask and stopped.
    const auto camera = [&](const std::string& name, const std::vector<std::string>& labels) {
        MqttOutputOptions o;
        o.mqtt.url = broker.url();
        o.name = name;
        auto out = std::make_unique<MqttOutput>(o);
        ComplianceStats stats({"with_mask", "without_mask"});
        int track = 0;
        for (const auto& label : labels) {
            DetectEvent e;
            e.type = "appear";
            e.track = ++track;
            e.label = label;
            stats.add_event(e);
            out->event(e);
        }
        out->stats(stats.snapshot());
        for (int i = 0; i < 200 && out->counters().waiting > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        REQUIRE(out->counters().waiting == 0);  // on the broker, retained
        return out;
    };
    auto door1 = camera("door1", {"with_mask", "without_mask"});
    auto door2 = camera("door2", {"with_mask"});
    CHECK(door2->close(5) == 0);

    auto [code, out] = test::run_cli("stats --mqtt " + broker.url() + " --once", tmp / "log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK_THAT(out, Catch::Contains("door1"));
    CHECK_THAT(out, Catch::Contains("door2"));
    CHECK_THAT(out, Catch::Contains("offline"));
    CHECK_THAT(out, Catch::Contains("50.0%"));
    CHECK_THAT(out, Catch::Contains("66.7%"));  // 2 of 3 people over both cameras

    auto [jcode, jout] = test::run_cli("stats --mqtt " + broker.url() + " --once --json", tmp / "log");
    REQUIRE(jcode == 0);
    const json j = json::parse(jout);
    REQUIRE(j["cameras"].size() == 2);
    CHECK(j["cameras"][0]["name"] == "door1");
    CHECK(j["cameras"][0]["state"] == "online");
    CHECK(j["cameras"][0]["stats"]["people_total"] == 2);
    CHECK(j["cameras"][1]["state"] == "offline");
    CHECK(j["total"]["people_total"] == 3);

    auto [down, dout] = test::run_cli(fmt::format("stats --mqtt mqtt://127.0.0.1:{} --once --wait 1", free_local_port()),
                                      tmp / "log");
    CHECK(down == 2);
    CHECK_THAT(dout, Catch::Contains("cannot reach the broker at mqtt://127.0.0.1:"));
    CHECK_THAT(dout, Catch::Contains("Connection refused"));
    auto [bad, bout] = test::run_cli("stats --once", tmp / "log");
    CHECK(bad == 2);
    CHECK_THAT(bout, Catch::Contains("add --mqtt"));
}

TEST_CASE("TLS: mqtts:// with the CA that signed the broker's certificate", "[fleet]") {
    test::TempDir tmp("maskctl-fleet-tls");
    const auto sh = [&](const std::string& command) {
        INFO(command);
        REQUIRE(std::system(("cd '" + tmp.path().string() + "' && " + command + " > openssl.log 2>&1").c_str()) == 0);
    };
    // A private CA, and a certificate for 127.0.0.1 it signed.
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=maskctl-test-ca");
    sh("openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj /CN=127.0.0.1");
    std::ofstream(tmp / "san.ext") << "subjectAltName=IP:127.0.0.1\n";
    sh("openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.crt -days 2 "
       "-extfile san.ext");
    LocalBrokerOptions bo;
    bo.certfile = (tmp / "broker.crt").string();
    bo.keyfile = (tmp / "broker.key").string();
    LocalBroker broker(tmp / "broker", bo);
    REQUIRE(broker.url().rfind("mqtts://", 0) == 0);

    Inbox<MqttMessage> inbox;
    MqttOptions so = subscriber(broker.url(), "t/#", inbox);
    so.ca_file = (tmp / "ca.pem").string();
    MqttClient sub(so);
    REQUIRE(sub.wait_connected(10));
    MqttOptions po;
    po.url = broker.url();
    po.ca_file = (tmp / "ca.pem").string();
    MqttClient pub(po);
    probe(pub, inbox, "t/tls");
    CHECK(pub.counters().connected);

    // Without our CA the broker's certificate is not trusted: one line, no connection.
    Inbox<std::string> status;
    MqttOptions untrusting;
    untrusting.url = broker.url();
    untrusting.on_status = [&status](const std::string& line) { status.add(line); };
    MqttClient stranger(untrusting);
    const auto lines = status.wait(at_least(1), 10);
    REQUIRE(lines.size() >= 1);
    CHECK_THAT(lines[0], Catch::StartsWith("mqtt: cannot connect to " + broker.url()));
    CHECK_FALSE(stranger.counters().connected);
}
