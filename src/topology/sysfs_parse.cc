#include "topology/sysfs_parse.h"

#include <charconv>

namespace tiermem::topology {
namespace {

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool ParseInt(std::string_view text, int* value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size() && *value >= 0;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
std::string UnescapeOctal(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      std::string_view digits = text.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == std::string_view::npos) {
        out += static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

bool HasDaxOption(std::string_view options) {
  for (std::string_view option : Split(options, ',')) {
    // dax=never explicitly turns it off; dax=inode enables it per file, and
    // the runtime's O_TMPFILE files inherit the directory's DAX flag.
    if (option == "dax" || option == "dax=always" || option == "dax=inode") return true;
  }
  return false;
}

}  // namespace

bool ParseNodeList(std::string_view text, std::vector<int>* out) {
  out->clear();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return true;
  for (std::string_view range : Split(text, ',')) {
    size_t dash = range.find('-');
    int first = 0, last = 0;
    if (dash == std::string_view::npos) {
      if (!ParseInt(range, &first)) return false;
      last = first;
    } else if (!ParseInt(range.substr(0, dash), &first) ||
               !ParseInt(range.substr(dash + 1), &last) || last < first) {
      return false;
    }
    for (int node = first; node <= last; ++node) out->push_back(node);
  }
  return true;
}

std::vector<DaxMount> ParseDaxMounts(std::string_view mountinfo) {
  // Line format (proc(5)): id parent maj:min root mount_point mount_options
  // [optional fields...] - fstype source super_options
  std::vector<DaxMount> mounts;
  for (std::string_view line : Split(mountinfo, '\n')) {
    std::vector<std::string_view> fields = Split(line, ' ');
    size_t separator = 0;
    while (separator < fields.size() && fields[separator] != "-") ++separator;
    if (separator < 6 || separator + 3 >= fields.size()) continue;
    if (HasDaxOption(fields[5]) || HasDaxOption(fields[separator + 3])) {
      mounts.push_back({UnescapeOctal(fields[4]), UnescapeOctal(fields[separator + 2])});
    }
  }
  return mounts;
}

}  // namespace tiermem::topology
