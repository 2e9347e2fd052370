#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command lines of the installed programs, as their man pages describe
# them:  check_cli.sh VERSION HUB NAME=PATH...
#  - every program: --version prints "NAME (libpvcalls) VERSION", exit 0;
#    --help exits 0; an unknown option exits 2 with the usage on stderr;
#  - pvcallsd: --check-config with a missing default file, with a missing
#    -c file, the effective configuration; --shm with --xen;
#  - pvcalls-nc: ports out of range; its help names the default hub;
#  - pvcallsctl: each exit code of pvcallsctl(8).
set -uo pipefail
VERSION=$1
HUB=$2
shift 2
declare -A P
for a in "$@"; do P[${a%%=*}]=${a#*=}; done
fails=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
# expect RC DESCRIPTION -- COMMAND...: runs it, stdout/stderr in $T/out $T/err
expect() {
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err" </dev/null
	local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; else
		bad "$what: exit $rc, expected $want"; sed 's/^/     | /' "$T/out" "$T/err"; fi
}
has() { # has FILE STRING DESCRIPTION
	if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: no \"$2\" in"; sed 's/^/     | /' "$1"; fi
}
# bad_numbers PVCALLSD SECTION KEY VALUE...: --check-config refuses each
# value of KEY in [SECTION] as a bad number.
bad_numbers() {
	local exe=$1 sec=$2 key=$3 v
	shift 3
	for v in "$@"; do
		printf '[%s]\n%s = %s\n' "$sec" "$key" "$v" >"$T/bad-num.conf"
		expect 1 "pvcallsd --check-config ($key = '$v')" -- "$exe" -c "$T/bad-num.conf" --check-config
		has "$T/err" "$key: bad number" "$key '$v' refused"
	done
}

for name in "${!P[@]}"; do
	exe=${P[$name]}
	expect 0 "$name --version" -- "$exe" --version
	[ "$(cat "$T/out")" = "$name (libpvcalls) $VERSION" ] && ok "$name --version text" ||
		bad "$name --version printed \"$(cat "$T/out")\""
	expect 0 "$name --help" -- "$exe" --help
	expect 2 "$name --no-such-option" -- "$exe" --no-such-option
	[ -s "$T/err" ] && [ ! -s "$T/out" ] && ok "$name usage on stderr" ||
		bad "$name: usage error output not on stderr only"
done

if [ -n "${P[pvcalls-demo]:-}" ]; then
	expect 2 "pvcalls-demo extra argument" -- "${P[pvcalls-demo]}" extra
	has "$T/err" "usage: pvcalls-demo" "pvcalls-demo usage on stderr"
fi

if [ -n "${P[pvcallsd]:-}" ]; then
	d=${P[pvcallsd]}
	# The default file (/etc/pvcalls/pvcallsd.conf) is usually missing on a
	# build machine; if it is there, this still checks the output.
	expect 0 "pvcallsd --check-config (default file)" -- "$d" --check-config
	has "$T/out" "shm_path = $HUB" "--check-config shows the default hub"
	has "$T/out" ";max_sockets = 1024 (built-in)" "--check-config shows built-in limits"
	expect 1 "pvcallsd -c MISSING --check-config" -- "$d" -c "$T/missing.conf" --check-config
	has "$T/err" "missing.conf" "the missing file is named"
	printf '[daemon]\ntransport = shm ; inline comment\n[default]\nrule = deny listen\nmax_sockets = 7\n[domain 3]\nrule = allow listen port 80\n' >"$T/a.conf"
	expect 0 "pvcallsd --check-config (a file)" -- "$d" -c "$T/a.conf" --check-config --max-listeners 9
	has "$T/out" "transport = shm" "transport read, inline comment dropped"
	has "$T/out" "max_sockets = 7" "[default] limit"
	has "$T/out" ";max_listeners = 9 (--max-listeners)" "flag limit"
	has "$T/out" "[domain 3]" "[domain N] section"
	has "$T/out" "rule = allow listen port 80" "[domain N] rule"
	# The printed configuration reads back to the same.
	cp "$T/out" "$T/b.conf"
	expect 0 "pvcallsd --check-config of its own output" -- "$d" -c "$T/b.conf" --check-config --max-listeners 9
	tail -n +2 "$T/out" >"$T/b2"; tail -n +2 "$T/b.conf" >"$T/b1"
	cmp -s "$T/b1" "$T/b2" && ok "--check-config output is a fixed point" ||
		bad "--check-config output changes when read back"
	# [shm]: the hub's access controls (issue 13), names resolved now.
	has "$T/b.conf" "; no allow list: only pvcallsd's own uid" "--check-config: the hub's default allow list said"
	printf '[shm]\nsocket_mode = 0660\nallow_users = root, 4242\nallow_groups = 0\nmax_guests = 8\nquota_nodes = 50\nmax_maps_per_guest = 100\n' >"$T/shm.conf"
	expect 0 "pvcallsd --check-config ([shm])" -- "$d" -c "$T/shm.conf" --check-config
	has "$T/out" "socket_mode = 0660" "[shm] socket_mode"
	has "$T/out" "allow_users = 0,4242" "[shm] allow_users by name and number"
	has "$T/out" "allow_groups = 0" "[shm] allow_groups"
	has "$T/out" "max_guests = 8" "[shm] max_guests"
	has "$T/out" "quota_nodes = 50" "[shm] quota_nodes"
	has "$T/out" ";quota_bytes = 262144 (built-in)" "[shm] built-in quota shown"
	has "$T/out" "max_maps_per_guest = 100" "[shm] max_maps_per_guest"
	has "$T/out" ";store_rate = 2000 (built-in)" "[shm] built-in store_rate shown"
	# store_rate (issue 13): a number or "unlimited"; store_burst a number.
	printf '[shm]\nstore_rate = 300\nstore_burst = 40\n' >"$T/sr.conf"
	expect 0 "pvcallsd --check-config (store_rate)" -- "$d" -c "$T/sr.conf" --check-config
	has "$T/out" "store_rate = 300" "[shm] store_rate"
	has "$T/out" "store_burst = 40" "[shm] store_burst"
	printf '[shm]\nstore_rate = unlimited\n' >"$T/sr.conf"
	expect 0 "pvcallsd --check-config (store_rate unlimited)" -- "$d" -c "$T/sr.conf" --check-config
	has "$T/out" "store_rate = unlimited" "[shm] store_rate unlimited"
	cp "$T/out" "$T/sr2.conf"
	expect 0 "pvcallsd --check-config of store_rate's output" -- "$d" -c "$T/sr2.conf" --check-config
	has "$T/out" "store_rate = unlimited" "store_rate unlimited reads back"
	bad_numbers "$d" shm store_rate -1 10000001 fast 12x
	bad_numbers "$d" shm store_burst unlimited
	printf '[shm]\nallow_users = no-such-user-pvcalls\n' >"$T/shm-bad.conf"
	expect 1 "pvcallsd --check-config (unknown user)" -- "$d" -c "$T/shm-bad.conf" --check-config
	has "$T/err" "allow_users: unknown user" "unknown user named"
	printf '[shm]\nsocket_mode = 0666\n' >"$T/shm-bad.conf"
	expect 1 "pvcallsd --check-config (socket_mode 0666)" -- "$d" -c "$T/shm-bad.conf" --check-config
	# The hub is created with the configured mode.
	printf '[shm]\nsocket_mode = 0660\n' >"$T/shm-mode.conf"
	"$d" -c "$T/shm-mode.conf" --shm "$T/hub-mode" --control none >"$T/dm.log" 2>&1 &
	dpid=$!
	for _ in $(seq 100); do [ -S "$T/hub-mode" ] && break; sleep 0.05; done
	[ "$(stat -c %a "$T/hub-mode" 2>/dev/null)" = 660 ] && ok "hub socket mode from [shm]" ||
		bad "hub socket mode $(stat -c %a "$T/hub-mode" 2>&1), expected 660"
	kill -TERM "$dpid"; wait "$dpid"
	# audit_required: an audit log that cannot be opened stops the start.
	expect 1 "pvcallsd --check-config --audit-required (unopenable)" -- "$d" --audit "$T/no/dir/a.log" --audit-required --check-config
	has "$T/err" "audit_required" "--check-config names audit_required"
	expect 0 "pvcallsd --check-config (unopenable, not required)" -- "$d" --audit "$T/no/dir/a.log" --check-config
	printf '[daemon]\naudit = off\naudit_required = yes\n' >"$T/ar.conf"
	expect 1 "pvcallsd --check-config (audit off, required)" -- "$d" -c "$T/ar.conf" --check-config
	expect 1 "pvcallsd --audit-required (unopenable) does not start" -- "$d" --shm "$T/hub-ar" --control none --audit "$T/no/dir/a.log" --audit-required
	[ ! -e "$T/hub-ar" ] && ok "no hub without the required audit log" || bad "hub created"
	# cmd_rate (issue 13): a number, "unlimited", or refused.
	printf '[default]\ncmd_rate = 500\ncmd_burst = 16\n[domain 4]\ncmd_rate = unlimited\n' >"$T/cr.conf"
	expect 0 "pvcallsd --check-config (cmd_rate)" -- "$d" -c "$T/cr.conf" --check-config
	has "$T/out" "cmd_rate = 500" "[default] cmd_rate"
	has "$T/out" "cmd_burst = 16" "[default] cmd_burst"
	has "$T/out" "cmd_rate = unlimited" "[domain N] cmd_rate unlimited"
	cp "$T/out" "$T/cr2.conf"
	expect 0 "pvcallsd --check-config of cmd_rate's output" -- "$d" -c "$T/cr2.conf" --check-config
	has "$T/out" "cmd_rate = unlimited" "cmd_rate unlimited reads back"
	expect 0 "pvcallsd --check-config (default file)" -- "$d" -c "$T/a.conf" --check-config
	has "$T/out" ";cmd_rate = 20000 (built-in)" "--check-config shows the built-in cmd_rate"
	bad_numbers "$d" default cmd_rate -1 1000001 fast "" 12x
	bad_numbers "$d" default cmd_burst unlimited
	expect 2 "pvcallsd --shm P --xen" -- "$d" --shm "$T/hub" --xen
	has "$T/err" "exclude each other" "--shm/--xen message"
	expect 2 "pvcallsd extra argument" -- "$d" extra
fi

if [ -n "${P[pvcalls-nc]:-}" ]; then
	nc=${P[pvcalls-nc]}
	for port in 0 65536 99999 -1 http 8x ""; do
		expect 2 "pvcalls-nc connect port '$port'" -- "$nc" --shm "$T/none" 127.0.0.1 "$port"
	done
	for port in 65536 x; do
		expect 2 "pvcalls-nc -l port '$port'" -- "$nc" --shm "$T/none" -l "$port"
	done
	# Valid ports get as far as the (missing) backend: exit 1.
	expect 1 "pvcalls-nc port 65535, no backend" -- "$nc" --shm "$T/none" 127.0.0.1 65535
	expect 1 "pvcalls-nc -l port 0, no backend" -- "$nc" --shm "$T/none" -l 0
	expect 0 "pvcalls-nc --help" -- "$nc" --help
	has "$T/out" "$HUB" "pvcalls-nc's help names the default hub"
fi

# A call the backend's policy refuses (EACCES) is named as such.
if [ -n "${P[pvcalls-nc]:-}" ] && [ -n "${P[pvcallsd]:-}" ]; then
	printf '[default]\nfallback = deny\n' >"$T/deny.conf"
	"${P[pvcallsd]}" -c "$T/deny.conf" --shm "$T/hub" --control none >"$T/d.log" 2>&1 &
	dpid=$!
	for _ in $(seq 100); do [ -S "$T/hub" ] && break; sleep 0.05; done
	expect 1 "pvcalls-nc connect, denied" -- "${P[pvcalls-nc]}" --shm "$T/hub" 127.0.0.1 9
	has "$T/err" "connect 127.0.0.1:9: refused by the backend's policy" "connect: policy named"
	expect 1 "pvcalls-nc -l, denied" -- "${P[pvcalls-nc]}" --shm "$T/hub" -l 127.0.0.1 0
	has "$T/err" "bind 127.0.0.1:0: refused by the backend's policy" "bind: policy named"
	# A second pvcallsd on the live hub's path refuses to start and leaves
	# the first one's hub in place (issue 13, attack 9).
	expect 1 "second pvcallsd on a live hub refuses" -- \
		"${P[pvcallsd]}" -c "$T/deny.conf" --shm "$T/hub" --control none
	has "$T/err" "in use" "second pvcallsd: the reason is named"
	[ -S "$T/hub" ] && ok "the live hub's socket is still there" || bad "the live hub's socket was removed"
	expect 1 "first pvcallsd still answers after the refusal" -- "${P[pvcalls-nc]}" --shm "$T/hub" 127.0.0.1 9
	has "$T/err" "refused by the backend's policy" "the first pvcallsd's policy answered"
	kill -TERM "$dpid"
	wait "$dpid" && ok "pvcallsd stopped cleanly" || { bad "pvcallsd exit status"; cat "$T/d.log"; }
fi

# pvcallsd's default is safe for a sandbox (issue 13): with an empty
# configuration a guest reaches neither the host's loopback services (nor
# 0.0.0.0) nor privileged ports; "allow connect 127.0.0.0/8" opens loopback.
if [ -n "${P[pvcalls-nc]:-}" ] && [ -n "${P[pvcallsd]:-}" ]; then
	: >"$T/empty.conf"
	printf '[default]\nrule = allow connect 127.0.0.0/8\n' >"$T/lo.conf"
	for conf in empty lo; do
		"${P[pvcallsd]}" -c "$T/$conf.conf" --shm "$T/hub-$conf" --control none >"$T/d-$conf.log" 2>&1 &
		dpid=$!
		for _ in $(seq 100); do [ -S "$T/hub-$conf" ] && break; sleep 0.05; done
		if [ $conf = empty ]; then
			for a in 127.0.0.1 127.1.2.3 0.0.0.0 169.254.169.254; do
				expect 1 "default policy: connect $a denied" -- "${P[pvcalls-nc]}" --shm "$T/hub-$conf" $a 9
				has "$T/err" "refused by the backend's policy" "connect $a: policy named"
			done
			expect 1 "default policy: listen on port 80 denied" -- "${P[pvcalls-nc]}" --shm "$T/hub-$conf" -l 127.0.0.1 80
			has "$T/err" "refused by the backend's policy" "listen 80: policy named"
			# The same over IPv6 (the inet6 extension): ::1, ::, IPv4-mapped.
			for a in ::1 :: ::ffff:127.0.0.1; do
				expect 1 "default policy: connect [$a] denied" -- "${P[pvcalls-nc]}" --shm "$T/hub-$conf" $a 9
				has "$T/err" "refused by the backend's policy" "connect [$a]: policy named"
			done
			expect 1 "default policy: listen on [::1]:80 denied" -- "${P[pvcalls-nc]}" --shm "$T/hub-$conf" -l ::1 80
			has "$T/err" "refused by the backend's policy" "listen [::1]:80: policy named"
		else
			# Allowed: the CONNECT reaches the host and finds no listener.
			expect 1 "allow connect 127.0.0.0/8: connect 127.0.0.1 allowed" -- "${P[pvcalls-nc]}" --shm "$T/hub-$conf" 127.0.0.1 9
			grep -q "policy" "$T/err" && bad "connect 127.0.0.1 refused by the policy" ||
				ok "connect 127.0.0.1 past the policy"
		fi
		kill -TERM "$dpid"; wait "$dpid"
	done
	"${P[pvcallsd]}" -c "$T/empty.conf" --check-config >"$T/out" 2>&1
	has "$T/out" ";rule = deny connect 127.0.0.0/8" "--check-config shows the sandbox rules"
	has "$T/out" ";rule = deny connect ::1/128" "--check-config shows the IPv6 sandbox rule"
	has "$T/out" ";rule = deny connect 169.254.0.0/16" "--check-config shows the link-local (cloud metadata) rule"
	# The host's loopback resolvers stay reachable on port 53, only those.
	printf '# test\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\noptions edns0\n' >"$T/resolv.conf"
	printf '[default]\nresolv_conf = %s\n' "$T/resolv.conf" >"$T/dns.conf"
	"${P[pvcallsd]}" -c "$T/dns.conf" --check-config >"$T/out" 2>&1
	has "$T/out" ";rule = allow connect 127.0.0.53 port 53" "sandbox: loopback resolver allowed"
	has "$T/out" ";rule = allow connect ::1 port 53" "sandbox: IPv6 loopback resolver allowed"
	grep -q "192.0.2.1" "$T/out" && bad "a non-loopback nameserver got a rule" || ok "only loopback nameservers"
	"${P[pvcallsd]}" -c "$T/dns.conf" --shm "$T/hub-dns" --control none >"$T/d-dns.log" 2>&1 &
	dpid=$!
	for _ in $(seq 100); do [ -S "$T/hub-dns" ] && break; sleep 0.05; done
	expect 1 "sandbox: connect 127.0.0.53:53 past the policy" -- "${P[pvcalls-nc]}" --shm "$T/hub-dns" 127.0.0.53 53
	grep -q "policy" "$T/err" && bad "resolver port refused by the policy" || ok "resolver port not refused"
	expect 1 "sandbox: connect 127.0.0.53:54 still denied" -- "${P[pvcalls-nc]}" --shm "$T/hub-dns" 127.0.0.53 54
	has "$T/err" "refused by the backend's policy" "other ports of the resolver stay denied"
	kill -TERM "$dpid"; wait "$dpid"
	printf '[default]\nsandbox_rules = no\n' >"$T/nosb.conf"
	"${P[pvcallsd]}" -c "$T/nosb.conf" --check-config >"$T/out" 2>&1
	grep -q ";rule = deny connect" "$T/out" && bad "sandbox_rules = no still shows the rules" ||
		ok "sandbox_rules = no"
fi

# audit_required: a write error at run time stops pvcallsd (exit 1).
if [ -n "${P[pvcalls-nc]:-}" ] && [ -n "${P[pvcallsd]:-}" ] && [ -w /dev/full ]; then
	"${P[pvcallsd]}" --shm "$T/hub-full" --control none --audit /dev/full --audit-required >"$T/df.log" 2>&1 &
	dpid=$!
	for _ in $(seq 100); do [ -S "$T/hub-full" ] && break; sleep 0.05; done
	"${P[pvcalls-nc]}" --shm "$T/hub-full" 127.0.0.1 9 </dev/null >/dev/null 2>&1
	for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$dpid" 2>/dev/null; then bad "pvcallsd kept serving after an audit write error"; kill -TERM "$dpid"; wait "$dpid"
	else wait "$dpid"; rc=$?; [ "$rc" -eq 1 ] && ok "audit write error: pvcallsd stops, exit 1" || bad "audit write error: exit $rc"; fi
	has "$T/df.log" "write failed; audit_required: stopping" "audit write error named"
fi

if [ -n "${P[pvcallsctl]:-}" ]; then
	c=${P[pvcallsctl]}
	expect 2 "pvcallsctl (no command)" -- "$c"
	expect 2 "pvcallsctl bogus" -- "$c" bogus
	expect 2 "pvcallsctl list extra" -- "$c" list extra
	expect 2 "pvcallsctl close (no domid)" -- "$c" close
	expect 2 "pvcallsctl close x" -- "$c" close x
	expect 2 "pvcallsctl close -1" -- "$c" close -1
	expect 2 "pvcallsctl close 4294967295" -- "$c" close 4294967295
	expect 2 "pvcallsctl -s TOO_LONG list" -- "$c" -s "$T/$(printf 'x%.0s' {1..120})" list
	expect 1 "pvcallsctl -s MISSING list" -- "$c" -s "$T/nosock" list
	has "$T/err" "is pvcallsd running?" "pvcallsctl says why"
	# A socket that answers nothing (a listener that closes at once).
	if command -v python3 >/dev/null; then
		python3 - "$T/mute" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
for _ in range(2):
    c, _ = s.accept(); c.recv(100); c.close()
PY
		for _ in $(seq 50); do [ -S "$T/mute" ] && break; sleep 0.1; done
		expect 1 "pvcallsctl: no answer" -- "$c" -s "$T/mute" stats
		has "$T/err" "no answer" "pvcallsctl says no answer"
		python3 - "$T/err.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c, _ = s.accept(); c.recv(100); c.sendall(b"error: no frontend of domain 9\n"); c.close()
PY
		for _ in $(seq 50); do [ -S "$T/err.sock" ] && break; sleep 0.1; done
		expect 1 "pvcallsctl: the daemon's error" -- "$c" -s "$T/err.sock" close 9
		has "$T/err" "error: no frontend" "the daemon's error on stderr"
		kill %1 2>/dev/null
		wait
	fi
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all command-line checks passed"
