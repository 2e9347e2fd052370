/* SPDX-License-Identifier: MIT */
/*
 * The policy for AF_INET6 (docs/extensions.md, "IPv6" and "Policy and
 * audit"): IPv6 networks in rules, IPv4-mapped addresses judged as IPv4,
 * host-local IPv6 destinations judged as ::1 and 127.0.0.1, a dual-stack
 * BIND on :: judged as 0.0.0.0 too, link-local and multicast destinations
 * refused unless a rule names them, the audit record of an IPv6 address,
 * and BIND's cross-frontend EADDRINUSE for IPv6. Rule sets alone through
 * pvcalls_policy_check(), the rest through a backend and a hand-driven
 * frontend that negotiated inet6 (tests/backend/rawfe.h).
 *
 * CONNECTs carry a grant ref nobody granted: one the policy allows fails
 * -EFAULT when the backend maps its ring, before any host socket connects,
 * so no packet leaves this host.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ifaddrs.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/wire_ext.h>

#include "../backend/rawfe.h"
#include "common/sockaddr.h"

#define W_EACCES (-13)
#define W_EFAULT (-14)
#define W_EADDRINUSE (-98)

static struct sockaddr_in6 a6(const char *ip, uint16_t port, uint32_t scope)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	a.sin6_scope_id = scope;
	return a;
}

static struct sockaddr_in a4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static pvcalls_policy *pol(const char *const *rules)
{
	pvcalls_policy *p;
	char err[128];

	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	for (; *rules; rules++)
		ck_assert_msg(pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, *rules, err,
						      sizeof(err)) == 0,
			      "%s: %s", *rules, err);
	return p;
}

static int chk6(const pvcalls_policy *p, uint32_t cmd, const char *ip, uint16_t port, char *why)
{
	struct pvcalls_back_call c = { .domid = 1, .cmd = cmd, .addr6 = a6(ip, port, 0) };

	return pvcalls_policy_check(p, &c, why, 128);
}

static int chk4(const pvcalls_policy *p, uint32_t cmd, const char *ip, uint16_t port)
{
	struct pvcalls_back_call c = { .domid = 1, .cmd = cmd, .addr = a4(ip, port) };
	char why[128];

	return pvcalls_policy_check(p, &c, why, sizeof(why));
}

/* ---- rule sets alone ---------------------------------------------------- */

START_TEST(test_syntax)
{
	static const char *const bad[] = {
		"allow connect ::/129",
		"allow connect 2001:db8::/",
		"allow connect 2001:db8::/x",
		"allow connect fe80::1%eth0",
		"allow connect inet 2001:db8::/32",
		"allow connect inet6 10.0.0.0/8",
		"allow connect 2001:db8:: 2001:db9::",
		"allow connect 2001:db8:::1",
	};
	static const char *const good[] = {
		"allow connect 2001:db8::/32 port 443", "deny connect ::1",
		"deny listen inet6 :: port 1-1023",     "allow connect inet6 fe80::/10",
		"deny connect ::ffff:10.0.0.0/104",     "allow connect ::/0",
	};
	pvcalls_policy *p;
	char err[128];

	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(pvcalls_policy_add_rule(p, 0, bad[i], err, sizeof(err)) == -EINVAL,
			      "accepted \"%s\"", bad[i]);
		ck_assert_msg(err[0], "no explanation for \"%s\"", bad[i]);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(pvcalls_policy_add_rule(p, 0, good[i], err, sizeof(err)) == 0,
			      "refused \"%s\": %s", good[i], err);
	pvcalls_policy_free(p);
}
END_TEST

