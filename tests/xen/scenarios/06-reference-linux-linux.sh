# SPDX-License-Identifier: MIT
# scenario 6: the reference run, Linux against Linux: the harness's test
# module (Linux's pvcalls-front) against Linux's pvcalls-back, both in dom0.
# Needs no project binary: it checks the harness itself (modules, device
# nodes, peers) so that a failure of scenario 3 can be told apart.
# title: reference: Linux pvcalls-front vs Linux pvcalls-back (harness check)
# needs:
# timeout: 200
need_kmod kmod pvcalls_kmod_test || return 0
linux_back_load back-load || return 0
pv_dev_create 0 0 0
backend_ready back-initwait "$(be_dir 0 0 0)" "pvcalls-back" || return 0
# Linux's pvcalls-back wedges once a data ring fills (docs/xen-harness.md,
# "Linux's pvcalls drivers"): less than one ring (32 KiB at order 4) each way.
KMOD_OUT=30011 KMOD_IN=20011 KMOD_PEER="--after-rx --close-delay 500" kmod_run kmod.
# The module closed the device (Closed); a new frontend starts over.
B=$(be_dir 0 0 0)
if pv_front_reset "$(fe_dir 0 0)" "$B"; then
	pass reopen "after the frontend's close: Initialising -> backend InitWait again"
fi
