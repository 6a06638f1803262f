// Zap-and-check and residency-after-eviction (see access_source.h). On a
// file tier the page cache of the 64 KiB window around the probe is also
// compared between arming and checking (one cachestat): growth means
// something in it was read back after the governor evicted it.
//
// Zapping is only safe on a MAP_SHARED mapping (the data stays in the file;
// on a private copy-on-write view it would be discarded), so probes are set
// under the heap's slot lock and only on slots in the shared state. A read
// refault maps its neighbours too (fault-around, 64 KiB by default), so a
// present probe means "this 64 KiB window was touched".
#pragma once

#include <cstdint>

#include "heap/tiered_heap.h"
#include "heat/access_source.h"

namespace tiermem::heat {

class PageTableSource final : public AccessSource {
 public:
  // Returns false if /proc/self/pagemap cannot be read.
  bool Open(heap::TieredHeap* heap);
  ~PageTableSource() override;
  const char* name() const override { return "page-table"; }
  void Sample(Region* regions, size_t count) override;
  void AfterFork() override;

 private:
  bool Touched(const Region& r) const;
  uint64_t WindowCache(const Region& r) const;
  uintptr_t PickPage(const Region& r);

  heap::TieredHeap* heap_ = nullptr;
  int pagemap_fd_ = -1;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace tiermem::heat
