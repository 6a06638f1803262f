// Pure parsers for the kernel text files the topology layer reads. Kept
// apart from the file access so they can be tested with canned text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "topology/topology.h"

namespace tiermem::topology {

// A kernel node/CPU list such as "0-1,3" or "" (with an optional trailing
// newline) -> {0, 1, 3}. Returns false, leaving *out unspecified, on
// anything else.
bool ParseNodeList(std::string_view text, std::vector<int>* out);

// The filesystems in /proc/self/mountinfo text that are mounted with DAX
// ("dax", "dax=always" or "dax=inode" among the mount or superblock
// options). Malformed lines are skipped.
std::vector<DaxMount> ParseDaxMounts(std::string_view mountinfo);

}  // namespace tiermem::topology
