#include "os/thread.h"

#include <pthread.h>
#include <signal.h>

namespace tiermem::os {

int StartRuntimeThread(void* (*fn)(void*), void* arg, const char* name) {
  // The new thread inherits this mask.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 << 10);
  // glibc carves the program's static TLS out of the requested stack: a
  // program with much of it leaves 256 KiB too small, so fall back to the
  // default size then.
  int rc = pthread_create(&thread, &attr, fn, arg);
  if (rc != 0) {
    pthread_attr_setstacksize(&attr, 8 << 20);
    rc = pthread_create(&thread, &attr, fn, arg);
  }
  if (rc == 0) pthread_setname_np(thread, name);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

}  // namespace tiermem::os
