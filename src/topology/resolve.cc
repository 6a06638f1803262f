// Resolve(): how each tier of a policy lands on this machine: the NUMA
// nodes of memory tiers, and whether file-tier directories are usable. An
// unavailable tier carries one sentence saying why, for the CLI and logs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "topology/topology.h"

namespace tiermem::topology {
namespace {

using config::TierKind;
using config::TierSpec;

std::string JoinIds(const std::vector<int>& ids) {
  std::string text;
  for (int id : ids) text += (text.empty() ? "" : ", ") + std::to_string(id);
  return text;
}

bool NodeExists(const Topology& topo, int id) {
  return std::any_of(topo.nodes.begin(), topo.nodes.end(),
                     [id](const NumaNode& node) { return node.id == id; });
}

// Why the nodes a policy names cannot be used, or nullopt if they all exist.
std::optional<std::string> MissingNodes(const std::vector<int>& wanted, const Topology& topo) {
  std::vector<int> missing;
  for (int id : wanted) {
    if (!NodeExists(topo, id)) missing.push_back(id);
  }
  if (missing.empty()) return std::nullopt;
  std::vector<int> present;
  for (const NumaNode& node : topo.nodes) present.push_back(node.id);
  return (missing.size() == 1 ? "NUMA node " : "NUMA nodes ") + JoinIds(missing) +
         (missing.size() == 1 ? " does" : " do") + " not exist on this machine (nodes: " +
         JoinIds(present) + ")";
}

std::string PathError(const std::string& path, int error) {
  return path + ": " + std::strerror(error);
}

// A file tier needs a directory the process may create files in. Checked
// with the effective ids, as the runtime's open(O_TMPFILE) will be.
std::optional<std::string> UnusableDirectory(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return PathError(path, errno);
  if (!S_ISDIR(st.st_mode)) return PathError(path, ENOTDIR);
  if (faccessat(AT_FDCWD, path.c_str(), W_OK | X_OK, AT_EACCESS) != 0) return PathError(path, errno);
  return std::nullopt;
}

// The path is on a DAX mount if it lives on the same device as one.
bool OnDaxMount(const std::string& path, const Topology& topo) {
  struct stat path_st;
  if (stat(path.c_str(), &path_st) != 0) return false;
  for (const DaxMount& mount : topo.dax_mounts) {
    struct stat mount_st;
    if (stat(mount.mount_point.c_str(), &mount_st) == 0 && mount_st.st_dev == path_st.st_dev) {
      return true;
    }
  }
  return false;
}

// Memory tiers: the nodes named, or else the nodes of the right sort.
void ResolveMemoryTier(const Topology& topo, ResolvedTier* tier) {
  const TierSpec& spec = tier->spec;
  if (auto why = MissingNodes(spec.nodes, topo)) {
    tier->why_unavailable = *why;
    return;
  }
  if (spec.kind == TierKind::kDram) {
    // DRAM works without binding, so it is available even if every node
    // looked CPU-less to us; then the kernel's default placement decides.
    tier->nodes = spec.nodes.empty() ? topo.DramNodes() : spec.nodes;
    tier->available = true;
    return;
  }
  if (!topo.numa_available) {
    tier->why_unavailable =
        "NUMA is not available here (libnuma: numa_available() < 0), so pages cannot be bound to nodes";
    return;
  }
  tier->nodes = spec.nodes.empty() ? topo.CpulessNodes() : spec.nodes;
  if (tier->nodes.empty()) {
    tier->why_unavailable = "no CPU-less NUMA node (CXL/PMEM memory) on this machine";
    return;
  }
  tier->available = true;
}

void ResolveFileTier(const Topology& topo, ResolvedTier* tier) {
  const TierSpec& spec = tier->spec;
  if (auto why = UnusableDirectory(spec.path)) {
    tier->why_unavailable = *why;
    return;
  }
  if (spec.kind == TierKind::kPmem && !OnDaxMount(spec.path, topo)) {
    tier->why_unavailable = spec.path + " is not on a DAX-mounted filesystem";
    return;
  }
  tier->available = true;
}

}  // namespace

std::vector<ResolvedTier> Resolve(const config::Policy& policy, const Topology& topo) {
  std::vector<ResolvedTier> resolved;
  for (const TierSpec& spec : policy.tiers) {
    ResolvedTier tier;
    tier.spec = spec;
    if (spec.IsFileTier()) {
      ResolveFileTier(topo, &tier);
    } else {
      ResolveMemoryTier(topo, &tier);
    }
    resolved.push_back(std::move(tier));
  }
  return resolved;
}

}  // namespace tiermem::topology
