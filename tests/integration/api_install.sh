#!/usr/bin/env bash
# The linked API as a user gets it: configure tiermem from $TIERMEM_SOURCE
# into a private build dir, install it into a temp prefix, then build the
# examples in examples/api against that installed copy only —
#   * with CMake: find_package(tiermem) + tiermem::tiermem,
#   * with pkg-config: `cc hello_tiers.c $(pkg-config --cflags --libs tiermem)`
#     and the examples' Makefile,
# and run them (linked, and once more under the installed preload) with a
# DRAM budget and a private NVMe dir. tier_aware checks the whole C API and
# tiermem::TierAllocator itself and exits non-zero on any failed check.
. "$(dirname "$0")/lib.sh"

require_cmd cmake ninja pkg-config cc c++

SRC=$TIERMEM_SOURCE
BUILD=$TM_TMP/build
PREFIX=$TM_TMP/prefix
export CCACHE_DISABLE=1 # plain builds: no compiler launcher, no cache
unset LD_PRELOAD TIERMEM_POLICY TIERMEM_DISABLE

# ---- 1. configure, build and install the libraries and CLI ---------------
capture configure -- cmake -G Ninja -S "$SRC" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DTIERMEM_BUILD_TESTS=OFF -DTIERMEM_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER_LAUNCHER= -DCMAKE_CXX_COMPILER_LAUNCHER=
assert_status "configure tiermem (tests and benchmarks off)" 0 "$RC" "$ERR"
((RC == 0)) || { show_file configure.out "$OUT" 40; summary; }

capture build -- cmake --build "$BUILD"
assert_status "build tiermem" 0 "$RC" "$ERR"
((RC == 0)) || { tail -n 40 "$OUT" | sed 's/^/  | /'; summary; }

capture install -- cmake --install "$BUILD"
assert_status "install into $PREFIX" 0 "$RC" "$ERR"
((RC == 0)) || { show_file install.out "$OUT" 40; summary; }

