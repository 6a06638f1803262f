// The process's stats page (stats_page.h): created at start-up, refreshed
// by the background thread and at exit, replaced in a forked child.
#pragma once

#include "config/policy.h"
#include "runtime/stats_page.h"

namespace tiermem::runtime {

// Creates and maps this process's page (a memfd named "tiermem-stats").
// Returns nullptr if that fails; stats are then simply off.
StatsPage* OpenStatsPage();
// Static facts: policy, tiers, image. `policy` may be null (DRAM only).
void DescribeHeap(StatsPage* page, const config::Policy* policy);
// Counters from the heap and jemalloc.
void RefreshStats(StatsPage* page);
// In a forked child: drop the parent's page and make a fresh one.
StatsPage* ReplaceStatsPageInChild(StatsPage* parent_page, const config::Policy* policy);

}  // namespace tiermem::runtime
