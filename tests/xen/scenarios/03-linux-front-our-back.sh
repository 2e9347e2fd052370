# SPDX-License-Identifier: MIT
# scenario 3: Linux's pvcalls-front (compiled into the harness's test
# module, kmod/pvcalls_kmod_test.c) against our backend (pvcallsd --xen),
# both in dom0: socket, connect, data both ways with checksums, EOF,
# release; bind, listen, accept, data both ways, release.
# title: Linux pvcalls-front (test module) vs our backend, dom0 loopback
# needs: pvcallsd
# timeout: 240
need_kmod kmod pvcalls_kmod_test || return 0
need_xen backend pvcallsd || return 0
step "pvcallsd --xen, device /local/domain/0/device/pvcalls/0"
pvcallsd_conf /tmp/pvcallsd.conf
spawn pvcallsd pvcallsd --xen --config /tmp/pvcallsd.conf
pv_dev_create 0 0 0
if ! backend_ready backend-initwait "$(be_dir 0 0 0)" "pvcallsd --xen"; then
	show /tmp/pvcallsd.log
	return 0
fi
kmod_run kmod.
alive pvcallsd || fail backend-alive "pvcallsd --xen exited during the test"
stop pvcallsd
show /tmp/pvcallsd.log 15
