#!/usr/bin/env bash
# The `tiermem` CLI: help, check (good and bad policies), tiers, stat of
# processes that are not under tiermem, and -- once the preload is built --
# run and stat of a live tiermem process.
. "$(dirname "$0")/lib.sh"
require_cli

CLI=$TIERMEM_CLI
POLICIES=$TIERMEM_SOURCE/tests/policies

# line_count FILE: number of lines in FILE.
line_count() { wc -l < "$1" | tr -d ' '; }

# ---- help -------------------------------------------------------------------
capture help -- "$CLI" --help
assert_status "tiermem --help" 0 "$RC" "$ERR"
assert_file_contains "tiermem --help lists the subcommands" "$OUT" "Subcommands"
for sub in tiers check run stat; do
  capture "help-$sub" -- "$CLI" "$sub" --help
  assert_status "tiermem $sub --help" 0 "$RC" "$ERR"
done
capture no-subcommand -- "$CLI"
assert_status "tiermem without a subcommand is a usage error" 2 "$RC" "$ERR"
assert_eq "  ... reported on one line" 1 "$(line_count "$ERR")"

# ---- check ------------------------------------------------------------------
capture check-default -- "$CLI" check "$TIERMEM_SOURCE/policies/default.toml"
assert_status "check policies/default.toml" 0 "$RC" "$ERR"
assert_file_contains "  ... explains the placement order" "$OUT" "are placed on tiers in this order: dram"
assert_file_contains "  ... explains that small allocations stay in DRAM" "$OUT" "Smaller allocations always stay in DRAM"
assert_file_contains "  ... explains spilling" "$OUT" "spill to the next tier"
assert_file_contains "  ... names the extent size" "$OUT" "extents of 2 MiB"

capture check-missing -- "$CLI" check "$TM_TMP/no-such-policy.toml"
assert_status "check of a missing file" 2 "$RC" "$ERR"
assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"

