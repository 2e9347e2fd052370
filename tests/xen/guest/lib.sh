# SPDX-License-Identifier: MIT
# Helpers for the scenarios, sourced inside the guests (busybox sh).
#
# Output protocol on the console (the host parses the serial log):
#   PVCALLS-RESULT <check> PASS|FAIL <detail>     one per check
#   PVCALLS-STEP <text>                           progress, shown live
#   PVCALLS-NOTE <text>                           copied into the summary
# Scenarios run with $SCEN (their number) set; check names get "s$SCEN."
# in front. Everything else on the console is kept in the log as it is.

. /harness/config

XS_MAX_WAIT=${XS_MAX_WAIT:-15}

result() { # CHECK PASS|FAIL DETAIL...
	local c=$1 v=$2
	shift 2
	echo "PVCALLS-RESULT ${SCEN:+s$SCEN.}$c $v $*"
}
pass() { local c=$1; shift; result "$c" PASS "$@"; }
fail() { local c=$1; shift; result "$c" FAIL "$@"; }
step() { echo "PVCALLS-STEP ${SCEN:+s$SCEN: }$*"; }

# show FILE [LINES]: the end of a log, indented, for a failure's context.
show() {
	[ -s "$1" ] || return 0
	echo "  --- ${1##*/} (last ${2:-25} lines)"
	tail -n "${2:-25}" "$1" | sed 's/^/  | /'
}

