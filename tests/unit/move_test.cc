// Moves between tiers (migrate::MoveRange): the ledger moves an extent's
// live bytes to the destination's budget atomically with frees, the tier of
// the address changes, the data stays. Between memory tiers the kernel
// moves pages (a no-op on a single-node machine: tests/vm checks the pages
// really land on the CPU-less node); to and from the NVMe file tier the data
// is copied with the world stopped and the mapping switched.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "heap/tiered_heap.h"
#include "migrate/mover.h"
#include "migrate/world_stop.h"
#include "os/files.h"

namespace tiermem::heap {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

class MoveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/var/tmp/tiermem-move-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config::Policy policy;
    policy.source = "move_test";
    policy.image_size = 16ull << 30;
    policy.purge_delay_ms = 0;
    config::TierSpec dram{"dram", config::TierKind::kDram, {}, "", 64 * kMiB, 0};
    config::TierSpec cxl{"cxl", config::TierKind::kCxl, {}, "", 32 * kMiB, 0};
    config::TierSpec nvme{"nvme", config::TierKind::kNvme, {}, dir_, std::nullopt, 0};
    policy.tiers = {dram, cxl, nvme};
    std::string error;
    heap_ = TieredHeap::Create(policy, {{dram, {}}, {cxl, {}}, {nvme, {}}}, &error);
    ASSERT_NE(heap_, nullptr) << error;
    ASSERT_TRUE(migrate::InstallStopHandler());
  }
  static int MoveToTier(const void* p, size_t len, int to) { return migrate::MoveRange(heap_, p, len, to); }
  static void TearDownTestSuite() { rmdir(dir_.c_str()); }

  static TieredHeap* heap_;
  static std::string dir_;
};

TieredHeap* MoveTest::heap_ = nullptr;
std::string MoveTest::dir_;

TEST_F(MoveTest, MovesExtentsAndTheirBudgetKeepingTheData) {
  auto* p = static_cast<uint64_t*>(heap_->AllocateOn(0, 8 * kMiB, 0, false));
  ASSERT_NE(p, nullptr);
  for (uint64_t i = 0; i < kMiB; ++i) p[i] = i * 0x9e3779b97f4a7c15ull;
  const uint64_t dram_before = heap_->tier(0).budget.used();
  const uint64_t cxl_before = heap_->tier(1).budget.used();
  ASSERT_EQ(MoveToTier(p, 8 * kMiB, 1), 0);
  EXPECT_EQ(heap_->TierOf(p), 1);
  EXPECT_EQ(heap_->TierOf(reinterpret_cast<char*>(p) + 8 * kMiB - 1), 1);
  EXPECT_GE(heap_->tier(1).budget.used(), cxl_before + 8 * kMiB);
  EXPECT_LE(heap_->tier(0).budget.used(), dram_before - 8 * kMiB);
  for (uint64_t i = 0; i < kMiB; ++i) ASSERT_EQ(p[i], i * 0x9e3779b97f4a7c15ull) << i;
  // And back; then a free releases from wherever the bytes are now.
  ASSERT_EQ(MoveToTier(p, 8 * kMiB, 0), 0);
  EXPECT_EQ(heap_->TierOf(p), 0);
  EXPECT_EQ(heap_->tier(1).budget.used(), cxl_before);
  const size_t real = heap_->UsableSize(p);
  heap_->FreeNow(p);
  EXPECT_EQ(heap_->tier(0).budget.used(), dram_before - real);
  EXPECT_EQ(heap_->tier(1).budget.used(), cxl_before);
}

TEST_F(MoveTest, FreeAfterMoveReleasesTheDestinationBudget) {
  void* p = heap_->AllocateOn(0, 4 * kMiB, 0, false);
  ASSERT_NE(p, nullptr);
  const uint64_t cxl_before = heap_->tier(1).budget.used();
  ASSERT_EQ(MoveToTier(p, 4 * kMiB, 1), 0);
  EXPECT_GT(heap_->tier(1).budget.used(), cxl_before);
  heap_->FreeNow(p);
  // Other blocks may share the moved extents; the freed block's bytes left.
  EXPECT_LT(heap_->tier(1).budget.used(), cxl_before + 4 * kMiB);
  // Move whatever is left in those extents back, so later tests start clean.
  MoveToTier(p, 4 * kMiB, 0);
}

