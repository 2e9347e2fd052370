/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets end to end (docs/extensions.md, "Datagram sockets"):
 * frontend API -> shm -> backend -> a host UDP socket on 127.0.0.1.
 * Sizes from 1 to 65,507 bytes both ways with boundaries and source
 * addresses kept, truncation by a short buffer and by the backend's cut,
 * a connected socket that learns ECONNREFUSED, a destination the policy
 * refuses, and a DNS query answered by a small responder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "e2e.h"

static void finish(struct e2e_env *e)
{
	e2e_env_stop(e);
}

/* A host UDP socket bound to 127.0.0.1 (port chosen by the kernel). */
static int host_udp(struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)a, &l), 0);
	e2e_tcp_timeouts(fd, 10000 * E2E_SLOW);
	return fd;
}

static int fe_udp(struct e2e_env *e)
{
	int s = pvcalls_front_socket(e->fe, AF_INET, SOCK_DGRAM, 0);

	ck_assert_msg(s >= 0, "socket(SOCK_DGRAM): %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_RCVTIMEO_MS, 10000 * E2E_SLOW),
			 0);
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_SNDTIMEO_MS, 10000 * E2E_SLOW),
			 0);
	return s;
}

static ssize_t fe_sendto(struct e2e_env *e, int s, const void *buf, size_t len,
			 const struct sockaddr_in *to)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	if (to) {
		m.msg_name = (void *)to;
		m.msg_namelen = sizeof(*to);
	}
	return pvcalls_front_sendmsg(e->fe, s, &m, 0);
}

static ssize_t fe_recvfrom(struct e2e_env *e, int s, void *buf, size_t len, int flags,
			   struct sockaddr_in *from, int *mflags)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	ssize_t r;

	if (from) {
		memset(from, 0xa5, sizeof(*from));
		m.msg_name = from;
		m.msg_namelen = sizeof(*from);
	}
	r = pvcalls_front_recvmsg(e->fe, s, &m, flags);
	if (from && r >= 0)
		ck_assert_uint_eq(m.msg_namelen, sizeof(*from));
	if (mflags)
		*mflags = m.msg_flags;
	return r;
}

static bool same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr;
}

