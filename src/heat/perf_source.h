// Hardware address sampling as a heat source: the CPU records the data
// address of one memory access in N (Intel PEBS "mem-loads", AMD IBS op
// sampling) into a perf_event ring. A region whose extents appear in the
// samples of an interval counts as touched in that interval; the sampler
// aggregates, splits and merges as with the page-table source, but nothing
// is zapped and nothing refaults.
//
// Opened for this process (pid 0, any CPU, inherited by threads created
// later); where the PMU is missing (these VMs) or perf_event_paranoid
// forbids it, Open fails and the runtime keeps the page-table source.
#pragma once

#include <cstdint>
#include <functional>

#include "heap/tiered_heap.h"
#include "heat/access_source.h"
#include "heat/perf_ring.h"

namespace tiermem::heat {

class PerfSampleSource final : public AccessSource {
 public:
  // Where records come from: the live mmap-ed ring, or (tests) a recorded
  // stream. Returns the bytes [tail, head) of a power-of-two ring.
  struct Ring {
    const unsigned char* data = nullptr;
    uint64_t size = 0;
    std::function<uint64_t()> head;          // reads data_head (acquire)
    std::function<void(uint64_t)> set_tail;  // writes data_tail (release)
    uint64_t tail = 0;
  };

  // Live: opens the hardware event; false (and *why) where it cannot.
  bool Open(heap::TieredHeap* heap, const char** why);
  // Tests: reads records from `ring` instead of the hardware.
  void OpenRecorded(heap::TieredHeap* heap, Ring ring);
  ~PerfSampleSource() override;

  const char* name() const override { return "perf"; }
  void Sample(Region* regions, size_t count) override;
  const PerfRingCounts& counts() const { return counts_; }

 private:
  heap::TieredHeap* heap_ = nullptr;
  Ring ring_;
  int fd_ = -1;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  PerfRingCounts counts_;
};

}  // namespace tiermem::heat
