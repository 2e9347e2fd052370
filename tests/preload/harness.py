#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one libpvcalls-preload test case (ctest pvcalls.preload.*).

Starts pvcallsd --shm in a temp dir (policy: 127.0.0.2 denied, the rest of
127.0.0.0/8 allowed for connect and listen, TCP and UDP alike; ::1 too
for the IPv6 case), host-side peers on 127.0.0.1
(and ::1), then the program under test inside `unshare -n` (an empty
network namespace) through pvcalls-run, so PV Calls is its only way out.
The resolver cases run a DNS responder on 127.0.0.1 and pass its port with
pvcalls-run --dns. Exit 0 pass, 1 fail, 77 skip (with the reason printed).

  harness.py --pvcallsd P --run P --sem P [--udp P] [--sanitizer S] CASE
"""
import argparse, hashlib, http.server, json, os, shutil, signal, socket, socketserver
import struct, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--pvcallsd", required=True)
ap.add_argument("--run", required=True)
ap.add_argument("--sem", required=True)
ap.add_argument("--sanitizer", default="")
ap.add_argument("--udp", default="")
ap.add_argument("case")
A = ap.parse_args()
CASE = A.case
SEM_CASES = {"nbconnect", "refused", "denied", "eof-reset", "epoll-lt", "epoll-et",
             "poll-select", "threads", "fork", "eintr", "dup", "halfclose", "halfclose-v1",
             "names", "sockopt"}
PROGRAM_TOOLS = {"python-halfclose": ["python3"], "curl-get": ["curl"], "curl-keepalive": ["curl"], "curl-post": ["curl"],
                 "python-server": ["curl", "python3"], "asyncio": ["python3"],
                 "redis": ["redis-server", "redis-benchmark"], "iperf3": ["iperf3"],
                 "nodeny": [], "hosts": ["curl"],
                 "nginx": ["nginx", "curl"], "run-cli": [], "many": ["python3"],
                 "idle-threads": ["python3"],
                 "dns-getent": ["getent"], "dns-python": ["python3"], "dns-curl": ["curl"],
                 "inet6-curl": ["curl"], "dns-denied": ["python3"], "restart": ["python3"]}
# Cases run by the UDP/resolver program (udp.c), instrumented like sem.
UDP_CASES = {"udp", "resolve", "inet6", "inet6-off", "udp-off"}
# Cases that need the datagram and IPv6 extensions offered (extensions =
# all), and those that check the behaviour without them.
EXT_ALL = {"udp", "resolve", "dns-getent", "dns-python", "dns-curl", "dns-denied", "inet6",
           "inet6-curl"}
INET6_RULES = {"inet6", "inet6-curl"}
EXT_V1PLUS = {"inet6-off", "udp-off"}


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why):
    print(f"FAIL [{CASE}]: {why}")
    sys.exit(1)


if os.geteuid() != 0 and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode:
    skip("cannot make a network namespace (unshare -n needs root or user namespaces)")
if subprocess.run(["unshare", "-n", "true"] if os.geteuid() == 0 else ["unshare", "-rn", "true"],
                  capture_output=True).returncode:
    skip("unshare -n does not work here")
for tool in PROGRAM_TOOLS.get(CASE, []):
    if not shutil.which(tool):
        skip(f"{tool} is not installed")
if CASE in UDP_CASES and not A.udp:
    skip("the udp test program was not built")
if A.sanitizer and CASE not in SEM_CASES | UDP_CASES:
    skip(f"sanitizer build ({A.sanitizer}): the instrumented shim cannot be preloaded into "
         "uninstrumented programs (the sanitizer runtime must come first)")

d = tempfile.mkdtemp(prefix="pvcalls-preload-")
hub, audit, conf = (os.path.join(d, n) for n in ("hub", "audit.jsonl", "d.conf"))
procs = []


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


with open(conf, "w") as f:
    f.write(f"""[daemon]
{"extensions = none" if CASE in ("halfclose-v1", "python-halfclose-v1") else ""}
{"extensions = all" if CASE in EXT_ALL else ""}
{"extensions = shutdown,names,sockopt" if CASE in EXT_V1PLUS else ""}
transport = shm
shm_path = {hub}
control_socket = {os.path.join(d, "ctl")}
audit = {audit}
log_level = info

