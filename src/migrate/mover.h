// The mover: moves heap extents between tiers with the heap's primitives
// (heap/slot_moves.cc), holding the program's threads (world_stop.h) only
// for moves that copy, in batches whose pause stays under a bound.
//
// Memory-to-memory moves need no pause: the kernel moves the pages under
// the program. Moves to or from a file tier copy the data and switch the
// mapping; writes in between would be lost, so every other thread is held
// for the batch. File-tier sources are read into the page cache before the
// pause, and data moved down to a file is written back and dropped after
// it, so the pause copies memory to memory and the data really leaves DRAM.
#pragma once

#include <cstddef>
#include <cstdint>

#include "heap/tiered_heap.h"

namespace tiermem::migrate {

struct MoverLimits {
  uint32_t max_pause_us = 10000;     // target bound on one pause
  uint32_t stop_timeout_us = 100000; // give up stopping after this long
  int stop_attempts = 3;             // then report -EAGAIN
};

void SetMoverLimits(const MoverLimits& limits);

// Moves every extent holding a byte of [p, p+len) to tier `to`. Returns 0 or
// -errno: -EINVAL (not tiered memory, no such tier), -EBUSY (pinned, or
// shared copy-on-write with a forked child), -ENOMEM (`to` is full; extents
// moved before stay moved), -EAGAIN (the world could not be stopped).
int MoveRange(heap::TieredHeap* heap, const void* p, size_t len, int to);

// Moves the given slots to `to`, best effort, skipping slots that cannot
// move; returns how many moved. *first_error gets the first refusal.
size_t MoveSlots(heap::TieredHeap* heap, const size_t* slots, size_t count, int to, int* first_error);

// Around fork(): no move in flight while the image is remapped. In the
// child the lock is made anew (its holder may be a thread that is not there).
void LockMover();
void UnlockMover();
void ResetMoverAfterFork();

}  // namespace tiermem::migrate
