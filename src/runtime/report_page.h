// The report page that `tiermem run` hands down in TIERMEM_STATS_FD, so it
// can print what went where after the command exits.
//
// The command is often not the job itself: a shell script, a pyenv shim or
// a launcher that starts the real program. So the page is not taken by the
// first process that sees it, but claimed — once, by compare-and-swap on its
// pid field — by the first process that places data on the tiers (or runs
// DRAM-only, or exits without having seen another claim). Until then the fd
// stays inheritable so that programs the command execs can still claim it.
#pragma once

#include "config/policy.h"
#include "runtime/stats_page.h"

namespace tiermem::runtime {

void AdoptReportPage(int fd);
// Tries to claim the page; returns it when this process owns it.
StatsPage* ClaimReportPage(const config::Policy* policy);
bool ReportPageUnclaimed();
StatsPage* ClaimedReportPage();
// A forked child never reports for its parent.
void ForgetReportPageInChild();

}  // namespace tiermem::runtime
