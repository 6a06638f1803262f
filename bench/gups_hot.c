// gups_hot: GUPS with a hot set (as in the HeMem paper, SOSP'21), for
// comparing tiered-memory systems under LD_PRELOAD. Plain malloc only (no
// aligned_alloc/memalign/posix_memalign: memkind's libmemtier crashes on them).
//
// Memory: --footprint-mib MiB in 64 MiB malloc'd chunks, allocated and
// touched (zeroed) in order, so under a first-touch / first-fit DRAM budget
// the early chunks land on the fast tier and the late ones on the slow tier.
// The initial hot set is the LAST --hot-mib MiB (allocated last: slow tier);
// after --shift-at seconds it moves to a second region (--shift-to: "middle"
// (default) = centred in the footprint, i.e. also allocated after a DRAM
// budget of <= footprint/2 filled up and never hot before; "first" = the
// first-allocated chunks; or an offset in MiB).
//
// Updates: each thread does random 8-byte read-modify-write increments
// (xorshift64* per thread, seeded from --seed and the thread number);
// --hot-frac of them (default 0.9) go to the hot set, the rest uniformly to
// the whole footprint. Thread t only touches words whose index is t modulo
// --threads, so threads never race on a word and the run is exact: nothing
// can legitimately be lost.
//
// Verification (after the timed part, not timed): with W(i) a fixed hash of
// the word index i, each thread keeps a shadow sum of W(i) over its updates.
// Then sum(mem[i]) must equal the number of updates performed, and
// sum(mem[i] * W(i)) must equal the sum of the shadows (mod 2^64); a lost,
// duplicated or misplaced write breaks one of them. Prints verify=ok|FAIL
// (and exits 3 on FAIL). --inject-fault lost|misplaced undoes or moves one
// increment before the check, to show that it is caught.
//
// checksum: with --updates N (each thread does exactly N updates and moves
// to the second hot set after N/2, no timing involved) it is the weighted
// memory sum sum(mem[i] * W(i)), deterministic for given arguments. In a
// time-based run (--seconds) the final memory depends on how many updates
// the threads managed, so the checksum is instead a hash of the arguments
// that determine the access pattern combined with the verification outcome:
// equal across runs and systems iff the run verified. (verify= is the real
// test in both modes.)
//
// Output: `t=<sec> updates_per_s=<n> phase=<0|1>` every --report-ms, then
// summary lines `key=value`: steady_mups_before_shift and
// steady_mups_after_shift (median of the last half of each phase's full
// report intervals), total_updates, setup_s, run_s, verify_s, verify=,
// checksum=.
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SHIFT 26 /* 64 MiB */
#define CHUNK_BYTES ((uint64_t)1 << CHUNK_SHIFT)
#define WORD_SHIFT (CHUNK_SHIFT - 3)
#define WORD_MASK (((uint64_t)1 << WORD_SHIFT) - 1)
#define MIB ((uint64_t)1 << 20)
#define BATCH 16 /* updates between publishing the count and looking at stop/phase:
                     small, since an update on a slow tier can take a millisecond */

static uint64_t **chunks;
static uint64_t nchunks, nwords;
static uint64_t hot_words, hot_start[2];
static uint32_t hot_threshold; /* of 2^24 */
static int nthreads = 1;
static uint64_t fixed_updates; /* --updates: per thread; 0 = time-based */
static _Atomic int phase, stop;

