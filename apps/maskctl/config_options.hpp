#pragma once
// The --config FILE and --set key=value flags shared by every subcommand that reads a run config.
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "maskctl/core/config.hpp"

namespace maskctl::app {

struct ConfigOptions {
    std::string file;
    std::vector<std::string> overrides;

    // `default_file` is used when --config is not given (empty = built-in defaults).
    void add_to(CLI::App* cmd, const std::string& default_file = "") {
        file = default_file_ = default_file;
        cmd->add_option("-c,--config", file, "Run config (JSON); see docs/config.md")
            ->check(CLI::ExistingFile);
        cmd->add_option("--set", overrides, "Override a config key, e.g. --set train.epochs=5 (repeatable)")
            ->take_all()
            ->allow_extra_args(false);
    }

    nlohmann::json load_json() const { return load_config_json(resolved_file(), overrides); }
    Config load() const { return load_config(resolved_file(), overrides); }

private:
    std::string default_file_;

    // The default file holds the built-in defaults; outside the repo (no such file) use them directly.
    std::string resolved_file() const {
        if (file == default_file_ && !default_file_.empty() && !std::filesystem::exists(file)) return "";
        return file;
    }
};

}  // namespace maskctl::app
