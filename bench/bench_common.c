/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench: what every case shares (bench_common.h). Every round
 * forks fresh processes: the "guest" side pinned to the first CPU, the
 * "host" side to the second, and where a TCP peer is needed a sink
 * pinned with the host side. Within a round, rates are the median of
 * 20 ms windows of the receiver's progress and latencies the median of
 * the operations (window_rate(), lat_median()), for case and baseline
 * alike.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>
#include <pvcalls/wire.h>

#include "bench_common.h"
#include "daemon.h" /* pvcallsd's audit queue (A1, A2) */

struct bench_cfg cfg = { .rounds = 0, .order = -1, .sweep_orders = 0x3ff };
double dur_bulk, dur_lat, dur_conn, dur_s1;
int cpu_guest, cpu_host, cpu_sink;
uint32_t tune_front_spin, tune_back_spin;
int unix_fds[2];

/* ---------------------------------------------------------------------- */
/* State shared by the processes of one round                             */

struct shared *sh;
char hub_path[108];
static unsigned hub_seq;

int shared_map(void)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return sh == MAP_FAILED ? -1 : 0;
}

int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* read()- and write()-family calls of this process so far (/proc/self/io). */
void io_calls(uint64_t *r, uint64_t *w)
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

void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Records the first failure of the round (any process) and prints it. */
int fail(const char *fmt, ...)
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

bool wait_flag(int *flag, int timeout_ms)
{
	int64_t end = pvc_now_ns() + (int64_t)timeout_ms * 1000000;

	while (!LOAD(flag)) {
		if (pvc_now_ns() > end)
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

pid_t spawn(int cpu, int (*fn)(void *), void *arg)
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

int reap(pid_t pid, const char *who)
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
void round_reset(void)
{
	memset(sh, 0, sizeof(*sh));
	snprintf(hub_path, sizeof(hub_path), "@pvcalls-bench-%d-%u", (int)getpid(), hub_seq++);
}

/*
 * One round of two processes: the host side (a server, a ring peer, the
 * backend) first, then the guest side on cpu_guest; once the guest is
 * done, the host side is told to stop. 0, or nonzero if either failed.
 */
int host_then_guest(int host_cpu, int (*host)(void *), void *host_arg, const char *host_name,
		    int (*guest)(void *), void *guest_arg, const char *guest_name)
{
	pid_t h = spawn(host_cpu, host, host_arg);
	pid_t g = spawn(cpu_guest, guest, guest_arg);
	int rc = reap(g, guest_name);

	STORE(&sh->stop, 1);
	return rc | reap(h, host_name);
}

/*
 * One round of three processes: the backend on cpu_host, the TCP sink on
 * cpu_sink, then the frontend @guest on cpu_guest; once the frontend is
 * done, the others are told to stop. 0, or -1 if any failed.
 */
int backend_sink_front(struct back_cfg *bc, int (*guest)(void *), void *guest_arg)
{
	pid_t b = spawn(cpu_host, side_backend, bc);
	pid_t s = spawn(cpu_sink, side_sink, NULL);
	pid_t a = spawn(cpu_guest, guest, guest_arg);
	int rc = reap(a, "frontend");

	STORE(&sh->stop, 1);
	rc |= reap(b, "backend");
	rc |= reap(s, "sink");
	return rc ? -1 : 0;
}

/*
 * One round of two processes joined by an AF_UNIX stream (unix_fds):
 * @host on cpu_host, then @guest on cpu_guest. Each closes the end it
 * does not use, and so does the parent, so that either sees the other
 * go. 0, or -1 if either failed.
 */
int unix_pair(int (*host)(void *), const char *host_name, int (*guest)(void *),
	      const char *guest_name)
{
	pid_t b, a;
	int rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_fds) < 0)
		return fail("socketpair: %s", strerror(errno));
	b = spawn(cpu_host, host, NULL);
	a = spawn(cpu_guest, guest, NULL);
	close(unix_fds[0]);
	close(unix_fds[1]);
	rc = reap(a, guest_name);
	rc |= reap(b, host_name);
	return rc ? -1 : 0;
}

