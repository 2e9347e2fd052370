/* SPDX-License-Identifier: MIT */
/*
 * The negotiated extensions (docs/extensions.md): SHUTDOWN, GETSOCKNAME,
 * GETPEERNAME, SETSOCKOPT, GETSOCKOPT. Each case accepts only the
 * extension it tests (fe_open_ext) and is skipped, with the reason, when
 * the backend does not offer it; ext.v1_unknown holds for every backend.
 * Expected values are the specification's: extensions are ours, so no
 * profile has a different answer for them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/wire_ext.h>

#include "conformance.h"

enum {
	W_EPERM = -1,
	W_ENOPROTOOPT = -92,
};

#define LOOPBACK 0x7f000001u

/* Sends @r (an extension request), returns ret and (if @val) the val word. */
static int32_t xcall(struct fe *fe, struct pvcalls_ext_request *r, uint32_t *val)
{
	struct pvcalls_wire_request *w = (struct pvcalls_wire_request *)r;
	struct pvcalls_wire_response rsp;
	bool known;
	int rc;

	if (fe_send(fe, w) < 0)
		return X_NONE;
	rc = fe_wait(fe, w->req_id, T_RSP, &rsp);
	if (rc <= 0) {
		if (rc < 0)
			tc_fail(fe->tc, "backend broke the command ring");
		return X_NONE;
	}
	/* A backend that knows no extension answers an unknown command; Linux's
	 * then fills neither the id nor val (the profile's unknown_cmd_echoes_id;
	 * docs/protocol-notes.md, "Commands"), so only the cmd echo is checked. */
	known = fe->xb.ext || fe->tc->p->unknown_cmd_echoes_id;
	if (rsp.cmd != w->cmd || (known && rsp.u.id != r->u.shutdown.id))
		tc_fail(fe->tc, "response echoes cmd %#x id %llu, request had %#x id %llu", rsp.cmd,
			(unsigned long long)rsp.u.id, w->cmd, (unsigned long long)r->u.shutdown.id);
	if (known && rsp.ret && rsp.pad)
		tc_fail(fe->tc, "error %d with val %u (must be 0)", rsp.ret, rsp.pad);
	if (val)
		*val = rsp.pad;
	return rsp.ret;
}

static void rq_x(struct pvcalls_ext_request *r, uint32_t cmd, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->u.shutdown.id = id;
}

static int32_t x_shutdown(struct fe *fe, uint64_t id, uint32_t how)
{
	struct pvcalls_ext_request r;

	rq_x(&r, PVCALLS_EXT_SHUTDOWN, id);
	r.u.shutdown.how = how;
	return xcall(fe, &r, NULL);
}

static int32_t x_getname(struct fe *fe, uint32_t cmd, uint64_t id, uint32_t area, uint32_t *val)
{
	struct pvcalls_ext_request r;

	rq_x(&r, cmd, id);
	r.u.getname.area = area;
	return xcall(fe, &r, val);
}

static int32_t x_setopt(struct fe *fe, uint64_t id, uint32_t opt, uint32_t len, int32_t v0,
			int32_t v1)
{
	struct pvcalls_ext_request r;
	int32_t v[2] = { v0, v1 };

	rq_x(&r, PVCALLS_EXT_SETSOCKOPT, id);
	r.u.setsockopt.opt = opt;
	r.u.setsockopt.len = len;
	memcpy(r.u.setsockopt.val, v, len < 8 ? len : 8);
	return xcall(fe, &r, NULL);
}

static int32_t x_getopt(struct fe *fe, uint64_t id, uint32_t opt, uint32_t area, uint32_t *val)
{
	struct pvcalls_ext_request r;

	rq_x(&r, PVCALLS_EXT_GETSOCKOPT, id);
	r.u.getsockopt.opt = opt;
	r.u.getsockopt.area = area;
	return xcall(fe, &r, val);
}

static uint8_t *area(struct fe *fe, uint32_t n)
{
	return (uint8_t *)fe->sring + PVCALLS_EXT_REPLY_AREA_OFFSET(n);
}

static void fill_areas(struct fe *fe, uint8_t b)
{
	memset(area(fe, 0), b, PVCALLS_EXT_REPLY_AREAS * PVCALLS_EXT_REPLY_SIZE);
}

