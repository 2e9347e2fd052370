/* SPDX-License-Identifier: MIT */
/*
 * The frontend driver: opening (the XenBus handshake, the command ring,
 * the epoll set), closing, following the backend's state, and stats.
 * The other files never see the negotiation: what they need of it
 * (backend_id, max_order) is copied into struct pvcalls_front here.
 *
 * This file includes xenbus/xenbus.h and so not common/clock.h (see
 * front_priv.h): its clock is xenbus's pvc_now_ms(), the one that
 * pvc_xb_wait_event() deadlines are in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "frontend/front_priv.h"
#include "frontend/front_xenbus.h"
#include "xenbus/xenbus.h"

#define CLOSE_TIMEOUT_MS 5000
#define DEFAULT_SPIN_US 20
/* Longest renegotiation a pvcalls_front_socket() waits for (pvc_fe_revive). */
#define REVIVE_TIMEOUT_MS 5000

/* The handle and the negotiation's results, in one allocation; fe first,
 * so that free(fe) frees both. The options are kept for pvc_fe_revive(). */
struct front_alloc {
	struct pvcalls_front fe;
	struct pvc_xb_front xb;
	struct pvcalls_front_opts o;
	int timeout_ms;
};

/* Store events: the backend's state. Lock held. */
void pvc_fe_handle_store(pvcalls_front *fe)
{
	char path[PVC_XB_PATH], tok[64];
	bool seen = false;
	uint32_t state;
	int rc;

	while ((rc = pvcalls_transport_store_read_watch(fe->t, path, sizeof(path), tok,
							sizeof(tok))) > 0)
		seen = true;
	if (rc < 0) {
		pvc_fe_kill(fe, "control store unreachable");
		return;
	}
	if (!seen)
		return;
	rc = pvc_xb_read_state(fe->t, fe->xb->backend, &state);
	if (rc < 0 || state != PVCALLS_XENBUS_CONNECTED)
		pvc_fe_kill(fe, rc < 0 ? "backend state unreadable" : pvc_xb_state_name(state));
}

/*
 * The XenBus negotiation, the command ring and the watch on the backend's
 * state: what pvcalls_front_open() does after setting up the handle, and
 * what pvc_fe_revive() does again. Undoes its own steps on failure.
 */
static int negotiate(pvcalls_front *fe, const struct pvcalls_front_opts *o, int timeout)
{
	pvcalls_transport *t = fe->t;
	int rc;

	rc = pvc_xb_front_probe(t, o->devid, timeout, fe->xb);
	if (rc < 0)
		return rc;
	fe->backend_id = fe->xb->backend_id;
	fe->max_order = fe->xb->max_order;
	if (o->ring_order == PVCALLS_FRONT_ORDER_0)
		fe->order_default = 0;
	else
		fe->order_default = o->ring_order ? o->ring_order : PVCALLS_FRONT_DEFAULT_ORDER;
	if (fe->order_default > fe->max_order)
		fe->order_default = fe->max_order;
	fe->hint = fe->xb->wait_hint && !o->no_wait_hint;
	/* docs/extensions.md, "Negotiation": never accept what was not offered. */
	fe->ext = fe->xb->ext & PVCALLS_FEATURES_IMPLEMENTED & ~o->ext_off;

	rc = pvcalls_transport_share(t, fe->xb->backend_id, 1, true, &fe->cmd_ref, &fe->cmd_page);
	if (rc < 0)
		return rc;
	pvcalls_cmd_sring_init(fe->cmd_page);
	pvcalls_cmd_front_init(&fe->cmd, fe->cmd_page);
	rc = pvcalls_transport_evtchn_alloc_unbound(t, fe->xb->backend_id, &fe->cmd_port);
	if (rc < 0)
		goto fail_page;
	rc = pvc_xb_front_connect(t, fe->xb, fe->cmd_ref, fe->cmd_port, fe->hint, fe->ext, timeout);
	if (rc < 0)
		goto fail_port;
	/*
	 * From now on a change of the backend's state is an event. The token
	 * is unique per negotiation: another frontend on this transport (or
	 * an abandoned one, or this one's earlier session) may watch the
	 * same node.
	 */
	{
		static atomic_uint next_token;

		snprintf(fe->watch_token, sizeof(fe->watch_token), "pvcalls-fe-%u",
			 atomic_fetch_add(&next_token, 1));
	}
	rc = pvcalls_transport_store_watch(t, fe->xb->backend, fe->watch_token);
	if (rc < 0)
		goto fail_port;
	pvc_info("front.connected", "connected to %s (domain %u), max-page-order %u%s",
		 fe->xb->backend, fe->xb->backend_id, fe->xb->max_order,
		 fe->hint ? ", wait hints" : "");
	return 0;

fail_port:
	pvcalls_transport_evtchn_close(t, fe->cmd_port);
fail_page:
	pvcalls_transport_unshare(t, fe->cmd_page, 1);
	fe->cmd_page = NULL; /* no command ring: nothing for close to end */
	return rc;
}

