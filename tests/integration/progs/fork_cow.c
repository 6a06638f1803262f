/* fork_cow: fork() must give parent and child private copy-on-write views.
 *
 * usage: fork_cow [LARGEST_MIB=64] [DEPTH=2]
 *
 * Generation 0 allocates small buffers and large ones (1 MiB up to
 * LARGEST_MIB, the tiered heap) and fills them. It forks; parent and child
 * then take turns, in lock-step over pipes:
 *   1. both check the inherited contents,
 *   2. the parent writes its own pattern everywhere; the child checks it
 *      still sees the inherited one,
 *   3. the child writes its own pattern; the parent checks it still sees its
 *      own,
 *   4. both allocate new buffers, fill and check them, realloc() a large
 *      inherited buffer larger and check the kept prefix, free some.
 * The child then does the same with a grandchild (DEPTH generations of
 * children in all). After its child exits, every process checks its own view
 * once more. Two helper threads keep allocating and freeing large blocks
 * while generation 0 forks (the fork must not deadlock or corrupt them).
 * Exit status 0 if all checks pass; a mismatch prints MISMATCH and exits 1.
 * alarm(120) turns a deadlock into a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define MAXBUF 64

static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t seed; /* pattern this process expects in the buffer */
} buf;

static buf bufs[MAXBUF];
static int nbufs;
static int failures;
static char who[32] = "gen0";

static void fill(buf *b, uint64_t seed) {
  size_t words = b->size / 8;
  for (size_t i = 0; i < words; i++) {
    uint64_t v = mix64(seed ^ (i * 0x9e37ull));
    memcpy(b->p + 8 * i, &v, 8);
  }
  for (size_t i = words * 8; i < b->size; i++) b->p[i] = (unsigned char)(seed + i);
  b->seed = seed;
}

/* Checks the first n bytes of b against its pattern. */
static int check_prefix(const buf *b, size_t n, const char *what) {
  size_t words = n / 8;
  for (size_t i = 0; i < words; i++) {
    uint64_t v, want = mix64(b->seed ^ (i * 0x9e37ull));
    memcpy(&v, b->p + 8 * i, 8);
    if (v != want) {
      printf("%s: MISMATCH %s: buffer of %zu bytes at offset %zu: got %016" PRIx64
             " want %016" PRIx64 "\n", who, what, b->size, 8 * i, v, want);
      failures++;
      return 0;
    }
  }
  for (size_t i = words * 8; i < n; i++) {
    if (b->p[i] != (unsigned char)(b->seed + i)) {
      printf("%s: MISMATCH %s: buffer of %zu bytes at offset %zu (tail)\n", who, what, b->size, i);
      failures++;
      return 0;
    }
  }
  return 1;
}

static void check_all(const char *what) {
  int ok = 0;
  size_t bytes = 0;
  for (int i = 0; i < nbufs; i++) {
    ok += check_prefix(&bufs[i], bufs[i].size, what);
    bytes += bufs[i].size;
  }
  printf("%s: %s: %d/%d buffers ok (%zu MiB)\n", who, what, ok, nbufs, bytes / MiB);
  fflush(stdout);
}

static void fill_all(uint64_t seed) {
  for (int i = 0; i < nbufs; i++) fill(&bufs[i], seed + (uint64_t)i * 1000003u);
}

static buf *add_buf(size_t size, uint64_t seed) {
  if (nbufs >= MAXBUF) { printf("%s: too many buffers\n", who); exit(2); }
  buf *b = &bufs[nbufs];
  b->p = malloc(size);
  if (!b->p) {
    printf("%s: MISMATCH malloc(%zu) returned NULL: %s\n", who, size, strerror(errno));
    failures++;
    return NULL;
  }
  b->size = size;
  nbufs++;
  fill(b, seed);
  return b;
}

/* ---- lock-step over pipes ---- */
static void send_token(int fd, char c) {
  if (write(fd, &c, 1) != 1) { perror("write(pipe)"); exit(2); }
}
static void wait_token(int fd, char want) {
  char c;
  ssize_t r;
  do { r = read(fd, &c, 1); } while (r < 0 && errno == EINTR);
  if (r != 1 || c != want) {
    printf("%s: peer went away (wanted token %c, read returned %zd)\n", who, want, r);
    exit(3);
  }
}

