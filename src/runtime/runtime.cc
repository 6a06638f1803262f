#include "runtime/runtime.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "os/log.h"
#include "os/thread.h"
#include "runtime/policy_setup.h"
#include "runtime/report_page.h"
#include "runtime/settings.h"
#include "runtime/stats_export.h"
#include "runtime/tiering_setup.h"
#include "migrate/world_stop.h"

namespace tiermem::runtime {
namespace {

// Process-wide state. The policy sits in static storage that is never
// destroyed: the heap refers to it until the very last free at exit.
alignas(config::Policy) unsigned char g_policy_storage[sizeof(config::Policy)];
config::Policy* g_policy = nullptr;
StatsPage* g_stats = nullptr;
uint32_t g_interval_ms = 50;
std::atomic<bool> g_started{false};
std::atomic<uint64_t> g_forks{0};

const config::Policy* ReportedPolicy() { return Heap() != nullptr ? g_policy : nullptr; }

void RefreshAll() {
  for (StatsPage* page : {g_stats, ClaimedReportPage()}) {
    if (page == nullptr) continue;
    RefreshStats(page);
    page->forks.store(g_forks.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
}

uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

void* BackgroundLoop(void*) {
  // This thread never writes the program's memory: a stop-the-world pause
  // leaves it running (it is also the thread that usually asks for one).
  migrate::ExemptThisThread();
  const timespec interval{static_cast<time_t>(g_interval_ms / 1000),
                          static_cast<long>(g_interval_ms % 1000) * 1000000L};
  for (;;) {
    heap::TieredHeap* heap = Heap();
    if (heap != nullptr) heap->EnforceDramBudget();
    if (heap != nullptr) StepTiering(NowMs());
    if (heap != nullptr) heap->PurgeOnSchedule();
    RefreshAll();
    nanosleep(&interval, nullptr);
  }
  return nullptr;
}

void StartBackgroundThread() {
  const int rc = os::StartRuntimeThread(BackgroundLoop, nullptr, "tiermem");
  if (rc != 0) os::LogLine("cannot start the background thread; file-tier page cache will not be trimmed");
  // Freed tier memory: purged by this thread, or by jemalloc's decay without it.
  if (heap::TieredHeap* heap = Heap()) heap->SetScheduledPurge(rc == 0);
}

// The last chance to report: a command that never placed anything on the
// tiers still gets its (small) numbers.
void RefreshAtExit() {
  ClaimReportPage(ReportedPolicy());
  RefreshAll();
}

}  // namespace

void Start() {
  if (g_started.exchange(true)) return;
  const Settings settings = ReadSettings();
  os::SetVerbose(settings.verbose);
  if (settings.disabled) return;

  TierPlan plan = PlanTiers(settings);
  g_policy = new (g_policy_storage) config::Policy(std::move(plan.policy));
  g_interval_ms = g_policy->writeback_interval_ms > 0 ? g_policy->writeback_interval_ms : 50;
  for (const std::string& warning : plan.warnings) os::LogLine("%s", warning.c_str());

  std::string error = plan.error;
  if (error.empty()) {
    heap::TieredHeap::Create(*g_policy, plan.tiers, &error);
  }
  if (!settings.tiering_value.empty()) {
    os::LogLine("TIERMEM_TIERING=%s: expected on or off; using the policy's setting (%s)",
                settings.tiering_value.c_str(), g_policy->tiering.enabled ? "on" : "off");
  }
  if (Heap() != nullptr) {
    const bool force = settings.force_moves;
    SetUpTiering(Heap(), g_policy->tiering, force || settings.tiering.value_or(g_policy->tiering.enabled), force,
                 settings.perf_heat, settings.move_engine);
  }
  if (!error.empty()) {
    if (settings.strict || g_policy->strict) {
      os::LogLine("%s (TIERMEM_STRICT: exiting)", error.c_str());
      _exit(78);  // EX_CONFIG
    }
    os::LogLine("%s; running on DRAM only", error.c_str());
  }

  g_stats = OpenStatsPage();
  if (g_stats != nullptr) {
    DescribeHeap(g_stats, error.empty() ? g_policy : nullptr);
    RefreshStats(g_stats);
  }
  AdoptReportPage(settings.stats_fd);
  if (Heap() == nullptr) ClaimReportPage(nullptr);  // DRAM only: say so now
  // `tiermem run` reports the first process of its command that places
  // data: claim at that placement (a check in the background loop was beaten
  // by children a busy parent fork+exec'd), or at exit.
  if (Heap() != nullptr && ReportPageUnclaimed()) {
    Heap()->SetFirstPlacementHook([] { ClaimReportPage(ReportedPolicy()); });
  }
  atexit(RefreshAtExit);
  if (Heap() != nullptr || g_stats != nullptr) StartBackgroundThread();
  if (Heap() != nullptr) {
    os::DebugLine("heap image %p, %d tiers, tiered from %zu bytes", reinterpret_cast<void*>(Heap()->image().base()),
                  Heap()->tier_count(), static_cast<size_t>(Heap()->tiered_min_size()));
  }
}

namespace {
// Set between PrepareFork and AfterFork* in the forking thread: the preload's
// fork() calls them itself, and the pthread_atfork handlers then stand back.
thread_local bool t_forking = false;
thread_local bool t_fork_by_atfork = false;
}  // namespace

void PrepareFork() {
  t_forking = true;
  if (heap::TieredHeap* heap = Heap()) {
    PauseTieringForFork();
    heap->PrepareFork();
  }
}

void AfterForkParent() {
  if (heap::TieredHeap* heap = Heap()) {
    heap->AfterForkParent();
    ResumeTieringAfterFork(/*child=*/false);
  }
  g_forks.fetch_add(1, std::memory_order_relaxed);
  t_forking = false;
}

void AfterForkChild() {
  t_forking = false;
  if (!g_started.load()) return;
  if (heap::TieredHeap* heap = Heap()) {
    heap->AfterForkChild();
    ResumeTieringAfterFork(/*child=*/true);
  }
  if (g_stats != nullptr) g_stats = ReplaceStatsPageInChild(g_stats, ReportedPolicy());
  ForgetReportPageInChild();
  if (Heap() != nullptr || g_stats != nullptr) StartBackgroundThread();
}

// A program linked against libtiermem.so without the preload calls the
// real fork(): these handlers then do what the preload's fork() does.
// Under the preload its fork() has prepared already, and they stand back.
void InstallForkHandlers() {
  pthread_atfork(
      [] {
        if (t_forking) return;
        PrepareFork();
        t_fork_by_atfork = true;
      },
      [] {
        if (!t_fork_by_atfork) return;
        t_fork_by_atfork = false;
        AfterForkParent();
      },
      [] {
        if (!t_fork_by_atfork) return;
        t_fork_by_atfork = false;
        AfterForkChild();
      });
}

}  // namespace tiermem::runtime
