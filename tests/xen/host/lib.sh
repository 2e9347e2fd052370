# SPDX-License-Identifier: MIT
# Shared by the host-side parts of the Xen harness: logging with elapsed
# time, phases, skip/fail exits, small utilities. Sourced by run.sh.

XH_T0=${XH_T0:-$SECONDS}
XH_PHASE=start
XH_PHASE_T0=$SECONDS
XH_TIMINGS=()

xh_elapsed() {
	local s=$((SECONDS - XH_T0))
	printf '%2d:%02d' $((s / 60)) $((s % 60))
}

log() { printf '[%s] %s\n' "$(xh_elapsed)" "$*"; }

# phase NAME [what]: starts a phase (shown with the total elapsed time).
phase() {
	XH_PHASE=$1
	XH_PHASE_T0=$SECONDS
	log "== $1${2:+: $2}"
}

# phase_end [note]: records how long the phase took.
phase_end() {
	local d=$((SECONDS - XH_PHASE_T0))
	XH_TIMINGS+=("$XH_PHASE ${d}s${1:+ ($1)}")
	log "   $XH_PHASE: ${d}s${1:+, $1}"
}

# skip REASON: the harness cannot run here (ctest SKIP_RETURN_CODE 77).
skip() {
	echo "SKIP: $*" >&2
	echo "(the Xen harness needs a Debian amd64 host with apt; see docs/xen-harness.md)" >&2
	exit 77
}

# die REASON: the harness itself broke; counts as one failed check.
die() {
	echo "PVCALLS-RESULT harness.$XH_PHASE FAIL $*"
	echo "ERROR in phase $XH_PHASE: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# hash_of FILE...: one short content hash of several files (stable order).
hash_of() {
	cat "$@" | sha256sum | cut -c1-16
}

# human BYTES
human() {
	awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b / 1048576;
		else printf "%.0f KB", b / 1024 }'
}

is_root() { [ "$(id -u)" -eq 0 ]; }
