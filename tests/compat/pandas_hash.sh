#!/bin/bash
# A pandas workload unlike examples/etl_job.py: time-indexed frame of 600k rows
# with string keys; groupby/agg, rolling windows, pivot_table, merge, string
# operations (str.extract, str.upper, str.cat), categorical codes, sort,
# rank, and a CSV round trip. Every intermediate result is hashed
# (pd.util.hash_pandas_object); the output lines must be identical without
# and with the preload, and its multi-MB columns spill to the NVMe tier.
# Step times go to stderr (step NAME: S) to show where a slow run spends.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_python_modules numpy pandas

cat > "$TM_TMP/workload.py" <<'PY'
import hashlib, io, sys, time
import numpy as np
import pandas as pd

_t = time.monotonic()
def out(*a):  # result on stdout, step time on stderr
    global _t
    print(*a, flush=True)
    now = time.monotonic()
    print(f"step {a[0]}: {now - _t:.2f}s", file=sys.stderr, flush=True)
    _t = now

def h(obj):
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        v = pd.util.hash_pandas_object(obj, index=True).values
    else:
        v = np.ascontiguousarray(obj)
    return hashlib.sha256(v.tobytes()).hexdigest()[:16]

N = int(sys.argv[1])
rng = np.random.default_rng(20240611)
df = pd.DataFrame({
    "ts": pd.date_range("2023-01-01", periods=N, freq="37s"),
    "store": rng.integers(0, 400, N),
    "sku": rng.integers(0, 5000, N),
    "qty": rng.integers(1, 20, N).astype(np.int64),
    "cents": rng.integers(50, 100000, N).astype(np.int64),
})
df["city"] = pd.Series(np.array(["oslo", "lima", "pune", "kyiv", "nuuk", "baku", "riga"])[df["store"] % 7])
df["code"] = "S" + df["store"].astype(str).str.zfill(4) + "-K" + df["sku"].astype(str)
out("frame", len(df), h(df))

g = df.groupby(["city", "store"]).agg(n=("qty", "size"), q=("qty", "sum"), c=("cents", "sum"), cmax=("cents", "max"))
out("groupby", len(g), h(g), int(g["c"].sum()))

s = df.set_index("ts")["cents"]
r = s.rolling(1000).sum().fillna(-1).astype(np.int64)
out("rolling", h(r), int(r.iloc[-1]))
e = s.resample("1D").agg(["sum", "count", "max"])
out("resample", len(e), h(e))

p = pd.pivot_table(df, index="store", columns="city", values="qty", aggfunc="sum", fill_value=0)
out("pivot", p.shape, h(p))

ext = df["code"].str.extract(r"S(\d+)-K(\d+)")
ok = bool((ext[0].astype(np.int64) == df["store"]).all() and (ext[1].astype(np.int64) == df["sku"]).all())
up = df["city"].str.upper().str.cat(df["code"].str.slice(1, 5), sep=":")
out("strings", ok, h(up), int(up.str.len().sum()))

cat = df["code"].astype("category")
out("category", len(cat.cat.categories), h(cat.cat.codes))

skus = pd.DataFrame({"sku": np.arange(5000), "weight": (np.arange(5000) * 7919) % 1000})
m = df.merge(skus, on="sku", how="left")
out("merge", len(m), int((m["weight"] * m["qty"]).sum()), h(m["weight"]))

srt = df.sort_values(["city", "cents", "ts"], kind="mergesort")
out("sort", h(srt["cents"]), h(srt.index.to_numpy()))
rk = df.groupby("store")["cents"].rank(method="first").astype(np.int64)
out("rank", h(rk))

buf = io.StringIO()
df.head(300000).to_csv(buf, index=False)
back = pd.read_csv(io.StringIO(buf.getvalue()), parse_dates=["ts"])
out("csv", len(buf.getvalue()), bool(back.equals(df.head(300000))))
PY

ROWS=${PANDAS_ROWS:-600000}   # 2M rows: 17 s plain, ~330 s under a 48MiB budget
log "== pandas $("$PYTHON" -c 'import pandas; print(pandas.__version__)') workload, $ROWS rows"
without plain -- "$PYTHON" "$TM_TMP/workload.py" "$ROWS"
assert_status "workload without the preload" 0 "$RC" "$ERR"
assert_file_contains "plain run: str.extract round-trips every code" "$OUT" "strings True"
assert_file_contains "plain run: CSV round trip is exact" "$OUT" "csv "
assert_eq "plain run printed every result line" 11 "$(wc -l < "$OUT")"

with tiered -- "$PYTHON" "$TM_TMP/workload.py" "$ROWS"
assert_status "workload with the preload (budget $COMPAT_BUDGET)" 0 "$RC" "$ERR"
assert_files_eq "result hashes: without vs with the preload" "$TM_TMP/plain.out" "$TM_TMP/tiered.out"
compat_tiers "$ERR" nvme

compat_summary
