// A one-block cache per thread for tiered allocations on the first (DRAM)
// tier. A loop that frees and re-allocates a large buffer — the common
// pattern of data-processing code, and what glibc serves from the top of
// its heap for blocks up to 32 MiB — then costs no trip through jemalloc's
// arena locks, no budget atomics and no page faults.
//
// A cached block keeps its budget reservation, so it never makes the tier
// overshoot its budget; what it can do is take room a live block needs.
// Hence two ways back to jemalloc that do not depend on the owner:
// ReclaimCachedBlocks (a placement that found the tier full takes every
// thread's block before it spills) and TrimIdleCaches (the background
// thread takes blocks their owner did not touch for a decay period).
// Owner and reclaimer meet only on `block`, by atomic exchange.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tiermem::heap {

struct CachedBlock {
  std::atomic<void*> block{nullptr};
  // Written and read by the owner only.
  size_t size = 0;  // jemalloc's usable size (its size class) of `block`
  // The last request size looked up and its size class: a loop asking for
  // the same size skips the lookup.
  size_t last_request = 0;
  size_t last_class = 0;
  // The block (and its size) last found to lie wholly on the DRAM tier, and
  // the heap's move count then: while no extent moved since, it still does,
  // and the check (a load per extent) is skipped.
  void* verified_block = nullptr;
  size_t verified_size = 0;
  uint64_t verified_moves = 0;
  // Cache hits not yet added to the tier's shared counters: two threads
  // incrementing one cache line per hit doubled a hit's cost.
  uint32_t pending_allocations = 0;
  uint64_t pending_bytes = 0;
  // Set by the owner on use, cleared by TrimIdleCaches.
  std::atomic<bool> touched{false};
  // Written only when it changes: the owner's hit path stays read-only here.
  void MarkTouched() {
    if (!touched.load(std::memory_order_relaxed)) touched.store(true, std::memory_order_relaxed);
  }
  // The registry of live caches (thread_cache.cc), under its lock.
  CachedBlock* next = nullptr;
  CachedBlock* prev = nullptr;
};

namespace cache_internal {
// initial-exec: libtiermem.so is loaded with the program (directly or by
// the preload), and the general TLS model costs a call per access.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local CachedBlock t_cache;
// 1: registered; 2: the thread-exit destructor ran (other keys' destructors
// may still free blocks afterwards: those go straight back to jemalloc).
extern constinit __attribute__((tls_model("initial-exec"))) thread_local unsigned char t_state;
CachedBlock* RegisterThisThread();
}  // namespace cache_internal

// Returns the calling thread's cache, registering it for release at thread
// exit on first use; nullptr where that is not possible.
inline CachedBlock* ThisThreadCache() {
  if (__builtin_expect(cache_internal::t_state == 1, 1)) return &cache_internal::t_cache;
  return cache_internal::RegisterThisThread();
}
// Creates the thread-exit key. `release` frees a block for real; `flush`
// adds a cache's pending counts to the shared counters (owner or exit).
bool InitThreadCache(void (*release)(void* block), void (*flush)(CachedBlock* cache));

// Takes every thread's cached block and releases it. Returns the number
// released. Cheap when no cache was filled since the last reclaim.
size_t ReclaimCachedBlocks();
// Called by an owner that filled its cache (the reclaim's hint).
void NoteCachedBlock();
// Releases the blocks of caches whose owner did not use them since the
// previous call. Returns the number released.
size_t TrimIdleCaches();

// fork(): the registry lock is held across it; the child keeps only the
// forking thread's cache and releases the blocks of the threads it lost.
void PrepareForkCaches();
void AfterForkCachesParent();
void AfterForkCachesChild();

}  // namespace tiermem::heap
