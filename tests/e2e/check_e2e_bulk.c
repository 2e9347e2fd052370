/* SPDX-License-Identifier: MIT */
/*
 * Bulk transfer in both directions at once on one connection, every byte
 * verified at both ends, at several data-ring orders, through connect and
 * through accept. Throughput is printed, never asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

#define CHUNK_MAX (256u << 10)

struct xfer {
	struct e2e_env *e;
	int s;  /* frontend socket */
	int fd; /* TCP peer */
	uint64_t n;
	struct e2e_pattern up, down; /* up: frontend -> peer; down: peer -> frontend */
	double t0;
	double fe_send_end, fe_recv_end, peer_send_end, peer_recv_end;
	int peer_got_all;                    /* atomic */
	double fe_send_worst, fe_recv_worst; /* longest single call */
	ssize_t fe_eof_rc;
	int peer_eof_rc;
};

static void *fe_sender(void *arg)
{
	struct xfer *x = arg;
	uint64_t off = 0, rs = 0x1234567u;
	double t;

	while (off < x->n) {
		size_t avail, want = 1 + (size_t)(e2e_rand(&rs) % CHUNK_MAX);
		const uint8_t *p = e2e_pattern_at(&x->up, off, &avail);
		size_t k = want < avail ? want : avail;
		ssize_t r;

		if (k > x->n - off)
			k = (size_t)(x->n - off);
		t = e2e_now();
		r = pvcalls_front_send(x->e->fe, x->s, p, k, 0);
		t = e2e_now() - t;
		if (t > x->fe_send_worst)
			x->fe_send_worst = t;
		if (r <= 0) {
			e2e_fail("frontend send of %zu bytes at offset %" PRIu64 ": %zd (%s)%s", k,
				 off, r, r < 0 ? pvcalls_strerror((int)r) : "",
				 r == -EAGAIN ? " - the safety-net send timeout expired" : "");
			return NULL;
		}
		off += (uint64_t)r;
	}
	x->fe_send_end = e2e_now();
	return NULL;
}

static void *fe_receiver(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(CHUNK_MAX);
	uint64_t off = 0, rs = 0x7654321u;

	while (off < x->n) {
		size_t want = 1 + (size_t)(e2e_rand(&rs) % CHUNK_MAX);
		double t = e2e_now();
		ssize_t r = pvcalls_front_recv(x->e->fe, x->s, buf, want, 0), bad;

		t = e2e_now() - t;
		if (t > x->fe_recv_worst)
			x->fe_recv_worst = t;

		if (r <= 0) {
			e2e_fail("frontend recv at offset %" PRIu64 " of %" PRIu64 ": %zd (%s)%s",
				 off, x->n, r, r < 0 ? pvcalls_strerror((int)r) : "EOF",
				 r == -EAGAIN ? " - the safety-net receive timeout expired" : "");
			goto out;
		}
		if (off + (uint64_t)r > x->n) {
			e2e_fail("frontend received %" PRIu64 " bytes, the peer sent %" PRIu64,
				 off + (uint64_t)r, x->n);
			goto out;
		}
		bad = e2e_pattern_verify(&x->down, off, buf, (size_t)r);
		if (bad >= 0) {
			e2e_fail("frontend: wrong byte at stream offset %" PRIu64
				 " (recv of %zd at %" PRIu64 ")",
				 off + (uint64_t)bad, r, off);
			goto out;
		}
		off += (uint64_t)r;
	}
	x->fe_recv_end = e2e_now();
	/* The peer shut its sending side down: end of stream, exactly here. */
	x->fe_eof_rc = pvcalls_front_recv(x->e->fe, x->s, buf, CHUNK_MAX, 0);
out:
	free(buf);
	return NULL;
}

static void *peer_sender(void *arg)
{
	struct xfer *x = arg;
	uint64_t off = 0, rs = 0xabcdefu;

	while (off < x->n) {
		size_t avail, want = 1 + (size_t)(e2e_rand(&rs) % CHUNK_MAX);
		const uint8_t *p = e2e_pattern_at(&x->down, off, &avail);
		size_t k = want < avail ? want : avail;
		ssize_t r;

		if (k > x->n - off)
			k = (size_t)(x->n - off);
		r = send(x->fd, p, k, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e2e_fail("peer send at offset %" PRIu64 ": %s", off,
				 r < 0 ? strerror(errno) : "0");
			return NULL;
		}
		off += (uint64_t)r;
	}
	x->peer_send_end = e2e_now();
	shutdown(x->fd, SHUT_WR);
	return NULL;
}

