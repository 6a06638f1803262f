#include "heat/page_table_source.h"

#include <unistd.h>

#include "os/files.h"
#include "os/vm.h"

namespace tiermem::heat {

bool PageTableSource::Open(heap::TieredHeap* heap) {
  heap_ = heap;
  pagemap_fd_ = os::OpenPagemap();
  rng_ ^= static_cast<uint64_t>(getpid()) << 17;
  return pagemap_fd_ >= 0;
}

PageTableSource::~PageTableSource() {
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

void PageTableSource::AfterFork() {
  // The inherited fd reads the parent's page tables.
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
  pagemap_fd_ = os::OpenPagemap();
}

bool PageTableSource::Touched(const Region& r) const {
  switch (r.probe_kind) {
    case Probe::kZapped:
      return os::PagePresent(pagemap_fd_, r.probe);
    case Probe::kEvicted:
      return os::PageInCore(r.probe);
    case Probe::kNone:
      break;
  }
  return false;
}

uintptr_t PageTableSource::PickPage(const Region& r) {
  // xorshift64: cheap, and good enough to spread probes.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const heap::HeapImage& image = heap_->image();
  const uint64_t pages_per_slot = image.extent_size() / os::PageSize();
  const uint64_t pages = (r.end - r.first) * pages_per_slot;
  const uint64_t page = rng_ % pages;
  return reinterpret_cast<uintptr_t>(image.SlotAddress(r.first)) + page * os::PageSize();
}

// The page cache of the 64 KiB window of a file-tier region around its
// probe (one cachestat): when it grew since the probe was armed, a page of
// the window was read back in. A window, not the whole region: cachestat
// walks every page of its range.
uint64_t PageTableSource::WindowCache(const Region& r) const {
  constexpr uint64_t kWindow = 64 << 10;  // what a read fault maps around the probe on memory tiers
  const heap::HeapImage& image = heap_->image();
  const int home = image.home(r.first);
  if (!heap_->IsFileTier(home)) return 0;
  const uint64_t region_begin = image.SlotOffset(r.first), region_end = image.SlotOffset(r.end);
  const uint64_t probe = r.probe - image.base();
  uint64_t begin = probe & ~(kWindow - 1);
  if (begin < region_begin) begin = region_begin;
  const uint64_t end = begin + kWindow < region_end ? begin + kWindow : region_end;
  os::CacheState state;
  if (!os::PageCacheState(heap_->tier(home).backing.fd(), begin, end - begin, &state)) return 0;
  return state.cached_bytes;
}

void PageTableSource::Sample(Region* regions, size_t count) {
  const heap::HeapImage& image = heap_->image();
  for (size_t i = 0; i < count; ++i) {
    Region& r = regions[i];
    if (r.probe_kind != Probe::kNone) {
      // Evicted data read back anywhere in the probe's 64 KiB window counts
      // as well as the probe page: data that lives on a file tier under a tight budget is
      // evicted over and over, and while it is, accesses to it are too slow
      // for one page in a thousand to catch them.
      const bool refaulted = heap_->IsFileTier(image.home(r.first)) && WindowCache(r) > r.cached;
      r.accesses += refaulted || (pagemap_fd_ >= 0 && Touched(r));
      r.samples++;
    }
    r.probe = PickPage(r);
    r.probe_kind = Probe::kNone;
  }
  // Arm the new probes under the slot lock: a fork must not turn a slot
  // private between the state check and the zap.
  heap_->LockSlots();
  for (size_t i = 0; i < count; ++i) {
    Region& r = regions[i];
    const size_t slot = image.SlotOf(reinterpret_cast<void*>(r.probe));
    if (image.state(slot) != heap::SlotState::kShared) continue;
    r.cached = WindowCache(r);
    if (heap_->IsFileTier(image.home(slot)) && !os::PageInCore(r.probe)) {
      r.probe_kind = Probe::kEvicted;
    } else if (os::DropMappings(reinterpret_cast<void*>(r.probe), os::PageSize()) == 0) {
      r.probe_kind = Probe::kZapped;
    }
  }
  heap_->UnlockSlots();
}

}  // namespace tiermem::heat
