/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the scale cases: S1 (1,000 connections through the
 * backend, all sending, vs one), S1mem (backend RSS per idle connection
 * vs its rings + 16 KiB) and S2 (socket+connect+accept+release x2
 * through the protocol vs the same on TCP loopback).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

#include "bench.h"
#include "bench_common.h"

/* ---------------------------------------------------------------------- */
/* S1: 1,000 connections                                                  */

/* The ring order of S1 and S2 for guest_open(): --order, or the default. */
static uint32_t s_order(void)
{
	return cfg.order < 0 ? UINT32_MAX : (uint32_t)cfg.order;
}

/* The same as a number, for the figures. */
static uint32_t s_order_number(void)
{
	return cfg.order < 0 ? PVCALLS_FRONT_DEFAULT_ORDER : (uint32_t)cfg.order;
}

/* Minor page faults of this process so far. */
static long minflt_self(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* S1mem: both sides' resident memory, before (0) or after (1) the connections. */
static void s1_mem(int k, pid_t pb)
{
	sh->s1_b_anon[k] = status_kb(pb, "RssAnon");
	sh->s1_b_shmem[k] = status_kb(pb, "RssShmem");
	sh->s1_a_anon[k] = status_kb(getpid(), "RssAnon");
	sh->s1_a_shmem[k] = status_kb(getpid(), "RssShmem");
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
	int64_t t0 = pvc_now_ns(), end = t0 + (int64_t)(dur_s1 * 1e9), last;
	struct pvcalls_front_stats st0, st1;
	double cpu0 = cpu_self();
	long flt0 = minflt_self();

	pvcalls_front_get_stats(fe, &st0);
	while (pvc_now_ns() < end) {
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
				pf[i] = (struct pvcalls_pollfd){ .sock = socks[i],
								 .events = POLLOUT };
			polls++;
			if (pvcalls_front_poll(fe, pf, (unsigned)n, 10) == 0)
				timeouts++;
		}
	}
	end = pvc_now_ns();
	last = sink_wait(base + total);
	if (last < 0)
		return -1;
	pvcalls_front_get_stats(fe, &st1);
	if (cfg.verbose)
		fprintf(stderr,
			"    %d connection(s): %.2f GB/s, %.2f GB, frontend CPU %.0f%%; %" PRIu64
			" polls (%" PRIu64 " timed out), %" PRIu64 " sleeps, %" PRIu64
			" notifies (%" PRIu64 " suppressed), %ld page faults\n",
			n, window_rate(t0, end), total / 1e9,
			100 * (cpu_self() - cpu0) / secs(pvc_now_ns() - t0), polls, timeouts,
			st1.sleeps - st0.sleeps, st1.notifies_sent - st0.notifies_sent,
			st1.notifies_suppressed - st0.notifies_suppressed, minflt_self() - flt0);
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
	if ((rc = sink_addr("S1", &sa)) < 0)
		goto out;
	pb = sh->pid_b;
	sh->s1_order = (int)s_order_number();
	if ((uint32_t)sh->s1_order > pvcalls_front_max_order(fe))
		sh->s1_order = (int)pvcalls_front_max_order(fe);
	sleep_us(100000);
	s1_mem(0, pb);
	for (int i = 0; i < n; i++) {
		socks[i] = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		rc = socks[i] < 0 ? socks[i]
				  : pvcalls_front_connect(fe, socks[i], (struct sockaddr *)&sa,
							  sizeof(sa));
		if (rc < 0) {
			fail("S1: connection %d: %s", i, pvcalls_strerror(rc));
			n = i + (socks[i] >= 0);
			goto out;
		}
		pvcalls_front_setopt(fe, socks[i], PVCALLS_OPT_NONBLOCK, 1);
	}
	/* Idle: let the backend settle, then look at its memory. */
	sleep_us(300000);
	s1_mem(1, pb);
	/*
	 * One untimed phase on all of them first: a ring's first pass
	 * faults its pages in on both sides (about 32 per connection at
	 * order 6, 32,000 for the thousand), which ran the first timed
	 * phase of all at 0.3-0.5 GB/s against 2.5-2.7 for the others.
	 * The case is the steady aggregate; the one connection's ring is
	 * warm after its first phase too.
	 */
	if (cfg.verbose)
		fprintf(stderr, "  S1 warm-up (untimed):\n");
	if (s1_phase(fe, socks, n, buf, pf) < 0) {
		rc = -1;
		goto out;
	}
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

/*
 * All of S1 in one process tree: the frontend opens S1_CONNS connections
 * through the backend to the sink, notes both sides' memory before and
 * after, then runs cfg.rounds interleaved rounds of all vs one. The
 * figures are in sh->s1_*.
 */
int round_s1(void)
{
	struct back_cfg bc = { .many = true };

	round_reset();
	sh->s1_conns = S1_CONNS;
	sh->s1_rounds = cfg.rounds;
	return backend_sink_front(&bc, side_s1_front, NULL);
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
	struct timed_loop tl = { .warm = 20, .dur = dur_conn };
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
	for (;;) {
		int64_t t0 = tl_start(&tl), ts[5];
		int c, a;

		c = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		ts[0] = pvc_now_ns();
		rc = c < 0 ? c : pvcalls_front_connect(fe, c, (struct sockaddr *)&sa, sizeof(sa));
		ts[1] = pvc_now_ns();
		a = rc < 0 ? rc : pvcalls_front_accept(fe, l, 0);
		ts[2] = pvc_now_ns();
		if (a < 0) {
			rc = a;
			fail("S2: connect/accept: %s", pvcalls_strerror(rc));
			goto out;
		}
		pvcalls_front_release(fe, a);
		ts[3] = pvc_now_ns();
		pvcalls_front_release(fe, c);
		ts[4] = pvc_now_ns();
		if (tl_timed(&tl) && sh->nstep < S2_STEP_MAX) {
			for (int k = 0; k < 5; k++)
				sh->step[sh->nstep][k] =
					(float)((ts[k] - (k ? ts[k - 1] : t0)) / 1e3);
			sh->nstep++;
		}
		if (tl_end(&tl, t0, ts[4], 1))
			break;
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
	struct timed_loop tl = { .warm = 20, .dur = dur_conn };
	int lfd;

	(void)arg;
	lfd = tcp_listen(SOCK_CLOEXEC, 128, &sa);
	if (lfd < 0)
		return fail("S2 tcp: listen: %s", strerror(errno));
	for (;;) {
		int64_t t0 = tl_start(&tl);
		int c, a;

		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return fail("S2 tcp: connect: %s", strerror(errno));
		a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (a < 0)
			return fail("S2 tcp: accept: %s", strerror(errno));
		close(a);
		close(c);
		if (tl_end(&tl, t0, pvc_now_ns(), 1))
			break;
	}
	close(lfd);
	return 0;
}

int round_setup_pvcalls(double *rate)
{
	struct back_cfg bc = { 0 };
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_backend, &bc, "backend", side_setup_front, NULL,
			     "frontend");
	*rate = 1e6 / lat_median();
	if (!rc && cfg.verbose && sh->nstep) {
		static const char *const name[5] = { "SOCKET", "CONNECT", "ACCEPT",
						     "RELEASE accepted", "RELEASE connected" };
		static double v[S2_STEP_MAX];

		fprintf(stderr, "  order %u: %.0f/s; median step, us:", s_order_number(), *rate);
		for (int k = 0; k < 5; k++) {
			uint32_t n = sh->nstep;

			for (uint32_t i = 0; i < n; i++)
				v[i] = sh->step[i][k];
			fprintf(stderr, "%s %s %.1f", k ? "," : "", name[k], median(v, n));
		}
		double cyc = (double)(sh->nstep + 20);

		fprintf(stderr,
			"; per cycle: frontend %.2f sleeps, %.2f notifies; backend %.2f notifies, "
			"%.2f read() and %.2f write() calls\n",
			(double)sh->fe_sleeps / cyc, (double)sh->fe_notifies / cyc,
			(double)sh->peer_notifies / cyc, (double)sh->b_syscr / cyc,
			(double)sh->b_syscw / cyc);
	}
	return rc ? -1 : 0;
}

int round_setup_tcp(double *rate)
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
