/* SPDX-License-Identifier: MIT */
/*
 * Sockets: the table of handles, the data ring each active socket shares
 * with the backend, and the calls that create, connect, bind, listen on,
 * accept from, release and configure a socket.
 *
 * A socket in use by a call is counted in s->users (pvc_fe_sock_get); a
 * release marks it closing, wakes blocked callers and waits until it is
 * the only user before it frees anything.
 *
 * Set-up without waiting (docs/PERFORMANCE.md, "S2"). The backend takes
 * the command ring in order, so:
 *  - SOCKET is sent and not waited for; the CONNECT or BIND that follows
 *    reaches the backend after it. Its answer comes before theirs and,
 *    if it is an error, is kept in s->sock_err: that call and every later
 *    one on the socket (but release) return it.
 *  - Asynchronous release: RELEASE of a socket with no ACCEPT in flight
 *    is sent and not waited for. The socket leaves the table at once and
 *    waits on fe->releasing, ring, grants and port untouched, until the
 *    answer comes (complete() in front_cmd.c, then pvc_fe_sock_reclaim):
 *    a page the backend may still map is never unshared before it said
 *    it let go. At most MAX_RELEASING wait; a release beyond that waits
 *    for the oldest, and after cmd_timeout_ms reclaims it anyway (a
 *    backend that never answers): the transport keeps pages a peer still
 *    maps until it unmaps them (transport.h, unshare_pages), so that is
 *    safe for our memory, only the slot is lost. A listener with ACCEPTs
 *    in flight is released synchronously: an ACCEPT answered just before
 *    the RELEASE brings a connection that must be released in turn.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pvcalls/wire_ext.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sockaddr.h"
#include "frontend/front_priv.h"

static void ring_unshare(pvcalls_front *fe, struct fring *r)
{
	pvcalls_transport_evtchn_close(fe->t, r->port);
	pvcalls_transport_unshare(fe->t, r->data, r->npages);
	pvcalls_transport_unshare(fe->t, r->intf_page, 1);
	free(r->refs);
	r->refs = NULL;
	r->valid = false;
	r->parked = false;
}

static void ring_cache_put(pvcalls_front *fe, uint32_t order, struct fring *r);

void pvc_fe_ring_free(pvcalls_front *fe, struct fring *r)
{
	if (!r->valid)
		return;
	/* A parked ring (a failed reuse, or a RELEASE answered val 1 on the
	 * synchronous path) goes to the cache or to RING_FREE; once we are
	 * dead the backend has ended it (or the transport keeps what it still
	 * maps). */
	if (r->parked && !fe->dead) {
		ring_cache_put(fe, (uint32_t)__builtin_ctz(r->npages), r);
		return;
	}
	ring_unshare(fe, r);
}

static void cached_unshare(pvcalls_front *fe, struct fring_cached *c)
{
	if (c->parked)
		pvcalls_transport_evtchn_close(fe->t, c->port);
	pvcalls_transport_unshare(fe->t, c->data, c->npages);
	pvcalls_transport_unshare(fe->t, c->intf_page, 1);
	free(c->refs);
	free(c);
}

/*
 * Ring cache. A ring whose RELEASE the backend answered is no longer
 * mapped by it (it said so), and its pages are still granted to that same
 * backend: the next socket of the same order can use them as they are,
 * without sharing new pages (one or two mmap()s, the grant entries, the
 * zeroed pages the backend then faults in) or unsharing these (munmap()s,
 * hole punching). Nothing is regranted: the grants stay with the one
 * backend they were made for, and a backend that lied about unmapping
 * would see only connections it relays anyway. The indexes page is
 * cleared before reuse; the data pages keep stale bytes of our own. The
 * event channel is not kept (a port the backend unbound is closed, a new
 * one allocated). At most RING_CACHE_MAX rings per order are kept,
 * unshared at close. A Linux backend sees nothing new: a CONNECT or
 * ACCEPT naming granted pages, as ever. Lock held for all three.
 *
 * With ring reuse in force (docs/extensions.md, "Ring reuse") a RELEASE
 * answered val 1 left the ring parked: mapped by the backend, its port
 * bound. It is cached with its port (at most PARKED_MAX of them), and the
 * next CONNECT or ACCEPT naming it costs the backend no mapping at all.
 * A parked ring not kept goes on fe->rf_list; RING_FREE is sent for it
 * by ring_free_flush() and only its answer lets the grants and the port
 * go (pvc_fe_ring_free_done).
 */
