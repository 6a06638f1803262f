/* threads_xfree: cross-thread malloc/free stress.
 *
 * usage: threads_xfree [THREADS=8] [BLOCKS_PER_THREAD=4000]
 *
 * Every thread allocates BLOCKS_PER_THREAD blocks of mixed sizes (16 B up to
 * 4 MiB, a few percent of them at or above 256 KiB so they land in the tiered
 * heap), fills each with a pattern derived from its seed and hands it to
 * another thread through that thread's queue. Receivers verify every byte,
 * sometimes realloc() the block (checking the kept prefix) and free it.
 * Block sizes and destinations come from per-thread PRNGs, so the printed
 * checksum depends only on the arguments, not on scheduling. Exit status is
 * 0 if every block verified, 1 otherwise.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_CAP 64

static inline uint64_t mix64(uint64_t x) { /* splitmix64 finalizer */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

typedef struct block {
  struct block *next;
  unsigned char *data;
  size_t size;
  uint64_t seed;
} block;

typedef struct {
  pthread_mutex_t mu;
  block *head, *tail;
  int len;
} queue;

static int nthreads = 8;
static long per_thread = 4000;
static queue *queues;
static atomic_long consumed;
static atomic_long errors;
static atomic_uint_fast64_t checksum;     /* sum of per-block digests */
static atomic_uint_fast64_t bytes_total;
static atomic_long large_blocks;

static void fill(unsigned char *p, size_t n, uint64_t seed) {
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) {
    uint64_t v = mix64(seed + i);
    memcpy(p + 8 * i, &v, 8);
  }
  uint64_t v = mix64(seed + words);
  for (i = words * 8; i < n; i++) p[i] = (unsigned char)(v >> (8 * (i % 8)));
}

/* Verifies the first n bytes; returns a digest of what was read, sets *bad. */
static uint64_t verify(const unsigned char *p, size_t n, uint64_t seed, int *bad) {
  size_t words = n / 8, i;
  uint64_t digest = seed * 31 + n;
  for (i = 0; i < words; i++) {
    uint64_t v, want = mix64(seed + i);
    memcpy(&v, p + 8 * i, 8);
    if (v != want) { *bad = 1; }
    digest = digest * 0x100000001b3ull ^ v;
  }
  uint64_t v = mix64(seed + words);
  for (i = words * 8; i < n; i++) {
    unsigned char want = (unsigned char)(v >> (8 * (i % 8)));
    if (p[i] != want) *bad = 1;
    digest = digest * 0x100000001b3ull ^ p[i];
  }
  return digest;
}

static size_t pick_size(uint64_t *rng) {
  uint64_t r = mix64((*rng)++);
  unsigned bucket = r % 100;
  uint64_t x = r >> 8;
  if (bucket < 70) return 16 + x % (4096 - 16);                 /* small */
  if (bucket < 94) return 4096 + x % (256 * 1024 - 4096);        /* medium */
  return 256 * 1024 + x % (4 * 1024 * 1024 - 256 * 1024 + 1);    /* large: tiered */
}

static void consume(block *b, int self) {
  int bad = 0;
  uint64_t d = verify(b->data, b->size, b->seed, &bad);
  /* One block in eight is resized by the receiver before it is freed. */
  if (!bad && (mix64(b->seed ^ 0xabcdef) & 7) == 0) {
    size_t nsize = (b->seed & 8) ? b->size * 2 + 1 : b->size / 2 + 1;
    unsigned char *q = realloc(b->data, nsize);
    if (!q) {
      fprintf(stderr, "thread %d: realloc(%zu -> %zu) failed\n", self, b->size, nsize);
      bad = 1;
    } else {
      size_t keep = nsize < b->size ? nsize : b->size;
      int bad2 = 0;
      verify(q, keep, b->seed, &bad2); /* prefix check; digest of full block kept */
      if (bad2) {
        fprintf(stderr, "thread %d: realloc lost data (%zu -> %zu bytes)\n", self, b->size, nsize);
        bad = 1;
      }
      memset(q, 0x5a, nsize); /* the whole new block must be writable */
      b->data = q;
    }
  }
  if (bad) {
    fprintf(stderr, "thread %d: MISMATCH in block seed=%" PRIx64 " size=%zu\n", self, b->seed, b->size);
    atomic_fetch_add(&errors, 1);
  }
  atomic_fetch_add(&checksum, d);
  free(b->data);
  free(b);
  atomic_fetch_add(&consumed, 1);
}

