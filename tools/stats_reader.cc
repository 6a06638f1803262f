#include "stats_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>

#include "runtime/stats_page.h"

namespace tiermem::cli {
namespace {

// Fixed-size name fields may lack a terminating NUL in a torn or hostile page.
template <size_t N>
std::string BoundedString(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

TierSnapshot SnapshotOf(const runtime::TierStats& tier) {
  TierSnapshot out;
  out.name = BoundedString(tier.name);
  out.kind = BoundedString(tier.kind);
  out.budget = tier.budget.load(std::memory_order_relaxed);
  out.live_bytes = tier.live_bytes.load(std::memory_order_relaxed);
  out.resident_bytes = tier.resident_bytes.load(std::memory_order_relaxed);
  out.file_bytes = tier.file_bytes.load(std::memory_order_relaxed);
  out.extents = tier.extents.load(std::memory_order_relaxed);
  out.allocations = tier.allocations.load(std::memory_order_relaxed);
  out.spills_in = tier.spills_in.load(std::memory_order_relaxed);
  out.evicted_bytes = tier.evicted_bytes.load(std::memory_order_relaxed);
  out.peak_live_bytes = tier.peak_live_bytes.load(std::memory_order_relaxed);
  out.placed_bytes = tier.placed_bytes.load(std::memory_order_relaxed);
  return out;
}

bool IsStatsMemfd(const std::string& link_target) {
  // The kernel names memfds "/memfd:NAME (deleted)".
  return link_target.find(std::string("memfd:") + runtime::kStatsMemfdName) != std::string::npos;
}

}  // namespace

PageStatus ReadStatsPage(int fd, StatsSnapshot* out, std::string* error) {
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the page is shared across processes");
  // A private copy: the writer keeps updating the shared page while we
  // format it, and a torn snapshot of independent counters is acceptable.
  auto page = std::make_unique<runtime::StatsPage>();
  ssize_t got = pread(fd, page.get(), sizeof(runtime::StatsPage), 0);
  if (got != static_cast<ssize_t>(sizeof(runtime::StatsPage))) {
    *error = got < 0 ? std::string("cannot read the stats page: ") + std::strerror(errno)
                     : "the stats page is truncated (" + std::to_string(got) + " bytes)";
    return PageStatus::kUnreadable;
  }
  if (page->magic == 0) return PageStatus::kNotStarted;
  if (page->magic != runtime::kStatsMagic) {
    *error = "the stats page has a wrong magic number";
    return PageStatus::kUnreadable;
  }
  if (page->version != runtime::kStatsVersion) {
    *error = "the stats page has version " + std::to_string(page->version) +
             ", this tiermem reads version " + std::to_string(runtime::kStatsVersion);
    return PageStatus::kUnreadable;
  }
  out->pid = page->pid;
  out->extent_size = page->extent_size;
  out->image_size = page->image_size;
  out->policy_source = BoundedString(page->policy_source);
  out->policy_name = BoundedString(page->policy_name);
  out->untiered_bytes = page->untiered_bytes.load(std::memory_order_relaxed);
  out->failed_allocations = page->failed_allocations.load(std::memory_order_relaxed);
  out->dram_only = page->dram_only.load(std::memory_order_relaxed) != 0;
  out->forks = page->forks.load(std::memory_order_relaxed);
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  MoveSnapshot& m = out->moves;
  m.tiering_enabled = get(page->tiering_enabled) != 0;
  m.promotions = get(page->promotions);
  m.demotions = get(page->demotions);
  m.promoted_bytes = get(page->promoted_bytes);
  m.demoted_bytes = get(page->demoted_bytes);
  m.failed_moves = get(page->failed_moves);
  m.aborted_stops = get(page->aborted_stops);
  m.pauses = get(page->pauses);
  m.pause_total_us = get(page->pause_total_us);
  m.pause_max_us = get(page->pause_max_us);
  m.mover_cpu_ns = get(page->mover_cpu_ns);
  m.fault_moves = get(page->fault_moves);
  m.fault_waits = get(page->fault_waits);
  m.fault_hold_total_us = get(page->fault_hold_total_us);
  m.fault_hold_max_us = get(page->fault_hold_max_us);
  m.sampler_cpu_ns = get(page->sampler_cpu_ns);
  m.sampler_regions = get(page->sampler_regions);
  m.heat_windows = get(page->heat_windows);
  m.pause_histogram.clear();
  for (const auto& b : page->pause_histogram) m.pause_histogram.push_back(get(b));
  m.heat_histogram.clear();
  for (const auto& b : page->heat_histogram) m.heat_histogram.push_back(get(b));
  out->tiers.clear();
  uint32_t count = std::min<uint32_t>(page->tier_count, runtime::kMaxTiers);
  for (uint32_t i = 0; i < count; ++i) out->tiers.push_back(SnapshotOf(page->tiers[i]));
  return PageStatus::kOk;
}

FindStatus OpenProcessStats(pid_t pid, int* fd) {
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) {
    if (errno == EACCES || errno == EPERM) return FindStatus::kPermissionDenied;
    return FindStatus::kNoProcess;
  }
  // A process can hold two pages: its own, and a report page inherited from
  // `tiermem run` that another process of the command may own. Prefer the
  // page that names this pid; any readable page is the fallback.
  FindStatus status = FindStatus::kNotTiermem;
  *fd = -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::string fd_path = fd_dir + "/" + entry->d_name;
    char target[256];
    ssize_t length = readlink(fd_path.c_str(), target, sizeof target - 1);
    if (length <= 0 || !IsStatsMemfd(std::string(target, length))) continue;
    // Opening /proc/PID/fd/N reopens the memfd itself; the kernel allows
    // that only with ptrace read access (same user, or root).
    int candidate = open(fd_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (candidate < 0) {
      if ((errno == EACCES || errno == EPERM) && status != FindStatus::kFound) status = FindStatus::kPermissionDenied;
      continue;  // or closed between readdir and open: keep looking
    }
    uint64_t magic = 0;
    int32_t owner = 0;
    const bool ours = pread(candidate, &magic, sizeof magic, offsetof(runtime::StatsPage, magic)) == sizeof magic &&
                      pread(candidate, &owner, sizeof owner, offsetof(runtime::StatsPage, pid)) == sizeof owner &&
                      magic == runtime::kStatsMagic && owner == pid;
    if (*fd < 0 || ours) {
      if (*fd >= 0) close(*fd);
      *fd = candidate;
      status = FindStatus::kFound;
      if (ours) break;
    } else {
      close(candidate);
    }
  }
  closedir(dir);
  return status;
}

bool ProcessExists(pid_t pid) {
  struct stat st;
  return stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace tiermem::cli
