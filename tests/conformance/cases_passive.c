/* SPDX-License-Identifier: MIT */
/*
 * Passive sockets and RELEASE: deferred ACCEPT and POLL, several pending
 * at once, failures while accepting, and RELEASE of every kind of socket
 * (including one with requests still pending).
 */
#include <string.h>

#include "conformance.h"

static int send_accept(struct fe *fe, struct pvcalls_wire_request *r, uint64_t lid, struct as *s)
{
	rq_accept(r, lid, s->id, s->ref, s->port);
	return fe_send(fe, r);
}

static int send_poll(struct fe *fe, struct pvcalls_wire_request *r, uint64_t lid)
{
	rq_poll(r, lid);
	return fe_send(fe, r);
}

/* How long to wait for an expectation: a quiet window for "no response". */
static int wait_for(int32_t exp)
{
	return exp == X_NONE ? T_QUIET * 2 : T_RSP;
}

static void accept_deferred(struct tc *tc)
{
	struct xfer x = { .to_peer = 20000, .to_fe = 20000, .seed_out = 31, .seed_in = 32 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int c;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 2)))
		return;
	if (send_accept(fe, &r, 1, s) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &r, T_QUIET) == X_NONE,
		"ACCEPT answered before any connection (the spec forbids EAGAIN answers)");
	c = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c >= 0, "cannot connect to the listener");
	if (!judge(tc, "deferred ACCEPT", fe_result(fe, &r, T_RSP), 0, 0))
		return;
	pump(s, c, &x, T_MS(5000));
}

static void accept_queued(struct tc *tc)
{
	struct xfer x = { .to_peer = 5000, .to_fe = 5000, .seed_out = 33, .seed_in = 34 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int c;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 1)))
		return;
	c = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c >= 0, "cannot connect to the listener");
	fe_events(fe, 50);
	if (send_accept(fe, &r, 1, s) < 0)
		return;
	if (!judge(tc, "ACCEPT with a connection queued", fe_result(fe, &r, T_RSP), 0, 0))
		return;
	pump(s, c, &x, T_MS(5000));
}

/* The client sends and closes before ACCEPT: nothing is lost. */
static void accept_data_first(struct tc *tc)
{
	struct xfer x = { .to_fe = 3000, .seed_in = 49 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int32_t err;
	int c;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 1)))
		return;
	c = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c >= 0, "cannot connect to the listener");
	if (peer_send_all(tc, c, x.seed_in, 0, x.to_fe, T_RSP) < 0)
		return;
	x.sent_peer = x.to_fe;
	tc_close_fd(tc, c);
	fe_events(fe, 100);
	if (send_accept(fe, &r, 1, s) < 0 ||
	    !judge(tc, "ACCEPT of a closed connection", fe_result(fe, &r, T_RSP), 0, 0))
		return;
	err = drain_to_error(s, &x, SIZE_MAX, T_RSP);
	if (tc_done(tc) || (!err && close_unreported(s, &x, false)))
		return;
	REQUIRE(tc, x.got_fe == x.to_fe, "received %llu of %llu bytes (in_error %d)",
		(unsigned long long)x.got_fe, (unsigned long long)x.to_fe, err);
	judge(tc, "in_error after the data", err ? err : X_NONE, W_ENOTCONN, W_ENOTCONN);
}

static void accept_unknown(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;

	if (!fe || !(s = as_new(fe, 2, 1)) || send_accept(fe, &r, 42, s) < 0)
		return;
	judge(tc, "ACCEPT on an unknown id", fe_result(fe, &r, T_RSP), W_EINVAL, X_ANYERR);
}

static void accept_not_listening(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;

	if (!fe || do_socket(fe, 1) != 0 || do_bind(fe, 1, free_port()) != 0 ||
	    !(s = as_new(fe, 2, 1)))
		return;
	if (crash_guard(tc, "ACCEPT before LISTEN",
			"inet_accept() fails (-EINVAL) and __pvcalls_back_accept() still calls "
			"pvcalls_new_active_socket(), which dereferences the new socket's NULL "
			"sk (docs/protocol-notes.md, \"Commands\" (ACCEPT) and \"Hostile "
			"frontend\"; in the 6.1.192 source)"))
		return;
	if (send_accept(fe, &r, 1, s) < 0)
		return;
	judge(tc, "ACCEPT before LISTEN", fe_result(fe, &r, wait_for(tc->p->accept_not_listening)),
	      tc->p->accept_not_listening, X_ANYERR);
	judge(tc, "SOCKET afterwards", do_socket(fe, 3), 0, 0);
}

