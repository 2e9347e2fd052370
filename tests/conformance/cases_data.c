/* SPDX-License-Identifier: MIT */
/*
 * Data rings (spec "Indexes Page and Data ring", docs/protocol-notes.md, "Data ring workflow" to "Linux backend data path"):
 * notifications, flow control on a full ring, large transfers, half
 * close, 32-bit index wrap, values the backend must read only once, and
 * many sockets on one frontend.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "conformance.h"

/* The backend notifies after producing into in. */
static void data_notify_in(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	uint8_t buf[100];
	uint32_t before;
	struct as *s;
	int peerfd;
	bool ev;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	fe_events(fe, 50);
	before = fe_event_count(fe, s->port);
	memset(buf, 0x42, sizeof(buf));
	REQUIRE(tc, send(peerfd, buf, sizeof(buf), MSG_NOSIGNAL) == (ssize_t)sizeof(buf),
		"peer: send failed");
	ev = fe_wait_event(fe, s->port, before, T_RSP);
	if (!ev && pvcalls_data_rx_queued(&s->ring) > 0)
		tc_fail(tc, "in_prod advanced without a notification");
	else if (!ev)
		tc_fail(tc, "no data and no notification after the peer sent");
}

/* The backend notifies after consuming from out. */
static void data_notify_out(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	int64_t deadline;
	uint32_t before;
	uint64_t pos = 0;
	struct as *s;
	int peerfd;
	bool ev;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	fe_events(fe, 50);
	before = fe_event_count(fe, s->port);
	if (fe_write_all(s, 7, &pos, 100, T_RSP) < 0)
		return;
	ev = fe_wait_event(fe, s->port, before, T_RSP);
	deadline = pvc_now_ms() + T_RSP;
	while (RD(s->intf->out_cons) != RD(s->intf->out_prod) && pvc_now_ms() < deadline)
		fe_events(fe, 10);
	REQUIRE(tc, RD(s->intf->out_cons) == RD(s->intf->out_prod), "out ring never drained");
	REQUIRE(tc, ev, "out_cons advanced without a notification");
}

/*
 * The peer sends three ring sizes while the frontend reads nothing: the
 * backend fills the ring exactly, never past it, and resumes when the
 * frontend consumes and notifies.
 */
static void data_full_ring(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct xfer x = { .to_fe = 3 * 2048 + 100, .seed_in = 51 };
	int64_t deadline;
	uint32_t size;
	struct as *s;
	int peerfd;
	int32_t err;

	if (!fe || !(s = open_active(fe, 1, 0, &peerfd)))
		return;
	size = pvcalls_data_ring_size(&s->ring);
	if (peer_send_all(tc, peerfd, x.seed_in, 0, x.to_fe, T_RSP) < 0)
		return;
	x.sent_peer = x.to_fe;
	deadline = pvc_now_ms() + T_RSP;
	for (;;) {
		uint32_t q = RD(s->intf->in_prod) - RD(s->intf->in_cons);

		REQUIRE(tc, q <= size, "in ring overfilled: %u bytes queued in %u", q, size);
		if (q == size)
			break;
		REQUIRE(tc, pvc_now_ms() < deadline, "in ring never filled (%u of %u)", q, size);
		fe_events(fe, 5);
	}
	/* Stays full, not beyond, while nobody consumes. */
	for (int i = 0; i < 20; i++) {
		uint32_t q = RD(s->intf->in_prod) - RD(s->intf->in_cons);

		REQUIRE(tc, q == size, "in ring went from full to %u bytes without a consumer", q);
		fe_events(fe, 10);
	}
	tc_close_fd(tc, peerfd);
	err = drain_to_error(s, &x, 700, T_MS(5000));
	if (tc_done(tc) || (!err && close_unreported(s, &x, false)))
		return;
	REQUIRE(tc, x.got_fe == x.to_fe, "received %llu of %llu bytes (in_error %d)",
		(unsigned long long)x.got_fe, (unsigned long long)x.to_fe, err);
	judge(tc, "in_error after the drained EOF", err ? err : X_NONE, W_ENOTCONN, W_ENOTCONN);
}

