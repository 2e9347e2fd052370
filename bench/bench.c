/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench: the targets of docs/PERFORMANCE.md, each next to its
 * baseline, in one run and one process tree.
 *
 * Every round forks fresh processes: the "guest" side (the frontend, or
 * the baseline's client) pinned to the first CPU, the "host" side (a shm
 * hub with the backend, a ring peer, or the baseline's server) pinned to
 * the second, and where a TCP peer is needed a sink pinned with the host
 * side. Case and baseline rounds alternate (and swap order every round),
 * so a change of load on this shared machine hits both alike; every
 * figure is the median of the rounds and every ratio is taken between
 * medians of the same run. Within a round, rates are the median of 20 ms
 * windows of the receiver's progress and latencies the median of the
 * operations (window_rate(), lat_median()), for case and baseline alike.
 *
 * What each case measures (and why) is written next to its code and in
 * docs/PERFORMANCE.md:
 *   T1/T2/T3  pvcalls_front_send() -> data ring -> ring peer (a minimal
 *             backend from the public ring API that consumes like the
 *             backend's relay, copying into a 64 KiB buffer as a socket
 *             reader would) vs an AF_UNIX stream with 64 KiB writes.
 *   L1/L2     SOCKET and RELEASE round trips through the real backend vs
 *             a 64-byte AF_UNIX ping-pong / a shared-atomic ping-pong.
 *   R1/R2     frontend -> backend -> TCP -> sink vs a direct TCP stream
 *             to the same sink.
 *   S1        1,000 connections through the backend, all sending, vs one;
 *             backend RSS per idle connection vs its rings + 16 KiB.
 *   S2        socket+connect+accept+release x2 through the protocol vs
 *             the same on TCP loopback.
 *
 * Exit status: 0 unless something broke; figures never fail the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

#include "ring/wait_hint.h"
#include "daemon.h" /* pvcallsd's audit queue (A1, A2) */
#include "xenbus/xenbus.h"

#define CHUNK (64 * 1024)	/* application write/read size, both sides, every case */
#define MAX_ROUNDS 32
#define S1_CONNS 1000
#define WATCHDOG_S 120
#define SAMP_MAX 16384	/* receiver progress samples, at most one per ms */
#define LAT_MAX 65536	/* per-operation (or per-batch) timings */
#define S2_STEP_MAX 8192	/* S2 cycles whose steps are kept (--verbose) */

/* ---------------------------------------------------------------------- */
/* Settings                                                               */

static struct {
	bool quick;
	const char *json;
	int rounds;
	const char *only;
	int order;	/* -1: the frontend's default order for S1/S2 */
	bool no_baseline; /* tuning aid: run the cases only */
	bool verbose;     /* per-round details on stderr */
	bool sweep;       /* also: T, R and S2 at every ring order (choosing the default) */
} cfg = { .rounds = 0, .order = -1 }; /* rounds 0: 7, or 5 with --quick */

/* Durations of one round, in seconds. */
static double dur_bulk, dur_lat, dur_conn, dur_s1;
static int cpu_guest, cpu_host, cpu_sink; /* -1: do not pin */
/* Tuning aids: wait policies for the cases that use the defaults (0: keep). */
static uint32_t tune_front_spin, tune_back_spin;

/* ---------------------------------------------------------------------- */
/* State shared by the processes of one round (MAP_SHARED, reset per round) */

struct shared {
	/* rendezvous */
	int ready_b, ready_c;
	uint32_t guest_domid;
	uint16_t tcp_port;
	pid_t pid_b;
	int stop;
	/* results of the host side */
	uint64_t rx_bytes;
	int64_t t_last;
	double cpu_b;
	/* results of the guest side */
	uint64_t tx_bytes;
	int64_t t_start, t_end;
	double cpu_a;
	double value;
	/* wait statistics of the round (--verbose) */
	uint64_t fe_sleeps, fe_notifies, fe_suppressed, peer_sleeps, peer_notifies, peer_suppressed;
	/* the backend process over its loop: requests, read()/write() calls (--verbose) */
	uint64_t b_reqs, b_syscr, b_syscw;
	uint64_t audit_written, audit_dropped; /* A1: pvcallsd's audit queue */
	/* S1 */
	int s1_conns, s1_rounds, s1_order;
	double s1_one[MAX_ROUNDS], s1_all[MAX_ROUNDS];
	long s1_b_anon[2], s1_b_shmem[2], s1_a_anon[2], s1_a_shmem[2];
	char err[512];
	/* the receiver's progress, for windowed rates */
	uint32_t nsamp;
	struct {
		int64_t t;
		uint64_t bytes;
	} samp[SAMP_MAX];
	/* latency cases: one entry per operation or batch, in us */
	uint32_t nlat;
	double lat[LAT_MAX];
	/* S2 (--verbose): each step of each timed cycle, in us */
	uint32_t nstep;
	float step[S2_STEP_MAX][5];
	/* L2 baseline: one word on its own cache line */
	__attribute__((aligned(64))) uint32_t pp;
	__attribute__((aligned(64))) uint32_t pp_pad;
};

static struct shared *sh;
static char hub_path[108];
static unsigned hub_seq;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* read()- and write()-family calls of this process so far (/proc/self/io). */
static void io_calls(uint64_t *r, uint64_t *w)
{
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");

	*r = *w = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "syscr: ", 7))
			*r = strtoull(line + 7, NULL, 10);
		else if (!strncmp(line, "syscw: ", 7))
			*w = strtoull(line + 7, NULL, 10);
	}
	fclose(f);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Records the first failure of the round (any process) and prints it. */
