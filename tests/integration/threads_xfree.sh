#!/bin/bash
# Cross-thread free: 8 threads allocate blocks of 16 B..4 MiB, pass them to
# other threads, which verify, sometimes realloc, and free them. The
# checksum must not change under the preload, with or without spilling.
. "$(dirname "$0")/lib.sh"
require_preload
P=$(prog threads_xfree)

for args in "8 4000" "16 1000"; do
  set -- $args
  log "== threads_xfree: $1 threads x $2 blocks"
  capture "plain_$1" -- "$P" "$1" "$2"
  assert_status "plain run ($1 threads)" 0 "$RC" "$ERR"
  assert_file_contains "plain run verified every block" "$OUT" "errors: 0"
  ref=$(grep '^checksum' "$OUT")
  info "reference $ref, $(grep '^blocks' "$OUT")"

  for budget in "" 32MiB; do
    name=preload_$1${budget:+_$budget}
    capture "$name" -- run_with_preload ${budget:+--budget $budget} -- "$P" "$1" "$2"
    assert_status "preload run ($1 threads${budget:+, budget $budget})" 0 "$RC" "$ERR"
    assert_file_contains "preload run verified every block${budget:+ (budget $budget)}" "$OUT" "errors: 0"
    assert_eq "checksum under the preload ($1 threads${budget:+, budget $budget})" "$ref" "$(grep '^checksum' "$OUT")"
  done
done

summary
