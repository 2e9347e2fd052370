#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#   check_install.sh BUILD SANITIZER PROGRAMS VERSION HUB DOCS
# Installs the build tree under an odd staging prefix (spaces excluded:
# pkg-config cannot carry them), then checks that
#  - the library, its pkg-config file (version, shm_hub) and CMake package
#    are there, and a consumer builds against them both ways;
#  - the example sources build against the install both ways
#    (share/doc/pvcalls/examples: CMakeLists.txt and Makefile);
#  - every installed program runs from there without LD_LIBRARY_PATH
#    (RPATH $ORIGIN/../lib): --version for each, pvcallsd --version and
#    pvcalls-demo --help in particular; each has its man page;
#  - the systemd unit names the installed pvcallsd;
#  - the library exports only pvcalls_ symbols, versioned, with its SONAME
#    (the exact list: ctest pvcalls.symbols.*).
set -euo pipefail
BUILD=$1
# A sanitizer build's library needs the sanitizer runtime loaded first:
# build the consumers with the same -fsanitize flags.
SANFLAGS=${2:+-fsanitize=$2}
IFS=, read -r -a PROGS <<<"${3:-}"
VERSION=${4:-}
HUB=${5:-}
DOCS=${6:-ON}
SRC=$(cd "$(dirname "$0")" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
PREFIX=$STAGE/opt/odd+prefix-1
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libpvcalls.so.0' | head -n1)")
[ -n "$LIBDIR" ] || { echo "libpvcalls.so.0 not installed"; exit 1; }
test -f "$LIBDIR/pkgconfig/pvcalls.pc" || { echo "pvcalls.pc not installed"; exit 1; }
test -f "$LIBDIR/cmake/pvcalls/pvcallsConfig.cmake" || { echo "CMake package missing"; exit 1; }
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
unset LD_LIBRARY_PATH

echo "-- pkg-config: version and default hub"
[ "$(pkg-config --modversion pvcalls)" = "$VERSION" ] ||
	{ echo "pvcalls.pc says $(pkg-config --modversion pvcalls), project $VERSION"; exit 1; }
[ "$(pkg-config --variable=shm_hub pvcalls)" = "$HUB" ] ||
	{ echo "pvcalls.pc shm_hub is not $HUB"; exit 1; }

echo "-- CMake package consumer"
cmake -S "$SRC/consumer" -B "$STAGE/b1" -DCMAKE_PREFIX_PATH="$PREFIX" \
	-DPVCALLS_EXPECTED_VERSION="$VERSION" \
	-DCMAKE_C_FLAGS="$SANFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SANFLAGS" >/dev/null
cmake --build "$STAGE/b1" >/dev/null
out=$(LD_LIBRARY_PATH="$LIBDIR" "$STAGE/b1/consumer")
echo "$out"
# pvcalls_version() is project(VERSION) too.
[ "$out" = "${out#"libpvcalls $VERSION,"}" ] &&
	{ echo "pvcalls_version() is not $VERSION"; exit 1; }

echo "-- pkg-config consumer"
# shellcheck disable=SC2046
cc -std=c11 $SANFLAGS -o "$STAGE/c2" "$SRC/consumer/consumer.c" $(pkg-config --cflags --libs pvcalls)
LD_LIBRARY_PATH="$LIBDIR" "$STAGE/c2"

EX=$PREFIX/share/doc/pvcalls/examples
if [ "$DOCS" = ON ] && [ -f "$EX/nc.c" ]; then
	echo "-- example sources: CMake (find_package)"
	cmake -S "$EX" -B "$STAGE/ex1" -DCMAKE_PREFIX_PATH="$PREFIX" \
		-DCMAKE_C_FLAGS="$SANFLAGS -Wall -Werror" -DCMAKE_EXE_LINKER_FLAGS="$SANFLAGS" >/dev/null
	cmake --build "$STAGE/ex1" >/dev/null
	LD_LIBRARY_PATH="$LIBDIR" "$STAGE/ex1/pvcalls-nc" --version
	LD_LIBRARY_PATH="$LIBDIR" "$STAGE/ex1/pvcalls-nc" --help | grep -qF "$HUB" ||
		{ echo "the example pvcalls-nc does not use the package's hub"; exit 1; }
	echo "-- example sources: make (pkg-config)"
	cp -r "$EX" "$STAGE/ex2"
	make -s -C "$STAGE/ex2" CFLAGS="$SANFLAGS -O2 -Wall -Werror" LDFLAGS="$SANFLAGS" >/dev/null
	for p in pvcalls-demo pvcalls-nc pvcalls-ring-demo pvcalls-backend-embed; do
		test -x "$STAGE/ex2/$p" || { echo "make did not build $p"; exit 1; }
	done
	LD_LIBRARY_PATH="$LIBDIR" "$STAGE/ex2/pvcalls-ring-demo" --version
fi

echo "-- installed programs, without LD_LIBRARY_PATH"
for p in "${PROGS[@]}"; do
	exe=$PREFIX/bin/$p
	test -x "$exe" || { echo "$p not installed in bin/"; exit 1; }
	v=$("$exe" --version) || { echo "$p --version failed"; exit 1; }
	[ "$v" = "$p (libpvcalls) $VERSION" ] || { echo "$p --version: $v"; exit 1; }
	if [ "$DOCS" = ON ]; then
		ls "$PREFIX"/share/man/man[158]/"$p".[158] >/dev/null 2>&1 ||
			{ echo "no man page for $p"; exit 1; }
	fi
done
case " ${PROGS[*]} " in *" pvcallsd "*)
	"$PREFIX/bin/pvcallsd" --version
	[ "$DOCS" != ON ] || test -f "$PREFIX/share/man/man5/pvcallsd.conf.5" ||
		{ echo "pvcallsd.conf.5 not installed"; exit 1; }
	unit=$(find "$PREFIX" -name pvcallsd.service)
	[ -n "$unit" ] || { echo "pvcallsd.service not installed"; exit 1; }
	grep -qx "ExecStart=$PREFIX/bin/pvcallsd --xen \$PVCALLSD_ARGS" "$unit" ||
		{ echo "pvcallsd.service does not name $PREFIX/bin/pvcallsd:"; grep ExecStart "$unit"; exit 1; }
	;;
esac
case " ${PROGS[*]} " in *" pvcalls-demo "*)
	"$PREFIX/bin/pvcalls-demo" --help >/dev/null
	echo "pvcalls-demo --help: ok"
	;;
esac
if [ "$DOCS" = ON ]; then
	# Man pages carry the version.
	for m in "$PREFIX"/share/man/man[158]/*; do
		grep -q "^\.TH .*\"libpvcalls $VERSION\"" "$m" ||
			{ echo "$m: .TH does not say libpvcalls $VERSION"; exit 1; }
	done
fi

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
