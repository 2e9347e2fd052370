/* SPDX-License-Identifier: MIT */
/*
 * A raw PV Calls frontend for the conformance cases: XenBus negotiation,
 * the command ring with req_id bookkeeping, event delivery, and the shared
 * memory of active sockets. It does no protocol logic of its own, so
 * cases can send anything, including what a real frontend never would.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

/* ------------------------------------------------------------------ */
/* Request builders                                                     */

void put_addr(uint8_t addr[PVCALLS_WIRE_ADDR_LEN], uint16_t family, uint16_t port, uint32_t ip_host)
{
	memset(addr, 0, PVCALLS_WIRE_ADDR_LEN);
	memcpy(addr, &family, 2);       /* sa_family: the page's byte order */
	addr[2] = (uint8_t)(port >> 8); /* port and address: network order */
	addr[3] = (uint8_t)port;
	addr[4] = (uint8_t)(ip_host >> 24);
	addr[5] = (uint8_t)(ip_host >> 16);
	addr[6] = (uint8_t)(ip_host >> 8);
	addr[7] = (uint8_t)ip_host;
}

#define LOOPBACK 0x7f000001u

void rq_socket(struct pvcalls_wire_request *r, uint64_t id, uint32_t domain, uint32_t type,
	       uint32_t protocol)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_SOCKET;
	r->u.socket.id = id;
	r->u.socket.domain = domain;
	r->u.socket.type = type;
	r->u.socket.protocol = protocol;
}

void rq_connect(struct pvcalls_wire_request *r, uint64_t id, uint16_t port, uint32_t ref,
		uint32_t evtchn)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_CONNECT;
	r->u.connect.id = id;
	put_addr(r->u.connect.addr, PVCALLS_WIRE_AF_INET, port, LOOPBACK);
	r->u.connect.len = PVCALLS_WIRE_SOCKADDR_IN_LEN;
	r->u.connect.ref = ref;
	r->u.connect.evtchn = evtchn;
}

void rq_bind(struct pvcalls_wire_request *r, uint64_t id, uint16_t port)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_BIND;
	r->u.bind.id = id;
	put_addr(r->u.bind.addr, PVCALLS_WIRE_AF_INET, port, LOOPBACK);
	r->u.bind.len = PVCALLS_WIRE_SOCKADDR_IN_LEN;
}

void rq_listen(struct pvcalls_wire_request *r, uint64_t id, uint32_t backlog)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_LISTEN;
	r->u.listen.id = id;
	r->u.listen.backlog = backlog;
}

void rq_accept(struct pvcalls_wire_request *r, uint64_t id, uint64_t id_new, uint32_t ref,
	       uint32_t evtchn)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_ACCEPT;
	r->u.accept.id = id;
	r->u.accept.id_new = id_new;
	r->u.accept.ref = ref;
	r->u.accept.evtchn = evtchn;
}

void rq_poll(struct pvcalls_wire_request *r, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_POLL;
	r->u.poll.id = id;
}

void rq_release(struct pvcalls_wire_request *r, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->cmd = PVCALLS_WIRE_RELEASE;
	r->u.release.id = id;
}

/* ------------------------------------------------------------------ */
/* Connection                                                           */

int fe_new(struct tc *tc, struct fe **out)
{
	struct fe *fe;
	int rc;

	if (tc->nfe == sizeof(tc->fes) / sizeof(tc->fes[0])) {
		tc_fail(tc, "suite: too many frontends in one case");
		return -ENOSPC;
	}
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->tc = tc;
	/* Arbitrary req_ids, far from slot numbers, so nothing can assume them. */
	fe->next_req_id = 0x5e500000u;
	rc = target_new_guest(tc->tg, &fe->t);
	if (rc < 0) {
		free(fe);
		if (rc == -EOPNOTSUPP)
			tc_skip(tc, "the target cannot create another guest");
		else
			tc_fail(tc, "cannot create a guest: %s", pvcalls_strerror(rc));
		return rc;
	}
	tc->fes[tc->nfe++] = fe;
	rc = pvc_xb_front_probe(fe->t, 0, T_MS(3000), &fe->xb);
	if (rc < 0) {
		tc_fail(tc, "xenbus probe failed: %s", pvcalls_strerror(rc));
		return rc;
	}
	*out = fe;
	return 0;
}

