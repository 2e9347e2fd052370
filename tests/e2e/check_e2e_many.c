/* SPDX-License-Identifier: MIT */
/*
 * Many connections at once, driven from one thread with non-blocking
 * sockets and pvcalls_front_poll(); every connection's content verified
 * at both ends; afterwards the backend holds no socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

struct cl {
	int s;
	bool connected;
	uint8_t hdr[sizeof(struct e2e_hdr)];
	uint64_t hdr_sent, up_sent, down_got;
};

/*
 * Drives @n connections to @srv through their whole exchange with
 * pvcalls_front_poll (or, with @evloop, with pvcalls_front_fd +
 * pvcalls_front_process + pvcalls_front_poll(..., 0), as an event loop would).
 */
static void drive(struct e2e_env *e, struct e2e_srv *srv, int n, uint64_t up, uint64_t down,
		  bool evloop)
{
	struct cl *c = calloc((size_t)n, sizeof(*c));
	struct pvcalls_pollfd *pf = calloc((size_t)n, sizeof(*pf));
	uint8_t *buf = malloc(65536);
	int pending, rc;
	int64_t last_progress, t_start = e2e_now_ms();
	const int stall_ms = 10000 * E2E_SLOW;
	uint64_t polls = 0, empty_polls = 0, missed = 0;

	ck_assert(c && pf && buf);

	/* Non-blocking connects, all in flight at once. */
	for (int i = 0; i < n; i++) {
		c[i].s = pvcalls_front_socket(e->fe, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ck_assert_msg(c[i].s >= 0, "socket #%d: %s", i, pvcalls_strerror(c[i].s));
		rc = e2e_front_connect(e, c[i].s, srv->port);
		ck_assert_msg(rc == -EINPROGRESS || rc == 0, "non-blocking connect #%d: %d (%s)", i,
			      rc, pvcalls_strerror(rc));
		c[i].connected = rc == 0;
		{
			struct e2e_hdr h = {
				.magic = E2E_SRV_MAGIC, .idx = (uint32_t)i, .up = up, .down = down
			};

			memcpy(c[i].hdr, &h, sizeof(h));
		}
	}
	/* Wait for each to complete (POLLOUT), then collect the result. */
	last_progress = e2e_now_ms();
	for (;;) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			pf[i].sock = c[i].connected ? -1 : c[i].s;
			pf[i].events = POLLOUT;
			pf[i].revents = 0;
			k += !c[i].connected;
		}
		if (!k)
			break;
		rc = pvcalls_front_poll(e->fe, pf, (unsigned)n, 1000);
		ck_assert_msg(rc >= 0, "poll for connects: %s", pvcalls_strerror(rc));
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			ck_assert_msg(!(pf[i].revents & (POLLERR | POLLHUP | POLLNVAL)),
				      "connect #%d: revents %#x", i, pf[i].revents);
			rc = e2e_front_connect(e, c[i].s, srv->port);
			ck_assert_msg(rc == 0, "connect #%d after POLLOUT: %d (%s)", i, rc,
				      pvcalls_strerror(rc));
			c[i].connected = true;
			last_progress = e2e_now_ms();
		}
		ck_assert_msg(e2e_now_ms() - last_progress < stall_ms,
			      "%d connects still pending after %d s without progress", k,
			      stall_ms / 1000);
	}
	printf("e2e.many[%s]: %d connections established in %.2f s\n", e2e_flavour(), n,
	       (double)(e2e_now_ms() - t_start) / 1000.0);

	/* Exchange, all connections concurrently. */
	t_start = e2e_now_ms();
	last_progress = e2e_now_ms();
	for (;;) {
		bool progress = false;

		pending = 0;
		for (int i = 0; i < n; i++) {
			bool tx = c[i].hdr_sent < sizeof(c[i].hdr) || c[i].up_sent < up;

			pf[i].sock = tx || c[i].down_got < down ? c[i].s : -1;
			pf[i].events =
				(short)((tx ? POLLOUT : 0) | (c[i].down_got < down ? POLLIN : 0));
			pf[i].revents = 0;
			pending += pf[i].sock >= 0;
		}
		if (!pending)
			break;
		if (evloop) {
			struct pollfd p = { .fd = pvcalls_front_fd(e->fe), .events = POLLIN };

			rc = pvcalls_front_poll(e->fe, pf, (unsigned)n, 0);
			if (rc == 0) {
				/* Nothing ready: sleep on the frontend's fd like an event loop. */
				int pr = poll(&p, 1, 1000);

				ck_assert_int_eq(pvcalls_front_process(e->fe), 0);
				rc = pvcalls_front_poll(e->fe, pf, (unsigned)n, 0);
				/* Ready sockets, yet the fd slept through it: no event came. */
				if (pr == 0 && rc > 0)
					missed++;
			}
		} else {
			rc = pvcalls_front_poll(e->fe, pf, (unsigned)n, 1000);
		}
		ck_assert_msg(rc >= 0, "pvcalls_front_poll: %s", pvcalls_strerror(rc));
		polls++;
		empty_polls += rc == 0;
		for (int i = 0; i < n; i++) {
			short re = pf[i].revents;

			if (!re)
				continue;
			ck_assert_msg(!(re & (POLLERR | POLLNVAL)), "connection %d: revents %#x", i,
				      re);
			if (re & POLLOUT) {
				ssize_t w;

				if (c[i].hdr_sent < sizeof(c[i].hdr)) {
					w = pvcalls_front_send(
						e->fe, c[i].s, c[i].hdr + c[i].hdr_sent,
						sizeof(c[i].hdr) - c[i].hdr_sent, MSG_DONTWAIT);
					if (w > 0)
						c[i].hdr_sent += (uint64_t)w;
				} else {
					size_t k = up - c[i].up_sent > 65536
							   ? 65536
							   : (size_t)(up - c[i].up_sent);

					e2e_fill(E2E_SEED_UP(i), c[i].up_sent, buf, k);
					w = pvcalls_front_send(e->fe, c[i].s, buf, k, MSG_DONTWAIT);
					if (w > 0)
						c[i].up_sent += (uint64_t)w;
				}
				ck_assert_msg(w > 0 || w == -EAGAIN,
					      "connection %d: send: %zd (%s)", i, w,
					      pvcalls_strerror((int)w));
				progress |= w > 0;
			}
			if (re & (POLLIN | POLLHUP)) {
				ssize_t r =
					pvcalls_front_recv(e->fe, c[i].s, buf, 65536, MSG_DONTWAIT);

				if (r > 0) {
					ssize_t bad;

					ck_assert_msg(c[i].down_got + (uint64_t)r <= down,
						      "connection %d: %" PRIu64 " bytes, %" PRIu64
						      " sent",
						      i, c[i].down_got + (uint64_t)r, down);
					bad = e2e_verify(E2E_SEED_DOWN(i), c[i].down_got, buf,
							 (size_t)r);
					ck_assert_msg(
						bad < 0,
						"connection %d: wrong byte at offset %" PRIu64, i,
						c[i].down_got + (uint64_t)bad);
					c[i].down_got += (uint64_t)r;
					progress = true;
				} else {
					ck_assert_msg(r == -EAGAIN,
						      "connection %d: recv after %" PRIu64
						      " bytes: %zd (%s)",
						      i, c[i].down_got, r,
						      r ? pvcalls_strerror((int)r) : "EOF");
				}
			}
		}
		if (progress)
			last_progress = e2e_now_ms();
		e2e_check_failed();
		ck_assert_msg(e2e_now_ms() - last_progress < stall_ms,
			      "%d connections stalled for %d s (%" PRIu64 " polls, %" PRIu64
			      " empty)",
			      pending, stall_ms / 1000, polls, empty_polls);
	}
	{
		double dt = (double)(e2e_now_ms() - t_start) / 1000.0;

		printf("e2e.many[%s]: %d connections x %" PRIu64 " KiB each way in %.2f s "
		       "(%.0f MB/s total), %" PRIu64 " polls, %" PRIu64 " empty\n",
		       e2e_flavour(), n, up >> 10, dt,
		       dt > 0 ? (double)(up + down) * n / dt / 1e6 : 0, polls, empty_polls);
	}
	ck_assert_msg(missed == 0,
		      "event loop: %" PRIu64 " times the frontend's fd stayed quiet for 1 s "
		      "while sockets were ready (no event for them)",
		      missed);
	/* The server has verified what we sent. */
	e2e_srv_wait(srv, n, 0, 30000);
	/* Nothing more arrives: non-blocking recv says EAGAIN, not EOF. */
	for (int i = 0; i < n; i++) {
		ssize_t r = pvcalls_front_recv(e->fe, c[i].s, buf, 1, MSG_DONTWAIT);

		ck_assert_msg(r == -EAGAIN, "connection %d: idle recv gave %zd", i, r);
	}
	for (int i = 0; i < n; i++)
		e2e_release(e, c[i].s);
	/* Every host socket is closed: the server sees EOF on each. */
	e2e_srv_wait(srv, n, n, 30000);
	free(c);
	free(pf);
	free(buf);
}

