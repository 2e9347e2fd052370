/* SPDX-License-Identifier: MIT */
/*
 * SOCKET, CONNECT, BIND and LISTEN: success and error paths. Every
 * connection goes to a peer of ours on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

/* ------------------------------------------------------------------ */
/* SOCKET                                                               */

static int32_t socket_call(struct fe *fe, uint64_t id, uint32_t d, uint32_t t, uint32_t p)
{
	struct pvcalls_wire_request r;

	rq_socket(&r, id, d, t, p);
	return fe_call(fe, &r, T_RSP);
}

static void socket_ok(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (fe)
		judge(tc, "SOCKET AF_INET SOCK_STREAM 0", socket_call(fe, 1, 2, 1, 0), 0, 0);
}

/* The spec: only AF_INET/SOCK_STREAM/0, others ENOTSUP (-524 in its table). */
static void socket_bad_domain(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	judge(tc, "SOCKET AF_INET6", socket_call(fe, 1, 10, 1, 0), W_EAFNOSUPPORT, W_ENOTSUPP);
	judge(tc, "SOCKET AF_UNIX", socket_call(fe, 2, 1, 1, 0), W_EAFNOSUPPORT, W_ENOTSUPP);
	judge(tc, "SOCKET domain 0xffffffff", socket_call(fe, 3, 0xffffffffu, 1, 0), W_EAFNOSUPPORT,
	      W_ENOTSUPP);
}

static void socket_bad_type(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	judge(tc, "SOCKET SOCK_DGRAM", socket_call(fe, 1, 2, 2, 0), W_EAFNOSUPPORT, W_ENOTSUPP);
	judge(tc, "SOCKET SOCK_RAW", socket_call(fe, 2, 2, 3, 0), W_EAFNOSUPPORT, W_ENOTSUPP);
	/* SOCK_NONBLOCK is a local matter and must not reach the wire. */
	judge(tc, "SOCKET SOCK_STREAM|SOCK_NONBLOCK", socket_call(fe, 3, 2, 1 | 04000, 0),
	      W_EAFNOSUPPORT, W_ENOTSUPP);
}

static void socket_bad_protocol(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	judge(tc, "SOCKET protocol 17", socket_call(fe, 1, 2, 1, 17), W_EAFNOSUPPORT, W_ENOTSUPP);
	judge(tc, "SOCKET protocol 6", socket_call(fe, 2, 2, 1, 6), W_EAFNOSUPPORT, W_ENOTSUPP);
	/* Linux's backend also takes 2 (AF_INET as a protocol); so do we. */
	judge(tc, "SOCKET protocol 2", socket_call(fe, 3, 2, 1, 2), 0, W_ENOTSUPP);
}

static void socket_duplicate(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe || !judge(tc, "first SOCKET", do_socket(fe, 9), 0, 0))
		return;
	judge(tc, "SOCKET with a live id", do_socket(fe, 9), tc->p->dup_socket, X_UNSPEC);
	judge(tc, "SOCKET with a fresh id", do_socket(fe, 10), 0, 0);
}

/* ------------------------------------------------------------------ */
/* CONNECT                                                              */

static void connect_ok_data(struct tc *tc)
{
	struct xfer x = {
		.to_peer = 3 * 4096 + 123, .to_fe = 3 * 4096 + 77, .seed_out = 11, .seed_in = 12
	};
	struct fe *fe = fe_open(tc);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	REQUIRE(tc,
		getpeername(peerfd, (struct sockaddr *)&sa, &len) == 0 &&
			sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
		"the peer's connection does not come from 127.0.0.1");
	pump(s, peerfd, &x, T_MS(5000));
}

