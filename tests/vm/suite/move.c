/* vm_move: kernel page moves between memory tiers with tiermem_move(), seen
 * from the outside. Run under the preload on a NUMA machine (tests/vm/ boots
 * one) with a policy that has memory tiers called dram, cxl and pmem and a
 * file tier called nvme.
 *
 * usage: vm_move BUFFERS MIB ENOMEM_MIB
 *
 * Allocates BUFFERS buffers of MIB MiB on the dram tier (tiermem_malloc_on),
 * writes a pattern, then moves them (one tiermem_move call over each buffer)
 * to cxl, to pmem and back to dram. After the allocation ("start") and after
 * each move it reports, as lines a shell script can grep:
 *
 *   move STAGE rc RC errno NAME            what tiermem_move returned
 *   tierof STAGE NAME bytes BYTES          buffer bytes tiermem_tier_of puts
 *                                          on tier NAME (first and last byte;
 *                                          "untiered" if they disagree)
 *   movepages STAGE node N bytes BYTES     buffer bytes whose pages a
 *                                          move_pages(2) status query finds
 *                                          on node N ("error E" for -E)
 *   numamaps STAGE MEMFD node N bytes B    pages of the memfd "tiermem:MEMFD"
 *                                          on node N (/proc/self/numa_maps)
 *   live STAGE TIER BYTES budget BYTES extents N   tiermem_get_stats
 *   bad STAGE BYTES                        bytes that differ from the pattern
 *
 * Then the refusals:
 *
 *   filemove nvme-to-cxl rc RC errno NAME tierof TIER bad N   an nvme block, copied to cxl
 *   filemove dram-to-nvme rc RC errno NAME tierof TIER        a dram buffer, copied to nvme
 *   filemove nvme-to-dram rc RC errno NAME tierof TIER bad N  and back
 *   enomem pmem-to-cxl rc RC errno NAME cxl_before B cxl_after B cxl_budget B
 *                                          an ENOMEM_MIB block on pmem moved
 *                                          into cxl (more than its budget)
 *   enomem back rc RC errno NAME tierof TIER bad BYTES   and back to pmem
 *   blockpages STAGE node N bytes BYTES    that block's pages per node (move_pages)
 *                                          before the move into cxl ("pmem"),
 *                                          after it ("enomem"), after the move
 *                                          back ("back")
 *
 * No libnuma, no link to libtiermem: raw syscalls and dlsym. Exit 0 when it
 * ran to the end (the script judges the numbers), 2 on usage errors, when no
 * tiermem runtime is loaded or when an allocation fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numa_maps.h"

#include "tiermem/tiermem.h"

enum { MAX_NODES = 64, MAX_ERRNO = 200 };

static int (*p_tier_index)(const char *);
static int (*p_tier_count)(void);
static const char *(*p_tier_name)(int);
static int (*p_tier_of)(const void *);
static int (*p_move)(void *, size_t, int);
static int (*p_get_stats)(int, tiermem_tier_stats *);
static void *(*p_malloc_on)(int, size_t);
static void (*p_free)(void *);

static const char *errno_name(int e) {
  switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOTSUP: return "ENOTSUP";
    case EBUSY: return "EBUSY";
    case EFAULT: return "EFAULT";
    case EIO: return "EIO";
    default: return "other";
  }
}

static const char *tier_label(int t) {
  const char *n = t >= 0 ? p_tier_name(t) : NULL;
  return n ? n : "untiered";
}

/* The pattern: one 64-bit word per 8 bytes, from the buffer and word index. */
static uint64_t want(long b, size_t i) { return ((uint64_t)b << 48) ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull); }

static void fill(uint64_t *buf, long b, size_t words) {
  for (size_t i = 0; i < words; i++) buf[i] = want(b, i);
}

static long bad_bytes(uint64_t *const *bufs, long nbuf, size_t words) {
  long bad = 0;
  for (long b = 0; b < nbuf; b++)
    for (size_t i = 0; i < words; i++)
      if (bufs[b][i] != want(b, i)) {
        const uint64_t x = bufs[b][i] ^ want(b, i);
        for (int k = 0; k < 8; k++) bad += ((x >> (8 * k)) & 0xff) != 0;
      }
  return bad;
}


/* Adds the bytes of [buf, buf+size) per node (move_pages status query) to
 * on_node, and per -errno to errors. */
