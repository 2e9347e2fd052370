/* SPDX-License-Identifier: MIT */
/*
 * The negotiated extensions end to end (docs/extensions.md): SHUTDOWN as a
 * half-close both ways, GETSOCKNAME/GETPEERNAME against what the host
 * kernel says of the other end, SETSOCKOPT/GETSOCKOPT observed on the
 * backend's own host socket, SO_LINGER's abortive close, the listener
 * SHUT_RD, and a frontend that opts out getting exactly version 1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static const char *astr(const struct sockaddr_in *a)
{
	static __thread char buf[2][48];
	static __thread int k;
	char ip[INET_ADDRSTRLEN];

	k ^= 1;
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf[k], sizeof(buf[k]), "%s:%u", ip, ntohs(a->sin_port));
	return buf[k];
}

static void finish(struct e2e_env *e)
{
	e2e_wait_back(e, 1, 0, 0, 5000);
	e2e_env_stop(e);
}

/*
 * The backend's host socket for a connection, found the honest way: among
 * this process's fds (the backend runs in-process), the TCP socket whose
 * local end is @local and whose peer is @peer. -1 if none.
 */
static int host_socket(const struct sockaddr_in *local, const struct sockaddr_in *peer)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (!d)
		return -1;
	while ((de = readdir(d)) && found < 0) {
		struct sockaddr_in l, p;
		socklen_t ll = sizeof(l), pl = sizeof(p);
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
		    getpeername(fd, (struct sockaddr *)&p, &pl) < 0 || l.sin_family != AF_INET)
			continue;
		if (same_addr(&l, local) && same_addr(&p, peer))
			found = fd;
	}
	closedir(d);
	return found;
}

/* ---------------------------------------------------------------------- */

START_TEST(features_default_and_opt_out)
{
	struct e2e_cfg cfg = { 0 };
	struct e2e_env e;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1, s, fd;

	e2e_env_start(&e, NULL);
	ck_assert_uint_eq(pvcalls_front_features(e.fe), PVCALLS_FEATURES_IMPLEMENTED);
	finish(&e);

	/* A frontend that asks for nothing: version 1, the calls fail locally. */
	cfg.front.ext_off = ~0u;
	e2e_env_start(&e, &cfg);
	ck_assert_uint_eq(pvcalls_front_features(e.fe), 0);
	s = e2e_connected_pair(&e, &fd);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, s, SHUT_WR), -EOPNOTSUPP);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&a, &al),
			 -EOPNOTSUPP);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)),
		-ENOPROTOOPT);
	close(fd);
	e2e_release(&e, s);
	finish(&e);

	/* A backend that offers nothing. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.back.ext_off = ~0u;
	e2e_env_start(&e, &cfg);
	ck_assert_uint_eq(pvcalls_front_features(e.fe), 0);
	finish(&e);

	/* Each independently. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.back.ext_off = PVCALLS_FEATURE_NAMES;
	cfg.front.ext_off = PVCALLS_FEATURE_SHUTDOWN;
	e2e_env_start(&e, &cfg);
	ck_assert_uint_eq(pvcalls_front_features(e.fe),
			  PVCALLS_FEATURES_IMPLEMENTED &
				  ~(PVCALLS_FEATURE_NAMES | PVCALLS_FEATURE_SHUTDOWN));
	finish(&e);
}
END_TEST

struct rte_srv {
	int lfd;
	size_t got;
	int err;
};

/* A server that reads its request to EOF, then answers and closes. */
static void *read_to_eof_server(void *arg)
{
	struct rte_srv *sv = arg;
	int fd = e2e_tcp_accept(sv->lfd, 10000 * E2E_SLOW);
	char buf[4096], ans[64];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		sv->got += (size_t)r;
	if (r < 0) {
		sv->err = errno;
		e2e_fail("server read: %s", strerror(errno));
	}
	snprintf(ans, sizeof(ans), "got %zu bytes\n", sv->got);
	if (e2e_write_all(fd, ans, strlen(ans)) < 0)
		e2e_fail("server write failed");
	close(fd);
	return NULL;
}

