// The tiered heap: the heap image, one backing file and one jemalloc arena
// per tier, and the placement of each allocation under the tiers' budgets.
//
// jemalloc is the engine: every tier's arena gets extent hooks (extent_hooks.cc)
// that hand it slots of the image mapped from that tier's file and punch
// holes when it purges. Placement (this file) picks the first tier, in
// policy order, whose budget still has room, so what does not fit in DRAM
// spills down instead of failing.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/policy.h"
#include "heap/budget.h"
#include "heap/extent_hooks.h"
#include "heap/image.h"
#include "heap/thread_cache.h"
#include "heap/tier_backing.h"

namespace tiermem::heap {

inline constexpr int kMaxTiers = 8;
inline constexpr unsigned kNoArena = ~0u;
// Arenas per tier: threads are spread over them so that two threads placing
// large blocks on the same tier do not queue on one arena's locks.
inline constexpr int kMaxArenasPerTier = 4;

struct TierSetup {
  config::TierSpec spec;
  std::vector<int> nodes;  // empty: no NUMA binding (single-node machine, file tiers)
};

struct TierCounters {
  std::atomic<uint64_t> allocations{0};
  std::atomic<uint64_t> placed_bytes{0};  // sum of the sizes placed here
  std::atomic<uint64_t> spills_in{0};
  std::atomic<uint64_t> evicted_bytes{0};
  std::atomic<uint64_t> extents{0};
};

struct Tier {
  config::TierSpec spec;
  TierBacking backing;
  TierBudget budget;
  TierCounters counters;
  // Set when the tier's backing file could not be reopened after a fork:
  // the old file is shared with the other side, so nothing new may be
  // placed on it. Allocations spill to the next tier instead.
  std::atomic<bool> closed{false};
  // jemalloc arena indices; kNoArena until first used, so a process that
  // never spills never maps anything of the lower tiers.
  std::atomic<unsigned> arenas[kMaxArenasPerTier] = {kNoArena, kNoArena, kNoArena, kNoArena};
};

class TieredHeap {
 public:
  // The process's heap once Init succeeded, else nullptr.
  static TieredHeap* Instance() { return instance_.load(std::memory_order_acquire); }

  // Reserves the image, opens every tier's backing file and creates its
  // arena. On failure nothing is published and `error` says why.
  static TieredHeap* Create(const config::Policy& policy, const std::vector<TierSetup>& tiers, std::string* error);

  // Places `size` bytes on the first tier with room (spilling down), or on
  // `only_tier`. nullptr with errno = ENOMEM when nothing has room.
  void* Allocate(size_t size, size_t alignment, bool zero);
  // Called once, by the thread that makes the process's first tiered
  // placement, right after it (outside every heap lock; it may allocate
  // small blocks, never tiered ones).
  void SetFirstPlacementHook(void (*hook)()) { first_placement_hook_ = hook; }
  void* AllocateOn(int tier, size_t size, size_t alignment, bool zero);
  // `p` must be in the image. Free may keep the block in the calling
  // thread's one-block cache (thread_cache.h); FreeNow never does.
  void Free(void* p);
  void FreeNow(void* p);
  // Adds the calling thread's cache hits to the tier counters, which
  // otherwise lag by up to kCacheFlushEvery allocations per thread.
  void FlushThisThreadCounters();
  void* Reallocate(void* p, size_t size);
  size_t UsableSize(const void* p) const;

  bool Contains(const void* p) const { return image_.Contains(p); }
  int TierOf(const void* p) const;

  int tier_count() const { return tier_count_; }
  Tier& tier(int i) { return tiers_[i]; }
  const HeapImage& image() const { return image_; }
  uint64_t tiered_min_size() const { return tiered_min_size_; }
  uint64_t failed_allocations() const { return failed_.load(std::memory_order_relaxed); }

