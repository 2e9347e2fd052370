/* SPDX-License-Identifier: MIT */
/*
 * Socket semantics through the frontend API against real TCP peers: EOF,
 * MSG_PEEK, non-blocking calls, refused and non-blocking connects,
 * accept and poll on listeners, wakeups (ping-pong), many threads, and
 * release of a socket another thread is blocked on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

/* A listening frontend socket on a free 127.0.0.1 port. */
static int listener(struct e2e_env *e, uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int l = e2e_socket(e, -1), rc;

	*port = e2e_free_port();
	a.sin_port = htons(*port);
	rc = pvcalls_front_bind(e->fe, l, (struct sockaddr *)&a, sizeof(a));
	ck_assert_msg(rc == 0, "bind 127.0.0.1:%u: %s", *port, pvcalls_strerror(rc));
	rc = pvcalls_front_listen(e->fe, l, 8);
	ck_assert_msg(rc == 0, "listen: %s", pvcalls_strerror(rc));
	return l;
}

static void finish(struct e2e_env *e)
{
	e2e_wait_back(e, 1, 0, 0, 5000);
	e2e_env_stop(e);
}

/* ---------------------------------------------------------------------- */

/* The peer sends N bytes and closes: exactly N bytes, then 0, again and again. */
START_TEST(eof_exact)
{
	static const size_t sizes[] = { 0, 1, 4095, 100003, (1u << 20) + 17 };
	struct e2e_env e;
	uint8_t *buf = malloc(1u << 16);

	e2e_env_start(&e, NULL);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], got = 0;
		uint8_t *src = malloc(n + 1);
		int fd, s = e2e_connected_pair(&e, &fd);
		ssize_t r;

		e2e_fill(n, 0, src, n);
		ck_assert_int_eq(e2e_write_all(fd, src, n), 0);
		close(fd);
		for (;;) {
			size_t want = 1 + (got * 131) % (1u << 16);

			r = pvcalls_front_recv(e.fe, s, buf, want, 0);
			if (r <= 0)
				break;
			ck_assert_msg(got + (size_t)r <= n, "%zu bytes sent, %zu received", n,
				      got + (size_t)r);
			ck_assert_msg(!memcmp(buf, src + got, (size_t)r), "wrong data at %zu", got);
			got += (size_t)r;
		}
		ck_assert_msg(r == 0, "after %zu of %zu bytes recv gave %zd (%s)", got, n, r,
			      pvcalls_strerror((int)r));
		ck_assert_msg(got == n, "got %zu of %zu bytes before EOF", got, n);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 100, 0), 0);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 100, MSG_DONTWAIT), 0);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 100, MSG_PEEK), 0);
		{
			struct pvcalls_pollfd pf = { .sock = s, .events = POLLIN };

			ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 1000), 1);
			ck_assert_msg(pf.revents & (POLLIN | POLLHUP), "revents %#x at EOF",
				      pf.revents);
		}
		e2e_release(&e, s);
		free(src);
	}
	free(buf);
	finish(&e);
}
END_TEST

START_TEST(peek)
{
	struct e2e_env e;
	char buf[64];
	int fd, s;

	e2e_env_start(&e, NULL);
	s = e2e_connected_pair(&e, &fd);
	/* A blocking peek waits for data. */
	ck_assert_int_eq(e2e_write_all(fd, "hello world", 11), 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 5, MSG_PEEK), 5);
	ck_assert_str_eq(buf, "hello");
	memset(buf, 0, sizeof(buf));
	/* Peeking again sees the same bytes; nothing was consumed. */
	{
		int64_t end = e2e_now_ms() + 5000;
		ssize_t r;

		/* wait until all 11 bytes are in the ring */
		while ((r = pvcalls_front_recv(e.fe, s, buf, sizeof(buf), MSG_PEEK)) < 11 &&
		       e2e_now_ms() < end)
			e2e_sleep_ms(1);
		ck_assert_int_eq(r, 11);
		ck_assert_str_eq(buf, "hello world");
	}
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 6, MSG_PEEK | MSG_DONTWAIT), 6);
	ck_assert_str_eq(buf, "hello ");
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 6, 0), 6);
	ck_assert_str_eq(buf, "hello ");
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, sizeof(buf), MSG_PEEK), 5);
	ck_assert_str_eq(buf, "world");
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, sizeof(buf), 0), 5);
	ck_assert_str_eq(buf, "world");
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 1, MSG_PEEK | MSG_DONTWAIT), -EAGAIN);
	/* Peek then EOF: the data first, then 0. */
	ck_assert_int_eq(e2e_write_all(fd, "xy", 2), 0);
	close(fd);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 1, MSG_PEEK), 1);
	ck_assert_int_eq(buf[0], 'x');
	ck_assert_int_eq(e2e_frecv_all(&e, s, buf, 2), 0);
	ck_assert(!memcmp(buf, "xy", 2));
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 1, MSG_PEEK), 0);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