static int fail(const char *fmt, ...)
{
	char msg[sizeof(sh->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pvcalls-bench: [%d] %s\n", (int)getpid(), msg);
	if (!sh->err[0])
		snprintf(sh->err, sizeof(sh->err), "%s", msg);
	return -1;
}

static bool wait_flag(int *flag, int timeout_ms)
{
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;

	while (!LOAD(flag)) {
		if (now_ns() > end)
			return false;
		sleep_us(100);
	}
	return true;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static pid_t spawn(int cpu, int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		pin(cpu);
		alarm(WATCHDOG_S);
		_exit(fn(arg) < 0 ? 1 : 0);
	}
	return pid;
}

static int reap(pid_t pid, const char *who)
{
	int st;

	if (pid <= 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail("waitpid(%s): %s", who, strerror(errno));
	if (WIFSIGNALED(st))
		return fail("%s died of signal %d", who, WTERMSIG(st));
	if (WEXITSTATUS(st))
		return fail("%s failed%s%s", who, sh->err[0] ? ": " : "", sh->err);
	return 0;
}

/* Starts a round: fresh shared state and a fresh hub address. */
static void round_reset(void)
{
	memset(sh, 0, sizeof(*sh));
	snprintf(hub_path, sizeof(hub_path), "@pvcalls-bench-%d-%u", (int)getpid(), hub_seq++);
}

/*
 * One round of two processes: the host side (a server, a ring peer, the
 * backend) first, then the guest side on cpu_guest; once the guest is
 * done, the host side is told to stop. 0, or nonzero if either failed.
 */
static int host_then_guest(int host_cpu, int (*host)(void *), void *host_arg,
			   const char *host_name, int (*guest)(void *), void *guest_arg,
			   const char *guest_name)
{
	pid_t h = spawn(host_cpu, host, host_arg);
	pid_t g = spawn(cpu_guest, guest, guest_arg);
	int rc = reap(g, guest_name);

	STORE(&sh->stop, 1);
	return rc | reap(h, host_name);
}

/* A line of /proc/<pid>/status, in kB; -1 if absent. */
static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void loopback(struct sockaddr_in *sa, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The receiver's progress: @total bytes so far. Keeps at most one sample
 * per millisecond, enough to cut the round into windows afterwards.
 */
static void note_progress(uint64_t total)
{
	int64_t t = now_ns();
	uint32_t n = sh->nsamp;

	__atomic_store_n(&sh->t_last, t, __ATOMIC_RELAXED);
	if (n < SAMP_MAX && (n == 0 || t - sh->samp[n - 1].t >= 1000000)) {
		sh->samp[n].t = t;
		sh->samp[n].bytes = total;
		__atomic_store_n(&sh->nsamp, n + 1, __ATOMIC_RELEASE);
	}
}

/* Bytes received by time @t, interpolated between progress samples. */
static double bytes_at(int64_t t)
{
	uint32_t n = LOAD(&sh->nsamp), lo = 0, hi;

	if (n == 0 || t <= sh->samp[0].t)
		return 0;
	if (t >= sh->samp[n - 1].t)
		return (double)sh->samp[n - 1].bytes;
	hi = n - 1;
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;

		if (sh->samp[mid].t <= t)
			lo = mid;
		else
			hi = mid;
	}
	return (double)sh->samp[lo].bytes +
	       (double)(sh->samp[hi].bytes - sh->samp[lo].bytes) *
		       (double)(t - sh->samp[lo].t) / (double)(sh->samp[hi].t - sh->samp[lo].t);
}

static int cmp_dbl(const void *a, const void *b);

/*
 * The receiving rate in GB/s over [t0, t1): the median of fixed windows
 * (20 ms, 10 ms with --quick). On this shared machine another tenant's
 * process often takes one of our two CPUs for a few ms; a window that
 * fell into such a gap says nothing about PV Calls or AF_UNIX, and the
 * median of the windows is what either achieves while it runs. Case and
 * baseline are measured the same way.
 */
static double window_rate(int64_t t0, int64_t t1)
{
	int64_t w = cfg.quick ? 10000000 : 20000000;
	double r[512];
	int n = 0;

	for (int64_t a = t0; a + w <= t1 && n < 512; a += w)
		r[n++] = (bytes_at(a + w) - bytes_at(a)) / secs(w) / 1e9;
	if (n < 3)
		return (bytes_at(t1) - bytes_at(t0)) / secs(t1 - t0) / 1e9;
	qsort(r, (size_t)n, sizeof(*r), cmp_dbl);
	return n & 1 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
}

/* Latency cases: one timing in us (of one operation, or a batch's mean). */
static void lat_add(double us)
{
	if (sh->nlat < LAT_MAX)
		sh->lat[sh->nlat++] = us;
}

/*
 * The median of the timings of a round: the round trip as it is while
 * both ends run, not counting the few that another tenant's process
 * delayed by a scheduler slice (for case and baseline alike).
 */
static double lat_median(void)
{
	uint32_t n = sh->nlat;

	if (n == 0)
		return NAN;
	qsort(sh->lat, n, sizeof(double), cmp_dbl);
	return n & 1 ? sh->lat[n / 2] : (sh->lat[n / 2 - 1] + sh->lat[n / 2]) / 2;
}

static uint8_t *pattern_buf(size_t len)
{
	uint8_t *b = malloc(len);

	if (b)
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(i * 2654435761u >> 13);
	return b;
}

/* ---------------------------------------------------------------------- */
/* The host side: a shm hub running the real backend                      */

struct back_cfg {
	uint32_t spin_us;		/* 0: default; PVCALLS_BACK_NO_SPIN */
	bool many;			/* S1: limits for 1,000 connections */
	bool audit;			/* A1: pvcallsd's audit queue, to a file */
};

static int side_backend(void *arg)
{
	const struct back_cfg *c = arg;
	struct pvcalls_back_opts bo = { .spin_us = c->spin_us ? c->spin_us : tune_back_spin };
	pvcalls_transport *t;
	pvcalls_back *b;
	struct audit_q *aq = NULL;
	uint64_t r0, w0;
	double cpu0;
	int rc;

	if (c->many) {
		bo.limits.max_sockets = 4096;
		bo.limits.max_mapped_pages = 1u << 20;
	}
	rc = pvcalls_shm_listen(hub_path, NULL, &t);
	if (rc < 0)
		return fail("backend: shm listen %s: %s", hub_path, pvcalls_strerror(rc));
	rc = pvcalls_back_new(t, &bo, &b);
	if (rc < 0) {
		pvcalls_transport_close(t);
		return fail("backend: %s", pvcalls_strerror(rc));
	}
	if (c->audit) {
		/* What pvcallsd does with "audit = FILE": the loop formats each
		 * record and queues it; a writer thread appends it to the file. */
		char path[] = "/tmp/pvcalls-bench-audit-XXXXXX";
		int fd = mkstemp(path);

		if (fd < 0 || !(aq = audit_q_new(fd, 4096))) {
			pvcalls_back_free(b);
			pvcalls_transport_close(t);
			return fail("backend: audit log: %s", strerror(errno));
		}
		unlink(path);
		pvcalls_back_set_audit(b, audit_q_sink, aq);
	}
	sh->pid_b = getpid();
	cpu0 = cpu_self();
	io_calls(&r0, &w0);
	STORE(&sh->ready_b, 1);
	while (!LOAD(&sh->stop)) {
		rc = pvcalls_back_process(b, 20);
		if (rc < 0) {
			fail("backend: process: %s", pvcalls_strerror(rc));
			break;
		}
	}
	sh->cpu_b = cpu_self() - cpu0;
	io_calls(&sh->b_syscr, &sh->b_syscw);
	sh->b_syscr -= r0;
	sh->b_syscw -= w0;
	{
		struct pvcalls_back_stats st;

		pvcalls_back_get_stats(b, &st);
		sh->peer_notifies = st.notifies_sent;
		sh->peer_suppressed = st.notifies_suppressed;
		for (unsigned i = 0; i < PVCALLS_WIRE_NR_CMDS; i++)
			sh->b_reqs += st.commands[i];
	}
	if (aq) {
		/* Counted before the flush: a few records may still be queued. */
		pvcalls_back_set_audit(b, NULL, NULL);
		audit_q_counts(aq, &sh->audit_written, &sh->audit_dropped);
		audit_q_free(aq, 5000);
		aq = NULL;
	}
	pvcalls_back_free(b);
	pvcalls_transport_close(t);
	return rc < 0 ? -1 : 0;
}

/* The guest side: connects to the hub of this round and opens a frontend. */
static int guest_open(uint32_t order, uint32_t spin_us, const struct pvcalls_shm_opts *go,
		      pvcalls_transport **tp, pvcalls_front **fep)
{
	struct pvcalls_front_opts fo = { .spin_us = spin_us ? spin_us : tune_front_spin,
					 .connect_timeout_ms = 20000 };
	uint32_t domid;
	int rc;

	fo.ring_order = order == 0 ? PVCALLS_FRONT_ORDER_0 : order;
	if (order == UINT32_MAX)
		fo.ring_order = 0; /* the library's default */
	if (!wait_flag(&sh->ready_b, 20000))
		return fail("guest: the host side never came up");
	rc = pvcalls_shm_connect(hub_path, go, tp);
	if (rc < 0)
		return fail("guest: shm connect: %s", pvcalls_strerror(rc));
	pvcalls_transport_local_domid(*tp, &domid);
	STORE(&sh->guest_domid, domid);
	rc = pvcalls_front_open(*tp, &fo, fep);
	if (rc < 0) {
		pvcalls_transport_close(*tp);
		return fail("guest: front open: %s", pvcalls_strerror(rc));
	}
	return 0;
}

static void front_stats(pvcalls_front *fe)
{
	struct pvcalls_front_stats st;

	pvcalls_front_get_stats(fe, &st);
	sh->fe_sleeps = st.sleeps;
	sh->fe_notifies = st.notifies_sent;
	sh->fe_suppressed = st.notifies_suppressed;
}

static void guest_close(pvcalls_transport *t, pvcalls_front *fe)
{
	pvcalls_front_close(fe);
	pvcalls_transport_close(t);
}

/* ---------------------------------------------------------------------- */
/* The TCP sink: accepts any number of connections, reads everything       */

static int side_sink(void *arg)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	uint8_t *buf = malloc(CHUNK);
	uint64_t total = 0;
	int one = 1, lfd, ep;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback(&sa, 0);
	if (!buf || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return fail("sink: listen: %s", strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	sh->tcp_port = ntohs(sa.sin_port);
	STORE(&sh->ready_c, 1);
	while (!LOAD(&sh->stop)) {
		int n = epoll_wait(ep, evs, 64, 10);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint64_t got = 0;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, CHUNK);

				if (r > 0) {
					got += (uint64_t)r;
					continue;
				}
				if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
				}
				if (r < 0 && errno == EINTR)
					continue;
				break;
			}
			if (got) {
				total += got;
				note_progress(total);
				STORE(&sh->rx_bytes, total);
			}
		}
	}
	free(buf);
	return 0;
}

/* Waits until the sink counted @total bytes; returns the last arrival. */
static int64_t sink_wait(uint64_t total)
{
	int64_t end = now_ns() + 20 * 1000000000ll;

	while (LOAD(&sh->rx_bytes) < total) {
		if (now_ns() > end) {
			fail("sink got %" PRIu64 " of %" PRIu64 " bytes", LOAD(&sh->rx_bytes), total);
			return -1;
		}
		sleep_us(50);
	}
	return __atomic_load_n(&sh->t_last, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------- */
/* The ring peer (T1-T3): a minimal backend built on the public ring API.  */
/*                                                                         */
/* It negotiates like our backend (max-page-order 9, wait hints), answers */
/* SOCKET, CONNECT and RELEASE, and consumes the out ring as the          */
/* backend's relay does, but into a 64 KiB buffer instead of a host       */
/* socket: what remains is the data ring and the frontend's send path,    */
/* which is what T1-T3 are about. Its wait policy is the backend's:       */
/* poll while data moved within spin_us, then raise back_waiting (H1 in   */
/* ring/wait_hint.h), look again and sleep on the event channel.          */

struct rpeer {
	pvcalls_transport *t;
	uint32_t gid;
	char bedir[128], fedir[128];
	pvcalls_cmd_back cmd;
	void *cmd_page;
	uint32_t cmd_port;
	bool hint;
	uint32_t spin_us;
	/* the one active socket */
	bool active;
	struct pvcalls_wire_data_intf *intf;
	void *data;
	unsigned npages;
	uint32_t port;
	pvcalls_data_ring ring;
	uint8_t *buf;
	uint64_t bytes;
	double cpu0;
	bool released;
};

static int st_put(pvcalls_transport *t, const char *dir, const char *key, const char *v)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	return pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, p, v);
}

