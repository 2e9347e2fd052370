/* SPDX-License-Identifier: MIT */
/*
 * Commands: the 32 request slots, submitting a request and completing it
 * when its response comes.
 *
 * Requests: req_id = generation << 5 | slot. A response whose slot is
 * free or whose generation is stale is dropped and counted, so a late or
 * forged answer can never complete another request.
 */
#include <errno.h>
#include <pthread.h>

#include <pvcalls/wire_ext.h>

#include "common/log.h"
#include "frontend/front_priv.h"

/* Applies a completed request's effect and wakes its waiter. Lock held. */
static void complete(pvcalls_front *fe, unsigned i, int err, uint32_t val)
{
	struct slot *sl = &fe->slots[i];
	struct fsock *s = sl->sock, *ns = sl->newsock, *reclaim = NULL;

	/* SOCKET and RELEASE, of stream and datagram sockets alike. */
	if (sl->cmd == PVCALLS_WIRE_SOCKET && err && s) /* not waited for: kept for the next call */
		s->sock_err = err;
	if (sl->cmd == PVCALLS_WIRE_RELEASE && s &&
	    s->released) /* asynchronous: the ring goes now */
		reclaim = s;
	/* Ring reuse (docs/extensions.md): val 1 parked the ring, so it is
	 * not unshared but cached or freed with RING_FREE (front_sock.c). */
	if (sl->cmd == PVCALLS_WIRE_RELEASE && s && !err && !s->dgram && s->r.valid)
		s->r.parked = val == 1 && (fe->ext & PVCALLS_FEATURE_RING_REUSE);
	if (sl->cmd == PVCALLS_EXT_RING_FREE && sl->rfree)
		pvc_fe_ring_free_done(fe, sl->rfree, err);
	/* A datagram socket's BIND and CONNECT change no state here
	 * (front_dgram.c keeps what it needs). */
	switch (s && s->dgram ? 0u : sl->cmd) {
	case PVCALLS_WIRE_CONNECT:
		if (err) {
			pvc_fe_ring_free(fe, &s->r);
			s->state = FS_NEW;
		} else {
			s->state = FS_CONNECTED;
			s->r.parked = false; /* in use */
		}
		if (!sl->w) { /* non-blocking connect: kept for the next connect() */
			s->connect_done = true;
			s->connect_err = err;
		}
		break;
	case PVCALLS_WIRE_BIND:
		if (!err)
			s->state = FS_BOUND;
		break;
	case PVCALLS_WIRE_LISTEN:
		if (!err)
			s->state = FS_LISTENING;
		break;
	case PVCALLS_WIRE_ACCEPT:
		s->accepts_inflight--;
		if (err) {
			pvc_debug("front.accept", "ACCEPT on %llu failed: %d",
				  (unsigned long long)s->id, err);
			pvc_fe_sock_destroy(fe, ns);
		} else {
			ns->state = FS_CONNECTED;
			ns->r.parked = false; /* in use */
			ns->next = NULL;
			if (s->acc_tail)
				s->acc_tail->next = ns;
			else
				s->acc_head = ns;
			s->acc_tail = ns;
		}
		break;
	case PVCALLS_WIRE_POLL:
		s->poll_inflight = false;
		if (!err)
			s->poll_ready = true;
		break;
	default:
		break;
	}
	pvc_fe_ext_complete(fe, sl->cmd, s, i, err, val, sl->w);
	if (sl->w) {
		sl->w->err = err;
		sl->w->done = true;
	}
	sl->busy = false;
	sl->w = NULL;
	fe->slots_busy--;
	if (reclaim)
		pvc_fe_sock_reclaim(fe, reclaim, err == 0); /* an error: maybe still mapped */
	pthread_cond_broadcast(&fe->cond);
}

/*
 * Takes every response off the ring. With @arm, also asks the backend for
 * a notification of the next one and looks once more (final_check): only
 * a thread that is about to sleep needs that; a spinning one would only
 * write rsp_event on every pass, into the line the backend reads. Lock
 * held.
 */
