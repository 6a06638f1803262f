// jemalloc's own malloc entry points, for the small-allocation path.
//
// This library defines malloc & co, so a plain call to `malloc` would come
// back here. jemalloc's exported malloc/free are found with dlsym on its
// own handle once the preload's constructor runs; until then (allocations
// made by the dynamic loader and other constructors) the equivalent
// mallocx/dallocx calls serve, which jemalloc does not export under a name
// we interpose.
#pragma once

#include <stddef.h>

#include "api/preload_abi.h"

namespace tiermem::preload {

struct Engine {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
};

extern Engine g_engine;

// A copy of libtiermem.so's tiermem_preload_state in this library's own
// data: the malloc fast path then reads it without going through the GOT.
// Until the preload's constructor copies it, everything takes the small path.
extern struct tiermem_preload_state g_state;

// Switches g_engine from the bootstrap functions to jemalloc's own.
void ResolveEngine();

}  // namespace tiermem::preload