START_TEST(half_close_client)
{
	struct e2e_env e;
	struct rte_srv sv = { 0 };
	uint16_t port = 0;
	char req[10000], ans[128];
	size_t n = 0;
	pthread_t t;
	ssize_t r;
	int s, rc;

	e2e_env_start(&e, NULL);
	sv.lfd = e2e_tcp_listen(&port, 4);
	t = e2e_thread(read_to_eof_server, &sv);
	s = e2e_socket(&e, 0); /* order 0: the request is more than one ring */
	rc = e2e_front_connect(&e, s, port);
	ck_assert_msg(rc == 0, "connect: %s", pvcalls_strerror(rc));
	memset(req, 'q', sizeof(req));
	ck_assert_int_eq(e2e_fsend_all(&e, s, req, sizeof(req)), 0);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, s, SHUT_WR), 0);
	/* SHUT_WR twice: 0, nothing more happens. */
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, s, SHUT_WR), 0);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "x", 1, 0), -EPIPE);
	while ((r = pvcalls_front_recv(e.fe, s, ans + n, sizeof(ans) - 1 - n, 0)) > 0)
		n += (size_t)r;
	ck_assert_int_eq(r, 0);
	ans[n] = 0;
	ck_assert_str_eq(ans, "got 10000 bytes\n");
	e2e_join(t, 20 * E2E_SLOW, "server");
	e2e_check_failed();
	close(sv.lfd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

struct sender {
	pvcalls_front *fe;
	int s;
	uint64_t sent;
	ssize_t last;
};

/* Sends stream 77 until a send fails. */
static void *send_until_error(void *arg)
{
	struct sender *sd = arg;
	uint8_t buf[1500];

	for (;;) {
		ssize_t n;

		e2e_fill(77, sd->sent, buf, sizeof(buf));
		n = pvcalls_front_send(sd->fe, sd->s, buf, sizeof(buf), 0);
		if (n <= 0) {
			sd->last = n;
			return NULL;
		}
		sd->sent += (uint64_t)n;
	}
}

/*
 * SHUT_WR while another thread is sending: every byte a send reported as
 * queued reaches the host peer, then end of stream, and the sender gets
 * -EPIPE (rule 1 of "Writing side": nothing advances out_prod once
 * SHUTDOWN is on the ring, or the backend would drop it).
 */
START_TEST(half_close_racing_sender)
{
	struct sender sd = { 0 };
	struct e2e_env e;
	uint8_t buf[65536];
	uint64_t got = 0;
	pthread_t t;
	ssize_t r;
	int fd;

	e2e_env_start(&e, NULL);
	sd.fe = e.fe;
	sd.s = e2e_connected_pair(&e, &fd);
	t = e2e_thread(send_until_error, &sd);
	for (int i = 0; i < 3; i++) { /* read while it sends */
		r = read(fd, buf, sizeof(buf));
		ck_assert_int_gt(r, 0);
		ck_assert_int_eq(e2e_verify(77, got, buf, (size_t)r), -1);
		got += (uint64_t)r;
	}
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, sd.s, SHUT_WR), 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		ck_assert_int_eq(e2e_verify(77, got, buf, (size_t)r), -1);
		got += (uint64_t)r;
	}
	ck_assert_int_eq(r, 0);
	e2e_join(t, 20 * E2E_SLOW, "sender");
	ck_assert_int_eq(sd.last, -EPIPE);
	ck_assert_msg(got == sd.sent, "host got %llu bytes, sends queued %llu",
		      (unsigned long long)got, (unsigned long long)sd.sent);
	close(fd);
	e2e_release(&e, sd.s);
	finish(&e);
}
END_TEST

struct big_send {
	pvcalls_front *fe;
	int s;
	uint8_t *buf;
	size_t len;
	ssize_t rc;
};

