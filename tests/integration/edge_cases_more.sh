#!/bin/bash
# More C-library contract corners under the preload, each compared with a
# run on plain glibc, then run under the preload with no budget and with a
# 16 MiB DRAM budget (so the NVMe tier takes the rest):
#
#  - dlopen: a library (progs/libs/alloc_lib.c, compiled here) allocates
#    40 B .. 4 MiB in its constructor and frees them in its destructor, hands
#    out blocks this program keeps across dlclose, reallocs and frees ours;
#  - thread storm: 2000 short-lived threads, 16 at a time, allocate 16 B ..
#    4 MiB, free each other's blocks and exit with blocks still in flight;
#  - signal handlers that allocate (SIGALRM every 1 ms + SIGUSR1 from a
#    second thread) while two threads allocate in a loop for 2 s. Handlers
#    allocate only when the interrupted thread is not inside malloc: malloc
#    is not async-signal-safe, so a real program must not re-enter its
#    allocator either (progs/signal_alloc.c says more). What must hold is
#    the same behaviour with and without the preload.
#
# Every program prints only deterministic lines on stdout (the same with and
# without the preload) and checks, under tiermem, that every tier's live
# bytes are back to where they started at the end (tiermem_get_stats via
# dlsym; progs/tier_live.h). Each run has a time limit, so a deadlock fails
# the test instead of hanging it.
. "$(dirname "$0")/lib.sh"
require_preload
require_cmd timeout
LIMIT=${EDGE_MORE_TIME_LIMIT:-240}   # seconds per run

CC=${CC:-cc}
command -v "$CC" > /dev/null 2>&1 || CC=gcc
command -v "$CC" > /dev/null 2>&1 || skip "no C compiler to build the dlopen test library"
LIB=$TM_TMP/alloc_lib.so
"$CC" -O2 -Wall -Wextra -shared -fPIC -o "$LIB" "$TIERMEM_SOURCE/tests/integration/progs/libs/alloc_lib.c" \
  > "$TM_TMP/alloc_lib.log" 2>&1 || { cat "$TM_TMP/alloc_lib.log"; skip "cannot compile progs/libs/alloc_lib.c"; }

# run NAME BUDGET CMD...: BUDGET "-" = plain glibc, "" = preload without a
# budget, else preload with that DRAM budget and the NVMe dir of this test.
run() {
  local name=$1 budget=$2; shift 2
  if [[ $budget == - ]]; then
    capture "$name" -- timeout -s KILL "$LIMIT" "$@"
  else
    rm -rf "$TM_NVME" && mkdir -p "$TM_NVME"
    capture "$name" -- timeout -s KILL "$LIMIT" env "LD_PRELOAD=$TIERMEM_PRELOAD" "TIERMEM_NVME_DIR=$TM_NVME" \
      ${budget:+"TIERMEM_DRAM_BUDGET=$budget"} "$@"
  fi
  if ((RC == 137)); then fail "$name: killed after ${LIMIT}s (deadlock or livelock?)"; show_file stderr "$ERR" 30; fi
}

# compare TITLE CMD...: plain, preload, preload with a 16 MiB budget.
compare() {
  local title=$1; shift
  log "== $title"
  # The reference run is glibc's own: its malloc is not async-signal-safe
  # either, and a handler can still land in one of its internal calls
  # (signal_alloc deadlocked once in CI without tiermem). Such a run is
  # repeated, not counted against tiermem.
  local attempt
  for attempt in 1 2 3; do
    capture "${title}_plain" -- timeout -s KILL 60 "$@"
    ((RC == 137)) || break
    info "$title: plain glibc killed after 60 s (a deadlock of glibc's own malloc); running it again"
  done
  assert_status "$title: plain glibc" 0 "$RC" "$ERR"
  local ref=$OUT
  info "$(tail -n 1 "$OUT")"
  local budget label
  for budget in "" 16MiB; do
    label="$title: preload${budget:+, budget $budget}"
    run "${title}_preload${budget:+_$budget}" "$budget" "$@"
    assert_status "$label" 0 "$RC" "$ERR"
    assert_files_eq "$label: output identical to plain glibc" "$ref" "$OUT"
    grep -E '^tiers at end|^SIGALRM|^blocks still' "$ERR" | sed 's/^/  .. /'
    if [[ -n $budget ]]; then
      assert_ge "$label: the NVMe tier took allocations" 1 "$(sed -n 's/^nvme allocations: //p' "$ERR")"
    fi
  done
}

compare dlopen "$(prog dlopen_alloc)" "$LIB" 8
compare thread_storm "$(prog thread_storm)" 2000 16
compare signal_alloc "$(prog signal_alloc)" 2

# A pthread-key destructor that frees a 512 KiB per-thread buffer (the
# usual per-thread cache of a C library). The key is created by main, after
# the runtime's own thread-exit key, so glibc runs its destructor after the
# runtime's: the buffer it frees must go back to jemalloc, not into the
# exiting thread's one-block cache (where it would leak: 512 KiB of budget
# per thread).
log "== thread_storm with a pthread-key destructor that frees"
P=$(prog thread_storm)
run keydtor_plain - "$P" 200 16 keydtor
assert_status "keydtor: plain glibc" 0 "$RC" "$ERR"
ref=$OUT
run keydtor_preload "" "$P" 200 16 keydtor
grep -E '^tiers at end|^tier ' "$ERR" | sed 's/^/  .. /'
assert_status "keydtor: preload" 0 "$RC" "$ERR"
assert_files_eq "keydtor: preload: output identical to plain glibc" "$ref" "$OUT"
summary