START_TEST(sizes_boundaries_addresses)
{
	static const size_t sizes[] = { 0, 1, 7, 8, 9, 512, 1232, 2008, 4096, 32728, 65507 };
	struct sockaddr_in ha, fa, from;
	struct e2e_env e;
	socklen_t fl = sizeof(fa);
	uint8_t *out = malloc(65536), *in = malloc(65536);
	int hfd, s, mf;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	e2e_env_start(&e, NULL);
	ck_assert_uint_ne(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_DGRAM, 0);
	hfd = host_udp(&ha);
	s = fe_udp(&e);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		struct iovec v[3];
		struct msghdr m = {
			.msg_iov = v, .msg_iovlen = 3, .msg_name = &ha, .msg_namelen = sizeof(ha)
		};
		ssize_t r;

		/* Guest -> host, the datagram gathered from three pieces. */
		e2e_fill(0x100 + i, 0, out, n);
		v[0] = (struct iovec){ out, n / 3 };
		v[1] = (struct iovec){ out + n / 3, n / 3 };
		v[2] = (struct iovec){ out + 2 * (n / 3), n - 2 * (n / 3) };
		ck_assert_int_eq(pvcalls_front_sendmsg(e.fe, s, &m, 0), (ssize_t)n);
		/* and a second one right behind it: boundaries are kept */
		ck_assert_int_eq(fe_sendto(&e, s, "x", 1, &ha), 1);
		fl = sizeof(fa);
		r = recvfrom(hfd, in, 65536, 0, (struct sockaddr *)&fa, &fl);
		ck_assert_msg(r == (ssize_t)n, "size %zu: host got %zd (%s)", n, r,
			      r < 0 ? strerror(errno) : "");
		ck_assert_int_eq(e2e_verify(0x100 + i, 0, in, n), -1);
		ck_assert_int_eq(recvfrom(hfd, in, 65536, 0, NULL, NULL), 1);
		ck_assert_int_eq(in[0], 'x');
		if (i == 0) {
			/* The source the host saw is the frontend socket's name. */
			struct sockaddr_in me;
			socklen_t ml = sizeof(me);

			ck_assert_int_eq(
				pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&me, &ml), 0);
			ck_assert_uint_eq(me.sin_port, fa.sin_port); /* bound to the wildcard */
		}

		/* Host -> guest, twice, and the source address with it. */
		e2e_fill(0x200 + i, 0, out, n);
		ck_assert_int_eq(sendto(hfd, out, n, 0, (struct sockaddr *)&fa, sizeof(fa)),
				 (ssize_t)n);
		ck_assert_int_eq(sendto(hfd, "yz", 2, 0, (struct sockaddr *)&fa, sizeof(fa)), 2);
		r = fe_recvfrom(&e, s, in, 65536, 0, &from, &mf);
		ck_assert_msg(r == (ssize_t)n, "size %zu: frontend got %zd", n, r);
		ck_assert_int_eq(e2e_verify(0x200 + i, 0, in, n), -1);
		ck_assert(same(&from, &ha));
		ck_assert_int_eq(mf & MSG_TRUNC, 0);
		ck_assert_int_eq(fe_recvfrom(&e, s, in, 65536, 0, NULL, NULL), 2);
		ck_assert_int_eq(memcmp(in, "yz", 2), 0);
		ck_assert_int_eq(fe_recvfrom(&e, s, in, 65536, MSG_DONTWAIT, NULL, NULL), -EAGAIN);
	}
	/* Local checks: too big, no destination, wrong family. */
	ck_assert_int_eq(fe_sendto(&e, s, out, 65508, &ha), -EMSGSIZE);
	ck_assert_int_eq(fe_sendto(&e, s, out, 1, NULL), -EDESTADDRREQ);
	{
		struct sockaddr_in bad = ha;

		bad.sin_family = AF_INET6;
		ck_assert_int_eq(fe_sendto(&e, s, out, 1, &bad), -EAFNOSUPPORT);
	}
	ck_assert_int_eq(pvcalls_front_listen(e.fe, s, 1), -EOPNOTSUPP);
	e2e_release(&e, s);
	close(hfd);
	free(out);
	free(in);
	finish(&e);
}
END_TEST