/* Every area but @except still holds @b everywhere. */
static bool areas_untouched(struct fe *fe, uint8_t b, int except)
{
	for (uint32_t n = 0; n < PVCALLS_EXT_REPLY_AREAS; n++)
		for (uint32_t i = 0; n != (uint32_t)except && i < PVCALLS_EXT_REPLY_SIZE; i++)
			if (area(fe, n)[i] != b)
				return false;
	return true;
}

static void check(struct tc *tc, bool cond, const char *what)
{
	if (cond)
		tc_ok(tc);
	else
		tc_fail(tc, "%s", what);
}

/* ------------------------------------------------------------------ */

/* Without the keys, our command numbers are unknown commands (v1). */
static void ext_v1_unknown(struct tc *tc)
{
	static const uint32_t cmds[] = { PVCALLS_EXT_SHUTDOWN,    PVCALLS_EXT_GETSOCKNAME,
					 PVCALLS_EXT_GETPEERNAME, PVCALLS_EXT_SETSOCKOPT,
					 PVCALLS_EXT_GETSOCKOPT,  PVCALLS_EXT_DGRAM_RINGS,
					 PVCALLS_EXT_RING_FREE,   PVCALLS_EXT_SENDTO };
	struct fe *fe = fe_open(tc);
	char what[64];

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	fill_areas(fe, 0xa5);
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct pvcalls_ext_request r;

		rq_x(&r, cmds[i], 1);
		snprintf(what, sizeof(what), "cmd %#x without negotiation", cmds[i]);
		judge(tc, what, xcall(fe, &r, NULL), W_ENOTSUPP, W_ENOTSUPP);
	}
	check(tc, areas_untouched(fe, 0xa5, -1), "reply areas written without negotiation");
}

/* Offered keys read "1" in the backend's directory. */
static void ext_offer_keys(struct tc *tc)
{
	struct fe *fe;

	if (fe_new(tc, &fe) < 0)
		return;
	if (!fe->xb.ext) {
		tc_skip(tc, "the backend offers no extension");
		return;
	}
	/* pvc_xb_read_ext() takes a key as offered only when it reads 1. */
	tc_log(tc, "offered: %#x", fe->xb.ext);
	check(tc, (fe->xb.ext & ~0x3fu) == 0, "unknown offer bits");
}

/* Accepting one extension leaves the others at v1. */
static void ext_independent(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_SHUTDOWN);
	uint32_t val;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	judge(tc, "GETSOCKNAME with only shutdown accepted",
	      x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 0, &val), W_ENOTSUPP, W_ENOTSUPP);
	judge(tc, "GETSOCKOPT with only shutdown accepted",
	      x_getopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 0, &val), W_ENOTSUPP, W_ENOTSUPP);
	judge(tc, "SHUTDOWN of a NEW socket", x_shutdown(fe, 1, 1), W_ENOTCONN, W_ENOTCONN);
}

/* ------------------------------------------------------------------ */
/* SHUTDOWN                                                             */

/* A frontend with the shutdown extension and socket 1 ACTIVE, connected to
 * @peer; NULL where either failed (the case is then over). */
static struct as *shut_open(struct tc *tc, struct fe **fe, int *peer)
{
	*fe = fe_open_ext(tc, PVCALLS_FEATURE_SHUTDOWN);
	return *fe ? open_active(*fe, 1, 0, peer) : NULL;
}

static void shutdown_wr(struct tc *tc)
{
	uint64_t pos = 0, got = 0;
	struct as *s;
	struct fe *fe;
	int peer;

	if (!(s = shut_open(tc, &fe, &peer)))
		return;
	/* More than the ring holds: the drain comes after the answer. */
	if (fe_write_all(s, 7, &pos, 3000, T_RSP) < 0)
		return;
	judge(tc, "SHUTDOWN SHUT_WR", x_shutdown(fe, 1, PVCALLS_EXT_SHUT_WR), 0, 0);
	if (peer_recv_to_eof(tc, peer, 7, &got, T_MS(5000)) != 1) {
		if (!tc_failed(tc))
			tc_fail(tc, "peer got %llu of 3000 bytes and no EOF",
				(unsigned long long)got);
		return;
	}
	check(tc, got == 3000, "peer did not get every byte before EOF");
	judge(tc, "SHUTDOWN SHUT_WR again", x_shutdown(fe, 1, PVCALLS_EXT_SHUT_WR), 0, 0);
	/* The other direction still works. */
	{
		char b = 'z';
		uint8_t in;

		(void)!write(peer, &b, 1);
		for (int i = 0; i < 200 && pvcalls_data_rx_queued(&s->ring) == 0; i++)
			fe_events(fe, 10);
		check(tc, pvcalls_data_read(&s->ring, &in, 1, 0) == 1 && in == 'z',
		      "in ring does not work after SHUT_WR");
	}
	/* Rule 5: bytes after the host shutdown are dropped, out_error -EPIPE. */
	{
		const char late[] = "late";

		pvcalls_data_write(&s->ring, late, sizeof(late));
		as_notify(s);
		for (int i = 0; i < 200 && pvcalls_data_tx_error(&s->ring) == 0; i++)
			fe_events(fe, 10);
		judge(tc, "out_error after writing past SHUT_WR", pvcalls_data_tx_error(&s->ring),
		      W_EPIPE, W_EPIPE);
	}
}

