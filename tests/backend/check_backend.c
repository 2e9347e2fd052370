/* SPDX-License-Identifier: MIT */
/*
 * Focused tests of the backend driver over an in-process shm pair: the
 * negotiation, a hand-written frontend's raw requests, limits, frontend
 * death and violations, and a smoke test of each data path. Everything
 * runs on the test's thread: it drives pvcalls_back_process() itself
 * while it waits (the hub answers the guest's store calls from its own
 * thread). The wire-level conformance suite (tests/conformance) covers
 * each command exhaustively; this file checks the backend's own plumbing.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

#include "ring/barrier.h"
#include "ring/wait_hint.h"
#include "rawfe.h"
#include "xenbus/xenbus.h"

/* A data ring the raw frontend shares for CONNECT or ACCEPT. */
struct rawring {
	void *intf_page, *data;
	uint32_t intf_ref, port, order;
	pvcalls_data_ring r;
};


static void ring_share(struct rawfe *fe, struct rawring *rr, uint32_t order)
{
	uint32_t n = 1u << order, refs[512];
	struct pvcalls_wire_data_intf *intf;

	ck_assert_uint_le(n, 512);
	memset(rr, 0, sizeof(*rr));
	rr->order = order;
	ck_assert_int_eq(pvcalls_transport_share(fe->t, 0, 1, true, &rr->intf_ref, &rr->intf_page),
			 0);
	ck_assert_int_eq(pvcalls_transport_share(fe->t, 0, n, true, refs, &rr->data), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(fe->t, 0, &rr->port), 0);
	intf = rr->intf_page;
	intf->ring_order = order;
	memcpy(intf->ref, refs, n * sizeof(refs[0]));
	ck_assert_int_eq(
		pvcalls_data_ring_attach(&rr->r, intf, rr->data, order, PVCALLS_DATA_FRONTEND), 0);
}

static void ring_unshare(struct rawfe *fe, struct rawring *rr)
{
	pvcalls_transport_evtchn_close(fe->t, rr->port);
	pvcalls_transport_unshare(fe->t, rr->data, 1u << rr->order);
	pvcalls_transport_unshare(fe->t, rr->intf_page, 1);
}

/* Reads from the in ring until @len bytes arrived or @ms passed. */
static size_t ring_recv(struct rawfe *fe, struct rawring *rr, char *buf, size_t len, int ms)
{
	int64_t end = now_ms() + ms;
	size_t got = 0;

	while (got < len && now_ms() < end) {
		ssize_t n = pvcalls_data_read(&rr->r, buf + got, len - got, 0);

		ck_assert_int_ge(n, 0);
		if (n > 0) {
			got += (size_t)n;
			pvcalls_transport_evtchn_notify(fe->t, rr->port);
		} else {
			ck_assert_int_ge(pvcalls_back_process(fe->b, 2), 0);
		}
	}
	return got;
}


/* ------------------------------------------------------------------------
 * Negotiation.
 */

START_TEST(test_publish_and_initwait)
{
	struct rawfe fe;
	char v[64];

	fe_setup(&fe, NULL);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_INITWAIT));
	/* The frontend reads these, so read them as the guest. */
	ck_assert_str_eq(rd(fe.t, fe.be, PVCALLS_WIRE_KEY_VERSIONS, v), "1");
	ck_assert_str_eq(rd(fe.t, fe.be, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, v), "9");
	ck_assert_str_eq(rd(fe.t, fe.be, PVCALLS_WIRE_KEY_FUNCTION_CALLS, v), "1");
	ck_assert_str_eq(rd(fe.t, fe.be, PVC_XB_KEY_WAIT_HINT, v), "1");
	ck_assert_uint_eq(stats(&fe).frontends, 0);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_publish_options)
{
	struct pvcalls_back_opts o = { .limits.max_ring_order = 4, .no_wait_hint = true };
	struct rawfe fe;
	char v[64];

	fe_setup(&fe, &o);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_INITWAIT));
	ck_assert_str_eq(rd(fe.t, fe.be, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, v), "4");
	ck_assert_ptr_null(rd(fe.t, fe.be, PVC_XB_KEY_WAIT_HINT, v));
	{
		struct pvcalls_back_opts bad = { .limits.max_ring_order = 10 };
		pvcalls_back *b2 = NULL;

		ck_assert_int_eq(pvcalls_back_new(fe.hub, &bad, &b2), -EINVAL);
		ck_assert_ptr_null(b2);
	}
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_connect_and_close)
{
	struct rawfe fe;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ck_assert_uint_eq(stats(&fe).frontends, 1);
	ck_assert_int_eq(do_socket(&fe, 7), 0);

	/* Closing: everything released, backend Closing; then Closed. */
	fe_set_state(&fe, PVCALLS_XENBUS_CLOSING);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_CLOSING));
	ck_assert_uint_eq(stats(&fe).frontends, 0);
	fe_set_state(&fe, PVCALLS_XENBUS_CLOSED);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_CLOSED));
	/* A frontend that comes back finds InitWait again... */
	fe_set_state(&fe, PVCALLS_XENBUS_INITIALISING);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_INITWAIT));
	/* ...and one that reconnects straight from Closed is served, as by
	 * Linux's backend, on its new ring. */
	fe_set_state(&fe, PVCALLS_XENBUS_CLOSED);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_CLOSED));
	fe_connect(&fe, false, false);
	ck_assert_int_eq(do_socket(&fe, 7), 0);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_bad_ring_ref_stays_put)
{
	struct rawfe fe;

	fe_setup(&fe, NULL);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_INITWAIT));
	wr(fe.t, fe.dev, PVCALLS_WIRE_KEY_RING_REF, "12345");
	wr(fe.t, fe.dev, PVCALLS_WIRE_KEY_PORT, "1");
	fe_set_state(&fe, PVCALLS_XENBUS_INITIALISED);
	pump(fe.b, 100);
	ck_assert_uint_eq(be_state(&fe), PVCALLS_XENBUS_INITWAIT);
	wr(fe.t, fe.dev, PVCALLS_WIRE_KEY_RING_REF, "not a number");
	pump(fe.b, 50);
	ck_assert_uint_eq(be_state(&fe), PVCALLS_XENBUS_INITWAIT);
	ck_assert_uint_eq(stats(&fe).frontends, 0);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_frontend_death)
{
	struct rawfe fe;
	struct rawring rr;
	uint16_t port;
	int lfd = host_listen(&port);
	struct pvcalls_wire_request req;
	struct sockaddr_in a = loopback(port);
	char v[64];

	fe_setup(&fe, NULL);
	fe_connect(&fe, true, true);
	ring_share(&fe, &rr, 1);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	ck_assert_uint_eq(stats(&fe).active_sockets, 1);

	/* The guest goes away without a word: the hub removes its nodes. */
	pvcalls_transport_close(fe.t);
	fe.t = NULL;
	for (int64_t end = now_ms() + T_MS; now_ms() < end && stats(&fe).frontends;)
		pump(fe.b, 5);
	ck_assert_uint_eq(stats(&fe).frontends, 0);
	ck_assert_uint_eq(stats(&fe).active_sockets, 0);
	pump(fe.b, 20);
	/* Nothing was written back into the dead domain's directory. */
	ck_assert_ptr_null(rd(fe.hub, fe.be, PVCALLS_WIRE_KEY_STATE, v));
	ck_assert_int_eq(stats(&fe).commands[PVCALLS_WIRE_CONNECT], 1);
	close(lfd);
	fe_teardown(&fe);
}
END_TEST

