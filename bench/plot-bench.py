#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SVG charts of pvcalls-bench's JSON Lines, drawn by gnuplot.

  plot-bench.py bench.jsonl [-o bench.svg] [--sweep sweep.jsonl [--sweep-out sweep.svg]]

bench.svg: one bar per case (T1, L1, R1, LT..., S2, ...), its ratio to the
baseline of the same run (log scale), min-max whiskers (the case's range over
the baseline's median), and the case's target as a red mark (>= or <=; none
for information rows).
sweep.svg: the ratios of the --sweep rows (T@N, R@N, S2@N) against the ring
order, one line per family.

Needs gnuplot (Debian package gnuplot-nox; bench/programs/plot.py installs it
when missing and root). Only the standard library otherwise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def run_gnuplot(tmp, lines):
    script = os.path.join(tmp, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
    if r.returncode:
        sys.exit("plot-bench.py: gnuplot failed: " + r.stderr[-1000:])


def header(out, width, title):
    term = "png" if out.endswith(".png") else "svg dynamic"
    return ["set terminal %s size %d,520 enhanced font 'sans,11' background rgb 'white'"
            % (term, width),
            "set output '%s'" % out.replace("'", "''"),
            "set title '%s' noenhanced" % title.replace("'", "''"),
            "set grid ytics", "set key outside bottom center horizontal noenhanced"]


def bench_chart(rows, out, tmp):
    rows = [r for r in rows if "@" not in r["id"] and r.get("ratio") is not None]
    if not rows:
        sys.exit("plot-bench.py: no case with a ratio")
    vals = []
    with open(os.path.join(tmp, "bars.dat"), "w") as f:
        for i, r in enumerate(rows):
            b = r.get("baseline_value") or 0
            lo = r["min"] / b if b and r.get("min") is not None else r["ratio"]
            hi = r["max"] / b if b and r.get("max") is not None else r["ratio"]
            f.write("%d %g %g %g\n" % (i, r["ratio"], lo, hi))
            vals += [v for v in (r["ratio"], lo, hi) if v > 0]
    with open(os.path.join(tmp, "targets.dat"), "w") as f:
        for i, r in enumerate(rows):
            t = r.get("target") or "none"
            if t[:2] in (">=", "<="):
                f.write("%g %g 0.84 0\n" % (i - 0.42, float(t[2:])))
        f.write("-10 1 0 0\n")
    xt = ", ".join('"%s" %d' % (r["id"], i) for i, r in enumerate(rows))
    lines = header(out, max(700, 48 * len(rows) + 160),
                   "pvcalls-bench: each case / its baseline in the same run (median)")
    lines += ["set ylabel 'ratio to baseline (log)'", "set logscale y",
              "set yrange [%g:%g]" % (min(vals + [0.5]) / 2, max(vals + [2]) * 2),
              "set xrange [-0.6:%g]" % (len(rows) - 0.4),
              "set xtics (%s) rotate by -45 noenhanced" % xt,
              "set style fill solid 0.85 border -1", "set boxwidth 0.7 absolute",
              "set arrow from -0.6,1 to %g,1 nohead lc rgb 'black' dt 3" % (len(rows) - 0.4),
              "plot '%s' using 1:2 with boxes lc rgb '#1f77b4' title 'ratio', \\"
              % os.path.join(tmp, "bars.dat"),
              "     '%s' using 1:2:3:4 with yerrorbars lc rgb 'black' pt -1 title 'min-max', \\"
              % os.path.join(tmp, "bars.dat"),
              "     '%s' using 1:2:3:4 with vectors nohead lw 2 lc rgb 'red' title 'target'"
              % os.path.join(tmp, "targets.dat")]
    run_gnuplot(tmp, lines)


def sweep_chart(rows, out, tmp):
    fams = {}
    for r in rows:
        if "@" in r["id"] and r.get("ratio") is not None:
            fam, order = r["id"].split("@", 1)
            fams.setdefault(fam, []).append((int(order), r["ratio"]))
    if not fams:
        sys.exit("plot-bench.py: no --sweep rows")
    plots = []
    for fam, pts in sorted(fams.items()):
        dat = os.path.join(tmp, "sweep-%s.dat" % fam)
        with open(dat, "w") as f:
            for o, v in sorted(pts):
                f.write("%d %g\n" % (o, v))
        label = {"T": "T: ring vs AF_UNIX", "R": "R: relay vs direct TCP",
                 "S2": "S2: set-up vs TCP loopback"}.get(fam, fam)
        plots.append("'%s' using 1:2 with linespoints lw 2 title '%s'" % (dat, label))
    lines = header(out, 700, "pvcalls-bench --sweep: ratio to baseline by ring order")
    lines += ["set xlabel 'ring order (2^N pages each way)'",
              "set ylabel 'ratio to baseline (log)'", "set logscale y", "set xrange [-0.5:9.5]",
              "set xtics 1",
              "set arrow from -0.5,1 to 9.5,1 nohead lc rgb 'black' dt 3",
              "plot " + ", \\\n     ".join(plots)]
    run_gnuplot(tmp, lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("-o", "--output", help="SVG (default: JSONL's name with .svg)")
    ap.add_argument("--sweep", metavar="JSONL", help="pvcalls-bench --sweep's JSON Lines")
    ap.add_argument("--sweep-out", metavar="SVG", help="default: that file's name with .svg")
    a = ap.parse_args()
    if not shutil.which("gnuplot"):
        sys.exit("plot-bench.py: gnuplot is missing: apt-get install gnuplot-nox")
    tmp = tempfile.mkdtemp(prefix="pvcalls-plot.")
    try:
        out = a.output or os.path.splitext(a.jsonl)[0] + ".svg"
        bench_chart(load(a.jsonl), out, tmp)
        print(out)
        if a.sweep:
            sout = a.sweep_out or os.path.splitext(a.sweep)[0] + ".svg"
            sweep_chart(load(a.sweep), sout, tmp)
            print(sout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
