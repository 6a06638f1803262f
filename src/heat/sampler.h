// The heat sampler: DAMON-style adaptive regions over the heap image.
//
// Every interval (Tick) the access source checks one page per region. Every
// `aggregation_ms` (a window) each region's share of touched
// samples becomes the heat of its extents (an average with the previous
// window, so one quiet window does not make hot data cold), regions are
// rebuilt — neighbouring extents of one tier with similar heat merge, then
// regions split at random points while there are fewer than half the
// maximum — and the window starts over. The tiering loop reads the heat of
// each extent (0..kHeatMax: touched samples per thousand).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "heap/tiered_heap.h"
#include "heat/access_source.h"
#include "heat/region.h"

namespace tiermem::heat {

inline constexpr uint16_t kHeatMax = 1000;
inline constexpr int kHeatBuckets = 10;  // histogram of heat, by extents

struct SamplerConfig {
  uint32_t aggregation_ms = 1000;  // a window
  uint32_t min_regions = 10;
  uint32_t max_regions = 200;
};

class HeatSampler {
 public:
  // Takes the source; false if the per-extent tables cannot be mapped.
  bool Init(heap::TieredHeap* heap, std::unique_ptr<AccessSource> source, const SamplerConfig& config);

  // One sampling interval. Returns true when it closed a window (fresh heat).
  bool Tick(uint64_t now_ms);

  uint16_t heat(size_t slot) const { return heat_[slot].load(std::memory_order_relaxed); }
  // Windows since the extent's heat last changed much (DAMON's "age").
  uint16_t age(size_t slot) const { return age_[slot]; }
  // In a forked child: probes armed by the parent mean nothing here.
  void AfterFork();
  // tiermem_hint: a program's word on an extent, taken as a measurement.
  void Hint(size_t slot, bool hot);

  size_t region_count() const { return regions_.size(); }
  uint64_t windows() const { return windows_; }
  uint64_t cpu_ns() const { return cpu_ns_; }
  // Extents per heat bucket ([0,100), [100,200) ... per mille) at the last window.
  const uint64_t* histogram() const { return histogram_; }
  const char* source_name() const { return source_->name(); }

 private:
  void Aggregate();
  void Rebuild();
  void Extend();
  void AppendRegions(size_t from, size_t to, uint16_t distance);
  void Split();
  bool Sampleable(size_t slot) const;

  heap::TieredHeap* heap_ = nullptr;
  std::unique_ptr<AccessSource> source_;
  SamplerConfig config_;
  std::vector<Region> regions_;
  // Per slot of the image, mmap-ed and touched sparsely like the ledger.
  // Heat is atomic because tiermem_hint writes it from program threads.
  std::atomic<uint16_t>* heat_ = nullptr;
  uint16_t* age_ = nullptr;
  uint64_t window_start_ms_ = 0;
  size_t covered_ = 0;  // slots the regions were built over
  uint64_t windows_ = 0;
  uint64_t cpu_ns_ = 0;
  uint64_t histogram_[kHeatBuckets] = {};
  uint64_t rng_ = 0x2545f4914f6cdd1dull;
};

}  // namespace tiermem::heat
