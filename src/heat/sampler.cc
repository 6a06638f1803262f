#include "heat/sampler.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>

namespace tiermem::heat {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Neighbours whose heat differs by at most this much (per mille) merge.
constexpr uint16_t kMergeDistance = 100;
// A change of heat larger than this resets an extent's age.
constexpr uint16_t kAgeResetDistance = 200;

uint16_t Distance(uint16_t a, uint16_t b) { return a > b ? a - b : b - a; }

}  // namespace

bool HeatSampler::Init(heap::TieredHeap* heap, std::unique_ptr<AccessSource> source, const SamplerConfig& config) {
  heap_ = heap;
  source_ = std::move(source);
  config_ = config;
  if (config_.min_regions == 0) config_.min_regions = 1;
  if (config_.max_regions < 2 * config_.min_regions) config_.max_regions = 2 * config_.min_regions;
  const size_t slots = heap->image().slot_count();
  void* table = mmap(nullptr, slots * 2 * sizeof(uint16_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (table == MAP_FAILED) return false;
  heat_ = static_cast<std::atomic<uint16_t>*>(table);
  age_ = reinterpret_cast<uint16_t*>(heat_ + slots);
  regions_.reserve(config_.max_regions + 1);
  return true;
}

bool HeatSampler::Sampleable(size_t slot) const {
  return heap_->image().state(slot) == heap::SlotState::kShared;
}

bool HeatSampler::Tick(uint64_t now_ms) {
  const uint64_t start = ThreadCpuNs();
  if (window_start_ms_ == 0) window_start_ms_ = now_ms;
  if (heap_->image().carved() != covered_) Extend();
  if (!regions_.empty()) source_->Sample(regions_.data(), regions_.size());
  bool closed = false;
  if (now_ms - window_start_ms_ >= config_.aggregation_ms) {
    Aggregate();
    Rebuild();
    Split();
    window_start_ms_ = now_ms;
    ++windows_;
    closed = true;
  }
  cpu_ns_ += ThreadCpuNs() - start;
  return closed;
}

void HeatSampler::Aggregate() {
  uint64_t histogram[kHeatBuckets] = {};
  for (const Region& r : regions_) {
    if (r.samples == 0) continue;
    const auto measured = static_cast<uint16_t>(r.accesses * kHeatMax / r.samples);
    for (size_t s = r.first; s < r.end; ++s) {
      const uint16_t before = heat(s);
      heat_[s].store(static_cast<uint16_t>((before + measured + 1) / 2), std::memory_order_relaxed);
      age_[s] = Distance(before, measured) > kAgeResetDistance ? 0 : static_cast<uint16_t>(std::min(age_[s] + 1, 65535));
    }
  }
  const size_t carved = heap_->image().carved();
  for (size_t s = 0; s < carved; ++s) {
    if (!Sampleable(s)) continue;
    histogram[std::min<int>(heat(s) * kHeatBuckets / (kHeatMax + 1), kHeatBuckets - 1)]++;
  }
  std::copy(histogram, histogram + kHeatBuckets, histogram_);
}

// Regions from scratch: runs of sampleable extents on one tier whose heat
// stays within kMergeDistance of the run's first (DAMON's merge), each no
// larger than carved/min_regions extents. If that gives too many regions,
// merge more coarsely.
void HeatSampler::Rebuild() {
  const heap::HeapImage& image = heap_->image();
  const size_t carved = image.carved();
  uint16_t distance = kMergeDistance;
  for (;;) {
    regions_.clear();
    AppendRegions(0, carved, distance);
    covered_ = carved;
    if (regions_.size() <= config_.max_regions || distance >= kHeatMax) break;
    distance = static_cast<uint16_t>(distance * 2);
  }
}

// Regions over slots [from, to): runs of sampleable extents on one tier
// whose heat stays within `distance` of the run's first, each at most
// carved/min_regions extents.
void HeatSampler::AppendRegions(size_t from, size_t to, uint16_t distance) {
  const heap::HeapImage& image = heap_->image();
  const size_t max_len = std::max<size_t>(1, image.carved() / config_.min_regions);
  size_t s = from;
  while (s < to) {
    if (!Sampleable(s)) {
      ++s;
      continue;
    }
    const uint8_t tier = image.tier(s);
    size_t end = s + 1;
    while (end < to && end - s < max_len && Sampleable(end) && image.tier(end) == tier &&
           Distance(heat(end), heat(s)) <= distance) {
      ++end;
    }
    regions_.push_back(Region{s, end, tier, 0, 0, 0, Probe::kNone, false, 0});
    s = end;
  }
}

// Extents carved since the last rebuild get regions of their own at once
// (cut like a rebuild would), so new data is measured from its first window.
void HeatSampler::Extend() {
  const size_t carved = heap_->image().carved();
  AppendRegions(covered_, carved, kHeatMax);  // new extents have no heat yet
  covered_ = carved;
}

// DAMON's split: while regions are few, cut each multi-extent region at a
// random point, so differences inside it can show in the next window.
void HeatSampler::Split() {
  const size_t n = regions_.size();
  for (size_t i = 0; i < n && regions_.size() < config_.max_regions / 2; ++i) {
    Region& r = regions_[i];
    if (r.end - r.first < 2) continue;
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const size_t cut = r.first + 1 + rng_ % (r.end - r.first - 1);
    Region tail = r;
    tail.first = cut;
    r.end = cut;
    regions_.push_back(tail);
  }
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.first < b.first; });
}

void HeatSampler::AfterFork() {
  source_->AfterFork();
  regions_.clear();
  window_start_ms_ = 0;
  covered_ = 0;
}

void HeatSampler::Hint(size_t slot, bool hot) {
  if (slot >= heap_->image().slot_count()) return;
  heat_[slot].store(hot ? kHeatMax : 0, std::memory_order_relaxed);
  age_[slot] = 0;
}

}  // namespace tiermem::heat
