// The runtime's lifecycle: start-up (policy, tiers, heap, stats page,
// background thread), fork handling, and access for the API and preload.
#pragma once

#include "heap/tiered_heap.h"

namespace tiermem::runtime {

// Reads the settings and policy and brings the tiered heap up. Called once,
// from the library's constructor. Never fails the host program: on a bad
// policy or an unusable tier it says so once on stderr and leaves the heap
// on DRAM only (unless TIERMEM_STRICT=1, which exits).
void Start();

// The tiered heap, or nullptr when running on DRAM only.
inline heap::TieredHeap* Heap() { return heap::TieredHeap::Instance(); }

// Around fork(): see heap/fork.cc. The child also gets its own stats page
// and background thread.
void PrepareFork();
void AfterForkParent();
void AfterForkChild();
// Registers PrepareFork/AfterFork* with pthread_atfork for programs that
// link libtiermem.so without the preload (whose fork() calls them itself).
void InstallForkHandlers();

}  // namespace tiermem::runtime