static int st_uint(pvcalls_transport *t, const char *dir, const char *key, uint32_t *v)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	return pvcalls_transport_store_read_uint(t, PVCALLS_STORE_NO_TXN, p, v);
}

static int rp_negotiate(struct rpeer *p)
{
	uint32_t me, state = 0, ref, port, hint = 0;
	int64_t end;
	int rc;

	pvcalls_transport_local_domid(p->t, &me);
	if (!wait_flag((int *)&sh->guest_domid, 20000))
		return fail("ring peer: no guest");
	p->gid = LOAD(&sh->guest_domid);
	snprintf(p->bedir, sizeof(p->bedir), "/local/domain/%u/backend/pvcalls/%u/0", me, p->gid);
	snprintf(p->fedir, sizeof(p->fedir), "/local/domain/%u/device/pvcalls/0", p->gid);
	rc = st_put(p->t, p->bedir, PVCALLS_WIRE_KEY_VERSIONS, "1");
	if (!rc)
		rc = st_put(p->t, p->bedir, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, "9");
	if (!rc)
		rc = st_put(p->t, p->bedir, PVCALLS_WIRE_KEY_FUNCTION_CALLS, "1");
	if (!rc)
		rc = st_put(p->t, p->bedir, PVC_XB_KEY_WAIT_HINT, "1");
	if (!rc)
		rc = st_put(p->t, p->bedir, PVCALLS_WIRE_KEY_STATE, "2"); /* InitWait */
	if (rc)
		return fail("ring peer: store: %s", pvcalls_strerror(rc));
	for (end = now_ns() + 20000000000ll; state != 3; sleep_us(200)) {
		if (now_ns() > end)
			return fail("ring peer: the frontend never got to Initialised");
		st_uint(p->t, p->fedir, PVCALLS_WIRE_KEY_STATE, &state);
	}
	if (st_uint(p->t, p->fedir, PVCALLS_WIRE_KEY_RING_REF, &ref) < 0 ||
	    st_uint(p->t, p->fedir, PVCALLS_WIRE_KEY_PORT, &port) < 0)
		return fail("ring peer: ring-ref/port");
	p->hint = st_uint(p->t, p->fedir, PVC_XB_KEY_WAIT_HINT, &hint) == 0 && hint == 1;
	rc = pvcalls_transport_map(p->t, p->gid, 1, &ref, true, &p->cmd_page);
	if (!rc)
		rc = pvcalls_transport_evtchn_bind(p->t, p->gid, port, &p->cmd_port);
	if (rc)
		return fail("ring peer: command ring: %s", pvcalls_strerror(rc));
	pvcalls_cmd_back_init(&p->cmd, p->cmd_page);
	return st_put(p->t, p->bedir, PVCALLS_WIRE_KEY_STATE, "4") ? -1 : 0;
}

static void rp_notify_data(struct rpeer *p)
{
	/* H2: an index moved; notify only a frontend that said it sleeps. */
	if (!p->hint || pvc_hint_peer_waiting(p->intf, true)) {
		pvcalls_transport_evtchn_notify(p->t, p->port);
		sh->peer_notifies++;
	}
}

/* Consumes what the out ring holds. Returns bytes moved, or -1. */
static int64_t rp_drain(struct rpeer *p)
{
	int64_t moved = 0;

	for (;;) {
		struct iovec iov[2];
		int n = pvcalls_data_rx_spans(&p->ring, iov);
		size_t left;

		if (n < 0)
			return fail("ring peer: impossible out-ring indexes");
		if (n == 0)
			break;
		if (!p->bytes)
			p->cpu0 = cpu_self();
		/* Like a socket reader: CHUNK bytes at a time into one buffer. */
		left = (size_t)n;
		for (int i = 0; i < 2 && left; i++) {
			uint8_t *src = iov[i].iov_base;
			size_t len = iov[i].iov_len;

			while (len) {
				size_t k = len < CHUNK ? len : CHUNK;

				memcpy(p->buf, src, k);
				src += k;
				len -= k;
				left -= k;
			}
		}
		pvcalls_data_rx_consume(&p->ring, (uint32_t)n);
		p->bytes += (uint64_t)n;
		moved += n;
	}
	if (moved) {
		note_progress(p->bytes);
		rp_notify_data(p);
	}
	return moved;
}

static int rp_connect(struct rpeer *p, const struct pvcalls_req *rq)
{
	uint32_t ref = rq->u.connect.ref, order, refs[512];
	int rc;

	if (p->active)
		return -EBUSY;
	rc = pvcalls_transport_map(p->t, p->gid, 1, &ref, true, (void **)&p->intf);
	if (rc)
		return -EFAULT;
	order = pvc_read_once(&p->intf->ring_order);
	if (order > 9) {
		pvcalls_transport_unmap(p->t, p->intf, 1);
		return -EINVAL;
	}
	p->npages = 1u << order;
	for (unsigned i = 0; i < p->npages; i++)
		refs[i] = pvc_read_once(&p->intf->ref[i]);
	rc = pvcalls_transport_map(p->t, p->gid, p->npages, refs, true, &p->data);
	if (!rc)
		rc = pvcalls_transport_evtchn_bind(p->t, p->gid, rq->u.connect.evtchn, &p->port);
	if (rc)
		return fail("ring peer: data ring: %s", pvcalls_strerror(rc));
	pvcalls_data_ring_attach(&p->ring, p->intf, p->data, order, PVCALLS_DATA_BACKEND);
	p->active = true;
	return 0;
}

static void rp_answer(struct rpeer *p, const struct pvcalls_wire_request *raw, int err)
{
	struct pvcalls_wire_response rsp;

	pvcalls_rsp_build(&rsp, raw, err);
	pvcalls_cmd_back_put(&p->cmd, &rsp);
	if (pvcalls_cmd_back_push(&p->cmd))
		pvcalls_transport_evtchn_notify(p->t, p->cmd_port);
}

/* Takes every request; returns how many, or -1. */
static int rp_commands(struct rpeer *p)
{
	struct pvcalls_wire_request raw;
	struct pvcalls_req rq;
	int n = 0, rc, err;

	while ((rc = pvcalls_cmd_back_get(&p->cmd, &raw)) > 0) {
		n++;
		err = pvcalls_req_parse(&raw, &rq);
		if (err == 0) {
			switch (rq.cmd) {
			case PVCALLS_WIRE_SOCKET:
				break;
			case PVCALLS_WIRE_CONNECT:
				err = rp_connect(p, &rq);
				break;
			case PVCALLS_WIRE_RELEASE:
				if (p->active) {
					if (rp_drain(p) < 0)
						return -1;
					sh->rx_bytes = p->bytes;
					sh->cpu_b = p->bytes ? cpu_self() - p->cpu0 : 0;
					pvcalls_transport_evtchn_close(p->t, p->port);
					pvcalls_transport_unmap(p->t, p->data, p->npages);
					pvcalls_transport_unmap(p->t, p->intf, 1);
					p->active = false;
					p->released = true;
				}
				break;
			default:
				err = -EOPNOTSUPP;
			}
		}
		rp_answer(p, &raw, err);
	}
	return rc < 0 ? fail("ring peer: impossible command ring") : n;
}