static void shutdown_rd(struct tc *tc)
{
	uint64_t pos = 0, got = 0;
	struct as *s;
	struct fe *fe;
	int peer;

	if (!(s = shut_open(tc, &fe, &peer)))
		return;
	judge(tc, "SHUTDOWN SHUT_RD", x_shutdown(fe, 1, PVCALLS_EXT_SHUT_RD), 0, 0);
	for (int i = 0; i < 200 && pvcalls_data_rx_error(&s->ring) == 0; i++)
		fe_events(fe, 10);
	judge(tc, "in_error after SHUT_RD", pvcalls_data_rx_error(&s->ring), W_ENOTCONN,
	      W_ENOTCONN);
	/* The out direction is not affected. */
	if (fe_write_all(s, 9, &pos, 100, T_RSP) < 0)
		return;
	judge(tc, "SHUTDOWN SHUT_WR after SHUT_RD", x_shutdown(fe, 1, PVCALLS_EXT_SHUT_WR), 0, 0);
	check(tc, peer_recv_to_eof(tc, peer, 9, &got, T_MS(5000)) == 1 && got == 100,
	      "out direction broken by SHUT_RD");
}

static void shutdown_errors(struct tc *tc)
{
	struct pvcalls_ext_request r;
	struct as *s;
	struct fe *fe;
	int peer;

	if (!(s = shut_open(tc, &fe, &peer)))
		return;
	judge(tc, "SHUTDOWN how 3", x_shutdown(fe, 1, 3), W_EINVAL, W_EINVAL);
	judge(tc, "SHUTDOWN how 0xffffffff", x_shutdown(fe, 1, 0xffffffffu), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_SHUTDOWN, 1);
	r.u.shutdown.pad[3] = 1;
	judge(tc, "SHUTDOWN with pad set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_SHUTDOWN, 1);
	r.u.dummy[55] = 0x80;
	judge(tc, "SHUTDOWN with the union's tail set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	/* The order: reserved bytes before the id. */
	rq_x(&r, PVCALLS_EXT_SHUTDOWN, 999);
	r.u.shutdown.how = 7;
	judge(tc, "SHUTDOWN bad how, unknown id", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	judge(tc, "SHUTDOWN unknown id", x_shutdown(fe, 999, 1), W_EBADF, W_EBADF);
	judge(tc, "SOCKET 2", do_socket(fe, 2), 0, 0);
	judge(tc, "SHUTDOWN NEW", x_shutdown(fe, 2, 2), W_ENOTCONN, W_ENOTCONN);
	judge(tc, "BIND 2", do_bind(fe, 2, 0), 0, 0);
	judge(tc, "SHUTDOWN BOUND", x_shutdown(fe, 2, 1), W_ENOTCONN, W_ENOTCONN);
	judge(tc, "RELEASE 1", do_release(fe, 1), 0, 0);
	judge(tc, "SHUTDOWN released id", x_shutdown(fe, 1, 1), W_EBADF, W_EBADF);
}

/* LISTENING: SHUT_WR nothing; SHUT_RD answers ACCEPT -EINVAL first, then
 * the socket is BOUND and LISTEN works again. An ACCEPTING id is EBADF. */
static void shutdown_listener(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_SHUTDOWN);
	struct pvcalls_wire_request acc, pol;
	struct pvcalls_ext_request sh;
	uint32_t seq_acc, seq_pol;
	uint16_t port;
	struct as *a;
	int32_t ret;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(a = as_new(fe, 2, 0)))
		return;
	judge(tc, "SHUTDOWN SHUT_WR of a listener", x_shutdown(fe, 1, PVCALLS_EXT_SHUT_WR), 0, 0);
	rq_accept(&acc, 1, 2, a->ref, a->port);
	if (fe_send(fe, &acc) < 0)
		return;
	judge(tc, "SHUTDOWN of the ACCEPTING id", x_shutdown(fe, 2, 1), W_EBADF, W_EBADF);
	rq_poll(&pol, 1);
	fe_put(fe, &pol);
	rq_x(&sh, PVCALLS_EXT_SHUTDOWN, 1);
	sh.u.shutdown.how = PVCALLS_EXT_SHUT_RD;
	fe_put(fe, (struct pvcalls_wire_request *)&sh);
	fe_push(fe);
	ret = fe_result(fe, &acc, T_RSP);
	seq_acc = fe->last_seq;
	judge(tc, "pending ACCEPT after SHUT_RD", ret, W_EINVAL, W_EINVAL);
	ret = fe_result(fe, &pol, T_RSP);
	seq_pol = fe->last_seq;
	judge(tc, "pending POLL after SHUT_RD", ret, W_EINVAL, W_EINVAL);
	ret = fe_result(fe, (struct pvcalls_wire_request *)&sh, T_RSP);
	judge(tc, "SHUTDOWN SHUT_RD of a listener", ret, 0, 0);
	check(tc, fe->last_seq > seq_acc && fe->last_seq > seq_pol,
	      "SHUTDOWN answered before the pending ACCEPT/POLL");
	judge(tc, "LISTEN again", do_listen(fe, 1, 4), 0, 0);
	{
		int c = peer_connect(tc, port, T_MS(2000));

		check(tc, c >= 0, "cannot connect to the listener after LISTEN again");
		if (c >= 0)
			tc_fd(tc, c);
	}
}

/* ------------------------------------------------------------------ */
/* Names                                                                */

static void names(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_NAMES);
	struct pvcalls_ext_sockaddr_in w;
	struct sockaddr_in pl, pp;
	socklen_t len;
	uint32_t val = 99;
	struct as *s;
	int peer;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	fill_areas(fe, 0x5a);
	judge(tc, "GETSOCKNAME NEW", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 7, &val), 0, 0);
	check(tc, val == 16, "GETSOCKNAME val is not 16");
	check(tc, areas_untouched(fe, 0x5a, 7), "GETSOCKNAME wrote outside its area");
	memcpy(&w, area(fe, 7), sizeof(w));
	check(tc, w.family == 2 && w.port == 0 && w.addr == 0, "NEW: not the wildcard, port 0");
	for (uint32_t i = 16; i < PVCALLS_EXT_REPLY_SIZE; i++)
		if (area(fe, 7)[i]) {
			tc_fail(tc, "area not zero-filled after the address (byte %u)", i);
			break;
		}
	judge(tc, "GETPEERNAME NEW", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 1, 7, &val), W_ENOTCONN,
	      W_ENOTCONN);
	/* Bound to port 0: the chosen port. */
	judge(tc, "BIND port 0", do_bind(fe, 1, 0), 0, 0);
	judge(tc, "GETSOCKNAME BOUND", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 31, &val), 0, 0);
	memcpy(&w, area(fe, 31), sizeof(w));
	check(tc, w.port != 0 && w.addr == htonl(LOOPBACK), "BOUND: no chosen port");
	judge(tc, "GETPEERNAME BOUND", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 1, 7, &val),
	      W_ENOTCONN, W_ENOTCONN);
	/* Active: both ends agree with the peer's view. */
	if (!(s = open_active(fe, 2, 0, &peer)))
		return;
	len = sizeof(pl);
	getsockname(peer, (struct sockaddr *)&pl, &len);
	len = sizeof(pp);
	getpeername(peer, (struct sockaddr *)&pp, &len);
	judge(tc, "GETSOCKNAME ACTIVE", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 2, 3, &val), 0, 0);
	memcpy(&w, area(fe, 3), sizeof(w));
	check(tc, w.port == pp.sin_port && w.addr == pp.sin_addr.s_addr,
	      "GETSOCKNAME is not what the peer sees as its peer");
	judge(tc, "GETPEERNAME ACTIVE", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 2, 4, &val), 0, 0);
	check(tc, val == 16, "GETPEERNAME val is not 16");
	memcpy(&w, area(fe, 4), sizeof(w));
	check(tc, w.port == pl.sin_port && w.addr == pl.sin_addr.s_addr,
	      "GETPEERNAME is not the peer");
}