# Starting a process is slow in a PV guest under TCG (a fraction of a
# second each): loops below wait by the clock, with shell builtins, rather
# than by counting iterations.
# up: sets UP to the uptime in whole seconds, without starting a process.
up() { read -r UP _ < /proc/uptime; UP=${UP%.*}; }
# now: uptime with hundredths; since T: seconds since T (for messages).
now() { local u _; read -r u _ < /proc/uptime; echo "$u"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# need_bin CHECK PROGRAM...: FAILs CHECK if a project program was not built.
need_bin() {
	local c=$1 p
	shift
	for p in "$@"; do
		if [ ! -x "/opt/pvcalls/bin/$p" ]; then
			fail "$c" "binary missing: $p (not in the build directory)"
			return 1
		fi
	done
}

# need_xen CHECK PROGRAM: FAILs CHECK if PROGRAM is missing or its --help
# does not mention --xen (built without the Xen transport, or too old).
need_xen() {
	need_bin "$1" "$2" || return 1
	if ! "$2" --help 2>&1 | grep -q -e '--xen'; then
		fail "$1" "$2 has no --xen option (built without the Xen transport?)"
		return 1
	fi
}

# need_kmod CHECK MODULE...: FAILs CHECK if a kernel module was not built.
need_kmod() {
	local c=$1 m
	shift
	for m in "$@"; do
		if [ ! -f "/lib/modules/pvcalls/$m.ko" ]; then
			fail "$c" "kernel module $m.ko missing (${XH_KMOD_ERR:-not built})"
			return 1
		fi
	done
}

# --- processes ----------------------------------------------------------

# spawn NAME CMD...: runs CMD in the background, output in /tmp/NAME.log;
# its pid in /tmp/NAME.pid. Spawned processes are killed with the scenario.
spawn() {
	local n=$1
	shift
	"$@" > "/tmp/$n.log" 2>&1 &
	echo $! > "/tmp/$n.pid"
}
# reap NAME [SECS]: waits for a spawned process (default 60 s); its exit
# status, or 124 if it had to be killed.
reap() {
	local pid end
	read -r pid < "/tmp/$1.pid"
	up
	end=$((UP + ${2:-60}))
	while kill -0 "$pid" 2>/dev/null; do
		up
		if [ "$UP" -ge "$end" ]; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.3
	done
	wait "$pid"
}
alive() { kill -0 "$(cat "/tmp/$1.pid" 2>/dev/null)" 2>/dev/null; }
stop() { # NAME: SIGTERM, then SIGKILL after 3 s
	local pid end
	read -r pid < "/tmp/$1.pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || return 0
	up
	end=$((UP + 3))
	while kill -0 "$pid" 2>/dev/null; do
		up
		[ "$UP" -lt "$end" ] || break
		sleep 0.3
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# kv LINE KEY: the value of KEY=value in a line ("PEER rx=12 ...").
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# expect_sum BYTES SEED: "BYTES HASH" of the reference stream.
expect_sum() { xh-peer expect "$1" "$2"; }

# check_peer CHECK LOGFILE WANT_RX_BYTES WANT_RX_SEED: judges what an xh-peer
# received (its PEER line) against the stream the other end should have sent.
check_peer() {
	local c=$1 line want got
	line=$(grep '^PEER ' "$2" | tail -1)
	want=$(expect_sum "$3" "$4")
	got="$(kv "$line" rx) $(kv "$line" rxsum)"
	if [ -z "$line" ]; then
		fail "$c" "the peer reported nothing (it had to be killed: no connection?)"
		show "$2"
	elif [ "$(kv "$line" status)" = ok ] && [ "$got" = "$want" ]; then
		pass "$c" "peer got $got as sent"
	else
		fail "$c" "peer: $line; expected rx=${want% *} rxsum=${want#* }"
	fi
}

# check_stream CHECK "BYTES HASH" WANT_BYTES WANT_SEED: judges what a program
# wrote to its stdout (summed with xh-peer sum).
check_stream() {
	local want
	want=$(expect_sum "$3" "$4")
	if [ "$2" = "$want" ]; then
		pass "$1" "received $2 as sent"
	else
		fail "$1" "received '${2:-nothing}', expected '$want'"
	fi
}

# pvcallsd_conf FILE [RULE...]: writes a pvcallsd config for tests whose
# peers listen on dom0's loopback: the RULEs first, then connects to
# 127.0.0.0/8 and ::1 allowed by name (pvcallsd's built-in sandbox rules
# deny loopback in both families), and anything else allowed (fallback).
pvcallsd_conf() {
	local f=$1 r
	shift
	{
		printf '[daemon]\nlog_level = info\n[default]\nfallback = allow\n'
		for r in "$@"; do echo "rule = $r"; done
		echo "rule = allow connect 127.0.0.0/8"
		echo "rule = allow connect ::1/128"
	} > "$f"
}

# --- xenstore and pvcalls devices ------------------------------------------

fe_dir() { echo "/local/domain/$1/device/pvcalls/$2"; }        # FE DEVID
be_dir() { echo "/local/domain/$1/backend/pvcalls/$2/$3"; }    # BE FE DEVID

# pv_dev_create FE BE DEVID: the nodes a toolstack (libxl) writes for a
# pvcalls device: the frontend's directory (owned by FE, readable by BE)
# first, then the backend's (owned by BE), which backends watch for.
pv_dev_create() {
	local fe=$1 be=$2 id=$3 f b
	f=$(fe_dir "$fe" "$id")
	b=$(be_dir "$be" "$fe" "$id")
	xenstore-write "$f/backend" "$b" "$f/backend-id" "$be" "$f/state" 1 &&
		xenstore-chmod -r "$f" "n$fe" "r$be" &&
		xenstore-write "$b/frontend" "$f" "$b/frontend-id" "$fe" "$b/online" 1 \
			"$b/state" 1 &&
		xenstore-chmod -r "$b" "n$be" "r$fe"
}
# pv_dev_destroy FE BE DEVID: removes both directories (a hot-unplug).
pv_dev_destroy() {
	xenstore-rm "$(be_dir "$2" "$1" "$3")" 2>/dev/null
	xenstore-rm "$(fe_dir "$1" "$3")" 2>/dev/null
	return 0
}
# pv_dev_destroy_all: removes every pvcalls device dom0 serves or uses. One
# directory at a time: Linux's xenbus forgets a device only when the
# device's own directory goes (not its parent's), and would keep it, unbound,
# for the next scenario.
pv_dev_destroy_all() {
	local fe id
	for fe in $(xenstore-list /local/domain/0/backend/pvcalls 2>/dev/null); do
		for id in $(xenstore-list "/local/domain/0/backend/pvcalls/$fe" 2>/dev/null); do
			xenstore-rm "/local/domain/0/backend/pvcalls/$fe/$id"
		done
		xenstore-rm "/local/domain/0/backend/pvcalls/$fe"
	done
	for id in $(xenstore-list /local/domain/0/device/pvcalls 2>/dev/null); do
		xenstore-rm "/local/domain/0/device/pvcalls/$id"
	done
	xenstore-rm /local/domain/0/backend/pvcalls 2>/dev/null
	xenstore-rm /local/domain/0/device/pvcalls 2>/dev/null
	return 0
}
xs_get() { xenstore-read "$1" 2>/dev/null; }

# wait_state DIR "STATES" [SECS]: waits until DIR/state is one of STATES.
wait_state() {
	local s end
	up
	end=$((UP + ${3:-$XS_MAX_WAIT}))
	while :; do
		s=$(xs_get "$1/state")
		case " $2 " in *" $s "*) return 0 ;; esac
		up
		[ "$UP" -lt "$end" ] || return 1
		sleep 0.3
	done
}

# pv_dev_dump FE BE DEVID: both directories, for a failure's context.
pv_dev_dump() {
	echo "  --- xenstore"
	xenstore-ls -f "$(fe_dir "$1" "$3")" 2>&1 | sed 's/^/  | /'
	xenstore-ls -f "$(be_dir "$2" "$1" "$3")" 2>&1 | sed 's/^/  | /'
}

# --- kernel modules ----------------------------------------------------------

kmod_loaded() { grep -q "^$1 " /proc/modules; }
# linux_back_load CHECK: loads Linux's pvcalls-back (dom0).
# LINUX_BACK=pvcalls-back-fixed loads the copy with the lost-EOI fix.
linux_back_load() {
	local m=${LINUX_BACK:-pvcalls-back}
	need_kmod "$1" "$m" || return 1
	kmod_loaded "$(echo "$m" | tr - _)" && return 0
	if ! insmod "/lib/modules/pvcalls/$m.ko" 2>/tmp/insmod.err; then
		fail "$1" "insmod $m: $(cat /tmp/insmod.err)"
		return 1
	fi
}
# linux_back_unload: closes every device pvcalls-back serves, removes them,
# then unloads it. (Unloading it with a device still connected, or after a
# connected device's directory was removed, oopses in pvcalls_back_fin().)
linux_back_unload() {
	local d f m=
	for d in pvcalls_back pvcalls_back_fixed; do kmod_loaded $d && m=$d; done
	[ -n "$m" ] || return 0
	for d in $(xenstore-list /local/domain/0/backend/pvcalls 2>/dev/null); do
		for f in $(xenstore-list "/local/domain/0/backend/pvcalls/$d" 2>/dev/null); do
			pv_front_close "/local/domain/0/backend/pvcalls/$d/$f"
		done
	done
	pv_dev_destroy_all
	timeout 10 rmmod "$m"
}

# pv_front_close BEDIR: if the backend is not Closed, writes Closed as its
# frontend's state (what a frontend's close ends with) and waits 5 s for it.
pv_front_close() {
	local f s
	s=$(xs_get "$1/state")
	f=$(xs_get "$1/frontend")
	case $s in 6 | "") return 0 ;; esac
	[ -n "$f" ] || return 0
	xenstore-write "$f/state" 6
	wait_state "$1" 6 5
}