static void *peer_receiver(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(CHUNK_MAX);
	uint64_t off = 0;
	ssize_t r;

	while (off < x->n) {
		ssize_t bad;

		r = read(x->fd, buf, CHUNK_MAX);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e2e_fail("peer recv at offset %" PRIu64 " of %" PRIu64 ": %s", off, x->n,
				 r < 0 ? strerror(errno) : "EOF");
			goto out;
		}
		if (off + (uint64_t)r > x->n) {
			e2e_fail("peer received %" PRIu64 " bytes, the frontend sent %" PRIu64,
				 off + (uint64_t)r, x->n);
			goto out;
		}
		bad = e2e_pattern_verify(&x->up, off, buf, (size_t)r);
		if (bad >= 0) {
			e2e_fail("peer: wrong byte at stream offset %" PRIu64, off + (uint64_t)bad);
			goto out;
		}
		off += (uint64_t)r;
	}
	x->peer_recv_end = e2e_now();
	__atomic_store_n(&x->peer_got_all, 1, __ATOMIC_RELEASE);
	/* After the frontend releases the socket, the backend closes it. */
	do
		r = read(x->fd, buf, CHUNK_MAX);
	while (r < 0 && errno == EINTR);
	x->peer_eof_rc = r < 0 ? -errno : (int)r;
out:
	free(buf);
	return NULL;
}

static double mbps(uint64_t n, double t)
{
	return t > 0 ? (double)n / t / 1e6 : 0;
}

/* Runs the transfer on connected frontend socket @s and peer socket @fd. */
static void transfer(struct e2e_env *e, int s, int fd, uint64_t n, const char *label)
{
	struct xfer *x = calloc(1, sizeof(*x));
	pthread_t t[4];
	struct pvcalls_back_stats st;
	int64_t end;
	int limit = (int)(n >> 20) / 4 + 60; /* s; >= 4 MB/s or a bug */

	ck_assert_ptr_nonnull(x);
	x->e = e;
	x->s = s;
	x->fd = fd;
	x->n = n;
	x->fe_eof_rc = 1;
	x->peer_eof_rc = 1;
	e2e_pattern_init(&x->up, 0x75707374u);
	e2e_pattern_init(&x->down, 0x646f776eu);
	e2e_tcp_timeouts(fd, E2E_SOCK_TIMEO_MS);

	x->t0 = e2e_now();
	t[0] = e2e_thread(fe_sender, x);
	t[1] = e2e_thread(fe_receiver, x);
	t[2] = e2e_thread(peer_sender, x);
	t[3] = e2e_thread(peer_receiver, x);
	e2e_join(t[0], limit * E2E_SLOW, "the frontend sender");
	e2e_join(t[1], limit * E2E_SLOW, "the frontend receiver");
	e2e_join(t[2], limit * E2E_SLOW, "the peer sender");
	end = e2e_now_ms() + (int64_t)limit * 1000 * E2E_SLOW;
	while (!__atomic_load_n(&x->peer_got_all, __ATOMIC_ACQUIRE)) {
		e2e_check_failed();
		ck_assert_msg(e2e_now_ms() < end, "watchdog: the peer did not receive everything");
		e2e_sleep_ms(5);
	}
	e2e_check_failed();
	ck_assert_msg(x->fe_eof_rc == 0,
		      "%s: after %" PRIu64 " bytes and the peer's shutdown, recv gave %zd, not EOF",
		      label, n, x->fe_eof_rc);

	{
		double dt =
			(x->fe_recv_end > x->peer_recv_end ? x->fe_recv_end : x->peer_recv_end) -
			x->t0;

		printf("e2e.bulk[%s] %s: %" PRIu64 " MiB each way in %.2f s: "
		       "guest->peer %.0f MB/s, peer->guest %.0f MB/s, total %.0f MB/s\n",
		       e2e_flavour(), label, n >> 20, dt, mbps(n, x->peer_recv_end - x->t0),
		       mbps(n, x->fe_recv_end - x->t0), mbps(2 * n, dt));
	}

	printf("e2e.bulk[%s] %s: longest frontend call: send %.1f ms, recv %.1f ms\n",
	       e2e_flavour(), label, x->fe_send_worst * 1000, x->fe_recv_worst * 1000);
	/* The peer is always reading and writing: a call that blocks this long
	 * slept through its wakeup (fe_wait's 1 s poll timeout rescued it). */
	ck_assert_msg(
		x->fe_send_worst < 0.9 * (E2E_SLOW > 1 ? 2 : 1) &&
			x->fe_recv_worst < 0.9 * (E2E_SLOW > 1 ? 2 : 1),
		"%s: a frontend call blocked for %.0f ms (send) / %.0f ms (recv): lost wakeup?",
		label, x->fe_send_worst * 1000, x->fe_recv_worst * 1000);
	/* Releasing closes the host socket: the peer sees EOF. */
	e2e_release(e, s);
	e2e_join(t[3], 30 * E2E_SLOW, "the peer receiver (waiting for EOF after release)");
	e2e_check_failed();
	ck_assert_msg(x->peer_eof_rc == 0, "%s: after release the peer read %d, not EOF", label,
		      x->peer_eof_rc);
	close(fd);

	e2e_back_stats(e, &st);
	ck_assert_msg(st.bytes_to_guest == n && st.bytes_from_guest == n,
		      "%s: backend counted %" PRIu64 " bytes to the guest and %" PRIu64
		      " from it; %" PRIu64 " each way were moved",
		      label, st.bytes_to_guest, st.bytes_from_guest, n);
	printf("e2e.bulk[%s] %s: backend: %" PRIu64 " ring-full stalls, %" PRIu64
	       " notifies sent, %" PRIu64 " suppressed\n",
	       e2e_flavour(), label, st.ring_full_stalls, st.notifies_sent, st.notifies_suppressed);
	e2e_pattern_free(&x->up);
	e2e_pattern_free(&x->down);
	free(x);
}

