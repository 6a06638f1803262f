// malloc/free micro-benchmarks for comparing allocators side by side.
//
// The binary calls plain malloc/free and links no allocator of its own, so
// the allocator under test is whatever LD_PRELOAD supplies (glibc if none);
// bench/run_malloc.sh runs it under each one. Every row reports the counter
// "time_per_op": wall seconds per malloc+free pair as seen by one allocating
// thread (so perfect 2-thread scaling shows the 1-thread value). Google
// Benchmark's own "Time" column is instead wall time / ops of all threads.
// "cpu_per_op" is process CPU time per pair (all threads, helper included):
// steadier than wall time when other work shares the machine.
//
// Families (each for sizes 16 B .. 64 MiB):
//   BM_Pair        malloc, touch, free; 1 and 2 independent threads.
//   BM_Batch       malloc K objects, then free all K; 1 and 2 threads. This
//                  defeats the "same block straight back" fast path that
//                  BM_Pair allows and exercises the thread cache / bins.
//   BM_CrossFree   objects are freed by a different thread than the one
//                  that allocated them, handed over in batches through SPSC
//                  rings. threads:1 = one producer + one helper thread that
//                  only frees; threads:2 = two threads, each allocating and
//                  freeing what the other allocated. Either way at most two
//                  busy threads: the target machine has two cores, and
//                  oversubscribed hand-overs would measure the scheduler.
//
// Only the first byte of each block is written: enough that an allocator
// cannot hand out memory it never maps, without turning large rows into a
// page-fault benchmark.

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;

// Writes one byte through a volatile pointer: the compiler may not drop the
// malloc/free pair, and the allocator must return mapped memory.
inline void* touch(void* p) {
  if (p == nullptr) std::abort();  // a failing allocator must not look fast
  static_cast<volatile char*>(p)[0] = 1;
  return p;
}

// Objects per batch: bytes in flight stay near `budget` (allocated but only
// first-byte touched, so this is address space more than RSS), at least
// `min_k` so batching still means something for the largest sizes.
size_t batch_count(size_t size, size_t budget, size_t min_k, size_t max_k) {
  return std::clamp(budget / size, min_k, max_k);
}

// Process CPU time (all threads, helper included) over the timed loop, read
// by thread 0 only. On a shared 2-core VM wall time also counts whoever else
// runs; CPU time mostly does not, so it is the steadier second opinion.
class ProcessCpu {
 public:
  explicit ProcessCpu(const benchmark::State& state)
      : on_(state.thread_index() == 0), start_(on_ ? now() : 0) {}
  double elapsed() const { return on_ ? now() - start_ : 0; }

 private:
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  }
  bool on_;
  double start_;
};

void report(benchmark::State& state, size_t ops_per_iter, double cpu_seconds) {
  // items are summed over threads and divided by the mean wall time, so
  // threads/items_per_second is the per-thread latency of one op.
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(ops_per_iter));
  // Counter arithmetic: sum over threads, / wall seconds, / threads,
  // * total iterations, invert -> seconds * threads / total ops.
  state.counters["time_per_op"] = benchmark::Counter(
      double(ops_per_iter) / state.threads(),
      benchmark::Counter::kIsIterationInvariantRate |
          benchmark::Counter::kAvgThreads | benchmark::Counter::kInvert);
  // Only thread 0 contributes: summed, / total iterations -> CPU per op.
  state.counters["cpu_per_op"] = benchmark::Counter(
      cpu_seconds / double(ops_per_iter), benchmark::Counter::kAvgIterations);
  state.counters["batch"] = benchmark::Counter(
      double(ops_per_iter), benchmark::Counter::kAvgThreads);
}

