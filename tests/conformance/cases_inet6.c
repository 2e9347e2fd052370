/* SPDX-License-Identifier: MIT */
/*
 * AF_INET6 stream sockets (docs/extensions.md, "IPv6"): SOCKET's
 * parameters, the 24- and 28-byte address forms of CONNECT and BIND and
 * every error the section names, data over ::1, ACCEPT on an AF_INET6
 * listener, names in the 28-byte form, IPV6_V6ONLY and IPV6_TCLASS, and
 * hostile addresses (short, long, wrong family, scope ids, IPv4-mapped).
 * Each case but ext.inet6.v1 accepts inet6 (with names and sockopt where it
 * uses them) and is skipped, with the reason, when the backend does not
 * offer it; ext.inet6.v1 checks that a frontend without inet6 gets version
 * 1. Peers are on ::1 (or 127.0.0.1 for IPv4-mapped cases); a case that
 * needs ::1 is skipped when this host has none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/wire_ext.h>

#include "conformance.h"

enum {
	W_EACCES = -13,
	W_ENOPROTOOPT = -92,
	W_EPROTONOSUPPORT = -93,
	W_ENETUNREACH = -101,
};

#define LOOPBACK 0x7f000001u

static void check(struct tc *tc, bool cond, const char *what)
{
	if (cond)
		tc_ok(tc);
	else
		tc_fail(tc, "%s", what);
}

/* Whether ::1 is configured here (the loopback's line). */
static bool have_lo6(void)
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

/* The 28-byte field: family (host order, as the page's), port, flow
 * information, address, scope id. */
static void put_addr6(uint8_t f[PVCALLS_WIRE_ADDR_LEN], uint16_t family, uint16_t port,
		      const struct in6_addr *a, uint32_t scope)
{
	uint16_t p = htons(port);

	memset(f, 0, PVCALLS_WIRE_ADDR_LEN);
	memcpy(f, &family, 2);
	memcpy(f + 2, &p, 2);
	memcpy(f + 8, a, 16);
	memcpy(f + 24, &scope, 4);
}

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	inet_pton(AF_INET6, s, &a);
	return a;
}

static void rq_addr6(struct pvcalls_wire_request *r, uint32_t cmd, uint64_t id, uint16_t family,
		     uint16_t port, const char *ip, uint32_t scope, uint32_t len)
{
	struct in6_addr a = ip6(ip);

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->u.bind.id = id; /* CONNECT and BIND lay out id, addr and len alike */
	put_addr6(r->u.bind.addr, family, port, &a, scope);
	r->u.bind.len = len;
}

static int32_t socket6(struct fe *fe, uint64_t id, uint32_t type, uint32_t protocol)
{
	struct pvcalls_wire_request r;

	rq_socket(&r, id, PVCALLS_EXT_AF_INET6, type, protocol);
	return fe_call(fe, &r, T_RSP);
}

static int32_t bind6(struct fe *fe, uint64_t id, uint16_t port, const char *ip, uint32_t len)
{
	struct pvcalls_wire_request r;

	rq_addr6(&r, PVCALLS_WIRE_BIND, id, PVCALLS_EXT_AF_INET6, port, ip, 0, len);
	return fe_call(fe, &r, T_RSP);
}

/* CONNECT of active socket @s to [@ip]:@port (@scope, @len as given). */
static int32_t connect6(struct fe *fe, struct as *s, uint16_t port, const char *ip, uint32_t scope,
			uint32_t len)
{
	struct pvcalls_wire_request r;

	rq_addr6(&r, PVCALLS_WIRE_CONNECT, s->id, PVCALLS_EXT_AF_INET6, port, ip, scope, len);
	r.u.connect.ref = s->ref;
	r.u.connect.evtchn = s->port;
	return fe_call(fe, &r, T_RSP);
}

