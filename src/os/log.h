// Diagnostics to stderr that are safe inside malloc, extent hooks and fork
// handlers: formatted into a stack buffer and written with one write(2),
// never through stdio (which may allocate or hold locks).
#pragma once

namespace tiermem::os {

// "tiermem: <message>\n" to fd 2, in one write. printf-style.
void LogLine(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Like LogLine, but only when TIERMEM_VERBOSE was set at start-up.
void DebugLine(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void SetVerbose(bool verbose);

}  // namespace tiermem::os