static int side_ring_peer(void *arg)
{
	struct rpeer p = { .spin_us = *(uint32_t *)arg };
	int64_t last = now_ns(), end;
	uint32_t state = 0;
	int efd, rc = -1;

	p.buf = malloc(CHUNK);
	if (pvcalls_shm_listen(hub_path, NULL, &p.t) < 0)
		return fail("ring peer: shm listen");
	STORE(&sh->ready_b, 1);
	if (rp_negotiate(&p) < 0)
		goto out;
	efd = pvcalls_transport_evtchn_fd(p.t);
	while (!p.released) {
		int64_t moved = 0;
		int n = rp_commands(&p);

		if (n < 0)
			goto out;
		if (p.active && (moved = rp_drain(&p)) < 0)
			goto out;
		if (n || moved) {
			last = now_ns();
			continue;
		}
		if (now_ns() - last < (int64_t)p.spin_us * 1000) {
			cpu_relax(); /* ~30 ns: look again at once */
			continue;
		}
		/* H1: say we sleep, then look once more (pairs with the frontend's H2). */
		if (p.active && p.hint)
			pvc_hint_sleep(p.intf, true);
		if (pvcalls_cmd_back_final_check(&p.cmd) == 0 &&
		    !(p.active && pvcalls_data_rx_queued(&p.ring) != 0)) {
			struct pollfd pfd = { .fd = efd, .events = POLLIN };
			uint32_t port;

			sh->peer_sleeps++;
			poll(&pfd, 1, 100);
			while (pvcalls_transport_evtchn_pending(p.t, &port) > 0)
				pvcalls_transport_evtchn_unmask(p.t, port);
		}
		if (p.active && p.hint)
			pvc_hint_awake(p.intf, true);
		last = now_ns();
	}
	/* Follow the frontend to Closing, as a backend must, then go. */
	for (end = now_ns() + 10000000000ll; now_ns() < end; sleep_us(500)) {
		rp_commands(&p);
		if (st_uint(p.t, p.fedir, PVCALLS_WIRE_KEY_STATE, &state) < 0 || state >= 5 ||
		    LOAD(&sh->stop))
			break;
	}
	st_put(p.t, p.bedir, PVCALLS_WIRE_KEY_STATE, "6");
	rc = 0;
out:
	pvcalls_transport_close(p.t);
	free(p.buf);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* T1/T2/T3: bulk through pvcalls_front_send() vs AF_UNIX                 */

struct bulk_cfg {
	uint32_t order;
	uint32_t spin_us;
};

static int side_bulk_front(void *arg)
{
	const struct bulk_cfg *c = arg;
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end;
	double cpu0;
	int s, rc;

	if (!buf || guest_open(c->order, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	loopback(&sa, 9);
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	rc = s < 0 ? s : pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		fail("front: socket/connect: %s", pvcalls_strerror(rc));
		goto out;
	}
	cpu0 = cpu_self();
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			ssize_t n = pvcalls_front_send(fe, s, buf, CHUNK, 0);

			if (n != CHUNK) {
				fail("front: send: %zd", n);
				rc = -1;
				goto out;
			}
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	sh->cpu_a = cpu_self() - cpu0;
	sh->tx_bytes = total;
	front_stats(fe);
	rc = pvcalls_front_release(fe, s);
	if (rc < 0)
		fail("front: release: %s", pvcalls_strerror(rc));
out:
	guest_close(t, fe);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static int unix_fds[2];

static int side_unix_writer(void *arg)
{
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end;
	double cpu0;
	int fd = unix_fds[0];

	(void)arg;
	close(unix_fds[1]);
	cpu0 = cpu_self();
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			if (write_all(fd, buf, CHUNK) < 0)
				return fail("unix writer: %s", strerror(errno));
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	sh->cpu_a = cpu_self() - cpu0;
	sh->tx_bytes = total;
	close(fd);
	free(buf);
	return 0;
}

static int side_unix_reader(void *arg)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t total = 0;
	double cpu0 = 0;
	int fd = unix_fds[1];

	(void)arg;
	close(unix_fds[0]);
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("unix reader: %s", strerror(errno));
		if (n == 0)
			break;
		if (!total)
			cpu0 = cpu_self();
		total += (uint64_t)n;
		note_progress(total);
	}
	sh->cpu_b = cpu_self() - cpu0;
	sh->rx_bytes = total;
	free(buf);
	return 0;
}

struct bulk_res {
	double gbps;
	double cpu_per_gb;
};

static int bulk_result(struct bulk_res *r)
{
	double s = secs(sh->t_last - sh->t_start);

	if (sh->rx_bytes != sh->tx_bytes || s <= 0)
		return fail("bulk: sent %" PRIu64 ", received %" PRIu64, sh->tx_bytes, sh->rx_bytes);
	r->gbps = window_rate(sh->t_start, sh->t_end);
	r->cpu_per_gb = (sh->cpu_a + sh->cpu_b) / ((double)sh->rx_bytes / 1e9);
	return 0;
}

static int round_bulk_ring(uint32_t order, uint32_t spin_us, struct bulk_res *r)
{
	struct bulk_cfg c = { .order = order, .spin_us = spin_us };
	uint32_t peer_spin = tune_back_spin ? tune_back_spin : 20; /* the backend's default */
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_ring_peer, &peer_spin, "ring peer",
			     side_bulk_front, &c, "frontend");
	if (rc || bulk_result(r))
		return -1;
	if (cfg.verbose)
		fprintf(stderr, "  order %u: %.2f GB/s (%.2f GB in %.3f s), %.3f s/GB; frontend "
			"%" PRIu64 " sleeps, %" PRIu64 " notifies (%" PRIu64 " suppressed); peer "
			"%" PRIu64 " sleeps, %" PRIu64 " notifies\n",
			order, r->gbps, sh->rx_bytes / 1e9, secs(sh->t_last - sh->t_start),
			r->cpu_per_gb, sh->fe_sleeps, sh->fe_notifies, sh->fe_suppressed,
			sh->peer_sleeps, sh->peer_notifies);
	return 0;
}

static int round_bulk_unix(struct bulk_res *r)
{
	pid_t b, a;
	int rc;

	round_reset();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_fds) < 0)
		return fail("socketpair: %s", strerror(errno));
	b = spawn(cpu_host, side_unix_reader, NULL);
	a = spawn(cpu_guest, side_unix_writer, NULL);
	close(unix_fds[0]);
	close(unix_fds[1]);
	rc = reap(a, "unix writer");
	rc |= reap(b, "unix reader");
	if (rc || bulk_result(r))
		return -1;
	if (cfg.verbose)
		fprintf(stderr, "  AF_UNIX: %.2f GB/s (%.2f GB in %.3f s), %.3f s/GB\n", r->gbps,
			sh->rx_bytes / 1e9, secs(sh->t_last - sh->t_start), r->cpu_per_gb);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* L1/L2: command round trips vs ping-pongs                               */

struct lat_cfg {
	uint32_t spin_us; /* frontend and backend alike */
};

/*
 * SOCKET and RELEASE of a socket that never connected: one request and
 * its response each, and the backend does no host syscall for either
 * (SOCKET records an id, RELEASE forgets it), so what is timed is the
 * command ring, the notifications and the wait policies.
 */
static int side_lat_front(void *arg)
{
	const struct lat_cfg *c = arg;
	/* Blocking: every pair timed; polling: batches of 4 pairs. */
	int pairs = c->spin_us == PVCALLS_FRONT_NO_SPIN ? 1 : 4;
	pvcalls_transport *t;
	pvcalls_front *fe;
	int64_t end = 0;
	int rc = 0;

	if (guest_open(UINT32_MAX, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	for (int warm = 0;; warm++) {
		int64_t t0 = now_ns();

		if (warm == 50)
			end = t0 + (int64_t)(dur_lat * 1e9);
		for (int k = 0; k < pairs && rc >= 0; k++) {
			int s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);

			rc = s < 0 ? s : pvcalls_front_release(fe, s);
		}
		if (rc < 0) {
			fail("front: socket/release: %s", pvcalls_strerror(rc));
			break;
		}
		if (warm >= 50) {
			int64_t t1 = now_ns();

			lat_add((double)(t1 - t0) / 1e3 / (2 * pairs));
			if (t1 >= end)
				break;
		}
	}
	guest_close(t, fe);
	return rc < 0 ? -1 : 0;
}

static int round_lat_pvcalls(uint32_t spin_us, bool audit, double *us)
{
	struct back_cfg bc = { .spin_us = spin_us, .audit = audit };
	struct lat_cfg lc = {
		.spin_us = spin_us == PVCALLS_BACK_NO_SPIN ? PVCALLS_FRONT_NO_SPIN : spin_us
	};
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_backend, &bc, "backend",
			     side_lat_front, &lc, "frontend");
	*us = lat_median();
	if (!rc && cfg.verbose && sh->b_reqs)
		fprintf(stderr, "  %.3f us; backend per request: %.2f us CPU, %.2f read() and "
			"%.2f write() calls (%" PRIu64 " requests)\n", *us,
			sh->cpu_b * 1e6 / (double)sh->b_reqs, (double)sh->b_syscr / (double)sh->b_reqs,
			(double)sh->b_syscw / (double)sh->b_reqs, sh->b_reqs);
	if (!rc && audit && cfg.verbose)
		fprintf(stderr, "  audit: %" PRIu64 " records written, %" PRIu64 " dropped\n",
			sh->audit_written, sh->audit_dropped);
	if (!rc && audit && sh->audit_written == 0)
		return fail("audit: no record reached the log");
	return rc ? -1 : 0;
}

static int side_pp_unix_client(void *arg)
{
	uint8_t msg[64] = { 1 };
	int64_t end = 0;
	int fd = unix_fds[0];

	(void)arg;
	close(unix_fds[1]);
	for (int warm = 0;; warm++) {
		int64_t t0 = now_ns(), t1;

		if (warm == 50)
			end = t0 + (int64_t)(dur_lat * 1e9);
		if (write_all(fd, msg, sizeof(msg)) < 0 || read_all(fd, msg, sizeof(msg)) < 0)
			return fail("ping-pong client: %s", strerror(errno));
		t1 = now_ns();
		if (warm >= 50) {
			lat_add((double)(t1 - t0) / 1e3);
			if (t1 >= end)
				break;
		}
	}
	close(fd);
	return 0;
}

static int side_pp_unix_server(void *arg)
{
	uint8_t msg[64];
	int fd = unix_fds[1];

	(void)arg;
	close(unix_fds[0]);
	while (read_all(fd, msg, sizeof(msg)) == 0)
		if (write_all(fd, msg, sizeof(msg)) < 0)
			break;
	close(fd);
	return 0;
}

static int round_pp_unix(double *us)
{
	pid_t b, a;
	int rc;

	round_reset();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_fds) < 0)
		return fail("socketpair: %s", strerror(errno));
	b = spawn(cpu_host, side_pp_unix_server, NULL);
	a = spawn(cpu_guest, side_pp_unix_client, NULL);
	close(unix_fds[0]);
	close(unix_fds[1]);
	rc = reap(a, "ping-pong client");
	rc |= reap(b, "ping-pong server");
	*us = lat_median();
	return rc ? -1 : 0;
}

