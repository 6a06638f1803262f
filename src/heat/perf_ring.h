// Reading PERF_RECORD_SAMPLE records out of a perf_event ring buffer (the
// kernel ABI of linux/perf_event.h): the live source reads the mmap-ed
// ring, tests a recorded byte stream of the same format.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tiermem::heat {

// The sample layout this reader expects (attr.sample_type).
inline constexpr uint64_t kPerfSampleType = (1u << 0) /*PERF_SAMPLE_IP*/ | (1u << 3) /*PERF_SAMPLE_ADDR*/;

struct PerfRingCounts {
  uint64_t samples = 0;  // PERF_RECORD_SAMPLE records read
  uint64_t lost = 0;     // samples the kernel dropped (PERF_RECORD_LOST)
  uint64_t other = 0;    // other record types, skipped
};

// Calls on_addr(data address) for each sample in the ring's data area
// [tail, head) (positions modulo `size`, a power of two; records may wrap
// around its end). Returns the new tail (== head unless a record is cut).
template <class OnAddr>
uint64_t ReadPerfRing(const unsigned char* data, uint64_t size, uint64_t tail, uint64_t head, PerfRingCounts* counts,
                      OnAddr on_addr);

}  // namespace tiermem::heat

#include "heat/perf_ring_impl.h"
