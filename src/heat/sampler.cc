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
  void* table = mmap(nullptr, slots * (2 * sizeof(uint16_t) + sizeof(uint8_t)), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (table == MAP_FAILED) return false;
  heat_ = static_cast<std::atomic<uint16_t>*>(table);
  age_ = reinterpret_cast<uint16_t*>(heat_ + slots);
  flags_ = reinterpret_cast<uint8_t*>(age_ + slots);
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
  // A window after a big change is shorter: it only has to tell the hot
  // extents of a changed region from the cold ones, and promotions wait
  // for it.
  const uint32_t window_ms = refine_ ? std::max<uint32_t>(config_.aggregation_ms / 4, 1) : config_.aggregation_ms;
  if (now_ms - window_start_ms_ >= window_ms) {
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
  refine_ = false;
  for (const Region& r : regions_) {
    if (r.samples == 0) continue;
    const auto measured = static_cast<uint16_t>(r.accesses * kHeatMax / r.samples);
    const bool coarse = r.end - r.first > fine_len_;
    for (size_t s = r.first; s < r.end; ++s) {
      const uint16_t before = heat(s);
      const uint16_t change = Distance(before, measured);
      heat_[s].store(static_cast<uint16_t>((before + measured + 1) / 2), std::memory_order_relaxed);
      age_[s] = change > kAgeResetDistance ? 0 : static_cast<uint16_t>(std::min(age_[s] + 1, 65535));
      // More than the merge distance: neighbours that stayed would no
      // longer merge with it, so the region is likely split in kind.
      const bool changed = change > kMergeDistance;
      flags_[s] = static_cast<uint8_t>((changed ? kChanged : 0) | (coarse ? kCoarse : 0));
      refine_ |= changed && coarse;
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
// larger than carved/min_regions extents, and no larger than kFineExtents
// where the heat just changed. If that gives too many regions, the
// runs that did not change merge more coarsely first: the changed ones are
// where the next window's measurement matters.
void HeatSampler::Rebuild() {
  const heap::HeapImage& image = heap_->image();
  const size_t carved = image.carved();
  uint16_t distance = kMergeDistance;
  size_t changed_len = kFineExtents;
  for (;;) {
    regions_.clear();
    AppendRegions(0, carved, distance, changed_len);
    covered_ = carved;
    if (regions_.size() <= config_.max_regions || changed_len >= carved) break;
    if (distance < kHeatMax) {
      distance = static_cast<uint16_t>(distance * 2);
    } else {
      changed_len *= 2;
    }
  }
  fine_len_ = changed_len;
}

// Regions over slots [from, to): runs of sampleable extents on one tier
// whose heat stays within `distance` of the run's first, each at most
// carved/min_regions extents; extents whose heat just changed form runs of
// their own, of at most `changed_len`.
void HeatSampler::AppendRegions(size_t from, size_t to, uint16_t distance, size_t changed_len) {
  const heap::HeapImage& image = heap_->image();
  const size_t max_len = std::max<size_t>(1, image.carved() / config_.min_regions);
  size_t s = from;
  while (s < to) {
    if (!Sampleable(s)) {
      ++s;
      continue;
    }
    const uint8_t tier = image.tier(s);
    const bool changed = flags_[s] & kChanged;
    const size_t len = changed ? std::min(max_len, changed_len) : max_len;
    size_t end = s + 1;
    while (end < to && end - s < len && Sampleable(end) && image.tier(end) == tier &&
           static_cast<bool>(flags_[end] & kChanged) == changed &&
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
  AppendRegions(covered_, carved, kHeatMax, carved);  // new extents have no heat yet
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
  flags_[slot] = 0;
}

}  // namespace tiermem::heat
