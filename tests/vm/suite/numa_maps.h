/* Bytes of each tiermem memfd per NUMA node, from /proc/self/numa_maps, for
 * the in-VM test programs (vm_placement, vm_move). Prints one line per
 * memfd "tiermem:NAME" and node that holds pages:
 *
 *   numamaps [STAGE ]NAME node N bytes BYTES
 *
 * Header-only: each program is a single C file built on its own.
 */
#ifndef TIERMEM_VM_NUMA_MAPS_H
#define TIERMEM_VM_NUMA_MAPS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NUMA_MAPS_MAX_MEMFDS = 16, NUMA_MAPS_MAX_NODES = 64 };

/* stage may be NULL: the line then has no stage field. */
static void report_numa_maps(const char *stage) {
  FILE *f = fopen("/proc/self/numa_maps", "r");
  if (!f) {
    perror("numa_maps");
    return;
  }
  static char names[NUMA_MAPS_MAX_MEMFDS][64];
  static uint64_t bytes[NUMA_MAPS_MAX_MEMFDS][NUMA_MAPS_MAX_NODES];
  memset(bytes, 0, sizeof bytes);
  int used = 0;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char *tag = strstr(line, "tiermem:");
    if (!tag) continue;
    char name[64];
    size_t n = 0;
    for (tag += 8; *tag && *tag != ' ' && *tag != '\\' && *tag != '\n' && n + 1 < sizeof name; tag++) name[n++] = *tag;
    name[n] = '\0';
    long page_kb = 4;
    char *ps = strstr(line, "kernelpagesize_kB=");
    if (ps) page_kb = atol(ps + 18);
    int slot = 0;
    while (slot < used && strcmp(names[slot], name) != 0) slot++;
    if (slot == used) {
      if (used == NUMA_MAPS_MAX_MEMFDS) continue;
      snprintf(names[used++], sizeof names[0], "%s", name);
    }
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
      int node;
      unsigned long pages;
      if (sscanf(tok, "N%d=%lu", &node, &pages) == 2 && node >= 0 && node < NUMA_MAPS_MAX_NODES)
        bytes[slot][node] += (uint64_t)pages * (uint64_t)page_kb * 1024u;
    }
  }
  fclose(f);
  for (int s = 0; s < used; s++)
    for (int node = 0; node < NUMA_MAPS_MAX_NODES; node++)
      if (bytes[s][node])
        printf("numamaps %s%s%s node %d bytes %llu\n", stage ? stage : "", stage ? " " : "", names[s], node,
               (unsigned long long)bytes[s][node]);
}

#endif
