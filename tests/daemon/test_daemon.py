#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pvcallsd end to end over the shm transport:
   test_daemon.py PVCALLSD PVCALLSCTL PVCALLS-NC

--check-config; start from a config file with sd_notify to an abstract
socket (READY=1, STATUS=); echo traffic through pvcalls-nc; a denied
CONNECT; SIGHUP that changes the rules while a connection stays up (and
keeps working); pvcallsctl list/stats/close; every audit line is JSON;
SIGTERM gives STOPPING=1 and exit 0 (under ASan: no leaks).
"""
import json, os, pty, shutil, signal, socket, subprocess, sys, tempfile, threading, time

pvcallsd, pvcallsctl, nc = sys.argv[1:4]
SLOW = 4 if os.environ.get("ASAN_OPTIONS") is not None or "asan" in pvcallsd else 1
d = tempfile.mkdtemp(prefix="pvcalls-daemon.")
hub, ctl, audit, conf = (os.path.join(d, n) for n in ("hub.sock", "ctl.sock", "audit.jsonl", "d.conf"))


def fail(msg):
    print("FAIL:", msg)
    try:
        print(open(os.path.join(d, "d.log")).read())
    except OSError:
        pass
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


# An echo server on loopback; "bye" closes. A connection that starts with
# "READ-TO-EOF" is read to end of stream, then answered "got N".
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
port = srv.getsockname()[1]


def echo(c):
    with c:
        first = True
        while True:
            b = c.recv(4096)
            if first and b.startswith(b"READ-TO-EOF"):
                n = len(b)
                while b:
                    b = c.recv(65536)
                    n += len(b)
                c.sendall(b"got %d\n" % n)
                return
            first = False
            if not b:
                return
            c.sendall(b)
            if b.rstrip().endswith(b"bye"):
                return


def serve():
    while True:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        threading.Thread(target=echo, args=(c,), daemon=True).start()


threading.Thread(target=serve, daemon=True).start()


def write_conf(allow_port):
    with open(conf, "w") as f:
        f.write(f"""; test config
[daemon]
transport = shm
shm_path = {hub}
control_socket = {ctl}
audit = {audit}
log_level = debug

