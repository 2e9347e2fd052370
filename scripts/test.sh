#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds libpvcalls with its tests and runs the whole suite through ctest.
#   scripts/test.sh                         plain build in ./build
#   scripts/test.sh --sanitizer address,undefined   (or thread) in ./build-<san>
# Installs missing Debian packages when run as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAN=
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--sanitizer) SAN=$2; shift 2 ;;
	--werror) ARGS+=(-DPVCALLS_WERROR=ON); shift ;;
	*) echo "usage: $0 [--sanitizer LIST] [--werror]" >&2; exit 2 ;;
	esac
done
ensure_packages
if [ -n "$SAN" ]; then
	BUILD=${BUILD:-$PVCALLS_ROOT/build-${SAN//,/-}}
	ARGS+=(-DPVCALLS_SANITIZER="$SAN")
else
	BUILD=${BUILD:-$PVCALLS_ROOT/build}
fi
configure_and_build "$BUILD" "${ARGS[@]}"
echo "== running the test suite"
cd "$BUILD"
ctest --output-on-failure --no-tests=error
