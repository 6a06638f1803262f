// The stop-the-world engine (migrate/world_stop.h) on real threads: while
// the world is stopped no other thread runs, threads born during the stop
// are held too, a thread that blocks the signal makes the stop give up
// (and everything is released), a read() blocked on a pipe restarts instead
// of failing with EINTR, and deliveries of the signal that are not the
// mover's reach the handler the program installed; exec leaves no stop
// request queued for the new image.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "migrate/world_stop.h"

namespace tiermem::migrate {
namespace {

class WorldStopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InstallStopHandler()); }
};

TEST_F(WorldStopTest, NoOtherThreadRunsWhileStopped) {
  constexpr int kThreads = 4;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> counters[kThreads] = {};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      // A call now and then: ThreadSanitizer runs signal handlers only when a
      // thread enters one of its interceptors.
      while (!done.load(std::memory_order_relaxed)) {
        if (counters[i].fetch_add(1, std::memory_order_relaxed) % 1024 == 0) sched_yield();
      }
    });
  }
  usleep(20000);
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(StopWorld(1000000));
    uint64_t before[kThreads];
    for (int i = 0; i < kThreads; ++i) before[i] = counters[i].load();
    usleep(5000);
    for (int i = 0; i < kThreads; ++i) EXPECT_EQ(counters[i].load(), before[i]) << "thread " << i << " ran while stopped";
    ResumeWorld();
    usleep(2000);
  }
  uint64_t at_end[kThreads];
  for (int i = 0; i < kThreads; ++i) at_end[i] = counters[i].load();
  // Resumed: every thread makes progress again (given time on a busy machine).
  for (int i = 0; i < kThreads; ++i) {
    for (int wait = 0; wait < 1000 && counters[i].load() == at_end[i]; ++wait) usleep(1000);
    EXPECT_GT(counters[i].load(), at_end[i]) << "thread " << i << " not resumed";
  }
  done = true;
  for (auto& t : threads) t.join();
}

TEST_F(WorldStopTest, ThreadsCreatedDuringAStopAreHeldToo) {
  // A spawner creates short-lived threads without pause; each adds to a
  // counter. Whatever was being created when the stop began must not run.
  std::atomic<bool> done{false};
  std::atomic<uint64_t> work{0};
  std::thread spawner([&] {
    while (!done.load()) {
      std::thread child([&] {
        for (int i = 0; i < 1000; ++i) work.fetch_add(1, std::memory_order_relaxed);
      });
      child.join();
    }
  });
  usleep(20000);
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(StopWorld(1000000));
    const uint64_t before = work.load();
    usleep(2000);
    EXPECT_EQ(work.load(), before) << "round " << round << ": a thread ran during the stop";
    ResumeWorld();
    usleep(1000);
  }
  done = true;
  spawner.join();
}

TEST_F(WorldStopTest, AThreadThatBlocksTheSignalMakesTheStopGiveUp) {

  std::atomic<bool> blocked{false}, done{false};
  std::atomic<uint64_t> counter{0};
  std::thread stubborn([&] {
    // A raw system call, as a program bypassing the preload would.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, StopSignal());
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 8);
    blocked = true;
    while (!done.load()) {
      if (counter.fetch_add(1, std::memory_order_relaxed) % 1024 == 0) sched_yield();
    }
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, nullptr, 8);
  });
  while (!blocked.load()) usleep(1000);
  const StopCounters before = ReadStopCounters();
  EXPECT_FALSE(StopWorld(50000));
  EXPECT_EQ(ReadStopCounters().timeouts, before.timeouts + 1);
  // Everyone was released: the stubborn thread keeps running, and a later
  // stop (once it unblocks) works.
  const uint64_t c = counter.load();
  for (int wait = 0; wait < 1000 && counter.load() == c; ++wait) usleep(1000);
  EXPECT_GT(counter.load(), c);
  done = true;
  stubborn.join();
  ASSERT_TRUE(StopWorld(1000000));
  ResumeWorld();
}