static int drain(int self) {
  queue *q = &queues[self];
  pthread_mutex_lock(&q->mu);
  block *list = q->head;
  q->head = q->tail = NULL;
  q->len = 0;
  pthread_mutex_unlock(&q->mu);
  int n = 0;
  while (list) {
    block *next = list->next;
    consume(list, self);
    list = next;
    n++;
  }
  return n;
}

static int try_push(int dst, block *b) {
  queue *q = &queues[dst];
  pthread_mutex_lock(&q->mu);
  if (q->len >= QUEUE_CAP) { pthread_mutex_unlock(&q->mu); return 0; }
  b->next = NULL;
  if (q->tail) q->tail->next = b; else q->head = b;
  q->tail = b;
  q->len++;
  pthread_mutex_unlock(&q->mu);
  return 1;
}

static void nap(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

static void *worker(void *arg) {
  int self = (int)(intptr_t)arg;
  uint64_t rng = 0x1000000ull * (uint64_t)(self + 1);
  for (long i = 0; i < per_thread; i++) {
    block *b = malloc(sizeof *b);
    if (!b) { fprintf(stderr, "malloc(block) failed\n"); atomic_fetch_add(&errors, 1); abort(); }
    b->size = pick_size(&rng);
    b->seed = mix64(rng++) ^ ((uint64_t)self << 56);
    b->data = malloc(b->size);
    if (!b->data) {
      fprintf(stderr, "thread %d: malloc(%zu) failed\n", self, b->size);
      atomic_fetch_add(&errors, 1);
      abort();
    }
    fill(b->data, b->size, b->seed);
    atomic_fetch_add(&bytes_total, b->size);
    if (b->size >= 256 * 1024) atomic_fetch_add(&large_blocks, 1);
    int dst = (self + 1 + (int)(mix64(rng++) % (uint64_t)(nthreads - 1))) % nthreads;
    while (!try_push(dst, b)) {
      if (!drain(self)) nap(); /* receivers are slow: help by consuming ours */
    }
    if ((i & 15) == 0) drain(self);
  }
  long total = (long)nthreads * per_thread;
  while (atomic_load(&consumed) < total) {
    if (!drain(self)) nap();
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) nthreads = atoi(argv[1]);
  if (argc > 2) per_thread = atol(argv[2]);
  if (nthreads < 2 || nthreads > 256 || per_thread < 1) {
    fprintf(stderr, "usage: %s [THREADS>=2] [BLOCKS_PER_THREAD>=1]\n", argv[0]);
    return 2;
  }
  queues = calloc((size_t)nthreads, sizeof *queues);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  if (!queues || !tids) return 2;
  for (int t = 0; t < nthreads; t++) pthread_mutex_init(&queues[t].mu, NULL);
  for (int t = 0; t < nthreads; t++) {
    if (pthread_create(&tids[t], NULL, worker, (void *)(intptr_t)t) != 0) {
      perror("pthread_create");
      return 2;
    }
  }
  for (int t = 0; t < nthreads; t++) pthread_join(tids[t], NULL);

  long n = atomic_load(&consumed), bad = atomic_load(&errors);
  printf("threads: %d\n", nthreads);
  printf("blocks: %ld (large >= 256KiB: %ld)\n", n, atomic_load(&large_blocks));
  printf("bytes: %" PRIu64 "\n", (uint64_t)atomic_load(&bytes_total));
  printf("checksum: %016" PRIx64 "\n", (uint64_t)atomic_load(&checksum));
  printf("errors: %ld\n", bad);
  free(tids);
  free(queues);
  return bad == 0 && n == (long)nthreads * per_thread ? 0 : 1;
}
