// The policy: which tiers a process may use, in which order, with which
// budgets, and how allocations are placed on them. Produced by the parser
// (policy_parser.h) from a TOML file, validated, and consumed read-only by
// the heap and the CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tiermem::config {

enum class TierKind : uint8_t { kDram, kCxl, kPmem, kNvme };

// Limits the parser enforces; the layers above size their tables by them.
inline constexpr size_t kMaxTiers = 8;                  // runtime::kMaxTiers must match
inline constexpr size_t kMaxTierNameLength = 31;        // fits the stats page's char[32]
inline constexpr uint64_t kMinExtentSize = 64ull << 10;
inline constexpr uint64_t kMaxExtentSize = 1ull << 30;
inline constexpr uint64_t kMinImageSize = 1ull << 30;
inline constexpr uint64_t kMaxImageSize = 64ull << 40;  // well inside the 128 TiB user address space
inline constexpr uint64_t kMinTieredMinSize = 16ull << 10;
inline constexpr uint32_t kMaxPurgeDelayMs = 600000;
inline constexpr uint32_t kMinWritebackIntervalMs = 1;
inline constexpr uint32_t kMaxWritebackIntervalMs = 10000;
inline constexpr int kMaxNumaNode = 1023;               // Linux MAX_NUMNODES is at most 1024

const char* TierKindName(TierKind kind);  // "dram", "cxl", "pmem", "nvme"

// One tier, as written in the policy. Memory tiers (dram, cxl, pmem with
// nodes) are NUMA nodes; file tiers (nvme, pmem with path) are directories
// in which the runtime opens a private O_TMPFILE backing file.
struct TierSpec {
  std::string name;                 // unique, [a-z0-9_-]+
  TierKind kind = TierKind::kDram;
  std::vector<int> nodes;           // NUMA nodes; empty = discover from topology
  std::string path;                 // directory for file tiers
  std::optional<uint64_t> budget;   // bytes; nullopt = unlimited
  int line = 0;                     // where the tier was declared (for messages)

  bool IsFileTier() const { return kind == TierKind::kNvme || (kind == TierKind::kPmem && !path.empty()); }
};

// How copies between a memory tier and a file tier hold the program's
// threads (src/migrate): userfaultfd where the process may use it, else
// the stop-the-world signal; or always the signal.
enum class MoveEngineChoice : uint8_t { kAuto, kUserfaultfd, kSignal };

// [tiering]: the heat sampler and the tiering loop (src/heat, src/tiering).
struct TieringSpec {
  // Off by default for now: with moves at a memory cgroup's limit the job
  // was OOM-killed in 1 of 2-3 runs (cgroup_oom.sh, bench pandas_etl), which
  // the same job without moves never is. TIERMEM_TIERING=on or
  // `enabled = true` turns them on.
  bool enabled = false;
  uint32_t high_watermark_pct = 95;    // of the DRAM budget: above it, cold extents move down
  uint32_t low_watermark_pct = 85;     // ... until DRAM is under this
  uint64_t promote_rate = 512ull << 20;  // bytes per second moved up, at most
  uint64_t demote_rate = 512ull << 20;   // bytes per second moved down, at most
  uint32_t min_residency_ms = 3000;    // an extent that moved stays at least this long
  uint32_t hot_threshold = 100;        // per mille of samples touched: worth promoting
  uint32_t hysteresis = 50;            // per mille: a swap needs this much more heat
  uint32_t aggregation_ms = 1000;      // heat window
  uint32_t min_regions = 10;           // sampler regions (DAMON-style)
  uint32_t max_regions = 200;
  uint32_t max_pause_ms = 10;          // target bound on one stop-the-world pause
  MoveEngineChoice move_engine = MoveEngineChoice::kAuto;
};

struct Policy {
  std::string source;               // file name, or "<built-in default>"
  std::string name;                 // [policy] name
  uint64_t extent_size = 2ull << 20;        // bytes, power of two, >= 64 KiB
  uint64_t image_size = 1ull << 40;         // virtual size of the heap image
  uint64_t tiered_min_size = 256ull << 10;  // allocations this large are placed by the policy
  std::vector<TierSpec> tiers;      // fastest first; allocations spill down this order
  bool strict = false;              // on a bad policy: exit instead of running DRAM-only
  uint32_t purge_delay_ms = 1000;   // how long freed tiered memory stays mapped before it is punched
  uint32_t writeback_interval_ms = 50;  // file-tier page-cache governor period, and heat sampling interval
  bool file_readahead = true;       // false: MADV_RANDOM on file tiers (random access, e.g. GUPS)
  TieringSpec tiering;
};

}  // namespace tiermem::config
