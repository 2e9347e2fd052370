# SPDX-License-Identifier: MIT
# scenario 0: the Xen facilities in dom0 (the harness's own probe, xh-env),
# then the project's Xen transport smoke test, pvcalls-xen-smoke.
# title: Xen facilities (xh-env) and pvcalls-xen-smoke in dom0
# needs: pvcalls-xen-smoke
# timeout: 90
step "xh-env: grant tables, event channels, xenstore"
xh-env > /tmp/xh-env.log 2>&1
while read -r v c d; do
	case $v in PASS | FAIL) result "env.$c" "$v" "$d" ;; esac
done < /tmp/xh-env.log
grep -q -E '^(PASS|FAIL) ' /tmp/xh-env.log || { fail env "xh-env printed no checks"; show /tmp/xh-env.log; }

step "TCP over dom0's loopback, 1 MB each way (a baseline for the data tests)"
t0=$(now)
spawn tpeer xh-peer serve 7000 --send 1000003 --seed 2 --expect 1000003
xh-peer connect 127.0.0.1 7000 --retry 10 --send 1000003 --seed 1 --expect 1000003 > /tmp/tclient.log 2>&1
reap tpeer 30
if grep -q 'status=ok' /tmp/tclient.log && grep -q 'status=ok' /tmp/tpeer.log; then
	pass env.tcp-loopback "1 MB each way in $(since "$t0") s"
else
	fail env.tcp-loopback "$(cat /tmp/tclient.log /tmp/tpeer.log | grep PEER | tr '\n' ' ')"
fi

need_bin xen-smoke pvcalls-xen-smoke || return 0
step "pvcalls-xen-smoke"
timeout 60 pvcalls-xen-smoke > /tmp/smoke.log 2>&1
rc=$?
sed 's/^/  smoke| /' /tmp/smoke.log
sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/smoke.log | tail -1)
if [ $rc = 0 ] && [ -n "$sum" ] && echo "$sum" | grep -q ' 0 failed'; then
	pass xen-smoke "$sum"
elif [ $rc = 77 ]; then
	fail xen-smoke "it skipped (exit 77) on real Xen: $(grep -m1 '^SKIP' /tmp/smoke.log)"
else
	fail xen-smoke "exit $rc; ${sum:-no 'N passed, N failed' line}"
fi
