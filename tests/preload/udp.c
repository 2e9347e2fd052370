/* SPDX-License-Identifier: MIT */
/*
 * UDP, IPv6 and name resolution through libpvcalls-preload, seen from an
 * ordinary program (sem.c's companion). Runs under pvcalls-run in an empty
 * network namespace (harness.py): the kernel has no route there (lo is
 * down), so every datagram that arrives came through PV Calls.
 *
 *   udp udp ECHO CLOSED       UDP echo peer on 127.0.0.1:ECHO, nobody on CLOSED
 *   udp resolve NAME          NAME is 127.0.0.1 and ::1 at the test's DNS
 *                             server, 127.0.0.9's PTR is NAME, 127.0.0.10 has none
 *   udp inet6 ECHO6           AF_INET6: UDP echo peer on [::1]:ECHO6; a TCP listener
 *                             and client inside, over ::1, with sockaddr_in6 names
 *   udp inet6-off             socket(AF_INET6, SOCK_STREAM) fails with EAFNOSUPPORT
 *   udp udp-off ECHO          without datagram sockets UDP is the kernel's
 *
 * Exit 0 and "ok CASE", 1 on failure, 77 when the backend lacks what the
 * case needs (said on stdout).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *g_case;

#define CHECK(c, ...)                                                                             \
	do {                                                                                      \
		if (!(c)) {                                                                       \
			int _e = errno;                                                           \
			fprintf(stderr, "FAIL %s:%d [%s] %s (errno %d %s): ", __FILE__, __LINE__, \
				g_case, #c, _e, strerror(_e));                                    \
			fprintf(stderr, __VA_ARGS__);                                             \
			fprintf(stderr, "\n");                                                    \
			exit(1);                                                                  \
		}                                                                                 \
	} while (0)

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int udp_sock(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(s >= 0, "socket(AF_INET, SOCK_DGRAM)");
	return s;
}

/* Waits up to 5 s for @ev on @s. */
static short wait_ev(int s, short ev)
{
	struct pollfd p = { .fd = s, .events = ev };
	int n = poll(&p, 1, 5000);

	CHECK(n == 1, "poll %#x timed out or failed (%d)", ev, n);
	return p.revents;
}