/* MSG_PEEK and recv across the end of a one-page ring. */
START_TEST(peek_wrap)
{
	struct e2e_env e;
	uint16_t port = 0;
	uint8_t src[1500], buf[1500];
	int lfd, s, fd, rc;

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	s = e2e_socket(&e, 0); /* one page: 2 KiB each way */
	rc = e2e_front_connect(&e, s, port);
	ck_assert_msg(rc == 0, "connect: %s", pvcalls_strerror(rc));
	fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	for (uint64_t off = 0, round = 0; round < 40; round++) {
		int64_t end = e2e_now_ms() + 5000 * E2E_SLOW;
		ssize_t r;

		e2e_fill(5, off, src, sizeof(src));
		ck_assert_int_eq(e2e_write_all(fd, src, sizeof(src)), 0);
		/* Wait until all of it is in the ring, by peeking. */
		while ((r = pvcalls_front_recv(e.fe, s, buf, sizeof(buf), MSG_PEEK)) <
			       (ssize_t)sizeof(buf) &&
		       r > 0 && e2e_now_ms() < end)
			e2e_sleep_ms(1);
		ck_assert_msg(r == (ssize_t)sizeof(buf), "round %u: peek gave %zd", (unsigned)round,
			      r);
		ck_assert_msg(!memcmp(buf, src, sizeof(buf)),
			      "round %u (offset %u in the ring): "
			      "peeked bytes differ",
			      (unsigned)round, (unsigned)(off % 2048));
		/* Peek a part at an odd length, then take it all in two reads. */
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 555, MSG_PEEK), 555);
		ck_assert(!memcmp(buf, src, 555));
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 555, 0), 555);
		ck_assert(!memcmp(buf, src, 555));
		ck_assert_int_eq(e2e_frecv_all(&e, s, buf, sizeof(src) - 555), 0);
		ck_assert(!memcmp(buf, src + 555, sizeof(src) - 555));
		off += sizeof(src);
	}
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(nonblocking_and_timeouts)
{
	struct e2e_env e;
	uint8_t *buf = malloc(1u << 16);
	uint64_t sent = 0, got = 0;
	int fd, s;
	ssize_t r;
	double t0, dt;

	e2e_env_start(&e, NULL);
	s = e2e_connected_pair(&e, &fd);
	/* Nothing to read. */
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 10, MSG_DONTWAIT), -EAGAIN);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 1), 0);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, 10, 0), -EAGAIN);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 0), 0);
	/* A receive timeout gives -EAGAIN after about that long. */
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RCVTIMEO_MS, 200), 0);
	t0 = e2e_now();
	r = pvcalls_front_recv(e.fe, s, buf, 10, 0);
	dt = e2e_now() - t0;
	ck_assert_int_eq(r, -EAGAIN);
	ck_assert_msg(dt >= 0.19 && dt < 2.0 * E2E_SLOW, "200 ms receive timeout took %.3f s", dt);

	/* Fill everything (ring, backend socket, peer buffers) without the peer reading. */
	for (;;) {
		size_t k = 1 + (size_t)((sent * 7) % 65536);

		e2e_fill(77, sent, buf, k);
		r = pvcalls_front_send(e.fe, s, buf, k, MSG_DONTWAIT);
		if (r == -EAGAIN) {
			/* The backend may still be draining: full means full for a while. */
			e2e_sleep_ms(50);
			r = pvcalls_front_send(e.fe, s, buf, k, MSG_DONTWAIT);
			if (r == -EAGAIN)
				break;
		}
		ck_assert_msg(r > 0, "non-blocking send: %zd (%s)", r, pvcalls_strerror((int)r));
		sent += (uint64_t)r;
		ck_assert_msg(sent < (512u << 20), "never full after %" PRIu64 " bytes", sent);
	}
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 1), 0);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, buf, 1, 0), -EAGAIN);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 0), 0);
	{
		struct pvcalls_pollfd pf = { .sock = s, .events = POLLOUT };

		ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 0), 0);
	}
	/* A send timeout on a full ring: -EAGAIN after about that long. */
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_SNDTIMEO_MS, 200), 0);
	t0 = e2e_now();
	r = pvcalls_front_send(e.fe, s, buf, 1, 0);
	dt = e2e_now() - t0;
	ck_assert_msg(r == -EAGAIN, "blocking send on a full ring with a timeout: %zd", r);
	ck_assert_msg(dt >= 0.19 && dt < 2.0 * E2E_SLOW, "200 ms send timeout took %.3f s", dt);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	printf("e2e.api[%s]: ring + socket buffers filled with %" PRIu64 " KiB\n", e2e_flavour(),
	       sent >> 10);
	/* Everything accepted arrives, in order, and nothing else. */
	while (got < sent) {
		r = read(fd, buf, 65536);
		ck_assert_msg(r > 0, "peer read at %" PRIu64 " of %" PRIu64 ": %s", got, sent,
			      r < 0 ? strerror(errno) : "EOF");
		ck_assert_msg(got + (uint64_t)r <= sent, "more data than was sent");
		ck_assert(e2e_verify(77, got, buf, (size_t)r) < 0);
		got += (uint64_t)r;
	}
	/* And now there is room again. */
	{
		struct pvcalls_pollfd pf = { .sock = s, .events = POLLOUT };

		ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 5000), 1);
		ck_assert(pf.revents & POLLOUT);
	}
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "z", 1, MSG_DONTWAIT), 1);
	ck_assert_int_eq(e2e_read_all(fd, buf, 1), 0);
	ck_assert_int_eq(buf[0], 'z');
	close(fd);
	e2e_release(&e, s);
	free(buf);
	finish(&e);
}
END_TEST

