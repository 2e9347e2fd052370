/* SPDX-License-Identifier: MIT */
/*
 * Ring reuse end to end (docs/extensions.md, "Ring reuse"): many
 * connections in a row over parked rings, each leaving bytes unread and
 * its peer's EOF in the ring it gives back, so that a reuse that skipped
 * the reset of the indexes page (or the backend's private ring state)
 * would hand the next connection stale bytes or an early EOF; RING_FREE
 * for the rings the frontend does not keep; a backend that does not offer
 * the extension giving version 1 rings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "e2e.h"

static void finish(struct e2e_env *e)
{
	e2e_wait_back(e, 1, 0, 0, 5000);
	e2e_env_stop(e);
}

/*
 * One connection, @i-th of the run: both directions carry a pattern
 * seeded with @i (a byte of an earlier connection fails the check), then
 * the host sends a tail the frontend leaves unread and closes, and the
 * frontend waits until the tail is in its ring before it releases.
 */
static void one_connection(struct e2e_env *e, int lfd, uint16_t port, int i, int order)
{
	enum { LEN = 3000, TAIL = 700 };
	static uint8_t buf[LEN], got[LEN];
	int s = e2e_socket(e, order), fd, rc;
	ssize_t bad;

	rc = e2e_front_connect(e, s, port);
	ck_assert_msg(rc == 0, "connection %d: connect: %s", i, pvcalls_strerror(rc));
	fd = e2e_tcp_accept(lfd, 10000);
	ck_assert_int_ge(fd, 0);
	e2e_tcp_timeouts(fd, E2E_SOCK_TIMEO_MS);

	/* Guest to host. */
	e2e_fill(E2E_SEED_UP(i), 0, buf, LEN);
	ck_assert_int_eq(e2e_fsend_all(e, s, buf, LEN), 0);
	ck_assert_int_eq(e2e_read_all(fd, got, LEN), 0);
	bad = e2e_verify(E2E_SEED_UP(i), 0, got, LEN);
	ck_assert_msg(bad < 0, "connection %d: host got a wrong byte at %zd", i, bad);

	/* Host to guest: the first byte the guest reads must be this
	 * connection's (stale in_prod/in_cons would hand it the last one's
	 * unread tail; a stale in_error its EOF). */
	e2e_fill(E2E_SEED_DOWN(i), 0, buf, LEN);
	ck_assert_int_eq(e2e_write_all(fd, buf, LEN), 0);
	ck_assert_int_eq(e2e_frecv_all(e, s, got, LEN), 0);
	bad = e2e_verify(E2E_SEED_DOWN(i), 0, got, LEN);
	ck_assert_msg(bad < 0, "connection %d: guest got a wrong byte at %zd", i, bad);

	/* A tail left unread, then EOF, both in the ring at RELEASE. */
	e2e_fill(E2E_SEED_DOWN(i), LEN, buf, TAIL);
	ck_assert_int_eq(e2e_write_all(fd, buf, TAIL), 0);
	close(fd);
	for (int64_t end = e2e_now_ms() + 10000 * E2E_SLOW;;) {
		int n = pvcalls_front_nread(e->fe, s);

		if (n >= TAIL)
			break;
		ck_assert_msg(e2e_now_ms() < end, "connection %d: the tail never came (%d)", i, n);
		e2e_sleep_ms(1);
	}
	/* Time for the host's FIN to become in_error (not waited for: the
	 * unread tail alone would show a skipped reset). */
	e2e_sleep_ms(1);
	e2e_release(e, s);
}

START_TEST(reused_rings_carry_only_their_connection)
{
	struct pvcalls_back_stats st;
	struct e2e_env e;
	uint16_t port = 0;
	int lfd, n = (int)e2e_volume(300, 60);

	e2e_env_start(&e, NULL);
	ck_assert_uint_ne(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_RING_REUSE, 0);
	lfd = e2e_tcp_listen(&port, 16);
	for (int i = 0; i < n; i++)
		one_connection(&e, lfd, port, i, i % 3 == 2 ? 1 : 0);
	close(lfd);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_back_stats(&e, &st);
	/* Each RELEASE parked its ring, and nearly every connection took a
	 * parked one: not the first of each order, nor one whose CONNECT
	 * went out before the previous RELEASE's answer (releases are not
	 * waited for, front_sock.c). */
	ck_assert_uint_eq(st.rings_parked, (uint64_t)n);
	ck_assert_uint_ge(st.rings_reused, (uint64_t)n * 9 / 10);
	finish(&e);
}
END_TEST

/*
 * More connections at once than the frontend keeps parked: it frees the
 * rest with RING_FREE, the backend ends them, and a later run of
 * connections still works.
 */
START_TEST(extra_parked_rings_are_freed)
{
	enum { N = 24 };
	struct pvcalls_back_stats st;
	struct e2e_env e;
	uint16_t port = 0;
	int lfd, s[N], fd[N];
	uint64_t frees;

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, N);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			s[i] = e2e_socket(&e, 0);
			ck_assert_int_eq(e2e_front_connect(&e, s[i], port), 0);
			fd[i] = e2e_tcp_accept(lfd, 10000);
			ck_assert_int_ge(fd[i], 0);
		}
		for (int i = 0; i < N; i++) {
			uint8_t c = (uint8_t)(round * N + i), d = 0;

			ck_assert_int_eq(e2e_write_all(fd[i], &c, 1), 0);
			ck_assert_int_eq(e2e_frecv_all(&e, s[i], &d, 1), 0);
			ck_assert_uint_eq(d, c);
			close(fd[i]);
			e2e_release(&e, s[i]);
		}
	}
	close(lfd);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_back_stats(&e, &st);
	frees = st.ext_commands[PVCALLS_EXT_RING_FREE - PVCALLS_EXT_SHUTDOWN];
	ck_assert_uint_eq(st.rings_parked, 3 * N);
	/* Kept: at most RING_CACHE_MAX (4) per order; the others are freed
	 * (the last few RING_FREEs go with a later release, or at close). */
	ck_assert_uint_ge(frees, N - 4 - 4);
	ck_assert_uint_eq(st.ext_commands_failed[PVCALLS_EXT_RING_FREE - PVCALLS_EXT_SHUTDOWN], 0);
	finish(&e);
}
END_TEST

/* Without the backend's offer: version 1 rings, nothing parked. */
START_TEST(not_offered_is_v1)
{
	struct e2e_cfg cfg = { 0 };
	struct pvcalls_back_stats st;
	struct e2e_env e;
	uint16_t port = 0;
	int lfd;

	cfg.back.ext_off = PVCALLS_FEATURE_RING_REUSE;
	e2e_env_start(&e, &cfg);
	ck_assert_uint_eq(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_RING_REUSE, 0);
	lfd = e2e_tcp_listen(&port, 16);
	for (int i = 0; i < 20; i++)
		one_connection(&e, lfd, port, i, 0);
	close(lfd);
	e2e_wait_back(&e, 1, 0, 0, 5000);
	e2e_back_stats(&e, &st);
	ck_assert_uint_eq(st.rings_parked, 0);
	ck_assert_uint_eq(st.rings_reused, 0);
	finish(&e);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("e2e.reuse");
	TCase *tc = tcase_create("reuse");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, reused_rings_carry_only_their_connection);
	tcase_add_test(tc, extra_parked_rings_are_freed);
	tcase_add_test(tc, not_offered_is_v1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return e2e_main(suite());
}
