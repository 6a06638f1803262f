// Entry points of the config layer: policy text, policy files and the
// built-in default. The schema itself is in policy_reader.cc.
//
// This runs inside the malloc preload at process start, so nothing here may
// let an exception escape: toml++ reports syntax errors by throwing
// toml::parse_error, and every exception becomes a PolicyError.
#include "config/policy_parser.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "config/policy_reader.h"
#include "tiermem_default_policy.h"

namespace tiermem::config {
namespace {

constexpr size_t kMaxPolicyFileBytes = 1 << 20;  // policies are a few hundred bytes
constexpr char kDefaultSourceName[] = "<built-in default>";

// Messages end up in one-line logs; a newline inside any part (toml++
// descriptions, odd file names) would break that.
std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

std::string ErrnoText(int error) {
  char buffer[256];
  // GNU strerror_r: thread-safe, returns a pointer that may or may not be
  // `buffer`. The preload can be entered from any thread.
  return strerror_r(error, buffer, sizeof buffer);
}

// Returns 0 or an errno value. stdio keeps this independent of the os layer's
// descriptors; "e" makes the descriptor close-on-exec while it is open.
int ReadWholeFile(const std::string& path, std::string* text) {
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr) return errno;
  int error = 0;
  char chunk[4096];
  for (;;) {
    const size_t n = std::fread(chunk, 1, sizeof chunk, file);
    text->append(chunk, n);
    if (text->size() > kMaxPolicyFileBytes) {
      error = EFBIG;
      break;
    }
    if (n < sizeof chunk) {
      if (std::ferror(file)) error = errno != 0 ? errno : EIO;
      break;
    }
  }
  std::fclose(file);
  return error;
}

}  // namespace

std::string PolicyError::ToString() const {
  std::string out = OneLine(file);
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!field.empty()) out += OneLine(field) + ": ";
  out += OneLine(message);
  return out;
}

ParseResult ParsePolicy(std::string_view toml_text, std::string_view source_name) {
  const std::string source(source_name);
  try {
    const toml::table root = toml::parse(toml_text, std::string_view(source));
    return internal::BuildPolicy(root, source);
  } catch (const toml::parse_error& error) {
    return PolicyError{source, static_cast<int>(error.source().begin.line), "syntax",
                       OneLine(error.description())};
  } catch (const std::exception& error) {
    // Out of memory, in practice: not tied to a line of the file.
    return PolicyError{source, 0, "file", std::string("cannot parse: ") + OneLine(error.what())};
  }
}

ParseResult LoadPolicyFile(const std::string& path) {
  std::string text;
  if (const int error = ReadWholeFile(path, &text); error != 0) {
    const std::string message =
        error == EFBIG
            ? "larger than " + std::to_string(kMaxPolicyFileBytes >> 10) + " KiB; not a policy file"
            : ErrnoText(error);
    return PolicyError{path, 0, "file", message};
  }
  return ParsePolicy(text, path);
}

Policy DefaultPolicy() {
  ParseResult result = ParsePolicy(kDefaultPolicyToml, kDefaultSourceName);
  if (const PolicyError* error = std::get_if<PolicyError>(&result)) {
    // A build defect, not a user error: policies/default.toml is compiled in
    // and config_test parses it. Running with an unknown policy is worse.
    std::fprintf(stderr, "tiermem: the built-in default policy is invalid: %s\n",
                 error->ToString().c_str());
    std::abort();
  }
  return std::get<Policy>(std::move(result));
}

}  // namespace tiermem::config