static void count_pages(const void *buf, size_t size, uint64_t *on_node, uint64_t *errors) {
  const long page = sysconf(_SC_PAGESIZE);
  const size_t npages = size / (size_t)page;
  void **pages = calloc(npages, sizeof *pages);
  int *status = calloc(npages, sizeof *status);
  if (!pages || !status) exit(2);
  for (size_t p = 0; p < npages; p++) pages[p] = (char *)buf + p * (size_t)page;
  if (syscall(SYS_move_pages, 0, (unsigned long)npages, pages, NULL, status, 0) != 0) {
    perror("move_pages (status query)");
    exit(2);
  }
  for (size_t p = 0; p < npages; p++) {
    const int s = status[p];
    if (s >= 0 && s < MAX_NODES) on_node[s] += (uint64_t)page;
    else if (s < 0 && -s < MAX_ERRNO) errors[-s] += (uint64_t)page;
  }
  free(pages);
  free(status);
}

static void print_pages(const char *key, const char *stage, const uint64_t *on_node, const uint64_t *errors) {
  for (int n = 0; n < MAX_NODES; n++)
    if (on_node[n]) printf("%s %s node %d bytes %llu\n", key, stage, n, (unsigned long long)on_node[n]);
  for (int e = 1; e < MAX_ERRNO; e++)
    if (errors[e]) printf("%s %s error %d bytes %llu\n", key, stage, e, (unsigned long long)errors[e]);
}

static void report(const char *stage, uint64_t *const *bufs, long nbuf, size_t size) {
  uint64_t on_node[MAX_NODES] = {0}, errors[MAX_ERRNO] = {0};
  uint64_t tier_bytes[64] = {0}, untiered = 0;
  for (long b = 0; b < nbuf; b++) {
    int t = p_tier_of(bufs[b]);
    if (p_tier_of((char *)bufs[b] + size - 1) != t) t = -1; /* first and last byte disagree */
    if (t >= 0 && t < 64) tier_bytes[t] += size;
    else untiered += size;
    count_pages(bufs[b], size, on_node, errors);
  }
  for (int t = 0; t < 64; t++)
    if (tier_bytes[t]) printf("tierof %s %s bytes %llu\n", stage, tier_label(t), (unsigned long long)tier_bytes[t]);
  if (untiered) printf("tierof %s untiered bytes %llu\n", stage, (unsigned long long)untiered);
  print_pages("movepages", stage, on_node, errors);
  report_numa_maps(stage);
  for (int t = 0; t < p_tier_count(); t++) {
    tiermem_tier_stats st;
    if (p_get_stats(t, &st) != 0) continue;
    printf("live %s %s %llu budget %llu extents %llu\n", stage, st.name, (unsigned long long)st.live_bytes,
           (unsigned long long)st.budget, (unsigned long long)st.extents);
  }
  printf("bad %s %ld\n", stage, bad_bytes(bufs, nbuf, size / 8));
  fflush(stdout);
}

static void block_pages(const char *stage, const void *buf, size_t size) {
  uint64_t on_node[MAX_NODES] = {0}, errors[MAX_ERRNO] = {0};
  count_pages(buf, size, on_node, errors);
  print_pages("blockpages", stage, on_node, errors);
}

static uint64_t live_of(int t) {
  tiermem_tier_stats st;
  return p_get_stats(t, &st) == 0 ? st.live_bytes : 0;
}

