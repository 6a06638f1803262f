// The tiering loop: after each heat window, decide which extents move.
//
// The DRAM tier's budget has two watermarks. Above the high one, the
// coldest DRAM extents move down until DRAM is under the low one. Lower-tier
// extents at least `hot_threshold` hot move up, hottest first, while DRAM
// stays under the high watermark; when it is full, a hot extent takes the
// place of a DRAM extent only if it is hotter by `hysteresis` (a swap).
// An extent that moved stays put for `min_residency_ms`, pinned extents
// never move, and the bytes moved each way are rate-limited. Together that
// keeps extents from ping-ponging between tiers. In a memory cgroup, a
// chunk of promotions waits until the cgroup has room for its transient
// (destination pages and the sources' page cache, twice the chunk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "heap/tiered_heap.h"
#include "heat/sampler.h"
#include "os/memory_cgroup.h"
#include "tiering/rate_limiter.h"

namespace tiermem::tiering {

struct TieringConfig {
  uint32_t high_watermark_pct = 95;
  uint32_t low_watermark_pct = 85;
  uint64_t promote_bytes_per_s = 512ull << 20;
  uint64_t demote_bytes_per_s = 512ull << 20;
  uint32_t min_residency_ms = 3000;
  uint16_t hot_threshold = 100; // per mille of samples touched
  uint16_t hysteresis = 50;     // per mille
};

struct TieringCounters {
  uint64_t steps = 0;
  uint64_t rate_limited = 0;  // steps that stopped at a rate limit
};

class TieringLoop {
 public:
  bool Init(heap::TieredHeap* heap, const heat::HeatSampler* sampler, const TieringConfig& config);
  // One decision round, after a heat window closed.
  void Step(uint64_t now_ms);
  // Testing aid (TIERMEM_FORCE_MOVES=1): every interval, move a few random
  // extents to another tier regardless of heat, watermarks, residency and
  // rates, so that programs run with moves under way all the time.
  void ForceMoves();
  const TieringCounters& counters() const { return counters_; }

 private:
  bool Movable(size_t slot, uint64_t now_ms) const;
  uint64_t Live(size_t slot) const;
  // Moves `slots` down, to the first lower tier with room for each, or up
  // to DRAM; returns the first error (-EAGAIN: the world would not stop).
  int Demote(std::vector<size_t>& slots, uint64_t now_ms);
  int Promote(std::vector<size_t>& slots, uint64_t now_ms);
  void MarkMovedTo(const std::vector<size_t>& slots, int to, bool down, uint64_t now_ms);

  heap::TieredHeap* heap_ = nullptr;
  const heat::HeatSampler* sampler_ = nullptr;
  // Promotions charge the destination before the source is freed; in a
  // memory cgroup at its limit that is what got jobs OOM-killed.
  os::MemoryCgroup cgroup_;
  TieringConfig config_;
  RateLimiter promote_limit_, demote_limit_;
  uint32_t* moved_at_ = nullptr;  // per slot: ms clock (mod 2^32) of its last move, 0 = never
  std::vector<size_t> cold_, hot_, demote_, promote_;
  TieringCounters counters_;
  uint64_t rng_ = 0x853c49e6748fea9bull;
};

}  // namespace tiermem::tiering
