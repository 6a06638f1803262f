#!/usr/bin/env python3
"""Tabulates bench/run_malloc.sh output: medians per row and allocator.

Usage: malloc_table.py [RESULTS_DIR] [--metric wall|cpu]

Reads RESULTS_DIR/raw/<allocator>.<rep>.json (Google Benchmark JSON from
malloc_bench), takes the median of each row over repetitions, and checks
tiermem against the acceptance bar:
  * tiermem / jemalloc <= 1.25 on every row, and
  * tiermem / glibc   <= 1.00 on rows of 1 MiB and more.
Metric "wall" (default) is time_per_op: wall time per malloc+free pair per
allocating thread. "cpu" is cpu_per_op: process CPU time per pair (helper
thread and waiting included), which other load on the machine disturbs less.
Writes RESULTS_DIR/malloc_table[_cpu].md and .csv. Standard library only.
"""
import argparse
import csv
import json
import pathlib
import re
import statistics
import sys

FAMILIES = ["Pair", "Batch", "CrossFree"]
ORDER = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "tiermem"]
JE_LIMIT = 1.25
GLIBC_LIMIT = 1.00
GLIBC_FROM = 1 << 20  # the glibc condition applies from 1 MiB up
NAME = re.compile(r"^BM_(\w+)/(\d+)/.*threads:(\d+)$")


METRICS = {"wall": ("time_per_op", "wall time", ""),
           "cpu": ("cpu_per_op", "process CPU time", "_cpu")}


def load(raw_dir, field):
    """Returns ({(family, size, threads): {alloc: [seconds...]}}, providers)."""
    rows, providers = {}, {}
    for path in sorted(raw_dir.glob("*.json")):
        alloc = path.name.split(".")[0]
        data = json.loads(path.read_text())
        providers.setdefault(alloc, set()).add(
            data["context"].get("malloc_provider", "?"))
        for b in data["benchmarks"]:
            m = NAME.match(b["name"])
            if not m or b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            key = (m.group(1), int(m.group(2)), int(m.group(3)))
            rows.setdefault(key, {}).setdefault(alloc, []).append(b[field])
    return rows, providers


def fmt_size(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n // scale} {unit}"
    return f"{n} B"


def fmt_time(s):
    if s is None:
        return "–"
    ns = s * 1e9
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def check(size, tm, je, gl):
    """Returns (ratio to jemalloc, ratio to glibc, verdict)."""
    if tm is None:
        return None, None, "pending"
    r_je = tm / je if je else None
    r_gl = tm / gl if gl else None
    ok = r_je is not None and r_je <= JE_LIMIT
    if size >= GLIBC_FROM:
        ok = ok and r_gl is not None and r_gl <= GLIBC_LIMIT
    return r_je, r_gl, "PASS" if ok else "FAIL"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=pathlib.Path,
                    default=pathlib.Path(__file__).parent / "results")
    ap.add_argument("--metric", choices=METRICS, default="wall")
    args = ap.parse_args()
    out = args.results
    field, what, suffix = METRICS[args.metric]
    rows, providers = load(out / "raw", field)
    if not rows:
        sys.exit(f"no benchmark JSON under {out / 'raw'}")
    allocs = [a for a in ORDER if a in providers] + sorted(set(providers) - set(ORDER))
    reps = {a: max(len(v.get(a, [])) for v in rows.values()) for a in allocs}

    md = [f"Median {what} per malloc+free pair"
          f"{' per allocating thread' if args.metric == 'wall' else ''} "
          f"(repetitions: {', '.join(f'{a} {reps[a]}' for a in allocs)}).",
          f"Check: tiermem/jemalloc <= {JE_LIMIT} on every row and "
          f"tiermem/glibc <= {GLIBC_LIMIT:.2f} from 1 MiB up.", "",
          "| benchmark | size | threads | " + " | ".join(allocs) +
          " | tm/je | tm/glibc | check |",
          "|---|--:|--:|" + "--:|" * len(allocs) + "--:|--:|:-:|"]
    csv_rows = []
    verdicts = {}
    rank = lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES)
    for key in sorted(rows, key=lambda k: (rank(k[0]), k[0], k[2], k[1])):
        family, size, threads = key
        med = {a: statistics.median(rows[key][a]) if rows[key].get(a) else None
               for a in allocs}
        r_je, r_gl, verdict = check(size, med.get("tiermem"), med.get("jemalloc"),
                                    med.get("glibc"))
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        ratio = lambda r: "–" if r is None else f"{r:.2f}"
        md.append(f"| {family} | {fmt_size(size)} | {threads} | " +
                  " | ".join(fmt_time(med[a]) for a in allocs) +
                  f" | {ratio(r_je)} | {ratio(r_gl)} | {verdict} |")
        rec = {"benchmark": family, "size": size, "threads": threads}
        for a in allocs:
            vals = rows[key].get(a, [])
            rec[f"{a}_median_ns"] = f"{med[a] * 1e9:.3f}" if vals else ""
            rec[f"{a}_min_ns"] = f"{min(vals) * 1e9:.3f}" if vals else ""
            rec[f"{a}_max_ns"] = f"{max(vals) * 1e9:.3f}" if vals else ""
            rec[f"{a}_n"] = len(vals)
        rec.update(tm_over_je="" if r_je is None else f"{r_je:.4f}",
                   tm_over_glibc="" if r_gl is None else f"{r_gl:.4f}",
                   check=verdict)
        csv_rows.append(rec)

    md += ["", "Summary: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())),
           "", "malloc provided by (dladdr in the benchmark process):"]
    md += [f"- {a}: {', '.join(sorted(providers[a]))}" for a in allocs]
    for a in allocs:  # a preload the loader ignored would silently measure glibc
        if a != "glibc" and any("libc.so" in p for p in providers[a]):
            print(f"warning: {a} runs used glibc's malloc", file=sys.stderr)

    md_path, csv_path = out / f"malloc_table{suffix}.md", out / f"malloc_table{suffix}.csv"
    md_path.write_text("\n".join(md) + "\n")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(csv_rows[0]))
        w.writeheader()
        w.writerows(csv_rows)
    print("\n".join(md))
    print(f"\nwrote {md_path} and {csv_path}")


if __name__ == "__main__":
    main()
