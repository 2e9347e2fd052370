/* SPDX-License-Identifier: MIT */
/*
 * AF_INET6 stream sockets end to end (docs/extensions.md, "IPv6"): a bulk
 * transfer over ::1 in both directions with checksums, names that agree
 * with what the host kernel reports of the other end, an accept on an
 * AF_INET6 listener, IPV6_V6ONLY deciding whether IPv4-mapped peers are
 * reachable, the family rules of CONNECT and BIND, the policy's IPv6 rules
 * (::1, IPv4-mapped judged as IPv4), and a backend that does not offer
 * inet6. Traffic goes only to ::1 and 127.0.0.1; a machine without ::1
 * skips the whole test (exit 77).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"

/* Whether ::1 is configured (the loopback's line in /proc/net/if_inet6). */
static bool have_ipv6_loopback(void)
{
	FILE *f = fopen("/proc/net/if_inet6", "r");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "00000000000000000000000000000001", 32);
	fclose(f);
	return found;
}

static struct sockaddr_in6 lo6(uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	a.sin6_addr = in6addr_loopback;
	return a;
}

static struct sockaddr_in6 mapped(uint32_t v4, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	a.sin6_addr.s6_addr[10] = a.sin6_addr.s6_addr[11] = 0xff;
	v4 = htonl(v4);
	memcpy(&a.sin6_addr.s6_addr[12], &v4, 4);
	return a;
}

static bool same6(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return a->sin6_family == AF_INET6 && b->sin6_family == AF_INET6 &&
	       a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, 16);
}

static const char *astr(const struct sockaddr_in6 *a)
{
	static __thread char buf[2][80];
	static __thread int k;
	char ip[INET6_ADDRSTRLEN];

	k ^= 1;
	inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
	snprintf(buf[k], sizeof(buf[k]), "[%s]:%u (family %d)", ip, ntohs(a->sin6_port),
		 a->sin6_family);
	return buf[k];
}

/* A host listener on [::1]:*port (IPV6_V6ONLY on, so it is IPv6 only). */
static int tcp6_listen(uint16_t *port)
{
	struct sockaddr_in6 a = lo6(0);
	socklen_t al = sizeof(a);
	int one = 1, fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin6_port);
	return fd;
}

static int fsock6(struct e2e_env *e)
{
	int s = pvcalls_front_socket(e->fe, AF_INET6, SOCK_STREAM, 0);

	ck_assert_msg(s >= 0, "socket(AF_INET6): %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	return s;
}

static void finish(struct e2e_env *e)
{
	e2e_wait_back(e, 1, 0, 0, 5000);
	e2e_env_stop(e);
}

/* FNV-1a, 64 bits: the checksum both ends compute. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define FNV0 0xcbf29ce484222325ull

struct sink {
	int fd;
	uint64_t want, got, sum;
	int err;
};

/* The host end: reads @want bytes and checksums them, then sends the same
 * number of bytes of stream 2 back. */
static void *host_echo(void *arg)
{
	struct sink *k = arg;
	uint8_t buf[65536];

	while (k->got < k->want) {
		ssize_t r = read(k->fd, buf, sizeof(buf));

		if (r <= 0) {
			k->err = r < 0 ? errno : EPIPE;
			e2e_fail("host read: %s after %llu bytes", strerror(k->err),
				 (unsigned long long)k->got);
			return NULL;
		}
		k->sum = fnv(k->sum, buf, (size_t)r);
		k->got += (uint64_t)r;
	}
	for (uint64_t off = 0; off < k->want;) {
		size_t n = k->want - off < sizeof(buf) ? (size_t)(k->want - off) : sizeof(buf);

		e2e_fill(2, off, buf, n);
		if (e2e_write_all(k->fd, buf, n) < 0) {
			e2e_fail("host write failed");
			return NULL;
		}
		off += n;
	}
	return NULL;
}

START_TEST(transfer_over_loopback)
{
	uint64_t total = e2e_volume(16u << 20, 2u << 20), sum = FNV0, off;
	struct sink k = { .sum = FNV0 };
	struct sockaddr_in6 a, fl, fp, hl, hp;
	socklen_t al;
	struct e2e_env e;
	uint16_t port;
	uint8_t *buf = malloc(65536);
	pthread_t t;
	int lfd, s;

	ck_assert_ptr_nonnull(buf);
	e2e_env_start(&e, NULL);
	ck_assert(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_INET6);
	lfd = tcp6_listen(&port);
	s = fsock6(&e);
	a = lo6(port);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), 0);
	k.fd = e2e_tcp_accept(lfd, 10000 * E2E_SLOW);
	k.want = total;

	/* Names: each end's view of the other is the host kernel's. */
	al = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &al), 0);
	ck_assert_uint_eq(al, sizeof(struct sockaddr_in6));
	al = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &al), 0);
	ck_assert_uint_eq(al, sizeof(struct sockaddr_in6));
	al = sizeof(hl);
	ck_assert_int_eq(getsockname(k.fd, (struct sockaddr *)&hl, &al), 0);
	al = sizeof(hp);
	ck_assert_int_eq(getpeername(k.fd, (struct sockaddr *)&hp, &al), 0);
	ck_assert_msg(same6(&fl, &hp), "front local %s, host peer %s", astr(&fl), astr(&hp));
	ck_assert_msg(same6(&fp, &hl), "front peer %s, host local %s", astr(&fp), astr(&hl));
	ck_assert_msg(same6(&fp, &a), "front peer %s, connected to %s", astr(&fp), astr(&a));

	t = e2e_thread(host_echo, &k);
	for (off = 0; off < total;) {
		size_t n = total - off < 65536 ? (size_t)(total - off) : 65536;

		e2e_fill(1, off, buf, n);
		sum = fnv(sum, buf, n);
		ck_assert_int_eq(e2e_fsend_all(&e, s, buf, n), 0);
		off += n;
	}
	for (off = 0; off < total;) {
		size_t n = total - off < 65536 ? (size_t)(total - off) : 65536;

		ck_assert_int_eq(e2e_frecv_all(&e, s, buf, n), 0);
		ck_assert_int_eq(e2e_verify(2, off, buf, n), -1);
		off += n;
	}
	e2e_join(t, 60 * E2E_SLOW, "host echo");
	e2e_check_failed();
	ck_assert_uint_eq(k.got, total);
	ck_assert_msg(k.sum == sum, "checksum: host %016llx, sent %016llx",
		      (unsigned long long)k.sum, (unsigned long long)sum);
	close(k.fd);
	close(lfd);
	e2e_release(&e, s);
	free(buf);
	finish(&e);
}
END_TEST

