#include "stats_print.h"

#include <cstdio>

#include "config/policy_parser.h"
#include "runtime/stats_page.h"
#include "table.h"

namespace tiermem::cli {
namespace {

std::string Budget(uint64_t budget) { return budget ? HumanBytes(budget) : "unlimited"; }

// Length of the valid UTF-8 sequence at text[i], or 0 if it is not one.
size_t Utf8SequenceLength(const std::string& text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  // Overlong forms, surrogates and code points past U+10FFFF.
  if (len == 2 && c < 0xc2) return 0;
  if (len == 3 && ((c == 0xe0 && byte(i + 1) < 0xa0) || (c == 0xed && byte(i + 1) >= 0xa0))) return 0;
  if (len == 4 && ((c == 0xf0 && byte(i + 1) < 0x90) || c > 0xf4 || (c == 0xf4 && byte(i + 1) >= 0x90))) return 0;
  return len;
}

// JSON string literal with the escapes RFC 8259 requires. Bytes that are
// not UTF-8 (a policy path may hold any bytes) become U+FFFD, so strict
// parsers accept the output.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out + "\"";
}

// Prometheus label values escape backslash, double quote and newline.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

struct Metric {
  const char* name;
  const char* type;
  const char* help;
  uint64_t TierSnapshot::*field;
};

constexpr Metric kTierMetrics[] = {
    {"tiermem_tier_budget_bytes", "gauge", "Budget of the tier in bytes (0 = unlimited).", &TierSnapshot::budget},
    {"tiermem_tier_live_bytes", "gauge", "Bytes of live allocations placed on the tier.", &TierSnapshot::live_bytes},
    {"tiermem_tier_peak_live_bytes", "gauge", "Most live bytes the tier held at once.", &TierSnapshot::peak_live_bytes},
    {"tiermem_tier_resident_bytes", "gauge", "DRAM the tier costs now (its pages or page cache).",
     &TierSnapshot::resident_bytes},
    {"tiermem_tier_file_bytes", "gauge", "Allocated bytes of the tier's backing file.", &TierSnapshot::file_bytes},
    {"tiermem_tier_extents", "gauge", "Heap image extents on the tier.", &TierSnapshot::extents},
    {"tiermem_tier_allocations_total", "counter", "Placements made on the tier.", &TierSnapshot::allocations},
    {"tiermem_tier_placed_bytes_total", "counter", "Sum of the sizes of all placements on the tier.",
     &TierSnapshot::placed_bytes},
    {"tiermem_tier_spills_in_total", "counter", "Placements that spilled to the tier from a full faster tier.",
     &TierSnapshot::spills_in},
    {"tiermem_tier_evicted_bytes_total", "counter", "File tiers: page cache written back and dropped.",
     &TierSnapshot::evicted_bytes},
};

std::string Seconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// The heat and moves part of `tiermem stat`: counts, pauses, CPU, and the
// heat histogram as a bar per tenth.
std::string MovesText(const MoveSnapshot& m) {
  if (!m.tiering_enabled && m.promotions == 0 && m.demotions == 0) return "tiering: off\n";
  std::string out = "moves: " + std::to_string(m.promotions) + " up (" + HumanBytes(m.promoted_bytes) + "), " +
                    std::to_string(m.demotions) + " down (" + HumanBytes(m.demoted_bytes) + ")";
  if (m.failed_moves) out += ", " + std::to_string(m.failed_moves) + " refused";
  if (m.aborted_stops) out += ", " + std::to_string(m.aborted_stops) + " stops given up";
  out += "\n";
  if (m.pauses) {
    out += "pauses: " + std::to_string(m.pauses) + ", mean " + std::to_string(m.pause_total_us / m.pauses) +
           " us, max " + std::to_string(m.pause_max_us) + " us; histogram (us):";
    for (size_t b = 0; b < m.pause_histogram.size(); ++b) {
      if (m.pause_histogram[b] == 0) continue;
      out += b < std::size(runtime::kPauseBucketsUs) ? " <=" + std::to_string(runtime::kPauseBucketsUs[b])
                                                      : std::string(" >") + std::to_string(runtime::kPauseBucketsUs[b - 1]);
      out += ":" + std::to_string(m.pause_histogram[b]);
    }
    out += "\n";
  }
  if (m.fault_moves) {
    out += "userfaultfd: " + std::to_string(m.fault_moves) + " extents moved without a pause, " +
           std::to_string(m.fault_waits) + " faults waited; hold window mean " +
           std::to_string(m.fault_hold_total_us / m.fault_moves) + " us, max " + std::to_string(m.fault_hold_max_us) +
           " us\n";
  }
  out += "cpu: sampler " + Seconds(m.sampler_cpu_ns) + ", mover " + Seconds(m.mover_cpu_ns) + "; " +
         std::to_string(m.sampler_regions) + " regions, " + std::to_string(m.heat_windows) + " heat windows\n";
  uint64_t most = 0;
  for (uint64_t n : m.heat_histogram) most = n > most ? n : most;
  if (most != 0) {
    out += "heat (extents per tenth of samples touched):\n";
    for (size_t b = 0; b < m.heat_histogram.size(); ++b) {
      char label[32];
      std::snprintf(label, sizeof label, "  %3zu-%3zu%% %7llu ", b * 10, b * 10 + 10,
                    static_cast<unsigned long long>(m.heat_histogram[b]));
      out += label + std::string(static_cast<size_t>(m.heat_histogram[b] * 40 / most), '#') + "\n";
    }
  }
  return out;
}

std::string JsonArray(const std::vector<uint64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out + "]";
}

std::string MovesJson(const MoveSnapshot& m) {
  return std::string(",\"tiering_enabled\":") + (m.tiering_enabled ? "true" : "false") +
         ",\"promotions\":" + std::to_string(m.promotions) + ",\"demotions\":" + std::to_string(m.demotions) +
         ",\"promoted_bytes\":" + std::to_string(m.promoted_bytes) +
         ",\"demoted_bytes\":" + std::to_string(m.demoted_bytes) +
         ",\"failed_moves\":" + std::to_string(m.failed_moves) +
         ",\"aborted_stops\":" + std::to_string(m.aborted_stops) + ",\"pauses\":" + std::to_string(m.pauses) +
         ",\"pause_total_us\":" + std::to_string(m.pause_total_us) +
         ",\"pause_max_us\":" + std::to_string(m.pause_max_us) +
         ",\"pause_histogram\":" + JsonArray(m.pause_histogram) +
         ",\"fault_moves\":" + std::to_string(m.fault_moves) +
         ",\"fault_waits\":" + std::to_string(m.fault_waits) +
         ",\"fault_hold_total_us\":" + std::to_string(m.fault_hold_total_us) +
         ",\"fault_hold_max_us\":" + std::to_string(m.fault_hold_max_us) +
         ",\"mover_cpu_ns\":" + std::to_string(m.mover_cpu_ns) +
         ",\"sampler_cpu_ns\":" + std::to_string(m.sampler_cpu_ns) +
         ",\"sampler_regions\":" + std::to_string(m.sampler_regions) +
         ",\"heat_windows\":" + std::to_string(m.heat_windows) +
         ",\"heat_histogram\":" + JsonArray(m.heat_histogram);
}

}  // namespace

