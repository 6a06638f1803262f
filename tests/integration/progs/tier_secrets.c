/* tier_secrets: hold a secret in a large heap block, free it and start
 * children on command. Driven over stdin by a test (security.sh).
 *
 * usage: tier_secrets SIZE_MIB SECRET
 *
 * Allocates SIZE_MIB MiB with malloc, fills it with SECRET repeated, and
 * prints
 *   block: tier N (NAME)      (via dlsym(tiermem_tier_of), or "tier ?")
 *   ready
 * Then reads commands, one per line, answering each with one line:
 *   free   -> frees the block, prints "freed"
 *   spawn  -> starts `sleep 60` with posix_spawnp and `sleep 60` with
 *             fork+execvp, both with LD_PRELOAD and TIERMEM_* removed from
 *             their environment (so that they start no runtime of their
 *             own), prints "children: PID1 PID2"
 *   exit   -> (or end of input) kills and reaps the children, exits 0
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc != 3 || atol(argv[1]) <= 0 || argv[2][0] == '\0') {
    fprintf(stderr, "usage: %s SIZE_MIB SECRET\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const size_t size = (size_t)atol(argv[1]) << 20;
  const char *secret = argv[2];
  const size_t len = strlen(secret);
  char *block = malloc(size);
  if (block == NULL) {
    perror("malloc");
    return 1;
  }
  for (size_t off = 0; off + len <= size; off += len) memcpy(block + off, secret, len);

  int (*tier_of)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "tiermem_tier_of");
  const char *(*tier_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "tiermem_tier_name");
  if (tier_of) {
    int t = tier_of(block);
    const char *name = tier_name ? tier_name(t) : NULL;
    printf("block: tier %d (%s)\n", t, name ? name : "?");
  } else {
    printf("block: tier ?\n");
  }

  printf("ready\n");

  char *child_argv[] = {"sleep", "60", NULL};
  pid_t spawned = -1, forked = -1;
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "free", 4) == 0) {
      free(block);
      block = NULL;
      printf("freed\n");
    } else if (strncmp(line, "spawn", 5) == 0 && spawned < 0) {
      size_t n = 0;
      while (environ[n]) n++;
      char **env = calloc(n + 1, sizeof *env);
      size_t k = 0;
      for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "TIERMEM_", 8) != 0) env[k++] = environ[i];
      if (posix_spawnp(&spawned, "sleep", NULL, NULL, child_argv, env) != 0) spawned = -1;
      forked = fork();
      if (forked == 0) {
        execvpe("sleep", child_argv, env);
        _exit(127);
      }
      free(env);
      printf("children: %d %d\n", (int)spawned, (int)forked);
    } else if (strncmp(line, "exit", 4) == 0) {
      break;
    }
  }
  if (spawned > 0) kill(spawned, SIGKILL);
  if (forked > 0) kill(forked, SIGKILL);
  while (wait(NULL) > 0) {
  }
  return 0;
}