/*
 * A socket of a session that is over: no command of it goes out again
 * (pvc_fe_submit() answers -ENOTCONN), and a connected one gets
 * ECONNRESET in both directions of its ring, written by us as the backend
 * would on a reset: recv drains what arrived, then fails; send fails.
 * The ring is our own memory; its peer, the old backend, is gone. Lock
 * held.
 */
static void orphan_sock(pvcalls_front *fe, struct fsock *s)
{
	(void)fe;
	s->orphan = true;
	if (s->state == FS_CONNECTED && s->r.valid) {
		if (!pvcalls_data_rx_error(&s->r.ring))
			pvcalls_data_set_in_error(&s->r.ring, -PVCALLS_WIRE_ECONNRESET);
		if (!pvcalls_data_tx_error(&s->r.ring))
			pvcalls_data_set_out_error(&s->r.ring, -PVCALLS_WIRE_ECONNRESET);
	}
}

/* Frees released sockets whose RELEASE was never answered and empties the
 * ring cache (front_sock.c): both hold rings of a session that is over. */
static void drop_released(pvcalls_front *fe)
{
	while (fe->releasing) {
		struct fsock *s = fe->releasing;

		fe->releasing = s->next;
		pvc_fe_sock_destroy(fe, s);
	}
	fe->nreleasing = 0;
	pvc_fe_ring_cache_drain(fe);
}

int pvc_fe_revive(pvcalls_front *fe)
{
	struct front_alloc *a = (struct front_alloc *)fe; /* fe is its first member */
	uint32_t state, domid;
	int rc;

	if (!fe->dead)
		return 0;
	/*
	 * Only a backend that starts a new session is worth a negotiation:
	 * its state Initialising or InitWait, or (after the shm transport
	 * reached a restarted hub in this very read and got another domid) a
	 * device of a new domain. A backend that closed the device, or a
	 * store that is still unreachable, fails at once.
	 */
	rc = pvc_xb_read_state(fe->t, fe->xb->backend, &state);
	if (rc == -ENOTCONN || pvcalls_transport_local_domid(fe->t, &domid) < 0)
		return -ENOTCONN;
	if (domid == fe->xb->domid &&
	    (rc < 0 || (state != PVCALLS_XENBUS_INITIALISING && state != PVCALLS_XENBUS_INITWAIT)))
		return -ENOTCONN;
	pvc_info("front.revive", "backend %s offers a new session: renegotiating", fe->xb->backend);

	/* Everything of the old session ends here. */
	pvcalls_transport_store_unwatch(fe->t, fe->xb->backend, fe->watch_token);
	/* Their callers get (or got) -ENOTCONN; undo what each began. */
	pvc_fe_fail_requests(fe, -ENOTCONN);
	for (int i = 0; i < fe->nsocks; i++) {
		struct fsock *s = fe->socks[i];

		if (!s)
			continue;
		orphan_sock(fe, s);
		for (struct fsock *n = s->acc_head; n; n = n->next)
			orphan_sock(fe, n);
	}
	/* Rings of the old session: releases it never answered, and the ring
	 * cache (front_sock.c), whose grants name the old backend. */
	drop_released(fe);
	if (fe->cmd_page) { /* NULL: an earlier attempt failed after ending it */
		pvcalls_transport_evtchn_close(fe->t, fe->cmd_port);
		pvcalls_transport_unshare(fe->t, fe->cmd_page, 1);
		fe->cmd_page = NULL;
	}
	memset(&fe->cmd, 0, sizeof(fe->cmd));
	pthread_cond_broadcast(&fe->cond);

	/* Under fe->lock throughout: no other call starts meanwhile, and
	 * the poller cannot take store events from the negotiation's waits. */
	rc = negotiate(fe, &a->o,
		       a->timeout_ms < REVIVE_TIMEOUT_MS ? a->timeout_ms : REVIVE_TIMEOUT_MS);
	if (rc < 0) {
		pvc_err("front.revive", "renegotiation with %s failed: %s", fe->xb->backend,
			pvcalls_strerror(rc));
		return -ENOTCONN;
	}
	fe->dead = false;
	pthread_cond_broadcast(&fe->cond);
	return 0;
}

