// libFuzzer target for the stats page reader and the three printers of the
// CLI (`tiermem run` / `tiermem stat [--json|--prometheus]`). The page is
// read from another process's memfd; its writer may be a different tiermem
// version, torn mid-update, or just broken, so no page may crash the reader
// or the printers, and what they print must stay bounded and well formed:
//
//  - strings are cut at their field sizes, at most kMaxTiers tiers;
//  - JSON parses (checked by a small strict parser below) and has no raw
//    control characters;
//  - Prometheus text has exactly the lines the metrics call for, each a
//    comment or `name{labels} value` with only the escapes the format knows;
//  - every output is shorter than a fixed bound.
//
// The input is the page's bytes (a short input is a truncated page), written
// into a memfd as the CLI would find it.
//
//   stats_fuzz -max_len=2048 tests/fuzz/stats_corpus
//
// STATS_FUZZ_STRICT_UTF8=1 also requires the JSON to be valid UTF-8 (RFC
// 8259); see docs/fuzzing.md for why that is off by default.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "runtime/stats_page.h"
#include "stats_print.h"
#include "stats_reader.h"

namespace {

using tiermem::cli::PageStatus;
using tiermem::cli::StatsSnapshot;

[[noreturn]] void Violated(const char* what, const std::string& text = "") {
  std::fprintf(stderr, "stats_fuzz: invariant violated: %s\n", what);
  if (!text.empty()) std::fprintf(stderr, "--- output (%zu bytes) ---\n%.4000s\n", text.size(), text.c_str());
  std::abort();
}

constexpr size_t kMaxOutput = 64 * 1024;

// ---- a strict JSON checker (RFC 8259 grammar; numbers, strings, literals) --
struct Json {
  std::string_view s;
  size_t i = 0;
  int depth = 0;
  bool strict_utf8 = false;

  bool Ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
    return true;
  }
  bool Lit(std::string_view word) {
    if (s.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  }
  bool Number() {
    size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    if (s[i] == '0') ++i;
    else while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    return i > start;
  }
  bool Utf8() {  // one multi-byte sequence at s[i]
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (n == 0 || (c >= 0xF0 && c > 0xF4) || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
    return true;
  }
  bool String() {
    if (!Lit("\"")) return false;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') { ++i; return true; }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i;
        if (i >= s.size()) return false;
        const char e = s[i];
        if (e == 'u') {
          if (i + 4 >= s.size()) return false;
          for (size_t k = 1; k <= 4; ++k)
            if (!std::isxdigit(static_cast<unsigned char>(s[i + k]))) return false;
          i += 5;
        } else if (std::strchr("\"\\/bfnrt", e) != nullptr && e != '\0') {
          ++i;
        } else {
          return false;
        }
      } else if (c >= 0x80 && strict_utf8) {
        if (!Utf8()) return false;
      } else {
        ++i;
      }
    }
    return false;
  }
  bool Value() {
    if (++depth > 8) return false;
    Ws();
    bool ok = false;
    if (i >= s.size()) ok = false;
    else if (s[i] == '{') {
      ++i;
      Ws();
      if (Lit("}")) ok = true;
      else {
        for (;;) {
          Ws();
          if (!String()) break;
          Ws();
          if (!Lit(":") || !Value()) break;
          Ws();
          if (Lit("}")) { ok = true; break; }
          if (!Lit(",")) break;
        }
      }
    } else if (s[i] == '[') {
      ++i;
      Ws();
      if (Lit("]")) ok = true;
      else {
        for (;;) {
          if (!Value()) break;
          Ws();
          if (Lit("]")) { ok = true; break; }
          if (!Lit(",")) break;
        }
      }
    } else if (s[i] == '"') ok = String();
    else if (s[i] == 't') ok = Lit("true");
    else if (s[i] == 'f') ok = Lit("false");
    else if (s[i] == 'n') ok = Lit("null");
    else ok = Number();
    --depth;
    return ok;
  }
};

void CheckJson(const std::string& json, bool strict_utf8) {
  if (json.size() > kMaxOutput) Violated("JSON output too long", json);
  if (json.empty() || json.back() != '\n') Violated("JSON does not end in a newline", json);
  Json parser{std::string_view(json).substr(0, json.size() - 1)};
  parser.strict_utf8 = strict_utf8;
  if (!parser.Value() || (parser.Ws(), parser.i != parser.s.size())) Violated("JSON does not parse", json);
}

