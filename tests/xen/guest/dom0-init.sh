#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the harness's dom0: brings up the Xen userspace (xenstored,
# xenconsoled), runs each scenario in /harness/scenarios in order, powers
# off. Its console is hvc0 -> Xen -> com1 -> QEMU's stdio -> the host.
# Markers: PVCALLS-PHASE, PVCALLS-SCENARIO-BEGIN/END, PVCALLS-HARNESS-DONE.
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /var/run /var/lib/xenstored /var/log/xen /var/lib/xen /var/lock
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/run
mkdir -p /var/run/xen /var/run/xenstored /run/lock
. /harness/lib.sh
export PATH=/opt/pvcalls/bin:/usr/lib/xen-$XH_XV/bin:/usr/sbin:/usr/bin:/sbin:/bin
phase() { echo "PVCALLS-PHASE $1 uptime=$(now)${2:+ $2}"; }

phase init
# Keep kernel messages off the console (they are in dmesg): they would cut
# through the result lines.
dmesg -n 3
( sleep "$XH_WATCHDOG"; echo "PVCALLS-WATCHDOG fired after $XH_WATCHDOG s"; poweroff -f ) &

# xenfs needs xen-privcmd's symbols; xenstored needs xenfs on /proc/xen.
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
	insmod "/lib/modules/xen/$m.ko" || echo "insmod $m FAILED"
done
mount -t xenfs xenfs /proc/xen
echo "hypervisor: $(cat /sys/hypervisor/type) $(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor)," \
	"caps: $(cat /proc/xen/capabilities)"
phase xenstored
xenstored --pid-file /var/run/xenstored.pid
for i in $(seq 1 100); do [ -S /var/run/xenstored/socket ] && break; sleep 0.1; done
timeout 30 xen-init-dom0 > /tmp/xen-init-dom0.log 2>&1 || cat /tmp/xen-init-dom0.log
xenconsoled --log=guest --log-dir=/var/log/xen
ip link set lo up
phase ready
dmesg -c > /tmp/boot-dmesg.log

# In number order, except that "# order: N" in a scenario sorts it as N
# (scenario 5 runs last: its hostile input can oops Linux's pvcalls-back).
for f in /harness/scenarios/[0-9]*.sh; do
	case $f in *.domu.sh) continue ;; esac
	o=$(sed -n 's/^# order: *//p' "$f")
	b=${f##*/}
	echo "${o:-${b%%-*}} $f"
done | sort -n | cut -d' ' -f2 > /tmp/scenario-order
for f in $(cat /tmp/scenario-order); do
	base=${f##*/}
	n=${base%%-*}
	n=${n#0}
	name=${base#*-}
	name=${name%.sh}
	secs=$(sed -n 's/^# timeout: *//p' "$f" | head -1)
	secs=${secs:-120}
	t0=$(now)
	echo "PVCALLS-SCENARIO-BEGIN $n $name timeout=${secs}s"
	# Own session, so that everything it started can be killed afterwards.
	SCEN=$n setsid sh -c ". /harness/lib.sh; . $f" < /dev/null &
	pid=$!
	up
	end=$((UP + secs))
	while kill -0 $pid 2>/dev/null; do
		up
		if [ "$UP" -ge "$end" ]; then
			echo "PVCALLS-RESULT s$n.timeout FAIL the scenario did not finish in $secs s"
			break
		fi
		sleep 0.3
	done
	kill -KILL -$pid 2>/dev/null
	wait $pid 2>/dev/null
	rc=$?
	# Leave nothing behind for the next scenario.
	for d in $(xenstore-list /local/domain 2>/dev/null); do
		[ "$d" = 0 ] || xl destroy "$d"
	done
	for p in /tmp/*.pid; do [ -e "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null; done
	rm -f /tmp/*.pid
	kmod_loaded pvcalls_kmod_test && timeout 10 rmmod pvcalls_kmod_test
	if kmod_loaded pvcalls_back || kmod_loaded pvcalls_back_fixed; then
		linux_back_unload
	else
		pv_dev_destroy_all
	fi
	# What the kernel said during the scenario (not on the console: -n 3).
	dmesg -c > /tmp/scenario-dmesg.log
	sed 's/^/  kernel| /' /tmp/scenario-dmesg.log
	oops=$(grep -m1 -E 'BUG: |Oops|general protection fault|Kernel panic' /tmp/scenario-dmesg.log)
	[ -z "$oops" ] || echo "PVCALLS-RESULT s$n.kernel FAIL dom0 kernel: $oops"
	[ -z "$oops" ] || echo "PVCALLS-NOTE dom0's kernel oopsed in scenario $n: later scenarios ran on a damaged kernel"
	echo "PVCALLS-SCENARIO-END $n $name rc=$rc secs=$(since "$t0")"
done

phase done
echo "PVCALLS-HARNESS-DONE"
sync
poweroff -f
