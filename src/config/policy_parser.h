// Parses and validates a policy (TOML, read with toml++). Every error names
// the file, the line and the field, on one line:
//   policy.toml:7: tiers[1].budget: expected a size such as "4GiB", got "lots"
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "config/policy.h"

namespace tiermem::config {

struct PolicyError {
  std::string file;
  int line = 0;            // 0 when the error is not tied to a line
  std::string field;       // e.g. "tiers[1].budget"; "syntax" for TOML errors, "file" for I/O
  std::string message;
  std::string ToString() const;  // "file:line: field: message", always one line
};

using ParseResult = std::variant<Policy, PolicyError>;

// `source_name` is used in messages and stored in Policy::source.
ParseResult ParsePolicy(std::string_view toml_text, std::string_view source_name);
ParseResult LoadPolicyFile(const std::string& path);
// The built-in default (policies/default.toml compiled in).
Policy DefaultPolicy();

// "4GiB", "512MiB", "2M", "1073741824" -> bytes. Returns false on anything else.
bool ParseSize(std::string_view text, uint64_t* bytes);
std::string FormatSize(uint64_t bytes);  // 3221225472 -> "3 GiB"

}  // namespace tiermem::config
