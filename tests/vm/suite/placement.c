/* vm_placement: where did the tiered heap put my pages? Run under the
 * preload on a NUMA machine (tests/vm/ boots one).
 *
 * usage: vm_placement BUFFERS [MIB]
 *
 * Allocates BUFFERS buffers of MIB MiB (default 8) with malloc, writes every
 * page, and reports, as lines a shell script can grep:
 *
 *   tier NAME buffers COUNT bytes BYTES       buffers tiermem_tier_of() puts
 *                                             on tier NAME, and their size
 *   movepages NAME node N bytes BYTES         bytes of those buffers whose
 *                                             pages move_pages(2) (status
 *                                             query, nodes = NULL) finds on N
 *   movepages NAME error E bytes BYTES        pages it reports -E for
 *   numamaps NAME node N bytes BYTES          pages of the memfd "tiermem:NAME"
 *                                             on node N, per /proc/self/numa_maps
 *   bad bytes: N                              data check after the queries
 *
 * No libnuma: raw syscalls only. Exit 0 if the data is intact, 1 if not,
 * 2 on usage errors or when no tiermem runtime is loaded.
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

enum { MAX_TIERS = 16, MAX_NODES = 64, MAX_ERRNO = 200 };

struct tier_count {
  long buffers;
  uint64_t bytes;
  uint64_t on_node[MAX_NODES];   /* move_pages status >= 0 */
  uint64_t errors[MAX_ERRNO];    /* status < 0, indexed by -status */
  char name[64];
};

static struct tier_count tiers[MAX_TIERS + 1]; /* [MAX_TIERS]: not tiered */


int main(int argc, char **argv) {
  if (argc < 2 || atol(argv[1]) <= 0) {
    fprintf(stderr, "usage: %s BUFFERS [MIB]\n", argv[0]);
    return 2;
  }
  const long nbuf = atol(argv[1]);
  const size_t size = (size_t)(argc > 2 ? atol(argv[2]) : 8) << 20;
  const long page = sysconf(_SC_PAGESIZE);
  const size_t npages = size / (size_t)page;

  int (*tier_of)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "tiermem_tier_of");
  const char *(*tier_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "tiermem_tier_name");
  if (!tier_of || !tier_name) {
    fprintf(stderr, "vm_placement: no tiermem runtime loaded (run it under the preload)\n");
    return 2;
  }

  unsigned char **bufs = calloc((size_t)nbuf, sizeof *bufs);
  void **pages = calloc(npages, sizeof *pages);
  int *status = calloc(npages, sizeof *status);
  if (!bufs || !pages || !status) return 2;
  for (long b = 0; b < nbuf; b++) {
    bufs[b] = malloc(size);
    if (!bufs[b]) {
      fprintf(stderr, "malloc(%zu) #%ld failed\n", size, b);
      return 1;
    }
    for (size_t p = 0; p < npages; p++) memset(bufs[b] + p * (size_t)page, (int)((b * 131 + (long)p) & 0xff), (size_t)page);
  }

  for (long b = 0; b < nbuf; b++) {
    int t = tier_of(bufs[b]);
    struct tier_count *tc = &tiers[(t >= 0 && t < MAX_TIERS) ? t : MAX_TIERS];
    if (!tc->name[0]) snprintf(tc->name, sizeof tc->name, "%s", (t >= 0 && tier_name(t)) ? tier_name(t) : "untiered");
    tc->buffers++;
    tc->bytes += size;
    for (size_t p = 0; p < npages; p++) pages[p] = bufs[b] + p * (size_t)page;
    if (syscall(SYS_move_pages, 0, (unsigned long)npages, pages, NULL, status, 0) != 0) {
      perror("move_pages (status query)");
      return 2;
    }
    for (size_t p = 0; p < npages; p++) {
      int s = status[p];
      if (s >= 0 && s < MAX_NODES) tc->on_node[s] += (uint64_t)page;
      else if (s < 0 && -s < MAX_ERRNO) tc->errors[-s] += (uint64_t)page;
    }
  }

  for (int t = 0; t <= MAX_TIERS; t++) {
    struct tier_count *tc = &tiers[t];
    if (!tc->buffers) continue;
    printf("tier %s buffers %ld bytes %llu\n", tc->name, tc->buffers, (unsigned long long)tc->bytes);
    for (int n = 0; n < MAX_NODES; n++)
      if (tc->on_node[n]) printf("movepages %s node %d bytes %llu\n", tc->name, n, (unsigned long long)tc->on_node[n]);
    for (int e = 1; e < MAX_ERRNO; e++)
      if (tc->errors[e]) printf("movepages %s error %d bytes %llu\n", tc->name, e, (unsigned long long)tc->errors[e]);
  }
  report_numa_maps(NULL);

  long bad = 0;
  for (long b = 0; b < nbuf; b++)
    for (size_t p = 0; p < npages; p++) {
      const unsigned char want = (unsigned char)((b * 131 + (long)p) & 0xff);
      const unsigned char *q = bufs[b] + p * (size_t)page;
      for (long i = 0; i < page; i++) bad += q[i] != want;
    }
  printf("bad bytes: %ld\n", bad);
  fflush(stdout);
  for (long b = 0; b < nbuf; b++) free(bufs[b]);
  return bad ? 1 : 0;
}