int pvcalls_front_open(pvcalls_transport *t, const struct pvcalls_front_opts *opts,
		       pvcalls_front **out)
{
	struct pvcalls_front_opts o = { 0 };
	pthread_condattr_t ca;
	struct epoll_event ev = { .events = EPOLLIN }, ev_store = { .events = EPOLLIN },
			   ev_kick = { .events = EPOLLIN };
	struct front_alloc *a;
	pvcalls_front *fe;
	int rc, timeout;

	if (!t || !out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	timeout = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 10000;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	fe = &a->fe;
	fe->xb = &a->xb;
	a->o = o;
	a->timeout_ms = timeout;
	fe->t = t;
	fe->next_id = 1;
	fe->epfd = -1;
	fe->kickfd = -1;
	pthread_mutex_init(&fe->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fe->cond, &ca);
	pthread_condattr_destroy(&ca);
	fe->spin_us = o.spin_us == PVCALLS_FRONT_NO_SPIN ? 0
		      : o.spin_us                        ? o.spin_us
							 : DEFAULT_SPIN_US;

	fe->cmd_timeout_ms = o.cmd_timeout_ms > 0 ? o.cmd_timeout_ms : DEFAULT_CMD_TIMEOUT_MS;
	fe->connect_wait_ms = o.cmd_timeout_ms > 0 ? o.cmd_timeout_ms : DEFAULT_CONNECT_WAIT_MS;

	fe->epfd = epoll_create1(EPOLL_CLOEXEC);
	fe->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.u32 = EV_EVTCHN;
	ev_store.data.u32 = EV_STORE;
	ev_kick.data.u32 = EV_KICK;
	if (fe->epfd < 0 || fe->kickfd < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, pvcalls_transport_evtchn_fd(t), &ev) < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, pvcalls_transport_store_fd(t), &ev_store) < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, fe->kickfd, &ev_kick) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = negotiate(fe, &o, timeout);
	if (rc < 0)
		goto fail;
	*out = fe;
	return 0;

fail:
	if (fe->epfd >= 0)
		close(fe->epfd);
	if (fe->kickfd >= 0)
		close(fe->kickfd);
	pthread_cond_destroy(&fe->cond);
	pthread_mutex_destroy(&fe->lock);
	free(a);
	return rc;
}

static bool pred_backend_closing(pvcalls_front *fe, void *arg)
{
	uint32_t state;

	(void)arg;
	return pvc_xb_read_state(fe->t, fe->xb->backend, &state) < 0 ||
	       state >= PVCALLS_XENBUS_CLOSING || state == PVCALLS_XENBUS_UNKNOWN;
}