# dmesg lines of the kernel test module, as results: "PVCALLS-KMOD c V d".
kmod_results() { # PREFIX
	dmesg | sed -n 's/.*PVCALLS-KMOD \([^ ]*\) \(PASS\|FAIL\) \(.*\)/\1 \2 \3/p' |
		while read -r c v d; do result "$1$c" "$v" "$d"; done
}
# kmod_wait SECS: until the test module printed DONE; 1 on timeout.
kmod_wait() {
	local end
	up
	end=$((UP + $1))
	until dmesg | grep -q 'PVCALLS-KMOD DONE'; do
		up
		[ "$UP" -lt "$end" ] || return 1
		sleep 1
	done
}

# --- domUs (dom0 only) ------------------------------------------------------

# domu_run NAME SCRIPT SECS [CFG-LINE...]: boots a PV domU from the domU
# image with a pvcalls device served by dom0, runs /harness/scenarios/SCRIPT
# in it, waits until it powers off (or destroys it after SECS), and copies
# its console into ours as "[NAME] ..." lines (its PVCALLS-RESULT lines
# count). DOMU_ENV: more KEY=value words for the domU's /init (no commas).
# Returns 0 if the domU finished by itself.
domu_run() {
	local name=$1 script=$2 secs=$3 cfg=/tmp/$1.cfg rc=0 t0 end domid
	shift 3
	cat > "$cfg" <<-EOF
		name = "$name"
		type = "pv"
		kernel = "/boot/vmlinux"
		ramdisk = "/boot/domu.cpio.gz"
		extra = "console=hvc0 loglevel=4 panic=-1 XH_RUN=$script SCEN=$SCEN ${DOMU_ENV:-}"
		memory = 256
		vcpus = 1
		on_poweroff = "destroy"
		on_crash = "destroy"
		pvcalls = [ "backend=Domain-0" ]
	EOF
	for l in "$@"; do echo "$l" >> "$cfg"; done
	rm -f "/var/log/xen/guest-$name.log"
	t0=$(now)
	if ! xl create "$cfg" > "/tmp/$name.xl.log" 2>&1; then
		fail "domu-create" "xl create $name failed"
		show "/tmp/$name.xl.log"
		return 1
	fi
	step "domU $name created in $(since "$t0") s"
	up
	end=$((UP + secs))
	# xl is slow to start: watch the domain's xenstore directory instead.
	domid=$(xl domid "$name" 2>/dev/null)
	while xenstore-exists "/local/domain/$domid" 2>/dev/null; do
		up
		if [ "$UP" -ge "$end" ]; then
			fail "domu-timeout" "domU $name still running after $secs s: destroyed"
			xl destroy "$name" 2>/dev/null
			rc=1
			break
		fi
		sleep 1
	done
	step "domU $name gone after $(since "$t0") s"
	sed 's/\r$//; s/^/['"$name"'] /' "/var/log/xen/guest-$name.log" 2>/dev/null |
		grep -v '^\['"$name"'\] *$'
	return $rc
}