START_TEST(connect_refused)
{
	struct e2e_env e;
	uint16_t port;
	int s, rc;

	e2e_env_start(&e, NULL);
	port = e2e_free_port();
	s = e2e_socket(&e, -1);
	rc = e2e_front_connect(&e, s, port);
	ck_assert_msg(rc == -ECONNREFUSED, "connect to a closed port: %d (%s)", rc,
		      pvcalls_strerror(rc));
	{
		uint8_t b;

		ck_assert_int_eq(pvcalls_front_send(e.fe, s, "a", 1, 0), -ENOTCONN);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, &b, 1, 0), -ENOTCONN);
	}
	e2e_release(&e, s);
	/* Non-blocking: EINPROGRESS, then POLLOUT|POLLERR, then the error once. */
	s = e2e_socket(&e, -1);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 1), 0);
	rc = e2e_front_connect(&e, s, port);
	if (rc == -EINPROGRESS) {
		struct pvcalls_pollfd pf = { .sock = s, .events = POLLOUT };

		ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 5000 * E2E_SLOW), 1);
		ck_assert_msg(pf.revents & (POLLOUT | POLLERR), "revents %#x", pf.revents);
		rc = e2e_front_connect(&e, s, port);
	}
	ck_assert_msg(rc == -ECONNREFUSED, "non-blocking connect to a closed port: %d (%s)", rc,
		      pvcalls_strerror(rc));
	e2e_release(&e, s);
	/* A socket that was never connected. */
	s = e2e_socket(&e, -1);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "a", 1, 0), -ENOTCONN);
	e2e_release(&e, s);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "a", 1, 0), -EBADF);
	ck_assert_int_eq(pvcalls_front_release(e.fe, s), -EBADF);
	/* A ring order above the backend's maximum. */
	s = e2e_socket(&e, -1);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RING_ORDER,
					      (int)pvcalls_front_max_order(e.fe) + 1),
			 -EINVAL);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(nonblocking_connect)
{
	struct e2e_env e;
	uint16_t port = 0;
	int lfd, s, fd, rc;
	char b[4];

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	s = pvcalls_front_socket(e.fe, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(s, 0);
	rc = e2e_front_connect(&e, s, port);
	if (rc == -EINPROGRESS) {
		struct pvcalls_pollfd pf = { .sock = s, .events = POLLOUT };
		int r2 = e2e_front_connect(&e, s, port);

		ck_assert_msg(r2 == -EALREADY || r2 == 0, "connect while in progress: %d", r2);
		if (r2 == -EALREADY) {
			ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 5000 * E2E_SLOW), 1);
			ck_assert_msg(pf.revents == POLLOUT, "revents %#x", pf.revents);
			rc = e2e_front_connect(&e, s, port);
		} else {
			rc = r2;
		}
	}
	ck_assert_msg(rc == 0, "non-blocking connect: %d (%s)", rc, pvcalls_strerror(rc));
	ck_assert_int_eq(e2e_front_connect(&e, s, port), -EISCONN);
	fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "ping", 4, 0), 4);
	ck_assert_int_eq(e2e_read_all(fd, b, 4), 0);
	ck_assert(!memcmp(b, "ping", 4));
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(accept_nonblocking)
{
	struct e2e_env e;
	uint16_t port;
	int l, s, fd, rc;
	char b[8];
	struct pvcalls_pollfd pf;

	e2e_env_start(&e, NULL);
	l = listener(&e, &port);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, l, PVCALLS_OPT_NONBLOCK, 1), 0);
	ck_assert_int_eq(pvcalls_front_accept(e.fe, l, 0), -EAGAIN);
	ck_assert_int_eq(pvcalls_front_accept(e.fe, l, 0), -EAGAIN);
	pf = (struct pvcalls_pollfd){ .sock = l, .events = POLLIN };
	ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 0), 0);
	fd = e2e_tcp_connect(port);
	ck_assert_msg(fd >= 0, "connect to the guest's listener: %s", strerror(-fd));
	rc = pvcalls_front_poll(e.fe, &pf, 1, 5000 * E2E_SLOW);
	ck_assert_msg(rc == 1 && pf.revents == POLLIN, "poll on the listener: %d, revents %#x", rc,
		      pf.revents);
	s = pvcalls_front_accept(e.fe, l, SOCK_NONBLOCK);
	ck_assert_msg(s >= 0, "accept after POLLIN: %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_accept(e.fe, l, 0), -EAGAIN);
	/* The accepted socket is non-blocking (SOCK_NONBLOCK) and works. */
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, b, 1, 0), -EAGAIN);
	ck_assert_int_eq(e2e_write_all(fd, "abc", 3), 0);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 0), 0);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ck_assert_int_eq(e2e_frecv_all(&e, s, b, 3), 0);
	ck_assert(!memcmp(b, "abc", 3));
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "defg", 4, 0), 4);
	ck_assert_int_eq(e2e_read_all(fd, b, 4), 0);
	ck_assert(!memcmp(b, "defg", 4));
	close(fd);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, b, 1, 0), 0);
	e2e_release(&e, s);
	/* Several clients queued before the accepts. */
	{
		int fds[3];

		for (int i = 0; i < 3; i++) {
			fds[i] = e2e_tcp_connect(port);
			ck_assert_int_ge(fds[i], 0);
			ck_assert_int_eq(e2e_write_all(fds[i], &i, sizeof(i)), 0);
		}
		ck_assert_int_eq(pvcalls_front_setopt(e.fe, l, PVCALLS_OPT_NONBLOCK, 0), 0);
		for (int i = 0; i < 3; i++) {
			int v = -1;

			s = pvcalls_front_accept(e.fe, l, 0);
			ck_assert_msg(s >= 0, "accept #%d: %s", i, pvcalls_strerror(s));
			ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RCVTIMEO_MS,
							      E2E_SOCK_TIMEO_MS),
					 0);
			ck_assert_int_eq(e2e_frecv_all(&e, s, &v, sizeof(v)), 0);
			ck_assert_msg(v >= 0 && v < 3, "accepted connection carries %d", v);
			e2e_release(&e, s);
		}
		for (int i = 0; i < 3; i++)
			close(fds[i]);
	}
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

struct acceptor {
	struct e2e_env *e;
	int l;
	int s;
};

static void *accept_thread(void *arg)
{
	struct acceptor *a = arg;

	a->s = pvcalls_front_accept(a->e->fe, a->l, 0);
	return NULL;
}

/* Two threads blocked in accept on one listener; two clients arrive. */
START_TEST(accept_two_threads)
{
	struct e2e_env e;
	struct acceptor a[2];
	pthread_t t[2];
	uint16_t port;
	int l, fds[2];

	e2e_env_start(&e, NULL);
	l = listener(&e, &port);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct acceptor){ .e = &e, .l = l, .s = -1 };
		t[i] = e2e_thread(accept_thread, &a[i]);
	}
	e2e_sleep_ms(200);
	for (int i = 0; i < 2; i++) {
		fds[i] = e2e_tcp_connect(port);
		ck_assert_msg(fds[i] >= 0, "client %d: %s", i, strerror(-fds[i]));
		ck_assert_int_eq(e2e_write_all(fds[i], &i, sizeof(i)), 0);
	}
	for (int i = 0; i < 2; i++)
		e2e_join(t[i], 20 * E2E_SLOW, "a thread blocked in accept");
	ck_assert_msg(a[0].s >= 0 && a[1].s >= 0 && a[0].s != a[1].s, "accepts gave %d and %d",
		      a[0].s, a[1].s);
	{
		int seen = 0;

		for (int i = 0; i < 2; i++) {
			int v = -1;

			ck_assert_int_eq(pvcalls_front_setopt(e.fe, a[i].s, PVCALLS_OPT_RCVTIMEO_MS,
							      E2E_SOCK_TIMEO_MS),
					 0);
			ck_assert_int_eq(e2e_frecv_all(&e, a[i].s, &v, sizeof(v)), 0);
			ck_assert_msg(v == 0 || v == 1, "accepted socket carries %d", v);
			seen |= 1 << v;
			e2e_release(&e, a[i].s);
		}
		ck_assert_int_eq(seen, 3);
	}
	close(fds[0]);
	close(fds[1]);
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

struct self_pump {
	struct e2e_env *e;
	int s;
	uint64_t n;
	bool verify;
};

static void *self_send(void *arg)
{
	struct self_pump *p = arg;
	uint8_t buf[50000];

	for (uint64_t off = 0; off < p->n;) {
		size_t k = p->n - off < sizeof(buf) ? (size_t)(p->n - off) : sizeof(buf);
		int rc;

		e2e_fill(p->s, off, buf, k);
		rc = e2e_fsend_all(p->e, p->s, buf, k);
		if (rc < 0) {
			e2e_fail("self: send on %d at %" PRIu64 ": %s", p->s, off,
				 pvcalls_strerror(rc));
			return NULL;
		}
		off += k;
	}
	return NULL;
}

