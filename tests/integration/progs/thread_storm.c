/* thread_storm: thread create/exit storm with blocks in flight.
 *
 * usage: thread_storm [THREADS=2000] [BATCH=16] [keydtor]
 *
 * THREADS short-lived threads are started BATCH at a time (each batch is
 * joined before the next starts). Each thread makes 12 blocks: three in
 * four small (16 B .. 4 KiB), one in four large (256 KiB .. 2 MiB, one in
 * eight of those 4 MiB), fills each with a pattern of its seed, and per
 * block either frees it itself, or posts it to a shared mailbox of 64
 * slots from which any later thread (or main, at the end) takes, checks and
 * frees it. A thread also takes up to two posted blocks per step. Threads
 * exit with their posted blocks still in flight; later batches free them.
 * Each thread also reallocs one block of its own across the 256 KiB
 * tiering threshold.
 *
 * With "keydtor", every thread also owns a 512 KiB scratch buffer in a
 * pthread key (created by main, i.e. after the runtime's own key) whose
 * destructor frees it at thread exit: the usual per-thread cache of a C
 * library.
 *
 * Seeds and sizes depend only on the thread index and step, so the printed
 * checksum (sum over every block created) does not depend on scheduling;
 * every block must be checked and freed exactly once, which the sum over
 * freed blocks confirms. Under tiermem, every tier's live bytes must be back
 * to where they started at the end (tier_live.h), less the one-block cache
 * of the main thread.
 *
 * stdout: deterministic lines only (identical without the preload).
 * Exit status 0 if everything verified.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier_live.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define STEPS 12
#define MAILBOX 64
#define SCRATCH (512 * KiB)

static inline uint64_t mix64(uint64_t x) { /* splitmix64 finalizer */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

typedef struct {
  unsigned char *p;
  size_t n;
  uint64_t seed;
} block;

static pthread_mutex_t mbox_lock = PTHREAD_MUTEX_INITIALIZER;
static block mbox[MAILBOX];
static atomic_uint_fast64_t created_sum, freed_sum, created_n, freed_n, errors, alloc_failures;
static pthread_key_t scratch_key;
static int use_keydtor;
static atomic_uint_fast64_t scratch_freed;

static size_t size_of(uint64_t seed) {
  uint64_t r = mix64(seed ^ 0x5151);
  if (r % 4 != 0) return 16 + (size_t)(r >> 8) % 4081;           /* small */
  if ((r >> 4) % 8 == 0) return 4 * MiB;                          /* 4 MiB */
  return 256 * KiB + (size_t)(r >> 12) % (1792 * KiB + 1);        /* 256 KiB .. 2 MiB */
}

/* Fill: the seed's low byte everywhere, the seed itself every 4 KiB and in
 * the last 8 bytes. Cheap enough for gigabytes, strong enough to catch a
 * block handed out twice or mapped to the wrong file offset. */
static void fill(unsigned char *p, size_t n, uint64_t seed) {
  memset(p, (int)(seed & 0xff), n);
  if (n < 8) return;
  for (size_t off = 0; off + 8 <= n; off += 4096) memcpy(p + off, &seed, 8);
  memcpy(p + n - 8, &seed, 8);
}

static int intact(const unsigned char *p, size_t n, uint64_t seed) {
  if (n < 8) {
    for (size_t i = 0; i < n; i++)
      if (p[i] != (unsigned char)(seed & 0xff)) return 0;
    return 1;
  }
  uint64_t w;
  for (size_t off = 0; off + 8 <= n; off += 4096) {
    if (off + 8 > n - 8) break; /* partly overwritten by the tail word */
    memcpy(&w, p + off, 8);
    if (w != seed) return 0;
    /* a few bytes after each word */
    for (size_t i = off + 8; i < off + 24 && i + 8 < n; i++)
      if (p[i] != (unsigned char)(seed & 0xff)) return 0;
  }
  memcpy(&w, p + n - 8, 8);
  return w == seed;
}

/* The first n bytes of a block filled by fill() with a size at least
 * n + 8: the words every 4 KiB and the seed byte elsewhere. */
static int intact_prefix(const unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    if (i % 4096 == 0 && i + 8 > n) break; /* a word cut by the new end */
    if (i % 4096 == 0) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (w != seed) return 0;
      i += 7;
    } else if (i % 4096 < 64 && p[i] != (unsigned char)(seed & 0xff)) {
      return 0;
    }
  }
  return 1;
}

static void check_free(block b) {
  if (!intact(b.p, b.n, b.seed)) atomic_fetch_add(&errors, 1);
  free(b.p);
  atomic_fetch_add(&freed_sum, mix64(b.seed));
  atomic_fetch_add(&freed_n, 1);
}

static void scratch_dtor(void *p) {
  unsigned char *s = p;
  if (s[0] != 0x3c || s[SCRATCH - 1] != 0x3c) atomic_fetch_add(&errors, 1);
  free(p);
  atomic_fetch_add(&scratch_freed, 1);
}