std::string StatsTable(const StatsSnapshot& stats) {
  Table table({"tier", "kind", "budget", "allocations", "spills in", "live", "peak", "resident", "file", "extents"});
  table.AlignRight({2, 3, 4, 5, 6, 7, 8, 9});
  for (const TierSnapshot& tier : stats.tiers) {
    table.AddRow({tier.name, tier.kind, Budget(tier.budget), std::to_string(tier.allocations),
                  std::to_string(tier.spills_in), HumanBytes(tier.live_bytes), HumanBytes(tier.peak_live_bytes),
                  HumanBytes(tier.resident_bytes),
                  HumanBytes(tier.file_bytes), std::to_string(tier.extents)});
  }
  std::string out = "tiermem: process " + std::to_string(stats.pid) + ", policy " + stats.policy_source;
  if (!stats.policy_name.empty()) out += " (\"" + stats.policy_name + "\")";
  out += ", extent " + config::FormatSize(stats.extent_size) + "\n";
  out += table.Render();
  if (stats.dram_only) out += "running DRAM-only: the policy was bad or none of its tiers is usable\n";
  out += "small allocations (always DRAM): " + HumanBytes(stats.untiered_bytes) + " live\n";
  if (stats.failed_allocations) {
    out += "failed allocations (every tier full, ENOMEM): " + std::to_string(stats.failed_allocations) + "\n";
  }
  if (stats.forks) out += "forks: " + std::to_string(stats.forks) + "\n";
  out += MovesText(stats.moves);
  return out;
}