START_TEST(truncation_and_poll)
{
	struct e2e_cfg cfg = { 0 };
	struct sockaddr_in ha, fa;
	struct e2e_env e;
	struct pvcalls_pollfd pf;
	socklen_t fl = sizeof(fa);
	uint8_t out[5000], in[6000];
	int hfd, s, mf;

	/* Ring order 1 (4 KiB): datagrams above 4,056 bytes are cut. */
	cfg.back.limits.max_ring_order = 1;
	e2e_env_start(&e, &cfg);
	hfd = host_udp(&ha);
	s = fe_udp(&e);
	ck_assert_int_eq(fe_sendto(&e, s, "hi", 2, &ha), 2);
	ck_assert_int_eq(recvfrom(hfd, in, sizeof(in), 0, (struct sockaddr *)&fa, &fl), 2);
	ck_assert_int_eq(fe_sendto(&e, s, out, 4057, &ha), -EMSGSIZE); /* record > ring */

	/* A short buffer: MSG_TRUNC in msg_flags; with MSG_TRUNC the full size. */
	e2e_fill(7, 0, out, 1000);
	ck_assert_int_eq(sendto(hfd, out, 1000, 0, (struct sockaddr *)&fa, sizeof(fa)), 1000);
	pf = (struct pvcalls_pollfd){ .sock = s, .events = POLLIN };
	ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 10000 * E2E_SLOW), 1);
	ck_assert_int_eq(pf.revents, POLLIN);
	pf = (struct pvcalls_pollfd){ .sock = s, .events = POLLIN | POLLOUT };
	ck_assert_int_eq(pvcalls_front_poll(e.fe, &pf, 1, 0), 1);
	ck_assert_int_eq(pf.revents, POLLIN | POLLOUT);
	ck_assert_int_eq(pvcalls_front_nread(e.fe, s), 1000);
	ck_assert_int_eq(fe_recvfrom(&e, s, in, 100, MSG_PEEK, NULL, &mf), 100);
	ck_assert_int_ne(mf & MSG_TRUNC, 0);
	ck_assert_int_eq(fe_recvfrom(&e, s, in, 100, MSG_TRUNC, NULL, &mf), 1000);
	ck_assert_int_ne(mf & MSG_TRUNC, 0);
	ck_assert_int_eq(e2e_verify(7, 0, in, 100), -1);
	ck_assert_int_eq(pvcalls_front_nread(e.fe, s), 0);

	/* Cut by the backend: 4,056 bytes arrive, full_len says 5,000. */
	e2e_fill(8, 0, out, 5000);
	ck_assert_int_eq(sendto(hfd, out, 5000, 0, (struct sockaddr *)&fa, sizeof(fa)), 5000);
	ck_assert_int_eq(fe_recvfrom(&e, s, in, sizeof(in), 0, NULL, &mf), 4056);
	ck_assert_int_ne(mf & MSG_TRUNC, 0);
	ck_assert_int_eq(e2e_verify(8, 0, in, 4056), -1);
	ck_assert_int_eq(sendto(hfd, out, 5000, 0, (struct sockaddr *)&fa, sizeof(fa)), 5000);
	ck_assert_int_eq(fe_recvfrom(&e, s, in, sizeof(in), MSG_TRUNC, NULL, &mf), 5000);
	/* The next one is whole again. */
	ck_assert_int_eq(sendto(hfd, out, 10, 0, (struct sockaddr *)&fa, sizeof(fa)), 10);
	ck_assert_int_eq(fe_recvfrom(&e, s, in, sizeof(in), 0, NULL, &mf), 10);
	ck_assert_int_eq(mf & MSG_TRUNC, 0);
	/* Flow control: 40 datagrams into a 4 KiB ring that holds three; the
	 * rest wait on the host socket and come in order as we consume. */
	for (int i = 0; i < 40; i++) {
		e2e_fill(0x900 + (uint64_t)i, 0, out, 1000);
		ck_assert_int_eq(sendto(hfd, out, 1000, 0, (struct sockaddr *)&fa, sizeof(fa)),
				 1000);
	}
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(fe_recvfrom(&e, s, in, sizeof(in), 0, NULL, &mf), 1000);
		ck_assert_msg(e2e_verify(0x900 + (uint64_t)i, 0, in, 1000) == -1,
			      "datagram %d out of order or corrupt", i);
	}
	e2e_release(&e, s);
	close(hfd);
	finish(&e);
}
END_TEST

