// Schema walk: TOML document -> Policy. Every key of every table is checked
// against the schema (a typo must not silently fall back to a default), every
// value is type- and range-checked, then the tiers are checked as a list.
//
// Errors are collected with their line and the earliest one in the file is
// reported, so the message a user sees does not depend on the order in which
// toml++ iterates keys (alphabetical) or in which the checks run.
#include "config/policy_reader.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiermem::config::internal {
namespace {

constexpr std::string_view kRootKeys[] = {"policy", "tiers", "tiering"};
constexpr std::string_view kPolicyKeys[] = {
    "name",   "extent_size",    "image_size",           "tiered_min_size",
    "strict", "purge_delay_ms", "writeback_interval_ms", "file_readahead"};
constexpr std::string_view kTieringKeys[] = {
    "enabled",       "high_watermark", "low_watermark",  "promote_rate", "demote_rate",
    "min_residency_ms", "hot_threshold", "hysteresis",   "aggregation_ms", "min_regions",
    "max_regions",   "max_pause_ms",   "move_engine"};
constexpr std::string_view kTierKeys[] = {"name", "kind", "nodes", "path", "budget"};

constexpr size_t kMaxPolicyNameLength = 63;
constexpr size_t kMaxPathLength = 4095;  // PATH_MAX less the terminator
constexpr size_t kMaxQuotedLength = 40;

int LineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A user value echoed in a message: quoted, control characters escaped and
// long values cut, so that the message stays one short line.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == kMaxQuotedLength) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\x%02x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string Indexed(std::string_view base, size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

std::string Dotted(std::string_view prefix, std::string_view key) {
  // TOML allows an empty key ('' or ""); show it quoted, so that the field
  // of an error is never empty (found by policy_fuzz).
  const std::string shown = key.empty() ? std::string("\"\"") : std::string(key);
  return prefix.empty() ? shown : std::string(prefix) + "." + shown;
}

// Levenshtein distance, for "did you mean" hints on misspelt keys. Keys are
// short; the inputs are capped so that a hostile file cannot make this slow.
size_t EditDistance(std::string_view a, std::string_view b) {
  constexpr size_t kCap = 64;
  a = a.substr(0, kCap);
  b = b.substr(0, kCap);
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string JoinKeys(std::span<const std::string_view> keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// A size in an error message must be exact: FormatSize rounds to two
// decimals, which would report 1026 MiB as "1 GiB" in "not a multiple of".
std::string ExactSize(uint64_t bytes) {
  static constexpr std::string_view kUnitNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t unit = 0;
  while (unit + 1 < std::size(kUnitNames) && bytes != 0 &&
         bytes % (uint64_t{1} << (10 * (unit + 1))) == 0) {
    ++unit;
  }
  return std::to_string(bytes >> (10 * unit)) + " " + std::string(kUnitNames[unit]);
}

// "4GB" is the most common way to get a size wrong; say why it is refused.
bool LooksLikeDecimalUnit(std::string_view text) {
  if (text.size() < 2) return false;
  const char unit = static_cast<char>(text[text.size() - 2] | 0x20);
  const char b = static_cast<char>(text.back() | 0x20);
  return b == 'b' && (unit == 'k' || unit == 'm' || unit == 'g' || unit == 't' || unit == 'p');
}

bool IsPowerOfTwo(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

bool IsValidTierName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTierNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool ParseTierKind(std::string_view text, TierKind* kind) {
  for (TierKind candidate : {TierKind::kDram, TierKind::kCxl, TierKind::kPmem, TierKind::kNvme}) {
    if (text == TierKindName(candidate)) {
      *kind = candidate;
      return true;
    }
  }
  return false;
}

// What the cross-tier checks need to know about each tier besides its spec.
struct TierInfo {
  bool name_ok = false;
  bool kind_ok = false;
  int name_line = 0;
  int kind_line = 0;
  struct NodeEntry {
    int line;
    size_t index;  // position in the nodes array as written
  };
  std::vector<NodeEntry> node_entries;  // parallel to TierSpec::nodes
};

class PolicyReader {
 public:
  explicit PolicyReader(std::string_view source_name) { policy_.source = source_name; }

  ParseResult Read(const toml::table& root) {
    CheckKnownKeys(root, "", kRootKeys, kPolicyKeys,
                   "; policy settings belong in the [policy] table");
    if (const toml::node* section = root.get("policy")) ReadPolicySection(*section);
    if (const toml::node* section = root.get("tiering")) ReadTieringSection(*section);
    ReadTiers(root);
    if (error_) return std::move(*error_);
    return std::move(policy_);
  }

 private:
  // Keeps the error with the smallest line; on a tie, the first one found.
  void Fail(int line, std::string field, std::string message) {
    if (error_ && error_->line <= line) return;
    error_ = PolicyError{policy_.source, line, std::move(field), std::move(message)};
  }

  // `misplaced` are keys of another table that users put here by mistake
  // (e.g. a [policy] setting written after the first [[tiers]]); they get
  // `misplaced_hint` instead of a spelling suggestion.
  void CheckKnownKeys(const toml::table& table, std::string_view prefix,
                      std::span<const std::string_view> known,
                      std::span<const std::string_view> misplaced,
                      std::string_view misplaced_hint) {
    for (auto&& [key, node] : table) {
      const std::string_view name = key.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      const int key_line =
          key.source().begin.line != 0 ? static_cast<int>(key.source().begin.line) : LineOf(node);
      std::string message = "unknown key " + Quoted(name);
      if (std::find(misplaced.begin(), misplaced.end(), name) != misplaced.end()) {
        message += misplaced_hint;
      } else {
        const auto closest = std::min_element(known.begin(), known.end(), [&](auto a, auto b) {
          return EditDistance(name, a) < EditDistance(name, b);
        });
        if (EditDistance(name, *closest) <= 2) {
          message += " (did you mean " + Quoted(*closest) + "?)";
        } else {
          message += "; expected one of: " + JoinKeys(known);
        }
      }
      Fail(key_line, Dotted(prefix, name), std::move(message));
    }
  }

  bool ReadString(const toml::node& node, const std::string& field, std::string* out) {
    const toml::value<std::string>* value = node.as_string();
    if (value == nullptr) {
      Fail(LineOf(node), field, std::string("expected a string, got ") + TypeName(node));
      return false;
    }
    *out = value->get();
    return true;
  }

  bool ReadInteger(const toml::node& node, const std::string& field, int64_t min, int64_t max,
                   int64_t* out) {
    const toml::value<int64_t>* value = node.as_integer();
    if (value == nullptr) {
      Fail(LineOf(node), field, std::string("expected an integer, got ") + TypeName(node));
      return false;
    }
    if (value->get() < min || value->get() > max) {
      Fail(LineOf(node), field,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
               std::to_string(value->get()));
      return false;
    }
    *out = value->get();
    return true;
  }

  bool ReadBool(const toml::node& node, const std::string& field, bool* out) {
    const toml::value<bool>* value = node.as_boolean();
    if (value == nullptr) {
      Fail(LineOf(node), field,
           std::string("expected a boolean (true or false), got ") + TypeName(node));
      return false;
    }
    *out = value->get();
    return true;
  }

  // A size is a string with a unit ("4GiB") or a plain integer of bytes.
  bool ReadSize(const toml::node& node, const std::string& field, uint64_t* out) {
    if (const toml::value<int64_t>* integer = node.as_integer()) {
      if (integer->get() < 0) {
        Fail(LineOf(node), field,
             "a size must not be negative, got " + std::to_string(integer->get()));
        return false;
      }
      *out = static_cast<uint64_t>(integer->get());
      return true;
    }
    if (const toml::value<std::string>* text = node.as_string()) {
      if (!ParseSize(text->get(), out)) {
        std::string message = "expected a size such as \"4GiB\", got " + Quoted(text->get());
        if (LooksLikeDecimalUnit(text->get())) {
          message += " (units are binary: write \"GiB\" or \"G\", not the ambiguous \"GB\")";
        }
        Fail(LineOf(node), field, std::move(message));
        return false;
      }
      return true;
    }
    Fail(LineOf(node), field,
         std::string("expected a size (a string such as \"4GiB\" or an integer of bytes), got ") +
             TypeName(node));
    return false;
  }

  bool ReadMilliseconds(const toml::node& node, const std::string& field, uint32_t min,
                        uint32_t max, uint32_t* out) {
    int64_t value = 0;
    if (!ReadInteger(node, field, min, max, &value)) return false;
    *out = static_cast<uint32_t>(value);
    return true;
  }

  void ReadPolicySection(const toml::node& node) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Fail(LineOf(node), "policy",
           std::string("expected a table ([policy]), got ") + TypeName(node));
      return;
    }
    CheckKnownKeys(*table, "policy", kPolicyKeys, kRootKeys,
                   "; it belongs at the top level, outside [policy]");

    if (const toml::node* name = table->get("name")) {
      std::string value;
      if (ReadString(*name, "policy.name", &value)) {
        const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
          return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
        });
        if (value.empty() || value.size() > kMaxPolicyNameLength || !printable) {
          Fail(LineOf(*name), "policy.name",
               "must be 1 to " + std::to_string(kMaxPolicyNameLength) +
                   " printable characters, got " + Quoted(value));
        } else {
          policy_.name = std::move(value);
        }
      }
    }

    const toml::node* extent_size = table->get("extent_size");
    bool extent_ok = true;
    if (extent_size != nullptr) {
      uint64_t value = 0;
      extent_ok = ReadSize(*extent_size, "policy.extent_size", &value);
      if (extent_ok && (!IsPowerOfTwo(value) || value < kMinExtentSize || value > kMaxExtentSize)) {
        Fail(LineOf(*extent_size), "policy.extent_size",
             "must be a power of two between " + FormatSize(kMinExtentSize) + " and " +
                 FormatSize(kMaxExtentSize) + ", got " + ExactSize(value));
        extent_ok = false;
      }
      if (extent_ok) policy_.extent_size = value;
    }

    // With the default image size (1 TiB) every valid extent size divides
    // it, so the multiple check only concerns an explicit image_size.
    if (const toml::node* image_size = table->get("image_size")) {
      uint64_t value = 0;
      if (ReadSize(*image_size, "policy.image_size", &value)) {
        if (value < kMinImageSize || value > kMaxImageSize) {
          Fail(LineOf(*image_size), "policy.image_size",
               "must be between " + FormatSize(kMinImageSize) + " and " +
                   FormatSize(kMaxImageSize) + ", got " + ExactSize(value));
        } else if (extent_ok && value % policy_.extent_size != 0) {
          Fail(LineOf(*image_size), "policy.image_size",
               "must be a multiple of extent_size (" + FormatSize(policy_.extent_size) + "), got " +
                   ExactSize(value));
        } else {
          policy_.image_size = value;
        }
      }
    }

    if (const toml::node* tiered_min_size = table->get("tiered_min_size")) {
      uint64_t value = 0;
      if (ReadSize(*tiered_min_size, "policy.tiered_min_size", &value)) {
        if (value < kMinTieredMinSize) {
          Fail(LineOf(*tiered_min_size), "policy.tiered_min_size",
               "must be at least " + FormatSize(kMinTieredMinSize) + ", got " + ExactSize(value));
        } else {
          policy_.tiered_min_size = value;
        }
      }
    }

    if (const toml::node* strict = table->get("strict")) {
      ReadBool(*strict, "policy.strict", &policy_.strict);
    }
    if (const toml::node* delay = table->get("purge_delay_ms")) {
      ReadMilliseconds(*delay, "policy.purge_delay_ms", 0, kMaxPurgeDelayMs,
                       &policy_.purge_delay_ms);
    }
    if (const toml::node* readahead = table->get("file_readahead")) {
      ReadBool(*readahead, "policy.file_readahead", &policy_.file_readahead);
    }
    if (const toml::node* interval = table->get("writeback_interval_ms")) {
      ReadMilliseconds(*interval, "policy.writeback_interval_ms", kMinWritebackIntervalMs,
                       kMaxWritebackIntervalMs, &policy_.writeback_interval_ms);
    }
  }

