/* fork_api: a program linked against libtiermem.so, without the preload,
 * allocates through the API on every tier, forks, and checks that parent
 * and child got copy-on-write views: the child sees the parent's data, its
 * writes stay its own, and the parent's writes after the fork stay the
 * parent's. The runtime's pthread_atfork handlers do what the preload's
 * fork() does; without them the image stays MAP_SHARED across the fork and
 * each side sees the other's writes.
 *
 * usage: fork_api [MIB_PER_TIER=16]
 * Prints "fork_api: OK" and exits 0, or names the first mismatch and exits 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tiermem/tiermem.h>

#define MAX_TIERS 8

static int check(const char *who, unsigned char *p, size_t n, unsigned char want, int tier) {
  for (size_t i = 0; i < n; i += 4093) {
    if (p[i] != want) {
      printf("%s: MISMATCH on tier %d at byte %zu: 0x%02x, want 0x%02x\n", who, tier, i, p[i], want);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  const size_t size = (size_t)(argc > 1 ? atoi(argv[1]) : 16) << 20;
  int tiers = tiermem_tier_count();
  if (tiers < 1) {
    printf("fork_api: no tiermem runtime\n");
    return 1;
  }
  if (tiers > MAX_TIERS) tiers = MAX_TIERS;
  unsigned char *block[MAX_TIERS];
  for (int t = 0; t < tiers; t++) {
    block[t] = tiermem_malloc_on(t, size);
    if (block[t] == NULL) {
      printf("fork_api: cannot allocate %zu bytes on tier %s\n", size, tiermem_tier_name(t));
      return 1;
    }
    memset(block[t], 0xA0 + t, size);
  }
  int to_child[2], to_parent[2];
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return 1;
  char c = 0;
  if (pid == 0) {
    int bad = 0;
    for (int t = 0; t < tiers; t++) bad |= check("child, inherited", block[t], size, 0xA0 + t, t);
    for (int t = 0; t < tiers; t++) memset(block[t], 0xC0 + t, size);
    if (write(to_parent[1], "w", 1) != 1) return 1;  /* the child wrote */
    if (read(to_child[0], &c, 1) != 1) return 1;     /* the parent wrote */
    for (int t = 0; t < tiers; t++) bad |= check("child, own writes", block[t], size, 0xC0 + t, t);
    /* A new block in the child, through the child's own tier files. */
    unsigned char *fresh = tiermem_malloc_on(tiers - 1, size);
    if (fresh == NULL) bad = 1; else { memset(fresh, 0x77, size); bad |= check("child, new block", fresh, size, 0x77, tiers - 1); }
    fflush(stdout);
    _exit(bad);
  }
  int bad = 0;
  if (read(to_parent[0], &c, 1) != 1) return 1;
  for (int t = 0; t < tiers; t++) bad |= check("parent, after the child wrote", block[t], size, 0xA0 + t, t);
  for (int t = 0; t < tiers; t++) memset(block[t], 0xE0 + t, size);
  if (write(to_child[1], "p", 1) != 1) return 1;
  int status = 0;
  waitpid(pid, &status, 0);
  for (int t = 0; t < tiers; t++) bad |= check("parent, own writes", block[t], size, 0xE0 + t, t);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("fork_api: child failed (status %d)\n", status);
    bad = 1;
  }
  for (int t = 0; t < tiers; t++) tiermem_free(block[t]);
  printf("fork_api: %s (%d tiers, %zu MiB each)\n", bad ? "FAILED" : "OK", tiers, size >> 20);
  return bad;
}