struct thread {
  _Alignas(64) _Atomic uint64_t done; /* updates performed, published every BATCH */
  uint64_t shadow;                    /* sum of W(i) over this thread's updates */
  uint64_t seed;
  int id;
  pthread_t tid;
  /* verification pass results */
  uint64_t vsum, vweighted;
};
static struct thread threads[256];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static inline uint64_t xorshift64s(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* W(i): a fixed, non-linear weight per word index (odd, never 0). */
static inline uint64_t weight(uint64_t i) {
  uint64_t z = i * 0x9E3779B97F4A7C15ULL;
  z ^= z >> 29;
  z *= 0xBF58476D1CE4E5B9ULL;
  z ^= z >> 32;
  return z | 1;
}

/* Uniform in [0, n) from 64 random bits. */
static inline uint64_t below(uint64_t r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

/* Words of [start, start+len) owned by thread t (index = t mod nthreads):
 * start + k*T + t' for the k, t' with that residue. */
struct region {
  uint64_t first, count; /* first owned word, number of owned words */
};

static struct region owned(uint64_t start, uint64_t len, int t) {
  struct region r = {0, 0};
  uint64_t T = (uint64_t)nthreads;
  uint64_t first = start + ((uint64_t)t + T - start % T) % T;
  if (first < start + len) {
    r.first = first;
    r.count = (start + len - first + T - 1) / T;
  }
  return r;
}

static void *worker(void *arg) {
  struct thread *th = arg;
  uint64_t s = th->seed, shadow = 0, n = 0;
  struct region hot[2], all = owned(0, nwords, th->id);
  hot[0] = owned(hot_start[0], hot_words, th->id);
  hot[1] = owned(hot_start[1], hot_words, th->id);
  const uint64_t T = (uint64_t)nthreads;
  int ph = 0;
  for (;;) {
    if (fixed_updates) {
      if (n >= fixed_updates) break;
      ph = n >= fixed_updates / 2;
    } else {
      if (atomic_load_explicit(&stop, memory_order_relaxed)) break;
      ph = atomic_load_explicit(&phase, memory_order_relaxed);
    }
    uint64_t batch = BATCH;
    if (fixed_updates && fixed_updates - n < batch) batch = fixed_updates - n;
    if (fixed_updates && n < fixed_updates / 2 && fixed_updates / 2 - n < batch) batch = fixed_updates / 2 - n;
    const struct region h = hot[ph];
    for (uint64_t k = 0; k < batch; k++) {
      uint64_t r1 = xorshift64s(&s), r2 = xorshift64s(&s);
      uint64_t idx;
      if ((uint32_t)(r1 >> 40) < hot_threshold && h.count)
        idx = h.first + below(r2, h.count) * T;
      else
        idx = all.first + below(r2, all.count) * T;
      chunks[idx >> WORD_SHIFT][idx & WORD_MASK] += 1;
      shadow += weight(idx);
    }
    n += batch;
    atomic_store_explicit(&th->done, n, memory_order_relaxed);
  }
  th->shadow = shadow;
  return NULL;
}

static void *verifier(void *arg) {
  struct thread *th = arg;
  uint64_t per = (nchunks + nthreads - 1) / nthreads;
  uint64_t c0 = per * th->id, c1 = c0 + per > nchunks ? nchunks : c0 + per;
  uint64_t sum = 0, wsum = 0;
  for (uint64_t c = c0; c < c1; c++) {
    const uint64_t *p = chunks[c];
    uint64_t base = c << WORD_SHIFT;
    for (uint64_t j = 0; j <= WORD_MASK; j++) {
      uint64_t v = p[j];
      if (v) {
        sum += v;
        wsum += v * weight(base + j);
      }
    }
  }
  th->vsum = sum;
  th->vweighted = wsum;
  return NULL;
}

/* memset through a volatile pointer: the compiler may not turn malloc+memset
 * into calloc, which would leave the pages untouched. */
static void *(*volatile touch)(void *, int, size_t) = memset;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of the last half of v[0..n). */
static double steady(double *v, size_t n) {
  if (n == 0) return 0;
  size_t from = n / 2, m = n - from;
  double *tmp = malloc(m * sizeof *tmp);
  memcpy(tmp, v + from, m * sizeof *tmp);
  qsort(tmp, m, sizeof *tmp, cmp_double);
  double r = m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
  free(tmp);
  return r;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s --footprint-mib N --hot-mib N [--threads N] [--seconds S | --updates N]\n"
          "          [--shift-at S] [--shift-to middle|first|MIB] [--hot-frac F] [--report-ms MS] [--seed N]\n"
          "          [--inject-fault lost|misplaced]   (test of the verification)\n",
          argv0);
  exit(2);
}

int main(int argc, char **argv) {
  uint64_t footprint_mib = 1024, hot_mib = 0, seed = 42;
  double seconds = 20, shift_at = -1, hot_frac = 0.9;
  long report_ms = 1000;
  const char *shift_to = "middle", *inject = NULL;
  static const struct option opts[] = {
      {"footprint-mib", required_argument, 0, 'f'}, {"hot-mib", required_argument, 0, 'h'},
      {"threads", required_argument, 0, 't'},       {"seconds", required_argument, 0, 's'},
      {"shift-at", required_argument, 0, 'a'},      {"shift-to", required_argument, 0, 'o'},
      {"hot-frac", required_argument, 0, 'p'},      {"report-ms", required_argument, 0, 'r'},
      {"updates", required_argument, 0, 'u'},       {"seed", required_argument, 0, 'S'},
      {"inject-fault", required_argument, 0, 'F'}, {"help", no_argument, 0, '?'},                {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'f': footprint_mib = strtoull(optarg, NULL, 0); break;
      case 'h': hot_mib = strtoull(optarg, NULL, 0); break;
      case 't': nthreads = atoi(optarg); break;
      case 's': seconds = atof(optarg); break;
      case 'a': shift_at = atof(optarg); break;
      case 'o': shift_to = optarg; break;
      case 'p': hot_frac = atof(optarg); break;
      case 'r': report_ms = atol(optarg); break;
      case 'u': fixed_updates = strtoull(optarg, NULL, 0); break;
      case 'S': seed = strtoull(optarg, NULL, 0); break;
      case 'F': inject = optarg; break;
      default: usage(argv[0]);
    }
  }
  if (optind != argc || nthreads < 1 || nthreads > 256 || footprint_mib == 0 || report_ms < 10 ||
      hot_frac < 0 || hot_frac > 1 || (!fixed_updates && seconds <= 0))
    usage(argv[0]);
  nchunks = (footprint_mib * MIB + CHUNK_BYTES - 1) / CHUNK_BYTES;
  nwords = nchunks << WORD_SHIFT;
  if (hot_mib == 0) hot_mib = footprint_mib / 8;
  hot_words = hot_mib * MIB / 8;
  if (hot_words == 0 || hot_words > nwords) {
    fprintf(stderr, "gups_hot: --hot-mib must be in 1..footprint\n");
    return 2;
  }
  hot_threshold = (uint32_t)(hot_frac * (double)(1u << 24));
  if (hot_frac >= 1) hot_threshold = 1u << 24;
  if (shift_at < 0) shift_at = seconds / 2;
  hot_start[0] = nwords - hot_words;
  if (!strcmp(shift_to, "first"))
    hot_start[1] = 0;
  else if (!strcmp(shift_to, "middle"))
    hot_start[1] = ((nwords - hot_words) / 2) & ~WORD_MASK; /* chunk-aligned */
  else {
    char *end;
    uint64_t off = strtoull(shift_to, &end, 0);
    if (*end || off * MIB / 8 + hot_words > nwords) usage(argv[0]);
    hot_start[1] = off * MIB / 8;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("# gups_hot footprint_mib=%" PRIu64 " chunks=%" PRIu64 " hot_mib=%" PRIu64 " hot_frac=%.3f threads=%d "
         "hot0_mib=%" PRIu64 " hot1_mib=%" PRIu64 " %s\n",
         nchunks * (CHUNK_BYTES / MIB), nchunks, hot_mib, hot_frac, nthreads, hot_start[0] * 8 / MIB,
         hot_start[1] * 8 / MIB, fixed_updates ? "mode=updates" : "mode=time");

  /* Allocate and touch, in order: early chunks = cold, late = initial hot set. */
  double t0 = now();
  chunks = calloc(nchunks, sizeof *chunks);
  for (uint64_t i = 0; i < nchunks; i++) {
    chunks[i] = malloc(CHUNK_BYTES);
    if (!chunks[i]) {
      fprintf(stderr, "gups_hot: malloc of chunk %" PRIu64 " failed\n", i);
      return 1;
    }
    touch(chunks[i], 0, CHUNK_BYTES);
  }
  double setup_s = now() - t0;
  printf("# setup_s=%.3f\n", setup_s);

  uint64_t sm = seed;
  for (int t = 0; t < nthreads; t++) {
    threads[t].id = t;
    threads[t].seed = splitmix64(&sm) | 1;
  }
  double start = now();
  for (int t = 0; t < nthreads; t++) pthread_create(&threads[t].tid, NULL, worker, &threads[t]);

  size_t cap = 1024, nint[2] = {0, 0};
  double *rates[2] = {malloc(cap * sizeof(double)), malloc(cap * sizeof(double))};
  uint64_t last = 0;
  double last_t = start;
  int shifted = 0, straddle = 0;
  for (long i = 1;; i++) {
    double target = start + i * report_ms / 1000.0;
    double end_t = fixed_updates ? 1e300 : start + seconds;
    double shift_t = start + shift_at;
    double wake = target;
    if (!fixed_updates && !shifted && shift_t < wake) wake = shift_t;
    if (wake > end_t) wake = end_t;
    for (double d; (d = wake - now()) > 0;) {
      struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
      nanosleep(&ts, NULL);
    }
    if (!fixed_updates && !shifted && wake == shift_t && wake < target && wake < end_t) {
      /* woken for the shift only: the interval that straddles it belongs to no phase */
      atomic_store(&phase, 1);
      shifted = straddle = 1;
      i--; /* keep the reporting grid */
      continue;
    }
    int finished = 1;
    uint64_t total = 0;
    for (int t = 0; t < nthreads; t++) {
      uint64_t d = atomic_load_explicit(&threads[t].done, memory_order_relaxed);
      total += d;
      if (!fixed_updates || d < fixed_updates) finished = 0;
    }
    double tn = now();
    int ph = fixed_updates ? total >= fixed_updates / 2 * (uint64_t)nthreads : straddle ? -1 : shifted;
    straddle = 0;
    if (!fixed_updates && !shifted && tn >= shift_t) {
      /* the shift falls on this report boundary: the interval was phase 0 */
      atomic_store(&phase, 1);
      shifted = 1;
    }
    double rate = (double)(total - last) / (tn - last_t);
    if (ph < 0)
      printf("t=%.3f updates_per_s=%.0f phase=shift\n", tn - start, rate);
    else
      printf("t=%.3f updates_per_s=%.0f phase=%d\n", tn - start, rate, ph);
    if (ph >= 0 && tn - last_t > 0.5 * report_ms / 1000.0) {
      if (nint[ph] == cap) {
        cap *= 2;
        rates[0] = realloc(rates[0], cap * sizeof(double));
        rates[1] = realloc(rates[1], cap * sizeof(double));
      }
      rates[ph][nint[ph]++] = rate;
    }
    last = total;
    last_t = tn;
    if (finished || (!fixed_updates && tn >= end_t - 1e-6)) break;
  }
  atomic_store(&stop, 1);
  uint64_t total = 0, shadow = 0;
  for (int t = 0; t < nthreads; t++) {
    pthread_join(threads[t].tid, NULL);
    total += threads[t].done;
    shadow += threads[t].shadow;
  }
  double run_s = now() - start;

  /* --inject-fault: test that verification catches a lost write (one
   * increment undone) or a misplaced one (moved to the neighbouring word). */
  if (inject) {
    uint64_t *w = NULL;
    for (uint64_t i = 0; i < nwords && !w; i++)
      if (chunks[i >> WORD_SHIFT][i & WORD_MASK]) w = &chunks[i >> WORD_SHIFT][i & WORD_MASK];
    if (w && !strcmp(inject, "lost")) {
      *w -= 1;
    } else if (w && !strcmp(inject, "misplaced")) {
      *w -= 1;
      w[w == chunks[nchunks - 1] + WORD_MASK ? -1 : 1] += 1;
    }
    printf("# injected fault: %s\n", inject);
  }
  double v0 = now();
  for (int t = 0; t < nthreads; t++) pthread_create(&threads[t].tid, NULL, verifier, &threads[t]);
  uint64_t msum = 0, mweighted = 0;
  for (int t = 0; t < nthreads; t++) {
    pthread_join(threads[t].tid, NULL);
    msum += threads[t].vsum;
    mweighted += threads[t].vweighted;
  }
  double verify_s = now() - v0;
  int ok = msum == total && mweighted == shadow;

  uint64_t checksum;
  if (fixed_updates) {
    checksum = mweighted;
  } else {
    uint64_t h = 0xC0FFEE ^ seed;
    uint64_t parts[] = {nchunks, hot_words, hot_threshold, (uint64_t)nthreads, hot_start[0], hot_start[1],
                        (uint64_t)ok};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
      h ^= parts[k];
      h = splitmix64(&h);
    }
    checksum = h;
  }
  printf("steady_mups_before_shift=%.6f\n", steady(rates[0], nint[0]) / 1e6);
  printf("steady_mups_after_shift=%.6f\n", steady(rates[1], nint[1]) / 1e6);
  printf("total_updates=%" PRIu64 "\n", total);
  printf("setup_s=%.3f\nrun_s=%.3f\nverify_s=%.3f\n", setup_s, run_s, verify_s);
  if (!ok)
    printf("# verify: memory sum %" PRIu64 " vs updates %" PRIu64 ", weighted %016" PRIx64 " vs shadow %016" PRIx64
           "\n",
           msum, total, mweighted, shadow);
  printf("verify=%s\n", ok ? "ok" : "FAIL");
  printf("checksum=%016" PRIx64 "\n", checksum);
  return ok ? 0 : 3;
}
