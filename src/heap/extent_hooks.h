// jemalloc extent hooks that back a tier's arena with slots of the heap
// image. One hooks table per tier; the tier is recovered from the table's
// address, so the hooks need no lookup and no allocation.
#pragma once

#include <jemalloc/jemalloc.h>

namespace tiermem::heap {

class TieredHeap;

struct TierExtentHooks {
  extent_hooks_t hooks;  // first member: jemalloc hands back a pointer to it
  TieredHeap* heap;
  int tier;
};

void InitExtentHooks(TierExtentHooks* h, TieredHeap* heap, int tier);

}  // namespace tiermem::heap