static void ring_cache_put(pvcalls_front *fe, uint32_t order, struct fring *r)
{
	bool parked = r->parked && !fe->dead;
	struct fring_cached *c;

	if (!r->refs || !(c = malloc(sizeof(*c)))) {
		/* A parked ring we cannot track: the transport keeps pages the
		 * backend still maps, and our disconnection ends its side. */
		ring_unshare(fe, r);
		return;
	}
	if (!parked)
		pvcalls_transport_evtchn_close(fe->t, r->port);
	c->intf_page = r->intf_page;
	c->intf_ref = r->intf_ref;
	c->data = r->data;
	c->npages = r->npages;
	c->refs = r->refs;
	c->parked = parked;
	c->port = r->port;
	c->sent = false;
	r->refs = NULL;
	r->valid = false;
	r->parked = false;
	if (order <= PVCALLS_WIRE_MAX_RING_ORDER && fe->ring_cached[order] < RING_CACHE_MAX &&
	    (!parked || fe->nparked < PARKED_MAX)) {
		c->next = fe->ring_cache[order];
		fe->ring_cache[order] = c;
		fe->ring_cached[order]++;
		fe->nparked += parked;
		return;
	}
	if (!parked) {
		cached_unshare(fe, c);
		return;
	}
	c->next = fe->rf_list;
	fe->rf_list = c;
}

/* The first cached ring of @order; with @stream false (a datagram
 * socket, whose DGRAM_RINGS never takes a parked ring) not a parked one. */
static struct fring_cached *ring_cache_take(pvcalls_front *fe, uint32_t order, bool stream)
{
	struct fring_cached **pp, *c;

	if (order > PVCALLS_WIRE_MAX_RING_ORDER)
		return NULL;
	for (pp = &fe->ring_cache[order]; (c = *pp) && c->parked && !stream; pp = &c->next)
		;
	if (!c)
		return NULL;
	*pp = c->next;
	fe->ring_cached[order]--;
	fe->nparked -= c->parked;
	return c;
}

/* Sends RING_FREE for the parked rings on fe->rf_list not sent yet (not
 * waited for). Lock held. */
static void ring_free_flush(pvcalls_front *fe, int64_t deadline)
{
	for (struct fring_cached *c = fe->rf_list; c && !fe->dead; c = c->next) {
		struct pvcalls_ext_request x;
		struct pvcalls_wire_request req;

		if (c->sent)
			continue;
		memset(&x, 0, sizeof(x));
		x.cmd = PVCALLS_EXT_RING_FREE;
		x.u.ring_free.ref = c->intf_ref;
		x.u.ring_free.evtchn = c->port;
		memcpy(&req, &x, sizeof(req));
		if (pvc_fe_submit(fe, &req, NULL, NULL, NULL, deadline) < 0)
			return;
		/* Still under the lock: the answer cannot have come yet. */
		fe->slots[req.req_id & (NSLOTS - 1)].rfree = c;
		c->sent = true;
	}
}

