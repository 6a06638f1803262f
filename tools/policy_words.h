// Policy tiers in plain words, shared by `tiermem check` and `tiermem tiers`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/policy.h"
#include "config/policy_parser.h"
#include "topology/topology.h"

namespace tiermem::cli {

// "DRAM", "CXL memory", "NVMe file tier in /var/tmp", ...
std::string DescribeKind(const config::TierSpec& spec);

// "4 GiB" or "unlimited".
std::string DescribeBudget(const std::optional<uint64_t>& budget);

// Where a tier's bytes go on this machine: "nodes 0, 1", "/var/tmp", or
// "-" when a memory tier resolved to no node.
std::string DescribePlacement(const topology::ResolvedTier& tier);

// The policy from --policy FILE, or the built-in default if `path` is empty.
// On a bad file prints the parser's one-line error to stderr and returns
// nullopt (the caller exits with kExitUsage).
std::optional<config::Policy> LoadPolicyOrDefault(const std::string& path);

}  // namespace tiermem::cli