[default]
fallback = deny
rule = deny connect 127.0.0.2
rule = allow connect 127.0.0.0/8
rule = allow listen 127.0.0.0/8
{"rule = allow connect ::1" if CASE in INET6_RULES else ""}
{"rule = allow listen ::1" if CASE in INET6_RULES else ""}
max_sockets = 4096
max_listeners = 64
""")

dlog = open(os.path.join(d, "pvcallsd.log"), "w")
env = dict(os.environ)
for k in ("LD_PRELOAD", "ASAN_OPTIONS"):
    env.pop(k, None)
# Ready means READY=1 on $NOTIFY_SOCKET (sd_notify), sent once the hub
# listens. The hub's file exists from bind(), before listen(): a client
# that saw the file could still be refused (ECONNREFUSED: the preload
# tests' ENETDOWN flake under load).
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(os.path.join(d, "notify"))
env["NOTIFY_SOCKET"] = os.path.join(d, "notify")
procs.append(subprocess.Popen([A.pvcallsd, "-c", conf], stdout=dlog, stderr=dlog, env=env))
deadline = time.monotonic() + 30
while True:
    left = deadline - time.monotonic()
    if left <= 0 or procs[0].poll() is not None:
        why = open(os.path.join(d, "pvcallsd.log")).read()[-2000:]
        cleanup()
        if CASE in INET6_RULES and 'unexpected "::1"' in why:
            skip("this pvcallsd has no IPv6 policy rules (no inet6): " + why.strip())
        fail(f"pvcallsd did not become ready (READY=1) in 30 s: {why}")
    notify.settimeout(min(left, 0.5))
    try:
        if b"READY=1" in notify.recv(4096).split(b"\n"):
            break
    except socket.timeout:
        pass
notify.close()


def netns(argv, dns=None, **kw):
    """argv inside an empty network namespace, through pvcalls-run."""
    pre = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    return pre + [A.run, "--shm", hub] + (["--dns", dns] if dns else []) + ["--"] + argv


def run(argv, timeout=60, dns=None, **kw):
    if A.sanitizer:
        # The shim comes before the runtime in the library list (preloaded);
        # a forked child drops its copy of the parent's frontend on purpose.
        kw["env"] = dict(os.environ, ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0")
    try:
        return subprocess.run(netns(argv, dns), capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        try:
            dl = open(os.path.join(d, "pvcallsd.log")).read()[-3000:]
        except OSError:
            dl = ""
        fail(f"{argv[0]} timed out after {timeout}s: {e.stdout!r} {e.stderr!r}\n"
             f"--- pvcallsd's log (end)\n{dl}")


# --- host-side peers -------------------------------------------------------
class Peer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def serve(handler):
    srv = Peer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                return
            self.request.sendall(b)


class Bye(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"bye\n")
        self.request.shutdown(socket.SHUT_WR)
        time.sleep(1)


class Rst(socketserver.BaseRequestHandler):
    # Resets once the client says it has the greeting, not after a delay:
    # a reset that came before pvcallsd saw its connect complete would be
    # the connect's error (SO_ERROR), not the data's (eof-reset flake).
    def handle(self):
        self.request.sendall(b"rst\n")
        self.request.recv(1)
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()


class ToEof(socketserver.BaseRequestHandler):
    # Reads to end of stream, then answers "got N\n" and closes: the
    # half-close client's server. If no end of stream came 1.5 s after the
    # last byte (-v1 cases; else 20 s, so that a slow machine is not taken
    # for a missing half-close), it says "noeof\n" once (what a v1 SHUT_WR
    # looks like) and goes on waiting for the end (the client's close).
    def handle(self):
        n, told = 0, False
        self.request.settimeout(1.5 if CASE.endswith("-v1") else 20)
        while True:
            try:
                b = self.request.recv(65536)
            except socket.timeout:
                if not told:
                    self.request.sendall(b"noeof\n")
                    told = True
                continue
            except OSError:
                return
            if not b:
                break
            n += len(b)
        try:
            self.request.sendall(b"got %d\n" % n)
        except OSError:
            pass


class Late(socketserver.BaseRequestHandler):
    # Sends "late\n" 1.5 s after the client asks for it ("g"), never unasked:
    # a case that needs a blocked recv does not depend on how fast it got
    # to the recv (eintr flaked when the connect took longer than 1.5 s).
    def handle(self):
        try:
            if self.request.recv(1) == b"g":
                time.sleep(1.5)
                self.request.sendall(b"late\n")
                time.sleep(3)
        except OSError:
            pass


def check_audit_denied():
    for _ in range(50):
        try:
            recs = [json.loads(l) for l in open(audit)]
        except (OSError, ValueError):
            recs = []
        if any(r.get("cmd") == "CONNECT" and r.get("decision") == "deny" and
               r.get("addr") == "127.0.0.2" and r.get("ret") == -13 for r in recs):
            return
        time.sleep(0.1)
    fail(f"no denied CONNECT to 127.0.0.2 in the audit log: {open(audit).read()[-2000:]}")


class HTTP(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    conns = 0
    files = {}

    def setup(self):
        super().setup()
        HTTP.conns += 1

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = HTTP.files.get(self.path, b"hello %s\n" % self.path.encode())
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        h = hashlib.sha256()
        while n:
            b = self.rfile.read(min(n, 1 << 20))
            if not b:
                break
            h.update(b)
            n -= len(b)
        body = h.hexdigest().encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HTTP)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


# --- cases -----------------------------------------------------------------
def case_sem():
    ports = [serve(Echo), serve(Bye), serve(Rst), serve(Late), free_port()]
    r = run([A.sem, CASE] + [str(p) for p in ports] + ["127.0.0.2", str(serve(ToEof))],
            timeout=90)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode != 0 or f"ok {CASE}" not in out:
        fail(f"sem {CASE}: exit {r.returncode}\n{out}")
    if CASE == "denied":
        check_audit_denied()
    print(out.strip())


def case_curl_get():
    data = os.urandom(1 << 20) * 64  # 64 MiB
    HTTP.files["/big"] = data
    port = http_server()
    out = os.path.join(d, "big.out")
    t0 = time.time()
    r = run(["curl", "-sS", "-o", out, f"http://127.0.0.1:{port}/big"], timeout=120)
    dt = time.time() - t0
    if r.returncode:
        fail(f"curl: {r.returncode} {r.stderr!r}")
    got = hashlib.sha256(open(out, "rb").read()).hexdigest()
    want = hashlib.sha256(data).hexdigest()
    if got != want:
        fail(f"sha256 {got} != {want}")
    print(f"ok: 64 MiB GET in {dt:.2f}s, sha256 {got[:16]}...")


def case_curl_keepalive():
    port = http_server()
    urls = [f"http://127.0.0.1:{port}/r{i}" for i in range(100)]
    r = run(["curl", "-sS", "-w", "%{http_code}\\n", "-o", "/dev/null"] +
            sum([[u, "-o", "/dev/null"] for u in urls[1:]], urls[:1]), timeout=60)
    codes = r.stdout.decode().split()
    if r.returncode or codes.count("200") != 100:
        fail(f"curl: {r.returncode} {codes[:5]}... {r.stderr!r}")
    if HTTP.conns != 1:
        fail(f"100 requests took {HTTP.conns} connections, expected 1 (keep-alive)")
    print(f"ok: 100 keep-alive requests on {HTTP.conns} connection")


def case_curl_post():
    port = http_server()
    body = os.urandom(1 << 20) * 16
    src = os.path.join(d, "post.bin")
    open(src, "wb").write(body)
    r = run(["curl", "-sS", "--data-binary", "@" + src, "-H", "Expect:",
             f"http://127.0.0.1:{port}/post"], timeout=60)
    want = hashlib.sha256(body).hexdigest()
    if r.returncode or r.stdout.decode().strip() != want:
        fail(f"POST: {r.returncode} {r.stdout!r} {r.stderr!r}")
    print("ok: 16 MiB POST, sha256 matches")


def fetch_when_up(p, name, port, data, why_exited=lambda: ""):
    """Fetch /f.bin from the server @p started on @port until it answers (it
    may still be starting) and check that it is @data; fail if @p exits
    first, with what @why_exited adds to its output."""
    out = os.path.join(d, "f.out")
    for _ in range(100):
        r = subprocess.run(["curl", "-sS", "-o", out, f"http://127.0.0.1:{port}/f.bin"],
                           capture_output=True, timeout=30)
        if r.returncode == 0:
            break
        if p.poll() is not None:
            fail(f"{name} exited: {p.stdout.read()!r}{why_exited()}")
        time.sleep(0.1)
    else:
        fail(f"{name} inside never answered: {r.stderr!r}")
    if open(out, "rb").read() != data:
        fail("data differs")


def case_python_server():
    port = free_port()
    www = os.path.join(d, "www")
    os.mkdir(www)
    data = os.urandom(3 << 20)
    open(os.path.join(www, "f.bin"), "wb").write(data)
    p = subprocess.Popen(netns([sys.executable, "-m", "http.server", str(port), "--bind",
                                "127.0.0.1", "--directory", www]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(p)
    fetch_when_up(p, "http.server", port, data)
    # A few more, in parallel.
    rs = [subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{port}/f.bin"], stdout=subprocess.PIPE)
          for _ in range(8)]
    codes = [x.communicate(timeout=30)[0] for x in rs]
    if codes != [b"200"] * 8:
        fail(f"parallel fetches: {codes}")
    print("ok: python3 http.server inside the namespace served the host (9 fetches)")


ASYNCIO = r'''
import asyncio, sys, hashlib
HOST_ECHO = int(sys.argv[1]); PORT = int(sys.argv[2])

async def handle(r, w):
    while True:
        b = await r.read(65536)
        if not b:
            break
        w.write(b)
        await w.drain()
    w.close()

async def client(port, n):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    total = 0
    for i in range(n):
        msg = (b"%d-" % i) * 1000
        w.write(msg)
        await w.drain()
        got = await r.readexactly(len(msg))
        assert got == msg, "echo mismatch"
        total += len(got)
    w.close()
    await w.wait_closed()
    return total

async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", PORT)
    async with srv:
        inside = await asyncio.gather(*[client(PORT, 50) for _ in range(4)])
        outside = await asyncio.gather(*[client(HOST_ECHO, 50) for _ in range(4)])
    print("ok asyncio", sum(inside), sum(outside))

asyncio.run(asyncio.wait_for(main(), 60))
'''


def case_asyncio():
    echo = serve(Echo)
    src = os.path.join(d, "aio.py")
    open(src, "w").write(ASYNCIO)
    r = run([sys.executable, src, str(echo), str(free_port())], timeout=90)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode or "ok asyncio" not in out:
        fail(f"asyncio: {r.returncode}\n{out}")
    print(out.strip())


MANY = r'''
import asyncio, sys, time
PORT, N = int(sys.argv[1]), int(sys.argv[2])
sem = asyncio.Semaphore(200)  # connects in flight at once

async def client(i):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", PORT)
    for k in range(10):
        m = b"%d:%d;" % (i, k) * 50
        w.write(m)
        await w.drain()
        assert await r.readexactly(len(m)) == m, "echo mismatch"
    w.close()
    await w.wait_closed()

async def main():
    t = time.time()
    await asyncio.gather(*[client(i) for i in range(N)])
    print("ok many: %d concurrent connections in %.2fs" % (N, time.time() - t))

asyncio.run(asyncio.wait_for(main(), 90))
'''


def case_many():
    """Many PV sockets in one epoll set: readiness must not cost O(n) per
    socket per wakeup (it did: 300 clients took 7 s)."""
    echo = serve(Echo)
    src = os.path.join(d, "many.py")
    open(src, "w").write(MANY)
    r = run([sys.executable, src, str(echo), "800"], timeout=120)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode or "ok many" not in out:
        fail(f"many: {r.returncode}\n{out[-3000:]}")
    print(out.strip())


IDLE = r'''
import socket, threading, time, resource, sys
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(8)]
got = []
def rd(s):
    got.append(s.recv(10))
ts = [threading.Thread(target=rd, args=(s,), daemon=True) for s in socks]
for t in ts:
    t.start()
time.sleep(0.3)
r0 = resource.getrusage(resource.RUSAGE_SELF)
time.sleep(3)
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
t0 = time.time()
for s in socks:
    s.sendall(b"ping")
for t in ts:
    t.join(10)
print("idle cpu %.3f s in 3 s, %d voluntary switches; woke %d/8 in %.3f s"
      % (cpu, r1.ru_nvcsw - r0.ru_nvcsw, len(got), time.time() - t0))
sys.exit(0 if cpu < 0.3 and len(got) == 8 else 1)
'''


def case_idle_threads():
    """Eight threads blocked in recv on idle PV sockets cost (almost) no
    CPU, and each wakes when its data comes."""
    echo = serve(Echo)
    src = os.path.join(d, "idle.py")
    open(src, "w").write(IDLE)
    r = run([sys.executable, src, str(echo)], timeout=60)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode:
        fail(f"idle threads: {r.returncode}\n{out[-3000:]}")
    print("ok: " + out.strip())


def case_redis():
    port = free_port()
    p = subprocess.Popen(netns(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--protected-mode", "no"]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(p)
    for _ in range(100):
        r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, timeout=10)
        if r.stdout.strip() == b"PONG":
            break
        if p.poll() is not None:
            fail(f"redis-server exited: {p.stdout.read()!r}")
        time.sleep(0.1)
    else:
        fail("redis-server inside never answered")
    r = subprocess.run(["redis-benchmark", "-p", str(port), "-n", "20000", "-c", "10", "-q",
                        "-t", "set,get,lpush"], capture_output=True, timeout=120)
    out = r.stdout.decode()
    if r.returncode or out.count("requests per second") < 3:
        fail(f"redis-benchmark: {r.returncode} {out} {r.stderr!r}")
    print("ok: redis-server inside, redis-benchmark from the host:\n" + out.strip())


def case_iperf3():
    port = free_port()
    p = subprocess.Popen(["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    time.sleep(0.5)
    res = []
    for rev in ([], ["-R"]):
        r = run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "2", "-J"] + rev, timeout=60)
        try:
            j = json.loads(r.stdout)
            bps = j["end"]["sum_received"]["bits_per_second"]
        except (ValueError, KeyError):
            fail(f"iperf3 {rev}: {r.returncode} {r.stdout[-1500:]!r} {r.stderr!r}")
        res.append(f"{'reverse' if rev else 'forward'} {bps / 1e9:.2f} Gbit/s")
    print("ok: iperf3 client inside: " + ", ".join(res))


def case_hosts():
    """Names from /etc/hosts: glibc's files module needs no network."""
    port = http_server()
    r = run(["curl", "-sS", f"http://localhost:{port}/named"], timeout=30)
    if r.returncode or r.stdout != b"hello /named\n":
        fail(f"curl localhost: {r.returncode} {r.stdout!r} {r.stderr!r}")
    src = os.path.join(d, "gai.py")
    open(src, "w").write("import socket, sys\n"
                         "s = socket.create_connection(('localhost', int(sys.argv[1])), timeout=10)\n"
                         "s.sendall(b'GET /py HTTP/1.0\\r\\n\\r\\n')\n"
                         "print(s.recv(100).split()[1].decode())\n")
    r = run([sys.executable, src, str(port)], timeout=30)
    if r.returncode or r.stdout.strip() != b"200":
        fail(f"python create_connection(localhost): {r.returncode} {r.stdout!r} {r.stderr!r}")
    print("ok: localhost from /etc/hosts, through curl and python")


