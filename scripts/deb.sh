#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages (debian/) from a copy of the tree, checks them
# with lintian, installs them, runs the installed demo and tools, and
# removes them again.
#   scripts/deb.sh [OUTDIR]     (default: ./build-deb; needs root to install)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/build-deb}" && cd "${1:-$ROOT/build-deb}" && pwd)
PKGS="libpvcalls0 libpvcalls-xen0 libpvcalls-dev pvcallsd pvcalls-tools"

export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -eq 0 ]; then
	apt-get install -y -qq --no-install-recommends debhelper dpkg-dev lintian >/dev/null
fi

# dpkg-buildpackage writes the packages next to the source tree: build in
# a scratch copy so that the checkout stays clean.
rm -rf "$OUT/src" "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
mkdir -p "$OUT/src"
git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$OUT/src")
echo "== dpkg-buildpackage"
(cd "$OUT/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b >"$OUT/build.log" 2>&1) ||
	{ tail -40 "$OUT/build.log"; exit 1; }
ls "$OUT"/*.deb

echo "== lintian (default level; any warning or error fails)"
(cd "$OUT" && lintian --fail-on error,warning ./*.changes)

[ "$(id -u)" -eq 0 ] || { echo "not root: packages built, not installed"; exit 0; }
echo "== installing the packages"
apt-get install -y -qq "$OUT"/libpvcalls0_*.deb "$OUT"/libpvcalls-xen0_*.deb \
	"$OUT"/libpvcalls-dev_*.deb "$OUT"/pvcallsd_*.deb "$OUT"/pvcalls-tools_*.deb >/dev/null
trap 'apt-get purge -y -qq $PKGS >/dev/null' EXIT
echo "== the installed packages at work"
pvcallsd --version
pkg-config --modversion pvcalls
test -f /lib/systemd/system/pvcallsd.service
grep -q '^ExecStart=/usr/bin/pvcallsd ' /lib/systemd/system/pvcallsd.service
pvcalls-demo
echo "== the installed pvcalls-run: curl in an empty network namespace"
T=$(mktemp -d)
echo "fetched through PV Calls" >"$T/hello.txt"
printf '[default]\nrule = allow connect 127.0.0.0/8\n' >"$T/pvcallsd.conf"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$T" "$port" >/dev/null 2>&1 &
web=$!
pvcallsd --shm "$T/hub" -c "$T/pvcallsd.conf" --control none --log-level warning &
daemon=$!
trap 'kill $web $daemon 2>/dev/null; apt-get purge -y -qq $PKGS >/dev/null' EXIT
for _ in $(seq 50); do [ -S "$T/hub" ] && break; sleep 0.1; done
got=$(timeout 30 pvcalls-run --shm "$T/hub" --isolate -- \
	curl -sf --retry 5 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$port/hello.txt")
[ "$got" = "fetched through PV Calls" ] || { echo "pvcalls-run + curl got: $got"; exit 1; }
echo "curl under pvcalls-run --isolate: $got"
echo "== deb: OK"