# front_left CHECK FEDIR: after a pvcalls-nc run (which exits without
# pvcalls_front_close, as a crashed program would), notes the state it
# left the device in; the next pvcalls_front_open must recover from it on
# its own (src/xenbus/xenbus.c, close_stale), so nothing resets it here.
front_left() {
	local s
	s=$(xs_get "$2/state")
	case $s in
	4) pass "$1" "pvcalls-nc left $2 Connected: the next open must close that session itself" ;;
	1 | 6) pass "$1" "$2 is in state $s: nothing stale" ;;
	*) fail "$1" "pvcalls-nc left $2 in state '$s'" ;;
	esac
}

# pv_front_reset FEDIR BEDIR: takes a device that a frontend program left
# behind (it exited without closing) back to the start, as the frontend's
# own close would: Closing, Closed, then Initialising, each time waiting for
# the backend to follow (to Closing/Closed, then InitWait).
pv_front_reset() {
	local f=$1 b=$2 s
	s=$(xs_get "$f/state")
	case $s in
	1 | 6) ;;
	*)
		step "the frontend left $f in state $s: closing it"
		xenstore-write "$f/state" 5
		if ! wait_state "$b" "5 6" 10; then
			fail device-reset "backend stayed in state $(xs_get "$b/state") after frontend Closing"
			return 1
		fi
		;;
	esac
	xenstore-write "$f/state" 6
	wait_state "$b" "6" 10 ||
		step "backend in state $(xs_get "$b/state") after frontend Closed"
	xenstore-write "$f/state" 1
	if ! wait_state "$b" "2" 10; then
		fail device-reset "backend in state $(xs_get "$b/state"), not InitWait, after frontend Initialising"
		return 1
	fi
}

# backend_ready CHECK BEDIR WHO [SECS]: PASS if the backend reached InitWait
# (or Connected) and published what Linux's frontend needs (versions=1,
# max-page-order >= 4, function-calls=1), else FAIL with the nodes.
backend_ready() {
	local c=$1 b=$2 who=$3 v o fc
	if ! wait_state "$b" "2 4" "${4:-15}"; then
		fail "$c" "$who did not take $b to InitWait in ${4:-15} s (state '$(xs_get "$b/state")')"
		xenstore-ls -f "$b" 2>&1 | sed 's/^/  | /'
		dmesg | tail -12 | sed 's/^/  dmesg| /'
		return 1
	fi
	v=$(xs_get "$b/versions")
	o=$(xs_get "$b/max-page-order")
	fc=$(xs_get "$b/function-calls")
	if [ "$v" = 1 ] && [ "${o:-0}" -ge 4 ] && [ "$fc" = 1 ]; then
		pass "$c" "$who: InitWait, versions=$v max-page-order=$o function-calls=$fc"
	else
		fail "$c" "$who: versions='$v' max-page-order='$o' function-calls='$fc' (Linux's frontend needs 1, >=4, 1)"
	fi
}

