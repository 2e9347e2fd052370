#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (tests/fuzz, docs/design-notes.md "Fuzz
# targets") with clang under ASan+UBSan and runs each for a time or a
# number of executions, the seeds of tests/fuzz/corpus/<target> read-only.
# New inputs land in a scratch directory and are merged (minimized against
# the seeds) into <scratch>/merged/<target>; crashes, leaks and timeouts go
# to <scratch>/artifacts/. Prints executions, new inputs and findings per
# target; exits 1 if any target found something.
#
#   scripts/fuzz.sh [-t SECONDS] [-r RUNS] [--coverage] [--scratch DIR] [TARGET...]
#
#   -t SECONDS   run each target this long (default 60)
#   -r RUNS      or this many executions each; with -t too, whichever
#                comes first (the campaign: -r 10000000 -t 1800)
#   --coverage   afterwards, replay seeds + merged corpus through a
#                coverage build (clang -fprofile-instr-generate) and print
#                the line coverage of src/backend/ and src/transport/shm/.
#                Needs llvm-profdata and llvm-cov (Debian: apt-get install
#                llvm; versioned names such as llvm-cov-14 work too).
#   --scratch    default: build-fuzz/scratch
#   TARGET       proto cmd_ring data_ring json backend back_cmd front hub conf
#                (default: all)
#
# Promote an input worth keeping by copying it into tests/fuzz/corpus/<t>/
# with a name that says what it covers (regress-... for a fixed finding).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=60
SECS_SET=0
RUNS=
COV=0
SCRATCH=
TARGETS=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=$2; SECS_SET=1; shift 2 ;;
	-r) RUNS=$2; shift 2 ;;
	--coverage) COV=1; shift ;;
	--scratch) SCRATCH=$2; shift 2 ;;
	-h|--help) sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) TARGETS+=("$1"); shift ;;
	esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(proto cmd_ring data_ring json backend back_cmd front hub conf)
BUILD=$ROOT/build-fuzz
SCRATCH=${SCRATCH:-$BUILD/scratch}
JOBS=$(nproc 2>/dev/null || echo 2)

command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 2; }
echo "== building the libFuzzer targets in $BUILD"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DPVCALLS_FUZZ=ON -DPVCALLS_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]/#/fuzz_}" >/dev/null

mkdir -p "$SCRATCH/artifacts"
found=0
summary=()
for t in "${TARGETS[@]}"; do
	bin=$BUILD/tests/fuzz/fuzz_$t
	seeds=$ROOT/tests/fuzz/corpus/$t
	run=$SCRATCH/run/$t
	merged=$SCRATCH/merged/$t
	log=$SCRATCH/$t.log
	mkdir -p "$run" "$merged"
	if [ -n "$RUNS" ] && [ "$SECS_SET" -eq 1 ]; then
		limit=(-runs="$RUNS" -max_total_time="$SECS")
		what="$RUNS runs or $SECS s, whichever comes first"
	elif [ -n "$RUNS" ]; then
		limit=(-runs="$RUNS")
		what="$RUNS runs after the corpus"
	else
		limit=(-max_total_time="$SECS")
		what="$SECS s"
	fi
	echo "== fuzz_$t ($what), log: $log"
	before=$(find "$SCRATCH/artifacts" -name "$t-*" | wc -l)
	# -timeout: a unit running 10 s is a hang (every target bounds its waits).
	"$bin" "${limit[@]}" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$SCRATCH/artifacts/$t-" "$run" "$seeds" >"$log" 2>&1 || true
	after=$(find "$SCRATCH/artifacts" -name "$t-*" | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	# Keep only inputs that add coverage over the seeds and what is merged.
	"$bin" -merge=1 "$merged" "$seeds" "$run" >"$SCRATCH/$t.merge.log" 2>&1 || true
	nseed=$(find "$seeds" -type f | wc -l)
	nmerged=$(find "$merged" -type f | wc -l)
	crashes=$((after - before))
	[ "$crashes" -eq 0 ] || found=1
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	summary+=("$(printf '%-10s executions %-9s in %-5s s findings %-3s merged corpus %s (seeds %s)' \
		"$t" "${execs:-?}" "${secs:-?}" "$crashes" "$nmerged" "$nseed")")
done

echo
echo "== summary (artifacts in $SCRATCH/artifacts)"
printf '%s\n' "${summary[@]}"

if [ "$COV" -eq 1 ]; then
	tool() { # llvm-cov, or the highest versioned llvm-cov-N
		command -v "$1" 2>/dev/null && return
		compgen -c "$1-" | grep -E "^$1-[0-9]+$" | sort -t- -k3 -n | tail -n 1
	}
	PROFDATA=$(tool llvm-profdata)
	LLVMCOV=$(tool llvm-cov)
	if [ -z "$PROFDATA" ] || [ -z "$LLVMCOV" ]; then
		echo "fuzz.sh: --coverage needs llvm-profdata and llvm-cov (apt-get install llvm)" >&2
		exit 2
	fi
	CBUILD=$ROOT/build-fuzz-cov
	echo
	echo "== coverage build in $CBUILD"
	CC=clang cmake -S "$ROOT" -B "$CBUILD" -DPVCALLS_FUZZ=OFF \
		-DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
		-DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
	drivers=()
	for t in "${TARGETS[@]}"; do drivers+=("fuzz_${t}_afl"); done
	cmake --build "$CBUILD" -j"$JOBS" --target "${drivers[@]}" >/dev/null
	prof=$SCRATCH/profiles
	rm -rf "$prof"
	mkdir -p "$prof"
	objs=()
	for t in "${TARGETS[@]}"; do
		drv=$CBUILD/tests/fuzz/fuzz_${t}_afl
		[ -x "$drv" ] || continue
		objs+=(-object "$drv")
		# The standalone driver replays files; many per process.
		find "$ROOT/tests/fuzz/corpus/$t" "$SCRATCH/merged/$t" -type f -print0 |
			LLVM_PROFILE_FILE="$prof/$t-%p.profraw" xargs -0 -r -n 200 "$drv" >/dev/null 2>&1 || true
	done
	"$PROFDATA" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
	for dir in src/backend src/transport/shm; do
		echo "-- line coverage of $dir/ (all targets' corpora)"
		"$LLVMCOV" report "${objs[@]:1}" -instr-profile="$prof/all.profdata" \
			"$ROOT/$dir" | awk 'NR == 1 || /^TOTAL/ || /\.c /'
	done
fi
exit $found
