#include "maskctl/fleet/broker.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

bool accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    const sockaddr_in a = loopback(port);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string tail(const std::filesystem::path& file, size_t chars) {
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.size() > chars ? text.substr(text.size() - chars) : text;
}

}  // namespace

int free_local_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw IoError("cannot open a socket to find a free port");
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    ::close(fd);
    if (!ok) throw IoError("cannot find a free port on 127.0.0.1");
    return ntohs(a.sin_port);
}

std::filesystem::path LocalBroker::program() {
    if (const char* env = std::getenv("MASKCTL_MOSQUITTO"); env && *env) return env;
    const std::filesystem::path debian = "/usr/sbin/mosquitto";
    return std::filesystem::exists(debian) ? debian : std::filesystem::path();
}

LocalBroker::LocalBroker(std::filesystem::path dir, LocalBrokerOptions options)
    : dir_(std::move(dir)), log_(dir_ / "mosquitto.log"), options_(std::move(options)) {
    if (program().empty()) throw Error("mosquitto is not installed (Debian: apt-get install mosquitto)");
    std::filesystem::create_directories(dir_);
    if (options_.port == 0) options_.port = free_local_port();
    start();
}

LocalBroker::~LocalBroker() { stop(); }

std::string LocalBroker::url() const {
    return fmt::format("{}://127.0.0.1:{}", options_.certfile.empty() ? "mqtt" : "mqtts", options_.port);
}

void LocalBroker::start() {
    if (process_) return;
    const auto conf = dir_ / "mosquitto.conf";
    std::ofstream out(conf, std::ios::trunc);
    out << fmt::format("listener {} 127.0.0.1\n", options_.port);
    // Started as root, mosquitto would switch to the "mosquitto" user, who cannot write our folder.
    if (::geteuid() == 0) out << "user root\n";
    if (options_.password_file.empty()) out << "allow_anonymous true\n";
    else out << "allow_anonymous false\npassword_file " << options_.password_file << "\n";
    if (!options_.certfile.empty())
        out << "certfile " << options_.certfile << "\nkeyfile " << options_.keyfile << "\n";
    if (options_.persistence)
        out << "persistence true\npersistence_location " << (dir_ / "").string() << "\nautosave_interval 1\n";
    // Tests park thousands of QoS 1 messages for a subscriber that reconnects (default limit 1000).
    out << "max_queued_messages 100000\n";
    out << "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n";
    out.close();
    if (!out) throw IoError(fmt::format("{}: cannot write the broker config", conf.string()));

    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{program().string(), "-c", conf.string()}, log_);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts(options_.port)) {
        if (!process_->running() || std::chrono::steady_clock::now() > end) {
            process_.reset();
            throw Error(fmt::format("mosquitto did not start on port {}: {}", options_.port, tail(log_, 400)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void LocalBroker::stop() {
    if (!process_) return;
    process_->stop(SIGTERM, 5.0);
    process_.reset();
}

}  // namespace maskctl
