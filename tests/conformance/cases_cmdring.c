/* SPDX-License-Identifier: MIT */
/*
 * The command ring as such: notifications in both directions, echo of
 * req_id/cmd/id, a full ring, unknown commands, garbage in fields the
 * protocol leaves unused, and impossible producer indexes.
 */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

/*
 * Event indexes, both ways: the backend re-arms req_event when it goes
 * idle (so a frontend that follows RING_PUSH_REQUESTS_AND_CHECK_NOTIFY
 * notifies), and notifies when rsp_event asks for it.
 */
static void cmd_notify(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct pvcalls_wire_response rsp;
	uint32_t before;
	bool ev;
	int got;

	if (!fe)
		return;
	for (int i = 0; i < 4; i++) {
		/* Let the backend go idle: it must leave req_event armed. */
		fe_events(fe, 50);
		REQUIRE(tc, pvcalls_cmd_front_final_check(&fe->ring) == 0,
			"a response appeared without a request");
		before = fe_event_count(fe, fe->port);
		rq_socket(&r, 100 + (uint64_t)i, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM, 0);
		if (fe_put(fe, &r) < 0)
			return;
		if (!pvcalls_cmd_front_push(&fe->ring)) {
			tc_fail(tc,
				"idle backend left req_event at %u with req_prod %u: "
				"a conforming frontend would not notify",
				RD(fe->sring->req_event), RD(fe->sring->req_prod));
			pvcalls_transport_evtchn_notify(fe->t, fe->port);
		} else {
			pvcalls_transport_evtchn_notify(fe->t, fe->port);
		}
		ev = fe_wait_event(fe, fe->port, before, T_RSP);
		got = fe_wait(fe, r.req_id, ev ? T_RSP : 0, &rsp);
		REQUIRE(tc, got == 1, "no response to SOCKET");
		REQUIRE(tc, ev, "response without a notification although rsp_event asked for one");
		REQUIRE(tc, rsp.ret == 0, "SOCKET returned %d", rsp.ret);
	}
}

/* req_id is any u32 and id any u64; both come back unchanged. */
static void cmd_req_id_echo(struct tc *tc)
{
	static const uint32_t rids[] = { 0, 31, 32, 0x80000000u, 0xffffffffu };
	static const uint64_t ids[] = { 0, 1ull << 63, UINT64_MAX, 0x100000001ull, 42 };
	struct pvcalls_wire_request r[5];
	struct fe *fe = fe_open(tc);
	char what[64];

	if (!fe)
		return;
	for (int i = 0; i < 5; i++) {
		rq_socket(&r[i], ids[i], PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM, 0);
		r[i].req_id = rids[i];
		if (fe_put_raw(fe, &r[i]) < 0)
			return;
	}
	fe_push(fe);
	for (int i = 0; i < 5; i++) {
		int32_t ret = fe_result(fe, &r[i], T_RSP);

		snprintf(what, sizeof(what), "SOCKET req_id %#x id %#llx", rids[i],
			 (unsigned long long)ids[i]);
		judge(tc, what, ret, 0, 0);
	}
}

/* 32 requests pushed at once are all answered, twice over (slot wrap). */
static void cmd_flood32(struct tc *tc)
{
	struct pvcalls_wire_request r[32];
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 32; i++) {
			uint64_t id = 1000 + (uint64_t)(round % 2) * 100 + (uint64_t)i;

			if (round < 2)
				rq_socket(&r[i], id, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM,
					  0);
			else
				rq_release(&r[i], 1000 + (uint64_t)i);
			if (fe_put(fe, &r[i]) < 0)
				return;
		}
		fe_push(fe);
		for (int i = 0; i < 32; i++) {
			int32_t ret = fe_result(fe, &r[i], T_RSP);
			char b[32];

			REQUIRE(tc, ret == 0, "round %d: request %d of 32 got %s", round, i,
				xstr(ret, b));
		}
		REQUIRE(tc, pvcalls_cmd_front_free(&fe->ring) == 32, "credits not returned");
	}
}

/* Unknown commands get -ENOTSUPP (-524), as the spec's table says. */
static void cmd_unknown(struct tc *tc)
{
	static const uint32_t cmds[] = { PVCALLS_WIRE_NR_CMDS, 0x80000000u, 0xffffffffu };
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	char what[48];

	if (!fe)
		return;
	for (int i = 0; i < 3; i++) {
		memset(&r, 0x5a, sizeof(r));
		r.req_id = 0;
		r.cmd = cmds[i];
		r.u.socket.id = 0x1234 + (uint64_t)i;
		snprintf(what, sizeof(what), "cmd %#x", cmds[i]);
		judge(tc, what, fe_call(fe, &r, T_RSP), W_ENOTSUPP, W_ENOTSUPP);
	}
	judge(tc, "SOCKET after unknown commands", do_socket(fe, 1), 0, 0);
}