START_TEST(listen_accept_names)
{
	struct sockaddr_in6 a = lo6(0), fl, fp, hl, hp;
	socklen_t al = sizeof(a);
	struct e2e_env e;
	char msg[6] = "hello", got[6] = { 0 };
	int l, s, c;

	e2e_env_start(&e, NULL);
	l = fsock6(&e);
	ck_assert_int_eq(pvcalls_front_bind(e.fe, l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(pvcalls_front_listen(e.fe, l, 4), 0);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, l, (struct sockaddr *)&a, &al), 0);
	ck_assert_uint_eq(al, sizeof(a));
	ck_assert_int_eq(a.sin6_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&a.sin6_addr));
	ck_assert_uint_ne(a.sin6_port, 0);

	c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	e2e_tcp_timeouts(c, E2E_SOCK_TIMEO_MS);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	s = pvcalls_front_accept(e.fe, l, 0);
	ck_assert_int_ge(s, 0);

	al = sizeof(fl);
	ck_assert_int_eq(pvcalls_front_getsockname(e.fe, s, (struct sockaddr *)&fl, &al), 0);
	al = sizeof(fp);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&fp, &al), 0);
	ck_assert_uint_eq(al, sizeof(fp));
	al = sizeof(hl);
	ck_assert_int_eq(getsockname(c, (struct sockaddr *)&hl, &al), 0);
	al = sizeof(hp);
	ck_assert_int_eq(getpeername(c, (struct sockaddr *)&hp, &al), 0);
	ck_assert_msg(same6(&fp, &hl), "accepted peer %s, host local %s", astr(&fp), astr(&hl));
	ck_assert_msg(same6(&fl, &hp), "accepted local %s, host peer %s", astr(&fl), astr(&hp));

	ck_assert_int_eq(e2e_write_all(c, msg, sizeof(msg)), 0);
	ck_assert_int_eq(e2e_frecv_all(&e, s, got, sizeof(got)), 0);
	ck_assert_str_eq(got, msg);
	close(c);
	e2e_release(&e, s);
	e2e_release(&e, l);
	finish(&e);
}
END_TEST

/* IPV6_V6ONLY decides whether an IPv4 peer (as ::ffff:127.0.0.1) is
 * reachable from an AF_INET6 socket; it reads back as set. */
START_TEST(v6only)
{
	struct sockaddr_in6 a, p;
	socklen_t al;
	struct e2e_env e;
	uint16_t port = 0; /* e2e_tcp_listen binds *port: 0 picks one */
	int on = 1, off = 0, v = -1, lfd, s, fd;
	socklen_t vl = sizeof(v);

	e2e_env_start(&e, NULL);
	lfd = e2e_tcp_listen(&port, 4);
	a = mapped(INADDR_LOOPBACK, port);

	s = fsock6(&e);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)), 0);
	ck_assert_int_eq(pvcalls_front_getsockopt(e.fe, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl), 0);
	ck_assert_int_eq(v, 1);
	/* Linux: an IPv4-mapped destination on a v6-only socket is unreachable. */
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -ENETUNREACH);
	e2e_release(&e, s);

	s = fsock6(&e);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), 0);
	fd = e2e_tcp_accept(lfd, 10000 * E2E_SLOW);
	al = sizeof(p);
	ck_assert_int_eq(pvcalls_front_getpeername(e.fe, s, (struct sockaddr *)&p, &al), 0);
	ck_assert_msg(same6(&p, &a), "peer %s, expected %s", astr(&p), astr(&a));
	/* Once connected the host refuses the change (docs/extensions.md). */
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)),
		-EINVAL);
	close(fd);
	close(lfd);
	e2e_release(&e, s);
	finish(&e);
}
END_TEST

