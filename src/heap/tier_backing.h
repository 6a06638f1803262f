// The backing file of one tier, shaped like the heap image.
//  - Memory tiers (DRAM, CXL, PMEM-as-memory): a memfd; the pages of each
//    mapped range are bound to the tier's NUMA nodes, so the kernel places
//    them there at first touch.
//  - File tiers (NVMe, PMEM app-direct): an O_TMPFILE in the policy's
//    directory; data written there leaves DRAM once the page cache is
//    written back and dropped (see residency.h).
// Files are private (no name, 0600, close-on-exec) and vanish with the
// process. After a fork both sides open a new generation (Reopen), because
// the old files stay shared with the other side's copy-on-write views.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/policy.h"

namespace tiermem::heap {

class TierBacking {
 public:
  // Returns 0 or -errno; on failure `error` says what failed, in words.
  int Open(const config::TierSpec& spec, const std::vector<int>& nodes, uint64_t image_size, std::string* error);
  // Opens a fresh file of the same kind and closes the old fd. Mappings of
  // the old file keep it alive. Must not allocate (runs in fork handlers).
  int Reopen();

  // Maps [offset, offset+len) of the current file at `addr`, shared (or
  // copy-on-write when `shared` is false), bound to the tier's nodes.
  int Map(void* addr, uint64_t len, uint64_t offset, bool shared) const;
  // Map, shared, for a slot whose data this file now holds (a move's
  // switch): see os::RemapFileFixed.
  int MapMoved(void* addr, uint64_t len, uint64_t offset) const;
  // The same, shared, at an address the kernel picks: a view the mover
  // remaps over a slot. nullptr on failure.
  void* MapView(uint64_t len, uint64_t offset) const;
  // File tiers: allocates the blocks of a range on disk before it is used,
  // so a full disk is an allocation failure instead of a SIGBUS. Memory
  // tiers: nothing to do. Returns 0 or -errno.
  int Commit(uint64_t offset, uint64_t len) const;
  // Gives the blocks of a range back; later reads see zeros.
  int Release(uint64_t offset, uint64_t len) const;
  // Reads as zeros from now on but keeps the blocks (file tiers).
  int Zero(uint64_t offset, uint64_t len) const;
  // Memory tiers on NUMA nodes: sets the binding of a file range that is not
  // mapped yet, so pages written into it with pwrite land on the tier's
  // nodes. Nothing to do for file tiers and unbound memory.
  int BindRange(uint64_t offset, uint64_t len) const;

  bool is_file_tier() const { return file_tier_; }
  // File tiers: no fault-time readahead on their mappings (MADV_RANDOM).
  void set_random_access(bool random) { random_access_ = random; }
  // The NUMA nodes a memory tier binds its pages to (empty: no binding).
  const std::vector<int>& nodes() const { return nodes_; }
  int fd() const { return fd_; }
  const char* name() const { return name_; }
  // Bytes of blocks in the current file (memory for a memfd, disk for a file).
  uint64_t AllocatedBytes() const;
  // DRAM this tier costs: a memfd's pages, or a file's page cache.
  uint64_t DramBytes() const;

 private:
  int OpenFile();
  // After a mapping of this file at addr: access advice and node binding.
  int AdviseMapped(void* addr, uint64_t len) const;

  char name_[32] = {};
  char dir_[4096] = {};
  bool file_tier_ = false;
  bool random_access_ = false;
  std::vector<int> nodes_;
  uint64_t size_ = 0;
  int fd_ = -1;
};

}  // namespace tiermem::heap
