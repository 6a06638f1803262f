/* edge_cases: the corners of the malloc API, as glibc behaves.
 *
 * usage: edge_cases
 *
 * Prints one line per check, "ok - ..." or "not ok - ...", then
 * "edge_cases: N ok, M not ok". Exit status 0 if every check passed.
 * Sizes straddle the tiering threshold (256 KiB) and the default extent
 * (2 MiB) so that both the DRAM arenas and the tiered heap are exercised.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static int n_ok, n_bad;

/* Hides constant sizes from the compiler, which would otherwise warn about
 * (or fold) the deliberately impossible requests below. */
static size_t opaque(size_t x) {
  volatile size_t v = x;
  return v;
}
#define HALF_MAX opaque(SIZE_MAX / 2)

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
/* realloc/reallocarray failing must leave the old block valid: using it
 * afterwards is the point of those checks. */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

static void check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int cond, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s - ", cond ? "ok" : "not ok");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (cond) n_ok++; else n_bad++;
}

/* Interesting sizes: tiny, around the 256 KiB threshold, around an extent. */
static const size_t sizes[] = {
  1, 7, 16, 100, 4096, 65536 + 3,
  256 * KiB - 1, 256 * KiB, 256 * KiB + 1,
  1 * MiB, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 5 * MiB + 3, 33 * MiB,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static unsigned char pat(size_t i, unsigned salt) { return (unsigned char)((i * 131u + salt) ^ (i >> 9)); }

static void fill(unsigned char *p, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++) p[i] = pat(i, salt);
}
static size_t first_diff(const unsigned char *p, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pat(i, salt)) return i;
  return (size_t)-1;
}
static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static void test_malloc0(void) {
  enum { N = 64 };
  void *p[N];
  int nonnull = 1, unique = 1;
  for (int i = 0; i < N; i++) {
    p[i] = malloc(0);
    if (!p[i]) nonnull = 0;
    for (int j = 0; j < i; j++)
      if (p[i] && p[i] == p[j]) unique = 0;
  }
  check(nonnull, "malloc(0) returns non-NULL (%d calls)", N);
  check(unique, "malloc(0) pointers are unique while live");
  for (int i = 0; i < N; i++) free(p[i]);
  free(NULL);
  check(1, "free(NULL) is a no-op");
  void *q = realloc(NULL, 300 * KiB);
  check(q != NULL, "realloc(NULL, 300KiB) acts as malloc");
  if (q) memset(q, 1, 300 * KiB);
  free(q);
}

static void test_realloc_zero(void) {
  /* glibc (man 3 realloc): realloc(p, 0) with p != NULL is free(p), returns NULL */
  int nulls = 0;
  for (size_t k = 0; k < NSIZES; k++) {
    void *p = malloc(sizes[k]);
    if (!p) { check(0, "malloc(%zu) for realloc-to-0", sizes[k]); continue; }
    memset(p, 0x11, sizes[k]);
    void *q = realloc(p, 0);
    if (q == NULL) nulls++;
    free(q);
  }
  check(nulls == (int)NSIZES, "realloc(p, 0) frees p and returns NULL like glibc, %zu sizes 1 B..33 MiB (%d NULL)",
        NSIZES, nulls);
}

static void test_realloc_growth(void) {
  /* grow 1 B -> 64 MiB by doubling (plus odd steps), then shrink back */
  size_t cur = 1;
  unsigned char *p = malloc(cur);
  fill(p, cur, 7);
  int ok = 1;
  size_t steps = 0, where = 0, at = 0;
  while (cur < 64 * MiB) {
    size_t next = cur * 2 + (steps % 3 == 0 ? 3 : 0);
    if (next > 64 * MiB) next = 64 * MiB;
    unsigned char *q = realloc(p, next);
    if (!q) { ok = 0; at = next; break; }
    size_t d = first_diff(q, cur, 7);
    if (d != (size_t)-1) { ok = 0; where = d; at = next; p = q; break; }
    p = q;
    fill(p, next, 7); /* rewrite all so the next check covers the new part */
    cur = next;
    steps++;
  }
  check(ok, "realloc growth 1 B -> 64 MiB in %zu steps keeps contents%s", steps,
        ok ? "" : " (lost data)");
  if (!ok) printf("#   first difference at offset %zu when growing to %zu\n", where, at);
  ok = 1;
  size_t shrink_steps = 0;
  while (ok && cur > 1) {
    size_t next = cur / 3 + 1;
    unsigned char *q = realloc(p, next);
    if (!q) { ok = 0; break; }
    p = q;
    if (first_diff(p, next, 7) != (size_t)-1) ok = 0;
    cur = next;
    shrink_steps++;
    if (next == 1) break;
  }
  check(ok, "realloc shrink 64 MiB -> 1 B in %zu steps keeps the prefix", shrink_steps);
  free(p);

  /* in-place style regrowth of a large block across the tiering threshold */
  p = malloc(200 * KiB);
  fill(p, 200 * KiB, 9);
  unsigned char *q = realloc(p, 3 * MiB);
  check(q && first_diff(q, 200 * KiB, 9) == (size_t)-1, "realloc 200 KiB -> 3 MiB (crosses the 256 KiB threshold)");
  if (q) { fill(q, 3 * MiB, 10); p = q; }
  q = realloc(p, 100 * KiB);
  check(q && first_diff(q, 100 * KiB, 10) == (size_t)-1, "realloc 3 MiB -> 100 KiB (back below the threshold)");
  free(q ? q : p);
}

