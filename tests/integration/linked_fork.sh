#!/bin/bash
# A program linked against libtiermem.so, without the preload, forks: the
# runtime's pthread_atfork handlers must give parent and child copy-on-write
# views of the heap image on every tier (DRAM memfd and NVMe file), as the
# preload's fork() does. Before they existed the image stayed MAP_SHARED and
# each side saw the other's writes.
. "$(dirname "$0")/lib.sh"
P=$(prog fork_api)

for mib in 16 64; do
  log "== fork_api, $mib MiB per tier, linked (no LD_PRELOAD)"
  capture "linked_$mib" -- env TIERMEM_NVME_DIR="$TM_NVME" "$P" "$mib"
  assert_status "linked program, $mib MiB per tier" 0 "$RC" "$ERR"
  assert_file_lacks "no MISMATCH ($mib MiB)" "$OUT" "MISMATCH"
  assert_file_contains "parent and child checks passed on 2 tiers ($mib MiB)" "$OUT" "fork_api: OK (2 tiers, $mib MiB each)"
done

summary