bad_count=0
for policy in "$POLICIES"/bad/*.toml; do
  [[ -f $policy ]] || continue
  name=$(basename "$policy" .toml)
  read -r _ _ line field < <(head -n 1 "$policy")   # "# expect: LINE FIELD"
  capture "bad-$name" -- "$CLI" check "$policy"
  assert_status "check bad/$name.toml" 2 "$RC" "$ERR"
  assert_eq "  ... exactly one line on stderr" 1 "$(line_count "$ERR")"
  assert_eq "  ... nothing on stdout" 0 "$(line_count "$OUT")"
  assert_file_contains "  ... names line $line" "$ERR" ":$line:"
  assert_file_contains "  ... names field $field" "$ERR" "$field"
  bad_count=$((bad_count + 1))
done
info "checked $bad_count bad policies"

# ---- tiers ------------------------------------------------------------------
capture tiers -- "$CLI" tiers
assert_status "tiers" 0 "$RC" "$ERR"
assert_file_contains "  ... shows the NUMA nodes" "$OUT" "NUMA nodes"
assert_file_contains "  ... shows the DAX mounts" "$OUT" "DAX mounts"
assert_match "  ... maps the default policy's dram tier" "^dram +dram +nodes? [0-9]" "$(grep '^dram ' "$OUT")"

capture tiers-policy -- "$CLI" tiers --policy "$TIERMEM_SOURCE/policies/default.toml"
assert_status "tiers --policy default.toml" 0 "$RC" "$ERR"

first_bad=$(ls "$POLICIES"/bad/*.toml 2> /dev/null | head -n 1)
if [[ -n $first_bad ]]; then
  capture tiers-bad -- "$CLI" tiers --policy "$first_bad"
  assert_status "tiers --policy with a bad policy" 2 "$RC" "$ERR"
  assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"
fi

# ---- stat without tiermem ---------------------------------------------------
capture stat-self -- "$CLI" stat $$
assert_ne "stat of this shell fails" 0 "$RC"
assert_file_contains "  ... says it is not running under tiermem" "$ERR" "is not running under tiermem"

capture stat-none -- "$CLI" stat 999999999
assert_status "stat of a process that does not exist" 1 "$RC" "$ERR"
assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"
assert_file_contains "  ... says so" "$ERR" "no process 999999999"

capture stat-abc -- "$CLI" stat abc
assert_status "stat abc is a usage error" 2 "$RC" "$ERR"
assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"

capture stat-zero -- "$CLI" stat 0
assert_status "stat 0 is a usage error" 2 "$RC" "$ERR"

# ---- run: argument checks (before anything is started) ----------------------
capture run-bad-budget -- "$CLI" run --dram-budget nonsense -- true
assert_status "run --dram-budget nonsense" 2 "$RC" "$ERR"
assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"
assert_file_contains "  ... names the option" "$ERR" "--dram-budget"

if [[ -n $first_bad ]]; then
  capture run-bad-policy -- "$CLI" run --policy "$first_bad" -- true
  assert_status "run --policy with a bad policy" 2 "$RC" "$ERR"
  assert_eq "  ... one line on stderr" 1 "$(line_count "$ERR")"
fi

capture run-bad-dir -- "$CLI" run --nvme-dir "$TM_TMP/missing" -- true
assert_status "run --nvme-dir with a missing directory" 2 "$RC" "$ERR"

capture run-nothing -- "$CLI" run
assert_status "run without a command" 2 "$RC" "$ERR"

# ---- run and stat under the preload -------------------------------------------
if [[ -f $TIERMEM_PRELOAD ]]; then
  export TIERMEM_PRELOAD   # what `tiermem run` loads

  capture run-true -- "$CLI" run --nvme-dir "$TM_NVME" -- true
  assert_status "run -- true" 0 "$RC" "$ERR"
  assert_file_contains "  ... prints the tier table" "$ERR" "spills in"
  assert_file_lacks "  ... the runtime started" "$ERR" "no tiermem runtime started"

  capture run-exit3 -- "$CLI" run --nvme-dir "$TM_NVME" -- sh -c 'exit 3'
  assert_status "run -- sh -c 'exit 3'" 3 "$RC" "$ERR"

  capture run-quiet -- "$CLI" run --quiet --nvme-dir "$TM_NVME" -- true
  assert_status "run --quiet -- true" 0 "$RC" "$ERR"
  assert_eq "  ... prints nothing" 0 "$(line_count "$ERR")"

  capture run-budget -- "$CLI" run --dram-budget 64MiB --nvme-dir "$TM_NVME" -- true
  assert_status "run --dram-budget 64MiB -- true" 0 "$RC" "$ERR"

  capture run-killed -- "$CLI" run --quiet --nvme-dir "$TM_NVME" -- sh -c 'kill -TERM $$'
  assert_status "run of a program killed by SIGTERM exits 128+15" 143 "$RC" "$ERR"

  # A live process: with LD_PRELOAD set, `sleep` itself runs the runtime.
  "$CLI" run --quiet --nvme-dir "$TM_NVME" -- sleep 3 > /dev/null 2>&1 &
  run_pid=$!
  on_exit "kill $run_pid 2> /dev/null"
  sleep_pid=""
  for _ in $(seq 50); do
    sleep_pid=$(pgrep -P "$run_pid" -x sleep || true)
    [[ -n $sleep_pid ]] && break
    sleep 0.1
  done
  sleep 0.5   # let the runtime start and fill its page
  if [[ -n $sleep_pid ]]; then
    capture stat-live -- "$CLI" stat "$sleep_pid"
    assert_status "stat of a process under tiermem" 0 "$RC" "$ERR"
    assert_file_contains "  ... shows the tier table" "$OUT" "spills in"
    assert_match "  ... with a dram row" "^dram " "$(grep '^dram ' "$OUT")"

    capture stat-json -- "$CLI" stat --json "$sleep_pid"
    assert_status "stat --json" 0 "$RC" "$ERR"
    assert_file_contains "  ... is JSON with the pid" "$OUT" "{\"pid\":$sleep_pid,"

    capture stat-prom -- "$CLI" stat --prometheus "$sleep_pid"
    assert_status "stat --prometheus" 0 "$RC" "$ERR"
    assert_file_contains "  ... has TYPE lines" "$OUT" "# TYPE tiermem_tier_live_bytes gauge"
    assert_file_contains "  ... labels by pid and tier" "$OUT" "tiermem_tier_live_bytes{pid=\"$sleep_pid\",tier=\"dram\""
  else
    fail "run -- sleep 3: no sleep process appeared under tiermem run (pid $run_pid)"
  fi
  wait "$run_pid"
  assert_status "run -- sleep 3 exits 0" 0 "$?"
else
  info "preload not built ($TIERMEM_PRELOAD): skipping run/stat under the preload"
fi

summary
