// libtiermem.so: starts the runtime when the library loads, and exports the
// entry points the preload calls.
#include <cerrno>
#include <cstdint>

#include "api/preload_abi.h"
#include "migrate/world_stop.h"
#include "runtime/runtime.h"

#define TIERMEM_EXPORT __attribute__((visibility("default")))

extern "C" {

TIERMEM_EXPORT struct tiermem_preload_state tiermem_preload_state = {SIZE_MAX, 0, 0};

TIERMEM_EXPORT void* tiermem_preload_alloc(size_t size, size_t alignment, int zero) {
  return tiermem::runtime::Heap()->Allocate(size, alignment, zero != 0);
}

TIERMEM_EXPORT void tiermem_preload_free(void* ptr) { tiermem::runtime::Heap()->Free(ptr); }

TIERMEM_EXPORT void* tiermem_preload_realloc(void* ptr, size_t size) {
  return tiermem::runtime::Heap()->Reallocate(ptr, size);
}

TIERMEM_EXPORT size_t tiermem_preload_usable_size(const void* ptr) {
  return tiermem::runtime::Heap()->UsableSize(ptr);
}

TIERMEM_EXPORT void tiermem_preload_prepare_fork(void) { tiermem::runtime::PrepareFork(); }
TIERMEM_EXPORT void tiermem_preload_after_fork_parent(void) { tiermem::runtime::AfterForkParent(); }
TIERMEM_EXPORT void tiermem_preload_after_fork_child(void) { tiermem::runtime::AfterForkChild(); }

TIERMEM_EXPORT int tiermem_preload_stop_signal(void) {
  return tiermem::migrate::StopHandlerInstalled() ? tiermem::migrate::StopSignal() : 0;
}

TIERMEM_EXPORT void tiermem_preload_program_stop_action(const struct sigaction* act, struct sigaction* old) {
  tiermem::migrate::SetProgramStopAction(act, old);
}

TIERMEM_EXPORT int tiermem_preload_begin_exec(void) { return tiermem::migrate::BeginExec() ? 1 : 0; }

TIERMEM_EXPORT void tiermem_preload_end_failed_exec(void) { tiermem::migrate::EndFailedExec(); }

}  // extern "C"

namespace {

// Runs when the library is loaded: before main(), and before the preload's
// own constructor (the preload depends on this library).
__attribute__((constructor(101))) void StartTiermem() {
  tiermem::runtime::Start();
  if (tiermem::heap::TieredHeap* heap = tiermem::runtime::Heap()) {
    tiermem::runtime::InstallForkHandlers();
    tiermem_preload_state.image_base = heap->image().base();
    tiermem_preload_state.image_size = heap->image().size();
    __atomic_store_n(&tiermem_preload_state.tiered_min_size, static_cast<size_t>(heap->tiered_min_size()),
                     __ATOMIC_RELEASE);
  }
}

}  // namespace
