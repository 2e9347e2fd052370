/* SPDX-License-Identifier: MIT */
/*
 * Event channels over shared port tables and one eventfd per domain.
 *
 * A domain's port table holds a pending bitmap (set by notifiers, cleared by
 * the owner on delivery), a mask bitmap (written by the owner only, read by
 * notifiers to decide whether to wake it) and a bind word per port. The
 * owner keeps its own copy of the mask (lmask) and of each port's state, so
 * whatever a peer writes into our table can at worst cause a spurious event.
 *
 * Ordering. Every access below to pending/mask bits is seq_cst.
 *
 *  notify (N):  N1 fetch_or(pending)   N2 load(mask)      N3 write(eventfd)
 *                                                            if newly pending
 *                                                            and unmasked
 *  deliver (D): D0 read(eventfd)       D1 load(pending)   D2 store(mask=1)
 *               D3 fetch_and(pending)
 *  unmask (U):  U1 store(mask=0)       U2 load(pending)   U3 write(eventfd)
 *                                                            if pending
 *
 *  - N1/N2 pairs with D2/D3: if N1 comes after D3 in pending's modification
 *    order, then D2 precedes N2 in the single seq_cst order and N2 sees the
 *    mask: no wakeup, the event stays pending and masked until U. If N1
 *    comes before D3, D3 consumes it and the port is delivered now.
 *  - N1/N2 pairs with U1/U2 (Dekker): either N2 sees mask=0 and N wakes, or
 *    U2 sees the pending bit and U wakes. Both waking is a harmless spurious
 *    wakeup.
 *  - N3 pairs with D0: the kernel serialises eventfd reads and writes. If a
 *    notifier's N1 is not seen by D1, its N3 cannot have been consumed by
 *    D0 (else N1, sequenced before N3, would happen before D1), so the
 *    eventfd counter is non-zero after pending() returns and the owner's
 *    poll() comes back. Draining first and scanning second is what makes
 *    this hold; the reverse order loses wakeups.
 *  - pending() delivers one port per call and, if another deliverable port
 *    remains, writes its own eventfd so the fd stays readable.
 *
 * Events that race with closing or re-allocating a port may show up as a
 * spurious event on the new port; PV drivers tolerate those (as on Xen).
 *
 * One table per guest on the hub (issue 13, attack 5). The hub's port
 * table and eventfd used to be shared by every guest: one guest setting
 * mask bits, clearing pending bits or draining the eventfd starved the
 * others. Now the hub gives each guest its own copy of "the hub's port
 * table" and its own eventfd (shm_dom.htab, sent in the hello answer),
 * so a guest reads and writes only state that concerns its own channels.
 * Port numbers stay one space per domain: the hub's port p bound to guest
 * G lives in G's table (a view), and is masked and never pending in the
 * others. Everything that decides whom to wake is private to the hub
 * (ports[p].peer, lmask); a guest's table only tells the hub which of
 * that guest's channels fired, and a bit set there for a port that is not
 * bound to that guest is discarded. The hub's own table (ctx->self)
 * serves the ports it binds to itself. evtchn_fd is an epoll set over the
 * guests' eventfds and its own; pending() drains (D0) and scans (D1) one
 * ready table at a time, so the ordering argument above holds per table:
 * a table's eventfd is drained only just before that table is scanned.
 * The hub publishes into a guest's view only the bit of the port it
 * changes (seq_cst read-modify-write, still one total order for N2/D2/U1);
 * into its own table it stores the whole word, repairing tampering.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

void pvc_shm_efd_signal(int efd)
{
	uint64_t one = 1;
	ssize_t n;

	do {
		n = write(efd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is saturated, so the fd is readable anyway. */
}

static void efd_drain(int efd)
{
	uint64_t v;
	ssize_t n;

	do {
		n = read(efd, &v, sizeof(v));
	} while (n < 0 && errno == EINTR);
}

