#include "migrate/world_stop.h"

#include <dirent.h>
#include <pthread.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "os/clock.h"

namespace tiermem::migrate {
namespace {

// Tag in si_value of the mover's requests; anything else with this signal
// number belongs to the program.
constexpr int kStopTag = 0x746d5354;  // "tmST"
constexpr int kMaxThreads = 16384;
constexpr int kMaxExempt = 4;

// Odd while a stop is in progress. Held threads wait until it changes.
std::atomic<uint32_t> g_phase{0};
std::atomic<uint32_t> g_acks{0};
std::atomic<uint32_t> g_ack_slots{0};
// Who acknowledged this stop (first g_acks entries), so the mover can tell
// a thread that has not stopped yet from one that exited meanwhile.
std::atomic<pid_t> g_acked_tids[16384];
std::atomic<pid_t> g_exempt[kMaxExempt];
std::atomic<bool> g_installed{false};

std::atomic<uint64_t> g_stops{0}, g_timeouts{0}, g_max_threads{0};

// The program's own disposition for the stop signal (set through the
// preload's sigaction). Written rarely, read in the handler.
struct sigaction g_program_action;
std::atomic<bool> g_program_action_set{false};

// Held from StopWorld to ResumeWorld, and by a thread between BeginExec and
// its exec: a futex word (0 free, 1 held) so a forked child can simply
// reset it.
std::atomic<uint32_t> g_stop_lock{0};
// Who holds it: a thread that execs from a signal handler while it holds
// the lock itself (it is the stopper, or inside BeginExec) must not wait
// for itself.
std::atomic<pid_t> g_stop_lock_owner{0};
// The process the handler was installed in (updated in forked children):
// a vfork child, sharing this memory, has another pid.
std::atomic<pid_t> g_process_pid{0};

// Only the mover (one at a time, under its lock) touches these.
pid_t g_signalled[kMaxThreads];
int g_signalled_count = 0;

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }
pid_t Pid() { return static_cast<pid_t>(syscall(SYS_getpid)); }

void AcquireStopLock() {
  uint32_t expected = 0;
  while (!g_stop_lock.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
    Futex(&g_stop_lock, FUTEX_WAIT_PRIVATE, expected);
    expected = 0;
  }
  g_stop_lock_owner.store(Tid(), std::memory_order_relaxed);
}

void ReleaseStopLock() {
  g_stop_lock_owner.store(0, std::memory_order_relaxed);
  g_stop_lock.store(0, std::memory_order_release);
  Futex(&g_stop_lock, FUTEX_WAKE_PRIVATE, 1);
}

// Lets the held threads run again (the stop lock stays with the caller).
void ReleaseHeldThreads() {
  g_phase.fetch_add(1, std::memory_order_acq_rel);  // even: running
  Futex(&g_phase, FUTEX_WAKE_PRIVATE, INT_MAX);
}

bool IsStopRequest(const siginfo_t* info) {
  return info != nullptr && info->si_code == SI_QUEUE && info->si_pid == getpid() &&
         info->si_value.sival_int == kStopTag;
}

bool IsExempt(pid_t tid) {
  for (const auto& e : g_exempt) {
    if (e.load(std::memory_order_relaxed) == tid) return true;
  }
  return false;
}

void RunProgramAction(int sig, siginfo_t* info, void* context) {
  if (!g_program_action_set.load(std::memory_order_acquire)) return;  // nobody asked: ignore
  const struct sigaction& a = g_program_action;
  if (a.sa_flags & SA_SIGINFO) {
    if (a.sa_sigaction != nullptr) a.sa_sigaction(sig, info, context);
    return;
  }
  if (a.sa_handler == SIG_IGN) return;
  if (a.sa_handler == SIG_DFL) {
    // The default action of a real-time signal ends the process: do that.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &one, nullptr, 8);
    syscall(SYS_tgkill, getpid(), Tid(), sig);
    return;
  }
  a.sa_handler(sig);
}

void OnStopSignal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (!IsStopRequest(info)) {
    RunProgramAction(sig, info, context);
  } else {
    const uint32_t phase = g_phase.load(std::memory_order_acquire);
    // An even phase is a request that arrived after its stop was over.
    if (phase & 1) {
      const uint32_t slot = g_ack_slots.fetch_add(1, std::memory_order_acq_rel);
      if (slot < 16384) g_acked_tids[slot].store(Tid(), std::memory_order_relaxed);
      g_acks.fetch_add(1, std::memory_order_acq_rel);
      while (g_phase.load(std::memory_order_acquire) == phase) Futex(&g_phase, FUTEX_WAIT_PRIVATE, phase);
    }
  }
  errno = saved_errno;
}

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

// The C library's sigaction, past any interposer (the preload's records the
// program's wishes for the stop signal instead of installing them).
SigactionFn RealSigaction() {
  static SigactionFn fn = [] {
    auto f = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    return f != nullptr ? f : &sigaction;
  }();
  return fn;
}

