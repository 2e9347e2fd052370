# SPDX-License-Identifier: MIT
# scenario 4, the domU side (see 04-cross-domain.sh). Check names get "domu.".
# needs: pvcalls-nc
ME=$(xenstore-read domid)
F=device/pvcalls/0
B=$(xs_get "$F/backend")
echo "device nodes written by xl:"
xenstore-ls -f "/local/domain/$ME/$F" 2>&1 | sed 's/^/  | /'
[ -n "$B" ] && xenstore-ls -f "$B" 2>&1 | sed 's/^/  | /'
if [ -z "$B" ]; then
	fail domu.device "no $F/backend in domU $ME"
	return 0
fi
backend_ready domu.backend-initwait "$B" "pvcallsd --xen (dom0)" 30 || return 0
need_bin domu.nc pvcalls-nc || return 0
OUT_BYTES=1000003 OUT_SEED=41 IN_BYTES=777777 IN_SEED=42 nc_exchange domu.connect 127.0.0.1 7400
pv_front_reset "/local/domain/$ME/$F" "$B" || return 0
OUT_BYTES=500001 OUT_SEED=43 IN_BYTES=654321 IN_SEED=44 NC_SECS=120 nc_exchange domu.accept -l 7401
