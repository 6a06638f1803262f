#include "os/memory_cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tiermem::os {
namespace {

// Limits at or above this mean "none" (v1 reports PAGE_COUNTER_MAX pages).
constexpr uint64_t kNoLimit = 1ull << 62;

bool ReadNumber(int fd, uint64_t* out) {
  char buf[32];
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  if (strncmp(buf, "max", 3) == 0) {
    *out = kNoLimit;
    return true;
  }
  char* end = nullptr;
  *out = strtoull(buf, &end, 10);
  return end != buf;
}

// memory.stat's text, read fresh on every call (pread at 0).
uint64_t ReadReclaimable(int fd, bool v2) {
  char buf[8192];
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return ReclaimablePageCache(buf, v2);
}

bool ReadFileNumber(const std::string& path, uint64_t* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ReadNumber(fd, out);
  close(fd);
  return ok;
}

// The process's path in the v2 hierarchy ("0::/a/b") or in v1's memory
// controller ("7:memory:/a/b"); false if neither is listed.
bool CgroupPath(bool* v2, std::string* path) {
  FILE* f = fopen("/proc/self/cgroup", "re");
  if (f == nullptr) return false;
  char line[1024];
  bool found = false;
  while (fgets(line, sizeof line, f) != nullptr) {
    line[strcspn(line, "\n")] = '\0';
    const char* first = strchr(line, ':');
    const char* second = first != nullptr ? strchr(first + 1, ':') : nullptr;
    if (second == nullptr) continue;
    const std::string controllers(first + 1, second);
    if (controllers == "memory" || controllers.find("memory,") == 0 ||
        controllers.find(",memory") != std::string::npos) {
      *v2 = false;
      *path = second + 1;
      found = true;
      break;
    }
    if (controllers.empty() && strncmp(line, "0:", 2) == 0) {  // v2, unless v1 memory shows up later
      *v2 = true;
      *path = second + 1;
      found = true;
    }
  }
  fclose(f);
  return found;
}

}  // namespace

bool MemoryCgroup::Open() {
  bool v2 = false;
  std::string path;
  if (!CgroupPath(&v2, &path)) return false;
  v2_ = v2;
  const std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
  const char* limit_file = v2 ? "/memory.max" : "/memory.limit_in_bytes";
  const char* usage_file = v2 ? "/memory.current" : "/memory.usage_in_bytes";
  // From the process's own group up to the root: any level may be the
  // tightest.
  for (;;) {
    const std::string dir = root + (path == "/" ? "" : path);
    uint64_t limit = 0;
    if (ReadFileNumber(dir + limit_file, &limit) && limit < kNoLimit && levels_ < kMaxLevels) {
      const int usage = open((dir + usage_file).c_str(), O_RDONLY | O_CLOEXEC);
      const int stat = open((dir + "/memory.stat").c_str(), O_RDONLY | O_CLOEXEC);
      if (usage >= 0 && stat >= 0) {
        usage_fd_[levels_] = usage;
        stat_fd_[levels_] = stat;
        limit_[levels_] = limit;
        ++levels_;
      } else {
        if (usage >= 0) close(usage);
        if (stat >= 0) close(stat);
      }
    }
    if (path.empty() || path == "/") break;
    const size_t slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  return levels_ > 0;
}

uint64_t ReclaimablePageCache(const char* memory_stat, bool v2) {
  const char* keys[4] = {"active_file", "inactive_file", v2 ? "file_dirty" : "dirty", v2 ? "file_writeback" : "writeback"};
  uint64_t values[4] = {};
  for (const char* line = memory_stat; *line != '\0';) {
    const char* end = strchr(line, '\n');
    if (end == nullptr) end = line + strlen(line);
    // v1 lists each counter twice: for the group's own pages, and with
    // "total_" for its whole subtree, which is what its limit covers.
    const bool take = v2 || strncmp(line, "total_", 6) == 0;
    const char* key = v2 ? line : line + 6;
    const char* space = take ? static_cast<const char*>(memchr(key, ' ', static_cast<size_t>(end - key))) : nullptr;
    if (space != nullptr) {
      const size_t len = static_cast<size_t>(space - key);
      for (int i = 0; i < 4; ++i) {
        if (len == strlen(keys[i]) && strncmp(key, keys[i], len) == 0) values[i] = strtoull(space + 1, nullptr, 10);
      }
    }
    line = *end == '\n' ? end + 1 : end;
  }
  const uint64_t file = values[0] + values[1], unclean = values[2] + values[3];
  return file > unclean ? file - unclean : 0;
}

uint64_t MemoryCgroup::Headroom() const {
  uint64_t headroom = UINT64_MAX;
  for (int i = 0; i < levels_; ++i) {
    uint64_t usage = 0;
    if (!ReadNumber(usage_fd_[i], &usage)) continue;
    const uint64_t reclaimable = ReadReclaimable(stat_fd_[i], v2_);
    usage = usage > reclaimable ? usage - reclaimable : 0;
    const uint64_t room = usage >= limit_[i] ? 0 : limit_[i] - usage;
    if (room < headroom) headroom = room;
  }
  return headroom;
}

}  // namespace tiermem::os
