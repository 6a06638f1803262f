#!/bin/bash
# examples/etl_job.py and a small numpy script give the same output with and
# without the preload, including under a DRAM budget small enough that most
# of their large arrays spill to the NVMe tier.
. "$(dirname "$0")/lib.sh"
require_preload
require_python_modules numpy pandas

ETL=$TIERMEM_SOURCE/examples/etl_job.py
ROWS=${ETL_ROWS:-2000000}   # ~280 MB peak footprint
BUDGET=64MiB

log "== etl_job.py --rows $ROWS: plain vs preload (no budget) vs preload --budget $BUDGET"
capture etl_plain -- "$PYTHON" "$ETL" --rows "$ROWS"
assert_status "etl_job.py without preload" 0 "$RC" "$ERR"
assert_file_contains "etl_job.py prints a checksum" "$OUT" "checksum: "
info "$(grep '^checksum' "$OUT")"

capture etl_preload -- run_with_preload -- "$PYTHON" "$ETL" --rows "$ROWS"
assert_status "etl_job.py under the preload, no budget" 0 "$RC" "$ERR"
assert_files_eq "etl_job.py stdout: plain vs preload" "$TM_TMP/etl_plain.out" "$TM_TMP/etl_preload.out"

capture etl_spill -- run_with_preload --budget "$BUDGET" -- "$PYTHON" "$ETL" --rows "$ROWS"
assert_status "etl_job.py under the preload, budget $BUDGET" 0 "$RC" "$ERR"
assert_files_eq "etl_job.py stdout: plain vs preload with budget $BUDGET" "$TM_TMP/etl_plain.out" "$TM_TMP/etl_spill.out"

if [[ -x $TIERMEM_CLI ]]; then
  capture etl_cli -- tiermem_run --dram-budget "$BUDGET" --nvme-dir "$TM_NVME" -- "$PYTHON" "$ETL" --rows "$ROWS"
  assert_status "tiermem run --dram-budget $BUDGET -- etl_job.py" 0 "$RC" "$ERR"
  assert_files_eq "etl_job.py stdout: plain vs tiermem run" "$TM_TMP/etl_plain.out" "$TM_TMP/etl_cli.out"
  nv_alloc=$(tier_table_value "$ERR" '^nvme' 'alloc')
  assert_ge "tier table: allocations placed on nvme (the job spilled)" 1 "${nv_alloc:-none}"
  sed 's/^/  | /' "$ERR" | tail -n 8
else
  info "tiermem CLI not built ($TIERMEM_CLI): spill to nvme not verified from the tier table"
fi

log "== numpy script with large arrays (64 MiB+)"
cat > "$TM_TMP/np_big.py" <<'EOF'
import hashlib
import numpy as np

def h(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]

rng = np.random.default_rng(7)
a = rng.integers(0, 1 << 40, size=9_000_000, dtype=np.int64)       # 72 MB
b = np.sort(a)                                                       # another 72 MB
print("sorted", h(b), bool(np.all(b[1:] >= b[:-1])))
c = np.cumsum(a % 1000)                                              # int64, exact
print("cumsum", h(c), int(c[-1]))
idx = rng.permutation(a.size)
print("gather", h(a[idx][:1000]), h(np.bincount((a[idx] % 4096).astype(np.int64))))
m = rng.integers(0, 16, size=(768, 768)).astype(np.float64)         # 4.7 MB each
p = m @ m.T                                                          # integer-valued: exact
print("matmul", h(p), float(p.trace()))
big = np.zeros(80_000_000, dtype=np.uint8)                           # calloc-style 80 MB
big[::4096] = 1
print("zeros", int(big.sum()), int(np.count_nonzero(big)))
grown = np.arange(10, dtype=np.int64)
for _ in range(20):
    grown = np.concatenate([grown, grown + 1])                      # 80 B .. 84 MB
print("grown", grown.size, int(grown.sum()), h(grown[-1000:]))
EOF
capture np_plain -- "$PYTHON" "$TM_TMP/np_big.py"
assert_status "numpy script without preload" 0 "$RC" "$ERR"
capture np_spill -- run_with_preload --budget "$BUDGET" -- "$PYTHON" "$TM_TMP/np_big.py"
assert_status "numpy script under the preload, budget $BUDGET" 0 "$RC" "$ERR"
assert_files_eq "numpy script stdout: plain vs preload with budget $BUDGET" "$TM_TMP/np_plain.out" "$TM_TMP/np_spill.out"
assert_eq "numpy script printed 6 result lines" 6 "$(wc -l < "$TM_TMP/np_spill.out")"

summary