/*
 * Bad shared memory for the accepted socket: ACCEPT fails (before or
 * after taking a connection), and the listener keeps working.
 */
static void accept_bad_shared(struct tc *tc, bool bad_order)
{
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 35, .seed_in = 36 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r, r2;
	struct as *s, *good;
	uint32_t dead_ref;
	uint16_t port;
	int c1, c;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 1)))
		return;
	if (!(dead_ref = fe_dead_ref(fe)))
		return;
	rq_accept(&r, 1, 2, s->ref, s->port);
	if (bad_order)
		WR(s->intf->ring_order, tc->p->max_order + 1);
	else
		r.u.accept.ref = dead_ref;
	/* Fails in __pvcalls_back_accept() once a connection comes. */
	if (crash_guard(tc,
			bad_order ? "ACCEPT with ring_order max-page-order + 1"
				  : "ACCEPT with an indexes ref that is no longer granted",
			why_map_fail))
		return;
	if (fe_send(fe, &r) < 0)
		return;
	c1 = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c1 >= 0, "cannot connect to the listener");
	if (!judge(tc, bad_order ? "ACCEPT with ring_order above max" : "ACCEPT with a bad ref",
		   fe_result(fe, &r, T_RSP), bad_order ? tc->p->bad_order : tc->p->map_fail,
		   X_ANYERR))
		return;

	/* The connection was either left queued or closed; both are fine. */
	if (!(good = as_new(fe, 3, 1)) || send_accept(fe, &r2, 1, good) < 0)
		return;
	c = c1;
	if (peer_wait_eof(c1, T_MS(200))) {
		c = peer_connect(tc, port, T_MS(1000));
		REQUIRE(tc, c >= 0, "cannot connect to the listener again");
	}
	if (!judge(tc, "ACCEPT after the failure", fe_result(fe, &r2, T_RSP), 0, 0))
		return;
	pump(good, c, &x, T_MS(5000));
}

static void accept_bad_ref(struct tc *tc)
{
	accept_bad_shared(tc, false);
}

static void accept_order_too_big(struct tc *tc)
{
	accept_bad_shared(tc, true);
}

/* Two ACCEPTs pending on one listener. */
static void accept_two_pending(struct tc *tc)
{
	struct xfer x1 = { .to_peer = 3000, .to_fe = 3000, .seed_out = 37, .seed_in = 38 };
	struct xfer x2 = { .to_peer = 3000, .to_fe = 3000, .seed_out = 39, .seed_in = 40 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r1, r2;
	struct as *s1, *s2, *first;
	uint16_t port;
	int32_t a, b;
	int c1, c2;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s1 = as_new(fe, 2, 1)) ||
	    !(s2 = as_new(fe, 3, 1)))
		return;
	if (send_accept(fe, &r1, 1, s1) < 0 || send_accept(fe, &r2, 1, s2) < 0)
		return;
	if (!tc->p->accept_poll_both) {
		judge(tc, "second pending ACCEPT", fe_result(fe, &r2, T_RSP), tc->p->second_pending,
		      X_UNSPEC);
		c1 = peer_connect(tc, port, T_MS(1000));
		if (c1 >= 0 && judge(tc, "first ACCEPT", fe_result(fe, &r1, T_RSP), 0, 0))
			pump(s1, c1, &x1, T_MS(5000));
		return;
	}
	REQUIRE(tc, fe_result(fe, &r1, T_QUIET) == X_NONE && fe_result(fe, &r2, 0) == X_NONE,
		"an ACCEPT was answered before any connection");
	c1 = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c1 >= 0, "cannot connect");
	/* One of the two takes it (FIFO expected, not required). */
	a = fe_result(fe, &r1, T_RSP);
	if (a == X_NONE) {
		b = fe_result(fe, &r2, 0);
		REQUIRE(tc, b == 0, "no ACCEPT answered after a connection");
		tc_log(tc, "second ACCEPT answered first");
		first = s2;
	} else {
		REQUIRE(tc, a == 0, "first ACCEPT returned %d", a);
		REQUIRE(tc, fe_result(fe, &r2, T_QUIET) == X_NONE,
			"both ACCEPTs answered for one connection");
		first = s1;
	}
	if (pump(first, c1, &x1, T_MS(5000)) < 0)
		return;
	c2 = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c2 >= 0, "cannot connect");
	b = fe_result(fe, first == s1 ? &r2 : &r1, T_RSP);
	REQUIRE(tc, b == 0, "the other ACCEPT returned %d after a second connection", b);
	pump(first == s1 ? s2 : s1, c2, &x2, T_MS(5000));
}

