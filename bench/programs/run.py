#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real programs, side by side, in one run (issue 14).

A client program in an empty network namespace talks TCP to a server on the
host's 127.0.0.1, through each way a user would pick:

  direct       the same client, no namespace, host loopback (the limit)
  pvcalls      pvcalls-run --shm HUB --isolate (pvcallsd on the host)
  pasta        pasta --config-net -T PORTS (passt's; loopback forwarding)
  slirp4netns  unshare -n + slirp4netns, host as 10.0.2.2 (skipped if
               missing with --no-install)

Method as pvcalls-bench (docs/PERFORMANCE.md): every variant in the same run,
N interleaved rounds in a rotating order, medians and min-max, ratios of
medians, a table on stdout and JSON Lines (--json) with pvcalls-bench's keys.
The programs report their own rates (iperf3 -J, redis-benchmark --csv, wrk),
so process and namespace set-up is not in the figures.

Only the standard library; run as root (installs missing Debian packages
unless --no-install). See --help and docs/PERFORMANCE.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# command -> Debian package; installed with --no-install-recommends when missing.
PACKAGES = {"iperf3": "iperf3", "redis-server": "redis-server",
            "redis-benchmark": "redis-tools", "nginx": "nginx-light",
            "wrk": "wrk", "pasta": "passt", "slirp4netns": "slirp4netns"}
# Packages whose postinst starts a distro service we do not use.
SERVICES = {"redis-server": "redis-server", "nginx-light": "nginx"}

VARIANTS_ALL = ["direct", "pvcalls", "pasta", "slirp4netns"]
VDESC = {"direct": "direct (host loopback, no namespace)",
         "pvcalls": "pvcalls-run --isolate",
         "pasta": "pasta --config-net -T",
         "slirp4netns": "slirp4netns (unshare -n)"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg):
    log("run.sh: " + msg)
    sys.exit(2)


# ---------------------------------------------------------------- set-up

def install_missing(no_install):
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)})
    if not shutil.which("wrk") and shutil.which("ab"):
        missing = [p for p in missing if p != "wrk"]   # ab (apache2-utils) will do
    if not missing:
        return []
    if no_install or os.geteuid() != 0:
        die("missing packages: %s (run as root to install them, or install them)"
            % " ".join(missing))
    log("installing: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                       env=env, timeout=600)
    if r.returncode:
        subprocess.run(["apt-get", "update"], env=env, timeout=300)
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                           env=env, timeout=600)
        if r.returncode:
            die("apt-get install failed")
    # The distro starts redis-server and nginx on their default ports: stop the
    # ones we just installed (only those; never a server someone else runs).
    for pkg in missing:
        svc = SERVICES.get(pkg)
        if not svc:
            continue
        if os.path.isdir("/run/systemd/system"):
            cmd = ["systemctl", "disable", "--now", svc]
        else:
            cmd = ["service", svc, "stop"]
        log("stopping the distro's %s service: %s" % (svc, " ".join(cmd)))
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return missing


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if proc.poll() is not None:
            die("%s exited (%s) before listening; see its log" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    die("%s does not listen on 127.0.0.1:%d after %ds" % (what, port, secs))


def cpu_busy(cpus):
    """Busy and total jiffies of each CPU in cpus, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *v = line.split()
                n = int(name[3:])
                if n in cpus:
                    v = [int(x) for x in v]
                    idle = v[3] + (v[4] if len(v) > 4 else 0)   # idle + iowait
                    out[n] = (sum(v) - idle, sum(v))
    return out


def proc_cpu(pid):
    """utime + stime of a process, in jiffies (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])
    except (OSError, IndexError, ValueError):
        return 0


