#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests libpvcalls on real Xen: Debian's Xen hypervisor and a Debian PV dom0
# (and PV domUs) booted by qemu-system-x86_64 with software emulation.
#
#   tests/xen/run.sh [--build-dir DIR] [--scenario N...] [options]
#
#   --build-dir DIR   the CMake build directory holding the project's
#                     binaries (default: build/ at the top of the repo)
#   --scenario N...   run only these scenarios (numbers; repeatable, or
#                     several after one --scenario); default: all
#   --list            list the scenarios and exit
#   --work DIR        where images and logs go (default: BUILD/xen-harness)
#   --cache DIR       downloads and builds kept between runs (default:
#                     $PVCALLS_XEN_CACHE or ~/.cache/pvcalls-xen)
#   --no-install      never apt-get install host packages (skip instead)
#   -v, --verbose     show the whole serial console while it runs
#
# Exit status: 0 if every check passed, 1 if one failed, 77 if the harness
# cannot run here (no qemu, no Debian packages): ctest's skip code.
# The last line of the output is "N passed, N failed".
# See docs/xen-harness.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/host/lib.sh"
. "$HERE/host/fetch.sh"
. "$HERE/host/build.sh"
. "$HERE/host/overlay.sh"
. "$HERE/host/boot.sh"
# A command that fails unexpectedly ends the run as one failed check.
set -E
trap 'die "unexpected failure (line $LINENO of ${BASH_SOURCE[0]##*/}): $BASH_COMMAND"' ERR
# Interrupted (Ctrl-C, ctest's timeout): stop QEMU too.
stop_qemu() {
	[ -n "${WORK:-}" ] && [ -f "$WORK/qemu.pid" ] && kill "$(cat "$WORK/qemu.pid")" 2>/dev/null
	rm -f "${WORK:-/nonexistent}/qemu.pid"
	return 0
}
trap 'stop_qemu' EXIT
trap 'stop_qemu; echo "interrupted" >&2; exit 130' INT
trap 'stop_qemu; echo "terminated" >&2; exit 143' TERM

# scenario_file N: the dom0 script of scenario N (scenarios/NN-name.sh).
scenario_file() {
	local f
	for f in "$HERE"/scenarios/$(printf '%02d' "$1")-*.sh; do
		case $f in *.domu.sh) ;; *) [ -e "$f" ] && echo "$f" && return 0 ;; esac
	done
	return 1
}
all_scenarios() {
	local f
	for f in "$HERE"/scenarios/[0-9][0-9]-*.sh; do
		case $f in *.domu.sh) ;; *) f=${f##*/}; echo $((10#${f%%-*})) ;; esac
	done
}
list_scenarios() {
	local n f
	for n in $(all_scenarios); do
		f=$(scenario_file "$n")
		printf '%2d  %-24s %s\n' "$n" "$(basename "$f" .sh | cut -d- -f2-)" \
			"$(scenario_meta "$f" title)"
	done
}

BUILD=$ROOT/build
WORK=
CACHE=${PVCALLS_XEN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pvcalls-xen}
SCENARIOS=()
VERBOSE=
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) BUILD=$2; shift 2 ;;
	--build-dir=*) BUILD=${1#*=}; shift ;;
	--scenario | --scenarios)
		shift
		while [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+(,[0-9]+)*$ ]]; do
			SCENARIOS+=(${1//,/ })
			shift
		done ;;
	--scenario=*) v=${1#*=}; SCENARIOS+=(${v//,/ }); shift ;;
	--work) WORK=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--no-install) XH_NO_INSTALL=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	--list) list_scenarios; exit 0 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed -n 's/^# \{0,1\}//p' | sed '/^SPDX/d'; exit 0 ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || mapfile -t SCENARIOS < <(all_scenarios)
for n in "${SCENARIOS[@]}"; do
	scenario_file "$n" > /dev/null || { echo "run.sh: no scenario $n (see --list)" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
	echo "run.sh: build directory not found (configure and build first, or --build-dir)" >&2
	exit 2
}
WORK=${WORK:-$BUILD/xen-harness}
mkdir -p "$WORK" "$CACHE"
WORK=$(cd "$WORK" && pwd)
CACHE=$(cd "$CACHE" && pwd)

log "Xen harness: scenarios ${SCENARIOS[*]}; build $BUILD; cache $CACHE"
# One run at a time per cache (and so one QEMU at a time).
exec 9> "$CACHE/.lock"
if ! flock -n 9; then
	log "   waiting for another run using $CACHE to finish"
	flock 9
fi
prereqs
resolve_versions
fetch
base_images
kernel_modules
helpers
overlay
boot
if report; then exit 0; else exit 1; fi
