# SPDX-License-Identifier: MIT
# scenario 4, the domU side (see 04-cross-domain.sh). Check names get "domu.".
# XH_HAVE is empty when dom0 lacks the project's binaries.
# needs: pvcalls-nc
ME=$(xenstore-read domid)
F=device/pvcalls/0
B=$(xs_get "$F/backend")
xh-env > /tmp/xh-env.log 2>&1
while read -r v c d; do
	case $v in PASS | FAIL) result "domu.env.$c" "$v" "$d" ;; esac
done < /tmp/xh-env.log
echo "the pvcalls device xl wrote for domain $ME:"
xenstore-ls -f "/local/domain/$ME/$F" 2>&1 | sed 's/^/  | /'
[ -n "$B" ] && xenstore-ls -f "$B" 2>&1 | sed 's/^/  | /'
if [ -n "$B" ] && [ "$(xs_get "$F/backend-id")" = 0 ]; then
	pass domu.device "xl wrote $F with backend $B"
else
	fail domu.device "no $F/backend (dom0) in domU $ME"
	return 0
fi
[ -n "$XH_HAVE" ] || return 0
backend_ready domu.backend-initwait "$B" "pvcallsd --xen (dom0)" 30 || return 0
OUT_BYTES=1000003 OUT_SEED=41 IN_BYTES=777777 IN_SEED=42 nc_exchange domu.connect 127.0.0.1 7400
front_left domu.stale-device-1 "/local/domain/$ME/$F"
# dom0's policy denies port 7402 (a peer listens there): EACCES, not a refusal.
rm -f /tmp/denied.err
echo x | timeout 60 pvcalls-nc --xen 127.0.0.1 7402 > /dev/null 2> /tmp/denied.err
rc=$?
if [ "$rc" != 0 ] && grep -q -i 'permission denied' /tmp/denied.err; then
	pass domu.policy-deny "connect 127.0.0.1:7402: $(head -n1 /tmp/denied.err)"
else
	fail domu.policy-deny "pvcalls-nc --xen 127.0.0.1 7402 exited $rc: $(head -n1 /tmp/denied.err)"
fi
front_left domu.stale-device-2 "/local/domain/$ME/$F"
OUT_BYTES=500001 OUT_SEED=43 IN_BYTES=654321 IN_SEED=44 NC_SECS=120 nc_exchange domu.accept -l 7401
