// Start-up settings from the environment. Read with secure_getenv, so a
// setuid or setgid program ignores them, as glibc does with its own
// MALLOC_* variables: nobody can point a privileged process's heap at a
// file or directory of their choosing.
#pragma once

#include <optional>
#include <string>

namespace tiermem::runtime {

struct Settings {
  std::optional<std::string> policy_path;  // TIERMEM_POLICY
  std::optional<std::string> dram_budget;  // TIERMEM_DRAM_BUDGET, a size
  std::optional<std::string> nvme_dir;     // TIERMEM_NVME_DIR
  int stats_fd = -1;                       // TIERMEM_STATS_FD: `tiermem run`'s report page
  bool strict = false;                     // TIERMEM_STRICT=1: exit on a bad policy
  bool verbose = false;                    // TIERMEM_VERBOSE=1
  bool disabled = false;                   // TIERMEM_DISABLE=1: no tiering at all
  std::optional<bool> tiering;             // TIERMEM_TIERING=on|off: heat and moves, over the policy
  std::string tiering_value;
  bool perf_heat = false;                  // TIERMEM_HEAT_SOURCE=perf: hardware address samples
  std::string move_engine;                 // TIERMEM_MOVE_ENGINE=auto|userfaultfd|signal
  bool force_moves = false;                // TIERMEM_FORCE_MOVES=1: random moves all the time (tests)               // what it said, for a warning when it is neither
};

Settings ReadSettings();

}  // namespace tiermem::runtime
