/* tiermem: tiered-memory allocator. Public C API for tier-aware programs.
 *
 * Link with -ltiermem (pkg-config tiermem, or find_package(tiermem) and
 * tiermem::tiermem). The same calls work in a program that also runs under
 * the preload (libtiermem-preload.so): there is one runtime per process.
 *
 * Tiers are numbered in policy order, fastest first (0 is normally DRAM).
 * Memory from the *_on calls is freed with tiermem_free(); under the preload
 * free() works too (without it, free() belongs to the C library, which
 * cannot take back tiered memory).
 */
#ifndef TIERMEM_TIERMEM_H
#define TIERMEM_TIERMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIERMEM_NAME_MAX 32

typedef struct tiermem_tier_stats {
  char name[TIERMEM_NAME_MAX];
  char kind[8];              /* "dram", "cxl", "pmem" or "nvme" */
  uint64_t budget;           /* bytes; 0 means unlimited */
  uint64_t live_bytes;       /* bytes of live allocations placed on this tier */
  uint64_t resident_bytes;   /* DRAM this tier costs now */
  uint64_t file_bytes;       /* allocated bytes of the tier's backing file */
  uint64_t extents;          /* heap-image extents on this tier */
  uint64_t allocations;      /* placements made on this tier */
  uint64_t spills_in;        /* placements that spilled here from a full faster tier */
} tiermem_tier_stats;

/* Number of tiers in the active policy (at least 1: DRAM). */
int tiermem_tier_count(void);
/* Index of the tier called `name`, or -1. */
int tiermem_tier_index(const char *name);
/* Name of tier `tier`, or NULL if out of range. */
const char *tiermem_tier_name(int tier);

/* Allocate `size` bytes on tier `tier` (no spill). NULL and errno=ENOMEM if
 * the tier's budget is full; errno=EINVAL if `tier` does not exist. */
void *tiermem_malloc_on(int tier, size_t size);
/* Same, aligned to `alignment` (a power of two). */
void *tiermem_aligned_alloc_on(int tier, size_t alignment, size_t size);
/* Free memory from a tiermem call or from the process's malloc family. */
void tiermem_free(void *ptr);

/* Tier currently holding the byte at `ptr`, or -1 if `ptr` is not in the
 * tiered heap (small allocations, stacks, foreign mappings). */
int tiermem_tier_of(const void *ptr);

/* Move the heap extents holding [addr, addr+len) to tier `tier`; the
 * address and the data stay. Between memory tiers (DRAM, CXL, PMEM-as-
 * memory) the kernel moves the pages under the running program; to or from
 * a file tier (NVMe, PMEM app-direct) the data is copied while the
 * program's other threads are held for a moment by a signal (SA_RESTART).
 * Whole extents move, so data sharing an extent with the range moves too.
 * Returns 0, or -1 with errno: EINVAL (not tiered memory, no such tier),
 * EBUSY (an extent is pinned, or still shared copy-on-write with a forked
 * child), ENOMEM (the tier's budget or disk is full; extents moved before
 * that stay moved), EAGAIN (a thread could not be stopped in time: retry). */
int tiermem_move(void *addr, size_t len, int tier);

/* Pin the extents holding [addr, addr+len) where they are: neither the
 * tiering loop nor tiermem_move moves them until as many tiermem_unpin
 * calls. Pin buffers under in-flight O_DIRECT or io_uring I/O or device
 * DMA: a move during the transfer would lose it. Returns 0, or -1 with
 * errno=EINVAL (not tiered memory). */
int tiermem_pin(void *addr, size_t len);
int tiermem_unpin(void *addr, size_t len);

/* Tell the tiering loop what the program knows: TIERMEM_HINT_HOT data
 * is taken as just touched everywhere (it moves up first), TIERMEM_HINT_COLD
 * as untouched (it moves down first). The sampler's later measurements
 * take over. Returns 0, or -1 with errno=EINVAL. */
#define TIERMEM_HINT_COLD 0
#define TIERMEM_HINT_HOT 1
int tiermem_hint(void *addr, size_t len, int hint);

/* Copy tier `tier`'s counters into *out. Returns 0, or -1 with errno=EINVAL.
 * Freed blocks that threads keep for reuse (one per thread, see
 * docs/design.md) go back to the heap first, so live_bytes counts live
 * data only; not async-signal-safe. */
int tiermem_get_stats(int tier, tiermem_tier_stats *out);

/* Bytes of tiered heap extent (the unit of placement and movement). */
size_t tiermem_extent_size(void);

#ifdef __cplusplus
}
#endif
#endif /* TIERMEM_TIERMEM_H */
