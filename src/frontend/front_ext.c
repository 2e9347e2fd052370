/* SPDX-License-Identifier: MIT */
/*
 * Frontend extensions for event loops and socket emulation: many-socket
 * readiness in Linux TCP terms (pvcalls_front_ready) and FIONREAD
 * (pvcalls_front_nread). Built on the public calls plus a read-only look
 * at socket state under fe->lock (front_priv.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "frontend/front_priv.h"
#include "ring/barrier.h"
#include "ring/wait_hint.h"

#define WIRE_ENOTCONN (-107) /* Linux's ENOTCONN on the wire: end of stream */

/* prod - cons from the shared copies, or -1 when impossible. */
static int ext_distance(uint32_t *prod, uint32_t *cons, uint32_t size)
{
	uint32_t c = pvc_load_acquire(cons);
	uint32_t d = pvc_load_acquire(prod) - c;

	return d > size ? -1 : (int)d;
}

/* Linux-like revents of a connected socket. Lock held. */
static short ext_connected(struct fsock *s, uint32_t *seq)
{
	pvcalls_data_ring *r = &s->r.ring;
	int32_t rerr = pvcalls_data_rx_error(r), terr = pvcalls_data_tx_error(r);
	int q = ext_distance(r->rx_prod_sh, r->rx_cons_sh, r->size);
	int used = ext_distance(r->tx_prod_sh, r->tx_cons_sh, r->size);
	short re = 0;

	*seq = pvc_load_acquire(r->rx_prod_sh) + pvc_load_acquire(r->tx_cons_sh);
	if (q < 0 || used < 0)
		return POLLERR | POLLHUP;
	if (q > 0)
		re |= POLLIN;
	if (rerr == WIRE_ENOTCONN)
		re |= POLLIN | POLLRDHUP;
	else if (rerr)
		re |= POLLIN | POLLRDHUP | POLLERR | POLLHUP;
	if ((uint32_t)used < r->size || terr)
		re |= POLLOUT;
	if (terr && terr != WIRE_ENOTCONN)
		re |= POLLERR;
	if (s->connect_done)
		re |= POLLOUT;
	return re;
}

static struct fsock *ext_sock(pvcalls_front *fe, int h)
{
	struct fsock *s;

	if (h < 0 || h >= fe->nsocks || !(s = fe->socks[h]) || s->closing)
		return NULL;
	return s;
}

/* One look at every entry. Lock held. */
static int ext_scan(pvcalls_front *fe, struct pvcalls_ready *r, const short *lrev, unsigned nr,
		    int rc)
{
	int ready = 0;

	for (unsigned i = 0; i < nr; i++) {
		struct fsock *s;
		short want = (short)(r[i].events | POLLERR | POLLHUP | POLLNVAL), re;

		r[i].revents = 0;
		r[i].seq = 0;
		if (r[i].sock < 0)
			continue;
		if (!(s = ext_sock(fe, r[i].sock)))
			re = POLLNVAL;
		else if (fe->dead || rc == -ENOTCONN)
			re = POLLERR | POLLHUP;
		else if (s->dgram)
			re = pvc_fe_dgram_revents(s, &r[i].seq);
		else if (s->state == FS_CONNECTED && s->r.valid)
			re = ext_connected(s, &r[i].seq);
		else if (s->state == FS_CONNECTING)
			re = 0;
		else if (s->state == FS_LISTENING)
			re = lrev[i] & (POLLIN | POLLERR);
		else if (s->connect_done) /* a non-blocking connect failed */
			re = POLLOUT | POLLERR | POLLHUP;
		else
			re = POLLOUT | POLLHUP;
		r[i].revents = re & want;
		if (r[i].revents)
			ready++;
	}
	return ready;
}

int pvcalls_front_ready(pvcalls_front *fe, struct pvcalls_ready *r, unsigned nr)
{
	struct pvcalls_pollfd stack[16], *pf = stack;
	unsigned stack_idx[16], *idx = stack_idx, nl = 0;
	short stack_lrev[64], *lrev = stack_lrev;
	int ready = 0, rc;

	if (!fe || (!r && nr))
		return -EINVAL;
	if (nr > 16) {
		pf = calloc(nr, sizeof(*pf));
		idx = calloc(nr, sizeof(*idx));
	}
	if (nr > 64)
		lrev = calloc(nr, sizeof(*lrev));
	if (!pf || !idx || !lrev) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pvcalls_front_process(fe);
	/* Only listeners need pvcalls_front_poll() (it queues the POLL
	 * command); everything else is read off the rings below, so a call
	 * costs a few loads per socket, not a pass through poll's machinery. */
	pthread_mutex_lock(&fe->lock);
	for (unsigned i = 0; i < nr; i++) {
		struct fsock *s = ext_sock(fe, r[i].sock);

		lrev[i] = 0;
		if (s && s->state == FS_LISTENING && (r[i].events & POLLIN)) {
			pf[nl] = (struct pvcalls_pollfd){ .sock = r[i].sock, .events = POLLIN };
			idx[nl++] = i;
		}
	}
	pthread_mutex_unlock(&fe->lock);
	if (rc == 0 && nl) {
		int prc = pvcalls_front_poll(fe, pf, nl, 0);

		if (prc < 0)
			rc = prc;
		for (unsigned k = 0; k < nl; k++)
			lrev[idx[k]] = pf[k].revents;
	}
	pthread_mutex_lock(&fe->lock);
	ready = ext_scan(fe, r, lrev, nr, rc);
	if (ready == 0 && fe->hint && !fe->dead) {
		/* The caller will sleep on pvcalls_front_fd(): raise every
		 * ring's wait hint (H1) and look once more. The words stay
		 * raised (event_loop), as after pvcalls_front_poll(). */
		fe->event_loop = true;
		for (unsigned i = 0; i < nr; i++) {
			struct fsock *s = ext_sock(fe, r[i].sock);

			if (s && (s->state == FS_CONNECTED || s->dgram) && s->r.valid)
				pvc_hint_sleep(s->r.ring.intf, false);
		}
		ready = ext_scan(fe, r, lrev, nr, rc);
	}
	pthread_mutex_unlock(&fe->lock);
out:
	if (pf && pf != stack)
		free(pf);
	if (idx && idx != stack_idx)
		free(idx);
	if (lrev && lrev != stack_lrev)
		free(lrev);
	return rc < 0 && rc != -ENOTCONN ? rc : ready;
}

int pvcalls_front_nread(pvcalls_front *fe, int h)
{
	struct fsock *s;
	int rc = 0;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	if (h < 0 || h >= fe->nsocks || !(s = fe->socks[h]) || s->closing)
		rc = -EBADF;
	else if (s->state == FS_LISTENING)
		rc = -EINVAL;
	else if (s->dgram)
		rc = pvc_fe_dgram_nread(s);
	else if (s->state == FS_CONNECTED && s->r.valid)
		rc = ext_distance(s->r.ring.rx_prod_sh, s->r.ring.rx_cons_sh, s->r.ring.size);
	if (rc == -1)
		rc = -EPROTO;
	pthread_mutex_unlock(&fe->lock);
	return rc;
}
