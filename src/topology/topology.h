// What memory this machine offers: NUMA nodes (with or without CPUs, their
// size and kernel memory tier), DAX-mounted filesystems, and how a policy's
// tiers map onto them. Read with hwloc and libnuma, plus sysfs for the
// kernel's memory_tiering groups.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/policy.h"

namespace tiermem::topology {

struct NumaNode {
  int id = 0;
  bool has_cpus = false;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  int kernel_memory_tier = -1;   // /sys/devices/virtual/memory_tiering, -1 if unknown
};

struct DaxMount {
  std::string mount_point;
  std::string device;
};

struct Topology {
  std::vector<NumaNode> nodes;
  std::vector<DaxMount> dax_mounts;
  bool numa_available = false;   // libnuma's numa_available() >= 0

  std::vector<int> DramNodes() const;  // nodes with CPUs
  std::vector<int> CpulessNodes() const;  // CXL / PMEM-as-memory candidates
};

Topology Discover();

// How one policy tier lands on this machine.
struct ResolvedTier {
  config::TierSpec spec;
  std::vector<int> nodes;        // memory tiers: the nodes pages are bound to
  bool available = false;
  std::string why_unavailable;   // e.g. "no CPU-less NUMA node (CXL) on this machine"
};

std::vector<ResolvedTier> Resolve(const config::Policy& policy, const Topology& topo);

}  // namespace tiermem::topology
