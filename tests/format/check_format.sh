#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest pvcalls.format: every tracked .c and .h follows .clang-format.
#   check_format.sh SOURCE_DIR [--fix]
# The style is clang-format 14's reading of .clang-format (Debian 12);
# another version formats some constructs differently, so it skips (77).
set -euo pipefail
ROOT=$1
cd "$ROOT"
command -v clang-format >/dev/null || { echo "SKIP: clang-format is not installed"; exit 77; }
ver=$(clang-format --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
[ "$ver" = 14 ] || { echo "SKIP: clang-format $ver here, the style is clang-format 14's"; exit 77; }
command -v git >/dev/null && [ -e .git ] ||
	{ echo "SKIP: not a git checkout (the check reads git's file list)"; exit 77; }
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^tests/xen/kmod/')
if [ "${2:-}" = --fix ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
bad=0
for f in "${files[@]}"; do
	if ! clang-format --dry-run --Werror "$f" 2>/dev/null; then
		echo "not formatted: $f (scripts: tests/format/check_format.sh . --fix)"
		bad=$((bad + 1))
	fi
done
echo "${#files[@]} files checked, $bad not formatted"
[ $bad -eq 0 ]