/* One CONNECT per ring order; above max-page-order it must fail. */
static void connect_order(struct tc *tc, unsigned order)
{
	uint32_t size = PVCALLS_WIRE_DATA_RING_SIZE(order);
	struct xfer x = { .to_peer = size + size / 2 + 7,
			  .to_fe = size + size / 2 + 3,
			  .seed_out = 20 + order,
			  .seed_in = 40 + order };
	bool ok = order <= tc->p->max_order && (order > 0 || tc->p->order0);
	struct fe *fe = fe_open(tc);
	struct as *s;
	uint16_t port;
	char what[48];
	int lfd, peerfd;

	if (!fe)
		return;
	if (ok) {
		s = open_active(fe, 1, order, &peerfd);
		if (s)
			pump(s, peerfd, &x, T_MS(10000));
		return;
	}
	lfd = peer_listen(tc, 4, &port);
	s = as_new(fe, 1, order);
	if (lfd < 0 || !s || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	snprintf(what, sizeof(what), "CONNECT with ring_order %u", order);
	if (crash_guard(tc, what, why_map_fail))
		return;
	judge(tc, what, do_connect(fe, s, port), tc->p->bad_order,
	      order == 0 ? X_UNSPEC : X_ANYERR);
}

#define ORDER_CASE(n)                               \
	static void connect_order##n(struct tc *tc) \
	{                                           \
		connect_order(tc, n);               \
	}
ORDER_CASE(0)
ORDER_CASE(1)
ORDER_CASE(2)
ORDER_CASE(3)
ORDER_CASE(4)
ORDER_CASE(5)
ORDER_CASE(6)
ORDER_CASE(7)
ORDER_CASE(8)
ORDER_CASE(9)

/*
 * Peer closes after sending more than the ring holds: every byte arrives,
 * and only then in_error = -ENOTCONN (spec: orderly shutdown).
 */
static void connect_eof(struct tc *tc)
{
	struct xfer x = { .to_fe = 10000, .seed_in = 13 };
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;
	int32_t err;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	if (peer_send_all(tc, peerfd, x.seed_in, 0, x.to_fe, T_RSP) < 0)
		return;
	x.sent_peer = x.to_fe;
	tc_close_fd(tc, peerfd);
	fe_events(fe, 200); /* the backend sees EOF with data still queued */
	err = drain_to_error(s, &x, 1000, T_RSP * 2);
	if (tc_done(tc) || (!err && close_unreported(s, &x, false)))
		return;
	REQUIRE(tc, x.got_fe == x.to_fe, "in_error %d after only %llu of %llu bytes", err,
		(unsigned long long)x.got_fe, (unsigned long long)x.to_fe);
	judge(tc, "in_error after the peer closed", err, W_ENOTCONN, W_ENOTCONN);
	/* The error stays; no more data shows up. */
	fe_events(fe, 50);
	REQUIRE(tc,
		pvcalls_data_rx_queued(&s->ring) == 0 &&
			pvcalls_data_rx_error(&s->ring) == W_ENOTCONN,
		"in ring changed after EOF");
}

/* Peer resets: in_error reports it; later writes get out_error. */
static void connect_reset(struct tc *tc)
{
	struct xfer x = { .to_peer = 100, .to_fe = 100, .seed_out = 14, .seed_in = 15 };
	struct fe *fe = fe_open(tc);
	struct as *s;
	uint64_t pos = 0;
	int64_t deadline;
	int peerfd;
	int32_t err;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	if (pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;
	peer_reset(tc, peerfd);
	err = drain_to_error(s, &x, SIZE_MAX, T_RSP);
	if (tc_done(tc) || (!err && close_unreported(s, &x, true)))
		return;
	if (!judge(tc, "in_error after a reset", err ? err : X_NONE, W_ECONNRESET, X_ANYERR))
		return;
	if (!tc->p->writes_after_in_error)
		return;
	if (fe_write_all(s, 16, &pos, 100, T_RSP) < 0) {
		if (!tc_done(tc))
			tc_fail(tc, "out ring did not drain after the reset");
		return;
	}
	deadline = pvc_now_ms() + T_RSP;
	while (!(err = pvcalls_data_tx_error(&s->ring)) && pvc_now_ms() < deadline)
		fe_events(fe, 10);
	if (!err && wedge_check(s, NULL))
		return;
	judge(tc, "out_error after writing to a reset connection", err ? err : X_NONE, X_ANYERR,
	      X_ANYERR);
}

/* The peer talks first, before the CONNECT response reaches us: kept. */
static void connect_server_first(struct tc *tc)
{
	struct xfer x = { .to_fe = 500, .seed_in = 21 };
	struct xfer y = { .to_peer = 5000, .to_fe = 5000, .seed_out = 22, .seed_in = 23 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int lfd, c;

	if (!fe || (lfd = peer_listen(tc, 4, &port)) < 0 || !(s = as_new(fe, 1, 1)) ||
	    do_socket(fe, 1) != 0)
		return;
	rq_connect(&r, 1, port, s->ref, s->port);
	if (fe_send(fe, &r) < 0)
		return;
	c = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, c >= 0, "no connection reached the peer");
	if (peer_send_all(tc, c, x.seed_in, 0, x.to_fe, T_RSP) < 0)
		return;
	x.sent_peer = x.to_fe;
	if (!judge(tc, "CONNECT", fe_result(fe, &r, T_RSP), 0, 0))
		return;
	if (pump(s, c, &x, T_MS(5000)) < 0)
		return;
	pump(s, c, &y, T_MS(5000));
}

static void connect_refused(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;

	if (!fe || !(s = as_new(fe, 1, 1)) || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	judge(tc, "CONNECT to a closed port", do_connect(fe, s, free_port()), W_ECONNREFUSED,
	      W_ECONNREFUSED);
	/* The id is still usable afterwards. */
	judge(tc, "SOCKET after the refusal", do_socket(fe, 2), 0, 0);
}

static int32_t connect_raw(struct fe *fe, struct as *s, uint16_t port, uint16_t family,
			   uint32_t len)
{
	struct pvcalls_wire_request r;

	rq_connect(&r, s->id, port, s->ref, s->port);
	put_addr(r.u.connect.addr, family, port, 0x7f000001u);
	r.u.connect.len = len;
	return fe_call(fe, &r, T_RSP);
}

static void connect_bad_len(struct tc *tc)
{
	static const uint32_t lens[] = { 0, 1, 8, 15, 29, 64, 0xffffffffu };
	struct fe *fe = fe_open(tc);
	uint16_t port;
	char what[48];
	struct as *s;

	if (!fe || peer_listen(tc, 16, &port) < 0)
		return;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		if (!(s = as_new(fe, 10 + i, 1)) || do_socket(fe, s->id) != 0)
			return;
		snprintf(what, sizeof(what), "CONNECT with len %u", lens[i]);
		judge(tc, what, connect_raw(fe, s, port, 2, lens[i]), W_EINVAL, W_EINVAL);
	}
	/* 28 is the whole field: fine. */
	if (!(s = as_new(fe, 1, 1)) || do_socket(fe, 1) != 0)
		return;
	judge(tc, "CONNECT with len 28", connect_raw(fe, s, port, 2, 28), 0, 0);
}

static void connect_bad_family(struct tc *tc)
{
	static const uint16_t fams[] = { 10, 1, 0 };
	struct fe *fe = fe_open(tc);
	uint16_t port;
	char what[48];
	struct as *s;

	if (!fe || peer_listen(tc, 16, &port) < 0)
		return;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		if (!(s = as_new(fe, 10 + i, 1)) || do_socket(fe, s->id) != 0)
			return;
		snprintf(what, sizeof(what), "CONNECT with family %u", fams[i]);
		judge(tc, what, connect_raw(fe, s, port, fams[i], 16), tc->p->connect_bad_family,
		      W_EAFNOSUPPORT);
	}
}

/*
 * Bad shared memory in CONNECT: an error response, no TCP connection left
 * behind, and the backend keeps serving.
 */
enum { BAD_REF, BAD_DATA_REF, BAD_EVTCHN, BAD_EVTCHN_BUSY, BAD_ORDER, BAD_ORDER_HUGE };

static void connect_bad_shared(struct tc *tc, int kind)
{
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 17, .seed_in = 18 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	uint32_t dead_ref, dead_port;
	static const char *const what[] = {
		[BAD_REF] = "CONNECT with an indexes ref that is no longer granted",
		[BAD_DATA_REF] = "CONNECT with a data ref that is no longer granted",
		[BAD_EVTCHN] = "CONNECT with a closed port",
		[BAD_EVTCHN_BUSY] = "CONNECT with the command ring's port (bound already)",
		[BAD_ORDER] = "CONNECT with ring_order max-page-order + 1",
		[BAD_ORDER_HUGE] = "CONNECT with ring_order 0xffffffff",
	};
	struct as *s, *good;
	int32_t exp = tc->p->map_fail;
	uint16_t port;
	int lfd, fd, peerfd;

	if (!fe || (lfd = peer_listen(tc, 8, &port)) < 0)
		return;
	if (!(s = as_new(fe, 1, 1)) || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	if (!(dead_ref = fe_dead_ref(fe)) || !(dead_port = fe_dead_port(fe)))
		return;

	rq_connect(&r, 1, port, s->ref, s->port);
	switch (kind) {
	case BAD_REF:
		r.u.connect.ref = dead_ref;
		break;
	case BAD_DATA_REF:
		WR(s->intf->ref[1], dead_ref);
		break;
	case BAD_EVTCHN:
		r.u.connect.evtchn = dead_port;
		break;
	case BAD_EVTCHN_BUSY:
		/* The command ring's port: bound by the backend already. */
		r.u.connect.evtchn = fe->port;
		break;
	case BAD_ORDER:
		WR(s->intf->ring_order, tc->p->max_order + 1);
		exp = tc->p->bad_order;
		break;
	case BAD_ORDER_HUGE:
		WR(s->intf->ring_order, 0xffffffffu);
		exp = tc->p->bad_order;
		break;
	}
	/*
	 * Every kind fails the mapping, BAD_EVTCHN_BUSY too: Xen binds an
	 * interdomain port only while the remote end is unbound.
	 */
	if (crash_guard(tc, what[kind], why_map_fail))
		return;
	if (!judge(tc, "CONNECT", fe_call(fe, &r, T_RSP), exp, X_ANYERR))
		return;
	/* Whatever reached the peer must be closed again. */
	fd = peer_accept(tc, lfd, T_MS(200));
	if (fd >= 0)
		REQUIRE(tc, peer_wait_eof(fd, T_RSP),
			"the failed CONNECT left its TCP connection open");

	/* The backend keeps serving this frontend. */
	if (!(good = as_new(fe, 2, 1)) || !judge(tc, "SOCKET", do_socket(fe, 2), 0, 0) ||
	    !judge(tc, "CONNECT after the failure", do_connect(fe, good, port), 0, 0))
		return;
	peerfd = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, peerfd >= 0, "no connection reached the peer");
	pump(good, peerfd, &x, T_MS(5000));
}

static void connect_bad_ref(struct tc *tc)
{
	connect_bad_shared(tc, BAD_REF);
}

static void connect_bad_data_ref(struct tc *tc)
{
	connect_bad_shared(tc, BAD_DATA_REF);
}

static void connect_bad_evtchn(struct tc *tc)
{
	connect_bad_shared(tc, BAD_EVTCHN);
}

static void connect_evtchn_busy(struct tc *tc)
{
	connect_bad_shared(tc, BAD_EVTCHN_BUSY);
}

static void connect_order_too_big(struct tc *tc)
{
	connect_bad_shared(tc, BAD_ORDER);
}

static void connect_order_huge(struct tc *tc)
{
	connect_bad_shared(tc, BAD_ORDER_HUGE);
}

/*
 * A CONNECT that cannot complete yet must not hold up the ring (ours);
 * Linux's backend blocks the whole command ring until it completes.
 */
static void connect_pending_async(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request rc, rs, rb;
	struct as *s;
	uint16_t port;
	int queued, lfd;
	int32_t ret;
	char b[32];

	if (!fe || (lfd = full_listener(tc, &port, &queued)) < 0)
		return;
	if (!(s = as_new(fe, 1, 1)) || do_socket(fe, 1) != 0)
		return;
	rq_connect(&rc, 1, port, s->ref, s->port);
	if (fe_send(fe, &rc) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &rc, T_QUIET) == X_NONE,
		"CONNECT to a full accept queue completed at once; cannot test");

	rq_socket(&rs, 2, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM, 0);
	rq_bind(&rb, 2, free_port());
	fe_send(fe, &rs);
	fe_send(fe, &rb);
	ret = fe_result(fe, &rs, T_QUIET * 2);
	if (tc->p->connect_async) {
		REQUIRE(tc, ret == 0, "SOCKET behind a pending CONNECT: %s", xstr(ret, b));
		ret = fe_result(fe, &rb, T_RSP);
		REQUIRE(tc, ret == 0, "BIND behind a pending CONNECT: %s", xstr(ret, b));
		REQUIRE(tc, fe_result(fe, &rc, 0) == X_NONE, "CONNECT answered too early");
	} else {
		REQUIRE(tc, ret == X_NONE,
			"SOCKET answered during a pending CONNECT; "
			"the %s profile expects the ring to block",
			tc->p->name);
	}
	drain_listener(tc, lfd);
	ret = fe_result(fe, &rc, T_MS(5000));
	REQUIRE(tc, ret == 0, "pending CONNECT finally returned %s", xstr(ret, b));
	if (!tc->p->connect_async) {
		REQUIRE(tc, fe_result(fe, &rs, T_RSP) == 0, "SOCKET after the CONNECT failed");
		REQUIRE(tc, fe_result(fe, &rb, T_RSP) == 0, "BIND after the CONNECT failed");
	}
}

