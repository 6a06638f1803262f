#!/bin/bash
# fork() keeps copy-on-write semantics for small and large (tiered) buffers,
# across three generations, with helper threads allocating during the fork,
# with and without a budget that puts most large buffers on the NVMe tier.
. "$(dirname "$0")/lib.sh"
require_preload
P=$(prog fork_cow)

# The processes interleave their lines differently from run to run: compare
# the sorted output (same checks, same results, in every generation).
sorted() { sort "$1" > "$1.sorted"; echo "$1.sorted"; }

log "== fork_cow 64 MiB largest buffer, 3 generations"
capture plain -- "$P" 64 3
assert_status "plain run" 0 "$RC" "$ERR"
assert_file_contains "plain run: all checks passed" "$OUT" "fork_cow: OK (0 failures)"
ref=$(sorted "$OUT")
info "$(grep -c 'buffers ok' "$OUT") verification lines, $(grep -c 'passed' "$OUT") children passed"

for budget in "" 48MiB 8MiB; do
  name=preload${budget:+_$budget}
  capture "$name" -- run_with_preload ${budget:+--budget $budget} -- "$P" 64 3
  assert_status "preload run${budget:+, budget $budget}" 0 "$RC" "$ERR"
  assert_file_lacks "no MISMATCH${budget:+ (budget $budget)}" "$OUT" "MISMATCH"
  assert_file_contains "all checks passed${budget:+ (budget $budget)}" "$OUT" "fork_cow: OK (0 failures)"
  assert_files_eq "same checks and results as the plain run${budget:+ (budget $budget)}" "$ref" "$(sorted "$OUT")"
done

summary
