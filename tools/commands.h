// The subcommands of the `tiermem` CLI. Each Add*Command registers its
// subcommand and options on `app`; if the user picks it, *run is set to the
// function main() calls once parsing is done, whose result is the exit code.
//
// Exit codes: 0 success, 1 the command failed, 2 usage or policy error;
// `run` exits with the status of the program it ran.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace tiermem::cli {

using Runner = std::function<int()>;

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void AddTiersCommand(CLI::App& app, Runner* run);
void AddCheckCommand(CLI::App& app, Runner* run);
// `command_after_dash`: argv after the first "--", which main() keeps from
// CLI11 (whose subcommands hand "--" to the parent, which then rejects it).
void AddRunCommand(CLI::App& app, Runner* run, std::vector<std::string> command_after_dash);
void AddStatCommand(CLI::App& app, Runner* run);

}  // namespace tiermem::cli
