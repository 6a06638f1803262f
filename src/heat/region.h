// A region of the heap image whose extents are sampled as one, in the
// manner of Linux DAMON: the sampler checks one random page per region per
// interval, so its cost grows with the number of regions, not with memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tiermem::heat {

enum class Probe : uint8_t {
  kNone,      // not armed (the slot was not sampleable)
  kZapped,    // page-table entry dropped: present again = touched
  kEvicted,   // file page out of the page cache: back in = touched
};

struct Region {
  size_t first;        // first slot
  size_t end;          // one past the last slot
  uint8_t tier;        // where the region's data is (all its slots alike)
  uint16_t accesses;   // samples in this window that found the probe touched
  uint16_t samples;    // samples taken in this window
  uintptr_t probe;     // the page armed by the last sample
  Probe probe_kind;
  bool seen;           // event sources: an access sample fell in this interval
  uint64_t cached;     // file tiers: page cache of the probe's 64 KiB window when armed
};

}  // namespace tiermem::heat
