#!/usr/bin/env bash
# Runs bench/malloc_bench under glibc, jemalloc, mimalloc, tcmalloc and the
# tiermem preload, interleaved (rep 1 of every allocator, then rep 2, ...) so
# slow drift of a noisy VM hits all allocators alike, then tabulates medians
# with bench/malloc_table.py.
#
# Usage: bench/run_malloc.sh [-r REPS] [-o RESULTS_DIR] [-f FILTER] [-b BINARY]
#   -r  repetitions per allocator (default 3)
#   -o  where raw JSON, table and CSV go (default bench/results)
#   -f  --benchmark_filter regex (default: all rows)
#   -b  malloc_bench binary (default: built from bench/ into
#       build/bench-standalone/)
# Environment: TIERMEM_PRELOAD (default build/preload/libtiermem-preload.so),
#   JEMALLOC_SO, MIMALLOC_SO, TCMALLOC_SO to override library paths.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reps=3
out="$repo/bench/results"
filter=""
bin=""
while getopts "r:o:f:b:h" opt; do
  case $opt in
    r) reps=$OPTARG ;;
    o) out=$OPTARG ;;
    f) filter=$OPTARG ;;
    b) bin=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done

# Build the benchmark on its own (incremental, seconds): the result then
# matches bench/malloc_bench.cc as checked out and does not depend on the
# rest of the tree compiling or on the state of someone's build/ directory.
if [[ -z $bin ]]; then
  cmake -S "$repo/bench" -B "$repo/build/bench-standalone" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$repo/build/bench-standalone" --target malloc_bench >/dev/null
  bin=$repo/build/bench-standalone/malloc_bench
fi

# Finds a shared library by soname through the loader cache.
find_lib() {
  ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'
}

names=(glibc) libs=("")
add_alloc() {  # name, path (empty path = not installed -> skipped with a note)
  if [[ -n $2 && -r $2 ]]; then
    names+=("$1") libs+=("$2")
  else
    echo "note: $1 not found${2:+ at $2}, skipped" >&2
  fi
}
add_alloc jemalloc "${JEMALLOC_SO:-$(find_lib libjemalloc.so.2)}"
add_alloc mimalloc "${MIMALLOC_SO:-$(find_lib libmimalloc.so)}"
add_alloc tcmalloc "${TCMALLOC_SO:-$(find_lib libtcmalloc_minimal.so)}"
add_alloc tiermem "${TIERMEM_PRELOAD:-$repo/build/preload/libtiermem-preload.so}"

mkdir -p "$out/raw"
rm -f "$out"/raw/*.json

# A preload from the source tree (tiermem) may be rebuilt by someone else
# mid-run. Copy it and the libraries it loads from the tree into a snapshot
# directory, found first through LD_LIBRARY_PATH, so every repetition
# measures the same build.
snap="$out/snapshot"
rm -rf "$snap"
for i in "${!names[@]}"; do
  f=${libs[$i]}
  [[ -n $f && $(realpath "$f") == "$repo"/* ]] || continue
  mkdir -p "$snap"
  for dep in "$f" $(ldd "$f" | awk -v r="$repo" 'index($3, r) == 1 { print $3 }'); do
    cp -L "$dep" "$snap/$(basename "$dep")"
  done
  libs[$i]="$snap/$(basename "$f")"
done

# Machine facts for docs/performance.md, captured with the numbers.
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "thp: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
  echo "glibc: $(ldd --version | head -1)"
  for p in libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libbenchmark1debian; do
    echo "$p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo n/a)"
  done
  echo "tiermem: $(git -C "$repo" rev-parse --short HEAD)"
  echo "binary: $bin"
  for i in "${!names[@]}"; do echo "preload.${names[$i]}: ${libs[$i]:-none}"; done
  echo "tiermem tree: $(git -C "$repo" status --porcelain -- src preload | wc -l) uncommitted paths in src/ preload/"
  [[ -d $snap ]] && (cd "$snap" && sha1sum *)
  echo "command: bench/run_malloc.sh -r $reps${filter:+ -f '$filter'}"
} >"$out/machine.txt"

for ((rep = 1; rep <= reps; rep++)); do
  for i in "${!names[@]}"; do
    name=${names[$i]}
    json="$out/raw/$name.$rep.json"
    echo "rep $rep/$reps: $name (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$out/machine.txt" >&2
    LD_LIBRARY_PATH=$snap${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} LD_PRELOAD=${libs[$i]} "$bin" \
      ${filter:+--benchmark_filter="$filter"} \
      --benchmark_out="$json" --benchmark_out_format=json \
      >"$out/raw/$name.$rep.log" 2>&1 ||
      { echo "error: $name rep $rep failed, see $out/raw/$name.$rep.log" >&2; exit 1; }
  done
done

python3 "$repo/bench/malloc_table.py" "$out" --metric cpu >/dev/null
python3 "$repo/bench/malloc_table.py" "$out"
echo "also wrote $out/malloc_table_cpu.md (CPU time per op), $out/machine.txt, raw JSON in $out/raw/"