// Every line: "# HELP name text", "# TYPE name gauge|counter", or
// `name{k="v",...} digits` with label values escaped as \\, \" and \n only.
void CheckPrometheus(const std::string& text, size_t tiers) {
  if (text.size() > kMaxOutput) Violated("Prometheus output too long", text);
  size_t lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) Violated("Prometheus text does not end in a newline", text);
    const std::string_view line(text.data() + start, end - start);
    ++lines;
    if (line.starts_with("# HELP tiermem_") || line.starts_with("# TYPE tiermem_")) {
      if (line.starts_with("# TYPE ") && !line.ends_with(" gauge") && !line.ends_with(" counter"))
        Violated("Prometheus TYPE line", text);
    } else {
      size_t i = 0;
      while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_')) ++i;
      if (i == 0 || i >= line.size() || line[i] != '{') Violated("Prometheus metric name", text);
      ++i;
      for (;;) {
        size_t k = i;
        while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
        if (i == k || line.substr(i, 2) != "=\"") Violated("Prometheus label name", text);
        i += 2;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || std::strchr("\\\"n", line[i + 1]) == nullptr || line[i + 1] == '\0')
              Violated("Prometheus label escape", text);
            i += 2;
          } else {
            ++i;
          }
        }
        if (i >= line.size()) Violated("Prometheus label value not closed", text);
        ++i;
        if (i < line.size() && line[i] == ',') { ++i; continue; }
        if (i < line.size() && line[i] == '}') { ++i; break; }
        Violated("Prometheus label set", text);
      }
      if (line.substr(i, 1) != " " || i + 1 >= line.size()) Violated("Prometheus sample value", text);
      for (++i; i < line.size(); ++i)
        if (!std::isdigit(static_cast<unsigned char>(line[i]))) Violated("Prometheus sample value", text);
    }
    start = end + 1;
  }
  // 10 tier metrics (HELP, TYPE, one sample per tier) and 15 process
  // metrics (4 of the heap, 11 of heat and moves).
  if (lines != 10 * (2 + tiers) + 15 * 3) Violated("Prometheus line count", text);
}

void CheckTable(const std::string& table, const StatsSnapshot& stats) {
  if (table.size() > kMaxOutput) Violated("table output too long", table);
  if (!table.starts_with("tiermem: process ")) Violated("table does not start with its title", table);
  if (table.back() != '\n') Violated("table does not end in a newline", table);
  bool newline_in_fields = stats.policy_source.find('\n') != std::string::npos ||
                           stats.policy_name.find('\n') != std::string::npos;
  for (const auto& tier : stats.tiers)
    newline_in_fields |= tier.name.find('\n') != std::string::npos || tier.kind.find('\n') != std::string::npos;
  if (newline_in_fields) return;  // rows can only be counted when no field breaks a line
  size_t lines = 0;
  for (char c : table) lines += c == '\n';
  // title, header, one row per tier, the small-allocations line, and up to
  // three optional lines (DRAM-only, failed allocations, forks); then heat
  // and moves: "tiering: off", or the moves line, the pauses line if there
  // were pauses, the CPU line, and the heat histogram (a title and one line
  // per bucket) if any bucket has extents.
  const auto& m = stats.moves;
  size_t moves_lines = 1;
  if (m.tiering_enabled || m.promotions != 0 || m.demotions != 0) {
    bool heat = false;
    for (uint64_t n : m.heat_histogram) heat |= n != 0;
    moves_lines = 2 + (m.pauses != 0 ? 1 : 0) + (heat ? 1 + m.heat_histogram.size() : 0);
  }
  const size_t expected = 3 + stats.tiers.size() + (stats.dram_only ? 1 : 0) +
                          (stats.failed_allocations ? 1 : 0) + (stats.forks ? 1 : 0) + moves_lines;
  if (lines != expected) Violated("table line count", table);
}

int PageFd() {
  static int fd = memfd_create("tiermem-stats", MFD_CLOEXEC);
  if (fd < 0) {
    std::perror("memfd_create");
    std::abort();
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool strict_utf8 = [] {
    const char* v = std::getenv("STATS_FUZZ_STRICT_UTF8");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  const int fd = PageFd();
  if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))) {
    std::perror("memfd write");
    std::abort();
  }

  StatsSnapshot stats;
  std::string error;
  const PageStatus status = tiermem::cli::ReadStatsPage(fd, &stats, &error);
  if (status == PageStatus::kUnreadable) {
    if (error.empty() || error.size() > 200 || error.find('\n') != std::string::npos) Violated("error message", error);
    if (size == sizeof(tiermem::runtime::StatsPage) && error.find("truncated") != std::string::npos)
      Violated("a whole page called truncated", error);
    return 0;
  }
  if (status == PageStatus::kNotStarted) return 0;
  if (size < sizeof(tiermem::runtime::StatsPage)) Violated("a truncated page was accepted");

  if (stats.tiers.size() > static_cast<size_t>(tiermem::runtime::kMaxTiers)) Violated("tier count");
  if (stats.policy_source.size() >= 256 + 1 || stats.policy_name.size() > 64) Violated("policy string length");
  for (const auto& tier : stats.tiers)
    if (tier.name.size() > 32 || tier.kind.size() > 8) Violated("tier string length");

  CheckTable(tiermem::cli::StatsTable(stats), stats);
  CheckJson(tiermem::cli::StatsJson(stats), strict_utf8);
  CheckPrometheus(tiermem::cli::StatsPrometheus(stats), stats.tiers.size());
  return 0;
}
