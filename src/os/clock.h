// The monotonic clock, the one every timeout, pause and window in tiermem
// is measured on.
#pragma once

#include <time.h>

#include <cstdint>

namespace tiermem::os {

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t MonotonicUs() { return MonotonicNs() / 1000u; }

}  // namespace tiermem::os
