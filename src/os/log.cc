#include "os/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace tiermem::os {
namespace {

std::atomic<bool> g_verbose{false};

void WriteLine(const char* fmt, va_list args) {
  char buf[512];
  int prefix = snprintf(buf, sizeof buf, "tiermem: ");
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
  WriteLine(fmt, args);
  va_end(args);
}

void SetVerbose(bool verbose) { g_verbose.store(verbose, std::memory_order_relaxed); }

}  // namespace tiermem::os