# nc_exchange CHECK ARGS... : runs "pvcalls-nc --xen ARGS" with the stream
# (OUT_BYTES, OUT_SEED) on stdin and checks its stdout against (IN_BYTES,
# IN_SEED); sets nothing else. Variables: OUT_BYTES OUT_SEED IN_BYTES IN_SEED.
nc_exchange() {
	local c=$1 rc t0
	shift
	t0=$(now)
	rm -f "/tmp/$c.rc"
	xh-peer gen "$OUT_BYTES" "$OUT_SEED" |
		{ timeout "${NC_SECS:-90}" pvcalls-nc --xen -v "$@" 2> "/tmp/$c.err"; echo $? > "/tmp/$c.rc"; } |
		xh-peer sum > "/tmp/$c.sum"
	rc=$(cat "/tmp/$c.rc")
	check_stream "$c-rx" "$(cat "/tmp/$c.sum")" "$IN_BYTES" "$IN_SEED"
	if [ "$rc" = 0 ]; then
		pass "$c-exit" "pvcalls-nc --xen $* exited 0 at EOF after $(since "$t0") s"
	else
		fail "$c-exit" "pvcalls-nc --xen $* exited $rc$(case $rc in 124 | 143) echo " (killed after ${NC_SECS:-90} s)" ;; esac)"
		show "/tmp/$c.err"
	fi
}

# kmod_run PREFIX ARGS...: loads the test module (Linux's pvcalls-front
# inside) with a peer serving its connect and a client for its listen, then
# turns its dmesg report and what the peers received into results.
# The device and a backend must be ready. Ports 7300 (connect), 7301 (listen).
kmod_run() {
	local p=$1 ob=${KMOD_OUT:-1000003} ib=${KMOD_IN:-777777}
	shift
	# KMOD_PEER: more xh-peer options, e.g. --after-rx (answer once the
	# module's data is all there, instead of sending both ways at once).
	spawn kpeer xh-peer serve 7300 --send "$ib" --seed 31 --expect "$ob" --timeout 150 \
		${KMOD_PEER:-}
	spawn kclient xh-peer connect 127.0.0.1 7301 --retry 150 --send "$ib" --seed 31 \
		--expect "$ob" --timeout 180 ${KMOD_PEER:-}
	if ! insmod /lib/modules/pvcalls/pvcalls_kmod_test.ko port=7300 lport=7301 \
		out_bytes="$ob" out_seed=13 in_bytes="$ib" in_seed=31 timeout=60 "$@" \
		2> /tmp/insmod.err; then
		fail "${p}insmod" "insmod pvcalls_kmod_test: $(cat /tmp/insmod.err)"
		return 1
	fi
	step "test module loaded: $ob bytes out, $ib bytes in, per connection"
	if ! kmod_wait 180; then
		fail "${p}done" "the test module did not finish in 180 s"
	fi
	kmod_results "$p"
	reap kpeer 5
	check_peer "${p}connect-peer" /tmp/kpeer.log "$ob" 13
	reap kclient 5
	check_peer "${p}accept-peer" /tmp/kclient.log "$ob" 13
	timeout 20 rmmod pvcalls_kmod_test || step "rmmod pvcalls_kmod_test failed"
	return 0
}

# conformance_run CHECK ARGS...: pvcalls-conformance --xen ARGS, its output
# kept in the log; PASS iff it exits 0. DIVERGES lines become notes.
conformance_run() {
	local c=$1 rc sum
	shift
	timeout "${CONF_SECS:-240}" pvcalls-conformance --xen "$@" > /tmp/conf.log 2>&1
	rc=$?
	sed 's/^/  conformance| /' /tmp/conf.log
	grep '^DIVERGES ' /tmp/conf.log | sed "s/^/PVCALLS-NOTE s$SCEN /"
	sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/conf.log | tail -1)
	case $rc in
	0) pass "$c" "$sum; $(grep -c '^DIVERGES ' /tmp/conf.log) cases diverge as the profile documents" ;;
	77) fail "$c" "pvcalls-conformance $*: --xen not supported by this build (exit 77)" ;;
	124 | 143) fail "$c" "killed after ${CONF_SECS:-240} s; ${sum:-no summary}; failed so far: $(grep '^FAIL ' /tmp/conf.log | cut -d' ' -f2 | tr -d : | head -8 | tr '\n' ' ')" ;;
	*) fail "$c" "exit $rc; ${sum:-no summary}; failed: $(grep '^FAIL ' /tmp/conf.log | cut -d' ' -f2 | tr -d : | head -8 | tr '\n' ' ')" ;;
	esac
}