static int32_t xcall(struct fe *fe, struct pvcalls_ext_request *r, uint32_t *val)
{
	struct pvcalls_wire_request *w = (struct pvcalls_wire_request *)r;
	struct pvcalls_wire_response rsp;
	int rc;

	if (fe_send(fe, w) < 0)
		return X_NONE;
	rc = fe_wait(fe, w->req_id, T_RSP, &rsp);
	if (rc <= 0) {
		if (rc < 0)
			tc_fail(fe->tc, "backend broke the command ring");
		return X_NONE;
	}
	if (rsp.cmd != w->cmd || rsp.u.id != r->u.shutdown.id)
		tc_fail(fe->tc, "response echoes cmd %#x id %llu", rsp.cmd,
			(unsigned long long)rsp.u.id);
	if (val)
		*val = rsp.pad;
	return rsp.ret;
}

static int32_t x_getname(struct fe *fe, uint32_t cmd, uint64_t id, uint32_t area, uint32_t *val)
{
	struct pvcalls_ext_request r;

	memset(&r, 0, sizeof(r));
	r.cmd = cmd;
	r.u.getname.id = id;
	r.u.getname.area = area;
	return xcall(fe, &r, val);
}

static int32_t x_setopt(struct fe *fe, uint64_t id, uint32_t opt, int32_t v)
{
	struct pvcalls_ext_request r;

	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_SETSOCKOPT;
	r.u.setsockopt.id = id;
	r.u.setsockopt.opt = opt;
	r.u.setsockopt.len = 4;
	memcpy(r.u.setsockopt.val, &v, 4);
	return xcall(fe, &r, NULL);
}

static int32_t x_getopt(struct fe *fe, uint64_t id, uint32_t opt, int32_t *v)
{
	struct pvcalls_ext_request r;
	uint32_t val = 0;
	int32_t ret;

	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_GETSOCKOPT;
	r.u.getsockopt.id = id;
	r.u.getsockopt.opt = opt;
	r.u.getsockopt.area = 5;
	ret = xcall(fe, &r, &val);
	if (ret == 0) {
		if (val != 4)
			tc_fail(fe->tc, "GETSOCKOPT val %u, not 4", val);
		memcpy(v, (uint8_t *)fe->sring + PVCALLS_EXT_REPLY_AREA_OFFSET(5), 4);
	}
	return ret;
}

/* The name in reply area @n, which must be a 28-byte sockaddr_in6. */
static bool area_name6(struct fe *fe, uint32_t n, uint32_t val, struct sockaddr_in6 *out)
{
	const uint8_t *a = (const uint8_t *)fe->sring + PVCALLS_EXT_REPLY_AREA_OFFSET(n);
	struct pvcalls_ext_sockaddr_in6 w;

	memcpy(&w, a, sizeof(w));
	if (val != PVCALLS_EXT_SOCKADDR_IN6_LEN || w.family != PVCALLS_EXT_AF_INET6)
		return false;
	for (uint32_t i = sizeof(w); i < PVCALLS_EXT_REPLY_SIZE; i++)
		if (a[i])
			return false;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = w.port;
	memcpy(&out->sin6_addr, w.addr, 16);
	out->sin6_scope_id = w.scope_id;
	return true;
}

/* A non-blocking host listener on [::1] (IPv6 only). */
static int peer6_listen(struct tc *tc, uint16_t *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(sa);
	int one = 1, fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		tc_fail(tc, "peer: socket(AF_INET6): %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		tc_fail(tc, "peer: listen on ::1: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin6_port);
	return tc_fd(tc, fd);
}

/* A frontend with @want and ::1 here; NULL after skipping or failing. */
static struct fe *open6(struct tc *tc, uint32_t want, bool need_lo6)
{
	if (need_lo6 && !have_lo6()) {
		tc_skip(tc, "::1 is not configured on this host (/proc/net/if_inet6)");
		return NULL;
	}
	return fe_open_ext(tc, PVCALLS_FEATURE_INET6 | want);
}

/* ------------------------------------------------------------------ */

