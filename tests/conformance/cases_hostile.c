/* SPDX-License-Identifier: MIT */
/*
 * A hostile or dying frontend: impossible data-ring indexes, scribbles on
 * the backend's own indexes, a guest that vanishes mid-stream, resource
 * limits, and a final check that nothing leaked.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "conformance.h"

/* Error of either direction, waiting up to @ms for one to appear. */
static int32_t wait_sock_error(struct as *s, int ms)
{
	int64_t deadline = pvc_now_ms() + ms;

	for (;;) {
		int32_t e = RD(s->intf->out_error);

		if (!e)
			e = RD(s->intf->in_error);
		if (e || pvc_now_ms() >= deadline)
			return e;
		fe_events(s->fe, 10);
	}
}

/*
 * Impossible indexes on one socket: that socket fails (ours: -EPROTO) or
 * the garbage stays bounded (Linux); the frontend's other socket and the
 * frontend itself go on working.
 */
static void bad_data_indexes(struct tc *tc, bool out_side)
{
	struct xfer x = { .to_peer = 5000, .to_fe = 5000, .seed_out = 61, .seed_in = 62 };
	struct fe *fe = fe_open(tc);
	struct as *s1, *s2;
	int p1, p2;
	uint32_t size;
	int32_t err;
	char junk[64];

	if (!fe || !(s1 = open_active(fe, 1, 1, &p1)) || !(s2 = open_active(fe, 2, 1, &p2)))
		return;
	size = pvcalls_data_ring_size(&s1->ring);
	if (out_side) {
		WR(s1->intf->out_prod, RD(s1->intf->out_cons) + size + 100);
	} else {
		WR(s1->intf->in_cons, RD(s1->intf->in_prod) + size + 5);
		memset(junk, 1, sizeof(junk));
		REQUIRE(tc, send(p1, junk, sizeof(junk), MSG_NOSIGNAL) > 0, "peer: send failed");
	}
	as_notify(s1);
	if (tc->p->data_violation) {
		err = wait_sock_error(s1, T_RSP);
		judge(tc,
		      out_side ? "error for out_prod - out_cons > size"
			       : "error for in_cons ahead of in_prod",
		      err ? err : X_NONE, tc->p->data_violation, X_UNSPEC);
		if (out_side) {
			ssize_t n = recv(p1, junk, sizeof(junk), MSG_DONTWAIT);

			REQUIRE(tc, n <= 0,
				"the peer received %zd bytes from an impossible out ring", n);
		}
	} else {
		fe_events(fe, T_QUIET);
	}
	REQUIRE(tc, fe_backend_state(fe) == PVCALLS_XENBUS_CONNECTED,
		"the whole frontend was dropped (state %d)", fe_backend_state(fe));
	if (pump(s2, p2, &x, T_MS(5000)) < 0)
		return;
	judge(tc, "SOCKET afterwards", do_socket(fe, 3), 0, 0);
	judge(tc, "RELEASE of the broken socket", do_release(fe, 1), 0, 0);
}

static void hostile_out_prod(struct tc *tc)
{
	bad_data_indexes(tc, true);
}

static void hostile_in_cons(struct tc *tc)
{
	bad_data_indexes(tc, false);
}

/*
 * The frontend overwrites in_prod and out_cons, which only the backend
 * writes. A backend that keeps private copies carries on correctly.
 */
