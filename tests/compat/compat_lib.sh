# Shared helpers of the compat suite (tests/compat/*.sh): real programs run
# with their own checks, once without and once with the preload, under a DRAM
# budget small enough that their large allocations spill to the NVMe tier.
# Builds on tests/integration/lib.sh (capture, assert_*, skip, temp dir):
#
#   . "$(dirname "$0")/compat_lib.sh"
#   require_preload
#   without NAME -- CMD...   # plain run; adds its wall time to "without"
#   with NAME -- CMD...      # same under the preload; adds to "with"
#   assert_files_eq ... ; compat_tiers "$ERR" [nvme]
#   compat_summary           # "compat: <name>: PASS|FAIL (without Xs, with Ys)"
#
# The "with" run goes through `tiermem run --dram-budget $COMPAT_BUDGET` when
# the CLI is built (LD_PRELOAD=$TIERMEM_PRELOAD plus a stats table on stderr
# that shows where the top process's large allocations went), else through
# LD_PRELOAD and the TIERMEM_* variables directly. COMPAT_USE_CLI=0 forces
# the latter. Exit codes: 0 pass, 1 fail, 77 skipped (something missing).

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "SKIP: compat_lib.sh is the helper library of the compat suite, not a test"
  exit 77
fi

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

COMPAT_BUDGET=${COMPAT_BUDGET:-48MiB}
COMPAT_T_WITHOUT=0
COMPAT_T_WITH=0
COMPAT_VIA=preload
if [[ ${COMPAT_USE_CLI:-1} != 0 && -x $TIERMEM_CLI ]]; then COMPAT_VIA=cli; fi

_compat_add() { # VAR SECONDS
  printf -v "$1" '%s' "$(awk -v a="${!1}" -v b="$2" 'BEGIN { printf "%.1f", a + b }')"
}
_compat_now() { echo "${EPOCHREALTIME/,/.}"; }

# without NAME [--env K=V]... -- CMD...: capture (OUT, ERR, RC) a plain run.
without() {
  local t0; t0=$(_compat_now)
  capture "$@"
  _compat_add COMPAT_T_WITHOUT "$(awk -v a="$t0" -v b="$(_compat_now)" 'BEGIN { print b - a }')"
}

# preloaded CMD...: CMD under the preload with the compat budget and this
# test's NVMe dir (for callers that start a program themselves, e.g. in the
# background). Through `tiermem run` when COMPAT_VIA=cli.
preloaded() {
  # COMPAT_FORCE_MOVES=1: the runtime moves random extents between tiers all
  # the time (TIERMEM_FORCE_MOVES), so the program runs with moves under way.
  if [[ ${COMPAT_FORCE_MOVES:-0} == 1 ]]; then export TIERMEM_FORCE_MOVES=1; fi
  if [[ $COMPAT_VIA == cli ]]; then
    "$TIERMEM_CLI" run --dram-budget "$COMPAT_BUDGET" --nvme-dir "$TM_NVME" -- "$@"
  else
    run_with_preload --budget "$COMPAT_BUDGET" -- "$@"
  fi
}

# with NAME [--env K=V]... -- CMD...: capture CMD run under the preload.
with() {
  local name=$1; shift
  local args=()
  while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
  shift
  local t0; t0=$(_compat_now)
  capture "$name" ${args[@]+"${args[@]}"} -- preloaded "$@"
  _compat_add COMPAT_T_WITH "$(awk -v a="$t0" -v b="$(_compat_now)" 'BEGIN { print b - a }')"
}

# compat_time without|with SECONDS: account time measured by the caller.
compat_time() { if [[ $1 == without ]]; then _compat_add COMPAT_T_WITHOUT "$2"; else _compat_add COMPAT_T_WITH "$2"; fi; }

# strip_tier_table FILE: the program's own stderr, without the tables that
# `tiermem run` prints at exit (one per process run through it).
strip_tier_table() {
  grep -vE '^(tiermem: process [0-9]+, policy |tier +kind |(dram|nvme|cxl|pmem)[a-z0-9_-]* +(dram|nvme|cxl|pmem) |small allocations|forks: |moves: |pauses: |userfaultfd: [0-9]+ extents moved |cpu: sampler |tiering: off|heat \(extents|  +[0-9]+- *[0-9]+% )' "$1"
}