static void *one_big_send(void *arg)
{
	struct big_send *b = arg;

	b->rc = pvcalls_front_send(b->fe, b->s, b->buf, b->len, 0);
	return NULL;
}

/* A send blocked on a full ring (the host peer does not read) leaves when
 * the write side is shut down, reporting what it queued; the next -EPIPE. */
START_TEST(shut_wr_wakes_blocked_sender)
{
	struct big_send b = { .len = 32u << 20 };
	struct e2e_env e;
	uint8_t buf[65536];
	uint64_t got = 0;
	uint16_t port = 0;
	int small = 4096, lfd, fd;
	pthread_t t;
	ssize_t r;

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	b.fe = e.fe;
	b.s = e2e_socket(&e, 0);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, b.s, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
		0);
	ck_assert_int_eq(e2e_front_connect(&e, b.s, port), 0);
	fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	b.buf = malloc(b.len);
	e2e_fill(78, 0, b.buf, b.len); /* before the thread: filling takes a while */
	t = e2e_thread(one_big_send, &b);
	/* Sending has begun (the backend moved bytes), then everything fills
	 * and the send sleeps. */
	for (int i = 0; i < 100 * E2E_SLOW; i++) {
		struct pvcalls_back_stats st;

		e2e_back_stats(&e, &st);
		if (st.bytes_from_guest)
			break;
		e2e_sleep_ms(50);
	}
	e2e_sleep_ms(300 * E2E_SLOW);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, b.s, SHUT_WR), 0);
	e2e_join(t, 10 * E2E_SLOW, "blocked send");
	ck_assert_msg(b.rc > 0 && (size_t)b.rc < b.len, "blocked send returned %zd", b.rc);
	ck_assert_int_eq(pvcalls_front_send(e.fe, b.s, "x", 1, 0), -EPIPE);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		ck_assert_int_eq(e2e_verify(78, got, buf, (size_t)r), -1);
		got += (uint64_t)r;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(got, (uint64_t)b.rc);
	free(b.buf);
	close(fd);
	e2e_release(&e, b.s);
	finish(&e);
}
END_TEST

/* The host peer shuts its write side: EOF for the frontend, which can still send. */
START_TEST(half_close_peer)
{
	struct e2e_env e;
	char buf[64];
	int fd, s = -1;
	ssize_t r;

	e2e_env_start(&e, NULL);
	s = e2e_connected_pair(&e, &fd);
	ck_assert_int_eq(e2e_write_all(fd, "hello", 5), 0);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert_int_eq(e2e_frecv_all(&e, s, buf, 5), 0);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, sizeof(buf), 0), 0);
	{
		struct pvcalls_pollfd p = { .sock = s, .events = POLLIN | POLLOUT };

		ck_assert_int_eq(pvcalls_front_poll(e.fe, &p, 1, 0), 1);
		ck_assert_msg(!(p.revents & POLLHUP), "half-closed socket reports POLLHUP (%#x)",
			      p.revents);
		ck_assert(p.revents & POLLOUT);
	}
	ck_assert_int_eq(e2e_fsend_all(&e, s, "answer", 6), 0);
	ck_assert_int_eq(e2e_read_all(fd, buf, 6), 0);
	ck_assert_int_eq(memcmp(buf, "answer", 6), 0);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, s, SHUT_WR), 0);
	r = read(fd, buf, sizeof(buf));
	ck_assert_int_eq(r, 0);
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