// exec keeps queued signals and resets handlers: a stop request still
// queued when a thread execs would kill the new program. BeginExec takes
// the mover's stale requests off the queue, leaves the program's own
// deliveries of the signal there, and keeps stops out until EndFailedExec.
TEST_F(WorldStopTest, BeginExecDropsStaleStopRequestsButKeepsTheProgramsOwn) {
  std::atomic<int> step{0};
  int program_value = -1;
  int left_behind = 0;
  std::thread execing([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, StopSignal());
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 8);
    step = 1;
    while (step.load() != 2) usleep(1000);  // the stop gives up: its request stays queued here
    siginfo_t own;
    memset(&own, 0, sizeof own);
    own.si_signo = StopSignal();
    own.si_code = SI_QUEUE;
    own.si_pid = getpid();
    own.si_value.sival_int = 7;  // not the mover's tag
    syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), StopSignal(), &own);
    ASSERT_TRUE(BeginExec());
    // Only the program's own delivery is left.
    const timespec now{0, 0};
    siginfo_t info;
    while (syscall(SYS_rt_sigtimedwait, &set, &info, &now, 8) == StopSignal()) {
      ++left_behind;
      program_value = info.si_value.sival_int;
    }
    EndFailedExec();
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, nullptr, 8);
  });
  while (step.load() != 1) usleep(1000);
  EXPECT_FALSE(StopWorld(50000));
  step = 2;
  execing.join();
  EXPECT_EQ(left_behind, 1);
  EXPECT_EQ(program_value, 7);
  // The guard was dropped again: stops work.
  ASSERT_TRUE(StopWorld(1000000));
  ResumeWorld();
}

// Between BeginExec and EndFailedExec no stop starts; a stopper that
// execs from a signal handler (BeginExec on the thread holding the lock)
// goes ahead instead of waiting for itself.
TEST_F(WorldStopTest, ExecGuardKeepsStopsOutButNeverWaitsForItself) {
  ASSERT_TRUE(BeginExec());
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    if (StopWorld(1000000)) {
      stopped = true;
      ResumeWorld();
    }
  });
  usleep(50000);
  EXPECT_FALSE(stopped.load()) << "a stop ran while an exec was being guarded";
  EndFailedExec();
  stopper.join();
  EXPECT_TRUE(stopped.load());

  ASSERT_TRUE(StopWorld(1000000));
  EXPECT_FALSE(BeginExec());  // its own lock: no wait, nothing to guard
  ResumeWorld();
}

TEST_F(WorldStopTest, BlockedReadRestartsInsteadOfFailingWithEintr) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer defers the handler of a signal that interrupts read()
  // until the thread leaves the call; with SA_RESTART it never leaves.
  GTEST_SKIP() << "ThreadSanitizer cannot run a handler in a thread blocked in read() (deferred signals)";
#endif
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<ssize_t> got{-2};
  std::atomic<int> error{0};
  std::thread reader([&] {
    char buf[8];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    error = n < 0 ? errno : 0;
    got = n;
  });
  usleep(20000);  // the reader is blocked in read()
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(StopWorld(1000000));
    ResumeWorld();
    usleep(2000);
  }
  EXPECT_EQ(got.load(), -2) << "read() returned early (errno " << error.load() << ")";
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  reader.join();
  EXPECT_EQ(got.load(), 1);
  close(fds[0]);
  close(fds[1]);
}

std::atomic<int> g_program_handler_calls{0};
void ProgramHandler(int, siginfo_t* info, void*) {
  if (info->si_value.sival_int == 42) g_program_handler_calls.fetch_add(1);
}

TEST_F(WorldStopTest, OtherDeliveriesReachTheProgramsHandler) {
  struct sigaction act, old;
  memset(&act, 0, sizeof act);
  act.sa_sigaction = ProgramHandler;
  act.sa_flags = SA_SIGINFO;
  SetProgramStopAction(&act, &old);
  EXPECT_EQ(old.sa_handler, SIG_DFL);
  union sigval value;
  value.sival_int = 42;
  ASSERT_EQ(sigqueue(getpid(), StopSignal(), value), 0);
  for (int i = 0; i < 100 && g_program_handler_calls.load() == 0; ++i) usleep(1000);
  EXPECT_EQ(g_program_handler_calls.load(), 1);
  // The mover's own stops do not reach it.
  ASSERT_TRUE(StopWorld(1000000));
  ResumeWorld();
  EXPECT_EQ(g_program_handler_calls.load(), 1);
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  SetProgramStopAction(&ignore, &old);
  EXPECT_EQ(old.sa_sigaction, ProgramHandler);
}

}  // namespace
}  // namespace tiermem::migrate
