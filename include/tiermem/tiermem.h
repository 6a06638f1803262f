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

/* Move the heap extents holding [addr, addr+len) to memory tier `tier`
 * (DRAM, CXL, PMEM-as-memory): the kernel moves their pages to that tier's
 * NUMA nodes; the address and the data stay. Whole extents move, so data
 * sharing an extent with the range moves too. Returns 0, or -1 with errno:
 * EINVAL (not tiered memory, no such tier), ENOTSUP (a file tier is the
 * source or destination: not supported yet), EBUSY (an extent still shared
 * copy-on-write with a forked child), ENOMEM (the tier's budget is full;
 * extents moved before that stay moved). */
int tiermem_move(void *addr, size_t len, int tier);

/* Copy tier `tier`'s counters into *out. Returns 0, or -1 with errno=EINVAL. */
int tiermem_get_stats(int tier, tiermem_tier_stats *out);

/* Bytes of tiered heap extent (the unit of placement and movement). */
size_t tiermem_extent_size(void);

#ifdef __cplusplus
}
#endif
#endif /* TIERMEM_TIERMEM_H */