// Reads the thread ids of this process into `out`; returns how many.
// getdents64 on a stack buffer: no allocation while threads are held.
int ListThreads(pid_t* out, int max) {
  const int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  int n = 0;
  alignas(8) char buf[4096];
  for (;;) {
    const long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got <= 0) break;
    for (long at = 0; at < got;) {
      auto* entry = reinterpret_cast<struct dirent64*>(buf + at);
      at += entry->d_reclen;
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      if (n < max) out[n++] = static_cast<pid_t>(atoi(entry->d_name));
    }
  }
  close(dir);
  return n;
}

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's runtime starts a thread of its own before any program
// code; it blocks every signal and never touches the program's memory. In
// such a build, threads that block the stop signal when the handler is
// installed are taken for it and exempted (program threads that block it
// later are still waited for).
constexpr bool kExemptSanitizerThreads = true;
#else
constexpr bool kExemptSanitizerThreads = false;
#endif

// Reads /proc/self/task/TID/NAME into buf (NUL-terminated); false if the
// thread or the file is gone. No allocation.
bool ReadTaskFile(pid_t tid, const char* name, char* buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, name);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

bool BlocksStopSignal(pid_t tid) {
  char buf[2048];
  if (!ReadTaskFile(tid, "status", buf, sizeof buf)) return false;
  const char* line = strstr(buf, "SigBlk:");
  if (line == nullptr) return false;
  const unsigned long long mask = strtoull(line + 7, nullptr, 16);
  return (mask >> (StopSignal() - 1)) & 1;
}

bool AlreadySignalled(pid_t tid) {
  return std::find(g_signalled, g_signalled + g_signalled_count, tid) != g_signalled + g_signalled_count;
}

bool SendStop(pid_t tid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = StopSignal();
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value.sival_int = kStopTag;
  return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, StopSignal(), &info) == 0;
}

// A signalled thread that has exited (or is exiting, past taking signals)
// will never acknowledge.
bool Gone(pid_t tid) {
  if (syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH) return true;
  char stat[256];
  if (!ReadTaskFile(tid, "stat", stat, sizeof stat)) return true;
  const char* paren = strrchr(stat, ')');
  return paren != nullptr && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

// Signalled threads that neither acknowledged nor exist any more.
uint32_t CountGone() {
  const uint32_t acked = std::min<uint32_t>(g_ack_slots.load(std::memory_order_acquire), 16384);
  uint32_t gone = 0;
  for (int i = 0; i < g_signalled_count; ++i) {
    bool ack = false;
    for (uint32_t a = 0; a < acked && !ack; ++a) ack = g_acked_tids[a].load(std::memory_order_relaxed) == g_signalled[i];
    if (!ack && Gone(g_signalled[i])) ++gone;
  }
  return gone;
}

}  // namespace

int StopSignal() { return SIGRTMAX - 3; }

bool InstallStopHandler() {
  if (g_installed.load(std::memory_order_acquire)) return true;
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_sigaction = OnStopSignal;
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&act.sa_mask);
  if (RealSigaction()(StopSignal(), &act, nullptr) != 0) return false;
  g_process_pid.store(Pid(), std::memory_order_relaxed);
  if (kExemptSanitizerThreads) {
    // ThreadSanitizer starts its thread with the program's first
    // pthread_create: make sure it exists before looking.
    pthread_t t;
    if (pthread_create(&t, nullptr, [](void*) -> void* { return nullptr; }, nullptr) == 0) pthread_join(t, nullptr);
    static pid_t tids[kMaxThreads];
    const int n = ListThreads(tids, kMaxThreads);
    for (int i = 0; i < n; ++i) {
      if (!BlocksStopSignal(tids[i])) continue;
      for (auto& e : g_exempt) {
        pid_t expected = 0;
        if (e.compare_exchange_strong(expected, tids[i])) break;
      }
    }
  }
  g_installed.store(true, std::memory_order_release);
  return true;
}

bool StopHandlerInstalled() { return g_installed.load(std::memory_order_acquire); }

void SetProgramStopAction(const struct sigaction* act, struct sigaction* old) {
  if (old != nullptr) {
    if (g_program_action_set.load(std::memory_order_acquire)) {
      *old = g_program_action;
    } else {
      memset(old, 0, sizeof *old);
      old->sa_handler = SIG_DFL;
    }
  }
  if (act != nullptr) {
    g_program_action_set.store(false, std::memory_order_release);
    g_program_action = *act;
    g_program_action_set.store(true, std::memory_order_release);
  }
}

void ExemptThisThread() {
  const pid_t self = Tid();
  for (auto& e : g_exempt) {
    pid_t expected = 0;
    if (e.compare_exchange_strong(expected, self)) return;
  }
}

