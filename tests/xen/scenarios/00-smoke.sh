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

need_bin xen-smoke pvcalls-xen-smoke || return 0
step "pvcalls-xen-smoke"
timeout 60 pvcalls-xen-smoke > /tmp/smoke.log 2>&1
rc=$?
sed 's/^/  smoke| /' /tmp/smoke.log
sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/smoke.log | tail -1)
if [ $rc = 0 ] && [ -n "$sum" ] && echo "$sum" | grep -q ' 0 failed'; then
	pass xen-smoke "$sum"
else
	fail xen-smoke "exit $rc; ${sum:-no 'N passed, N failed' line}"
fi