void pvc_fe_ring_free_done(pvcalls_front *fe, struct fring_cached *c, int err)
{
	struct fring_cached **pp;

	if (err && err != -ENOENT) {
		pvc_warn("front.ring-free", "RING_FREE of ring %u: %s: kept until close",
			 c->intf_ref, pvcalls_strerror(err));
		return;
	}
	/* -ENOENT: the backend has no such parked ring, i.e. it is gone. */
	for (pp = &fe->rf_list; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = c->next;
	cached_unshare(fe, c);
}

void pvc_fe_ring_cache_drain(pvcalls_front *fe)
{
	for (unsigned o = 0; o <= PVCALLS_WIRE_MAX_RING_ORDER; o++) {
		struct fring_cached *c;

		while ((c = ring_cache_take(fe, o, true)))
			cached_unshare(fe, c);
	}
	while (fe->rf_list) {
		struct fring_cached *c = fe->rf_list;

		fe->rf_list = c->next;
		cached_unshare(fe, c);
	}
}

void pvc_fe_sock_destroy(pvcalls_front *fe, struct fsock *s)
{
	pvc_fe_ring_free(fe, &s->r);
	pthread_mutex_destroy(&s->tx_lock);
	pthread_mutex_destroy(&s->rx_lock);
	free(s);
}

static struct fsock *sock_new(pvcalls_front *fe)
{
	struct fsock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->handle = -1;
	s->id = fe->next_id++;
	s->family = AF_INET;
	s->sndtimeo = s->rcvtimeo = -1;
	s->order = fe->order_default;
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	return s;
}

static int sock_insert(pvcalls_front *fe, struct fsock *s)
{
	int i;

	for (i = 0; i < fe->nsocks; i++)
		if (!fe->socks[i])
			break;
	if (i == fe->nsocks) {
		int n = fe->nsocks ? fe->nsocks * 2 : 64;
		struct fsock **p = realloc(fe->socks, (size_t)n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + fe->nsocks, 0, (size_t)(n - fe->nsocks) * sizeof(*p));
		fe->socks = p;
		fe->nsocks = n;
	}
	fe->socks[i] = s;
	s->handle = i;
	return i;
}

struct fsock *pvc_fe_sock_get(pvcalls_front *fe, int h)
{
	struct fsock *s;

	if (h < 0 || h >= fe->nsocks || !(s = fe->socks[h]) || s->closing)
		return NULL;
	s->users++;
	return s;
}

void pvc_fe_sock_put(pvcalls_front *fe, struct fsock *s)
{
	if (--s->users <= 1 && s->closing) { /* a releaser holds one */
		pthread_cond_broadcast(&fe->cond);
		pvc_fe_kick_poller(fe); /* the releaser may be the poller */
	}
}

/*
 * How every call on a handle starts: takes fe->lock and a user reference
 * on socket @h. NULL (lock not held) with *@rc = -EINVAL without @fe,
 * -EBADF for a handle that names no open socket, and unless @any, SOCKET's
 * error if the backend refused it.
 */
static struct fsock *sock_enter(pvcalls_front *fe, int h, bool any, int *rc)
{
	struct fsock *s;

	if (!fe) {
		*rc = -EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&fe->lock);
	s = pvc_fe_sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		*rc = -EBADF;
	} else if (!any && s->sock_err) {
		*rc = s->sock_err;
		pvc_fe_sock_put(fe, s);
		pthread_mutex_unlock(&fe->lock);
		s = NULL;
	}
	return s;
}

/* And how it ends: drops the reference and the lock; returns @rc, or
 * SOCKET's error if its answer came meanwhile (before this call's). */
