/* SPDX-License-Identifier: MIT */
/*
 * Ring reuse (docs/extensions.md, "Ring reuse"): RELEASE parking an ACTIVE
 * socket's ring (val 1), CONNECT and ACCEPT taking a parked ring, RING_FREE
 * and each of its errors, a failed reuse leaving the ring parked, the
 * per-frontend limit, and hostile frontends: another frontend naming our
 * parked ring, a rewritten indexes page, impossible indexes at reuse. The
 * cases accept only ring-reuse and are skipped, with the reason, when the
 * backend does not offer it. Expected values are the specification's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/wire_ext.h>

#include "common/clock.h"
#include "conformance.h"

enum { W_ENOENT = -2 };

/* A request and its answer's ret and val (X_NONE: no answer). */
static int32_t call_val(struct fe *fe, struct pvcalls_wire_request *w, uint32_t *val)
{
	struct pvcalls_wire_response rsp;
	int rc;

	*val = 0;
	if (fe_send(fe, w) < 0)
		return X_NONE;
	rc = fe_wait(fe, w->req_id, T_RSP, &rsp);
	if (rc <= 0) {
		if (rc < 0)
			tc_fail(fe->tc, "backend broke the command ring");
		return X_NONE;
	}
	*val = rsp.pad;
	return rsp.ret;
}

static int32_t ring_free(struct fe *fe, uint64_t id, uint32_t ref, uint32_t port, uint8_t junk)
{
	struct pvcalls_ext_request r;
	uint32_t val;
	int32_t ret;

	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_RING_FREE;
	r.u.ring_free.id = id;
	r.u.ring_free.ref = ref;
	r.u.ring_free.evtchn = port;
	r.u.dummy[40] = junk; /* a reserved byte */
	ret = call_val(fe, (struct pvcalls_wire_request *)&r, &val);
	if (ret != X_NONE && val)
		tc_fail(fe->tc, "RING_FREE answered with val %u (must be 0)", val);
	return ret;
}

/* RELEASE: its ret; *@val its val. */
static int32_t release_val(struct fe *fe, uint64_t id, uint32_t *val)
{
	struct pvcalls_wire_request r;

	rq_release(&r, id);
	return call_val(fe, &r, val);
}

/* What the frontend MUST do before naming a parked ring again (step 2). */
static void reset_indexes(struct as *s)
{
	s->intf->in_cons = s->intf->in_prod = 0;
	s->intf->out_cons = s->intf->out_prod = 0;
	s->intf->in_error = s->intf->out_error = 0;
	memset(s->intf->pad1, 0, sizeof(s->intf->pad1)); /* wait-hint words */
	memset(s->intf->pad2, 0, sizeof(s->intf->pad2));
	as_reattach(s);
}

/* CONNECT of socket @id over @s's ring (its ref, port @port) to @tcp. */
static int32_t connect_on(struct fe *fe, uint64_t id, struct as *s, uint32_t port, uint16_t tcp)
{
	struct pvcalls_wire_request r;

	rq_connect(&r, id, tcp, s->ref, port);
	return fe_call(fe, &r, T_RSP);
}

/* Waits until the backend's in_prod reaches @n (bytes the peer sent). */
static bool wait_in_prod(struct as *s, uint32_t n)
{
	for (int64_t end = pvc_now_ms() + T_RSP; pvc_now_ms() < end;) {
		if (__atomic_load_n(&s->intf->in_prod, __ATOMIC_ACQUIRE) == n)
			return true;
		usleep(1000);
	}
	return false;
}

/* Parks a ring: an ACTIVE socket @id over @s whose peer sent 5 bytes
 * (left unread), released with val 1. false after reporting a failure. */
static bool park(struct fe *fe, uint64_t id, struct as **out)
{
	struct tc *tc = fe->tc;
	uint32_t val;
	int pfd;
	struct as *s = open_active(fe, id, 0, &pfd);

	if (!s)
		return false;
	if (write(pfd, "stale", 5) != 5 || !wait_in_prod(s, 5)) {
		tc_fail(tc, "setup: the peer's 5 bytes never reached the ring");
		return false;
	}
	tc_close_fd(tc, pfd);
	if (!judge(tc, "RELEASE of an ACTIVE socket", release_val(fe, id, &val), 0, 0))
		return false;
	if (val != 1) {
		tc_fail(tc, "RELEASE of an ACTIVE socket answered val %u, expected 1 (parked)",
			val);
		return false;
	}
	tc_ok(tc);
	*out = s;
	return true;
}

/* Without the key: version 1 exactly. */
static void reuse_not_in_force(struct tc *tc)
{
	struct fe *fe = fe_open(tc);
	struct as *s;
	uint32_t val;
	int pfd;

	if (!fe)
		return;
	judge(tc, "RING_FREE without ring-reuse", ring_free(fe, 0, 1, 1, 0), W_ENOTSUPP,
	      W_ENOTSUPP);
	if (!(s = open_active(fe, 1, 0, &pfd)))
		return;
	judge(tc, "RELEASE without ring-reuse", release_val(fe, 1, &val), 0, 0);
	REQUIRE(tc, val == 0, "RELEASE without ring-reuse answered val %u (must be 0)", val);
}