static void *worker(void *arg) {
  uint64_t index = (uint64_t)(uintptr_t)arg;
  if (use_keydtor) {
    unsigned char *s = malloc(SCRATCH);
    if (!s) { atomic_fetch_add(&alloc_failures, 1); } else {
      memset(s, 0x3c, SCRATCH);
      pthread_setspecific(scratch_key, s);
    }
  }
  for (uint64_t step = 0; step < STEPS; step++) {
    uint64_t seed = (index << 20) | step;
    uint64_t r = mix64(seed);
    block b = {NULL, size_of(seed), seed};
    b.p = malloc(b.n);
    if (!b.p) { atomic_fetch_add(&alloc_failures, 1); continue; }
    fill(b.p, b.n, seed);
    atomic_fetch_add(&created_sum, mix64(seed));
    atomic_fetch_add(&created_n, 1);

    if (step == 3) { /* realloc across the threshold and back, kept filled */
      size_t sizes[2] = {b.n < 256 * KiB ? 300 * KiB + b.n : 1000, b.n};
      for (int k = 0; k < 2; k++) {
        unsigned char *q = realloc(b.p, sizes[k]);
        if (!q) { atomic_fetch_add(&alloc_failures, 1); break; }
        if (sizes[k] >= b.n ? !intact(q, b.n, seed) : !intact_prefix(q, sizes[k], seed)) atomic_fetch_add(&errors, 1);
        b.p = q;
        b.n = sizes[k];
        fill(b.p, b.n, seed);
      }
    }

    switch (r % 3) {
      case 0: /* free it ourselves */
        check_free(b);
        break;
      default: { /* post it; the slot's previous block is ours to free */
        size_t s = (size_t)(r >> 16) % MAILBOX;
        pthread_mutex_lock(&mbox_lock);
        block old = mbox[s];
        mbox[s] = b;
        pthread_mutex_unlock(&mbox_lock);
        if (old.p) check_free(old);
      }
    }
    /* take up to two blocks other threads posted */
    for (int k = 0; k < 2; k++) {
      size_t s = (size_t)(mix64(r + (uint64_t)k) % MAILBOX);
      pthread_mutex_lock(&mbox_lock);
      block got = mbox[s];
      if (got.p && (got.seed >> 20) != index) mbox[s].p = NULL;
      else got.p = NULL;
      pthread_mutex_unlock(&mbox_lock);
      if (got.p) check_free(got);
    }
  }
  return NULL; /* posted blocks stay in flight */
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2000;
  int batch = argc > 2 ? atoi(argv[2]) : 16;
  use_keydtor = argc > 3 && strcmp(argv[3], "keydtor") == 0;
  if (threads < 1 || batch < 1) return 2;
  if (use_keydtor && pthread_key_create(&scratch_key, scratch_dtor) != 0) return 2;

  tier_live start, end;
  tier_live_read(&start);
  tier_live_print("tiers at start", &start);

  pthread_t *tids = calloc((size_t)batch, sizeof *tids);
  int create_failures = 0;
  for (int first = 0; first < threads; first += batch) {
    int n = threads - first < batch ? threads - first : batch;
    int started = 0;
    for (int i = 0; i < n; i++) {
      if (pthread_create(&tids[started], NULL, worker, (void *)(uintptr_t)(first + i)) != 0) {
        create_failures++;
        worker((void *)(uintptr_t)(first + i)); /* keep the checksum deterministic */
      } else {
        started++;
      }
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
  }
  free(tids);
  uint64_t in_flight = 0;
  for (int s = 0; s < MAILBOX; s++)
    if (mbox[s].p) {
      in_flight++;
      check_free(mbox[s]);
      mbox[s].p = NULL;
    }

  tier_live_read(&end);
  tier_live_print("tiers at end", &end);
  fprintf(stderr, "nvme allocations: %llu\n", (unsigned long long)tier_live_allocs(&start, &end, "nvme"));
  fprintf(stderr, "blocks still in flight at the end: %llu, pthread_create failures: %d\n",
          (unsigned long long)in_flight, create_failures);
  int live_ok = tier_live_back(&start, &end, 1);

  printf("threads: %d in batches of %d%s\n", threads, batch, use_keydtor ? ", with a pthread-key scratch buffer" : "");
  printf("blocks: %" PRIu64 " created, %" PRIu64 " freed\n", (uint64_t)created_n, (uint64_t)freed_n);
  printf("checksum: %016" PRIx64 "\n", (uint64_t)created_sum);
  printf("freed checksum matches: %s\n", created_sum == freed_sum ? "yes" : "no");
  if (use_keydtor)
    printf("scratch buffers freed by the key destructor: %s\n", (int)scratch_freed == threads ? "all" : "not all");
  printf("allocation failures: %" PRIu64 "\n", (uint64_t)alloc_failures);
  printf("tier live bytes back at the end: %s\n", live_ok ? "yes" : "no");
  printf("errors: %" PRIu64 "\n", (uint64_t)errors);
  return errors || created_sum != freed_sum || !live_ok || alloc_failures ? 1 : 0;
}
