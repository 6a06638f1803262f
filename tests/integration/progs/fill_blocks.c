/* fill_blocks: allocate 8 MiB blocks until malloc returns NULL, use them all.
 *
 * usage: fill_blocks MAX_BLOCKS [DELAY_MS [reuse]]
 *
 * Allocates up to MAX_BLOCKS blocks of 8 MiB, stopping at the first NULL,
 * and writes every word of each block right after it was allocated (a
 * progress line "wrote block N" is flushed after each, so that a test can
 * tell how far a crashed run got). DELAY_MS (default 0) is slept after each
 * block. Then every block is read back and checked.
 *
 * With "reuse": afterwards, every other block is freed, the program sleeps
 * 2.5 s (longer than the default purge_delay_ms, so the freed ranges are
 * punched), and then allocates blocks again until NULL (or MAX_BLOCKS in
 * all), writes and checks them, and checks every block it still holds.
 *
 * Output (stdout):
 *   allocated: N            blocks obtained in the first pass
 *   first NULL: errno=E (Cannot allocate memory) | first NULL: none (cap)
 *   reallocated: M          (reuse only) blocks obtained after the frees
 *   bad words: B
 *   tier 0 (dram): K blocks (per tier, via dlsym(tiermem_tier_of), if any)
 *   checksum: HEX           depends only on the number of blocks written
 * Exit status: 0 if no word was wrong, 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK (8u * 1024u * 1024u)
#define WORDS (BLOCK / 8u)

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void fill(uint64_t *p, uint64_t seed) {
  for (size_t i = 0; i < WORDS; i++) p[i] = seed ^ (i * 0x9e3779b97f4a7c15ull);
}

static long check(const uint64_t *p, uint64_t seed, uint64_t *sum) {
  long bad = 0;
  for (size_t i = 0; i < WORDS; i++) {
    uint64_t v = p[i];
    if (v != (seed ^ (i * 0x9e3779b97f4a7c15ull))) bad++;
    *sum += mix64(v);
  }
  return bad;
}

static void sleep_ms(long ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || atol(argv[1]) <= 0) {
    fprintf(stderr, "usage: %s MAX_BLOCKS [DELAY_MS [reuse]]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const size_t max = (size_t)atol(argv[1]);
  const long delay = argc > 2 ? atol(argv[2]) : 0;
  const int reuse = argc > 3 && strcmp(argv[3], "reuse") == 0;
  uint64_t **blocks = calloc(max, sizeof *blocks);
  uint64_t *seeds = calloc(max, sizeof *seeds);
  if (!blocks || !seeds) return 2;

  size_t n = 0;
  int first_errno = 0;
  while (n < max) {
    errno = 0;
    uint64_t *p = malloc(BLOCK);
    if (p == NULL) {
      first_errno = errno;
      break;
    }
    blocks[n] = p;
    seeds[n] = mix64(n + 1);
    fill(p, seeds[n]);
    printf("wrote block %zu\n", n);
    n++;
    sleep_ms(delay);
  }
  printf("allocated: %zu\n", n);
  if (n < max) {
    printf("first NULL: errno=%d (%s)\n", first_errno, strerror(first_errno));
  } else {
    printf("first NULL: none (cap of %zu blocks reached)\n", max);
  }

  long bad = 0;
  uint64_t sum = 0;
  for (size_t b = 0; b < n; b++) bad += check(blocks[b], seeds[b], &sum);

  if (reuse) {
    for (size_t b = 0; b < n; b += 2) {
      free(blocks[b]);
      blocks[b] = NULL;
    }
    printf("freed: %zu\n", (n + 1) / 2);
    sleep_ms(2500);
    size_t again = 0;
    for (size_t b = 0; b < n; b += 2) {
      errno = 0;
      uint64_t *p = malloc(BLOCK);
      if (p == NULL) break;
      blocks[b] = p;
      seeds[b] = mix64(seeds[b] + 7);
      fill(p, seeds[b]);
      printf("rewrote block %zu\n", b);
      again++;
    }
    printf("reallocated: %zu\n", again);
    sum = 0;
    for (size_t b = 0; b < n; b++)
      if (blocks[b]) bad += check(blocks[b], seeds[b], &sum);
  }
  printf("bad words: %ld\n", bad);

  int (*tier_of)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "tiermem_tier_of");
  const char *(*tier_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "tiermem_tier_name");
  if (tier_of) {
    size_t count[9] = {0};
    for (size_t b = 0; b < n; b++) {
      if (!blocks[b]) continue;
      int t = tier_of(blocks[b]);
      count[(t >= 0 && t < 8) ? t : 8]++;
    }
    for (int t = 0; t < 8; t++)
      if (count[t]) printf("tier %d (%s): %zu blocks\n", t, tier_name && tier_name(t) ? tier_name(t) : "?", count[t]);
    if (count[8]) printf("tier -1 (not tiered): %zu blocks\n", count[8]);
  }
  printf("checksum: %016" PRIx64 "\n", sum);
  for (size_t b = 0; b < n; b++) free(blocks[b]);
  free(blocks);
  free(seeds);
  return bad ? 1 : 0;
}