int fe_connect(struct fe *fe)
{
	void *page;
	int rc;

	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, 1, true, &fe->ring_ref, &page);
	if (rc < 0) {
		tc_fail(fe->tc, "share command ring: %s", pvcalls_strerror(rc));
		return rc;
	}
	fe->sring = page;
	pvcalls_cmd_sring_init(fe->sring);
	pvcalls_cmd_front_init(&fe->ring, fe->sring);
	rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->xb.backend_id, &fe->port);
	if (rc < 0) {
		tc_fail(fe->tc, "allocate command port: %s", pvcalls_strerror(rc));
		return rc;
	}
	/* No wait-hint extension: the backend must notify on every step. */
	/* Extensions: only those a case asked for (fe_open_ext) and the
	 * backend offered; every other case speaks plain version 1. */
	fe->ext = fe->ext_want & fe->xb.ext;
	rc = pvc_xb_front_connect(fe->t, &fe->xb, fe->ring_ref, fe->port, false, fe->ext,
				  T_MS(3000));
	if (rc < 0) {
		tc_fail(fe->tc, "xenbus connect failed: %s (backend state %d)",
			pvcalls_strerror(rc), fe_backend_state(fe));
		return rc;
	}
	fe->connected = true;
	return 0;
}

struct fe *fe_open_ext(struct tc *tc, uint32_t want)
{
	struct fe *fe;

	if (fe_new(tc, &fe) < 0)
		return NULL;
	if ((fe->xb.ext & want) != want) {
		tc_skip(tc, "the backend does not offer extension 0x%x (offers 0x%x)",
			want & ~fe->xb.ext, fe->xb.ext);
		return NULL;
	}
	fe->ext_want = want;
	if (fe_connect(fe) < 0)
		return NULL;
	return fe;
}

struct fe *fe_open(struct tc *tc)
{
	struct fe *fe;

	if (fe_new(tc, &fe) < 0)
		return NULL;
	if (fe_connect(fe) < 0)
		return NULL;
	return fe;
}

static void free_socks(struct fe *fe, bool unshare)
{
	while (fe->nsocks) {
		struct as *s = fe->socks[fe->nsocks - 1];

		if (!unshare)
			s->shared = false;
		as_free(s);
	}
}

void fe_close(struct fe *fe)
{
	if (fe->gone)
		return;
	if (fe->connected && !fe->broken) {
		fe_drain(fe);
		pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSING);
		if (fe_wait_backend_state(fe, PVCALLS_XENBUS_CLOSING, PVCALLS_XENBUS_CLOSED,
					  T_MS(1000)) < 0)
			tc_log(fe->tc, "backend did not reach Closing on frontend Closing");
		free_socks(fe, true);
		pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSED);
	}
	fe_vanish(fe);
}

void fe_vanish(struct fe *fe)
{
	if (fe->gone)
		return;
	free_socks(fe, false);
	pvcalls_transport_close(fe->t);
	target_guest_gone(fe->tc->tg);
	fe->t = NULL;
	fe->sring = NULL;
	fe->gone = true;
}

/* ------------------------------------------------------------------ */
/* Store helpers                                                        */

int fe_backend_state(struct fe *fe)
{
	uint32_t st;
	int rc = pvc_xb_read_state(fe->t, fe->xb.backend, &st);

	return rc < 0 ? rc : (int)st;
}

int fe_wait_backend_state(struct fe *fe, uint32_t lo, uint32_t hi, int timeout_ms)
{
	uint32_t mask = PVC_XB_MASK_FROM(lo), st;
	int rc;

	if (hi < 31)
		mask &= ~PVC_XB_MASK_FROM(hi + 1);
	rc = pvc_xb_watch_state(fe->t, fe->xb.backend, "conf-state", mask,
				pvc_now_ms() + timeout_ms, &st);
	return rc < 0 ? rc : (int)st;
}

/* ------------------------------------------------------------------ */
/* Events                                                               */

static void count_event(struct fe *fe, uint32_t port)
{
	for (unsigned i = 0; i < fe->nev; i++) {
		if (fe->ev[i].port == port) {
			fe->ev[i].count++;
			return;
		}
	}
	if (fe->nev < sizeof(fe->ev) / sizeof(fe->ev[0])) {
		fe->ev[fe->nev].port = port;
		fe->ev[fe->nev].count = 1;
		fe->nev++;
	}
}

