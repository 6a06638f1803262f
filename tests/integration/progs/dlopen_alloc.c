/* dlopen_alloc: memory crossing a dlopen'ed library's boundary.
 *
 * usage: dlopen_alloc LIBRARY [CYCLES=8]
 *
 * LIBRARY is alloc_lib.so (progs/libs/alloc_lib.c). Each cycle dlopens it
 * (its constructor allocates 40 B, 1 MiB, 3 MiB, a 4 MiB calloc and a
 * 64 KiB-aligned 512 KiB block), lets it hand out blocks of 24 B .. 6 MiB
 * that this program keeps for four more cycles, has it realloc and free
 * blocks this program allocated, and dlcloses it (its destructor checks and
 * frees its own blocks). Blocks the library allocated stay valid after it
 * is unloaded. About 40 MiB are live at the peak, so a 16 MiB DRAM budget
 * puts some of them on the NVMe tier. At the end every tier's live bytes
 * must be back where they started (under tiermem; see tier_live.h). A last
 * dlopen is left open, so its destructor runs at exit.
 *
 * stdout: "ok - ..." / "not ok - ..." lines, then a summary; identical with
 * and without the preload. Exit status 0 if every check passed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier_live.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define KEEP 4

static int n_ok, n_bad;

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

/* The library's pattern, so blocks can be checked after dlclose. */
static unsigned char pat(size_t i, unsigned salt) { return (unsigned char)((i * 167u + salt) ^ (i >> 11)); }
static void fill(void *p, size_t n, unsigned salt) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = pat(i, salt);
}
static int intact(const void *p, size_t n, unsigned salt) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != pat(i, salt)) return 0;
  return 1;
}

typedef struct {
  int (*ctor_ok)(void);
  int (*generation)(void);
  void *(*make)(size_t, unsigned);
  void *(*resize)(void *, size_t, size_t, unsigned, int *);
  int (*take)(void *, size_t, unsigned);
} lib_api;

static void *open_lib(const char *path, lib_api *api) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return NULL;
  }
  api->ctor_ok = (int (*)(void))dlsym(h, "alloc_lib_ctor_ok");
  api->generation = (int (*)(void))dlsym(h, "alloc_lib_generation");
  api->make = (void *(*)(size_t, unsigned))dlsym(h, "alloc_lib_make");
  api->resize = (void *(*)(void *, size_t, size_t, unsigned, int *))dlsym(h, "alloc_lib_resize");
  api->take = (int (*)(void *, size_t, unsigned))dlsym(h, "alloc_lib_take");
  if (!api->ctor_ok || !api->generation || !api->make || !api->resize || !api->take) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    dlclose(h);
    return NULL;
  }
  return h;
}

static const size_t made_sizes[] = {24, 4000, 300 * KiB, 1 * MiB, 2 * MiB + 1, 6 * MiB};
#define NMADE (sizeof made_sizes / sizeof made_sizes[0])

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: dlopen_alloc LIBRARY [CYCLES]\n");
    return 2;
  }
  const char *path = argv[1];
  int cycles = argc > 2 ? atoi(argv[2]) : 8;
  if (cycles < 1) cycles = 1;
  setvbuf(stdout, NULL, _IOLBF, 0);

  tier_live start, end;
  tier_live_read(&start);
  tier_live_print("tiers at start", &start);

  void *kept[KEEP + 1][NMADE];
  memset(kept, 0, sizeof kept);
  int ctor_all = 1, gen_all = 1, made_all = 1, kept_all = 1, resize_all = 1, take_all = 1, opened = 0;

  for (int c = 0; c < cycles; c++) {
    lib_api api;
    void *h = open_lib(path, &api);
    if (!h) break;
    opened++;
    if (!api.ctor_ok()) ctor_all = 0;
    if (api.generation() != 1) gen_all = 0; /* a fresh copy each time */

    /* Blocks the library allocates and this program keeps. */
    void **slot = kept[c % (KEEP + 1)];
    for (size_t i = 0; i < NMADE; i++) {
      if (slot[i]) { /* from KEEP cycles ago: check and free */
        if (!intact(slot[i], made_sizes[i], (unsigned)((c - KEEP - 1) * 16 + (int)i))) kept_all = 0;
        free(slot[i]);
      }
      slot[i] = api.make(made_sizes[i], (unsigned)(c * 16 + (int)i));
      if (!slot[i] || !intact(slot[i], made_sizes[i], (unsigned)(c * 16 + (int)i))) made_all = 0;
    }

    /* A block of ours, resized by the library across the tiering threshold
     * both ways, then freed here. */
    size_t n = 100 * KiB;
    unsigned char *p = malloc(n);
    if (!p) { resize_all = 0; } else {
      int ok = 1;
      fill(p, n, 7u + (unsigned)c);
      static const size_t steps[] = {1536 * KiB, 200, 5 * MiB, 300 * KiB};
      for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        p = api.resize(p, n, steps[s], 7u + (unsigned)c, &ok);
        if (!ok) resize_all = 0;
        if (steps[s] > n) { if (!intact(p, steps[s], 7u + (unsigned)c)) resize_all = 0; }
        else fill(p, steps[s], 7u + (unsigned)c);
        n = steps[s];
      }
      free(p);
    }

    /* Blocks of ours the library checks and frees. */
    static const size_t given[] = {1, 256 * KiB, 1 * MiB, 3 * MiB};
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++) {
      void *q = malloc(given[i]);
      if (!q) { take_all = 0; continue; }
      fill(q, given[i], 99u + (unsigned)i);
      if (!api.take(q, given[i], 99u + (unsigned)i)) take_all = 0;
    }

    if (dlclose(h) != 0) fprintf(stderr, "dlclose: %s\n", dlerror());

    /* The library is gone; what it allocated for us is still ours. */
    for (int k = 0; k <= KEEP; k++)
      for (size_t i = 0; i < NMADE; i++) {
        int born = c - ((c - k) % (KEEP + 1) + (KEEP + 1)) % (KEEP + 1);
        if (kept[k][i] && !intact(kept[k][i], made_sizes[i], (unsigned)(born * 16 + (int)i))) kept_all = 0;
      }
  }
  check(opened == cycles, "dlopen/dlclose %d cycles", cycles);
  check(ctor_all, "the library's constructor allocated and filled its blocks every time");
  check(gen_all, "every dlopen loaded a fresh copy (dlclose unloaded it)");
  check(made_all, "blocks of 24 B .. 6 MiB allocated by the library arrive filled");
  check(kept_all, "the library's blocks stay intact across dlclose and later cycles");
  check(resize_all, "the library reallocs our blocks 100 KiB -> 1.5 MiB -> 200 B -> 5 MiB -> 300 KiB");
  check(take_all, "the library checks and frees blocks we allocated (1 B .. 3 MiB)");

  for (int k = 0; k <= KEEP; k++)
    for (size_t i = 0; i < NMADE; i++) {
      free(kept[k][i]);
      kept[k][i] = NULL;
    }
  tier_live_read(&end);
  tier_live_print("tiers at end", &end);
  fprintf(stderr, "nvme allocations: %llu\n", (unsigned long long)tier_live_allocs(&start, &end, "nvme"));
  check(tier_live_back(&start, &end, 1), "every tier's live bytes are back to where they started");

  /* Left open: the destructor runs at exit, after main returns. */
  lib_api api;
  void *h = open_lib(path, &api);
  check(h != NULL && api.ctor_ok(), "a last dlopen, closed only by exit");

  printf("dlopen_alloc: %d ok, %d not ok\n", n_ok, n_bad);
  return n_bad ? 1 : 0;
}
