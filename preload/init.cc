// The preload's constructor. libtiermem.so (a dependency) has already
// started the runtime; this switches the small path to jemalloc's own entry
// points and looks up the real fork.
#include "api/preload_abi.h"
#include "engine.h"

namespace tiermem::preload {
void ResolveFork();
}

namespace {

__attribute__((constructor)) void InitPreload() {
  tiermem::preload::ResolveEngine();
  tiermem::preload::ResolveFork();
  // The runtime is up (libtiermem.so's constructor ran first) and its
  // state does not change after start-up: take a local copy.
  tiermem::preload::g_state = tiermem_preload_state;
}

}  // namespace
