// The narrow interface between libtiermem.so and the interposition library
// libtiermem-preload.so. The preload keeps the common case — a small
// allocation — entirely inside jemalloc; it crosses into the runtime only
// for sizes at or above `tiered_min_size` and for pointers inside the image.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tiermem_preload_state {
  // SIZE_MAX until the tiered heap is up (and forever on DRAM-only runs),
  // so every allocation takes the small path until then.
  size_t tiered_min_size;
  uintptr_t image_base;
  uint64_t image_size;  // 0 until the heap is up: nothing is "in the image"
};

extern struct tiermem_preload_state tiermem_preload_state;

void *tiermem_preload_alloc(size_t size, size_t alignment, int zero);
void tiermem_preload_free(void *ptr);
void *tiermem_preload_realloc(void *ptr, size_t size);
size_t tiermem_preload_usable_size(const void *ptr);
void tiermem_preload_prepare_fork(void);
void tiermem_preload_after_fork_parent(void);
void tiermem_preload_after_fork_child(void);

struct sigaction;
// The mover's stop-the-world signal, or 0 when it is not in use (DRAM only,
// or its handler could not be installed).
int tiermem_preload_stop_signal(void);
// The program's sigaction on that signal: recorded, and run for deliveries
// that are not the mover's.
void tiermem_preload_program_stop_action(const struct sigaction* act, struct sigaction* old);

// Around exec: keeps the mover's stop requests from outliving the image
// (see migrate::BeginExec). begin returns 1 if end_failed_exec must be
// called when exec returns.
int tiermem_preload_begin_exec(void);
void tiermem_preload_end_failed_exec(void);

#ifdef __cplusplus
}
#endif