/* After-fork work on one side: new buffers, realloc growth, frees. */
static void post_fork_allocs(uint64_t seed) {
  int before = nbufs;
  add_buf(100, seed + 1);
  add_buf(3000, seed + 2);
  add_buf(2 * MiB + 12345, seed + 3);
  add_buf(16 * MiB, seed + 4);
  for (int i = before; i < nbufs; i++) check_prefix(&bufs[i], bufs[i].size, "new buffer after fork");

  /* grow the largest inherited buffer: its data must move with it */
  int big = 0;
  for (int i = 1; i < before; i++)
    if (bufs[i].size > bufs[big].size) big = i;
  buf *b = &bufs[big];
  size_t old = b->size, nsize = old + 8 * MiB + 7;
  unsigned char *q = realloc(b->p, nsize);
  if (!q) {
    printf("%s: MISMATCH realloc(%zu -> %zu) failed\n", who, old, nsize);
    failures++;
  } else {
    b->p = q;
    check_prefix(b, old, "prefix kept by realloc after fork");
    b->size = nsize;
    fill(b, b->seed);
  }
  /* free a small and a large inherited buffer (the peer still uses its copy) */
  int small = -1, large = -1;
  for (int i = 0; i < before; i++) {
    if (small < 0 && bufs[i].size < 256 * 1024) small = i;
    if (large < 0 && bufs[i].size >= MiB && i != big) large = i;
  }
  for (int k = 0; k < 2; k++) {
    int i = k == 0 ? large : small;
    if (i < 0) continue;
    free(bufs[i].p);
    bufs[i] = bufs[--nbufs];
    if (big == nbufs) big = i;
  }
}

static void *churn(void *arg) {
  atomic_int *stop = arg;
  uint64_t r = 7;
  while (!atomic_load(stop)) {
    size_t n = (size_t)(256 * 1024 + mix64(r++) % (4 * MiB));
    unsigned char *p = malloc(n);
    if (p) { memset(p, 0x33, n); free(p); }
  }
  return NULL;
}

/* Runs one fork generation; returns only in the process that called it. */
static void generation(int gen, int depth) {
  int p2c[2], c2p[2];
  if (pipe(p2c) || pipe(c2p)) { perror("pipe"); exit(2); }
  uint64_t pseed = 0x1000ull * (uint64_t)(gen + 1) + 0xa, cseed = pseed + 0x500;

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); exit(2); }
  if (pid == 0) {
    /* child */
    snprintf(who, sizeof who, "gen%d", gen + 1);
    close(p2c[1]); close(c2p[0]);
    check_all("inherited view after fork");
    send_token(c2p[1], 'a');
    wait_token(p2c[0], 'b');            /* parent has written its pattern */
    check_all("inherited view after parent wrote");
    fill_all(cseed);
    check_all("own pattern");
    send_token(c2p[1], 'c');
    wait_token(p2c[0], 'd');            /* parent checked and allocated */
    post_fork_allocs(cseed + 0x77);
    check_all("after own allocs/realloc/free");
    close(p2c[0]); close(c2p[1]);
    if (gen + 1 < depth) generation(gen + 1, depth);
    check_all("final");
    fflush(stdout);
    exit(failures ? 1 : 0);
  }
  /* parent */
  close(p2c[0]); close(c2p[1]);
  check_all("own view after fork");
  wait_token(c2p[0], 'a');
  fill_all(pseed);
  check_all("own pattern");
  send_token(p2c[1], 'b');
  wait_token(c2p[0], 'c');              /* child has written its pattern */
  check_all("own view after child wrote");
  post_fork_allocs(pseed + 0x77);
  check_all("after own allocs/realloc/free");
  send_token(p2c[1], 'd');
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("%s: MISMATCH child gen%d failed: %s %d\n", who, gen + 1,
           WIFEXITED(status) ? "exit" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    failures++;
  } else {
    printf("%s: child gen%d passed\n", who, gen + 1);
  }
  check_all("own view after child exited");
  close(p2c[1]); close(c2p[0]);
}

int main(int argc, char **argv) {
  unsigned largest = argc > 1 ? (unsigned)atoi(argv[1]) : 64;
  int depth = argc > 2 ? atoi(argv[2]) : 2;
  if (largest < 1 || largest > 1024 || depth < 1 || depth > 8) {
    fprintf(stderr, "usage: %s [LARGEST_MIB 1..1024] [DEPTH 1..8]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  alarm(120);

  /* small buffers (always DRAM arenas) */
  for (int i = 0; i < 8; i++) add_buf((size_t)(16 << i) + (size_t)i, 100 + (uint64_t)i);
  add_buf(300 * 1024, 200);           /* just above the 256 KiB tiering threshold */
  for (unsigned m = 1; m <= largest; m *= 2) add_buf((size_t)m * MiB, 300 + m);
  if (largest & (largest - 1)) add_buf((size_t)largest * MiB, 999);
  check_all("initial fill");

  atomic_int stop = 0;
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, churn, &stop);

  generation(0, depth);

  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);

  /* everything can be freed and allocated again after the children are gone */
  for (int i = 0; i < nbufs; i++) free(bufs[i].p);
  nbufs = 0;
  add_buf((size_t)largest * MiB, 4242);
  add_buf(5 * MiB + 1, 4343);
  check_all("re-allocated after children exited");

  printf("fork_cow: %s (%d failures)\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}
