// os::MemoryCgroup on a real memory cgroup: a child process is put in a new
// group with a 256 MiB limit; its headroom shrinks by what it touches of
// anonymous memory and not by clean page cache, which the kernel drops at
// the limit. Needs root and a writable memory controller; skips otherwise.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "os/memory_cgroup.h"

namespace tiermem::os {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// The directory of a new memory cgroup under this process's own, or "".
std::string MakeGroup(uint64_t limit, std::string* why) {
  std::ifstream self("/proc/self/cgroup");
  std::string line, v1, v2;
  while (std::getline(self, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers == "memory") v1 = "/sys/fs/cgroup/memory" + (path == "/" ? "" : path);
    if (controllers.empty()) v2 = "/sys/fs/cgroup" + (path == "/" ? "" : path);
  }
  const bool is_v1 = !v1.empty();
  const std::string dir = (is_v1 ? v1 : v2) + "/tiermem-unit-" + std::to_string(getpid());
  if ((is_v1 ? v1 : v2).empty() || mkdir(dir.c_str(), 0755) != 0) {
    *why = "cannot create a memory cgroup under " + (is_v1 ? v1 : v2) + ": " + strerror(errno);
    return "";
  }
  std::ofstream max(dir + (is_v1 ? "/memory.limit_in_bytes" : "/memory.max"));
  max << limit;
  max.close();
  if (!max) {
    rmdir(dir.c_str());
    *why = "no memory limit file in " + dir + " (memory controller not enabled there)";
    return "";
  }
  return dir;
}

TEST(MemoryCgroupTest, HeadroomCountsTouchedMemoryButNotCleanPageCache) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's shadow of the 64 MiB the child touches is charged to
  // the 256 MiB group too (several times over): the numbers mean nothing.
  GTEST_SKIP() << "ThreadSanitizer's shadow memory is charged to the cgroup";
#endif
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a memory cgroup";
  std::string why;
  const std::string dir = MakeGroup(256 * kMiB, &why);
  if (dir.empty()) GTEST_SKIP() << why;
  // However the test ends (a failing ASSERT returns at once), the child is
  // killed and reaped, then its group removed: a child left waiting for
  // "go" would keep the group, and the next run's mkdir, busy.
  struct Cleanup {
    pid_t child = -1;
    std::string dir;
    ~Cleanup() {
      if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
      }
      rmdir(dir.c_str());
    }
  } cleanup{-1, dir};

  int go_pipe[2], report[2];
  ASSERT_EQ(pipe(go_pipe), 0);
  ASSERT_EQ(pipe(report), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(go_pipe[1]);
    close(report[0]);
    // Wait until the parent moved us into the group, then measure.
    char go;
    if (read(go_pipe[0], &go, 1) != 1) _exit(2);
    MemoryCgroup cgroup;
    uint64_t h[5] = {};
    // The group's raw usage, to see that the page cache is charged to it.
    auto usage = [&dir] {
      uint64_t bytes = 0;
      for (const char* file : {"/memory.usage_in_bytes", "/memory.current"}) {
        std::ifstream f(dir + file);
        if (f >> bytes) break;
      }
      return bytes;
    };
    h[0] = cgroup.Open() ? 1 : 0;
    h[1] = cgroup.Headroom();
    // 64 MiB of anonymous memory, touched.
    auto* anon = static_cast<char*>(mmap(nullptr, 64 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(anon, 1, 64 * kMiB);
    h[2] = cgroup.Headroom();
    const uint64_t before_cache = usage();
    // 64 MiB written to a file and synced: clean page cache.
    char path[] = "/var/tmp/tiermem-unit-cacheXXXXXX";
    const int fd = mkstemp(path);
    unlink(path);
    static char block[1 << 20];
    memset(block, 2, sizeof block);
    for (int i = 0; i < 64; ++i) {
      if (write(fd, block, sizeof block) != static_cast<ssize_t>(sizeof block)) _exit(3);
    }
    fsync(fd);
    h[3] = cgroup.Headroom();
    h[4] = usage() - before_cache;
    if (write(report[1], h, sizeof h) != static_cast<ssize_t>(sizeof h)) _exit(4);
    _exit(0);
  }
  cleanup.child = child;
  // Only the child writes reports: if it dies, the read below sees EOF.
  close(go_pipe[0]);
  close(report[1]);
  const std::string procs = dir + "/cgroup.procs";
  {
    std::ofstream f(procs);
    f << child;
  }
  ASSERT_EQ(write(go_pipe[1], "g", 1), 1);
  uint64_t h[5] = {};
  ASSERT_EQ(read(report[0], h, sizeof h), static_cast<ssize_t>(sizeof h));
  int status = 0;
  waitpid(child, &status, 0);
  cleanup.child = -1;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;

  EXPECT_EQ(h[0], 1u) << "the child did not find its limited cgroup";
  printf("headroom: start %llu MiB, after 64 MiB touched %llu MiB, after 64 MiB of clean page cache %llu MiB\n",
         static_cast<unsigned long long>(h[1] / kMiB), static_cast<unsigned long long>(h[2] / kMiB),
         static_cast<unsigned long long>(h[3] / kMiB));
  EXPECT_LE(h[1], 256 * kMiB);
  EXPECT_GT(h[1], 200 * kMiB);
  // Touching 64 MiB takes 64 MiB of room (page tables and slack aside).
  EXPECT_NEAR(static_cast<double>(h[1] - h[2]) / kMiB, 64, 8);
  // Page cache is room the kernel gives back at the limit; the check means
  // something only if that cache was charged to the group.
  EXPECT_GE(h[4], 48 * kMiB) << "the file's page cache was not charged to the group";
  EXPECT_NEAR(static_cast<double>(h[3]) / kMiB, static_cast<double>(h[2]) / kMiB, 12);
}

// memory.stat as each cgroup version writes it (trimmed samples of real
// files). This machine has one version; both parsers are checked here.
TEST(MemoryCgroupTest, ReclaimablePageCacheFromV1Stat) {
  // v1: the group's own counters first, then the hierarchy's ("total_"),
  // which are the ones its limit covers.
  const char* stat =
      "cache 1000\nrss 2000\nshmem 300\nmapped_file 40\ndirty 5\nwriteback 6\n"
      "active_file 700\ninactive_file 900\nunevictable 0\nhierarchical_memory_limit 671088640\n"
      "total_cache 409600000\ntotal_rss 104857600\ntotal_dirty 8192000\ntotal_writeback 4096000\n"
      "total_inactive_anon 0\ntotal_active_anon 0\ntotal_inactive_file 300000000\n"
      "total_active_file 100000000\ntotal_unevictable 0\n";
  EXPECT_EQ(ReclaimablePageCache(stat, /*v2=*/false), 400000000u - 8192000u - 4096000u);
  // The group's own counters alone are not read.
  EXPECT_EQ(ReclaimablePageCache("active_file 700\ninactive_file 900\n", false), 0u);
  // More dirty than cached (the counters are read at different moments).
  EXPECT_EQ(ReclaimablePageCache("total_inactive_file 10\ntotal_dirty 20\n", false), 0u);
}

TEST(MemoryCgroupTest, ReclaimablePageCacheFromV2Stat) {
  // v2: one set of keys; "file", "file_mapped" and "file_thp" must not be
  // taken for the LRU or dirty counters they share a prefix with. The last
  // line has no newline.
  const char* stat =
      "anon 104857600\nfile 409600000\nkernel 1000\nshmem 300000\nfile_mapped 123\n"
      "file_dirty 8192000\nfile_writeback 4096000\nfile_thp 0\ninactive_anon 0\nactive_anon 0\n"
      "inactive_file 300000000\nactive_file 100000000\nunevictable 0\nworkingset_refault_file 7";
  EXPECT_EQ(ReclaimablePageCache(stat, /*v2=*/true), 400000000u - 8192000u - 4096000u);
  // v1's names mean nothing in v2.
  EXPECT_EQ(ReclaimablePageCache("total_inactive_file 10\ndirty 5\n", true), 0u);
  EXPECT_EQ(ReclaimablePageCache("", true), 0u);
}

TEST(MemoryCgroupTest, UnlimitedMeansPlentyOfRoom) {
  MemoryCgroup cgroup;
  if (cgroup.Open()) GTEST_SKIP() << "this process runs under a memory limit";
  EXPECT_FALSE(cgroup.limited());
  EXPECT_EQ(cgroup.Headroom(), UINT64_MAX);
}

}  // namespace
}  // namespace tiermem::os