static int sock_leave(pvcalls_front *fe, struct fsock *s, int rc)
{
	if (s->sock_err && !s->closing)
		rc = s->sock_err;
	pvc_fe_sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

/* Shares the data ring of @s (or takes a cached one) and allocates its
 * event channel. Called without fe->lock. */
static int ring_alloc(pvcalls_front *fe, struct fsock *s)
{
	struct fring *r = &s->r;
	struct pvcalls_wire_data_intf *intf;
	struct fring_cached *c;
	int rc;

	r->npages = 1u << s->order;
	pthread_mutex_lock(&fe->lock);
	c = ring_cache_take(fe, s->order, !s->dgram);
	pthread_mutex_unlock(&fe->lock);
	if (c) {
		r->intf_page = c->intf_page;
		r->intf_ref = c->intf_ref;
		r->data = c->data;
		r->refs = c->refs;
		/* Parked: its port is still bound at the backend, so it is
		 * kept; a notification left pending on it only wakes us once
		 * for nothing (every wakeup looks at the indexes). */
		r->parked = c->parked;
		r->port = c->port;
		free(c);
		/* Indexes, errors, wait hints: as a fresh page's. A parked ring
		 * needs it (docs/extensions.md, "Ring reuse", step 2): stale
		 * indexes would replay the last socket's bytes or its EOF. The
		 * request that names the ring is published after this with a
		 * release store (cmd ring C1). */
		memset(r->intf_page, 0, PVCALLS_WIRE_PAGE_SIZE);
		if (r->parked)
			goto attach;
	} else {
		r->refs = calloc(r->npages, sizeof(*r->refs));
		if (!r->refs)
			return -ENOMEM;
		rc = pvcalls_transport_share(fe->t, fe->backend_id, 1, true, &r->intf_ref,
					     &r->intf_page);
		if (rc < 0)
			goto fail;
		rc = pvcalls_transport_share(fe->t, fe->backend_id, r->npages, true, r->refs,
					     &r->data);
		if (rc < 0) {
			pvcalls_transport_unshare(fe->t, r->intf_page, 1);
			goto fail;
		}
	}
	rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->backend_id, &r->port);
	if (rc < 0) {
		pvcalls_transport_unshare(fe->t, r->data, r->npages);
		pvcalls_transport_unshare(fe->t, r->intf_page, 1);
		goto fail;
	}
attach:
	intf = r->intf_page;
	intf->ring_order = s->order;
	memcpy(intf->ref, r->refs, r->npages * sizeof(*r->refs));
	/* The backend reads the page only after the request that names it is
	 * published with a release store (cmd ring C1). */
	pvcalls_data_ring_attach(&r->ring, intf, r->data, s->order, PVCALLS_DATA_FRONTEND);
	r->valid = true;
	return 0;
fail:
	free(r->refs);
	r->refs = NULL;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Socket calls                                                           */
/* ---------------------------------------------------------------------- */

/* SOCKET for AF_INET6 (docs/extensions.md, "IPv6"): v1's request with
 * domain 10 and protocol 0 or 6; only with inet6 in force. */
static int req_socket6(pvcalls_front *fe, struct pvcalls_wire_request *req, uint64_t id, int type,
		       int protocol)
{
	int rc;

	if (!(fe->ext & PVCALLS_FEATURE_INET6))
		return -EAFNOSUPPORT;
	if (type != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	rc = pvcalls_req_socket(req, 0, id, AF_INET, SOCK_STREAM, 0);
	if (rc == 0) {
		req->u.socket.domain = PVCALLS_EXT_AF_INET6;
		req->u.socket.protocol = (uint32_t)protocol;
	}
	return rc;
}

/* CONNECT or BIND's request for @s: v1's encoder for AF_INET, the 28-byte
 * sockaddr_in6 form for AF_INET6 (same length and family checks as a
 * native socket of the family; common/sockaddr.h). */
static int req_addr(struct pvcalls_wire_request *req, uint32_t cmd, const struct fsock *s,
		    const struct sockaddr *addr, socklen_t addrlen)
{
	int rc;

	if (s->family == AF_INET)
		return cmd == PVCALLS_WIRE_CONNECT
			       ? pvcalls_req_connect(req, 0, s->id, addr, addrlen, 0, 0)
			       : pvcalls_req_bind(req, 0, s->id, addr, addrlen);
	memset(req, 0, sizeof(*req));
	req->cmd = cmd;
	req->u.bind.id = s->id; /* CONNECT and BIND lay out id, addr and len alike */
	rc = pvc_sockaddr_to_wire(req->u.bind.addr, &req->u.bind.len, addr, addrlen, s->family);
	if (rc < 0)
		memset(req, 0, sizeof(*req));
	return rc;
}

int pvcalls_front_socket(pvcalls_front *fe, int domain, int type, int protocol)
{
	struct pvcalls_wire_request req;
	bool nonblock = type & SOCK_NONBLOCK;
	struct fsock *s;
	int rc;

	if (!fe)
		return -EINVAL;
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (type == SOCK_DGRAM) /* front_dgram.c */
		return pvc_fe_dgram_socket(fe, domain, protocol, nonblock);
	pthread_mutex_lock(&fe->lock);
	/* A restarted backend: a new session (frontend.c). */
	if (fe->dead && pvc_fe_revive(fe) < 0) {
		rc = -ENOTCONN;
		goto out;
	}
	s = sock_new(fe);
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	if (domain == AF_INET6) {
		rc = req_socket6(fe, &req, s->id, type, protocol);
		s->family = AF_INET6;
	} else {
		rc = pvcalls_req_socket(&req, 0, s->id, domain, type, protocol);
	}
	if (rc == 0)
		rc = sock_insert(fe, s);
	if (rc < 0) {
		pvc_fe_sock_destroy(fe, s);
		goto out;
	}
	/* Not waited for: the answer lands in s->sock_err (complete()). The
	 * handle is in the table already and the wait for a slot drops the
	 * lock: as a user, we hold off a release of that handle meanwhile. */
	s->nonblock = nonblock;
	s->users++;
	rc = pvc_fe_submit(fe, &req, s, NULL, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
	if (rc < 0 && !s->closing) {
		s->users--;
		fe->socks[s->handle] = NULL;
		pvc_fe_sock_destroy(fe, s);
		goto out;
	}
	if (rc == 0)
		rc = s->handle;
	pvc_fe_sock_put(fe, s); /* a releaser that came meanwhile frees it */
out:
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

int pvcalls_front_connect(pvcalls_front *fe, int h, const struct sockaddr *addr, socklen_t addrlen)
{
	struct pvcalls_wire_request req;
	struct req_waiter w = { 0 };
	struct fsock *s;
	int64_t deadline;
	int rc;

	s = sock_enter(fe, h, false, &rc);
	if (!s)
		return rc;
	if (s->dgram) {
		rc = pvc_fe_dgram_connect(fe, s, addr, addrlen);
		goto out;
	}
	switch (s->state) {
	case FS_CONNECTED:
		if (s->connect_done) { /* result of a non-blocking connect */
			s->connect_done = false;
			rc = 0;
		} else {
			rc = -EISCONN;
		}
		goto out;
	case FS_CONNECTING:
		/* A backend that went away will never answer: say so, or a
		 * caller polling for the end of the connect (which poll reports
		 * as POLLERR | POLLHUP) would ask again forever. */
		rc = fe->dead ? -ENOTCONN : -EALREADY;
		goto out;
	case FS_NEW:
		if (s->connect_done) {
			s->connect_done = false;
			rc = s->connect_err;
			goto out;
		}
		break;
	default:
		rc = -EINVAL; /* bound or listening: not supported by the protocol */
		goto out;
	}
	if (fe->dead) {
		rc = -ENOTCONN;
		goto out;
	}
	/* Validate the address before sharing memory for the ring. */
	rc = req_addr(&req, PVCALLS_WIRE_CONNECT, s, addr, addrlen);
	if (rc < 0)
		goto out;
	s->state = FS_CONNECTING;
	pthread_mutex_unlock(&fe->lock);
	rc = ring_alloc(fe, s);
	pthread_mutex_lock(&fe->lock);
	if (rc < 0) {
		s->state = FS_NEW;
		goto out;
	}
	req.u.connect.ref = s->r.intf_ref;
	req.u.connect.evtchn = s->r.port;
	/* Bounded even without a send timeout (frontend.h, cmd_timeout_ms). */
	deadline = pvc_deadline_ms(s->sndtimeo >= 0 ? s->sndtimeo : fe->connect_wait_ms);
	if (s->nonblock) {
		rc = pvc_fe_submit(fe, &req, s, NULL, NULL, deadline);
		if (rc == 0)
			rc = -EINPROGRESS;
		else {
			pvc_fe_ring_free(fe, &s->r);
			s->state = FS_NEW;
		}
		goto out;
	}
	rc = pvc_fe_submit(fe, &req, s, NULL, &w, deadline);
	if (rc < 0) {
		pvc_fe_ring_free(fe, &s->r);
		s->state = FS_NEW;
		goto out;
	}
	rc = pvc_fe_await(fe, &w, PVCALLS_WIRE_CONNECT, deadline);
	if (rc == -ETIMEDOUT && !w.done) /* the connect goes on; poll reports when it ends */
		rc = -EINPROGRESS;
out:
	return sock_leave(fe, s, rc);
}

int pvcalls_front_bind(pvcalls_front *fe, int h, const struct sockaddr *addr, socklen_t addrlen)
{
	struct pvcalls_wire_request req;
	struct fsock *s;
	int rc;

	s = sock_enter(fe, h, false, &rc);
	if (!s)
		return rc;
	if (s->state != FS_NEW)
		rc = -EINVAL;
	else if ((rc = req_addr(&req, PVCALLS_WIRE_BIND, s, addr, addrlen)) == 0)
		rc = pvc_fe_call(fe, &req, s, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
	return sock_leave(fe, s, rc);
}

int pvcalls_front_listen(pvcalls_front *fe, int h, int backlog)
{
	struct pvcalls_wire_request req;
	struct fsock *s;
	int rc;

	s = sock_enter(fe, h, false, &rc);
	if (!s)
		return rc;
	if (s->dgram) {
		rc = -EOPNOTSUPP; /* what Linux's listen answers on UDP */
	} else if (s->state != FS_BOUND && s->state != FS_LISTENING) {
		rc = -EINVAL;
	} else {
		pvcalls_req_listen(&req, 0, s->id, backlog);
		rc = pvc_fe_call(fe, &req, s, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
	}
	return sock_leave(fe, s, rc);
}

/* Queues one more ACCEPT on listener @l. Lock held on entry and exit. */
static int issue_accept(pvcalls_front *fe, struct fsock *l, int64_t deadline)
{
	struct pvcalls_wire_request req;
	struct fsock *ns = sock_new(fe);
	int rc;

	if (!ns)
		return -ENOMEM;
	ns->order = l->order;
	ns->family = l->family; /* the backend's accept gives the listener's family */
	l->accepts_inflight++;  /* counted now so a second thread does not double up */
	pthread_mutex_unlock(&fe->lock);
	rc = ring_alloc(fe, ns);
	pthread_mutex_lock(&fe->lock);
	if (rc == 0 && (l->closing || fe->dead))
		rc = fe->dead ? -ENOTCONN : -EBADF;
	if (rc == 0) {
		pvcalls_req_accept(&req, 0, l->id, ns->id, ns->r.intf_ref, ns->r.port);
		rc = pvc_fe_submit(fe, &req, l, ns, NULL, deadline);
	}
	if (rc < 0) {
		l->accepts_inflight--;
		pvc_fe_sock_destroy(fe, ns);
	}
	return rc;
}

struct accept_arg {
	struct fsock *l;
};

static bool pred_accept(pvcalls_front *fe, void *arg)
{
	struct fsock *l = ((struct accept_arg *)arg)->l;

	(void)fe;
	return l->acc_head || l->closing || l->accepts_inflight < l->accept_waiters;
}

int pvcalls_front_accept(pvcalls_front *fe, int h, int flags)
{
	struct accept_arg a;
	struct fe_waiter w = { .pred = pred_accept, .arg = &a };
	struct fsock *l, *ns;
	int64_t deadline;
	int rc;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	l = sock_enter(fe, h, false, &rc);
	if (!l)
		return rc;
	if (l->state != FS_LISTENING) {
		rc = l->dgram ? -EOPNOTSUPP : -EINVAL;
		goto out;
	}
	a.l = l;
	deadline = pvc_deadline_ms(l->nonblock ? 0 : l->rcvtimeo);
	w.deadline = deadline;
	w.budget = &fe->cmd_spin[PVCALLS_WIRE_ACCEPT];
	l->accept_waiters++;
	for (;;) {
		if (l->acc_head)
			break;
		if (l->closing) {
			rc = -EBADF;
			goto out_w;
		}
		if (l->state != FS_LISTENING) { /* SHUTDOWN SHUT_RD (front_extcmd.c) */
			rc = -EINVAL;
			goto out_w;
		}
		if (fe->dead) {
			rc = -ENOTCONN;
			goto out_w;
		}
		if (l->accepts_inflight < l->accept_waiters) {
			rc = issue_accept(fe, l, deadline);
			if (rc < 0)
				goto out_w;
			continue;
		}
		if (l->nonblock) {
			rc = -EAGAIN;
			goto out_w;
		}
		rc = pvc_fe_wait(fe, &w);
		if (rc == -ETIMEDOUT)
			rc = -EAGAIN;
		if (rc < 0)
			goto out_w;
	}
	ns = l->acc_head;
	l->acc_head = ns->next;
	if (!l->acc_head)
		l->acc_tail = NULL;
	l->poll_ready = false;
	ns->next = NULL;
	rc = sock_insert(fe, ns);
	if (rc < 0) {
		/* Out of memory for the table: give the connection back. */
		ns->next = l->acc_head;
		l->acc_head = ns;
		if (!l->acc_tail)
			l->acc_tail = ns;
		goto out_w;
	}
	ns->nonblock = flags & SOCK_NONBLOCK;
out_w:
	l->accept_waiters--;
out:
	return sock_leave(fe, l, rc);
}

static bool pred_sole_user(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct fsock *)arg)->users == 1;
}

static bool pred_no_connect(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct fsock *)arg)->state != FS_CONNECTING;
}

/* Drops every slot that still names @s: requests the backend will never
 * answer (Linux leaves a released listener's ACCEPT/POLL unanswered), or
 * that we stop waiting for. Lock held. */
static void drop_slots(pvcalls_front *fe, struct fsock *s)
{
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &fe->slots[i];

		if (!sl->busy || sl->sock != s)
			continue;
		fe->stats.lost_slots++;
		if (sl->cmd == PVCALLS_WIRE_ACCEPT)
			pvc_fe_sock_destroy(fe, sl->newsock);
		if (sl->w) {
			sl->w->err = -EBADF;
			sl->w->done = true;
		}
		sl->busy = false;
		sl->w = NULL;
		fe->slots_busy--;
	}
}

void pvc_fe_sock_reclaim(pvcalls_front *fe, struct fsock *s, bool answered)
{
	struct fsock **pp = &fe->releasing;

	if (answered && s->r.valid && !fe->dead && !s->dgram)
		ring_cache_put(fe, s->order, &s->r);
	drop_slots(fe, s);
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = s->next;
		fe->nreleasing--;
	}
	pvc_fe_sock_destroy(fe, s);
	pthread_cond_broadcast(&fe->cond);
}