/* ------------------------------------------------------------------------
 * Raw requests.
 */

START_TEST(test_requests)
{
	struct pvcalls_wire_request req;
	struct pvcalls_wire_response rsp;
	struct rawfe fe;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_socket(&fe, 0x1122334455667788ull), 0);
	ck_assert_int_eq(do_socket(&fe, 0x1122334455667788ull), -17);

	memset(&req, 0, sizeof(req));
	req.cmd = PVCALLS_WIRE_SOCKET;
	req.u.socket.id = 9;
	req.u.socket.domain = 10; /* AF_INET6 */
	req.u.socket.type = 1;
	ck_assert_int_eq(call(&fe, &req), -97);

	memset(&req, 0, sizeof(req));
	req.cmd = 42;
	req.u.poll.id = 0xabcdef;
	ck_assert_int_eq(call(&fe, &req), -524);

	pvcalls_req_poll(&req, 0, 555);
	ck_assert_int_eq(call(&fe, &req), -22);
	ck_assert_int_eq(do_listen_backlog(&fe, 555, 5), -22);
	pvcalls_req_release(&req, 0, 555);
	ck_assert_int_eq(call(&fe, &req), 0);
	/* POLL on an id that is not passive. */
	pvcalls_req_poll(&req, 0, 0x1122334455667788ull);
	ck_assert_int_eq(call(&fe, &req), -22);
	pvcalls_req_release(&req, 0, 0x1122334455667788ull);
	ck_assert_int_eq(call(&fe, &req), 0);
	ck_assert_int_eq(do_socket(&fe, 0x1122334455667788ull), 0);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 50), 0); /* exactly one response each */

	ck_assert_uint_eq(stats(&fe).bad_commands, 2);
	ck_assert_uint_eq(stats(&fe).commands[PVCALLS_WIRE_SOCKET], 4);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_limits)
{
	struct pvcalls_back_opts o = { .limits = { .max_sockets = 3, .max_listeners = 1 } };
	struct pvcalls_wire_request req;
	struct sockaddr_in a = loopback(0);
	struct rawfe fe;

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_socket(&fe, 1), 0);
	ck_assert_int_eq(do_bind_addr(&fe, 1, &a), 0);
	ck_assert_int_eq(do_socket(&fe, 2), 0);
	ck_assert_int_eq(do_bind_addr(&fe, 2, &a), -24); /* EMFILE: one listener only */
	ck_assert_int_eq(do_socket(&fe, 3), 0);
	ck_assert_int_eq(do_socket(&fe, 4), -24); /* EMFILE: three ids only */
	pvcalls_req_release(&req, 0, 3);
	ck_assert_int_eq(call(&fe, &req), 0);
	ck_assert_int_eq(do_socket(&fe, 4), 0);
	ck_assert_uint_eq(stats(&fe).passive_sockets, 1);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_limits_pages_and_accepts)
{
	/* The command page counts too: 1 + (1 + 2) pages fit, no more. */
	struct pvcalls_back_opts o = { .limits = { .max_mapped_pages = 4,
						   .max_pending_accepts = 1 } };
	struct pvcalls_wire_request req;
	struct pvcalls_wire_response rsp;
	struct sockaddr_in a = loopback(free_port());
	struct rawring r1, r2;
	struct rawfe fe;

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_bind_addr(&fe, 1, &a), 0);
	ck_assert_int_eq(do_listen_backlog(&fe, 1, 1), 0);
	ring_share(&fe, &r1, 1);
	ring_share(&fe, &r2, 0);
	pvcalls_req_accept(&req, 0, 1, 2, r1.intf_ref, r1.port);
	send_req(&fe, &req);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 50), 0); /* pending */
	pvcalls_req_accept(&req, 0, 1, 3, r2.intf_ref, r2.port);
	ck_assert_int_eq(call(&fe, &req), -105); /* ENOBUFS: one pending ACCEPT */
	ck_assert_int_eq(do_socket(&fe, 3), 0);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 3, (struct sockaddr *)&a, sizeof(a),
					     r2.intf_ref, r2.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), -105); /* ENOBUFS: no pages left */
	/* Releasing the listener answers its ACCEPT and frees the pages. */
	pvcalls_req_release(&req, 0, 1);
	send_req(&fe, &req);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_int_eq(rsp.ret, -9);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_int_eq(rsp.ret, 0);
	ring_unshare(&fe, &r1);
	ring_unshare(&fe, &r2);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_cmd_ring_violation)
{
	struct rawfe fe;
	struct pvcalls_wire_cmd_sring *sr;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_socket(&fe, 1), 0);
	sr = fe.page;
	pvc_store_release(&sr->req_prod, pvc_read_once(&sr->req_prod) + 100);
	pvcalls_transport_evtchn_notify(fe.t, fe.port);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_CLOSING));
	ck_assert_uint_eq(stats(&fe).protocol_errors, 1);
	ck_assert_uint_eq(stats(&fe).frontends, 0);
	/* Its state still says Connected: no reconnection on a mere write. */
	wr(fe.t, fe.dev, "anything", "1");
	pump(fe.b, 50);
	ck_assert_uint_eq(be_state(&fe), PVCALLS_XENBUS_CLOSING);
	ck_assert_uint_eq(stats(&fe).protocol_errors, 1);
	fe_set_state(&fe, PVCALLS_XENBUS_CLOSED);
	ck_assert(pump_state(&fe, PVCALLS_XENBUS_CLOSED));
	fe_teardown(&fe);
}
END_TEST

