// Stop the world: hold every other thread of the process in a signal
// handler while the mover copies extents and switches their mappings, the
// way Boehm GC stops the threads of a C program.
//
// A real-time signal (kStopSignal) is queued to each thread with a tag only
// the mover uses; its handler acknowledges and waits on a futex until the
// mover resumes the world. The handler is installed with SA_RESTART, so
// restartable system calls a thread was blocked in restart afterwards.
// Signals of the same number that carry no tag go to the handler the
// program installed (preload/signals.cc records it), and the preload keeps
// the signal unblocked whatever masks the program sets.
//
// Threads created while the world stops are found by reading
// /proc/self/task again until no unknown thread is left. A thread that does
// not stop within the timeout (it blocks the signal with a raw system
// call, or is exiting) makes Stop fail: everyone is released, nothing has
// moved, and the caller retries later.
#pragma once

#include <signal.h>

#include <cstdint>

namespace tiermem::migrate {

// SIGRTMAX-3: clear of glibc's reserved signals (32, 33), of SIGRTMIN+n,
// which programs and libraries pick first, and of the JVM's (SIGUSR2,
// SIGQUIT, SIGSEGV...).
int StopSignal();

// Installs the handler (once). Returns false if the signal cannot be used.
bool InstallStopHandler();
bool StopHandlerInstalled();

// The disposition the program wants for StopSignal(): untagged deliveries
// go there. Called by the preload's sigaction/signal.
void SetProgramStopAction(const struct sigaction* act, struct sigaction* old);

// Threads that never write the program's memory and must keep running (the
// runtime's own background thread) call this once.
void ExemptThisThread();

// Stops every other non-exempt thread; true once all are held. False after
// `timeout_us` with some thread still running: all are released again.
// Caller must not allocate until Resume(): a held thread may hold a lock of
// the allocator.
bool StopWorld(uint32_t timeout_us);
void ResumeWorld();

// exec keeps the signals queued to the calling thread but resets every
// handler to its default action, which for the stop signal ends the new
// program ("died of signal 61"). The preload's exec functions call
// BeginExec first: it waits for a stop in progress to end, keeps new ones
// from starting, and drops the mover's requests still queued to the calling
// thread. If exec fails, EndFailedExec lets stops run again. BeginExec
// returns false (and EndFailedExec must not be called) when there is
// nothing to guard: no handler installed, or a vfork child, which shares
// this memory but is not one of the threads a stop holds.
bool BeginExec();
void EndFailedExec();

// In a forked child: no stop in progress, no exempt thread (the runtime
// starts its thread again), handler state kept.
void ResetStopAfterFork();

struct StopCounters {
  uint64_t stops;     // successful StopWorld calls
  uint64_t timeouts;  // StopWorld calls that gave up
  uint64_t max_threads;
};
StopCounters ReadStopCounters();

}  // namespace tiermem::migrate