/* A bare shared-atomic ping-pong: the floor of any polling round trip. */
static int side_pp_atomic_client(void *arg)
{
	uint32_t v = 0;
	int64_t end = 0;

	(void)arg;
	/* Batches of 256 round trips: a clock read per trip would be 20% of it. */
	for (int warm = 0;; warm++) {
		int64_t t0 = now_ns(), t1;

		if (warm == 20)
			end = t0 + (int64_t)(dur_lat * 1e9);
		for (int k = 0; k < 256; k++) {
			__atomic_store_n(&sh->pp, v + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&sh->pp, __ATOMIC_ACQUIRE) != v + 2)
				cpu_relax();
			v += 2;
		}
		t1 = now_ns();
		if (warm >= 20) {
			lat_add((double)(t1 - t0) / 1e3 / 256);
			if (t1 >= end)
				break;
		}
	}
	STORE(&sh->stop, 1);
	return 0;
}

static int side_pp_atomic_server(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		uint32_t v = __atomic_load_n(&sh->pp, __ATOMIC_ACQUIRE);

		if (v & 1)
			__atomic_store_n(&sh->pp, v + 1, __ATOMIC_RELEASE);
		else
			cpu_relax();
	}
	return 0;
}

static int round_pp_atomic(double *us)
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_pp_atomic_server, NULL, "ping-pong server",
			     side_pp_atomic_client, NULL, "ping-pong client");
	*us = lat_median();
	return rc ? -1 : 0;
}

/*
 * The floor of L2: the command ring alone, both ends polling with the
 * public ring API and doing nothing else (SOCKET requests answered with
 * 0), on one shared page. What the frontend and the backend add to this
 * is their own work.
 */
static struct pvcalls_wire_cmd_sring *cmd_page;

static int side_cmdring_client(void *arg)
{
	struct pvcalls_wire_request q;
	struct pvcalls_wire_response p;
	pvcalls_cmd_front f;
	int64_t end = 0;

	(void)arg;
	pvcalls_cmd_front_init(&f, cmd_page);
	for (uint32_t warm = 0, id = 0;; warm++) {
		int64_t t0 = now_ns(), t1;

		if (warm == 20)
			end = t0 + (int64_t)(dur_lat * 1e9);
		for (int k = 0; k < 64; k++, id++) {
			pvcalls_req_socket(&q, id, id, AF_INET, SOCK_STREAM, 0);
			pvcalls_cmd_front_put(&f, &q);
			pvcalls_cmd_front_push(&f);
			while (pvcalls_cmd_front_get(&f, &p) <= 0)
				cpu_relax();
		}
		t1 = now_ns();
		if (warm >= 20) {
			lat_add((double)(t1 - t0) / 1e3 / 64);
			if (t1 >= end)
				break;
		}
	}
	STORE(&sh->stop, 1);
	return 0;
}

static int side_cmdring_server(void *arg)
{
	struct pvcalls_wire_request q;
	struct pvcalls_wire_response p;
	pvcalls_cmd_back r;

	(void)arg;
	pvcalls_cmd_back_init(&r, cmd_page);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		if (pvcalls_cmd_back_get(&r, &q) > 0) {
			pvcalls_rsp_build(&p, &q, 0);
			pvcalls_cmd_back_put(&r, &p);
			pvcalls_cmd_back_push(&r);
		} else {
			cpu_relax();
		}
	}
	return 0;
}