/* Padding, the address tail, flags and reuse may hold anything. */
static void cmd_garbage_padding(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct pvcalls_wire_request r;
	struct xfer x = { .to_peer = 3000, .to_fe = 3000, .seed_out = 1, .seed_in = 2 };
	struct as *s;
	uint16_t port;
	int lfd, peerfd;

	if (!fe)
		return;
	rq_socket(&r, 1, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM, 0);
	memset(r.u.socket.pad, 0xff, sizeof(r.u.socket.pad));
	memset((uint8_t *)&r + 32, 0xee, 32);
	if (!judge(tc, "SOCKET with garbage padding", fe_call(fe, &r, T_RSP), 0, 0))
		return;

	lfd = peer_listen(tc, 4, &port);
	s = as_new(fe, 1, 1);
	if (lfd < 0 || !s)
		return;
	rq_connect(&r, 1, port, s->ref, s->port);
	memset(r.u.connect.addr + 8, 0xcc, PVCALLS_WIRE_ADDR_LEN - 8);
	r.u.connect.flags = 0xffffffffu;
	memset(r.u.connect.pad, 0xff, sizeof(r.u.connect.pad));
	if (!judge(tc, "CONNECT with garbage sin_zero, tail, flags and pad", fe_call(fe, &r, T_RSP),
		   0, 0))
		return;
	peerfd = peer_accept(tc, lfd, T_RSP);
	REQUIRE(tc, peerfd >= 0, "no connection reached the peer");
	if (pump(s, peerfd, &x, T_MS(5000)) < 0)
		return;

	judge(tc, "SOCKET", do_socket(fe, 2), 0, 0);
	rq_bind(&r, 2, free_port());
	memset(r.u.bind.addr + 8, 0xcc, PVCALLS_WIRE_ADDR_LEN - 8);
	memset((uint8_t *)&r + 48, 0xee, 16);
	judge(tc, "BIND with garbage sin_zero and tail", fe_call(fe, &r, T_RSP), 0, 0);
	rq_listen(&r, 2, 0xffffffffu);
	memset(r.u.listen.pad, 0xff, sizeof(r.u.listen.pad));
	judge(tc, "LISTEN with backlog 0xffffffff and garbage pad", fe_call(fe, &r, T_RSP), 0, 0);

	rq_release(&r, 1);
	r.u.release.reuse = 0xa5;
	memset(r.u.release.pad, 0xff, sizeof(r.u.release.pad));
	if (!judge(tc, "RELEASE (active) with reuse 0xa5 and garbage pad", fe_call(fe, &r, T_RSP),
		   0, 0))
		return;
	REQUIRE(tc, peer_wait_eof(peerfd, T_RSP), "peer connection stays open after RELEASE");
	rq_release(&r, 2);
	r.u.release.reuse = 0xff;
	memset(r.u.release.pad, 0x77, sizeof(r.u.release.pad));
	judge(tc, "RELEASE (passive) with reuse 0xff", fe_call(fe, &r, T_RSP), 0, 0);
}

/* Ids that differ only above bit 31 are different sockets. */
static void cmd_ids_64bit(struct tc *tc)
{
	const uint64_t a = 0x100000005ull, b = 5;
	struct fe *fe = fe_open(tc);
	uint16_t pa, pb;

	if (!fe)
		return;
	if (open_listener(fe, a, &pa) < 0 || open_listener(fe, b, &pb) < 0)
		return;
	if (!judge(tc, "RELEASE of the high id", do_release(fe, a), 0, 0))
		return;
	REQUIRE(tc, peer_connect(tc, pb, T_MS(1000)) >= 0,
		"releasing id %#llx closed the listener of id %llu (ids truncated to 32 bits?)",
		(unsigned long long)a, (unsigned long long)b);
	REQUIRE(tc, peer_connect(tc, pa, T_MS(500)) < 0, "the released listener still accepts");
}

/*
 * Impossible req_prod values. The spec leaves the reaction open; ours
 * drops the frontend, Linux's keeps going with bounded garbage. Either
 * way another frontend must not notice.
 */
