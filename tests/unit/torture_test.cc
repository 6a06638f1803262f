// "Nothing lost", in process (the short version of
// tests/integration/torture.sh): heap buffers on a DRAM memfd tier and an
// NVMe file tier are rewritten by four writer threads (plain stores, memcpy,
// read() from a pipe, recv() from a socketpair; the last two fed by feeder
// threads) while a mover thread calls migrate::MoveRange back and forth between
// the tiers without pause. Every word of generation g of buffer b is a
// function of (b, g, offset), so each writer verifies a buffer before it
// writes the next generation, and the test verifies everything at the end
// (once with the mover still running, once quiet). No syscall may fail
// with EFAULT; moves must go both ways; -EAGAIN, -EBUSY and -ENOMEM are
// "retry later"; -ENOTSUP (the copy engine not there yet) fails the test.
// TORTURE_TEST_SECONDS sets the duration (default 3). scripts/sanitize.sh
// runs it under ASan+UBSan and TSan.
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "heap/tiered_heap.h"
#include "migrate/fault_mover.h"
#include "migrate/move_stats.h"
#include "migrate/mover.h"
#include "migrate/world_stop.h"

#define TORTURE_MOVE_API "migrate::MoveRange"

namespace tiermem::heap {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kDramBudget = 24 * kMiB;
constexpr size_t kBufSize = 3 * kMiB + 3 * 4096 + 8;  // not extent-aligned: neighbours share extents
constexpr size_t kWords = kBufSize / 8;
constexpr int kPerWriter = 3;
constexpr size_t kChunkMax = 192 * 1024;
enum Kind { kStore, kMemcpy, kPipe, kSocket, kKinds };
const char* const kKindName[kKinds] = {"store", "memcpy", "pipe", "socket"};
constexpr int kBuffers = kKinds * kPerWriter;

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
uint64_t Key(int b, uint64_t g) { return Mix64((static_cast<uint64_t>(b) << 40) ^ Mix64(g)); }
uint64_t Word(uint64_t key, size_t i) { return Mix64(key ^ (i * 0xd6e8feb86659fd93ull)); }

// Bytes [off, off+n) of generation g of buffer b.
void PatternBytes(int b, uint64_t g, size_t off, size_t n, unsigned char* dst) {
  const uint64_t key = Key(b, g);
  size_t w = off / 8, skip = off % 8;
  while (n > 0) {
    const uint64_t v = Word(key, w++);
    const size_t take = std::min(8 - skip, n);
    memcpy(dst, reinterpret_cast<const unsigned char*>(&v) + skip, take);
    dst += take;
    n -= take;
    skip = 0;
  }
}

// 0 or -errno, like the engine.
int Move(TieredHeap* heap, const void* p, size_t len, int to) { return migrate::MoveRange(heap, p, len, to); }

double TestSeconds() {
  const char* s = getenv("TORTURE_TEST_SECONDS");
  const double v = s != nullptr ? atof(s) : 0;
  return v > 0 ? v : 3.0;
}

// Each test runs once per copy engine: the stop-the-world signal and, where
// this machine lets the process use it, userfaultfd.
class TortureTest : public ::testing::TestWithParam<migrate::MoveEngine> {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // feeders see EPIPE when the writers are done
    // The runtime installs the stop-the-world handler at start-up; a bare
    // heap needs it too for moves to and from the file tier.
    ASSERT_TRUE(migrate::InstallStopHandler());
    char tmpl[] = "/var/tmp/tiermem-torture-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config::Policy policy;
    policy.source = "torture_test";
    policy.image_size = 16ull << 30;
    policy.purge_delay_ms = 0;
    config::TierSpec dram;
    dram.name = "dram";
    dram.kind = config::TierKind::kDram;
    dram.budget = kDramBudget;
    config::TierSpec nvme;
    nvme.name = "nvme";
    nvme.kind = config::TierKind::kNvme;
    nvme.path = dir_;
    policy.tiers = {dram, nvme};
    std::string error;
    heap_ = TieredHeap::Create(policy, {{dram, {}}, {nvme, {}}}, &error);
    ASSERT_NE(heap_, nullptr) << error;
  }
  static void TearDownTestSuite() { rmdir(dir_.c_str()); }

