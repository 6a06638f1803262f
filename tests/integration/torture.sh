#!/bin/bash
# "Nothing lost": tiermem_move() moving heap extents between DRAM and the
# NVMe file tier, without pause, while five writer threads rewrite the
# buffers (stores, memcpy, read() from a pipe, pread() from a file, recv()
# from a socketpair and a TCP loopback connection) and the program forks
# every few seconds. Every byte must be where it was written, no syscall may
# fail with EFAULT, every child must see its parent's data at fork time and
# keep its own writes to itself, moves must go both ways (>= 20 each), and
# the NVMe dir must be empty afterwards. See progs/torture.c.
#
#   TORTURE_SECONDS=60 ctest -R torture -V     # a long run (default 12 s)
#   TORTURE_DRAM_BUDGET=32MiB TORTURE_FORK_EVERY=2 ...
#
# Until the migration engine lands, tiermem_move() returns ENOTSUP for file
# tiers and this test fails, saying so.
. "$(dirname "$0")/lib.sh"
require_preload
require_cli
P=$(prog torture)
SECS=${TORTURE_SECONDS:-12}
BUDGET=${TORTURE_DRAM_BUDGET:-48MiB} # 16 x 4 MiB buffers: 12 fit, the rest start on NVMe
FORK_EVERY=${TORTURE_FORK_EVERY:-3}
MIN_MOVES=20

# value KEY FILE: the number after "KEY=" in the program's summary lines.
value() { sed -n "s/.*[ ^]$1=\([0-9][0-9]*\).*/\1/p; s/^$1=\([0-9][0-9]*\).*/\1/p" "$2" | tail -n 1; }
show_failures() { # FILE: the program's FAIL / MISMATCH / EFAULT lines
  grep -E 'FAIL|MISMATCH|EFAULT|unexpected' "$1" | head -n 20 | sed 's/^/  | /'
}

log "== the checker: a corruption injected behind a writer's back must fail the run (no preload)"
capture selftest -- "$P" --seconds 2 --fork-every 0.7 --allow-no-api --inject-corruption
assert_status "run with an injected corruption" 1 "$RC" "$ERR"
assert_file_contains "the injected corruption is reported as a MISMATCH" "$OUT" "MISMATCH before the next write: buffer 0"

log "== the harness alone: writers, feeders and forks without tiermem (no mover), 3 s"
capture plain -- "$P" --seconds 3 --fork-every 1 --allow-no-api
assert_status "plain run" 0 "$RC" "$ERR"
assert_file_contains "plain run: verify=ok" "$OUT" "verify=ok"
[[ $RC == 0 ]] || show_failures "$OUT"

log "== torture: tiermem run --dram-budget $BUDGET --nvme-dir, ${SECS} s, fork every ${FORK_EVERY} s (tiering loop off: only the test's mover moves, so tiermem_tier_of must agree with each move)"
export TIERMEM_TIERING=off
capture torture -- tiermem_run --dram-budget "$BUDGET" --nvme-dir "$TM_NVME" -- \
  "$P" --seconds "$SECS" --fork-every "$FORK_EVERY" --min-moves "$MIN_MOVES"
grep -E '^(torture|writes|moves|eintr|efault|forks|verify)' "$OUT" | sed 's/^/  | /'
grep -E '^(parent|child)[0-9]*: ' "$OUT" | grep -v MISMATCH | tail -n 4 | sed 's/^/  | /'

enotsup=$(value ENOTSUP "$OUT")
if [[ ${enotsup:-0} != 0 ]]; then
  fail "tiermem_move returned ENOTSUP $enotsup times: this build cannot move extents to or from the NVMe file tier (expected until the migration engine lands)"
else
  pass "tiermem_move never returned ENOTSUP"