/* RELEASE while CONNECT is pending: both requests are answered. */
static void connect_release_pending(struct tc *tc)
{
	struct pvcalls_wire_request rc, rr;
	struct fe *fe;
	struct as *s;
	uint16_t port;
	int queued, lfd;

	if (!tc->p->connect_async) {
		tc_skip(tc, "the %s profile blocks the ring during CONNECT", tc->p->name);
		return;
	}
	if (!(fe = fe_open(tc)) || (lfd = full_listener(tc, &port, &queued)) < 0)
		return;
	if (!(s = as_new(fe, 1, 1)) || do_socket(fe, 1) != 0)
		return;
	rq_connect(&rc, 1, port, s->ref, s->port);
	if (fe_send(fe, &rc) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &rc, T_QUIET) == X_NONE,
		"CONNECT to a full accept queue completed at once; cannot test");
	rq_release(&rr, 1);
	fe_send(fe, &rr);
	judge(tc, "RELEASE of a connecting socket", fe_result(fe, &rr, T_RSP), 0, 0);
	judge(tc, "the pending CONNECT after RELEASE", fe_result(fe, &rc, T_RSP),
	      tc->p->release_connecting, X_UNSPEC);
	/* No connection from the released socket shows up later. */
	drain_listener(tc, lfd);
	tc_close_fd(tc, queued);
	fe_events(fe, 1500);
	for (int fd; (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
		tc_fd(tc, fd);
		REQUIRE(tc, peer_wait_eof(fd, T_MS(500)),
			"the released socket connected later and stayed open");
	}
}

