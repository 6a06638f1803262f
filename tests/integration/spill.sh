#!/bin/bash
# Under `tiermem run --dram-budget 64MiB`, a program that allocates and uses
# 3x that (24 x 8 MiB) gets the right data back, most of it from the NVMe
# tier, and the tier table on stderr says so. The NVMe directory holds no
# visible file afterwards (the tier file is O_TMPFILE).
. "$(dirname "$0")/lib.sh"
require_preload
require_cli
P=$(prog spill_budget)
BUDGET_MIB=64

log "== spill_budget $BUDGET_MIB: plain vs tiermem run --dram-budget ${BUDGET_MIB}MiB"
capture plain -- "$P" "$BUDGET_MIB"
assert_status "plain run" 0 "$RC" "$ERR"
ref=$(grep '^checksum' "$OUT")
info "reference $ref"

capture cli -- tiermem_run --dram-budget "${BUDGET_MIB}MiB" --nvme-dir "$TM_NVME" -- "$P" "$BUDGET_MIB" tiers
assert_status "tiermem run exit status" 0 "$RC" "$ERR"
assert_eq "checksum under tiermem run" "$ref" "$(grep '^checksum' "$OUT")"
assert_file_contains "no bad words" "$OUT" "bad words: 0"
log "  tier table printed by tiermem run:"
sed 's/^/  | /' "$ERR"

dram_alloc=$(tier_table_value "$ERR" '^dram$' 'alloc')
nvme_alloc=$(tier_table_value "$ERR" '^nvme$' 'alloc')
nvme_spill=$(tier_table_value "$ERR" '^nvme$' 'spill')
assert_match "stderr has a tier table with a dram row" '^[0-9]+$' "${dram_alloc:-missing}"
assert_ge "nvme allocations (24 buffers, at most 8 fit in DRAM)" 15 "${nvme_alloc:-missing}"
assert_ge "nvme spills in" 15 "${nvme_spill:-missing}"
assert_ge "allocations on dram + nvme cover all 24 buffers" 24 $(( ${dram_alloc:-0} + ${nvme_alloc:-0} ))

# Per-buffer placement, if the runtime exports tiermem_tier_of to the program.
if grep -q '^tier_of: unavailable' "$OUT"; then
  info "tiermem_tier_of not visible to the program (dlsym failed): per-buffer placement not checked"
else
  on_dram=$(sed -n 's/^tier 0 ([^)]*): \([0-9]*\) buffers$/\1/p' "$OUT")
  on_nvme=$(sed -n 's/^tier 1 (nvme): \([0-9]*\) buffers$/\1/p' "$OUT")
  info "tiermem_tier_of: ${on_dram:-0} buffers on tier 0, ${on_nvme:-0} on tier 1 (nvme)"
  # budget 64 MiB = 8 buffers; allow one extra extent-sized buffer of slack
  assert_le "buffers on DRAM (tiermem_tier_of) within the 64 MiB budget (+1 of slack)" 9 "${on_dram:-0}"
  assert_ge "buffers on nvme (tiermem_tier_of)" 15 "${on_nvme:-0}"
fi

leftover=$(ls -A "$TM_NVME")
assert_eq "no visible file left in the NVMe dir" "" "$leftover"

# The env-var path (no CLI): same result.
capture env_budget -- run_with_preload --budget "${BUDGET_MIB}MiB" -- "$P" "$BUDGET_MIB"
assert_status "LD_PRELOAD + TIERMEM_DRAM_BUDGET=${BUDGET_MIB}MiB" 0 "$RC" "$ERR"
assert_eq "checksum with LD_PRELOAD + TIERMEM_DRAM_BUDGET" "$ref" "$(grep '^checksum' "$OUT")"

summary
