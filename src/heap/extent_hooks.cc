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
  void* p = Self(h)->heap->MapNewSlots(Self(h)->tier, size, alignment);
  if (p != nullptr) {
    *zero = true;    // fresh file ranges read as zeros
    *commit = true;  // a file mapping needs no separate commit
  }
  return p;
}

// Returning true opts out: jemalloc keeps the range as "retained" and reuses
// it, so image slots are never unmapped while the arena lives.
bool Dalloc(extent_hooks_t*, void*, size_t, bool, unsigned) { return true; }

void Destroy(extent_hooks_t* h, void* addr, size_t size, bool, unsigned) {
  Self(h)->heap->ReleaseRange(addr, size, /*must_read_zero=*/false);
}

bool Commit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) { return false; }

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
  h->heap = heap;
  h->tier = tier;
}

}  // namespace tiermem::heap