std::string StatsJson(const StatsSnapshot& stats) {
  std::string out = "{\"pid\":" + std::to_string(stats.pid) +
                    ",\"policy_source\":" + JsonString(stats.policy_source) +
                    ",\"policy_name\":" + JsonString(stats.policy_name) +
                    ",\"extent_size\":" + std::to_string(stats.extent_size) +
                    ",\"image_size\":" + std::to_string(stats.image_size) +
                    ",\"untiered_bytes\":" + std::to_string(stats.untiered_bytes) +
                    ",\"dram_only\":" + (stats.dram_only ? "true" : "false") +
                    ",\"failed_allocations\":" + std::to_string(stats.failed_allocations) +
                    ",\"forks\":" + std::to_string(stats.forks) + MovesJson(stats.moves) + ",\"tiers\":[";
  for (size_t i = 0; i < stats.tiers.size(); ++i) {
    const TierSnapshot& tier = stats.tiers[i];
    out += (i ? "," : "") + std::string("{\"name\":") + JsonString(tier.name) + ",\"kind\":" + JsonString(tier.kind);
    for (const Metric& metric : kTierMetrics) {
      // "tiermem_tier_live_bytes" -> "live_bytes"; drop Prometheus' "_total".
      std::string key = std::string(metric.name).substr(sizeof("tiermem_tier_") - 1);
      if (key.ends_with("_total")) key.resize(key.size() - sizeof("_total") + 1);
      out += ",\"" + key + "\":" + std::to_string(tier.*metric.field);
    }
    out += "}";
  }
  return out + "]}\n";
}

std::string StatsPrometheus(const StatsSnapshot& stats) {
  std::string pid = std::to_string(stats.pid);
  std::string out;
  for (const Metric& metric : kTierMetrics) {
    out += std::string("# HELP ") + metric.name + " " + metric.help + "\n";
    out += std::string("# TYPE ") + metric.name + " " + metric.type + "\n";
    for (const TierSnapshot& tier : stats.tiers) {
      out += std::string(metric.name) + "{pid=\"" + pid + "\",tier=\"" + LabelValue(tier.name) + "\",kind=\"" +
             LabelValue(tier.kind) + "\"} " + std::to_string(tier.*metric.field) + "\n";
    }
  }
  auto process_counter = [&](const char* name, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    out += std::string(name) + "{pid=\"" + pid + "\"} " + std::to_string(value) + "\n";
  };
  auto process_gauge = [&](const char* name, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    out += std::string(name) + "{pid=\"" + pid + "\"} " + std::to_string(value) + "\n";
  };
  process_gauge("tiermem_untiered_bytes", "Live bytes of allocations below the tiered size, always in DRAM.",
                stats.untiered_bytes);
  process_gauge("tiermem_dram_only", "1 if the heap runs on DRAM only (bad policy or no usable tier).",
                stats.dram_only);
  process_counter("tiermem_failed_allocations_total", "Allocations that failed because every tier was full.",
                  stats.failed_allocations);
  process_counter("tiermem_forks_total", "fork() calls handled by the runtime.", stats.forks);
  const MoveSnapshot& m = stats.moves;
  process_gauge("tiermem_tiering_enabled", "1 if the heat sampler and tiering loop run.", m.tiering_enabled);
  process_counter("tiermem_promotions_total", "Extents moved to a faster tier.", m.promotions);
  process_counter("tiermem_demotions_total", "Extents moved to a slower tier.", m.demotions);
  process_counter("tiermem_promoted_bytes_total", "Data bytes moved to a faster tier.", m.promoted_bytes);
  process_counter("tiermem_demoted_bytes_total", "Data bytes moved to a slower tier.", m.demoted_bytes);
  process_counter("tiermem_failed_moves_total", "Moves refused (budget or disk full, pinned, shared with a child).",
                  m.failed_moves);
  process_counter("tiermem_aborted_stops_total", "Stop-the-world attempts given up because a thread did not stop.",
                  m.aborted_stops);
  process_counter("tiermem_pause_microseconds_total", "Microseconds the program's threads were held, in total.",
                  m.pause_total_us);
  process_counter("tiermem_pauses_total", "Stop-the-world pauses.", m.pauses);
  process_counter("tiermem_fault_moves_total", "Extents moved by the userfaultfd engine, without a pause.",
                  m.fault_moves);
  process_counter("tiermem_fault_waits_total", "Page faults that waited for a userfaultfd move.", m.fault_waits);
  process_counter("tiermem_sampler_cpu_ns_total", "CPU time of the heat sampler.", m.sampler_cpu_ns);
  process_counter("tiermem_mover_cpu_ns_total", "CPU time of the threads while moving extents.", m.mover_cpu_ns);
  return out;
}

}  // namespace tiermem::cli