void fe_events(struct fe *fe, int timeout_ms)
{
	struct pollfd pfd = { .fd = pvcalls_transport_evtchn_fd(fe->t), .events = POLLIN };
	uint32_t port;

	if (pfd.fd < 0)
		return;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return;
	while (pvcalls_transport_evtchn_pending(fe->t, &port) == 1) {
		count_event(fe, port);
		pvcalls_transport_evtchn_unmask(fe->t, port);
	}
}

uint32_t fe_event_count(struct fe *fe, uint32_t port)
{
	for (unsigned i = 0; i < fe->nev; i++)
		if (fe->ev[i].port == port)
			return fe->ev[i].count;
	return 0;
}

bool fe_wait_event(struct fe *fe, uint32_t port, uint32_t before, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;

	while (fe_event_count(fe, port) == before) {
		int64_t left = deadline - pvc_now_ms();

		if (left <= 0)
			return false;
		fe_events(fe, (int)left);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Command ring                                                         */

uint32_t fe_req_id(struct fe *fe)
{
	uint32_t id = fe->next_req_id;

	fe->next_req_id += 0x101;
	if (fe->next_req_id == 0)
		fe->next_req_id = 1;
	return id;
}

int fe_put_raw(struct fe *fe, const struct pvcalls_wire_request *req)
{
	int rc;

	if (fe->nout == sizeof(fe->outstanding) / sizeof(fe->outstanding[0])) {
		tc_fail(fe->tc, "suite: too many outstanding requests");
		return -ENOSPC;
	}
	rc = pvcalls_cmd_front_put(&fe->ring, req);
	if (rc < 0) {
		tc_fail(fe->tc, "no free command slot (32 outstanding)");
		return rc;
	}
	fe->outstanding[fe->nout++] = req->req_id;
	return 0;
}

int fe_put(struct fe *fe, struct pvcalls_wire_request *req)
{
	if (req->req_id == 0)
		req->req_id = fe_req_id(fe);
	return fe_put_raw(fe, req);
}

int fe_push(struct fe *fe)
{
	if (pvcalls_cmd_front_push(&fe->ring))
		return pvcalls_transport_evtchn_notify(fe->t, fe->port);
	return 0;
}

int fe_send(struct fe *fe, struct pvcalls_wire_request *req)
{
	int rc = fe_put(fe, req);

	return rc < 0 ? rc : fe_push(fe);
}

int fe_drain(struct fe *fe)
{
	struct pvcalls_wire_response rsp;
	int rc;

	if (fe->gone || !fe->sring)
		return -ENOTCONN;
	while ((rc = pvcalls_cmd_front_get(&fe->ring, &rsp)) == 1) {
		unsigned i;

		for (i = 0; i < fe->nout; i++)
			if (fe->outstanding[i] == rsp.req_id)
				break;
		if (i == fe->nout) {
			if (!fe->allow_stray)
				tc_fail(fe->tc,
					"unsolicited response: req_id %#x cmd %u ret %d (answered "
					"twice?)",
					rsp.req_id, rsp.cmd, rsp.ret);
			continue;
		}
		fe->outstanding[i] = fe->outstanding[--fe->nout];
		if (fe->nstash < sizeof(fe->stash) / sizeof(fe->stash[0])) {
			fe->stash_seq[fe->nstash] = ++fe->rsp_seq;
			fe->stash[fe->nstash++] = rsp;
		}
	}
	return rc;
}

static bool take_stashed(struct fe *fe, uint32_t req_id, struct pvcalls_wire_response *rsp)
{
	for (unsigned i = 0; i < fe->nstash; i++) {
		if (fe->stash[i].req_id == req_id) {
			*rsp = fe->stash[i];
			fe->last_seq = fe->stash_seq[i];
			memmove(&fe->stash[i], &fe->stash[i + 1],
				(fe->nstash - i - 1) * sizeof(fe->stash[0]));
			memmove(&fe->stash_seq[i], &fe->stash_seq[i + 1],
				(fe->nstash - i - 1) * sizeof(fe->stash_seq[0]));
			fe->nstash--;
			return true;
		}
	}
	return false;
}

int fe_wait(struct fe *fe, uint32_t req_id, int timeout_ms, struct pvcalls_wire_response *rsp)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	int rc;

	for (;;) {
		rc = fe_drain(fe);
		if (rc < 0)
			return rc;
		if (take_stashed(fe, req_id, rsp))
			return 1;
		rc = pvcalls_cmd_front_final_check(&fe->ring);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		int64_t left = deadline - pvc_now_ms();

		if (left <= 0)
			return 0;
		/* Re-check now and then even without an event; the
		 * cmdring.notify case checks notifications strictly. */
		fe_events(fe, left > 20 ? 20 : (int)left);
	}
}

int32_t fe_result(struct fe *fe, const struct pvcalls_wire_request *req, int timeout_ms)
{
	struct pvcalls_wire_response rsp;
	int rc = fe_wait(fe, req->req_id, timeout_ms, &rsp);

	if (rc < 0) {
		tc_fail(fe->tc, "command ring: backend broke the ring (%s)", pvcalls_strerror(rc));
		fe->broken = true;
		return X_NONE;
	}
	if (rc == 0)
		return X_NONE;
	if (rsp.cmd != req->cmd)
		tc_fail(fe->tc, "response to req_id %#x has cmd %u, request had %u", req->req_id,
			rsp.cmd, req->cmd);
	if ((req->cmd < PVCALLS_WIRE_NR_CMDS || fe->tc->p->unknown_cmd_echoes_id) &&
	    rsp.u.id != req->u.socket.id)
		tc_fail(fe->tc, "%s response echoes id %#llx, request had %#llx",
			req->cmd < PVCALLS_WIRE_NR_CMDS ? "the" : "unknown-command",
			(unsigned long long)rsp.u.id, (unsigned long long)req->u.socket.id);
	if (rsp.ret > 0 || rsp.ret < -4095)
		tc_fail(fe->tc, "ret %d is neither 0 nor a negative errno", rsp.ret);
	return rsp.ret;
}

int32_t fe_call(struct fe *fe, struct pvcalls_wire_request *req, int timeout_ms)
{
	if (fe_send(fe, req) < 0)
		return X_NONE;
	return fe_result(fe, req, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* Active sockets                                                       */

struct as *as_new(struct fe *fe, uint64_t id, unsigned order)
{
	struct as *s;
	void *p;
	unsigned n = 1u << order;
	int rc;

	if (fe->nsocks == sizeof(fe->socks) / sizeof(fe->socks[0])) {
		tc_fail(fe->tc, "suite: too many sockets");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		tc_fail(fe->tc, "out of memory");
		return NULL;
	}
	s->fe = fe;
	s->id = id;
	s->order = order;
	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, 1, true, &s->ref, &p);
	if (rc < 0)
		goto fail;
	s->intf = p;
	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, n, true, s->refs, &p);
	if (rc < 0) {
		pvcalls_transport_unshare(fe->t, s->intf, 1);
		goto fail;
	}
	s->data = p;
	rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->xb.backend_id, &s->port);
	if (rc < 0) {
		pvcalls_transport_unshare(fe->t, s->data, n);
		pvcalls_transport_unshare(fe->t, s->intf, 1);
		goto fail;
	}
	s->shared = true;
	/* Not yet visible to the backend: the request that names it is. */
	s->intf->ring_order = order;
	memcpy(s->intf->ref, s->refs, n * sizeof(uint32_t));
	pvcalls_data_ring_attach(&s->ring, s->intf, s->data, order, PVCALLS_DATA_FRONTEND);
	fe->socks[fe->nsocks++] = s;
	return s;
fail:
	tc_fail(fe->tc, "cannot share an order-%u data ring: %s", order, pvcalls_strerror(rc));
	free(s);
	return NULL;
}