static void case_udp(int echo, int closed)
{
	struct sockaddr_in to = addr_of("127.0.0.1", echo), from;
	socklen_t fl = sizeof(from);
	char buf[256], big[100];
	int s = udp_sock(), v = 0, n;
	socklen_t vl = sizeof(v);

	CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl) == 0 && v == SOCK_DGRAM, "SO_TYPE %d", v);
	/* 1. sendto/recvfrom with addresses. */
	n = (int)sendto(s, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to));
	if (n < 0 && (errno == ENETUNREACH || errno == ENETDOWN)) {
		printf("SKIP: UDP went to the kernel (%s): the backend or frontend does not "
		       "offer datagram sockets\n",
		       strerror(errno));
		exit(77);
	}
	CHECK(n == 5, "sendto");
	CHECK(wait_ev(s, POLLIN) & POLLIN, "POLLIN");
	CHECK(ioctl(s, FIONREAD, &v) == 0 && v == 5, "FIONREAD %d", v);
	n = (int)recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	CHECK(n == 5 && !memcmp(buf, "hello", 5), "recvfrom %d", n);
	CHECK(fl == sizeof(from) && from.sin_family == AF_INET && from.sin_port == to.sin_port &&
		      from.sin_addr.s_addr == to.sin_addr.s_addr,
	      "source %s:%d", inet_ntoa(from.sin_addr), ntohs(from.sin_port));
	/* Nothing queued: a non-blocking receive says EAGAIN. */
	CHECK(recv(s, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN, "EAGAIN");

	/* 2. Truncation, MSG_PEEK, MSG_TRUNC, msg_flags. */
	memset(big, 'x', sizeof(big));
	CHECK(sendto(s, big, sizeof(big), 0, (struct sockaddr *)&to, sizeof(to)) == 100, "sendto");
	wait_ev(s, POLLIN);
	CHECK(recv(s, buf, 10, MSG_PEEK) == 10, "peek");
	CHECK(recv(s, buf, 10, MSG_PEEK | MSG_TRUNC) == 100, "peek|trunc returns the full length");
	{
		struct iovec iov[2] = { { buf, 4 }, { buf + 4, 6 } };
		struct msghdr m = { .msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = iov,
				    .msg_iovlen = 2 };

		n = (int)recvmsg(s, &m, 0);
		CHECK(n == 10 && (m.msg_flags & MSG_TRUNC) && m.msg_namelen == sizeof(from),
		      "recvmsg %d flags %#x", n, m.msg_flags);
	}
	/* The rest of the datagram is gone: one datagram per call. */
	CHECK(recv(s, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN, "rest discarded");

	/* 3. sendmsg gathers iovs into ONE datagram. */
	{
		struct iovec iov[3] = { { "ab", 2 }, { "cd", 2 }, { "e", 1 } };
		struct msghdr m = {
			.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 3
		};

		CHECK(sendmsg(s, &m, 0) == 5, "sendmsg");
		wait_ev(s, POLLIN);
		CHECK(recv(s, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "abcde", 5), "gathered");
	}

	/* 4. epoll on a UDP socket (level-triggered). */
	{
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };

		CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll");
		CHECK(epoll_wait(ep, &ev, 1, 0) == 0, "nothing yet");
		CHECK(sendto(s, "e", 1, 0, (struct sockaddr *)&to, sizeof(to)) == 1, "sendto");
		CHECK(epoll_wait(ep, &ev, 1, 5000) == 1 && (ev.events & EPOLLIN), "EPOLLIN");
		CHECK(epoll_wait(ep, &ev, 1, 0) == 1, "level-triggered: still ready");
		CHECK(recv(s, buf, sizeof(buf), 0) == 1, "recv");
		CHECK(epoll_wait(ep, &ev, 1, 0) == 0, "drained");
		close(ep);
	}

	/* 5. sendmmsg / recvmmsg. */
	{
		struct iovec si[2] = { { "one", 3 }, { "two", 3 } },
			     ri[2] = { { buf, 16 }, { buf + 16, 16 } };
		struct mmsghdr sm[2], rm[2];

		memset(sm, 0, sizeof(sm));
		memset(rm, 0, sizeof(rm));
		for (int i = 0; i < 2; i++) {
			sm[i].msg_hdr.msg_name = &to;
			sm[i].msg_hdr.msg_namelen = sizeof(to);
			sm[i].msg_hdr.msg_iov = &si[i];
			sm[i].msg_hdr.msg_iovlen = 1;
			rm[i].msg_hdr.msg_iov = &ri[i];
			rm[i].msg_hdr.msg_iovlen = 1;
		}
		CHECK(sendmmsg(s, sm, 2, 0) == 2, "sendmmsg");
		for (int got = 0, tries = 0; got < 2 && tries < 50; tries++) {
			wait_ev(s, POLLIN);
			n = recvmmsg(s, rm + got, (unsigned)(2 - got), MSG_DONTWAIT, NULL);
			if (n > 0)
				got += n;
			if (got == 2)
				break;
		}
		CHECK(rm[0].msg_len == 3 && rm[1].msg_len == 3 && !memcmp(buf, "one", 3) &&
			      !memcmp(buf + 16, "two", 3),
		      "recvmmsg %u %u", rm[0].msg_len, rm[1].msg_len);
	}
	close(s);

	/* 6. Connected UDP: send/recv/read/write, names, AF_UNSPEC. */
	s = udp_sock();
	CHECK(connect(s, (struct sockaddr *)&to, sizeof(to)) == 0, "connect");
	fl = sizeof(from);
	CHECK(getpeername(s, (struct sockaddr *)&from, &fl) == 0 && from.sin_port == to.sin_port,
	      "getpeername");
	CHECK(write(s, "w", 1) == 1 && wait_ev(s, POLLIN) && read(s, buf, 10) == 1 && buf[0] == 'w',
	      "write/read");
	CHECK(send(s, "s", 1, 0) == 1 && wait_ev(s, POLLIN) && recv(s, buf, 10, 0) == 1,
	      "send/recv");
	{
		struct sockaddr_unspec {
			sa_family_t f;
			char pad[14];
		} un = { AF_UNSPEC, { 0 } };

		CHECK(connect(s, (struct sockaddr *)&un, sizeof(un)) == 0, "AF_UNSPEC");
		fl = sizeof(from);
		CHECK(getpeername(s, (struct sockaddr *)&from, &fl) < 0 && errno == ENOTCONN,
		      "disconnected");
		CHECK(send(s, "x", 1, 0) < 0 && errno == EDESTADDRREQ, "EDESTADDRREQ");
	}
	close(s);

	/* 7. ECONNREFUSED: a connected socket to a port nobody listens on. */
	s = udp_sock();
	to = addr_of("127.0.0.1", closed);
	CHECK(connect(s, (struct sockaddr *)&to, sizeof(to)) == 0, "connect closed port");
	CHECK(send(s, "?", 1, 0) == 1, "send");
	{
		bool refused = false;

		for (int i = 0; i < 20 && !refused; i++) {
			struct pollfd p = { .fd = s, .events = POLLIN };

			poll(&p, 1, 250);
			n = (int)recv(s, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && errno == ECONNREFUSED) {
				refused = true;
				continue;
			}
			CHECK(n < 0 && errno == EAGAIN, "recv %d", n);
			if (send(s, "?", 1, 0) < 0) {
				CHECK(errno == ECONNREFUSED, "send again");
				refused = true;
			}
		}
		CHECK(refused, "no ECONNREFUSED in 5 s");
	}
	close(s);

	/* 8. bind, getsockname. */
	s = udp_sock();
	{
		struct sockaddr_in b = addr_of("127.0.0.1", 0);

		CHECK(bind(s, (struct sockaddr *)&b, sizeof(b)) == 0, "bind");
		fl = sizeof(b);
		CHECK(getsockname(s, (struct sockaddr *)&b, &fl) == 0 && b.sin_family == AF_INET,
		      "getsockname");
		printf("bound to %s:%d\n", inet_ntoa(b.sin_addr), ntohs(b.sin_port));
		CHECK(listen(s, 1) < 0 && errno == EOPNOTSUPP, "listen on UDP");
	}
	close(s);
}

