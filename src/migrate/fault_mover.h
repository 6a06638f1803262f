// The userfaultfd engine: moves one extent between a memory tier and a
// file tier while the kernel holds only the threads that touch it, where
// the stop-the-world engine (world_stop.h) holds every thread of the
// process for the copy.
//
//  - Down (memory to file): the slot is write-protected (uffd-wp on the
//    shmem mapping), copied, mapped from the file, and the writers that
//    waited are woken: they retry on the new mapping. Readers never wait.
//  - Up (file to memory): a regular file cannot be write-protected, so the
//    slot's mapping is switched first: the memory tier's range gets a first
//    copy, is registered for minor and missing faults (every access traps)
//    and is moved over the slot in one mremap(); the final data is copied
//    again and the slot unregistered. A thread that touches the slot
//    meanwhile waits for that.
//
// Faults inside system calls wait the same way (a read() into a held
// buffer returns when the move is done), so no call sees EFAULT, and no
// signal is sent: nothing returns EINTR because of a move.
//
// A thread of its own reads the userfaultfd: the kernel reports each wait
// there, and mremap() of a registered range returns only after its event
// has been read.
#pragma once

#include <cstddef>

#include "heap/tiered_heap.h"

namespace tiermem::migrate {

enum class MoveEngine { kAuto, kFaults, kSignal };

// Chooses the engine for copies; kAuto and kFaults use userfaultfd where
// it is usable and the signal otherwise. kAuto opens it on the first copy;
// kFaults opens it now (not while moves run), and returns false with *why
// when it cannot be used.
bool SetMoveEngine(MoveEngine engine, const char** why);

// Whether slot s moves to `to` with this engine: it is on, usable, and the
// move is between a memory tier and a file tier of a shared slot.
bool UseFaultEngine(heap::TieredHeap* heap, size_t s, int to);

// Moves slot s to `to`. Caller holds the mover's lock, not LockSlots.
// Returns 0 or -errno (the slot is then where it was).
int MoveSlotByFaults(heap::TieredHeap* heap, size_t s, int to, uint64_t* bytes, int* from);

// In a forked child: the parent's userfaultfd belongs to the parent's
// address space; it is closed, and opened anew on the child's first move.
void ResetFaultEngineAfterFork();

}  // namespace tiermem::migrate
