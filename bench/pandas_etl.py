#!/usr/bin/python3
"""pandas_etl: an ETL job whose footprint is a chosen multiple of a DRAM budget,
for bench/run (tiered-memory comparison). Run with /usr/bin/python3 (numpy
and pandas from Debian).

Stages, each timed: generate a fact frame of --rows rows (seeded numpy
RNG), filter it, group-by aggregate, merge the filtered rows with a
dimension table, sort the merged frame. Prints `stage_<name>_s=` per stage,
`compute_s=` (all stages, without the interpreter start and imports),
`peak_rss_mib=` (ru_maxrss) and `checksum=<sha256>` of the aggregate and the
sorted merged frame: deterministic for given --rows and --seed.

Peak footprint is about 100 bytes per row (measured: see --calibrate in
bench/run's docs); bench/run sizes --rows from that.
"""
import argparse
import hashlib
import resource
import sys
import time

import numpy as np
import pandas as pd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--dim-rows", type=int, default=100_000)
    args = ap.parse_args()

    t_all = time.monotonic()
    stages = {}

    def stage(name, t0):
        stages[name] = time.monotonic() - t0
        print(f"stage_{name}_s={stages[name]:.3f}", flush=True)

    t0 = time.monotonic()
    rng = np.random.default_rng(args.seed)
    n = args.rows
    fact = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "dim_id": rng.integers(0, args.dim_rows, n, dtype=np.int64),
        "store": rng.integers(0, 5000, n, dtype=np.int32),
        "qty": rng.integers(1, 100, n, dtype=np.int32),
        "price": rng.random(n) * 100.0,
        "discount": rng.random(n) * 0.3,
    })
    dim = pd.DataFrame({
        "dim_id": np.arange(args.dim_rows, dtype=np.int64),
        "category": rng.integers(0, 200, args.dim_rows, dtype=np.int32),
        "weight": rng.random(args.dim_rows),
    })
    stage("generate", t0)

    t0 = time.monotonic()
    f = fact[(fact["qty"] > 10) & (fact["discount"] < 0.25)]
    f = f.assign(revenue=f["qty"] * f["price"] * (1.0 - f["discount"]))
    del fact
    stage("filter", t0)

    t0 = time.monotonic()
    agg = f.groupby("store", sort=True).agg(
        rows=("id", "size"), qty=("qty", "sum"), revenue=("revenue", "sum"), price_max=("price", "max"))
    stage("groupby", t0)

    t0 = time.monotonic()
    m = f.merge(dim, on="dim_id", how="inner")
    m["weighted"] = m["revenue"] * m["weight"]
    del f
    stage("merge", t0)

    t0 = time.monotonic()
    m = m.sort_values("weighted", ascending=False, ignore_index=True)
    by_cat = m.groupby("category", sort=True)["weighted"].sum()
    stage("sort", t0)

    t0 = time.monotonic()
    h = hashlib.sha256()
    for frame in (agg.reset_index(), by_cat.reset_index(), m[["id", "dim_id", "category", "weighted"]]):
        for col in frame.columns:
            h.update(np.ascontiguousarray(frame[col].to_numpy()).tobytes())
    stage("hash", t0)

    print(f"rows={n} filtered_rows={len(m)} groups={len(agg)}")
    print(f"compute_s={time.monotonic() - t_all:.3f}")
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"checksum={h.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