void pvc_fe_handle_responses(pvcalls_front *fe, bool arm)
{
	struct pvcalls_wire_response raw;
	struct pvcalls_rsp rsp;
	int rc;

	if (fe->dead)
		return;
	for (;;) {
		rc = pvcalls_cmd_front_get(&fe->cmd, &raw);
		if (rc == 0) {
			if (!arm)
				return;
			rc = pvcalls_cmd_front_final_check(&fe->cmd);
			if (rc == 0)
				return;
			if (rc > 0)
				continue;
		}
		if (rc < 0) {
			pvc_fe_kill(fe, "command ring indexes impossible");
			return;
		}
		{
			unsigned i = raw.req_id & (NSLOTS - 1);
			uint32_t gen = raw.req_id >> 5;
			struct slot *sl = &fe->slots[i];
			int err;

			if (!sl->busy || sl->gen != gen) {
				fe->stats.bad_responses++;
				pvc_warn("front.bad-response",
					 "response req_id %u cmd %u matches no request", raw.req_id,
					 raw.cmd);
				continue;
			}
			if (pvc_fe_ext_rsp_parse(&raw, &rsp) < 0 || rsp.cmd != sl->cmd ||
			    rsp.id != sl->id) {
				fe->stats.bad_responses++;
				pvc_warn("front.bad-response",
					 "malformed response to %s req_id %u (cmd %u ret %d)",
					 pvcalls_cmd_name(sl->cmd), raw.req_id, raw.cmd, raw.ret);
				err = -EPROTO;
			} else {
				err = rsp.err;
			}
			complete(fe, i, err, raw.pad);
		}
	}
}

static bool pred_slot_free(pvcalls_front *fe, void *arg)
{
	(void)arg;
	return fe->slots_busy < NSLOTS && pvcalls_cmd_front_free(&fe->cmd) > 0;
}

static bool pred_done(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct req_waiter *)arg)->done;
}

/*
 * Sends @req (req_id filled here), waiting for a free slot and ring credit
 * until @deadline. @w may be NULL for an asynchronous request. Lock held.
 */
int pvc_fe_submit(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		  struct fsock *newsock, struct req_waiter *w, int64_t deadline)
{
	struct fe_waiter fw = { .pred = pred_slot_free, .deadline = deadline };
	unsigned i;
	int rc;

	/* A socket of an earlier backend session (frontend.c, pvc_fe_revive()). */
	if ((sock && sock->orphan) || (newsock && newsock->orphan))
		return -ENOTCONN;
	rc = pvc_fe_wait(fe, &fw);
	if (rc < 0)
		return rc;
	for (i = 0; i < NSLOTS; i++)
		if (!fe->slots[i].busy)
			break;
	struct slot *sl = &fe->slots[i];

	sl->gen = (sl->gen + 1) & 0x7ffffffu;
	sl->busy = true;
	sl->cmd = req->cmd;
	sl->id = req->u.socket.id; /* every request carries id at offset 8 */
	sl->sock = sock;
	sl->newsock = newsock;
	sl->rfree = NULL;
	sl->w = w;
	fe->slots_busy++;
	req->req_id = sl->gen << 5 | i;
	pvc_fe_ext_prepare(req, i);
	if (w) {
		w->done = false;
		w->slot = i;
		w->gen = sl->gen;
	}
	rc = pvcalls_cmd_front_put(&fe->cmd, req);
	if (rc < 0) { /* cannot happen: credit checked above */
		sl->busy = false;
		fe->slots_busy--;
		return rc;
	}
	fe->stats.requests++;
	/* A lost notification leaves the request unseen until the deadline:
	 * the channel is broken (shm: the backend is gone), so give up now. */
	if (pvcalls_cmd_front_push(&fe->cmd) &&
	    pvcalls_transport_evtchn_notify(fe->t, fe->cmd_port))
		pvc_fe_kill(fe, "cannot notify the command ring");
	return 0;
}

int pvc_fe_await(pvcalls_front *fe, struct req_waiter *w, uint32_t cmd, int64_t deadline)
{
	struct fe_waiter fw = {
		.pred = pred_done,
		.arg = w,
		.deadline = deadline,
		.budget = cmd < PVCALLS_WIRE_NR_CMDS ? &fe->cmd_spin[cmd] : NULL,
	};
	int rc = pvc_fe_wait(fe, &fw);

	if (rc < 0 && !w->done) {
		/* Leave the request to complete asynchronously; its effect is
		 * still applied when (if) the answer comes. */
		if (fe->slots[w->slot].busy && fe->slots[w->slot].gen == w->gen)
			fe->slots[w->slot].w = NULL;
		return rc;
	}
	return w->err;
}

/* Sends a request and waits for its answer. Lock held. */
int pvc_fe_call(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		struct fsock *newsock, int64_t deadline)
{
	struct req_waiter w = { 0 };
	int rc = pvc_fe_submit(fe, req, sock, newsock, &w, deadline);

	if (rc < 0)
		return rc;
	return pvc_fe_await(fe, &w, req->cmd, deadline);
}

void pvc_fe_fail_requests(pvcalls_front *fe, int err)
{
	/* As if each had been answered @err: the same effects, the same wakeups. */
	for (unsigned i = 0; i < NSLOTS; i++)
		if (fe->slots[i].busy)
			complete(fe, i, err, 0);
}
