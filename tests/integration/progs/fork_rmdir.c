/* fork_rmdir: fork after the NVMe tier's directory was removed, then let
 * parent and child each allocate and write new large blocks at the same
 * time, and check that neither sees the other's writes.
 *
 * usage: fork_rmdir [DIR]
 *
 * Allocates and writes one 8 MiB block, removes DIR (rmdir) if given — the
 * runtime's tier file in it is an O_TMPFILE, so the directory is empty —
 * and forks. Parent and child then each allocate 8 blocks of 8 MiB and fill
 * them with their own pattern; once both have written (a pipe handshake),
 * each checks its blocks and the pre-fork block. Prints
 *   rmdir: ok | rmdir: <error> | rmdir: not asked
 *   parent bad words: N / child bad words: N
 *   result: ok | result: parent and child share memory
 * Exit status 0 if nothing was wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCK (8u * 1024u * 1024u)
#define WORDS (BLOCK / 8u)
#define NB 8

static void fill(uint64_t *p, uint64_t v) {
  for (size_t i = 0; i < WORDS; i++) p[i] = v ^ i;
}
static long check(const uint64_t *p, uint64_t v) {
  long bad = 0;
  for (size_t i = 0; i < WORDS; i++) bad += p[i] != (v ^ i);
  return bad;
}

static long work(uint64_t pattern, int tell, int hear, const uint64_t *pre) {
  uint64_t *b[NB];
  for (int i = 0; i < NB; i++) {
    b[i] = malloc(BLOCK);
    if (!b[i]) {
      fprintf(stderr, "malloc failed after fork\n");
      return -1;
    }
    fill(b[i], pattern + (uint64_t)i);
  }
  char c = 'x';
  if (write(tell, &c, 1) != 1 || read(hear, &c, 1) != 1) return -1;
  long bad = check(pre, 0x1111111111111111ull);
  for (int i = 0; i < NB; i++) bad += check(b[i], pattern + (uint64_t)i);
  /* Second handshake: nobody frees (and so punches) before both checked. */
  if (write(tell, &c, 1) != 1 || read(hear, &c, 1) != 1) return -1;
  for (int i = 0; i < NB; i++) free(b[i]);
  return bad;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  uint64_t *pre = malloc(BLOCK);
  if (!pre) return 2;
  fill(pre, 0x1111111111111111ull);
  if (argc > 1) {
    if (rmdir(argv[1]) == 0) printf("rmdir: ok\n");
    else printf("rmdir: %s\n", strerror(errno));
  } else {
    printf("rmdir: not asked\n");
  }
  int to_child[2], to_parent[2];
  if (pipe(to_child) || pipe(to_parent)) return 2;
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    long bad = work(0xC0C0C0C0C0C0C0C0ull, to_parent[1], to_child[0], pre);
    printf("child bad words: %ld\n", bad);
    _exit(bad == 0 ? 0 : 1);
  }
  long bad = work(0xAAAAAAAAAAAAAAAAull, to_child[1], to_parent[0], pre);
  int status = 0;
  waitpid(pid, &status, 0);
  printf("parent bad words: %ld\n", bad);
  int ok = bad == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("result: %s\n", ok ? "ok" : "parent and child share memory (or failed)");
  return ok ? 0 : 1;
}
