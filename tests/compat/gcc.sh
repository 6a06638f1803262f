#!/bin/bash
# gcc compiles a generated C file (3,000 functions, a 40k-entry switch, big
# initialised tables; ~6 MB of source) at -O2, links and runs it. The object
# file must be byte-identical and the program's output the same without and
# with the preload. With the CLI, gcc runs its subprocesses (cc1, as, collect2,
# ld) through `-wrapper tiermem,run,...` so each is preloaded and reports its
# tiers; without the CLI the whole pipeline runs under LD_PRELOAD.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_cmd gcc perl sha256sum

perl -e '
  my $n = 3000; my $x = 7;
  sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; $x }
  print "#include <stdio.h>\n#include <stdint.h>\n";
  for my $i (0 .. $n - 1) {
    my ($a, $b, $c) = (rnd() % 1000, rnd() % 97 + 1, rnd() % 31);
    print "static uint64_t f$i(uint64_t v) { uint64_t r = v * $a + $b;\n";
    print "  for (int k = 0; k < ", 3 + $i % 5, "; k++) r = (r << 7 | r >> 57) ^ (r * $c + k);\n";
    print "  if (r % ", $b + 1, " == 0) r += v; return r; }\n";
  }
  print "static const uint32_t table[] = {", join(",", map { rnd() } 1 .. 200000), "};\n";
  print "static uint64_t sw(uint32_t k) { switch (k) {\n";
  print "  case $_: return ", rnd() % 100000, "u;\n" for 0 .. 39999;
  print "  default: return 1; } }\n";
  print "typedef uint64_t (*fn)(uint64_t);\nstatic const fn fns[] = {", join(",", map { "f$_" } 0 .. $n - 1), "};\n";
  print "int main(void) { uint64_t acc = 1469598103934665603u;\n";
  print "  for (unsigned i = 0; i < sizeof table / sizeof *table; i++) acc = (acc ^ fns[i % $n](table[i])) * 1099511628211u + sw(i % 45000);\n";
  print "  printf(\"acc %016llx\\n\", (unsigned long long)acc); return 0; }\n";
' > "$TM_TMP/big.c" || { fail "source generator"; compat_summary; }
info "big.c: $(wc -c < "$TM_TMP/big.c") bytes, $(wc -l < "$TM_TMP/big.c") lines"

CFLAGS=(-O2 -g0 -fno-ident -frandom-seed=compat)
# build NAME without|with: compile to NAME.o, link NAME.bin, run it.
build() {
  local name=$1 mode=$2
  local cc=(gcc "${CFLAGS[@]}")
  if [[ $mode == with && $COMPAT_VIA == cli ]]; then
    cc+=(-wrapper "$TIERMEM_CLI,run,--dram-budget,$COMPAT_BUDGET,--nvme-dir,$TM_NVME,--")
    "$mode" "$name.cc" -- "${cc[@]}" -c "$TM_TMP/big.c" -o "$TM_TMP/$name.o"
  elif [[ $mode == with ]]; then
    "$mode" "$name.cc" -- "${cc[@]}" -c "$TM_TMP/big.c" -o "$TM_TMP/$name.o"
  else
    "$mode" "$name.cc" -- "${cc[@]}" -c "$TM_TMP/big.c" -o "$TM_TMP/$name.o"
  fi
  CC_RC=$RC CC_ERR=$ERR
  "$mode" "$name.ld" -- "${cc[@]}" "$TM_TMP/$name.o" -o "$TM_TMP/$name.bin"
  LD_RC=$RC
  "$mode" "$name.run" -- "$TM_TMP/$name.bin"
}

log "== $(gcc --version | head -n 1): generated C file, -O2"
build plain without
assert_status "gcc -c without the preload" 0 "$CC_RC" "$CC_ERR"
assert_status "link without the preload" 0 "$LD_RC"
assert_status "generated program (plain build) runs" 0 "$RC" "$ERR"
assert_match "it prints its checksum" '^acc [0-9a-f]{16}$' "$(cat "$OUT")"

build tiered with
assert_status "gcc -c with the preload" 0 "$CC_RC" "$CC_ERR"
assert_status "link with the preload" 0 "$LD_RC"
assert_eq "object file: without vs with the preload (sha256)" \
  "$(sha256sum < "$TM_TMP/plain.o")" "$(sha256sum < "$TM_TMP/tiered.o")"
assert_status "generated program (preload build, run under the preload) runs" 0 "$RC" "$ERR"
assert_files_eq "program output: without vs with the preload" "$TM_TMP/plain.run.out" "$TM_TMP/tiered.run.out"
assert_eq "gcc diagnostics: without vs with the preload" "$(cat "$TM_TMP/plain.cc.err")" \
  "$(strip_tier_table "$TM_TMP/tiered.cc.err")"
# cc1's table is the first one on the compile's stderr.
compat_tiers "$TM_TMP/tiered.cc.err"

compat_summary
