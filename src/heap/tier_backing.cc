#include "heap/tier_backing.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "os/files.h"
#include "os/vm.h"

namespace tiermem::heap {

int TierBacking::Open(const config::TierSpec& spec, const std::vector<int>& nodes, uint64_t image_size,
                      std::string* error) {
  snprintf(name_, sizeof name_, "tiermem:%s", spec.name.c_str());
  file_tier_ = spec.IsFileTier();
  if (file_tier_) snprintf(dir_, sizeof dir_, "%s", spec.path.c_str());
  nodes_ = nodes;
  size_ = image_size;
  int fd = OpenFile();
  if (fd < 0) {
    if (error != nullptr) {
      *error = file_tier_ ? "cannot create a private file in " + spec.path + ": " + strerror(-fd)
                          : std::string("memfd_create failed: ") + strerror(-fd);
    }
    return fd;
  }
  fd_ = fd;
  return 0;
}

int TierBacking::OpenFile() {
  return file_tier_ ? os::CreateTmpfile(dir_, size_) : os::CreateMemfd(name_, size_);
}

int TierBacking::Reopen() {
  int fd = OpenFile();
  if (fd < 0) return fd;
  os::CloseFd(fd_);
  fd_ = fd;
  return 0;
}

int TierBacking::Map(void* addr, uint64_t len, uint64_t offset, bool shared) const {
  const int rc = os::MapFileFixed(addr, len, fd_, offset, shared);
  return rc != 0 ? rc : AdviseMapped(addr, len);
}

int TierBacking::MapMoved(void* addr, uint64_t len, uint64_t offset) const {
  const int rc = os::RemapFileFixed(addr, len, fd_, offset);
  return rc != 0 ? rc : AdviseMapped(addr, len);
}

int TierBacking::AdviseMapped(void* addr, uint64_t len) const {
  // policy.file_readahead = false: fault-time readahead (128 KiB by
  // default) reads 32 pages to bring one back, which random access pays for
  // (gups_hot: 15x slower) and sequential access needs (the JVM and pandas
  // compat jobs: 2-4x slower without it).
  if (file_tier_ && random_access_) madvise(addr, len, MADV_RANDOM);
  // On shmem the binding is kept per file range, so first touches through
  // this mapping land on the tier's nodes. Single-node machines need none.
  if (!file_tier_ && !nodes_.empty()) return os::BindToNodes(addr, len, nodes_);
  return 0;
}

void* TierBacking::MapView(uint64_t len, uint64_t offset) const {
  void* view = os::MapFileView(fd_, offset, len, /*writable=*/true);
  if (view == nullptr || AdviseMapped(view, len) == 0) return view;
  os::UnmapView(view, len);
  return nullptr;
}

int TierBacking::Commit(uint64_t offset, uint64_t len) const {
  if (!file_tier_) return 0;
  // Writing into reserved (unwritten) extents can still need a few blocks of
  // filesystem metadata; a write fault that finds none is a SIGBUS. Call the
  // tier full while some headroom remains: 1/64 of the range, at least 4 MiB.
  const uint64_t headroom = len / 64 > (4ull << 20) ? len / 64 : (4ull << 20);
  if (os::FreeBytesOnFilesystem(fd_) < len + headroom) return -ENOSPC;
  return os::ReserveBlocks(fd_, offset, len);
}

int TierBacking::Release(uint64_t offset, uint64_t len) const { return os::PunchHole(fd_, offset, len); }

int TierBacking::Zero(uint64_t offset, uint64_t len) const { return os::ZeroRange(fd_, offset, len); }

int TierBacking::BindRange(uint64_t offset, uint64_t len) const {
  if (file_tier_ || nodes_.empty()) return 0;
  // shmem keeps the policy per file range: set it through a short-lived
  // mapping (a long-lived second mapping would stop move_pages).
  void* view = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd_, static_cast<off_t>(offset));
  if (view == MAP_FAILED) return -errno;
  const int rc = os::BindToNodes(view, len, nodes_);
  munmap(view, len);
  return rc;
}

uint64_t TierBacking::AllocatedBytes() const { return os::AllocatedBytes(fd_); }

uint64_t TierBacking::DramBytes() const {
  if (!file_tier_) return AllocatedBytes();
  os::CacheState cache;
  if (!os::PageCacheState(fd_, 0, 0, &cache)) return 0;
  return cache.cached_bytes;
}

}  // namespace tiermem::heap