START_TEST(test_match)
{
	static const char *const rules[] = {
		"deny connect 2001:db8:1::/48",            /* 1 */
		"allow connect 2001:db8::/32 port 80-443", /* 2 */
		"deny connect inet",                       /* 3: IPv4 only */
		"allow connect inet6 ::1",                 /* 4 */
		"deny connect ::ffff:10.0.0.0/104",        /* 5: is 10.0.0.0/8 */
		"allow listen port 8000",                  /* 6: both families */
		"deny any",                                /* 7 */
		NULL,
	};
	pvcalls_policy *p = pol(rules);
	char why[128];

	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "2001:db8:1::5", 80, why), -EACCES);
	ck_assert_str_eq(why, "default rule 1: deny connect 2001:db8:1::/48");
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "2001:db8:2::5", 80, why), 0);
	ck_assert_str_eq(why, "default rule 2: allow connect 2001:db8::/32 port 80-443");
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "2001:db8:2::5", 22, why), -EACCES);
	ck_assert_str_eq(why, "default rule 7: deny any");
	/* The inet rule does not see IPv6; the inet6 one does. */
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "::1", 22, why), 0);
	ck_assert_str_eq(why, "default rule 4: allow connect inet6 ::1");
	ck_assert_int_eq(chk4(p, PVCALLS_WIRE_CONNECT, "192.0.2.1", 80), -EACCES);
	/* An IPv6 network never matches IPv4 (2001:db8::/32 above), and the
	 * mapped form of a network is the IPv4 one. */
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_LISTEN, "2001:db8::1", 8000, why), 0);
	ck_assert_str_eq(why, "default rule 6: allow listen port 8000");
	ck_assert_int_eq(chk4(p, PVCALLS_WIRE_LISTEN, "10.1.2.3", 8000), 0);
	pvcalls_policy_free(p);

	{
		static const char *const r2[] = { "deny connect ::ffff:10.0.0.0/104", "allow any",
						  NULL };
		p = pol(r2);
		ck_assert_int_eq(chk4(p, PVCALLS_WIRE_CONNECT, "10.9.9.9", 80), -EACCES);
		ck_assert_int_eq(chk4(p, PVCALLS_WIRE_CONNECT, "11.0.0.1", 80), 0);
		pvcalls_policy_free(p);
	}
}
END_TEST

START_TEST(test_scoped_destinations)
{
	static const char *const any[] = { "allow connect any", NULL };
	static const char *const named[] = { "deny connect fe80::1/128", "allow connect fe80::/10",
					     "allow connect ff02::fb", NULL };
	pvcalls_policy *p = pol(any), *q;
	char why[128];

	/* Neither "allow any" nor the fallback lets them through. */
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "fe80::1", 80, why), -EACCES);
	ck_assert_msg(strstr(why, "link-local"), "%s", why);
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "ff02::1", 80, why), -EACCES);
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "ff05::1:3", 547, why), -EACCES);
	/* A BIND is not a destination. */
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_BIND, "fe80::1", 80, why), 0);
	pvcalls_policy_free(p);
	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "fe80::2", 80, why), -EACCES);
	ck_assert_int_eq(chk6(p, PVCALLS_WIRE_CONNECT, "2001:db8::2", 80, why), 0);
	pvcalls_policy_free(p);

	q = pol(named);
	ck_assert_int_eq(chk6(q, PVCALLS_WIRE_CONNECT, "fe80::1", 80, why), -EACCES);
	ck_assert_int_eq(chk6(q, PVCALLS_WIRE_CONNECT, "fe80::2", 80, why), 0);
	ck_assert_int_eq(chk6(q, PVCALLS_WIRE_CONNECT, "ff02::fb", 5353, why), 0);
	ck_assert_int_eq(chk6(q, PVCALLS_WIRE_CONNECT, "ff02::1", 5353, why), -EACCES);
	pvcalls_policy_free(q);
}
END_TEST

/* ---- through a backend -------------------------------------------------- */

static void fe_open6(struct rawfe *fe, pvcalls_policy *p)
{
	fe_setup(fe, NULL);
	if (p)
		ck_assert_int_eq(pvcalls_back_set_policy(fe->b, p), 0);
	fe->ext = PVCALLS_FEATURE_INET6 | PVCALLS_FEATURE_SOCKOPT | PVCALLS_FEATURE_NAMES;
	fe_connect(fe, false, true);
}

static int32_t socket6(struct rawfe *fe, uint64_t id)
{
	struct pvcalls_wire_request r;

	ck_assert_int_eq(pvcalls_req_socket(&r, 0, id, AF_INET, SOCK_STREAM, 0), 0);
	r.u.socket.domain = PVCALLS_EXT_AF_INET6;
	return call(fe, &r);
}

static void addr_req(struct pvcalls_wire_request *r, uint32_t cmd, uint64_t id,
		     const struct sockaddr_in6 *a)
{
	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->u.bind.id = id;
	ck_assert_int_eq(pvc_sockaddr_to_wire(r->u.bind.addr, &r->u.bind.len,
					      (const struct sockaddr *)a, sizeof(*a), AF_INET6),
			 0);
	if (cmd == PVCALLS_WIRE_CONNECT) {
		r->u.connect.ref = 99999;
		r->u.connect.evtchn = 99999;
	}
}

