// The preload's constructor. libtiermem.so (a dependency) has already
// started the runtime; this switches the small path to jemalloc's own entry
// points and looks up the real fork.
#include "engine.h"

namespace tiermem::preload {
void ResolveFork();
}

namespace {

__attribute__((constructor)) void InitPreload() {
  tiermem::preload::ResolveEngine();
  tiermem::preload::ResolveFork();
}

}  // namespace
