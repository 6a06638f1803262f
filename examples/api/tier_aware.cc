// tier_aware: a tier-aware program built against an installed tiermem.
//
// It places a std::vector on the "nvme" tier with tiermem::TierAllocator,
// allocates raw blocks with the C API (tiermem_malloc_on), asks which tier
// addresses are on (tiermem_tier_of), prints the per-tier counters
// (tiermem_get_stats) and checks everything it relies on. Exit status 0
// means every check passed.
//
//   find_package(tiermem REQUIRED)   + target_link_libraries(app tiermem::tiermem)
//   c++ -std=c++20 tier_aware.cc $(pkg-config --cflags --libs tiermem)
//
// Run with e.g. TIERMEM_DRAM_BUDGET=32MiB TIERMEM_NVME_DIR=/var/tmp.
#include <tiermem/tiermem.h>
#include <tiermem/tiermem.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

int g_checks = 0;
int g_failed = 0;

void Check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) ++g_failed;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
}

std::string Size(uint64_t b) {
  char buf[32];
  if (b >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1fMiB", b / 1048576.0);
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1fKiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 "B", b);
  }
  return buf;
}

void PrintTable() {
  std::printf("%-8s %5s %-5s %10s %10s %10s %10s %7s %7s\n", "tier", "index", "kind", "budget", "live",
              "resident", "file", "allocs", "extents");
  for (int t = 0; t < tiermem_tier_count(); ++t) {
    tiermem_tier_stats s;
    if (tiermem_get_stats(t, &s) != 0) continue;
    std::printf("%-8s %5d %-5s %10s %10s %10s %10s %7" PRIu64 " %7" PRIu64 "\n", s.name, t, s.kind,
                s.budget ? Size(s.budget).c_str() : "-", Size(s.live_bytes).c_str(),
                Size(s.resident_bytes).c_str(), Size(s.file_bytes).c_str(), s.allocations, s.extents);
  }
}

tiermem_tier_stats Stats(int tier) {
  tiermem_tier_stats s{};
  if (tiermem_get_stats(tier, &s) != 0) std::memset(&s, 0, sizeof s);
  return s;
}

}  // namespace

