#pragma once
// A private Mosquitto broker for tests and benchmarks: Debian's /usr/sbin/mosquitto listening on
// 127.0.0.1 at a free port, with a config file generated into its own folder. Real broker, real TCP;
// the object owns the process, so nothing outlives a failing test.
#include <filesystem>
#include <memory>
#include <string>

#include "maskctl/core/process.hpp"

namespace maskctl {

struct LocalBrokerOptions {
    int port = 0;              // 0: a free port chosen at start
    bool persistence = false;  // keep retained messages and sessions in the folder across restarts
    std::string password_file; // mosquitto_passwd file: logins required (no anonymous clients)
    std::string certfile, keyfile;  // TLS: the broker's certificate and key (PEM); url() is then mqtts://
};

class LocalBroker {
public:
    // The broker program: $MASKCTL_MOSQUITTO, else /usr/sbin/mosquitto; empty when not installed.
    static std::filesystem::path program();

    // Starts the broker with its config, log and database in `dir` (created) and waits until it
    // accepts connections. Throws Error with the end of its log when it does not within 10 s.
    LocalBroker(std::filesystem::path dir, LocalBrokerOptions options = {});
    ~LocalBroker();

    // Stops it (SIGTERM, as a service manager would; the database is saved when persistent).
    void stop();
    // Starts it again on the same port.
    void start();

    bool running() const { return process_ != nullptr; }
    int port() const { return options_.port; }
    std::string url() const;  // mqtt://127.0.0.1:<port> (mqtts:// with TLS)
    const std::filesystem::path& log() const { return log_; }

private:
    std::filesystem::path dir_, log_;
    LocalBrokerOptions options_;
    std::unique_ptr<ChildProcess> process_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_local_port();

}  // namespace maskctl
