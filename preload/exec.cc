// The exec family, interposed: a stop request of the mover queued to the
// thread that calls exec would outlive the image and, with the handler
// reset to the default action, kill the new program (src/migrate/
// world_stop.h, BeginExec). Each function guards, then calls the C
// library's own; the guard is dropped again only if exec returns.
//
// The C library's exec functions call its internal execve directly, so
// each public one is interposed; the variadic ones build their argument
// vector on the stack (nothing may allocate here: exec is
// async-signal-safe and is called in forked children of threaded programs).
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "api/preload_abi.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ExecvFn = int (*)(const char*, char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);

template <class Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// Runs `call` (the C library's exec) inside the guard; returns what a
// failed exec returns, with its errno.
template <class Call>
int Guarded(Call call) {
  const int guarded = tiermem_preload_begin_exec();
  const int rc = call();
  const int saved = errno;
  if (guarded) tiermem_preload_end_failed_exec();
  errno = saved;
  return rc;
}

int NotFound() {
  errno = ENOSYS;
  return -1;
}

// The C library's functions, looked up when the preload is loaded: a
// first lookup inside exec would take the dynamic loader's lock in a
// forked or vfork child, where another thread of the parent may have held
// it.
ExecveFn g_execve, g_execvpe;
ExecvFn g_execv, g_execvp;
FexecveFn g_fexecve;
ExecveatFn g_execveat;

__attribute__((constructor)) void ResolveExecFunctions() {
  g_execve = Next<ExecveFn>("execve");
  g_execv = Next<ExecvFn>("execv");
  g_execvp = Next<ExecvFn>("execvp");
  g_execvpe = Next<ExecveFn>("execvpe");
  g_fexecve = Next<FexecveFn>("fexecve");
  g_execveat = Next<ExecveatFn>("execveat");
}

// Builds the argument vector of an execl-style call on the stack (from
// `first` and the variadic list up to its null pointer) and passes it to
// `call`, together with the list positioned after that null pointer (where
// execle's environment is).
template <class Call>
int WithArgv(const char* first, va_list args, Call call) {
  va_list count;
  va_copy(count, args);
  size_t n = 1;
  while (va_arg(count, char*) != nullptr) ++n;
  va_end(count);
  char* argv[n + 1];
  argv[0] = const_cast<char*>(first);
  for (size_t i = 1; i < n; ++i) argv[i] = va_arg(args, char*);
  argv[n] = nullptr;
  (void)va_arg(args, char*);  // the terminating null pointer
  return call(argv, args);
}

}  // namespace

EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  ExecveFn real = g_execve;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(path, argv, envp); });
}

EXPORT int execv(const char* path, char* const argv[]) {
  ExecvFn real = g_execv;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(path, argv); });
}

EXPORT int execvp(const char* file, char* const argv[]) {
  ExecvFn real = g_execvp;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(file, argv); });
}

EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  ExecveFn real = g_execvpe;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(file, argv, envp); });
}

EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  FexecveFn real = g_fexecve;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(fd, argv, envp); });
}

EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  ExecveatFn real = g_execveat;
  if (real == nullptr) return NotFound();
  return Guarded([&] { return real(dirfd, path, argv, envp, flags); });
}

EXPORT int execl(const char* path, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  const int rc = WithArgv(arg, args, [&](char** argv, va_list) { return execv(path, argv); });
  va_end(args);
  return rc;
}

EXPORT int execlp(const char* file, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  const int rc = WithArgv(arg, args, [&](char** argv, va_list) { return execvp(file, argv); });
  va_end(args);
  return rc;
}

EXPORT int execle(const char* path, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  const int rc = WithArgv(arg, args, [&](char** argv, va_list rest) {
    char* const* envp = va_arg(rest, char* const*);
    return execve(path, argv, envp);
  });
  va_end(args);
  return rc;
}
