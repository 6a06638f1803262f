// Moves between memory tiers (TieredHeap::MoveToTier): the ledger moves an
// extent's live bytes to the destination's budget atomically with frees,
// the tier of the address changes, the data stays. On a single-node machine
// the page move itself is a no-op (no nodes to bind); tests/vm checks the
// pages really land on the CPU-less node.
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
  }
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
  ASSERT_EQ(heap_->MoveToTier(p, 8 * kMiB, 1), 0);
  EXPECT_EQ(heap_->TierOf(p), 1);
  EXPECT_EQ(heap_->TierOf(reinterpret_cast<char*>(p) + 8 * kMiB - 1), 1);
  EXPECT_GE(heap_->tier(1).budget.used(), cxl_before + 8 * kMiB);
  EXPECT_LE(heap_->tier(0).budget.used(), dram_before - 8 * kMiB);
  for (uint64_t i = 0; i < kMiB; ++i) ASSERT_EQ(p[i], i * 0x9e3779b97f4a7c15ull) << i;
  // And back; then a free releases from wherever the bytes are now.
  ASSERT_EQ(heap_->MoveToTier(p, 8 * kMiB, 0), 0);
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
  ASSERT_EQ(heap_->MoveToTier(p, 4 * kMiB, 1), 0);
  EXPECT_GT(heap_->tier(1).budget.used(), cxl_before);
  heap_->FreeNow(p);
  // Other blocks may share the moved extents; the freed block's bytes left.
  EXPECT_LT(heap_->tier(1).budget.used(), cxl_before + 4 * kMiB);
  // Move whatever is left in those extents back, so later tests start clean.
  heap_->MoveToTier(p, 4 * kMiB, 0);
}

TEST_F(MoveTest, RefusesFileTiersFullBudgetsAndForeignMemory) {
  void* nvme = heap_->AllocateOn(2, 4 * kMiB, 0, false);
  ASSERT_NE(nvme, nullptr);
  EXPECT_EQ(heap_->MoveToTier(nvme, 4 * kMiB, 0), -ENOTSUP);
  void* dram = heap_->AllocateOn(0, 4 * kMiB, 0, false);
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ(heap_->MoveToTier(dram, 4 * kMiB, 2), -ENOTSUP);
  EXPECT_EQ(heap_->MoveToTier(dram, 4 * kMiB, 7), -EINVAL);
  int on_stack = 0;
  EXPECT_EQ(heap_->MoveToTier(&on_stack, sizeof on_stack, 1), -EINVAL);
  // 40 MiB of DRAM data cannot all move into a 32 MiB CXL budget.
  void* big = heap_->AllocateOn(0, 40 * kMiB, 0, false);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(heap_->MoveToTier(big, 40 * kMiB, 1), -ENOMEM);
  EXPECT_LE(heap_->tier(1).budget.used(), 32 * kMiB);
  heap_->MoveToTier(big, 40 * kMiB, 0);
  heap_->FreeNow(big);
  heap_->FreeNow(dram);
  heap_->FreeNow(nvme);
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
      if (void* b = shared_block.load()) heap_->MoveToTier(b, 1, to);
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