static void test_alignment(void) {
  const size_t asz[] = {1, 100, 300 * KiB, 3 * MiB};
  int bad_pm = 0, bad_aa = 0, bad_ma = 0, tried = 0;
  for (size_t a = sizeof(void *); a <= MiB; a *= 2) {
    for (size_t k = 0; k < sizeof asz / sizeof asz[0]; k++) {
      size_t n = asz[k];
      void *p = NULL;
      tried++;
      int rc = posix_memalign(&p, a, n);
      if (rc || !p || ((uintptr_t)p & (a - 1))) {
        bad_pm++;
        printf("#   posix_memalign(align %zu, %zu) rc=%d p=%p\n", a, n, rc, p);
      } else {
        memset(p, 0xcd, n);
        if (malloc_usable_size(p) < n) bad_pm++;
      }
      free(p);
      size_t an = (n + a - 1) / a * a; /* C11: size a multiple of alignment */
      p = aligned_alloc(a, an);
      if (!p || ((uintptr_t)p & (a - 1))) {
        bad_aa++;
        printf("#   aligned_alloc(%zu, %zu) = %p\n", a, an, p);
      } else {
        memset(p, 0xce, an);
      }
      free(p);
      p = memalign(a, n);
      if (!p || ((uintptr_t)p & (a - 1))) {
        bad_ma++;
        printf("#   memalign(%zu, %zu) = %p\n", a, n, p);
      } else {
        memset(p, 0xcf, n);
      }
      free(p);
    }
  }
  check(!bad_pm, "posix_memalign alignments %zu..1 MiB x %zu sizes (up to 3 MiB): aligned, usable, writable",
        sizeof(void *), sizeof asz / sizeof asz[0]);
  check(!bad_aa, "aligned_alloc alignments %zu..1 MiB: aligned and writable", sizeof(void *));
  check(!bad_ma, "memalign alignments %zu..1 MiB: aligned and writable (%d combinations each)",
        sizeof(void *), tried);

  void *p = (void *)1;
  int rc = posix_memalign(&p, 24, 64);
  check(rc == EINVAL, "posix_memalign with alignment 24 (not a power of two) -> EINVAL (rc=%d)", rc);
  rc = posix_memalign(&p, sizeof(void *) / 2, 64);
  check(rc == EINVAL, "posix_memalign with alignment %zu (< sizeof(void*)) -> EINVAL (rc=%d)",
        sizeof(void *) / 2, rc);
  p = NULL;
  rc = posix_memalign(&p, 4096, HALF_MAX);
  check(rc == ENOMEM && p == NULL, "posix_memalign(4096, SIZE_MAX/2) -> ENOMEM (rc=%d)", rc);

  long page = sysconf(_SC_PAGESIZE);
  const size_t vsz[] = {1, (size_t)page + 1, 300 * KiB, 3 * MiB + 5};
  int bad_v = 0, bad_pv = 0;
  for (size_t k = 0; k < 4; k++) {
    void *v = valloc(vsz[k]);
    if (!v || ((uintptr_t)v % (uintptr_t)page)) bad_v++;
    else memset(v, 1, vsz[k]);
    free(v);
    void *pv = pvalloc(vsz[k]);
    size_t rounded = (vsz[k] + (size_t)page - 1) / (size_t)page * (size_t)page;
    if (!pv || ((uintptr_t)pv % (uintptr_t)page) || malloc_usable_size(pv) < rounded) bad_pv++;
    else memset(pv, 2, rounded); /* pvalloc rounds the size up to whole pages */
    free(pv);
  }
  check(!bad_v, "valloc: page-aligned for sizes 1 B..3 MiB");
  check(!bad_pv, "pvalloc: page-aligned, whole pages usable for sizes 1 B..3 MiB");
}

