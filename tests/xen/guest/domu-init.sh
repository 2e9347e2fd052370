#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the harness's domUs: runs /harness/scenarios/$XH_RUN (given on
# the kernel command line by domu_run, with SCEN), then powers off. Its
# console goes to dom0's xenconsoled, which copies it into dom0's log.
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
export PATH=/opt/pvcalls/bin:/usr/sbin:/usr/bin:/sbin:/bin
. /harness/lib.sh
dmesg -n 3
for m in xen-evtchn xen-gntdev xen-gntalloc; do
	insmod "/lib/modules/xen/$m.ko" || echo "insmod $m FAILED"
done
ip link set lo up
echo "domU $(xenstore-read domid 2>/dev/null) up at $(now) s: running $XH_RUN"
if [ -f "/harness/scenarios/$XH_RUN" ]; then
	. "/harness/scenarios/$XH_RUN"
else
	fail domu "no /harness/scenarios/$XH_RUN in the domU image"
fi
echo "domU done at $(now) s"
sync
poweroff -f