static void names_errors(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_NAMES);
	struct pvcalls_ext_request r;
	uint32_t val;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	fill_areas(fe, 0x33);
	judge(tc, "GETSOCKNAME area 32", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 32, &val),
	      W_EINVAL, W_EINVAL);
	judge(tc, "GETPEERNAME area 0xffffffff",
	      x_getname(fe, PVCALLS_EXT_GETPEERNAME, 1, 0xffffffffu, &val), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_GETSOCKNAME, 1);
	r.u.getname.pad[0] = 1;
	judge(tc, "GETSOCKNAME pad set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_GETSOCKNAME, 1);
	r.u.dummy[40] = 1;
	judge(tc, "GETSOCKNAME tail set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	judge(tc, "GETSOCKNAME unknown id", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 77, 0, &val),
	      W_EBADF, W_EBADF);
	judge(tc, "GETPEERNAME unknown id", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 77, 0, &val),
	      W_EBADF, W_EBADF);
	check(tc, areas_untouched(fe, 0x33, -1), "a failed request wrote a reply area");
}

/* ------------------------------------------------------------------ */
/* Socket options                                                       */

static void sockopt(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_SOCKOPT);
	int32_t v[2];
	uint32_t val;
	struct as *s;
	int peer;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	fill_areas(fe, 0x77);
	/* Before CONNECT: the host socket exists already. */
	judge(tc, "SETSOCKOPT TCP_NODELAY 1 (NEW)",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 4, 5, 0), 0, 0);
	judge(tc, "GETSOCKOPT TCP_NODELAY", x_getopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 9, &val),
	      0, 0);
	memcpy(v, area(fe, 9), 8);
	check(tc, val == 4 && v[0] == 1 && v[1] == 0, "TCP_NODELAY does not read back as 1");
	check(tc, areas_untouched(fe, 0x77, 9), "GETSOCKOPT wrote outside its area");
	judge(tc, "GETSOCKOPT SO_LINGER", x_getopt(fe, 1, PVCALLS_EXT_OPT_SO_LINGER, 9, &val), 0,
	      0);
	memcpy(v, area(fe, 9), 8);
	check(tc, val == 8 && v[0] == 0 && v[1] == 0, "SO_LINGER does not start {0, 0}");
	judge(tc, "SETSOCKOPT SO_LINGER {1, 5}",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_SO_LINGER, 8, 1, 5), 0, 0);
	judge(tc, "GETSOCKOPT SO_LINGER", x_getopt(fe, 1, PVCALLS_EXT_OPT_SO_LINGER, 9, &val), 0,
	      0);
	memcpy(v, area(fe, 9), 8);
	check(tc, val == 8 && v[0] == 1 && v[1] == 5, "SO_LINGER does not read back {1, 5}");
	judge(tc, "SETSOCKOPT SO_KEEPALIVE 1",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_SO_KEEPALIVE, 4, 1, 0), 0, 0);
	judge(tc, "SETSOCKOPT TCP_KEEPIDLE 0 (host refuses)",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_KEEPIDLE, 4, 0, 0), W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT IP_TOS 0x10", x_setopt(fe, 1, PVCALLS_EXT_OPT_IP_TOS, 4, 0x10, 0), 0,
	      0);
	judge(tc, "SETSOCKOPT TCP_USER_TIMEOUT 5000",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_USER_TIMEOUT, 4, 5000, 0), 0, 0);
	/* Options on an active socket. */
	if (!(s = open_active(fe, 2, 0, &peer)))
		return;
	judge(tc, "GETSOCKOPT TCP_NODELAY ACTIVE",
	      x_getopt(fe, 2, PVCALLS_EXT_OPT_TCP_NODELAY, 0, &val), 0, 0);
	judge(tc, "SETSOCKOPT SO_SNDBUF 65536 ACTIVE",
	      x_setopt(fe, 2, PVCALLS_EXT_OPT_SO_SNDBUF, 4, 65536, 0), 0, 0);
	judge(tc, "GETSOCKOPT SO_SNDBUF", x_getopt(fe, 2, PVCALLS_EXT_OPT_SO_SNDBUF, 0, &val), 0,
	      0);
	memcpy(v, area(fe, 0), 4);
	check(tc, val == 4 && v[0] >= 65536, "SO_SNDBUF not read back (the host doubles it)");
}