static struct e2e_cfg many_cfg(void)
{
	struct e2e_cfg cfg = { 0 };

	/* 200 sockets x (1 + 2^6) pages: more than the default guest pool and grant table. */
	cfg.guest.max_pages = 65536;
	cfg.guest.max_grants = 65536;
	return cfg;
}

START_TEST(many_200)
{
	struct e2e_cfg cfg = many_cfg();
	struct e2e_env e;
	struct e2e_srv srv;
	struct pvcalls_back_stats st;
	const int n = 200;

	e2e_env_start(&e, &cfg);
	e2e_srv_start(&srv, n);
	drive(&e, &srv, n, 64u << 10, 64u << 10, false);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_back_stats(&e, &st);
	ck_assert_msg(st.bytes_to_guest == (uint64_t)n * (64u << 10),
		      "backend: %" PRIu64 " bytes to the guest", st.bytes_to_guest);
	ck_assert_msg(st.bytes_from_guest == (uint64_t)n * ((64u << 10) + sizeof(struct e2e_hdr)),
		      "backend: %" PRIu64 " bytes from the guest", st.bytes_from_guest);
	e2e_srv_stop(&srv);
	e2e_env_stop(&e);
}
END_TEST

/* The same, twice on one frontend: ids, rings and ports are reused cleanly. */
START_TEST(many_200_twice)
{
	struct e2e_cfg cfg = many_cfg();
	struct e2e_env e;

	e2e_env_start(&e, &cfg);
	for (int round = 0; round < 2; round++) {
		struct e2e_srv srv;

		e2e_srv_start(&srv, 200);
		drive(&e, &srv, 200, 16u << 10, 16u << 10, false);
		e2e_wait_back(&e, 1, 0, 0, 5000);
		e2e_srv_stop(&srv);
	}
	e2e_env_stop(&e);
}
END_TEST

