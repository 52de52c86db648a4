#pragma once
// A connection to an MQTT broker (libmosquitto) that never makes its caller wait for the network.
//
// publish() puts a message in a bounded queue and returns. One network thread of our own owns the
// libmosquitto handle: it connects (and reconnects with a doubling delay), hands queued messages to
// libmosquitto in order with at most `max_inflight` unacknowledged, and removes each one when the
// broker acknowledges it (QoS 1). While the broker is away the queue fills up to `queue_size`; then the
// oldest message not yet handed over is dropped and counted. Messages handed over but not
// acknowledged when the connection drops are re-sent by libmosquitto after the reconnect (same
// message id, DUP flag), before anything newer: the order holds.
//
// A wrong host, a refused login or a lost connection is reported once through `on_status` (one line)
// and retried; nothing here throws after the constructor.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace maskctl {

struct MqttUrl {
    std::string host;
    int port = 1883;
    bool tls = false;
    std::string text() const;  // mqtt://host:port or mqtts://host:port
};

// mqtt://host[:port] (1883) or mqtts://host[:port] (TLS, 8883). Throws ConfigError naming the URL.
MqttUrl parse_mqtt_url(const std::string& url);

// The first line of a password file, without its line end. Throws ConfigError naming the file when
// it cannot be read or is empty.
std::string read_password_file(const std::string& file);

// A topic level must not hold '/', '+', '#' or control characters; throws ConfigError naming `what`.
void check_topic_level(const std::string& level, const std::string& what);

struct MqttMessage {
    std::string topic, payload;
    bool retain = false;
};

struct MqttOptions {
    std::string url;                 // mqtt://host:1883 | mqtts://host:8883
    std::string client_id;           // empty: libmosquitto makes one up
    bool clean_session = true;       // false (with a client id): the broker keeps our subscriptions
                                     // and queues QoS 1 messages for us while we are away
    std::string user, password;
    std::string ca_file;             // TLS: trust this CA (mqtts:// without it: the system's CAs)
    int keepalive = 30;              // seconds
    std::size_t queue_size = 1000;   // messages waiting for the broker, in flight included
    int max_inflight = 20;           // sent, not yet acknowledged
    double reconnect_min = 0.5, reconnect_max = 30;  // seconds; doubled after each failed attempt
    double connect_timeout = 10;     // seconds without a CONNACK before trying again
    std::optional<MqttMessage> will; // published by the broker when we vanish without a goodbye
    std::vector<MqttMessage> birth;  // sent first on every connection (e.g. "online" after the will)
    std::vector<std::string> subscribe;                  // topic filters (QoS 1), renewed on each connect
    std::function<void(const MqttMessage&)> on_message;  // called on the network thread
    std::function<void(const std::string&)> on_status;   // one line per change of state (network thread)
};

struct MqttCounters {
    std::int64_t accepted = 0;   // publish() calls and birth messages
    std::int64_t delivered = 0;  // acknowledged by the broker
    std::int64_t dropped = 0;    // thrown away because the queue was full
    std::int64_t replaced = 0;   // latest-only messages superseded before they were sent
    std::int64_t waiting = 0;    // in the queue now, in flight included
    std::int64_t received = 0;   // messages from subscriptions
    int connects = 0;            // successful connections, the first included
    bool connected = false;
    std::string last_error;      // the last problem reported, empty when none
};

class MqttClient {
public:
    // Starts the network thread, which connects in the background. Throws ConfigError for a bad URL,
    // a missing CA file or an out-of-range option (nothing here waits for the network).
    explicit MqttClient(MqttOptions options);
    ~MqttClient();  // close(0)
    MqttClient(const MqttClient&) = delete;
    MqttClient& operator=(const MqttClient&) = delete;

    // Queues a QoS 1 message and returns at once. `latest_only` (retained state such as statistics):
    // a queued message on the same topic that was not sent yet is replaced instead of kept.
    void publish(std::string topic, std::string payload, bool retain = false, bool latest_only = false);

    // Waits until connected or `seconds` have passed; true when connected.
    bool wait_connected(double seconds) const;

    // Waits up to `drain_seconds` for the queue to empty (reconnecting if needed), disconnects cleanly
    // (so the broker does not publish the will) and joins the network thread. Returns the messages left
    // undelivered. Later calls return the same.
    std::int64_t close(double drain_seconds);

    MqttCounters counters() const;
    const MqttUrl& url() const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace maskctl