def killpg(p):
    """SIGKILL a child's process group (it was started in a new session)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


class Env:
    """Temp dir, pvcallsd, the host-side servers; all stopped by close()."""

    def __init__(self, a):
        self.a = a
        self.procs = []
        self.pvcallsd_pid = 0
        self.dir = tempfile.mkdtemp(prefix="pvcalls-progbench.")
        ncpu = len(os.sched_getaffinity(0))
        self.pin = (not a.no_pin) and ncpu >= 2 and shutil.which("taskset")
        self.guest_cpu, self.host_cpu = (sorted(os.sched_getaffinity(0))[:2]
                                         if self.pin else (None, None))

    def taskset(self, side):
        if not self.pin:
            return []
        return ["taskset", "-c", str(self.guest_cpu if side == "guest" else self.host_cpu)]

    def spawn(self, name, argv):
        lf = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(self.taskset("host") + argv, stdout=lf, stderr=lf,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p))
        return p

    def close(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait(5)
        if self.a.keep:
            log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # pvcallsd on a hub in the temp dir: loopback allowed (its built-in
    # rules deny it), no connect rate limit, room for wrk's connections.
    def start_pvcallsd(self):
        d = self.dir
        self.hub = os.path.join(d, "hub")
        conf = os.path.join(d, "pvcallsd.conf")
        with open(conf, "w") as f:
            f.write("""[daemon]
transport = shm
shm_path = %s
control_socket = %s
audit = off
log_level = warning

