#!/bin/bash
# The move engine where userfaultfd may not be used. An ordinary user on
# this kind of machine (/dev/userfaultfd is root's, vm.unprivileged_userfaultfd
# is 0) gets the stop-the-world engine without a word under the default
# `auto`, one line on stderr when it asked for userfaultfd, and the same
# data either way; root gets the userfaultfd engine. Runs bench/move_stall
# (a writer on a tiered buffer, forced moves) as uid 65534 through setpriv.
. "$(dirname "$0")/lib.sh"
require_cli
[[ $(id -u) == 0 ]] || skip "needs root, to run the program as another user (setpriv)"
command -v setpriv > /dev/null || skip "setpriv (util-linux) not installed"
P=$TIERMEM_BUILD/bench/move_stall
[[ -x $P ]] || skip "bench/move_stall not built in $TIERMEM_BUILD"
if [[ $(cat /proc/sys/vm/unprivileged_userfaultfd 2> /dev/null) == 1 ]]; then
  skip "vm.unprivileged_userfaultfd=1: an ordinary user may use userfaultfd here"
fi
DIR=$TM_TMP/nobody
mkdir -p "$DIR" && chmod 0777 "$DIR" "$TM_TMP"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

log "== uid 65534, TIERMEM_MOVE_ENGINE unset (auto), forced moves, 2 s"
capture auto --env TIERMEM_FORCE_MOVES=1 -- nobody "$TIERMEM_CLI" run --dram-budget 64MiB --nvme-dir "$DIR" -- "$P" 2 128
grep -E '^(moves|pauses|userfaultfd): ' "$ERR" | sed 's/^/  | /'
assert_status "auto as an ordinary user: exit status" 0 "$RC" "$ERR"
assert_file_contains "auto as an ordinary user: every update read back" "$OUT" "verify=ok"
assert_ge "auto as an ordinary user: stop-the-world pauses" 1 \
  "$(sed -n 's/^pauses: \([0-9]*\),.*/\1/p' "$ERR" | grep . || echo missing)"
assert_eq "auto as an ordinary user: no userfaultfd move" 0 "$(grep -c '^userfaultfd: ' "$ERR")"
assert_file_lacks "auto as an ordinary user: nothing said about the engine" "$ERR" "move engine"

log "== uid 65534, TIERMEM_MOVE_ENGINE=userfaultfd"
capture forced --env TIERMEM_FORCE_MOVES=1 --env TIERMEM_MOVE_ENGINE=userfaultfd -- \
  nobody "$TIERMEM_CLI" run --dram-budget 64MiB --nvme-dir "$DIR" -- "$P" 1 128
assert_status "userfaultfd asked for as an ordinary user: exit status" 0 "$RC" "$ERR"
assert_file_contains "userfaultfd asked for as an ordinary user: every update read back" "$OUT" "verify=ok"
assert_eq "one line saying the engine falls back" 1 "$(grep -c 'move engine userfaultfd: .*moves stop the world instead' "$ERR")"
assert_eq "userfaultfd asked for as an ordinary user: no userfaultfd move" 0 "$(grep -c '^userfaultfd: ' "$ERR")"

log "== root, default engine"
capture root --env TIERMEM_FORCE_MOVES=1 -- "$TIERMEM_CLI" run --dram-budget 64MiB --nvme-dir "$DIR" -- "$P" 2 128
grep -E '^(moves|pauses|userfaultfd): ' "$ERR" | sed 's/^/  | /'
assert_status "root: exit status" 0 "$RC" "$ERR"
assert_file_contains "root: every update read back" "$OUT" "verify=ok"
assert_ge "root: extents moved by userfaultfd" 1 \
  "$(sed -n 's/^userfaultfd: \([0-9]*\) extents moved.*/\1/p' "$ERR" | grep . || echo missing)"
assert_eq "root: main thread's sleep never cut short (EINTR)" 0 "$(sed -n 's/^sleep_eintr=//p' "$OUT")"

summary
