// move_stall: how long the threads of a program stand still while tiermem
// moves extents, measured from inside the program.
//
//   move_stall SECONDS TIERED_MIB
//
// A writer thread keeps updating random words of a TIERED_MIB buffer (tiered
// memory, which the mover moves); a ticker thread wakes every millisecond,
// touches no tiered memory, and notes how late each wake-up was. With the
// stop-the-world engine every pause holds the ticker too; with the
// userfaultfd engine only a thread touching the moving extent waits. Run it
// under `TIERMEM_FORCE_MOVES=1 tiermem run ...` (bench/move_stall.sh).
// Prints key=value lines: the ticker's lateness histogram and the gaps
// between the writer's rounds of 256 updates (>1, >2, >5, >10, >20, >50
// ms), the longest of each, how often the main
// thread's nanosleep() was cut short by a signal (EINTR), and the writer's
// updates and checksum (every update is re-read at the end).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double kBucketsMs[] = {1, 2, 5, 10, 20, 50};
enum { kBuckets = sizeof kBucketsMs / sizeof kBucketsMs[0] };

struct Gaps {
  uint64_t over[kBuckets];
  uint64_t max_ns;
  uint64_t iterations;
};

static atomic_int g_stop;
static uint64_t* g_buf;
static size_t g_words;

static uint64_t NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void Note(struct Gaps* g, uint64_t gap) {
  if (gap > g->max_ns) g->max_ns = gap;
  for (int b = 0; b < kBuckets; ++b) {
    if (gap > (uint64_t)(kBucketsMs[b] * 1e6)) ++g->over[b];
  }
  ++g->iterations;
}

static uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// Wakes every millisecond (an absolute deadline, so lateness does not
// accumulate) and notes how late each wake-up was: a latency-sensitive
// thread that touches no tiered memory. EINTR (a stop-the-world signal)
// ends a sleep early; that counts as a wake-up on time.
static void* Ticker(void* arg) {
  struct Gaps* g = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    next.tv_nsec += 1000000;
    if (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      ++next.tv_sec;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
    const uint64_t due = (uint64_t)next.tv_sec * 1000000000u + (uint64_t)next.tv_nsec;
    const uint64_t now = NowNs();
    Note(g, now > due ? now - due : 0);
    if (now > due + 1000000) next = (struct timespec){(time_t)(now / 1000000000u), (long)(now % 1000000000u)};
  }
  return NULL;
}

static uint64_t g_updates;

static void* Writer(void* arg) {
  struct Gaps* g = arg;
  uint64_t x = 1, n = 0;
  uint64_t last = NowNs();
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      x = Mix(x + 1);
      g_buf[x % g_words] += 1;
      ++n;
    }
    const uint64_t now = NowNs();
    Note(g, now - last);
    last = now;
  }
  g_updates = n;
  return NULL;
}

static void Print(const char* who, const struct Gaps* g) {
  printf("%s_iterations=%llu\n%s_max_ms=%.2f\n", who, (unsigned long long)g->iterations, who, g->max_ns / 1e6);
  for (int b = 0; b < kBuckets; ++b) printf("%s_over_%gms=%llu\n", who, kBucketsMs[b], (unsigned long long)g->over[b]);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SECONDS TIERED_MIB\n", argv[0]);
    return 2;
  }
  const int seconds = atoi(argv[1]);
  const size_t bytes = (size_t)atoi(argv[2]) << 20;
  g_words = bytes / sizeof(uint64_t);
  g_buf = malloc(bytes);
  if (g_buf == NULL) return 1;
  memset(g_buf, 0, bytes);
  struct Gaps ticker = {0}, writer = {0};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, Ticker, &ticker);
  pthread_create(&t2, NULL, Writer, &writer);
  // nanosleep() is one of the calls any signal interrupts, SA_RESTART or
  // not: a stop-the-world pause cuts it short (EINTR). Count those, and
  // sleep the rest.
  struct timespec left = {seconds, 0};
  unsigned eintr = 0;
  while (nanosleep(&left, &left) != 0 && errno == EINTR) ++eintr;
  atomic_store(&g_stop, 1);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  uint64_t sum = 0;
  for (size_t i = 0; i < g_words; ++i) sum += g_buf[i];
  Print("ticker", &ticker);
  Print("writer", &writer);
  printf("sleep_eintr=%u\n", eintr);
  printf("updates=%llu\nverify=%s\n", (unsigned long long)g_updates, sum == g_updates ? "ok" : "FAIL");
  free(g_buf);
  return sum == g_updates ? 0 : 1;
}
