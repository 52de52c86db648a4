#pragma once
// The broker flags shared by `detect --mqtt` and `stats --mqtt`: URL, login, TLS, client id, prefix.
#include <string>

#include <CLI/CLI.hpp>

#include "maskctl/fleet/mqtt_client.hpp"

namespace maskctl::app {

struct MqttArgs {
    std::string url, user, password_file, ca, client_id, prefix = "maskctl";

    void add_to(CLI::App* cmd, const std::string& group, const std::string& url_help) {
        auto* g = cmd->add_option_group(group, "Broker connection (docs/fleet.md)");
        g->add_option("--mqtt", url, url_help);
        g->add_option("--mqtt-user", user, "User name for the broker");
        g->add_option("--mqtt-password-file", password_file, "File whose first line is the password");
        g->add_option("--mqtt-ca", ca, "CA certificate (PEM) to trust for mqtts://");
        g->add_option("--mqtt-client-id", client_id, "MQTT client id");
        g->add_option("--mqtt-prefix", prefix, "First topic level")->capture_default_str();
    }

    // Checks what can be checked without the network (URL, prefix); throws ConfigError.
    void check() const {
        parse_mqtt_url(url);
        check_topic_level(prefix, "--mqtt-prefix");
    }

    // Reads the password file; throws ConfigError naming it.
    MqttOptions options() const {
        MqttOptions o;
        o.url = url;
        o.user = user;
        if (!password_file.empty()) o.password = read_password_file(password_file);
        o.ca_file = ca;
        o.client_id = client_id;
        return o;
    }
};

}  // namespace maskctl::app
