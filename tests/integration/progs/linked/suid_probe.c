/* suid_probe: linked directly against libtiermem.so (not LD_PRELOADed), so
 * the runtime starts even when the program is setuid. security.sh compiles
 * it itself (CMake builds only the .c files directly in progs/):
 *
 *   gcc -o suid_probe suid_probe.c -L$BUILD/src -ltiermem -Wl,-rpath,$BUILD/src
 *
 * Prints the tiers of the runtime's policy, one per line ("tier 0: dram"),
 * then "ready", and waits until its input ends (or 30 s), so that a test
 * can look at it with `tiermem stat PID` and /proc/PID/fd.
 */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

int tiermem_tier_count(void);
const char *tiermem_tier_name(int tier);

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int n = tiermem_tier_count();
  for (int t = 0; t < n; t++) printf("tier %d: %s\n", t, tiermem_tier_name(t) ? tiermem_tier_name(t) : "?");
  printf("ready\n");
  struct pollfd in = {STDIN_FILENO, POLLIN, 0};
  poll(&in, 1, 30000);
  return 0;
}