START_TEST(connected_refused)
{
	struct sockaddr_in ha, any = { .sin_family = AF_UNSPEC }, peer;
	struct e2e_env e;
	socklen_t pl = sizeof(peer);
	uint8_t in[64];
	int hfd, s, rc = 0;

	e2e_env_start(&e, NULL);
	hfd = host_udp(&ha);
	close(hfd); /* nobody listens there now: ICMP port unreachable */
	s = fe_udp(&e);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&ha, sizeof(ha)), 0);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&peer, &pl), 0);
	ck_assert(same(&peer, &ha));
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "ping", 4, 0), 4);
	/* The error record (or out_error, if the host reported it to a send). */
	for (int i = 0; i < 50 && rc != -ECONNREFUSED; i++) {
		rc = (int)pvcalls_front_recv(e.fe, s, in, sizeof(in), MSG_DONTWAIT);
		if (rc == -EAGAIN) {
			int r2 = (int)pvcalls_front_send(e.fe, s, "ping", 4, 0);

			if (r2 < 0)
				rc = r2;
			e2e_sleep_ms(20);
		}
	}
	ck_assert_int_eq(rc, -ECONNREFUSED);
	/* Dissolved: a send without an address needs one now. */
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&any, sizeof(any)), 0);
	pl = sizeof(peer);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&peer, &pl),
			 -ENOTCONN);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "ping", 4, 0), -EDESTADDRREQ);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(policy_refuses_destination)
{
	struct sockaddr_in ha, hb, fa;
	struct e2e_env e;
	pvcalls_policy *p;
	char rule[96], err[96];
	socklen_t fl = sizeof(fa);
	uint8_t in[16];
	int hfd, hfd2, s, t, rc = 0;

	e2e_env_start(&e, NULL);
	hfd = host_udp(&ha);
	hfd2 = host_udp(&hb);
	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	snprintf(rule, sizeof(rule), "deny connect udp 127.0.0.1/32 port %u", ntohs(hb.sin_port));
	ck_assert_msg(pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, rule, err, sizeof(err)) ==
			      0,
		      "%s", err);
	/* A TCP-only rule never judges datagrams. */
	snprintf(rule, sizeof(rule), "deny connect tcp 127.0.0.1/32 port %u", ntohs(ha.sin_port));
	ck_assert_int_eq(pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, rule, err, sizeof(err)),
			 0);
	e2e_back_set_policy(&e, p);
	s = fe_udp(&e);
	/* Allowed destination goes through. */
	ck_assert_int_eq(fe_sendto(&e, s, "ok", 2, &ha), 2);
	ck_assert_int_eq(recvfrom(hfd, in, sizeof(in), 0, (struct sockaddr *)&fa, &fl), 2);
	/* Refused: the datagram is dropped, out_error -EACCES shows on a later send. */
	ck_assert_int_eq(fe_sendto(&e, s, "no", 2, &hb), 2);
	for (int i = 0; i < 100 && rc != -EACCES; i++) {
		e2e_sleep_ms(10);
		rc = (int)fe_sendto(&e, s, "no", 2, &hb);
	}
	ck_assert_int_eq(rc, -EACCES);
	ck_assert_int_eq(recv(hfd2, in, sizeof(in), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* CONNECT to it is refused at once. */
	t = fe_udp(&e);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, t, (struct sockaddr *)&hb, sizeof(hb)),
			 -EACCES);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, t, (struct sockaddr *)&ha, sizeof(ha)), 0);
	e2e_release(&e, t);
	e2e_release(&e, s);
	close(hfd);
	close(hfd2);
	finish(&e);
}
END_TEST

/* SENDTO audit records: one when a destination is first used, one per
 * refusal; limits: the rings count against max_mapped_pages. */
struct audit_count {
	pthread_mutex_t lock;
	int allow, deny, other_sendto;
	uint16_t allow_port, deny_port;
};

static void audit_sink(void *arg, const struct pvcalls_back_audit *r)
{
	struct audit_count *a = arg;
	uint16_t port = ntohs(r->addr.sin_port);

	if (r->cmd != PVCALLS_EXT_SENDTO)
		return;
	pthread_mutex_lock(&a->lock);
	if (r->decision == PVCALLS_BACK_DECISION_ALLOW && r->ret == 0 && port == a->allow_port)
		a->allow++;
	else if (r->decision == PVCALLS_BACK_DECISION_DENY && r->ret == -13 && port == a->deny_port)
		a->deny++;
	else
		a->other_sendto++;
	pthread_mutex_unlock(&a->lock);
}

