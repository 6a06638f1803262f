// The runtime's own threads (the background thread, the userfaultfd
// reader): detached, named, and with every signal blocked, so that none of
// them ever takes a signal meant for the program.
#pragma once

namespace tiermem::os {

// Starts fn(arg) on such a thread. Returns 0 or the pthread_create error.
int StartRuntimeThread(void* (*fn)(void*), void* arg, const char* name);

}  // namespace tiermem::os
