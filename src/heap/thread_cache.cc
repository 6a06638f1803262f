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
  pthread_mutex_lock(&g_registry_lock);
  UnlinkLocked(cache);
  pthread_mutex_unlock(&g_registry_lock);
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

__attribute__((tls_model("initial-exec"))) thread_local CachedBlock t_cache;
__attribute__((tls_model("initial-exec"))) thread_local unsigned char t_state = 0;

CachedBlock* RegisterThisThread() {
  if (!g_ready || t_state != 0) return nullptr;
  // The value only has to be non-null for the destructor to run.
  if (pthread_setspecific(g_key, &t_cache) != 0) return nullptr;
  pthread_mutex_lock(&g_registry_lock);
  LinkLocked(&t_cache);
  pthread_mutex_unlock(&g_registry_lock);
  t_state = 1;
  return &t_cache;
}

}  // namespace cache_internal

size_t ReclaimCachedBlocks() {
  size_t released = 0;
  pthread_mutex_lock(&g_registry_lock);
  for (CachedBlock* c = g_registry; c != nullptr; c = c->next) {
    if (c->block.load(std::memory_order_relaxed) == nullptr) continue;
    if (void* block = c->block.exchange(nullptr, std::memory_order_acquire)) {
      g_release(block);
      ++released;
    }
  }
  pthread_mutex_unlock(&g_registry_lock);
  return released;
}

size_t TrimIdleCaches() {
  size_t released = 0;
  pthread_mutex_lock(&g_registry_lock);
  for (CachedBlock* c = g_registry; c != nullptr; c = c->next) {
    if (c->touched.exchange(false, std::memory_order_relaxed)) continue;
    if (c->block.load(std::memory_order_relaxed) == nullptr) continue;
    if (void* block = c->block.exchange(nullptr, std::memory_order_acquire)) {
      g_release(block);
      ++released;
    }
  }
  pthread_mutex_unlock(&g_registry_lock);
  return released;
}

void PrepareForkCaches() { pthread_mutex_lock(&g_registry_lock); }

void AfterForkCachesParent() { pthread_mutex_unlock(&g_registry_lock); }

void AfterForkCachesChild() {
  // The other threads are gone, and glibc may reuse their TLS for new ones:
  // their caches leave the registry, and their blocks go back to jemalloc
  // (the list was consistent at the fork: we held its lock).
  CachedBlock* lost = g_registry;
  g_registry = nullptr;
  pthread_mutex_init(&g_registry_lock, nullptr);
  while (lost != nullptr) {
    CachedBlock* next = lost->next;
    if (lost != &cache_internal::t_cache) ReleaseBlockOf(lost);
    lost = next;
  }
  if (cache_internal::t_state == 1) LinkLocked(&cache_internal::t_cache);
}

}  // namespace tiermem::heap
