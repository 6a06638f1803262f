// A one-block cache per thread for tiered allocations on the first (DRAM)
// tier no larger than one extent. A loop that frees and re-allocates a
// large buffer — the common pattern of data-processing code — then costs no
// trip through jemalloc's arena locks. The cached block keeps its budget
// reservation, so the budget's slack is at most one extent per thread, as
// the design allows.
#pragma once

#include <cstddef>

namespace tiermem::heap {

struct CachedBlock {
  void* block = nullptr;
  size_t size = 0;  // jemalloc's usable size (its size class)
  // The last request size looked up and its size class: a loop asking for
  // the same size skips the lookup.
  size_t last_request = 0;
  size_t last_class = 0;
};

// Returns the calling thread's cache, registering it for release at thread
// exit on first use; nullptr where that is not possible.
CachedBlock* ThisThreadCache();
// Creates the thread-exit key. `release` frees a block for real.
bool InitThreadCache(void (*release)(void* block));

}  // namespace tiermem::heap