START_TEST(audit_and_limits)
{
	struct audit_count ac = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct e2e_cfg cfg = { 0 };
	struct sockaddr_in ha, hb;
	struct e2e_env e;
	pvcalls_policy *p;
	char rule[96];
	uint8_t in[16];
	int hfd, hfd2, s, rc = 0, n = 0;

	e2e_env_start(&e, NULL);
	hfd = host_udp(&ha);
	hfd2 = host_udp(&hb);
	ac.allow_port = ntohs(ha.sin_port);
	ac.deny_port = ntohs(hb.sin_port);
	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	snprintf(rule, sizeof(rule), "deny connect udp any port %u", ac.deny_port);
	ck_assert_int_eq(pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, rule, NULL, 0), 0);
	e2e_back_set_policy(&e, p);
	e2e_back_set_audit(&e, audit_sink, &ac);
	s = fe_udp(&e);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(fe_sendto(&e, s, "a", 1, &ha), 1);
		ck_assert_int_eq(recv(hfd, in, sizeof(in), 0), 1);
	}
	/* Three refused datagrams (the error shows once on a later send). */
	while (n < 3) {
		rc = (int)fe_sendto(&e, s, "b", 1, &hb);
		if (rc == 1)
			n++;
		else
			ck_assert_int_eq(rc, -EACCES);
	}
	for (int i = 0; i < 100; i++) {
		int d;

		pthread_mutex_lock(&ac.lock);
		d = ac.deny;
		pthread_mutex_unlock(&ac.lock);
		if (d >= 3)
			break;
		e2e_sleep_ms(10);
	}
	e2e_back_set_audit(&e, NULL, NULL);
	ck_assert_int_eq(ac.allow, 1);
	ck_assert_int_ge(ac.deny, 3);
	ck_assert_int_eq(ac.other_sendto, 0);
	e2e_release(&e, s);
	close(hfd);
	close(hfd2);
	finish(&e);

	/* 10 mapped pages: no room for a datagram socket's rings. */
	cfg.back.limits.max_mapped_pages = 10;
	e2e_env_start(&e, &cfg);
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET, SOCK_DGRAM, 0), -ENOBUFS);
	finish(&e);
}
END_TEST

/* --- DNS ---------------------------------------------------------------- */

struct dns_srv {
	int fd;
	int answered;
};

/* Answers one A query for "example.test" with 192.0.2.7, then stops. */
static void *dns_responder(void *arg)
{
	struct dns_srv *d = arg;
	uint8_t q[512], a[512];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	static const uint8_t answer[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7 };

	if (n < 12 + 18 || q[4] != 0 || q[5] != 1) {
		e2e_fail("dns responder: bad query (%zd bytes)", n);
		return NULL;
	}
	memcpy(a, q, (size_t)n);
	a[2] = 0x81; /* QR, RD */
	a[3] = 0x80; /* RA */
	a[7] = 1;    /* ANCOUNT 1 */
	memcpy(a + n, answer, sizeof(answer));
	if (sendto(d->fd, a, (size_t)n + sizeof(answer), 0, (struct sockaddr *)&from, fl) < 0)
		e2e_fail("dns responder: sendto: %s", strerror(errno));
	d->answered = 1;
	return NULL;
}

START_TEST(dns_query)
{
	/* A query for example.test IN A, id 0x1234, RD. */
	static const uint8_t query[] = { 0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0,
					 0,    0,    7,    'e',  'x', 'a', 'm', 'p', 'l', 'e',
					 4,    't',  'e',  's',  't', 0,   0,   1,   0,   1 };
	struct dns_srv d = { 0 };
	struct sockaddr_in ha, from;
	struct e2e_env e;
	uint8_t r[512];
	pthread_t th;
	ssize_t n;
	int s;

	e2e_env_start(&e, NULL);
	d.fd = host_udp(&ha);
	th = e2e_thread(dns_responder, &d);
	s = fe_udp(&e);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&ha, sizeof(ha)), 0);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, query, sizeof(query), 0), sizeof(query));
	n = fe_recvfrom(&e, s, r, sizeof(r), 0, &from, NULL);
	e2e_join(th, 10 * E2E_SLOW, "dns responder");
	e2e_check_failed();
	ck_assert_int_eq(n, (ssize_t)sizeof(query) + 16);
	ck_assert(same(&from, &ha));
	ck_assert_int_eq(r[0], 0x12);
	ck_assert_int_eq(r[1], 0x34);
	ck_assert_int_eq(r[2] & 0x80, 0x80); /* a response */
	ck_assert_int_eq(r[7], 1);
	ck_assert_int_eq(memcmp(r + n - 4, "\xc0\x00\x02\x07", 4), 0); /* 192.0.2.7 */
	e2e_release(&e, s);
	close(d.fd);
	finish(&e);
}
END_TEST