static int32_t connect6(struct rawfe *fe, uint64_t id, struct sockaddr_in6 a)
{
	struct pvcalls_wire_request r;

	addr_req(&r, PVCALLS_WIRE_CONNECT, id, &a);
	return call(fe, &r);
}

static int32_t bind6(struct rawfe *fe, uint64_t id, struct sockaddr_in6 a)
{
	struct pvcalls_wire_request r;

	addr_req(&r, PVCALLS_WIRE_BIND, id, &a);
	return call(fe, &r);
}

static int32_t release(struct rawfe *fe, uint64_t id)
{
	struct pvcalls_wire_request r;

	pvcalls_req_release(&r, 0, id);
	return call(fe, &r);
}

static int32_t setopt(struct rawfe *fe, uint64_t id, uint32_t opt, int32_t v)
{
	struct pvcalls_ext_request r;

	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_SETSOCKOPT;
	r.u.setsockopt.id = id;
	r.u.setsockopt.opt = opt;
	r.u.setsockopt.len = 4;
	memcpy(r.u.setsockopt.val, &v, 4);
	return call(fe, (struct pvcalls_wire_request *)&r);
}

/* An IPv6 address of this host's own interfaces, not ::1 and not
 * link-local (the routing probe must find it local); false if none. */
static bool host_own_addr6(char *buf, size_t len)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		const struct in6_addr *a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6)
			continue;
		a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a))
			continue;
		found = inet_ntop(AF_INET6, a, buf, (socklen_t)len) != NULL;
	}
	freeifaddrs(ifs);
	return found;
}

/*
 * Issue 13, attack 1, over IPv6: "deny connect 127.0.0.0/8" then "allow
 * connect any" must also stop ::ffff:127.0.0.1, ::ffff:0.0.0.0, ::1, ::
 * and the host's own IPv6 addresses (a host service on a dual-stack
 * wildcard answers them all).
 */
