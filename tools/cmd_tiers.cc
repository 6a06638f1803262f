// `tiermem tiers [--policy FILE]`: the machine's NUMA nodes and DAX mounts,
// then how the policy's tiers land on them.
#include <iostream>
#include <memory>

#include "commands.h"
#include "policy_words.h"
#include "table.h"
#include "topology/topology.h"

namespace tiermem::cli {
namespace {

struct TiersOptions {
  std::string policy_path;
};

void PrintNodes(const topology::Topology& topo) {
  std::cout << "NUMA nodes" << (topo.numa_available ? "" : " (libnuma: NUMA not available)") << ":\n";
  Table table({"node", "cpus", "size", "free", "kernel tier"});
  table.AlignRight({0, 2, 3, 4});
  for (const topology::NumaNode& node : topo.nodes) {
    table.AddRow({std::to_string(node.id), node.has_cpus ? "yes" : "no", HumanBytes(node.total_bytes),
                  node.free_bytes ? HumanBytes(node.free_bytes) : "-",
                  node.kernel_memory_tier >= 0 ? std::to_string(node.kernel_memory_tier) : "-"});
  }
  std::cout << table.Render();
}

void PrintDaxMounts(const topology::Topology& topo) {
  if (topo.dax_mounts.empty()) {
    std::cout << "\nDAX mounts: none\n";
    return;
  }
  std::cout << "\nDAX mounts:\n";
  Table table({"mount point", "device"});
  for (const topology::DaxMount& mount : topo.dax_mounts) table.AddRow({mount.mount_point, mount.device});
  std::cout << table.Render();
}

void PrintPolicyMapping(const config::Policy& policy, const topology::Topology& topo) {
  std::cout << "\nPolicy " << policy.source;
  if (!policy.name.empty()) std::cout << " (\"" << policy.name << "\")";
  std::cout << ", tiers fastest first:\n";
  Table table({"tier", "kind", "where", "budget", "status"});
  table.AlignRight({3});
  for (const topology::ResolvedTier& tier : topology::Resolve(policy, topo)) {
    table.AddRow({tier.spec.name, config::TierKindName(tier.spec.kind), DescribePlacement(tier),
                  DescribeBudget(tier.spec.budget),
                  tier.available ? "available" : "unavailable: " + tier.why_unavailable});
  }
  std::cout << table.Render();
}

int RunTiers(const TiersOptions& options) {
  std::optional<config::Policy> policy = LoadPolicyOrDefault(options.policy_path);
  if (!policy) return kExitUsage;
  topology::Topology topo = topology::Discover();
  PrintNodes(topo);
  PrintDaxMounts(topo);
  PrintPolicyMapping(*policy, topo);
  return 0;
}

}  // namespace

void AddTiersCommand(CLI::App& app, Runner* run) {
  auto options = std::make_shared<TiersOptions>();
  CLI::App* sub = app.add_subcommand(
      "tiers", "Show this machine's NUMA nodes and DAX mounts, and how a policy maps onto them");
  sub->add_option("--policy", options->policy_path, "Policy file (default: the built-in policy)")
      ->type_name("FILE");
  sub->callback([run, options] { *run = [options] { return RunTiers(*options); }; });
}

}  // namespace tiermem::cli
