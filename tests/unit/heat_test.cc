// The heat sampler on a real heap: extents a thread keeps touching come out
// hot, extents nobody touches come out cold, on the DRAM memfd tier (zap and
// check) and on the NVMe file tier (zap and check, or residency after
// eviction), and the sampler's regions stay within their bounds.
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "heap/tiered_heap.h"
#include "heat/page_table_source.h"
#include "heat/perf_source.h"
#include "heat/sampler.h"

namespace tiermem::heat {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

class HeatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/var/tmp/tiermem-heat-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config::Policy policy;
    policy.source = "heat_test";
    policy.image_size = 16ull << 30;
    config::TierSpec dram{"dram", config::TierKind::kDram, {}, "", std::nullopt, 0};
    config::TierSpec nvme{"nvme", config::TierKind::kNvme, {}, dir_, std::nullopt, 0};
    policy.tiers = {dram, nvme};
    std::string error;
    heap_ = heap::TieredHeap::Create(policy, {{dram, {}}, {nvme, {}}}, &error);
    ASSERT_NE(heap_, nullptr) << error;
  }
  static void TearDownTestSuite() { rmdir(dir_.c_str()); }

  static heap::TieredHeap* heap_;
  static std::string dir_;
};

heap::TieredHeap* HeatTest::heap_ = nullptr;
std::string HeatTest::dir_;

uint16_t MeanHeat(const HeatSampler& sampler, const heap::HeapImage& image, void* p, size_t len) {
  const size_t first = image.SlotOf(p), last = image.SlotOf(static_cast<char*>(p) + len - 1);
  uint32_t sum = 0;
  for (size_t s = first; s <= last; ++s) sum += sampler.heat(s);
  return static_cast<uint16_t>(sum / (last - first + 1));
}

TEST_F(HeatTest, TouchedExtentsAreHotUntouchedOnesCold) {
  constexpr size_t kBuf = 16 * kMiB;
  std::vector<unsigned char*> dram, nvme;
  for (int i = 0; i < 4; ++i) {
    dram.push_back(static_cast<unsigned char*>(heap_->AllocateOn(0, kBuf, 0, false)));
    nvme.push_back(static_cast<unsigned char*>(heap_->AllocateOn(1, kBuf, 0, false)));
    ASSERT_NE(dram.back(), nullptr);
    ASSERT_NE(nvme.back(), nullptr);
    memset(dram.back(), 1, kBuf);
    memset(nvme.back(), 1, kBuf);
  }
  auto source = std::make_unique<PageTableSource>();
  ASSERT_TRUE(source->Open(heap_));
  HeatSampler sampler;
  SamplerConfig config;
  config.aggregation_ms = 50;
  ASSERT_TRUE(sampler.Init(heap_, std::move(source), config));
  // Between ticks, touch every page of buffer 1 on each tier (one write per
  // 4 KiB page), and nothing else: a fake clock makes six windows of ten
  // ticks, the same on a busy machine as on an idle one.
  uint64_t now_ms = 1;
  for (int tick = 0; tick < 60; ++tick) {
    for (size_t off = 0; off < kBuf; off += 4096) {
      dram[1][off]++;
      nvme[1][off]++;
    }
    now_ms += 5;
    sampler.Tick(now_ms);
  }
  const heap::HeapImage& image = heap_->image();
  for (int i = 0; i < 4; ++i) {
    const uint16_t d = MeanHeat(sampler, image, dram[i], kBuf), n = MeanHeat(sampler, image, nvme[i], kBuf);
    printf("buffer %d: dram heat %u, nvme heat %u\n", i, d, n);
    if (i == 1) {
      EXPECT_GE(d, 700) << "touched DRAM buffer";
      EXPECT_GE(n, 700) << "touched NVMe buffer";
    } else {
      EXPECT_LE(d, 50) << "untouched DRAM buffer " << i;
      EXPECT_LE(n, 50) << "untouched NVMe buffer " << i;
    }
  }
  EXPECT_EQ(sampler.windows(), 5u);  // closed at 56, 106, ... 256 ms of the fake clock
  EXPECT_GE(sampler.region_count(), config.min_regions / 2);
  EXPECT_LE(sampler.region_count(), config.max_regions);
  EXPECT_GT(sampler.cpu_ns(), 0u);
  for (int i = 0; i < 4; ++i) {
    heap_->FreeNow(dram[i]);
    heap_->FreeNow(nvme[i]);
  }
}

}  // namespace
}  // namespace tiermem::heat