START_TEST(test_backend_local_aliases)
{
	static const char *const rules[] = { "deny connect 127.0.0.0/8", "allow connect any",
					     NULL };
	struct rawfe fe;
	char own[INET6_ADDRSTRLEN];
	uint64_t denied = 5;

	fe_open6(&fe, pol(rules));
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:127.0.0.1", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:127.1.2.3", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:0.0.0.0", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("::1", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("::", 22, 0)), W_EACCES);
	if (host_own_addr6(own, sizeof(own))) {
		ck_assert_int_eq(connect6(&fe, 1, a6(own, 22, 0)), W_EACCES);
		denied++;
	} else {
		fprintf(stderr, "no global IPv6 address here: host-address case not run\n");
	}
	/* A scope id does not hide a mapped or loopback address. */
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:127.0.0.1", 22, 1)), W_EACCES);
	denied++;
	/* Nobody's address (documentation prefix): past the policy. */
	ck_assert_int_eq(connect6(&fe, 1, a6("2001:db8::1", 22, 0)), W_EFAULT);
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:192.0.2.1", 22, 0)), W_EFAULT);
	ck_assert_uint_eq(stats(&fe).policy_denied, denied);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_backend_loopback6_rule)
{
	static const char *const rules[] = { "deny connect ::1/128", "allow connect any", NULL };
	struct rawfe fe;
	struct pvcalls_wire_request r;
	struct sockaddr_in lo = a4("127.0.0.1", 22);

	fe_open6(&fe, pol(rules));
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(connect6(&fe, 1, a6("::1", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("::", 22, 0)), W_EACCES);
	/* IPv4 loopback is another rule's business. */
	ck_assert_int_eq(
		pvcalls_req_connect(&r, 0, 2, (struct sockaddr *)&lo, sizeof(lo), 99999, 99999), 0);
	ck_assert_int_eq(call(&fe, &r), W_EFAULT);
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:127.0.0.1", 22, 0)), W_EFAULT);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_backend_scoped)
{
	static const char *const rules[] = { "allow any", NULL };
	struct rawfe fe;

	fe_open6(&fe, pol(rules));
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(connect6(&fe, 1, a6("fe80::1", 22, 1)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("fe80::1", 22, 0)), W_EACCES);
	ck_assert_int_eq(connect6(&fe, 1, a6("ff02::1", 22, 1)), W_EACCES);
	fe_teardown(&fe);
}
END_TEST

/* BIND on :: with IPV6_V6ONLY off also listens on 0.0.0.0. */
START_TEST(test_backend_dual_stack_bind)
{
	static const char *const rules[] = { "deny listen inet", "allow listen any", NULL };
	struct rawfe fe;

	fe_open6(&fe, pol(rules));
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(setopt(&fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 0), 0);
	ck_assert_int_eq(bind6(&fe, 1, a6("::", 0, 0)), W_EACCES);
	/* Mapped: judged as the IPv4 address. */
	ck_assert_int_eq(bind6(&fe, 1, a6("::ffff:127.0.0.1", 0, 0)), W_EACCES);
	/* v6-only: IPv6 only, allowed. */
	ck_assert_int_eq(setopt(&fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), 0);
	ck_assert_int_eq(bind6(&fe, 1, a6("::", 0, 0)), 0);
	ck_assert_int_eq(release(&fe, 1), 0);
	/* ::1 is not a wildcard: V6ONLY does not matter. */
	ck_assert_int_eq(socket6(&fe, 2), 0);
	ck_assert_int_eq(setopt(&fe, 2, PVCALLS_EXT_OPT_IPV6_V6ONLY, 0), 0);
	ck_assert_int_eq(bind6(&fe, 2, a6("::1", 0, 0)), 0);
	ck_assert_uint_eq(stats(&fe).policy_denied, 2);
	fe_teardown(&fe);
}
END_TEST

/* LISTEN is judged again with the address bound (and how it was bound). */
START_TEST(test_backend_dual_stack_listen)
{
	static const char *const rules[] = { "allow listen inet6", "deny listen", NULL };
	struct rawfe fe;

	fe_open6(&fe, NULL);
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(setopt(&fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 0), 0);
	ck_assert_int_eq(bind6(&fe, 1, a6("::", 0, 0)), 0);
	ck_assert_int_eq(pvcalls_back_set_policy(fe.b, pol(rules)), 0);
	ck_assert_int_eq(do_listen_backlog(&fe, 1, 4), W_EACCES);
	ck_assert_int_eq(socket6(&fe, 2), 0);
	ck_assert_int_eq(setopt(&fe, 2, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), 0);
	ck_assert_int_eq(bind6(&fe, 2, a6("::1", 0, 0)), 0);
	ck_assert_int_eq(do_listen_backlog(&fe, 2, 4), 0);
	fe_teardown(&fe);
}
END_TEST

/* What a callback policy is asked: IPv6 as AF_INET6, mapped as AF_INET. */
struct asked {
	int n;
	struct pvcalls_back_call c[4];
};

static int record(void *arg, const struct pvcalls_back_call *c, char *reason, size_t len)
{
	struct asked *a = arg;

	(void)reason;
	(void)len;
	if (a->n < 4)
		a->c[a->n++] = *c;
	return 0;
}

START_TEST(test_backend_callback)
{
	struct rawfe fe;
	struct asked a = { 0 };
	struct in6_addr want;

	fe_open6(&fe, NULL);
	pvcalls_back_set_policy_cb(fe.b, record, &a);
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(connect6(&fe, 1, a6("2001:db8::7", 443, 0)), W_EFAULT);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(a.c[0].addr6.sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(a.c[0].addr6.sin6_port), 443);
	inet_pton(AF_INET6, "2001:db8::7", &want);
	ck_assert(!memcmp(&a.c[0].addr6.sin6_addr, &want, 16));
	ck_assert_int_eq(connect6(&fe, 1, a6("::ffff:192.0.2.9", 80, 0)), W_EFAULT);
	ck_assert_int_eq(a.n, 2);
	ck_assert_int_eq(a.c[1].addr.sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(a.c[1].addr.sin_addr.s_addr), 0xc0000209);
	/* ::1: as written, then as 127.0.0.1 (both must allow). */
	ck_assert_int_eq(connect6(&fe, 1, a6("::1", 80, 0)), W_EFAULT);
	ck_assert_int_eq(a.n, 4);
	ck_assert_int_eq(a.c[2].addr6.sin6_family, AF_INET6);
	ck_assert_int_eq(a.c[3].addr.sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(a.c[3].addr.sin_addr.s_addr), INADDR_LOOPBACK);
	fe_teardown(&fe);
}
END_TEST

/* ---- audit --------------------------------------------------------------- */

struct sink {
	int n;
	char lines[8][2048];
};

static void audit_sink(void *arg, const struct pvcalls_back_audit *rec)
{
	struct sink *s = arg;

	if (s->n < 8 && pvcalls_back_audit_json(rec, s->lines[s->n], sizeof(s->lines[0])) > 0)
		s->n++;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\"", key);
	return v;
}

START_TEST(test_audit)
{
	static const char *const rules[] = { "deny connect 2001:db8::/32", NULL };
	struct rawfe fe;
	struct sink s = { 0 };
	json_object *o;

	fe_open6(&fe, pol(rules));
	pvcalls_back_set_audit(fe.b, audit_sink, &s);
	ck_assert_int_eq(socket6(&fe, 1), 0);
	ck_assert_int_eq(connect6(&fe, 1, a6("2001:db8::1:2", 8080, 3)), W_EACCES);
	ck_assert_int_eq(s.n, 2);
	o = json_tokener_parse(s.lines[1]);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_object_get_string(get(o, "cmd")), "CONNECT");
	ck_assert_str_eq(json_object_get_string(get(o, "family")), "inet6");
	ck_assert_str_eq(json_object_get_string(get(o, "addr")), "2001:db8::1:2");
	ck_assert_int_eq(json_object_get_int(get(o, "port")), 8080);
	ck_assert_int_eq(json_object_get_int(get(o, "scope_id")), 3);
	ck_assert_str_eq(json_object_get_string(get(o, "decision")), "deny");
	ck_assert_str_eq(json_object_get_string(get(o, "errno")), "EACCES");
	json_object_put(o);
	fe_teardown(&fe);
}
END_TEST

