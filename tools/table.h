// Aligned plain-text tables for terminal output, and the number formats
// they show. No colours, no borders: output that reads well and greps well.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace tiermem::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}

  // Numbers read best right-aligned; text columns stay left-aligned.
  void AlignRight(std::set<size_t> columns) { right_aligned_ = std::move(columns); }
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  // Header, then rows; columns separated by two spaces, no trailing blanks.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::set<size_t> right_aligned_;
};

// 1610612736 -> "1.5GiB", 4096 -> "4KiB", 17 -> "17B": approximate, for
// reading at a glance (exact sizes in policies use config::FormatSize). One
// token per cell, so scripts can split table rows on blanks.
std::string HumanBytes(uint64_t bytes);

}  // namespace tiermem::cli