/* ACCEPT and POLL pending together, in either order. */
static void accept_and_poll(struct tc *tc, bool accept_first)
{
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 41, .seed_in = 42 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request ra, rp;
	struct as *s;
	uint16_t port;
	int32_t ret;
	int c;

	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 1)))
		return;
	if (accept_first) {
		if (send_accept(fe, &ra, 1, s) < 0 || send_poll(fe, &rp, 1) < 0)
			return;
	} else {
		if (send_poll(fe, &rp, 1) < 0 || send_accept(fe, &ra, 1, s) < 0)
			return;
	}
	if (!tc->p->accept_poll_both) {
		struct pvcalls_wire_request *second = accept_first ? &rp : &ra;
		struct pvcalls_wire_request *first = accept_first ? &ra : &rp;

		judge(tc,
		      accept_first ? "POLL behind a pending ACCEPT"
				   : "ACCEPT behind a pending POLL",
		      fe_result(fe, second, T_RSP), tc->p->second_pending, X_UNSPEC);
		c = peer_connect(tc, port, T_MS(1000));
		REQUIRE(tc, c >= 0, "cannot connect");
		judge(tc, "the first request", fe_result(fe, first, T_RSP), 0, 0);
		return;
	}
	REQUIRE(tc, fe_result(fe, &ra, T_QUIET) == X_NONE && fe_result(fe, &rp, 0) == X_NONE,
		"answered before any connection");
	c = peer_connect(tc, port, T_MS(1000));
	REQUIRE(tc, c >= 0, "cannot connect");
	if (!judge(tc, "ACCEPT", fe_result(fe, &ra, T_RSP), 0, 0) || pump(s, c, &x, T_MS(5000)) < 0)
		return;
	/*
	 * POLL reports a queued connection. The one ACCEPT took may or may not
	 * have woken it (poll(2) and accept(2) race the same way); the next
	 * connection, with no ACCEPT pending, must.
	 */
	ret = fe_result(fe, &rp, 50);
	if (ret == X_NONE) {
		REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "cannot connect");
		ret = fe_result(fe, &rp, T_RSP);
	}
	judge(tc, "POLL", ret, 0, 0);
}

static void accept_then_poll(struct tc *tc)
{
	accept_and_poll(tc, true);
}

static void poll_then_accept(struct tc *tc)
{
	accept_and_poll(tc, false);
}

/* An ACCEPT whose id_new is already an active socket. */
static void accept_dup_id_new(struct tc *tc)
{
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 43, .seed_in = 44 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s, *dup;
	uint16_t port;
	int peerfd;

	if (!fe || !(s = open_active(fe, 5, 1, &peerfd)) || open_listener(fe, 1, &port) < 0 ||
	    !(dup = as_new(fe, 5, 1)) || send_accept(fe, &r, 1, dup) < 0)
		return;
	REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "cannot connect");
	judge(tc, "ACCEPT with a live id_new", fe_result(fe, &r, T_RSP), tc->p->dup_accept_new,
	      X_UNSPEC);
	pump(s, peerfd, &x, T_MS(5000));
}

/* ------------------------------------------------------------------ */
/* POLL                                                                 */

static void poll_deferred(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r, ra;
	struct as *s;
	uint16_t port;

	if (!fe || open_listener(fe, 1, &port) < 0 || send_poll(fe, &r, 1) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &r, T_QUIET) == X_NONE, "POLL answered with nothing to accept");
	REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "cannot connect");
	if (!judge(tc, "deferred POLL", fe_result(fe, &r, T_RSP), 0, 0))
		return;
	/* POLL does not take the connection: ACCEPT gets it at once. */
	if (!(s = as_new(fe, 2, 1)) || send_accept(fe, &ra, 1, s) < 0)
		return;
	judge(tc, "ACCEPT after POLL", fe_result(fe, &ra, T_RSP), 0, 0);
}

static void poll_immediate(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	uint16_t port;

	if (!fe || open_listener(fe, 1, &port) < 0)
		return;
	REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "cannot connect");
	fe_events(fe, 50);
	if (send_poll(fe, &r, 1) < 0)
		return;
	judge(tc, "POLL with a connection queued", fe_result(fe, &r, T_QUIET), 0, 0);
}