static int round_cmdring(double *us)
{
	int rc;

	round_reset();
	pvcalls_cmd_sring_init(cmd_page);
	rc = host_then_guest(cpu_host, side_cmdring_server, NULL, "command ring server",
			     side_cmdring_client, NULL, "command ring client");
	*us = lat_median();
	return rc ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* R1/R2: through the backend to a TCP peer vs direct TCP                 */

static int side_relay_front(void *arg)
{
	const struct bulk_cfg *c = arg;
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end, last;
	int s, rc;

	if (!buf || guest_open(c->order, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	if (!wait_flag(&sh->ready_c, 20000)) {
		rc = fail("front: no sink");
		goto out;
	}
	loopback(&sa, sh->tcp_port);
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	rc = s < 0 ? s : pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		fail("front: socket/connect: %s", pvcalls_strerror(rc));
		goto out;
	}
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			ssize_t n = pvcalls_front_send(fe, s, buf, CHUNK, 0);

			if (n != CHUNK) {
				rc = fail("front: send: %zd", n);
				goto out;
			}
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	sh->tx_bytes = total;
	last = sink_wait(total);
	if (last < 0) {
		rc = -1;
		goto out;
	}
	sh->value = window_rate(sh->t_start, sh->t_end);
	front_stats(fe);
	rc = pvcalls_front_release(fe, s);
	if (rc < 0)
		fail("front: release: %s", pvcalls_strerror(rc));
out:
	guest_close(t, fe);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static int side_tcp_client(void *arg)
{
	struct sockaddr_in sa;
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end, last;
	int fd;

	(void)arg;
	if (!buf || !wait_flag(&sh->ready_c, 20000))
		return fail("tcp client: no sink");
	loopback(&sa, sh->tcp_port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("tcp client: connect: %s", strerror(errno));
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			if (write_all(fd, buf, CHUNK) < 0)
				return fail("tcp client: write: %s", strerror(errno));
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	last = sink_wait(total);
	if (last < 0)
		return -1;
	sh->value = window_rate(sh->t_start, sh->t_end);
	close(fd);
	free(buf);
	return 0;
}

static int round_relay(uint32_t order, double *gbps)
{
	struct back_cfg bc = { 0 };
	struct bulk_cfg c = { .order = order };
	pid_t b, s, a;
	int rc;

	round_reset();
	b = spawn(cpu_host, side_backend, &bc);
	s = spawn(cpu_sink, side_sink, NULL);
	a = spawn(cpu_guest, side_relay_front, &c);
	rc = reap(a, "frontend");
	STORE(&sh->stop, 1);
	rc |= reap(b, "backend");
	rc |= reap(s, "sink");
	*gbps = sh->value;
	if (!rc && cfg.verbose)
		fprintf(stderr, "  order %u: %.2f GB/s (%.2f GB); frontend %" PRIu64 " sleeps, "
			"%" PRIu64 " notifies (%" PRIu64 " suppressed); backend %" PRIu64
			" notifies (%" PRIu64 " suppressed)\n", order, *gbps, sh->tx_bytes / 1e9,
			sh->fe_sleeps, sh->fe_notifies, sh->fe_suppressed, sh->peer_notifies,
			sh->peer_suppressed);
	return rc ? -1 : 0;
}

static int round_tcp(double *gbps)
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_sink, side_sink, NULL, "sink",
			     side_tcp_client, NULL, "tcp client");
	*gbps = sh->value;
	return rc ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* S1: 1,000 connections                                                  */

static uint32_t s_order(void)
{
	return cfg.order < 0 ? UINT32_MAX : (uint32_t)cfg.order;
}

/*
 * Sends on socks[0..n) round robin, non-blocking, for dur_s1 seconds;
 * waits for POLLOUT when a whole pass moved nothing. Returns GB/s as
 * counted by the sink (so ring and socket buffers are not counted as
 * delivered).
 */
static double s1_phase(pvcalls_front *fe, const int *socks, int n, const uint8_t *buf,
		       struct pvcalls_pollfd *pf)
{
	uint64_t base = LOAD(&sh->rx_bytes), total = 0, polls = 0, timeouts = 0;
	int64_t t0 = now_ns(), end = t0 + (int64_t)(dur_s1 * 1e9), last;
	struct pvcalls_front_stats st0, st1;
	double cpu0 = cpu_self();

	pvcalls_front_get_stats(fe, &st0);
	while (now_ns() < end) {
		bool moved = false;

		for (int i = 0; i < n; i++) {
			ssize_t r = pvcalls_front_send(fe, socks[i], buf, CHUNK, MSG_DONTWAIT);

			if (r > 0) {
				total += (uint64_t)r;
				moved = true;
			} else if (r != -EAGAIN) {
				fail("S1: send: %s", pvcalls_strerror((int)r));
				return -1;
			}
		}
		if (!moved) {
			for (int i = 0; i < n; i++)
				pf[i] = (struct pvcalls_pollfd){ .sock = socks[i], .events = POLLOUT };
			polls++;
			if (pvcalls_front_poll(fe, pf, (unsigned)n, 10) == 0)
				timeouts++;
		}
	}
	end = now_ns();
	last = sink_wait(base + total);
	if (last < 0)
		return -1;
	pvcalls_front_get_stats(fe, &st1);
	if (cfg.verbose)
		fprintf(stderr, "    %d connection(s): %.2f GB/s, %.2f GB, frontend CPU %.0f%%; %" PRIu64
			" polls (%" PRIu64 " timed out), %" PRIu64 " sleeps, %" PRIu64 " notifies (%" PRIu64
			" suppressed)\n", n, window_rate(t0, end), total / 1e9,
			100 * (cpu_self() - cpu0) / secs(now_ns() - t0), polls, timeouts,
			st1.sleeps - st0.sleeps, st1.notifies_sent - st0.notifies_sent,
			st1.notifies_suppressed - st0.notifies_suppressed);
	return window_rate(t0, end);
}

static int side_s1_front(void *arg)
{
	struct pvcalls_shm_opts go = { .max_pages = 1u << 20, .max_grants = 1u << 20 };
	struct pvcalls_pollfd *pf;
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint8_t *buf = pattern_buf(CHUNK);
	int *socks, n = sh->s1_conns, rc = 0;
	pid_t pb = 0;

	(void)arg;
	socks = calloc((size_t)n, sizeof(*socks));
	pf = calloc((size_t)n, sizeof(*pf));
	if (!buf || !socks || !pf || guest_open(s_order(), 0, &go, &t, &fe) < 0)
		return -1;
	if (!wait_flag(&sh->ready_c, 20000)) {
		rc = fail("S1: no sink");
		goto out;
	}
	pb = sh->pid_b;
	loopback(&sa, sh->tcp_port);
	sh->s1_order = (int)(cfg.order < 0 ? PVCALLS_FRONT_DEFAULT_ORDER : (unsigned)cfg.order);
	if ((uint32_t)sh->s1_order > pvcalls_front_max_order(fe))
		sh->s1_order = (int)pvcalls_front_max_order(fe);
	sleep_us(100000);
	sh->s1_b_anon[0] = status_kb(pb, "RssAnon");
	sh->s1_b_shmem[0] = status_kb(pb, "RssShmem");
	sh->s1_a_anon[0] = status_kb(getpid(), "RssAnon");
	sh->s1_a_shmem[0] = status_kb(getpid(), "RssShmem");
	for (int i = 0; i < n; i++) {
		socks[i] = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		rc = socks[i] < 0 ? socks[i] :
				    pvcalls_front_connect(fe, socks[i], (struct sockaddr *)&sa, sizeof(sa));
		if (rc < 0) {
			fail("S1: connection %d: %s", i, pvcalls_strerror(rc));
			n = i + (socks[i] >= 0);
			goto out;
		}
		pvcalls_front_setopt(fe, socks[i], PVCALLS_OPT_NONBLOCK, 1);
	}
	/* Idle: let the backend settle, then look at its memory. */
	sleep_us(300000);
	sh->s1_b_anon[1] = status_kb(pb, "RssAnon");
	sh->s1_b_shmem[1] = status_kb(pb, "RssShmem");
	sh->s1_a_anon[1] = status_kb(getpid(), "RssAnon");
	sh->s1_a_shmem[1] = status_kb(getpid(), "RssShmem");
	for (int r = 0; r < sh->s1_rounds; r++) {
		fprintf(stderr, "  S1 round %d/%d ...\n", r + 1, sh->s1_rounds);
		for (int k = 0; k < 2; k++) {
			bool all = (k == 0) == (r & 1);
			double v = s1_phase(fe, socks, all ? n : 1, buf, pf);

			if (v < 0) {
				rc = -1;
				goto out;
			}
			if (all)
				sh->s1_all[r] = v;
			else
				sh->s1_one[r] = v;
		}
	}
out:
	for (int i = 0; i < n; i++)
		if (socks[i] >= 0)
			pvcalls_front_release(fe, socks[i]);
	guest_close(t, fe);
	free(socks);
	free(pf);
	free(buf);
	return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* S2: connection set-up                                                  */

static int free_port(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	loopback(&sa, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	*port = ntohs(sa.sin_port);
	return 0;
}

/*
 * One connection's life through the protocol, all from the guest:
 * SOCKET + CONNECT (the backend connects to a listener the guest itself
 * owns through BIND/LISTEN), ACCEPT, then RELEASE of both ends.
 */
static int side_setup_front(void *arg)
{
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	int64_t end = 0;
	int l = -1, rc = -1;

	(void)arg;
	if (guest_open(s_order(), 0, NULL, &t, &fe) < 0)
		return -1;
	for (int tries = 0; tries < 10 && rc < 0; tries++) {
		uint16_t port;

		if (l >= 0)
			pvcalls_front_release(fe, l);
		l = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		if (l < 0 || free_port(&port) < 0)
			break;
		loopback(&sa, port);
		rc = pvcalls_front_bind(fe, l, (struct sockaddr *)&sa, sizeof(sa));
		if (rc == 0)
			rc = pvcalls_front_listen(fe, l, 128);
	}
	if (rc < 0) {
		fail("S2: listener: %s", pvcalls_strerror(rc));
		goto out;
	}
	for (int warm = 0;; warm++) {
		int64_t t0 = now_ns(), t1, ts[5];
		int c, a;

		if (warm == 20)
			end = t0 + (int64_t)(dur_conn * 1e9);
		c = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		ts[0] = now_ns();
		rc = c < 0 ? c : pvcalls_front_connect(fe, c, (struct sockaddr *)&sa, sizeof(sa));
		ts[1] = now_ns();
		a = rc < 0 ? rc : pvcalls_front_accept(fe, l, 0);
		ts[2] = now_ns();
		if (a < 0) {
			rc = a;
			fail("S2: connect/accept: %s", pvcalls_strerror(rc));
			goto out;
		}
		pvcalls_front_release(fe, a);
		ts[3] = now_ns();
		pvcalls_front_release(fe, c);
		t1 = ts[4] = now_ns();
		if (warm >= 20) {
			lat_add((double)(t1 - t0) / 1e3);
			if (sh->nstep < S2_STEP_MAX) {
				for (int k = 0; k < 5; k++)
					sh->step[sh->nstep][k] =
						(float)((ts[k] - (k ? ts[k - 1] : t0)) / 1e3);
				sh->nstep++;
			}
			if (t1 >= end)
				break;
		}
	}
	rc = 0;
out:
	if (l >= 0)
		pvcalls_front_release(fe, l);
	front_stats(fe);
	guest_close(t, fe);
	return rc < 0 ? -1 : 0;
}

/* The same life on TCP loopback, from one thread on the guest's CPU. */
static int side_setup_tcp(void *arg)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int64_t end = 0;
	int one = 1, lfd;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback(&sa, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return fail("S2 tcp: listen: %s", strerror(errno));
	for (int warm = 0;; warm++) {
		int64_t t0 = now_ns(), t1;
		int c, a;

		if (warm == 20)
			end = t0 + (int64_t)(dur_conn * 1e9);
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return fail("S2 tcp: connect: %s", strerror(errno));
		a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (a < 0)
			return fail("S2 tcp: accept: %s", strerror(errno));
		close(a);
		close(c);
		t1 = now_ns();
		if (warm >= 20) {
			lat_add((double)(t1 - t0) / 1e3);
			if (t1 >= end)
				break;
		}
	}
	close(lfd);
	return 0;
}

static int round_setup_pvcalls(double *rate)
{
	struct back_cfg bc = { 0 };
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_backend, &bc, "backend",
			     side_setup_front, NULL, "frontend");
	*rate = 1e6 / lat_median();
	if (!rc && cfg.verbose && sh->nstep) {
		static const char *const name[5] = { "SOCKET", "CONNECT", "ACCEPT", "RELEASE accepted",
						     "RELEASE connected" };
		static double v[S2_STEP_MAX];

		fprintf(stderr, "  order %u: %.0f/s; median step, us:",
			cfg.order < 0 ? PVCALLS_FRONT_DEFAULT_ORDER : (uint32_t)cfg.order, *rate);
		for (int k = 0; k < 5; k++) {
			uint32_t n = sh->nstep;

			for (uint32_t i = 0; i < n; i++)
				v[i] = sh->step[i][k];
			qsort(v, n, sizeof(v[0]), cmp_dbl);
			fprintf(stderr, "%s %s %.1f", k ? "," : "", name[k],
				n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
		}
		fprintf(stderr, "; frontend %.2f sleeps per cycle\n",
			(double)sh->fe_sleeps / (double)(sh->nstep + 20));
	}
	return rc ? -1 : 0;
}

static int round_setup_tcp(double *rate)
{
	pid_t a;

	round_reset();
	a = spawn(cpu_guest, side_setup_tcp, NULL);
	*rate = 0;
	if (reap(a, "tcp"))
		return -1;
	*rate = 1e6 / lat_median();
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Results                                                                */

enum dir { INFO, AT_LEAST, AT_MOST };

struct result {
	const char *id, *what, *unit, *baseline;
	enum dir dir;
	double target;
	double v[MAX_ROUNDS], b[MAX_ROUNDS];
	int n;
	bool error;
	char note[512];
	/* computed */
	double value, bvalue, ratio;
	double vmin, vmax, bmin, bmax;
	bool met;
};

#define MAX_RESULTS 64
static struct result results[MAX_RESULTS];
static int nresults;
static bool broken;

static struct result *result_new(const char *id, const char *what, const char *unit,
				 const char *baseline, enum dir dir, double target)
{
	struct result *r = &results[nresults++];

	*r = (struct result){ .id = id, .what = what, .unit = unit, .baseline = baseline,
			      .dir = dir, .target = target };
	return r;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void stats(const double *v, int n, double *med, double *mn, double *mx)
{
	double s[MAX_ROUNDS];

	if (n <= 0) {
		*med = *mn = *mx = NAN;
		return;
	}
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_dbl);
	*med = n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	*mn = s[0];
	*mx = s[n - 1];
}

static void result_finish(struct result *r)
{
	stats(r->v, r->n, &r->value, &r->vmin, &r->vmax);
	stats(r->b, r->n, &r->bvalue, &r->bmin, &r->bmax);
	r->ratio = r->bvalue > 0 ? r->value / r->bvalue : NAN;
	if (r->error || r->n == 0)
		r->met = false;
	else if (r->dir == AT_LEAST)
		r->met = r->ratio >= r->target;
	else if (r->dir == AT_MOST)
		r->met = r->ratio <= r->target;
	else
		r->met = true;
	if (r->error)
		broken = true;
}

static bool wanted(const char *id)
{
	const char *p = cfg.only;
	size_t l = strlen(id);

	if (!p)
		return true;
	while (*p) {
		size_t k = strcspn(p, ",");

		if (k == l && !strncasecmp(p, id, l))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

static void progress(const char *id, int r, int n, const char *what)
{
	fprintf(stderr, "%s round %d/%d %s...\n", id, r + 1, n, what);
}

/* Runs @n interleaved rounds of a case and its baseline. */
#define INTERLEAVE(res, CASE, BASE)                                                  \
	do {                                                                         \
		for (int r_ = 0; r_ < cfg.rounds && !(res)->error; r_++) {           \
			double cv_ = NAN, bv_ = NAN;                                 \
			int rc_ = 0;                                                 \
			progress((res)->id, r_, cfg.rounds, "");                     \
			for (int k_ = 0; k_ < 2 && !rc_; k_++) {                     \
				if ((k_ == 0) == !(r_ & 1))                          \
					rc_ = (CASE);                                \
				else if (!cfg.no_baseline)                           \
					rc_ = (BASE);                                \
			}                                                            \
			if (rc_) {                                                   \
				(res)->error = true;                                 \
				snprintf((res)->note, sizeof((res)->note), "%s",     \
					 sh->err);                                   \
				break;                                               \
			}                                                            \
			(res)->v[(res)->n] = cv_;                                    \
			(res)->b[(res)->n++] = bv_;                                  \
		}                                                                    \
		result_finish(res);                                                  \
	} while (0)

static void run_bulk(void)
{
	struct result *t1 = NULL, *t3 = NULL, *t2 = NULL;
	struct bulk_res cr, br;
	double c3[MAX_ROUNDS], b3[MAX_ROUNDS];

	if (wanted("T1") || wanted("T3")) {
		t1 = result_new("T1", "data ring bulk, order 9, pvcalls_front_send -> ring peer",
				"GB/s", "AF_UNIX stream, 64 KiB writes", AT_LEAST, 2.0);
		INTERLEAVE(t1, (cv_ = (round_bulk_ring(9, 0, &cr) ? NAN : cr.gbps),
				c3[r_] = cr.cpu_per_gb, isnan(cv_) ? -1 : 0),
			   (bv_ = (round_bulk_unix(&br) ? NAN : br.gbps),
			    b3[r_] = br.cpu_per_gb, isnan(bv_) ? -1 : 0));
		t3 = result_new("T3", "CPU seconds per GB (both sides), order 9", "s/GB",
				"AF_UNIX stream, 64 KiB writes", AT_MOST, 0.6);
		memcpy(t3->v, c3, sizeof(c3));
		memcpy(t3->b, b3, sizeof(b3));
		t3->n = t1->n;
		t3->error = t1->error;
		result_finish(t3);
	}
	if (wanted("T2")) {
		t2 = result_new("T2", "data ring bulk, order 4, default wait policy", "GB/s",
				"AF_UNIX stream, 64 KiB writes", AT_LEAST, 1.0);
		INTERLEAVE(t2, (cv_ = (round_bulk_ring(4, 0, &cr) ? NAN : cr.gbps),
				isnan(cv_) ? -1 : 0),
			   (bv_ = (round_bulk_unix(&br) ? NAN : br.gbps), isnan(bv_) ? -1 : 0));
	}
}

static void run_lat(void)
{
	if (wanted("L1")) {
		struct result *r = result_new("L1", "command round trip, blocking (no spin)", "us",
					      "64-byte AF_UNIX round trip", AT_MOST, 1.1);

		INTERLEAVE(r, round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, false, &cv_), round_pp_unix(&bv_));
	}
	if (wanted("L2")) {
		struct result *r = result_new("L2", "command round trip, polling (default spin)",
					      "us", "shared-atomic ping-pong", AT_MOST, 3.0);

		INTERLEAVE(r, round_lat_pvcalls(0, false, &cv_), round_pp_atomic(&bv_));
		r = result_new("L2ring", "the command ring alone (ring API, no work)", "us",
			       "shared-atomic ping-pong", INFO, 0);
		INTERLEAVE(r, round_cmdring(&cv_), round_pp_atomic(&bv_));
	}
	if (wanted("A1")) {
		/* Issue 5: what auditing costs a command round trip, measured
		 * as pvcallsd audits (format in the loop, queue, writer thread,
		 * a file), against the same round trip unaudited. */
		struct result *r = result_new("A1", "command round trip, blocking, audit log on",
					      "us", "the same, audit log off", INFO, 0);

		INTERLEAVE(r, round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, true, &cv_),
			   round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, false, &bv_));
		r = result_new("A2", "command round trip, polling, audit log on", "us",
			       "the same, audit log off", INFO, 0);
		INTERLEAVE(r, round_lat_pvcalls(0, true, &cv_), round_lat_pvcalls(0, false, &bv_));
	}
}

static void run_relay(void)
{
	if (wanted("R1")) {
		struct result *r = result_new("R1", "frontend -> backend -> TCP peer, order 9",
					      "GB/s", "direct TCP loopback", AT_LEAST, 1.2);

		INTERLEAVE(r, round_relay(9, &cv_), round_tcp(&bv_));
	}
	if (wanted("R2")) {
		struct result *r = result_new("R2", "frontend -> backend -> TCP peer, order 4",
					      "GB/s", "direct TCP loopback", AT_LEAST, 0.8);

		INTERLEAVE(r, round_relay(4, &cv_), round_tcp(&bv_));
	}
}

static void run_s1(void)
{
	struct result *r, *m;
	struct back_cfg bc = { .many = true };
	pid_t b, s, a;
	int rc;

	if (!wanted("S1"))
		return;
	r = result_new("S1", "1,000 connections sending at once, aggregate", "GB/s",
		       "one connection, same harness", AT_LEAST, 0.8);
	m = result_new("S1mem", "backend memory per idle connection", "KiB",
		       "its rings + 16 KiB", AT_MOST, 1.0);
	fprintf(stderr, "S1 setting up %d connections...\n", S1_CONNS);
	round_reset();
	sh->s1_conns = S1_CONNS;
	sh->s1_rounds = cfg.rounds;
	b = spawn(cpu_host, side_backend, &bc);
	s = spawn(cpu_sink, side_sink, NULL);
	a = spawn(cpu_guest, side_s1_front, NULL);
	rc = reap(a, "frontend");
	STORE(&sh->stop, 1);
	rc |= reap(b, "backend");
	rc |= reap(s, "sink");
	if (rc) {
		r->error = m->error = true;
		snprintf(r->note, sizeof(r->note), "%s", sh->err);
		snprintf(m->note, sizeof(m->note), "%s", sh->err);
	} else {
		double ring_kib = (double)((1u << sh->s1_order) + 1) * 4.0;
		double dba = (double)(sh->s1_b_anon[1] - sh->s1_b_anon[0]) / S1_CONNS;
		double dbs = (double)(sh->s1_b_shmem[1] - sh->s1_b_shmem[0]) / S1_CONNS;
		double daa = (double)(sh->s1_a_anon[1] - sh->s1_a_anon[0]) / S1_CONNS;
		double das = (double)(sh->s1_a_shmem[1] - sh->s1_a_shmem[0]) / S1_CONNS;

		for (int i = 0; i < cfg.rounds; i++) {
			r->v[i] = sh->s1_all[i];
			r->b[i] = sh->s1_one[i];
		}
		r->n = cfg.rounds;
		m->v[0] = dba + dbs;
		m->b[0] = ring_kib + 16;
		m->n = 1;
		snprintf(m->note, sizeof(m->note),
			 "order %d; backend RSS +%.1f KiB anon +%.1f KiB shared per connection; "
			 "frontend +%.1f KiB anon +%.1f KiB shared (the rings are its memory)",
			 sh->s1_order, dba, dbs, daa, das);
	}
	result_finish(r);
	result_finish(m);
}

static void run_s2(void)
{
	if (wanted("S2")) {
		struct result *r = result_new("S2", "connect+accept+release x2 through the protocol",
					      "conn/s", "TCP loopback connect/accept/close",
					      AT_LEAST, 1.0);

		INTERLEAVE(r, round_setup_pvcalls(&cv_), round_setup_tcp(&bv_));
	}
}

/*
 * --sweep: the same cases at every ring order, as information (no
 * target), for choosing PVCALLS_FRONT_DEFAULT_ORDER: bulk through the
 * ring and through the backend grow with the order, connection set-up
 * and memory per connection shrink.
 */
static void run_sweep(void)
{
	static const char *const tid[] = { "T@0", "T@1", "T@2", "T@3", "T@4",
					   "T@5", "T@6", "T@7", "T@8", "T@9" };
	static const char *const rid[] = { "R@0", "R@1", "R@2", "R@3", "R@4",
					   "R@5", "R@6", "R@7", "R@8", "R@9" };
	static const char *const sid[] = { "S2@0", "S2@1", "S2@2", "S2@3", "S2@4",
					   "S2@5", "S2@6", "S2@7", "S2@8", "S2@9" };
	int saved = cfg.order;

	if (!cfg.sweep)
		return;
	for (uint32_t o = 0; o <= 9 && nresults + 3 <= MAX_RESULTS; o++) {
		struct result *r;
		struct bulk_res cr, br;

		r = result_new(tid[o], "data ring bulk at this order", "GB/s", "AF_UNIX stream",
			       INFO, 0);
		INTERLEAVE(r, (cv_ = (round_bulk_ring(o, 0, &cr) ? NAN : cr.gbps),
			       isnan(cv_) ? -1 : 0),
			   (bv_ = (round_bulk_unix(&br) ? NAN : br.gbps), isnan(bv_) ? -1 : 0));
		r = result_new(rid[o], "through the backend to a TCP peer at this order", "GB/s",
			       "direct TCP loopback", INFO, 0);
		INTERLEAVE(r, round_relay(o, &cv_), round_tcp(&bv_));
		cfg.order = (int)o;
		r = result_new(sid[o], "connection set-up at this order", "conn/s",
			       "TCP loopback", INFO, 0);
		INTERLEAVE(r, round_setup_pvcalls(&cv_), round_setup_tcp(&bv_));
		cfg.order = saved;
	}
}

static void fmt_range(char *out, size_t len, double med, double mn, double mx, int n)
{
	if (isnan(med))
		snprintf(out, len, "-");
	else if (n > 1)
		snprintf(out, len, "%.3g [%.3g-%.3g]", med, mn, mx);
	else
		snprintf(out, len, "%.3g", med);
}

static void print_table(FILE *f)
{
	fprintf(f, "\n%-6s %-50s %-26s %-26s %-7s %-8s %s\n", "id", "what", "value [min-max]",
		"baseline [min-max]", "ratio", "target", "met");
	for (int i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		char v[64], b[64], tg[16];

		fmt_range(v, sizeof(v), r->value, r->vmin, r->vmax, r->n);
		fmt_range(b, sizeof(b), r->bvalue, r->bmin, r->bmax, r->n);
		if (r->dir == INFO)
			snprintf(tg, sizeof(tg), "-");
		else
			snprintf(tg, sizeof(tg), "%s %.1fx", r->dir == AT_LEAST ? ">=" : "<=",
				 r->target);
		fprintf(f, "%-6s %-50s %-19s %-6s %-26s %-7.2f %-8s %s\n", r->id, r->what, v,
			r->unit, b, r->ratio, tg,
			r->error ? "ERROR" : r->dir == INFO ? "-" : r->met ? "yes" : "no");
		fprintf(f, "%-6s   baseline: %s%s%s\n", "", r->baseline, r->note[0] ? "; " : "",
			r->note);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return fail("%s: %s", path, strerror(errno));
	for (int i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		char tg[16];

		if (r->dir == INFO)
			snprintf(tg, sizeof(tg), "none");
		else
			snprintf(tg, sizeof(tg), "%s%.1f", r->dir == AT_LEAST ? ">=" : "<=",
				 r->target);
		fputs("{\"id\":", f);
		json_str(f, r->id);
		fputs(",\"what\":", f);
		json_str(f, r->what);
		fputs(",\"value\":", f);
		json_num(f, r->value);
		fputs(",\"unit\":", f);
		json_str(f, r->unit);
		fputs(",\"baseline\":", f);
		json_str(f, r->baseline);
		fputs(",\"baseline_value\":", f);
		json_num(f, r->bvalue);
		fputs(",\"ratio\":", f);
		json_num(f, r->ratio);
		fputs(",\"target\":", f);
		json_str(f, tg);
		fprintf(f, ",\"met\":%s", r->dir == INFO ? "null" : r->met ? "true" : "false");
		fputs(",\"min\":", f);
		json_num(f, r->vmin);
		fputs(",\"max\":", f);
		json_num(f, r->vmax);
		fputs(",\"baseline_min\":", f);
		json_num(f, r->bmin);
		fputs(",\"baseline_max\":", f);
		json_num(f, r->bmax);
		fprintf(f, ",\"rounds\":%d,\"error\":%s,\"note\":", r->n,
			r->error ? "true" : "false");
		json_str(f, r->note);
		fputs("}\n", f);
	}
	return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcalls-bench [--quick] [--json FILE] [--rounds N] [--only IDS] [options]\n"
		"  --quick          short rounds (under 30 s in all), for CI\n"
		"  --json FILE      also write one JSON object per case (JSON Lines)\n"
		"  --rounds N       rounds per case and baseline (default 7, --quick 5)\n"
		"  --only IDS       comma-separated case ids: T1,T3,T2,L1,L2,A1,R1,R2,S1,S2\n"
		"                   (S1 also gives S1mem; T1 and T3 come from the same rounds;\n"
		"                   A1 also gives A2: the cost of pvcallsd's audit log)\n"
		"  --order N        ring order for S1 and S2 (default: the frontend's, %u)\n"
		"  --sweep          also T, R and S2 at every ring order 0-9 (information)\n"
		"  --verbose        per-round details on stderr\n"
		"tuning aids (figures then differ from the targets' definitions):\n"
		"  --no-baseline    run the cases only\n"
		"  --front-spin US  frontend spin_us where the cases use the default\n"
		"  --back-spin US   backend (and ring peer) spin_us likewise\n"
		"  --sink-cpu N     pin the TCP sink to CPU N (-1: unpinned; default: the\n"
		"                   host side's CPU)\n",
		PVCALLS_FRONT_DEFAULT_ORDER);
}

static void pick_cpus(void)
{
	cpu_set_t set;
	int found = 0;

	cpu_guest = cpu_host = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && found < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (found++ == 0)
			cpu_guest = i;
		else
			cpu_host = i;
	}
	if (found < 2)
		cpu_guest = cpu_host = -1; /* one CPU: nothing to pin apart */
	cpu_sink = cpu_host;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },  { "json", required_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' }, { "only", required_argument, NULL, 'o' },
		{ "order", required_argument, NULL, 'O' }, { "help", no_argument, NULL, 'h' },
		{ "no-baseline", no_argument, NULL, 'B' }, { "verbose", no_argument, NULL, 'v' },
		{ "sink-cpu", required_argument, NULL, 'S' }, { "sweep", no_argument, NULL, 'W' },
		{ "front-spin", required_argument, NULL, 'F' },
		{ "back-spin", required_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct rlimit rl;
	struct utsname un;
	int sink_cpu = -2;
	double load[3] = { 0 };
	int64_t t0 = now_ns();
	int c;

	while ((c = getopt_long(argc, argv, "qj:r:o:O:hBvS:F:K:W", lo, NULL)) != -1) {
		switch (c) {
		case 'v':
			cfg.verbose = true;
			break;
		case 'W':
			cfg.sweep = true;
			break;
		case 'S':
			sink_cpu = atoi(optarg);
			break;
		case 'F':
			tune_front_spin = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'K':
			tune_back_spin = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'B':
			cfg.no_baseline = true;
			break;
		case 'q':
			cfg.quick = true;
			break;
		case 'j':
			cfg.json = optarg;
			break;
		case 'r':
			cfg.rounds = atoi(optarg);
			if (cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS) {
				fprintf(stderr, "pvcalls-bench: --rounds 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 'O':
			cfg.order = atoi(optarg);
			if (cfg.order < 0 || cfg.order > 9) {
				fprintf(stderr, "pvcalls-bench: --order 0..9\n");
				return 2;
			}
			break;
		case 'V':
			return pvcalls_tool_version("pvcalls-bench");
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.rounds)
		cfg.rounds = cfg.quick ? 5 : 7;
	if (cfg.quick) {
		dur_bulk = 0.08;
		dur_lat = 0.05;
		dur_conn = 0.05;
		dur_s1 = 0.08;
	} else {
		dur_bulk = 0.5;
		dur_lat = 0.3;
		dur_conn = 0.3;
		dur_s1 = 0.4;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cmd_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || cmd_page == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* S1 needs ~2,000 descriptors on the host side. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	pick_cpus();
	if (sink_cpu != -2)
		cpu_sink = sink_cpu;
	uname(&un);
	getloadavg(load, 3);
	fprintf(stderr, "pvcalls-bench %s: %s %s, %ld CPUs online, guest side on CPU %d, host side "
		"on CPU %d, load %.2f %.2f %.2f, %d rounds%s\n",
		pvcalls_version(), un.sysname, un.release, sysconf(_SC_NPROCESSORS_ONLN), cpu_guest,
		cpu_host, load[0], load[1], load[2], cfg.rounds, cfg.quick ? ", quick" : "");

	run_bulk();
	run_lat();
	run_relay();
	run_s1();
	run_s2();
	run_sweep();

	print_table(stdout);
	getloadavg(load, 3);
	printf("\n%d cases in %.1f s; load at the end %.2f %.2f %.2f\n", nresults,
	       secs(now_ns() - t0), load[0], load[1], load[2]);
	if (cfg.json && write_json(cfg.json) < 0)
		broken = true;
	return broken ? 1 : 0;
}
