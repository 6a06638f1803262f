// The stats page: a versioned plain-old-data record each process keeps in a
// private memfd named "tiermem-stats". `tiermem stat PID` finds it through
// /proc/PID/fd, which the kernel opens only for the same user or root
// (ptrace read access), so no other user can read it. It vanishes with the
// process. Writers update fields with relaxed atomics; readers copy it and
// accept a torn snapshot of independent counters.
#pragma once

#include <atomic>
#include <cstdint>

namespace tiermem::runtime {

inline constexpr uint64_t kStatsMagic = 0x746965726d656d31ull;  // "tiermem1"
inline constexpr uint32_t kStatsVersion = 3;
inline constexpr int kMaxTiers = 8;
inline constexpr const char kStatsMemfdName[] = "tiermem-stats";
// Upper bounds of the pause histogram's buckets (the last takes the rest).
inline constexpr uint32_t kPauseBucketsUs[] = {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
inline constexpr int kPauseBuckets = 11;
inline constexpr int kHeatBuckets = 10;

struct TierStats {
  char name[32];
  char kind[8];                       // "dram", "cxl", "pmem", "nvme"
  std::atomic<uint64_t> budget;       // bytes, 0 = unlimited
  std::atomic<uint64_t> live_bytes;   // bytes of live allocations placed here
  std::atomic<uint64_t> resident_bytes;  // DRAM this tier costs now (memfd pages or page cache)
  std::atomic<uint64_t> file_bytes;   // allocated blocks of the backing file
  std::atomic<uint64_t> extents;      // image extents currently on this tier
  std::atomic<uint64_t> allocations;  // placements made on this tier
  std::atomic<uint64_t> spills_in;    // placements that landed here because a faster tier was full
  std::atomic<uint64_t> evicted_bytes;  // file tiers: page cache written back and dropped
  std::atomic<uint64_t> peak_live_bytes;  // most live bytes the tier held at once
  std::atomic<uint64_t> placed_bytes;   // sum of the sizes of all placements on the tier
};

struct StatsPage {
  uint64_t magic;
  uint32_t version;
  uint32_t tier_count;
  int32_t pid;
  uint32_t extent_size;
  uint64_t image_base;
  uint64_t image_size;
  char policy_source[256];
  char policy_name[64];
  std::atomic<uint64_t> untiered_bytes;     // live bytes below tiered_min_size, in jemalloc's own DRAM arenas
  std::atomic<uint64_t> failed_allocations; // every tier full: NULL/ENOMEM
  std::atomic<uint64_t> dram_only;          // 1: bad policy or no usable tier, the heap runs on DRAM only
  std::atomic<uint64_t> forks;
  std::atomic<uint64_t> update_ns;          // CLOCK_MONOTONIC of the last refresh
  TierStats tiers[kMaxTiers];

  // Heat and migration (version 2).
  std::atomic<uint64_t> tiering_enabled;    // 1: the sampler and the tiering loop run
  std::atomic<uint64_t> promotions;         // extents moved to a faster tier
  std::atomic<uint64_t> demotions;          // extents moved to a slower tier
  std::atomic<uint64_t> promoted_bytes;
  std::atomic<uint64_t> demoted_bytes;
  std::atomic<uint64_t> failed_moves;
  std::atomic<uint64_t> aborted_stops;      // a thread did not stop in time; retried later
  std::atomic<uint64_t> pauses;             // stop-the-world pauses
  std::atomic<uint64_t> pause_total_us;
  std::atomic<uint64_t> pause_max_us;
  std::atomic<uint64_t> pause_histogram[kPauseBuckets];  // bounds: kPauseBucketsUs
  std::atomic<uint64_t> mover_cpu_ns;
  std::atomic<uint64_t> sampler_cpu_ns;
  std::atomic<uint64_t> sampler_regions;
  std::atomic<uint64_t> heat_windows;
  std::atomic<uint64_t> heat_histogram[kHeatBuckets];  // extents per tenth of heat, coldest first

  // The userfaultfd engine (version 3): no pause; per moved extent, a
  // window in which only threads touching that extent wait.
  std::atomic<uint64_t> fault_moves;        // extents it moved
  std::atomic<uint64_t> fault_waits;        // faults that waited for a move
  std::atomic<uint64_t> fault_hold_total_us;
  std::atomic<uint64_t> fault_hold_max_us;
};

}  // namespace tiermem::runtime