  // ---- Slot moves (slot_moves.cc): the primitives of the migration engine
  // (src/migrate), which decides when and holds the program's threads.
  enum class MoveHow { kStay, kPages, kCopy };
  // Held across a batch of moves: no carving, purge, fork remap or governor
  // zap meanwhile. Taken before the world is stopped, never inside.
  void LockSlots() { pthread_mutex_lock(&map_lock_); }
  void UnlockSlots() { pthread_mutex_unlock(&map_lock_); }
  // How slot `s` can reach tier `to`: kStay (already there), kPages
  // (memory to memory: the kernel moves the pages, no pause) or kCopy (to
  // or from a file: copy and switch the mapping while writers are held).
  // A slot a fork left copy-on-write (private) can only be copied: that
  // also makes it the process's own (shared) again. Returns 0 or -EINVAL
  // (unused slot, bad tier), -EBUSY (pinned), -ENOMEM (`to` is closed).
  int PlanMove(size_t s, int to, MoveHow* how) const;
  // kPages. Caller holds LockSlots. 0 or -errno; -ENOMEM: `to` is full.
  int MovePagesLocked(size_t s, int to);
  // kCopy, in two steps under LockSlots. Prepare, with the program
  // running: reserves `to`'s budget and blocks and copies the slot's data
  // into `to`'s file at the slot's offset (reading a file-tier source from
  // disk, allocating the destination). Finish, with every thread that could
  // write the slot stopped (migrate/world_stop.h): copies the data again
  // (memory to memory now: what changed since is caught), maps the slot from
  // the destination. Finish does not allocate. On
  // any failure the slot is as it was; Abort undoes a Prepare that is not
  // followed by a Finish.
  struct SlotCopy {
    size_t slot = 0;
    int to = 0;
    int from = 0;           // set by Finish: the tier the bytes left
    uint64_t reserved = 0;  // live bytes reserved on `to`
    uint64_t copied = 0;    // data bytes the last copy wrote
    bool prepared = false;
    int old_home = 0;       // set by Finish: where the old copy is
    bool old_private = false;
    const char* source_view = nullptr;  // PrepareFillLocked: the old home's data, read in
  };
  int PrepareCopyLocked(SlotCopy* c);
  // racy: the program may be running (threads that would write the slot
  // are held by the kernel, which the race detector cannot see).
  int FinishCopyLocked(SlotCopy* c, bool racy = false);
  void AbortCopyLocked(SlotCopy* c);
  // After the pause: punches the old copy (not part of the pause: nothing
  // maps it any more). Still under LockSlots.
  void ReleaseOldCopyLocked(const SlotCopy& c);
  // Moves that hold only the threads touching the slot (a userfaultfd
  // engine, migrate/fault_mover.cc): a shared slot between a memory tier
  // and a file tier. Down: PrepareCopyLocked, the engine write-protects the
  // slot, FinishCopyLocked(racy) switches it, the engine wakes the writers.
  // Up, where the source (a regular file) cannot be write-protected: the
  // destination range gets a first copy and is mapped as a view
  // (PrepareFillLocked), the engine registers the view for minor and
  // missing faults (every access traps) and remaps it over the slot in one
  // step, AdoptFilledLocked books the switch, FillLocked copies the final
  // data again, and the engine unregisters the slot, which wakes the
  // threads that touched it meanwhile.
  bool CanMoveByFaults(size_t s, int to) const;
  int PrepareFillLocked(SlotCopy* c, void** view);
  void AdoptFilledLocked(SlotCopy* c);
  int FillLocked(SlotCopy* c);
  // When the switch itself failed: mremap() may have unmapped the slot
  // before failing; maps it from its home file again.
  int MapBackLocked(const SlotCopy& c);
  // Around a kCopy, outside the pause: read a file-tier source into the page
  // cache first, so the pause copies from memory; after a move down to a
  // file tier, write the data back and drop it, so it really leaves DRAM.
  void PrefetchSlot(size_t s);
  void SettleSlot(size_t s);