# compat_nvme_activity STDERR_FILE: allocations placed on nvme plus
# extents moved either way, from the tables `tiermem run` printed.
compat_nvme_activity() {
  local n up down
  n=$(tier_table_value "$1" '^nvme' 'alloc')
  up=$(sed -n 's/^moves: \([0-9]*\) up.*/\1/p' "$1" | head -n 1)
  down=$(sed -n 's/^moves: [0-9]* up ([^)]*), \([0-9]*\) down.*/\1/p' "$1" | head -n 1)
  COMPAT_MOVED=$(( ${up:-0} + ${down:-0} ))
  echo $(( ${n:-0} + COMPAT_MOVED ))
}

# compat_moves STDERR_FILE: with COMPAT_FORCE_MOVES=1, the runtime moved
# extents while the program ran (the "moves:" line `tiermem run` printed).
compat_moves() {
  [[ ${COMPAT_FORCE_MOVES:-0} == 1 && $COMPAT_VIA == cli ]] || return 0
  local line up down
  line=$(grep -m1 '^moves: ' "$1")
  up=$(sed -n 's/^moves: \([0-9]*\) up.*/\1/p' <<<"$line")
  down=$(sed -n 's/^moves: [0-9]* up ([^)]*), \([0-9]*\) down.*/\1/p' <<<"$line")
  info "forced moves while the program ran: ${line:-none}"
  assert_ge "forced moves: extents moved while the program ran (up ${up:-?}, down ${down:-?})" 1 $(( ${up:-0} + ${down:-0} ))
}

# compat_tiers STDERR_FILE [nvme]: from the table `tiermem run` printed, the
# top process made tiered (>= 256 KiB) allocations; with "nvme", some of them
# were placed on the NVMe tier (the DRAM budget really overflowed). Only an
# info line when the CLI is not used.
compat_tiers() {
  if [[ $COMPAT_VIA != cli ]]; then
    info "no tiermem CLI ($TIERMEM_CLI): tier placement not checked"; return 0
  fi
  local d n
  d=$(tier_table_value "$1" '^dram' 'alloc'); n=$(tier_table_value "$1" '^nvme' 'alloc')
  if [[ ${2:-} == nvme && ${COMPAT_FORCE_MOVES:-0} == 1 ]]; then
    # Forced moves demote extents all the time, which leaves DRAM room:
    # data reaches NVMe by moves as well as by spills.
    assert_ge "tier table + moves: data reached nvme (nvme allocations ${n:-?}, extents moved ${COMPAT_MOVED:-?})" 1 \
      "$(compat_nvme_activity "$1")"
    compat_moves "$1"
  elif [[ ${2:-} == nvme ]]; then
    assert_ge "tier table: allocations spilled to nvme past the $COMPAT_BUDGET DRAM budget (dram ${d:-?}, nvme ${n:-?})" 1 "${n:-none}"
  else
    assert_ge "tier table: tiered allocations made (dram ${d:-?} + nvme ${n:-?})" 1 $(( ${d:-0} + ${n:-0} ))
  fi
  grep -A3 '^tier  *kind' "$1" | sed 's/^/  | /'
}

# compat_summary: the per-script counts, then the one compat line, and exit.
compat_summary() {
  local verdict=PASS
  ((TM_FAIL > 0 || TM_PASS == 0)) && verdict=FAIL
  printf '%s: %d passed, %d failed\n' "$TM_TEST_NAME" "$TM_PASS" "$TM_FAIL"
  ((TM_PASS == 0)) && echo "FAIL: no assertion was made"
  local mode=""
  [[ ${COMPAT_FORCE_MOVES:-0} == 1 ]] && mode=" forced moves,"
  printf 'compat: %s: %s (without %ss, with%s %ss)\n' "$TM_TEST_NAME" "$verdict" "$COMPAT_T_WITHOUT" "$mode" "$COMPAT_T_WITH"
  [[ $verdict == PASS ]] && exit 0
  exit 1
}

# skip MESSAGE (also used by require_cmd & co.): the compat line says SKIP
# and why, then exit 77.
skip() {
  printf 'SKIP: %s: %s\n' "$TM_TEST_NAME" "$*"
  printf 'compat: %s: SKIP (%s)\n' "$TM_TEST_NAME" "$*"
  exit 77
}