int pvc_shm_evt_init(struct shm_ctx *ctx)
{
	struct shm_evt *e = &ctx->evt;
	uint32_t n = ctx->self.max_ports;

	memset(e, 0, sizeof(*e));
	e->epfd = -1;
	pthread_mutex_init(&e->lock, NULL);
	e->ports = calloc(n, sizeof(*e->ports));
	e->lmask = malloc(shm_evt_words(n) * sizeof(uint64_t));
	e->free_ports = calloc(n, sizeof(*e->free_ports));
	if (!e->ports || !e->lmask || !e->free_ports)
		return -ENOMEM;
	memset(e->lmask, 0xff, shm_evt_words(n) * sizeof(uint64_t));
	/* Port 0 is never used, as on Xen. Lowest port on top of the stack. */
	for (uint32_t p = n; p-- > 1;)
		e->free_ports[e->nr_free++] = p;
	if (ctx->is_hub) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ctx->self };

		e->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (e->epfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, ctx->self.efd, &ev) < 0)
			return -errno;
	}
	return 0;
}

void pvc_shm_evt_fini(struct shm_ctx *ctx)
{
	struct shm_evt *e = &ctx->evt;

	if (e->ports) {
		for (uint32_t p = 0; p < ctx->self.max_ports; p++)
			pvc_shm_dom_put(e->ports[p].state != SHM_LP_FREE ? e->ports[p].peer : NULL);
	}
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->ports);
	free(e->lmask);
	free(e->free_ports);
	pthread_mutex_destroy(&e->lock);
	memset(e, 0, sizeof(*e));
	e->epfd = -1;
}

int pvc_shm_evt_add_guest(struct shm_ctx *ctx, struct shm_dom *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d };
	int rc = 0;

	pthread_mutex_lock(&ctx->evt.lock);
	if (epoll_ctl(ctx->evt.epfd, EPOLL_CTL_ADD, d->htab->efd, &ev) < 0)
		rc = -errno;
	pthread_mutex_unlock(&ctx->evt.lock);
	return rc;
}

/* Under evt->lock, so pending() never looks at @d's table after this. */
void pvc_shm_evt_del_guest(struct shm_ctx *ctx, struct shm_dom *d)
{
	pthread_mutex_lock(&ctx->evt.lock);
	epoll_ctl(ctx->evt.epfd, EPOLL_CTL_DEL, d->htab->efd, NULL);
	pthread_mutex_unlock(&ctx->evt.lock);
}

static inline uint64_t bit(uint32_t port)
{
	return 1ull << (port % 64);
}

/* The table where our ports bound to @peer live, as @peer sees it. */
struct view {
	uint64_t *pending, *mask, *bind;
	int efd;
	bool own; /* ctx->self's table: we may store whole words */
};

static struct view view_of(struct shm_ctx *ctx, const struct shm_dom *peer)
{
	if (peer && peer->htab)
		return (struct view){ peer->htab->pending, peer->htab->mask, peer->htab->bind,
				      peer->htab->efd, false };
	return (struct view){ ctx->self.pending, ctx->self.mask, ctx->self.bind, ctx->self.efd,
			      true };
}

/*
 * Mirrors lmask's bit for @p to @v: the whole word into our own table,
 * repairing any tampering; only @p's bit into a guest's view, whose other
 * bits belong to ports of other tables (and stay masked there).
 */
static void publish_mask(struct shm_ctx *ctx, const struct view *v, uint32_t p)
{
	uint32_t w = p / 64;

	if (v->own)
		__atomic_store_n(&v->mask[w], ctx->evt.lmask[w], __ATOMIC_SEQ_CST);
	else if (ctx->evt.lmask[w] & bit(p))
		__atomic_fetch_or(&v->mask[w], bit(p), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&v->mask[w], ~bit(p), __ATOMIC_SEQ_CST);
}

