// Topology discovery on this machine, policy resolution, and the parsers of
// the kernel's node lists and mountinfo.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "topology/sysfs_parse.h"
#include "topology/topology.h"

namespace tiermem::topology {
namespace {

using config::TierKind;
using config::TierSpec;

config::Policy PolicyWith(TierSpec spec) {
  config::Policy policy;
  policy.source = "test";
  policy.tiers.push_back(std::move(spec));
  return policy;
}

TierSpec Tier(const char* name, TierKind kind, std::vector<int> nodes = {}, std::string path = "") {
  TierSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.nodes = std::move(nodes);
  spec.path = std::move(path);
  return spec;
}

ResolvedTier ResolveOne(TierSpec spec, const Topology& topo) {
  std::vector<ResolvedTier> resolved = Resolve(PolicyWith(std::move(spec)), topo);
  EXPECT_EQ(resolved.size(), 1u);
  return resolved.at(0);
}

// A private, writable directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = std::string(::testing::TempDir()) + "topology_test.XXXXXX";
    path_ = mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    if (!path_.empty()) rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Discover, FindsANodeWithCpus) {
  Topology topo = Discover();
  ASSERT_FALSE(topo.nodes.empty());
  EXPECT_FALSE(topo.DramNodes().empty());
  for (const NumaNode& node : topo.nodes) {
    EXPECT_GE(node.id, 0);
    if (node.has_cpus) {
      EXPECT_GT(node.total_bytes, 0u) << "node " << node.id;
    }
  }
  EXPECT_EQ(topo.DramNodes().size() + topo.CpulessNodes().size(), topo.nodes.size());
}

TEST(Discover, NodesAreSortedAndUnique) {
  Topology topo = Discover();
  for (size_t i = 1; i < topo.nodes.size(); ++i) EXPECT_LT(topo.nodes[i - 1].id, topo.nodes[i].id);
}

TEST(Resolve, DramIsAvailableOnTheNodesWithCpus) {
  Topology topo = Discover();
  ResolvedTier dram = ResolveOne(Tier("dram", TierKind::kDram), topo);
  EXPECT_TRUE(dram.available) << dram.why_unavailable;
  EXPECT_EQ(dram.nodes, topo.DramNodes());
}

TEST(Resolve, CxlUsesCpulessNodesOrSaysWhyNot) {
  Topology topo = Discover();
  ResolvedTier cxl = ResolveOne(Tier("cxl", TierKind::kCxl), topo);
  if (topo.CpulessNodes().empty()) {
    EXPECT_FALSE(cxl.available);
    EXPECT_EQ(cxl.why_unavailable, "no CPU-less NUMA node (CXL/PMEM memory) on this machine");
  } else if (topo.numa_available) {
    EXPECT_TRUE(cxl.available) << cxl.why_unavailable;
    EXPECT_EQ(cxl.nodes, topo.CpulessNodes());
  }
}

TEST(Resolve, CxlWithoutCpulessNodesInASyntheticTopology) {
  Topology topo;
  topo.numa_available = true;
  topo.nodes = {{0, true, 1ull << 30, 1ull << 29, 4}};
  ResolvedTier cxl = ResolveOne(Tier("cxl", TierKind::kCxl), topo);
  EXPECT_FALSE(cxl.available);
  EXPECT_EQ(cxl.why_unavailable, "no CPU-less NUMA node (CXL/PMEM memory) on this machine");

  topo.nodes.push_back({2, false, 1ull << 30, 1ull << 30, 22});
  cxl = ResolveOne(Tier("cxl", TierKind::kCxl), topo);
  EXPECT_TRUE(cxl.available) << cxl.why_unavailable;
  EXPECT_EQ(cxl.nodes, std::vector<int>{2});
}

TEST(Resolve, NodesThatDoNotExistAreUnavailable) {
  Topology topo = Discover();
  ResolvedTier dram = ResolveOne(Tier("dram", TierKind::kDram, {1000}), topo);
  EXPECT_FALSE(dram.available);
  EXPECT_NE(dram.why_unavailable.find("NUMA node 1000 does not exist"), std::string::npos) << dram.why_unavailable;

  ResolvedTier pmem = ResolveOne(Tier("pmem", TierKind::kPmem, {999, 1000}), topo);
  EXPECT_FALSE(pmem.available);
  EXPECT_NE(pmem.why_unavailable.find("NUMA nodes 999, 1000 do not exist"), std::string::npos)
      << pmem.why_unavailable;
}

TEST(Resolve, NvmeNeedsAnExistingDirectory) {
  Topology topo = Discover();
  ResolvedTier nvme = ResolveOne(Tier("nvme", TierKind::kNvme, {}, "/nonexistent/tiermem-test"), topo);
  EXPECT_FALSE(nvme.available);
  EXPECT_EQ(nvme.why_unavailable, "/nonexistent/tiermem-test: No such file or directory");
}

TEST(Resolve, NvmeInAWritableTempDirIsAvailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  ResolvedTier nvme = ResolveOne(Tier("nvme", TierKind::kNvme, {}, dir.path()), Discover());
  EXPECT_TRUE(nvme.available) << nvme.why_unavailable;
}

TEST(Resolve, NvmeOnARegularFileIsNotADirectory) {
  ResolvedTier nvme = ResolveOne(Tier("nvme", TierKind::kNvme, {}, "/proc/self/status"), Discover());
  EXPECT_FALSE(nvme.available);
  EXPECT_EQ(nvme.why_unavailable, "/proc/self/status: Not a directory");
}

TEST(Resolve, PmemPathMustBeOnADaxMount) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  Topology topo = Discover();
  topo.dax_mounts.clear();  // whatever this machine has, the temp dir is then not on DAX
  ResolvedTier pmem = ResolveOne(Tier("pmem", TierKind::kPmem, {}, dir.path()), topo);
  EXPECT_FALSE(pmem.available);
  EXPECT_EQ(pmem.why_unavailable, dir.path() + " is not on a DAX-mounted filesystem");