enum { VIOL_33, VIOL_FAR, VIOL_BACK };

static void cmd_violation(struct tc *tc, int kind)
{
	struct xfer x = { .to_peer = 5000, .to_fe = 5000, .seed_out = 3, .seed_in = 4 };
	struct pvcalls_wire_request r;
	struct fe *good, *bad, *fresh;
	struct as *gs;
	int peerfd, st;
	char b[32];
	int32_t ret;

	good = fe_open(tc);
	if (!good || !(gs = open_active(good, 7, 1, &peerfd)))
		return;
	bad = fe_open(tc);
	if (!bad)
		return;
	bad->allow_stray = true;
	switch (kind) {
	case VIOL_33:
		/* 32 requests in the slots, then a producer index of 33. */
		for (int i = 0; i < 32; i++) {
			rq_socket(&r, 50 + (uint64_t)i, PVCALLS_WIRE_AF_INET,
				  PVCALLS_WIRE_SOCK_STREAM, 0);
			if (fe_put(bad, &r) < 0)
				return;
		}
		WR(bad->sring->req_prod, 33u);
		break;
	case VIOL_FAR:
		WR(bad->sring->req_prod, 1000u);
		break;
	case VIOL_BACK:
		for (int i = 0; i < 3; i++)
			if (do_socket(bad, 60 + (uint64_t)i) != 0)
				return;
		WR(bad->sring->req_prod, 1u);
		break;
	}
	bad->broken = true;
	pvcalls_transport_evtchn_notify(bad->t, bad->port);

	if (tc->p->cmd_violation == VIOL_DISCONNECT) {
		st = fe_wait_backend_state(bad, PVCALLS_XENBUS_CLOSING, PVCALLS_XENBUS_CLOSED,
					   T_RSP);
		if (st < 0)
			tc_fail(tc,
				"backend still in state %d with an impossible req_prod; "
				"the %s profile expects it to drop the frontend",
				fe_backend_state(bad), tc->p->name);
	} else {
		fe_events(bad, T_QUIET);
	}

	/* The other frontend, and new ones, are served as before. */
	ret = do_socket(good, 8);
	REQUIRE(tc, ret == 0, "another frontend's SOCKET returned %s", xstr(ret, b));
	if (pump(gs, peerfd, &x, T_MS(5000)) < 0)
		return;
	fresh = fe_open(tc);
	if (!fresh)
		return;
	ret = do_socket(fresh, 1);
	REQUIRE(tc, ret == 0, "a new frontend's SOCKET returned %s", xstr(ret, b));
}

static void cmd_overflow33(struct tc *tc)
{
	cmd_violation(tc, VIOL_33);
}

static void cmd_req_prod_far(struct tc *tc)
{
	cmd_violation(tc, VIOL_FAR);
}

static void cmd_req_prod_back(struct tc *tc)
{
	cmd_violation(tc, VIOL_BACK);
}

/* Notifications with nothing to do are harmless, on every port. */
static void cmd_spurious_events(struct tc *tc)
{
	struct xfer x = { .to_peer = 5000, .to_fe = 5000, .seed_out = 5, .seed_in = 6 };
	struct fe *fe = fe_open(tc);
	struct as *s;
	int peerfd;

	if (!fe || !(s = open_active(fe, 1, 1, &peerfd)))
		return;
	for (int i = 0; i < 2000; i++) {
		pvcalls_transport_evtchn_notify(fe->t, fe->port);
		pvcalls_transport_evtchn_notify(fe->t, s->port);
	}
	fe_events(fe, 100);
	if (fe_drain(fe) < 0 || tc_failed(tc))
		return;
	judge(tc, "SOCKET after an event storm", do_socket(fe, 2), 0, 0);
	pump(s, peerfd, &x, T_MS(5000));
}

const struct case_def cases_cmdring[] = {
	{ "cmdring.notify", cmd_notify },
	{ "cmdring.req_id_echo", cmd_req_id_echo },
	{ "cmdring.ids_64bit", cmd_ids_64bit },
	{ "cmdring.flood32", cmd_flood32 },
	{ "cmdring.unknown_cmd", cmd_unknown },
	{ "cmdring.garbage_padding", cmd_garbage_padding },
	{ "cmdring.spurious_events", cmd_spurious_events },
	{ "cmdring.overflow33", cmd_overflow33 },
	{ "cmdring.req_prod_far", cmd_req_prod_far },
	{ "cmdring.req_prod_backwards", cmd_req_prod_back },
	{ NULL, NULL },
};