  static TieredHeap* heap_;
  static std::string dir_;
};

TieredHeap* TortureTest::heap_ = nullptr;
std::string TortureTest::dir_;

struct Shared {
  explicit Shared(TieredHeap* h) : heap(h) {}
  TieredHeap* heap;
  unsigned char* buf[kBuffers] = {};
  std::atomic<bool> stop_writers{false}, stop_mover{false}, stop_feeders{false};
  std::atomic<uint64_t> writes[kKinds] = {};
  std::atomic<uint64_t> bad_words{0}, bad_checks{0}, efault{0}, eintr{0}, io_errors{0};
  std::atomic<uint64_t> moves[2][2] = {}, noop{0}, eagain{0}, ebusy{0}, enomem{0}, enotsup{0}, other{0},
      tier_wrong{0};
  std::mutex msg_mu;
  std::string messages;  // the first few problems, for the failure output

  void Note(const std::string& m) {
    std::lock_guard<std::mutex> lock(msg_mu);
    if (messages.size() < 4000) messages += m + "\n";
  }
  // Number of bad words in buffer b against generation g (reported once).
  size_t Verify(int b, uint64_t g, const char* what) {
    const uint64_t key = Key(b, g);
    const auto* w = reinterpret_cast<const uint64_t*>(buf[b]);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < kWords; ++i) {
      if (w[i] != Word(key, i) && bad++ == 0) first = i;
    }
    if (bad != 0) {
      const uint64_t got = w[first];
      const char* looks = got == 0 ? "zero" : g > 1 && got == Word(Key(b, g - 1), first) ? "previous generation" : "garbage";
      Note(std::string(what) + ": buffer " + std::to_string(b) + " (" + kKindName[b % kKinds] + ") generation " +
           std::to_string(g) + ": " + std::to_string(bad) + " bad words, first at byte " +
           std::to_string(first * 8) + ", looks like " + looks + ", tier " +
           std::to_string(heap->TierOf(buf[b] + first * 8)));
      bad_words += bad;
      ++bad_checks;
    }
    return bad;
  }
};

// Reads exactly n bytes from fd into heap memory; EFAULT is counted and the
// bytes go through a bounce buffer so the stream stays in step.
bool ReadFully(Shared& sh, int fd, unsigned char* dst, size_t n, uint64_t& rs, bool socket) {
  std::vector<unsigned char> bounce;
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min(n - done, 1 + Mix64(rs++) % kChunkMax);
    ssize_t r;
    const int how = socket ? static_cast<int>(Mix64(rs++) % 3) : 0;
    if (how == 1) {
      r = recv(fd, dst + done, want, 0);
    } else if (how == 2) {
      const size_t a = want / 2;
      iovec iov[2] = {{dst + done, a}, {dst + done + a, want - a}};
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = 2;
      r = recvmsg(fd, &mh, 0);
    } else {
      r = read(fd, dst + done, want);
    }
    if (r > 0) {
      done += static_cast<size_t>(r);
    } else if (r == 0) {
      if (!sh.stop_feeders.load()) sh.Note("unexpected EOF from a feeder");
      return false;
    } else if (errno == EINTR) {
      ++sh.eintr;
    } else if (errno == EFAULT) {
      ++sh.efault;
      sh.Note("EFAULT reading into heap memory at byte " + std::to_string(done) + " of a chunk");
      bounce.resize(want);
      r = read(fd, bounce.data(), want);
      if (r <= 0) continue;
      memcpy(dst + done, bounce.data(), static_cast<size_t>(r));
      done += static_cast<size_t>(r);
    } else {
      sh.Note(std::string("read into heap memory: ") + strerror(errno));
      ++sh.io_errors;
      return false;
    }
  }
  return true;
}