int main(int argc, char **argv) {
  if (argc != 4 || atol(argv[1]) <= 0 || atol(argv[2]) <= 0 || atol(argv[3]) <= 0) {
    fprintf(stderr, "usage: %s BUFFERS MIB ENOMEM_MIB\n", argv[0]);
    return 2;
  }
  const long nbuf = atol(argv[1]);
  const size_t size = (size_t)atol(argv[2]) << 20;
  const size_t big_size = (size_t)atol(argv[3]) << 20;

#define SYM(var, name) var = (__typeof__(var))dlsym(RTLD_DEFAULT, name)
  SYM(p_tier_index, "tiermem_tier_index");
  SYM(p_tier_count, "tiermem_tier_count");
  SYM(p_tier_name, "tiermem_tier_name");
  SYM(p_tier_of, "tiermem_tier_of");
  SYM(p_move, "tiermem_move");
  SYM(p_get_stats, "tiermem_get_stats");
  SYM(p_malloc_on, "tiermem_malloc_on");
  SYM(p_free, "tiermem_free");
#undef SYM
  if (!p_tier_index || !p_tier_count || !p_tier_name || !p_tier_of || !p_move || !p_get_stats || !p_malloc_on ||
      !p_free) {
    fprintf(stderr, "vm_move: no tiermem runtime with tiermem_move loaded (run it under the preload)\n");
    return 2;
  }
  const int dram = p_tier_index("dram"), cxl = p_tier_index("cxl"), pmem = p_tier_index("pmem"),
            nvme = p_tier_index("nvme");
  if (dram < 0 || cxl < 0 || pmem < 0 || nvme < 0) {
    fprintf(stderr, "vm_move: the policy needs tiers dram, cxl, pmem and nvme\n");
    return 2;
  }

  uint64_t **bufs = calloc((size_t)nbuf, sizeof *bufs);
  if (!bufs) return 2;
  for (long b = 0; b < nbuf; b++) {
    bufs[b] = p_malloc_on(dram, size);
    if (!bufs[b]) {
      fprintf(stderr, "vm_move: tiermem_malloc_on(dram, %zu) #%ld failed: %s\n", size, b, strerror(errno));
      return 2;
    }
    fill(bufs[b], b, size / 8);
  }
  report("start", bufs, nbuf, size);

  const struct { const char *name; int tier; } hops[] = {{"cxl", cxl}, {"pmem", pmem}, {"dram", dram}};
  for (size_t h = 0; h < sizeof hops / sizeof hops[0]; h++) {
    int rc = 0, err = 0;
    for (long b = 0; b < nbuf && rc == 0; b++) {
      errno = 0;
      rc = p_move(bufs[b], size, hops[h].tier);
      err = rc ? errno : 0;
    }
    printf("move %s rc %d errno %s\n", hops[h].name, rc, errno_name(err));
    report(hops[h].name, bufs, nbuf, size);
  }

  /* To and from the file tier: copied while the world is stopped, then the
   * pages are on the destination's node like any other placement there. */
  unsigned char *nv = p_malloc_on(nvme, size);
  if (!nv) {
    fprintf(stderr, "vm_move: tiermem_malloc_on(nvme) failed: %s\n", strerror(errno));
    return 2;
  }
  memset(nv, 0x5a, size);
  errno = 0;
  int rc = p_move(nv, size, cxl);
  long nv_bad = 0;
  for (size_t i = 0; i < size; ++i) nv_bad += nv[i] != 0x5a;
  printf("filemove nvme-to-cxl rc %d errno %s tierof %s bad %ld\n", rc, errno_name(rc ? errno : 0),
         tier_label(p_tier_of(nv)), nv_bad);
  block_pages("nvme-to-cxl", nv, size);
  errno = 0;
  rc = p_move(bufs[0], size, nvme);
  printf("filemove dram-to-nvme rc %d errno %s tierof %s\n", rc, errno_name(rc ? errno : 0),
         tier_label(p_tier_of(bufs[0])));
  errno = 0;
  rc = p_move(bufs[0], size, dram);
  printf("filemove nvme-to-dram rc %d errno %s tierof %s bad %ld\n", rc, errno_name(rc ? errno : 0),
         tier_label(p_tier_of(bufs[0])), bad_bytes(bufs, 1, size / 8));
  block_pages("nvme-to-dram", bufs[0], size);

  /* More than cxl's budget: the extents that fit move, then ENOMEM. */
  uint64_t *big = p_malloc_on(pmem, big_size);
  if (!big) {
    fprintf(stderr, "vm_move: tiermem_malloc_on(pmem, %zu) failed: %s\n", big_size, strerror(errno));
    return 2;
  }
  fill(big, 0, big_size / 8); /* bad_bytes(&big, 1, ...) checks it as buffer 0 */
  tiermem_tier_stats cs;
  p_get_stats(cxl, &cs);
  const uint64_t cxl_before = live_of(cxl);
  block_pages("pmem", big, big_size);
  errno = 0;
  rc = p_move(big, big_size, cxl);
  const int err = rc ? errno : 0;
  printf("enomem pmem-to-cxl rc %d errno %s cxl_before %llu cxl_after %llu cxl_budget %llu\n", rc, errno_name(err),
         (unsigned long long)cxl_before, (unsigned long long)live_of(cxl), (unsigned long long)cs.budget);
  block_pages("enomem", big, big_size);
  errno = 0;
  rc = p_move(big, big_size, pmem);
  long bad = bad_bytes(&big, 1, big_size / 8);
  printf("enomem back rc %d errno %s tierof %s bad %ld\n", rc, errno_name(rc ? errno : 0), tier_label(p_tier_of(big)),
         bad);
  block_pages("back", big, big_size);
  fflush(stdout);

  p_free(big);
  p_free(nv);
  for (long b = 0; b < nbuf; b++) p_free(bufs[b]);
  free(bufs);
  return 0;
}