/* POLL on a bound socket waits for LISTEN and a connection (both backends). */
static void poll_not_listening(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	uint16_t port = free_port();

	if (!fe || do_socket(fe, 1) != 0 || do_bind(fe, 1, port) != 0 || send_poll(fe, &r, 1) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &r, T_QUIET) == X_NONE,
		"POLL on a bound socket answered at once");
	if (!judge(tc, "LISTEN with a POLL pending", do_listen(fe, 1, 8), 0, 0))
		return;
	REQUIRE(tc, fe_result(fe, &r, T_QUIET) == X_NONE, "POLL answered with nothing to accept");
	REQUIRE(tc, peer_connect(tc, port, T_MS(1000)) >= 0, "cannot connect");
	judge(tc, "POLL after LISTEN and a connection", fe_result(fe, &r, T_RSP), 0, 0);
}

static void poll_unknown(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;

	if (!fe || send_poll(fe, &r, 42) < 0)
		return;
	judge(tc, "POLL on an unknown id", fe_result(fe, &r, wait_for(tc->p->poll_unknown)),
	      tc->p->poll_unknown, X_UNSPEC);
}

static void poll_active(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || send_poll(fe, &r, 1) < 0)
		return;
	judge(tc, "POLL on an active socket", fe_result(fe, &r, wait_for(tc->p->poll_active)),
	      tc->p->poll_active, X_UNSPEC);
}

/* ------------------------------------------------------------------ */
/* RELEASE                                                              */

static void release_active(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	if (!judge(tc, "RELEASE of an active socket", do_release(fe, 1), 0, 0))
		return;
	REQUIRE(tc, peer_wait_eof(peerfd, T_RSP), "the TCP connection stays open after RELEASE");
	/* The backend has unmapped: the frontend may end its grants now. */
	as_free(s);
	judge(tc, "second RELEASE of the same id", do_release(fe, 1), 0, X_UNSPEC);
	judge(tc, "SOCKET reusing the released id", do_socket(fe, 1), 0, 0);
}

static void release_passive(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint16_t port;

	if (!fe || open_listener(fe, 1, &port) < 0)
		return;
	if (!judge(tc, "RELEASE of a listener", do_release(fe, 1), 0, 0))
		return;
	REQUIRE(tc, peer_connect(tc, port, T_MS(500)) < 0, "the released listener still accepts");
	/* The port is free again, for the same frontend too. */
	judge(tc, "SOCKET", do_socket(fe, 2), 0, 0);
	judge(tc, "BIND to the released port", do_bind(fe, 2, port), 0, 0);
}

static void release_unknown(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	judge(tc, "RELEASE of id 0 (never used)", do_release(fe, 0), 0, X_UNSPEC);
	judge(tc, "RELEASE of an unknown id", do_release(fe, 0xdeadbeefcafeull), 0, X_UNSPEC);
	judge(tc, "RELEASE of a SOCKET-only id", do_socket(fe, 3) == 0 ? do_release(fe, 3) : -1, 0,
	      0);
}

/* RELEASE of a listener with a request pending on it. */
static void release_pending(struct tc *tc, bool accept, bool both)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request rp, ra, rr;
	int32_t exp = tc->p->release_pending;
	bool has_a = accept || both, has_p = !accept || both;
	uint32_t rel_seq, seq[2] = { 0, 0 };
	int32_t ret[2];
	struct as *s;
	uint16_t port;

	if (both && !tc->p->accept_poll_both) {
		tc_skip(tc, "the %s profile allows one pending request per listener", tc->p->name);
		return;
	}
	if (!fe || open_listener(fe, 1, &port) < 0 || !(s = as_new(fe, 2, 1)))
		return;
	if (has_a && send_accept(fe, &ra, 1, s) < 0)
		return;
	if (has_p && send_poll(fe, &rp, 1) < 0)
		return;
	REQUIRE(tc, fe_result(fe, has_a ? &ra : &rp, T_QUIET) == X_NONE,
		"answered before RELEASE with nothing to accept");
	rq_release(&rr, 1);
	if (fe_send(fe, &rr) < 0)
		return;
	if (!judge(tc, "RELEASE", fe_result(fe, &rr, T_RSP), 0, 0))
		return;
	rel_seq = fe->last_seq;
	for (int i = 0; i < 2; i++) {
		if (!(i ? has_p : has_a))
			continue;
		ret[i] = fe_result(fe, i ? &rp : &ra, exp == X_NONE ? T_QUIET : T_RSP);
		seq[i] = fe->last_seq;
		if (!judge(tc, i ? "pending POLL on RELEASE" : "pending ACCEPT on RELEASE", ret[i],
			   exp, X_UNSPEC))
			return;
		/* Ours answers them first: a slot is never lost, and the
		 * frontend may free the listener's state on RELEASE's answer. */
		if (exp != X_NONE && seq[i] > rel_seq)
			tc_fail(tc, "the pending %s was answered after the RELEASE",
				i ? "POLL" : "ACCEPT");
	}
}