/* ---------------------------------------------------------------------- */

static const char *g_name;

static void *thr_resolve(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		struct addrinfo h = { .ai_socktype = SOCK_STREAM }, *r = NULL;
		int rc = getaddrinfo(g_name, "80", &h, &r);

		CHECK(rc == 0 && r, "thread getaddrinfo: %s", gai_strerror(rc));
		freeaddrinfo(r);
	}
	return NULL;
}

static void case_resolve(const char *name)
{
	struct hostent he, *res = NULL;
	struct addrinfo h, *r = NULL;
	char buf[1024], host[NI_MAXHOST], serv[NI_MAXSERV], ip[64];
	int herr = 0, rc;
	bool v4 = false, v6 = false;

	g_name = name;
	/* getaddrinfo: both families, the port, the canonical name. */
	memset(&h, 0, sizeof(h));
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = AI_CANONNAME;
	rc = getaddrinfo(name, "http", &h, &r);
	CHECK(rc == 0, "getaddrinfo(%s): %s", name, gai_strerror(rc));
	CHECK(r->ai_canonname && !strcmp(r->ai_canonname, name), "canonname %s", r->ai_canonname);
	for (struct addrinfo *a = r; a; a = a->ai_next) {
		CHECK(a->ai_socktype == SOCK_STREAM && a->ai_protocol == IPPROTO_TCP, "socktype");
		if (a->ai_family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)a->ai_addr;

			v4 = s->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
			     ntohs(s->sin_port) == 80;
		} else if (a->ai_family == AF_INET6) {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)a->ai_addr;

			v6 = IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) && ntohs(s->sin6_port) == 80;
		}
	}
	CHECK(v4 && v6, "A and AAAA (%d %d)", v4, v6);
	freeaddrinfo(r); /* glibc's: the list must be allocated its way */

	/* Without hints: three socket types per address, as glibc. */
	r = NULL;
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	CHECK(getaddrinfo(name, NULL, &h, &r) == 0 && r && r->ai_next && r->ai_next->ai_next,
	      "socket types");
	freeaddrinfo(r);

	/* Errors as glibc's. */
	rc = getaddrinfo("nx.invalid-pvcalls-test", NULL, NULL, &r);
	CHECK(rc == EAI_NONAME, "NXDOMAIN: %d %s", rc, gai_strerror(rc));
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_APPLETALK;
	rc = getaddrinfo(name, NULL, &h, &r);
	CHECK(rc == EAI_FAMILY, "family: %s", gai_strerror(rc));
	rc = getaddrinfo(name, "no-such-service-pvcalls", NULL, &r);
	CHECK(rc == EAI_SERVICE, "service: %s", gai_strerror(rc));

	/* gethostbyname_r, gethostbyname2_r, gethostbyname. */
	rc = gethostbyname_r(name, &he, buf, sizeof(buf), &res, &herr);
	CHECK(rc == 0 && res == &he && he.h_addrtype == AF_INET && he.h_length == 4 &&
		      he.h_addr_list[0] && !strcmp(he.h_name, name),
	      "gethostbyname_r: %d h_errno %d", rc, herr);
	CHECK(inet_ntop(AF_INET, he.h_addr_list[0], ip, sizeof(ip)) && !strcmp(ip, "127.0.0.1"),
	      "A %s", ip);
	rc = gethostbyname2_r(name, AF_INET6, &he, buf, sizeof(buf), &res, &herr);
	CHECK(rc == 0 && res && he.h_addrtype == AF_INET6 &&
		      IN6_IS_ADDR_LOOPBACK((struct in6_addr *)he.h_addr_list[0]),
	      "gethostbyname2_r AF_INET6: %d %d", rc, herr);
	rc = gethostbyname_r(name, &he, buf, 8, &res, &herr);
	CHECK(rc == ERANGE && !res, "small buffer: ERANGE (%d)", rc);
	rc = gethostbyname_r("nx.invalid-pvcalls-test", &he, buf, sizeof(buf), &res, &herr);
	CHECK(rc != 0 && !res && herr == HOST_NOT_FOUND, "NXDOMAIN: %d h_errno %d", rc, herr);
	{
		struct hostent *g = gethostbyname(name);

		CHECK(g && g->h_addrtype == AF_INET, "gethostbyname");
	}

	/* getnameinfo: /etc/hosts, then PTR through DNS. */
	{
		struct sockaddr_in a = addr_of("127.0.0.9", 80);

		rc = getnameinfo((struct sockaddr *)&a, sizeof(a), host, sizeof(host), serv,
				 sizeof(serv), NI_NAMEREQD);
		CHECK(rc == 0 && !strcmp(host, name) && !strcmp(serv, "http"),
		      "getnameinfo PTR: %s %s %s", gai_strerror(rc), host, serv);
		a = addr_of("127.0.0.10", 80);
		rc = getnameinfo((struct sockaddr *)&a, sizeof(a), host, sizeof(host), NULL, 0,
				 NI_NAMEREQD);
		CHECK(rc == EAI_NONAME, "no PTR + NI_NAMEREQD: %s", gai_strerror(rc));
		rc = getnameinfo((struct sockaddr *)&a, sizeof(a), host, sizeof(host), NULL, 0, 0);
		CHECK(rc == 0 && !strcmp(host, "127.0.0.10"), "numeric fallback %s", host);
	}

	/* Many threads at once. */
	{
		pthread_t t[8];

		for (int i = 0; i < 8; i++)
			CHECK(pthread_create(&t[i], NULL, thr_resolve, NULL) == 0, "thread");
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
	}
}

