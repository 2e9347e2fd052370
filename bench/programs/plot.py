#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SVG bar chart of bench/programs/run.sh's JSON Lines, drawn by gnuplot.

  plot.py results.jsonl [-o chart.svg] [--title TEXT]

One group of bars per case (P1up, P2get, ...): each alternative's median as a
ratio of direct loopback's (pvcalls-run --isolate, pasta, slirp4netns), with
min-max whiskers of the alternative over direct's median; a red line is the
case's target for pvcalls-run against direct, and a dashed line, where the
case has one, its target against pasta (the target times pasta's ratio).

The chart is drawn by gnuplot (Debian package gnuplot-nox); when it is
missing and we are root, it is installed with apt-get install -y
--no-install-recommends gnuplot-nox. Only the standard library otherwise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ALTS = [("pvcalls", "pvcalls-run --isolate", "#1f77b4"),
        ("pasta", "pasta", "#ff7f0e"),
        ("slirp4netns", "slirp4netns", "#7f7f7f")]


def need_gnuplot():
    if shutil.which("gnuplot"):
        return
    if os.geteuid() != 0:
        sys.exit("plot.py: gnuplot is missing: apt-get install gnuplot-nox (as root)")
    print("plot.py: installing gnuplot-nox", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "gnuplot-nox"]
    if subprocess.run(cmd, env=env, timeout=600).returncode:
        subprocess.run(["apt-get", "update"], env=env, timeout=300)
        if subprocess.run(cmd, env=env, timeout=600).returncode:
            sys.exit("plot.py: apt-get install gnuplot-nox failed")


def target_of(r):
    t = r.get("target") or "none"
    return float(t[2:]) if t.startswith(">=") else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("-o", "--output", help="SVG file (default: JSONL's name with .svg)")
    ap.add_argument("--title", default="Real programs in an empty network namespace: "
                    "median rate / direct loopback's")
    a = ap.parse_args()
    out = a.output or os.path.splitext(a.jsonl)[0] + ".svg"

    rows = {}
    with open(a.jsonl) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[r["id"]] = r
    cases = [i for i in rows if "." not in i]          # P1up, P2get, ... in run order
    if not cases:
        sys.exit("plot.py: no case rows in " + a.jsonl)
    alts = [x for x in ALTS if x[0] == "pvcalls" or any(c + "." + x[0] in rows for c in cases)]

    def ratio(c, alt):
        r = rows.get(c if alt == "pvcalls" else c + "." + alt)
        if not r or r.get("ratio") is None or not r.get("baseline_value"):
            return None
        b = r["baseline_value"]
        return r["ratio"], r["min"] / b, r["max"] / b

    need_gnuplot()
    tmp = tempfile.mkdtemp(prefix="pvcalls-plot.")
    try:
        width = 0.8 / len(alts)
        ymax = 1.2
        bars, targets = [], []
        for i, c in enumerate(cases):
            for k, (alt, _, _) in enumerate(alts):
                x = i - 0.4 + width * (k + 0.5)
                rr = ratio(c, alt)
                bars.append((k, x, rr))
                if rr:
                    ymax = max(ymax, rr[0], rr[2])
            t = target_of(rows[c])
            if t:
                targets.append((i, t, "d"))
            vp = rows.get(c + ".vs-pasta")
            pr = ratio(c, "pasta")
            if vp and target_of(vp) and pr:
                targets.append((i, target_of(vp) * pr[0], "p"))
                ymax = max(ymax, target_of(vp) * pr[0])
        for k in range(len(alts)):
            with open(os.path.join(tmp, "bars%d.dat" % k), "w") as f:
                for kk, x, rr in bars:
                    if kk == k and rr:
                        f.write("%g %g %g %g\n" % (x, rr[0], rr[1], rr[2]))
                f.write("-10 0 0 0\n")         # never an empty file
        for kind in "dp":
            with open(os.path.join(tmp, "t%s.dat" % kind), "w") as f:
                for i, t, kk in targets:
                    if kk == kind:
                        f.write("%g %g 0.84 0\n" % (i - 0.42, t))
                f.write("-10 0 0 0\n")
        xt = ", ".join('"%s" %d' % (c, i) for i, c in enumerate(cases))
        term = "png" if out.endswith(".png") else "svg dynamic"   # .png: a quick look
        gp = ["set terminal %s size %d,520 enhanced font 'sans,11' background rgb 'white'"
              % (term, max(640, 90 * len(cases) + 160)),
              "set output '%s'" % out.replace("'", "''"),
              "set title '%s' noenhanced" % a.title.replace("'", "''"),
              "set ylabel 'ratio to direct (1 = host loopback)'",
              "set xrange [-0.6:%g]" % (len(cases) - 0.4),
              "set yrange [0:%g]" % (ymax * 1.1),
              "set xtics (%s) noenhanced" % xt,
              "set grid ytics", "set key outside bottom center horizontal noenhanced",
              "set style fill solid 0.85 border -1",
              "set boxwidth %g absolute" % (width * 0.95),
              "set arrow from -0.6,1 to %g,1 nohead lc rgb 'black' dt 3" % (len(cases) - 0.4)]
        plots = []
        for k, (alt, label, color) in enumerate(alts):
            dat = os.path.join(tmp, "bars%d.dat" % k)
            plots.append("'%s' using 1:2 with boxes lc rgb '%s' title '%s'" % (dat, color, label))
            plots.append("'%s' using 1:2:3:4 with yerrorbars lc rgb 'black' pt -1 notitle" % dat)
        plots.append("'%s' using 1:2:3:4 with vectors nohead lw 2 lc rgb 'red' "
                     "title 'target: pvcalls-run vs direct'" % os.path.join(tmp, "td.dat"))
        plots.append("'%s' using 1:2:3:4 with vectors nohead lw 2 dt 2 lc rgb 'dark-red' "
                     "title 'target: pvcalls-run vs pasta'" % os.path.join(tmp, "tp.dat"))
        gp.append("plot " + ", \\\n     ".join(plots))
        script = os.path.join(tmp, "chart.gp")
        with open(script, "w") as f:
            f.write("\n".join(gp) + "\n")
        r = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
        if r.returncode:
            sys.exit("plot.py: gnuplot failed: " + r.stderr[-1000:])
        print(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