/* ------------------------------------------------------------------------
 * Data paths (smoke tests; the conformance suite goes further).
 */

static void active_relay(bool hint)
{
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr;
	uint16_t port;
	int lfd = host_listen(&port), c;
	struct sockaddr_in a = loopback(port);
	char buf[64];

	fe_setup(&fe, NULL);
	fe_connect(&fe, hint, true);
	ring_share(&fe, &rr, 1);
	ck_assert_int_eq(do_socket(&fe, 5), 0);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 5, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	c = accept(lfd, NULL, NULL);
	ck_assert_int_ge(c, 0);

	/* guest -> host */
	ck_assert_int_eq(pvcalls_data_write(&rr.r, "ping", 4), 4);
	if (!hint || pvc_hint_peer_waiting(rr.intf_page, false))
		pvcalls_transport_evtchn_notify(fe.t, rr.port);
	pump(fe.b, 20);
	ck_assert_int_eq(recv(c, buf, sizeof(buf), MSG_DONTWAIT), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);

	/* host -> guest, then end of stream after the data */
	ck_assert_int_eq(send(c, "pong", 4, 0), 4);
	close(c);
	ck_assert_uint_eq(ring_recv(&fe, &rr, buf, 4, T_MS), 4);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	for (int64_t end = now_ms() + T_MS; now_ms() < end && !pvcalls_data_rx_error(&rr.r);)
		pump(fe.b, 2);
	ck_assert_int_eq(pvcalls_data_rx_error(&rr.r), -107);
	ck_assert_uint_eq(stats(&fe).bytes_to_guest, 4);
	ck_assert_uint_eq(stats(&fe).bytes_from_guest, 4);

	pvcalls_req_release(&req, 0, 5);
	ck_assert_int_eq(call(&fe, &req), 0);
	ck_assert_uint_eq(stats(&fe).active_sockets, 0);
	ring_unshare(&fe, &rr);
	close(lfd);
	fe_teardown(&fe);
}

START_TEST(test_active_relay)
{
	active_relay(false);
}
END_TEST

START_TEST(test_active_relay_hint)
{
	active_relay(true);
}
END_TEST

/*
 * Many ports pending at once, the backend not polling: it takes one port
 * per wakeup and relies on the transport's fd staying readable for the
 * others, so every pvcalls_back_process() call must find work at once
 * (a call that waits out its timeout means a port was left behind).
 */
START_TEST(test_many_ports_pending)
{
	enum { N = 8 };
	struct pvcalls_back_opts o = { .spin_us = PVCALLS_BACK_NO_SPIN };
	struct pvcalls_wire_request req;
	struct rawring rr[N];
	struct rawfe fe;
	uint16_t port;
	int lfd = host_listen(&port), c[N], calls = 0;
	struct sockaddr_in a = loopback(port);
	bool got[N] = { false };
	unsigned left = N;
	char buf[16];

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	for (unsigned i = 0; i < N; i++) {
		ring_share(&fe, &rr[i], 0);
		ck_assert_int_eq(do_socket(&fe, 100 + i), 0);
		ck_assert_int_eq(pvcalls_req_connect(&req, 0, 100 + i, (struct sockaddr *)&a,
						     sizeof(a), rr[i].intf_ref, rr[i].port),
				 0);
		ck_assert_int_eq(call(&fe, &req), 0);
		c[i] = accept(lfd, NULL, NULL);
		ck_assert_int_ge(c[i], 0);
	}
	/* everything settles: nothing is left to do */
	pump(fe.b, 20);
	/* one message on each ring, every port notified before the backend runs */
	for (unsigned i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "msg%u", i);
		ck_assert_int_eq(pvcalls_data_write(&rr[i].r, buf, 4), 4);
	}
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(pvcalls_transport_evtchn_notify(fe.t, rr[i].port), 0);
	while (left) {
		ck_assert_int_lt(calls++, 4 * N);
		ck_assert_int_gt(pvcalls_back_process(fe.b, T_MS), 0);
		for (unsigned i = 0; i < N; i++) {
			char want[16];

			if (got[i] || recv(c[i], buf, sizeof(buf), MSG_DONTWAIT) != 4)
				continue;
			snprintf(want, sizeof(want), "msg%u", i);
			ck_assert_int_eq(memcmp(buf, want, 4), 0);
			got[i] = true;
			left--;
		}
	}
	ck_assert_uint_eq(stats(&fe).bytes_from_guest, 4 * N);
	for (unsigned i = 0; i < N; i++) {
		pvcalls_req_release(&req, 0, 100 + i);
		ck_assert_int_eq(call(&fe, &req), 0);
		ring_unshare(&fe, &rr[i]);
		close(c[i]);
	}
	close(lfd);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_connect_refused_and_bad_rings)
{
	struct pvcalls_back_opts o = { .limits.max_ring_order = 2 };
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr;
	struct sockaddr_in a = loopback(free_port());

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	ring_share(&fe, &rr, 1);
	/* Asynchronous failure: the wire errno, and the id is usable again. */
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), -111);
	ck_assert_uint_eq(stats(&fe).active_sockets, 0);
	/* A ref nobody granted. */
	ck_assert_int_eq(
		pvcalls_req_connect(&req, 0, 2, (struct sockaddr *)&a, sizeof(a), 4000, rr.port),
		0);
	ck_assert_int_eq(call(&fe, &req), -14);
	/* ring_order above max-page-order. */
	((struct pvcalls_wire_data_intf *)rr.intf_page)->ring_order = 3;
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 3, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), -22);
	ring_unshare(&fe, &rr);
	fe_teardown(&fe);
}
END_TEST

