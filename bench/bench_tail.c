/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the tail-latency case LT: small request/response
 * exchanges through the backend to a host TCP server, against the same
 * exchanges over a direct TCP connection with TCP_NODELAY, in the same
 * run. Two patterns, each timed per exchange:
 *   wwr  two 32-byte writes, then read the 64-byte answer (a request
 *        written in two pieces: where Nagle's algorithm on a socket
 *        meets the peer's delayed ACK);
 *   wr   one 64-byte write, then read the 64-byte answer.
 * Each round gives p50, p99 and max of every pattern; the table shows
 * the median of the rounds. Information only: ratios are printed, never
 * judged.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/frontend.h>

#include "bench.h"
#include "bench_common.h"

#define MSG 64
#define MAX_EX (LAT_MAX / 2) /* timed exchanges per pattern and round */

/*
 * The host's server: accepts one connection (TCP_NODELAY, so its answers
 * leave at once), then reads MSG bytes and answers MSG bytes until the
 * client closes.
 */
static int side_echo(void *arg)
{
	struct sockaddr_in sa;
	uint8_t buf[MSG];
	int one = 1, lfd, fd;

	(void)arg;
	lfd = tcp_listen(SOCK_CLOEXEC | SOCK_NONBLOCK, 4, &sa);
	if (lfd < 0)
		return fail("echo: listen: %s", strerror(errno));
	sh->tcp_port = ntohs(sa.sin_port);
	STORE(&sh->ready_c, 1);
	/* Until the client comes, or the round ends without one. */
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			close(lfd);
			return fail("echo: accept: %s", strerror(errno));
		}
		if (LOAD(&sh->stop)) {
			close(lfd);
			return 0;
		}
		sleep_us(200);
	}
	close(lfd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read_all(fd, buf, MSG) == 0)
		if (write_all(fd, buf, MSG) < 0)
			break;
	close(fd);
	return 0;
}

/* One client's way of writing and reading (the frontend or a TCP socket). */
struct conn {
	pvcalls_front *fe;
	int s;  /* the frontend's socket */
	int fd; /* or the TCP socket (fe NULL) */
};

static int conn_write(struct conn *c, const uint8_t *p, size_t len)
{
	if (!c->fe)
		return write_all(c->fd, p, len);
	while (len) {
		ssize_t n = pvcalls_front_send(c->fe, c->s, p, len, 0);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_read(struct conn *c, uint8_t *p, size_t len)
{
	if (!c->fe)
		return read_all(c->fd, p, len);
	while (len) {
		ssize_t n = pvcalls_front_recv(c->fe, c->s, p, len, 0);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One exchange of pattern @k (0: wwr, 1: wr). */
static int exchange(struct conn *c, int k, uint8_t *req, uint8_t *rsp)
{
	if (k == 0) {
		if (conn_write(c, req, MSG / 2) < 0 || conn_write(c, req + MSG / 2, MSG / 2) < 0)
			return -1;
	} else if (conn_write(c, req, MSG) < 0) {
		return -1;
	}
	if (conn_read(c, rsp, MSG) < 0 || memcmp(req, rsp, MSG))
		return -1;
	return 0;
}

static double pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

/*
 * Both patterns on @c: 100 untimed exchanges, then timed ones for
 * dur_lat seconds (at most MAX_EX); p50, p99 and max of each into
 * sh->tail[k * 3 + 0..2], in us.
 */
static int run_patterns(struct conn *c)
{
	uint8_t req[MSG], rsp[MSG];
	double *v = malloc(MAX_EX * sizeof(*v));

	if (!v)
		return fail("tail: out of memory");
	for (int k = 0; k < 2; k++) {
		int64_t end = 0;
		size_t n = 0;

		for (int i = 0; n < MAX_EX; i++) {
			int64_t t0, t1;

			memset(req, (uint8_t)(i * 7 + k), sizeof(req));
			if (i == 100)
				end = pvc_now_ns() + (int64_t)(dur_lat * 1e9);
			t0 = pvc_now_ns();
			if (exchange(c, k, req, rsp) < 0) {
				free(v);
				return fail("tail: exchange %d of pattern %d failed", i, k);
			}
			t1 = pvc_now_ns();
			if (i < 100)
				continue;
			v[n++] = (double)(t1 - t0) / 1e3;
			if (t1 >= end)
				break;
		}
		qsort(v, n, sizeof(*v), cmp_dbl);
		sh->tail[k * 3 + 0] = pct(v, n, 0.50);
		sh->tail[k * 3 + 1] = pct(v, n, 0.99);
		sh->tail[k * 3 + 2] = v[n - 1];
		sh->tail_n[k] = (uint32_t)n;
	}
	free(v);
	return 0;
}

static int side_tail_front(void *arg)
{
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	struct conn c = { .fd = -1 };
	int rc;

	(void)arg;
	if (guest_open(UINT32_MAX, 0, NULL, &t, &fe) < 0)
		return -1;
	rc = sink_addr("tail front", &sa);
	if (rc == 0) {
		c.fe = fe;
		c.s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		rc = c.s < 0 ? c.s
			     : pvcalls_front_connect(fe, c.s, (struct sockaddr *)&sa, sizeof(sa));
		if (rc < 0)
			fail("tail front: socket/connect: %s", pvcalls_strerror(rc));
	}
	if (rc == 0)
		rc = run_patterns(&c);
	front_stats(fe);
	if (c.s >= 0)
		pvcalls_front_release(fe, c.s);
	guest_close(t, fe);
	return rc < 0 ? -1 : 0;
}

static int side_tail_tcp(void *arg)
{
	struct sockaddr_in sa;
	struct conn c = { .fd = -1 };
	int one = 1, rc;

	(void)arg;
	if (sink_addr("tail tcp", &sa) < 0)
		return -1;
	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("tail tcp: connect: %s", strerror(errno));
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = run_patterns(&c);
	close(c.fd);
	return rc;
}

static void tail_out(double *out)
{
	memcpy(out, sh->tail, sizeof(sh->tail));
	if (cfg.verbose)
		fprintf(stderr,
			"  wwr p50 %.1f p99 %.1f max %.1f us (%u); wr p50 %.1f p99 %.1f max "
			"%.1f us (%u); frontend %llu sleeps\n",
			sh->tail[0], sh->tail[1], sh->tail[2], sh->tail_n[0], sh->tail[3],
			sh->tail[4], sh->tail[5], sh->tail_n[1], (unsigned long long)sh->fe_sleeps);
}

int round_tail_pvcalls(double out[6])
{
	struct back_cfg bc = { 0 };
	pid_t b, e, a;
	int rc;

	round_reset();
	b = spawn(cpu_host, side_backend, &bc);
	e = spawn(cpu_sink, side_echo, NULL);
	a = spawn(cpu_guest, side_tail_front, NULL);
	rc = reap(a, "frontend");
	STORE(&sh->stop, 1);
	rc |= reap(b, "backend");
	rc |= reap(e, "echo server");
	if (rc)
		return -1;
	tail_out(out);
	return 0;
}

int round_tail_tcp(double out[6])
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_sink, side_echo, NULL, "echo server", side_tail_tcp, NULL,
			     "tcp client");
	if (rc)
		return -1;
	tail_out(out);
	return 0;
}