  // fork(): see fork.cc.
  void PrepareFork();
  void AfterForkParent();
  void AfterForkChild();

  // Keeps the DRAM cost of the tiered heap (memory-tier pages plus file-tier
  // page cache) under the first tier's budget. See residency.cc.
  // Measured trade-off (compat pandas_hash, 600k rows, 48 MiB budget: 4.9 s
  // without tiermem): one pass per writeback_interval_ms takes 7.9 s;
  // passes every 2 ms while evicting took 64 s, and making each file-tier
  // placement run a pass too took 12.6 s — both evicted pages the program
  // was still using, for little gain in the transient bound (heap_test
  // worst case 226-270 MiB vs 260-282 MiB for a 64 MiB budget). Bounding
  // re-reads needs heat (what is hot stays) or a fault-based engine.
  // A pass evicts for at most kGovernorPassUs: writing back a hot set that
  // landed in the page cache took seconds, and the background thread's heat
  // windows and moves (which would have promoted that set) waited for it.
  // Returns true when the pass stopped there with eviction left to do.
  // Passes that find nothing to do back off (see residency.cc); `force`
  // runs one anyway.
  static constexpr uint64_t kGovernorPassUs = 20000;
  bool EnforceDramBudget(bool force = false);
  // Punches what the tier arenas freed, once per purge_delay_ms; called by
  // the background thread. jemalloc's own decay stays off for tier arenas
  // (unless purge_delay_ms is 0: punch on free): it purged inside the
  // program's malloc calls, a fallocate per 2 MiB plus page faults when the
  // memory was reused, and after a history of large frees it did so on every
  // round of a loop reusing 64 MiB of 256 KiB blocks (4.3 us per malloc+free
  // pair instead of 0.4 us). Here freed memory is punched 0 to
  // purge_delay_ms after its free, off the program's threads.
  void PurgeOnSchedule();
  // The runtime says whether its background thread runs (and so calls
  // PurgeOnSchedule); until then, and if it could not start, the tier
  // arenas decay on their own (dirty_decay_ms = purge_delay_ms).
  void SetScheduledPurge(bool on);

  // Called by the extent hooks (extent_hooks.cc); they run inside jemalloc
  // and must not allocate.
  void* MapNewSlots(int tier, size_t size, size_t alignment);
  bool ReleaseRange(void* addr, size_t len, bool must_read_zero);
  // Returns true on failure (jemalloc's convention): a file tier is full.
  bool CommitRange(void* addr, size_t len);
  bool IsFileTier(int tier) const { return tiers_[tier].backing.is_file_tier(); }