  // Pretend the temp dir's own filesystem were mounted with DAX.
  topo.dax_mounts.push_back({dir.path(), "/dev/pmem0"});
  pmem = ResolveOne(Tier("pmem", TierKind::kPmem, {}, dir.path()), topo);
  EXPECT_TRUE(pmem.available) << pmem.why_unavailable;
}

TEST(Resolve, KeepsPolicyOrder) {
  config::Policy policy;
  policy.tiers = {Tier("fast", TierKind::kDram), Tier("slow", TierKind::kNvme, {}, "/nonexistent")};
  std::vector<ResolvedTier> resolved = Resolve(policy, Discover());
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].spec.name, "fast");
  EXPECT_EQ(resolved[1].spec.name, "slow");
}

TEST(ParseNodeList, RangesAndSingles) {
  std::vector<int> nodes;
  ASSERT_TRUE(ParseNodeList("0-1,3\n", &nodes));
  EXPECT_EQ(nodes, (std::vector<int>{0, 1, 3}));
  ASSERT_TRUE(ParseNodeList("2", &nodes));
  EXPECT_EQ(nodes, std::vector<int>{2});
  ASSERT_TRUE(ParseNodeList("0,4-6", &nodes));
  EXPECT_EQ(nodes, (std::vector<int>{0, 4, 5, 6}));
  ASSERT_TRUE(ParseNodeList("\n", &nodes));
  EXPECT_TRUE(nodes.empty());
}

TEST(ParseNodeList, RejectsGarbage) {
  std::vector<int> nodes;
  for (const char* bad : {"a", "1-", "-1", "3-1", "1,,2", "1 2", "0x1", "1-2-3"}) {
    EXPECT_FALSE(ParseNodeList(bad, &nodes)) << bad;
  }
}

TEST(ParseDaxMounts, FindsDaxInMountOrSuperblockOptions) {
  const char* mountinfo =
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "40 27 259:1 / /mnt/pmem0 rw,relatime - ext4 /dev/pmem0 rw,dax\n"
      "41 27 259:2 / /mnt/pmem\\0401 rw,relatime shared:5 - xfs /dev/pmem1 rw,attr2,dax=always\n"
      "42 27 259:3 / /mnt/nodax rw,relatime - xfs /dev/pmem2 rw,dax=never\n"
      "43 27 259:4 / /mnt/daxinode rw,relatime - ext4 /dev/pmem3 rw,dax=inode\n"
      "malformed line\n";
  std::vector<DaxMount> mounts = ParseDaxMounts(mountinfo);
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].mount_point, "/mnt/pmem0");
  EXPECT_EQ(mounts[0].device, "/dev/pmem0");
  EXPECT_EQ(mounts[1].mount_point, "/mnt/pmem 1");
  EXPECT_EQ(mounts[2].mount_point, "/mnt/daxinode");
}

TEST(ParseDaxMounts, NoneOnPlainMounts) {
  EXPECT_TRUE(ParseDaxMounts("25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k\n").empty());
  EXPECT_TRUE(ParseDaxMounts("").empty());
}

}  // namespace
}  // namespace tiermem::topology
