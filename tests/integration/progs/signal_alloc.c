/* signal_alloc: signal handlers that allocate.
 *
 * usage: signal_alloc [SECONDS=2]
 *
 * Runs SECONDS, longer (up to a minute more) if the handlers have not yet
 * allocated 50 times by then.
 *
 * setitimer(ITIMER_REAL) raises SIGALRM every millisecond (delivered to
 * whichever thread the kernel picks), and a second thread sends SIGUSR1 to
 * the main thread about every millisecond, while both threads allocate,
 * fill, check and free blocks of 16 B .. 3 MiB in a loop. Both handlers
 * malloc, fill, check and free a small block (48 B) and a large one
 * (320 KiB or 1 MiB, alternately), and call strdup; at most every 2 ms
 * (see next_round_ns).
 *
 * Why the handlers look at a flag first: malloc is not async-signal-safe
 * (POSIX). A handler that allocates while the interrupted code is itself
 * inside malloc can deadlock on the allocator's non-recursive locks, or
 * corrupt its per-thread state, with glibc as with jemalloc; real programs
 * that allocate in handlers (profilers, crash reporters, green-thread
 * runtimes) make sure they do not interrupt their own allocator. So the
 * loops here set a per-thread flag around every malloc/realloc/free they
 * make, and a handler that lands inside one only counts the signal. Outside
 * those calls (filling, checking, computing) the handler allocates. Each
 * handler blocks both signals while it runs, for the same reason (a nested
 * handler would interrupt the outer one's malloc: that deadlocked jemalloc
 * under the preload on the first try). What
 * must hold is that this behaves the same with and without the preload: no
 * deadlock, no corruption, errno preserved across the handler, every
 * handler block intact.
 *
 * stdout: deterministic lines only. Counts go to stderr. Exit status 0 if
 * everything held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tier_live.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static __thread volatile sig_atomic_t in_alloc; /* this thread is inside malloc/free */
static __thread unsigned handler_turn;
static atomic_ulong handler_allocs, handler_deferred, handler_errors, handler_errno_bad, loop_errors, loop_allocs;
static atomic_ulong signals_by_kind[2];

#define GUARDED(stmt)                          \
  do {                                         \
    in_alloc = 1;                              \
    atomic_signal_fence(memory_order_seq_cst); \
    stmt;                                      \
    atomic_signal_fence(memory_order_seq_cst); \
    in_alloc = 0;                              \
  } while (0)

static void fill(unsigned char *p, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i += 512) p[i] = (unsigned char)(i / 512 + salt);
  p[n - 1] = (unsigned char)salt;
}
static int intact(const unsigned char *p, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i += 512)
    if (p[i] != (unsigned char)(i / 512 + salt)) return 0;
  return p[n - 1] == (unsigned char)salt;
}

