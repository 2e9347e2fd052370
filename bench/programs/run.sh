#!/bin/bash
# SPDX-License-Identifier: MIT
# Real programs against the alternatives (issue 14): see run.py --help and
# docs/PERFORMANCE.md, "Real programs against the alternatives".
# The Debian python3 (standard library only); any python3 will do.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$(dirname "$(readlink -f "$0")")/run.py" "$@"
