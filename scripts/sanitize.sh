#!/usr/bin/env bash
# Builds the unit tests with sanitizers and runs them.
#   scripts/sanitize.sh                     # same as "all"
#   scripts/sanitize.sh address,undefined   # ASan+UBSan: unit tests (gcc) and
#                                           # the fuzz corpus (clang, libFuzzer)
#   scripts/sanitize.sh thread              # TSan: unit tests (gcc)
#   SANITIZE_BUILD_ROOT=/tmp/s scripts/sanitize.sh all
# Build directories: build-asan, build-tsan, build-fuzz under
# $SANITIZE_BUILD_ROOT (default: the repository). Only the unit test targets
# (one per tests/unit/*_test.cc) and the fuzz targets are built; the preload,
# the CLI and the benchmarks are not.
#
# jemalloc and the sanitizers: the test binaries link libjemalloc.so, which
# exports malloc/free. The sanitizer runtime (libasan/libubsan/libtsan) is
# linked into the executable and comes first in the lookup order, so
# malloc/free/new/delete are the sanitizer's and jemalloc's are shadowed; the
# heap only uses jemalloc's x-API (mallocx, dallocx, sallocx, rallocx,
# nallocx) and mallctl, which nothing interposes, so its arenas and extent
# hooks run for real. What that means: ASan checks every ordinary allocation
# but not the bytes inside jemalloc's arenas (no redzones there); TSan sees
# jemalloc's pthread mutexes (intercepted), so arena locking orders accesses.
# A pointer from mallocx must go back through dallocx, never free(): under a
# sanitizer free() is not jemalloc's.
#
# Nothing is excluded: every unit test passes under both sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
ROOT=${SANITIZE_BUILD_ROOT:-$SRC}
mode=${1:-all}
case "$mode" in
  all) sanitizers=("address,undefined" thread) ;;
  address,undefined | thread) sanitizers=("$mode") ;;
  *) echo "usage: $0 [address,undefined|thread|all]" >&2; exit 2 ;;
esac

bash scripts/install-deps.sh
mkdir -p "$ROOT"

unit_targets=()
for f in tests/unit/*_test.cc; do unit_targets+=("$(basename "$f" .cc)"); done

export ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# configure DIR ARGS...: quiet unless it fails.
configure() {
  local dir=$1; shift
  local log
  log=$(mktemp)
  if ! cmake -S "$SRC" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERMEM_BUILD_BENCH=OFF "$@" >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; return 1
  fi
  rm -f "$log"
}

# ctest_count DIR LABEL: runs ctest; on success prints the number of tests run.
run_ctest() {
  local dir=$1 label=$2 log
  log=$(mktemp)
  local rc=0
  (cd "$dir" && ctest -L "$label" --output-on-failure --timeout 600 -j"$(nproc)") 2>&1 | tee "$log" >&2 || rc=$?
  sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$log" | tail -1
  rm -f "$log"
  return "$rc"
}

# run_one SANITIZER: builds and runs; sets $summary.
run_one() {
  local san=$1 dir fuzz_dir n nf
  case "$san" in
    thread) dir=$ROOT/build-tsan ;;
    *) dir=$ROOT/build-asan ;;
  esac
  echo "=== sanitize: $san: building ${unit_targets[*]} in $dir" >&2
  configure "$dir" -DTIERMEM_SANITIZE="$san" || { summary="configure failed"; return 1; }
  cmake --build "$dir" -j"$(nproc)" --target "${unit_targets[@]}" || { summary="build failed"; return 1; }
  echo "=== sanitize: $san: running unit tests" >&2
  n=$(run_ctest "$dir" unit) || { summary="unit tests FAILED (see above)"; return 1; }
  summary="$n unit tests passed"
  if [ "$san" = "address,undefined" ]; then
    # The fuzz targets (policy parser, stats page reader) are clang/libFuzzer
    # only and already built with fuzzer,address,undefined
    # (tests/fuzz/CMakeLists.txt); their ctests run every corpus file once.
    fuzz_dir=$ROOT/build-fuzz
    echo "=== sanitize: $san: building policy_fuzz, stats_fuzz (clang) in $fuzz_dir" >&2
    configure "$fuzz_dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTIERMEM_FUZZ=ON \
      || { summary+=", fuzz corpus: configure failed"; return 1; }
    cmake --build "$fuzz_dir" -j"$(nproc)" --target policy_fuzz stats_fuzz || { summary+=", fuzz corpus: build failed"; return 1; }
    nf=$(run_ctest "$fuzz_dir" fuzz) || { summary+=", fuzz corpus FAILED (see above)"; return 1; }
    summary+=", fuzz corpora passed ($nf ctest tests, $(ls tests/fuzz/corpus tests/fuzz/stats_corpus | grep -vc -e '^$' -e ':$') inputs)"
  fi
}

results=()
failed=0
for san in "${sanitizers[@]}"; do
  start=$SECONDS
  summary=""
  if run_one "$san"; then status=PASS; else status=FAIL; failed=1; fi
  results+=("sanitize $san: $status: $summary ($((SECONDS - start)) s)")
done
echo
for line in "${results[@]}"; do echo "$line"; done
exit "$failed"
