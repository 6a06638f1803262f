#include "os/files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace tiermem::os {

int CreateMemfd(const char* name, uint64_t size) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return -errno;
  // A memfd starts at 0777; only /proc/PID/fd reaches it (same user or
  // root), but keep it as private as a tier file on disk.
  fchmod(fd, 0600);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int CreateTmpfile(const char* dir, uint64_t size) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  // Sparse: blocks are allocated only where data is written.
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int ReserveBlocks(int fd, uint64_t offset, uint64_t len) {
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(len)) != 0) return -errno;
  return 0;
}

uint64_t FreeBytesOnFilesystem(int fd) {
  struct statvfs st;
  if (fstatvfs(fd, &st) != 0) return UINT64_MAX;  // unknown: let fallocate decide
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

int PunchHole(int fd, uint64_t offset, uint64_t len) {
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(len)) != 0) {
    return -errno;
  }
  return 0;
}

int ZeroRange(int fd, uint64_t offset, uint64_t len) {
  if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(len)) == 0) {
    return 0;
  }
  if (errno != EOPNOTSUPP) return -errno;
  const int rc = PunchHole(fd, offset, len);
  return rc != 0 ? rc : ReserveBlocks(fd, offset, len);
}

int FindDataRange(int fd, uint64_t from, uint64_t end, uint64_t* start, uint64_t* len) {
  const off_t data = lseek(fd, static_cast<off_t>(from), SEEK_DATA);
  if (data < 0) return errno == ENXIO ? 0 : -errno;
  if (static_cast<uint64_t>(data) >= end) return 0;
  off_t hole = lseek(fd, data, SEEK_HOLE);
  if (hole < 0 || static_cast<uint64_t>(hole) > end) hole = static_cast<off_t>(end);
  *start = static_cast<uint64_t>(data);
  *len = static_cast<uint64_t>(hole - data);
  return 1;
}

namespace {

// pwrite until all of it is written. `write_at` is pwrite itself or the raw
// system call (WriteFullyRacy).
template <class WriteAt>
int WriteAll(WriteAt write_at, int fd, const void* src, uint64_t len, uint64_t offset) {
  const char* p = static_cast<const char*>(src);
  while (len > 0) {
    const long n = write_at(fd, p, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;
    p += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

}  // namespace

int WriteFully(int fd, const void* src, uint64_t len, uint64_t offset) {
  return WriteAll([](int f, const char* p, uint64_t n, off_t at) -> long { return pwrite(f, p, n, at); }, fd, src,
                  len, offset);
}

int WriteFullyRacy(int fd, const void* src, uint64_t len, uint64_t offset) {
  return WriteAll([](int f, const char* p, uint64_t n, off_t at) { return syscall(SYS_pwrite64, f, p, n, at); }, fd,
                  src, len, offset);
}

void StartWriteBack(int fd, uint64_t offset, uint64_t len) {
  sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
}

void Prefetch(int fd, uint64_t offset, uint64_t len) {
  posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_WILLNEED);
}

uint64_t AllocatedBytes(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

bool PageCacheState(int fd, uint64_t offset, uint64_t len, CacheState* out) {
#ifndef __NR_cachestat
  constexpr long kNrCachestat = 451;  // same number on every architecture
#else
  constexpr long kNrCachestat = __NR_cachestat;
#endif
  struct Range {
    uint64_t off, len;
  } range{offset, len};
  struct Stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } st{};
  if (syscall(kNrCachestat, fd, &range, &st, 0) != 0) return false;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  out->cached_bytes = st.nr_cache * page;
  out->dirty_bytes = st.nr_dirty * page;
  out->writeback_bytes = st.nr_writeback * page;
  return true;
}

int WriteBackAndDrop(int fd, uint64_t offset, uint64_t len) {
  if (sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(len),
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
    return -errno;
  }
  int rc = posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
  return -rc;
}

int SetCloseOnExec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) return -errno;
  return 0;
}

void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace tiermem::os
