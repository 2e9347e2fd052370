# SPDX-License-Identifier: MIT
# scenario 6: the reference run, Linux against Linux: the harness's test
# module (Linux's pvcalls-front) against Linux's pvcalls-back, both in dom0.
# Needs no project binary: it checks the harness itself (modules, device
# nodes, peers) so that a failure of scenario 3 can be told apart.
# Linux's own pair is not reliable: pvcalls-back loses the late EOI of a
# socket's port when the frontend notifies with an empty out ring (which
# pvcalls-front does after every read), and the stream then stalls, in
# either direction, at random (seen here in 2 of 3 runs). So the reference
# uses pvcalls-back with kmod/pvcalls-back-lateeoi.patch applied
# (module pvcalls_back_fixed); scenarios 2 and 5 use the stock one.
# title: reference: Linux pvcalls-front vs Linux pvcalls-back + lost-EOI fix (harness check)
# needs:
# timeout: 200
need_kmod kmod pvcalls_kmod_test || return 0
LINUX_BACK=pvcalls-back-fixed linux_back_load back-load || return 0
pv_dev_create 0 0 0
backend_ready back-initwait "$(be_dir 0 0 0)" "pvcalls-back" || return 0
# Less than one ring (32 KiB at order 4) each way, one way after the other.
KMOD_OUT=30011 KMOD_IN=20011 KMOD_PEER="--after-rx --close-delay 500" kmod_run kmod.
# The module closed the device (Closed); a new frontend starts over.
B=$(be_dir 0 0 0)
if pv_front_reset "$(fe_dir 0 0)" "$B"; then
	pass reopen "after the frontend's close: Initialising -> backend InitWait again"
fi
