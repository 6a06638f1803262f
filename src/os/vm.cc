#include "os/vm.h"

#include <fcntl.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tiermem::os {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

void* ReserveAligned(size_t size, size_t alignment) {
  // Over-reserve by one alignment unit, then trim both ends.
  size_t span = size + alignment;
  void* raw = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + alignment - 1) & ~(static_cast<uintptr_t>(alignment) - 1);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = aligned + size;
  uintptr_t raw_end = start + span;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  return reinterpret_cast<void*>(aligned);
}

int MapFileFixed(void* addr, size_t len, int fd, uint64_t offset, bool shared) {
  void* p = mmap(addr, len, PROT_READ | PROT_WRITE, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return -errno;
  return 0;
}

int RemapFileFixed(void* addr, size_t len, int fd, uint64_t offset) {
  const long p = syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                         static_cast<off_t>(offset));
  return p == -1 ? -errno : 0;
}

void* MapFileView(int fd, uint64_t offset, size_t len, bool writable) {
  void* p = mmap(nullptr, len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
                 static_cast<off_t>(offset));
  return p == MAP_FAILED ? nullptr : p;
}

void UnmapView(void* view, size_t len) { munmap(view, len); }


namespace {

int Bind(void* addr, size_t len, const std::vector<int>& nodes, unsigned flags) {
  constexpr int kMaxNodes = 1024;
  unsigned long mask[kMaxNodes / (8 * sizeof(unsigned long))];
  memset(mask, 0, sizeof mask);
  for (int node : nodes) {
    if (node < 0 || node >= kMaxNodes) return -EINVAL;
    mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
  }
  if (mbind(addr, len, MPOL_BIND, mask, kMaxNodes, flags) != 0) return -errno;
  return 0;
}

}  // namespace

int BindToNodes(void* addr, size_t len, const std::vector<int>& nodes) {
  return nodes.empty() ? 0 : Bind(addr, len, nodes, 0);
}

int MoveToNodes(void* addr, size_t len, const std::vector<int>& nodes) {
  return nodes.empty() ? 0 : Bind(addr, len, nodes, MPOL_MF_MOVE);
}

int DropMappings(void* addr, size_t len) { return madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : -errno; }

int OpenPagemap() {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

bool PagePresent(int pagemap_fd, uintptr_t addr) {
  uint64_t entry = 0;
  const off_t at = static_cast<off_t>(addr / PageSize() * sizeof entry);
  if (pread(pagemap_fd, &entry, sizeof entry, at) != static_cast<ssize_t>(sizeof entry)) return false;
  return (entry >> 63) & 1;
}

bool PageInCore(uintptr_t addr) {
  unsigned char v = 0;
  const uintptr_t page = addr & ~(static_cast<uintptr_t>(PageSize()) - 1);
  return mincore(reinterpret_cast<void*>(page), PageSize(), &v) == 0 && (v & 1);
}

uint64_t ResidentBytes(const void* addr, size_t len) {
  const size_t page = PageSize();
  constexpr size_t kChunkPages = 4096;
  unsigned char vec[kChunkPages];
  uint64_t resident = 0;
  auto p = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t end = p + len;
  while (p < end) {
    size_t chunk = end - p < kChunkPages * page ? end - p : kChunkPages * page;
    if (mincore(reinterpret_cast<void*>(p), chunk, vec) == 0) {
      for (size_t i = 0; i < (chunk + page - 1) / page; ++i) resident += (vec[i] & 1) ? page : 0;
    }
    p += chunk;
  }
  return resident;
}

}  // namespace tiermem::os
