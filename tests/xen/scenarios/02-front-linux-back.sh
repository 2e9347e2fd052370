# SPDX-License-Identifier: MIT
# scenario 2: our frontend (pvcalls-nc --xen) against Linux's pvcalls-back
# (built out of tree), both in dom0 (device 0 of domain 0, served by 0).
# Data both ways, checked with checksums, through a connect and through a
# listen/accept, each ended by the peer's close (EOF). Request, then answer
# (the peer sends once it has everything), and less than one data ring
# (32 KiB at order 4) each way: Linux's pvcalls-back wedges when a
# frontend's notification finds its out ring empty, which a full ring or
# an early receive brings about (docs/xen-harness.md, "Linux's pvcalls
# drivers").
# title: our frontend (pvcalls-nc) vs Linux pvcalls-back, dom0 loopback
# needs: pvcalls-nc
# timeout: 240
linux_back_load back-load || return 0
pv_dev_create 0 0 0
F=$(fe_dir 0 0)
B=$(be_dir 0 0 0)
backend_ready back-initwait "$B" "pvcalls-back" || return 0
need_xen nc pvcalls-nc || return 0

step "connect: pvcalls-nc --xen 127.0.0.1 7200 <-> xh-peer in dom0"
spawn peer xh-peer serve 7200 --send 20011 --seed 22 --expect 30011 --after-rx --close-delay 500 --timeout 100
OUT_BYTES=30011 OUT_SEED=21 IN_BYTES=20011 IN_SEED=22 nc_exchange connect 127.0.0.1 7200
reap peer 10
check_peer connect-peer /tmp/peer.log 30011 21

front_left stale-device "$F"
step "listen: pvcalls-nc --xen -l 7201 <-> xh-peer connecting in dom0"
spawn client xh-peer connect 127.0.0.1 7201 --retry 90 --send 20011 --seed 24 --expect 30011 --after-rx --close-delay 500 --timeout 110
OUT_BYTES=30011 OUT_SEED=23 IN_BYTES=20011 IN_SEED=24 nc_exchange accept -l 7201
reap client 10
check_peer accept-peer /tmp/client.log 30011 23
