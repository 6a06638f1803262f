// fork(), interposed: the heap image is made copy-on-write before the real
// fork and each side gets new tier files after it (see src/heap/fork.cc).
// posix_spawn and vfork do not come here: they share the address space
// until exec and need nothing.
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include "api/preload_abi.h"

namespace tiermem::preload {

using ForkFn = pid_t (*)();
ForkFn g_real_fork = nullptr;

void ResolveFork() { g_real_fork = reinterpret_cast<ForkFn>(dlsym(RTLD_NEXT, "fork")); }

}  // namespace tiermem::preload

extern "C" __attribute__((visibility("default"))) pid_t fork(void) {
  using tiermem::preload::g_real_fork;
  if (g_real_fork == nullptr) tiermem::preload::ResolveFork();
  if (g_real_fork == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  tiermem_preload_prepare_fork();
  pid_t pid = g_real_fork();
  int saved = errno;
  if (pid == 0) {
    tiermem_preload_after_fork_child();
  } else {
    tiermem_preload_after_fork_parent();
  }
  errno = saved;
  return pid;
}
