#include "heap/extent_hooks.h"

#include "heap/tiered_heap.h"

namespace tiermem::heap {
namespace {

TierExtentHooks* Self(extent_hooks_t* h) { return reinterpret_cast<TierExtentHooks*>(h); }

void* Alloc(extent_hooks_t* h, void* new_addr, size_t size, size_t alignment, bool* zero, bool* commit,
            unsigned /*arena_ind*/) {
  // jemalloc asks for a specific address only to grow an extent in place;
  // slots are handed out once, so decline and let it allocate elsewhere.
  if (new_addr != nullptr) return nullptr;
  TieredHeap* heap = Self(h)->heap;
  const int tier = Self(h)->tier;
  void* p = heap->MapNewSlots(tier, size, alignment);
  if (p == nullptr) return nullptr;
  *zero = true;  // fresh file ranges read as zeros
  if (!heap->IsFileTier(tier)) {
    *commit = true;  // memfd pages need no reservation
  } else if (*commit && heap->CommitRange(p, size)) {
    return nullptr;  // the disk is full: the slots stay carved but unused
  }
  return p;
}

// Returning true opts out: jemalloc keeps the range as "retained" and reuses
// it, so image slots are never unmapped while the arena lives.
bool Dalloc(extent_hooks_t*, void*, size_t, bool, unsigned) { return true; }

void Destroy(extent_hooks_t* h, void* addr, size_t size, bool, unsigned) {
  Self(h)->heap->ReleaseRange(addr, size, /*must_read_zero=*/false);
}

// On file tiers, commit reserves disk blocks and decommit punches them, so
// jemalloc learns of a full disk when it reuses or grows an extent, and the
// placement spills to the next tier instead of a write faulting (SIGBUS).
bool Commit(extent_hooks_t* h, void* addr, size_t, size_t offset, size_t length, unsigned) {
  return Self(h)->heap->CommitRange(static_cast<char*>(addr) + offset, length);
}

bool Decommit(extent_hooks_t* h, void* addr, size_t, size_t offset, size_t length, unsigned) {
  return Self(h)->heap->ReleaseRange(static_cast<char*>(addr) + offset, length, /*must_read_zero=*/true);
}

bool PurgeLazy(extent_hooks_t* h, void* addr, size_t, size_t offset, size_t length, unsigned) {
  return Self(h)->heap->ReleaseRange(static_cast<char*>(addr) + offset, length, /*must_read_zero=*/false);
}

bool PurgeForced(extent_hooks_t* h, void* addr, size_t, size_t offset, size_t length, unsigned) {
  return Self(h)->heap->ReleaseRange(static_cast<char*>(addr) + offset, length, /*must_read_zero=*/true);
}

// The whole image is one contiguous reservation, so any adjacent ranges of
// an arena can be split and merged freely.
bool Split(extent_hooks_t*, void*, size_t, size_t, size_t, bool, unsigned) { return false; }
bool Merge(extent_hooks_t*, void*, size_t, void*, size_t, bool, unsigned) { return false; }

}  // namespace

void InitExtentHooks(TierExtentHooks* h, TieredHeap* heap, int tier) {
  h->hooks = extent_hooks_t{Alloc, Dalloc, Destroy, Commit, Decommit, PurgeLazy, PurgeForced, Split, Merge};
  if (heap->IsFileTier(tier)) {
    // Without purge hooks jemalloc frees file-tier memory by decommitting
    // it, and so commits (reserves disk blocks) before it reuses any.
    h->hooks.purge_lazy = nullptr;
    h->hooks.purge_forced = nullptr;
  }
  h->heap = heap;
  h->tier = tier;
}

}  // namespace tiermem::heap
