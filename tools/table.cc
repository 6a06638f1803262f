#include "table.h"

#include <algorithm>
#include <cstdio>

namespace tiermem::cli {
namespace {

// Display width in terminal cells: UTF-8 continuation bytes take none.
size_t DisplayWidth(const std::string& text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

}  // namespace

std::string Table::Render() const {
  std::vector<size_t> widths(header_.size(), 0);
  auto widen = [&widths](const std::vector<std::string>& cells) {
    if (cells.size() > widths.size()) widths.resize(cells.size(), 0);
    for (size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
  };
  widen(header_);
  for (const auto& row : rows_) widen(row);

  std::string out;
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string padding(widths[i] - DisplayWidth(cells[i]), ' ');
      if (i > 0) line += "  ";
      line += right_aligned_.count(i) ? padding + cells[i] : cells[i] + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  };
  render_row(header_);
  for (const auto& row : rows_) render_row(row);
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  bool whole = value == static_cast<double>(static_cast<uint64_t>(value));
  if (unit == 0 || whole || value >= 100) {
    std::snprintf(text, sizeof text, "%.0f%s", value, kUnits[unit]);
  } else {
    std::snprintf(text, sizeof text, "%.1f%s", value, kUnits[unit]);
  }
  return text;
}

}  // namespace tiermem::cli