[default]
fallback = deny
rule = allow connect 127.0.0.1 port {allow_port}
rule = deny listen
max_sockets = 16
""")


write_conf(port)
r = subprocess.run([pvcallsd, "-c", conf, "--check-config"], capture_output=True, text=True)
check(r.returncode == 0 and "ok (2 rules)" in r.stdout, f"--check-config: {r.returncode} {r.stdout} {r.stderr}")
# extensions = a list: printed back as read; a bad one is refused.
ext = os.path.join(d, "ext.conf")
for val, want in (("names, sockopt", "extensions = names,sockopt"), ("shutdown,sockopt", "extensions = shutdown,sockopt"),
                  ("shutdown", "extensions = shutdown"), ("sockopt, dgram", "extensions = sockopt,dgram"), ("none", "extensions = none"), ("all", "extensions = all"),
                  ("inet6,names", "extensions = names,inet6"), ("ring-reuse, shutdown", "extensions = shutdown,ring-reuse")):
    with open(ext, "w") as f:
        f.write(f"[daemon]\nextensions = {val}\n")
    r = subprocess.run([pvcallsd, "-c", ext, "--check-config"], capture_output=True, text=True)
    check(r.returncode == 0 and want + "\n" in r.stdout, f"extensions = {val}: {r.returncode} {r.stdout} {r.stderr}")
with open(ext, "w") as f:
    f.write("[daemon]\nextensions = inet7\n")
r = subprocess.run([pvcallsd, "-c", ext, "--check-config"], capture_output=True, text=True)
check(r.returncode == 1 and "ext.conf:2" in r.stderr, f"extensions = inet7 accepted: {r.returncode} {r.stderr}")
bad = os.path.join(d, "bad.conf")
with open(bad, "w") as f:
    f.write("[default]\nrule = allow connect 10.0.0.0/99\n")
r = subprocess.run([pvcallsd, "-c", bad, "--check-config"], capture_output=True, text=True)
check(r.returncode == 1 and "bad.conf:2" in r.stderr, f"bad config accepted: {r.returncode} {r.stderr}")

# sd_notify on an abstract socket.
nname = f"pvcalls-test-{os.getpid()}"
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind("\0" + nname)
ns.settimeout(10 * SLOW)
notes = []


def wait_note(prefix):
    end = time.time() + 10 * SLOW
    while time.time() < end:
        for n in notes:
            if n.startswith(prefix):
                notes.remove(n)
                return n
        try:
            notes.extend(ns.recv(4096).decode().split("\n"))
        except socket.timeout:
            break
    fail(f"no {prefix} notification (got {notes})")


env = dict(os.environ, NOTIFY_SOCKET="@" + nname)
env.pop("JOURNAL_STREAM", None)
log = open(os.path.join(d, "d.log"), "w")
dp = subprocess.Popen([pvcallsd, "-c", conf], env=env, stdout=log, stderr=log)
wait_note("READY=1")
wait_note("STATUS=serving 0 frontends")


def nc_run(p, data, timeout=10):
    return subprocess.run([nc, "--shm", hub, "127.0.0.1", str(p)], input=data,
                          capture_output=True, timeout=timeout * SLOW)


# Allowed traffic.
r = nc_run(port, b"hello through pvcalls bye\n")
check(r.returncode == 0 and r.stdout == b"hello through pvcalls bye\n", f"echo: {r}")
# End of stdin reaches the server as a half-close (SHUTDOWN extension).
req = b"READ-TO-EOF\n" + b"x" * 100000
r = nc_run(port, req)
check(r.returncode == 0 and r.stdout == b"got %d\n" % len(req), f"half-close: {r}")
# Denied by the fallback.
r = nc_run(port + 1 if port < 65535 else port - 1, b"x")
check(r.returncode != 0 and b"denied" in r.stderr, f"denied connect went through: {r}")

# A live connection across SIGHUP (its stdout a pty: pvcalls-nc uses stdio).
mfd, sfd = pty.openpty()
live = subprocess.Popen([nc, "--shm", hub, "127.0.0.1", str(port)], stdin=subprocess.PIPE,
                        stdout=sfd)
os.close(sfd)


def live_line():
    buf = b""
    end = time.time() + 10 * SLOW
    while not buf.endswith(b"\n") and time.time() < end:
        import select
        if select.select([mfd], [], [], 0.2)[0]:
            buf += os.read(mfd, 100)
    return buf.replace(b"\r\n", b"\n")


live.stdin.write(b"one\n")
live.stdin.flush()
check(live_line() == b"one\n", "live connection: no echo")
# A control client that sends a byte every 190 ms (issue 13: it froze
# every guest for seconds) must not hold up the guests' traffic, nor
# other control clients.
slow_stop = threading.Event()


def slow_client():
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(ctl)
        try:
            while not slow_stop.wait(0.19):
                c.send(b"l")
        except OSError:
            pass  # cut off at its deadline: fine


slow = threading.Thread(target=slow_client, daemon=True)
slow.start()
time.sleep(0.5)
t0 = time.time()
live.stdin.write(b"slow\n")
live.stdin.flush()
check(live_line() == b"slow\n", "live connection: no echo during a slow control client")
took = time.time() - t0
check(took < 1.0 * SLOW, f"a slow control client held the guests up for {took:.2f} s")
t0 = time.time()
out = subprocess.run([pvcallsctl, "-s", ctl, "stats"], capture_output=True, text=True)
took = time.time() - t0
check(out.returncode == 0 and took < 1.0 * SLOW, f"pvcallsctl behind a slow client: {took:.2f} s {out}")
slow_stop.set()
slow.join()
out = subprocess.run([pvcallsctl, "-s", ctl, "list"], capture_output=True, text=True)
check(out.returncode == 0 and "connected" in out.stdout, f"pvcallsctl list: {out}")
live_domid = [l.split()[0] for l in out.stdout.splitlines()[1:] if "connected" in l][0]
wait_note("STATUS=serving 1 frontend, 1 sockets")

write_conf(1)  # the echo port is no longer allowed
dp.send_signal(signal.SIGHUP)
wait_note("RELOADING=1")
wait_note("READY=1")
live.stdin.write(b"two\n")
live.stdin.flush()
check(live_line() == b"two\n", "live connection broken by the reload")
r = nc_run(port, b"x")
check(r.returncode != 0, "reload did not apply to new connects")

st = subprocess.run([pvcallsctl, "-s", ctl, "stats"], capture_output=True, text=True)
check(st.returncode == 0, f"pvcallsctl stats: {st}")
tot = st.stdout[st.stdout.index("total"):]
vals = {l.split()[0]: l.split()[1:] for l in tot.splitlines()[1:] if l.startswith("  ")}
check(int(vals["bytes_from_guest"][0]) >= 26 + 8, f"bytes_from_guest: {tot}")
check(int(vals["bytes_to_guest"][0]) >= 26 + 8, f"bytes_to_guest: {tot}")
check(int(vals["policy_denied"][0]) == 2, f"policy_denied: {tot}")
check(int(vals["cmd_SHUTDOWN"][0]) >= 1 and vals["cmd_SHUTDOWN"][2] == "0", f"cmd_SHUTDOWN: {tot}")
check(vals["cmd_CONNECT"][0] == "3" and vals["cmd_CONNECT"][2] == "2", f"cmd_CONNECT: {tot}")

# pvcallsctl close: the live frontend is cut off.
r = subprocess.run([pvcallsctl, "-s", ctl, "close", live_domid], capture_output=True, text=True)
check(r.returncode == 0 and "closed 1" in r.stdout, f"pvcallsctl close: {r}")
r = subprocess.run([pvcallsctl, "-s", ctl, "close", "4242"], capture_output=True, text=True)
check(r.returncode == 1 and "error:" in r.stderr, f"close of nobody: {r}")
try:
    live.stdin.write(b"three\n")
    live.stdin.flush()
    live.stdin.close()
except BrokenPipeError:
    pass
try:
    live.wait(10 * SLOW)
except subprocess.TimeoutExpired:
    live.kill()
    fail("pvcalls-nc survived pvcallsctl close")

# SIGTERM: STOPPING=1 and a clean exit.
dp.send_signal(signal.SIGTERM)
wait_note("STOPPING=1")
try:
    rc = dp.wait(15 * SLOW)
except subprocess.TimeoutExpired:
    dp.kill()
    fail("pvcallsd ignored SIGTERM")
check(rc == 0, f"pvcallsd exited {rc}")
check(not os.path.exists(ctl), "control socket left behind")

# The audit log: one JSON object per line, the traffic in it.
recs = [json.loads(l) for l in open(audit)]
cmds = [(r["cmd"], r.get("decision"), r["ret"]) for r in recs]
check(("CONNECT", "allow", 0) in cmds, f"no allowed CONNECT audited: {cmds}")
check(("CONNECT", "deny", -13) in cmds, f"no denied CONNECT audited: {cmds}")
check(any(x.get("cmd") == "SHUTDOWN" and x.get("how") == 1 and x.get("ret") == 0 for x in recs),
      "no SHUTDOWN (how 1) audited")
for r in recs:
    check(r["time"].endswith("Z") and len(r["time"]) == 27, f"time: {r}")
    check(isinstance(r["latency_us"], int) and r["latency_us"] >= 0, f"latency: {r}")
print(f"ok: {len(recs)} audit records; sample: {json.dumps(recs[1])}")
shutil.rmtree(d, ignore_errors=True)