/*
 * The peer reads nothing for a while: the backend's socket fills up
 * (EAGAIN) and the out ring stalls; then everything flows again.
 */
static void data_slow_peer(struct tc *tc)
{
	struct xfer x = { .to_peer = 4u << 20, .seed_out = 67 };
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active_rcvbuf(fe, 1, 2, 4096, &peerfd)))
		return;
	x.sent_fe = 0;
	fe_fill_until_stalled(s, x.seed_out, &x.sent_fe, x.to_peer, 200);
	REQUIRE(tc, x.sent_fe < x.to_peer, "4 MiB went through a peer that reads nothing");
	tc_log(tc, "stalled after %llu bytes", (unsigned long long)x.sent_fe);
	pump(s, peerfd, &x, T_MS(10000));
}

/* Linux's ring order (4: 32 KiB each way), a megabyte each way. */
static void data_large(struct tc *tc)
{
	struct xfer x = { .to_peer = 1u << 20, .to_fe = 1u << 20, .seed_out = 52, .seed_in = 53 };
	unsigned order = tc->p->max_order < 4 ? tc->p->max_order : 4;
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, order, &peerfd)))
		return;
	pump(s, peerfd, &x, T_MS(15000));
}

/* Peer half-closes: in_error = -ENOTCONN, but the out direction still works. */
static void data_half_close(struct tc *tc)
{
	struct xfer x = { .to_peer = 2000, .to_fe = 3000, .seed_out = 54, .seed_in = 55 };
	struct xfer y = { .to_peer = 9000, .seed_out = 56 };
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;
	int32_t err;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;
	shutdown(peerfd, SHUT_WR);
	err = drain_to_error(s, &x, SIZE_MAX, T_RSP);
	if (tc_done(tc) || (!err && close_unreported(s, &x, false)))
		return;
	if (!judge(tc, "in_error after the peer's FIN", err ? err : X_NONE, W_ENOTCONN, W_ENOTCONN))
		return;
	if (!tc->p->writes_after_in_error) {
		tc_skip(tc, "the %s profile stops the socket at in_error", tc->p->name);
		return;
	}
	pump(s, peerfd, &y, T_MS(5000));
}

/*
 * Indexes are free-running u32 values; nothing says they start at 0.
 * Start near 2^32 so the transfer crosses the wrap.
 */
static void data_index_wrap(struct tc *tc)
{
	struct xfer x = {
		.to_peer = 5 * 4096 + 9, .to_fe = 5 * 4096 + 5, .seed_out = 57, .seed_in = 58
	};
	const uint32_t start = 0xfffff000u + 123;
	struct fe *fe = fe_open(tc);
	struct as *s;
	uint16_t port;
	int lfd, c;

	if (!fe || (lfd = peer_listen(tc, 4, &port)) < 0 || !(s = as_new(fe, 1, 1)))
		return;
	WR(s->intf->in_cons, start);
	WR(s->intf->in_prod, start);
	WR(s->intf->out_cons, start);
	WR(s->intf->out_prod, start);
	as_reattach(s);
	if (!judge(tc, "SOCKET", do_socket(fe, 1), 0, 0) ||
	    !judge(tc, "CONNECT", do_connect(fe, s, port), 0, 0))
		return;
	c = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, c >= 0, "no connection reached the peer");
	pump(s, c, &x, T_MS(5000));
}

/* ring_order and ref[] are read once, at CONNECT; later changes are ignored. */
static void data_order_changed(struct tc *tc)
{
	struct xfer x = {
		.to_peer = 3 * 4096 + 1, .to_fe = 3 * 4096 + 2, .seed_out = 59, .seed_in = 60
	};
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	WR(s->intf->ring_order, 9u);
	for (unsigned i = 0; i < 512; i++)
		WR(s->intf->ref[i], 0xdead0000u + i);
	pump(s, peerfd, &x, T_MS(5000));
}