void BM_Pair(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  ProcessCpu cpu(state);
  for (auto _ : state) {
    void* p = touch(std::malloc(size));
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  report(state, 1, cpu.elapsed());
}

void BM_Batch(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  // 64 MiB per thread bounds the 64 MiB row at K = 2 and small sizes at 256.
  const size_t k = batch_count(size, 64 * MiB, 2, 256);
  std::vector<void*> ptrs(k);
  ProcessCpu cpu(state);
  for (auto _ : state) {
    for (auto& p : ptrs) p = touch(std::malloc(size));
    benchmark::ClobberMemory();
    for (void* p : ptrs) std::free(p);
  }
  report(state, k, cpu.elapsed());
}

// Single-producer single-consumer ring of fixed-size pointer batches. Handing
// over whole batches keeps the synchronisation cost per object small, so the
// rows measure the allocator's remote-free path, not cache-line ping-pong.
class BatchRing {
 public:
  BatchRing(size_t slots, size_t k) : k_(k), slots_(slots) {
    for (auto& s : slots_) s.ptrs.resize(k);
  }
  size_t k() const { return k_; }

  // Producer side.
  bool can_push() const { return !slot(head_).full.load(std::memory_order_acquire); }
  void** push_slot() { return slot(head_).ptrs.data(); }  // only if can_push()
  void end_push() { slot(head_++).full.store(true, std::memory_order_release); }

  // Consumer side: frees one batch if one is ready; returns whether it did.
  bool can_pop() const { return slot(tail_).full.load(std::memory_order_acquire); }
  bool try_free_one() {
    if (!can_pop()) return false;
    Slot& s = slot(tail_++);
    for (void* p : s.ptrs) std::free(p);
    s.full.store(false, std::memory_order_release);
    return true;
  }
  void drain() { while (try_free_one()) {} }

 private:
  struct alignas(64) Slot {
    std::atomic<bool> full{false};
    std::vector<void*> ptrs;
  };
  Slot& slot(size_t i) { return slots_[i % slots_.size()]; }
  const Slot& slot(size_t i) const { return slots_[i % slots_.size()]; }

  const size_t k_;
  std::vector<Slot> slots_;
  alignas(64) size_t head_ = 0;  // touched by the producer only
  alignas(64) size_t tail_ = 0;  // touched by the consumer only
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Batches of up to 1 MiB (1..64 objects), and enough slots for 64 MiB in
// flight per direction (2..64 slots). The depth lets each side run a whole
// scheduler slice without its peer, so when the two threads do not get both
// cores (other load, the VM) the rows still measure allocator work rather
// than wake-up latency. Only first bytes are touched: little RSS.
struct CrossShape {
  size_t k, slots;
  explicit CrossShape(size_t size)
      : k(batch_count(size, 1 * MiB, 1, 64)),
        slots(batch_count(size * k, 64 * MiB, 2, 64)) {}
};

// Two parties, 0 and 1; ring[i] carries blocks allocated by party i to party
// 1-i. Waiting spins briefly, then sleeps on a per-party doorbell: pure
// spinning collapses to one handover per scheduler slice as soon as anything
// else (a compiler, another benchmark) wants one of the two cores.
class Channel {
 public:
  explicit Channel(CrossShape s)
      : ring_{BatchRing(s.slots, s.k), BatchRing(s.slots, s.k)} {}
  BatchRing& out(int me) { return ring_[me]; }
  BatchRing& in(int me) { return ring_[1 - me]; }

  // Wakes the other party; called after every push, pop or state change.
  void ring_bell(int me) {
    bell_[1 - me].v.fetch_add(1, std::memory_order_release);
    bell_[1 - me].v.notify_one();
  }

  template <class Ready>
  void wait_until(int me, Ready ready) {
    for (int i = 0; i < kSpins; ++i) {
      if (ready()) return;
      cpu_relax();
    }
    for (;;) {
      uint32_t seen = bell_[me].v.load(std::memory_order_acquire);
      if (ready()) return;
      bell_[me].v.wait(seen, std::memory_order_acquire);
    }
  }

  // Fills one batch of fresh blocks into out(me). While out(me) is full it
  // frees from in(me) if `also_free`, so two parties feeding each other never
  // deadlock.
  void produce(int me, size_t size, bool also_free) {
    BatchRing& o = out(me);
    while (!o.can_push()) {
      if (also_free && free_one(me)) continue;
      wait_until(me, [&] { return o.can_push() || (also_free && in(me).can_pop()); });
    }
    void** slot = o.push_slot();
    for (size_t i = 0; i < o.k(); ++i) slot[i] = touch(std::malloc(size));
    o.end_push();
    ring_bell(me);
  }

  bool free_one(int me) {
    if (!in(me).try_free_one()) return false;
    ring_bell(me);
    return true;
  }

 private:
  static constexpr int kSpins = 1000;  // a few µs: longer than one batch
  struct alignas(64) Bell {
    std::atomic<uint32_t> v{0};
  };
  BatchRing ring_[2];
  Bell bell_[2];
};

// threads:1 — this thread (party 0) allocates, a helper (party 1) frees.
void cross_with_helper(benchmark::State& state, size_t size) {
  Channel ch{CrossShape(size)};
  std::atomic<bool> stop{false};
  std::thread helper([&] {
    while (!stop.load(std::memory_order_acquire)) {
      if (!ch.free_one(1)) {
        ch.wait_until(1, [&] { return ch.in(1).can_pop() || stop.load(); });
      }
    }
    ch.in(1).drain();
  });
  ProcessCpu cpu(state);
  for (auto _ : state) ch.produce(0, size, /*also_free=*/false);
  const double cpu_seconds = cpu.elapsed();
  stop.store(true, std::memory_order_release);
  ch.ring_bell(0);
  helper.join();
  report(state, ch.out(0).k(), cpu_seconds);
}

// threads:2 — both benchmark threads allocate into their own ring and free
// what the peer allocated. Thread 0 sets up the shared state before the
// timed loop; Google Benchmark's start barrier orders that before the
// peer's first use.
std::unique_ptr<Channel> g_channel;
std::atomic<bool> g_done[2];

void cross_symmetric(benchmark::State& state, size_t size) {
  const int me = state.thread_index();
  if (me == 0) {
    g_channel = std::make_unique<Channel>(CrossShape(size));
    for (auto& d : g_done) d.store(false);
  }
  Channel* ch = nullptr;
  benchmark::IterationCount left = state.max_iterations;
  ProcessCpu cpu(state);
  for (auto _ : state) {
    if (ch == nullptr) ch = g_channel.get();
    ch->produce(me, size, /*also_free=*/true);
    ch->free_one(me);  // keep up with the peer without waiting for it
    if (--left == 0) {
      // The peer may still need us to make room in its ring; leaving the
      // loop now would strand it at Google Benchmark's stop barrier.
      g_done[me].store(true, std::memory_order_release);
      ch->ring_bell(me);
      while (!g_done[1 - me].load(std::memory_order_acquire)) {
        if (!ch->free_one(me)) {
          ch->wait_until(me, [&] { return ch->in(me).can_pop() || g_done[1 - me].load(); });
        }
      }
    }
  }
  const double cpu_seconds = cpu.elapsed();
  // Both threads have pushed their last batch (stop barrier): free the rest.
  g_channel->in(me).drain();
  report(state, g_channel->out(me).k(), cpu_seconds);
}


void BM_CrossFree(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  if (state.threads() == 1) {
    cross_with_helper(state, size);
  } else if (state.threads() == 2) {
    cross_symmetric(state, size);
  } else {
    state.SkipWithError("BM_CrossFree supports 1 or 2 threads");
  }
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (size_t s : {size_t(16), size_t(64), size_t(256), KiB, 4 * KiB,
                   16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB,
                   64 * MiB}) {
    b->Arg(int64_t(s));
  }
  // Short runs: the suite is repeated under five allocators, and noise is
  // handled by taking medians over interleaved repetitions instead.
  b->Threads(1)->Threads(2)->MinTime(0.05)->UseRealTime();
}

BENCHMARK(BM_Pair)->Apply(Sizes);
BENCHMARK(BM_Batch)->Apply(Sizes);
BENCHMARK(BM_CrossFree)->Apply(Sizes);

// Which shared object really provides malloc: proves in the JSON context
// that LD_PRELOAD took effect (a preload that failed to load is silently
// ignored by the loader, and the row would then measure glibc).
std::string malloc_provider() {
  Dl_info info{};
  void* (*fn)(size_t) = &std::malloc;
  if (dladdr(reinterpret_cast<void*>(fn), &info) == 0 || info.dli_fname == nullptr)
    return "unknown";
  return info.dli_fname;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("malloc_provider", malloc_provider());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
