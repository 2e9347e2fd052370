/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: a scripted session (negotiate, socket, connect,
 * send/recv, bind/listen/accept, release, close) over a shm pair in which
 * one driver's transport fails its Nth fallible operation (fault.h), for
 * every N the session reaches. Either the frontend or the backend is
 * wrapped, the other side runs on the plain transport.
 *
 * For each N: every call either succeeds with correct data or fails (the
 * session then skips what depends on it), nothing crashes, every wait is
 * bounded, and after teardown the process holds as many descriptors and
 * shm memfd mappings as before, and (checked once, at the end; not under
 * ThreadSanitizer, whose runtime maps as it goes) hardly more mappings in
 * all than after the warm-up run. The ASan build adds LeakSanitizer for
 * the heap, at exit. The sweep stops at a time
 * budget (FRONT_BUDGET_S, BACK_BUDGET_S) so CI stays bounded; it reports
 * how far it got.
 */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/common.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

#include "fault.h"
#ifdef FAULT_ALLOC
#include "alloc.h"
#include "transport/shm/shm_priv.h"
#define ALLOC_MODE 1
#else
#define ALLOC_MODE 0
/* Not linked in this binary (no allocation injector): never called. */
static void alloc_arm(uint64_t n, uint64_t *s, uint64_t max)
{
	(void)n;
	(void)s;
	(void)max;
}
static void alloc_disarm(void)
{
}
static uint64_t alloc_count(void)
{
	return 0;
}
static const char *alloc_failed_op(void)
{
	return NULL;
}
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW 3
#endif
#endif
#ifndef SLOW
#define SLOW 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifndef TSAN
#define TSAN 0
#endif

/* Wall-clock budgets of the sweeps, seconds (sanitizers too). Plain
 * builds need a few seconds each; the slowest faults are the steps that
 * time out (STEP_MS). */
#define FRONT_BUDGET_S 25
#define BACK_BUDGET_S 25
/* Allocation faults (check_fault_alloc): one sweep, both drivers at once. */
#define ALLOC_BUDGET_S 30
/* Timeouts that bound every blocking step of one session, ms. */
#define STEP_MS (1500 * SLOW)
/* One session may take this long at most (a few steps may time out). */
#define SESSION_MAX_MS (12000 * SLOW)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

/* Mappings of the process; with @ours, only of the shm transport's memfds. */
static int count_maps(bool ours)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !ours || strstr(line, "/memfd:pvcalls-shm-") != NULL;
	fclose(f);
	return n;
}

/* ------------------------------------------------------------------------
 * Plain TCP on 127.0.0.1.
 */

static int tcp_listen(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port nobody listens on now (bound once and closed). */
static uint16_t free_port(void)
{
	uint16_t p;
	int fd = tcp_listen(&p);

	close(fd);
	return p;
}

static bool wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r > 0;
}

/* accept() within STEP_MS, else -1. */
static int tcp_accept(int lfd)
{
	if (!wait_fd(lfd, POLLIN, STEP_MS))
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Reads exactly @len bytes within STEP_MS; true on success. */
static bool tcp_read(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, STEP_MS))
			return false;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

