#!/bin/bash
# The PMEM app-direct tier: a private O_TMPFILE on a DAX-mounted
# filesystem. Where one is mounted, a policy dram(16 MiB) -> pmem places what
# does not fit in DRAM there, with the data intact. Elsewhere the test
# skips, saying what is missing.
. "$(dirname "$0")/lib.sh"
# Checks first-touch placement: no moves by heat meanwhile.
export TIERMEM_TIERING=off
require_preload
require_cli

dax=$("$TIERMEM_CLI" tiers | awk '/^DAX mounts:/ {on = 1; if ($3 == "none") exit; next} on && NF == 0 {exit} on && $1 ~ /^\// {print $1; exit}')
[[ -n $dax && -d $dax && -w $dax ]] || skip "no writable DAX-mounted filesystem (PMEM app-direct) on this machine"

policy=$TM_TMP/pmem.toml
cat > "$policy" <<TOML
[policy]
name = "pmem-test"
[[tiers]]
name = "dram"
kind = "dram"
budget = "16MiB"
[[tiers]]
name = "pmem"
kind = "pmem"
path = "$dax"
TOML
"$TIERMEM_CLI" check "$policy" > /dev/null
assert_status "tiermem check accepts the PMEM policy" 0 $?
capture plain -- "$(prog spill_budget)" 16
TIERMEM_POLICY=$policy capture tiered -- env LD_PRELOAD="$TIERMEM_PRELOAD" "$(prog spill_budget)" 16 tiers
assert_eq "checksum with the PMEM tier equals plain" "$(grep checksum "$TM_TMP/plain.out")" "$(grep checksum "$TM_TMP/tiered.out")"
pmem_buffers=$(sed -n 's/^tier 1 (pmem): \([0-9]*\) buffers$/\1/p' "$TM_TMP/tiered.out")
assert_ge "buffers placed on the pmem tier" 1 "${pmem_buffers:-0}"
summary
