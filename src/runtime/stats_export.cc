#include "runtime/stats_export.h"

#include <jemalloc/jemalloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "heap/tiered_heap.h"
#include "migrate/move_stats.h"
#include "runtime/tiering_setup.h"
#include "os/files.h"

namespace tiermem::runtime {
namespace {

int g_page_fd = -1;

StatsPage* MapPage(int fd) {
  void* p = mmap(nullptr, sizeof(StatsPage), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<StatsPage*>(p);
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void CopyString(char* dst, size_t cap, const std::string& src) { snprintf(dst, cap, "%s", src.c_str()); }

}  // namespace

StatsPage* OpenStatsPage() {
  int fd = os::CreateMemfd(kStatsMemfdName, sizeof(StatsPage));
  if (fd < 0) return nullptr;
  StatsPage* page = MapPage(fd);
  if (page == nullptr) {
    os::CloseFd(fd);
    return nullptr;
  }
  g_page_fd = fd;
  return page;
}

void DescribeHeap(StatsPage* page, const config::Policy* policy) {
  page->version = kStatsVersion;
  page->pid = getpid();
  if (policy != nullptr) {
    CopyString(page->policy_source, sizeof page->policy_source, policy->source);
    CopyString(page->policy_name, sizeof page->policy_name, policy->name);
  } else {
    CopyString(page->policy_source, sizeof page->policy_source, "none (DRAM only)");
  }
  heap::TieredHeap* heap = heap::TieredHeap::Instance();
  if (heap == nullptr) {
    page->dram_only.store(1);
    page->tier_count = 1;
    CopyString(page->tiers[0].name, sizeof page->tiers[0].name, "dram");
    CopyString(page->tiers[0].kind, sizeof page->tiers[0].kind, "dram");
  } else {
    page->dram_only.store(0);
    page->extent_size = static_cast<uint32_t>(heap->image().extent_size());
    page->image_base = heap->image().base();
    page->image_size = heap->image().size();
    page->tier_count = static_cast<uint32_t>(heap->tier_count());
    for (int t = 0; t < heap->tier_count(); ++t) {
      const config::TierSpec& spec = heap->tier(t).spec;
      CopyString(page->tiers[t].name, sizeof page->tiers[t].name, spec.name);
      CopyString(page->tiers[t].kind, sizeof page->tiers[t].kind, config::TierKindName(spec.kind));
      page->tiers[t].budget.store(spec.budget.value_or(0));
    }
  }
  // Readers check the magic last: publish it after everything else.
  std::atomic_thread_fence(std::memory_order_release);
  page->magic = kStatsMagic;
}

void RefreshTieringStats(StatsPage* page);

void RefreshStats(StatsPage* page) {
  if (page == nullptr) return;
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);
  size_t allocated = 0;
  len = sizeof allocated;
  mallctl("stats.allocated", &allocated, &len, nullptr, 0);

  uint64_t tiered_live = 0;
  if (heap::TieredHeap* heap = heap::TieredHeap::Instance()) {
    for (int t = 0; t < heap->tier_count(); ++t) {
      heap::Tier& tier = heap->tier(t);
      TierStats& out = page->tiers[t];
      const uint64_t live = tier.budget.used();
      tiered_live += live;
      out.live_bytes.store(live, std::memory_order_relaxed);
      out.resident_bytes.store(tier.backing.DramBytes(), std::memory_order_relaxed);
      out.file_bytes.store(tier.backing.AllocatedBytes(), std::memory_order_relaxed);
      out.extents.store(tier.counters.extents.load(std::memory_order_relaxed), std::memory_order_relaxed);
      out.allocations.store(tier.counters.allocations.load(std::memory_order_relaxed), std::memory_order_relaxed);
      out.spills_in.store(tier.counters.spills_in.load(std::memory_order_relaxed), std::memory_order_relaxed);
      out.evicted_bytes.store(tier.counters.evicted_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
      out.peak_live_bytes.store(tier.budget.peak(), std::memory_order_relaxed);
      out.placed_bytes.store(tier.counters.placed_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    page->failed_allocations.store(heap->failed_allocations(), std::memory_order_relaxed);
  }
  RefreshTieringStats(page);
  page->untiered_bytes.store(allocated > tiered_live ? allocated - tiered_live : 0, std::memory_order_relaxed);
  page->update_ns.store(NowNs(), std::memory_order_relaxed);
}

static_assert(migrate::kPauseBuckets == kPauseBuckets, "pause histogram layouts differ");
static_assert(heat::kHeatBuckets == kHeatBuckets, "heat histogram layouts differ");

void RefreshTieringStats(StatsPage* page) {
  const migrate::MoveStats& m = migrate::Stats();
  auto copy = [](std::atomic<uint64_t>& to, const std::atomic<uint64_t>& from) {
    to.store(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  copy(page->promotions, m.promotions);
  copy(page->demotions, m.demotions);
  copy(page->promoted_bytes, m.promoted_bytes);
  copy(page->demoted_bytes, m.demoted_bytes);
  copy(page->failed_moves, m.failed_moves);
  copy(page->aborted_stops, m.aborted_stops);
  copy(page->pauses, m.pauses);
  copy(page->pause_total_us, m.pause_total_us);
  copy(page->pause_max_us, m.pause_max_us);
  for (int b = 0; b < kPauseBuckets; ++b) copy(page->pause_histogram[b], m.pause_histogram[b]);
  copy(page->mover_cpu_ns, m.cpu_ns);
  copy(page->fault_moves, m.fault_moves);
  copy(page->fault_waits, m.fault_waits);
  copy(page->fault_hold_total_us, m.fault_hold_total_us);
  copy(page->fault_hold_max_us, m.fault_hold_max_us);
  const heat::HeatSampler* sampler = Sampler();
  page->tiering_enabled.store(sampler != nullptr, std::memory_order_relaxed);
  if (sampler != nullptr) {
    page->sampler_cpu_ns.store(sampler->cpu_ns(), std::memory_order_relaxed);
    page->sampler_regions.store(sampler->region_count(), std::memory_order_relaxed);
    page->heat_windows.store(sampler->windows(), std::memory_order_relaxed);
    for (int b = 0; b < kHeatBuckets; ++b) page->heat_histogram[b].store(sampler->histogram()[b], std::memory_order_relaxed);
  }
}

StatsPage* ReplaceStatsPageInChild(StatsPage* parent_page, const config::Policy* policy) {
  if (parent_page != nullptr) munmap(parent_page, sizeof(StatsPage));
  os::CloseFd(g_page_fd);
  g_page_fd = -1;
  StatsPage* page = OpenStatsPage();
  if (page != nullptr) {
    DescribeHeap(page, policy);
    RefreshStats(page);
  }
  return page;
}

}  // namespace tiermem::runtime
