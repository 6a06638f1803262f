// The memory cgroup the process runs in, as far as moves care: how much it
// may still charge before the kernel reclaims hard or kills.
//
// A move charges before it frees: the destination's pages exist while the
// source's still do, and a promotion reads its NVMe source into the page
// cache first. A job run at its cgroup's limit (DRAM budget + what the
// interpreter needs) has no room for that, and memfd (shmem) pages cannot
// be reclaimed without swap, so the tiering loop asks for headroom first.
#pragma once

#include <cstdint>

namespace tiermem::os {

// Page cache the kernel can drop at once under the limit: the file LRU
// pages that are neither dirty nor under writeback (shmem, and so memfd
// tiers, is not on the file LRU). From a memory.stat file's text: v2's
// keys, or v1's hierarchical "total_" ones.
uint64_t ReclaimablePageCache(const char* memory_stat, bool v2);

class MemoryCgroup {
 public:
  // Finds the process's memory cgroup (v2 unified, or v1's memory
  // controller) under /sys/fs/cgroup. False when there is none or it has
  // no limit anywhere up the tree: Headroom() then always says "plenty".
  bool Open();
  bool limited() const { return levels_ > 0; }
  // Bytes before the tightest limit up the tree, counting clean page cache
  // (which the kernel drops at the limit) as room; 0 when at or over it;
  // UINT64_MAX when unlimited or unreadable.
  uint64_t Headroom() const;

 private:
  static constexpr int kMaxLevels = 8;
  // Per limited level: fds of its usage and memory.stat files, its limit.
  int usage_fd_[kMaxLevels] = {};
  int stat_fd_[kMaxLevels] = {};
  uint64_t limit_[kMaxLevels] = {};
  int levels_ = 0;
  bool v2_ = false;
};

}  // namespace tiermem::os