  void ReadTieringSection(const toml::node& node) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Fail(LineOf(node), "tiering", std::string("expected a table ([tiering]), got ") + TypeName(node));
      return;
    }
    CheckKnownKeys(*table, "tiering", kTieringKeys, kPolicyKeys, "; it belongs in [policy]");
    TieringSpec& t = policy_.tiering;
    if (const toml::node* v = table->get("enabled")) ReadBool(*v, "tiering.enabled", &t.enabled);
    auto read_u32 = [&](const char* key, int64_t min, int64_t max, uint32_t* out) {
      if (const toml::node* v = table->get(key)) {
        int64_t value = 0;
        if (ReadInteger(*v, std::string("tiering.") + key, min, max, &value)) *out = static_cast<uint32_t>(value);
      }
    };
    read_u32("high_watermark", 1, 100, &t.high_watermark_pct);
    read_u32("low_watermark", 0, 99, &t.low_watermark_pct);
    read_u32("min_residency_ms", 0, 3600000, &t.min_residency_ms);
    read_u32("hot_threshold", 0, 1000, &t.hot_threshold);
    read_u32("hysteresis", 0, 1000, &t.hysteresis);
    read_u32("aggregation_ms", 10, 60000, &t.aggregation_ms);
    read_u32("min_regions", 1, 10000, &t.min_regions);
    read_u32("max_regions", 2, 100000, &t.max_regions);
    read_u32("max_pause_ms", 1, 1000, &t.max_pause_ms);
    if (const toml::node* v = table->get("move_engine")) {
      std::string text;
      if (ReadString(*v, "tiering.move_engine", &text)) {
        if (text == "auto") {
          t.move_engine = MoveEngineChoice::kAuto;
        } else if (text == "userfaultfd") {
          t.move_engine = MoveEngineChoice::kUserfaultfd;
        } else if (text == "signal") {
          t.move_engine = MoveEngineChoice::kSignal;
        } else {
          Fail(LineOf(*v), "tiering.move_engine",
               "unknown engine " + Quoted(text) + "; expected one of auto, userfaultfd, signal");
        }
      }
    }
    for (const char* key : {"promote_rate", "demote_rate"}) {
      if (const toml::node* v = table->get(key)) {
        uint64_t value = 0;
        if (ReadSize(*v, std::string("tiering.") + key, &value)) {
          if (value < kMinExtentSize) {
            Fail(LineOf(*v), std::string("tiering.") + key,
                 "must be at least " + FormatSize(kMinExtentSize) + " per second, got " + ExactSize(value));
          } else {
            (key[0] == 'p' ? t.promote_rate : t.demote_rate) = value;
          }
        }
      }
    }
    if (t.low_watermark_pct >= t.high_watermark_pct) {
      const toml::node* v = table->get("low_watermark");
      Fail(LineOf(v != nullptr ? *v : node), "tiering.low_watermark",
           "must be below high_watermark (" + std::to_string(t.high_watermark_pct) + "), got " +
               std::to_string(t.low_watermark_pct));
    }
    if (t.min_regions * 2 > t.max_regions) {
      const toml::node* v = table->get("max_regions");
      Fail(LineOf(v != nullptr ? *v : node), "tiering.max_regions",
           "must be at least twice min_regions (" + std::to_string(t.min_regions) + "), got " +
               std::to_string(t.max_regions));
    }
  }

  void ReadTiers(const toml::table& root) {
    const toml::node* node = root.get("tiers");
    if (node == nullptr) {
      Fail(LineOf(root), "tiers",
           "at least one [[tiers]] table is required, the first of kind \"dram\"");
      return;
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(LineOf(*node), "tiers",
           std::string("expected an array of tables ([[tiers]]), got ") + TypeName(*node));
      return;
    }
    if (array->empty()) {
      Fail(LineOf(*node), "tiers", "at least one tier is required, the first of kind \"dram\"");
      return;
    }
    if (array->size() > kMaxTiers) {
      Fail(LineOf((*array)[kMaxTiers]), Indexed("tiers", kMaxTiers),
           "at most " + std::to_string(kMaxTiers) + " tiers are supported");
      return;
    }
    std::vector<TierInfo> infos(array->size());
    for (size_t i = 0; i < array->size(); ++i) ReadTier((*array)[i], i, &infos[i]);
    CheckTierList(infos);
  }

  void ReadTier(const toml::node& node, size_t index, TierInfo* info) {
    const std::string prefix = Indexed("tiers", index);
    TierSpec& tier = policy_.tiers.emplace_back();
    tier.line = LineOf(node);
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Fail(LineOf(node), prefix, std::string("expected a table, got ") + TypeName(node));
      return;
    }
    CheckKnownKeys(*table, prefix, kTierKeys, kPolicyKeys,
                   "; [policy] settings must come before the first [[tiers]]");

    const toml::node* name = table->get("name");
    if (name == nullptr) {
      Fail(tier.line, prefix + ".name", "missing; every tier needs a name");
    } else if (ReadString(*name, prefix + ".name", &tier.name)) {
      info->name_line = LineOf(*name);
      info->name_ok = IsValidTierName(tier.name);
      if (!info->name_ok) {
        Fail(info->name_line, prefix + ".name",
             "must be 1 to " + std::to_string(kMaxTierNameLength) +
                 " characters of a-z, 0-9, '_' and '-', got " + Quoted(tier.name));
      }
    }

    const toml::node* kind = table->get("kind");
    if (kind == nullptr) {
      Fail(tier.line, prefix + ".kind", "missing; expected one of dram, cxl, pmem, nvme");
    } else {
      std::string text;
      if (ReadString(*kind, prefix + ".kind", &text)) {
        info->kind_line = LineOf(*kind);
        info->kind_ok = ParseTierKind(text, &tier.kind);
        if (!info->kind_ok) {
          Fail(info->kind_line, prefix + ".kind",
               "unknown tier kind " + Quoted(text) + "; expected one of dram, cxl, pmem, nvme");
        }
      }
    }

    const toml::node* nodes = table->get("nodes");
    if (nodes != nullptr) ReadNodes(*nodes, prefix + ".nodes", &tier, info);

    const toml::node* path = table->get("path");
    if (path != nullptr) ReadPath(*path, prefix + ".path", &tier.path);

    if (const toml::node* budget = table->get("budget")) {
      uint64_t value = 0;
      if (ReadSize(*budget, prefix + ".budget", &value)) {
        if (value == 0) {
          Fail(LineOf(*budget), prefix + ".budget",
               "must be greater than zero; omit budget for an unlimited tier");
        } else {
          tier.budget = value;
        }
      }
    }

    if (info->kind_ok) CheckKindRules(tier, prefix, nodes, path);
  }

  void ReadNodes(const toml::node& node, const std::string& field, TierSpec* tier, TierInfo* info) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      Fail(LineOf(node), field,
           std::string("expected an array of NUMA node ids such as [0, 1], got ") + TypeName(node));
      return;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      int64_t id = 0;
      const std::string element_field = Indexed(field, i);
      if (!ReadInteger((*array)[i], element_field, 0, kMaxNumaNode, &id)) continue;
      const int element_line = LineOf((*array)[i]);
      if (std::find(tier->nodes.begin(), tier->nodes.end(), id) != tier->nodes.end()) {
        Fail(element_line, element_field, "node " + std::to_string(id) + " is listed twice");
        continue;
      }
      tier->nodes.push_back(static_cast<int>(id));
      info->node_entries.push_back({element_line, i});
    }
  }

  void ReadPath(const toml::node& node, const std::string& field, std::string* path) {
    std::string value;
    if (!ReadString(node, field, &value)) return;
    if (value.empty() || value.front() != '/') {
      Fail(LineOf(node), field, "must be an absolute directory path, got " + Quoted(value));
    } else if (value.find('\0') != std::string::npos) {
      Fail(LineOf(node), field, "must not contain a NUL character");
    } else if (value.size() > kMaxPathLength) {
      Fail(LineOf(node), field, "is longer than " + std::to_string(kMaxPathLength) + " characters");
    } else {
      *path = std::move(value);
    }
  }

  // Which of nodes/path each kind takes: memory tiers are NUMA nodes, file
  // tiers are directories, and pmem can be either (memory mode or app-direct).
  void CheckKindRules(const TierSpec& tier, const std::string& prefix, const toml::node* nodes,
                      const toml::node* path) {
    switch (tier.kind) {
      case TierKind::kDram:
      case TierKind::kCxl:
        if (path != nullptr) {
          Fail(LineOf(*path), prefix + ".path",
               std::string("not allowed for a ") + TierKindName(tier.kind) +
                   " tier (memory tiers are NUMA nodes; use nodes)");
        }
        break;
      case TierKind::kNvme:
        if (nodes != nullptr) {
          Fail(LineOf(*nodes), prefix + ".nodes",
               "not allowed for an nvme tier (file tiers live in path)");
        }
        if (path == nullptr) {
          Fail(tier.line, prefix + ".path",
               "missing; an nvme tier needs the directory for its backing file");
        }
        break;
      case TierKind::kPmem:
        if (nodes != nullptr && path != nullptr) {
          Fail(LineOf(*path), prefix + ".path",
               "a pmem tier takes nodes (memory mode) or path (app-direct), not both");
        } else if (nodes == nullptr && path == nullptr) {
          Fail(tier.line, prefix,
               "a pmem tier needs nodes (memory mode) or path (app-direct DAX directory)");
        }
        break;
    }
  }

  // Checks that involve more than one tier.
  void CheckTierList(const std::vector<TierInfo>& infos) {
    const std::vector<TierSpec>& tiers = policy_.tiers;
    if (infos[0].kind_ok && tiers[0].kind != TierKind::kDram) {
      Fail(infos[0].kind_line, "tiers[0].kind",
           std::string(
               "the first tier must be of kind \"dram\" (small allocations live there), got ") +
               Quoted(TierKindName(tiers[0].kind)));
    }
    for (size_t i = 1; i < tiers.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (infos[i].name_ok && infos[j].name_ok && tiers[i].name == tiers[j].name) {
          Fail(infos[i].name_line, Indexed("tiers", i) + ".name",
               "duplicate tier name " + Quoted(tiers[i].name) + " (also tiers[" +
                   std::to_string(j) + "])");
          break;
        }
      }
      // A NUMA node's pages belong to exactly one tier; listing a node twice
      // would make the per-tier accounting count the same pages twice.
      for (size_t n = 0; n < tiers[i].nodes.size(); ++n) {
        for (size_t j = 0; j < i; ++j) {
          const auto& earlier = tiers[j].nodes;
          if (std::find(earlier.begin(), earlier.end(), tiers[i].nodes[n]) != earlier.end()) {
            const TierInfo::NodeEntry& entry = infos[i].node_entries[n];
            Fail(entry.line, Indexed(Indexed("tiers", i) + ".nodes", entry.index),
                 "node " + std::to_string(tiers[i].nodes[n]) + " already belongs to tiers[" +
                     std::to_string(j) + "]");
            break;
          }
        }
      }
    }
  }

  Policy policy_;
  std::optional<PolicyError> error_;
};

}  // namespace

ParseResult BuildPolicy(const toml::table& root, std::string_view source_name) {
  return PolicyReader(source_name).Read(root);
}

}  // namespace tiermem::config::internal