static void connect_without_socket(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint16_t port;
	struct as *s;
	int lfd;

	if (!fe || (lfd = peer_listen(tc, 4, &port)) < 0 || !(s = as_new(fe, 77, 1)))
		return;
	judge(tc, "CONNECT on an id no SOCKET created", do_connect(fe, s, port),
	      tc->p->connect_no_socket, X_ANYERR);
}

static void connect_duplicate(struct tc *tc)
{
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 19, .seed_in = 20 };
	struct fe *fe = fe_open(tc);
	struct as *s, *dup;
	uint16_t port;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || peer_listen(tc, 4, &port) < 0)
		return;
	if (!(dup = as_new(fe, 1, 1)))
		return;
	judge(tc, "CONNECT with the id of an active socket", do_connect(fe, dup, port),
	      tc->p->dup_connect, X_UNSPEC);
	/* The first socket is unaffected. */
	pump(s, peerfd, &x, T_MS(5000));
}

/* ------------------------------------------------------------------ */
/* BIND and LISTEN                                                      */

static int32_t bind_raw(struct fe *fe, uint64_t id, uint16_t port, uint16_t family, uint32_t len)
{
	struct pvcalls_wire_request r;

	rq_bind(&r, id, port);
	put_addr(r.u.bind.addr, family, port, 0x7f000001u);
	r.u.bind.len = len;
	return fe_call(fe, &r, T_RSP);
}