/* A guest connects to its own listener: both ends go through the backend. */
START_TEST(self_connect)
{
	struct e2e_env e;
	struct self_pump ps[2];
	uint16_t port;
	int l, c, a, rc;
	pthread_t t[2];
	uint64_t n = E2E_SANITIZED ? (4u << 20) : (64u << 20);
	uint8_t buf[65536];
	double t0 = e2e_now();

	e2e_env_start(&e, NULL);
	l = listener(&e, &port);
	c = e2e_socket(&e, -1);
	rc = e2e_front_connect(&e, c, port);
	ck_assert_msg(rc == 0, "connect to our own listener: %s", pvcalls_strerror(rc));
	a = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_msg(a >= 0, "accept: %s", pvcalls_strerror(a));
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, a, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, a, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ps[0] = (struct self_pump){ .e = &e, .s = c, .n = n };
	ps[1] = (struct self_pump){ .e = &e, .s = a, .n = n };
	t[0] = e2e_thread(self_send, &ps[0]);
	t[1] = e2e_thread(self_send, &ps[1]);
	/* This thread reads both ends, alternating. */
	{
		uint64_t got[2] = { 0, 0 };
		int sk[2] = { a, c }; /* a receives what c sends and vice versa */
		int64_t last = e2e_now_ms();

		while (got[0] < n || got[1] < n) {
			for (int i = 0; i < 2; i++) {
				ssize_t r;

				if (got[i] >= n)
					continue;
				r = pvcalls_front_recv(e.fe, sk[i], buf, sizeof(buf), MSG_DONTWAIT);
				if (r == -EAGAIN)
					continue;
				ck_assert_msg(r > 0, "self: recv on %d: %zd (%s)", sk[i], r,
					      pvcalls_strerror((int)r));
				ck_assert(got[i] + (uint64_t)r <= n);
				ck_assert_msg(e2e_verify(sk[1 - i], got[i], buf, (size_t)r) < 0,
					      "self: wrong data on %d at %" PRIu64, sk[i], got[i]);
				got[i] += (uint64_t)r;
				last = e2e_now_ms();
			}
			e2e_check_failed();
			ck_assert_msg(e2e_now_ms() - last < 10000 * E2E_SLOW,
				      "self: stalled at %" PRIu64 " / %" PRIu64, got[0], got[1]);
			if (e2e_now_ms() - last > 1)
				e2e_sleep_ms(1);
		}
	}
	e2e_join(t[0], 30 * E2E_SLOW, "self: sender 0");
	e2e_join(t[1], 30 * E2E_SLOW, "self: sender 1");
	printf("e2e.api[%s]: self-connect, %" PRIu64 " MiB each way in %.2f s\n", e2e_flavour(),
	       n >> 20, e2e_now() - t0);
	/* Release one end: the other sees EOF. */
	e2e_release(&e, c);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, a, buf, 1, 0), 0);
	e2e_release(&e, a);
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

/*
 * pvcalls_front_poll from a third thread while one thread sends and
 * another receives on the same socket (as with a native socket).
 */
struct dir_pump {
	struct e2e_env *e;
	int s, fd;
	uint64_t n;
	int done; /* atomic */
};

