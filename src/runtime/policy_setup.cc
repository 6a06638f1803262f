#include "runtime/policy_setup.h"

#include "config/policy_parser.h"
#include "topology/topology.h"

namespace tiermem::runtime {

TierPlan PlanTiers(const Settings& settings) {
  TierPlan plan;
  if (settings.policy_path) {
    config::ParseResult parsed = config::LoadPolicyFile(*settings.policy_path);
    if (auto* err = std::get_if<config::PolicyError>(&parsed)) {
      plan.error = err->ToString();
      return plan;
    }
    plan.policy = std::get<config::Policy>(std::move(parsed));
  } else {
    plan.policy = config::DefaultPolicy();
  }
  config::Policy& policy = plan.policy;

  if (settings.dram_budget) {
    uint64_t bytes = 0;
    if (!config::ParseSize(*settings.dram_budget, &bytes) || bytes == 0) {
      plan.error = "TIERMEM_DRAM_BUDGET=" + *settings.dram_budget + ": expected a size such as 4GiB";
      return plan;
    }
    policy.tiers.front().budget = bytes;  // the parser guarantees tier 0 is DRAM
  }
  if (settings.nvme_dir) {
    if (settings.nvme_dir->empty() || settings.nvme_dir->front() != '/') {
      plan.error = "TIERMEM_NVME_DIR=" + *settings.nvme_dir + ": expected an absolute directory";
      return plan;
    }
    for (config::TierSpec& tier : policy.tiers) {
      if (tier.kind == config::TierKind::kNvme) tier.path = *settings.nvme_dir;
    }
  }

  const topology::Topology topo = topology::Discover();
  // With one node there is nothing to bind to; skipping mbind saves a
  // syscall per mapping.
  const bool bind = topo.nodes.size() > 1;
  for (const topology::ResolvedTier& resolved : topology::Resolve(policy, topo)) {
    if (!resolved.available) {
      plan.warnings.push_back("tier '" + resolved.spec.name + "' skipped: " + resolved.why_unavailable);
      continue;
    }
    heap::TierSetup setup;
    setup.spec = resolved.spec;
    if (bind && !resolved.spec.IsFileTier()) setup.nodes = resolved.nodes;
    plan.tiers.push_back(std::move(setup));
  }
  if (plan.tiers.empty() || plan.tiers.front().spec.kind != config::TierKind::kDram) {
    plan.error = policy.source + ": the DRAM tier is not usable on this machine";
    return plan;
  }
  // A budget is where data spills from, not a cap the program should die
  // at: when the policy's last tiers were skipped, the last usable tier
  // takes whatever does not fit, as the program would without tiermem.
  config::TierSpec& last = plan.tiers.back().spec;
  if (last.name != policy.tiers.back().name && last.budget) {
    plan.warnings.back() += "; tier '" + last.name + "' takes the rest (its budget of " +
                            config::FormatSize(*last.budget) + " is lifted)";
    last.budget.reset();
  }
  return plan;
}

}  // namespace tiermem::runtime