/*
 * The transport's own shortage is not a bad ref: a hub whose mapping budget
 * for this guest is spent answers -ENOBUFS (issue 13); a ref nobody
 * granted stays -EFAULT.
 */
START_TEST(test_map_budget_enobufs)
{
	/* Command page 1 region, indexes page 1; 4 scattered data pages 4. */
	struct pvcalls_shm_opts ho = { .max_maps_per_guest = 4 };
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr;
	struct sockaddr_in a = loopback(free_port());
	struct pvcalls_wire_data_intf *intf;
	uint32_t t;

	fe_setup_hub(&fe, NULL, &ho);
	fe_connect(&fe, false, true);
	ring_share(&fe, &rr, 2);
	intf = rr.intf_page;
	/* Reversed refs: one region per page. */
	t = intf->ref[0], intf->ref[0] = intf->ref[3], intf->ref[3] = t;
	t = intf->ref[1], intf->ref[1] = intf->ref[2], intf->ref[2] = t;
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), -105); /* ENOBUFS, not EFAULT */
	ck_assert_int_eq(
		pvcalls_req_connect(&req, 0, 2, (struct sockaddr *)&a, sizeof(a), 4000, rr.port),
		0);
	ck_assert_int_eq(call(&fe, &req), -14); /* EFAULT: a bad ref */
	ck_assert_uint_eq(stats(&fe).active_sockets, 0);
	ring_unshare(&fe, &rr);
	fe_teardown(&fe);
}
END_TEST

/*
 * What Linux does with SO_REUSEADDR (the backend sets it on BIND): two
 * sockets may bind one address and port while neither listens, and the
 * first to listen wins; a bind over a listener is refused.
 */
START_TEST(test_linux_reuseaddr)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int one = 1, s1, s2, s3;

	s1 = socket(AF_INET, SOCK_STREAM, 0);
	s2 = socket(AF_INET, SOCK_STREAM, 0);
	s3 = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(s1 >= 0 && s2 >= 0 && s3 >= 0);
	setsockopt(s1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s3, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(s1, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(s1, (struct sockaddr *)&a, &len), 0);
	/* Neither listens: the second bind succeeds... */
	ck_assert_int_eq(bind(s2, (struct sockaddr *)&a, sizeof(a)), 0);
	/* ...and whoever listens first takes the port. */
	ck_assert_int_eq(listen(s2, 1), 0);
	ck_assert_int_eq(listen(s1, 1), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	/* Over a listener, bind is refused. */
	ck_assert_int_eq(bind(s3, (struct sockaddr *)&a, sizeof(a)), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	close(s1);
	close(s2);
	close(s3);
}
END_TEST

/*
 * Issue 13: a guest could take over another guest's port. Guest B binds
 * the address guest A has bound (SO_REUSEADDR lets it) and listens first.
 * The backend refuses a BIND to an address:port any frontend's bound or
 * listening socket holds, wildcards included; once A releases, B may.
 */
START_TEST(test_bind_taken_across_frontends)
{
	struct pvcalls_wire_request req;
	struct sockaddr_in a = loopback(free_port()), any = a;
	struct rawfe fa, fb;

	any.sin_addr.s_addr = htonl(INADDR_ANY);
	fe_setup(&fa, NULL);
	fe_connect(&fa, false, true);
	fe_setup_more(&fb, &fa);
	fe_connect(&fb, false, true);
	ck_assert_uint_ne(fa.domid, fb.domid);
	ck_assert_int_eq(do_bind_addr(&fa, 1, &a), 0);
	/* B: the same address, then the wildcard: both taken (A only bound). */
	ck_assert_int_eq(do_bind_addr(&fb, 7, &a), -98);
	ck_assert_int_eq(do_bind_addr(&fb, 7, &any), -98);
	/* A's own second socket on its address: refused too. */
	ck_assert_int_eq(do_bind_addr(&fa, 2, &a), -98);
	ck_assert_int_eq(do_listen_backlog(&fa, 1, 4), 0);
	ck_assert_int_eq(do_bind_addr(&fb, 7, &a), -98);
	/* Released: B may have it (SO_REUSEADDR: no TIME_WAIT in the way). */
	pvcalls_req_release(&req, 0, 1);
	ck_assert_int_eq(call(&fa, &req), 0);
	ck_assert_int_eq(do_bind_addr(&fb, 7, &a), 0);
	ck_assert_int_eq(do_listen_backlog(&fb, 7, 4), 0);
	/* Port 0: a port nobody holds. */
	a.sin_port = 0;
	ck_assert_int_eq(do_bind_addr(&fa, 3, &a), 0);
	fe_teardown_more(&fb);
	fe_teardown(&fa);
}
END_TEST

START_TEST(test_passive)
{
	struct pvcalls_wire_request req, poll_req, acc;
	struct pvcalls_wire_response rsp;
	struct rawfe fe;
	struct rawring rr, rr2;
	uint16_t port = free_port();
	struct sockaddr_in a = loopback(port);
	char buf[16];
	int c;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_bind_addr(&fe, 10, &a), 0);
	ck_assert_int_eq(do_listen_backlog(&fe, 10, 4), 0);

	/* POLL waits for a connection. */
	pvcalls_req_poll(&poll_req, 0, 10);
	send_req(&fe, &poll_req);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 50), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_uint_eq(rsp.req_id, poll_req.req_id);
	ck_assert_uint_eq(rsp.cmd, PVCALLS_WIRE_POLL);
	ck_assert_int_eq(rsp.ret, 0);

	/* ACCEPT takes it; the response carries the listener's id. */
	ring_share(&fe, &rr, 0);
	pvcalls_req_accept(&acc, 0, 10, 11, rr.intf_ref, rr.port);
	ck_assert_int_eq(call(&fe, &acc), 0);
	ck_assert_int_eq(send(c, "hi", 2, 0), 2);
	ck_assert_uint_eq(ring_recv(&fe, &rr, buf, 2, T_MS), 2);
	ck_assert_int_eq(memcmp(buf, "hi", 2), 0);

	/* A pending ACCEPT is answered -EBADF before the listener's RELEASE. */
	ring_share(&fe, &rr2, 0);
	pvcalls_req_accept(&acc, 0, 10, 12, rr2.intf_ref, rr2.port);
	send_req(&fe, &acc);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 50), 0);
	pvcalls_req_release(&req, 0, 10);
	send_req(&fe, &req);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_uint_eq(rsp.req_id, acc.req_id);
	ck_assert_uint_eq(rsp.u.id, 10);
	ck_assert_int_eq(rsp.ret, -9);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_uint_eq(rsp.req_id, req.req_id);
	ck_assert_int_eq(rsp.ret, 0);
	ck_assert_uint_eq(stats(&fe).passive_sockets, 0);
	ck_assert_uint_eq(stats(&fe).active_sockets, 1);

	pvcalls_req_release(&req, 0, 11);
	ck_assert_int_eq(call(&fe, &req), 0);
	close(c);
	ring_unshare(&fe, &rr);
	ring_unshare(&fe, &rr2);
	fe_teardown(&fe);
}
END_TEST

