/* SPDX-License-Identifier: MIT */
/*
 * pvcallsd restarted under a running guest (include/pvcalls/frontend.h,
 * "Backend restarts"): a frontend over the shm transport with sockets in
 * several states; pvcallsd is SIGKILLed and started again on the same hub
 * path. While it is down socket() fails at once with -ENOTCONN; once it is
 * up, the next socket() renegotiates: the old connected sockets give
 * -ECONNRESET (after what they had received), the old unconnected ones
 * (a listener whose ACCEPT was in flight included) -ENOTCONN, releasing them works, and a new connection carries data.
 * Then a second kill and restart: the same once more.
 * argv[1]: the pvcallsd binary.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

#include "soak_util.h"

static const char *pvcallsd_bin;
static int lsn = -1;
static uint16_t port;

/* Echo server on 127.0.0.1: one thread per connection. */
static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	close(fd);
	return NULL;
}

static void *echo_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lsn, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static void echo_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	pthread_t t;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lsn, 0);
	ck_assert_int_eq(bind(lsn, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lsn, 64), 0);
	ck_assert_int_eq(getsockname(lsn, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&t, NULL, echo_accept, NULL), 0);
	pthread_detach(t);
}

static void echo_once(pvcalls_front *fe, int s, const char *what)
{
	char out[64], in[64];
	size_t got = 0;
	int n = snprintf(out, sizeof(out), "echo %s", what);

	ck_assert_int_eq(pvcalls_front_send(fe, s, out, (size_t)n, 0), n);
	while (got < (size_t)n) {
		ssize_t r = pvcalls_front_recv(fe, s, in + got, sizeof(in) - got, 0);

		ck_assert_msg(r > 0, "%s: recv %zd (%s)", what, r, pvcalls_strerror((int)r));
		got += (size_t)r;
	}
	ck_assert(!memcmp(in, out, (size_t)n));
}

struct blocked {
	pvcalls_front *fe;
	int s;
	ssize_t rc;
};

static void *blocked_accept(void *arg)
{
	struct blocked *b = arg;

	b->rc = pvcalls_front_accept(b->fe, b->s, 0);
	return NULL;
}

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;
	char c;

	b->rc = pvcalls_front_recv(b->fe, b->s, &c, 1, 0);
	return NULL;
}