void as_free(struct as *s)
{
	struct fe *fe = s->fe;

	if (s->shared && !fe->gone) {
		pvcalls_transport_evtchn_close(fe->t, s->port);
		pvcalls_transport_unshare(fe->t, s->data, 1u << s->order);
		pvcalls_transport_unshare(fe->t, s->intf, 1);
	}
	for (unsigned i = 0; i < fe->nsocks; i++) {
		if (fe->socks[i] == s) {
			fe->socks[i] = fe->socks[--fe->nsocks];
			break;
		}
	}
	free(s);
}

uint32_t fe_dead_ref(struct fe *fe)
{
	uint32_t ref;
	void *page;
	int rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, 1, true, &ref, &page);

	if (rc < 0) {
		tc_fail(fe->tc, "share: %s", pvcalls_strerror(rc));
		return 0;
	}
	pvcalls_transport_unshare(fe->t, page, 1);
	return ref;
}

uint32_t fe_dead_port(struct fe *fe)
{
	uint32_t port;
	int rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->xb.backend_id, &port);

	if (rc < 0) {
		tc_fail(fe->tc, "evtchn: %s", pvcalls_strerror(rc));
		return 0;
	}
	pvcalls_transport_evtchn_close(fe->t, port);
	return port;
}

void as_reattach(struct as *s)
{
	pvcalls_data_ring_attach(&s->ring, s->intf, s->data, s->order, PVCALLS_DATA_FRONTEND);
}

