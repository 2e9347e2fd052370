# SPDX-License-Identifier: MIT
# scenario 7: an unmodified Debian program across domains. A PV domU with
# no network interface of its own (no vif) runs Debian's curl, as packaged,
# under pvcalls-run --xen (libpvcalls-preload.so, docs/running-programs.md):
# its TCP socket is carried by PV Calls to pvcallsd --xen in dom0, which
# connects to busybox httpd on dom0's 127.0.0.1. The domU checks what it
# fetched (size, FNV-1a and sha256) and that the same curl without the shim
# cannot reach the server (its own loopback has none); dom0 checks that the
# audit log shows the domU's CONNECT.
# title: domU runs unmodified curl under pvcalls-run --xen: HTTP from dom0 via pvcallsd
# needs: pvcallsd pvcalls-run
# timeout: 300
HAVE=1
need_xen backend pvcallsd || HAVE=
need_bin run pvcalls-run || HAVE=
FILE_BYTES=1048583
FILE_SEED=77
SHA=
if [ -n "$HAVE" ]; then
	# An explicit policy: connects to dom0's loopback only, and only to
	# the web server's port (a daemon's default may deny 127.0.0.0/8).
	cat > /tmp/pvcallsd.conf <<-'CONF'
	[daemon]
	log_level = info
	[default]
	fallback = deny
	rule = allow connect 127.0.0.0/8 port 8080
	CONF
	spawn pvcallsd pvcallsd --xen --config /tmp/pvcallsd.conf --control none \
		--audit /tmp/audit.jsonl
	mkdir -p /tmp/www
	xh-peer gen "$FILE_BYTES" "$FILE_SEED" > /tmp/www/f.bin
	SHA=$(sha256sum /tmp/www/f.bin | cut -d' ' -f1)
	spawn httpd httpd -f -v -p 127.0.0.1:8080 -h /tmp/www
fi
step "xl create du7 (PV domU without a vif): curl under pvcalls-run --xen"
DOMU_ENV="XH_HAVE=$HAVE XH_BYTES=$FILE_BYTES XH_SEED=$FILE_SEED XH_SHA=$SHA" \
	domu_run du7 07-unmodified-curl.domu.sh 240
[ -n "$HAVE" ] || return 0
if alive pvcallsd; then
	pass backend-alive "pvcallsd --xen still running"
else
	fail backend-alive "pvcallsd --xen exited during the test"
fi
stop pvcallsd
stop httpd
show /tmp/pvcallsd.log 10
show /tmp/httpd.log 5
a=$(grep '"cmd":"CONNECT"' /tmp/audit.jsonl 2>/dev/null | grep -v '"frontend":0,' |
	grep '"port":8080,' | grep '"decision":"allow"' | grep -m1 '"ret":0,')
if [ -n "$a" ]; then
	pass audit-connect "the domU's CONNECT, as pvcallsd audited it: $a"
else
	fail audit-connect "no allowed CONNECT to 127.0.0.1:8080 from the domU in /tmp/audit.jsonl"
	show /tmp/audit.jsonl 20
fi
