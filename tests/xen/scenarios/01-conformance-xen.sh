# SPDX-License-Identifier: MIT
# scenario 1: the conformance suite over the Xen transport, our frontend
# (pvcalls-conformance --xen) against our backend (pvcallsd --xen), both in
# dom0: device 0 of domain 0, served by domain 0 (grants and event channels
# from dom0 to itself), its nodes written here as a toolstack would.
# title: conformance suite: our frontend vs our backend, dom0 loopback
# needs: pvcallsd pvcalls-conformance
# timeout: 300
need_xen backend pvcallsd || return 0
step "pvcallsd --xen, device /local/domain/0/device/pvcalls/0"
pvcallsd_conf /tmp/pvcallsd.conf
spawn pvcallsd pvcallsd --xen --config /tmp/pvcallsd.conf
pv_dev_create 0 0 0
if ! backend_ready backend-initwait "$(be_dir 0 0 0)" "pvcallsd --xen"; then
	show /tmp/pvcallsd.log
	return 0
fi
need_bin conformance pvcalls-conformance || return 0
step "pvcalls-conformance --xen"
conformance_run conformance
if alive pvcallsd; then
	pass backend-alive "pvcallsd --xen still running after the suite"
else
	fail backend-alive "pvcallsd --xen exited during the suite"
fi
stop pvcallsd
show /tmp/pvcallsd.log 15
