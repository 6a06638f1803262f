// The public C API (include/tiermem/tiermem.h).
#include "tiermem/tiermem.h"

#include <jemalloc/jemalloc.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "migrate/mover.h"
#include "runtime/runtime.h"
#include "runtime/tiering_setup.h"

#define TIERMEM_EXPORT __attribute__((visibility("default")))

using tiermem::heap::TieredHeap;
using tiermem::runtime::Heap;

namespace {

// Calls fn(slot) for each carved extent of [addr, addr+len); -EINVAL if the
// range is not all tiered memory.
template <class Fn>
int ForEachSlot(void* addr, size_t len, Fn fn) {
  TieredHeap* heap = Heap();
  if (heap == nullptr || len == 0 || !heap->Contains(addr) || !heap->Contains(static_cast<char*>(addr) + len - 1)) {
    return -EINVAL;
  }
  const auto& image = heap->image();
  const size_t first = image.SlotOf(addr);
  const size_t last = image.SlotOf(static_cast<char*>(addr) + len - 1);
  for (size_t s = first; s <= last; ++s) {
    if (image.state(s) == tiermem::heap::SlotState::kUnused) return -EINVAL;
  }
  for (size_t s = first; s <= last; ++s) fn(s);
  return 0;
}

int Result(int rc) {
  if (rc == 0) return 0;
  errno = -rc;
  return -1;
}

}  // namespace

extern "C" {

TIERMEM_EXPORT int tiermem_tier_count(void) {
  TieredHeap* heap = Heap();
  return heap != nullptr ? heap->tier_count() : 1;
}

TIERMEM_EXPORT int tiermem_tier_index(const char* name) {
  if (name == nullptr) return -1;
  TieredHeap* heap = Heap();
  if (heap == nullptr) return strcmp(name, "dram") == 0 ? 0 : -1;
  for (int t = 0; t < heap->tier_count(); ++t) {
    if (heap->tier(t).spec.name == name) return t;
  }
  return -1;
}

TIERMEM_EXPORT const char* tiermem_tier_name(int tier) {
  TieredHeap* heap = Heap();
  if (heap == nullptr) return tier == 0 ? "dram" : nullptr;
  if (tier < 0 || tier >= heap->tier_count()) return nullptr;
  return heap->tier(tier).spec.name.c_str();
}

TIERMEM_EXPORT void* tiermem_aligned_alloc_on(int tier, size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  TieredHeap* heap = Heap();
  if (heap == nullptr) {
    // DRAM only: tier 0 is jemalloc's own DRAM arenas.
    if (tier != 0) {
      errno = EINVAL;
      return nullptr;
    }
    // Through the process's own malloc, so free() takes it back.
    void* p = nullptr;
    int rc = posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, size == 0 ? 1 : size);
    if (rc != 0) errno = rc;
    return rc == 0 ? p : nullptr;
  }
  return heap->AllocateOn(tier, size, alignment, false);
}

TIERMEM_EXPORT void* tiermem_malloc_on(int tier, size_t size) { return tiermem_aligned_alloc_on(tier, 1, size); }

TIERMEM_EXPORT void tiermem_free(void* ptr) {
  if (ptr == nullptr) return;
  TieredHeap* heap = Heap();
  if (heap != nullptr && heap->Contains(ptr)) {
    heap->Free(ptr);
  } else {
    free(ptr);  // the process's own malloc (jemalloc's under the preload)
  }
}

TIERMEM_EXPORT int tiermem_move(void* addr, size_t len, int tier) {
  TieredHeap* heap = Heap();
  const int rc = heap != nullptr ? tiermem::migrate::MoveRange(heap, addr, len, tier) : -EINVAL;
  if (rc != 0) {
    errno = -rc;
    return -1;
  }
  return 0;
}

TIERMEM_EXPORT int tiermem_pin(void* addr, size_t len) {
  return Result(ForEachSlot(addr, len, [](size_t s) { Heap()->image().pins(s).fetch_add(1); }));
}

TIERMEM_EXPORT int tiermem_unpin(void* addr, size_t len) {
  return Result(ForEachSlot(addr, len, [](size_t s) {
    std::atomic<uint16_t>& pins = Heap()->image().pins(s);
    uint16_t n = pins.load();
    while (n != 0 && !pins.compare_exchange_weak(n, n - 1)) {
    }
  }));
}

TIERMEM_EXPORT int tiermem_hint(void* addr, size_t len, int hint) {
  if (hint != TIERMEM_HINT_COLD && hint != TIERMEM_HINT_HOT) return Result(-EINVAL);
  return Result(ForEachSlot(addr, len, [hint](size_t s) {
    if (auto* sampler = tiermem::runtime::Sampler()) sampler->Hint(s, hint == TIERMEM_HINT_HOT);
  }));
}

TIERMEM_EXPORT int tiermem_tier_of(const void* ptr) {
  TieredHeap* heap = Heap();
  return heap != nullptr ? heap->TierOf(ptr) : -1;
}

TIERMEM_EXPORT int tiermem_get_stats(int tier, tiermem_tier_stats* out) {
  TieredHeap* heap = Heap();
  if (out == nullptr || tier < 0 || tier >= tiermem_tier_count()) {
    errno = EINVAL;
    return -1;
  }
  memset(out, 0, sizeof *out);
  if (heap == nullptr) {
    snprintf(out->name, sizeof out->name, "dram");
    snprintf(out->kind, sizeof out->kind, "dram");
    return 0;
  }
  heap->FlushThisThreadCounters();
  tiermem::heap::ReclaimCachedBlocks();
  tiermem::heap::Tier& t = heap->tier(tier);
  snprintf(out->name, sizeof out->name, "%s", t.spec.name.c_str());
  snprintf(out->kind, sizeof out->kind, "%s", tiermem::config::TierKindName(t.spec.kind));
  out->budget = t.spec.budget.value_or(0);
  out->live_bytes = t.budget.used();
  out->resident_bytes = t.backing.DramBytes();
  out->file_bytes = t.backing.AllocatedBytes();
  out->extents = t.counters.extents.load(std::memory_order_relaxed);
  out->allocations = t.counters.allocations.load(std::memory_order_relaxed);
  out->spills_in = t.counters.spills_in.load(std::memory_order_relaxed);
  return 0;
}

TIERMEM_EXPORT size_t tiermem_extent_size(void) {
  TieredHeap* heap = Heap();
  return heap != nullptr ? heap->image().extent_size() : 0;
}

}  // extern "C"
