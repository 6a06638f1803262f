// `tiermem check POLICY`: parse and validate a policy file, then say in
// plain words what it will do, and which of its tiers this machine lacks.
#include <iostream>
#include <memory>

#include "commands.h"
#include "policy_words.h"
#include "topology/topology.h"

namespace tiermem::cli {
namespace {

struct CheckOptions {
  std::string policy_path;
};

// "dram (DRAM, budget 4 GiB)"
std::string TierInWords(const config::TierSpec& spec) {
  std::string budget = spec.budget ? "budget " + config::FormatSize(*spec.budget) : "unlimited";
  return spec.name + " (" + DescribeKind(spec) + ", " + budget + ")";
}

std::string PlacementParagraph(const config::Policy& policy) {
  std::string text = "Allocations of " + config::FormatSize(policy.tiered_min_size) +
                     " or more are placed on tiers in this order: ";
  for (size_t i = 0; i < policy.tiers.size(); ++i) {
    text += (i ? " → " : "") + TierInWords(policy.tiers[i]);
  }
  text +=
      ". Smaller allocations always stay in DRAM. When a tier's budget is full, allocations "
      "spill to the next tier; when every tier is full, malloc returns NULL with errno ENOMEM.";
  if (!policy.tiers.empty() && !policy.tiers.back().budget) {
    text += " (The last tier, " + policy.tiers.back().name +
            ", has no budget: that happens only when its memory or device is exhausted.)";
  }
  return text;
}

std::string LayoutParagraph(const config::Policy& policy) {
  return "Memory moves between tiers in extents of " + config::FormatSize(policy.extent_size) +
         "; the tiered heap reserves " + config::FormatSize(policy.image_size) +
         " of virtual address space (not memory). If this policy file turns out bad at run time, "
         "the program " +
         (policy.strict ? "exits (strict = true)." : "runs DRAM-only (strict = false).");
}

std::string AvailabilityParagraph(const config::Policy& policy) {
  std::string unavailable;
  for (const topology::ResolvedTier& tier : topology::Resolve(policy, topology::Discover())) {
    if (!tier.available) unavailable += "\n  " + tier.spec.name + ": " + tier.why_unavailable;
  }
  if (unavailable.empty()) return "On this machine every tier is available.";
  return "Unavailable on this machine:" + unavailable;
}

int RunCheck(const CheckOptions& options) {
  config::ParseResult result = config::LoadPolicyFile(options.policy_path);
  if (auto* error = std::get_if<config::PolicyError>(&result)) {
    std::cerr << error->ToString() << "\n";
    return kExitUsage;
  }
  const config::Policy& policy = std::get<config::Policy>(result);
  std::cout << policy.source << ": OK";
  if (!policy.name.empty()) std::cout << " (policy \"" << policy.name << "\")";
  std::cout << "\n\n"
            << PlacementParagraph(policy) << "\n\n"
            << LayoutParagraph(policy) << "\n\n"
            << AvailabilityParagraph(policy) << "\n";
  return 0;
}

}  // namespace

void AddCheckCommand(CLI::App& app, Runner* run) {
  auto options = std::make_shared<CheckOptions>();
  CLI::App* sub = app.add_subcommand(
      "check", "Validate a policy file and explain what it does (exit 2 and one line if invalid)");
  sub->add_option("POLICY", options->policy_path, "Policy file (TOML)")->required();
  sub->callback([run, options] { *run = [options] { return RunCheck(*options); }; });
}

}  // namespace tiermem::cli