fi
assert_status "torture exit status" 0 "$RC" "$ERR"
assert_file_contains "verify=ok (every buffer as written, in the parent and in every child)" "$OUT" "verify=ok"
assert_eq "efault" 0 "$(value efault "$OUT")"
assert_eq "tiermem_move errors other than EAGAIN/EBUSY/ENOMEM" "0 0" "$(value EINVAL "$OUT") $(value other "$OUT")"
assert_eq "tiermem_tier_of disagreeing with a successful move" 0 "$(value tier_of_wrong_after_move "$OUT")"
d2n=$(sed -n 's/^moves dram->nvme=\([0-9]*\) .*/\1/p' "$OUT")
n2d=$(sed -n 's/^moves dram->nvme=[0-9]* nvme->dram=\([0-9]*\) .*/\1/p' "$OUT")
assert_ge "moves dram->nvme" "$MIN_MOVES" "${d2n:-missing}"
assert_ge "moves nvme->dram" "$MIN_MOVES" "${n2d:-missing}"
# EBUSY means "shared copy-on-write with a forked child": once the child
# has exited, extents must become movable again.
ad2n=$(sed -n 's/^moves after the first child exited: dram->nvme=\([0-9]*\) .*/\1/p' "$OUT")
an2d=$(sed -n 's/^moves after the first child exited: .* nvme->dram=\([0-9]*\)$/\1/p' "$OUT")
assert_ge "moves dram->nvme after the first child exited (EBUSY does not stick)" 1 "${ad2n:-missing}"
assert_ge "moves nvme->dram after the first child exited (EBUSY does not stick)" 1 "${an2d:-missing}"
forks=$(value forks "$OUT")
assert_ge "forks" 2 "${forks:-missing}"
assert_eq "children_ok == forks" "${forks:-missing}" "$(value children_ok "$OUT")"
# Which engine moved: userfaultfd where this process may use it (the
# runtime's default), else the stop-the-world signal.
grep -E '^(pauses|userfaultfd): ' "$ERR" | sed 's/^/  | runtime /'
if [[ -r /dev/userfaultfd && -w /dev/userfaultfd ]] || [[ $(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null) == 1 ]]; then
  assert_ge "extents the userfaultfd engine moved (the default where usable)" 1 \
    "$(sed -n 's/^userfaultfd: \([0-9]*\) extents moved.*/\1/p' "$ERR" | tail -n 1 | grep . || echo missing)"
else
  info "userfaultfd not usable here (/dev/userfaultfd not accessible, vm.unprivileged_userfaultfd=0): the signal engine moved everything"
fi
cp "$OUT" "$TM_TMP/first-run.out"

log "== the same with the stop-the-world engine (TIERMEM_MOVE_ENGINE=signal), $((SECS / 2)) s"
capture signal --env TIERMEM_MOVE_ENGINE=signal -- tiermem_run --dram-budget "$BUDGET" --nvme-dir "$TM_NVME" -- \
  "$P" --seconds "$((SECS / 2))" --fork-every "$FORK_EVERY" --min-moves "$MIN_MOVES"
grep -E '^(moves|verify|efault)' "$OUT" | sed 's/^/  | /'
grep -E '^(pauses|userfaultfd): ' "$ERR" | sed 's/^/  | runtime /'
assert_status "signal engine: exit status" 0 "$RC" "$ERR"
assert_file_contains "signal engine: verify=ok" "$OUT" "verify=ok"
assert_eq "signal engine: efault" 0 "$(value efault "$OUT")"
assert_ge "signal engine: stop-the-world pauses" 1 "$(sed -n 's/^pauses: \([0-9]*\),.*/\1/p' "$ERR" | tail -n 1 | grep . || echo missing)"
if grep -q "^userfaultfd: " "$ERR"; then fail "signal engine: userfaultfd moved extents"; else pass "signal engine: no userfaultfd move"; fi
export TIERMEM_TIERING=on

log "== torture with the tiering loop on as well: two movers, the test's and the runtime's, $((SECS / 2)) s"
capture both -- tiermem_run --dram-budget "$BUDGET" --nvme-dir "$TM_NVME" -- \
  "$P" --seconds "$((SECS / 2))" --fork-every "$FORK_EVERY" --min-moves 1
grep -E '^(moves|verify)' "$OUT" | sed 's/^/  | /'
grep -E '^moves: ' "$ERR" | sed 's/^/  | runtime /'
assert_status "torture with tiering on: exit status (tier_of may disagree: the loop moves too)" 0 \
  "$([[ $RC == 0 ]] || grep -q 'disagreed with a successful move' "$OUT" && [[ -z $(grep -E 'MISMATCH|EFAULT' "$OUT") ]] && echo 0 || echo "$RC")" "$ERR"
assert_file_contains "torture with tiering on: verify=ok" "$OUT" "verify=ok"
assert_eq "torture with tiering on: efault" 0 "$(value efault "$OUT")"
runtime_moves=$(sed -n 's/^moves: \([0-9]*\) up.*, \([0-9]*\) down.*/\1 \2/p' "$ERR")
info "runtime's own counters (up down): ${runtime_moves:-none}"
cp "$TM_TMP/first-run.out" "$OUT"
info "retried: EAGAIN=$(value EAGAIN "$OUT") EBUSY=$(value EBUSY "$OUT") ENOMEM=$(value ENOMEM "$OUT"), eintr=$(value eintr "$OUT")"
if ((TM_FAIL > 0)); then
  show_failures "$OUT"
  log "  last progress lines (stderr):"
  grep '^torture: t=' "$ERR" | tail -n 3 | sed 's/^/  | /'
fi
assert_eq "no visible file left in the NVMe dir" "" "$(ls -A "$TM_NVME")"

summary
