#!/bin/bash
# Corners of the malloc API (malloc(0), realloc growth/shrink/to-0, every
# aligned allocator up to 1 MiB alignment, calloc zeroing and overflow,
# ENOMEM for impossible sizes, malloc_usable_size, reallocarray overflow)
# behave under the preload exactly as on plain glibc.
. "$(dirname "$0")/lib.sh"
require_preload
P=$(prog edge_cases)

log "== edge_cases: plain glibc vs preload"
capture plain -- "$P"
assert_status "plain glibc" 0 "$RC" "$ERR"
info "$(tail -n 1 "$OUT")"

for budget in "" 16MiB; do
  name=preload${budget:+_$budget}
  capture "$name" -- run_with_preload ${budget:+--budget $budget} -- "$P"
  assert_status "preload${budget:+, budget $budget}" 0 "$RC" "$ERR"
  if grep -q '^not ok' "$OUT"; then
    fail "checks failing under the preload${budget:+ (budget $budget)}:"
    grep -A3 '^not ok' "$OUT" | sed 's/^/  | /'
  else
    pass "every check ok under the preload${budget:+ (budget $budget)}: $(tail -n 1 "$OUT")"
  fi
  assert_files_eq "output identical to plain glibc${budget:+ (budget $budget)}" "$TM_TMP/plain.out" "$OUT"
done

summary
