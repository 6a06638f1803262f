// The three ways the CLI shows a stats snapshot: an aligned table for
// people (`run`, `stat`), JSON for scripts, Prometheus text for scrapers.
#pragma once

#include <string>

#include "stats_reader.h"

namespace tiermem::cli {

std::string StatsTable(const StatsSnapshot& stats);
std::string StatsJson(const StatsSnapshot& stats);
std::string StatsPrometheus(const StatsSnapshot& stats);

}  // namespace tiermem::cli
