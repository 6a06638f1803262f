#include "os/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "os/clock.h"

namespace tiermem::os {
namespace {

std::atomic<bool> g_verbose{false};
std::atomic<uint64_t> g_verbose_since_ns{0};

// `stamp`: debug lines carry the seconds since verbose output was turned
// on (at start-up), to line them up with a program's own timeline.
void WriteLine(const char* fmt, va_list args, bool stamp = false) {
  char buf[512];
  int prefix = stamp ? snprintf(buf, sizeof buf, "tiermem: [%.3f s] ",
                                static_cast<double>(MonotonicNs() - g_verbose_since_ns.load(std::memory_order_relaxed)) / 1e9)
                     : snprintf(buf, sizeof buf, "tiermem: ");
  int n = vsnprintf(buf + prefix, sizeof buf - prefix - 1, fmt, args);
  if (n < 0) return;
  size_t len = prefix + (static_cast<size_t>(n) < sizeof buf - prefix - 1 ? n : sizeof buf - prefix - 2);
  buf[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace

void LogLine(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  WriteLine(fmt, args);
  va_end(args);
}

void DebugLine(const char* fmt, ...) {
  if (!g_verbose.load(std::memory_order_relaxed)) return;
  va_list args;
  va_start(args, fmt);
  WriteLine(fmt, args, /*stamp=*/true);
  va_end(args);
}

void SetVerbose(bool verbose) {
  g_verbose_since_ns.store(MonotonicNs(), std::memory_order_relaxed);
  g_verbose.store(verbose, std::memory_order_relaxed);
}

}  // namespace tiermem::os
