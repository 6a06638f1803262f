// Signal calls, interposed for the mover's stop-the-world signal
// (src/migrate/world_stop.h): it must stay installed and unblocked in every
// thread whatever the program does, while the program keeps full use of
// every other signal, and of this one too when it carries no mover tag.
//  - sigaction/signal on the stop signal record the program's handler; the
//    runtime's handler runs it for deliveries that are not the mover's
//    (the way libjsig chains a JVM's handlers).
//  - sigprocmask/pthread_sigmask never block the stop signal: a thread that
//    blocks it could not be held, and the mover would give up on moves.
// Every other call goes to the C library unchanged.
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "api/preload_abi.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using MaskFn = int (*)(int, const sigset_t*, sigset_t*);

template <class Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

SigactionFn RealSigaction() {
  static SigactionFn fn = Next<SigactionFn>("sigaction");
  return fn;
}

// Returns the set to pass on: `set` itself, or a copy without the stop
// signal when the call would block it.
const sigset_t* KeepStopUnblocked(int how, const sigset_t* set, sigset_t* copy) {
  const int stop = tiermem_preload_stop_signal();
  if (set == nullptr || stop == 0 || how == SIG_UNBLOCK || !sigismember(set, stop)) return set;
  memcpy(copy, set, sizeof *copy);
  sigdelset(copy, stop);
  return copy;
}

}  // namespace

EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  const int stop = tiermem_preload_stop_signal();
  if (stop != 0 && sig == stop) {
    tiermem_preload_program_stop_action(act, old);
    return 0;
  }
  SigactionFn real = RealSigaction();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(sig, act, old);
}

// glibc's signal() installs through an internal sigaction this library
// cannot see, so it is interposed too, with glibc's (BSD) semantics.
EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  struct sigaction act, old;
  memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  act.sa_flags = SA_RESTART;
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  static MaskFn real = Next<MaskFn>("sigprocmask");
  sigset_t copy;
  return real(how, KeepStopUnblocked(how, set, &copy), old);
}

EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  static MaskFn real = Next<MaskFn>("pthread_sigmask");
  sigset_t copy;
  return real(how, KeepStopUnblocked(how, set, &copy), old);
}
