/* hello_tiers: the smallest C program using tiermem's linked API.
 *
 *   cc hello_tiers.c $(pkg-config --cflags --libs tiermem) -o hello_tiers
 *   TIERMEM_NVME_DIR=/var/tmp ./hello_tiers
 */
#include <tiermem/tiermem.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  int t, nvme = tiermem_tier_index("nvme");
  size_t size = 4u << 20, i;
  unsigned char *block;
  tiermem_tier_stats s;

  for (t = 0; t < tiermem_tier_count(); ++t) printf("tier %d: %s\n", t, tiermem_tier_name(t));
  if (nvme < 0) {
    fprintf(stderr, "hello_tiers: no tier called nvme\n");
    return 1;
  }
  block = tiermem_malloc_on(nvme, size);
  if (block == NULL) {
    fprintf(stderr, "hello_tiers: tiermem_malloc_on: %s\n", strerror(errno));
    return 1;
  }
  memset(block, 0x5a, size);
  for (i = 0; i < size; ++i) {
    if (block[i] != 0x5a) {
      fprintf(stderr, "hello_tiers: bad byte at %zu\n", i);
      return 1;
    }
  }
  if (tiermem_tier_of(block + size / 2) != nvme || tiermem_get_stats(nvme, &s) != 0 || s.live_bytes < size) {
    fprintf(stderr, "hello_tiers: block is not accounted on nvme\n");
    return 1;
  }
  printf("hello from tier %s (%d): %zu bytes, tier live %" PRIu64 " bytes\n", tiermem_tier_name(nvme), nvme, size,
         s.live_bytes);
  tiermem_free(block);
  return 0;
}