TEST_P(TortureTest, DataSurvivesMovesBetweenDramAndNvmeUnderConcurrentWrites) {
  const char* why = "";
  if (!migrate::SetMoveEngine(GetParam(), &why)) GTEST_SKIP() << "userfaultfd engine not usable here: " << why;
  const uint64_t pauses_before = migrate::Stats().pauses.load();
  const uint64_t fault_moves_before = migrate::Stats().fault_moves.load();
  constexpr int kDram = 0, kNvme = 1;
  const uint64_t used_before = heap_->tier(kDram).budget.used() + heap_->tier(kNvme).budget.used();
  Shared sh(heap_);
  int on_tier[2] = {0, 0};
  for (int b = 0; b < kBuffers; ++b) {
    sh.buf[b] = static_cast<unsigned char*>(heap_->Allocate(kBufSize, 0, false));
    ASSERT_NE(sh.buf[b], nullptr) << "buffer " << b;
    PatternBytes(b, 1, 0, kBufSize, sh.buf[b]);
    const int t = heap_->TierOf(sh.buf[b]);
    ASSERT_TRUE(t == kDram || t == kNvme) << t;
    ++on_tier[t];
  }
  // 12 x 3 MiB under a 24 MiB DRAM budget: both tiers hold buffers from the start.
  EXPECT_GT(on_tier[kDram], 0);
  EXPECT_GT(on_tier[kNvme], 0);

  int pipefd[2], sockfd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sockfd), 0);
  const int reader_fd[kKinds] = {-1, -1, pipefd[0], sockfd[0]};
  const int feeder_fd[kKinds] = {-1, -1, pipefd[1], sockfd[1]};

  // Writer k owns buffers k, k + kKinds, ...; its r-th write is generation
  // r / kPerWriter + 2 of buffer own(r % kPerWriter). Feeders produce the
  // same sequence.
  auto own = [](int kind, uint64_t r) { return kind + kKinds * static_cast<int>(r % kPerWriter); };
  auto gen_of = [](uint64_t r) { return r / kPerWriter + 2; };
  uint64_t final_gen[kBuffers];
  for (uint64_t& g : final_gen) g = 1;

  std::vector<std::thread> feeders;
  for (int k : {kPipe, kSocket}) {
    feeders.emplace_back([&, k] {
      std::vector<unsigned char> chunk(256 * 1024);
      for (uint64_t r = 0; !sh.stop_feeders.load(); ++r) {
        const int b = own(k, r);
        for (size_t off = 0; off < kBufSize;) {
          const size_t n = std::min(chunk.size(), kBufSize - off);
          PatternBytes(b, gen_of(r), off, n, chunk.data());
          for (size_t s = 0; s < n;) {
            const ssize_t x = k == kPipe ? write(feeder_fd[k], chunk.data() + s, n - s)
                                         : send(feeder_fd[k], chunk.data() + s, n - s, MSG_NOSIGNAL);
            if (x > 0) {
              s += static_cast<size_t>(x);
            } else if (x < 0 && errno == EINTR) {
              ++sh.eintr;
            } else {
              if (!sh.stop_feeders.load()) {
                sh.Note(std::string("feeder: ") + strerror(errno));
                ++sh.io_errors;
              }
              close(feeder_fd[k]);
              return;
            }
          }
          off += n;
        }
      }
      close(feeder_fd[k]);
    });
  }

  std::vector<std::thread> writers;
  for (int k = 0; k < kKinds; ++k) {
    writers.emplace_back([&, k] {
      uint64_t rs = Mix64(static_cast<uint64_t>(k) + 99);
      std::vector<unsigned char> src(kChunkMax);
      uint64_t gen[kBuffers];
      for (uint64_t& g : gen) g = 1;
      for (uint64_t r = 0; !sh.stop_writers.load(); ++r) {
        const int b = own(k, r);
        const uint64_t g = gen_of(r);
        sh.Verify(b, gen[b], "before the next write");
        unsigned char* p = sh.buf[b];
        bool ok = true;
        switch (k) {
          case kStore: {
            const uint64_t key = Key(b, g);
            auto* w = reinterpret_cast<uint64_t*>(p);
            if (g & 1) {
              for (size_t i = 0; i < kWords; ++i) w[i] = Word(key, i);
            } else {
              for (size_t i = kWords; i-- > 0;) w[i] = Word(key, i);
            }
            break;
          }
          case kMemcpy:
            for (size_t off = 0; off < kBufSize;) {
              const size_t n = std::min(kBufSize - off, 1 + Mix64(rs++) % kChunkMax);
              PatternBytes(b, g, off, n, src.data());
              memcpy(p + off, src.data(), n);
              off += n;
            }
            break;
          default:
            ok = ReadFully(sh, reader_fd[k], p, kBufSize, rs, k == kSocket);
            break;
        }
        if (!ok) return;
        gen[b] = g;
        ++sh.writes[k];
      }
      for (int i = 0; i < kPerWriter; ++i) final_gen[own(k, i)] = gen[own(k, i)];
    });
  }

  std::thread mover([&] {
    uint64_t rs = 12345;
    for (uint64_t seq = 0; !sh.stop_mover.load(); ++seq) {
      const int to = static_cast<int>(seq % 2);
      int b = static_cast<int>(Mix64(rs++) % kBuffers);
      for (int tries = 0; tries < 8 && heap_->TierOf(sh.buf[b]) == to; ++tries) {
        b = static_cast<int>(Mix64(rs++) % kBuffers);
      }
      unsigned char* addr = sh.buf[b];
      size_t len = kBufSize;
      if (Mix64(rs++) % 3 == 0) {  // a sub-range: part of the buffer's extents
        const size_t a = Mix64(rs++) % kBufSize;
        addr += a;
        len = 1 + Mix64(rs++) % (kBufSize - a);
      }
      const int from = heap_->TierOf(addr);
      const int rc = Move(heap_, addr, len, to);
      if (rc == 0) {
        if (from == to || from < 0 || from > 1) {
          ++sh.noop;
        } else {
          ++sh.moves[from][to];
          if (heap_->TierOf(addr) != to) ++sh.tier_wrong;
        }
      } else if (rc == -EAGAIN) {
        ++sh.eagain;
      } else if (rc == -EBUSY) {
        ++sh.ebusy;
      } else if (rc == -ENOMEM) {
        ++sh.enomem;
      } else if (rc == -ENOTSUP) {
        ++sh.enotsup;
      } else {
        if (sh.other++ < 5) sh.Note(TORTURE_MOVE_API " returned " + std::to_string(rc));
      }
    }
  });

  // The set time, and on a machine too busy for the mover to make 5 moves
  // each way in it, longer (at most 10 times as long).
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(TestSeconds());
  const auto last_chance = start + std::chrono::duration<double>(10 * TestSeconds());
  auto enough_moves = [&] { return sh.moves[kDram][kNvme].load() >= 5 && sh.moves[kNvme][kDram].load() >= 5; };
  while (std::chrono::steady_clock::now() < deadline ||
         (!enough_moves() && std::chrono::steady_clock::now() < last_chance)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  sh.stop_writers.store(true);
  for (auto& t : writers) t.join();
  sh.stop_feeders.store(true);
  close(pipefd[0]);  // a feeder blocked in write() gets EPIPE
  shutdown(sockfd[0], SHUT_RDWR);
  close(sockfd[0]);
  for (auto& t : feeders) t.join();

  // Everything once more while the mover still runs, then quiet.
  for (int b = 0; b < kBuffers; ++b) sh.Verify(b, final_gen[b], "final, mover running");
  sh.stop_mover.store(true);
  mover.join();
  uint64_t sum = 0, want_sum = 0;
  for (int b = 0; b < kBuffers; ++b) {
    sh.Verify(b, final_gen[b], "final, quiet");
    const auto* w = reinterpret_cast<const uint64_t*>(sh.buf[b]);
    const uint64_t key = Key(b, final_gen[b]);
    for (size_t i = 0; i < kWords; ++i) {
      sum = sum * 31 + Mix64(w[i]);
      want_sum = want_sum * 31 + Mix64(Word(key, i));
    }
  }

  const std::string stats =
      "writes store=" + std::to_string(sh.writes[kStore].load()) + " memcpy=" + std::to_string(sh.writes[kMemcpy].load()) +
      " pipe=" + std::to_string(sh.writes[kPipe].load()) + " socket=" + std::to_string(sh.writes[kSocket].load()) +
      "; moves dram->nvme=" + std::to_string(sh.moves[kDram][kNvme].load()) +
      " nvme->dram=" + std::to_string(sh.moves[kNvme][kDram].load()) + " noop=" + std::to_string(sh.noop.load()) +
      "; EAGAIN=" + std::to_string(sh.eagain.load()) + " EBUSY=" + std::to_string(sh.ebusy.load()) +
      " ENOMEM=" + std::to_string(sh.enomem.load()) + " ENOTSUP=" + std::to_string(sh.enotsup.load()) +
      " other=" + std::to_string(sh.other.load()) + "; eintr=" + std::to_string(sh.eintr.load()) +
      " efault=" + std::to_string(sh.efault.load());
  RecordProperty("torture", stats);
  std::cout << "torture (" TORTURE_MOVE_API "): " << stats << "\n";
  if (!sh.messages.empty()) std::cout << sh.messages;

  EXPECT_EQ(sh.enotsup.load(), 0u)
      << TORTURE_MOVE_API " to or from the NVMe file tier returned -ENOTSUP: the copy engine has not landed";
  EXPECT_EQ(sh.bad_checks.load(), 0u) << sh.bad_words.load() << " bad words\n" << sh.messages;
  EXPECT_EQ(sum, want_sum) << "checksum of all buffers";
  EXPECT_EQ(sh.efault.load(), 0u) << sh.messages;
  EXPECT_EQ(sh.io_errors.load(), 0u) << sh.messages;
  EXPECT_EQ(sh.other.load(), 0u) << sh.messages;
  EXPECT_EQ(sh.tier_wrong.load(), 0u) << "TierOf disagreed with a successful move";
  EXPECT_GE(sh.moves[kDram][kNvme].load(), 5u) << stats;
  EXPECT_GE(sh.moves[kNvme][kDram].load(), 5u) << stats;
  for (int k = 0; k < kKinds; ++k) EXPECT_GT(sh.writes[k].load(), 0u) << kKindName[k];
  // The engine under test did the moves, and only it.
  const uint64_t pauses = migrate::Stats().pauses.load() - pauses_before;
  const uint64_t fault_moves = migrate::Stats().fault_moves.load() - fault_moves_before;
  std::cout << "pauses " << pauses << ", extents moved by userfaultfd " << fault_moves << ", faults that waited "
            << migrate::Stats().fault_waits.load() << "\n";
  if (GetParam() == migrate::MoveEngine::kSignal) {
    EXPECT_EQ(fault_moves, 0u);
    EXPECT_GE(pauses, 10u);
  } else {
    EXPECT_EQ(pauses, 0u);
    EXPECT_GE(fault_moves, 10u);
  }

  // The books: every byte released once, from wherever it is now.
  for (unsigned char* p : sh.buf) heap_->FreeNow(p);
  EXPECT_EQ(heap_->tier(kDram).budget.used() + heap_->tier(kNvme).budget.used(), used_before);
}

INSTANTIATE_TEST_SUITE_P(Engines, TortureTest,
                         ::testing::Values(migrate::MoveEngine::kSignal, migrate::MoveEngine::kFaults),
                         [](const ::testing::TestParamInfo<migrate::MoveEngine>& info) {
                           return info.param == migrate::MoveEngine::kSignal ? "signal" : "userfaultfd";
                         });

}  // namespace
}  // namespace tiermem::heap
