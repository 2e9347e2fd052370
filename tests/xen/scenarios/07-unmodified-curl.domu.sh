# SPDX-License-Identifier: MIT
# scenario 7, the domU side (see 07-unmodified-curl.sh). Check names get
# "domu.". XH_HAVE is empty when dom0 lacks the project's binaries;
# XH_BYTES, XH_SEED: the file dom0 serves (xh-peer gen); XH_SHA its sha256.
# needs: pvcalls-run
# host-programs: curl
URL=http://127.0.0.1:8080/f.bin
ME=$(xenstore-read domid)
F=device/pvcalls/0
B=$(xs_get "$F/backend")
# No way out but PV Calls: no network interface besides lo, no vif device.
nics=$(ls /sys/class/net | tr '\n' ' ')
vifs=$(xenstore-list "/local/domain/$ME/device/vif" 2>/dev/null | tr '\n' ' ')
if [ "$nics" = "lo " ] && [ -z "$vifs" ]; then
	pass domu.no-vif "network interfaces: $nics; no device/vif in xenstore"
else
	fail domu.no-vif "network interfaces: $nics; device/vif: '$vifs'"
fi
[ -n "$XH_HAVE" ] || return 0
need_bin domu.curl curl || return 0
backend_ready domu.backend-initwait "$B" "pvcallsd --xen (dom0)" 30 || return 0
# The same curl, without the shim: the domU's own loopback has no server.
rm -f /tmp/direct.out
timeout 60 curl -sS -o /tmp/direct.out "$URL" 2> /tmp/direct.err
rc=$?
if [ "$rc" != 0 ]; then
	pass domu.direct-fails "curl without pvcalls-run: exit $rc: $(head -n1 /tmp/direct.err)"
else
	fail domu.direct-fails "curl without pvcalls-run fetched $URL: something in the domU answered"
fi
# fetch CHECK ARGS...: pvcalls-run --xen ARGS -- curl URL; judges the file.
fetch() {
	local c=$1 t0 rc got sha
	shift
	rm -f /tmp/f.out
	t0=$(now)
	timeout 90 pvcalls-run --xen "$@" -- curl -sS -o /tmp/f.out "$URL" 2> "/tmp/$c.err"
	rc=$?
	if [ "$rc" = 0 ]; then
		pass "$c-exit" "pvcalls-run --xen ${*:+$* }-- curl $URL: exit 0 after $(since "$t0") s"
	else
		fail "$c-exit" "pvcalls-run --xen ${*:+$* }-- curl $URL: exit $rc$(case $rc in 124 | 143) echo " (killed after 90 s)" ;; esac)"
		show "/tmp/$c.err"
	fi
	got=$(xh-peer sum < /tmp/f.out 2>/dev/null)
	check_stream "$c-data" "$got" "$XH_BYTES" "$XH_SEED"
	sha=$(sha256sum /tmp/f.out 2>/dev/null | cut -d' ' -f1)
	if [ -n "$XH_SHA" ] && [ "$sha" = "$XH_SHA" ]; then
		pass "$c-sha256" "sha256 $sha, as dom0 computed it"
	else
		fail "$c-sha256" "sha256 '$sha', dom0 computed '$XH_SHA'"
	fi
}
fetch domu.curl
# Once more in an empty network namespace of its own (not even lo): the
# shim must carry everything.
fetch domu.curl-isolate --isolate