/*
 * The frontend writes in_error itself (Linux's frontend does, -EBADF, on
 * release): the backend stops filling the in ring; the socket can still
 * be released.
 */
static void data_frontend_in_error(struct tc *tc)
{
	struct xfer x = { .to_peer = 1000, .to_fe = 1000, .seed_out = 68, .seed_in = 69 };
	struct fe *fe = fe_open(tc);
	uint32_t prod;
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)) || pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;
	fe_events(fe, 20);
	prod = RD(s->intf->in_prod);
	WR(s->intf->in_error, W_EBADF);
	as_notify(s);
	fe_events(fe, 50);
	if (peer_send_all(tc, peerfd, 70, 0, 100, T_RSP) < 0)
		return;
	fe_events(fe, T_QUIET);
	REQUIRE(tc, RD(s->intf->in_prod) == prod,
		"the backend went on filling the in ring after the frontend set in_error");
	judge(tc, "RELEASE", do_release(fe, 1), 0, 0);
	REQUIRE(tc, peer_wait_eof(peerfd, T_RSP), "the connection stays open after RELEASE");
}

/* 64 active sockets on one frontend, all served, all released. */
static void data_many_sockets(struct tc *tc)
{
	enum { N = 64 };
	struct pvcalls_wire_request r[32];
	struct fe *fe = fe_open(tc);
	struct as *s[N];
	int peer[N];
	uint16_t port;
	int lfd;

	if (!fe || (lfd = peer_listen(tc, N, &port)) < 0)
		return;
	for (int i = 0; i < N; i++) {
		char b[32];
		int32_t ret;

		uint64_t id = 100 + (uint64_t)i;

		if (!(s[i] = as_new(fe, id, 0)) || do_socket(fe, id) != 0)
			return;
		ret = do_connect(fe, s[i], port);
		REQUIRE(tc, ret == 0, "CONNECT %d of %d returned %s", i + 1, N, xstr(ret, b));
		peer[i] = peer_accept(tc, lfd, T_RSP);
		REQUIRE(tc, peer[i] >= 0, "connection %d did not reach the peer", i + 1);
	}
	for (int i = 0; i < N; i++) {
		struct xfer x = { .to_peer = 3000,
				  .to_fe = 2500,
				  .seed_out = 100 + (uint64_t)i,
				  .seed_in = 200 + (uint64_t)i };

		if (pump(s[i], peer[i], &x, T_MS(5000)) < 0)
			return;
	}
	for (int b = 0; b < N; b += 32) {
		for (int i = 0; i < 32; i++) {
			rq_release(&r[i], 100 + (uint64_t)(b + i));
			if (fe_put(fe, &r[i]) < 0)
				return;
		}
		fe_push(fe);
		for (int i = 0; i < 32; i++)
			REQUIRE(tc, fe_result(fe, &r[i], T_RSP) == 0, "RELEASE %d failed",
				b + i + 1);
	}
	for (int i = 0; i < N; i++)
		REQUIRE(tc, peer_wait_eof(peer[i], T_RSP), "connection %d stays open after RELEASE",
			i + 1);
}

const struct case_def cases_data[] = {
	{ "data.notify_in", data_notify_in },
	{ "data.notify_out", data_notify_out },
	{ "data.full_ring", data_full_ring },
	{ "data.slow_peer", data_slow_peer },
	{ "data.large", data_large },
	{ "data.half_close", data_half_close },
	{ "data.index_wrap32", data_index_wrap },
	{ "data.ring_order_changed", data_order_changed },
	{ "data.frontend_in_error", data_frontend_in_error },
	{ "data.many_sockets", data_many_sockets },
	{ NULL, NULL },
};