static void bind_ok(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint16_t port = free_port();
	int fd;

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0) ||
	    !judge(tc, "BIND 127.0.0.1", do_bind(fe, 1, port), 0, 0))
		return;
	/* The port is really taken on the host now. */
	fd = tc_fd(tc, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(tc, bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE,
		"BIND answered 0 but port %u is still free on the host", port);
}

static void bind_in_use(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint16_t port;

	if (!fe || peer_listen(tc, 4, &port) < 0 || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0))
		return;
	judge(tc, "BIND to a port in use", do_bind(fe, 1, port), W_EADDRINUSE, W_EADDRINUSE);
	judge(tc, "BIND of the same id elsewhere", do_bind(fe, 1, free_port()), 0, 0);
}

static void bind_bad_len(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	for (int i = 1; i <= 4; i++)
		if (do_socket(fe, (uint64_t)i) != 0)
			return;
	judge(tc, "BIND with len 0", bind_raw(fe, 1, free_port(), 2, 0), W_EINVAL, W_EINVAL);
	judge(tc, "BIND with len 8", bind_raw(fe, 2, free_port(), 2, 8), W_EINVAL, W_EINVAL);
	judge(tc, "BIND with len 29", bind_raw(fe, 3, free_port(), 2, 29), tc->p->bind_len_long,
	      W_EINVAL);
	judge(tc, "BIND with len 28", bind_raw(fe, 4, free_port(), 2, 28), 0, 0);
}

