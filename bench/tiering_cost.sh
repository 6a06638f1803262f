#!/usr/bin/env bash
# bench/tiering_cost.sh: CPU the sampler and the mover use, on a large heap,
# while the tiering loop converges on a hot set and while the heap is idle.
#
#   bench/tiering_cost.sh [GIB] [BUDGET] [HOT_MIB] [CONVERGE_S] [IDLE_S]
#   defaults: 16 GiB heap, 4GiB DRAM budget, 1024 MiB hot set, 30 s, 30 s
#
# Runs bench/idle_heap under `TIERMEM_TIERING=on tiermem run` (moves are off
# by default) with the NVMe tier in
# $WORK_DIR (default /var/tmp) and reads `tiermem stat --json` at the start
# and end of each phase: sampler_cpu_ns + mover_cpu_ns over the phase's
# wall time is the share of one core; the runtime's whole background thread
# ("tiermem": governor, sampler, tiering) is read from /proc as well.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
CLI=$BUILD/tools/tiermem
PROG=$BUILD/bench/idle_heap
GIB=${1:-16} BUDGET=${2:-4GiB} HOT=${3:-1024} CONVERGE=${4:-30} IDLE=${5:-30}
WORK=$(mktemp -d "${WORK_DIR:-/var/tmp}/tiermem-cost.XXXXXX")
trap 'kill $pid 2>/dev/null || true; rm -rf "$WORK"' EXIT
fifo=$WORK/out
mkfifo "$fifo"
TIERMEM_TIERING=on "$CLI" run --dram-budget "$BUDGET" --nvme-dir "$WORK" -- "$PROG" "$GIB" "$HOT" "$CONVERGE" "$IDLE" >"$fifo" 2>"$WORK/err" &
pid=$!
exec 3<"$fifo"

json() { "$CLI" stat --json "$1"; }
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }
thread_ticks() { # utime+stime of the runtime's thread, in clock ticks
  local t
  for t in /proc/"$1"/task/*; do
    if [[ $(cat "$t/comm" 2>/dev/null) == tiermem ]]; then awk '{print $14 + $15}' "$t/stat"; return; fi
  done
  echo 0
}
hz=$(getconf CLK_TCK)
declare -A s_ns m_ns t_ticks at
prog_pid=
while read -r line <&3; do
  case $line in
    phase\ *)
      phase=$(awk '{print $2}' <<<"$line"); prog_pid=$(awk '{print $4}' <<<"$line")
      j=$(json "$prog_pid")
      s_ns[$phase]=$(field "$j" sampler_cpu_ns); m_ns[$phase]=$(field "$j" mover_cpu_ns)
      t_ticks[$phase]=$(thread_ticks "$prog_pid"); at[$phase]=${EPOCHREALTIME/,/.}
      echo "$(date +%T) $line" >&2 ;;
    done*) echo "$(date +%T) $line" >&2 ;;
  esac
done
wait "$pid" || { echo "idle_heap failed:"; cat "$WORK/err"; exit 1; }
report() { # PHASE NEXT
  awk -v s0="${s_ns[$1]}" -v s1="${s_ns[$2]}" -v m0="${m_ns[$1]}" -v m1="${m_ns[$2]}" \
      -v t0="${t_ticks[$1]}" -v t1="${t_ticks[$2]}" -v a="${at[$1]}" -v b="${at[$2]}" -v hz="$hz" -v p="$1" \
      'BEGIN { w = b - a; printf "%-9s %6.1f s  sampler %6.3f s  mover %6.3f s  = %5.2f%% of a core   (runtime thread incl. governor: %5.2f%%)\n",
               p, w, (s1 - s0) / 1e9, (m1 - m0) / 1e9, 100 * ((s1 - s0) + (m1 - m0)) / 1e9 / w, 100 * (t1 - t0) / hz / w }'
}
echo "heap ${GIB} GiB, DRAM budget $BUDGET, hot set ${HOT} MiB"
report converge idle
report idle end
grep -E '^(moves|pauses|cpu):' "$WORK/err" || true