/* A line of /proc/<pid>/status, in kB; -1 if absent. */
long status_kb(pid_t pid, const char *key)
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

void loopback(struct sockaddr_in *sa, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/*
 * A TCP listener on loopback, on a port of the kernel's choice (in @sa
 * on return): socket(@flags), SO_REUSEADDR, listen(@backlog). The
 * socket, or -1 with errno set.
 */
int tcp_listen(int flags, int backlog, struct sockaddr_in *sa)
{
	socklen_t sl = sizeof(*sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | flags, 0), err;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback(sa, 0);
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &sl) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* All @len bytes through read() or write(), again after EINTR; -1 on an
 * error or end of file. (@p is only read when @out.) */
static int xfer_all(int fd, uint8_t *p, size_t len, bool out)
{
	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	return xfer_all(fd, (uint8_t *)(uintptr_t)buf, len, true);
}

int read_all(int fd, void *buf, size_t len)
{
	return xfer_all(fd, buf, len, false);
}

/*
 * The receiver's progress: @total bytes so far. Keeps at most one sample
 * per millisecond, enough to cut the round into windows afterwards.
 */
void note_progress(uint64_t total)
{
	int64_t t = pvc_now_ns();
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
	return (double)sh->samp[lo].bytes + (double)(sh->samp[hi].bytes - sh->samp[lo].bytes) *
						    (double)(t - sh->samp[lo].t) /
						    (double)(sh->samp[hi].t - sh->samp[lo].t);
}

/*
 * The receiving rate in GB/s over [t0, t1): the median of fixed windows
 * (20 ms, 10 ms with --quick). On this shared machine another tenant's
 * process often takes one of our two CPUs for a few ms; a window that
 * fell into such a gap says nothing about PV Calls or AF_UNIX, and the
 * median of the windows is what either achieves while it runs. Case and
 * baseline are measured the same way.
 */
double window_rate(int64_t t0, int64_t t1)
{
	int64_t w = cfg.quick ? 10000000 : 20000000;
	double r[512];
	int n = 0;

	for (int64_t a = t0; a + w <= t1 && n < 512; a += w)
		r[n++] = (bytes_at(a + w) - bytes_at(a)) / secs(w) / 1e9;
	if (n < 3)
		return (bytes_at(t1) - bytes_at(t0)) / secs(t1 - t0) / 1e9;
	return median(r, (size_t)n);
}

/* Latency cases: one timing in us (of one operation, or a batch's mean). */
void lat_add(double us)
{
	if (sh->nlat < LAT_MAX)
		sh->lat[sh->nlat++] = us;
}

/*
 * The median of the timings of a round: the round trip as it is while
 * both ends run, not counting the few that another tenant's process
 * delayed by a scheduler slice (for case and baseline alike).
 */
double lat_median(void)
{
	return median(sh->lat, sh->nlat);
}

uint8_t *pattern_buf(size_t len)
{
	uint8_t *b = malloc(len);

	if (b)
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(i * 2654435761u >> 13);
	return b;
}

/* ---------------------------------------------------------------------- */
/* The host side: a shm hub running the real backend                      */

int side_backend(void *arg)
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
int guest_open(uint32_t order, uint32_t spin_us, const struct pvcalls_shm_opts *go,
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

void front_stats(pvcalls_front *fe)
{
	struct pvcalls_front_stats st;

	pvcalls_front_get_stats(fe, &st);
	sh->fe_sleeps = st.sleeps;
	sh->fe_notifies = st.notifies_sent;
	sh->fe_suppressed = st.notifies_suppressed;
}

void guest_close(pvcalls_transport *t, pvcalls_front *fe)
{
	pvcalls_front_close(fe);
	pvcalls_transport_close(t);
}

/* ---------------------------------------------------------------------- */
/* The TCP sink: accepts any number of connections, reads everything       */

int side_sink(void *arg)
{
	struct sockaddr_in sa;
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	uint8_t *buf = malloc(CHUNK);
	uint64_t total = 0;
	int lfd, ep;

	(void)arg;
	lfd = tcp_listen(SOCK_NONBLOCK | SOCK_CLOEXEC, 4096, &sa);
	if (!buf || lfd < 0)
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

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
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

/* Waits for the sink of this round; its address in @sa. 0, or -1. */
int sink_addr(const char *who, struct sockaddr_in *sa)
{
	if (!wait_flag(&sh->ready_c, 20000))
		return fail("%s: no sink", who);
	loopback(sa, sh->tcp_port);
	return 0;
}

/* Waits until the sink counted @total bytes; returns the last arrival. */
int64_t sink_wait(uint64_t total)
{
	int64_t end = pvc_now_ns() + 20 * 1000000000ll;

	while (LOAD(&sh->rx_bytes) < total) {
		if (pvc_now_ns() > end) {
			fail("sink got %" PRIu64 " of %" PRIu64 " bytes", LOAD(&sh->rx_bytes),
			     total);
			return -1;
		}
		sleep_us(50);
	}
	return __atomic_load_n(&sh->t_last, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------- */
/* The senders of the bulk cases (T, R) and of their baselines            */

/* One CHUNK-byte send of @buf to @dst; 0, or -1 (after fail()). */
typedef int send_chunk_fn(void *dst, const uint8_t *buf);

/*
 * CHUNK-byte sends through @send, 16 between looks at the clock, for
 * dur_bulk seconds: from sh->t_start to sh->t_end, sh->tx_bytes in all.
 * 0, or -1.
 */
static int send_for(send_chunk_fn *send, void *dst, const uint8_t *buf)
{
	uint64_t total = 0;
	int64_t end;

	sh->t_start = pvc_now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			if (send(dst, buf) < 0)
				return -1;
			total += CHUNK;
		}
	} while (pvc_now_ns() < end);
	sh->t_end = pvc_now_ns();
	sh->tx_bytes = total;
	return 0;
}

struct front_dst {
	pvcalls_front *fe;
	int s;
};

static int front_send_chunk(void *dst, const uint8_t *buf)
{
	struct front_dst *d = dst;
	ssize_t n = pvcalls_front_send(d->fe, d->s, buf, CHUNK, 0);

	return n == CHUNK ? 0 : fail("front: send: %zd", n);
}

struct fd_dst {
	int fd;
	const char *who;
};

static int fd_write_chunk(void *dst, const uint8_t *buf)
{
	struct fd_dst *d = dst;

	return write_all(d->fd, buf, CHUNK) < 0 ? fail("%s: %s", d->who, strerror(errno)) : 0;
}

int fd_write_for(int fd, const uint8_t *buf, const char *who)
{
	struct fd_dst d = { fd, who };

	return send_for(fd_write_chunk, &d, buf);
}

/*
 * The frontend of the bulk cases: one connection, CHUNK-byte sends for
 * dur_bulk seconds, then RELEASE. To the ring peer (T1-T3) any address
 * does and the peer counts what it received; through the backend (R1,
 * R2, c->to_sink) it connects to the sink, waits until the sink has
 * everything and takes the sink's rate (sh->value).
 */
int side_front_stream(void *arg)
{
	const struct bulk_cfg *c = arg;
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint8_t *buf = pattern_buf(CHUNK);
	double cpu0;
	int s, rc;

	if (!buf || guest_open(c->order, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	if (!c->to_sink)
		loopback(&sa, 9);
	else if ((rc = sink_addr("front", &sa)) < 0)
		goto out;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	rc = s < 0 ? s : pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		fail("front: socket/connect: %s", pvcalls_strerror(rc));
		goto out;
	}
	cpu0 = cpu_self();
	rc = send_for(front_send_chunk, &(struct front_dst){ fe, s }, buf);
	if (rc < 0)
		goto out;
	sh->cpu_a = cpu_self() - cpu0;
	if (c->to_sink) {
		rc = sink_wait(sh->tx_bytes) < 0 ? -1 : 0;
		if (rc < 0)
			goto out;
		sh->value = window_rate(sh->t_start, sh->t_end);
	}
	front_stats(fe);
	rc = pvcalls_front_release(fe, s);
	if (rc < 0)
		fail("front: release: %s", pvcalls_strerror(rc));
out:
	guest_close(t, fe);
	free(buf);
	return rc < 0 ? -1 : 0;
}