static uint8_t pat_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12));
}

/*
 * send() then close() at once: nothing the out ring held may be lost,
 * even when the host socket cannot take it yet (the backend lingers).
 */
START_TEST(test_release_flushes)
{
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr;
	uint16_t port;
	int lfd = host_listen(&port), c;
	struct sockaddr_in a = loopback(port);
	uint8_t chunk[65536], got[65536];
	size_t sent = 0, n = 0;

	fe_setup(&fe, NULL);
	fe_connect(&fe, true, true);
	ring_share(&fe, &rr, 4);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	c = accept(lfd, NULL, NULL);
	ck_assert_int_ge(c, 0);
	/* The host does not read: fill the kernel, then the out ring. */
	for (int64_t end = now_ms() + 10 * T_MS; now_ms() < end;) {
		ssize_t w;

		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = pat_byte(sent + i);
		w = pvcalls_data_write(&rr.r, chunk, sizeof(chunk));
		ck_assert_int_ge(w, 0);
		sent += (size_t)w;
		pvcalls_transport_evtchn_notify(fe.t, rr.port);
		pump(fe.b, 5);
		if (pvcalls_data_tx_free(&rr.r) == 0)
			break;
	}
	ck_assert_int_eq(pvcalls_data_tx_free(&rr.r), 0);
	/* The last bytes go in with the RELEASE, without a round in between. */
	pvcalls_req_release(&req, 0, 1);
	ck_assert_int_eq(call(&fe, &req), 0);
	ring_unshare(&fe, &rr);
	for (int64_t end = now_ms() + 10 * T_MS; now_ms() < end;) {
		ssize_t r = recv(c, got, sizeof(got), MSG_DONTWAIT);

		if (r == 0)
			break;
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				chunk[i] = pat_byte(n + (size_t)i);
			ck_assert_int_eq(memcmp(got, chunk, (size_t)r), 0);
			n += (size_t)r;
		}
		ck_assert_int_ge(pvcalls_back_process(fe.b, 1), 0);
	}
	ck_assert_uint_eq(n, sent);
	close(c);
	close(lfd);
	fe_teardown(&fe);
}
END_TEST

/*
 * Issue 13: a released socket whose bytes still linger is a host fd the
 * guest no longer counts: connect/fill/release loops opened host sockets
 * without bound. It now counts against max_sockets until it ends.
 */
