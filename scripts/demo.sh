#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds libpvcalls and runs the demo on the shared-memory loopback
# transport. Installs missing Debian packages when run as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ensure_packages
BUILD=${BUILD:-$PVCALLS_ROOT/build}
configure_and_build "$BUILD"
echo "== running the demo"
exec "$BUILD/examples/pvcalls-demo" "$@"