static struct sockaddr_in6 addr6_of(const char *ip, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };

	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return a;
}

static void case_inet6(int echo6)
{
	struct sockaddr_in6 to = addr6_of("::1", echo6), from, b = addr6_of("::1", 0);
	struct sockaddr_in v4 = addr_of("127.0.0.1", echo6);
	socklen_t fl = sizeof(from);
	char buf[64];
	int s = socket(AF_INET6, SOCK_STREAM, 0), l, c, a, v = 1, n;
	socklen_t vl = sizeof(v);

	if (s < 0 && errno == EAFNOSUPPORT) {
		printf("SKIP: the backend does not offer AF_INET6 sockets (inet6)\n");
		exit(77);
	}
	CHECK(s >= 0, "socket(AF_INET6, SOCK_STREAM)");
	/* TCP: a listener inside on [::1]:0, a client inside connecting to it
	 * (both through the backend's host sockets). */
	l = s;
	CHECK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) == 0, "IPV6_V6ONLY");
	v = 0;
	CHECK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) == 0 && v == 1, "V6ONLY %d", v);
	CHECK(getsockopt(l, SOL_SOCKET, SO_DOMAIN, &v, &vl) == 0 && v == AF_INET6, "SO_DOMAIN");
	CHECK(bind(l, (struct sockaddr *)&v4, sizeof(v4)) < 0 && errno == EAFNOSUPPORT,
	      "an AF_INET address on an AF_INET6 socket");
	CHECK(bind(l, (struct sockaddr *)&b, sizeof(b)) == 0 && listen(l, 4) == 0, "bind, listen");
	fl = sizeof(b);
	CHECK(getsockname(l, (struct sockaddr *)&b, &fl) == 0 && fl == sizeof(b) &&
		      b.sin6_family == AF_INET6 && b.sin6_port != 0,
	      "getsockname: the port bind chose (needs names)");
	c = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&b, sizeof(b)) == 0, "connect [::1]:%d",
	      ntohs(b.sin6_port));
	fl = sizeof(from);
	a = accept(l, (struct sockaddr *)&from, &fl);
	CHECK(a >= 0 && fl == sizeof(from) && from.sin6_family == AF_INET6 &&
		      IN6_IS_ADDR_LOOPBACK(&from.sin6_addr),
	      "accept: the peer is ::1");
	CHECK(write(c, "six", 3) == 3 && read(a, buf, sizeof(buf)) == 3 && !memcmp(buf, "six", 3),
	      "data");
	fl = sizeof(from);
	CHECK(getpeername(c, (struct sockaddr *)&from, &fl) == 0 && from.sin6_port == b.sin6_port,
	      "getpeername");
	close(a);
	close(c);
	close(l);

	/* UDP over IPv6, addresses as sockaddr_in6. */
	s = socket(AF_INET6, SOCK_DGRAM, 0);
	CHECK(s >= 0, "socket(AF_INET6, SOCK_DGRAM)");
	n = (int)sendto(s, "hi6", 3, 0, (struct sockaddr *)&to, sizeof(to));
	if (n < 0 && (errno == ENETUNREACH || errno == EADDRNOTAVAIL)) {
		printf("SKIP: UDP went to the kernel: no datagram sockets (dgram)\n");
		exit(77);
	}
	CHECK(n == 3, "sendto [::1]");
	CHECK(wait_ev(s, POLLIN) & POLLIN, "POLLIN");
	fl = sizeof(from);
	n = (int)recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	CHECK(n == 3 && fl == sizeof(from) && from.sin6_family == AF_INET6 &&
		      IN6_IS_ADDR_LOOPBACK(&from.sin6_addr) && from.sin6_port == to.sin6_port,
	      "recvfrom [::1]: %d", n);
	/* Refused, not sent (the frontend: EINVAL for a 16-byte address,
	 * EAFNOSUPPORT for the family; Linux would send it as IPv4). */
	CHECK(sendto(s, "x", 1, 0, (struct sockaddr *)&v4, sizeof(v4)) < 0 &&
		      (errno == EAFNOSUPPORT || errno == EINVAL),
	      "an AF_INET destination on an AF_INET6 socket");
	CHECK(connect(s, (struct sockaddr *)&to, sizeof(to)) == 0 && send(s, "c6", 2, 0) == 2 &&
		      wait_ev(s, POLLIN) && recv(s, buf, sizeof(buf), 0) == 2,
	      "connected UDP over IPv6");
	close(s);
}

