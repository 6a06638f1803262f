// userfaultfd: let the kernel hold only the threads that touch a range
// while the mover copies it, instead of stopping every thread.
//
// The engine needs faults taken inside system calls too (a read() into a
// held buffer must wait, not fail with EFAULT), so only a userfaultfd that
// handles kernel-mode faults is accepted: /dev/userfaultfd (Linux 6.1+, by
// its file mode) or the system call where vm.unprivileged_userfaultfd or
// CAP_SYS_PTRACE allows it. A user-mode-only one would turn those system
// calls into EFAULT and is never used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tiermem::os {

// Opens a close-on-exec userfaultfd with the features the mover needs:
// write-protection, missing-page and minor faults on shmem, and remap events (a
// registered range keeps its registration when mremap()ed). Returns the fd
// or -errno; *why says what was missing.
int OpenUserfault(const char** why);

// Registers [addr, addr+len) for write-protect faults, or for minor and
// missing faults. A registered range is a VMA of its own until unregistered.
int RegisterWriteProtect(int uffd, void* addr, size_t len);
// Minor and missing: every access traps, to a page the file has (not yet
// mapped here) or not.
int RegisterMinorAndMissing(int uffd, void* addr, size_t len);
// Unregisters and wakes every thread waiting on the range.
int Unregister(int uffd, void* addr, size_t len);

// Write-protects [addr, addr+len) (pages present or not: shmem keeps a
// marker in empty entries), or lifts the protection and wakes the waiters.
int WriteProtect(int uffd, void* addr, size_t len, bool protect);

// Wakes the threads waiting on a fault in [addr, addr+len). Used after the
// range's mapping was replaced: they retry and fault on the new mapping.
int WakeRange(int uffd, void* addr, size_t len);

// What one read of the userfaultfd returned.
enum class FaultEvent { kPageFault, kRemap, kOther, kNone };
// Reads one message, waiting for it. kNone with -errno in *error when the
// read failed (EINTR, EBADF after close).
FaultEvent ReadFaultEvent(int uffd, int* error);

// The way out when a range cannot be unregistered: a zero page in every
// hole, and every page the file has mapped, so that nothing traps there
// any more.
void ZeroFillHoles(int uffd, void* addr, size_t len, size_t page);
void MapPresentPages(int uffd, void* addr, size_t len, size_t page);

// Which open file a descriptor is (the program may close ours and get the
// number back for a file of its own).
struct FileId {
  uint64_t dev = 0, ino = 0;
};
FileId IdOf(int fd);
bool SameFile(int fd, const FileId& id);

// Moves the mapping at `from` (with its registration) over [to, to+len),
// replacing what was there in one step. With remap events on, the call
// returns only once the event has been read from the userfaultfd.
int RemapFixed(void* from, size_t len, void* to);

}  // namespace tiermem::os