static void release_pending_accept(struct tc *tc)
{
	release_pending(tc, true, false);
}

static void release_pending_poll(struct tc *tc)
{
	release_pending(tc, false, false);
}

static void release_pending_both(struct tc *tc)
{
	release_pending(tc, true, true);
}

/*
 * The frontend writes its last bytes and releases at once (send, then
 * close) while the peer's buffers are full: the bytes still arrive (ours
 * lingers), or at least a correct prefix does (Linux), then EOF.
 */
static void release_flushes(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint64_t pos = 0, got = 0;
	struct as *s;
	int peerfd, rc;

	if (!fe || !(s = open_active_rcvbuf(fe, 1, 4, 4096, &peerfd)))
		return;
	/* Fill the peer, the backend's socket and our out ring. */
	fe_fill_until_stalled(s, 81, &pos, 64u << 20, 200);
	REQUIRE(tc, RD(s->intf->out_prod) != RD(s->intf->out_cons),
		"the out ring drained although the peer reads nothing");
	if (!judge(tc, "RELEASE with unsent data", do_release(fe, 1), 0, 0))
		return;
	rc = peer_recv_to_eof(tc, peerfd, 81, &got, T_MS(10000));
	if (rc < 0)
		return;
	REQUIRE(tc, rc == 1, "no EOF after RELEASE (%llu of %llu bytes)", (unsigned long long)got,
		(unsigned long long)pos);
	if (tc->p->release_flushes)
		REQUIRE(tc, got == pos, "%llu of the %llu bytes written before RELEASE arrived",
			(unsigned long long)got, (unsigned long long)pos);
	tc_log(tc, "%llu bytes written, %llu delivered", (unsigned long long)pos,
	       (unsigned long long)got);
}

/*
 * reuse = 1: the frontend reuses the same pages and event channel for its
 * next active socket (spec "Release"); the backend may keep them or not.
 */
static void release_reuse(struct tc *tc)
{
	struct xfer x = { .to_peer = 5000, .to_fe = 5000, .seed_out = 45, .seed_in = 46 };
	struct xfer y = { .to_peer = 5000, .to_fe = 5000, .seed_out = 47, .seed_in = 48 };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	int peerfd, lfd, c;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;
	rq_release(&r, 1);
	r.u.release.reuse = 1;
	if (!judge(tc, "RELEASE with reuse 1", fe_call(fe, &r, T_RSP), 0, 0))
		return;
	REQUIRE(tc, peer_wait_eof(peerfd, T_RSP), "the TCP connection stays open after RELEASE");

	/* Same indexes page, data pages and port; fresh indexes. */
	WR(s->intf->in_cons, 0u);
	WR(s->intf->in_prod, 0u);
	WR(s->intf->in_error, 0);
	WR(s->intf->out_cons, 0u);
	WR(s->intf->out_prod, 0u);
	WR(s->intf->out_error, 0);
	as_reattach(s);
	s->id = 2;
	if ((lfd = peer_listen(tc, 4, &port)) < 0 || !judge(tc, "SOCKET", do_socket(fe, 2), 0, 0) ||
	    !judge(tc, "CONNECT reusing the released rings and port", do_connect(fe, s, port), 0,
		   0))
		return;
	c = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, c >= 0, "no connection reached the peer");
	pump(s, c, &y, T_MS(5000));
}

const struct case_def cases_passive[] = {
	{ "accept.deferred", accept_deferred },
	{ "accept.queued", accept_queued },
	{ "accept.data_first", accept_data_first },
	{ "accept.unknown_id", accept_unknown },
	{ "accept.not_listening", accept_not_listening },
	{ "accept.bad_ref", accept_bad_ref },
	{ "accept.order_too_big", accept_order_too_big },
	{ "accept.two_pending", accept_two_pending },
	{ "accept.duplicate_id_new", accept_dup_id_new },
	{ "accept_poll.accept_first", accept_then_poll },
	{ "accept_poll.poll_first", poll_then_accept },
	{ "poll.deferred", poll_deferred },
	{ "poll.immediate", poll_immediate },
	{ "poll.not_listening", poll_not_listening },
	{ "poll.unknown_id", poll_unknown },
	{ "poll.active_id", poll_active },
	{ "release.active", release_active },
	{ "release.passive", release_passive },
	{ "release.unknown_id", release_unknown },
	{ "release.pending_accept", release_pending_accept },
	{ "release.pending_poll", release_pending_poll },
	{ "release.pending_both", release_pending_both },
	{ "release.flushes_out", release_flushes },
	{ "release.reuse", release_reuse },
	{ NULL, NULL },
};
