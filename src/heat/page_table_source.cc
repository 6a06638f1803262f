#include "heat/page_table_source.h"

#include <unistd.h>

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

void PageTableSource::Sample(Region* regions, size_t count) {
  const heap::HeapImage& image = heap_->image();
  for (size_t i = 0; i < count; ++i) {
    Region& r = regions[i];
    if (r.probe_kind != Probe::kNone) {
      r.accesses += pagemap_fd_ >= 0 && Touched(r);
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
    if (heap_->IsFileTier(image.home(slot)) && !os::PageInCore(r.probe)) {
      r.probe_kind = Probe::kEvicted;
    } else if (os::DropMappings(reinterpret_cast<void*>(r.probe), os::PageSize()) == 0) {
      r.probe_kind = Probe::kZapped;
    }
  }
  heap_->UnlockSlots();
}

}  // namespace tiermem::heat
