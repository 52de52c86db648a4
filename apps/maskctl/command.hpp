#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here, so adding a command
// never touches main.cpp.
#include <cstddef>
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

// Exit codes shared by all subcommands (the table in README.md and docs/reliability.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // the command ran and the answer is "no" (e.g. gate mode)
inline constexpr int kExitUsage = 2;        // bad flags, bad config, bad input files: nothing was done
inline constexpr int kExitNoFace = 3;       // detect --gate: no face to decide on
inline constexpr int kExitSkipped = 4;      // done, but some inputs were skipped (each reported with its reason)
inline constexpr int kExitWriteFailed = 5;  // an output could not be written; the previous file is left in place
inline constexpr int kExitInternal = 70;    // an unexpected error (a bug: please report it)
inline constexpr int kExitInterrupted = 130;  // SIGINT or SIGTERM

// kExitSkipped when `skipped` inputs were left out, else kExitOk.
inline int exit_code_for(std::size_t skipped) { return skipped > 0 ? kExitSkipped : kExitOk; }

}  // namespace maskctl::app