START_TEST(family_rules)
{
	struct sockaddr_in6 a = lo6(9), bad;
	struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct e2e_env e;
	int one = 1, s, s4;

	e2e_env_start(&e, NULL);
	s = fsock6(&e);
	/* A sockaddr_in on an AF_INET6 socket: too short, as Linux says. */
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&v4, sizeof(v4)),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_front_bind(e.fe, s, (struct sockaddr *)&a, 23), -EINVAL);
	bad = a;
	bad.sin6_family = AF_INET;
	ck_assert_int_eq(pvcalls_front_bind(e.fe, s, (struct sockaddr *)&bad, sizeof(bad)),
			 -EAFNOSUPPORT);
	/* The 24-byte RFC 2133 form is enough. */
	a.sin6_port = 0;
	ck_assert_int_eq(pvcalls_front_bind(e.fe, s, (struct sockaddr *)&a, 24), 0);
	e2e_release(&e, s);

	/* AF_INET6 options on an AF_INET socket, AF_INET6 addresses on it. */
	s4 = e2e_socket(&e, -1);
	ck_assert_int_eq(
		pvcalls_front_setsockopt(e.fe, s4, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)),
		-ENOPROTOOPT);
	ck_assert_int_eq(pvcalls_front_bind(e.fe, s4, (struct sockaddr *)&a, sizeof(a)),
			 -EAFNOSUPPORT);
	e2e_release(&e, s4);
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET6, SOCK_STREAM, IPPROTO_UDP),
			 -EPROTONOSUPPORT);
	finish(&e);
}
END_TEST

START_TEST(policy)
{
	struct sockaddr_in6 a;
	struct e2e_env e;
	pvcalls_policy *p;
	uint16_t port = 0, port6;
	int lfd, lfd6, s, fd;

	e2e_env_start(&e, NULL);
	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	ck_assert_int_eq(
		pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, "deny connect ::1/128", NULL, 0),
		0);
	ck_assert_int_eq(pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT,
						 "deny connect 127.0.0.2/32", NULL, 0),
			 0);
	e2e_back_set_policy(&e, p); /* the backend's loop halted meanwhile (its contract) */
	lfd = e2e_tcp_listen(&port, 4);
	lfd6 = tcp6_listen(&port6);

	s = fsock6(&e);
	a = lo6(port6);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), -EACCES);
	/* :: is ::1 to the host. */
	memset(&a.sin6_addr, 0, sizeof(a.sin6_addr));
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), -EACCES);
	/* IPv4-mapped: judged as the IPv4 address (127.0.0.2 denied). */
	a = mapped(0x7f000002, port);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), -EACCES);
	/* 127.0.0.1 is allowed, mapped or not. */
	a = mapped(INADDR_LOOPBACK, port);
	ck_assert_int_eq(pvcalls_front_connect(e.fe, s, (struct sockaddr *)&a, sizeof(a)), 0);
	fd = e2e_tcp_accept(lfd, 10000 * E2E_SLOW);
	close(fd);
	e2e_release(&e, s);
	close(lfd);
	close(lfd6);
	finish(&e);
}
END_TEST

START_TEST(not_offered)
{
	struct e2e_cfg cfg = { 0 };
	struct e2e_env e;

	cfg.back.ext_off = PVCALLS_FEATURE_INET6;
	e2e_env_start(&e, &cfg);
	ck_assert(!(pvcalls_front_features(e.fe) & PVCALLS_FEATURE_INET6));
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET6, SOCK_STREAM, 0), -EAFNOSUPPORT);
	finish(&e);

	memset(&cfg, 0, sizeof(cfg));
	cfg.front.ext_off = PVCALLS_FEATURE_INET6;
	e2e_env_start(&e, &cfg);
	ck_assert_int_eq(pvcalls_front_socket(e.fe, AF_INET6, SOCK_STREAM, 0), -EAFNOSUPPORT);
	finish(&e);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("e2e.inet6");
	TCase *tc = tcase_create("inet6");

	tcase_set_timeout(tc, 120 * E2E_SLOW);
	tcase_add_test(tc, transfer_over_loopback);
	tcase_add_test(tc, listen_accept_names);
	tcase_add_test(tc, v6only);
	tcase_add_test(tc, family_rules);
	tcase_add_test(tc, policy);
	tcase_add_test(tc, not_offered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (!have_ipv6_loopback()) {
		printf("SKIP: ::1 is not configured here (no loopback line in "
		       "/proc/net/if_inet6)\n");
		return 77;
	}
	return e2e_main(suite());
}
