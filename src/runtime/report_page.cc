#include "runtime/report_page.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "os/files.h"
#include "runtime/stats_export.h"

namespace tiermem::runtime {
namespace {

int g_fd = -1;
pthread_mutex_t g_claim_lock = PTHREAD_MUTEX_INITIALIZER;
StatsPage* g_candidate = nullptr;  // mapped, not (yet) ours
StatsPage* g_claimed = nullptr;

void Drop() {
  StatsPage* page = g_claimed != nullptr ? g_claimed : g_candidate;
  if (page != nullptr) munmap(page, sizeof(StatsPage));
  os::CloseFd(g_fd);
  g_fd = -1;
  g_candidate = g_claimed = nullptr;
}

// The fd number comes from the environment, which outlives the fd: make
// sure it still is `tiermem run`'s memfd before writing into it.
bool IsReportMemfd(int fd) {
  char link[64], target[128];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  char expected[64];
  snprintf(expected, sizeof expected, "/memfd:%s ", kStatsMemfdName);
  return strncmp(target, expected, strlen(expected)) == 0;
}

// Under g_claim_lock.
StatsPage* ClaimLocked(const config::Policy* policy) {
  if (g_claimed != nullptr || g_candidate == nullptr) return g_claimed;
  int32_t unclaimed = 0;
  if (__atomic_compare_exchange_n(&g_candidate->pid, &unclaimed, static_cast<int32_t>(getpid()), false,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    g_claimed = g_candidate;
    g_candidate = nullptr;
    os::SetCloseOnExec(g_fd);  // ours now: programs we start make their own
    DescribeHeap(g_claimed, policy);
    return g_claimed;
  }
  Drop();  // another process of the command reports
  return nullptr;
}

}  // namespace

void AdoptReportPage(int fd) {
  if (fd < 0 || !IsReportMemfd(fd)) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(StatsPage)) return;
  void* p = mmap(nullptr, sizeof(StatsPage), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return;
  g_fd = fd;
  g_candidate = static_cast<StatsPage*>(p);
}

StatsPage* ClaimReportPage(const config::Policy* policy) {
  // The first placement and exit may both try: one claim per process, or
  // the loser would take the winner's pid for another process's and drop
  // the page.
  pthread_mutex_lock(&g_claim_lock);
  StatsPage* page = ClaimLocked(policy);
  pthread_mutex_unlock(&g_claim_lock);
  return page;
}

bool ReportPageUnclaimed() { return g_candidate != nullptr; }
StatsPage* ClaimedReportPage() { return g_claimed; }

void ForgetReportPageInChild() {
  pthread_mutex_init(&g_claim_lock, nullptr);  // a thread lost at the fork may have held it
  if (g_claimed != nullptr) Drop();
}

}  // namespace tiermem::runtime
