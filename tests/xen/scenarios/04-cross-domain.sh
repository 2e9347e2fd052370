# SPDX-License-Identifier: MIT
# scenario 4: across domains. A PV domU created with xl
# (pvcalls = [ "backend=Domain-0" ]: libxl writes the device) runs our
# frontend (pvcalls-nc --xen, 04-cross-domain.domu.sh) against our backend
# (pvcallsd --xen) in dom0: a connect to a peer in dom0, and a listen in the
# domU that a client in dom0 connects to; data both ways with checksums.
# The domU is booted even without the project's binaries: it checks the
# domU's own Xen facilities (domu.env.*) and shows the device xl wrote.
# The daemon runs as an operator would run it: from a config file with a
# policy (connects to port 7402 denied) and an audit log; the domU's
# connect to 7402 must fail with EACCES, and the audit log must show the
# domU's allowed and denied CONNECTs (pvcallsd.conf(5), issue 5).
# title: domU (xl) frontend pvcalls-nc vs our backend pvcallsd in dom0
# needs: pvcallsd pvcalls-nc
# timeout: 300
HAVE=1
need_xen backend pvcallsd || HAVE=
need_xen nc pvcalls-nc || HAVE=
if [ -n "$HAVE" ]; then
	pvcallsd_conf /tmp/pvcallsd.conf "deny connect 127.0.0.0/8 port 7402"
	spawn pvcallsd pvcallsd --xen --config /tmp/pvcallsd.conf --control none \
		--audit /tmp/audit.jsonl
	# Listening, so that a refusal can only come from the policy.
	spawn denied xh-peer serve 7402 --send 1 --seed 1 --expect 1 --timeout 200
	spawn peer xh-peer serve 7400 --send 777777 --seed 42 --expect 1000003 --timeout 220
	spawn client xh-peer connect 127.0.0.1 7401 --retry 230 --send 654321 --seed 44 \
		--expect 500001 --timeout 240
fi
step "xl create du4 (PV domU, pvcalls device served by dom0)"
DOMU_ENV="XH_HAVE=$HAVE" domu_run du4 04-cross-domain.domu.sh 240
[ -n "$HAVE" ] || return 0
reap peer 5
check_peer connect-peer /tmp/peer.log 1000003 41
reap client 5
check_peer accept-peer /tmp/client.log 500001 43
alive pvcallsd || fail backend-alive "pvcallsd --xen exited during the test"
stop pvcallsd
stop denied
show /tmp/pvcallsd.log 15
# The audit log: one JSON record per request; the domU's (frontend != 0)
# CONNECTs to 7400 (allowed) and 7402 (denied, rule named, EACCES).
if [ ! -s /tmp/audit.jsonl ]; then
	fail audit "pvcallsd wrote no audit log at /tmp/audit.jsonl"
else
	a=$(grep '"cmd":"CONNECT"' /tmp/audit.jsonl | grep -v '"frontend":0,' |
		grep '"port":7400,' | grep '"decision":"allow"' | grep -m1 '"ret":0,')
	d=$(grep '"cmd":"CONNECT"' /tmp/audit.jsonl | grep -v '"frontend":0,' |
		grep '"port":7402,' | grep '"decision":"deny"' | grep -m1 '"errno":"EACCES"')
	if [ -n "$a" ]; then pass audit-allow "$a"; else fail audit-allow "no allowed CONNECT to 7400 from the domU"; fi
	if [ -n "$d" ]; then pass audit-deny "$d"; else fail audit-deny "no denied CONNECT to 7402 from the domU"; fi
	[ -n "$a" ] && [ -n "$d" ] || show /tmp/audit.jsonl 30
fi
