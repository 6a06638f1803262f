// Where access information comes from. Each sampling interval the sampler
// hands every region to the source, which counts whether the region was
// touched since the previous interval and prepares the next check.
//
//  - PageTableSource (no special hardware, no privileges): "zap and check"
//    on memory tiers — drop one page's page-table entry (the data stays in
//    the memfd) and see in /proc/self/pagemap whether it came back — and
//    residency after eviction on file tiers — a page the governor evicted
//    that is in the page cache again was read.
//  - PerfSampleSource (perf_source.h): hardware address samples (Intel
//    PEBS, AMD IBS) where the machine offers them.
#pragma once

#include <cstddef>

#include "heat/region.h"

namespace tiermem::heat {

class AccessSource {
 public:
  virtual ~AccessSource() = default;
  virtual const char* name() const = 0;
  // Adds this interval's observation to each region (accesses, samples)
  // and arms the next one.
  virtual void Sample(Region* regions, size_t count) = 0;
  // In a forked child: reopen whatever describes the parent, not this process.
  virtual void AfterFork() {}
};

}  // namespace tiermem::heat
