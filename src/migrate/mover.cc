#include "migrate/mover.h"

#include <pthread.h>
#include <time.h>

#include <cerrno>

#include "migrate/fault_mover.h"
#include "migrate/move_stats.h"
#include "migrate/world_stop.h"

namespace tiermem::migrate {
namespace {

using heap::TieredHeap;
using MoveHow = TieredHeap::MoveHow;

// One mover at a time: the background thread's tiering and any API caller.
pthread_mutex_t g_mover_lock = PTHREAD_MUTEX_INITIALIZER;
MoverLimits g_limits;
// Extents per pause, adapted to keep pauses under max_pause_us.
int g_batch = 4;
// A batch holds its extents twice until the pause ends (the first copy is
// made before it), so it is also the transient memory a move costs: 8
// extents of 2 MiB, 16 MiB. Measured pauses stay under max_pause_ms with it.
constexpr int kMaxBatch = 8;

uint64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void RecordPause(uint64_t us) {
  MoveStats& s = Stats();
  s.pauses.fetch_add(1, std::memory_order_relaxed);
  s.pause_total_us.fetch_add(us, std::memory_order_relaxed);
  if (us > s.pause_max_us.load(std::memory_order_relaxed)) s.pause_max_us.store(us, std::memory_order_relaxed);
  int b = 0;
  while (b < kPauseBuckets - 1 && us > kPauseBucketsUs[b]) ++b;
  s.pause_histogram[b].fetch_add(1, std::memory_order_relaxed);
}

void CountMove(int from, int to, uint64_t bytes) {
  MoveStats& s = Stats();
  if (to < from) {
    s.promotions.fetch_add(1, std::memory_order_relaxed);
    s.promoted_bytes.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    s.demotions.fetch_add(1, std::memory_order_relaxed);
    s.demoted_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
}

// Copies one batch of slots: a first copy with the program running, then
// the world held for the second copy and the switch. Returns how many
// moved; -EAGAIN in *error when the world could not be stopped.
size_t CopyBatch(TieredHeap* heap, const size_t* slots, size_t n, int to, int* error) {
  for (size_t i = 0; i < n; ++i) heap->PrefetchSlot(slots[i]);
  for (int attempt = 0; attempt < g_limits.stop_attempts; ++attempt) {
    TieredHeap::SlotCopy copies[kMaxBatch];
    heap->LockSlots();
    for (size_t i = 0; i < n; ++i) {
      copies[i].slot = slots[i];
      copies[i].to = to;
      MoveHow how;
      int rc = heap->PlanMove(slots[i], to, &how);  // again: a fork or pin may have come between
      if (rc == 0 && how == MoveHow::kCopy) rc = heap->PrepareCopyLocked(&copies[i]);
      if (rc != 0 && *error == 0) *error = rc;
    }
    const uint64_t start = NowNs(CLOCK_MONOTONIC);
    if (!StopWorld(g_limits.stop_timeout_us)) {
      for (size_t i = 0; i < n; ++i) {
        if (copies[i].prepared) heap->AbortCopyLocked(&copies[i]);
      }
      heap->UnlockSlots();
      Stats().aborted_stops.fetch_add(1, std::memory_order_relaxed);
      const timespec backoff{0, 1000000L << attempt};
      nanosleep(&backoff, nullptr);
      continue;
    }
    const uint64_t stopped = NowNs(CLOCK_MONOTONIC);
    // Nothing may allocate from here to ResumeWorld: a held thread may hold
    // a lock of the allocator.
    bool done[kMaxBatch] = {};
    size_t moved = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!copies[i].prepared) continue;
      const int rc = heap->FinishCopyLocked(&copies[i]);
      done[i] = rc == 0;
      moved += done[i];
      if (rc != 0 && *error == 0) *error = rc;
    }
    ResumeWorld();
    const uint64_t resumed = NowNs(CLOCK_MONOTONIC);
    const uint64_t pause_us = (resumed - start) / 1000;
    const uint64_t copy_us = (resumed - stopped) / 1000;
    for (size_t i = 0; i < n; ++i) {
      if (done[i]) heap->ReleaseOldCopyLocked(copies[i]);
    }
    heap->UnlockSlots();
    RecordPause(pause_us);
    // Adapt the batch so the next pause stays under the bound, by the part
    // of the pause the batch size decides: the copies and switches. Getting
    // every thread to stop takes what the slowest thread's current system
    // call or page fault takes (milliseconds when the program faults on a
    // busy disk), whatever the batch; halving the batch for that only made
    // more stops (one extent per stop after a hot-set shift, 5-15 ms each).
    if (copy_us > g_limits.max_pause_us && g_batch > 1) g_batch /= 2;
    else if (copy_us * 4 < g_limits.max_pause_us && g_batch < kMaxBatch) g_batch *= 2;
    for (size_t i = 0; i < n; ++i) {
      if (!done[i]) continue;
      CountMove(copies[i].from, to, copies[i].copied);
      heap->SettleSlot(slots[i]);
    }
    return moved;
  }
  if (*error == 0) *error = -EAGAIN;
  return 0;
}

}  // namespace