static void case_inet6_off(void)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);

	CHECK(s < 0 && errno == EAFNOSUPPORT, "AF_INET6 stream without inet6: fail closed");
}

static void case_udp_off(int echo)
{
	struct sockaddr_in to = addr_of("127.0.0.1", echo);
	int s = udp_sock();

	/* The kernel's socket, in a namespace whose lo is down: no route. */
	CHECK(sendto(s, "k", 1, 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
		      (errno == ENETUNREACH || errno == EADDRNOTAVAIL),
	      "kernel UDP in an empty namespace");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: udp CASE ARGS...\n");
		return 2;
	}
	g_case = argv[1];
	if (!strcmp(g_case, "udp") && argc >= 4)
		case_udp(atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(g_case, "resolve") && argc >= 3)
		case_resolve(argv[2]);
	else if (!strcmp(g_case, "inet6") && argc >= 3)
		case_inet6(atoi(argv[2]));
	else if (!strcmp(g_case, "inet6-off"))
		case_inet6_off();
	else if (!strcmp(g_case, "udp-off") && argc >= 3)
		case_udp_off(atoi(argv[2]));
	else {
		fprintf(stderr, "unknown case or arguments: %s\n", g_case);
		return 2;
	}
	printf("ok %s\n", g_case);
	return 0;
}
