/* SPDX-License-Identifier: MIT */
/*
 * XenBus negotiation (spec "Xenstore", docs/protocol-notes.md, "Negotiation" to "Negotiation order"): the
 * backend's nodes, the state machine up to Connected, refusal of bad
 * transport parameters, shutdown and reconnection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static int read_node(struct fe *fe, const char *key, char *buf, size_t len)
{
	return pvc_xb_read(fe->t, PVCALLS_STORE_NO_TXN, fe->xb.backend, key, buf, len);
}

/* Backend nodes are published, with the right values, before InitWait. */
static void neg_backend_nodes(struct tc *tc)
{
	struct fe *fe;
	char buf[64];
	uint32_t v;
	int st, rc;

	if (fe_new(tc, &fe) < 0)
		return;
	st = fe_backend_state(fe);
	REQUIRE(tc, st == PVCALLS_XENBUS_INITWAIT,
		"backend state is %d before the frontend is Initialised, expected InitWait (2)",
		st);

	rc = read_node(fe, PVCALLS_WIRE_KEY_VERSIONS, buf, sizeof(buf));
	REQUIRE(tc, rc >= 0, "backend node versions missing in InitWait: %s", pvcalls_strerror(rc));
	REQUIRE(tc, pvc_xb_versions_has_1(buf), "versions \"%s\" does not list 1", buf);
	if (strcmp(buf, tc->p->versions))
		tc_fail(tc,
			"versions is \"%s\", expected exactly \"%s\" (Linux frontends compare the "
			"string)",
			buf, tc->p->versions);

	rc = read_node(fe, PVCALLS_WIRE_KEY_FUNCTION_CALLS, buf, sizeof(buf));
	REQUIRE(tc, rc >= 0, "backend node function-calls missing: %s", pvcalls_strerror(rc));
	REQUIRE(tc, !strcmp(buf, "1"), "function-calls is \"%s\", expected \"1\"", buf);

	rc = read_node(fe, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, buf, sizeof(buf));
	REQUIRE(tc, rc >= 0, "backend node max-page-order missing: %s", pvcalls_strerror(rc));
	REQUIRE(tc, sscanf(buf, "%u", &v) == 1, "max-page-order \"%s\" is not a number", buf);
	REQUIRE(tc, v >= 1, "max-page-order %u: the spec requires at least 1", v);
	REQUIRE(tc, v <= PVCALLS_WIRE_MAX_RING_ORDER,
		"max-page-order %u: more than 9 cannot fit the indexes page", v);
	if (v != tc->p->max_order)
		tc_fail(tc, "max-page-order is %u, the %s profile expects %u", v, tc->p->name,
			tc->p->max_order);
	REQUIRE(tc, fe->xb.max_order == v, "probe read max-page-order %u, node says %u",
		fe->xb.max_order, v);
}

/* Initialised -> backend Connected -> frontend Connected, then it serves. */
static void neg_connect(struct tc *tc)
{
	struct fe *fe;
	uint32_t st;
	char b[32];
	int32_t ret;

	if (fe_new(tc, &fe) < 0 || fe_connect(fe) < 0)
		return;
	REQUIRE(tc, fe_backend_state(fe) == PVCALLS_XENBUS_CONNECTED,
		"backend state %d after connecting", fe_backend_state(fe));
	REQUIRE(tc,
		pvc_xb_read_state(fe->t, fe->xb.dev, &st) == 0 && st == PVCALLS_XENBUS_CONNECTED,
		"frontend state %u after connecting", st);
	ret = do_socket(fe, 1);
	REQUIRE(tc, ret == 0, "SOCKET on a fresh connection returned %s", xstr(ret, b));
}

