// The web page in a real browser: `maskctl serve` as a user starts it (the real binary, a real model,
// the demo clip as a looping live source), driven by Debian's headless Chromium through
// puppeteer-core (tests/browser/serve_page.mjs). Screenshots land in build/test-output/serve-browser/.
//
// scripts/test.sh installs Chromium and puppeteer-core; where it could not, it sets
// MASKCTL_SKIP_BROWSER=1 with its reason and this test says it was skipped. Without that variable a
// missing browser fails the test, so the browser check can never pass by not running.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "detect_model.hpp"
#include "maskctl/core/process.hpp"
#include "maskctl/fleet/broker.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using namespace maskctl::test;

TEST_CASE("serve page: upload a photo, watch a live source, read compliance in headless Chromium",
          "[serve][browser]") {
    const fs::path script = source_dir() / "tests/browser/serve_page.mjs";
    const fs::path modules = source_dir() / "tests/browser/node_modules/puppeteer-core";
    if (const char* why = std::getenv("MASKCTL_SKIP_BROWSER")) {
        WARN("browser test skipped: " << why);
        return;
    }
    REQUIRE(fs::exists("/usr/bin/chromium"));  // scripts/setup.sh --test-deps installs it
    REQUIRE(fs::exists(modules));              // scripts/test.sh runs npm ci in tests/browser

    const fs::path out = maskctl_binary().parent_path() / "test-output/serve-browser";
    fs::remove_all(out);
    fs::create_directories(out);
    const int port = free_local_port();
    ChildProcess server({maskctl_binary().string(), "serve", "-m", mask_model().string(), "--port",
                         std::to_string(port), "--source", "demo=" + (shared_dir() / "media/demo.mp4").string(),
                         "--loop"},
                        out / "serve.log");

    // The server loads its model before it listens: wait for the line it prints once it does.
    for (int i = 0; i < 600 && read_text(out / "serve.log").find("maskctl serve: http://") == std::string::npos; ++i) {
        REQUIRE(server.running());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string command = "node '" + script.string() + "' --url http://127.0.0.1:" + std::to_string(port) +
                                "/ --photo '" + (shared_dir() / "media/pic2.jpg").string() +
                                "' --source demo --out '" + out.string() + "' > '" + (out / "browser.log").string() +
                                "' 2>&1";
    const int status = std::system(command.c_str());
    const std::string seen = read_text(out / "browser.log");
    INFO("browser: " << seen);
    INFO("server: " << read_text(out / "serve.log"));
    CHECK(server.running());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    // What the user saw (the script's JSON line): faces with labels in the table, frames that kept
    // coming, the compliance windows.
    const auto j = nlohmann::json::parse(seen.substr(0, seen.find('\n')));
    CHECK(j.at("ok") == true);
    // pic2.jpg: the woman on the left wears no mask, the one in the middle does.
    REQUIRE(j.at("faces").size() >= 2);
    std::set<std::string> labels;
    for (const auto& row : j.at("faces")) {
        labels.insert(row.at(1).get<std::string>());
        CHECK(row.at(2).get<std::string>().find('%') != std::string::npos);
    }
    CHECK(labels.count("Mask") == 1);
    CHECK(labels.count("No Mask") == 1);
    CHECK(j.at("frames_later").get<int>() > j.at("frames_first").get<int>());
    CHECK(j.at("stream_size").at(0).get<int>() > 0);
    CHECK(j.at("state") == "running");
    CHECK(j.at("windows").size() >= 3);
    for (const char* shot : {"photo.png", "live.png", "compliance.png"}) {
        INFO(shot);
        REQUIRE(fs::exists(out / shot));
        CHECK(fs::file_size(out / shot) > 20'000);  // a rendered page, not a blank one
    }
    const int code = server.stop(SIGTERM, 10);  // graceful: not killed after the grace period
    CHECK((code == 0 || code == 130));
}