/* An event loop: sleep on pvcalls_front_fd(), then process and poll(0). */
START_TEST(many_event_loop)
{
	struct e2e_cfg cfg = many_cfg();
	struct e2e_env e;
	struct e2e_srv srv;

	e2e_env_start(&e, &cfg);
	e2e_srv_start(&srv, 32);
	drive(&e, &srv, 32, 256u << 10, 256u << 10, true);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_srv_stop(&srv);
	e2e_env_stop(&e);
}
END_TEST

/* The same without the wait-hint extension (every ring step notifies). */
START_TEST(many_event_loop_nohint)
{
	struct e2e_cfg cfg = many_cfg();
	struct e2e_env e;
	struct e2e_srv srv;

	cfg.front.no_wait_hint = true;
	e2e_env_start(&e, &cfg);
	ck_assert(!pvcalls_front_wait_hint(e.fe));
	e2e_srv_start(&srv, 32);
	drive(&e, &srv, 32, 256u << 10, 256u << 10, true);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_srv_stop(&srv);
	e2e_env_stop(&e);
}
END_TEST

/* Several guests of one backend at once, each with several threads and sockets. */
START_TEST(many_guests)
{
	enum { GUESTS = 4, THREADS = 2, SOCKS = 8 };
	struct e2e_cfg cfg = { .listen_hub = true };
	struct e2e_env e;
	struct e2e_srv srv;
	pvcalls_transport *gt[GUESTS];
	pvcalls_front *gf[GUESTS];
	struct e2e_client w[GUESTS * THREADS];
	pthread_t t[GUESTS * THREADS];
	uint64_t bytes = E2E_SANITIZED ? (128u << 10) : (1u << 20);
	struct pvcalls_back_stats st;
	double t0;
	int rc;

	e2e_env_start(&e, &cfg);
	gt[0] = e.guest;
	gf[0] = e.fe;
	for (int g = 1; g < GUESTS; g++) {
		rc = pvcalls_shm_connect(e.path, NULL, &gt[g]);
		ck_assert_msg(rc == 0, "guest %d: shm connect: %s", g, pvcalls_strerror(rc));
		rc = pvcalls_front_open(gt[g], NULL, &gf[g]);
		ck_assert_msg(rc == 0, "guest %d: front open: %s", g, pvcalls_strerror(rc));
	}
	e2e_back_stats(&e, &st);
	ck_assert_int_eq(st.frontends, GUESTS);
	e2e_srv_start(&srv, GUESTS * THREADS * SOCKS);
	t0 = e2e_now();
	for (int i = 0; i < GUESTS * THREADS; i++) {
		w[i] = (struct e2e_client){ .fe = gf[i / THREADS],
					    .port = srv.port,
					    .id = i,
					    .idx0 = (uint32_t)(i * SOCKS),
					    .nsock = SOCKS,
					    .bytes = bytes };
		t[i] = e2e_thread(e2e_client_thread, &w[i]);
	}
	for (int i = 0; i < GUESTS * THREADS; i++)
		e2e_join(t[i], 120 * E2E_SLOW, "a client thread");
	e2e_check_failed();
	e2e_srv_wait(&srv, GUESTS * THREADS * SOCKS, GUESTS * THREADS * SOCKS, 20000);
	printf("e2e.many[%s]: %d guests x %d threads x %d sockets x %" PRIu64
	       " KiB each way in %.2f s\n",
	       e2e_flavour(), GUESTS, THREADS, SOCKS, bytes >> 10, e2e_now() - t0);
	e2e_wait_back(&e, GUESTS, 0, 0, 5000);
	for (int g = 1; g < GUESTS; g++) {
		pvcalls_front_close(gf[g]);
		pvcalls_transport_close(gt[g]);
	}
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_srv_stop(&srv);
	e2e_env_stop(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e.many");
	TCase *tc = tcase_create("many");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, many_200);
	tcase_add_test(tc, many_200_twice);
	tcase_add_test(tc, many_event_loop);
	tcase_add_test(tc, many_event_loop_nohint);
	tcase_add_test(tc, many_guests);
	suite_add_tcase(s, tc);
	return e2e_main(s);
}
