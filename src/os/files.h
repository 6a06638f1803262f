// Backing files of the tiers. Every file tiermem opens is private to the
// process: memfds and O_TMPFILE files have no name to open them by, are
// mode 0600 and close-on-exec, and vanish when the last mapping goes.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tiermem::os {

// Each returns an fd, or -errno.
int CreateMemfd(const char* name, uint64_t size);
int CreateTmpfile(const char* dir, uint64_t size);

// Allocates the blocks of [offset, offset+len) so that writes through a
// shared mapping cannot hit a full disk (which would be SIGBUS, not an
// error). Returns 0 or -errno (-ENOSPC when the filesystem is full).
int ReserveBlocks(int fd, uint64_t offset, uint64_t len);

// Bytes an unprivileged writer can still allocate on fd's filesystem.
uint64_t FreeBytesOnFilesystem(int fd);

// Releases the blocks of [offset, offset+len): later reads see zeros.
// Returns 0 or -errno.
int PunchHole(int fd, uint64_t offset, uint64_t len);

// Zeroes [offset, offset+len) but keeps its blocks allocated (unwritten
// extents), so later writes through a mapping cannot hit a full disk.
// Falls back to punch + reserve where ZERO_RANGE is unsupported.
int ZeroRange(int fd, uint64_t offset, uint64_t len);

// The first range of data (not hole) in [from, end): sets *start and *len
// and returns 1, 0 when the rest is a hole, -errno when lseek failed (the
// caller decides what that means; losing data must not be it). Uses
// SEEK_DATA / SEEK_HOLE, so the fd's file offset changes: only for fds
// nobody else reads with read()/write().
int FindDataRange(int fd, uint64_t from, uint64_t end, uint64_t* start, uint64_t* len);

// Writes len bytes from `src` at `offset` of fd, retrying short writes.
// `src` may be a mapping that faults while the kernel reads it.
int WriteFully(int fd, const void* src, uint64_t len, uint64_t offset);

// The same through the raw system call: for the mover's first copy, which
// reads memory the program is writing on purpose (the copy under the pause
// is the exact one), so that ThreadSanitizer's pwrite interceptor does not
// take it for a bug.
int WriteFullyRacy(int fd, const void* src, uint64_t len, uint64_t offset);

// Starts reading [offset, offset+len) into the page cache, without waiting.
void Prefetch(int fd, uint64_t offset, uint64_t len);

// Bytes of blocks the file holds (st_blocks * 512): the memory a memfd
// costs, or the disk an O_TMPFILE costs.
uint64_t AllocatedBytes(int fd);

// Page cache the file holds in [offset, offset+len) (len 0 = to the end),
// and how much of it is dirty. Uses cachestat(2) (Linux 6.5+); returns false
// where it is missing.
struct CacheState {
  uint64_t cached_bytes = 0;
  uint64_t dirty_bytes = 0;
  uint64_t writeback_bytes = 0;
};
bool PageCacheState(int fd, uint64_t offset, uint64_t len, CacheState* out);

// Starts writing back the dirty pages of the range; does not wait.
void StartWriteBack(int fd, uint64_t offset, uint64_t len);

// Writes back dirty pages of the range and waits for it; then asks the kernel
// to drop the range's clean, unmapped pages from the page cache.
int WriteBackAndDrop(int fd, uint64_t offset, uint64_t len);

int SetCloseOnExec(int fd);
void CloseFd(int fd);

}  // namespace tiermem::os