def case_nginx():
    """nginx inside: accept4, edge-triggered epoll, sendfile64, writev.

    One process (master_process off): forked workers would inherit the
    listener, which a child cannot use (docs/running-programs.md)."""
    port = free_port()
    www = os.path.join(d, "www")
    os.mkdir(www)
    data = os.urandom(8 << 20)
    open(os.path.join(www, "f.bin"), "wb").write(data)
    nconf = os.path.join(d, "nginx.conf")
    open(nconf, "w").write(f"""daemon off;
master_process off;
error_log {d}/nginx.err info;
pid {d}/nginx.pid;
events {{ worker_connections 256; use epoll; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 5;
    client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc;
    uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;
    server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
    p = subprocess.Popen(netns(["nginx", "-c", nconf, "-p", d]), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    procs.append(p)
    fetch_when_up(p, "nginx", port, data,
                  lambda: f" {open(d + '/nginx.err').read()[-2000:]}")
    rs = [subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ",
                            f"http://127.0.0.1:{port}/f.bin", f"http://127.0.0.1:{port}/nope"],
                           stdout=subprocess.PIPE) for _ in range(6)]
    codes = [x.communicate(timeout=60)[0] for x in rs]
    if codes != [b"200 404 "] * 6:
        fail(f"parallel fetches: {codes}")
    print("ok: nginx inside served 8 MiB (sendfile) and 12 more requests to the host")


def case_run_cli():
    """pvcalls-run itself: help, version, usage errors, a missing program."""
    def cli(*a, **kw):
        return subprocess.run([A.run] + list(a), capture_output=True, timeout=30, **kw)

    r = cli("--help")
    if r.returncode or b"--isolate" not in r.stdout:
        fail(f"--help: {r.returncode} {r.stdout!r}")
    r = cli("--version")
    if r.returncode or not r.stdout.startswith(b"pvcalls-run "):
        fail(f"--version: {r.returncode} {r.stdout!r}")
    if cli().returncode != 2 or cli("--shm", hub, "--xen", "true").returncode != 2:
        fail("usage errors must exit 2")
    r = cli("--shm", hub, "--", "/nonexistent/prog")
    if r.returncode != 127:
        fail(f"missing program: {r.returncode} {r.stderr!r}")
    r = cli("--shm", "rel-hub", "--", "sh", "-c", "echo $LD_PRELOAD; echo $PVCALLS_SHM", cwd=d)
    lines = r.stdout.decode().split()
    if r.returncode or not lines[0].endswith("libpvcalls-preload.so") or \
            lines[1] != os.path.join(os.path.realpath(d), "rel-hub"):
        fail(f"environment: {r.stdout!r}")
    r = cli("--shm", hub, "--isolate", "--", "sh", "-c", "cat /proc/net/dev | wc -l")
    if r.returncode or int(r.stdout) != 3:  # two header lines and lo
        fail(f"--isolate: {r.returncode} {r.stdout!r} {r.stderr!r}")
    print("ok: pvcalls-run --help, --version, usage errors, 127, environment, --isolate")


def case_python_halfclose():
    """Python client: send, shutdown(SHUT_WR), read the answer to EOF."""
    port = serve(ToEof)
    src = os.path.join(d, "hc.py")
    open(src, "w").write(f"""import socket
s = socket.create_connection(("127.0.0.1", {port}))
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(got.decode().strip())
""")
    r = run([sys.executable, src], timeout=30)
    out = r.stdout.decode().strip()
    if r.returncode or out != "got 100000":
        fail(f"python half-close: {r.returncode} {out!r} {r.stderr.decode()!r}")
    print("ok: python client, shutdown(SHUT_WR), peer saw EOF and answered: " + out)


def case_nodeny():
    """Fail closed: no backend, socket() fails with ENETDOWN and one line."""
    procs[0].terminate()
    procs[0].wait(5)
    src = os.path.join(d, "nd.py")
    open(src, "w").write("import socket, errno\ntry:\n    socket.socket()\n"
                         "except OSError as e:\n    print('errno', e.errno == errno.ENETDOWN)\n")
    r = run([sys.executable, src], timeout=30)
    out, err = r.stdout.decode(), r.stderr.decode()
    if "errno True" not in out or err.count("pvcalls-preload:") != 1:
        fail(f"fail-closed: {out!r} {err!r}")
    print("ok: no backend: ENETDOWN and one line: " + err.strip())


# --- UDP, IPv6, names -------------------------------------------------------
NAME = "pvtest.example"
NO_DGRAM = "does not offer datagram sockets"


class DNS:
    """A tiny DNS responder on 127.0.0.1 (UDP, a free port): NAME is
    127.0.0.1 (A) and ::1 (AAAA), 127.0.0.9's PTR is NAME; other names are
    NXDOMAIN, other types of NAME have no data. Counts the questions."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.asked = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(4096)
                r = self.answer(q)
            except (OSError, ValueError, IndexError, struct.error):
                continue
            if r:
                self.sock.sendto(r, peer)

    def answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            return None
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qtype, qclass = struct.unpack("!HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        self.asked.append((name, qtype))
        ans, rcode = [], 0
        if name == NAME:
            if qtype == 1:
                ans.append((1, socket.inet_aton("127.0.0.1")))
            elif qtype == 28:
                ans.append((28, socket.inet_pton(socket.AF_INET6, "::1")))
        elif name == "9.0.0.127.in-addr.arpa" and qtype == 12:
            ans.append((12, b"".join(bytes([len(l)]) + l.encode() for l in NAME.split(".")) + b"\0"))
        else:
            rcode = 3  # NXDOMAIN
        rflags = 0x8000 | (flags & 0x0100) | 0x0400 | 0x0080 | rcode  # QR, RD, AA, RA
        out = struct.pack("!HHHHHH", qid, rflags, 1, len(ans), 0, 0) + question
        for t, data in ans:
            out += struct.pack("!HHHIH", 0xC00C, t, 1, 60, len(data)) + data
        return out


def skip_without_dgram(r):
    err = r.stderr.decode(errors="replace")
    if NO_DGRAM in err:
        skip("the backend does not offer datagram sockets (the dgram extension): " + err.strip())


def resolved_here(dns):
    if not any(n == NAME for n, _ in dns.asked):
        fail(f"the DNS server was never asked for {NAME}: {dns.asked}")


class UDPEcho:
    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                b, peer = self.sock.recvfrom(65536)
                self.sock.sendto(b, peer)
            except OSError:
                continue


def run_udp(args, dns=None):
    r = run([A.udp, CASE] + args, timeout=90, dns=dns)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode == 77:
        skip(out.strip())
    skip_without_dgram(r) if CASE not in EXT_V1PLUS else None
    if r.returncode != 0 or f"ok {CASE}" not in out:
        fail(f"udp {CASE}: exit {r.returncode}\n{out}")
    return out


def case_udp():
    out = run_udp([str(UDPEcho().port), str(free_port())])
    print(out.strip())


def case_resolve():
    dns = DNS()
    out = run_udp([NAME], dns=f"127.0.0.1:{dns.port}")
    resolved_here(dns)
    print(out.strip())


def case_inet6():
    try:
        echo = UDPEcho(socket.AF_INET6, "::1")
    except OSError as e:
        skip(f"no ::1 on this host: {e}")
    print(run_udp([str(echo.port)]).strip())


def case_inet6_off():
    print(run_udp([]).strip())


def case_udp_off():
    r = run([A.udp, CASE, str(UDPEcho().port)], timeout=30)
    out, err = r.stdout.decode(), r.stderr.decode()
    if r.returncode or "ok udp-off" not in out:
        fail(f"udp-off: exit {r.returncode} {out!r} {err!r}")
    if err.count(NO_DGRAM) != 1:
        fail(f"udp-off: expected one line saying UDP stays the kernel's: {err!r}")
    print(out.strip() + "; " + err.strip())


def case_dns_getent():
    dns = DNS()
    r = run(["getent", "ahosts", NAME], timeout=30, dns=f"127.0.0.1:{dns.port}")
    skip_without_dgram(r)
    out = r.stdout.decode()
    if r.returncode or "127.0.0.1" not in out or "STREAM" not in out:
        fail(f"getent ahosts: {r.returncode} {out!r} {r.stderr!r}")
    resolved_here(dns)
    r = run(["getent", "hosts", "nx.invalid-pvcalls-test"], timeout=30, dns=f"127.0.0.1:{dns.port}")
    if r.returncode != 2:
        fail(f"getent hosts of a missing name: exit {r.returncode} (2 expected) {r.stdout!r}")
    print("ok: getent ahosts " + " ".join(out.split()[:3]))


def case_dns_python():
    dns = DNS()
    src = os.path.join(d, "res.py")
    open(src, "w").write(
        "import socket, sys, threading\n"
        "ai = socket.getaddrinfo(sys.argv[1], 80, type=socket.SOCK_STREAM)\n"
        "print(sorted({a[4][0] for a in ai}))\n"
        "try:\n"
        "    socket.getaddrinfo('nx.invalid-pvcalls-test', 80)\n"
        "except socket.gaierror as e:\n"
        "    print('gaierror', e.errno == socket.EAI_NONAME)\n"
        "errs = []\n"
        "def w():\n"
        "    for _ in range(10):\n"
        "        try:\n"
        "            socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET)\n"
        "        except Exception as e:\n"
        "            errs.append(e)\n"
        "ts = [threading.Thread(target=w) for _ in range(8)]\n"
        "[t.start() for t in ts]\n"
        "[t.join() for t in ts]\n"
        "print('threads', len(errs))\n"
        "print(socket.gethostbyaddr('127.0.0.9')[0])\n")
    r = run([sys.executable, src, NAME], timeout=60, dns=f"127.0.0.1:{dns.port}")
    skip_without_dgram(r)
    out = r.stdout.decode()
    want = ["['127.0.0.1', '::1']", "gaierror True", "threads 0", NAME]
    if r.returncode or out.split("\n")[:4] != want:
        fail(f"python getaddrinfo: {r.returncode} {out!r} (want {want}) {r.stderr!r}")
    resolved_here(dns)
    print("ok: python " + "; ".join(want))


def case_dns_denied():
    """The backend's policy applies to the resolver's queries: a DNS server
    on 127.0.0.2 (denied) is never asked, and the lookup fails as with an
    unreachable server (EAI_AGAIN), with the refusal in the audit log."""
    dns = DNS("127.0.0.2")
    src = os.path.join(d, "den.py")
    open(src, "w").write("import socket, sys\n"
                         "try:\n"
                         "    socket.getaddrinfo(sys.argv[1], 80)\n"
                         "    print('resolved')\n"
                         "except socket.gaierror as e:\n"
                         "    print('gaierror', e.errno == socket.EAI_AGAIN, e)\n")
    r = run([sys.executable, src, NAME], timeout=60, dns=f"127.0.0.2:{dns.port}")
    skip_without_dgram(r)
    out = r.stdout.decode()
    if r.returncode or not out.startswith("gaierror True"):
        fail(f"denied DNS server: {r.returncode} {out!r} {r.stderr!r}")
    if dns.asked:
        fail(f"the denied DNS server was asked: {dns.asked}")
    for _ in range(50):
        try:
            recs = [json.loads(l) for l in open(audit)]
        except (OSError, ValueError):
            recs = []
        if any(r.get("decision") == "deny" and r.get("addr") == "127.0.0.2" for r in recs):
            break
        time.sleep(0.1)
    else:
        fail(f"no denied query to 127.0.0.2 in the audit log: {open(audit).read()[-2000:]}")
    print("ok: " + out.strip() + "; refused by the policy, in the audit log")


def case_dns_curl():
    dns = DNS()
    port = http_server()
    r = run(["curl", "-4", "-sS", f"http://{NAME}:{port}/dns"], timeout=60,
            dns=f"127.0.0.1:{dns.port}")
    skip_without_dgram(r)
    if r.returncode or r.stdout != b"hello /dns\n":
        fail(f"curl {NAME}: {r.returncode} {r.stdout!r} {r.stderr!r}")
    resolved_here(dns)
    print(f"ok: curl http://{NAME}:{port}/ through the shim's resolver")


def case_inet6_curl():
    try:
        srv = http.server.ThreadingHTTPServer(("::1", 0), HTTP, bind_and_activate=False)
        srv.address_family = socket.AF_INET6
        srv.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.server_bind()
        srv.server_activate()
    except OSError as e:
        skip(f"no ::1 on this host: {e}")
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    r = run(["curl", "-6", "-sS", f"http://[::1]:{port}/six"], timeout=60)
    if r.returncode and b"Couldn't connect" in r.stderr:
        probe = run([sys.executable, "-c", "import socket; socket.socket(socket.AF_INET6)"],
                    timeout=30)
        if b"Address family not supported" in probe.stderr:
            skip("the backend does not offer AF_INET6 sockets (the inet6 extension)")
    if r.returncode or r.stdout != b"hello /six\n":
        fail(f"curl -6 [::1]: {r.returncode} {r.stdout!r} {r.stderr!r}")
    src = os.path.join(d, "six.py")
    open(src, "w").write("import socket, sys\n"
                         "s = socket.create_connection(('::1', int(sys.argv[1])), timeout=10)\n"
                         "print(s.getpeername()[0])\n"
                         "s.sendall(b'GET /py6 HTTP/1.0\\r\\n\\r\\n')\n"
                         "print(s.recv(100).split()[1].decode())\n")
    r = run([sys.executable, src, str(port)], timeout=30)
    if r.returncode or r.stdout.split() != [b"::1", b"200"]:
        fail(f"python over [::1]: {r.returncode} {r.stdout!r} {r.stderr!r}")
    print("ok: curl -6 and python over [::1]")



RESTART_CLIENT = r"""
import errno, socket, sys, time
port = int(sys.argv[1])
def get():
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"GET /restart HTTP/1.0\r\n\r\n")
    data = c.recv(100)
    c.close()
    return data.split()[1].decode()
first = get()
old = socket.create_connection(("127.0.0.1", port), timeout=10)
print("up", first, flush=True)
sys.stdin.readline()  # pvcallsd was killed
try:
    get()
    print("down: a new connection worked", flush=True)
except OSError as e:
    print("down", errno.errorcode.get(e.errno, e.errno), flush=True)
sys.stdin.readline()  # pvcallsd runs again
for _ in range(100):
    try:
        print("again", get(), flush=True)
        break
    except OSError as e:
        time.sleep(0.1)
else:
    print("never again", flush=True)
try:
    old.sendall(b"GET /old HTTP/1.0\r\n\r\n")
    print("old", "sent", old.recv(100)[:1], flush=True)
except OSError as e:
    print("old", errno.errorcode.get(e.errno, e.errno), flush=True)
"""


def case_restart():
    """pvcallsd killed and started again under a running program: new
    sockets fail with ENETDOWN while it is down, work again once it is back
    (the program is not restarted), and a socket of the old session fails
    cleanly (docs/running-programs.md, "Backend restarts")."""
    port = http_server()
    src = os.path.join(d, "restart.py")
    open(src, "w").write(RESTART_CLIENT)
    p = subprocess.Popen(netns([sys.executable, src, str(port)]), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(p)

    def line():
        out = p.stdout.readline().decode().split()
        if not out:
            fail(f"the program ended early: {p.stderr.read()!r}")
        return out

    if line() != ["up", "200"]:
        fail("first fetch failed")
    procs[0].kill()
    procs[0].wait(10)
    p.stdin.write(b"killed\n")
    p.stdin.flush()
    got = line()
    if got != ["down", "ENETDOWN"]:
        fail(f"with pvcallsd gone, a new connection gave {got}, not ENETDOWN")
    note = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    note.bind(os.path.join(d, "notify2"))
    note.settimeout(30)
    env2 = dict(env, NOTIFY_SOCKET=os.path.join(d, "notify2"))
    procs.append(subprocess.Popen([A.pvcallsd, "-c", conf], stdout=dlog, stderr=dlog, env=env2))
    try:
        while b"READY=1" not in note.recv(4096).split(b"\n"):
            pass
    except socket.timeout:
        fail("the second pvcallsd did not become ready in 30 s")
    p.stdin.write(b"restarted\n")
    p.stdin.flush()
    got = line()
    if got != ["again", "200"]:
        fail(f"after the restart: {got}")
    got = line()
    if got[0] != "old" or got[1] not in ("ECONNRESET", "ENOTCONN", "ENETDOWN", "EPIPE"):
        fail(f"a socket of the old session: {got}")
    if p.wait(30) != 0:
        fail(f"the program failed: {p.stderr.read()!r}")
    print(f"ok: down ENETDOWN, up again without restarting, old socket {got[1]}")


try:
    if CASE in SEM_CASES:
        case_sem()
    else:
        {"curl-get": case_curl_get, "curl-keepalive": case_curl_keepalive,
         "curl-post": case_curl_post, "python-server": case_python_server,
         "asyncio": case_asyncio, "redis": case_redis, "iperf3": case_iperf3,
         "nodeny": case_nodeny, "hosts": case_hosts, "nginx": case_nginx, "run-cli": case_run_cli,
         "python-halfclose": case_python_halfclose, "many": case_many,
         "idle-threads": case_idle_threads, "udp": case_udp, "resolve": case_resolve,
         "inet6": case_inet6, "inet6-off": case_inet6_off, "udp-off": case_udp_off, "dns-getent": case_dns_getent,
         "dns-python": case_dns_python, "dns-curl": case_dns_curl,
         "dns-denied": case_dns_denied,
         "inet6-curl": case_inet6_curl, "restart": case_restart}[CASE]()
finally:
    cleanup()
