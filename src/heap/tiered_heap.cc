#include "heap/tiered_heap.h"

#include <jemalloc/jemalloc.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>

#include "heap/thread_cache.h"
#include "os/log.h"
#include "os/vm.h"

namespace tiermem::heap {

std::atomic<TieredHeap*> TieredHeap::instance_{nullptr};

namespace {

// The heap lives in static storage: it is created inside a malloc preload,
// where the heap it would come from is itself.
alignas(TieredHeap) unsigned char g_heap_storage[sizeof(TieredHeap)];

int PlacementFlags(unsigned arena, size_t alignment, bool zero) {
  int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
  if (alignment > 1) flags |= MALLOCX_ALIGN(alignment);
  if (zero) flags |= MALLOCX_ZERO;
  return flags;
}

bool SetArenaDecay(unsigned arena, const char* which, ssize_t ms) {
  char name[64];
  snprintf(name, sizeof name, "arena.%u.%s_decay_ms", arena, which);
  return mallctl(name, nullptr, nullptr, &ms, sizeof ms) == 0;
}

}  // namespace

TieredHeap* TieredHeap::Create(const config::Policy& policy, const std::vector<TierSetup>& tiers,
                               std::string* error) {
  if (Instance() != nullptr) {
    *error = "the tiered heap is already initialised";
    return nullptr;
  }
  if (tiers.empty() || tiers.size() > static_cast<size_t>(kMaxTiers)) {
    *error = "a policy needs 1 to 8 usable tiers";
    return nullptr;
  }
  auto* heap = new (g_heap_storage) TieredHeap();
  heap->tiered_min_size_ = policy.tiered_min_size;
  heap->purge_delay_ms_ = policy.purge_delay_ms;
  if (!heap->image_.Reserve(policy.image_size, policy.extent_size)) {
    *error = "cannot reserve " + std::to_string(policy.image_size >> 30) + " GiB of address space for the heap image";
    return nullptr;
  }
  for (const TierSetup& setup : tiers) {
    Tier& tier = heap->tiers_[heap->tier_count_];
    tier.spec = setup.spec;
    std::string why;
    if (tier.backing.Open(setup.spec, setup.nodes, policy.image_size, &why) != 0) {
      *error = "tier '" + setup.spec.name + "': " + why;
      return nullptr;
    }
    tier.budget.set_limit(setup.spec.budget.value_or(TierBudget::kUnlimited));
    tier.backing.set_random_access(!policy.file_readahead);
    heap->tier_count_++;
  }
  for (int i = 0; i < heap->tier_count_; ++i) InitExtentHooks(&heap->hooks_[i], heap, i);
  InitThreadCache([](void* block) { Instance()->FreeNow(block); }, FlushCacheCounters);
  const unsigned cpus = std::thread::hardware_concurrency();
  heap->arenas_per_tier_ = cpus == 0 ? 1 : (cpus < kMaxArenasPerTier ? static_cast<int>(cpus) : kMaxArenasPerTier);
  // The first tier's first arena is made now: nearly every process uses it.
  if (!heap->CreateArena(0, 0)) {
    *error = "jemalloc refused to create an arena for tier '" + heap->tiers_[0].spec.name + "'";
    return nullptr;
  }
  instance_.store(heap, std::memory_order_release);
  return heap;
}

bool TieredHeap::CreateArena(int t, int index) {
  extent_hooks_t* hooks = &hooks_[t].hooks;
  unsigned arena = 0;
  size_t len = sizeof arena;
  if (mallctl("arenas.create", &arena, &len, &hooks, sizeof hooks) != 0) return false;
  SetDirtyDecay(arena);
  SetArenaDecay(arena, "muzzy", 0);
  tiers_[t].arenas[index].store(arena, std::memory_order_release);
  return true;
}

void TieredHeap::SetDirtyDecay(unsigned arena) {
  // Freed tiered memory is punched within purge_delay_ms by the background
  // thread (PurgeOnSchedule) while it runs, not by decay inside malloc
  // calls; without it (it could not start) jemalloc's decay does it. 0
  // punches on free.
  ssize_t ms = 0;
  if (purge_delay_ms_ != 0) ms = scheduled_purge_.load(std::memory_order_relaxed) ? -1 : static_cast<ssize_t>(purge_delay_ms_);
  SetArenaDecay(arena, "dirty", ms);
}

unsigned TieredHeap::ArenaOf(int t) {
  // Threads take arena slots round-robin, once, like jemalloc's own
  // thread-to-arena assignment.
  static std::atomic<unsigned> next_slot{0};
  static thread_local unsigned slot = next_slot.fetch_add(1, std::memory_order_relaxed);
  const int index = static_cast<int>(slot % static_cast<unsigned>(arenas_per_tier_));
  std::atomic<unsigned>& cell = tiers_[t].arenas[index];
  unsigned arena = cell.load(std::memory_order_acquire);
  if (__builtin_expect(arena != kNoArena, 1)) return arena;
  pthread_mutex_lock(&arena_lock_);
  if (cell.load(std::memory_order_acquire) == kNoArena && !CreateArena(t, index)) {
    os::LogLine("jemalloc refused to create an arena for tier %s", tiers_[t].spec.name.c_str());
  }
  pthread_mutex_unlock(&arena_lock_);
  return cell.load(std::memory_order_acquire);
}

bool TieredHeap::Reserve(int t, uint64_t bytes) {
  if (tiers_[t].budget.TryReserve(bytes)) return true;
  // Freed blocks parked in the threads' caches hold DRAM budget that a live
  // block needs: take them back before anything spills or fails.
  return t == 0 && ReclaimCachedBlocks() != 0 && tiers_[t].budget.TryReserve(bytes);
}

void* TieredHeap::PlaceOn(int t, size_t size, size_t alignment, bool zero, bool spilled) {
  Tier& tier = tiers_[t];
  if (tier.closed.load(std::memory_order_acquire)) return nullptr;
  const unsigned arena = ArenaOf(t);
  if (arena == kNoArena) return nullptr;
  const int flags = PlacementFlags(arena, alignment, zero);
  const size_t real = nallocx(size, flags);
  if (real == 0) return nullptr;
  if (!Reserve(t, real)) return nullptr;
  void* p = mallocx(size, flags);
  if (p == nullptr) {
    tier.budget.Release(real);
    return nullptr;
  }
  Charge(p, real, t);
  tier.counters.allocations.fetch_add(1, std::memory_order_relaxed);
  tier.counters.placed_bytes.fetch_add(real, std::memory_order_relaxed);
  if (spilled) tier.counters.spills_in.fetch_add(1, std::memory_order_relaxed);
  if (__builtin_expect(!placed_.load(std::memory_order_relaxed), 0) && !placed_.exchange(true) &&
      first_placement_hook_ != nullptr) {
    first_placement_hook_();
  }
  return p;
}

void* TieredHeap::Allocate(size_t size, size_t alignment, bool zero) {
  if (size <= kMaxCachedBlock) {
    if (void* p = TakeCached(size, alignment, zero)) return p;
  }
  for (int t = 0; t < tier_count_; ++t) {
    if (void* p = PlaceOn(t, size, alignment, zero, /*spilled=*/t > 0)) return p;
  }
  failed_.fetch_add(1, std::memory_order_relaxed);
  errno = ENOMEM;
  return nullptr;
}

void* TieredHeap::AllocateOn(int t, size_t size, size_t alignment, bool zero) {
  if (t < 0 || t >= tier_count_) {
    errno = EINVAL;
    return nullptr;
  }
  void* p = PlaceOn(t, size == 0 ? 1 : size, alignment, zero, /*spilled=*/false);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* TieredHeap::TakeCached(size_t size, size_t alignment, bool zero) {
  CachedBlock* cache = ThisThreadCache();
  if (cache == nullptr) return nullptr;
  void* p = cache->block.load(std::memory_order_relaxed);
  if (p == nullptr) return nullptr;
  // Alignments are powers of two (the preload rounds them up).
  if (alignment > 1 && (reinterpret_cast<uintptr_t>(p) & (alignment - 1)) != 0) return nullptr;
  // Only the same size class: anything else would waste or miscount memory.
  if (size != cache->last_request) {
    cache->last_request = size;
    cache->last_class = nallocx(size, alignment > 1 ? MALLOCX_ALIGN(alignment) : 0);
  }
  if (cache->last_class != cache->size) return nullptr;
  // A reclaimer may have taken it since the load: then this finds nothing.
  if (cache->block.exchange(nullptr, std::memory_order_acquire) != p) return nullptr;
  // The tiering loop may have moved its extents down meanwhile (a cached
  // block looks cold): then it is no DRAM hit.
  if (!StillOnDram(cache, p, cache->size)) {
    FreeNow(p);
    return nullptr;
  }
  cache->MarkTouched();
  if (zero) memset(p, 0, size);
  cache->pending_bytes += cache->size;
  if (++cache->pending_allocations == kCacheFlushEvery) FlushCacheCounters(cache);
  return p;
}

void TieredHeap::FlushCacheCounters(CachedBlock* cache) {
  if (cache->pending_allocations == 0) return;
  Instance()->tiers_[0].counters.allocations.fetch_add(cache->pending_allocations, std::memory_order_relaxed);
  Instance()->tiers_[0].counters.placed_bytes.fetch_add(cache->pending_bytes, std::memory_order_relaxed);
  cache->pending_allocations = 0;
  cache->pending_bytes = 0;
}

void TieredHeap::FlushThisThreadCounters() {
  if (CachedBlock* cache = ThisThreadCache()) FlushCacheCounters(cache);
}

bool TieredHeap::VerifyOnDram(CachedBlock* cache, const void* p, size_t bytes) const {
  // Read before the check: a move during it makes the next call check again.
  const uint64_t moves = moves_.load(std::memory_order_acquire);
  if (tiers_[0].closed.load(std::memory_order_relaxed)) return false;
  const size_t first = image_.SlotOf(p);
  const size_t last = image_.SlotOf(static_cast<const char*>(p) + bytes - 1);
  for (size_t s = first; s <= last; ++s) {
    if (image_.tier(s) != 0) return false;
  }
  cache->verified_block = const_cast<void*>(p);
  cache->verified_size = bytes;
  cache->verified_moves = moves;
  return true;
}

size_t TieredHeap::CacheLimit() const {
  const uint64_t budget = tiers_[0].budget.limit();
  const uint64_t share = budget == TierBudget::kUnlimited ? kMaxCachedBlock : budget / 8;
  return share < kMaxCachedBlock ? static_cast<size_t>(share) : kMaxCachedBlock;
}

void TieredHeap::Free(void* p) {
  const int t = image_.tier(image_.SlotOf(p));
  if (t == 0) {
    if (CachedBlock* cache = ThisThreadCache()) {
      const size_t real = sallocx(p, 0);
      if (real <= CacheLimit() && StillOnDram(cache, p, real)) {
        // Kept with its budget reservation (see thread_cache.h); the block it
        // replaces, likely of an older size, goes back to jemalloc. Only the
        // owner fills an empty cache and reclaimers only empty a full one, so
        // an empty cache is filled with a plain store.
        void* older = cache->block.load(std::memory_order_relaxed);
        if (older == nullptr) {
          cache->block.store(p, std::memory_order_release);
        } else {
          older = cache->block.exchange(p, std::memory_order_release);
        }
        NoteCachedBlock();
        cache->size = real;
        cache->MarkTouched();
        if (older != nullptr) FreeNow(older);
        return;
      }
    }
  }
  FreeNow(p);
}

void TieredHeap::FreeNow(void* p) {
  const size_t real = sallocx(p, 0);
  Discharge(p, real);
  dallocx(p, MALLOCX_TCACHE_NONE);
}

// Calls fn(slot, bytes) for each slot [p, p+len) overlaps.
template <class Fn>
void TieredHeap::ForEachSlotPiece(const void* p, size_t len, Fn fn) {
  const uint64_t extent = image_.extent_size();
  auto a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = a + len;
  while (a < end) {
    const size_t slot = image_.SlotOf(reinterpret_cast<void*>(a));
    const uintptr_t slot_end = reinterpret_cast<uintptr_t>(image_.SlotAddress(slot)) + extent;
    const uintptr_t stop = end < slot_end ? end : slot_end;
    fn(slot, stop - a);
    a = stop;
  }
}

void TieredHeap::Charge(const void* p, size_t bytes, int reserved_on) {
  ForEachSlotPiece(p, bytes, [&](size_t slot, uint64_t piece) {
    const uint64_t before = image_.ledger(slot).fetch_add(piece, std::memory_order_acq_rel);
    const int now = static_cast<int>(before >> HeapImage::kTierShift);
    if (now != reserved_on) {  // the slot moved since the reservation
      tiers_[reserved_on].budget.Release(piece);
      tiers_[now].budget.Add(piece);
    }
  });
}

void TieredHeap::Discharge(const void* p, size_t bytes) {
  ForEachSlotPiece(p, bytes, [&](size_t slot, uint64_t piece) {
    const uint64_t before = image_.ledger(slot).fetch_sub(piece, std::memory_order_acq_rel);
    tiers_[before >> HeapImage::kTierShift].budget.Release(piece);
  });
}

void* TieredHeap::Reallocate(void* p, size_t size) {
  const int t = image_.tier(image_.SlotOf(p));
  Tier& tier = tiers_[t];
  const size_t old_real = sallocx(p, 0);
  if (size >= tiered_min_size_ && !tier.closed.load(std::memory_order_acquire)) {
    // Stay on the same tier when its budget allows: jemalloc can then grow
    // or shrink in place instead of copying. The old block's bytes go back
    // first, so growing needs room for the difference only.
    const int flags = PlacementFlags(ArenaOf(t), 0, false);
    const size_t new_real = nallocx(size, flags);
    if (new_real != 0) {
      Discharge(p, old_real);
      if (Reserve(t, new_real)) {
        if (void* q = rallocx(p, size, flags)) {
          Charge(q, new_real, t);
          return q;
        }
        // Out of memory: p is untouched, count it again.
        tier.budget.Release(new_real);
        tier.budget.Add(old_real);
        Charge(p, old_real, t);
        errno = ENOMEM;
        return nullptr;
      }
      tier.budget.Add(old_real);  // no room here: p stays, counted again,
      Charge(p, old_real, t);     // and the block moves down the tiers below
    }
  }
  void* q = size >= tiered_min_size_ ? Allocate(size, 0, false) : mallocx(size == 0 ? 1 : size, 0);
  if (q == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  memcpy(q, p, old_real < size ? old_real : size);
  FreeNow(p);
  return q;
}

size_t TieredHeap::UsableSize(const void* p) const { return sallocx(const_cast<void*>(p), 0); }

int TieredHeap::TierOf(const void* p) const {
  if (!image_.Contains(p)) return -1;
  const size_t slot = image_.SlotOf(p);
  if (image_.state(slot) == SlotState::kUnused) return -1;
  return image_.tier(slot);
}

void* TieredHeap::MapNewSlots(int t, size_t size, size_t alignment) {
  const uint64_t extent = image_.extent_size();
  const size_t count = (size + extent - 1) / extent;
  if (tiers_[t].closed.load(std::memory_order_acquire)) return nullptr;
  pthread_mutex_lock(&map_lock_);
  const size_t first = image_.Carve(count, alignment);
  void* addr = nullptr;
  if (first != SIZE_MAX) {
    addr = image_.SlotAddress(first);
    const bool shared = !forking_;
    int rc = tiers_[t].backing.Map(addr, count * extent, image_.SlotOffset(first), shared);
    if (rc == 0) {
      for (size_t s = first; s < first + count; ++s) {
        image_.Assign(s, static_cast<uint8_t>(t));
        image_.set_state(s, shared ? SlotState::kShared : SlotState::kPrivate);
      }
      tiers_[t].counters.extents.fetch_add(count, std::memory_order_relaxed);
    } else {
      os::DebugLine("cannot map %zu extents of tier %s: %s", count, tiers_[t].spec.name.c_str(), strerror(-rc));
      addr = nullptr;  // the carved slots stay unused
    }
  }
  pthread_mutex_unlock(&map_lock_);
  return addr;
}

bool TieredHeap::CommitRange(void* addr, size_t len) {
  const uint64_t extent = image_.extent_size();
  const auto start = reinterpret_cast<uintptr_t>(addr);
  auto p = start;
  const uintptr_t end = p + len;
  while (p < end) {
    const size_t slot = image_.SlotOf(reinterpret_cast<void*>(p));
    const uintptr_t slot_start = reinterpret_cast<uintptr_t>(image_.SlotAddress(slot));
    const uintptr_t stop = end < slot_start + extent ? end : slot_start + extent;
    // A private (post-fork) slot writes to anonymous copies: no disk needed.
    if (image_.state(slot) == SlotState::kShared &&
        tiers_[image_.home(slot)].backing.Commit(image_.SlotOffset(slot) + (p - slot_start), stop - p) != 0) {
      // Give back what this call reserved: the range stays decommitted.
      if (p > start) ReleaseRange(addr, p - start, /*must_read_zero=*/false);
      return true;
    }
    p = stop;
  }
  return false;
}

bool TieredHeap::ReleaseRange(void* addr, size_t len, bool must_read_zero) {
  const uint64_t extent = image_.extent_size();
  auto p = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t end = p + len;
  bool failed = false;
  pthread_mutex_lock(&map_lock_);
  while (p < end) {
    const size_t slot = image_.SlotOf(reinterpret_cast<void*>(p));
    const uintptr_t slot_start = reinterpret_cast<uintptr_t>(image_.SlotAddress(slot));
    const uintptr_t slot_end = slot_start + extent;
    const uintptr_t stop = end < slot_end ? end : slot_end;
    const Tier& tier = tiers_[image_.home(slot)];
    const uint64_t offset = image_.SlotOffset(slot) + (p - slot_start);
    // A whole moved slot that jemalloc purges holds nothing live, and
    // jemalloc holds it while purging: the moment to send it home.
    if (p == slot_start && stop == slot_end && image_.state(slot) == SlotState::kShared && !forking_ &&
        (image_.home(slot) != image_.owner(slot) || image_.tier(slot) != image_.owner(slot)) &&
        ReturnSlotHomeLocked(slot) == 0) {
      p = stop;
      continue;
    }
    switch (image_.state(slot)) {
      case SlotState::kShared:
        // A slot of a memory tier's arena that moved down to a file keeps
        // its disk blocks: that arena never commits before it reuses memory.
        if (tier.backing.is_file_tier() && !tiers_[image_.owner(slot)].backing.is_file_tier()) {
          failed |= tier.backing.Zero(offset, stop - p) != 0;
        } else {
          failed |= tier.backing.Release(offset, stop - p) != 0;
        }
        break;
      case SlotState::kPrivate:
        // A fork left this slot as a copy-on-write view of a file the child
        // still reads: never punch it. A whole slot can move to the current
        // file (a fresh hole reads as zeros); part of one can only drop its
        // private copies, which then read the file's old data again.
        if (p == slot_start && stop == slot_end && !forking_ && !tier.closed.load(std::memory_order_acquire) &&
            tier.backing.Map(reinterpret_cast<void*>(p), extent, image_.SlotOffset(slot), true) == 0) {
          image_.set_state(slot, SlotState::kShared);
        } else if (must_read_zero) {
          failed = true;
        } else {
          madvise(reinterpret_cast<void*>(p), stop - p, MADV_DONTNEED);
        }
        break;
      case SlotState::kUnused:
        break;
    }
    p = stop;
  }
  pthread_mutex_unlock(&map_lock_);
  return failed;
}

}  // namespace tiermem::heap