 private:
  TieredHeap() = default;
  void* PlaceOn(int tier, size_t size, size_t alignment, bool zero, bool spilled);
  // The tier's budget reservation; on the DRAM tier it takes the threads'
  // cached blocks back (thread_cache.h) before it gives up.
  bool Reserve(int tier, uint64_t bytes);
  unsigned ArenaOf(int tier);  // this thread's arena on `tier`
  void* TakeCached(size_t size, size_t alignment, bool zero);
  static void FlushCacheCounters(CachedBlock* cache);
  // The largest block a thread's cache keeps: glibc's largest heap-served
  // block (its mmap threshold's ceiling), and at most an eighth of the DRAM
  // budget, so that small budgets are not parked in caches.
  static constexpr size_t kMaxCachedBlock = size_t{32} << 20;
  static constexpr uint32_t kCacheFlushEvery = 1024;
  size_t CacheLimit() const;
  // True if every extent of [p, p+bytes) is on the DRAM tier and that tier
  // is open, what a cached block must be; the check (VerifyOnDram) is
  // skipped while nothing moved since it last held for this
  // block in `cache` (a block taken and freed again, the Pair loop).
  bool StillOnDram(CachedBlock* cache, const void* p, size_t bytes) const {
    if (cache->verified_block == p && cache->verified_size == bytes &&
        cache->verified_moves == moves_.load(std::memory_order_acquire)) {
      return true;
    }
    return VerifyOnDram(cache, p, bytes);
  }
  bool VerifyOnDram(CachedBlock* cache, const void* p, size_t bytes) const;
  // The per-slot ledger (image.h): Charge records a block whose bytes the
  // caller reserved on `reserved_on`; Discharge releases a block's bytes
  // from the tiers its slots are on now.
  void Charge(const void* p, size_t bytes, int reserved_on);
  void Discharge(const void* p, size_t bytes);
  // Moves slot s's live bytes to `to`'s budget (reserved there already as
  // `reserved`), atomically with frees; returns the tier they left.
  int TakeOverLedger(size_t s, int to, uint64_t reserved);
  // The books of a switch: the slot is mapped from c->to's file now.
  void BookSwitchLocked(SlotCopy* c);
  void DropSourceView(SlotCopy* c);
  // A slot's arena belongs to its owner tier and keeps the slot wherever
  // its data moved; blocks the arena placed there again would land on the
  // slot's current tier, not the one asked for. So when jemalloc purges a
  // whole moved slot (nothing in it is live, and jemalloc holds it), the
  // slot goes back to its owner's file, empty. Caller holds map_lock_.
  int ReturnSlotHomeLocked(size_t s);
  // racy: the program is running (the first copy), see os::WriteFullyRacy.
  int CopySlotData(size_t s, int to, uint64_t* copied, bool racy);
  template <class Fn>
  void ForEachSlotPiece(const void* p, size_t len, Fn fn);
  bool CreateArena(int tier, int index);
  void SetDirtyDecay(unsigned arena);  // under arena_lock_ (or before publication)
  void PurgeArenasOf(int tier);        // arena.<i>.purge on each of the tier's arenas
  int RemapRuns(SlotState from, bool shared);
  void ReopenTierFiles();  // after fork, on both sides
  uint64_t DropStrayPageCache();
  // True if it purged or evicted anything; *unfinished when it ran out of time.
  bool EnforceDramBudgetLocked(bool* unfinished);
  void WriteBehind(uint64_t bytes);

  static std::atomic<TieredHeap*> instance_;

  HeapImage image_;
  Tier tiers_[kMaxTiers];
  TierExtentHooks hooks_[kMaxTiers];
  int tier_count_ = 0;
  uint64_t tiered_min_size_ = 0;
  uint32_t purge_delay_ms_ = 0;
  int arenas_per_tier_ = 1;
  // Serialises changes to the image's mappings: carving, fork remaps and
  // the residency governor's zaps. Never held while calling into jemalloc.
  pthread_mutex_t map_lock_ = PTHREAD_MUTEX_INITIALIZER;
  // Serialises lazy arena creation. Taken before jemalloc's locks (and so
  // before map_lock_, which the hooks take), never after.
  pthread_mutex_t arena_lock_ = PTHREAD_MUTEX_INITIALIZER;
  // One residency pass at a time (the background thread's, and callers
  // such as tests).
  pthread_mutex_t governor_lock_ = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<uint64_t> failed_{0};
  void (*first_placement_hook_)() = nullptr;
  std::atomic<bool> placed_{false};
  bool forking_ = false;  // under map_lock_: new slots are mapped copy-on-write
  uint64_t last_purge_ms_ = 0;  // PurgeOnSchedule (background thread only)
  std::atomic<bool> scheduled_purge_{false};  // SetScheduledPurge
  size_t evict_hand_ = 0; // residency governor's clock hand (slot index)
  // Governor back-off (residency.cc), under governor_lock_.
  uint64_t governor_activity_ = 0;
  uint32_t governor_backoff_ = 1;
  uint32_t governor_countdown_ = 0;
  // Slot moves so far (and tiers closed by a fork): activity for the
  // governor, and the epoch of the thread caches' DRAM checks.
  std::atomic<uint64_t> moves_{0};
};

}  // namespace tiermem::heap
