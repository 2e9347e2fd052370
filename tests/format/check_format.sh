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
# One clang-format process for the whole tree; it names each file that
# differs ("file:line:col: error: code should be clang-formatted").
out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1) && rc=0 || rc=$?
bad=$(printf '%s\n' "$out" | grep -oE '^[^:]+:[0-9]+:[0-9]+: error' | cut -d: -f1 | sort -u || true)
if [ $rc -ne 0 ]; then
	[ -n "$bad" ] || { printf '%s\n' "$out" | head -20; exit 1; }
	printf 'not formatted: %s\n' $bad
	echo "fix with: tests/format/check_format.sh . --fix"
fi
echo "${#files[@]} files checked, $(printf '%s' "$bad" | grep -c . || true) not formatted"
[ $rc -eq 0 ]
