#include "heap/thread_cache.h"

#include <pthread.h>

namespace tiermem::heap {
namespace {

pthread_key_t g_key;
bool g_ready = false;
void (*g_release)(void*) = nullptr;
// initial-exec: libtiermem.so is loaded with the program (directly or by
// the preload), and the general TLS model costs a call per access.
__attribute__((tls_model("initial-exec"))) thread_local CachedBlock t_cache;
__attribute__((tls_model("initial-exec"))) thread_local bool t_registered = false;
// Set once the thread-exit destructor ran: other keys' destructors may still
// free blocks afterwards, and those must go straight back to jemalloc.
__attribute__((tls_model("initial-exec"))) thread_local bool t_exiting = false;

void OnThreadExit(void* arg) {
  t_exiting = true;
  auto* cache = static_cast<CachedBlock*>(arg);
  if (cache->block != nullptr) {
    void* block = cache->block;
    cache->block = nullptr;
    g_release(block);
  }
}

}  // namespace

bool InitThreadCache(void (*release)(void* block)) {
  g_release = release;
  g_ready = pthread_key_create(&g_key, OnThreadExit) == 0;
  return g_ready;
}

CachedBlock* ThisThreadCache() {
  if (!g_ready || t_exiting) return nullptr;
  if (!t_registered) {
    // The value only has to be non-null for the destructor to run.
    if (pthread_setspecific(g_key, &t_cache) != 0) return nullptr;
    t_registered = true;
  }
  return &t_cache;
}

}  // namespace tiermem::heap