LIBTIERMEM=$(find "$PREFIX" -name libtiermem.so -print -quit)
LIBDIR=${LIBTIERMEM%/*}
PCDIR=$LIBDIR/pkgconfig
CMAKEDIR=$LIBDIR/cmake/tiermem
assert_ne "libtiermem.so installed" "" "$LIBTIERMEM"
for f in "$PREFIX/include/tiermem/tiermem.h" "$PREFIX/include/tiermem/tiermem.hpp" \
         "$LIBDIR/libtiermem-preload.so" "$PCDIR/tiermem.pc" \
         "$CMAKEDIR/tiermemConfig.cmake" "$CMAKEDIR/tiermemConfigVersion.cmake" \
         "$CMAKEDIR/tiermemTargets.cmake" "$PREFIX/bin/tiermem"; do
  if [[ -e $f ]]; then pass "installed ${f#"$PREFIX"/}"; else fail "not installed: ${f#"$PREFIX"/}"; fi
done
# The export set holds the shared library only: no internal layer libraries
# and no paths into the source or build tree.
TARGETS_FILES=$(cat "$CMAKEDIR"/tiermemTargets*.cmake 2> /dev/null)
assert_eq "exported targets" "tiermem::tiermem" \
  "$(grep -o 'add_library([^ ]*' <<< "$TARGETS_FILES" | sed 's/add_library(//' | sort -u | xargs)"
assert_eq "export set names no internal layer library" "" \
  "$(grep -oE 'tiermem_(os|config|topology|heap|runtime)' <<< "$TARGETS_FILES" | sort -u | xargs)"
assert_eq "export set names no source/build path" "" \
  "$(grep -F -e "$SRC" -e "$BUILD" <<< "$TARGETS_FILES" | head -3)"

# ---- 2. pkg-config --------------------------------------------------------
export PKG_CONFIG_PATH=$PCDIR
PC_VERSION=$(pkg-config --modversion tiermem 2>&1)
SRC_VERSION=$(sed -n 's/^project(tiermem VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
assert_eq "pkg-config --modversion tiermem" "$SRC_VERSION" "$PC_VERSION"
assert_eq "pkg-config --cflags tiermem" "-I$PREFIX/include" "$(pkg-config --cflags tiermem | xargs)"
assert_eq "pkg-config --libs tiermem" "-L$LIBDIR -ltiermem" "$(pkg-config --libs tiermem | xargs)"

# Environment for every run: the installed library, a DRAM budget, this
# test's NVMe dir, and TIERMEM_STRICT so a runtime that cannot start fails.
RUN_ENV=(--env "LD_LIBRARY_PATH=$LIBDIR" --env TIERMEM_DRAM_BUDGET=32MiB
         --env "TIERMEM_NVME_DIR=$TM_NVME" --env TIERMEM_STRICT=1)

# check_tier_aware NAME: assertions on the output of a tier_aware run.
check_tier_aware() {
  local name=$1 line
  assert_status "$name: exit status" 0 "$RC" "$ERR"
  assert_file_lacks "$name: no failed check" "$OUT" "FAIL"
  assert_file_contains "$name: summary" "$OUT" "tier_aware: all "
  assert_match "$name: at least 30 checks ran" 'all ([3-9][0-9]|[1-9][0-9]{2,}) checks passed' "$(tail -n 1 "$OUT")"
  for line in \
      'ok   tiermem_tier_index("nvme") is a slower tier' \
      'ok   tiermem_tier_index("nope") == -1' \
      'ok   tiermem_malloc_on(99, 10) == NULL, errno EINVAL' \
      'ok   tiermem_tier_of(malloc(64)) == -1' \
      'ok   tiermem_tier_of(block) == nvme' \
      'ok   tiermem_tier_of(middle of block) == nvme' \
      'ok   nvme live_bytes grew by at least 8MiB' \
      'ok   nvme live_bytes dropped after free' \
      'ok   vector<double>(1M, TierAllocator(nvme)).data() is on nvme' \
      'ok   vector data sums correctly' \
      'ok   tiermem_malloc_on(dram, budget + 1 extent) == NULL, errno ENOMEM'; do
    assert_file_contains "$name: ${line#ok   }" "$OUT" "$line"
  done
  # The per-tier table, printed while the 8 MiB block and two 8 MiB vectors
  # are live on nvme and a 1 MiB vector on dram.
  assert_eq "$name: dram budget in the table" "$(to_bytes 32MiB)" "$(tier_table_value "$OUT" '^dram$' 'budget')"
  assert_ge "$name: nvme live bytes in the table" "$(to_bytes 24MiB)" "$(tier_table_value "$OUT" '^nvme$' 'live')"
  assert_ge "$name: nvme backing file bytes in the table" "$(to_bytes 24MiB)" "$(tier_table_value "$OUT" '^nvme$' 'file')"
  assert_ge "$name: dram live bytes in the table" "$(to_bytes 1MiB)" "$(tier_table_value "$OUT" '^dram$' 'live')"
}

# ---- 3. examples/api with CMake (find_package) ----------------------------
EX=$TM_TMP/example-cmake
capture example_configure -- cmake -G Ninja -S "$SRC/examples/api" -B "$EX" \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  -DCMAKE_C_COMPILER_LAUNCHER= -DCMAKE_CXX_COMPILER_LAUNCHER=
assert_status "configure examples/api with find_package(tiermem)" 0 "$RC" "$ERR"
assert_eq "find_package found the installed package" "tiermem_DIR:PATH=$CMAKEDIR" \
  "$(grep '^tiermem_DIR:' "$EX/CMakeCache.txt" 2> /dev/null)"
capture example_build -- cmake --build "$EX"
assert_status "build examples/api with CMake" 0 "$RC" "$ERR"
((RC == 0)) || tail -n 30 "$OUT" | sed 's/^/  | /'

if [[ -x $EX/tier_aware ]]; then
  assert_match "tier_aware loads the installed libtiermem.so" "libtiermem\.so\.0 => $LIBDIR/libtiermem\.so\.0" \
    "$(LD_LIBRARY_PATH=$LIBDIR ldd "$EX/tier_aware")"
  capture tier_aware_cmake "${RUN_ENV[@]}" -- "$EX/tier_aware"
  check_tier_aware tier_aware_cmake
  ((TM_FAIL == 0)) || show_file tier_aware_cmake.out "$OUT" 60

  # The same binary under the installed preload: one runtime per process.
  capture tier_aware_preload "${RUN_ENV[@]}" --env "LD_PRELOAD=$LIBDIR/libtiermem-preload.so" \
    -- "$EX/tier_aware"
  check_tier_aware tier_aware_preload
else
  fail "examples/api (CMake) produced no tier_aware binary"
fi
if [[ -x $EX/hello_tiers ]]; then
  capture hello_cmake "${RUN_ENV[@]}" -- "$EX/hello_tiers"
  assert_status "hello_tiers (CMake build) exit status" 0 "$RC" "$ERR"
  assert_file_contains "hello_tiers (CMake build) used nvme" "$OUT" "hello from tier nvme (1): 4194304 bytes"
else
  fail "examples/api (CMake) produced no hello_tiers binary"
fi

# ---- 4. hello_tiers.c with pkg-config (the one-line command) --------------
PC=$TM_TMP/example-pkgconfig
mkdir -p "$PC"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is intended
capture hello_compile -- cc -std=c99 -Wall -Wextra -Werror -o "$PC/hello_tiers" "$SRC/examples/api/hello_tiers.c" \
  $(pkg-config --cflags --libs tiermem)
assert_status "cc hello_tiers.c \$(pkg-config --cflags --libs tiermem)" 0 "$RC" "$ERR"
capture hello_pkgconfig "${RUN_ENV[@]}" -- "$PC/hello_tiers"
assert_status "hello_tiers (pkg-config build) exit status" 0 "$RC" "$ERR"
assert_file_contains "hello_tiers lists the dram tier" "$OUT" "tier 0: dram"
assert_file_contains "hello_tiers lists the nvme tier" "$OUT" "tier 1: nvme"
assert_file_contains "hello_tiers placed 4 MiB on nvme" "$OUT" "hello from tier nvme (1): 4194304 bytes"

# ---- 5. the examples' Makefile (pkg-config, C and C++) --------------------
if command -v make > /dev/null 2>&1; then
  MK=$TM_TMP/example-make
  mkdir -p "$MK"
  capture make_examples -- make -f "$SRC/examples/api/Makefile" -C "$MK"
  assert_status "make -f examples/api/Makefile" 0 "$RC" "$ERR"
  if [[ -x $MK/tier_aware ]]; then
    capture tier_aware_make "${RUN_ENV[@]}" -- "$MK/tier_aware"
    check_tier_aware tier_aware_make
  else
    fail "the Makefile produced no tier_aware binary"
  fi
else
  info "make not installed: skipping the Makefile build"
fi

# Nothing is left behind in the NVMe dir (the tier files are O_TMPFILE).
assert_eq "NVMe dir is empty after the runs" "" "$(ls -A "$TM_NVME")"

summary
