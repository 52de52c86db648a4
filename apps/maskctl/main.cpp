// maskctl: a thin CLI over the maskctl library. Subcommands register themselves (see command.hpp).
#include <algorithm>
#include <thread>
#include <iostream>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "command.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/version.hpp"

namespace maskctl::app {
namespace {

std::vector<std::pair<int, CommandSetup>>& registry() {
    static std::vector<std::pair<int, CommandSetup>> commands;
    return commands;
}

}  // namespace

CommandRegistration::CommandRegistration(int order, CommandSetup setup) {
    registry().emplace_back(order, std::move(setup));
}

}  // namespace maskctl::app

int main(int argc, char** argv) {
    using namespace maskctl::app;
    // LibTorch starts with one compute thread on some machines (OpenMP sees one CPU); use them all.
    // Commands with a thread setting (train.threads) override this.
    torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    CLI::App app{"maskctl: face-mask detection, training and inference on the CPU"};
    app.require_subcommand(1);
    app.set_version_flag("--version",
                         fmt::format("maskctl {} ({})", maskctl::version(), maskctl::library_versions()));

    int exit_code = kExitOk;
    auto& commands = registry();
    std::stable_sort(commands.begin(), commands.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [order, setup] : commands) setup(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const maskctl::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitFailure;
    }
    return exit_code;
}
