// The residency governor: keeps what the tiered heap costs in DRAM under the
// first (DRAM) tier's budget. That cost is the DRAM tier's memfd pages plus
// the page cache of the file tiers: data spilled to NVMe first lands in the
// page cache and only leaves DRAM when it is written back and dropped, and
// every re-read brings it back. Runs on the runtime's background thread.
#include <jemalloc/jemalloc.h>
#include <fcntl.h>
#include <pthread.h>

#include <cstdio>

#include "heap/tiered_heap.h"
#include "os/clock.h"
#include "os/files.h"
#include "os/vm.h"

namespace tiermem::heap {

// Readahead on a file tier also reads the file's holes next to the data it
// fetches: offsets of slots that live on other tiers, where this file holds
// nothing. Those pages are clean and never mapped; drop them first.
// Returns the file tiers' page cache afterwards.
uint64_t TieredHeap::DropStrayPageCache() {
  const size_t carved = image_.carved();
  uint64_t cache_bytes = 0;
  for (int t = 1; t < tier_count_; ++t) {
    const TierBacking& backing = tiers_[t].backing;
    if (!backing.is_file_tier()) continue;
    size_t s = 0;
    while (s < carved) {
      const bool owned = image_.home(s) == t && image_.state(s) != SlotState::kUnused;
      size_t end = s + 1;
      while (end < carved && (image_.home(end) == t && image_.state(end) != SlotState::kUnused) == owned) ++end;
      if (!owned) {
        posix_fadvise(backing.fd(), static_cast<off_t>(image_.SlotOffset(s)),
                      static_cast<off_t>(image_.SlotOffset(end) - image_.SlotOffset(s)), POSIX_FADV_DONTNEED);
      }
      s = end;
    }
    posix_fadvise(backing.fd(), static_cast<off_t>(image_.SlotOffset(carved)), 0, POSIX_FADV_DONTNEED);
    cache_bytes += backing.DramBytes();
  }
  return cache_bytes;
}

void TieredHeap::PurgeOnSchedule() {
  // With purge_delay_ms 0 jemalloc punches on free: only the blocks idle
  // threads keep cached are left to return, once a second.
  const uint32_t period = purge_delay_ms_ != 0 ? purge_delay_ms_ : 1000;
  const uint64_t now = os::MonotonicNs() / 1000000u;
  if (now - last_purge_ms_ < period) return;
  last_purge_ms_ = now;
  // Blocks parked in threads' caches (thread_cache.h) that their owner did
  // not use since the last round go back first, so they are punched too.
  TrimIdleCaches();
  if (purge_delay_ms_ == 0 || !scheduled_purge_.load(std::memory_order_relaxed)) return;
  // Every tier arena, used or not: an arena the program stopped using would
  // otherwise keep freed data on disk (and readable in the file) forever.
  for (int t = 0; t < tier_count_; ++t) PurgeArenasOf(t);
}

void TieredHeap::PurgeArenasOf(int t) {
  for (const std::atomic<unsigned>& arena : tiers_[t].arenas) {
    const unsigned index = arena.load(std::memory_order_relaxed);
    if (index == kNoArena) continue;
    char name[48];
    snprintf(name, sizeof name, "arena.%u.purge", index);
    mallctl(name, nullptr, nullptr, nullptr, 0);
  }
}

void TieredHeap::SetScheduledPurge(bool on) {
  if (purge_delay_ms_ == 0) return;  // decay 0 either way
  pthread_mutex_lock(&arena_lock_);
  scheduled_purge_.store(on, std::memory_order_relaxed);
  for (int t = 0; t < tier_count_; ++t) {
    for (const std::atomic<unsigned>& arena : tiers_[t].arenas) {
      const unsigned index = arena.load(std::memory_order_relaxed);
      if (index != kNoArena) SetDirtyDecay(index);
    }
  }
  pthread_mutex_unlock(&arena_lock_);
}

bool TieredHeap::EnforceDramBudget(bool force) {
  if (tiers_[0].budget.limit() == TierBudget::kUnlimited) return false;
  bool unfinished = false;
  pthread_mutex_lock(&governor_lock_);
  // Measuring the file tiers' page cache (cachestat over the whole file)
  // costs time that grows with the file: on a 16 GiB heap with 12 GiB on
  // NVMe, passes every 50 ms took a fifth of a core while the program did
  // nothing. So passes that find nothing to do, with nothing placed or
  // moved since, back off: every 2nd, 4th ... up to every 16th interval.
  uint64_t activity = moves_.load(std::memory_order_relaxed);
  for (int t = 0; t < tier_count_; ++t) activity += tiers_[t].counters.placed_bytes.load(std::memory_order_relaxed);
  if (!force && activity == governor_activity_ && governor_countdown_ > 0) {
    --governor_countdown_;
  } else {
    const bool worked = EnforceDramBudgetLocked(&unfinished);
    governor_backoff_ = worked || activity != governor_activity_ ? 1 : (governor_backoff_ < 16 ? governor_backoff_ * 2 : 16);
    governor_countdown_ = governor_backoff_ - 1;
    governor_activity_ = activity;
  }
  pthread_mutex_unlock(&governor_lock_);
  return unfinished;
}

// A pass that ran out of time starts the writeback of the extents the next
// passes will evict (the clock hand's next `bytes`), without waiting: the
// disk keeps writing while the background thread samples and moves, and
// those passes find the pages clean.
void TieredHeap::WriteBehind(uint64_t bytes) {
  // At most this much: starting writeback blocks too once the disk's queue
  // is full, and the pass is already over its time. With 64 MiB, after a
  // hot-set shift left gups_hot's hot set dirty on NVMe, every pass took
  // 300-400 ms instead of 20, and so did the forced pass between chunks of
  // promotions (98 promotions took 4.5 s). With 8 MiB passes took 60-130 ms,
  // but less was written back ahead: with tiering off the page cache peaked
  // at 1.6-2.0 GiB for a 512 MiB budget (1.5-1.6 GiB with 64 MiB). 32 MiB is
  // the middle measured: 4-7 s to recover from the shift, peaks of
  // 1.4-1.7 GiB (2 runs each; all of these spread by seconds and hundreds
  // of MiB from run to run).
  constexpr uint64_t kMaxBytes = 32ull << 20;
  if (bytes > kMaxBytes) bytes = kMaxBytes;
  const size_t carved = image_.carved();
  const uint64_t extent = image_.extent_size();
  uint64_t started = 0;
  for (size_t i = 0; i < carved && started < bytes; ++i) {
    const size_t slot = (evict_hand_ + i) % carved;
    const Tier& tier = tiers_[image_.home(slot)];
    if (!tier.backing.is_file_tier() || image_.state(slot) != SlotState::kShared) continue;
    os::CacheState state;
    if (!os::PageCacheState(tier.backing.fd(), image_.SlotOffset(slot), extent, &state) || state.dirty_bytes == 0) continue;
    os::StartWriteBack(tier.backing.fd(), image_.SlotOffset(slot), extent);
    started += state.dirty_bytes;
  }
}

bool TieredHeap::EnforceDramBudgetLocked(bool* unfinished) {
  Tier& dram = tiers_[0];
  const uint64_t limit = dram.budget.limit();
  bool purged = false;

  // Freed DRAM-tier memory waits up to purge_delay_ms for the scheduled
  // purge; when that backlog would push DRAM over the budget, purge it now.
  uint64_t dram_bytes = dram.backing.DramBytes();
  if (dram_bytes > limit - limit / 8 && dram_bytes > dram.budget.used() + image_.extent_size()) {
    PurgeArenasOf(0);
    dram_bytes = dram.backing.DramBytes();
    purged = true;
  }

  uint64_t cache_bytes = 0;
  for (int t = 1; t < tier_count_; ++t) {
    if (tiers_[t].backing.is_file_tier()) cache_bytes += tiers_[t].backing.DramBytes();
  }
  // Reserved DRAM-tier blocks not yet touched will be: count them already,
  // or the page cache gets their share now and DRAM overshoots later.
  const uint64_t dram_claim = dram_bytes > dram.budget.used() ? dram_bytes : dram.budget.used();
  const uint64_t allowed = limit > dram_claim ? limit - dram_claim : 0;
  if (cache_bytes <= allowed) return purged;
  cache_bytes = DropStrayPageCache();
  if (cache_bytes <= allowed) return true;
  // Evict down to 7/8 of what is allowed, so the next pass has headroom.
  uint64_t to_free = cache_bytes - allowed + allowed / 8;

  const size_t carved = image_.carved();
  const uint64_t extent = image_.extent_size();
  const uint64_t deadline = os::MonotonicUs() + kGovernorPassUs;
  for (size_t visited = 0; visited < carved && to_free > 0; ++visited) {
    if (os::MonotonicUs() > deadline) {
      *unfinished = true;
      WriteBehind(to_free);
      break;
    }
    const size_t slot = evict_hand_++ % carved;
    Tier& tier = tiers_[image_.home(slot)];
    if (!tier.backing.is_file_tier() || image_.state(slot) != SlotState::kShared) continue;
    const uint64_t offset = image_.SlotOffset(slot);
    os::CacheState before;
    if (!os::PageCacheState(tier.backing.fd(), offset, extent, &before) || before.cached_bytes == 0) continue;
    // Write back first, without the lock: the application keeps running and
    // what it writes meanwhile is only dirty again, never lost.
    sync_file_range(tier.backing.fd(), static_cast<off_t>(offset), static_cast<off_t>(extent),
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    pthread_mutex_lock(&map_lock_);
    // Zapping a shared mapping keeps the data in the file; a fork may have
    // turned the slot private meanwhile, and then it must not be touched.
    if (image_.state(slot) == SlotState::kShared) {
      os::DropMappings(image_.SlotAddress(slot), extent);
      os::WriteBackAndDrop(tier.backing.fd(), offset, extent);
    }
    pthread_mutex_unlock(&map_lock_);
    os::CacheState after;
    if (os::PageCacheState(tier.backing.fd(), offset, extent, &after) && after.cached_bytes < before.cached_bytes) {
      const uint64_t freed = before.cached_bytes - after.cached_bytes;
      tier.counters.evicted_bytes.fetch_add(freed, std::memory_order_relaxed);
      to_free = freed >= to_free ? 0 : to_free - freed;
    }
  }
  return true;
}

}  // namespace tiermem::heap