/* Takes a free port for @peer and resets its bits. evt->lock held. */
static int port_alloc(struct shm_ctx *ctx, struct shm_dom *peer, uint32_t *port)
{
	struct shm_evt *e = &ctx->evt;
	struct view v = view_of(ctx, peer);
	uint32_t p;

	if (!e->nr_free)
		return -ENOSPC;
	p = e->free_ports[--e->nr_free];
	/* Clear any stale pending bit before the port is unmasked. */
	__atomic_fetch_and(&v.pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
	e->lmask[p / 64] &= ~bit(p);
	publish_mask(ctx, &v, p);
	*port = p;
	return 0;
}

static void port_release(struct shm_ctx *ctx, uint32_t p)
{
	struct shm_evt *e = &ctx->evt;
	struct view v = view_of(ctx, e->ports[p].peer);

	__atomic_store_n(&v.bind[p], SHM_BIND(SHM_PORT_FREE, 0, 0), __ATOMIC_SEQ_CST);
	e->lmask[p / 64] |= bit(p);
	publish_mask(ctx, &v, p);
	__atomic_fetch_and(&v.pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
	pvc_shm_dom_put(e->ports[p].peer);
	e->ports[p] = (struct shm_port_priv){ 0 };
	e->free_ports[e->nr_free++] = p;
}

static bool port_valid(struct shm_ctx *ctx, uint32_t p)
{
	return p > 0 && p < ctx->self.max_ports && ctx->evt.ports[p].state != SHM_LP_FREE;
}

int pvc_shm_evtchn_alloc_unbound(void *c, uint32_t remote_domid, uint32_t *port)
{
	struct shm_ctx *ctx = c;
	struct shm_dom *d;
	uint32_t p;
	int rc;

	rc = pvc_shm_lookup_dom(ctx, remote_domid, &d);
	if (rc)
		return rc;
	pthread_mutex_lock(&ctx->evt.lock);
	rc = port_alloc(ctx, d, &p);
	if (!rc) {
		struct view v = view_of(ctx, d);

		ctx->evt.ports[p] = (struct shm_port_priv){ .peer = d, .state = SHM_LP_UNBOUND };
		/* Publish last: release pairs with the binder's acquire load. */
		__atomic_store_n(&v.bind[p], SHM_BIND(SHM_PORT_UNBOUND, remote_domid, 0),
				 __ATOMIC_RELEASE);
		*port = p;
	}
	pthread_mutex_unlock(&ctx->evt.lock);
	if (rc)
		pvc_shm_dom_put(d);
	return rc;
}

int pvc_shm_evtchn_bind(void *c, uint32_t remote_domid, uint32_t remote_port, uint32_t *port)
{
	struct shm_ctx *ctx = c;
	struct shm_dom *d;
	uint64_t expect, mine;
	struct view v;
	uint32_t p;
	int rc;

	rc = pvc_shm_lookup_dom(ctx, remote_domid, &d);
	if (rc)
		return rc;
	if (remote_port == 0 || remote_port >= d->max_ports) {
		pvc_shm_dom_put(d);
		return -EINVAL;
	}
	pthread_mutex_lock(&ctx->evt.lock);
	rc = port_alloc(ctx, d, &p);
	if (rc)
		goto out;
	ctx->evt.ports[p] =
		(struct shm_port_priv){ .peer = d, .rport = remote_port, .state = SHM_LP_BOUND };
	v = view_of(ctx, d);
	/* Our side first, so the peer's notify finds it consistent once it sees theirs. */
	__atomic_store_n(&v.bind[p], SHM_BIND(SHM_PORT_INTERDOMAIN, remote_domid, remote_port),
			 __ATOMIC_SEQ_CST);
	expect = SHM_BIND(SHM_PORT_UNBOUND, ctx->self.domid, 0);
	mine = SHM_BIND(SHM_PORT_INTERDOMAIN, ctx->self.domid, p);
	/* seq_cst CAS pairs with alloc_unbound's release store and with close. */
	if (!__atomic_compare_exchange_n(&d->bind[remote_port], &expect, mine, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		pvc_err("shm.bad-port", "port %u of domain %u is not unbound for domain %u",
			remote_port, remote_domid, ctx->self.domid);
		port_release(ctx, p); /* drops our reference on d */
		pthread_mutex_unlock(&ctx->evt.lock);
		return -EINVAL;
	}
	*port = p;
	d = NULL; /* the port owns the reference */
out:
	pthread_mutex_unlock(&ctx->evt.lock);
	pvc_shm_dom_put(d);
	return rc;
}

int pvc_shm_evtchn_close(void *c, uint32_t port)
{
	struct shm_ctx *ctx = c;
	struct shm_port_priv *pp;

	pthread_mutex_lock(&ctx->evt.lock);
	if (!port_valid(ctx, port)) {
		pthread_mutex_unlock(&ctx->evt.lock);
		return -EINVAL;
	}
	pp = &ctx->evt.ports[port];
	if (pp->state == SHM_LP_BOUND) {
		/* As on Xen, the remote end reverts to unbound (for us) and can be bound again. */
		uint64_t expect = SHM_BIND(SHM_PORT_INTERDOMAIN, ctx->self.domid, port);

		__atomic_compare_exchange_n(&pp->peer->bind[pp->rport], &expect,
					    SHM_BIND(SHM_PORT_UNBOUND, ctx->self.domid, 0), false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	}
	port_release(ctx, port);
	pthread_mutex_unlock(&ctx->evt.lock);
	return 0;
}

int pvc_shm_evtchn_notify(void *c, uint32_t port)
{
	struct shm_ctx *ctx = c;
	struct shm_port_priv *pp;
	struct shm_dom *d;
	uint32_t rport;
	uint64_t w, old;
	int rc = 0;

	pthread_mutex_lock(&ctx->evt.lock);
	if (!port_valid(ctx, port)) {
		rc = -EINVAL;
		goto out;
	}
	pp = &ctx->evt.ports[port];
	d = pp->peer;
	if (pvc_shm_dom_dead(d)) {
		rc = -EPIPE;
		goto out;
	}
	if (pp->state == SHM_LP_BOUND) {
		rport = pp->rport;
	} else {
		/*
		 * Unbound until the peer binds; it wrote its port into our
		 * table as it sees it. That names one of the peer's own ports
		 * only: whom we wake (d) is ours.
		 */
		w = __atomic_load_n(&view_of(ctx, d).bind[port], __ATOMIC_ACQUIRE);
		if (SHM_BIND_STATE(w) != SHM_PORT_INTERDOMAIN || SHM_BIND_DOMID(w) != d->domid)
			goto out; /* nobody bound yet: dropped, as on Xen */
		rport = SHM_BIND_PORT(w);
	}
	if (rport == 0 || rport >= d->max_ports)
		goto out;
	/* The remote end must still be bound to this very port. */
	w = __atomic_load_n(&d->bind[rport], __ATOMIC_ACQUIRE);
	if (w != SHM_BIND(SHM_PORT_INTERDOMAIN, ctx->self.domid, port))
		goto out;
	/* N1, N2: see the ordering comment at the top of this file. */
	old = __atomic_fetch_or(&d->pending[rport / 64], bit(rport), __ATOMIC_SEQ_CST);
	if (!(old & bit(rport)) &&
	    !(__atomic_load_n(&d->mask[rport / 64], __ATOMIC_SEQ_CST) & bit(rport)))
		pvc_shm_efd_signal(d->efd); /* N3, pairs with D0 */
out:
	pthread_mutex_unlock(&ctx->evt.lock);
	return rc;
}

int pvc_shm_evtchn_fd(void *c)
{
	struct shm_ctx *ctx = c;

	return ctx->is_hub ? ctx->evt.epfd : ctx->self.efd;
}

/* Is @p ours and bound through table @v? */
static bool port_in(struct shm_ctx *ctx, const struct view *v, uint32_t p)
{
	return port_valid(ctx, p) && view_of(ctx, ctx->evt.ports[p].peer).pending == v->pending;
}

/*
 * Finds the next deliverable port of table @v at or after @from (wrapping),
 * discarding pending bits set there on ports we do not hold through @v.
 * evt->lock held.
 */
static bool find_deliverable(struct shm_ctx *ctx, const struct view *v, uint32_t from,
			     uint32_t *port)
{
	uint32_t nw = shm_evt_words(ctx->self.max_ports);
	uint32_t w0 = from / 64;

	for (uint32_t k = 0; k <= nw; k++) {
		uint32_t w = (w0 + k) % nw;
		/* D1 */
		uint64_t cand =
			__atomic_load_n(&v->pending[w], __ATOMIC_SEQ_CST) & ~ctx->evt.lmask[w];

		if (k == 0)
			cand &= ~0ull << (from % 64);
		else if (k == nw)
			cand &= (from % 64) ? ~(~0ull << (from % 64)) : 0;
		while (cand) {
			uint32_t p = w * 64 + (uint32_t)__builtin_ctzll(cand);

			cand &= cand - 1;
			if (port_in(ctx, v, p)) {
				*port = p;
				return true;
			}
			__atomic_fetch_and(&v->pending[w], ~bit(p), __ATOMIC_SEQ_CST);
		}
	}
	return false;
}

void (*pvc_shm_test_after_scan)(void *ctx);

/* Delivers one port of table @v, if any. evt->lock held. */
static int deliver_from(struct shm_ctx *ctx, const struct view *v, uint32_t *port)
{
	struct shm_evt *e = &ctx->evt;
	uint32_t p, q;

	efd_drain(v->efd); /* D0: must come before the scan */
	while (find_deliverable(ctx, v, e->scan_pos, &p)) {
		uint64_t old;

		/* D2, D3: mask first, then consume the pending bit. */
		e->lmask[p / 64] |= bit(p);
		publish_mask(ctx, v, p);
		old = __atomic_fetch_and(&v->pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
		if (!(old & bit(p))) {
			/* Cleared under us by a misbehaving peer: nothing to deliver. */
			e->lmask[p / 64] &= ~bit(p);
			publish_mask(ctx, v, p);
			continue;
		}
		*port = p;
		e->scan_pos = p + 1 < ctx->self.max_ports ? p + 1 : 0;
		/* More to deliver: keep the fd readable for the next call. */
		if (find_deliverable(ctx, v, e->scan_pos, &q))
			pvc_shm_efd_signal(v->efd);
		return 1;
	}
	return 0;
}

int pvc_shm_evtchn_pending(void *c, uint32_t *port)
{
	struct shm_ctx *ctx = c;
	struct shm_evt *e = &ctx->evt;
	int rc = 0;

	pthread_mutex_lock(&e->lock);
	if (ctx->is_hub) {
		struct epoll_event evs[64];
		/*
		 * Level-triggered and not consumed: the tables whose eventfd
		 * is readable. One drained and scanned at a time; the ones we
		 * do not reach stay readable. epoll rotates its ready list,
		 * so a guest that keeps its eventfd readable cannot shut the
		 * others out.
		 */
		int n = epoll_wait(e->epfd, evs, 64, 0);

		for (int i = 0; i < n && !rc; i++) {
			struct shm_dom *d = evs[i].data.ptr;
			struct view v = view_of(ctx, d == &ctx->self ? NULL : d);

			rc = deliver_from(ctx, &v, port);
		}
	} else {
		struct view v = view_of(ctx, NULL);

		rc = deliver_from(ctx, &v, port);
	}
	/* Tests inject a notification here: it must still leave the fd readable. */
	if (!rc && pvc_shm_test_after_scan)
		pvc_shm_test_after_scan(ctx);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

int pvc_shm_evtchn_unmask(void *c, uint32_t port)
{
	struct shm_ctx *ctx = c;
	struct shm_evt *e = &ctx->evt;
	struct view v;

	pthread_mutex_lock(&e->lock);
	if (!port_valid(ctx, port)) {
		pthread_mutex_unlock(&e->lock);
		return -EINVAL;
	}
	v = view_of(ctx, e->ports[port].peer);
	/*
	 * Also when not masked in lmask if the table is a guest's view: the
	 * guest may have set the bit there (hurting only its own channel);
	 * unmask repairs it and picks up what waited meanwhile.
	 */
	if ((e->lmask[port / 64] & bit(port)) || !v.own) {
		e->lmask[port / 64] &= ~bit(port);
		publish_mask(ctx, &v, port); /* U1 */
		/* U2, U3: redeliver an event that arrived while masked. */
		if (__atomic_load_n(&v.pending[port / 64], __ATOMIC_SEQ_CST) & bit(port))
			pvc_shm_efd_signal(v.efd);
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}
