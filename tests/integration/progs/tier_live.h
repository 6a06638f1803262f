/* tier_live.h: per-tier live bytes of the running process, for the helper
 * programs of edge_cases_more.sh. Under the preload, libtiermem.so is in
 * the global scope and exports tiermem_get_stats(); without it (plain
 * glibc) the lookups fail and every check here passes trivially, so the
 * programs print the same lines with and without the preload. The numbers
 * go to stderr only.
 */
#ifndef TIER_LIVE_H
#define TIER_LIVE_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TIER_LIVE_MAX 8

/* Same layout as tiermem_tier_stats in include/tiermem/tiermem.h. */
typedef struct {
  char name[32];
  char kind[8];
  uint64_t budget, live_bytes, resident_bytes, file_bytes, extents, allocations, spills_in;
  uint64_t spare[32]; /* room, should a later version append fields */
} tier_live_stats;

typedef struct {
  int n;           /* tiers; 0 when not running under tiermem */
  uint64_t extent; /* tiermem_extent_size() */
  tier_live_stats t[TIER_LIVE_MAX];
} tier_live;

__attribute__((unused)) static void tier_live_read(tier_live *s) {
  memset(s, 0, sizeof *s);
  int (*count)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "tiermem_tier_count");
  int (*get)(int, tier_live_stats *) = (int (*)(int, tier_live_stats *))dlsym(RTLD_DEFAULT, "tiermem_get_stats");
  size_t (*extent)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "tiermem_extent_size");
  if (!count || !get || !extent) return;
  int n = count();
  if (n > TIER_LIVE_MAX) n = TIER_LIVE_MAX;
  for (int i = 0; i < n; i++)
    if (get(i, &s->t[i]) != 0) return;
  s->n = n;
  s->extent = extent();
}

/* One stderr line: "LABEL: dram live=... allocs=... | nvme live=... ...". */
__attribute__((unused)) static void tier_live_print(const char *label, const tier_live *s) {
  fprintf(stderr, "%s:", label);
  if (s->n == 0) fprintf(stderr, " not under tiermem");
  for (int i = 0; i < s->n; i++)
    fprintf(stderr, "%s %s live=%llu allocs=%llu spills_in=%llu", i ? " |" : "", s->t[i].name,
            (unsigned long long)s->t[i].live_bytes, (unsigned long long)s->t[i].allocations,
            (unsigned long long)s->t[i].spills_in);
  fprintf(stderr, "\n");
}

/* 1 if the tiers hold no more live bytes at `end` than at `start`, except
 * one block of at most one extent per thread still alive in
 * `threads_alive` (the runtime's one-block thread cache). Cached blocks
 * are DRAM blocks, but the tiering loop may have moved their extents since:
 * the slack applies to the tiers together. */
__attribute__((unused)) static int tier_live_back(const tier_live *start, const tier_live *end, int threads_alive) {
  const uint64_t slack = (uint64_t)threads_alive * end->extent;
  uint64_t at_start = 0, at_end = 0;
  for (int i = 0; i < end->n && i < start->n; i++) {
    at_start += start->t[i].live_bytes;
    at_end += end->t[i].live_bytes;
  }
  if (at_end > at_start + slack) {
    for (int i = 0; i < end->n && i < start->n; i++)
      fprintf(stderr, "tier %s: %llu live bytes at the end, %llu at the start\n", end->t[i].name,
              (unsigned long long)end->t[i].live_bytes, (unsigned long long)start->t[i].live_bytes);
    fprintf(stderr, "all tiers: %llu live bytes at the end, %llu at the start (slack %llu)\n",
            (unsigned long long)at_end, (unsigned long long)at_start, (unsigned long long)slack);
    return 0;
  }
  return 1;
}

/* Allocations the tier with kind `kind` received between start and end. */
__attribute__((unused)) static uint64_t tier_live_allocs(const tier_live *start, const tier_live *end, const char *kind) {
  uint64_t n = 0;
  for (int i = 0; i < end->n && i < start->n; i++)
    if (strcmp(end->t[i].kind, kind) == 0) n += end->t[i].allocations - start->t[i].allocations;
  return n;
}

#endif
