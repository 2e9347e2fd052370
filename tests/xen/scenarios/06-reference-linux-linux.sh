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
kmod_run kmod.