namespace tiermem::heat {
namespace {

// Appends one perf record at ring position `pos` (wrapping at `size`).
void PutRecord(std::vector<unsigned char>& ring, uint64_t* pos, uint32_t type, std::initializer_list<uint64_t> body) {
  struct {
    uint32_t type;
    uint16_t misc;
    uint16_t size;
  } header{type, 0, static_cast<uint16_t>(8 + 8 * body.size())};
  auto put = [&](const void* src, size_t len) {
    for (size_t i = 0; i < len; ++i) ring[(*pos + i) % ring.size()] = static_cast<const unsigned char*>(src)[i];
    *pos += len;
  };
  put(&header, sizeof header);
  for (uint64_t v : body) put(&v, sizeof v);
}

TEST(PerfRing, ReadsSamplesLostCountsAndWrapsAroundTheEnd) {
  std::vector<unsigned char> ring(256);
  uint64_t head = 200;  // start near the end so records wrap
  const uint64_t tail = head;
  PutRecord(ring, &head, 9, {0x401000, 0x1000});     // sample: ip, addr
  PutRecord(ring, &head, 1, {1, 2, 3, 4});           // PERF_RECORD_MMAP: skipped
  PutRecord(ring, &head, 2, {7, 5});                 // lost 5
  PutRecord(ring, &head, 9, {0x401004, 0x2000});     // wraps past 256
  std::vector<uint64_t> addrs;
  PerfRingCounts counts;
  const uint64_t new_tail =
      ReadPerfRing(ring.data(), ring.size(), tail, head, &counts, [&](uint64_t a) { addrs.push_back(a); });
  EXPECT_EQ(new_tail, head);
  EXPECT_EQ(addrs, (std::vector<uint64_t>{0x1000, 0x2000}));
  EXPECT_EQ(counts.samples, 2u);
  EXPECT_EQ(counts.lost, 5u);
  EXPECT_EQ(counts.other, 1u);
  // A record the kernel has not finished (head inside it) is left for later.
  PerfRingCounts more;
  EXPECT_EQ(ReadPerfRing(ring.data(), ring.size(), tail, tail + 20, &more, [](uint64_t) {}), tail);
}

TEST_F(HeatTest, RecordedHardwareSamplesMakeTheirExtentsHot) {
  // A recorded stream in the kernel's format stands in for PEBS/IBS, which
  // these VMs lack: samples land in buffer 2 only.
  constexpr size_t kBuf = 8 * kMiB;
  std::vector<unsigned char*> bufs;
  for (int i = 0; i < 4; ++i) {
    bufs.push_back(static_cast<unsigned char*>(heap_->AllocateOn(i % 2, kBuf, 0, false)));
    ASSERT_NE(bufs.back(), nullptr);
  }
  std::vector<unsigned char> ring(1 << 16);
  uint64_t head = 0;
  PerfSampleSource::Ring recorded;
  recorded.data = ring.data();
  recorded.size = ring.size();
  recorded.head = [&] { return head; };
  recorded.set_tail = [](uint64_t) {};
  auto source = std::make_unique<PerfSampleSource>();
  PerfSampleSource* perf = source.get();
  perf->OpenRecorded(heap_, std::move(recorded));
  HeatSampler sampler;
  SamplerConfig config;
  config.aggregation_ms = 50;
  ASSERT_TRUE(sampler.Init(heap_, std::move(source), config));
  uint64_t now_ms = 1, x = 12345;
  for (int tick = 0; tick < 60; ++tick) {
    for (int s = 0; s < 64; ++s) {  // 64 samples per interval, spread over buffer 2
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      PutRecord(ring, &head, 9, {0x400000, reinterpret_cast<uint64_t>(bufs[2]) + (x >> 20) % kBuf});
    }
    now_ms += 5;
    sampler.Tick(now_ms);
  }
  const heap::HeapImage& image = heap_->image();
  for (int i = 0; i < 4; ++i) {
    const uint16_t h = MeanHeat(sampler, image, bufs[i], kBuf);
    printf("buffer %d (tier %d): heat %u\n", i, i % 2, h);
    if (i == 2) {
      EXPECT_GE(h, 700);
    } else {
      EXPECT_LE(h, 50);
    }
  }
  EXPECT_EQ(perf->counts().samples, 60u * 64u);
  for (unsigned char* b : bufs) heap_->FreeNow(b);
}

TEST(PerfSource, OpensWhereThePmuAllowsAndSaysWhyNotElsewhere) {
  PerfSampleSource source;
  const char* why = nullptr;
  if (!source.Open(nullptr, &why)) {
    ASSERT_NE(why, nullptr);
    GTEST_SKIP() << "no hardware address sampling here: " << why;
  }
  SUCCEED() << "perf address sampling opened";
}

}  // namespace
}  // namespace tiermem::heat
