/* spill_budget: allocate 3x a DRAM budget in 8 MiB buffers and use it all.
 *
 * usage: spill_budget BUDGET_MIB [tiers]
 *
 * Allocates ceil(3 * BUDGET_MIB / 8) buffers of 8 MiB, writes every word of
 * each, re-reads all of them (the first ones after the last were written, so
 * they have had the chance to be demoted), rewrites every other buffer and
 * re-reads everything again. Prints the number of buffers, a checksum that
 * depends only on BUDGET_MIB, and the number of mismatching words (exit 1 if
 * any).
 *
 * With "tiers", it also looks up tiermem_tier_of (and tiermem_tier_name) with
 * dlsym(RTLD_DEFAULT, ...) and prints how many buffers start on each tier:
 *   tier 0 (dram): 8 buffers
 *   tier 1 (nvme): 16 buffers
 * or "tier_of: unavailable" when no tiermem runtime is loaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE (8u * 1024u * 1024u)
#define WORDS (BUF_SIZE / 8u)

static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void write_buf(uint64_t *p, uint64_t seed) {
  for (size_t i = 0; i < WORDS; i++) p[i] = seed ^ (i * 0x9e3779b97f4a7c15ull);
}

static uint64_t read_buf(const uint64_t *p, uint64_t seed, long *bad) {
  uint64_t sum = 0;
  for (size_t i = 0; i < WORDS; i++) {
    uint64_t v = p[i];
    if (v != (seed ^ (i * 0x9e3779b97f4a7c15ull))) (*bad)++;
    sum += mix64(v);
  }
  return sum;
}

int main(int argc, char **argv) {
  if (argc < 2 || atol(argv[1]) <= 0) {
    fprintf(stderr, "usage: %s BUDGET_MIB [tiers]\n", argv[0]);
    return 2;
  }
  long budget_mib = atol(argv[1]);
  int want_tiers = argc > 2 && strcmp(argv[2], "tiers") == 0;
  size_t n = (size_t)((3 * budget_mib + 7) / 8);
  uint64_t **bufs = calloc(n, sizeof *bufs);
  uint64_t *seeds = calloc(n, sizeof *seeds);
  if (!bufs || !seeds) return 2;

  for (size_t b = 0; b < n; b++) {
    bufs[b] = malloc(BUF_SIZE);
    if (!bufs[b]) {
      fprintf(stderr, "malloc(8 MiB) #%zu failed\n", b);
      return 1;
    }
    seeds[b] = mix64(b + 1);
    write_buf(bufs[b], seeds[b]);
  }

  long bad = 0;
  uint64_t checksum = 0;
  for (size_t b = 0; b < n; b++) checksum += read_buf(bufs[b], seeds[b], &bad);
  for (size_t b = 0; b < n; b += 2) {
    seeds[b] = mix64(seeds[b]);
    write_buf(bufs[b], seeds[b]);
  }
  for (size_t b = 0; b < n; b++) checksum = checksum * 31 + read_buf(bufs[b], seeds[b], &bad);

  printf("buffers: %zu x 8 MiB = %zu MiB (3 x %ld MiB budget)\n", n, n * 8, budget_mib);
  printf("checksum: %016" PRIx64 "\n", checksum);
  printf("bad words: %ld\n", bad);

  if (want_tiers) {
    int (*tier_of)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "tiermem_tier_of");
    const char *(*tier_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "tiermem_tier_name");
    if (!tier_of) {
      printf("tier_of: unavailable\n");
    } else {
      enum { MAXT = 16 };
      size_t count[MAXT + 1] = {0}; /* [MAXT] counts -1 / out of range */
      for (size_t b = 0; b < n; b++) {
        int t = tier_of(bufs[b]);
        count[(t >= 0 && t < MAXT) ? t : MAXT]++;
      }
      for (int t = 0; t < MAXT; t++)
        if (count[t])
          printf("tier %d (%s): %zu buffers\n", t, tier_name && tier_name(t) ? tier_name(t) : "?", count[t]);
      if (count[MAXT]) printf("tier -1 (not tiered): %zu buffers\n", count[MAXT]);
    }
  }
  for (size_t b = 0; b < n; b++) free(bufs[b]);
  free(bufs);
  free(seeds);
  return bad ? 1 : 0;
}