/* A ref or port nobody granted: the backend must not reach Connected. */
static void bad_transport(struct tc *tc, bool bad_ref)
{
	struct fe *fe, *fe2;
	uint32_t ref, port;
	void *page;
	char b[32];
	int32_t ret;
	int rc, st;

	if (fe_new(tc, &fe) < 0)
		return;
	/* A ref or a port that existed and was revoked: as bad as they get. */
	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, 1, true, &ref, &page);
	REQUIRE(tc, rc == 0, "share: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->xb.backend_id, &port);
	REQUIRE(tc, rc == 0, "evtchn: %s", pvcalls_strerror(rc));
	if (bad_ref) {
		pvcalls_transport_unshare(fe->t, page, 1);
	} else {
		pvcalls_cmd_sring_init(page);
		pvcalls_transport_evtchn_close(fe->t, port);
	}
	rc = pvc_xb_front_connect(fe->t, &fe->xb, ref, port, false, 0, T_MS(1000));
	st = fe_backend_state(fe);
	REQUIRE(tc, rc < 0 && st != PVCALLS_XENBUS_CONNECTED, "backend went Connected with %s",
		bad_ref ? "an ungranted ring-ref" : "an unbound port");
	tc_log(tc, "backend state after a bad %s: %d", bad_ref ? "ring-ref" : "port", st);

	/* Other frontends are served as usual. */
	fe2 = fe_open(tc);
	if (!fe2)
		return;
	ret = do_socket(fe2, 1);
	REQUIRE(tc, ret == 0, "another frontend is not served afterwards (SOCKET: %s)",
		xstr(ret, b));
}

static void neg_bad_ring_ref(struct tc *tc)
{
	bad_transport(tc, true);
}

static void neg_bad_port(struct tc *tc)
{
	bad_transport(tc, false);
}

/*
 * Frontend Closing: the backend releases every socket and goes Closing;
 * frontend Closed: the backend goes Closed.
 */
static void neg_shutdown(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;
	uint16_t lport;
	int peerfd, st;

	if (!fe)
		return;
	s = open_active(fe, 1, 1, &peerfd);
	if (!s || open_listener(fe, 2, &lport) < 0)
		return;

	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSING);
	st = fe_wait_backend_state(fe, PVCALLS_XENBUS_CLOSING, PVCALLS_XENBUS_CLOSED, T_RSP);
	REQUIRE(tc, st >= 0, "backend did not go Closing after the frontend did (state %d)",
		fe_backend_state(fe));
	REQUIRE(tc, peer_wait_eof(peerfd, T_RSP),
		"the active socket's TCP connection stays open after Closing");
	REQUIRE(tc, peer_connect(tc, lport, T_MS(500)) < 0,
		"the passive socket still accepts connections after Closing");

	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSED);
	st = fe_wait_backend_state(fe, PVCALLS_XENBUS_CLOSED, PVCALLS_XENBUS_CLOSED, T_RSP);
	REQUIRE(tc, st >= 0, "backend did not go Closed after the frontend did (state %d)",
		fe_backend_state(fe));
	fe->connected = false; /* shut down already */
}

/* After Closed, a frontend that starts over (Initialising) is served again. */
static void neg_reconnect(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	char b[32];
	int32_t ret;
	int st;

	if (!fe)
		return;
	REQUIRE(tc, do_socket(fe, 1) == 0, "SOCKET failed before the reconnection");
	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSING);
	st = fe_wait_backend_state(fe, PVCALLS_XENBUS_CLOSING, PVCALLS_XENBUS_CLOSED, T_RSP);
	REQUIRE(tc, st >= 0, "backend did not go Closing (state %d)", fe_backend_state(fe));
	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSED);
	st = fe_wait_backend_state(fe, PVCALLS_XENBUS_CLOSED, PVCALLS_XENBUS_CLOSED, T_RSP);
	REQUIRE(tc, st >= 0, "backend did not go Closed (state %d)", fe_backend_state(fe));
	pvcalls_transport_unshare(fe->t, fe->sring, 1);
	pvcalls_transport_evtchn_close(fe->t, fe->port);
	fe->connected = false;

	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_INITIALISING);
	st = fe_wait_backend_state(fe, PVCALLS_XENBUS_INITWAIT, PVCALLS_XENBUS_INITWAIT, T_RSP);
	REQUIRE(tc, st >= 0, "backend did not return to InitWait (state %d)", fe_backend_state(fe));
	fe->nout = fe->nstash = 0;
	if (fe_connect(fe) < 0)
		return;
	/* The old id is gone with the old connection. */
	ret = do_socket(fe, 1);
	REQUIRE(tc, ret == 0, "SOCKET after reconnecting returned %s", xstr(ret, b));
}

const struct case_def cases_negotiation[] = {
	{ "negotiation.backend_nodes", neg_backend_nodes },
	{ "negotiation.connect", neg_connect },
	{ "negotiation.bad_ring_ref", neg_bad_ring_ref },
	{ "negotiation.bad_port", neg_bad_port },
	{ "negotiation.shutdown", neg_shutdown },
	{ "negotiation.reconnect", neg_reconnect },
	{ NULL, NULL },
};
