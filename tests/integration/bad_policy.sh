#!/bin/bash
# A bad policy never breaks the program: for every tests/policies/bad/*.toml,
# a C program and python3 run under the preload with TIERMEM_POLICY=that
# file exit 0 with the right output, and stderr holds exactly one line that
# mentions tiermem and the policy file (the runtime then runs DRAM-only).
# When the file has a "# expect: LINE FIELD" comment, the line must also name
# that line number and field ("file:line: field: message").
. "$(dirname "$0")/lib.sh"
require_preload
BAD_DIR=$TIERMEM_SOURCE/tests/policies/bad
shopt -s nullglob
files=("$BAD_DIR"/*.toml)
shopt -u nullglob
((${#files[@]} > 0)) || skip "no policy files in $BAD_DIR"
P=$(prog spill_budget)
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=$(command -v python3 || true)

capture ref -- "$P" 16
assert_status "spill_budget 16 without preload" 0 "$RC" "$ERR"
info "reference: $(grep '^checksum' "$OUT"); ${#files[@]} bad policy files"

# Control: a good policy prints nothing on stderr.
capture good -- run_with_preload --policy "$TIERMEM_SOURCE/policies/default.toml" -- "$P" 16
assert_status "good policy (policies/default.toml)" 0 "$RC" "$ERR"
assert_eq "good policy: stderr lines" 0 "$(wc -l < "$ERR")"

# check_one NAME POLICY_PATH CMD...: exit 0, expected stdout in $expect_out,
# exactly one stderr line naming tiermem and the file. Leaves the line in $line.
check_one() {
  local name=$1 policy=$2; shift 2
  capture "$name" -- run_with_preload --policy "$policy" -- "$@"
  local label
  label="$(basename "$policy") with $(basename "$1")"
  if [[ $RC != 0 ]]; then
    fail "$label: exit $RC (expected 0)"; show_file stderr "$ERR" 5; line=; return
  fi
  if [[ "$(cat "$OUT")" != "$expect_out" ]]; then
    fail "$label: wrong stdout: $(head -c 200 "$OUT")"; line=; return
  fi
  local n
  n=$(wc -l < "$ERR")
  line=$(head -n 1 "$ERR")
  if [[ $n != 1 ]]; then
    fail "$label: $n lines on stderr (expected exactly 1)"; show_file stderr "$ERR" 6; return
  fi
  if ! grep -qi 'tiermem' <<< "$line"; then
    fail "$label: stderr line does not mention tiermem: $line"; return
  fi
  if ! grep -qF -- "$(basename "$policy")" <<< "$line"; then
    fail "$label: stderr line does not name the policy file: $line"; return
  fi
  pass "$label: exit 0, right output, one stderr line: $line"
}

for f in "${files[@]}"; do
  base=$(basename "$f" .toml)
  expect_out=$(cat "$TM_TMP/ref.out")
  check_one "c_$base" "$f" "$P" 16
  c_line=$line
  if [[ -n $PY ]]; then
    expect_out=45
    check_one "py_$base" "$f" "$PY" -c 'print(sum(range(10)))'
  fi
  # "# expect: LINE FIELD": the message points at the right place.
  read -r _ _ eline efield < <(grep -m1 '^# expect:' "$f") || true
  if [[ -n ${eline:-} && -n $c_line ]]; then
    if [[ $c_line == *"$(basename "$f"):$eline:"* && $c_line == *"$efield"* ]]; then
      pass "$(basename "$f"): names line $eline and field $efield"
    else
      fail "$(basename "$f"): expected line $eline and field '$efield' in: $c_line"
    fi
  fi
  eline= efield=
done

# A policy file that does not exist is a bad policy too.
expect_out=$(cat "$TM_TMP/ref.out")
check_one c_missing "$TM_TMP/no-such-policy.toml" "$P" 16

summary
