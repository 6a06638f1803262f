#include "heap/thread_cache.h"

#include <pthread.h>

namespace tiermem::heap {
namespace {

pthread_key_t g_key;
bool g_ready = false;
void (*g_release)(void*) = nullptr;
void (*g_flush)(CachedBlock*) = nullptr;
// The live caches. Reclaimers walk it and call into jemalloc under the
// lock, so it is taken before any jemalloc or heap lock, never after.
pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
CachedBlock* g_registry = nullptr;
// Set in the thread that holds the registry lock across a fork: pthread_atfork
// handlers run in between, and one that allocates must not wait for it.
__attribute__((tls_model("initial-exec"))) thread_local bool t_holds_registry = false;
// A hint that some cache may hold a block, so that a spilling placement
// does not walk every thread when none does. Owners set it when they fill
// (a read-mostly line: they only write it when it is clear); a reclaim
// clears it before its walk. An owner that fills just behind the walk may
// stay uncounted until its next fill: its block then waits for the trim.
std::atomic<bool> g_maybe_cached{false};

void LockRegistry() {
  if (!t_holds_registry) pthread_mutex_lock(&g_registry_lock);
}
void UnlockRegistry() {
  if (!t_holds_registry) pthread_mutex_unlock(&g_registry_lock);
}
void LinkLocked(CachedBlock* cache) {
  cache->prev = nullptr;
  cache->next = g_registry;
  if (g_registry != nullptr) g_registry->prev = cache;
  g_registry = cache;
}

void UnlinkLocked(CachedBlock* cache) {
  if (cache->prev != nullptr) cache->prev->next = cache->next;
  if (cache->next != nullptr) cache->next->prev = cache->prev;
  if (g_registry == cache) g_registry = cache->next;
  cache->next = cache->prev = nullptr;
}

void ReleaseBlockOf(CachedBlock* cache) {
  if (void* block = cache->block.exchange(nullptr, std::memory_order_acquire)) g_release(block);
}

void OnThreadExit(void* arg) {
  cache_internal::t_state = 2;
  auto* cache = static_cast<CachedBlock*>(arg);
  LockRegistry();
  UnlinkLocked(cache);
  UnlockRegistry();
  ReleaseBlockOf(cache);
  g_flush(cache);
}

}  // namespace

bool InitThreadCache(void (*release)(void* block), void (*flush)(CachedBlock* cache)) {
  g_release = release;
  g_flush = flush;
  g_ready = pthread_key_create(&g_key, OnThreadExit) == 0;
  return g_ready;
}

namespace cache_internal {

constinit __attribute__((tls_model("initial-exec"))) thread_local CachedBlock t_cache;
constinit __attribute__((tls_model("initial-exec"))) thread_local unsigned char t_state = 0;

CachedBlock* RegisterThisThread() {
  if (!g_ready || t_state != 0) return nullptr;
  // The value only has to be non-null for the destructor to run.
  if (pthread_setspecific(g_key, &t_cache) != 0) return nullptr;
  LockRegistry();
  LinkLocked(&t_cache);
  UnlockRegistry();
  t_state = 1;
  return &t_cache;
}

}  // namespace cache_internal

void NoteCachedBlock() {
  if (!g_maybe_cached.load(std::memory_order_relaxed)) g_maybe_cached.store(true, std::memory_order_relaxed);
}

namespace {

// Releases the block of every registered cache for which `keep` is false.
template <class Keep>
size_t ReleaseBlocksUnless(Keep keep) {
  size_t released = 0;
  LockRegistry();
  for (CachedBlock* c = g_registry; c != nullptr; c = c->next) {
    if (keep(c) || c->block.load(std::memory_order_relaxed) == nullptr) continue;
    if (void* block = c->block.exchange(nullptr, std::memory_order_acquire)) {
      g_release(block);
      ++released;
    }
  }
  UnlockRegistry();
  return released;
}

}  // namespace

size_t ReclaimCachedBlocks() {
  if (!g_maybe_cached.load(std::memory_order_relaxed)) return 0;
  // Cleared first (under the walk's lock in effect: owners that fill behind
  // the walk set it again).
  g_maybe_cached.store(false, std::memory_order_relaxed);
  return ReleaseBlocksUnless([](CachedBlock*) { return false; });
}

size_t TrimIdleCaches() {
  // A cache used since the last trim is kept, and marked unused.
  return ReleaseBlocksUnless([](CachedBlock* c) { return c->touched.exchange(false, std::memory_order_relaxed); });
}

void PrepareForkCaches() {
  pthread_mutex_lock(&g_registry_lock);
  t_holds_registry = true;
}

void AfterForkCachesParent() {
  t_holds_registry = false;
  pthread_mutex_unlock(&g_registry_lock);
}

void AfterForkCachesChild() {
  // The other threads are gone, and glibc may reuse their TLS for new ones:
  // their caches leave the registry, and their blocks go back to jemalloc
  // (the list was consistent at the fork: we held its lock).
  // This thread still holds the lock (a plain unlock, not a re-init: a
  // thread that a child atfork handler started may be waiting on it).
  CachedBlock* lost = g_registry;
  g_registry = nullptr;
  while (lost != nullptr) {
    CachedBlock* next = lost->next;
    if (lost != &cache_internal::t_cache) ReleaseBlockOf(lost);
    lost = next;
  }
  if (cache_internal::t_state == 1) LinkLocked(&cache_internal::t_cache);
  t_holds_registry = false;
  pthread_mutex_unlock(&g_registry_lock);
}

}  // namespace tiermem::heap
