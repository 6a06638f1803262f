#!/bin/bash
# The policy file is rewritten while a process that started with it runs:
# first in place with garbage, then (write + rename) with another valid
# policy. The running process is unaffected: it keeps running with the
# policy it started with (placement, stats page) and gets the right data.
# A process started after a change gets the new behaviour: DRAM-only with
# exactly one stderr line for the garbage, the other budget for policy B.
. "$(dirname "$0")/lib.sh"
# Counts blocks per tier as first-touch placement left them: no moves by heat.
export TIERMEM_TIERING=off
require_preload
require_cli
P=$(prog fill_blocks)
POL=$TM_TMP/policy.toml

write_policy() { # NAME DRAM_BUDGET > file
  cat <<EOF
[policy]
name = "$1"

[[tiers]]
name = "dram"
kind = "dram"
budget = "$2"

[[tiers]]
name = "nvme"
kind = "nvme"
path = "$TM_NVME"
EOF
}

capture plain -- "$P" 20
assert_status "plain run" 0 "$RC" "$ERR"
ref=$(grep '^checksum' "$OUT")

write_policy policy-a 16MiB > "$POL"
log "== a process starts with policy A (DRAM 16 MiB) and allocates 20 x 8 MiB over ~3 s"
env LD_PRELOAD="$TIERMEM_PRELOAD" TIERMEM_POLICY="$POL" "$P" 20 150 > "$TM_TMP/a.out" 2> "$TM_TMP/a.err" &
APID=$!
on_exit "kill -9 $APID 2>/dev/null"
sleep 0.5

log "== the policy file is overwritten in place with garbage"
printf 'this is [not toml\n\x01\x02 garbage = = =\n' > "$POL"
"$TIERMEM_CLI" stat "$APID" > "$TM_TMP/a.stat1" 2>&1
assert_file_contains "running process: tiermem stat still shows policy A" "$TM_TMP/a.stat1" '"policy-a"'
capture garbage -- run_with_preload --policy "$POL" -- "$P" 20
assert_status "new process with the garbage policy: exits normally" 0 "$RC" "$ERR"
assert_eq "new process with the garbage policy: right data" "$ref" "$(grep '^checksum' "$OUT")"
assert_eq "new process with the garbage policy: exactly one stderr line" 1 "$(wc -l < "$ERR")"
assert_file_contains "the line names the policy file" "$ERR" "$POL"
assert_file_contains "the line says it runs on DRAM only" "$ERR" "DRAM only"
info "garbage: $(head -1 "$ERR")"
assert_eq "new process with the garbage policy: nothing tiered" "tier -1 (not tiered): 20 blocks" \
  "$(grep '^tier' "$OUT" | tr '\n' ' ' | sed 's/ $//')"

log "== the policy file is replaced (write + rename) with policy B (DRAM 48 MiB)"
write_policy policy-b 48MiB > "$POL.new" && mv "$POL.new" "$POL"
capture new_b -- run_with_preload --policy "$POL" -- "$P" 20
assert_status "new process with policy B" 0 "$RC" "$ERR"
assert_eq "new process with policy B: right data" "$ref" "$(grep '^checksum' "$OUT")"
assert_file_contains "new process with policy B: 6 blocks in the 48 MiB DRAM budget" "$OUT" "tier 0 (dram): 6 blocks"
assert_file_contains "new process with policy B: 14 blocks on nvme" "$OUT" "tier 1 (nvme): 14 blocks"
assert_eq "new process with policy B: quiet stderr" "" "$(cat "$ERR")"

"$TIERMEM_CLI" stat "$APID" > "$TM_TMP/a.stat2" 2>&1
assert_file_contains "running process: tiermem stat still shows policy A after the rename" "$TM_TMP/a.stat2" '"policy-a"'

wait "$APID"
RC=$?
OUT=$TM_TMP/a.out ERR=$TM_TMP/a.err
assert_status "the running process kept running and exited normally" 0 "$RC" "$ERR"
assert_eq "the running process: right data" "$ref" "$(grep '^checksum' "$OUT")"
assert_file_contains "the running process: 2 blocks in policy A's 16 MiB DRAM budget" "$OUT" "tier 0 (dram): 2 blocks"
assert_file_contains "the running process: 18 blocks on nvme" "$OUT" "tier 1 (nvme): 18 blocks"
assert_eq "the running process: nothing on stderr" "" "$(cat "$ERR")"
summary