static void sockopt_errors(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_SOCKOPT);
	struct pvcalls_ext_request r;
	uint32_t val;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	fill_areas(fe, 0x11);
	judge(tc, "SETSOCKOPT opt 0", x_setopt(fe, 1, 0, 4, 1, 0), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "SETSOCKOPT opt 15", x_setopt(fe, 1, 15, 4, 1, 0), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "SETSOCKOPT opt 0x80000000", x_setopt(fe, 1, 0x80000000u, 4, 1, 0), W_ENOPROTOOPT,
	      W_ENOPROTOOPT);
	judge(tc, "SETSOCKOPT IPV6_V6ONLY on AF_INET",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_IPV6_V6ONLY, 4, 1, 0), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "GETSOCKOPT opt 0", x_getopt(fe, 1, 0, 0, &val), W_ENOPROTOOPT, W_ENOPROTOOPT);
	judge(tc, "SETSOCKOPT TCP_NODELAY len 8",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 8, 1, 0), W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT TCP_NODELAY len 0",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 0, 0, 0), W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT SO_LINGER len 4", x_setopt(fe, 1, PVCALLS_EXT_OPT_SO_LINGER, 4, 1, 0),
	      W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT len 17", x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 17, 1, 0),
	      W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT len 0xffffffff",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 0xffffffffu, 1, 0), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_SETSOCKOPT, 1);
	r.u.setsockopt.opt = PVCALLS_EXT_OPT_TCP_NODELAY;
	r.u.setsockopt.len = 4;
	r.u.setsockopt.val[4] = 1;
	judge(tc, "SETSOCKOPT val byte past len", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	r.u.setsockopt.val[4] = 0;
	r.u.dummy[50] = 1;
	judge(tc, "SETSOCKOPT tail set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	rq_x(&r, PVCALLS_EXT_GETSOCKOPT, 1);
	r.u.getsockopt.opt = PVCALLS_EXT_OPT_TCP_NODELAY;
	r.u.dummy[30] = 1;
	judge(tc, "GETSOCKOPT tail set", xcall(fe, &r, NULL), W_EINVAL, W_EINVAL);
	judge(tc, "GETSOCKOPT area 32", x_getopt(fe, 1, PVCALLS_EXT_OPT_TCP_NODELAY, 32, &val),
	      W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT unknown id", x_setopt(fe, 55, PVCALLS_EXT_OPT_TCP_NODELAY, 4, 1, 0),
	      W_EBADF, W_EBADF);
	judge(tc, "GETSOCKOPT unknown id", x_getopt(fe, 55, PVCALLS_EXT_OPT_TCP_NODELAY, 0, &val),
	      W_EBADF, W_EBADF);
	/* The order: field ranges before the id, the id before the option. */
	judge(tc, "SETSOCKOPT bad len, unknown id",
	      x_setopt(fe, 55, PVCALLS_EXT_OPT_TCP_NODELAY, 8, 1, 0), W_EINVAL, W_EINVAL);
	judge(tc, "SETSOCKOPT opt 0, unknown id", x_setopt(fe, 55, 0, 4, 1, 0), W_EBADF, W_EBADF);
	judge(tc, "SETSOCKOPT SO_LINGER {1, -1}",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_SO_LINGER, 8, 1, -1), W_EINVAL, W_EINVAL);
	check(tc, areas_untouched(fe, 0x11, -1), "a failed request wrote a reply area");
}