/* Park, RING_FREE's errors, reuse by CONNECT, in-use refs, free. */
static void reuse_connect(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE);
	struct pvcalls_wire_request r;
	struct as *s, *t;
	uint16_t port;
	uint32_t val;
	int lfd, pfd;

	if (!fe || !park(fe, 1, &s))
		return;
	judge(tc, "RING_FREE id not 0", ring_free(fe, 1, s->ref, s->port, 0), W_EINVAL, W_EINVAL);
	judge(tc, "RING_FREE reserved byte", ring_free(fe, 0, s->ref, s->port, 1), W_EINVAL,
	      W_EINVAL);
	judge(tc, "RING_FREE other port", ring_free(fe, 0, s->ref, s->port + 1, 0), W_ENOENT,
	      W_ENOENT);
	judge(tc, "RING_FREE unknown ref", ring_free(fe, 0, s->ref + 1000, s->port, 0), W_ENOENT,
	      W_ENOENT);
	if ((lfd = peer_listen(tc, 8, &port)) < 0)
		return;
	reset_indexes(s);
	judge(tc, "SOCKET", do_socket(fe, 2), 0, 0);
	judge(tc, "CONNECT naming a parked ref with another port",
	      connect_on(fe, 2, s, s->port + 1, port), W_EINVAL, W_EINVAL);
	judge(tc, "CONNECT taking the parked ring", connect_on(fe, 2, s, s->port, port), 0, 0);
	if ((pfd = peer_accept(tc, lfd, T_RSP)) < 0)
		return;
	/* The backend's private indexes started again from 0: the peer's 3
	 * bytes are at 0..2, not after the last socket's 5. */
	if (write(pfd, "new", 3) != 3)
		return;
	REQUIRE(tc, wait_in_prod(s, 3), "in_prod after reuse is %u, expected 3 (not reset?)",
		s->intf->in_prod);
	REQUIRE(tc, memcmp(s->data, "new", 3) == 0, "the reused ring's bytes are not the new ones");
	/* In use: neither CONNECT nor ACCEPT may name it. */
	judge(tc, "SOCKET", do_socket(fe, 3), 0, 0);
	judge(tc, "CONNECT naming a ring in use", connect_on(fe, 3, s, s->port, port), W_EINVAL,
	      W_EINVAL);
	judge(tc, "RING_FREE of a ring in use", ring_free(fe, 0, s->ref, s->port, 0), W_ENOENT,
	      W_ENOENT);
	if (open_listener(fe, 4, &port) < 0 || !(t = as_new(fe, 5, 0)))
		return;
	rq_accept(&r, 4, 5, s->ref, s->port);
	judge(tc, "ACCEPT naming a ring in use", fe_call(fe, &r, T_RSP), W_EINVAL, W_EINVAL);
	judge(tc, "RELEASE of the reusing socket", release_val(fe, 2, &val), 0, 0);
	REQUIRE(tc, val == 1, "RELEASE of the reusing socket answered val %u, expected 1", val);
	judge(tc, "RING_FREE", ring_free(fe, 0, s->ref, s->port, 0), 0, 0);
	judge(tc, "RING_FREE again", ring_free(fe, 0, s->ref, s->port, 0), W_ENOENT, W_ENOENT);
	/* Gone: a CONNECT naming it maps it anew, as in v1. */
	reset_indexes(s);
	judge(tc, "CONNECT naming a freed ring (mapped anew)", connect_on(fe, 3, s, s->port, port),
	      0, 0);
	(void)t;
}

/* A CONNECT that takes a parked ring and fails leaves it parked; a
 * CONNECTING socket's ring is never parked by its RELEASE. */
static void reuse_failed_connect(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE);
	struct as *s;

	if (!fe || !park(fe, 1, &s))
		return;
	reset_indexes(s);
	judge(tc, "SOCKET", do_socket(fe, 2), 0, 0);
	judge(tc, "CONNECT on a parked ring to a closed port",
	      connect_on(fe, 2, s, s->port, free_port()), W_ECONNREFUSED, W_ECONNREFUSED);
	judge(tc, "RING_FREE after the failed reuse (still parked)",
	      ring_free(fe, 0, s->ref, s->port, 0), 0, 0);
}

