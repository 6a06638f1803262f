#!/usr/bin/python3
"""Tables and plots for a bench/run results directory.

Usage: bench/bench_report.py RESULTS_DIR [--no-plots]

Reads RESULTS_DIR/results.csv and the gups_hot logs in RESULTS_DIR/logs and
writes:
  summary.csv, summary.md   median (min-max) over the ok repetitions of each
                            workload x alternative, statuses, ratio to dram
  series/gups_hot.<alt>.csv per-second gups_hot throughput (median over reps)
  gups_hot_throughput.png   throughput over time per alternative (gnuplot)
  ratio_to_dram.png         run-time ratio to dram per workload (gnuplot)

Ratio to dram: pandas_etl (and other run-to-completion workloads) = median
wall seconds / dram's; gups_hot runs for a fixed time, so its ratio is the
time per update: dram's steady MUPS / the alternative's, before and after
the hot-set shift.
"""
import collections
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

ALT_ORDER = ["dram", "cgroup", "swap", "memtier", "tiermem-off", "tiermem-on", "tiermem-signal",
             "memtier-nocg", "tiermem-off-nocg", "tiermem-on-nocg", "tiermem-signal-nocg"]
COLORS = {"dram": "#1b9e77", "cgroup": "#7f7f7f", "swap": "#d95f02", "memtier": "#7570b3",
          "tiermem-off": "#e7298a", "tiermem-on": "#66a61e", "memtier-nocg": "#b3b0d9",
          "tiermem-off-nocg": "#f4a3c9", "tiermem-on-nocg": "#b5d98f",
          "tiermem-signal": "#e6ab02", "tiermem-signal-nocg": "#f2d680"}