/* AF_INET6 datagrams (both extensions in force) against a host socket on ::1. */
START_TEST(inet6_sizes)
{
	static const size_t sizes[] = { 1, 512, 1232, 65507, 65527 };
	struct sockaddr_in6 ha = { .sin6_family = AF_INET6 }, fa, from;
	struct e2e_env e;
	socklen_t l = sizeof(ha);
	uint8_t *out = malloc(65536), *in = malloc(65536);
	int hfd, s;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	hfd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ha.sin6_addr = in6addr_loopback;
	if (hfd < 0 || bind(hfd, (struct sockaddr *)&ha, sizeof(ha)) < 0) {
		/* No IPv6 loopback here: nothing to test against. */
		fprintf(stderr, "inet6_sizes: skipped: no ::1 (%s)\n", strerror(errno));
		if (hfd >= 0)
			close(hfd);
		free(out);
		free(in);
		return;
	}
	ck_assert_int_eq(getsockname(hfd, (struct sockaddr *)&ha, &l), 0);
	e2e_tcp_timeouts(hfd, 10000 * E2E_SLOW);
	e2e_env_start(&e, NULL);
	ck_assert_uint_eq(pvcalls_front_features(e.fe) &
				  (PVCALLS_FEATURE_DGRAM | PVCALLS_FEATURE_INET6),
			  PVCALLS_FEATURE_DGRAM | PVCALLS_FEATURE_INET6);
	s = pvcalls_front_socket(e.fe, AF_INET6, SOCK_DGRAM, 0);
	ck_assert_msg(s >= 0, "socket(AF_INET6, SOCK_DGRAM): %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_setopt(e.fe, s, PVCALLS_OPT_RCVTIMEO_MS, 10000 * E2E_SLOW),
			 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		struct iovec v = { out, n }, vi = { in, 65536 };
		struct msghdr m = {
			.msg_iov = &v, .msg_iovlen = 1, .msg_name = &ha, .msg_namelen = sizeof(ha)
		};
		struct msghdr mi = { .msg_iov = &vi,
				     .msg_iovlen = 1,
				     .msg_name = &from,
				     .msg_namelen = sizeof(from) };
		ssize_t r;

		e2e_fill(0x600 + i, 0, out, n);
		ck_assert_int_eq(pvcalls_front_sendmsg(e.fe, s, &m, 0), (ssize_t)n);
		l = sizeof(fa);
		r = recvfrom(hfd, in, 65536, 0, (struct sockaddr *)&fa, &l);
		ck_assert_msg(r == (ssize_t)n, "size %zu: host got %zd", n, r);
		ck_assert_int_eq(e2e_verify(0x600 + i, 0, in, n), -1);
		ck_assert_int_eq(fa.sin6_family, AF_INET6);
		e2e_fill(0x700 + i, 0, out, n);
		ck_assert_int_eq(sendto(hfd, out, n, 0, (struct sockaddr *)&fa, sizeof(fa)),
				 (ssize_t)n);
		r = pvcalls_front_recvmsg(e.fe, s, &mi, 0);
		ck_assert_msg(r == (ssize_t)n, "size %zu: frontend got %zd", n, r);
		ck_assert_int_eq(e2e_verify(0x700 + i, 0, in, n), -1);
		ck_assert_uint_eq(mi.msg_namelen, sizeof(from));
		ck_assert_int_eq(from.sin6_family, AF_INET6);
		ck_assert_int_eq(from.sin6_port, ha.sin6_port);
		ck_assert(IN6_IS_ADDR_LOOPBACK(&from.sin6_addr));
	}
	{
		struct iovec v = { out, 65528 };
		struct msghdr m = {
			.msg_iov = &v, .msg_iovlen = 1, .msg_name = &ha, .msg_namelen = sizeof(ha)
		};

		ck_assert_int_eq(pvcalls_front_sendmsg(e.fe, s, &m, 0), -EMSGSIZE);
	}
	e2e_release(&e, s);
	close(hfd);
	free(out);
	free(in);
	finish(&e);
}
END_TEST

