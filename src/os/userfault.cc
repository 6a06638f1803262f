#include "os/userfault.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace tiermem::os {
namespace {

constexpr uint64_t kFeatures = UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_MISSING_SHMEM |
                               UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;

int OpenRaw() {
  // /dev/userfaultfd hands out descriptors that handle kernel-mode faults
  // to whoever may open it, whatever the sysctl says.
  const int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    const int fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
    close(dev);
    if (fd >= 0) return fd;
  }
  const long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
  return fd >= 0 ? static_cast<int>(fd) : -errno;
}

int Ioctl(int uffd, unsigned long request, void* arg) { return ioctl(uffd, request, arg) == 0 ? 0 : -errno; }

int Register(int uffd, void* addr, size_t len, uint64_t mode) {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = len;
  reg.mode = mode;
  return Ioctl(uffd, UFFDIO_REGISTER, &reg);
}

}  // namespace

int OpenUserfault(const char** why) {
  const int fd = OpenRaw();
  if (fd < 0) {
    *why = "no userfaultfd that handles faults in system calls (/dev/userfaultfd not accessible, "
           "vm.unprivileged_userfaultfd = 0, no CAP_SYS_PTRACE)";
    return fd;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = kFeatures;
  if (ioctl(fd, UFFDIO_API, &api) != 0 || (api.features & kFeatures) != kFeatures) {
    const int rc = errno != 0 ? -errno : -EINVAL;
    close(fd);
    *why = "the kernel lacks userfaultfd write-protection or missing faults on shmem, or remap events (Linux 5.19+), minor faults on shmem (5.14+)";
    return rc;
  }
  return fd;
}

int RegisterWriteProtect(int uffd, void* addr, size_t len) { return Register(uffd, addr, len, UFFDIO_REGISTER_MODE_WP); }

int RegisterMinorAndMissing(int uffd, void* addr, size_t len) {
  return Register(uffd, addr, len, UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_MISSING);
}

int Unregister(int uffd, void* addr, size_t len) {
  uffdio_range range{reinterpret_cast<uintptr_t>(addr), len};
  return Ioctl(uffd, UFFDIO_UNREGISTER, &range);
}

int WriteProtect(int uffd, void* addr, size_t len, bool protect) {
  uffdio_writeprotect wp{};
  wp.range.start = reinterpret_cast<uintptr_t>(addr);
  wp.range.len = len;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  return Ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

int WakeRange(int uffd, void* addr, size_t len) {
  uffdio_range range{reinterpret_cast<uintptr_t>(addr), len};
  return Ioctl(uffd, UFFDIO_WAKE, &range);
}

void ZeroFillHoles(int uffd, void* addr, size_t len, size_t page) {
  for (size_t at = 0; at < len; at += page) {
    uffdio_zeropage zero{};
    zero.range.start = reinterpret_cast<uintptr_t>(addr) + at;
    zero.range.len = page;
    Ioctl(uffd, UFFDIO_ZEROPAGE, &zero);  // EEXIST: data there already
  }
}

void MapPresentPages(int uffd, void* addr, size_t len, size_t page) {
  for (size_t at = 0; at < len; at += page) {
    uffdio_continue cont{};
    cont.range.start = reinterpret_cast<uintptr_t>(addr) + at;
    cont.range.len = page;
    Ioctl(uffd, UFFDIO_CONTINUE, &cont);  // EEXIST: mapped already
  }
}

bool SameFile(int fd, const FileId& id) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == id.dev && st.st_ino == id.ino;
}

FileId IdOf(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

FaultEvent ReadFaultEvent(int uffd, int* error) {
  uffd_msg msg;
  const ssize_t n = read(uffd, &msg, sizeof msg);
  if (n != static_cast<ssize_t>(sizeof msg)) {
    *error = n < 0 ? -errno : -EIO;
    return FaultEvent::kNone;
  }
  *error = 0;
  if (msg.event == UFFD_EVENT_PAGEFAULT) return FaultEvent::kPageFault;
  if (msg.event == UFFD_EVENT_REMAP) return FaultEvent::kRemap;
  return FaultEvent::kOther;
}

int RemapFixed(void* from, size_t len, void* to) {
  void* at = mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  return at == MAP_FAILED ? -errno : 0;
}

}  // namespace tiermem::os