/* SHUT_RD: what arrived is read, then 0; the out direction still works. */
START_TEST(shut_rd)
{
	struct e2e_env e;
	char buf[64];
	int fd, s;

	e2e_env_start(&e, NULL);
	s = e2e_connected_pair(&e, &fd);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, s, SHUT_RD), 0);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, sizeof(buf), 0), 0);
	(void)!write(fd, "dropped", 7);
	ck_assert_int_eq(e2e_fsend_all(&e, s, "out", 3), 0);
	ck_assert_int_eq(e2e_read_all(fd, buf, 3), 0);
	ck_assert_int_eq(pvcalls_front_recv(e.fe, s, buf, sizeof(buf), 0), 0);
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(names_agree_with_host)
{
	struct sockaddr_in fl, fp, hl, hp, b = { .sin_family = AF_INET };
	socklen_t len;
	struct e2e_env e;
	int fd, s, l, a, c;

	e2e_env_start(&e, NULL);
	/* Active, from CONNECT. */
	s = e2e_connected_pair(&e, &fd);
	len = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &len), 0);
	ck_assert_uint_eq(len, sizeof(fl));
	len = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &len), 0);
	len = sizeof(hl);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&hl, &len), 0);
	len = sizeof(hp);
	ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&hp, &len), 0);
	ck_assert_msg(same_addr(&fl, &hp), "getsockname %s, host peer sees %s", astr(&fl),
		      astr(&hp));
	ck_assert_msg(same_addr(&fp, &hl), "getpeername %s, host peer is %s", astr(&fp), astr(&hl));
	close(fd);
	e2e_release(&e, s);

	/* NEW: the wildcard, port 0; no peer. */
	s = e2e_socket(&e, -1);
	len = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &len), 0);
	ck_assert_uint_eq(fl.sin_port, 0);
	ck_assert_uint_eq(fl.sin_addr.s_addr, 0);
	len = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &len),
			 -ENOTCONN);

	/* Bound to port 0: the port the host chose; listening: the same. */
	b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = s;
	ck_assert_int_eq(pvcalls_front_bind(e.fe, l, (struct sockaddr *)&b, sizeof(b)), 0);
	len = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&fl, &len), 0);
	ck_assert_uint_ne(fl.sin_port, 0);
	ck_assert_uint_eq(fl.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	ck_assert_int_eq(pvcalls_front_listen(e.fe, l, 4), 0);
	len = sizeof(hl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&hl, &len), 0);
	ck_assert(same_addr(&fl, &hl));
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, l, (struct sockaddr *)&fp, &len),
			 -ENOTCONN);

	/* Accepted: both ends, as the host client sees them reversed. */
	c = e2e_tcp_connect(ntohs(fl.sin_port));
	ck_assert_int_ge(c, 0);
	a = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_int_ge(a, 0);
	len = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, a, (struct sockaddr *)&fl, &len), 0);
	len = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, a, (struct sockaddr *)&fp, &len), 0);
	len = sizeof(hl);
	ck_assert_int_eq(getsockname(c, (struct sockaddr *)&hl, &len), 0);
	len = sizeof(hp);
	ck_assert_int_eq(getpeername(c, (struct sockaddr *)&hp, &len), 0);
	ck_assert_msg(same_addr(&fl, &hp), "accepted getsockname %s, client's peer %s", astr(&fl),
		      astr(&hp));
	ck_assert_msg(same_addr(&fp, &hl), "accepted getpeername %s, client is %s", astr(&fp),
		      astr(&hl));
	/* A short buffer gets a prefix and the full length. */
	len = 2;
	memset(&fp, 0, sizeof(fp));
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, a, (struct sockaddr *)&fp, &len), 0);
	ck_assert_uint_eq(len, sizeof(fp));
	ck_assert_uint_eq(fp.sin_family, AF_INET);
	ck_assert_uint_eq(fp.sin_port, 0);
	close(c);
	e2e_release(&e, a);
	e2e_release(&e, l);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&fl, &len), -EBADF);
	finish(&e);
}
END_TEST

