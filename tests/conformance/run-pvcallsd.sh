#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs pvcalls-conformance against a separate pvcallsd process:
#   run-pvcallsd.sh PVCALLSD CONFORMANCE [conformance options...]
# Fails if the suite fails, if pvcallsd dies early, or if pvcallsd does not
# exit 0 on SIGTERM.
set -u
daemon=$1
suite=$2
shift 2

dir=$(mktemp -d "${TMPDIR:-/tmp}/pvcalls-conf.XXXXXX") || exit 1
sock=$dir/hub.sock
log=$dir/pvcallsd.log
trap 'rm -rf "$dir"' EXIT

# pvcallsd's default policy keeps guests off this host's loopback; the
# suite's peers are there (127.0.0.1 and ::1), so this run opens it, as
# pvcallsd.conf(5) says.
printf '[default]\nrule = allow connect 127.0.0.0/8\nrule = allow connect ::1/128\n' >"$dir/pvcallsd.conf"
"$daemon" -c "$dir/pvcallsd.conf" --shm "$sock" >"$log" 2>&1 &
pid=$!

# Wait (up to 5 s) for the hub's socket.
i=0
while [ ! -S "$sock" ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "pvcallsd exited before listening:" >&2
		cat "$log" >&2
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -ge 100 ]; then
		echo "pvcallsd did not create $sock" >&2
		kill -KILL "$pid" 2>/dev/null
		exit 1
	fi
	sleep 0.05
done

"$suite" --shm "$sock" "$@"
rc=$?

if ! kill -0 "$pid" 2>/dev/null; then
	echo "pvcallsd died during the run:" >&2
	cat "$log" >&2
	wait "$pid"
	exit 1
fi
kill -TERM "$pid"
# Give it 10 s to shut down cleanly.
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	echo "pvcallsd ignored SIGTERM" >&2
	kill -KILL "$pid"
	wait "$pid"
	exit 1
fi
wait "$pid"
drc=$?
if [ "$drc" -ne 0 ]; then
	echo "pvcallsd exited with status $drc after SIGTERM:" >&2
	cat "$log" >&2
	exit 1
fi
exit "$rc"
