#include "migrate/fault_mover.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "migrate/move_stats.h"
#include "migrate/world_stop.h"
#include "os/log.h"
#include "os/thread.h"
#include "os/userfault.h"
#include "os/vm.h"

namespace tiermem::migrate {
namespace {

using heap::TieredHeap;

MoveEngine g_engine = MoveEngine::kAuto;
// -1: not opened yet; -2: cannot be used here (tried once).
std::atomic<int> g_uffd{-1};

uint64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// The descriptor's identity, taken at open: the program may close our
// number and get it back for a file of its own.
os::FileId g_uffd_id;
// Set by the reader thread when it stops; the engine is then off.
std::atomic<bool> g_reader_gone{false};
std::atomic<bool> g_reader_exempt{false};

void* ReadEvents(void* arg) {
  // Never held by a stop of the world: it writes no program memory, and a
  // mover waiting in mremap() needs it.
  ExemptThisThread();
  g_reader_exempt.store(true, std::memory_order_release);
  const int uffd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  // Each read only while the number is still our userfaultfd: after a
  // close and reuse, a read would take the program's own data.
  while (os::SameFile(uffd, g_uffd_id)) {
    int error = 0;
    const os::FaultEvent event = os::ReadFaultEvent(uffd, &error);
    if (event == os::FaultEvent::kPageFault) Stats().fault_waits.fetch_add(1, std::memory_order_relaxed);
    if (event == os::FaultEvent::kNone && error != -EINTR && error != -EAGAIN) break;
  }
  g_reader_gone.store(true, std::memory_order_release);
  return nullptr;
}

// Opens the userfaultfd and starts its reader, once; -1 if it cannot be
// used, and *why says why.
int OpenEngine(const char** why) {
  int fd = g_uffd.load(std::memory_order_acquire);
  if (fd >= 0 && (g_reader_gone.load(std::memory_order_acquire) || !os::SameFile(fd, g_uffd_id))) {
    // The program closed the descriptor (a daemon closing every fd), or
    // the reader stopped: the number may be another file's by now.
    os::LogLine("userfaultfd: its descriptor was closed under tiermem; moves stop the world from now on");
    g_uffd.store(-2, std::memory_order_release);
    *why = "its descriptor was closed";
    return -1;
  }
  if (fd >= 0) return fd;
  *why = "found unusable before";
  if (fd == -2) return -1;
  fd = os::OpenUserfault(why);
  if (fd < 0) {
    g_uffd.store(-2, std::memory_order_release);
    return -1;
  }
  g_uffd_id = os::IdOf(fd);
  g_reader_gone.store(false, std::memory_order_relaxed);
  g_reader_exempt.store(false, std::memory_order_relaxed);
  if (os::StartRuntimeThread(ReadEvents, reinterpret_cast<void*>(static_cast<intptr_t>(fd)), "tiermem-uffd") != 0) {
    close(fd);
    os::LogLine("userfaultfd: cannot start its reader thread; moves stop the world instead");
    g_uffd.store(-2, std::memory_order_release);
    *why = "its reader thread could not start";
    return -1;
  }
  // Until it is exempt, a stop of the world (a copy the engine does not
  // take) would wait for a thread that blocks every signal.
  while (!g_reader_exempt.load(std::memory_order_acquire)) sched_yield();
  g_uffd.store(fd, std::memory_order_release);
  return fd;
}

void RecordHold(uint64_t us) {
  MoveStats& s = Stats();
  s.fault_moves.fetch_add(1, std::memory_order_relaxed);
  s.fault_hold_total_us.fetch_add(us, std::memory_order_relaxed);
  if (us > s.fault_hold_max_us.load(std::memory_order_relaxed)) s.fault_hold_max_us.store(us, std::memory_order_relaxed);
}

// Down: write-protect, copy, switch, wake.
int MoveDown(TieredHeap* heap, int uffd, TieredHeap::SlotCopy* c) {
  void* const addr = heap->image().SlotAddress(c->slot);
  const size_t len = heap->image().extent_size();
  int rc = heap->PrepareCopyLocked(c);  // the first copy, nobody held
  if (rc != 0) return rc;
  rc = os::RegisterWriteProtect(uffd, addr, len);
  if (rc == 0) {
    rc = os::WriteProtect(uffd, addr, len, true);
    if (rc != 0) os::Unregister(uffd, addr, len);
  }
  if (rc != 0) {
    heap->AbortCopyLocked(c);
    return rc;
  }
  const uint64_t start = NowUs();
  // Writers of the slot wait from here; the second copy catches what they
  // wrote since the first. The new mapping carries no registration: once
  // woken, they write to the file.
  rc = heap->FinishCopyLocked(c, /*racy=*/true);
  if (rc != 0) {
    // The slot stays where it was: lift the protection, and wake the
    // writers explicitly (older kernels wake only missing-page waiters
    // on unregister).
    os::WriteProtect(uffd, addr, len, false);
    os::Unregister(uffd, addr, len);
    os::WakeRange(uffd, addr, len);
    return rc;
  }
  os::WakeRange(uffd, addr, len);
  RecordHold(NowUs() - start);
  return 0;
}

// Up: first copy, switch to the registered copy, second copy, unregister.
int MoveUp(TieredHeap* heap, int uffd, TieredHeap::SlotCopy* c) {
  void* const addr = heap->image().SlotAddress(c->slot);
  const size_t len = heap->image().extent_size();
  void* view = nullptr;
  int rc = heap->PrepareFillLocked(c, &view);
  if (rc != 0) return rc;
  rc = os::RegisterMinorAndMissing(uffd, view, len);
  const uint64_t start = NowUs();
  if (rc == 0) {
    rc = os::RemapFixed(view, len, addr);
    // mremap(MREMAP_FIXED) unmaps the target before it moves the view, and
    // can fail after that (no memory for a VMA): map the old file again.
    if (rc != 0 && heap->MapBackLocked(*c) != 0) {
      os::LogLine("userfaultfd: an extent could not be mapped back after a failed switch (%d)", rc);
    }
  }
  if (rc != 0) {
    os::UnmapView(view, len);  // unregisters it too
    heap->AbortCopyLocked(c);
    return rc;
  }
  heap->AdoptFilledLocked(c);
  rc = heap->FillLocked(c);
  if (rc != 0) {
    // No page for 100 ms: what the first copy wrote stays, later writes to
    // the old file before the switch are lost. Say so.
    os::LogLine("userfaultfd: the second copy of an extent failed (%d): writes to it may be lost", rc);
  }
  // Wakes whoever touched the slot meanwhile: they map the memfd's pages.
  // A range left registered would hold its next toucher for ever: if it
  // cannot be unregistered, every page is mapped by hand (holes get zero
  // pages), so that nothing traps there any more.
  int unregistered = os::Unregister(uffd, addr, len);
  for (int attempt = 0; unregistered != 0 && attempt < 3; ++attempt) unregistered = os::Unregister(uffd, addr, len);
  if (unregistered != 0) {
    os::ZeroFillHoles(uffd, addr, len, os::PageSize());
    os::MapPresentPages(uffd, addr, len, os::PageSize());
    os::LogLine("userfaultfd: cannot unregister an extent (%d); its pages were mapped by hand", unregistered);
  }
  os::WakeRange(uffd, addr, len);
  RecordHold(NowUs() - start);
  return 0;
}

}  // namespace

bool SetMoveEngine(MoveEngine engine, const char** why) {
  g_engine = engine;
  return engine != MoveEngine::kFaults || OpenEngine(why) >= 0;
}

bool UseFaultEngine(TieredHeap* heap, size_t s, int to) {
  if (g_engine == MoveEngine::kSignal || g_uffd.load(std::memory_order_relaxed) == -2) return false;
  return heap->CanMoveByFaults(s, to);
}

int MoveSlotByFaults(TieredHeap* heap, size_t s, int to, uint64_t* bytes, int* from) {
  const char* why = "";
  const int uffd = OpenEngine(&why);
  if (uffd < 0) return -ENOTSUP;
  heap->PrefetchSlot(s);
  TieredHeap::SlotCopy c;
  c.slot = s;
  c.to = to;
  // A signal handler of this thread (an API caller's) that touched the
  // moving extent would wait for this very thread: none runs meanwhile.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  heap->LockSlots();
  TieredHeap::MoveHow how;
  int rc = heap->PlanMove(s, to, &how);  // again: a fork or pin may have come between
  if (rc == 0 && (how != TieredHeap::MoveHow::kCopy || !heap->CanMoveByFaults(s, to))) rc = -EAGAIN;
  const bool down = rc == 0 && heap->IsFileTier(to);
  if (rc == 0) rc = down ? MoveDown(heap, uffd, &c) : MoveUp(heap, uffd, &c);
  if (rc == 0) heap->ReleaseOldCopyLocked(c);
  heap->UnlockSlots();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return rc;
  heap->SettleSlot(s);
  *bytes = c.copied;
  *from = c.from;
  return 0;
}

void ResetFaultEngineAfterFork() {
  const int fd = g_uffd.load(std::memory_order_relaxed);
  if (fd >= 0) close(fd);
  if (fd != -2) g_uffd.store(-1, std::memory_order_relaxed);
}

}  // namespace tiermem::migrate