static bool pred_release_room(pvcalls_front *fe, void *arg)
{
	(void)arg;
	return fe->nreleasing < MAX_RELEASING || fe->dead;
}

/*
 * Sends RELEASE for @s and puts it on fe->releasing until the answer, once
 * fewer than MAX_RELEASING wait there (after cmd_timeout_ms the oldest is
 * reclaimed). Lock held. Returns 0, or -ENOTCONN or the error of
 * submitting; then @s is the caller's to free.
 */
static int release_async(pvcalls_front *fe, struct fsock *s, int64_t deadline)
{
	struct fe_waiter w = { .pred = pred_release_room, .deadline = deadline };
	struct pvcalls_wire_request req;
	struct fsock **pp;
	int rc;

	ring_free_flush(fe, deadline);
	if (pvc_fe_wait(fe, &w) == -ETIMEDOUT && fe->releasing) {
		pvc_warn("front.release", "RELEASE of socket %llu never answered: reclaimed",
			 (unsigned long long)fe->releasing->id);
		pvc_fe_sock_reclaim(fe, fe->releasing, false);
	}
	if (fe->dead)
		return -ENOTCONN;
	pvcalls_req_release(&req, 0, s->id);
	rc = pvc_fe_submit(fe, &req, s, NULL, NULL, deadline);
	if (rc < 0)
		return rc;
	s->released = true;
	s->next = NULL;
	for (pp = &fe->releasing; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	fe->nreleasing++;
	return 0;
}

int pvcalls_front_release(pvcalls_front *fe, int h)
{
	struct pvcalls_wire_request req;
	int64_t deadline = pvc_deadline_ms(fe->cmd_timeout_ms);
	struct fe_waiter w = { .deadline = deadline };
	struct fsock *s;
	int rc = 0;

	s = sock_enter(fe, h, true, &rc);
	if (!s)
		return rc;
	w.arg = s;
	s->closing = true;
	pthread_cond_broadcast(&fe->cond);
	pvc_fe_kick_poller(fe);
	/* Blocked callers see closing and leave; wait for them. */
	w.pred = pred_sole_user;
	pvc_fe_wait(fe, &w);
	/* A CONNECT in flight must be answered first: the backend maps the
	 * ring while connecting. */
	if (s->state == FS_CONNECTING) {
		w.pred = pred_no_connect;
		pvc_fe_wait(fe, &w);
	}
	if (fe->dead) { /* nothing will be answered: reclaim what waits */
		while (fe->releasing)
			pvc_fe_sock_reclaim(fe, fe->releasing, false);
	}
	if (!fe->dead && s->accepts_inflight == 0) {
		/* Accepted connections nobody picked up, then the socket itself,
		 * reclaimed when answered (see the top). The socket stays in the
		 * table (closing, our reference) while we may wait, so that
		 * pvcalls_front_close() waits for us. */
		while (s->acc_head) {
			struct fsock *n = s->acc_head;

			s->acc_head = n->next;
			if (release_async(fe, n, deadline) < 0) {
				drop_slots(fe, n);
				pvc_fe_sock_destroy(fe, n);
			}
		}
		rc = release_async(fe, s, deadline);
		fe->socks[h] = NULL;
		s->users--;
		if (rc < 0) {
			drop_slots(fe, s);
			pvc_fe_sock_destroy(fe, s);
		}
		if (rc < 0 && rc != -ENOTCONN)
			pvc_warn("front.release", "RELEASE of socket %d: %s", h,
				 pvcalls_strerror(rc));
		pthread_cond_broadcast(&fe->cond);
		pthread_mutex_unlock(&fe->lock);
		return rc == -ENOTCONN ? 0 : rc;
	}
	if (!fe->dead) {
		pvcalls_req_release(&req, 0, s->id);
		rc = pvc_fe_call(fe, &req, s, NULL, deadline);
		if (rc < 0)
			pvc_warn("front.release", "RELEASE of socket %d: %s", h,
				 pvcalls_strerror(rc));
	}
	drop_slots(fe, s);
	/* Accepted connections nobody picked up are released too. */
	while (s->acc_head) {
		struct fsock *n = s->acc_head;

		s->acc_head = n->next;
		if (!fe->dead) {
			pvcalls_req_release(&req, 0, n->id);
			pvc_fe_call(fe, &req, n, NULL, deadline);
		}
		drop_slots(fe, n);
		pvc_fe_sock_destroy(fe, n);
	}
	fe->socks[h] = NULL;
	s->users--;
	pvc_fe_sock_destroy(fe, s);
	pthread_cond_broadcast(&fe->cond);
	pthread_mutex_unlock(&fe->lock);
	return rc == -ENOTCONN ? 0 : rc;
}

int pvcalls_front_setopt(pvcalls_front *fe, int h, enum pvcalls_front_opt opt, int value)
{
	struct fsock *s;
	int rc = 0;

	s = sock_enter(fe, h, false, &rc);
	if (!s)
		return rc;
	switch (opt) {
	case PVCALLS_OPT_NONBLOCK:
		s->nonblock = value != 0;
		break;
	case PVCALLS_OPT_SNDTIMEO_MS:
		s->sndtimeo = value < 0 ? -1 : value;
		break;
	case PVCALLS_OPT_RCVTIMEO_MS:
		s->rcvtimeo = value < 0 ? -1 : value;
		break;
	case PVCALLS_OPT_RING_ORDER:
		if (value < 0 || (uint32_t)value > fe->max_order)
			rc = -EINVAL;
		else if (s->state == FS_CONNECTED || s->state == FS_CONNECTING || s->dgram)
			rc = -EISCONN; /* datagram sockets have their rings from the start */
		else
			s->order = (uint32_t)value;
		break;
	default:
		rc = -ENOPROTOOPT;
	}
	return sock_leave(fe, s, rc);
}

/* For front_dgram.c: the same steps pvcalls_front_socket() takes. */
struct fsock *pvc_fe_sock_alloc(pvcalls_front *fe)
{
	return sock_new(fe);
}

int pvc_fe_ring_alloc(pvcalls_front *fe, struct fsock *s)
{
	return ring_alloc(fe, s);
}

int pvc_fe_sock_add(pvcalls_front *fe, struct fsock *s)
{
	return sock_insert(fe, s);
}