METRICS = {  # workload: (metric label, metric2 label)
    "gups_hot": ("steady MUPS before shift", "steady MUPS after shift"),
    "pandas_etl": ("compute s", "peak RSS MiB"),
    "jvm_offheap": ("compute s", "generate s"),
}


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def stats(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return statistics.median(v), min(v), max(v)


def g(x, sig=3):
    """x with `sig` significant digits, no exponent for ordinary magnitudes."""
    if x == 0:
        return "0"
    s = f"{x:.{sig}g}"
    if "e" in s and 1e-6 <= abs(x) < 1e15:
        s = f"{x:.{max(0, sig - 1 - int(__import__('math').floor(__import__('math').log10(abs(x)))))}f}"
    return s


def fmt(st, sig=3):
    if st is None:
        return "-"
    med, lo, hi = st
    if lo == hi:
        return g(med, sig)
    return f"{g(med, sig)} ({g(lo, sig)}-{g(hi, sig)})"


def alt_key(a):
    return (ALT_ORDER.index(a) if a in ALT_ORDER else len(ALT_ORDER), a)


def read_series(path):
    """[(t, updates_per_s)] from a gups_hot stdout log."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"t=([0-9.]+) updates_per_s=([0-9.]+)", line)
                if m:
                    out.append((float(m.group(1)), float(m.group(2))))
    except OSError:
        pass
    return out


def gnuplot(script, cwd):
    if not shutil.which("gnuplot"):
        print("bench_report: gnuplot not installed (apt-get install gnuplot-nox): no PNGs", file=sys.stderr)
        return
    r = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, capture_output=True)
    if r.returncode != 0:
        print("bench_report: gnuplot failed:\n" + r.stderr, file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    plots = "--no-plots" not in sys.argv[2:]
    with open(os.path.join(d, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    machine = open(os.path.join(d, "machine.txt")).read() if os.path.exists(os.path.join(d, "machine.txt")) else ""
    m = re.search(r"shift at ([0-9.]+)", machine)
    shift_at = float(m.group(1)) if m else None
    m = re.search(r"^budget: (\S+)", machine, re.M)
    budget = m.group(1) if m else "?"

    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault(r["workload"], collections.OrderedDict()).setdefault(r["alternative"], []).append(r)

    summary = []
    for wl, alts in groups.items():
        ref = None
        for alt in sorted(alts, key=alt_key):
            rs = alts[alt]
            ok = [r for r in rs if r["status"] == "ok"]
            statuses = collections.Counter(r["status"] for r in rs)
            s = {
                "workload": wl, "alternative": alt, "reps": len(rs), "ok": len(ok),
                "statuses": " ".join(f"{k}x{v}" for k, v in statuses.items()),
                "seconds": stats(num(r["seconds"]) for r in ok),
                "metric": stats(num(r["metric"]) for r in ok),
                "metric2": stats(num(r["metric2"]) for r in ok),
                "cg_peak_mib": stats(num(r["cg_peak_mib"]) for r in rs),
                "failed_seconds": stats(num(r["seconds"]) for r in rs if r["status"] != "ok"),
            }
            if alt == "dram":
                ref = s
            summary.append(s)
        for s in summary:
            if s["workload"] != wl:
                continue
            s["ratio"], s["ratio2"] = None, None
            if ref is None or not s["ok"] or not ref["ok"]:
                continue
            if wl == "gups_hot":
                if s["metric"] and s["metric"][0] > 0:
                    s["ratio"] = ref["metric"][0] / s["metric"][0]
                if s["metric2"] and s["metric2"][0] > 0:
                    s["ratio2"] = ref["metric2"][0] / s["metric2"][0]
            elif s["seconds"]:
                s["ratio"] = s["seconds"][0] / ref["seconds"][0]

    # ---- summary.csv / summary.md
    with open(os.path.join(d, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "alternative", "reps", "ok", "statuses",
                    "seconds_median", "seconds_min", "seconds_max",
                    "metric_median", "metric_min", "metric_max",
                    "metric2_median", "metric2_min", "metric2_max",
                    "cg_peak_mib_median", "ratio_to_dram", "ratio2_to_dram"])
        for s in summary:
            row = [s["workload"], s["alternative"], s["reps"], s["ok"], s["statuses"]]
            for k in ("seconds", "metric", "metric2"):
                row += list(s[k]) if s[k] else ["", "", ""]
            row.append(s["cg_peak_mib"][0] if s["cg_peak_mib"] else "")
            row += [f"{s['ratio']:.3f}" if s["ratio"] else "", f"{s['ratio2']:.3f}" if s["ratio2"] else ""]
            w.writerow(row)

    md = [f"# bench/run results, budget {budget}", "", "```", machine.strip(), "```", "",
          "Median (min-max) over the ok repetitions; statuses over all repetitions.",
          "Ratio to dram: gups_hot = dram MUPS / MUPS (time per update), before / after the shift;",
          "others = wall seconds / dram's.", ""]
    for wl in groups:
        l1, l2 = METRICS.get(wl, ("metric", "metric2"))
        md += [f"## {wl}", "",
               f"| alternative | statuses | wall s | {l1} | {l2} | cgroup peak MiB | ratio to dram |",
               "|---|---|--:|--:|--:|--:|--:|"]
        for s in summary:
            if s["workload"] != wl:
                continue
            ratio = "-"
            if s["ratio"] is not None:
                ratio = f"{g(s['ratio'])}x"
                if s["ratio2"] is not None:
                    ratio += f" / {g(s['ratio2'])}x"
            wall = fmt(s["seconds"]) if s["ok"] else f"failed after {fmt(s['failed_seconds'])}"
            md.append(f"| {s['alternative']} | {s['statuses']} | {wall} | {fmt(s['metric'])} | "
                      f"{fmt(s['metric2'])} | {fmt(s['cg_peak_mib'], 4)} | {ratio} |")
        md.append("")
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[md.index("```", 3) + 2:]))

    # ---- gups_hot series (median over reps at each report interval)
    series_dir = os.path.join(d, "series")
    series = {}
    if "gups_hot" in groups:
        os.makedirs(series_dir, exist_ok=True)
        for alt in sorted(groups["gups_hot"], key=alt_key):
            per_rep = {}
            for r in groups["gups_hot"][alt]:
                ser = read_series(os.path.join(d, "logs", f"gups_hot.{alt}.{r['rep']}.out"))
                if ser:
                    per_rep[r["rep"]] = ser
            if not per_rep:
                continue
            n = max(len(v) for v in per_rep.values())
            reps = sorted(per_rep)
            path = os.path.join(series_dir, f"gups_hot.{alt}.csv")
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["t", "median_updates_per_s"] + [f"rep{k}" for k in reps])
                pts = []
                for i in range(n):
                    vals = [per_rep[k][i][1] if i < len(per_rep[k]) else None for k in reps]
                    ts = [per_rep[k][i][0] for k in reps if i < len(per_rep[k])]
                    present = [v for v in vals if v is not None]
                    t = round(statistics.median(ts))
                    med = statistics.median(present)
                    pts.append((t, med))
                    w.writerow([t, f"{med:.0f}"] + ["" if v is None else f"{v:.0f}" for v in vals])
            series[alt] = path

    if not plots:
        return 0

    # ---- throughput plot
    if series:
        lines = []
        for alt, path in series.items():
            lines.append(f"'{os.path.relpath(path, d)}' using 1:($2 > 0 ? $2 : NaN) with linespoints "
                         f"lw 2 pt 7 ps 0.5 lc rgb '{COLORS.get(alt, '#000000')}' title '{alt}'")
        shift = ""
        if shift_at is not None:
            shift = (f"set arrow from {shift_at},graph 0 to {shift_at},graph 1 nohead dt 2 lc rgb '#444444'\n"
                     f"set label 'hot set moves' at {shift_at},graph 0.97 offset 0.5,0\n")
        gnuplot(f"""set terminal pngcairo size 1000,600 font ',11'
set output 'gups_hot_throughput.png'
set datafile separator ','
set key autotitle columnhead outside right
set title 'gups\\_hot: updates/s over time (median of reps), budget {budget}, footprint 4B, hot set B/2'
set xlabel 'seconds since the start of the timed part'
set ylabel 'updates/s (log)'
set logscale y
set grid
{shift}plot {', '.join(lines)}
""", d)

    # ---- ratio bar chart: one cluster per (workload, measure), one bar per alternative
    clusters = []
    for wl in groups:
        if wl == "gups_hot":
            clusters += [(wl, "ratio", "gups\\_hot before shift"), (wl, "ratio2", "gups\\_hot after shift")]
        else:
            clusters.append((wl, "ratio", wl.replace("_", "\\_")))
    alts = sorted({s["alternative"] for s in summary}, key=alt_key)
    if clusters and alts:
        os.makedirs(os.path.join(d, "plotdata"), exist_ok=True)
        width = len(alts) + 1
        plot_cmds, xtics = [], []
        label_path = os.path.join(d, "plotdata", "ratio_labels.dat")
        with open(label_path, "w") as lab:
            for j, alt in enumerate(alts):
                path = os.path.join(d, "plotdata", f"ratio.{alt}.dat")
                with open(path, "w") as f:
                    for c, (wl, key, _) in enumerate(clusters):
                        s = next((s for s in summary if s["workload"] == wl and s["alternative"] == alt), None)
                        if s is None:
                            continue
                        x = c * width + j
                        if s[key] is not None:
                            f.write(f"{x} {s[key]:.4f}\n")
                            part = "" if s["ok"] == s["reps"] else f" ({s['ok']}/{s['reps']} ok)"
                            lab.write(f"{x} {s[key]:.4f} \"{g(s[key])}x{part}\"\n")
                        else:
                            status = s["statuses"].split("x")[0] if s["ok"] == 0 else "n/a"
                            lab.write(f"{x} 1 \"{status.replace('(', ' ').replace(')', '')}\"\n")
                plot_cmds.append(f"'plotdata/ratio.{alt}.dat' using 1:2 with boxes fs solid 0.8 "
                                 f"lc rgb '{COLORS.get(alt, '#000000')}' title '{alt}'")
        for c, (_, _, name) in enumerate(clusters):
            xtics.append(f"'{name}' {c * width + (len(alts) - 1) / 2:.1f}")
        plot_cmds.append("'plotdata/ratio_labels.dat' using 1:2:3 with labels rotate by 90 left offset 0,0.5 "
                         "font ',9' notitle")
        gnuplot(f"""set terminal pngcairo size 1000,600 font ',11'
set output 'ratio_to_dram.png'
set title 'run-time ratio to dram (gups\\_hot: time per update = dram MUPS / MUPS), budget {budget}'
set ylabel 'ratio to dram (log; 1 = as fast as dram)'
set logscale y
set yrange [0.5:*]
set boxwidth 0.9
set grid ytics
set key outside right
set xtics ({', '.join(xtics)})
set xrange [-1:{len(clusters) * width - 1}]
plot {', '.join(plot_cmds)}
""", d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
