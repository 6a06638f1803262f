// From settings to the tiers the heap will run on: load the policy (or the
// built-in default), apply the environment's overrides, and keep the tiers
// this machine can provide.
#pragma once

#include <string>
#include <vector>

#include "config/policy.h"
#include "heap/tiered_heap.h"
#include "runtime/settings.h"

namespace tiermem::runtime {

struct TierPlan {
  config::Policy policy;
  std::vector<heap::TierSetup> tiers;  // usable tiers, policy order
  std::vector<std::string> warnings;   // one line each: tiers skipped and why
  std::string error;                   // non-empty: run on DRAM only
};

TierPlan PlanTiers(const Settings& settings);

}  // namespace tiermem::runtime