static void bind_bad_family(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe || do_socket(fe, 1) != 0 || do_socket(fe, 2) != 0)
		return;
	judge(tc, "BIND with family 10", bind_raw(fe, 1, free_port(), 10, 16), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
	judge(tc, "BIND with family 1", bind_raw(fe, 2, free_port(), 1, 16), W_EAFNOSUPPORT,
	      W_EAFNOSUPPORT);
}

static void bind_duplicate(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe || !judge(tc, "SOCKET", do_socket(fe, 1), 0, 0) ||
	    !judge(tc, "BIND", do_bind(fe, 1, free_port()), 0, 0))
		return;
	judge(tc, "BIND of a bound id", do_bind(fe, 1, free_port()), tc->p->dup_bind, X_UNSPEC);
}

static void bind_without_socket(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (fe)
		judge(tc, "BIND on an id no SOCKET created", do_bind(fe, 5, free_port()),
		      tc->p->bind_no_socket, X_ANYERR);
}

static void bind_active_id(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	judge(tc, "BIND with the id of an active socket", do_bind(fe, 1, free_port()),
	      tc->p->dup_bind_active, X_UNSPEC);
}

static void listen_ok(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint16_t port;

	if (!fe || open_listener(fe, 1, &port) < 0)
		return;
	REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "LISTEN answered 0 but connects fail");
}

static void listen_unknown(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (fe)
		judge(tc, "LISTEN on an unknown id", do_listen(fe, 42, 8), W_EINVAL, X_ANYERR);
}

static void listen_not_bound(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe || do_socket(fe, 1) != 0)
		return;
	/* POSIX allows an error here (EDESTADDRREQ); both backends refuse. */
	judge(tc, "LISTEN on an unbound socket", do_listen(fe, 1, 8), W_EINVAL, X_UNSPEC);
}

static void listen_active_id(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	judge(tc, "LISTEN on an active socket", do_listen(fe, 1, 8), tc->p->listen_active,
	      X_ANYERR);
}

const struct case_def cases_socket[] = {
	{ "socket.ok", socket_ok },
	{ "socket.bad_domain", socket_bad_domain },
	{ "socket.bad_type", socket_bad_type },
	{ "socket.bad_protocol", socket_bad_protocol },
	{ "socket.duplicate_id", socket_duplicate },
	{ "connect.ok_data", connect_ok_data },
	{ "connect.order0", connect_order0 },
	{ "connect.order1", connect_order1 },
	{ "connect.order2", connect_order2 },
	{ "connect.order3", connect_order3 },
	{ "connect.order4", connect_order4 },
	{ "connect.order5", connect_order5 },
	{ "connect.order6", connect_order6 },
	{ "connect.order7", connect_order7 },
	{ "connect.order8", connect_order8 },
	{ "connect.order9", connect_order9 },
	{ "connect.order_too_big", connect_order_too_big },
	{ "connect.order_huge", connect_order_huge },
	{ "connect.server_first", connect_server_first },
	{ "connect.eof", connect_eof },
	{ "connect.reset", connect_reset },
	{ "connect.refused", connect_refused },
	{ "connect.bad_len", connect_bad_len },
	{ "connect.bad_family", connect_bad_family },
	{ "connect.bad_ref", connect_bad_ref },
	{ "connect.bad_data_ref", connect_bad_data_ref },
	{ "connect.bad_evtchn", connect_bad_evtchn },
	{ "connect.evtchn_in_use", connect_evtchn_busy },
	{ "connect.pending_async", connect_pending_async },
	{ "connect.release_pending", connect_release_pending },
	{ "connect.without_socket", connect_without_socket },
	{ "connect.duplicate_id", connect_duplicate },
	{ "bind.ok", bind_ok },
	{ "bind.eaddrinuse", bind_in_use },
	{ "bind.bad_len", bind_bad_len },
	{ "bind.bad_family", bind_bad_family },
	{ "bind.duplicate_id", bind_duplicate },
	{ "bind.without_socket", bind_without_socket },
	{ "bind.active_id", bind_active_id },
	{ "listen.ok", listen_ok },
	{ "listen.unknown_id", listen_unknown },
	{ "listen.not_bound", listen_not_bound },
	{ "listen.active_id", listen_active_id },
	{ NULL, NULL },
};
