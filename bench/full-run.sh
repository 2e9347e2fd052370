#!/bin/bash
# SPDX-License-Identifier: MIT
# The full benchmark run of docs/PERFORMANCE.md, in one go, on a quiet
# machine: pvcalls-bench (every case), its ring-order sweep, and the real
# programs (bench/programs/run.sh); each writes JSON Lines, then gnuplot
# draws them as SVG (bench/plot-bench.py, bench/programs/plot.py).
#
#   bench/full-run.sh [--quick] [--out DIR] [--build DIR] [--no-programs]
#
#   --quick        a smoke test of the whole chain (under 15 s): one short
#                  round of each pvcalls-bench case, the sweep at orders 0
#                  and 6, program case P3 against direct only, no installs.
#                  Its figures mean nothing.
#   --out DIR      where the results go (default bench-results-<UTC time>)
#   --build DIR    the CMake build directory (default: build)
#   --no-programs  skip bench/programs/run.sh (it needs root: netns, servers)
#
# DIR gets bench.jsonl, sweep.jsonl, programs.jsonl, their .svg charts,
# results.md (their tables in docs/PERFORMANCE.md's form, bench/table.py),
# the console output of each step (*.log) and info.txt (date, uptime at
# the start and the end, nproc, kernel). Figures never fail the run; the
# exit status is 1 if a step broke (a child failed, a plot failed).
# Run it only when `uptime` shows a load below ~1: the machine is shared
# and other tenants' work moves the figures (docs/PERFORMANCE.md, "Noise").
set -u
here=$(dirname "$(readlink -f "$0")")
repo=$(dirname "$here")
quick=0 programs=1 build="$repo/build" out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--no-programs) programs=0 ;;
	--out) out=$2; shift ;;
	--build) build=$2; shift ;;
	-h | --help) sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "full-run.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] || out="bench-results-$(date -u +%Y%m%dT%H%M%SZ)"
bench="$build/bench/pvcalls-bench"
[ -x "$bench" ] || { echo "full-run.sh: $bench not built (cmake --build $build)" >&2; exit 2; }
mkdir -p "$out" || exit 2
# The charts need gnuplot (Debian: gnuplot-nox); bench/programs/run.sh
# installs its own programs.
if ! command -v gnuplot >/dev/null && [ "$(id -u)" = 0 ] && [ $quick = 0 ]; then
	echo "== installing gnuplot-nox" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null ||
		echo "full-run.sh: could not install gnuplot-nox: no charts" >&2
fi
status=0
step() { # name, command...: runs it, keeps its output, notes a failure
	local name=$1
	shift
	echo "== $name: $*" >&2
	if ! "$@" >"$out/$name.log" 2>&1; then
		echo "full-run.sh: $name failed (see $out/$name.log)" >&2
		status=1
	fi
}
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "start: $(uptime)"
	echo "nproc: $(nproc); kernel: $(uname -r); quick: $quick"
	git -C "$repo" rev-parse HEAD 2>/dev/null | sed 's/^/commit: /'
} >"$out/info.txt"

if [ $quick = 1 ]; then
	step bench "$bench" --quick --rounds 1 --json "$out/bench.jsonl"
	step sweep "$bench" --quick --rounds 1 --only none --sweep-orders 0,6 --json "$out/sweep.jsonl"
	[ $programs = 1 ] && step programs "$here/programs/run.sh" --quick --only P3 \
		--variants direct,pvcalls --no-install --build "$build" --json "$out/programs.jsonl"
else
	step bench "$bench" --json "$out/bench.jsonl"
	step sweep "$bench" --only none --sweep --json "$out/sweep.jsonl"
	[ $programs = 1 ] && step programs "$here/programs/run.sh" --build "$build" \
		--json "$out/programs.jsonl"
fi
echo "end: $(uptime)" >>"$out/info.txt"

if [ -s "$out/bench.jsonl" ]; then
	args=("$out/bench.jsonl" -o "$out/bench.svg")
	[ -s "$out/sweep.jsonl" ] && args+=(--sweep "$out/sweep.jsonl" --sweep-out "$out/sweep.svg")
	step plot-bench python3 "$here/plot-bench.py" "${args[@]}"
fi
[ -s "$out/programs.jsonl" ] &&
	step plot-programs python3 "$here/programs/plot.py" "$out/programs.jsonl" -o "$out/programs.svg"
tables=()
for f in bench programs; do [ -s "$out/$f.jsonl" ] && tables+=("$out/$f.jsonl"); done
[ ${#tables[@]} -gt 0 ] && step table python3 "$here/table.py" "${tables[@]}" -o "$out/results.md"
cat "$out/info.txt" >&2
ls "$out" >&2
exit $status
