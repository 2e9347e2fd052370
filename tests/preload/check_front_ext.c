/* SPDX-License-Identifier: MIT */
/*
 * The frontend extensions the preload shim stands on (front_ext.c):
 * pvcalls_front_ready() reports Linux-like readiness without blocking and,
 * when it found nothing, makes pvcalls_front_fd() fire on the next change;
 * pvcalls_front_nread() is FIONREAD.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

static struct e2e_env env;

static int connected_pair(int *fd)
{
	uint16_t port = 0;
	int lfd = e2e_tcp_listen(&port, 4), s = e2e_socket(&env, -1), rc;

	rc = e2e_front_connect(&env, s, port);
	ck_assert_msg(rc == 0, "connect: %s", pvcalls_strerror(rc));
	*fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	return s;
}

/* Calls ready(); if nothing is ready, the frontend fd must fire before it does. */
static short wait_ready(int s, short events, uint32_t *seq)
{
	struct pvcalls_ready r = { .sock = s, .events = events };
	int64_t end = e2e_now_ms() + 10000 * E2E_SLOW;

	for (;;) {
		struct pollfd pf = { .fd = pvcalls_front_fd(env.fe), .events = POLLIN };
		int n = pvcalls_front_ready(env.fe, &r, 1);

		ck_assert_int_ge(n, 0);
		if (n) {
			if (seq)
				*seq = r.seq;
			return r.revents;
		}
		ck_assert_msg(e2e_now_ms() < end, "no readiness for %x", events);
		/* Nothing ready: only the frontend fd can tell us more. */
		ck_assert_msg(poll(&pf, 1, 10000 * E2E_SLOW) == 1, "frontend fd never fired");
	}
}

START_TEST(connected)
{
	struct pvcalls_ready r[3] = { { .sock = -1 }, { .sock = 999, .events = POLLIN } };
	uint32_t seq1, seq2;
	char b[16];
	int fd, s;

	e2e_env_start(&env, &(struct e2e_cfg){ 0 });
	s = connected_pair(&fd);
	r[2] = (struct pvcalls_ready){ .sock = s, .events = POLLIN | POLLOUT };
	ck_assert_int_eq(pvcalls_front_ready(env.fe, r, 3), 2);
	ck_assert_int_eq(r[0].revents, 0);
	ck_assert_int_eq(r[1].revents, POLLNVAL);
	ck_assert_int_eq(r[2].revents, POLLOUT);
	ck_assert_int_eq(pvcalls_front_nread(env.fe, s), 0);
	ck_assert_int_eq(pvcalls_front_nread(env.fe, 999), -EBADF);

	ck_assert_int_eq(write(fd, "hello", 5), 5);
	ck_assert_int_eq(wait_ready(s, POLLIN, &seq1), POLLIN);
	for (int i = 0; i < 1000 && pvcalls_front_nread(env.fe, s) < 5; i++)
		e2e_sleep_ms(5);
	ck_assert_int_eq(pvcalls_front_nread(env.fe, s), 5);
	ck_assert_int_eq(write(fd, "again", 5), 5);
	for (int i = 0; i < 1000 && pvcalls_front_nread(env.fe, s) < 10; i++)
		e2e_sleep_ms(5);
	ck_assert_int_eq(wait_ready(s, POLLIN, &seq2), POLLIN);
	ck_assert_msg(seq1 != seq2, "seq must change on new data");
	ck_assert_int_eq(pvcalls_front_recv(env.fe, s, b, sizeof(b), MSG_DONTWAIT), 10);
	r[2].events = POLLIN;
	ck_assert_int_eq(pvcalls_front_ready(env.fe, &r[2], 1), 0);

	/* The peer ends its stream: POLLIN|POLLRDHUP, not POLLHUP. */
	shutdown(fd, SHUT_WR);
	ck_assert_int_eq(wait_ready(s, POLLIN | POLLRDHUP, NULL), POLLIN | POLLRDHUP);
	close(fd);
	e2e_release(&env, s);
	/* A reset (on a fresh connection: after an EOF the backend no longer
	 * reads the host socket): POLLERR|POLLHUP. */
	s = connected_pair(&fd);
	e2e_tcp_reset(fd);
	{
		short re = 0;

		for (int i = 0; i < 1000 && !(re & POLLERR); i++) {
			re = wait_ready(s, POLLIN, NULL);
			if (!(re & POLLERR))
				e2e_sleep_ms(5);
		}
		ck_assert_int_eq(re & (POLLERR | POLLHUP), POLLERR | POLLHUP);
	}
	e2e_release(&env, s);
	e2e_wait_back(&env, 1, 0, 0, 5000);
	e2e_env_stop(&env);
}
END_TEST

START_TEST(listener_and_connect)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int l = -1, s, c, rc;

	e2e_env_start(&env, &(struct e2e_cfg){ 0 });
	l = e2e_socket(&env, -1);
	a.sin_port = htons(e2e_free_port());
	ck_assert_int_eq(pvcalls_front_bind(env.fe, l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(pvcalls_front_listen(env.fe, l, 4), 0);
	ck_assert_int_eq(pvcalls_front_nread(env.fe, l), -EINVAL);
	c = e2e_tcp_connect(ntohs(a.sin_port));
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(wait_ready(l, POLLIN, NULL), POLLIN);
	close(c);

	/* A non-blocking connect: nothing, then POLLOUT; refused: POLLOUT|POLLERR|POLLHUP. */
	s = e2e_socket(&env, -1);
	pvcalls_front_setopt(env.fe, s, PVCALLS_OPT_NONBLOCK, 1);
	a.sin_port = htons(e2e_free_port());
	rc = pvcalls_front_connect(env.fe, s, (struct sockaddr *)&a, sizeof(a));
	ck_assert_int_eq(rc, -EINPROGRESS);
	ck_assert_int_eq(wait_ready(s, POLLOUT, NULL), POLLOUT | POLLERR | POLLHUP);
	ck_assert_int_eq(pvcalls_front_connect(env.fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -ECONNREFUSED);
	ck_assert_int_eq(wait_ready(s, POLLOUT, NULL), POLLOUT | POLLHUP);
	e2e_release(&env, s);
	e2e_release(&env, l);
	e2e_wait_back(&env, 1, 0, 0, 5000);
	e2e_env_stop(&env);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("front_ext");
	TCase *tc = tcase_create("ready");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, connected);
	tcase_add_test(tc, listener_and_connect);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