static void *pump_fe_send(void *arg)
{
	struct dir_pump *p = arg;
	uint8_t buf[40000];

	for (uint64_t off = 0; off < p->n;) {
		size_t k = p->n - off < sizeof(buf) ? (size_t)(p->n - off) : sizeof(buf);
		int rc;

		e2e_fill(11, off, buf, k);
		rc = e2e_fsend_all(p->e, p->s, buf, k);
		if (rc < 0) {
			e2e_fail("send at %" PRIu64 ": %s", off, pvcalls_strerror(rc));
			break;
		}
		off += k;
	}
	__atomic_fetch_add(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *pump_fe_recv(void *arg)
{
	struct dir_pump *p = arg;
	uint8_t buf[40000];

	for (uint64_t off = 0; off < p->n;) {
		ssize_t r = pvcalls_front_recv(p->e->fe, p->s, buf, sizeof(buf), 0);

		if (r <= 0 || e2e_verify(12, off, buf, (size_t)r) >= 0) {
			e2e_fail("recv at %" PRIu64 ": %zd or bad data", off, r);
			break;
		}
		off += (uint64_t)r;
	}
	__atomic_fetch_add(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *pump_peer(void *arg)
{
	struct dir_pump *p = arg;
	uint8_t buf[65536];
	uint64_t in = 0, out = 0;

	while (in < p->n || out < p->n) {
		struct pollfd pf = { .fd = p->fd,
				     .events = (short)((in < p->n ? POLLIN : 0) |
						       (out < p->n ? POLLOUT : 0)) };
		ssize_t r;

		if (poll(&pf, 1, 10000) != 1) {
			e2e_fail("peer: stalled at %" PRIu64 " in, %" PRIu64 " out", in, out);
			break;
		}
		if (pf.revents & POLLIN) {
			r = read(p->fd, buf, sizeof(buf));
			if (r <= 0 || e2e_verify(11, in, buf, (size_t)r) >= 0) {
				e2e_fail("peer read at %" PRIu64 ": %zd or bad data", in, r);
				break;
			}
			in += (uint64_t)r;
		}
		if (pf.revents & POLLOUT) {
			size_t k = p->n - out < sizeof(buf) ? (size_t)(p->n - out) : sizeof(buf);

			e2e_fill(12, out, buf, k);
			r = send(p->fd, buf, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0)
				out += (uint64_t)r;
		}
	}
	return NULL;
}

START_TEST(poll_while_sending_and_receiving)
{
	struct e2e_env e;
	struct dir_pump p = { .e = &e, .n = E2E_SANITIZED ? (8u << 20) : (128u << 20) };
	pthread_t t[3];
	unsigned polls = 0;

	e2e_env_start(&e, NULL);
	p.s = e2e_connected_pair(&e, &p.fd);
	t[0] = e2e_thread(pump_peer, &p);
	t[1] = e2e_thread(pump_fe_send, &p);
	t[2] = e2e_thread(pump_fe_recv, &p);
	while (__atomic_load_n(&p.done, __ATOMIC_ACQUIRE) < 2) {
		struct pvcalls_pollfd pf = { .sock = p.s, .events = POLLIN | POLLOUT };
		int rc = pvcalls_front_poll(e.fe, &pf, 1, 10);

		ck_assert_msg(rc >= 0 && !(pf.revents & (POLLERR | POLLNVAL | POLLHUP)),
			      "poll: %d, revents %#x", rc, pf.revents);
		polls++;
		e2e_check_failed();
	}
	for (int i = 0; i < 3; i++)
		e2e_join(t[i], 60 * E2E_SLOW, "a pump thread");
	e2e_check_failed();
	printf("e2e.api[%s]: %u polls while %" PRIu64 " MiB went each way\n", e2e_flavour(), polls,
	       p.n >> 20);
	close(p.fd);
	e2e_release(&e, p.s);
	finish(&e);
}
END_TEST

/* Out of guest memory for rings: a clean error, and full recovery. */
START_TEST(ring_memory_exhausted)
{
	struct e2e_env e;
	uint16_t port = 0;
	int lfd, s[400], n = 0, rc = 0, fd;

	e2e_env_start(&e, NULL); /* default pool: 16 MiB, 8192 grants */
	lfd = e2e_tcp_listen(&port, 512);
	for (n = 0; n < 400; n++) {
		s[n] = e2e_socket(&e, 6);
		rc = e2e_front_connect(&e, s[n], port);
		if (rc < 0)
			break;
	}
	printf("e2e.api[%s]: default shm limits: %d connections of order 6, then %d (%s)\n",
	       e2e_flavour(), n, rc, pvcalls_strerror(rc));
	ck_assert_msg(n < 400 ? rc == -ENOMEM || rc == -ENOSPC || rc == -ENOBUFS : 1,
		      "connect #%d failed with %d (%s)", n, rc, pvcalls_strerror(rc));
	if (n < 400)
		e2e_release(&e, s[n]);
	for (int i = 0; i < n; i++)
		e2e_release(&e, s[i]);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	/* Everything is back: a big ring and data both ways. */
	{
		uint8_t b[4] = { 0 };
		int x;

		x = e2e_socket(&e, 9);
		rc = e2e_front_connect(&e, x, port);
		ck_assert_msg(rc == 0, "connect after recovery: %s", pvcalls_strerror(rc));
		/* drain the backlog until we find the newest connection: just
		 * use the last accepted one */
		fd = -1;
		for (;;) {
			struct pollfd p = { .fd = lfd, .events = POLLIN };
			int nfd;

			if (poll(&p, 1, 0) != 1)
				break;
			nfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (nfd >= 0)
				e2e_tcp_timeouts(nfd, E2E_SOCK_TIMEO_MS);
			if (fd >= 0)
				close(fd);
			fd = nfd;
		}
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pvcalls_front_send(e.fe, x, "ok!", 3, 0), 3);
		ck_assert_int_eq(e2e_read_all(fd, b, 3), 0);
		ck_assert(!memcmp(b, "ok!", 3));
		close(fd);
		e2e_release(&e, x);
	}
	close(lfd);
	finish(&e);
}
END_TEST

struct delayed_connect {
	uint16_t port;
	int delay_ms;
	int fd;
};

static void *connect_later(void *arg)
{
	struct delayed_connect *d = arg;

	e2e_sleep_ms(d->delay_ms);
	d->fd = e2e_tcp_connect(d->port);
	return NULL;
}

START_TEST(poll_listener)
{
	struct e2e_env e;
	struct delayed_connect d = { .delay_ms = 300, .fd = -1 };
	struct pvcalls_pollfd pf[2];
	uint16_t port;
	int l, s, rc, fd2, s2;
	double t0, dt;
	pthread_t t;

	e2e_env_start(&e, NULL);
	l = listener(&e, &port);
	d.port = port;
	pf[0] = (struct pvcalls_pollfd){ .sock = l, .events = POLLIN };
	/* No connection: nothing ready, and a timed poll times out. */
	ck_assert_int_eq(pvcalls_front_poll(e.fe, pf, 1, 0), 0);
	t0 = e2e_now();
	ck_assert_int_eq(pvcalls_front_poll(e.fe, pf, 1, 250), 0);
	dt = e2e_now() - t0;
	ck_assert_msg(dt >= 0.24 && dt < 2.0 * E2E_SLOW, "250 ms poll took %.3f s", dt);
	/* A connection arriving while we wait wakes the poll. */
	t = e2e_thread(connect_later, &d);
	t0 = e2e_now();
	rc = pvcalls_front_poll(e.fe, pf, 1, 10000 * E2E_SLOW);
	dt = e2e_now() - t0;
	e2e_join(t, 10, "the connecting peer");
	ck_assert_msg(rc == 1 && pf[0].revents == POLLIN, "poll: %d revents %#x after %.3f s", rc,
		      pf[0].revents, dt);
	ck_assert_msg(d.fd >= 0, "peer connect: %s", strerror(-d.fd));
	printf("e2e.api[%s]: listener poll woke %.1f ms after the 300 ms connect delay\n",
	       e2e_flavour(), (dt - 0.3) * 1000);
	/* Still ready until accepted (level-triggered). */
	ck_assert_int_eq(pvcalls_front_poll(e.fe, pf, 1, 0), 1);
	s = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_msg(s >= 0, "accept: %s", pvcalls_strerror(s));
	/* Poll a listener and a connected socket together. */
	pf[1] = (struct pvcalls_pollfd){ .sock = s, .events = POLLIN };
	ck_assert_int_eq(pvcalls_front_poll(e.fe, pf, 2, 0), 0);
	ck_assert_int_eq(e2e_write_all(d.fd, "q", 1), 0);
	rc = pvcalls_front_poll(e.fe, pf, 2, 5000 * E2E_SLOW);
	ck_assert_msg(rc == 1 && pf[0].revents == 0 && pf[1].revents == POLLIN,
		      "poll: %d, revents %#x %#x", rc, pf[0].revents, pf[1].revents);
	fd2 = e2e_tcp_connect(port);
	ck_assert_int_ge(fd2, 0);
	/* The connected socket stays readable; wait for the listener too. */
	{
		int64_t end = e2e_now_ms() + 5000 * E2E_SLOW;

		do {
			rc = pvcalls_front_poll(e.fe, pf, 2, 100);
			ck_assert_msg(rc >= 1 && pf[1].revents == POLLIN,
				      "poll: %d, revents %#x %#x", rc, pf[0].revents,
				      pf[1].revents);
		} while (!pf[0].revents && e2e_now_ms() < end);
	}
	ck_assert_msg(rc == 2 && pf[0].revents == POLLIN && pf[1].revents == POLLIN,
		      "poll: %d, revents %#x %#x", rc, pf[0].revents, pf[1].revents);
	s2 = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_int_ge(s2, 0);
	/* Entries with a negative socket are ignored; unknown ones are POLLNVAL. */
	pf[0] = (struct pvcalls_pollfd){ .sock = -1, .events = POLLIN };
	pf[1] = (struct pvcalls_pollfd){ .sock = 999, .events = POLLIN };
	ck_assert_int_eq(pvcalls_front_poll(e.fe, pf, 2, 0), 1);
	ck_assert_int_eq(pf[0].revents, 0);
	ck_assert_int_eq(pf[1].revents, POLLNVAL);
	close(d.fd);
	close(fd2);
	e2e_release(&e, s);
	e2e_release(&e, s2);
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

/*
 * Event loop: after pvcalls_front_poll(..., 0) found nothing, data that
 * arrives later must make pvcalls_front_fd() readable.
 */
static void event_loop(bool hint)
{
	struct e2e_cfg cfg = { 0 };
	struct e2e_env e;
	int fd, s;

	cfg.front.no_wait_hint = !hint;
	e2e_env_start(&e, &cfg);
	ck_assert(pvcalls_front_wait_hint(e.fe) == hint);
	s = e2e_connected_pair(&e, &fd);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_NONBLOCK, 1), 0);
	for (int round = 0; round < 10; round++) {
		struct pvcalls_pollfd pf = { .sock = s, .events = POLLIN };
		struct pollfd p = { .fd = pvcalls_front_fd(e.fe), .events = POLLIN };
		uint8_t b = (uint8_t)round, r = 0;
		double t0;
		int pr;

		/* Idle: handle what is pending, see nothing ready. */
		while (poll(&p, 1, 0) == 1)
			ck_assert_int_eq(pvcalls_front_process(e.fe), 0);
		ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 0), 0);
		/* Data arrives while the application sleeps on the fd. */
		ck_assert_int_eq(e2e_write_all(fd, &b, 1), 0);
		t0 = e2e_now();
		pr = poll(&p, 1, 2000 * E2E_SLOW);
		ck_assert_int_eq(pvcalls_front_process(e.fe), 0);
		ck_assert_msg(pr == 1,
			      "round %d: pvcalls_front_fd() stayed quiet for %.1f s after "
			      "data arrived (ready now: %d)",
			      round, e2e_now() - t0, pvcalls_front_poll(e.fe, &pf, 1, 0));
		/* The backend notifies after it produced: the byte is there. */
		ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 0), 1);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, &r, 1, 0), 1);
		ck_assert_int_eq(r, b);
	}
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}

