// maskctl: a thin CLI over the maskctl library. Subcommands register themselves (see command.hpp).
#include <algorithm>
#include <iostream>
#include <string>
#include <thread>
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

// The leading words of a command line that name subcommands ("maskctl data inspect"), and the first
// word that should have been one but is not (CLI11 only says "A subcommand is required").
struct CommandWords {
    std::string path = "maskctl";
    std::string unknown;  // e.g. "maskctl: unknown command 'frobnicate' (expected one of: config, ...)"
};

CommandWords command_words(const CLI::App& app, int argc, char** argv) {
    CommandWords out;
    const CLI::App* current = &app;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word.empty() || word[0] == '-') break;
        const auto subs = current->get_subcommands([](const CLI::App*) { return true; });
        if (subs.empty()) break;
        const auto it = std::find_if(subs.begin(), subs.end(), [&](const CLI::App* s) { return s->check_name(word); });
        if (it == subs.end()) {
            std::vector<std::string> names;
            for (const auto* s : subs) names.push_back(s->get_name());
            out.unknown = fmt::format("{}: unknown command '{}' (expected one of: {})", out.path, word, fmt::join(names, ", "));
            break;
        }
        current = *it;
        out.path += " " + word;
    }
    return out;
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
    // One line, as every other error; CLI11's own exit codes (105, 106, ...) all become kExitUsage below.
    app.failure_message([&](const CLI::App*, const CLI::Error& e) {
        return fmt::format("error: {} (see {} --help)\n", e.what(), command_words(app, argc, argv).path);
    });
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
        if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
        if (const std::string unknown = command_words(app, argc, argv).unknown; !unknown.empty()) {
            std::cerr << "error: " << unknown << "\n";
            return kExitUsage;
        }
        app.exit(e);
        return kExitUsage;
    } catch (const maskctl::Interrupted& e) {
        std::cerr << "\n" << e.what() << " (stopped by a signal; nothing half-written was left)\n";
        return kExitInterrupted;
    } catch (const maskctl::WriteError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitWriteFailed;
    } catch (const maskctl::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitInternal;
    }
    return exit_code;
}
