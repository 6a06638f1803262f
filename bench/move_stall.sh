#!/usr/bin/env bash
# bench/move_stall.sh: what moving extents costs the threads that do not
# touch them, stop-the-world engine against userfaultfd, side by side.
#
#   bench/move_stall.sh [REPS] [SECONDS] [TIERED_MIB] [BUDGET]
#   defaults: 3 reps, 8 s, 256 MiB tiered, 128MiB DRAM budget
#
# Runs bench/move_stall (a writer thread updating a tiered buffer, a ticker
# thread waking every millisecond that touches no tiered memory) under
# `tiermem run` three ways, interleaved: no moves (the machine's own noise),
# TIERMEM_FORCE_MOVES=1 with TIERMEM_MOVE_ENGINE=signal, and with
# TIERMEM_MOVE_ENGINE=userfaultfd (skipped with a reason where it cannot be
# used). Prints medians (min-max) of the ticker's late wake-ups, the main
# thread's nanosleep() calls cut short (EINTR), the writer's updates, and
# the runtime's moves and pauses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
CLI=$BUILD/tools/tiermem
PROG=$BUILD/bench/move_stall
REPS=${1:-3} SECS=${2:-8} MIB=${3:-256} BUDGET=${4:-128MiB}
WORK=$(mktemp -d "${WORK_DIR:-/var/tmp}/tiermem-stall.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

modes=(none signal userfaultfd)
if ! TIERMEM_MOVE_ENGINE=userfaultfd TIERMEM_FORCE_MOVES=1 "$CLI" run --dram-budget 64MiB --nvme-dir "$WORK" -- \
    "$PROG" 1 64 2>&1 >/dev/null | grep -q '^userfaultfd: [1-9]'; then
  echo "userfaultfd engine not usable here (needs root, /dev/userfaultfd access or vm.unprivileged_userfaultfd=1): skipped"
  modes=(none signal)
fi

for ((r = 1; r <= REPS; r++)); do
  for m in "${modes[@]}"; do
    force=1 engine=$m
    [[ $m == none ]] && force=0 engine=auto
    TIERMEM_FORCE_MOVES=$force TIERMEM_MOVE_ENGINE=$engine "$CLI" run --dram-budget "$BUDGET" --nvme-dir "$WORK" -- \
      "$PROG" "$SECS" "$MIB" > "$WORK/$m.$r.out" 2> "$WORK/$m.$r.err"
    grep -q '^verify=ok' "$WORK/$m.$r.out" || { echo "$m rep $r: verify failed" >&2; exit 1; }
  done
done

# median (min-max) of key K over the reps of mode M
stat() {
  local m=$1 k=$2
  for ((r = 1; r <= REPS; r++)); do sed -n "s/^$k=//p" "$WORK/$m.$r.out"; done |
    sort -g | awk '{v[NR] = $1} END { printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
runtime() { # median of a number in the runtime's report line
  local m=$1 re=$2
  for ((r = 1; r <= REPS; r++)); do sed -n "s/$re/\1/p" "$WORK/$m.$r.err" | head -n 1 | grep . || echo 0; done |
    sort -g | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }'
}
echo "move_stall: $REPS reps x $SECS s, $MIB MiB tiered, DRAM budget $BUDGET; medians (min-max)"
printf '| %-11s | %-16s | %-16s | %-16s | %-14s | %-22s | %-7s | %-8s | %-6s |\n' moves "ticker >1 ms late" "ticker >5 ms late" \
  "ticker max ms" "sleeps EINTR" "writer updates" "extents" "pauses" "waits"
printf '|%s|\n' "-------------|------------------|------------------|------------------|----------------|------------------------|---------|----------|--------"
for m in "${modes[@]}"; do
  up=$(runtime "$m" '^moves: \([0-9]*\) up.*')
  down=$(runtime "$m" '^moves: [0-9]* up ([^)]*), \([0-9]*\) down.*')
  printf '| %-11s | %-16s | %-16s | %-16s | %-14s | %-22s | %-7s | %-8s | %-6s |\n' "$m" \
    "$(stat "$m" ticker_over_1ms)" "$(stat "$m" ticker_over_5ms)" "$(stat "$m" ticker_max_ms)" \
    "$(stat "$m" sleep_eintr)" "$(stat "$m" updates)" "$((up + down))" \
    "$(runtime "$m" '^pauses: \([0-9]*\),.*')" "$(runtime "$m" '^userfaultfd: .* extents moved without a pause, \([0-9]*\) faults.*')"
done