/* Without inet6 accepted: version 1 (SOCKET -97; an AF_INET6 address on
 * an AF_INET socket is the wrong family). */
static void inet6_v1(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;

	if (!fe)
		return;
	judge(tc, "SOCKET AF_INET6 without inet6", socket6(fe, 1, 1, 0), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	judge(tc, "SOCKET AF_INET6 protocol 6 without inet6", socket6(fe, 1, 1, 6), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	if (!judge(tc, "SOCKET AF_INET", do_socket(fe, 2), 0, 0))
		return;
	rq_addr6(&r, PVCALLS_WIRE_BIND, 2, PVCALLS_EXT_AF_INET6, 0, "::1", 0, 28);
	judge(tc, "BIND AF_INET6 address, v1", fe_call(fe, &r, T_RSP), X_ANYERR, W_EAFNOSUPPORT);
	if (!(s = as_new(fe, 3, 0)) || !judge(tc, "SOCKET", do_socket(fe, 3), 0, 0))
		return;
	judge(tc, "CONNECT AF_INET6 address, v1", connect6(fe, s, 9, "::1", 0, 28),
	      tc->p->connect_bad_family, W_EAFNOSUPPORT);
}

static void inet6_socket(struct tc *tc)
{
	struct fe *fe = open6(tc, 0, false);

	if (!fe)
		return;
	judge(tc, "SOCKET 10/1/0", socket6(fe, 1, 1, 0), 0, 0);
	judge(tc, "SOCKET 10/1/6", socket6(fe, 2, 1, 6), 0, 0);
	judge(tc, "SOCKET on a live id", socket6(fe, 1, 1, 0), tc->p->dup_socket, W_EEXIST);
	judge(tc, "SOCKET 10/1/17", socket6(fe, 3, 1, 17), W_EPROTONOSUPPORT, W_EPROTONOSUPPORT);
	judge(tc, "SOCKET 10/1/2", socket6(fe, 3, 1, 2), W_EPROTONOSUPPORT, W_EPROTONOSUPPORT);
	judge(tc, "SOCKET 10/1/0xffffffff", socket6(fe, 3, 1, 0xffffffffu), W_EPROTONOSUPPORT,
	      W_EPROTONOSUPPORT);
	/* Datagrams not accepted: a type not in force. */
	judge(tc, "SOCKET 10/2/0 without dgram", socket6(fe, 3, 2, 0), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	judge(tc, "SOCKET 10/5/0", socket6(fe, 3, 5, 0), W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	/* The failed ones made no id: SOCKET 3 works now. */
	judge(tc, "SOCKET 10/1/0 after failures", socket6(fe, 3, 1, 0), 0, 0);
	/* AF_INET keeps the v1 rules. */
	judge(tc, "SOCKET 2/1/0", do_socket(fe, 4), 0, 0);
	judge(tc, "RELEASE", do_release(fe, 1), 0, 0);
}

/* Every address error of the section, on BIND and CONNECT. */
static void inet6_address_errors(struct tc *tc)
{
	struct fe *fe = open6(tc, 0, false);
	struct pvcalls_wire_request r;
	struct as *s;
	static const uint32_t short_lens[] = { 0, 2, 16, 23 };
	static const uint32_t long_lens[] = { 29, 64, 0xffffffffu };
	char what[80];

	if (!fe || !judge(tc, "SOCKET", socket6(fe, 1, 1, 0), 0, 0))
		return;
	for (unsigned i = 0; i < sizeof(short_lens) / sizeof(short_lens[0]); i++) {
		snprintf(what, sizeof(what), "BIND len %u", short_lens[i]);
		judge(tc, what, bind6(fe, 1, 0, "::1", short_lens[i]), W_EINVAL, W_EINVAL);
	}
	for (unsigned i = 0; i < sizeof(long_lens) / sizeof(long_lens[0]); i++) {
		snprintf(what, sizeof(what), "BIND len %u", long_lens[i]);
		judge(tc, what, bind6(fe, 1, 0, "::1", long_lens[i]), W_EINVAL, W_EINVAL);
	}
	/* A sockaddr_in on an AF_INET6 socket: too short first (as Linux). */
	rq_bind(&r, 1, 0);
	judge(tc, "BIND sockaddr_in (len 16)", fe_call(fe, &r, T_RSP), W_EINVAL, W_EINVAL);
	rq_bind(&r, 1, 0);
	r.u.bind.len = 28;
	judge(tc, "BIND family 2, len 28", fe_call(fe, &r, T_RSP), W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	rq_addr6(&r, PVCALLS_WIRE_BIND, 1, 0, 0, "::1", 0, 28);
	judge(tc, "BIND family 0", fe_call(fe, &r, T_RSP), W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	rq_addr6(&r, PVCALLS_WIRE_BIND, 1, 0x0a00, 0, "::1", 0, 28);
	judge(tc, "BIND family 10 byte-swapped", fe_call(fe, &r, T_RSP), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	/* The failures left the socket NEW: a good BIND works (24 bytes). */
	judge(tc, "BIND [::1]:0 len 24", bind6(fe, 1, 0, "::1", 24), 0, 0);
	judge(tc, "BIND again", bind6(fe, 1, 0, "::1", 28), tc->p->dup_bind, W_EEXIST);

	/* An AF_INET6 address on an AF_INET socket. */
	if (!judge(tc, "SOCKET AF_INET", do_socket(fe, 2), 0, 0))
		return;
	rq_addr6(&r, PVCALLS_WIRE_BIND, 2, PVCALLS_EXT_AF_INET6, 0, "::1", 0, 28);
	judge(tc, "BIND AF_INET6 address on AF_INET", fe_call(fe, &r, T_RSP), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);

	/* CONNECT: the same rules, before anything is mapped. */
	if (!(s = as_new(fe, 3, 0)) || !judge(tc, "SOCKET", socket6(fe, 3, 1, 0), 0, 0))
		return;
	judge(tc, "CONNECT len 23", connect6(fe, s, 9, "::1", 0, 23), W_EINVAL, W_EINVAL);
	judge(tc, "CONNECT len 29", connect6(fe, s, 9, "::1", 0, 29), W_EINVAL, W_EINVAL);
	rq_connect(&r, 3, 9, s->ref, s->port);
	judge(tc, "CONNECT sockaddr_in", fe_call(fe, &r, T_RSP), W_EINVAL, W_EINVAL);
	rq_connect(&r, 3, 9, s->ref, s->port);
	r.u.connect.len = 28;
	judge(tc, "CONNECT family 2, len 28", fe_call(fe, &r, T_RSP), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	/* Still NEW: CONNECT on it is still possible (the rings were not kept). */
	judge(tc, "SOCKET on the id after refused CONNECTs", socket6(fe, 3, 1, 0),
	      tc->p->dup_socket, W_EEXIST);
}

/* CONNECT over ::1 (28 and 24 bytes), data both ways. */
static void inet6_connect(struct tc *tc)
{
	struct fe *fe = open6(tc, 0, true);
	struct xfer x = { .to_peer = 200000, .to_fe = 200000, .seed_out = 61, .seed_in = 62 };
	uint16_t port;
	struct as *s, *s2;
	int lfd, peer, peer2;

	if (!fe || (lfd = peer6_listen(tc, &port)) < 0)
		return;
	if (!(s = as_new(fe, 1, 1)) || !judge(tc, "SOCKET", socket6(fe, 1, 1, 0), 0, 0))
		return;
	if (!judge(tc, "CONNECT [::1] len 28", connect6(fe, s, port, "::1", 0, 28), 0, 0))
		return;
	peer = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, peer >= 0, "CONNECT answered 0 but the peer saw no connection");
	if (pump(s, peer, &x, T_MS(20000)) < 0)
		return;
	if (!(s2 = as_new(fe, 2, 0)) || !judge(tc, "SOCKET", socket6(fe, 2, 1, 6), 0, 0))
		return;
	judge(tc, "CONNECT [::1] len 24", connect6(fe, s2, port, "::1", 0, 24), 0, 0);
	peer2 = peer_accept(tc, lfd, T_RSP);
	check(tc, peer2 >= 0, "second CONNECT: no connection at the peer");
	judge(tc, "RELEASE", do_release(fe, 1), 0, 0);
	judge(tc, "RELEASE", do_release(fe, 2), 0, 0);
	/* A refused CONNECT leaves the socket NEW and AF_INET6. */
	if (!(s = as_new(fe, 5, 0)) || !judge(tc, "SOCKET", socket6(fe, 5, 1, 0), 0, 0))
		return;
	tc_close_fd(tc, lfd);
	judge(tc, "CONNECT to a closed port", connect6(fe, s, port, "::1", 0, 28), W_ECONNREFUSED,
	      W_ECONNREFUSED);
	judge(tc, "BIND after a failed CONNECT", bind6(fe, 5, 0, "::1", 28), 0, 0);
}

/* BIND, LISTEN, ACCEPT on AF_INET6, and the names of both ends. */
static void inet6_accept_names(struct tc *tc)
{
	struct fe *fe = open6(tc, PVCALLS_FEATURE_NAMES, true);
	struct pvcalls_wire_request r;
	struct sockaddr_in6 ln, an, ap, hl, hp;
	socklen_t len;
	uint32_t val = 0;
	struct as *a;
	int c;

	if (!fe || !judge(tc, "SOCKET", socket6(fe, 1, 1, 0), 0, 0))
		return;
	judge(tc, "GETSOCKNAME NEW", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 2, &val), 0, 0);
	check(tc,
	      area_name6(fe, 2, val, &ln) && IN6_IS_ADDR_UNSPECIFIED(&ln.sin6_addr) &&
		      ln.sin6_port == 0,
	      "NEW AF_INET6 socket: not the 28-byte [::]:0");
	if (!judge(tc, "BIND [::1]:0", bind6(fe, 1, 0, "::1", 28), 0, 0) ||
	    !judge(tc, "LISTEN", do_listen(fe, 1, 4), 0, 0))
		return;
	judge(tc, "GETSOCKNAME LISTENING", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 3, &val), 0,
	      0);
	REQUIRE(tc,
		area_name6(fe, 3, val, &ln) && IN6_IS_ADDR_LOOPBACK(&ln.sin6_addr) && ln.sin6_port,
		"listener: not [::1] with a port");
	if (!(a = as_new(fe, 2, 0)))
		return;
	rq_accept(&r, 1, 2, a->ref, a->port);
	if (fe_send(fe, &r) < 0)
		return;
	c = tc_fd(tc, socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
	REQUIRE(tc, c >= 0 && connect(c, (struct sockaddr *)&ln, sizeof(ln)) == 0,
		"cannot connect to the listener over ::1");
	judge(tc, "ACCEPT", fe_result(fe, &r, T_RSP), 0, 0);
	judge(tc, "GETSOCKNAME accepted", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 2, 4, &val), 0, 0);
	check(tc, area_name6(fe, 4, val, &an), "accepted: GETSOCKNAME not 28 bytes");
	judge(tc, "GETPEERNAME accepted", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 2, 6, &val), 0, 0);
	check(tc, area_name6(fe, 6, val, &ap), "accepted: GETPEERNAME not 28 bytes");
	len = sizeof(hl);
	getsockname(c, (struct sockaddr *)&hl, &len);
	len = sizeof(hp);
	getpeername(c, (struct sockaddr *)&hp, &len);
	check(tc, ap.sin6_port == hl.sin6_port && !memcmp(&ap.sin6_addr, &hl.sin6_addr, 16),
	      "GETPEERNAME is not the host client's address");
	check(tc, an.sin6_port == hp.sin6_port && !memcmp(&an.sin6_addr, &hp.sin6_addr, 16),
	      "GETSOCKNAME is not what the host client sees as its peer");
}

/* The IPv6 options apply to AF_INET6 sockets only; V6ONLY decides whether
 * an IPv4-mapped destination is reachable. */
static void inet6_options(struct tc *tc)
{
	struct fe *fe = open6(tc, PVCALLS_FEATURE_SOCKOPT | PVCALLS_FEATURE_NAMES, false);
	int32_t v = -7;
	uint32_t val;
	uint16_t port;
	struct sockaddr_in6 pn;
	struct as *s;
	int lfd, peer;

	if (!fe || !judge(tc, "SOCKET AF_INET6", socket6(fe, 1, 1, 0), 0, 0) ||
	    !judge(tc, "SOCKET AF_INET", do_socket(fe, 2), 0, 0))
		return;
	judge(tc, "SETSOCKOPT IPV6_V6ONLY on AF_INET",
	      x_setopt(fe, 2, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "GETSOCKOPT IPV6_TCLASS on AF_INET",
	      x_getopt(fe, 2, PVCALLS_EXT_OPT_IPV6_TCLASS, &v), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "SETSOCKOPT IPV6_V6ONLY 1", x_setopt(fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), 0,
	      0);
	judge(tc, "GETSOCKOPT IPV6_V6ONLY", x_getopt(fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, &v), 0, 0);
	check(tc, v == 1, "IPV6_V6ONLY does not read back 1");
	judge(tc, "SETSOCKOPT IPV6_TCLASS 0x20", x_setopt(fe, 1, PVCALLS_EXT_OPT_IPV6_TCLASS, 0x20),
	      0, 0);
	judge(tc, "GETSOCKOPT IPV6_TCLASS", x_getopt(fe, 1, PVCALLS_EXT_OPT_IPV6_TCLASS, &v), 0, 0);
	check(tc, v == 0x20, "IPV6_TCLASS does not read back 0x20");
	judge(tc, "SETSOCKOPT IPV6_TCLASS 256", x_setopt(fe, 1, PVCALLS_EXT_OPT_IPV6_TCLASS, 256),
	      W_EINVAL, W_EINVAL);
	/* v6-only: an IPv4-mapped destination is unreachable (Linux's answer). */
	lfd = peer_listen(tc, 4, &port);
	if (lfd < 0 || !(s = as_new(fe, 1, 0)))
		return;
	judge(tc, "CONNECT ::ffff:127.0.0.1 v6-only",
	      connect6(fe, s, port, "::ffff:127.0.0.1", 0, 28), X_ANYERR, W_ENETUNREACH);
	/* Dual stack: reachable, and its peer reads back mapped. */
	if (!(s = as_new(fe, 3, 0)) || !judge(tc, "SOCKET", socket6(fe, 3, 1, 0), 0, 0))
		return;
	judge(tc, "SETSOCKOPT IPV6_V6ONLY 0", x_setopt(fe, 3, PVCALLS_EXT_OPT_IPV6_V6ONLY, 0), 0,
	      0);
	if (!judge(tc, "CONNECT ::ffff:127.0.0.1", connect6(fe, s, port, "::ffff:127.0.0.1", 0, 28),
		   0, 0))
		return;
	peer = peer_accept(tc, lfd, T_RSP);
	check(tc, peer >= 0, "IPv4-mapped CONNECT: no connection at the peer");
	judge(tc, "GETPEERNAME", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 3, 9, &val), 0, 0);
	check(tc,
	      area_name6(fe, 9, val, &pn) && pn.sin6_port == htons(port) &&
		      IN6_IS_ADDR_V4MAPPED(&pn.sin6_addr),
	      "GETPEERNAME of a mapped peer is not ::ffff:127.0.0.1 in 28 bytes");
	judge(tc, "SETSOCKOPT IPV6_V6ONLY once connected",
	      x_setopt(fe, 3, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), W_EINVAL, W_EINVAL);
}

/* Hostile addresses: scope ids, flow labels, wildcards; nothing reaches
 * outside this host and the backend keeps serving. */
static void inet6_hostile(struct tc *tc)
{
	struct fe *fe = open6(tc, 0, true);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int lfd;

	if (!fe || (lfd = peer6_listen(tc, &port)) < 0)
		return;
	/* Link-local without a scope: the host refuses (no interface). */
	if (!(s = as_new(fe, 1, 0)) || !judge(tc, "SOCKET", socket6(fe, 1, 1, 0), 0, 0))
		return;
	judge(tc, "CONNECT fe80::1 scope 0", connect6(fe, s, 9, "fe80::1", 0, 28), X_ANYERR,
	      X_ANYERR);
	/* A scope id naming no interface of the host. */
	judge(tc, "CONNECT fe80::1 scope 0x7fffffff",
	      connect6(fe, s, 9, "fe80::1", 0x7fffffffu, 28), X_ANYERR, X_ANYERR);
	judge(tc, "BIND fe80::1 without a scope", bind6(fe, 1, 0, "fe80::1", 28), X_ANYERR,
	      X_ANYERR);
	/* A scope id on ::1 means nothing to the host: connects. */
	judge(tc, "CONNECT ::1 scope 0xffffffff", connect6(fe, s, port, "::1", 0xffffffffu, 28),
	      X_OK_OR_ERR, X_UNSPEC);
	judge(tc, "RELEASE", do_release(fe, 1), 0, 0);
	/* A flow label with every bit set. */
	if (!(s = as_new(fe, 2, 0)) || !judge(tc, "SOCKET", socket6(fe, 2, 1, 0), 0, 0))
		return;
	rq_addr6(&r, PVCALLS_WIRE_CONNECT, 2, PVCALLS_EXT_AF_INET6, port, "::1", 0, 28);
	memset(r.u.connect.addr + 4, 0xff, 4);
	r.u.connect.ref = s->ref;
	r.u.connect.evtchn = s->port;
	judge(tc, "CONNECT flowinfo 0xffffffff", fe_call(fe, &r, T_RSP), X_OK_OR_ERR, X_UNSPEC);
	judge(tc, "RELEASE", do_release(fe, 2), 0, 0);
	/* Multicast is not a stream destination. */
	if (!(s = as_new(fe, 3, 0)) || !judge(tc, "SOCKET", socket6(fe, 3, 1, 0), 0, 0))
		return;
	judge(tc, "CONNECT ff02::1", connect6(fe, s, 9, "ff02::1", 1, 28), X_ANYERR, X_ANYERR);
	/* Still serving: a fresh socket connects. */
	if (!(s = as_new(fe, 4, 0)) || !judge(tc, "SOCKET", socket6(fe, 4, 1, 0), 0, 0))
		return;
	judge(tc, "CONNECT [::1] after the hostile ones", connect6(fe, s, port, "::1", 0, 28), 0,
	      0);
}

/* The policy rules that keep IPv4 rules from being walked around over
 * IPv6 ("IPv6", "Policy"), against a policy this case installs: only with
 * the in-process backend (--self). */
static pvcalls_policy *rules(const char *const *r)
{
	pvcalls_policy *p;

	if (pvcalls_policy_new(&p) < 0)
		return NULL;
	for (; *r; r++)
		if (pvcalls_policy_add_rule(p, PVCALLS_POLICY_DEFAULT, *r, NULL, 0) < 0) {
			pvcalls_policy_free(p);
			return NULL;
		}
	return p;
}

static void bypass_checks(struct tc *tc, struct fe *fe)
{
	static const struct {
		const char *ip;
		uint32_t scope, len;
	} dest[] = {
		{ "::ffff:127.0.0.1", 0, 28 },
		{ "::ffff:127.9.9.9", 0, 28 },
		{ "::ffff:0.0.0.0", 0, 28 },
		{ "::ffff:127.0.0.1", 5, 28 },
		{ "::ffff:127.0.0.1", 0, 24 },
		{ "::1", 0, 28 },
		{ "::", 0, 28 },
		{ "::1", 0xffffffffu, 28 },
		{ "fe80::1", 1, 28 },
		{ "ff02::1", 1, 28 },
	};
	static const char *const r2[] = { "deny listen 0.0.0.0/32", "allow any", NULL };
	struct as *s;
	char what[96];
	int32_t ret;

	if (!(s = as_new(fe, 1, 0)) || !judge(tc, "SOCKET", socket6(fe, 1, 1, 0), 0, 0))
		return;
	for (unsigned i = 0; i < sizeof(dest) / sizeof(dest[0]); i++) {
		snprintf(what, sizeof(what), "CONNECT [%s%%%u] len %u", dest[i].ip, dest[i].scope,
			 dest[i].len);
		ret = connect6(fe, s, 9, dest[i].ip, dest[i].scope, dest[i].len);
		judge(tc, what, ret, W_EACCES, W_EACCES);
	}
	judge(tc, "BIND [::ffff:127.0.0.1]:80", bind6(fe, 1, 80, "::ffff:127.0.0.1", 28), W_EACCES,
	      W_EACCES);
	judge(tc, "BIND [::]:80", bind6(fe, 1, 80, "::", 28), W_EACCES, W_EACCES);
	judge(tc, "BIND [::1]:443", bind6(fe, 1, 443, "::1", 28), W_EACCES, W_EACCES);
	/* A dual-stack wildcard is a listen on 0.0.0.0 too. */
	if (target_set_policy(tc->tg, rules(r2)) < 0) {
		tc_fail(tc, "cannot install the second policy");
		return;
	}
	judge(tc, "SOCKET", socket6(fe, 2, 1, 0), 0, 0);
	judge(tc, "IPV6_V6ONLY 0", x_setopt(fe, 2, PVCALLS_EXT_OPT_IPV6_V6ONLY, 0), 0, 0);
	judge(tc, "BIND [::]:0 dual-stack", bind6(fe, 2, 0, "::", 28), W_EACCES, W_EACCES);
	judge(tc, "IPV6_V6ONLY 1", x_setopt(fe, 2, PVCALLS_EXT_OPT_IPV6_V6ONLY, 1), 0, 0);
	judge(tc, "BIND [::]:0 v6-only", bind6(fe, 2, 0, "::", 28), 0, 0);
	judge(tc, "RELEASE", do_release(fe, 2), 0, 0);
}

static void inet6_policy_bypass(struct tc *tc)
{
	static const char *const r1[] = { "deny connect 127.0.0.0/8", "deny listen port 1-1023",
					  "allow any", NULL };
	struct fe *fe = open6(tc, PVCALLS_FEATURE_SOCKOPT, false);
	int rc;

	if (!fe)
		return;
	rc = target_set_policy(tc->tg, rules(r1));
	if (rc == -EOPNOTSUPP) {
		tc_skip(tc, "installs a policy: needs the in-process backend (--self)");
		return;
	}
	if (rc < 0) {
		tc_fail(tc, "cannot install the policy: %d", rc);
		return;
	}
	bypass_checks(tc, fe);
	/* Every case after this one runs without a policy again. */
	if (target_set_policy(tc->tg, NULL) < 0)
		tc_fail(tc, "cannot remove the policy");
}

const struct case_def cases_inet6[] = {
	{ "ext.inet6.v1", inet6_v1 },
	{ "ext.inet6.socket", inet6_socket },
	{ "ext.inet6.address_errors", inet6_address_errors },
	{ "ext.inet6.connect", inet6_connect },
	{ "ext.inet6.accept_names", inet6_accept_names },
	{ "ext.inet6.options", inet6_options },
	{ "ext.inet6.hostile", inet6_hostile },
	{ "ext.inet6.policy_bypass", inet6_policy_bypass },
	{ NULL, NULL },
};
