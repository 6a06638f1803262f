#include "policy_words.h"

#include <iostream>

namespace tiermem::cli {

using config::TierKind;

std::string DescribeKind(const config::TierSpec& spec) {
  switch (spec.kind) {
    case TierKind::kDram:
      return "DRAM";
    case TierKind::kCxl:
      return "CXL memory";
    case TierKind::kPmem:
      return spec.path.empty() ? "PMEM as memory" : "PMEM app-direct file tier in " + spec.path;
    case TierKind::kNvme:
      return "NVMe file tier in " + spec.path;
  }
  return config::TierKindName(spec.kind);
}

std::string DescribeBudget(const std::optional<uint64_t>& budget) {
  return budget ? config::FormatSize(*budget) : "unlimited";
}

std::string DescribePlacement(const topology::ResolvedTier& tier) {
  if (tier.spec.IsFileTier()) return tier.spec.path;
  const std::vector<int>& nodes = tier.nodes.empty() ? tier.spec.nodes : tier.nodes;
  if (nodes.empty()) return "-";
  std::string text = nodes.size() == 1 ? "node " : "nodes ";
  for (size_t i = 0; i < nodes.size(); ++i) text += (i ? ", " : "") + std::to_string(nodes[i]);
  return text;
}

std::optional<config::Policy> LoadPolicyOrDefault(const std::string& path) {
  if (path.empty()) return config::DefaultPolicy();
  config::ParseResult result = config::LoadPolicyFile(path);
  if (auto* error = std::get_if<config::PolicyError>(&result)) {
    std::cerr << error->ToString() << "\n";
    return std::nullopt;
  }
  return std::get<config::Policy>(std::move(result));
}

}  // namespace tiermem::cli
