#!/bin/bash
# exec while extents move (TIERMEM_FORCE_MOVES): forked children that exec
# through each of the C library's eight exec functions, and a chain of
# images that exec themselves from a side thread while writers run. A stop
# request of the mover queued to a thread as it calls exec used to outlive
# the image and kill the new program with signal 61 (SIGRTMAX-3): about 1
# child in 80 here, git's maintenance child in CI. Every child must exit 0.
. "$(dirname "$0")/lib.sh"
require_preload
require_cli
P=$(prog exec_race)
ROUNDS=${EXEC_RACE_ROUNDS:-120}

log "== exec_race: $ROUNDS fork+exec rounds with forced moves, budget 16MiB"
capture forks --env TIERMEM_FORCE_MOVES=1 -- tiermem_run --dram-budget 16MiB --nvme-dir "$TM_NVME" -- "$P" "$ROUNDS" 0
assert_status "fork+exec rounds under forced moves" 0 "$RC" "$ERR"
assert_file_contains "every child exited 0" "$OUT" "exec_race: $ROUNDS fork+exec rounds, 0 failures, writer errors 0"
if grep 'died of\|exited' "$OUT" > "$TM_TMP/failed.txt"; then show_file "children that failed" "$TM_TMP/failed.txt" 10; fi
moves=$(grep -m1 '^moves: ' "$ERR" "$OUT" | head -n 1)
info "parent: ${moves:-no moves line}"
up=$(sed -n 's/.*moves: \([0-9]*\) up.*/\1/p' <<<"$moves")
assert_ge "the parent's extents moved while it forked (moves up)" 1 "${up:-0}"

log "== exec_race: a chain of 12 images exec'd from a side thread"
capture chain --env TIERMEM_FORCE_MOVES=1 -- run_with_preload --budget 16MiB -- "$P" 20 12
assert_status "exec chain under forced moves" 0 "$RC" "$ERR"
assert_file_contains "the last image of the chain ran and its buffers held" "$OUT" "exec_race: chain: last image reached, buffers ok"
assert_file_lacks "no stray stop signal on stderr" "$ERR" "signal"

summary