static void bulk_connect(int order)
{
	struct e2e_env e;
	uint64_t n = e2e_volume(1ull << 30, 64ull << 20);
	uint16_t port = 0;
	int lfd, s, fd, rc;
	char label[64];

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	s = e2e_socket(&e, order);
	rc = e2e_front_connect(&e, s, port);
	ck_assert_msg(rc == 0, "connect: %s", pvcalls_strerror(rc));
	if (order >= 0)
		ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RING_ORDER, order),
				 -EISCONN);
	fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	if (order >= 0)
		snprintf(label, sizeof(label), "connect, order %d", order);
	else
		snprintf(label, sizeof(label), "connect, default order");
	transfer(&e, s, fd, n, label);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_env_stop(&e);
}

START_TEST(bulk_default_order)
{
	bulk_connect(-1);
}
END_TEST

START_TEST(bulk_order9)
{
	bulk_connect(9);
}
END_TEST

START_TEST(bulk_order4)
{
	bulk_connect(4);
}
END_TEST

/* Order 0: a single 4 KiB page each way, every transfer wraps. */
START_TEST(bulk_order0)
{
	struct e2e_env e;
	uint64_t n = e2e_volume(1ull << 30, 64ull << 20) / 16;
	uint16_t port = 0;
	int lfd, s, fd, rc;

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	s = e2e_socket(&e, 0);
	rc = e2e_front_connect(&e, s, port);
	ck_assert_msg(rc == 0, "connect: %s", pvcalls_strerror(rc));
	fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	transfer(&e, s, fd, n, "connect, order 0");
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_env_stop(&e);
}
END_TEST

START_TEST(bulk_accept)
{
	struct e2e_env e;
	uint64_t n = e2e_volume(256ull << 20, 64ull << 20);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint16_t port = e2e_free_port();
	int l, s, fd, rc;

	e2e_env_start(&e, NULL);
	l = e2e_socket(&e, -1);
	a.sin_port = htons(port);
	rc = pvcalls_front_bind(e.fe, l, (struct sockaddr *)&a, sizeof(a));
	ck_assert_msg(rc == 0, "bind 127.0.0.1:%u: %s", port, pvcalls_strerror(rc));
	rc = pvcalls_front_listen(e.fe, l, 4);
	ck_assert_msg(rc == 0, "listen: %s", pvcalls_strerror(rc));
	fd = e2e_tcp_connect(port);
	ck_assert_msg(fd >= 0, "peer connect to the guest's listener: %s", strerror(-fd));
	s = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_msg(s >= 0, "accept: %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	transfer(&e, s, fd, n, "accept, default order");
	e2e_release(&e, l);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	/* The listener is gone for real: the port refuses connections. */
	fd = e2e_tcp_connect(port);
	ck_assert_msg(fd == -ECONNREFUSED, "connect to the released listener: %d", fd);
	e2e_env_stop(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e.bulk");
	TCase *tc = tcase_create("bulk");

	printf("e2e.bulk: %s build, %" PRIu64 " MiB per direction (accept: %" PRIu64 " MiB)\n",
	       e2e_flavour(), e2e_volume(1ull << 30, 64ull << 20) >> 20,
	       e2e_volume(256ull << 20, 64ull << 20) >> 20);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, bulk_default_order);
	tcase_add_test(tc, bulk_order9);
	tcase_add_test(tc, bulk_order4);
	tcase_add_test(tc, bulk_order0);
	tcase_add_test(tc, bulk_accept);
	suite_add_tcase(s, tc);
	return e2e_main(s);
}
