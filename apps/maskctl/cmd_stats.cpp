// maskctl stats: every camera's compliance side by side, read from the broker the detectors publish to.
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include "command.hpp"
#include "console.hpp"
#include "mqtt_options.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/wall_clock.hpp"
#include "maskctl/fleet/fleet_view.hpp"

namespace maskctl::app {
namespace {

struct StatsArgs {
    MqttArgs mqtt;
    bool once = false, json = false;
    double wait = 5, every = 1;
};

// The view, filled by the MQTT thread and read by ours.
struct SharedView {
    std::mutex mutex;
    FleetView view;
    int changes = 0;
    std::chrono::steady_clock::time_point last_message = std::chrono::steady_clock::now();
    explicit SharedView(const std::string& prefix) : view(prefix) {}
};

std::string render(SharedView& shared, bool json) {
    std::lock_guard lock(shared.mutex);
    const double now = unix_now();
    return json ? shared.view.to_json(now).dump() + "\n" : shared.view.table(now);
}

// Retained messages come right after the subscription; the snapshot is complete once the broker has
// been quiet for a moment.
void wait_for_retained(SharedView& shared, double limit) {
    using namespace std::chrono;
    const auto end = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(limit));
    for (;;) {
        std::this_thread::sleep_for(milliseconds(50));
        std::lock_guard lock(shared.mutex);
        if (steady_clock::now() - shared.last_message > milliseconds(500) || steady_clock::now() > end) return;
    }
}

int run_stats(const StatsArgs& a, const std::atomic<bool>& stop) {
    SharedView shared(a.mqtt.prefix);
    MqttOptions o = a.mqtt.options();
    o.subscribe = shared.view.topics();
    o.on_message = [&shared](const MqttMessage& m) {
        std::lock_guard lock(shared.mutex);
        if (shared.view.add(m)) ++shared.changes;
        shared.last_message = std::chrono::steady_clock::now();
    };
    // Live: connection problems as they happen; --once reports the last one if it never connects.
    if (!a.once) o.on_status = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    MqttClient client(o);

    if (a.once) {
        if (!client.wait_connected(a.wait))
            throw Error(fmt::format("cannot reach the broker at {} in {:g} s: {}", client.url().text(), a.wait,
                                    client.counters().last_error));
        wait_for_retained(shared, a.wait);
        std::cout << render(shared, a.json) << std::flush;
        return kExitOk;
    }
    // A terminal gets the table redrawn in place every --every seconds; a pipe gets it when it changed.
    const bool tty = isatty(STDOUT_FILENO) != 0;
    int shown = -1;
    while (!stop.load()) {
        int changes;
        {
            std::lock_guard lock(shared.mutex);
            changes = shared.changes;
        }
        if (tty || changes != shown) {
            const std::string text = render(shared, a.json);
            if (tty && !a.json) std::cout << "\033[H\033[2J" << client.url().text() << "  " << utc_timestamp() << "\n\n";
            std::cout << text << (a.json || tty ? "" : "\n") << std::flush;
            shown = changes;
        }
        for (int i = 0; i < static_cast<int>(a.every * 20) && !stop.load(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return kExitInterrupted;
}

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("stats", "Every camera's mask compliance side by side, from an MQTT broker");
    auto a = std::make_shared<StatsArgs>();
    a->mqtt.add_to(cmd, "MQTT", "Broker the detectors publish to: mqtt://host[:1883] or mqtts://host[:8883]");
    cmd->add_flag("--once", a->once, "Print the current table (retained statistics) and exit");
    cmd->add_flag("--json", a->json, "JSON instead of a table (with --once: one document; live: one line per change)");
    cmd->add_option("--wait", a->wait, "With --once: seconds to wait for the broker")->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--every", a->every, "Seconds between refreshes of the live table")->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->callback([a, &exit_code] {
        if (a->mqtt.url.empty()) throw ConfigError("maskctl stats reads a broker: add --mqtt mqtt://host[:port]");
        a->mqtt.check();
        exit_code = run_stats(*a, install_stop_handler());
    });
}

const CommandRegistration registration{52, setup};

}  // namespace
}  // namespace maskctl::app
