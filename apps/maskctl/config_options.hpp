#pragma once
// The --config FILE and --set key=value flags shared by every subcommand that reads a run config.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "maskctl/config.hpp"

namespace maskctl::app {

struct ConfigOptions {
    std::string file;
    std::vector<std::string> overrides;

    // `default_file` is used when --config is not given (empty = built-in defaults).
    void add_to(CLI::App* cmd, const std::string& default_file = "") {
        file = default_file;
        cmd->add_option("-c,--config", file, "Run config (JSON); see docs/config.md")
            ->check(CLI::ExistingFile);
        cmd->add_option("--set", overrides, "Override a config key, e.g. --set train.epochs=5 (repeatable)")
            ->take_all()
            ->allow_extra_args(false);
    }

    nlohmann::json load_json() const { return load_config_json(file, overrides); }
    Config load() const { return load_config(file, overrides); }
};

}  // namespace maskctl::app
