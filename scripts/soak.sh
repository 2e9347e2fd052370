#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The long soak (issue 13): pvcalls-soak (tests/soak/soak.c) against a real
# pvcallsd over the shm transport. Defaults: 10 GiB in random message sizes
# (1 byte to 256 KiB) over 64 connections of 8 guest processes, in 16
# rounds; a guest SIGKILLed in every other round, 1-3 host peers reset in
# every round, and pvcallsd SIGKILLed and started again on the same hub
# path in the middle round. Checked: every byte of every surviving
# connection delivered in order; failed connections explained (a reset
# peer, or live across the restart, with ECONNRESET/ENOTCONN/EPIPE); new
# connections working after the restart in the same guest processes; after
# a guest kill pvcallsd closes its host connections within 10 s; after
# every round pvcallsd's fds and mappings back to their baseline exactly
# and its RSS within the baseline plus 16 MiB (--rss-tol-kb), within 15 s.
#
# What a pvcallsd restart means for guests (include/pvcalls/frontend.h,
# "Backend restarts"; docs/threat-model.md): sockets of the old session
# fail with ECONNRESET (connected) or ENOTCONN (anything else); socket()
# fails with ENOTCONN at once while pvcallsd is down, and renegotiates once
# it is back; the guest process is never restarted.
#
#   scripts/soak.sh [pvcalls-soak options]      e.g. --bytes 2G --seed 7
# Builds ./build (RelWithDebInfo) unless BUILD names an existing build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-$PVCALLS_ROOT/build}
if [ ! -x "$BUILD/tests/soak/pvcalls-soak" ]; then
	configure_and_build "$BUILD"
fi
exec "$BUILD/tests/soak/pvcalls-soak" --pvcallsd "$BUILD/tools/pvcallsd/pvcallsd" \
	--bytes 10G --conns 64 --guests 8 --rounds 16 --duration 7200 "$@"
