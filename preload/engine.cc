#include "engine.h"

#include <dlfcn.h>
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>

namespace tiermem::preload {
namespace {

void* BootMalloc(size_t n) {
  void* p = mallocx(n == 0 ? 1 : n, 0);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void BootFree(void* p) {
  if (p != nullptr) dallocx(p, 0);
}

void* BootCalloc(size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = mallocx(total == 0 ? 1 : total, MALLOCX_ZERO);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* BootRealloc(void* p, size_t n) {
  if (p == nullptr) return BootMalloc(n);
  void* q = rallocx(p, n == 0 ? 1 : n, 0);
  if (q == nullptr) errno = ENOMEM;
  return q;
}

template <class Fn>
void Resolve(void* handle, const char* name, Fn* slot) {
  if (void* sym = dlsym(handle, name)) *slot = reinterpret_cast<Fn>(sym);
}

}  // namespace

Engine g_engine = {BootMalloc, BootFree, BootCalloc, BootRealloc};
struct tiermem_preload_state g_state = {SIZE_MAX, 0, 0};

void ResolveEngine() {
  void* handle = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return;  // keep the bootstrap path: correct, a little slower
  Engine resolved = g_engine;
  Resolve(handle, "malloc", &resolved.malloc);
  Resolve(handle, "free", &resolved.free);
  Resolve(handle, "calloc", &resolved.calloc);
  Resolve(handle, "realloc", &resolved.realloc);
  // Sanity: if dlsym led back to ourselves, the bootstrap path stays.
  if (reinterpret_cast<void*>(resolved.malloc) == dlsym(RTLD_DEFAULT, "malloc")) return;
  g_engine = resolved;
  dlclose(handle);
}

}  // namespace tiermem::preload

// jemalloc reads this at its initialisation; MALLOC_CONF in the environment
// still overrides it. Large requests over oversize_threshold (8 MiB by
// default) would otherwise bypass the tier arenas' purge delay and be
// punched on every free: one fallocate per extent of every large free.
// jemalloc's thread caches cover sizes up to 128 KiB (its own default stops
// at 32 KiB): a 64 KiB malloc+free pair otherwise goes through an arena lock
// and its extent map each time (300 ns instead of 39). Not further: what
// they hold is untiered DRAM outside any budget (docs/design.md).
// A freed extent may be reused for a request of any smaller size (jemalloc
// stops at 64x by default): freed large blocks coalesce into one dirty
// extent, and with the default a loop of 256 KiB blocks never reused a
// coalesced 64 MiB one. It mapped fresh memory on every round instead (a
// page fault per block, 4.3 us per malloc+free instead of 0.4 us) and kept
// 4.5 GiB of dirty pages after 60 rounds.
extern "C" __attribute__((visibility("default"))) const char* malloc_conf =
    "oversize_threshold:0,tcache_max:131072,lg_extent_max_active_fit:30";