/* SO_REUSEPORT never joins a port the host (or another frontend) holds. */
static void sockopt_reuseport(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_SOCKOPT);
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, hfd;
	socklen_t len = sizeof(a);

	if (!fe)
		return;
	/* A host socket of this (the backend's) user, with SO_REUSEPORT. */
	hfd = tc_fd(tc, socket(AF_INET, SOCK_STREAM, 0));
	a.sin_addr.s_addr = htonl(LOOPBACK);
	setsockopt(hfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(hfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(hfd, 4) < 0 ||
	    getsockname(hfd, (struct sockaddr *)&a, &len) < 0) {
		tc_fail(tc, "host listener: %s", strerror(errno));
		return;
	}
	judge(tc, "SOCKET 1", do_socket(fe, 1), 0, 0);
	judge(tc, "SETSOCKOPT SO_REUSEPORT 1",
	      x_setopt(fe, 1, PVCALLS_EXT_OPT_SO_REUSEPORT, 4, 1, 0), 0, 0);
	judge(tc, "BIND onto a host SO_REUSEPORT port", do_bind(fe, 1, ntohs(a.sin_port)),
	      W_EADDRINUSE, W_EADDRINUSE);
	/* Its own port: sharing within one frontend is allowed. */
	tc_close_fd(tc, hfd);
	judge(tc, "BIND the freed port", do_bind(fe, 1, ntohs(a.sin_port)), 0, 0);
	judge(tc, "LISTEN", do_listen(fe, 1, 4), 0, 0);
	judge(tc, "SOCKET 2", do_socket(fe, 2), 0, 0);
	judge(tc, "SETSOCKOPT SO_REUSEPORT 1 (2)",
	      x_setopt(fe, 2, PVCALLS_EXT_OPT_SO_REUSEPORT, 4, 1, 0), 0, 0);
	judge(tc, "BIND a port this frontend shares", do_bind(fe, 2, ntohs(a.sin_port)), 0, 0);
}