int main() {
  // --- tiers by name ----------------------------------------------------
  const int count = tiermem_tier_count();
  const int dram = tiermem_tier_index("dram");
  const int nvme = tiermem::TierIndex("nvme");
  std::printf("tiers: %d, dram=%d, nvme=%d, extent %zu bytes\n", count, dram, nvme, tiermem_extent_size());
  Check(count >= 2, "policy has at least 2 tiers");
  Check(dram == 0, "tiermem_tier_index(\"dram\") == 0");
  Check(nvme > 0 && nvme < count, "tiermem_tier_index(\"nvme\") is a slower tier");
  if (nvme <= 0 || nvme >= count) {
    std::printf("tier_aware: no nvme tier (is the runtime up?): %d of %d checks FAILED\n", g_failed, g_checks);
    return 1;
  }
  Check(tiermem_tier_index("nope") == -1, "tiermem_tier_index(\"nope\") == -1");
  Check(tiermem_tier_index(nullptr) == -1, "tiermem_tier_index(NULL) == -1");
  const char* name = tiermem_tier_name(nvme);
  Check(name != nullptr && std::strcmp(name, "nvme") == 0, "tiermem_tier_name(nvme) == \"nvme\"");
  Check(tiermem_tier_name(count) == nullptr && tiermem_tier_name(-1) == nullptr,
        "tiermem_tier_name(out of range) == NULL");
  Check(tiermem_extent_size() > 0, "tiermem_extent_size() > 0");

  // --- invalid arguments ------------------------------------------------
  errno = 0;
  void* bad = tiermem_malloc_on(99, 10);
  Check(bad == nullptr && errno == EINVAL, "tiermem_malloc_on(99, 10) == NULL, errno EINVAL");
  errno = 0;
  bad = tiermem_malloc_on(-1, 10);
  Check(bad == nullptr && errno == EINVAL, "tiermem_malloc_on(-1, 10) == NULL, errno EINVAL");
  errno = 0;
  bad = tiermem_aligned_alloc_on(nvme, 3, 4096);
  Check(bad == nullptr && errno == EINVAL, "tiermem_aligned_alloc_on(alignment 3) == NULL, errno EINVAL");
  tiermem_tier_stats dummy;
  errno = 0;
  Check(tiermem_get_stats(99, &dummy) == -1 && errno == EINVAL, "tiermem_get_stats(99) == -1, errno EINVAL");
  errno = 0;
  Check(tiermem_get_stats(0, nullptr) == -1 && errno == EINVAL, "tiermem_get_stats(0, NULL) == -1, errno EINVAL");

  // --- addresses outside the tiered heap --------------------------------
  void* small = std::malloc(64);
  int on_stack = 0;
  Check(tiermem_tier_of(small) == -1, "tiermem_tier_of(malloc(64)) == -1");
  Check(tiermem_tier_of(&on_stack) == -1, "tiermem_tier_of(stack) == -1");
  Check(tiermem_tier_of(nullptr) == -1, "tiermem_tier_of(NULL) == -1");
  std::free(small);

  // --- a raw block on nvme: placement, interior pointers, stats ---------
  const size_t block = 8u << 20;
  const tiermem_tier_stats before = Stats(nvme);
  auto* p = static_cast<unsigned char*>(tiermem_malloc_on(nvme, block));
  Check(p != nullptr, "tiermem_malloc_on(nvme, 8MiB) != NULL");
  if (p == nullptr) {
    std::printf("tier_aware: %d of %d checks FAILED\n", g_failed, g_checks);
    return 1;
  }
  for (size_t i = 0; i < block; ++i) p[i] = static_cast<unsigned char>(i * 7 + 3);
  Check(tiermem_tier_of(p) == nvme, "tiermem_tier_of(block) == nvme");
  Check(tiermem_tier_of(p + block / 2 + 123) == nvme, "tiermem_tier_of(middle of block) == nvme");
  Check(tiermem_tier_of(p + block - 1) == nvme, "tiermem_tier_of(last byte of block) == nvme");
  const tiermem_tier_stats during = Stats(nvme);
  Check(during.live_bytes >= before.live_bytes + block, "nvme live_bytes grew by at least 8MiB (" +
                                                            Size(before.live_bytes) + " -> " +
                                                            Size(during.live_bytes) + ")");
  Check(during.allocations >= before.allocations + 1, "nvme allocations counted");
  Check(during.extents > 0, "nvme has extents mapped");
  Check(std::strcmp(during.name, "nvme") == 0 && std::strcmp(during.kind, "nvme") == 0,
        "tiermem_get_stats(nvme) name and kind are \"nvme\"");
  size_t bad_bytes = 0;
  for (size_t i = 0; i < block; ++i) bad_bytes += p[i] != static_cast<unsigned char>(i * 7 + 3);
  Check(bad_bytes == 0, "block data reads back intact");

  // --- std::vector on nvme through the C++ allocator --------------------
  using NvmeVector = std::vector<double, tiermem::TierAllocator<double>>;
  {
    NvmeVector v{tiermem::TierAllocator<double>(nvme)};
    v.resize(1u << 20);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5;
    Check(tiermem::TierOf(v.data()) == nvme, "vector<double>(1M, TierAllocator(nvme)).data() is on nvme");
    Check(tiermem::TierOf(&v[v.size() / 2]) == nvme, "vector element in the middle is on nvme");
    Check(v.get_allocator().tier() == nvme, "vector's allocator tier() == nvme");
    double sum = 0;
    for (double d : v) sum += d;
    const double n = static_cast<double>(v.size());
    Check(sum == 0.5 * n * (n - 1) / 2, "vector data sums correctly");
    NvmeVector copy = v;  // copies keep the allocator, so the copy is on nvme too
    Check(tiermem::TierOf(copy.data()) == nvme && copy == v, "copied vector is on nvme and equal");

    std::vector<int, tiermem::TierAllocator<int>> on_dram{tiermem::TierAllocator<int>(dram)};
    on_dram.resize(1u << 18);  // 1 MiB: above the tiering threshold
    Check(tiermem::TierOf(on_dram.data()) == dram, "vector<int>(256K, TierAllocator(dram)).data() is on dram");

    const tiermem_tier_stats live = Stats(nvme);
    Check(live.file_bytes > 0, "nvme backing file holds data (" + Size(live.file_bytes) + ")");
    std::printf("\n");
    PrintTable();
    std::printf("\n");
  }

  bool threw = false;
  try {
    std::vector<int, tiermem::TierAllocator<int>> nowhere{tiermem::TierAllocator<int>(99)};
    nowhere.reserve(16);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  Check(threw, "TierAllocator on a missing tier throws std::bad_alloc");

  // --- the DRAM budget is enforced for explicit placement ---------------
  const tiermem_tier_stats dram_stats = Stats(dram);
  if (dram_stats.budget != 0) {
    errno = 0;
    void* too_big = tiermem_malloc_on(dram, dram_stats.budget + tiermem_extent_size());
    Check(too_big == nullptr && errno == ENOMEM, "tiermem_malloc_on(dram, budget + 1 extent) == NULL, errno ENOMEM");
    tiermem_free(too_big);
  } else {
    std::printf("note: no DRAM budget set, skipping the ENOMEM check\n");
  }

  // --- freeing returns the bytes ----------------------------------------
  tiermem_free(p);
  tiermem_free(nullptr);
  const tiermem_tier_stats after = Stats(nvme);
  Check(after.live_bytes + block <= during.live_bytes, "nvme live_bytes dropped after free (" +
                                                          Size(during.live_bytes) + " -> " +
                                                          Size(after.live_bytes) + ")");
  Check(after.live_bytes == before.live_bytes, "nvme live_bytes back to the start value");

  if (g_failed != 0) {
    std::printf("tier_aware: %d of %d checks FAILED\n", g_failed, g_checks);
    return 1;
  }
  std::printf("tier_aware: all %d checks passed\n", g_checks);
  return 0;
}