START_TEST(test_linger_counts_in_max_sockets)
{
	struct pvcalls_back_opts o = { .limits.max_sockets = 2 };
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr;
	uint16_t port;
	int lfd = host_listen(&port), c;
	struct sockaddr_in a = loopback(port);
	uint8_t chunk[65536];

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	ring_share(&fe, &rr, 4);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	c = accept(lfd, NULL, NULL);
	ck_assert_int_ge(c, 0);
	memset(chunk, 'x', sizeof(chunk));
	for (int64_t end = now_ms() + 10 * T_MS; now_ms() < end;) {
		ck_assert_int_ge(pvcalls_data_write(&rr.r, chunk, sizeof(chunk)), 0);
		pvcalls_transport_evtchn_notify(fe.t, rr.port);
		pump(fe.b, 5);
		if (pvcalls_data_tx_free(&rr.r) == 0)
			break;
	}
	ck_assert_int_eq(pvcalls_data_tx_free(&rr.r), 0);
	pvcalls_req_release(&req, 0, 1);
	ck_assert_int_eq(call(&fe, &req), 0);
	ring_unshare(&fe, &rr);
	/* One id and one lingering socket: the budget of two is spent. */
	ck_assert_int_eq(do_socket(&fe, 2), 0);
	ck_assert_int_eq(do_socket(&fe, 3), -24); /* EMFILE */
	/* The host reads it all: the linger ends, the slot is back. */
	for (int64_t end = now_ms() + 10 * T_MS; now_ms() < end;) {
		ssize_t r = recv(c, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (r == 0)
			break;
		ck_assert_int_ge(pvcalls_back_process(fe.b, 1), 0);
	}
	pump(fe.b, 20);
	ck_assert_int_eq(do_socket(&fe, 3), 0);
	close(c);
	close(lfd);
	fe_teardown(&fe);
}
END_TEST

/*
 * Issue 13: after accept4() failed with EMFILE, the other pending ACCEPTs
 * waited for a new connection although connections were queued (the
 * listener is edge-triggered). The oldest ACCEPT gets EMFILE; the next is
 * served from the queue once descriptors are back. Check forks each test,
 * so the lowered RLIMIT_NOFILE stays in this test's child.
 */
START_TEST(test_accept_emfile_retries)
{
	struct pvcalls_wire_request req, acc3;
	struct pvcalls_wire_response rsp;
	struct sockaddr_in a = loopback(free_port());
	struct rlimit saved, low;
	struct rawring r1, r2;
	struct rawfe fe;
	int c1, c2, probe;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ck_assert_int_eq(do_bind_addr(&fe, 1, &a), 0);
	ck_assert_int_eq(do_listen_backlog(&fe, 1, 4), 0);
	ring_share(&fe, &r1, 0);
	ring_share(&fe, &r2, 0);
	/* Two ACCEPTs wait; no connection yet. */
	pvcalls_req_accept(&req, 0, 1, 2, r1.intf_ref, r1.port);
	send_req(&fe, &req);
	pvcalls_req_accept(&acc3, 0, 1, 3, r2.intf_ref, r2.port);
	send_req(&fe, &acc3);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 50), 0);
	/* The clients' sockets now; no descriptor left after them. */
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(c1 >= 0 && c2 >= 0);
	probe = dup(0);
	ck_assert_int_ge(probe, 0);
	close(probe);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)probe;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Both connections are queued at once: one edge. */
	ck_assert_int_eq(connect(c1, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(connect(c2, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_int_eq(rsp.ret, -24); /* the oldest ACCEPT: EMFILE, as accept(2) */
	ck_assert_uint_eq(rsp.req_id, req.req_id);
	ck_assert_int_eq(get_rsp(&fe, &rsp, 300), 0); /* still short: waits */
	/* Descriptors are back: the queued connection is served, no new one. */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_int_eq(get_rsp(&fe, &rsp, T_MS), 1);
	ck_assert_int_eq(rsp.ret, 0);
	ck_assert_uint_eq(rsp.req_id, acc3.req_id);
	ck_assert_uint_eq(stats(&fe).active_sockets, 1);
	close(c1);
	close(c2);
	ring_unshare(&fe, &r1);
	ring_unshare(&fe, &r2);
	fe_teardown(&fe);
}
END_TEST

START_TEST(test_data_ring_violation)
{
	struct pvcalls_wire_request req;
	struct rawfe fe;
	struct rawring rr, rr2;
	uint16_t port;
	int lfd = host_listen(&port);
	struct sockaddr_in a = loopback(port);
	struct pvcalls_wire_data_intf *intf;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	ring_share(&fe, &rr, 1);
	ring_share(&fe, &rr2, 1);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 1, (struct sockaddr *)&a, sizeof(a),
					     rr.intf_ref, rr.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	ck_assert_int_eq(pvcalls_req_connect(&req, 0, 2, (struct sockaddr *)&a, sizeof(a),
					     rr2.intf_ref, rr2.port),
			 0);
	ck_assert_int_eq(call(&fe, &req), 0);
	/* out_prod far beyond anything written: that socket stops with -EPROTO. */
	intf = rr.intf_page;
	pvc_store_release(&intf->out_prod, 1u << 30);
	pvcalls_transport_evtchn_notify(fe.t, rr.port);
	pump(fe.b, 50);
	ck_assert_int_eq(pvc_load_acquire(&intf->in_error), -71);
	ck_assert_int_eq(pvc_load_acquire(&intf->out_error), -71);
	/* The frontend and its other socket carry on. */
	ck_assert_uint_eq(stats(&fe).frontends, 1);
	ck_assert_uint_eq(be_state(&fe), PVCALLS_XENBUS_CONNECTED);
	ck_assert_int_eq(
		pvc_load_acquire(&((struct pvcalls_wire_data_intf *)rr2.intf_page)->in_error), 0);
	ck_assert_int_eq(do_socket(&fe, 3), 0);
	ring_unshare(&fe, &rr);
	ring_unshare(&fe, &rr2);
	close(lfd);
	fe_teardown(&fe);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Fairness between frontends (issue 13)                                  */

/* Pushes @n SOCKET requests (ids from @id0) without waiting for answers. */
static void push_sockets(struct rawfe *fe, uint64_t id0, unsigned n)
{
	struct pvcalls_wire_request req;

	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(pvcalls_req_socket(&req, 0, id0 + i, AF_INET, SOCK_STREAM, 0), 0);
		send_req(fe, &req);
	}
}

/* Takes the answers that arrived; checks each is a SOCKET's success, in
 * order (req_id counts from @first). Returns how many arrived so far. */
static unsigned take_answers(struct rawfe *fe, uint32_t first, unsigned *got)
{
	struct pvcalls_wire_response rsp;

	while (pvcalls_cmd_front_get(&fe->cmd, &rsp) == 1) {
		ck_assert_uint_eq(rsp.req_id, first + *got);
		ck_assert_uint_eq(rsp.cmd, PVCALLS_WIRE_SOCKET);
		ck_assert_int_eq(rsp.ret, 0);
		(*got)++;
	}
	return *got;
}

/*
 * A full command ring is more than one round's budget: the first round
 * answers only part of it, and the rest is answered in the following
 * rounds without another notification.
 */
START_TEST(test_cmd_budget_all_answered)
{
	struct rawfe fe;
	unsigned got = 0, rounds = 0;
	uint32_t first;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	first = fe.next_req;
	push_sockets(&fe, 1, PVCALLS_WIRE_CMD_RING_SIZE);
	ck_assert_int_gt(pvcalls_back_process(fe.b, 0), 0);
	take_answers(&fe, first, &got);
	ck_assert_uint_gt(got, 0);
	ck_assert_uint_lt(got, PVCALLS_WIRE_CMD_RING_SIZE);
	while (take_answers(&fe, first, &got) < PVCALLS_WIRE_CMD_RING_SIZE) {
		ck_assert_uint_lt(rounds++, 1000);
		ck_assert_int_ge(pvcalls_back_process(fe.b, 0), 0);
	}
	ck_assert_uint_eq(stats(&fe).commands[PVCALLS_WIRE_SOCKET], PVCALLS_WIRE_CMD_RING_SIZE);
	fe_teardown(&fe);
}
END_TEST

/*
 * Two frontends with many requests each are served in turns: neither is
 * finished before the other got answers, and they never drift apart by
 * more than two rounds' budgets.
 */
START_TEST(test_cmd_budget_interleave)
{
	enum { N = 24 };
	struct rawfe fa, fb;
	unsigned ga = 0, gb = 0, rounds = 0;
	uint32_t a0, b0;

	fe_setup(&fa, NULL);
	fe_connect(&fa, false, true);
	fe_setup_more(&fb, &fa);
	fe_connect(&fb, false, true);
	pump(fa.b, 20);
	a0 = fa.next_req;
	b0 = fb.next_req;
	push_sockets(&fa, 1, N);
	push_sockets(&fb, 1, N);
	while (ga < N || gb < N) {
		ck_assert_uint_lt(rounds++, 1000);
		ck_assert_int_ge(pvcalls_back_process(fa.b, 0), 0);
		take_answers(&fa, a0, &ga);
		take_answers(&fb, b0, &gb);
		if (ga == N)
			ck_assert_uint_gt(gb, 0);
		if (gb == N)
			ck_assert_uint_gt(ga, 0);
		ck_assert_uint_le(ga > gb ? ga - gb : gb - ga, 16);
	}
	fe_teardown_more(&fb);
	fe_teardown(&fa);
}
END_TEST

/*
 * A frontend notifying its command ring in a loop with nothing on it:
 * after a few empty events its port stays masked for a while, so most
 * notifications cost the backend nothing; a request it then sends is
 * still answered.
 */
START_TEST(test_notify_storm_deferred)
{
	struct rawfe fe;
	int handled = 0;

	fe_setup(&fe, NULL);
	fe_connect(&fe, false, true);
	pump(fe.b, 20);
	for (unsigned i = 0; i < 200; i++) {
		int n;

		ck_assert_int_eq(pvcalls_transport_evtchn_notify(fe.t, fe.port), 0);
		n = pvcalls_back_process(fe.b, 0);
		ck_assert_int_ge(n, 0);
		handled += n;
	}
	/* Without deferral every notification is one event handled. */
	ck_assert_int_lt(handled, 100);
	ck_assert_int_eq(do_socket(&fe, 7), 0);
	/* Work resets the count: the next request is answered too. */
	ck_assert_int_eq(do_socket(&fe, 8), 0);
	fe_teardown(&fe);
}
END_TEST

/*
 * Command rate (backend.h, cmd_rate). A frontend sending SOCKET and
 * RELEASE of one id, alternately: any request dropped, repeated or taken
 * out of order shows as a wrong req_id, a wrong command or -EEXIST.
 */
static void push_pairs(struct rawfe *fe, unsigned n)
{
	struct pvcalls_wire_request req;

	for (unsigned i = 0; i < n; i++) {
		if (i % 2 == 0)
			ck_assert_int_eq(pvcalls_req_socket(&req, 0, 1, AF_INET, SOCK_STREAM, 0),
					 0);
		else
			pvcalls_req_release(&req, 0, 1);
		send_req(fe, &req);
	}
}

static unsigned take_pairs(struct rawfe *fe, uint32_t first, unsigned *got)
{
	struct pvcalls_wire_response rsp;

	while (pvcalls_cmd_front_get(&fe->cmd, &rsp) == 1) {
		ck_assert_uint_eq(rsp.req_id, first + *got);
		ck_assert_uint_eq(rsp.cmd, *got % 2 ? PVCALLS_WIRE_RELEASE : PVCALLS_WIRE_SOCKET);
		ck_assert_int_eq(rsp.ret, 0);
		(*got)++;
	}
	return *got;
}

/* The held-back count of the frontend of domain @domid. */
static uint64_t held_of(struct rawfe *fe, uint32_t domid)
{
	struct pvcalls_back_frontend l[4];
	int n = pvcalls_back_list_frontends(fe->b, l, 4);

	for (int i = 0; i < n; i++)
		if (l[i].domid == domid)
			return l[i].st.cmd_held;
	ck_abort_msg("no frontend of domain %u", domid);
	return 0;
}

/*
 * A flooding frontend (cmd_rate 20/s, burst 2) against a busy one
 * (unlimited, by the policy's limits for its domain): every request of
 * the busy one is answered at once while the flooder's wait on its ring;
 * when the busy one stops, the flooder's are all answered, in order,
 * without another notification. Counts only: the flooder may get a few
 * more than its rate says when this thread is descheduled for longer
 * than the contention window, never all of them.
 */
START_TEST(test_cmd_rate_holds_flooder)
{
	enum { N = 30, BUSY = 150 };
	struct pvcalls_back_opts o = { .limits = { .cmd_rate = 20, .cmd_burst = 2 } };
	struct pvcalls_back_limits unl = { .cmd_rate = PVCALLS_BACK_UNLIMITED };
	struct pvcalls_wire_request req;
	struct pvcalls_wire_response rsp;
	struct rawfe fa, fb;
	pvcalls_policy *p;
	unsigned ga = 0, rounds = 0;
	uint32_t a0;

	fe_setup(&fa, &o);
	fe_connect(&fa, false, true);
	fe_setup_more(&fb, &fa);
	fe_connect(&fb, false, true);
	ck_assert_int_eq(pvcalls_policy_new(&p), 0);
	ck_assert_int_eq(pvcalls_policy_set_limits(p, fb.domid, &unl), 0);
	ck_assert_int_eq(pvcalls_back_set_policy(fa.b, p), 0);
	pump(fa.b, 20);
	a0 = fa.next_req;
	ck_assert_int_eq(do_socket(&fb, 1), 0); /* fb has work: contention */
	push_pairs(&fa, N);
	for (unsigned i = 0; i < BUSY; i++) {
		if (i % 2 == 0)
			ck_assert_int_eq(pvcalls_req_socket(&req, 0, 2, AF_INET, SOCK_STREAM, 0),
					 0);
		else
			pvcalls_req_release(&req, 0, 2);
		send_req(&fb, &req);
		ck_assert_int_eq(get_rsp(&fb, &rsp, T_MS), 1);
		ck_assert_int_eq(rsp.ret, 0);
		take_pairs(&fa, a0, &ga);
	}
	/* 2 saved up, 20/s: a handful in a few ms, not 30. */
	ck_assert_uint_lt(ga, N);
	ck_assert_uint_gt(held_of(&fa, fa.domid), 0);
	ck_assert_uint_eq(held_of(&fa, fb.domid), 0);
	/* fb is idle now: the rest comes within one token interval (50 ms)
	 * after the contention window (10 ms). */
	while (take_pairs(&fa, a0, &ga) < N) {
		ck_assert_uint_lt(rounds++, 10000);
		ck_assert_int_ge(pvcalls_back_process(fa.b, 10), 0);
	}
	ck_assert_uint_eq(stats(&fa).commands[PVCALLS_WIRE_SOCKET], N / 2 + BUSY / 2 + 1);
	fe_teardown_more(&fb);
	fe_teardown(&fa);
}
END_TEST

/*
 * Work-conserving: a lone frontend far over its rate (1/s, burst 1) is
 * never held, and a full ring is answered in as many rounds as without
 * a rate (BACK_CMD_BATCH each).
 */
START_TEST(test_cmd_rate_lone_not_held)
{
	struct pvcalls_back_opts o = { .limits = { .cmd_rate = 1, .cmd_burst = 1 } };
	struct rawfe fe;
	unsigned got = 0, rounds = 0;
	uint32_t first;

	fe_setup(&fe, &o);
	fe_connect(&fe, false, true);
	pump(fe.b, 20);
	for (unsigned k = 0; k < 3; k++) {
		first = fe.next_req;
		got = rounds = 0;
		push_pairs(&fe, PVCALLS_WIRE_CMD_RING_SIZE);
		while (take_pairs(&fe, first, &got) < PVCALLS_WIRE_CMD_RING_SIZE) {
			ck_assert_uint_lt(rounds++, 1000);
			ck_assert_int_ge(pvcalls_back_process(fe.b, 0), 0);
		}
		/* 32 requests, 8 a round: 4 rounds and the one that found none. */
		ck_assert_uint_le(rounds, 6);
	}
	ck_assert_uint_eq(stats(&fe).cmd_held, 0);
	fe_teardown(&fe);
}
END_TEST

/* Two frontends both under their rate are never held either. */
START_TEST(test_cmd_rate_under_share)
{
	enum { N = 24 };
	struct pvcalls_back_opts o = { .limits = { .cmd_rate = 100000, .cmd_burst = 64 } };
	struct rawfe fa, fb;
	unsigned ga = 0, gb = 0, rounds = 0;
	uint32_t a0, b0;

	fe_setup(&fa, &o);
	fe_connect(&fa, false, true);
	fe_setup_more(&fb, &fa);
	fe_connect(&fb, false, true);
	pump(fa.b, 20);
	a0 = fa.next_req;
	b0 = fb.next_req;
	push_pairs(&fa, N);
	push_pairs(&fb, N);
	while (take_pairs(&fa, a0, &ga) < N || take_pairs(&fb, b0, &gb) < N) {
		ck_assert_uint_lt(rounds++, 1000);
		ck_assert_int_ge(pvcalls_back_process(fa.b, 0), 0);
	}
	ck_assert_uint_eq(stats(&fa).cmd_held, 0);
	fe_teardown_more(&fb);
	fe_teardown(&fa);
}
END_TEST

static Suite *backend_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *neg = tcase_create("negotiation");
	TCase *cmd = tcase_create("commands");
	TCase *data = tcase_create("data");

	tcase_add_test(neg, test_publish_and_initwait);
	tcase_add_test(neg, test_publish_options);
	tcase_add_test(neg, test_connect_and_close);
	tcase_add_test(neg, test_bad_ring_ref_stays_put);
	tcase_add_test(neg, test_frontend_death);
	suite_add_tcase(s, neg);
	tcase_add_test(cmd, test_requests);
	tcase_add_test(cmd, test_limits);
	tcase_add_test(cmd, test_limits_pages_and_accepts);
	tcase_add_test(cmd, test_cmd_ring_violation);
	tcase_add_test(cmd, test_cmd_budget_all_answered);
	tcase_add_test(cmd, test_cmd_budget_interleave);
	tcase_add_test(cmd, test_notify_storm_deferred);
	tcase_add_test(cmd, test_cmd_rate_holds_flooder);
	tcase_add_test(cmd, test_cmd_rate_lone_not_held);
	tcase_add_test(cmd, test_cmd_rate_under_share);
	suite_add_tcase(s, cmd);
	tcase_add_test(data, test_active_relay);
	tcase_add_test(data, test_active_relay_hint);
	tcase_add_test(data, test_many_ports_pending);
	tcase_add_test(data, test_connect_refused_and_bad_rings);
	tcase_add_test(data, test_map_budget_enobufs);
	tcase_add_test(data, test_linux_reuseaddr);
	tcase_add_test(data, test_bind_taken_across_frontends);
	tcase_add_test(data, test_passive);
	tcase_add_test(data, test_release_flushes);
	tcase_add_test(data, test_linger_counts_in_max_sockets);
	tcase_add_test(data, test_accept_emfile_retries);
	tcase_add_test(data, test_data_ring_violation);
	suite_add_tcase(s, data);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backend_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
