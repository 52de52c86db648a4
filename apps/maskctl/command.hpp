#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here, so adding a command
// never touches main.cpp.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace maskctl::app {

// Adds a subcommand to `parent`; the callback it installs runs the command and returns the exit code
// through the shared `exit_code` slot (CLI11 callbacks return void).
using CommandSetup = std::function<void(CLI::App& parent, int& exit_code)>;

struct CommandRegistration {
    // `order` sorts the subcommands in --help (lower first).
    CommandRegistration(int order, CommandSetup setup);
};

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;    // the command ran and the answer is "no" (e.g. gate mode)
inline constexpr int kExitUsage = 2;      // bad flags, bad config, bad input files
inline constexpr int kExitInterrupted = 130;

}  // namespace maskctl::app