static void test_calloc(void) {
  const size_t csz[] = {256 * KiB - 1, 256 * KiB, 256 * KiB + 1, 1 * MiB, 2 * MiB + 1, 8 * MiB, 64 * MiB};
  int bad = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t k = 0; k < sizeof csz / sizeof csz[0]; k++) {
      /* dirty a block of the same size first, so a recycled block must be re-zeroed */
      unsigned char *d = malloc(csz[k]);
      if (d) memset(d, 0xab, csz[k]);
      free(d);
      unsigned char *p = calloc(1, csz[k]);
      if (!p || !all_zero(p, csz[k])) {
        bad++;
        printf("#   calloc(1, %zu) round %d: %s\n", csz[k], round, p ? "not zeroed" : "NULL");
      }
      if (p) memset(p, 0xab, csz[k]); /* dirty it for the next round */
      free(p);
    }
  }
  unsigned char *p = calloc(1024, 64 * KiB); /* 64 MiB as nmemb x size */
  check(p && all_zero(p, 64 * MiB), "calloc(1024, 64 KiB) is zeroed");
  free(p);
  check(!bad, "calloc zeroes large blocks (256 KiB-1 .. 64 MiB, recycled after being dirtied, 3 rounds)");

  errno = 0;
  p = calloc(HALF_MAX, 4);
  int e = errno;
  check(p == NULL && e == ENOMEM, "calloc(SIZE_MAX/2, 4) overflows -> NULL, errno ENOMEM (errno=%d)", e);
  free(p);
  errno = 0;
  p = calloc(opaque((size_t)1 << 33), (size_t)1 << 32);
  e = errno;
  check(p == NULL && e == ENOMEM, "calloc(2^33, 2^32) overflows -> NULL, errno ENOMEM (errno=%d)", e);
  free(p);
}

static void test_huge(void) {
  errno = 0;
  void *p = malloc(HALF_MAX);
  int e = errno;
  check(p == NULL && e == ENOMEM, "malloc(SIZE_MAX/2) -> NULL, errno ENOMEM (errno=%d)", e);
  free(p);
  errno = 0;
  p = malloc(opaque(SIZE_MAX));
  e = errno;
  check(p == NULL && e == ENOMEM, "malloc(SIZE_MAX) -> NULL, errno ENOMEM (errno=%d)", e);
  free(p);
  errno = 0;
  p = malloc(opaque((size_t)1 << 60)); /* 1 EiB: past any address space */
  e = errno;
  check(p == NULL && e == ENOMEM, "malloc(1 EiB) -> NULL, errno ENOMEM (errno=%d)", e);
  free(p);

  unsigned char *q = malloc(3 * MiB);
  fill(q, 3 * MiB, 3);
  errno = 0;
  void *r = realloc(q, HALF_MAX);
  e = errno;
  check(r == NULL && e == ENOMEM && first_diff(q, 3 * MiB, 3) == (size_t)-1,
        "realloc(3 MiB block, SIZE_MAX/2) -> NULL, ENOMEM, old block intact (errno=%d)", e);
  free(r ? r : q);
}

static void test_usable_size(void) {
  int bad = 0;
  for (size_t k = 0; k < NSIZES; k++) {
    unsigned char *p = malloc(sizes[k]);
    size_t u = p ? malloc_usable_size(p) : 0;
    if (!p || u < sizes[k]) {
      bad++;
      printf("#   malloc_usable_size(malloc(%zu)) = %zu\n", sizes[k], u);
    } else {
      memset(p, 0x77, u); /* the whole usable size must be writable */
    }
    free(p);
  }
  check(!bad, "malloc_usable_size >= requested and writable, %zu sizes 1 B..33 MiB", NSIZES);
  check(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) == 0");
}

static void test_reallocarray(void) {
  unsigned char *p = reallocarray(NULL, 1000, 1000); /* ~1 MB */
  check(p != NULL, "reallocarray(NULL, 1000, 1000) allocates");
  if (!p) return;
  fill(p, 1000 * 1000, 5);
  unsigned char *q = reallocarray(p, 3000, 1000);
  check(q && first_diff(q, 1000 * 1000, 5) == (size_t)-1, "reallocarray grows to 3 MB keeping contents");
  if (q) p = q;
  errno = 0;
  q = reallocarray(p, HALF_MAX, 3);
  int e = errno;
  check(q == NULL && e == ENOMEM && first_diff(p, 1000 * 1000, 5) == (size_t)-1,
        "reallocarray(p, SIZE_MAX/2, 3) overflows -> NULL, ENOMEM, p intact (errno=%d)", e);
  free(p);
}

static void test_many_large_cycles(void) {
  /* free + malloc of tiered-size blocks many times: nothing may run out */
  int ok = 1;
  for (int i = 0; i < 2000 && ok; i++) {
    size_t n = (size_t)(256 * KiB) + (size_t)(i % 17) * 123457u;
    unsigned char *p = malloc(n);
    if (!p) { ok = 0; break; }
    p[0] = 1; p[n / 2] = 2; p[n - 1] = 3;
    if (p[0] + p[n / 2] + p[n - 1] != 6) ok = 0;
    free(p);
  }
  check(ok, "2000 malloc/free cycles of 256 KiB..2.3 MiB blocks");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_malloc0();
  test_realloc_zero();
  test_realloc_growth();
  test_alignment();
  test_calloc();
  test_huge();
  test_usable_size();
  test_reallocarray();
  test_many_large_cycles();
  printf("edge_cases: %d ok, %d not ok\n", n_ok, n_bad);
  return n_bad ? 1 : 0;
}