static void hostile_backend_indexes(struct tc *tc)
{
	struct xfer x = { .to_peer = 1000, .to_fe = 1000, .seed_out = 63, .seed_in = 64 };
	struct xfer y = { .to_peer = 6000, .to_fe = 6000, .seed_out = 65, .seed_in = 66 };
	struct fe *fe = fe_open(tc);
	struct pollfd pfd;
	uint32_t in_prod, out_cons, prod, mask;
	uint8_t buf[100], *out;
	int64_t deadline;
	size_t got = 0;
	struct as *s;
	int peerfd;

	if (!tc->p->private_indexes) {
		tc_skip(tc, "the %s profile reads its indexes back from the page", tc->p->name);
		return;
	}
	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;
	fe_events(fe, 50); /* idle */
	in_prod = RD(s->intf->in_prod);
	out_cons = RD(s->intf->out_cons);
	WR(s->intf->in_prod, in_prod + 12345);
	WR(s->intf->out_cons, out_cons + 777);

	/* In: wait until the backend has written in_prod again. */
	if (peer_send_all(tc, peerfd, 99, 0, 100, T_RSP) < 0)
		return;
	deadline = pvc_now_ms() + T_RSP;
	while (RD(s->intf->in_prod) == in_prod + 12345 && pvc_now_ms() < deadline)
		fe_events(fe, 10);
	fe_events(fe, 20);
	REQUIRE(tc, RD(s->intf->in_prod) == in_prod + 100,
		"in_prod is %u after 100 more bytes, expected %u (derived from our scribble?)",
		RD(s->intf->in_prod), in_prod + 100);
	REQUIRE(tc, pvcalls_data_read(&s->ring, buf, sizeof(buf), 0) == 100,
		"cannot read the 100 bytes");
	as_notify(s);

	/* Out, by hand: our own producer would reject the scribbled out_cons. */
	out = s->data + pvcalls_data_ring_size(&s->ring);
	mask = pvcalls_data_ring_size(&s->ring) - 1;
	prod = RD(s->intf->out_prod);
	for (uint32_t i = 0; i < 50; i++)
		out[(prod + i) & mask] = (uint8_t)i;
	WR(s->intf->out_prod, prod + 50);
	as_notify(s);
	deadline = pvc_now_ms() + T_RSP;
	while (RD(s->intf->out_cons) == out_cons + 777 && pvc_now_ms() < deadline)
		fe_events(fe, 10);
	fe_events(fe, 20);
	REQUIRE(tc, RD(s->intf->out_cons) == out_cons + 50,
		"out_cons is %u after 50 more bytes, expected %u (derived from our scribble?)",
		RD(s->intf->out_cons), out_cons + 50);
	pfd = (struct pollfd){ .fd = peerfd, .events = POLLIN };
	while (got < 50 && poll(&pfd, 1, T_RSP) == 1) {
		ssize_t n = recv(peerfd, buf + got, 50 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	REQUIRE(tc, got == 50 && buf[0] == 0 && buf[49] == 49, "the peer did not get the 50 bytes");

	as_reattach(s);
	pump(s, peerfd, &y, T_MS(5000));
}

/*
 * Grant refs and ports are per domain: another frontend's numbers, which
 * this one never granted, must not map (a backend that maps with the
 * wrong domid would succeed here).
 */
static void hostile_foreign_refs(struct tc *tc)
{
	struct fe *a = fe_open(tc), *b;
	struct pvcalls_wire_request r;
	struct as *sa = NULL, *sb;
	uint32_t ref;
	uint16_t port;
	int lfd;

	/* A owns higher refs and ports than anything B will own. */
	if (!a || !(b = fe_open(tc)))
		return;
	for (int i = 0; i < 4; i++)
		if (!(sa = as_new(a, 10 + (uint64_t)i, 3)))
			return;
	if (!(sb = as_new(b, 1, 0)) || (lfd = peer_listen(tc, 4, &port)) < 0 ||
	    do_socket(b, 1) != 0)
		return;
	ref = sa->refs[7];
	REQUIRE(tc, ref > sb->refs[0] && sa->port > sb->port,
		"suite: cannot arrange foreign numbers (refs %u/%u, ports %u/%u)", ref, sb->refs[0],
		sa->port, sb->port);
	rq_connect(&r, 1, port, ref, sb->port);
	if (!crash_guard(tc, "CONNECT with another domain's indexes ref", why_map_fail))
		judge(tc, "CONNECT with another domain's indexes ref", fe_call(b, &r, T_RSP),
		      tc->p->map_fail, X_ANYERR);
	rq_connect(&r, 1, port, sb->ref, sa->port);
	if (!crash_guard(tc, "CONNECT with another domain's port", why_map_fail))
		judge(tc, "CONNECT with another domain's port", fe_call(b, &r, T_RSP),
		      tc->p->map_fail, X_ANYERR);
	/* Both still served. */
	judge(tc, "SOCKET on the first frontend", do_socket(a, 2), 0, 0);
	judge(tc, "SOCKET on the second frontend", do_socket(b, 2), 0, 0);
}

/* Socket ids are per frontend: the same id on two frontends is two sockets. */
static void lifecycle_ids_per_frontend(struct tc *tc)
{
	struct fe *a = fe_open(tc), *b;
	uint16_t pa, pb;

	if (!a || !(b = fe_open(tc)) || open_listener(a, 1, &pa) < 0 ||
	    open_listener(b, 1, &pb) < 0)
		return;
	if (!judge(tc, "RELEASE on the first frontend", do_release(a, 1), 0, 0))
		return;
	REQUIRE(tc, peer_connect(tc, pb, T_MS(1000)) >= 0,
		"releasing id 1 of one frontend closed the other frontend's listener");
	REQUIRE(tc, peer_connect(tc, pa, 500) < 0, "the released listener still accepts");
}

/*
 * The guest dies mid-stream with an active socket, a listener with a
 * pending ACCEPT, and data both ways in flight. The backend must close
 * its sockets, free the port, and keep serving everyone else.
 */
static void lifecycle_vanish(struct tc *tc)
{
	struct fe *fe = fe_open(tc), *fe2;
	struct pvcalls_wire_request r;
	struct pvcalls_back_stats st;
	struct as *s, *sa;
	uint64_t pos = 0, got = 0;
	uint16_t lport;
	int64_t deadline;
	int peerfd, rc;
	char b[32];
	int32_t ret;

	/* On Xen a guest cannot vanish without its domain dying. */
	if (!target_guest_can_vanish(tc->tg)) {
		tc_skip(tc, "the target cannot make a guest vanish");
		return;
	}

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || open_listener(fe, 2, &lport) < 0 ||
	    !(sa = as_new(fe, 3, 1)))
		return;
	rq_accept(&r, 2, 3, sa->ref, sa->port);
	if (fe_send(fe, &r) < 0)
		return;
	/* More than the ring holds each way. */
	if (peer_send_all(tc, peerfd, 70, 0, 20000, T_RSP) < 0)
		return;
	fe_write_all(s, 71, &pos, 3000, T_MS(200));
	fe_events(fe, 50);

	fe_vanish(fe);

	/* Ours also delivers what the out ring held (backend.h); then EOF. */
	rc = peer_recv_to_eof(tc, peerfd, 71, &got, T_MS(3000));
	if (rc < 0)
		return;
	REQUIRE(tc, rc == 1, "the TCP connection of a vanished frontend stays open");
	if (tc->p->release_flushes)
		REQUIRE(tc, got == pos, "%llu of the %llu bytes written before vanishing arrived",
			(unsigned long long)got, (unsigned long long)pos);
	deadline = pvc_now_ms() + T_MS(3000);
	while (peer_connect(tc, lport, T_MS(200)) >= 0) {
		REQUIRE(tc, pvc_now_ms() < deadline,
			"the listener of a vanished frontend still accepts connections");
		fe_events(fe, 0);
	}

	fe2 = fe_open(tc);
	if (!fe2)
		return;
	ret = do_socket(fe2, 1);
	REQUIRE(tc, ret == 0, "a new frontend's SOCKET returned %s", xstr(ret, b));
	fe_close(fe2);

	/* In-process: every counter drops back to zero. */
	deadline = pvc_now_ms() + T_MS(3000);
	for (;;) {
		rc = target_stats(tc->tg, &st);
		if (rc == -EOPNOTSUPP)
			return;
		REQUIRE(tc, rc == 0, "backend counters: %s", pvcalls_strerror(rc));
		if (!st.frontends && !st.active_sockets && !st.passive_sockets)
			break;
		REQUIRE(tc, pvc_now_ms() < deadline,
			"after every guest left: %u frontends, %u active, %u passive sockets "
			"remain",
			st.frontends, st.active_sockets, st.passive_sockets);
		struct pollfd none = { .fd = -1 };

		poll(&none, 1, 100);
	}
}

/* The guest dies with a CONNECT pending: no connection appears later. */
static void lifecycle_vanish_connecting(struct tc *tc)
{
	struct fe *fe, *fe2;
	struct pvcalls_wire_request r;
	struct pollfd none = { .fd = -1 };
	struct as *s;
	uint16_t port;
	int lfd, queued;

	/* On Xen a guest cannot vanish without its domain dying. */
	if (!target_guest_can_vanish(tc->tg)) {
		tc_skip(tc, "the target cannot make a guest vanish");
		return;
	}

	if (!tc->p->connect_async) {
		tc_skip(tc, "the %s profile blocks the ring during CONNECT", tc->p->name);
		return;
	}
	if (!(fe = fe_open(tc)) || (lfd = full_listener(tc, &port, &queued)) < 0 ||
	    !(s = as_new(fe, 1, 1)) || do_socket(fe, 1) != 0)
		return;
	rq_connect(&r, 1, port, s->ref, s->port);
	if (fe_send(fe, &r) < 0)
		return;
	REQUIRE(tc, fe_result(fe, &r, T_QUIET) == X_NONE,
		"CONNECT to a full accept queue completed at once; cannot test");
	fe_vanish(fe);
	poll(&none, 1, 200);
	drain_listener(tc, lfd);
	tc_close_fd(tc, queued);
	poll(&none, 1, 1500); /* past the first SYN retransmission */
	for (int fd; (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
		tc_fd(tc, fd);
		REQUIRE(tc, peer_wait_eof(fd, T_MS(500)),
			"the vanished frontend's CONNECT completed later and stayed open");
	}
	fe2 = fe_open(tc);
	if (fe2)
		judge(tc, "a new frontend's SOCKET", do_socket(fe2, 1), 0, 0);
}

/* The per-frontend socket limit is enforced, and freed ids count again. */
static void limits_max_sockets(struct tc *tc)
{
	struct pvcalls_wire_request r[32];
	uint32_t n = tc->p->max_sockets;
	struct fe *fe;

	if (!n) {
		tc_skip(tc, "the %s profile has no socket limit", tc->p->name);
		return;
	}
	if (!(fe = fe_open(tc)))
		return;
	for (uint32_t base = 1; base <= n; base += 32) {
		uint32_t k = n + 1 - base < 32 ? n + 1 - base : 32;

		for (uint32_t i = 0; i < k; i++) {
			rq_socket(&r[i], base + i, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM,
				  0);
			if (fe_put(fe, &r[i]) < 0)
				return;
		}
		fe_push(fe);
		for (uint32_t i = 0; i < k; i++) {
			char b[32];
			int32_t ret = fe_result(fe, &r[i], T_RSP);

			REQUIRE(tc, ret == 0, "SOCKET %u of %u returned %s", base + i, n,
				xstr(ret, b));
		}
	}
	judge(tc, "SOCKET beyond the limit", do_socket(fe, n + 1), tc->p->limit_err, X_UNSPEC);
	judge(tc, "RELEASE of one", do_release(fe, 1), 0, 0);
	judge(tc, "SOCKET after a RELEASE", do_socket(fe, n + 2), 0, 0);
}

/* The per-frontend listener limit. */
static void limits_max_listeners(struct tc *tc)
{
	uint32_t n = tc->p->max_listeners;
	struct fe *fe;

	if (!n) {
		tc_skip(tc, "the %s profile has no listener limit", tc->p->name);
		return;
	}
	if (!(fe = fe_open(tc)))
		return;
	for (uint32_t i = 1; i <= n; i++) {
		char b[32];
		int32_t ret;

		if (do_socket(fe, i) != 0)
			return;
		ret = do_bind(fe, i, 0);
		REQUIRE(tc, ret == 0, "BIND %u of %u returned %s", i, n, xstr(ret, b));
	}
	if (!judge(tc, "SOCKET", do_socket(fe, n + 1), 0, 0))
		return;
	judge(tc, "BIND beyond the listener limit", do_bind(fe, n + 1, 0), tc->p->limit_err,
	      X_UNSPEC);
	judge(tc, "RELEASE of one", do_release(fe, 1), 0, 0);
	judge(tc, "BIND after a RELEASE", do_bind(fe, n + 1, 0), 0, 0);
}

/* After everything, nothing is left behind in the backend. */
static void final_no_leaks(struct tc *tc)
{
	struct pvcalls_back_stats st;
	struct pollfd none = { .fd = -1 };
	int64_t deadline = pvc_now_ms() + T_MS(3000);
	int rc;

	for (;;) {
		rc = target_stats(tc->tg, &st);
		if (rc == -EOPNOTSUPP) {
			tc_skip(tc, "backend counters are only visible with --self");
			return;
		}
		REQUIRE(tc, rc == 0, "backend counters: %s", pvcalls_strerror(rc));
		if (!st.frontends && !st.active_sockets && !st.passive_sockets)
			break;
		REQUIRE(tc, pvc_now_ms() < deadline,
			"%u frontends, %u active and %u passive sockets remain", st.frontends,
			st.active_sockets, st.passive_sockets);
		poll(&none, 1, 100);
	}
	tc_log(tc, "%llu bad commands, %llu protocol errors, %llu bytes to guests",
	       (unsigned long long)st.bad_commands, (unsigned long long)st.protocol_errors,
	       (unsigned long long)st.bytes_to_guest);
}

const struct case_def cases_hostile[] = {
	{ "hostile.out_prod_ahead", hostile_out_prod },
	{ "hostile.in_cons_ahead", hostile_in_cons },
	{ "hostile.backend_indexes", hostile_backend_indexes },
	{ "hostile.foreign_refs", hostile_foreign_refs },
	{ "lifecycle.ids_per_frontend", lifecycle_ids_per_frontend },
	{ "lifecycle.vanish", lifecycle_vanish },
	{ "lifecycle.vanish_connecting", lifecycle_vanish_connecting },
	{ "limits.max_sockets", limits_max_sockets },
	{ "limits.max_listeners", limits_max_listeners },
	{ NULL, NULL },
};

const struct case_def cases_final[] = {
	{ "final.no_leaks", final_no_leaks },
	{ NULL, NULL },
};
