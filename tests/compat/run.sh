#!/bin/bash
# Runs the compat suite: every tests/compat/*.sh (real programs with their
# own checks, without and with the preload), one after the other. Prints each
# script's `compat: <name>: PASS|FAIL|SKIP (...)` line, then
# `N passed, N failed` (and skipped); exits 1 if any failed.
#
#   tests/compat/run.sh [NAME...]          # all, or only the named scripts
#
# Uses TIERMEM_BUILD / TIERMEM_PRELOAD / TIERMEM_CLI / TIERMEM_SOURCE /
# TIERMEM_PROGS like the integration tests (defaults: the source tree's
# build/). COMPAT_VERBOSE=1 shows every assertion; otherwise a failing or
# skipped script's full output is shown. COMPAT_BUDGET (default 48MiB) sets
# the DRAM budget of the runs with the preload.
here=$(cd "$(dirname "$0")" && pwd)
export TIERMEM_SOURCE=${TIERMEM_SOURCE:-$(cd "$here/../.." && pwd)}
export TIERMEM_BUILD=${TIERMEM_BUILD:-$TIERMEM_SOURCE/build}
export TIERMEM_PRELOAD=${TIERMEM_PRELOAD:-$TIERMEM_BUILD/preload/libtiermem-preload.so}
export TIERMEM_PROGS=${TIERMEM_PROGS:-$TIERMEM_BUILD/tests/progs}
[[ -n ${TIERMEM_CLI:-} ]] && export TIERMEM_CLI

scripts=()
if (($#)); then
  for n in "$@"; do scripts+=("$here/${n%.sh}.sh"); done
else
  for s in "$here"/*.sh; do
    case ${s##*/} in run.sh | compat_lib.sh) ;; *) scripts+=("$s") ;; esac
  done
fi

passed=0 failed=0 skipped=0 t0=$SECONDS
for s in "${scripts[@]}"; do
  name=$(basename "$s" .sh)
  log=$(mktemp "${TMPDIR:-/tmp}/compat-$name.XXXXXX.log")
  bash "$s" > "$log" 2>&1
  rc=$?
  line=$(grep -m1 "^compat: $name: " "$log")
  case $rc in
    0) passed=$((passed + 1)) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); [[ -n $line ]] || line="compat: $name: FAIL (exit $rc, no summary line)" ;;
  esac
  if [[ -n ${COMPAT_VERBOSE:-} || $rc != 0 ]]; then sed 's/^/    /' "$log"; fi
  echo "${line:-compat: $name: exit $rc}"
  rm -f "$log"
done
echo "compat suite: $((SECONDS - t0))s, $skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
