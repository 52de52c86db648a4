// maskctl config: show the resolved config, check a file, print the key reference.
#include <iostream>

#include "command.hpp"
#include "config_options.hpp"

namespace maskctl::app {
namespace {

void setup(CLI::App& parent, int& exit_code) {
    auto* config = parent.add_subcommand("config", "Show, check and document run configs");
    config->require_subcommand(1);

    auto* show = config->add_subcommand("show", "Print the resolved config (defaults + file + --set) as JSON");
    auto show_opts = std::make_shared<ConfigOptions>();
    show_opts->add_to(show);
    show->callback([show_opts, &exit_code] {
        std::cout << show_opts->load_json().dump(2) << "\n";
        exit_code = kExitOk;
    });

    auto* check = config->add_subcommand("check", "Validate a config file (exit 0 when valid, 2 otherwise)");
    auto check_opts = std::make_shared<ConfigOptions>();
    check->add_option("file", check_opts->file, "Config file")->required()->check(CLI::ExistingFile);
    check->add_option("--set", check_opts->overrides, "Override a config key (repeatable)");
    check->callback([check_opts, &exit_code] {
        check_opts->load();
        std::cout << check_opts->file << ": ok\n";
        exit_code = kExitOk;
    });

    auto* keys = config->add_subcommand("keys", "Print every config key with its default as a Markdown table");
    keys->callback([&exit_code] {
        std::cout << config_reference_markdown();
        exit_code = kExitOk;
    });
}

const CommandRegistration registration{10, setup};

}  // namespace
}  // namespace maskctl::app