/* ACCEPT takes a parked ring. */
static void reuse_accept(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE);
	struct pvcalls_wire_request r;
	struct as *s;
	uint16_t port;
	uint32_t val;
	int pfd;

	if (!fe || !park(fe, 1, &s) || open_listener(fe, 2, &port) < 0)
		return;
	reset_indexes(s);
	rq_accept(&r, 2, 3, s->ref, s->port + 1);
	judge(tc, "ACCEPT naming a parked ref with another port", fe_call(fe, &r, T_RSP), W_EINVAL,
	      W_EINVAL);
	rq_accept(&r, 2, 3, s->ref, s->port);
	if (fe_send(fe, &r) < 0 || (pfd = peer_connect(tc, port, T_RSP)) < 0)
		return;
	judge(tc, "ACCEPT taking the parked ring", fe_result(fe, &r, T_RSP), 0, 0);
	if (write(pfd, "acc", 3) != 3)
		return;
	REQUIRE(tc, wait_in_prod(s, 3), "in_prod after reuse is %u, expected 3", s->intf->in_prod);
	judge(tc, "RELEASE of the accepted socket", release_val(fe, 3, &val), 0, 0);
	REQUIRE(tc, val == 1, "RELEASE of the accepted socket answered val %u, expected 1", val);
	judge(tc, "RING_FREE", ring_free(fe, 0, s->ref, s->port, 0), 0, 0);
}

/* Hostile: another frontend naming our parked ring; a rewritten indexes
 * page; impossible indexes at reuse stop that socket only. */
static void reuse_hostile(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE), *fe2;
	struct as *s;
	uint16_t port;
	int lfd, pfd;

	if (!fe || !park(fe, 1, &s))
		return;
	if (!(fe2 = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE)))
		return;
	judge(tc, "RING_FREE of another frontend's parked ring",
	      ring_free(fe2, 0, s->ref, s->port, 0), W_ENOENT, W_ENOENT);
	if ((lfd = peer_listen(tc, 8, &port)) < 0)
		return;
	judge(tc, "SOCKET (other frontend)", do_socket(fe2, 7), 0, 0);
	/* Its own grant table has no such ref, or not ours: never our ring. */
	judge(tc, "CONNECT naming another frontend's parked ring",
	      connect_on(fe2, 7, s, s->port, port), W_EFAULT, W_EFAULT);

	/* A rewritten indexes page: the backend keeps its own copy. */
	reset_indexes(s);
	s->intf->ring_order = PVCALLS_WIRE_MAX_RING_ORDER + 3;
	s->intf->ref[0] = 0xdeadbeef;
	/* And an impossible index: out_prod beyond out_cons + the ring. */
	s->intf->out_prod = 0x7fffffff;
	judge(tc, "SOCKET", do_socket(fe, 2), 0, 0);
	judge(tc, "CONNECT on a parked ring with a rewritten page",
	      connect_on(fe, 2, s, s->port, port), 0, 0);
	if ((pfd = peer_accept(tc, lfd, T_RSP)) < 0)
		return;
	as_notify(s);
	for (int64_t end = pvc_now_ms() + T_RSP; pvc_now_ms() < end;) {
		if (__atomic_load_n(&s->intf->out_error, __ATOMIC_ACQUIRE) == W_EPROTO)
			break;
		usleep(1000);
	}
	REQUIRE(tc, s->intf->out_error == W_EPROTO,
		"impossible out_prod on a reused ring: out_error %d, expected -71",
		s->intf->out_error);
	/* The frontend itself is unharmed. */
	judge(tc, "SOCKET after the stopped ring", do_socket(fe, 3), 0, 0);
	tc_close_fd(tc, pfd);
}

/* At most 64 parked rings per frontend: beyond, RELEASE unmaps (val 0). */
static void reuse_limit(struct tc *tc)
{
	enum { N = 66 };
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_RING_REUSE);
	struct pvcalls_wire_request r;
	struct as *s[N];
	unsigned parked = 0, gone = 0;
	uint16_t port;
	uint32_t val;
	int lfd;

	if (!fe || (lfd = peer_listen(tc, N, &port)) < 0)
		return;
	for (unsigned i = 0; i < N; i++) {
		if (!(s[i] = as_new(fe, 100 + i, 0)))
			return;
		judge(tc, "SOCKET", do_socket(fe, 100 + i), 0, 0);
		rq_connect(&r, 100 + i, port, s[i]->ref, s[i]->port);
		if (!judge(tc, "CONNECT", fe_call(fe, &r, T_RSP), 0, 0))
			return;
	}
	for (unsigned i = 0; i < N; i++) {
		if (!judge(tc, "RELEASE", release_val(fe, 100 + i, &val), 0, 0))
			return;
		if (val == 1)
			parked++;
		else
			gone++;
	}
	REQUIRE(tc, parked == 64 && gone == N - 64, "%u parked and %u not; expected 64 and %u",
		parked, gone, N - 64);
	drain_listener(tc, lfd);
	for (unsigned i = 0; i < N; i++)
		ring_free(fe, 0, s[i]->ref, s[i]->port, 0);
}

const struct case_def cases_reuse[] = {
	{ "reuse.not_in_force", reuse_not_in_force },
	{ "reuse.connect", reuse_connect },
	{ "reuse.failed_connect", reuse_failed_connect },
	{ "reuse.accept", reuse_accept },
	{ "reuse.hostile", reuse_hostile },
	{ "reuse.limit", reuse_limit },
	{ NULL, NULL },
};
