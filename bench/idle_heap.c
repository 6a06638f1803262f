/* bench/idle_heap: the cost of heat sampling and tiering on a large heap.
 *
 *   idle_heap GIB HOT_MIB CONVERGE_S IDLE_S
 *
 * Allocates GIB GiB in 64 MiB blocks (plain malloc) and writes every page;
 * then updates a hot set of HOT_MIB in the last-allocated blocks (which a
 * DRAM budget put on the slow tier) for CONVERGE_S seconds; then sleeps
 * IDLE_S seconds touching nothing. It prints "phase NAME pid PID" when each
 * phase starts, so a driver (bench/tiering_cost.sh) can read the process's
 * stats around the phases, and "done" at the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: idle_heap GIB HOT_MIB CONVERGE_S IDLE_S\n");
    return 2;
  }
  const size_t block = 64u << 20;
  const size_t nblocks = (size_t)atol(argv[1]) * 16;
  const size_t hot_blocks = ((size_t)atol(argv[2]) << 20) / block;
  const double converge = atof(argv[3]), idle = atof(argv[4]);
  unsigned char **b = malloc(nblocks * sizeof *b);
  printf("phase fill pid %d\n", getpid());
  fflush(stdout);
  for (size_t i = 0; i < nblocks; i++) {
    b[i] = malloc(block);
    if (!b[i]) {
      fprintf(stderr, "idle_heap: malloc failed at block %zu\n", i);
      return 1;
    }
    memset(b[i], (int)(i & 0xff), block);
  }
  printf("phase converge pid %d\n", getpid());
  fflush(stdout);
  uint64_t x = 88172645463325252ull, updates = 0;
  const double t0 = now();
  while (now() - t0 < converge) {
    for (int k = 0; k < 100000; k++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      unsigned char *p = b[nblocks - 1 - (x % hot_blocks)];
      p[(x >> 16) % block]++;
      updates++;
    }
  }
  printf("phase idle pid %d updates %llu\n", getpid(), (unsigned long long)updates);
  fflush(stdout);
  sleep((unsigned)idle);
  printf("phase end pid %d\n", getpid());
  fflush(stdout);
  sleep(2);  /* the driver reads the stats meanwhile */
  uint64_t sum = 0;
  for (size_t i = 0; i < nblocks; i++) sum += b[i][0];
  printf("done sum %llu\n", (unsigned long long)sum);
  return 0;
}