void as_notify(struct as *s)
{
	/* What the backend had to do when told (wedge_check()). */
	s->nt_in_prod = RD(s->intf->in_prod);
	s->nt_out_prod = RD(s->intf->out_prod);
	s->nt_out_cons = RD(s->intf->out_cons);
	s->notified = true;
	pvcalls_transport_evtchn_notify(s->fe->t, s->port);
}

/* ------------------------------------------------------------------ */
/* Common sequences                                                     */

int32_t do_socket(struct fe *fe, uint64_t id)
{
	struct pvcalls_wire_request r;

	rq_socket(&r, id, PVCALLS_WIRE_AF_INET, PVCALLS_WIRE_SOCK_STREAM, PVCALLS_WIRE_IPPROTO_IP);
	return fe_call(fe, &r, T_RSP);
}

int32_t do_bind(struct fe *fe, uint64_t id, uint16_t port)
{
	struct pvcalls_wire_request r;

	rq_bind(&r, id, port);
	return fe_call(fe, &r, T_RSP);
}

int32_t do_listen(struct fe *fe, uint64_t id, uint32_t backlog)
{
	struct pvcalls_wire_request r;

	rq_listen(&r, id, backlog);
	return fe_call(fe, &r, T_RSP);
}

int32_t do_release(struct fe *fe, uint64_t id)
{
	struct pvcalls_wire_request r;

	rq_release(&r, id);
	return fe_call(fe, &r, T_RSP);
}

int32_t do_connect(struct fe *fe, struct as *s, uint16_t port)
{
	struct pvcalls_wire_request r;

	rq_connect(&r, s->id, port, s->ref, s->port);
	return fe_call(fe, &r, T_RSP);
}

int open_listener(struct fe *fe, uint64_t id, uint16_t *port)
{
	char b[32];
	int32_t ret = do_socket(fe, id);

	if (ret != 0) {
		tc_fail(fe->tc, "setup: SOCKET returned %s", xstr(ret, b));
		return -1;
	}
	for (int tries = 0; tries < 8; tries++) {
		*port = free_port();
		ret = do_bind(fe, id, *port);
		if (ret != W_EADDRINUSE)
			break;
	}
	if (ret != 0) {
		tc_fail(fe->tc, "setup: BIND returned %s", xstr(ret, b));
		return -1;
	}
	ret = do_listen(fe, id, 16);
	if (ret != 0) {
		tc_fail(fe->tc, "setup: LISTEN returned %s", xstr(ret, b));
		return -1;
	}
	return 0;
}

struct as *open_active(struct fe *fe, uint64_t id, unsigned order, int *peerfd)
{
	return open_active_rcvbuf(fe, id, order, 0, peerfd);
}

struct as *open_active_rcvbuf(struct fe *fe, uint64_t id, unsigned order, int rcvbuf, int *peerfd)
{
	struct tc *tc = fe->tc;
	uint16_t port;
	char b[32];
	int lfd = peer_listen_rcvbuf(tc, 8, rcvbuf, &port);
	struct as *s;
	int32_t ret;

	if (lfd < 0)
		return NULL;
	s = as_new(fe, id, order);
	if (!s)
		return NULL;
	ret = do_socket(fe, id);
	if (ret != 0) {
		tc_fail(tc, "setup: SOCKET returned %s", xstr(ret, b));
		return NULL;
	}
	ret = do_connect(fe, s, port);
	if (ret != 0) {
		tc_fail(tc, "setup: CONNECT (order %u) returned %s", order, xstr(ret, b));
		return NULL;
	}
	*peerfd = peer_accept(tc, lfd, T_RSP);
	tc_close_fd(tc, lfd);
	if (*peerfd < 0) {
		tc_fail(tc, "setup: CONNECT answered 0 but the peer saw no connection");
		return NULL;
	}
	return s;
}