START_TEST(event_loop_fd_wakes)
{
	event_loop(true);
}
END_TEST

START_TEST(event_loop_fd_wakes_nohint)
{
	event_loop(false);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Ping-pong: every blocking recv must be woken                           */
/* ---------------------------------------------------------------------- */

struct echo {
	int fd;
	int rounds;
	int err;
};

static void *echo_peer(void *arg)
{
	struct echo *p = arg;
	uint8_t b;

	for (int i = 0; i < p->rounds; i++) {
		if (e2e_read_all(p->fd, &b, 1) < 0 ||
		    (b ^= 0x5a, e2e_write_all(p->fd, &b, 1) < 0)) {
			p->err = errno ? errno : EPIPE;
			e2e_fail("echo peer: round %d: %s", i, strerror(p->err));
			return NULL;
		}
	}
	return NULL;
}

static void pingpong(const char *label, const struct e2e_cfg *cfg)
{
	struct e2e_env e;
	struct echo p = { 0 };
	const int rounds = E2E_SANITIZED ? 5000 : 20000;
	double t0, worst = 0, t_all;
	int s, slow = 0;
	pthread_t t;

	e2e_env_start(&e, cfg);
	s = e2e_connected_pair(&e, &p.fd);
	e2e_tcp_nodelay(p.fd);
	p.rounds = rounds;
	t = e2e_thread(echo_peer, &p);
	t_all = e2e_now();
	for (int i = 0; i < rounds; i++) {
		uint8_t b = (uint8_t)i, r = 0;
		ssize_t n;
		double dt;

		t0 = e2e_now();
		n = pvcalls_front_send(e.fe, s, &b, 1, 0);
		ck_assert_msg(n == 1, "%s: round %d: send %zd (%s)", label, i, n,
			      pvcalls_strerror((int)n));
		n = pvcalls_front_recv(e.fe, s, &r, 1, 0);
		ck_assert_msg(n == 1, "%s: round %d: recv %zd (%s)%s", label, i, n,
			      pvcalls_strerror((int)n),
			      n == -EAGAIN
				      ? " - lost wakeup: no answer within the safety-net timeout"
				      : "");
		ck_assert_msg(r == (uint8_t)(b ^ 0x5a), "%s: round %d: wrong byte", label, i);
		dt = e2e_now() - t0;
		if (dt > worst)
			worst = dt;
		slow += dt > 0.1;
	}
	t_all = e2e_now() - t_all;
	e2e_join(t, 10, "the echo peer");
	e2e_check_failed();
	printf("e2e.api[%s] ping-pong %s: %d round trips, mean %.1f us, worst %.1f ms, %d over 100 "
	       "ms\n",
	       e2e_flavour(), label, rounds, t_all / rounds * 1e6, worst * 1000, slow);
	/* A lost wakeup that a periodic timer papers over shows as a stall. */
	ck_assert_msg(worst < 0.5 * (E2E_SLOW > 1 ? 2 : 1),
		      "%s: a round trip took %.0f ms (a lost wakeup rescued by a timeout?)", label,
		      worst * 1000);
	close(p.fd);
	e2e_release(&e, s);
	finish(&e);
}

START_TEST(pingpong_default)
{
	pingpong("default", NULL);
}
END_TEST

START_TEST(pingpong_nospin)
{
	struct e2e_cfg cfg = { 0 };

	cfg.front.spin_us = PVCALLS_FRONT_NO_SPIN;
	cfg.back.spin_us = PVCALLS_BACK_NO_SPIN;
	pingpong("no spin", &cfg);
}
END_TEST

START_TEST(pingpong_nohint)
{
	struct e2e_cfg cfg = { 0 };

	cfg.front.spin_us = PVCALLS_FRONT_NO_SPIN;
	cfg.front.no_wait_hint = true;
	cfg.back.spin_us = PVCALLS_BACK_NO_SPIN;
	cfg.back.no_wait_hint = true;
	pingpong("no spin, no wait hints", &cfg);
}
END_TEST

/*
 * One socket, a sender and a receiver thread both asleep. The sender is
 * woken (the peer drains its data) and leaves; then data for the receiver
 * arrives: the receiver must still be woken at once.
 */
struct one_call {
	struct e2e_env *e;
	int s;
	bool tx;
	size_t len;
	ssize_t rc;
	double t_end;
};

static void *one_call(void *arg)
{
	struct one_call *c = arg;
	static uint8_t rbuf[1];
	uint8_t *buf = c->tx ? calloc(1, c->len) : rbuf;

	if (c->tx)
		c->rc = e2e_fsend_all(c->e, c->s, buf, c->len);
	else
		c->rc = pvcalls_front_recv(c->e->fe, c->s, buf, 1, 0);
	c->t_end = e2e_now();
	if (c->tx)
		free(buf);
	return NULL;
}

static void sender_then_receiver(bool hint)
{
	struct e2e_cfg cfg = { 0 };
	struct e2e_env e;
	const int rounds = E2E_SANITIZED ? 5 : 20;
	const size_t len = 16u << 20;
	uint8_t *buf = malloc(1u << 16);
	double worst = 0;
	int fd, s;

	cfg.front.no_wait_hint = !hint;
	e2e_env_start(&e, &cfg);
	s = e2e_connected_pair(&e, &fd);
	for (int round = 0; round < rounds; round++) {
		struct one_call rc = { .e = &e, .s = s, .tx = false };
		struct one_call sc = { .e = &e, .s = s, .tx = true, .len = len };
		pthread_t tr, ts;
		size_t got = 0;
		double t0, lat;

		tr = e2e_thread(one_call, &rc);
		e2e_sleep_ms(20);
		ts = e2e_thread(one_call, &sc);
		e2e_sleep_ms(200); /* both asleep: the ring and the buffers are full */
		while (got < len) {
			ssize_t r = read(fd, buf, 1u << 16);

			ck_assert_msg(r > 0, "peer read: %s", r < 0 ? strerror(errno) : "EOF");
			got += (size_t)r;
		}
		e2e_join(ts, 30 * E2E_SLOW, "the sender");
		ck_assert_msg(sc.rc == 0, "send: %zd", sc.rc);
		e2e_sleep_ms(30);
		t0 = e2e_now();
		ck_assert_int_eq(e2e_write_all(fd, "r", 1), 0);
		e2e_join(tr, 40 * E2E_SLOW, "the receiver");
		ck_assert_msg(rc.rc == 1, "recv: %zd", rc.rc);
		lat = rc.t_end - t0;
		if (lat > worst)
			worst = lat;
		ck_assert_msg(lat < 0.25 * (E2E_SLOW > 1 ? 2 : 1),
			      "round %d: the receiver woke %.0f ms after its data arrived "
			      "(the sender's wakeup cleared the socket's wait hint?)",
			      round, lat * 1000);
	}
	printf("e2e.api[%s]: receiver wakeup after a sender wakeup on the same socket%s: "
	       "worst %.1f ms\n",
	       e2e_flavour(), hint ? "" : " (no wait hints)", worst * 1000);
	free(buf);
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}

START_TEST(sender_wakeup_keeps_receiver_woken)
{
	sender_then_receiver(true);
}
END_TEST

START_TEST(sender_wakeup_keeps_receiver_woken_nohint)
{
	sender_then_receiver(false);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* 8 threads x 4 sockets at once                                          */
/* ---------------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 4

START_TEST(threads_8x4)
{
	struct e2e_env e;
	struct e2e_srv srv;
	struct e2e_client w[NTHREADS];
	pthread_t t[NTHREADS];
	uint64_t bytes = E2E_SANITIZED ? (128u << 10) : (1u << 20);
	double t0 = e2e_now();

	e2e_env_start(&e, NULL);
	e2e_srv_start(&srv, NTHREADS * PER_THREAD);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct e2e_client){ .fe = e.fe,
					    .port = srv.port,
					    .id = i,
					    .idx0 = (uint32_t)(i * PER_THREAD),
					    .nsock = PER_THREAD,
					    .bytes = bytes };
		t[i] = e2e_thread(e2e_client_thread, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++)
		e2e_join(t[i], 120 * E2E_SLOW, "a worker thread");
	e2e_check_failed();
	e2e_srv_wait(&srv, NTHREADS * PER_THREAD, NTHREADS * PER_THREAD, 20000);
	printf("e2e.api[%s]: %d threads x %d sockets x %" PRIu64 " KiB each way in %.2f s\n",
	       e2e_flavour(), NTHREADS, PER_THREAD, bytes >> 10, e2e_now() - t0);
	e2e_srv_stop(&srv);
	finish(&e);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Release while another thread is blocked on the socket                  */
/* ---------------------------------------------------------------------- */

enum blocked_op { B_RECV, B_SEND, B_ACCEPT, B_POLL };

struct blocked {
	struct e2e_env *e;
	int s;
	enum blocked_op op;
	int started, finished; /* atomic */
	ssize_t rc;
	short revents;
	double t_end;
};

static void *blocker(void *arg)
{
	struct blocked *b = arg;
	static uint8_t buf[1u << 16];

	ssize_t rc = 0;

	__atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
	switch (b->op) {
	case B_RECV:
		rc = pvcalls_front_recv(b->e->fe, b->s, buf, sizeof(buf), 0);
		break;
	case B_SEND:
		/* Returns a count while anything was queued; the call that
		 * blocks on the full ring is the one released. */
		do
			rc = pvcalls_front_send(b->e->fe, b->s, buf, sizeof(buf), 0);
		while (rc > 0);
		break;
	case B_ACCEPT:
		rc = pvcalls_front_accept(b->e->fe, b->s, 0);
		break;
	case B_POLL: {
		struct pvcalls_pollfd pf = { .sock = b->s, .events = POLLIN };

		rc = pvcalls_front_poll(b->e->fe, &pf, 1, E2E_SOCK_TIMEO_MS);
		b->revents = pf.revents;
		break;
	}
	}
	b->t_end = e2e_now();
	b->rc = rc;
	__atomic_store_n(&b->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void release_while_blocked(enum blocked_op op, const char *what)
{
	struct e2e_env e;
	struct blocked b = { .e = &e, .op = op };
	int fd = -1, rc;
	uint16_t port;
	pthread_t t;
	double t0, t_rel, wake;
	const double limit = E2E_SLOW > 1 ? 0.5 : 0.25;

	e2e_env_start(&e, NULL);
	if (op == B_ACCEPT)
		b.s = listener(&e, &port);
	else
		b.s = e2e_connected_pair(&e, &fd);
	t = e2e_thread(blocker, &b);
	while (!__atomic_load_n(&b.started, __ATOMIC_ACQUIRE))
		e2e_sleep_ms(1);
	/* Long past any spinning: the thread sleeps. */
	e2e_sleep_ms(op == B_SEND ? 1000 : 300);
	if (__atomic_load_n(&b.finished, __ATOMIC_ACQUIRE))
		ck_abort_msg("%s returned %zd before the release", what, b.rc);
	t0 = e2e_now();
	rc = pvcalls_front_release(e.fe, b.s);
	t_rel = e2e_now() - t0;
	e2e_join(t, 40 * E2E_SLOW, what);
	wake = b.t_end - t0;
	printf("e2e.api[%s]: release with a thread blocked in %s: it returned %zd after %.1f ms, "
	       "release took %.1f ms\n",
	       e2e_flavour(), what, b.rc, wake * 1000, t_rel * 1000);
	ck_assert_msg(rc == 0, "release: %s", pvcalls_strerror(rc));
	if (op == B_POLL)
		ck_assert_msg(b.rc == 1 && b.revents == POLLNVAL, "poll: %zd, revents %#x", b.rc,
			      b.revents);
	else
		ck_assert_msg(b.rc == -EBADF, "%s blocked during release returned %zd (%s)", what,
			      b.rc, pvcalls_strerror((int)b.rc));
	ck_assert_msg(wake < limit, "%s blocked during release returned only after %.0f ms", what,
		      wake * 1000);
	if (fd >= 0) {
		/* The host socket is closed: the peer sees EOF (after any data). */
		uint8_t buf[65536];
		ssize_t r;

		while ((r = read(fd, buf, sizeof(buf))) > 0)
			;
		ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET), "peer after release: %s",
			      r < 0 ? strerror(errno) : "?");
		close(fd);
	}
	finish(&e);
}

START_TEST(release_unblocks_recv)
{
	release_while_blocked(B_RECV, "recv");
}
END_TEST

START_TEST(release_unblocks_send)
{
	release_while_blocked(B_SEND, "send");
}
END_TEST

START_TEST(release_unblocks_accept)
{
	release_while_blocked(B_ACCEPT, "accept");
}
END_TEST

START_TEST(release_unblocks_poll)
{
	release_while_blocked(B_POLL, "poll");
}
END_TEST

/*
 * Release without waiting (front_sock.c, "Asynchronous release"): what
 * was sent before the release still arrives in full, because the ring
 * stays shared until the backend answered; both ends of many short
 * connections, and the backend ends with no socket left. The rings come
 * back from the ring cache (front_sock.c, "Ring cache"): each connection
 * carries its own bytes both ways, so a stale index or byte of the last
 * one shows.
 */
START_TEST(release_async_delivers)
{
	enum { N = 20, LEN = 100 * 1024, BACK = 3000 };
	static uint8_t out[LEN], in[LEN];
	struct e2e_env e;

	e2e_env_start(&e, NULL);
	for (int k = 0; k < N; k++) {
		int fd, s = e2e_connected_pair(&e, &fd);
		ssize_t r;
		char b;

		for (size_t i = 0; i < LEN; i++)
			out[i] = (uint8_t)(i * 131 + 7 + (size_t)k * 29);
		/* Host to guest first: the in ring must start empty. */
		ck_assert_int_eq(e2e_write_all(fd, out + k, BACK), 0);
		memset(in, 0, BACK);
		ck_assert_int_eq(e2e_frecv_all(&e, s, in, BACK), 0);
		ck_assert_msg(!memcmp(in, out + k, BACK), "connection %d: bytes in differ", k);
		ck_assert_int_eq(e2e_fsend_all(&e, s, out, LEN), 0);
		e2e_release(&e, s);
		memset(in, 0, sizeof(in));
		ck_assert_int_eq(e2e_read_all(fd, in, LEN), 0);
		ck_assert_msg(!memcmp(in, out, LEN), "connection %d: bytes out differ", k);
		r = read(fd, &b, 1);
		ck_assert_msg(r == 0, "connection %d: no EOF after the data (%zd)", k, r);
		close(fd);
	}
	finish(&e);
}
END_TEST

/*
 * A peer that speaks first: its bytes reach the guest although the
 * backend does not read a new connection at once (it waits for the
 * EPOLLIN edge, back_data.c, pvc_back_relay_start). Accepted: the host
 * client's bytes are queued before the backend's accept4(), so only
 * the epoll ADD can report them. Connected: the host server writes as
 * soon as it accepts. A lost edge fails the poll, it does not hang.
 */
static void expect_bytes(struct e2e_env *e, int s, const char *what)
{
	struct pvcalls_pollfd pf = { .sock = s, .events = POLLIN };
	char b[8] = { 0 };
	ssize_t r;

	ck_assert_msg(pvcalls_front_poll(e->fe, &pf, 1, 5000 * E2E_SLOW) == 1,
		      "%s: the peer's first bytes never became readable", what);
	r = pvcalls_front_recv(e->fe, s, b, sizeof(b), MSG_DONTWAIT);
	ck_assert_msg(r == 5 && !memcmp(b, "hello", 5), "%s: recv %zd '%.8s'", what, r, b);
}

START_TEST(peer_speaks_first)
{
	struct e2e_env e;
	uint16_t port;
	int l, s, fd, lfd;

	e2e_env_start(&e, NULL);
	l = listener(&e, &port);
	for (int k = 0; k < 20; k++) {
		fd = e2e_tcp_connect(port);
		ck_assert_int_eq(e2e_write_all(fd, "hello", 5), 0);
		if (k % 2)
			e2e_sleep_ms(5); /* surely queued before the ACCEPT */
		s = pvcalls_front_accept(e.fe, l, 0);
		ck_assert_msg(s >= 0, "accept: %s", pvcalls_strerror(s));
		expect_bytes(&e, s, "accepted");
		e2e_release(&e, s);
		close(fd);
	}
	e2e_release(&e, l);
	port = 0;
	lfd = e2e_tcp_listen(&port, 8);
	for (int k = 0; k < 20; k++) {
		s = e2e_socket(&e, -1);
		ck_assert_int_eq(e2e_front_connect(&e, s, port), 0);
		fd = e2e_tcp_accept(lfd, 5000);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(e2e_write_all(fd, "hello", 5), 0);
		expect_bytes(&e, s, "connected");
		e2e_release(&e, s);
		close(fd);
	}
	close(lfd);
	finish(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e.api");
	TCase *tc = tcase_create("semantics");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, eof_exact);
	tcase_add_test(tc, peek);
	tcase_add_test(tc, peek_wrap);
	tcase_add_test(tc, nonblocking_and_timeouts);
	tcase_add_test(tc, connect_refused);
	tcase_add_test(tc, nonblocking_connect);
	tcase_add_test(tc, accept_nonblocking);
	tcase_add_test(tc, poll_listener);
	tcase_add_test(tc, accept_two_threads);
	tcase_add_test(tc, self_connect);
	tcase_add_test(tc, poll_while_sending_and_receiving);
	tcase_add_test(tc, ring_memory_exhausted);
	tcase_add_test(tc, event_loop_fd_wakes);
	tcase_add_test(tc, event_loop_fd_wakes_nohint);
	tcase_add_test(tc, release_async_delivers);
	tcase_add_test(tc, peer_speaks_first);
	suite_add_tcase(s, tc);

	tc = tcase_create("wakeups");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pingpong_default);
	tcase_add_test(tc, pingpong_nospin);
	tcase_add_test(tc, pingpong_nohint);
	tcase_add_test(tc, sender_wakeup_keeps_receiver_woken);
	tcase_add_test(tc, sender_wakeup_keeps_receiver_woken_nohint);
	tcase_add_test(tc, threads_8x4);
	tcase_add_test(tc, release_unblocks_recv);
	tcase_add_test(tc, release_unblocks_send);
	tcase_add_test(tc, release_unblocks_accept);
	tcase_add_test(tc, release_unblocks_poll);
	suite_add_tcase(s, tc);
	return e2e_main(s);
}