static int64_t now_ns(void) { /* clock_gettime is async-signal-safe */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Handlers allocate at most a third of the time: after a round that took
 * D, the next waits max(2 ms, 2 D). An allocation that has to write back
 * NVMe page cache first (a small DRAM budget on a slow or busy disk) can
 * take tens of milliseconds; a 1 kHz handler doing that every time would
 * starve the program, with any allocator whose malloc can block. */
static atomic_llong next_round_ns;

static void handler(int sig) {
  int saved = errno;
  atomic_fetch_add(&signals_by_kind[sig == SIGUSR1], 1);
  if (in_alloc) { /* interrupted inside malloc/free: do not re-enter it */
    atomic_fetch_add(&handler_deferred, 1);
    errno = saved;
    return;
  }
  int64_t t0 = now_ns();
  if (t0 < atomic_load(&next_round_ns)) {
    errno = saved;
    return;
  }
  unsigned salt = ++handler_turn;
  size_t large = (salt & 1) ? 320 * KiB : 1 * MiB;
  unsigned char *a = malloc(48), *b = malloc(large);
  char *s = strdup("handler");
  if (!a || !b || !s) {
    atomic_fetch_add(&handler_errors, 1);
  } else {
    fill(a, 48, salt);
    fill(b, large, salt);
    if (!intact(a, 48, salt) || !intact(b, large, salt) || strcmp(s, "handler") != 0)
      atomic_fetch_add(&handler_errors, 1);
    atomic_fetch_add(&handler_allocs, 3);
  }
  free(s);
  free(b);
  free(a);
  int64_t t1 = now_ns(), pause = 2 * (t1 - t0);
  atomic_store(&next_round_ns, t1 + (pause > 2000000 ? pause : 2000000));
  errno = saved;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const size_t loop_sizes[] = {16, 200, 4000, 70 * KiB, 256 * KiB, 600 * KiB, 1 * MiB, 3 * MiB};
#define NLOOP (sizeof loop_sizes / sizeof loop_sizes[0])

/* Allocation loop: keeps up to 8 blocks, replaces one per step, checks
 * what it frees, computes a little in between, and checks errno survives. */
static void alloc_loop(double until, unsigned salt0) {
  unsigned char *held[NLOOP] = {0};
  unsigned salts[NLOOP] = {0};
  uint64_t x = salt0;
  for (unsigned step = 0; now() < until; step++) {
    size_t k = step % NLOOP;
    if (held[k]) {
      if (!intact(held[k], loop_sizes[k], salts[k])) atomic_fetch_add(&loop_errors, 1);
      GUARDED(free(held[k]));
      held[k] = NULL;
    }
    unsigned char *p;
    GUARDED(p = malloc(loop_sizes[k]));
    if (!p) { atomic_fetch_add(&loop_errors, 1); continue; }
    salts[k] = salt0 + step;
    fill(p, loop_sizes[k], salts[k]);
    if (step % 5 == 0) { /* grow or shrink it across the threshold */
      size_t m = loop_sizes[(k + 3) % NLOOP];
      unsigned char *q;
      GUARDED(q = realloc(p, m));
      if (!q) { atomic_fetch_add(&loop_errors, 1); GUARDED(free(p)); continue; }
      size_t kept = m < loop_sizes[k] ? m : loop_sizes[k];
      if (q[0] != (unsigned char)salts[k] || (kept > 512 && q[512] != (unsigned char)(1 + salts[k])))
        atomic_fetch_add(&loop_errors, 1);
      GUARDED(free(q));
      GUARDED(p = malloc(loop_sizes[k]));
      if (!p) { atomic_fetch_add(&loop_errors, 1); continue; }
      fill(p, loop_sizes[k], salts[k]);
    }
    held[k] = p;
    atomic_fetch_add(&loop_allocs, 1);
    errno = 0;
    for (int i = 0; i < 2000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull; /* compute */
    if (errno != 0) atomic_fetch_add(&handler_errno_bad, 1);
  }
  for (size_t k = 0; k < NLOOP; k++)
    if (held[k]) {
      if (!intact(held[k], loop_sizes[k], salts[k])) atomic_fetch_add(&loop_errors, 1);
      GUARDED(free(held[k]));
    }
  if (x == 42) fprintf(stderr, "unlikely\n");
}

static pthread_t main_thread;
static double deadline, hard_deadline;

/* Run for the requested time, and on until the handlers have allocated
 * MIN_ROUNDS times: under a small DRAM budget, placements on the NVMe tier
 * write back the previous data first and can be slow enough on a busy
 * machine that a fixed time would see only a few signals. */
#define MIN_ROUNDS 50
static int keep_going(void) {
  double t = now();
  return t < deadline || (handler_allocs < 3 * MIN_ROUNDS && t < hard_deadline);
}

static void *second(void *arg) {
  (void)arg;
  /* pokes the main thread with SIGUSR1 every ~1 ms, between own work */
  while (keep_going()) {
    alloc_loop(now() + 0.001, 1000);
    pthread_kill(main_thread, SIGUSR1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  tier_live start, end;
  tier_live_read(&start);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  /* Neither handler may interrupt the other: a nested handler would land
   * inside the outer one's malloc. */
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGALRM);
  sigaddset(&sa.sa_mask, SIGUSR1);
  if (sigaction(SIGALRM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0) return 2;

  /* 14 MiB held throughout: under a 16 MiB DRAM budget, most of the large
   * blocks below then go to the next tier (NVMe). */
  size_t ballast_n = 14 * MiB;
  unsigned char *ballast = malloc(ballast_n);
  if (!ballast) return 2;
  fill(ballast, ballast_n, 77);

  main_thread = pthread_self();
  deadline = now() + seconds;
  hard_deadline = deadline + 60;
  pthread_t t;
  if (pthread_create(&t, NULL, second, NULL) != 0) return 2;
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
  while (keep_going()) alloc_loop(now() + 0.1, 1);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  pthread_join(t, NULL);
  /* a signal still pending from before the timer stopped */
  signal(SIGALRM, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);

  int ballast_ok = intact(ballast, ballast_n, 77);
  free(ballast);
  tier_live_read(&end);
  tier_live_print("tiers at end", &end);
  fprintf(stderr, "nvme allocations: %llu\n", (unsigned long long)tier_live_allocs(&start, &end, "nvme"));
  fprintf(stderr, "ran %.1f s; SIGALRM %lu, SIGUSR1 %lu, handler allocations %lu, deferred (inside malloc) %lu, loop allocations %lu\n",
          now() - (deadline - seconds), (unsigned long)signals_by_kind[0], (unsigned long)signals_by_kind[1], (unsigned long)handler_allocs,
          (unsigned long)handler_deferred, (unsigned long)loop_allocs);
  int live_ok = tier_live_back(&start, &end, 1);
  printf("signals delivered and handled: %s\n", signals_by_kind[0] + signals_by_kind[1] >= MIN_ROUNDS ? "yes" : "no");
  printf("handlers allocated: %s\n", handler_allocs >= 3 * MIN_ROUNDS ? "yes" : "no");
  printf("handler blocks intact: %s\n", handler_errors == 0 ? "yes" : "no");
  printf("loop blocks intact: %s\n", loop_errors == 0 && ballast_ok ? "yes" : "no");
  printf("errno preserved across handlers: %s\n", handler_errno_bad == 0 ? "yes" : "no");
  printf("tier live bytes back at the end: %s\n", live_ok ? "yes" : "no");
  int ok = signals_by_kind[0] + signals_by_kind[1] >= MIN_ROUNDS && handler_allocs >= 3 * MIN_ROUNDS && !handler_errors && !loop_errors && ballast_ok &&
           !handler_errno_bad && live_ok;
  printf("signal_alloc: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
