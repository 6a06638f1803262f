// `tiermem`: inspect the machine's memory tiers, check policies, run
// programs under the tiering preload, and read a running process's stats.
#include <iostream>
#include <string_view>
#include <vector>

#include "commands.h"

namespace {

// `tiermem run [OPTIONS] -- CMD ARGS...`: everything after the first "--"
// is the command, never options of ours. Cuts argc there and returns it.
std::vector<std::string> TakeCommandAfterDash(int* argc, char** argv) {
  std::vector<std::string> command;
  if (*argc < 2 || std::string_view(argv[1]) != "run") return command;
  for (int i = 2; i < *argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      command.assign(argv + i + 1, argv + *argc);
      *argc = i;
      break;
    }
  }
  return command;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tiermem::cli;
  std::vector<std::string> command_after_dash = TakeCommandAfterDash(&argc, argv);
  CLI::App app{
      "tiermem: run unmodified programs on tiered memory (DRAM, CXL, PMEM, NVMe).\n"
      "Large allocations go to the fastest tier with room; hot data is kept in DRAM."};
  app.name("tiermem");
  app.require_subcommand(1);

  Runner run;
  AddTiersCommand(app, &run);
  AddCheckCommand(app, &run);
  AddRunCommand(app, &run, std::move(command_after_dash));
  AddStatCommand(app, &run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints the help of the chosen subcommand, exits 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "tiermem: " << e.what() << " (see tiermem --help)\n";
    return kExitUsage;
  }
  return run();
}