bool StopWorld(uint32_t timeout_us) {
  if (!g_installed.load(std::memory_order_acquire)) return false;
  const pid_t self = Tid();
  AcquireStopLock();
  // The timeout counts from here: waiting for an exec's guard is not the
  // threads' fault.
  const uint64_t deadline = os::MonotonicUs() + timeout_us;
  g_acks.store(0, std::memory_order_relaxed);
  g_ack_slots.store(0, std::memory_order_relaxed);
  g_phase.fetch_add(1, std::memory_order_acq_rel);  // odd: stopping
  g_signalled_count = 0;
  static pid_t seen[kMaxThreads];
  for (;;) {
    // Signal every thread not yet asked; threads born since the last look
    // (their creator was not held yet) are caught on the next round.
    const int count = ListThreads(seen, kMaxThreads);
    bool fresh = false;
    for (int i = 0; i < count; ++i) {
      const pid_t tid = seen[i];
      if (tid == self || IsExempt(tid) || AlreadySignalled(tid)) continue;
      if (g_signalled_count == kMaxThreads) break;
      if (SendStop(tid)) {
        g_signalled[g_signalled_count++] = tid;
        fresh = true;
      }
    }
    if (!fresh && count >= 0) break;
    uint32_t gone = 0;
    uint64_t next_check = os::MonotonicUs() + 1000;
    while (g_acks.load(std::memory_order_acquire) + gone < static_cast<uint32_t>(g_signalled_count)) {
      const uint64_t now = os::MonotonicUs();
      if (now > deadline) {
        g_timeouts.fetch_add(1, std::memory_order_relaxed);
        ReleaseHeldThreads();
        ReleaseStopLock();
        return false;
      }
      if (now > next_check) {  // after a millisecond, look for threads that exited
        gone = CountGone();
        next_check = now + 1000;
      }
      sched_yield();
    }
  }
  g_stops.fetch_add(1, std::memory_order_relaxed);
  const uint64_t threads = static_cast<uint64_t>(g_signalled_count) + 1;
  if (threads > g_max_threads.load(std::memory_order_relaxed)) g_max_threads.store(threads, std::memory_order_relaxed);
  return true;
}

void ResumeWorld() {
  ReleaseHeldThreads();
  ReleaseStopLock();
}

bool BeginExec() {
  if (!g_installed.load(std::memory_order_acquire)) return false;
  if (Pid() != g_process_pid.load(std::memory_order_relaxed)) return false;  // vfork child: touch nothing
  // An exec from a signal handler of the thread that holds the lock (the
  // stopper itself, or this very function re-queueing the program's own
  // deliveries below): waiting would be for itself. Nobody signals the
  // stopper, so there is nothing queued to drop either.
  if (g_stop_lock_owner.load(std::memory_order_relaxed) == Tid()) return false;
  // A stop in progress may be waiting for this very thread: blocked on the
  // futex, it still takes the signal and is held like any other.
  AcquireStopLock();
  // Requests that missed their stop (it timed out while this thread had
  // every signal blocked inside the C library) are still queued: take them
  // off. A delivery of the program's own goes back in the queue, where it
  // would have been without this library.
  const int sig = StopSignal();
  sigset_t only, old;
  sigemptyset(&only);
  sigaddset(&only, sig);
  constexpr size_t kKernelSigsetBytes = 8;
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &only, &old, kKernelSigsetBytes);
  // Past kKeep of the program's own, the rest stays queued as it was.
  constexpr int kKeep = 32;
  siginfo_t programs[kKeep];
  int kept = 0;
  const timespec now{0, 0};
  siginfo_t info;
  while (kept < kKeep && syscall(SYS_rt_sigtimedwait, &only, &info, &now, kKernelSigsetBytes) == sig) {
    if (!IsStopRequest(&info)) programs[kept++] = info;
  }
  for (int i = 0; i < kept; ++i) syscall(SYS_rt_tgsigqueueinfo, Pid(), Tid(), sig, &programs[i]);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, kKernelSigsetBytes);
  return true;
}

void EndFailedExec() { ReleaseStopLock(); }

void ResetStopAfterFork() {
  if (g_phase.load(std::memory_order_relaxed) & 1) g_phase.fetch_add(1, std::memory_order_relaxed);
  g_stop_lock.store(0, std::memory_order_relaxed);
  g_stop_lock_owner.store(0, std::memory_order_relaxed);
  g_process_pid.store(Pid(), std::memory_order_relaxed);
  for (auto& e : g_exempt) e.store(0, std::memory_order_relaxed);
}

StopCounters ReadStopCounters() {
  return {g_stops.load(std::memory_order_relaxed), g_timeouts.load(std::memory_order_relaxed),
          g_max_threads.load(std::memory_order_relaxed)};
}

}  // namespace tiermem::migrate
