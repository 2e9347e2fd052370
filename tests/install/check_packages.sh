#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest pvcalls.packages: the Debian packages are named the same in
# scripts/lib.sh (what scripts/test.sh installs), README.md (what it tells
# the reader) and .ci/run (what CI installs; it may add clang for the
# fuzz targets).  check_packages.sh SOURCE_DIR
set -euo pipefail
ROOT=$1
norm() { tr ' ' '\n' | grep -v '^$' | sort -u | tr '\n' ' '; }
lib=$(sed -n 's/^PVCALLS_PACKAGES="\(.*\)"/\1/p' "$ROOT/scripts/lib.sh" | norm)
# README: the first `...` list after "packages they need".
readme=$(tr '\n' ' ' <"$ROOT/README.md" | sed -n 's/.*packages they need (`\([^`]*\)`).*/\1/p' | norm)
ci=$(sed -n '/apt-get install/,/>\/dev\/null/p' "$ROOT/.ci/run" | tr -d '\\' |
	sed 's/apt-get install//; s/>\/dev\/null//' | tr '\n\t' '  ' | tr ' ' '\n' |
	grep -v -e '^-' -e '^clang$' -e '^clang-format$' | norm)
fail=0
[ -n "$lib" ] || { echo "no PVCALLS_PACKAGES in scripts/lib.sh"; exit 1; }
[ "$readme" = "$lib" ] || { echo "README.md: $readme"; echo "lib.sh:    $lib"; fail=1; }
[ "$ci" = "$lib" ] || { echo ".ci/run:   $ci"; echo "lib.sh:    $lib"; fail=1; }
[ $fail -eq 0 ] && echo "packages agree: $lib"
exit $fail