static int tcp_connect_nb(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------------
 * One session.
 */

struct back_thread {
	pvcalls_back *b;
	pthread_t th;
	volatile int stop;
};

static void *back_main(void *arg)
{
	struct back_thread *bt = arg;

	/* Not pvcalls_back_run(): it looks at stop every 100 ms, and a sweep
	 * stops a backend a few hundred times. */
	while (!__atomic_load_n(&bt->stop, __ATOMIC_SEQ_CST))
		if (pvcalls_back_process(bt->b, 5) < 0)
			break;
	return NULL;
}

enum side { FRONT, BACK };

struct outcome {
	uint64_t ops;       /* fallible operations the wrapped side made */
	const char *failed; /* the one that failed, if any */
	int steps_ok;       /* session steps that succeeded */
	bool data_bad;      /* a step succeeded with wrong data */
	const char *bad_step;
};

/* Sends @len bytes of @buf on frontend socket @s; true if all went. */
static bool fsend(pvcalls_front *fe, int s, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = pvcalls_front_send(fe, s, buf + off, len - off, 0);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static bool frecv(pvcalls_front *fe, int s, char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = pvcalls_front_recv(fe, s, buf + off, len - off, 0);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static void timeouts(pvcalls_front *fe, int s)
{
	pvcalls_front_setopt(fe, s, PVCALLS_OPT_SNDTIMEO_MS, STEP_MS);
	pvcalls_front_setopt(fe, s, PVCALLS_OPT_RCVTIMEO_MS, STEP_MS);
}

/* Exchanges "ping"/"pong" between frontend socket @s and TCP peer @peer. */
static bool exchange(pvcalls_front *fe, int s, int peer, struct outcome *o, const char *what)
{
	char buf[8];

	if (!fsend(fe, s, "ping", 4) || !tcp_read(peer, buf, 4))
		return false;
	if (memcmp(buf, "ping", 4)) {
		o->data_bad = true;
		o->bad_step = what;
		return false;
	}
	if (write(peer, "pong", 4) != 4 || !frecv(fe, s, buf, 4))
		return false;
	if (memcmp(buf, "pong", 4)) {
		o->data_bad = true;
		o->bad_step = what;
		return false;
	}
	return true;
}

/* Operations recorded per session, at most. */
#define MAX_OPS 4096

static void session(enum side side, uint64_t fail_at, uint16_t port, int lfd, struct outcome *o,
		    uint64_t *sites)
{
	struct pvcalls_front_opts fo = { .connect_timeout_ms = STEP_MS,
					 .ring_order = PVCALLS_FRONT_ORDER_0 };
	pvcalls_transport *hub, *guest, *ft, *bt_t;
	struct back_thread bt = { 0 };
	struct fault *f = NULL;
	pvcalls_front *fe = NULL;
	int s = -1, peer = -1, l = -1, c = -1, a = -1;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	memset(o, 0, sizeof(*o));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &hub, &guest), 0);
	if (side == FRONT) {
		ft = fault_wrap(guest, ALLOC_MODE ? 0 : fail_at, &f);
		bt_t = hub;
		ck_assert_ptr_nonnull(ft);
	} else {
		bt_t = fault_wrap(hub, ALLOC_MODE ? 0 : fail_at, &f);
		ft = guest;
		ck_assert_ptr_nonnull(bt_t);
	}
	/* Allocation faults: the library's Nth allocation from here on, on
	 * any thread (both drivers and the hub), teardown included. */
	if (ALLOC_MODE)
		alloc_arm(fail_at, sites, MAX_OPS);
	else if (sites)
		fault_record_sites(f, sites, MAX_OPS);
	if (pvcalls_back_new(bt_t, NULL, &bt.b) != 0)
		goto out;
	o->steps_ok++;
	ck_assert_int_eq(pthread_create(&bt.th, NULL, back_main, &bt), 0);
	if (pvcalls_front_open(ft, &fo, &fe) != 0)
		goto stop;
	o->steps_ok++;

	/* active socket: socket, connect, send/recv */
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	if (s >= 0) {
		o->steps_ok++;
		timeouts(fe, s);
		sa.sin_port = htons(port);
		if (pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			o->steps_ok++;
			peer = tcp_accept(lfd);
			if (peer >= 0 && exchange(fe, s, peer, o, "connect"))
				o->steps_ok++;
		}
	}
	/* passive socket: bind, listen, accept, send/recv */
	l = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	if (l >= 0) {
		timeouts(fe, l);
		sa.sin_port = htons(free_port());
		if (pvcalls_front_bind(fe, l, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    pvcalls_front_listen(fe, l, 4) == 0) {
			o->steps_ok++;
			c = tcp_connect_nb(ntohs(sa.sin_port));
			a = c >= 0 ? pvcalls_front_accept(fe, l, 0) : -1;
			if (a >= 0) {
				o->steps_ok++;
				timeouts(fe, a);
				if (wait_fd(c, POLLOUT, STEP_MS) && exchange(fe, a, c, o, "accept"))
					o->steps_ok++;
			}
		}
	}
	/* release everything (errors are fine: the handles go regardless) */
	if (a >= 0)
		pvcalls_front_release(fe, a);
	if (l >= 0)
		pvcalls_front_release(fe, l);
	if (s >= 0)
		pvcalls_front_release(fe, s);
	pvcalls_front_close(fe);
stop:
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
out:
	if (peer >= 0)
		close(peer);
	if (c >= 0)
		close(c);
	o->ops = fault_count(f);
	o->failed = fault_failed_op(f);
	pvcalls_transport_close(ft);
	pvcalls_transport_close(bt_t);
	if (ALLOC_MODE) {
		alloc_disarm();
		o->ops = alloc_count();
		o->failed = alloc_failed_op();
	}
}

/* A listener's queue may hold connections a failed session left behind. */
static void drain_listener(int lfd)
{
	int fd;

	while (wait_fd(lfd, POLLIN, 0) && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

static void log_stderr(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%.3f [%d] %s: %s\n", now_s(), (int)level, msgid, msg);
}

static void sweep(enum side side)
{
	const char *name = ALLOC_MODE ? "alloc" : side == FRONT ? "frontend" : "backend";
	static uint64_t sites[MAX_OPS], run_sites[MAX_OPS], covered[MAX_OPS];
	unsigned ncovered = 0, nsites = 0;
	bool full = getenv("FAULT_FULL") != NULL;
	struct outcome o;
	uint16_t port;
	int lfd = tcp_listen(&port), fds0, maps0, ours0, ran = 0, failed_sessions = 0;
	uint64_t total, n;
	double t0 = now_s(), t;
	double budget = ALLOC_MODE      ? ALLOC_BUDGET_S
			: side == FRONT ? FRONT_BUDGET_S
					: BACK_BUDGET_S;

	/* FAULT_BUDGET=seconds overrides the budget. */
	if (getenv("FAULT_BUDGET"))
		budget = strtod(getenv("FAULT_BUDGET"), NULL);
	/* FAULT_SIDE=frontend|backend: sweep that driver only. */
	if (getenv("FAULT_SIDE") && strcmp(getenv("FAULT_SIDE"), name)) {
		close(lfd);
		return;
	}
	/* Warm-up: the clean session, which also counts the operations. */
	session(side, 0, port, lfd, &o, sites);
	ck_assert_msg(o.steps_ok == 8 && !o.data_bad, "%s: clean session reached %d of 8 steps",
		      name, o.steps_ok);
	ck_assert_ptr_null(o.failed);
	total = o.ops;
	ck_assert_uint_gt(total, 10);
	ck_assert_uint_le(total, MAX_OPS);
	for (n = 0; n < total; n++) {
		unsigned i;

		for (i = 0; i < n && sites[i] != sites[n]; i++)
			;
		nsites += i == n;
	}
	drain_listener(lfd);
	fds0 = count_fds();
	maps0 = count_maps(false);
	ours0 = count_maps(true);
	/* FAULT_ONLY=N: that fault alone (with FAULT_LOG=1: the library's log). */
	if (getenv("FAULT_ONLY")) {
		n = strtoull(getenv("FAULT_ONLY"), NULL, 0);
		if (getenv("FAULT_LOG"))
			pvcalls_set_logger(log_stderr, NULL, PVCALLS_LOG_DEBUG);
		session(side, n, port, lfd, &o, NULL);
		fprintf(stderr, "%s: fault %llu (%s): %d steps, %.1f s\n", name,
			(unsigned long long)n, o.failed ? o.failed : "none", o.steps_ok,
			now_s() - t0);
		close(lfd);
		return;
	}
	/*
	 * Every call site once (FAULT_FULL=1: every N): N is skipped when the
	 * clean run's operation N came from a site a faulted run already
	 * failed. Numbering can shift between runs (timing), so what counts
	 * as covered is the site each faulted run really failed. Past the
	 * last operation by a few: those runs inject nothing.
	 */
	for (n = 1; n <= total + 2 && n <= MAX_OPS; n++) {
		double s0 = now_s();
		unsigned i;
		int fds;

		if (!full && n <= total) {
			for (i = 0; i < ncovered && covered[i] != sites[n - 1]; i++)
				;
			if (i < ncovered)
				continue;
		}
		memset(run_sites, 0, sizeof(run_sites));
		session(side, n, port, lfd, &o, run_sites);
		if (o.failed && n <= MAX_OPS) {
			for (i = 0; i < ncovered && covered[i] != run_sites[n - 1]; i++)
				;
			if (i == ncovered)
				covered[ncovered++] = run_sites[n - 1];
		}
		drain_listener(lfd);
		ran++;
		t = now_s();
		ck_assert_msg(!o.data_bad, "%s: fault %llu (%s): wrong data after %s", name,
			      (unsigned long long)n, o.failed ? o.failed : "none", o.bad_step);
		ck_assert_msg((t - s0) * 1000 < SESSION_MAX_MS, "%s: fault %llu (%s): took %.1f s",
			      name, (unsigned long long)n, o.failed ? o.failed : "none", t - s0);
		fds = count_fds();
		ck_assert_msg(fds == fds0, "%s: fault %llu (%s): %d fds before, %d after", name,
			      (unsigned long long)n, o.failed ? o.failed : "none", fds0, fds);
		fds = count_maps(true);
		ck_assert_msg(fds == ours0, "%s: fault %llu (%s): %d shm mappings before, %d after",
			      name, (unsigned long long)n, o.failed ? o.failed : "none", ours0,
			      fds);
		failed_sessions += o.steps_ok < 8;
		if (getenv("FAULT_VERBOSE"))
			fprintf(stderr, "%s: fault %llu (%s): %d steps, %.2f s\n", name,
				(unsigned long long)n, o.failed ? o.failed : "none", o.steps_ok,
				t - s0);
		/* Past the clean run's count, a run that did not reach N: done. */
		if (n > total && !o.failed)
			break;
		if (t - t0 > budget) {
			fprintf(stderr, "%s: time budget reached after %llu of %llu faults\n", name,
				(unsigned long long)n, (unsigned long long)total);
			break;
		}
	}
	/* Thread stacks and allocator arenas are cached: allow a little.
	 * ThreadSanitizer's runtime maps as it goes: only ours count there. */
	if (!TSAN)
		ck_assert_msg(count_maps(false) <= maps0 + 16,
			      "%s: %d mappings after the sweep, %d before", name, count_maps(false),
			      maps0);
	fprintf(stderr,
		"%s: %llu fallible operations from %u call sites; %d sessions failed %u sites "
		"(%d sessions incomplete), %.1f s\n",
		name, (unsigned long long)total, nsites, ran, ncovered, failed_sessions,
		now_s() - t0);
	close(lfd);
}

/* ------------------------------------------------------------------------
 * Lost notifications (docs/threat-model.md, "What pvcallsd and the backend enforce"): the
 * backend's transport fails one notification of the frontend; what it was
 * for still arrives promptly. Failing every one ends that frontend.
 */

/* Retry and margin: far below the frontend's 1 s periodic re-check. */
#define NOTIFY_LATE_S (0.3 * SLOW)

struct delayed_write {
	int fd;
	const char *msg;
	pthread_t th;
};

static void *delayed_write_main(void *arg)
{
	struct delayed_write *d = arg;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	/* Late enough that the frontend sleeps in recv() by then. */
	nanosleep(&ts, NULL);
	if (write(d->fd, d->msg, strlen(d->msg)) < 0)
		perror("write");
	return NULL;
}

struct delayed_connect {
	uint16_t port;
	int fd;
	pthread_t th;
};

static void *delayed_connect_main(void *arg)
{
	struct delayed_connect *d = arg;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL); /* the frontend sleeps in accept() by then */
	d->fd = tcp_connect_nb(d->port);
	return NULL;
}

static bool front_connected(pvcalls_back *b)
{
	struct pvcalls_back_frontend fr[4];
	int n = pvcalls_back_list_frontends(b, fr, 4);

	return n > 0 && fr[0].connected;
}

START_TEST(test_back_notify_lost)
{
	struct pvcalls_front_opts fo = { .connect_timeout_ms = STEP_MS,
					 .ring_order = PVCALLS_FRONT_ORDER_0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pvcalls_transport *hub, *guest, *bt_t;
	struct back_thread bt = { 0 };
	struct fault *f = NULL;
	pvcalls_front *fe = NULL;
	struct outcome o = { 0 };
	uint16_t port;
	int lfd = tcp_listen(&port), s, l, peer, tries, x;
	double t0, dt = 0;
	char buf[8];

	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &hub, &guest), 0);
	bt_t = fault_wrap(hub, 0, &f);
	ck_assert_ptr_nonnull(bt_t);
	ck_assert_int_eq(pvcalls_back_new(bt_t, NULL, &bt.b), 0);
	ck_assert_int_eq(pthread_create(&bt.th, NULL, back_main, &bt), 0);
	ck_assert_int_eq(pvcalls_front_open(guest, &fo, &fe), 0);
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	timeouts(fe, s);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	peer = tcp_accept(lfd);
	ck_assert_int_ge(peer, 0);
	ck_assert(exchange(fe, s, peer, &o, "warm-up"));

	/* Data: the notification of the bytes that came is lost. A try in
	 * which the frontend did not sleep (nothing to notify) is retried. */
	for (tries = 0; tries < 5; tries++) {
		struct delayed_write d = { .fd = peer, .msg = "pong" };

		fault_fail_next(f, "evtchn_notify", 1);
		ck_assert_int_eq(pthread_create(&d.th, NULL, delayed_write_main, &d), 0);
		t0 = now_s();
		ck_assert(frecv(fe, s, buf, 4));
		dt = now_s() - t0 - 0.1;
		pthread_join(d.th, NULL);
		ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
		if (!fault_armed_left(f))
			break;
	}
	fault_fail_next(f, "evtchn_notify", 0);
	ck_assert_msg(tries < 5, "the frontend never waited for a notification");
	ck_assert_msg(dt < NOTIFY_LATE_S, "data %.3f s late after a lost notification", dt);

	/* The command ring: the notification of a deferred ACCEPT's answer
	 * is lost (an answer that comes at once is found by spinning). */
	l = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	timeouts(fe, l);
	sa.sin_port = htons(free_port());
	ck_assert_int_eq(pvcalls_front_bind(fe, l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(pvcalls_front_listen(fe, l, 4), 0);
	for (tries = 0; tries < 5; tries++) {
		struct delayed_connect d = { .port = ntohs(sa.sin_port), .fd = -1 };

		fault_fail_next(f, "evtchn_notify", 1);
		ck_assert_int_eq(pthread_create(&d.th, NULL, delayed_connect_main, &d), 0);
		t0 = now_s();
		x = pvcalls_front_accept(fe, l, 0);
		dt = now_s() - t0 - 0.1;
		pthread_join(d.th, NULL);
		ck_assert_int_ge(x, 0);
		pvcalls_front_release(fe, x);
		if (d.fd >= 0)
			close(d.fd);
		if (!fault_armed_left(f))
			break;
	}
	fault_fail_next(f, "evtchn_notify", 0);
	pvcalls_front_release(fe, l);
	ck_assert_msg(tries < 5, "the frontend never waited for an answer");
	ck_assert_msg(dt < NOTIFY_LATE_S, "answer %.3f s late after a lost notification", dt);
	ck_assert(exchange(fe, s, peer, &o, "after"));

	/* Every notification fails: the backend gives up on this frontend
	 * (about 0.5 s of retries) instead of retrying for ever. */
	fault_fail_next(f, "evtchn_notify", 1000000);
	{
		struct delayed_write d = { .fd = peer, .msg = "pong" };

		ck_assert_int_eq(pthread_create(&d.th, NULL, delayed_write_main, &d), 0);
		frecv(fe, s, buf, 4); /* may fail: the backend gives up */
		pthread_join(d.th, NULL);
	}
	for (t0 = now_s(); front_connected(bt.b) && now_s() - t0 < 5.0 * SLOW;)
		usleep(10000);
	ck_assert_msg(!front_connected(bt.b), "still connected after %.1f s of failures",
		      now_s() - t0);
	ck_assert_uint_gt(1000000 - fault_armed_left(f), 5); /* it did retry */
	fault_fail_next(f, "evtchn_notify", 0);
	pvcalls_front_release(fe, s);
	pvcalls_front_close(fe);
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
	close(peer);
	close(lfd);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(bt_t);
}
END_TEST

START_TEST(test_front_faults)
{
	sweep(FRONT);
}
END_TEST

START_TEST(test_back_faults)
{
	sweep(BACK);
}
END_TEST

#ifdef FAULT_ALLOC
static int no_watch(void *arg, void *owner, const char *path, const char *wpath, const char *token)
{
	(void)arg, (void)owner, (void)path, (void)wpath, (void)token;
	return 0;
}

static int store_owner; /* the writer the stores below charge */

/*
 * Runs @one on a fresh store holding /a/x = "0" (quota: 64 nodes), with
 * the Nth allocation of @one's operation failing, N = 1, 2, ... until it
 * no longer reaches N; @one arms and disarms around its operation and
 * checks what it left.
 */
static void store_sweep(void (*one)(struct shm_store *st, uint64_t n))
{
	struct shm_store_quota q = { .nodes = 64, .bytes = 1 << 20, .watches = 4, .txns = 4 };
	uint64_t n;

	for (n = 1; n < 200; n++) {
		struct shm_store *st = pvc_shm_store_new(no_watch, NULL, &q);

		ck_assert_ptr_nonnull(st);
		ck_assert_int_eq(pvc_shm_store_write(st, &store_owner, 0, "/a/x", "0"), 0);
		one(st, n);
		pvc_shm_store_free(st);
		if (!alloc_failed_op())
			break; /* the operation no longer reaches allocation n */
	}
	ck_assert_uint_lt(n, 200);
	ck_assert_uint_gt(n, 3);
}

static void txn_commit_once(struct shm_store *st, uint64_t n)
{
	static const char *const paths[] = { "/a/b/c", "/a/d", "/e/f/g/h" };
	unsigned found = 0;
	uint32_t tx;
	char buf[16];
	int rc;

	ck_assert_int_eq(pvc_shm_store_txn_start(st, &store_owner, &tx), 0);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(pvc_shm_store_write(st, &store_owner, tx, paths[i], "v"), 0);
	ck_assert_int_eq(pvc_shm_store_rm(st, &store_owner, tx, "/a/x"), 0);
	alloc_arm(n, NULL, 0);
	rc = pvc_shm_store_txn_end(st, &store_owner, tx, false);
	alloc_disarm();
	for (unsigned i = 0; i < 3; i++)
		found += pvc_shm_store_read(st, &store_owner, 0, paths[i], buf, sizeof(buf)) == 1;
	if (rc == 0) {
		ck_assert_msg(found == 3, "allocation %llu failed: committed with %u of 3",
			      (unsigned long long)n, found);
		ck_assert_int_eq(pvc_shm_store_read(st, &store_owner, 0, "/a/x", buf, sizeof(buf)),
				 -ENOENT);
	} else {
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_msg(found == 0, "allocation %llu failed: -ENOMEM with %u of 3",
			      (unsigned long long)n, found);
		ck_assert_int_eq(pvc_shm_store_read(st, &store_owner, 0, "/a/x", buf, sizeof(buf)),
				 1);
	}
}

/*
 * A store transaction commits whole or not at all when an allocation
 * fails at commit (its replay used to allocate as it went: a failure
 * half-applied it and still answered success).
 */
START_TEST(test_alloc_txn_atomic)
{
	store_sweep(txn_commit_once);
}
END_TEST

static void deep_write_once(struct shm_store *st, uint64_t n)
{
	char buf[16];
	int rc;

	alloc_arm(n, NULL, 0);
	rc = pvc_shm_store_write(st, &store_owner, 0, "/a/b/c/d/e", "v");
	alloc_disarm();
	if (rc == 0) {
		ck_assert_int_eq(
			pvc_shm_store_read(st, &store_owner, 0, "/a/b/c/d/e", buf, sizeof(buf)), 1);
		return;
	}
	ck_assert_int_eq(rc, -ENOMEM);
	ck_assert_msg(pvc_shm_store_read(st, &store_owner, 0, "/a/b", buf, sizeof(buf)) == -ENOENT,
		      "allocation %llu failed: /a/b was left behind", (unsigned long long)n);
	/* The quota saw nothing: 62 more nodes fit (64, /a and /a/x taken). */
	for (int i = 0; i < 62; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/a/n%d", i);
		ck_assert_int_eq(pvc_shm_store_write(st, &store_owner, 0, p, "1"), 0);
	}
	ck_assert_int_eq(pvc_shm_store_write(st, &store_owner, 0, "/a/full", "1"), -ENOSPC);
}

/*
 * A plain store write that runs out of memory creating the nodes of its
 * path leaves the tree as it was: no empty intermediate nodes, nothing
 * charged to the writer's quota.
 */
START_TEST(test_alloc_write_atomic)
{
	store_sweep(deep_write_once);
}
END_TEST
#endif

START_TEST(test_alloc_faults)
{
	sweep(BACK); /* the side only names which transport is wrapped (unfailed) */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("sweep");
	SRunner *sr;
	int nf;

	signal(SIGPIPE, SIG_IGN);
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
	tcase_set_timeout(tc, 120 * SLOW);
	if (ALLOC_MODE) {
#ifdef FAULT_ALLOC
		tcase_add_test(tc, test_alloc_txn_atomic);
		tcase_add_test(tc, test_alloc_write_atomic);
#endif
		tcase_add_test(tc, test_alloc_faults);
	} else {
		tcase_add_test(tc, test_back_notify_lost);
		tcase_add_test(tc, test_front_faults);
		tcase_add_test(tc, test_back_faults);
	}
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
