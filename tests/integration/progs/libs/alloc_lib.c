/* alloc_lib: a shared library for dlopen_alloc (tests/integration/progs).
 *
 * edge_cases_more.sh compiles it with `cc -shared -fPIC` into the test's
 * temp dir (the CMake glob builds only files directly in progs/).
 *
 * Its constructor allocates a small block, a 1 MiB and a 3 MiB block (and
 * a strdup'ed string, a calloc'ed array and a posix_memalign'ed block) and
 * fills them; its destructor, run by dlclose or at exit, checks and frees
 * them. The exported functions hand out blocks the main program frees and
 * free blocks the main program allocated. Every allocation goes through
 * whatever `malloc` the process resolved: glibc's, or the preload's.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static unsigned char pat(size_t i, unsigned salt) { return (unsigned char)((i * 167u + salt) ^ (i >> 11)); }

void alloc_lib_fill(void *p, size_t n, unsigned salt) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = pat(i, salt);
}

/* 1 if the n bytes at p hold the pattern of `salt`. */
int alloc_lib_check(const void *p, size_t n, unsigned salt) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != pat(i, salt)) return 0;
  return 1;
}

static struct {
  void *p;
  size_t n;
  unsigned salt;
} ctor_blocks[3];
static char *ctor_string;
static uint64_t *ctor_array;
static void *ctor_aligned;
static int ctor_ok;
static int generation; /* constructor runs seen by this copy of the library */

/* Reported through write(2): stdio may already be shut down at exit. */
static void say(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

__attribute__((constructor)) static void alloc_lib_init(void) {
  static const size_t sizes[3] = {40, 1 * MiB, 3 * MiB + 5};
  ctor_ok = 1;
  generation++;
  for (int i = 0; i < 3; i++) {
    ctor_blocks[i].n = sizes[i];
    ctor_blocks[i].salt = 0xc0u + (unsigned)i;
    ctor_blocks[i].p = malloc(sizes[i]);
    if (!ctor_blocks[i].p) { ctor_ok = 0; continue; }
    alloc_lib_fill(ctor_blocks[i].p, sizes[i], ctor_blocks[i].salt);
  }
  ctor_string = strdup("allocated by alloc_lib's constructor");
  ctor_array = calloc(512 * 1024, sizeof *ctor_array); /* 4 MiB, must read as zeros */
  if (!ctor_string || !ctor_array) ctor_ok = 0;
  for (size_t i = 0; ctor_array && i < 512 * 1024; i += 4096)
    if (ctor_array[i]) ctor_ok = 0;
  if (posix_memalign(&ctor_aligned, 64 * KiB, 512 * KiB) != 0) ctor_ok = 0;
  else memset(ctor_aligned, 0x5a, 512 * KiB);
}

__attribute__((destructor)) static void alloc_lib_fini(void) {
  int ok = ctor_ok;
  for (int i = 0; i < 3; i++) {
    if (ctor_blocks[i].p && !alloc_lib_check(ctor_blocks[i].p, ctor_blocks[i].n, ctor_blocks[i].salt)) ok = 0;
    free(ctor_blocks[i].p);
    ctor_blocks[i].p = NULL;
  }
  if (!ctor_string || strcmp(ctor_string, "allocated by alloc_lib's constructor") != 0) ok = 0;
  free(ctor_string);
  free(ctor_array);
  if (ctor_aligned && ((uintptr_t)ctor_aligned % (64 * KiB) != 0 || ((unsigned char *)ctor_aligned)[512 * KiB - 1] != 0x5a))
    ok = 0;
  free(ctor_aligned);
  ctor_string = NULL;
  ctor_array = NULL;
  ctor_aligned = NULL;
  say(ok ? "alloc_lib: destructor: blocks intact, freed\n" : "alloc_lib: destructor: BLOCKS CORRUPT\n");
}

/* Whether the constructor's allocations succeeded and still verify. */
int alloc_lib_ctor_ok(void) {
  int ok = ctor_ok;
  for (int i = 0; i < 3; i++)
    if (!ctor_blocks[i].p || !alloc_lib_check(ctor_blocks[i].p, ctor_blocks[i].n, ctor_blocks[i].salt)) ok = 0;
  return ok;
}

int alloc_lib_generation(void) { return generation; }

/* A filled block the caller frees with free(). */
void *alloc_lib_make(size_t n, unsigned salt) {
  void *p = malloc(n);
  if (p) alloc_lib_fill(p, n, salt);
  return p;
}

/* Grows or shrinks a caller's block with realloc and checks the prefix. */
void *alloc_lib_resize(void *p, size_t old_n, size_t new_n, unsigned salt, int *ok) {
  void *q = realloc(p, new_n);
  if (!q) { *ok = 0; return p; }
  *ok = alloc_lib_check(q, old_n < new_n ? old_n : new_n, salt);
  if (new_n > old_n) {
    /* refill completely so that the caller can check the whole block */
    alloc_lib_fill(q, new_n, salt);
  }
  return q;
}

/* Checks and frees a block the caller allocated. */
int alloc_lib_take(void *p, size_t n, unsigned salt) {
  int ok = alloc_lib_check(p, n, salt);
  free(p);
  return ok;
}