/* An echo server for echo_rtt: returns every datagram until "stop". */
static void *udp_echo(void *arg)
{
	int fd = *(int *)arg;
	uint8_t b[2048];

	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);

		if (n < 0) {
			e2e_fail("echo: recvfrom: %s", strerror(errno));
			return NULL;
		}
		if (n == 4 && !memcmp(b, "stop", 4))
			return NULL;
		if (sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, fl) != n) {
			e2e_fail("echo: sendto: %s", strerror(errno));
			return NULL;
		}
	}
}

/* 512-byte request/response round trips, each reply checked; the mean
 * round trip is printed (a measurement, not a limit). */
START_TEST(echo_rtt)
{
	enum { N = 2000, LEN = 512 };
	struct sockaddr_in ha;
	struct e2e_env e;
	uint8_t out[LEN], in[LEN + 1];
	pthread_t th;
	double t0;
	int hfd, s;

	e2e_env_start(&e, NULL);
	hfd = host_udp(&ha);
	th = e2e_thread(udp_echo, &hfd);
	s = fe_udp(&e);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&ha, sizeof(ha)), 0);
	t0 = e2e_now();
	for (int i = 0; i < N; i++) {
		e2e_fill(0xa00 + (uint64_t)i, 0, out, LEN);
		ck_assert_int_eq(pvcalls_front_send(e.fe, s, out, LEN, 0), LEN);
		ck_assert_int_eq(pvcalls_front_recv(e.fe, s, in, sizeof(in), 0), LEN);
		ck_assert_int_eq(memcmp(in, out, LEN), 0);
	}
	fprintf(stderr, "e2e.dgram echo_rtt (%s): %d x %d-byte round trips, mean %.1f us\n",
		e2e_flavour(), N, LEN, (e2e_now() - t0) * 1e6 / N);
	ck_assert_int_eq(pvcalls_front_send(e.fe, s, "stop", 4, 0), 4);
	e2e_join(th, 10 * E2E_SLOW, "echo server");
	e2e_check_failed();
	e2e_release(&e, s);
	close(hfd);
	finish(&e);
}
END_TEST

START_TEST(not_in_force)
{
	struct e2e_cfg cfg = { 0 };
	struct e2e_env e;

	cfg.back.ext_off = PVCALLS_FEATURE_DGRAM;
	e2e_env_start(&e, &cfg);
	ck_assert_uint_eq(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_DGRAM, 0);
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET, SOCK_DGRAM, 0), -EAFNOSUPPORT);
	finish(&e);
	/* dgram without inet6: AF_INET6 datagrams are refused, AF_INET ones work. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.front.ext_off = PVCALLS_FEATURE_INET6;
	e2e_env_start(&e, &cfg);
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET6, SOCK_DGRAM, 0), -EAFNOSUPPORT);
	{
		int s = pvcalls_front_socket(e.fe, AF_INET, SOCK_DGRAM, 0);

		ck_assert_int_ge(s, 0);
		e2e_release(&e, s);
	}
	finish(&e);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("e2e.dgram");
	TCase *tc = tcase_create("dgram");

	tcase_set_timeout(tc, 120 * E2E_SLOW);
	tcase_add_test(tc, sizes_boundaries_addresses);
	tcase_add_test(tc, truncation_and_poll);
	tcase_add_test(tc, connected_refused);
	tcase_add_test(tc, policy_refuses_destination);
	tcase_add_test(tc, dns_query);
	tcase_add_test(tc, audit_and_limits);
	tcase_add_test(tc, inet6_sizes);
	tcase_add_test(tc, echo_rtt);
	tcase_add_test(tc, not_in_force);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return e2e_main(suite());
}
