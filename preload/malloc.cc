// The C allocation interface, interposed. Small requests go straight to
// jemalloc; requests of tiered_min_size and more, and every pointer inside
// the heap image, go to the tiered heap in libtiermem.so.
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "api/preload_abi.h"
#include "engine.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

using tiermem::preload::g_engine;
using tiermem::preload::g_state;

namespace {

inline bool IsTiered(size_t size) { return size >= g_state.tiered_min_size; }

inline bool InImage(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - g_state.image_base < g_state.image_size;
}

// glibc's memalign rounds a non-power-of-two alignment up; so do we.
inline size_t RoundAlignment(size_t alignment) {
  if (alignment <= 1) return 1;
  if ((alignment & (alignment - 1)) == 0) return alignment;
  return size_t{1} << (64 - __builtin_clzl(alignment));
}

void* AlignedAlloc(size_t alignment, size_t size) {
  if (alignment > (SIZE_MAX >> 1) + 1) {
    errno = EINVAL;
    return nullptr;
  }
  alignment = RoundAlignment(alignment);
  if (IsTiered(size)) return tiermem_preload_alloc(size, alignment, 0);
  void* p = mallocx(size == 0 ? 1 : size, alignment > 1 ? MALLOCX_ALIGN(alignment) : 0);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

}  // namespace

EXPORT void* malloc(size_t size) {
  if (!IsTiered(size)) return g_engine.malloc(size);
  return tiermem_preload_alloc(size, 0, 0);
}

EXPORT void free(void* p) {
  if (InImage(p)) {
    tiermem_preload_free(p);
    return;
  }
  g_engine.free(p);
}

EXPORT void* calloc(size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!IsTiered(total)) return g_engine.calloc(n, m);
  return tiermem_preload_alloc(total, 0, 1);
}

EXPORT void* realloc(void* p, size_t size) {
  if (p == nullptr) return malloc(size);
  if (size == 0) {  // as glibc: free and return NULL
    free(p);
    return nullptr;
  }
  if (InImage(p)) return tiermem_preload_realloc(p, size);
  if (!IsTiered(size)) return g_engine.realloc(p, size);
  // Growing a small block past the threshold: it moves onto the tiers.
  void* q = tiermem_preload_alloc(size, 0, 0);
  if (q == nullptr) return nullptr;  // p stays valid, as the standard requires
  size_t old = sallocx(p, 0);
  memcpy(q, p, old < size ? old : size);
  g_engine.free(p);
  return q;
}

EXPORT void* reallocarray(void* p, size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = AlignedAlloc(alignment, size);
  if (p == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

EXPORT void* aligned_alloc(size_t alignment, size_t size) { return AlignedAlloc(alignment, size); }
EXPORT void* memalign(size_t alignment, size_t size) { return AlignedAlloc(alignment, size); }
EXPORT void* valloc(size_t size) { return AlignedAlloc(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size); }

EXPORT void* pvalloc(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(page - 1);
  return AlignedAlloc(page, rounded == 0 ? page : rounded);
}

EXPORT size_t malloc_usable_size(void* p) {
  if (p == nullptr) return 0;
  if (InImage(p)) return tiermem_preload_usable_size(p);
  return sallocx(p, 0);
}