START_TEST(nodelay_on_host_socket)
{
	struct sockaddr_in fl, fp;
	socklen_t len, ol;
	struct e2e_env e;
	int fd, s, hs, v, one = 1;

	e2e_env_start(&e, NULL);
	/* Set before CONNECT: the host socket made at SOCKET carries it. */
	s = e2e_socket(&e, -1);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	{
		uint16_t port = 0;
		int lfd = e2e_tcp_listen(&port, 4);

		ck_assert_int_eq(e2e_front_connect(&e, s, port), 0);
		fd = e2e_tcp_accept(lfd, 10000);
		close(lfd);
	}
	len = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &len), 0);
	len = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &len), 0);
	hs = host_socket(&fl, &fp);
	ck_assert_msg(hs >= 0, "no host socket %s -> %s in this process", astr(&fl), astr(&fp));
	v = 0;
	ol = sizeof(v);
	ck_assert_int_eq(getsockopt(hs, IPPROTO_TCP, TCP_NODELAY, &v, &ol), 0);
	ck_assert_int_eq(v, 1);
	v = -1;
	ol = sizeof(v);
	ck_assert_int_eq(pvcalls_front_getsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY, &v, &ol), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_uint_eq(ol, sizeof(int));
	/* Off again, seen on the host socket. */
	v = 0;
	ck_assert_int_eq(pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)),
			 0);
	v = 1;
	ol = sizeof(v);
	ck_assert_int_eq(getsockopt(hs, IPPROTO_TCP, TCP_NODELAY, &v, &ol), 0);
	ck_assert_int_eq(v, 0);
	/* Others: a host range check, an unsupported option, IP_TOS. */
	v = 0;
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)),
		-EINVAL);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_MAXSEG, &one, sizeof(one)),
		-ENOPROTOOPT);
	v = 0x10;
	ck_assert_int_eq(pvcalls_front_setsockopt(e.fe, s, IPPROTO_IP, IP_TOS, &v, sizeof(v)), 0);
	v = 0;
	ol = sizeof(v);
	ck_assert_int_eq(getsockopt(hs, IPPROTO_IP, IP_TOS, &v, &ol), 0);
	ck_assert_int_eq(v, 0x10);
	close(fd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

/* SO_LINGER {1, 0}: RELEASE resets the connection; the record reads back. */
/*
 * The backend turns TCP_NODELAY on for the relay (docs/extensions.md,
 * "Kinds and states"), unless the frontend chose before the socket
 * became active: a choice of 0 is kept.
 */
START_TEST(nodelay_default_and_kept)
{
	for (int choose = 0; choose < 2; choose++) {
		struct sockaddr_in fl, fp;
		socklen_t len, ol;
		struct e2e_env e;
		int fd, s, hs, v, zero = 0;
		uint16_t port = 0;
		int lfd;

		e2e_env_start(&e, NULL);
		s = e2e_socket(&e, -1);
		if (choose)
			ck_assert_int_eq(pvcalls_front_setsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY,
								  &zero, sizeof(zero)),
					 0);
		lfd = e2e_tcp_listen(&port, 4);
		ck_assert_int_eq(e2e_front_connect(&e, s, port), 0);
		fd = e2e_tcp_accept(lfd, 10000);
		close(lfd);
		len = sizeof(fl);
		ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &len),
				 0);
		len = sizeof(fp);
		ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &len),
				 0);
		hs = host_socket(&fl, &fp);
		ck_assert_msg(hs >= 0, "no host socket %s -> %s", astr(&fl), astr(&fp));
		v = -1;
		ol = sizeof(v);
		ck_assert_int_eq(getsockopt(hs, IPPROTO_TCP, TCP_NODELAY, &v, &ol), 0);
		ck_assert_int_eq(v != 0, !choose);
		v = -1;
		ol = sizeof(v);
		ck_assert_int_eq(
			pvcalls_front_getsockopt(e.fe, s, IPPROTO_TCP, TCP_NODELAY, &v, &ol), 0);
		ck_assert_int_eq(v, !choose);
		close(fd);
		e2e_release(&e, s);
		finish(&e);
	}
}
END_TEST

