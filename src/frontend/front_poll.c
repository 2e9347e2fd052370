/* SPDX-License-Identifier: MIT */
/*
 * pvcalls_front_poll(): connected sockets are ready by their rings (read
 * through the shared indexes only: the socket's sender and receiver may
 * be busy on it meanwhile); listeners by a queued accept or the answer
 * to a POLL command, which a poll that wants POLLIN sends.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/clock.h"
#include "frontend/front_priv.h"


/* Readiness of one entry. Lock held. May queue a POLL for a listener. */
static short poll_one(pvcalls_front *fe, struct fsock *s, short events)
{
	short re = 0;

	if (s->dgram) /* front_dgram.c */
		return pvc_fe_dgram_revents(s, NULL) & (events | POLLERR | POLLHUP);
	switch (s->state) {
	case FS_CONNECTED: {
		int32_t rerr = pvcalls_data_rx_error(&s->r.ring);
		int32_t terr = pvcalls_data_tx_error(&s->r.ring);
		/* Other threads may be sending and receiving on this socket
		 * and own the ring's private counters: look at the shared
		 * indexes only (our own side's were published with release). */
		int q = pvcalls_data_rx_queued_shared(&s->r.ring);
		int f = pvcalls_data_tx_free_shared(&s->r.ring);

		if (q < 0 || f < 0)
			return POLLERR;
		if (q > 0 || rerr)
			re |= POLLIN;
		if (f > 0 || terr)
			re |= POLLOUT;
		if ((rerr && rerr != -PVCALLS_WIRE_ENOTCONN) ||
		    (terr && terr != -PVCALLS_WIRE_ENOTCONN))
			re |= POLLERR;
		/* With SHUTDOWN in force the peer's end of stream is a
		 * half-close: hung up only once we shut our side too. */
		if (rerr == -PVCALLS_WIRE_ENOTCONN && q == 0 &&
		    (!(fe->ext & PVCALLS_FEATURE_SHUTDOWN) ||
		     __atomic_load_n(&s->shut_wr, __ATOMIC_SEQ_CST)))
			re |= POLLHUP;
		if (s->connect_done) /* non-blocking connect finished */
			re |= POLLOUT;
		break;
	}
	case FS_CONNECTING:
		break;
	case FS_LISTENING:
		if (s->acc_head || s->poll_ready) {
			re |= POLLIN;
		} else if ((events & POLLIN) && !s->poll_inflight && s->accepts_inflight == 0 &&
			   fe->slots_busy < NSLOTS && pvcalls_cmd_front_free(&fe->cmd) > 0) {
			struct pvcalls_wire_request req;

			pvcalls_req_poll(&req, 0, s->id);
			if (pvc_fe_submit(fe, &req, s, NULL, NULL, 0) == 0)
				s->poll_inflight = true;
		}
		break;
	case FS_NEW:
		if (s->connect_done) /* non-blocking connect failed */
			re |= POLLOUT | POLLERR;
		else
			re |= POLLHUP;
		break;
	default:
		re |= POLLHUP;
		break;
	}
	return re & (events | POLLERR | POLLHUP);
}

struct poll_arg {
	struct pvcalls_pollfd *fds;
	unsigned n;
	int ready;
};

static bool pred_poll(pvcalls_front *fe, void *arg)
{
	struct poll_arg *p = arg;

	p->ready = 0;
	for (unsigned i = 0; i < p->n; i++) {
		struct pvcalls_pollfd *pf = &p->fds[i];
		struct fsock *s;

		pf->revents = 0;
		if (pf->sock < 0)
			continue;
		if (pf->sock >= fe->nsocks || !(s = fe->socks[pf->sock]))
			pf->revents = POLLNVAL;
		else if (s->closing)
			pf->revents = POLLNVAL;
		else
			pf->revents = poll_one(fe, s, pf->events);
		if (pf->revents)
			p->ready++;
	}
	return p->ready > 0;
}

int pvcalls_front_poll(pvcalls_front *fe, struct pvcalls_pollfd *fds, unsigned nfds, int timeout_ms)
{
	struct poll_arg a = { .fds = fds, .n = nfds };
	struct fe_waiter w = { .pred = pred_poll, .arg = &a };
	struct fsock *stack_hs[16], **hs = stack_hs;
	unsigned nhs = 0;
	int rc;

	if (!fe || (!fds && nfds))
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	if (nfds > 16) {
		hs = malloc(nfds * sizeof(*hs));
		if (!hs) {
			pthread_mutex_unlock(&fe->lock);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < nfds; i++) {
		int h = fds[i].sock;

		/* Counted as users: a release waits until we let go of them. */
		if (h >= 0 && h < fe->nsocks && fe->socks[h] && !fe->socks[h]->closing &&
		    (fe->socks[h]->state == FS_CONNECTED || fe->socks[h]->dgram) &&
		    (hs[nhs] = pvc_fe_sock_get(fe, h)))
			nhs++;
	}
	w.hints = hs;
	w.nhints = nhs;
	w.deadline = pvc_deadline_ms(timeout_ms);
	rc = pvc_fe_wait(fe, &w);
	if (rc == -ETIMEDOUT)
		rc = 0;
	else if (rc == 0)
		rc = a.ready;
	for (unsigned k = 0; k < nhs; k++)
		pvc_fe_sock_put(fe, hs[k]);
	pthread_mutex_unlock(&fe->lock);
	if (hs != stack_hs)
		free(hs);
	return rc;
}
