// Reading a process's stats page (src/runtime/stats_page.h): finding its
// memfd through /proc/PID/fd, and copying it into a plain snapshot.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tiermem::cli {

struct TierSnapshot {
  std::string name;
  std::string kind;
  uint64_t budget = 0;  // 0 = unlimited
  uint64_t live_bytes = 0;
  uint64_t resident_bytes = 0;
  uint64_t file_bytes = 0;
  uint64_t extents = 0;
  uint64_t allocations = 0;
  uint64_t spills_in = 0;
  uint64_t evicted_bytes = 0;
  uint64_t peak_live_bytes = 0;
  uint64_t placed_bytes = 0;
};

// Heat and migration (stats_page.h, versions 2 and 3).
struct MoveSnapshot {
  bool tiering_enabled = false;
  uint64_t promotions = 0, demotions = 0, promoted_bytes = 0, demoted_bytes = 0;
  uint64_t failed_moves = 0, aborted_stops = 0;
  uint64_t pauses = 0, pause_total_us = 0, pause_max_us = 0;
  uint64_t fault_moves = 0, fault_waits = 0, fault_hold_total_us = 0, fault_hold_max_us = 0;
  std::vector<uint64_t> pause_histogram;  // runtime::kPauseBucketsUs bounds, then the rest
  uint64_t mover_cpu_ns = 0, sampler_cpu_ns = 0;
  uint64_t sampler_regions = 0, heat_windows = 0;
  std::vector<uint64_t> heat_histogram;   // extents per tenth of heat, coldest first
};

struct StatsSnapshot {
  pid_t pid = 0;
  uint64_t extent_size = 0;
  uint64_t image_size = 0;
  std::string policy_source;
  std::string policy_name;
  uint64_t untiered_bytes = 0;  // live small allocations, always in DRAM
  uint64_t failed_allocations = 0;
  bool dram_only = false;       // bad policy or no usable tier: DRAM only
  uint64_t forks = 0;
  std::vector<TierSnapshot> tiers;
  MoveSnapshot moves;
};

enum class PageStatus {
  kOk,
  kNotStarted,    // magic still zero: no runtime ever filled the page
  kUnreadable,    // short read, bad magic or unknown version (see *error)
};

// Copies the page from `fd` (a memfd of sizeof(StatsPage) bytes).
PageStatus ReadStatsPage(int fd, StatsSnapshot* out, std::string* error);

enum class FindStatus {
  kFound,
  kNoProcess,
  kPermissionDenied,  // another user's process (the kernel allows only owner or root)
  kNotTiermem,        // no memfd:tiermem-stats among its open files
};

// Opens (read-only) the stats memfd that process `pid` holds.
FindStatus OpenProcessStats(pid_t pid, int* fd);

// Whether process `pid` still exists.
bool ProcessExists(pid_t pid);

}  // namespace tiermem::cli