MoveStats& Stats() {
  static MoveStats stats;
  return stats;
}

void SetMoverLimits(const MoverLimits& limits) { g_limits = limits; }

size_t MoveSlots(TieredHeap* heap, const size_t* slots, size_t count, int to, int* first_error) {
  *first_error = 0;
  const uint64_t cpu_start = NowNs(CLOCK_THREAD_CPUTIME_ID);
  pthread_mutex_lock(&g_mover_lock);
  size_t moved = 0;
  size_t copies[kMaxBatch];
  size_t pending = 0;
  auto flush = [&] {
    if (pending == 0) return;
    moved += CopyBatch(heap, copies, pending, to, first_error);
    pending = 0;
  };
  auto batch = [&](size_t s) {  // a copy for the stop-the-world engine
    copies[pending++] = s;
    if (pending == static_cast<size_t>(g_batch) || pending == kMaxBatch) flush();
  };
  for (size_t i = 0; i < count; ++i) {
    MoveHow how;
    int rc = heap->PlanMove(slots[i], to, &how);
    if (rc == 0 && how == MoveHow::kPages) {
      const int from = heap->image().tier(slots[i]);
      const uint64_t live = heap->image().ledger(slots[i]).load(std::memory_order_relaxed) &
                            heap::HeapImage::kBytesMask;
      heap->LockSlots();
      rc = heap->PlanMove(slots[i], to, &how);
      if (rc == 0 && how == MoveHow::kPages) rc = heap->MovePagesLocked(slots[i], to);
      heap->UnlockSlots();
      if (rc == 0) {
        CountMove(from, to, live);
        ++moved;
      }
    } else if (rc == 0 && how == MoveHow::kCopy && UseFaultEngine(heap, slots[i], to)) {
      uint64_t bytes = 0;
      int from = 0;
      rc = MoveSlotByFaults(heap, slots[i], to, &bytes, &from);
      if (rc == 0) {
        CountMove(from, to, bytes);
        ++moved;
      } else if (rc == -ENOTSUP || rc == -EAGAIN) {
        rc = 0;  // the engine cannot take it (any more): the signal's turn
        batch(slots[i]);
      }
    } else if (rc == 0 && how == MoveHow::kCopy) {
      batch(slots[i]);
    }
    if (rc != 0) {
      Stats().failed_moves.fetch_add(1, std::memory_order_relaxed);
      if (*first_error == 0) *first_error = rc;
      if (rc == -ENOMEM) break;  // the destination is full: the rest will not fit either
    }
    if (*first_error == -EAGAIN) break;
  }
  if (*first_error != -ENOMEM && *first_error != -EAGAIN) flush();
  pthread_mutex_unlock(&g_mover_lock);
  Stats().cpu_ns.fetch_add(NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start, std::memory_order_relaxed);
  return moved;
}

int MoveRange(TieredHeap* heap, const void* p, size_t len, int to) {
  const heap::HeapImage& image = heap->image();
  if (to < 0 || to >= heap->tier_count() || len == 0 || !image.Contains(p) ||
      !image.Contains(static_cast<const char*>(p) + len - 1)) {
    return -EINVAL;
  }
  const size_t first = image.SlotOf(p);
  const size_t last = image.SlotOf(static_cast<const char*>(p) + len - 1);
  // Check every slot first, so a refusal for one leaves the range unmoved.
  for (size_t s = first; s <= last; ++s) {
    MoveHow how;
    const int rc = heap->PlanMove(s, to, &how);
    if (rc != 0) return rc;
  }
  constexpr size_t kChunk = 256;
  size_t slots[kChunk];
  for (size_t s = first; s <= last;) {
    size_t n = 0;
    while (s <= last && n < kChunk) slots[n++] = s++;
    int error = 0;
    MoveSlots(heap, slots, n, to, &error);
    if (error != 0) return error;
  }
  return 0;
}

void LockMover() { pthread_mutex_lock(&g_mover_lock); }
void UnlockMover() { pthread_mutex_unlock(&g_mover_lock); }

void ResetMoverAfterFork() {
  pthread_mutex_init(&g_mover_lock, nullptr);
  ResetFaultEngineAfterFork();
  ResetStopAfterFork();
}

}  // namespace tiermem::migrate