START_TEST(linger_abort)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 }, got;
	socklen_t ol = sizeof(got);
	struct e2e_env e;
	char buf[8];
	int fd, s;
	ssize_t r;

	e2e_env_start(&e, NULL);
	s = e2e_connected_pair(&e, &fd);
	ck_assert_int_eq(pvcalls_front_getsockopt(e.fe, s, SOL_SOCKET, SO_LINGER, &got, &ol), 0);
	ck_assert_int_eq(got.l_onoff, 0);
	ck_assert_int_eq(pvcalls_front_setsockopt(e.fe, s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	ol = sizeof(got);
	ck_assert_int_eq(pvcalls_front_getsockopt(e.fe, s, SOL_SOCKET, SO_LINGER, &got, &ol), 0);
	ck_assert_int_eq(got.l_onoff, 1);
	ck_assert_int_eq(got.l_linger, 0);
	ck_assert_uint_eq(ol, sizeof(got));
	e2e_release(&e, s);
	r = read(fd, buf, sizeof(buf));
	ck_assert_msg(r < 0 && errno == ECONNRESET, "read after abortive release: %zd (%s)", r,
		      r < 0 ? strerror(errno) : "no error");
	close(fd);
	finish(&e);
}
END_TEST

struct acc_arg {
	pvcalls_front *fe;
	int l;
	int rc;
};

static void *blocked_accept(void *arg)
{
	struct acc_arg *a = arg;

	a->rc = pvcalls_front_accept(a->fe, a->l, 0);
	return NULL;
}

/* SHUT_RD on a listener: a blocked accept returns -EINVAL; LISTEN again works. */
START_TEST(listener_shutdown)
{
	struct sockaddr_in b = { .sin_family = AF_INET }, n;
	socklen_t len = sizeof(n);
	struct acc_arg aa = { 0 };
	struct e2e_env e;
	pthread_t t;
	int l, c, s;

	e2e_env_start(&e, NULL);
	l = e2e_socket(&e, -1);
	b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Port 0 and GETSOCKNAME: no window for a parallel test to take it. */
	ck_assert_int_eq(pvcalls_front_bind(e.fe, l, (struct sockaddr *)&b, sizeof(b)), 0);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&b, &len), 0);
	len = sizeof(n);
	ck_assert_int_eq(pvcalls_front_listen(e.fe, l, 4), 0);
	aa.fe = e.fe;
	aa.l = l;
	t = e2e_thread(blocked_accept, &aa);
	e2e_sleep_ms(200);
	ck_assert_int_eq(pvcalls_front_shutdown(e.fe, l, SHUT_RD), 0);
	e2e_join(t, 10 * E2E_SLOW, "blocked accept");
	ck_assert_int_eq(aa.rc, -EINVAL);
	ck_assert_int_eq(pvcalls_front_listen(e.fe, l, 4), 0);
	/* A listener bound to port 0 may lose its port on SHUT_RD (Linux does,
	 * docs/extensions.md, "Other states"): ask again after LISTEN. */
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&n, &len), 0);
	ck_assert_uint_ne(n.sin_port, 0);
	c = e2e_tcp_connect(ntohs(n.sin_port));
	ck_assert_int_ge(c, 0);
	s = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_int_ge(s, 0);
	close(c);
	e2e_release(&e, s);
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("e2e.ext");
	TCase *tc = tcase_create("ext");

	tcase_set_timeout(tc, 120 * E2E_SLOW);
	tcase_add_test(tc, features_default_and_opt_out);
	tcase_add_test(tc, half_close_client);
	tcase_add_test(tc, half_close_racing_sender);
	tcase_add_test(tc, shut_wr_wakes_blocked_sender);
	tcase_add_test(tc, half_close_peer);
	tcase_add_test(tc, shut_rd);
	tcase_add_test(tc, names_agree_with_host);
	tcase_add_test(tc, nodelay_on_host_socket);
	tcase_add_test(tc, nodelay_default_and_kept);
	tcase_add_test(tc, linger_abort);
	tcase_add_test(tc, listener_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return e2e_main(suite());
}
