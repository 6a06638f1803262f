// Address-space primitives for the heap image: reserve, map a tier file
// over part of it, bind to NUMA nodes, zap page-table entries, and count
// resident pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiermem::os {

// Reserves `size` bytes of address space aligned to `alignment`, with no
// access and no memory behind it. Returns nullptr on failure.
void* ReserveAligned(size_t size, size_t alignment);

// Maps [offset, offset+len) of fd at exactly `addr`, replacing what was
// there. shared=false gives a copy-on-write view of the file.
int MapFileFixed(void* addr, size_t len, int fd, uint64_t offset, bool shared);
// The same for a range whose contents stay what they were (a move's
// switch to the copy): made with the raw system call, so that ThreadSanitizer,
// which takes an mmap() for a write of the whole range, does not report
// every later read of it by a thread the kernel held during the move.
int RemapFileFixed(void* addr, size_t len, int fd, uint64_t offset);

// Maps [offset, offset+len) of fd shared, wherever the kernel likes (a
// short-lived view for the mover). Returns nullptr on failure, errno set.
void* MapFileView(int fd, uint64_t offset, size_t len, bool writable);
void UnmapView(void* view, size_t len);

// Binds the pages of a range (for shmem: the file range behind it) to
// `nodes`. An empty list leaves the default policy.
int BindToNodes(void* addr, size_t len, const std::vector<int>& nodes);

// Binds the range to `nodes` and has the kernel move the pages already
// there (MPOL_MF_MOVE: pages mapped only by this process). For shmem the
// binding is kept per file range, so later first touches follow it too.
int MoveToNodes(void* addr, size_t len, const std::vector<int>& nodes);

// Drops the page-table entries of the range. On a MAP_SHARED mapping the
// data stays in the file; on a private one it is discarded.
int DropMappings(void* addr, size_t len);

// Bytes of [addr, addr+len) resident in this process's page tables' view
// (mincore), counting pages of the backing that are in memory.
uint64_t ResidentBytes(const void* addr, size_t len);

// Opens /proc/self/pagemap (close-on-exec). Returns an fd or -errno.
int OpenPagemap();
// Whether the page at `addr` is mapped in this process's page tables now
// (bit 63 of its pagemap entry; readable without privileges).
bool PagePresent(int pagemap_fd, uintptr_t addr);
// Whether the page at `addr` is in memory (mincore): for a file mapping,
// whether the file's page is in the page cache, mapped or not.
bool PageInCore(uintptr_t addr);

size_t PageSize();

}  // namespace tiermem::os