START_TEST(restart_under_guest)
{
	struct soak_daemon d = { .bin = pvcallsd_bin };
	pvcalls_transport *t;
	pvcalls_front *fe;
	struct blocked b = { 0 }, ba = { 0 };
	pthread_t bt, at;
	int s_idle, s_busy, s_new, s_lsn, s2 = -1, rc;
	int64_t t0;
	char c;

	snprintf(d.dir, sizeof(d.dir), "/tmp/pvcalls-restart-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d.dir));
	echo_start();
	ck_assert_int_eq(soak_daemon_start(&d), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.hub, NULL, &t), 0);
	ck_assert_int_eq(pvcalls_front_open(t, NULL, &fe), 0);

	s_idle = soak_front_connect(fe, port);
	ck_assert_int_ge(s_idle, 0);
	s_busy = soak_front_connect(fe, port);
	ck_assert_int_ge(s_busy, 0);
	s_new = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s_new, 0);
	echo_once(fe, s_idle, "before");
	/* Echoed data the guest has not read yet when pvcallsd dies. */
	ck_assert_int_eq(pvcalls_front_send(fe, s_idle, "x", 1, 0), 1);
	/* A listener with an ACCEPT in flight at the backend. */
	s_lsn = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s_lsn, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(pvcalls_front_bind(fe, s_lsn, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		ck_assert_int_eq(pvcalls_front_listen(fe, s_lsn, 8), 0);
	}
	ba.fe = fe;
	ba.s = s_lsn;
	ck_assert_int_eq(pthread_create(&at, NULL, blocked_accept, &ba), 0);
	b.fe = fe;
	b.s = s_busy;
	ck_assert_int_eq(pthread_create(&bt, NULL, blocked_recv, &b), 0);
	soak_sleep_ms(200);

	soak_daemon_stop(&d, SIGKILL);
	pthread_join(bt, NULL);
	pthread_join(at, NULL);
	ck_assert_msg(ba.rc == -ENOTCONN, "accept blocked while pvcallsd died: %zd (%s)", ba.rc,
		      pvcalls_strerror((int)ba.rc));
	ck_assert_msg(b.rc == -ENOTCONN || b.rc == -ECONNRESET,
		      "recv blocked while pvcallsd died: %zd (%s)", b.rc,
		      pvcalls_strerror((int)b.rc));
	/* Down: a clear error at once, no hang. */
	t0 = soak_now_ms();
	rc = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_msg(rc == -ENOTCONN, "socket() with pvcallsd down: %d", rc);
	ck_assert_msg(soak_now_ms() - t0 < 2000, "socket() with pvcallsd down took %lld ms",
		      (long long)(soak_now_ms() - t0));

	ck_assert_int_eq(soak_daemon_start(&d), 0);
	/* Up again: the next socket() renegotiates (bounded retry: 10 s). */
	t0 = soak_now_ms();
	for (int64_t end = t0 + 10000; soak_now_ms() < end; soak_sleep_ms(50)) {
		s2 = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		if (s2 != -ENOTCONN)
			break;
	}
	ck_assert_msg(s2 >= 0, "no new socket after the restart: %d (%s)", s2,
		      pvcalls_strerror(s2));
	printf("restart: a new socket %lld ms after pvcallsd was back\n",
	       (long long)(soak_now_ms() - t0));

	/* Old sockets: clean errors. The idle one first gives what it had. */
	{
		ssize_t r = pvcalls_front_recv(fe, s_idle, &c, 1, MSG_DONTWAIT);

		ck_assert_msg(r == 1 || r == -ECONNRESET, "recv on an old socket: %zd", r);
		if (r == 1)
			r = pvcalls_front_recv(fe, s_idle, &c, 1, 0);
		ck_assert_msg(r == -ECONNRESET, "recv on an old socket after its data: %zd (%s)", r,
			      pvcalls_strerror((int)r));
	}
	rc = (int)pvcalls_front_send(fe, s_busy, "y", 1, 0);
	ck_assert_msg(rc == -ECONNRESET, "send on an old socket: %d (%s)", rc,
		      pvcalls_strerror(rc));
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = pvcalls_front_connect(fe, s_new, (struct sockaddr *)&sa, sizeof(sa));
		ck_assert_msg(rc == -ENOTCONN, "connect of an old socket: %d (%s)", rc,
			      pvcalls_strerror(rc));
	}
	rc = pvcalls_front_accept(fe, s_lsn, 0);
	ck_assert_msg(rc == -ENOTCONN, "accept on an old listener: %d (%s)", rc,
		      pvcalls_strerror(rc));
	ck_assert_int_eq(pvcalls_front_release(fe, s_lsn), 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s_idle), 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s_busy), 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s_new), 0);

	/* New sockets work, on the new pvcallsd. */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = pvcalls_front_connect(fe, s2, (struct sockaddr *)&sa, sizeof(sa));
		ck_assert_msg(rc == 0, "connect after the restart: %d (%s)", rc,
			      pvcalls_strerror(rc));
	}
	echo_once(fe, s2, "after");
	{
		int s3 = soak_front_connect(fe, port);

		ck_assert_int_ge(s3, 0);
		echo_once(fe, s3, "another");
		ck_assert_int_eq(pvcalls_front_release(fe, s3), 0);
	}
	ck_assert_int_eq(pvcalls_front_release(fe, s2), 0);

	/* A second restart: the reconnected transport notices death again. */
	s2 = soak_front_connect(fe, port);
	ck_assert_int_ge(s2, 0);
	soak_daemon_stop(&d, SIGKILL);
	rc = (int)pvcalls_front_recv(fe, s2, &c, 1, 0);
	ck_assert_msg(rc == -ENOTCONN || rc == -ECONNRESET, "recv across the second kill: %d", rc);
	ck_assert_int_eq(soak_daemon_start(&d), 0);
	rc = -ENOTCONN;
	for (int64_t end = soak_now_ms() + 10000; rc == -ENOTCONN && soak_now_ms() < end;
	     soak_sleep_ms(50))
		rc = soak_front_connect(fe, port);
	ck_assert_msg(rc >= 0, "no connection after the second restart: %d", rc);
	echo_once(fe, rc, "second");
	ck_assert_int_eq(pvcalls_front_release(fe, rc), 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s2), 0);
	pvcalls_front_close(fe);
	pvcalls_transport_close(t);
	rc = soak_daemon_stop(&d, SIGTERM);
	ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "pvcallsd exit status %d", rc);
	unlink(d.conf);
	unlink(d.log);
	rmdir(d.dir);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("soak.restart");
	TCase *tc = tcase_create("restart");
	SRunner *sr;
	int failed;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PVCALLSD\n", argv[0]);
		return 2;
	}
	pvcallsd_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!soak_enter_netns())
		fprintf(stderr, "restart: on the host's loopback\n");
	pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_WARN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, restart_under_guest);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