/* Hostile: numbers that never travel, unassigned ones, an ACCEPTING id. */
static void ext_hostile(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURES_IMPLEMENTED);
	/* DGRAM_RINGS: cases_dgram.c (in force here, -524 when not). */
	static const uint32_t unknown[] = { PVCALLS_EXT_SENDTO, 0x6c700000u, 0x6c700008u,
					    0x6c70ffffu };
	struct pvcalls_wire_request acc;
	uint16_t port;
	uint32_t val;
	struct as *a;
	char what[64];

	if (!fe)
		return;
	for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct pvcalls_ext_request r;

		rq_x(&r, unknown[i], 1);
		snprintf(what, sizeof(what), "cmd %#x", unknown[i]);
		judge(tc, what, xcall(fe, &r, NULL), W_ENOTSUPP, W_ENOTSUPP);
	}
	if (open_listener(fe, 1, &port) < 0 || !(a = as_new(fe, 2, 0)))
		return;
	rq_accept(&acc, 1, 2, a->ref, a->port);
	if (fe_send(fe, &acc) < 0)
		return;
	judge(tc, "GETSOCKNAME ACCEPTING", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 2, 0, &val),
	      W_EBADF, W_EBADF);
	judge(tc, "GETPEERNAME ACCEPTING", x_getname(fe, PVCALLS_EXT_GETPEERNAME, 2, 0, &val),
	      W_EBADF, W_EBADF);
	judge(tc, "SETSOCKOPT ACCEPTING", x_setopt(fe, 2, PVCALLS_EXT_OPT_TCP_NODELAY, 4, 1, 0),
	      W_EBADF, W_EBADF);
	judge(tc, "GETSOCKOPT ACCEPTING", x_getopt(fe, 2, PVCALLS_EXT_OPT_TCP_NODELAY, 0, &val),
	      W_EBADF, W_EBADF);
	judge(tc, "GETSOCKNAME LISTENING", x_getname(fe, PVCALLS_EXT_GETSOCKNAME, 1, 0, &val), 0,
	      0);
	/* The listener still works afterwards. */
	{
		int c = peer_connect(tc, port, T_MS(2000));

		if (c >= 0)
			tc_fd(tc, c);
		judge(tc, "ACCEPT", fe_result(fe, &acc, T_RSP), 0, 0);
	}
}

const struct case_def cases_ext[] = {
	{ "ext.v1_unknown", ext_v1_unknown },
	{ "ext.offer_keys", ext_offer_keys },
	{ "ext.independent", ext_independent },
	{ "ext.shutdown_wr", shutdown_wr },
	{ "ext.shutdown_rd", shutdown_rd },
	{ "ext.shutdown_errors", shutdown_errors },
	{ "ext.shutdown_listener", shutdown_listener },
	{ "ext.names", names },
	{ "ext.names_errors", names_errors },
	{ "ext.sockopt", sockopt },
	{ "ext.sockopt_errors", sockopt_errors },
	{ "ext.sockopt_reuseport", sockopt_reuseport },
	{ "ext.hostile", ext_hostile },
	{ NULL, NULL },
};