TEST_F(MoveTest, MovesToAndFromTheFileTierKeepingTheData) {
  auto* p = static_cast<uint64_t*>(heap_->AllocateOn(0, 6 * kMiB, 0, false));
  ASSERT_NE(p, nullptr);
  const uint64_t n = 6 * kMiB / sizeof(uint64_t);
  for (uint64_t i = 0; i < n; ++i) p[i] = i ^ 0xabcdef;
  const int nvme_fd = heap_->tier(2).backing.fd();
  const uint64_t disk_before = os::AllocatedBytes(nvme_fd);
  const uint64_t dram_pages_before = heap_->tier(0).backing.DramBytes();
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 2), 0);
  EXPECT_EQ(heap_->TierOf(p), 2);
  EXPECT_EQ(heap_->TierOf(reinterpret_cast<char*>(p) + 6 * kMiB - 1), 2);
  // The data is on disk now, and the DRAM memfd gave its pages back.
  EXPECT_GE(os::AllocatedBytes(nvme_fd), disk_before + 6 * kMiB);
  EXPECT_LE(heap_->tier(0).backing.DramBytes() + 6 * kMiB, dram_pages_before + kMiB);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(p[i], i ^ 0xabcdef) << i;
  // Writes after the move land in the file, and come back up with it.
  for (uint64_t i = 0; i < n; i += 512) p[i] = ~i;
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 0), 0);
  EXPECT_EQ(heap_->TierOf(p), 0);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(p[i], i % 512 == 0 ? ~i : (i ^ 0xabcdef)) << i;
  // Memory tier to file tier and back from a CXL placement too.
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 1), 0);
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 2), 0);
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 1), 0);
  EXPECT_EQ(heap_->TierOf(p), 1);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(p[i], i % 512 == 0 ? ~i : (i ^ 0xabcdef)) << i;
  ASSERT_EQ(MoveToTier(p, 6 * kMiB, 0), 0);
  heap_->FreeNow(p);
}

TEST_F(MoveTest, FreedMemoryOfADemotedExtentReadsZeroWhenReused) {
  // A DRAM-arena extent moved to NVMe: jemalloc purges a freed block there
  // and hands it out again zeroed; the file keeps its blocks for that reuse.
  auto* p = static_cast<unsigned char*>(heap_->AllocateOn(0, 2 * kMiB, 0, false));
  ASSERT_NE(p, nullptr);
  memset(p, 0x5a, 2 * kMiB);
  ASSERT_EQ(MoveToTier(p, 2 * kMiB, 2), 0);
  const size_t slot = heap_->image().SlotOf(p);
  heap_->FreeNow(p);
  // purge_delay_ms is 0 here: the free purged the slot, and an empty moved
  // slot goes back to its arena's tier.
  EXPECT_EQ(heap_->image().home(slot), 0);
  EXPECT_EQ(heap_->image().tier(slot), 0);
  auto* q = static_cast<unsigned char*>(heap_->AllocateOn(0, 2 * kMiB, 0, true));
  ASSERT_NE(q, nullptr);
  for (size_t i = 0; i < 2 * kMiB; i += 4096) ASSERT_EQ(q[i], 0) << i;
  heap_->FreeNow(q);
}

TEST_F(MoveTest, RefusesPinnedExtentsFullBudgetsAndForeignMemory) {
  void* dram = heap_->AllocateOn(0, 4 * kMiB, 0, false);
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ(MoveToTier(dram, 4 * kMiB, 7), -EINVAL);
  int on_stack = 0;
  EXPECT_EQ(MoveToTier(&on_stack, sizeof on_stack, 1), -EINVAL);
  const size_t slot = heap_->image().SlotOf(dram);
  heap_->image().pins(slot).fetch_add(1);
  EXPECT_EQ(MoveToTier(dram, 1, 2), -EBUSY);
  EXPECT_EQ(heap_->TierOf(dram), 0);
  heap_->image().pins(slot).fetch_sub(1);
  // 40 MiB of DRAM data cannot all move into a 32 MiB CXL budget.
  void* big = heap_->AllocateOn(0, 40 * kMiB, 0, false);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(MoveToTier(big, 40 * kMiB, 1), -ENOMEM);
  EXPECT_LE(heap_->tier(1).budget.used(), 32 * kMiB);
  MoveToTier(big, 40 * kMiB, 0);
  heap_->FreeNow(big);
  heap_->FreeNow(dram);
}

TEST_F(MoveTest, ConcurrentFreesAndMovesKeepTheBooksBalanced) {
  // Threads allocate and free 1 MiB blocks on DRAM while another moves their
  // extents back and forth: at the end every byte is released exactly once.
  const uint64_t dram_before = heap_->tier(0).budget.used();
  const uint64_t cxl_before = heap_->tier(1).budget.used();
  std::atomic<bool> stop{false};
  std::atomic<void*> shared_block{nullptr};
  std::thread mover([&] {
    int to = 1;
    while (!stop.load()) {
      if (void* b = shared_block.load()) MoveToTier(b, 1, to);
      to ^= 1;
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto* b = static_cast<unsigned char*>(heap_->AllocateOn(0, 1 * kMiB, 0, false));
        ASSERT_NE(b, nullptr);
        b[0] = 1;
        shared_block.store(b);
        heap_->FreeNow(b);
      }
    });
  }
  for (auto& t : workers) t.join();
  stop.store(true);
  mover.join();
  EXPECT_EQ(heap_->tier(0).budget.used() + heap_->tier(1).budget.used(), dram_before + cxl_before);
}

}  // namespace
}  // namespace tiermem::heap
