#include "heat/perf_source.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "os/vm.h"

namespace tiermem::heat {
namespace {

constexpr size_t kRingPages = 64;  // data area, a power of two

// Reads a sysfs PMU description: its type, and for Intel the mem-loads
// event's encoding ("event=0xcd,umask=0x1,ldlat=3").
bool ReadSmall(const char* path, char* buf, size_t len) {
  FILE* f = fopen(path, "re");
  if (f == nullptr) return false;
  const bool ok = fgets(buf, static_cast<int>(len), f) != nullptr;
  fclose(f);
  return ok;
}

uint64_t Field(const char* spec, const char* key) {
  const char* at = strstr(spec, key);
  return at != nullptr ? strtoull(at + strlen(key), nullptr, 0) : 0;
}

// Fills `attr` for the machine's address-sampling event; false if none.
bool DescribeEvent(perf_event_attr* attr, const char** why) {
  char buf[128];
  memset(attr, 0, sizeof *attr);
  attr->size = sizeof *attr;
  if (ReadSmall("/sys/bus/event_source/devices/ibs_op/type", buf, sizeof buf)) {
    attr->type = static_cast<uint32_t>(atoi(buf));  // AMD IBS op sampling
    attr->config = 0;
    attr->sample_period = 100003;
    return true;
  }
  if (ReadSmall("/sys/bus/event_source/devices/cpu/events/mem-loads", buf, sizeof buf)) {
    attr->type = PERF_TYPE_RAW;  // Intel PEBS load latency
    attr->config = Field(buf, "event=") | (Field(buf, "umask=") << 8);
    attr->config1 = Field(buf, "ldlat=") ? Field(buf, "ldlat=") : 3;
    attr->precise_ip = 2;
    attr->sample_period = 10007;
    return true;
  }
  *why = "no address-sampling PMU (no ibs_op, no cpu/events/mem-loads)";
  return false;
}

}  // namespace

bool PerfSampleSource::Open(heap::TieredHeap* heap, const char** why) {
  heap_ = heap;
  perf_event_attr attr;
  if (!DescribeEvent(&attr, why)) return false;
  attr.sample_type = kPerfSampleType;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.inherit = 1;  // threads created from now on are sampled too
  attr.disabled = 0;
  const long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    *why = "perf_event_open refused the event (perf_event_paranoid, or a VM without a PMU)";
    return false;
  }
  const size_t page = os::PageSize();
  mapping_size_ = (kRingPages + 1) * page;
  mapping_ = mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(fd), 0);
  if (mapping_ == MAP_FAILED) {
    close(static_cast<int>(fd));
    mapping_ = nullptr;
    *why = "cannot map the perf ring";
    return false;
  }
  fd_ = static_cast<int>(fd);
  auto* meta = static_cast<perf_event_mmap_page*>(mapping_);
  ring_.data = static_cast<unsigned char*>(mapping_) + page;
  ring_.size = kRingPages * page;
  ring_.head = [meta] { return __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE); };
  ring_.set_tail = [meta](uint64_t tail) { __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE); };
  ring_.tail = __atomic_load_n(&meta->data_tail, __ATOMIC_ACQUIRE);
  return true;
}

void PerfSampleSource::OpenRecorded(heap::TieredHeap* heap, Ring ring) {
  heap_ = heap;
  ring_ = std::move(ring);
}

PerfSampleSource::~PerfSampleSource() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
  if (fd_ >= 0) close(fd_);
}

void PerfSampleSource::Sample(Region* regions, size_t count) {
  // Regions are sorted by first slot: find each sample's by binary search,
  // and count a region once per interval however many samples it got.
  const heap::HeapImage& image = heap_->image();
  const uint64_t head = ring_.head();
  ring_.tail = ReadPerfRing(ring_.data, ring_.size, ring_.tail, head, &counts_, [&](uint64_t addr) {
    if (!image.Contains(reinterpret_cast<void*>(addr))) return;
    const size_t slot = image.SlotOf(reinterpret_cast<void*>(addr));
    Region* end = regions + count;
    Region* r = std::upper_bound(regions, end, slot, [](size_t s, const Region& x) { return s < x.first; });
    if (r == regions) return;
    --r;
    if (slot < r->end) r->seen = true;
  });
  ring_.set_tail(ring_.tail);
  for (size_t i = 0; i < count; ++i) {
    regions[i].samples++;
    regions[i].accesses += regions[i].seen;
    regions[i].seen = false;
  }
}

}  // namespace tiermem::heat
