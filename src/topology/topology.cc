// Discover(): what memory this machine offers. All OS access of the
// topology layer is here: hwloc for the NUMA nodes and their sizes, libnuma
// for which nodes have CPUs and how much is free, sysfs for the kernel's
// memory tiers and /proc/self/mountinfo for DAX filesystems. Runs once at
// start-up (also inside the malloc preload), so allocating is fine.
#include "topology/topology.h"

#include <hwloc.h>
#include <numa.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "topology/sysfs_parse.h"

namespace tiermem::topology {
namespace {

constexpr const char kMemoryTieringDir[] = "/sys/devices/virtual/memory_tiering";
constexpr const char kMountInfo[] = "/proc/self/mountinfo";

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint64_t PagesToBytes(long pages) {
  return pages > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// hwloc lists every NUMA node with its local memory. Its cpuset of a
// CPU-less node is that of the object it hangs from (often the whole
// machine), so "has CPUs" is taken from libnuma below instead.
std::vector<NumaNode> NodesFromHwloc() {
  std::vector<NumaNode> nodes;
  hwloc_topology_t topology;
  if (hwloc_topology_init(&topology) != 0) return nodes;
  // Only NUMA nodes are needed: skipping caches, cores and I/O devices cuts
  // the load (which runs in every process under the preload) from tens of
  // milliseconds to a few.
  hwloc_topology_set_all_types_filter(topology, HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_type_filter(topology, HWLOC_OBJ_PACKAGE, HWLOC_TYPE_FILTER_KEEP_ALL);
  if (hwloc_topology_load(topology) == 0) {
    hwloc_obj_t obj = nullptr;
    while ((obj = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_NUMANODE, obj)) != nullptr) {
      NumaNode node;
      node.id = static_cast<int>(obj->os_index);
      node.total_bytes = obj->attr ? obj->attr->numanode.local_memory : 0;
      node.has_cpus = obj->cpuset != nullptr && !hwloc_bitmap_iszero(obj->cpuset);
      nodes.push_back(node);
    }
  }
  hwloc_topology_destroy(topology);
  return nodes;
}

bool NodeHasCpus(int node) {
  bitmask* cpus = numa_allocate_cpumask();
  bool has_cpus = numa_node_to_cpus(node, cpus) == 0 && numa_bitmask_weight(cpus) > 0;
  numa_free_cpumask(cpus);
  return has_cpus;
}

// node id -> kernel memory tier id, from memory_tierN/nodelist files
// (Linux 6.1+; absent on older kernels and then every tier stays -1).
std::map<int, int> KernelMemoryTiers() {
  std::map<int, int> tier_of_node;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kMemoryTieringDir, ec)) {
    std::string name = entry.path().filename().string();
    constexpr std::string_view kPrefix = "memory_tier";
    if (name.rfind(kPrefix, 0) != 0) continue;
    int tier = -1;
    const char* digits = name.data() + kPrefix.size();
    auto [end, err] = std::from_chars(digits, name.data() + name.size(), tier);
    if (err != std::errc() || end != name.data() + name.size()) continue;
    std::vector<int> nodes;
    if (!ParseNodeList(ReadSmallFile(entry.path() / "nodelist"), &nodes)) continue;
    for (int node : nodes) tier_of_node[node] = tier;
  }
  return tier_of_node;
}

}  // namespace

std::vector<int> Topology::DramNodes() const {
  std::vector<int> ids;
  for (const NumaNode& node : nodes) {
    if (node.has_cpus) ids.push_back(node.id);
  }
  return ids;
}

std::vector<int> Topology::CpulessNodes() const {
  std::vector<int> ids;
  for (const NumaNode& node : nodes) {
    if (!node.has_cpus) ids.push_back(node.id);
  }
  return ids;
}

Topology Discover() {
  Topology topo;
  topo.numa_available = numa_available() >= 0;
  topo.nodes = NodesFromHwloc();
  if (topo.nodes.empty()) {
    // hwloc failed (e.g. no /sys): the machine is one node with everything.
    topo.nodes.push_back({0, true, PagesToBytes(sysconf(_SC_PHYS_PAGES)), 0, -1});
  }

  std::map<int, int> kernel_tiers = KernelMemoryTiers();
  for (NumaNode& node : topo.nodes) {
    if (topo.numa_available) {
      node.has_cpus = NodeHasCpus(node.id);
      long long free_bytes = 0;
      long long total = numa_node_size64(node.id, &free_bytes);
      if (total > 0) {
        node.free_bytes = static_cast<uint64_t>(free_bytes);
        if (node.total_bytes == 0) node.total_bytes = static_cast<uint64_t>(total);
      }
    } else if (topo.nodes.size() == 1) {
      node.free_bytes = PagesToBytes(sysconf(_SC_AVPHYS_PAGES));
    }
    if (auto it = kernel_tiers.find(node.id); it != kernel_tiers.end()) {
      node.kernel_memory_tier = it->second;
    }
  }
  std::sort(topo.nodes.begin(), topo.nodes.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });

  topo.dax_mounts = ParseDaxMounts(ReadSmallFile(kMountInfo));
  return topo;
}

}  // namespace tiermem::topology
