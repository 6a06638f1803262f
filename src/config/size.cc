// Human-readable byte sizes: "4GiB", "1.5 G", "512k", "123" <-> bytes.
//
// Units are binary (K = KiB = 1024) and case-insensitive. Decimal-looking
// spellings such as "GB" are rejected on purpose: whether "4GB" means 4e9
// or 4 GiB is exactly the kind of silent ambiguity a budget must not have.
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>

#include "config/policy_parser.h"

namespace tiermem::config {
namespace {

struct SizeUnit {
  std::string_view long_name;   // "KiB"
  std::string_view short_name;  // "K"
  int shift;                    // bytes = value << shift
};

constexpr SizeUnit kUnits[] = {
    {"B", "B", 0},    {"KiB", "K", 10}, {"MiB", "M", 20},
    {"GiB", "G", 30}, {"TiB", "T", 40}, {"PiB", "P", 50},
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

// Returns the shift of `suffix` ("" means bytes), or -1 if it is no unit.
int UnitShift(std::string_view suffix) {
  if (suffix.empty()) return 0;
  for (const SizeUnit& unit : kUnits) {
    if (EqualsIgnoreCase(suffix, unit.long_name) || EqualsIgnoreCase(suffix, unit.short_name)) {
      return unit.shift;
    }
  }
  return -1;
}

void TrimSpaces(std::string_view* text) {
  while (!text->empty() && IsSpace(text->front())) text->remove_prefix(1);
  while (!text->empty() && IsSpace(text->back())) text->remove_suffix(1);
}

}  // namespace

bool ParseSize(std::string_view text, uint64_t* bytes) {
  TrimSpaces(&text);
  size_t pos = 0;

  // Integer part: at least one digit. 128-bit arithmetic makes every
  // overflow check below a plain comparison.
  unsigned __int128 whole = 0;
  const size_t whole_begin = pos;
  while (pos < text.size() && IsDigit(text[pos])) {
    whole = whole * 10 + static_cast<unsigned>(text[pos] - '0');
    if (whole > UINT64_MAX) return false;
    ++pos;
  }
  if (pos == whole_begin) return false;

  // Optional fraction, as numerator / denominator. 18 digits keep the
  // denominator (and numerator << shift) inside 128 bits.
  unsigned __int128 fraction = 0;
  unsigned __int128 denominator = 1;
  bool has_fraction = false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t fraction_begin = pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (pos - fraction_begin >= 18) return false;
      fraction = fraction * 10 + static_cast<unsigned>(text[pos] - '0');
      denominator *= 10;
      ++pos;
    }
    if (pos == fraction_begin) return false;
    has_fraction = true;
  }

  std::string_view suffix = text.substr(pos);
  TrimSpaces(&suffix);
  const int shift = UnitShift(suffix);
  if (shift < 0) return false;
  // A fraction of a byte is meaningless; a fraction of a larger unit is
  // rounded down to whole bytes ("0.3GiB" is a reasonable thing to write).
  if (has_fraction && shift == 0) return false;

  const unsigned __int128 total = (whole << shift) + ((fraction << shift) / denominator);
  if (total > UINT64_MAX) return false;
  *bytes = static_cast<uint64_t>(total);
  return true;
}

std::string FormatSize(uint64_t bytes) {
  // The largest unit that keeps the number >= 1, printed exactly when the
  // size is a whole multiple of it and with at most two decimals otherwise.
  size_t unit = 0;
  while (unit + 1 < std::size(kUnits) && bytes >= (uint64_t{1} << kUnits[unit + 1].shift)) ++unit;
  const int shift = kUnits[unit].shift;
  const uint64_t whole = bytes >> shift;
  const uint64_t remainder = bytes - (whole << shift);

  char buffer[48];
  if (remainder == 0) {
    std::snprintf(buffer, sizeof buffer, "%llu %s", static_cast<unsigned long long>(whole),
                  kUnits[unit].long_name.data());
    return buffer;
  }
  // Round to hundredths of the unit; 1023.999 KiB rounds to "1024 KiB",
  // which is what a reader expects from a two-decimal display.
  const unsigned __int128 hundredths =
      ((static_cast<unsigned __int128>(bytes) * 100) + (uint64_t{1} << shift) / 2) >> shift;
  const uint64_t integral = static_cast<uint64_t>(hundredths / 100);
  const unsigned decimals = static_cast<unsigned>(hundredths % 100);
  if (decimals == 0) {
    std::snprintf(buffer, sizeof buffer, "%llu %s", static_cast<unsigned long long>(integral),
                  kUnits[unit].long_name.data());
  } else if (decimals % 10 == 0) {
    std::snprintf(buffer, sizeof buffer, "%llu.%u %s", static_cast<unsigned long long>(integral),
                  decimals / 10, kUnits[unit].long_name.data());
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu.%02u %s", static_cast<unsigned long long>(integral),
                  decimals, kUnits[unit].long_name.data());
  }
  return buffer;
}

}  // namespace tiermem::config
