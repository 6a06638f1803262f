#!/bin/bash
# numpy's own test suite (as Debian's python3-numpy ships it): a subset of
# core and lib tests (ndarray methods, numeric, indexing, function_base;
# ~3,700 tests, ~40 s) run by pytest without and with the preload. Both runs
# must exit 0 with the same counts (passed, skipped, xfailed, ...) and the
# same list of failed tests. Some of these tests build arrays of tens to
# hundreds of MB, which spill past the DRAM budget to the NVMe tier.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_python_modules numpy pytest hypothesis

TESTS=(numpy.core.tests.test_multiarray numpy.core.tests.test_numeric
       numpy.core.tests.test_indexing numpy.lib.tests.test_function_base)
# test_huge_vectordot: 40 s of BLAS on 2 cores, no extra coverage of the heap.
run_suite() { # NAME without|with
  local name=$1 mode=$2
  mkdir -p "$TM_TMP/cwd-$name"
  cd "$TM_TMP/cwd-$name" || return
  "$mode" "$name" --env PYTHONHASHSEED=0 --env PYTHONDONTWRITEBYTECODE=1 -- \
    "$PYTHON" -m pytest --pyargs "${TESTS[@]}" -k "not huge_vectordot" \
    -q -p no:cacheprovider -rfE -o console_output_style=classic -W ignore::DeprecationWarning
  cd - > /dev/null || return
}

# "3668 passed, 17 skipped, 2 deselected, 7 xfailed, 1 xpassed" (no time)
counts() { grep -E '^(=+ )?[0-9]+ (passed|failed)' "$1" | tail -n 1 | sed -E 's/^=+ //; s/ in [0-9.]+s.*$//; s/, [0-9]+ warnings?//'; }
failed_list() { grep -E '^(FAILED|ERROR) ' "$1" | sed -E 's/ - .*$//' | sort; }

log "== numpy $("$PYTHON" -c 'import numpy; print(numpy.__version__)') test suite subset: ${TESTS[*]}"
run_suite plain without
assert_status "pytest without the preload" 0 "$RC" "$ERR"
plain_counts=$(counts "$OUT")
assert_match "plain run ran thousands of tests ($plain_counts)" '^[0-9]{4,} passed' "$plain_counts"
failed_list "$OUT" > "$TM_TMP/plain.failed"
cp "$OUT" "$TM_TMP/plain.log"

run_suite tiered with
assert_status "pytest with the preload (budget $COMPAT_BUDGET)" 0 "$RC" "$ERR"
assert_eq "test counts: without vs with the preload" "$plain_counts" "$(counts "$OUT")"
failed_list "$OUT" > "$TM_TMP/tiered.failed"
assert_files_eq "failed tests: without vs with the preload" "$TM_TMP/plain.failed" "$TM_TMP/tiered.failed"
[[ $RC != 0 ]] && grep -E '^(FAILED|ERROR|E  )' "$OUT" | head -n 30 | sed 's/^/  | /'
compat_tiers "$ERR" nvme

compat_summary
