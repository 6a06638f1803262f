// Internal to the config layer: turns a parsed TOML document into a
// validated Policy, or into the first error in document order.
// policy_parser.cc owns the public entry points (text, files, default).
#pragma once

#include <toml++/toml.h>

#include <string_view>

#include "config/policy_parser.h"

namespace tiermem::config::internal {

ParseResult BuildPolicy(const toml::table& root, std::string_view source_name);

}  // namespace tiermem::config::internal
