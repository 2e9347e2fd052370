#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown tables of pvcalls-bench's (and bench/programs/run.sh's) JSON Lines.

  table.py FILE.jsonl [FILE.jsonl ...] [-o results.md]

One table per file, a row per case: the median and min-max of the case and
of its baseline, the ratio of the medians, the target and whether it was met,
in the form docs/PERFORMANCE.md's results tables use, so a full run
(bench/full-run.sh writes results.md with it) goes into the docs unedited.
Sweep rows (T@N, R@N, S2@N) are left out: their figure is sweep.svg.
Only the standard library.
"""

import argparse
import json
import math
import sys


def num(v):
    """Three significant digits, thousands separated, no exponent."""
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "-"
    a = abs(v)
    if a >= 100:
        return "{:,.0f}".format(v)
    if a >= 10:
        return "{:.1f}".format(v)
    if a >= 1:
        return "{:.2f}".format(v)
    return "{:.3g}".format(v)


def ratio(v):
    return "-" if v is None else "%.2f" % v


def span(med, lo, hi, rounds):
    if med is None:
        return "-"
    if rounds and rounds > 1 and lo is not None and hi is not None:
        return "%s [%s–%s]" % (num(med), num(lo), num(hi))
    return num(med)


def target(t):
    if not t or t == "none":
        return "-"
    if t.startswith("max<="):
        return "max ≤ %s" % t[5:]
    if t[:2] in (">=", "<="):
        return "%s %s×" % ("≥" if t[0] == ">" else "≤", t[2:])
    return t


def met(r):
    if r.get("error"):
        return "ERROR"
    m = r.get("met")
    return "-" if m is None else ("yes" if m else "no")


def table(rows):
    out = ["| id | what | value, median [min–max] | baseline, median [min–max] | ratio | target | met |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "@" in r["id"]:
            continue
        unit = r.get("unit", "")
        val = span(r.get("value"), r.get("min"), r.get("max"), r.get("rounds"))
        base = span(r.get("baseline_value"), r.get("baseline_min"), r.get("baseline_max"),
                    r.get("rounds"))
        out.append("| %s | %s | %s %s | %s: %s %s | %s | %s | %s |" % (
            r["id"], r["what"].replace("|", "/"), val, unit,
            r.get("baseline", "").replace("|", "/"), base, unit,
            ratio(r.get("ratio")), target(r.get("target")), met(r)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("-o", "--out", help="write here instead of standard output")
    a = ap.parse_args()
    parts = []
    for path in a.files:
        rows = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        sys.exit("table.py: %s:%d: %s" % (path, n, e))
        parts.append("### %s\n\n%s" % (path.rsplit("/", 1)[-1], table(rows)))
    text = "\n".join(parts)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
