#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the build tree into a staging prefix, then builds a consumer
# against it twice: through find_package(pvcalls) and through pkg-config.
# Also checks that the shared library exports only pvcalls_ symbols.
set -euo pipefail
BUILD=$1
# A sanitizer build's library needs the sanitizer runtime loaded first:
# build the consumers with the same -fsanitize flags.
SANFLAGS=${2:+-fsanitize=$2}
SRC=$(cd "$(dirname "$0")" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cmake --install "$BUILD" --prefix "$STAGE/usr" >/dev/null
LIBDIR=$(dirname "$(find "$STAGE" -name 'libpvcalls.so.0' | head -n1)")
[ -n "$LIBDIR" ] || { echo "libpvcalls.so.0 not installed"; exit 1; }
test -f "$LIBDIR/pkgconfig/pvcalls.pc" || { echo "pvcalls.pc not installed"; exit 1; }
test -f "$LIBDIR/cmake/pvcalls/pvcallsConfig.cmake" || { echo "CMake package missing"; exit 1; }

echo "-- CMake package consumer"
cmake -S "$SRC/consumer" -B "$STAGE/b1" -DCMAKE_PREFIX_PATH="$STAGE/usr" \
	-DCMAKE_C_FLAGS="$SANFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SANFLAGS" >/dev/null
cmake --build "$STAGE/b1" >/dev/null
LD_LIBRARY_PATH="$LIBDIR" "$STAGE/b1/consumer"

echo "-- pkg-config consumer"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 $SANFLAGS -o "$STAGE/c2" "$SRC/consumer/consumer.c" $(pkg-config --cflags --libs pvcalls)
LD_LIBRARY_PATH="$LIBDIR" "$STAGE/c2"

echo "-- exported symbols"
bad=$(nm -D --defined-only "$LIBDIR/libpvcalls.so.0" | awk '$2 ~ /[TDBR]/ {print $3}' |
	grep -v '^pvcalls_' | grep -v '^LIBPVCALLS' || true)
if [ -n "$bad" ]; then
	echo "non-API symbols exported:"; echo "$bad"; exit 1
fi
# Capture first: with pipefail, grep -q closing the pipe early would make
# nm die of SIGPIPE and fail the check at random.
syms=$(nm -D --defined-only "$LIBDIR/libpvcalls.so.0")
grep -q '@@LIBPVCALLS_0.1' <<<"$syms" ||
	{ echo "symbols are not versioned LIBPVCALLS_0.1"; exit 1; }
dyn=$(readelf -d "$LIBDIR/libpvcalls.so.0")
grep -q 'SONAME.*libpvcalls.so.0' <<<"$dyn" ||
	{ echo "SONAME is not libpvcalls.so.0"; exit 1; }
echo "install check passed"
