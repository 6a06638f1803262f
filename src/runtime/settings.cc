#include "runtime/settings.h"

#include <cstdlib>
#include <cstring>

namespace tiermem::runtime {
namespace {

std::optional<std::string> Get(const char* name) {
  const char* value = secure_getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool IsTrue(const char* name) {
  const char* value = secure_getenv(name);
  return value != nullptr && (strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0);
}

}  // namespace

Settings ReadSettings() {
  Settings s;
  s.policy_path = Get("TIERMEM_POLICY");
  s.dram_budget = Get("TIERMEM_DRAM_BUDGET");
  s.nvme_dir = Get("TIERMEM_NVME_DIR");
  s.strict = IsTrue("TIERMEM_STRICT");
  s.verbose = IsTrue("TIERMEM_VERBOSE");
  s.disabled = IsTrue("TIERMEM_DISABLE");
  s.force_moves = IsTrue("TIERMEM_FORCE_MOVES");
  if (auto engine = Get("TIERMEM_MOVE_ENGINE")) s.move_engine = *engine;
  if (auto source = Get("TIERMEM_HEAT_SOURCE")) s.perf_heat = *source == "perf";
  if (auto tiering = Get("TIERMEM_TIERING")) {
    const char* v = tiering->c_str();
    if (strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0) s.tiering = true;
    else if (strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0) s.tiering = false;
    else s.tiering_value = *tiering;
  }
  if (auto fd = Get("TIERMEM_STATS_FD")) {
    char* end = nullptr;
    long v = strtol(fd->c_str(), &end, 10);
    if (end != nullptr && *end == '\0' && v >= 0 && v < (1 << 20)) s.stats_fd = static_cast<int>(v);
    // Left in the environment: the page goes to whichever process of the
    // command claims it first (report_page.h).
  }
  return s;
}

}  // namespace tiermem::runtime
