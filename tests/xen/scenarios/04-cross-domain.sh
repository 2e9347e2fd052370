# SPDX-License-Identifier: MIT
# scenario 4: across domains. A PV domU created with xl
# (pvcalls = [ "backend=Domain-0" ]: libxl writes the device) runs our
# frontend (pvcalls-nc --xen, 04-cross-domain.domu.sh) against our backend
# (pvcallsd --xen) in dom0: a connect to a peer in dom0, and a listen in the
# domU that a client in dom0 connects to; data both ways with checksums.
# The domU is booted even without the project's binaries: it checks the
# domU's own Xen facilities (domu.env.*) and shows the device xl wrote.
# title: domU (xl) frontend pvcalls-nc vs our backend pvcallsd in dom0
# needs: pvcallsd pvcalls-nc
# timeout: 300
HAVE=1
need_xen backend pvcallsd || HAVE=
need_xen nc pvcalls-nc || HAVE=
if [ -n "$HAVE" ]; then
	spawn pvcallsd pvcallsd --xen
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
show /tmp/pvcallsd.log 15