[default]
fallback = deny
rule = allow connect 127.0.0.0/8
max_sockets = 4096
max_ring_order = 9
connect_rate = 0
""" % (self.hub, os.path.join(d, "ctl")))
        p = self.spawn("pvcallsd", [self.a.pvcallsd, "-c", conf])
        self.pvcallsd_pid = p.pid
        for _ in range(200):
            if os.path.exists(self.hub):
                return
            if p.poll() is not None:
                break
            time.sleep(0.05)
        die("pvcallsd did not create its hub; see %s/pvcallsd.log" % d)

    def start_servers(self, cases):
        d = self.dir
        self.ports = {}
        if "P1" in cases:
            port = self.ports["iperf3"] = free_port()
            p = self.spawn("iperf3", ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)])
            wait_port(port, p, "iperf3 -s")
        if "P2" in cases or "P3" in cases:
            port = self.ports["redis"] = free_port()
            p = self.spawn("redis-server", [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", d,
                "--protected-mode", "no", "--daemonize", "no", "--maxclients", "1000"])
            wait_port(port, p, "redis-server")
        if "P4" in cases:
            port = self.ports["nginx"] = free_port()
            www = os.path.join(d, "www")
            os.mkdir(www)
            with open(os.path.join(www, "index.html"), "w") as f:
                f.write("<!doctype html><title>pvcalls</title>\n" + "x" * 560 + "\n")
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write("""daemon off;
master_process off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp; proxy_temp_path %(d)s/tmp;
    fastcgi_temp_path %(d)s/tmp; uwsgi_temp_path %(d)s/tmp; scgi_temp_path %(d)s/tmp;
    keepalive_requests 100000000;
    server { listen 127.0.0.1:%(port)d; root %(www)s; }
}
""" % {"d": d, "port": port, "www": www})
            p = self.spawn("nginx", ["nginx", "-c", conf, "-p", d, "-e", os.path.join(d, "nginx-error.log")])
            wait_port(port, p, "nginx")

    # ------------------------------------------------------------ variants

    def run_in(self, variant, argv_of_host, timeout):
        """Run the client argv (a function of the host's address) in variant.
        Returns (rc, stdout, stderr-ish)."""
        guest = self.taskset("guest")
        ports = ",".join(str(p) for p in sorted(self.ports.values()))
        if variant == "direct":
            cmd = guest + argv_of_host("127.0.0.1")
        elif variant == "pvcalls":
            order = ["env", "PVCALLS_RING_ORDER=%d" % self.a.ring_order] \
                if self.a.ring_order is not None else []
            cmd = guest + order + [self.a.pvcalls_run, "--shm", self.hub, "--isolate", "--"] + \
                argv_of_host("127.0.0.1")
        elif variant == "pasta":
            runas = ["--runas", "0"] if os.geteuid() == 0 else []
            cmd = self.taskset("host") + ["pasta"] + runas + [
                "--config-net", "-q", "-f", "-t", "none", "-u", "none", "-U", "none",
                "-T", ports, "--"] + guest + argv_of_host("127.0.0.1")
        elif variant == "slirp4netns":
            return self.run_slirp(guest + argv_of_host("10.0.2.2"), timeout)
        # Its own process group, killed whole on a timeout or when we are
        # interrupted: pasta's and pvcalls-run's children go with it.
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "", "timed out after %ds" % timeout
        finally:
            if p.returncode is None:
                killpg(p)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def run_slirp(self, argv, timeout):
        # The client waits on stdin until slirp4netns has configured tap0.
        pre = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
        c = subprocess.Popen(pre + ["--", "sh", "-c", 'read go; [ "$go" = go ] && exec "$@"',
                                    "sh"] + argv,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        rfd, wfd = os.pipe()
        slog = open(os.path.join(self.dir, "slirp4netns.log"), "a")
        s = subprocess.Popen(self.taskset("host") + [
            "slirp4netns", "--configure", "--mtu=65520", "-r", str(wfd), str(c.pid), "tap0"],
            stdout=slog, stderr=slog, pass_fds=(wfd,), start_new_session=True)
        os.close(wfd)
        ready = b""
        try:
            import select
            if select.select([rfd], [], [], 10)[0]:
                ready = os.read(rfd, 1)
        finally:
            os.close(rfd)
        try:
            try:
                out, err = c.communicate(b"go\n" if ready == b"1" else b"no\n", timeout=timeout)
            except subprocess.TimeoutExpired:
                return 124, "", "timed out after %ds" % timeout
            if ready != b"1":
                return 1, "", "slirp4netns did not get ready (see its log)"
            return c.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        finally:
            if c.returncode is None:
                killpg(c)
            if s.poll() is None:
                s.terminate()
                try:
                    s.wait(5)
                except subprocess.TimeoutExpired:
                    s.kill()
                    s.wait(5)


# ---------------------------------------------------------------- cases

NOTES = {}      # (variant, program) -> a warning worth keeping in the results


class Row:
    def __init__(self, rid, what, unit, t_direct, t_pasta):
        self.id, self.what, self.unit = rid, what, unit
        self.t_direct, self.t_pasta = t_direct, t_pasta
        self.vals = {}          # variant -> [values]
        self.errors = {}        # variant -> [messages]
        self.prog = {"P1": "iperf3", "P2": "redis", "P3": "redis", "P4": "http"}[rid[:2]]
        self.cpu = {}           # variant -> [(guest CPU %, host CPU %, pvcallsd %)]


def iperf3(env, v, reverse, secs):
    port = env.ports["iperf3"]
    argv = lambda h: ["iperf3", "-c", h, "-p", str(port), "-t", str(secs), "-J"] + \
        (["-R"] if reverse else [])
    rc, out, err = env.run_in(v, argv, secs + 30)
    try:
        j = json.loads(out)
        if "error" in j and "sum_received" not in j.get("end", {}):
            raise ValueError(j["error"])
        rate = j["end"]["sum_received"]["bits_per_second"] / 1e9
        if "error" in j:
            # Under pvcalls-run, iperf3 3.12 ends with "getsockopt - Protocol
            # not available" (a socket option the shim answers ENOPROTOOPT)
            # after a complete test: keep the rate, say so in the note.
            if not j.get("intervals") or rate <= 0:
                raise ValueError(j["error"])
            NOTES.setdefault((v, "iperf3"), "iperf3 under %s reported %r after a complete test"
                             % (v, j["error"]))
        return {("P1down" if reverse else "P1up"): rate}
    except (ValueError, KeyError, TypeError) as e:
        raise RuntimeError("iperf3 rc %d: %s %s" % (rc, e, err.strip()[-300:]))


def redis_bench(env, v, args, n, names):
    port = env.ports["redis"]
    argv = lambda h: ["redis-benchmark", "-h", h, "-p", str(port), "-n", str(n), "--csv"] + args
    rc, out, err = env.run_in(v, argv, 120)
    got = {}
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if len(f) >= 2 and f[0] in names:
            try:
                got[names[f[0]]] = float(f[1])
            except ValueError:
                pass
    if rc or len(got) != len(names):
        raise RuntimeError("redis-benchmark %s rc %d: %s %s" % (" ".join(args), rc,
                           out.strip()[-200:], err.strip()[-300:]))
    return got


def http_bench(env, v, close, secs, rid):
    port = env.ports["nginx"]
    if shutil.which("wrk"):
        hdr = ["-H", "Connection: close"] if close else []
        argv = lambda h: ["wrk", "-t1", "-c10", "-d%ds" % secs] + hdr + \
            ["http://%s:%d/index.html" % (h, port)]
        pat = r"Requests/sec:\s+([0-9.]+)"
    else:
        ka = [] if close else ["-k"]
        argv = lambda h: ["ab", "-q", "-c", "10", "-t", str(secs), "-n", "100000000"] + ka + \
            ["http://%s:%d/index.html" % (h, port)]
        pat = r"Requests per second:\s+([0-9.]+)"
    rc, out, err = env.run_in(v, argv, secs + 30)
    m = re.search(pat, out)
    bad = re.search(r"(Socket errors:.*|Non-2xx or 3xx responses:.*|Failed requests:\s+[1-9].*)", out)
    if rc or not m or bad:
        raise RuntimeError("http rc %d: %s %s" % (rc, (bad.group(0) if bad else out.strip()[-200:]),
                                                 err.strip()[-300:]))
    return {rid: float(m.group(1))}


def define_cases(a):
    q = a.quick
    secs = 1 if q else 4
    n_plain, n_pipe, n_ping = (10000, 50000, 5000) if q else (50000, 500000, 20000)
    http = "wrk -t1 -c10" if shutil.which("wrk") else "ab -c 10"
    cases = {
        "P1": ([Row("P1up", "iperf3 throughput, client inside -> server on host", "Gbit/s", 0.9, 1.5),
                Row("P1down", "iperf3 -R throughput, server on host -> client inside", "Gbit/s", 0.9, 1.5)],
               lambda env, v: {**iperf3(env, v, False, secs), **iperf3(env, v, True, secs)}),
        "P2": ([Row("P2get", "redis-benchmark GET, 10 clients", "req/s", 0.9, 2.0),
                Row("P2set", "redis-benchmark SET, 10 clients", "req/s", 0.9, 2.0),
                Row("P2getP16", "redis-benchmark GET, 10 clients, -P 16", "req/s", 0.9, 2.0),
                Row("P2setP16", "redis-benchmark SET, 10 clients, -P 16", "req/s", 0.9, 2.0)],
               lambda env, v: {**redis_bench(env, v, ["-c", "10", "-t", "get,set"], n_plain,
                                             {"GET": "P2get", "SET": "P2set"}),
                               **redis_bench(env, v, ["-c", "10", "-t", "get,set", "-P", "16"], n_pipe,
                                             {"GET": "P2getP16", "SET": "P2setP16"})}),
        "P3": ([Row("P3", "redis-benchmark PING (mbulk), one client", "req/s", 0.8, None)],
               lambda env, v: redis_bench(env, v, ["-c", "1", "-t", "ping"], n_ping,
                                          {"PING_MBULK": "P3"})),
        "P4": ([Row("P4ka", "HTTP GET 600 B from nginx, keep-alive (%s)" % http, "req/s", 0.9, None),
                Row("P4new", "HTTP GET 600 B from nginx, new connection each (%s)" % http,
                    "req/s", 0.8, None)],
               lambda env, v: {**http_bench(env, v, False, secs, "P4ka"),
                               **http_bench(env, v, True, secs, "P4new")}),
    }
    return cases


# ---------------------------------------------------------------- results

def med3(xs):
    return (statistics.median(xs), min(xs), max(xs)) if xs else (None, None, None)


def result(row, v, b, target, rid, what):
    vm, vmin, vmax = med3(row.vals.get(v, []))
    bm, bmin, bmax = med3(row.vals.get(b, []))
    ratio = vm / bm if vm is not None and bm else None
    errs = row.errors.get(v, []) + row.errors.get(b, [])
    note = "%s: %d error(s): %s" % ("/".join(sorted({v, b})), len(errs), errs[0][:300]) if errs else ""
    warn = [w for (var, prog), w in sorted(NOTES.items()) if var in (v, b) and prog == row.prog]
    note = "; ".join([note] + warn if note else warn)
    # Where the time went: how busy the client's CPU and the host side's CPU
    # were (medians over the rounds), and pvcallsd's share of the latter.
    busy = []
    for var in (v, b):
        c = row.cpu.get(var)
        if c:
            g, h, d = (statistics.median(x[i] for x in c) for i in range(3))
            busy.append("%s %.0f%%/%.0f%%%s" % (var, g, h, " (pvcallsd %.0f%%)" % d
                                                 if var == "pvcalls" else ""))
    if busy:
        note = "; ".join(([note] if note else []) +
                         ["CPU busy, client/host side: " + ", ".join(busy)])
    return {"id": rid, "what": what, "value": vm, "unit": row.unit,
            "baseline": VDESC[b], "baseline_value": bm, "ratio": ratio,
            "target": (">=%.1f" % target) if target else "none",
            "met": (ratio >= target if ratio is not None else False) if target else None,
            "min": vmin, "max": vmax, "baseline_min": bmin, "baseline_max": bmax,
            "rounds": min(len(row.vals.get(v, [])), len(row.vals.get(b, []))),
            "error": bool(errs), "note": note}


def results_of(rows, variants):
    out = []
    for row in rows:
        out.append(result(row, "pvcalls", "direct", row.t_direct, row.id,
                          row.what + "; " + VDESC["pvcalls"]))
        for alt in [x for x in ("pasta", "slirp4netns") if x in variants]:
            out.append(result(row, "pvcalls", alt, row.t_pasta if alt == "pasta" else None,
                              row.id + ".vs-" + alt, row.what + "; " + VDESC["pvcalls"]))
        for alt in [x for x in ("pasta", "slirp4netns") if x in variants]:
            out.append(result(row, alt, "direct", None, row.id + "." + alt,
                              row.what + "; " + VDESC[alt] + " (information)"))
    return out


def fmt(m, lo, hi, n):
    if m is None:
        return "-"
    return "%.3g [%.3g-%.3g]" % (m, lo, hi) if n > 1 else "%.3g" % m


def print_table(res):
    print("\n%-24s %-26s %-8s %-26s %-7s %-7s %s" % ("id", "value [min-max]", "unit",
          "baseline [min-max]", "ratio", "target", "met"))
    for r in res:
        met = "ERROR" if r["error"] and r["ratio"] is None else \
            "-" if r["met"] is None else "yes" if r["met"] else "no"
        print("%-24s %-26s %-8s %-26s %-7s %-7s %s" % (
            r["id"], fmt(r["value"], r["min"], r["max"], r["rounds"]), r["unit"],
            fmt(r["baseline_value"], r["baseline_min"], r["baseline_max"], r["rounds"]),
            "%.2f" % r["ratio"] if r["ratio"] is not None else "-",
            r["target"].replace("none", "-"), met))
        print("%-24s   %s; baseline: %s%s" % ("", r["what"], r["baseline"],
                                              ("; " + r["note"]) if r["note"] else ""))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(
        prog="run.sh",
        description="Real programs in an empty network namespace: pvcalls-run --isolate "
                    "against direct loopback, pasta and slirp4netns, interleaved in one run.")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per case (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="1 round, short durations: a smoke test (< 60 s)")
    ap.add_argument("--only", default="P1,P2,P3,P4", help="cases, e.g. P1,P3")
    ap.add_argument("--json", metavar="FILE", help="also write JSON Lines (pvcalls-bench's keys)")
    ap.add_argument("--variants", default=",".join(VARIANTS_ALL),
                    help="variants to run (default: all available)")
    ap.add_argument("--build", default=os.path.join(REPO, "build"), help="the CMake build dir")
    ap.add_argument("--no-install", action="store_true", help="never apt-get install")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the client to CPU 0 and host side to CPU 1")
    ap.add_argument("--ring-order", type=int, metavar="N",
                    help="PVCALLS_RING_ORDER for pvcalls-run (default: its own, 6)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every measurement")
    a = ap.parse_args()
    if a.quick:
        a.rounds = 1
    if not 1 <= a.rounds <= 100:
        die("--rounds: 1..100")
    if a.ring_order is not None and not 0 <= a.ring_order <= 9:
        die("--ring-order: 0..9")
    if a.ring_order is not None:
        VDESC["pvcalls"] += " (PVCALLS_RING_ORDER=%d)" % a.ring_order
    a.pvcallsd = os.path.join(a.build, "tools/pvcallsd/pvcallsd")
    a.pvcalls_run = os.path.join(a.build, "tools/pvcalls-run/pvcalls-run")
    for p in (a.pvcallsd, a.pvcalls_run):
        if not os.access(p, os.X_OK):
            die("%s not built (cmake --build %s)" % (p, a.build))

    only = [c.strip() for c in a.only.split(",") if c.strip()]
    install_missing(a.no_install)
    cases = define_cases(a)
    for c in only:
        if c not in cases:
            die("unknown case %s (P1 P2 P3 P4)" % c)
    variants = []
    for v in a.variants.split(","):
        if v not in VARIANTS_ALL:
            die("unknown variant %s" % v)
        tool = {"pasta": "pasta", "slirp4netns": "slirp4netns"}.get(v)
        if tool and not shutil.which(tool):
            log("note: %s is not installed: skipped" % tool)
            continue
        variants.append(v)
    if "direct" not in variants or "pvcalls" not in variants:
        die("direct and pvcalls are needed")

    env = Env(a)
    start = time.time()
    deadline = start + (55 if a.quick else 3600)   # bounds the whole run
    # A signal (Ctrl-C, SIGTERM) cleans up too: SystemExit runs the finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env.start_pvcallsd()
        env.start_servers(only)
        load0 = os.getloadavg()
        log("run.sh: %s, variants %s, cases %s, %d round(s), load %.2f; temp %s%s" % (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), ",".join(variants),
            ",".join(only), a.rounds, load0[0], env.dir,
            "; client on CPU %d, host side on CPU %d" % (env.guest_cpu, env.host_cpu)
            if env.pin else ""))
        rows_all = []
        for c in only:
            rows, fn = cases[c]
            rows_all += rows
            for rnd in range(a.rounds):
                k = rnd % len(variants)
                order = variants[k:] + variants[:k]       # rotating order
                for v in order:
                    if time.time() > deadline:
                        for row in rows:
                            row.errors.setdefault(v, []).append("run deadline passed")
                        continue
                    t0 = time.monotonic()
                    cpus = [env.guest_cpu, env.host_cpu] if env.pin else []
                    c0, d0 = cpu_busy(cpus), proc_cpu(env.pvcallsd_pid)
                    try:
                        got = fn(env, v)
                        c1, d1 = cpu_busy(cpus), proc_cpu(env.pvcallsd_pid)
                        for row in rows:
                            row.vals.setdefault(v, []).append(got[row.id])
                            if len(c0) == 2 and len(c1) == 2:
                                pct = [100.0 * (c1[n][0] - c0[n][0]) / max(1, c1[n][1] - c0[n][1])
                                       for n in cpus]
                                tot = max(1, c1[env.host_cpu][1] - c0[env.host_cpu][1])
                                row.cpu.setdefault(v, []).append(
                                    (pct[0], pct[1], 100.0 * (d1 - d0) / tot))
                        if a.verbose:
                            log("  %s round %d %-11s %s (%.1fs)" % (c, rnd + 1, v, " ".join(
                                "%s=%.4g" % kv for kv in got.items()), time.monotonic() - t0))
                    except RuntimeError as e:
                        log("  %s round %d %s: ERROR %s" % (c, rnd + 1, v, e))
                        for row in rows:
                            row.errors.setdefault(v, []).append(str(e))
            log("run.sh: %s done (%.0f s)" % (c, time.time() - start))
        res = results_of(rows_all, variants)
        load1 = os.getloadavg()
        print("pvcalls programs bench: %d round(s), %.0f s, load %.2f -> %.2f (nproc %d)%s" % (
            a.rounds, time.time() - start, load0[0], load1[0], os.cpu_count(),
            "" if shutil.which("slirp4netns") else "; slirp4netns not installed: skipped"))
        print_table(res)
        if a.json:
            with open(a.json, "w") as f:
                for r in res:      # 6 significant digits, as pvcalls-bench's %.6g
                    f.write(json.dumps({k: float("%.6g" % x) if isinstance(x, float) else x
                                        for k, x in r.items()}) + "\n")
        broken = any(r["ratio"] is None for r in res)
        return 1 if broken else 0
    finally:
        env.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:         # cleaned up by main's finally
        log("run.sh: interrupted")
        sys.exit(130)