void pvcalls_front_close(pvcalls_front *fe)
{
	if (!fe)
		return;
	pthread_mutex_lock(&fe->lock);
	pvcalls_transport_store_unwatch(fe->t, fe->xb->backend, fe->watch_token);
	/* Closing makes the backend release every socket and unmap every
	 * ring (docs/protocol-notes.md, "Negotiation states"); only then are our grants ended. */
	if (!fe->dead) {
		/* A backend that was never told has nothing to answer: no wait. */
		bool told = pvc_xb_set_state(fe->t, fe->xb->dev, PVCALLS_XENBUS_CLOSING) == 0;

		pvcalls_transport_store_watch(fe->t, fe->xb->backend, "pvcalls-fe-close");
		fe->dead = true; /* makes every blocked call leave */
		pthread_cond_broadcast(&fe->cond);
		pvc_fe_kick_poller(fe);
		for (int64_t end = pvc_now_ms() + CLOSE_TIMEOUT_MS;
		     told && !pred_backend_closing(fe, NULL) && pvc_now_ms() < end;) {
			pthread_mutex_unlock(&fe->lock);
			pvc_xb_wait_event(fe->t, pvc_now_ms() + 100);
			pthread_mutex_lock(&fe->lock);
		}
		pvcalls_transport_store_unwatch(fe->t, fe->xb->backend, "pvcalls-fe-close");
	}
	/* Wait for threads still inside calls to leave (they see dead). */
	for (int i = 0; i < fe->nsocks; i++) {
		struct fsock *s;

		/* Re-read each time: a releaser that leaves takes the socket out
		 * of the table and frees it while we sleep. */
		while ((s = fe->socks[i]) && s->users > 0) {
			s->closing = true;
			pthread_cond_broadcast(&fe->cond);
			pthread_mutex_unlock(&fe->lock);
			usleep(1000);
			pthread_mutex_lock(&fe->lock);
		}
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &fe->slots[i];

		if (sl->busy && sl->cmd == PVCALLS_WIRE_ACCEPT && sl->newsock)
			pvc_fe_sock_destroy(fe, sl->newsock);
		sl->busy = false;
	}
	/* Released sockets whose RELEASE was not answered (front_sock.c): the
	 * backend let go of every ring when it followed us to Closing; if it
	 * did not, the transport keeps what it still maps. */
	drop_released(fe);
	for (int i = 0; i < fe->nsocks; i++) {
		struct fsock *s = fe->socks[i];

		if (!s)
			continue;
		while (s->acc_head) {
			struct fsock *n = s->acc_head;

			s->acc_head = n->next;
			pvc_fe_sock_destroy(fe, n);
		}
		pvc_fe_sock_destroy(fe, s);
	}
	free(fe->socks);
	if (fe->cmd_page) { /* NULL after a failed pvc_fe_revive() */
		pvcalls_transport_evtchn_close(fe->t, fe->cmd_port);
		pvcalls_transport_unshare(fe->t, fe->cmd_page, 1);
	}
	pvc_xb_set_state(fe->t, fe->xb->dev, PVCALLS_XENBUS_CLOSED);
	pthread_mutex_unlock(&fe->lock);
	close(fe->epfd);
	close(fe->kickfd);
	pthread_cond_destroy(&fe->cond);
	pthread_mutex_destroy(&fe->lock);
	free(fe); /* the whole struct front_alloc: fe is its first member */
}

uint32_t pvcalls_front_max_order(const pvcalls_front *fe)
{
	return fe->max_order;
}

bool pvcalls_front_wait_hint(const pvcalls_front *fe)
{
	return fe->hint;
}

void pvcalls_front_get_stats(pvcalls_front *fe, struct pvcalls_front_stats *st)
{
	pthread_mutex_lock(&fe->lock);
	*st = fe->stats;
	st->notifies_sent = __atomic_load_n(&fe->stats.notifies_sent, __ATOMIC_RELAXED);
	st->notifies_suppressed = __atomic_load_n(&fe->stats.notifies_suppressed, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fe->lock);
}