/* ---- BIND's cross-frontend check ------------------------------------------ */

static uint16_t free_port6(void)
{
	struct sockaddr_in6 a = a6("::1", 0, 0);
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin6_port);
}

START_TEST(test_bind_in_use_across_frontends)
{
	struct rawfe fa, fb;
	uint16_t port = free_port6();
	struct sockaddr_in v4 = a4("127.0.0.1", port);

	fe_open6(&fa, NULL);
	fe_setup_more(&fb, &fa);
	fb.ext = fa.ext;
	fe_connect(&fb, false, true);
	ck_assert_int_eq(socket6(&fa, 1), 0);
	ck_assert_int_eq(setopt(&fa, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), 0);
	ck_assert_int_eq(bind6(&fa, 1, a6("::1", port, 0)), 0);
	/* B: the same address; the IPv6 wildcard (any V6ONLY). */
	ck_assert_int_eq(socket6(&fb, 7), 0);
	ck_assert_int_eq(bind6(&fb, 7, a6("::1", port, 0)), W_EADDRINUSE);
	ck_assert_int_eq(bind6(&fb, 7, a6("::", port, 0)), W_EADDRINUSE);
	/* IPv4 on the same port: another address, allowed. */
	ck_assert_int_eq(do_bind_addr(&fb, 8, &v4), 0);
	ck_assert_int_eq(release(&fb, 8), 0);
	ck_assert_int_eq(release(&fa, 1), 0);
	/* A dual-stack ::ffff:127.0.0.1 is 127.0.0.1 to the host. */
	ck_assert_int_eq(socket6(&fa, 2), 0);
	ck_assert_int_eq(bind6(&fa, 2, a6("::ffff:127.0.0.1", port, 0)), 0);
	ck_assert_int_eq(do_bind_addr(&fb, 9, &v4), W_EADDRINUSE);
	fe_teardown_more(&fb);
	fe_teardown(&fa);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("policy.inet6");
	TCase *tc = tcase_create("inet6");

	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_scoped_destinations);
	tcase_add_test(tc, test_backend_local_aliases);
	tcase_add_test(tc, test_backend_loopback6_rule);
	tcase_add_test(tc, test_backend_scoped);
	tcase_add_test(tc, test_backend_dual_stack_bind);
	tcase_add_test(tc, test_backend_dual_stack_listen);
	tcase_add_test(tc, test_backend_callback);
	tcase_add_test(tc, test_audit);
	tcase_add_test(tc, test_bind_in_use_across_frontends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
