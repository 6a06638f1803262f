#include "tiering/tiering_loop.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "migrate/mover.h"
#include "os/log.h"

namespace tiermem::tiering {

bool TieringLoop::Init(heap::TieredHeap* heap, const heat::HeatSampler* sampler, const TieringConfig& config) {
  heap_ = heap;
  sampler_ = sampler;
  config_ = config;
  promote_limit_.set_rate(config.promote_bytes_per_s);
  demote_limit_.set_rate(config.demote_bytes_per_s);
  void* table = mmap(nullptr, heap->image().slot_count() * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (table == MAP_FAILED) return false;
  moved_at_ = static_cast<uint32_t*>(table);
  if (cgroup_.Open()) {
    os::DebugLine("tiering: in a memory cgroup, %llu MiB of headroom now",
                  static_cast<unsigned long long>(cgroup_.Headroom() >> 20));
  }
  return true;
}

uint64_t TieringLoop::Live(size_t slot) const {
  return heap_->image().ledger(slot).load(std::memory_order_relaxed) & heap::HeapImage::kBytesMask;
}

bool TieringLoop::Movable(size_t slot, uint64_t now_ms) const {
  const heap::HeapImage& image = heap_->image();
  // Private slots (left copy-on-write by a fork) are not sampled: their heat
  // is what it was at the fork. Moving one copies it and makes it sampled
  // (shared) again.
  if (image.state(slot) == heap::SlotState::kUnused || image.pinned(slot)) return false;
  if (moved_at_[slot] != 0 && static_cast<uint32_t>(now_ms) - moved_at_[slot] < config_.min_residency_ms) return false;
  return Live(slot) != 0;  // nothing live: nothing worth a copy
}


void TieringLoop::MarkMovedTo(const std::vector<size_t>& slots, int to, bool down, uint64_t now_ms) {
  // Only slots that did move wait out their residency time; a refused or
  // given-up move is tried again at the next window.
  const uint32_t stamp = static_cast<uint32_t>(now_ms) | 1;  // never 0 ("never moved")
  for (size_t s : slots) {
    const int tier = heap_->image().tier(s);
    if (down ? tier != 0 : tier == to) moved_at_[s] = stamp;
  }
}

int TieringLoop::Demote(std::vector<size_t>& slots, uint64_t now_ms) {
  if (slots.empty()) return 0;
  int error = 0;
  std::vector<size_t> left = slots;
  for (int to = 1; to < heap_->tier_count() && !left.empty(); ++to) {
    migrate::MoveSlots(heap_, left.data(), left.size(), to, &error);
    // What is still on tier 0 (the destination filled up) tries the next tier.
    std::erase_if(left, [&](size_t s) { return heap_->image().tier(s) != 0; });
    if (error == -EAGAIN) break;
  }
  MarkMovedTo(slots, 0, /*down=*/true, now_ms);
  return error;
}

int TieringLoop::Promote(std::vector<size_t>& slots, uint64_t now_ms) {
  if (slots.empty()) return 0;
  int error = 0;
  migrate::MoveSlots(heap_, slots.data(), slots.size(), 0, &error);
  MarkMovedTo(slots, 0, /*down=*/false, now_ms);
  return error;
}

void TieringLoop::ForceMoves() {
  const heap::HeapImage& image = heap_->image();
  const size_t carved = image.carved();
  if (carved == 0 || heap_->tier_count() < 2) return;
  constexpr int kPerInterval = 4;
  for (int i = 0; i < kPerInterval; ++i) {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    size_t slot = rng_ % carved;
    if (image.state(slot) == heap::SlotState::kUnused || image.pinned(slot) || Live(slot) == 0) continue;
    const int to = (image.tier(slot) + 1) % heap_->tier_count();
    int error = 0;
    migrate::MoveSlots(heap_, &slot, 1, to, &error);
  }
}

void TieringLoop::Step(uint64_t now_ms) {
  const heap::Tier& dram = heap_->tier(0);
  const uint64_t limit = dram.budget.limit();
  if (heap_->tier_count() < 2 || limit == heap::TierBudget::kUnlimited) return;
  counters_.steps++;
  promote_limit_.Refill(now_ms);
  demote_limit_.Refill(now_ms);
  const uint64_t high = limit / 100 * config_.high_watermark_pct;
  const uint64_t low = limit / 100 * config_.low_watermark_pct;
  const heap::HeapImage& image = heap_->image();
  const uint64_t extent = image.extent_size();

  cold_.clear();
  hot_.clear();
  const size_t carved = image.carved();
  for (size_t s = 0; s < carved; ++s) {
    if (!Movable(s, now_ms)) continue;
    if (image.tier(s) == 0) {
      cold_.push_back(s);
    } else if (sampler_->heat(s) >= config_.hot_threshold) {
      hot_.push_back(s);
    }
  }
  // Coldest first, and among equally cold the longest cold; hottest first.
  std::sort(cold_.begin(), cold_.end(), [&](size_t a, size_t b) {
    const uint16_t ha = sampler_->heat(a), hb = sampler_->heat(b);
    return ha != hb ? ha < hb : sampler_->age(a) > sampler_->age(b);
  });
  std::sort(hot_.begin(), hot_.end(), [&](size_t a, size_t b) { return sampler_->heat(a) > sampler_->heat(b); });

  // What DRAM holds: live bytes, or the memfd's pages when more (freed
  // blocks not purged yet, the free parts of promoted extents). A move up
  // can add a whole extent of pages, a move down frees one.
  uint64_t used = std::max(dram.budget.used(), dram.backing.DramBytes());
  size_t next_cold = 0;
  bool limited = false;
  // Above the high watermark: make room down to the low one.
  demote_.clear();
  if (used > high) {
    while (used > low && next_cold < cold_.size()) {
      if (!demote_limit_.Take(extent)) {
        limited = true;
        break;
      }
      demote_.push_back(cold_[next_cold++]);
      used -= std::min(used, extent);
    }
  }
  const size_t over_watermark = demote_.size();
  if (over_watermark != 0 && Demote(demote_, now_ms) == -EAGAIN) return;
  // Hot extents up while DRAM has room, or in place of clearly colder ones,
  // a few at a time: a swap's demotion is only worth it if its promotion
  // happens, so a chunk that could not promote ends the round.
  constexpr size_t kChunk = 8;
  size_t next_hot = 0;
  // Freed blocks the program's threads keep cached hold DRAM budget that a
  // promotion's reservation needs (heap/thread_cache.h).
  if (!hot_.empty() && dram.budget.used() + kChunk * extent > limit) heap::ReclaimCachedBlocks();
  // What one chunk of promotions may charge at once, plus some slack.
  const uint64_t chunk_transient = 2 * kChunk * extent + (16ull << 20);
  while (next_hot < hot_.size() && !limited) {
    const uint64_t headroom = cgroup_.Headroom();  // UINT64_MAX outside a limited cgroup
    if (headroom < chunk_transient) {
      os::DebugLine("tiering: promotions wait: the memory cgroup has %llu KiB of headroom",
                    static_cast<unsigned long long>(headroom >> 10));
      break;
    }
    demote_.clear();
    promote_.clear();
    while (next_hot < hot_.size() && promote_.size() < kChunk) {
      const size_t s = hot_[next_hot];
      bool room = used + extent <= high;
      if (!room && next_cold < cold_.size()) {
        const size_t victim = cold_[next_cold];
        if (sampler_->heat(victim) + config_.hysteresis > sampler_->heat(s)) break;
        if (!demote_limit_.Take(extent)) {
          limited = true;
          break;
        }
        ++next_cold;
        demote_.push_back(victim);
        used -= std::min(used, extent);
        room = used + extent <= high;
      }
      if (!room) break;
      if (!promote_limit_.Take(extent)) {
        limited = true;
        break;
      }
      promote_.push_back(s);
      used += extent;
      ++next_hot;
    }
    if (promote_.empty()) break;
    if (Demote(demote_, now_ms) == -EAGAIN) break;
    const int error = Promote(promote_, now_ms);
    if (error != 0) os::DebugLine("tiering: promotion stopped: error %d", error);
    if (error == -EAGAIN || error == -ENOMEM) break;
    if (promote_.size() < kChunk) break;  // the last chunk stopped short for a reason
    // A round can move for seconds; the program allocates meanwhile, and
    // freed DRAM-tier memory waits for its purge. In a memory cgroup that
    // can end in an OOM kill, so the DRAM cost is brought under the budget
    // between chunks as the background loop would between rounds. Outside
    // one the overshoot lasts until the round ends, and the passes would
    // only slow it: they write back and drop the very NVMe pages the round
    // is about to promote (after gups_hot's shift, 60-130 ms per pass
    // against 50-60 ms per chunk of 8 promotions).
    if (cgroup_.limited()) heap_->EnforceDramBudget(/*force=*/true);
  }
  if (limited) counters_.rate_limited++;
  if (over_watermark != 0 || !hot_.empty()) {
    os::DebugLine("tiering: dram %llu KiB (live %llu) of %llu; %zu cold (coldest heat %u), %zu hot (hottest %u); %zu down over the watermark, %zu hot handled%s",
                static_cast<unsigned long long>(dram.backing.DramBytes() >> 10),
                static_cast<unsigned long long>(dram.budget.used() >> 10), static_cast<unsigned long long>(limit >> 10),
                cold_.size(), cold_.empty() ? 0u : sampler_->heat(cold_[0]), hot_.size(),
                hot_.empty() ? 0u : sampler_->heat(hot_[0]), over_watermark, next_hot, limited ? " (rate limit)" : "");
  }
}

}  // namespace tiermem::tiering
