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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
	return 0;
}

void pvc_shm_evt_fini(struct shm_ctx *ctx)
{
	struct shm_evt *e = &ctx->evt;

	if (e->ports) {
		for (uint32_t p = 0; p < ctx->self.max_ports; p++)
			pvc_shm_dom_put(e->ports[p].state != SHM_LP_FREE ? e->ports[p].peer : NULL);
	}
	free(e->ports);
	free(e->lmask);
	free(e->free_ports);
	pthread_mutex_destroy(&e->lock);
	memset(e, 0, sizeof(*e));
}

static inline uint64_t bit(uint32_t port)
{
	return 1ull << (port % 64);
}

/* Mirrors lmask word @w to the shared table, repairing any peer tampering. */
static void publish_mask(struct shm_ctx *ctx, uint32_t w)
{
	__atomic_store_n(&ctx->self.mask[w], ctx->evt.lmask[w], __ATOMIC_SEQ_CST);
}

/* Takes a free port and resets its bits. evt->lock held. */
static int port_alloc(struct shm_ctx *ctx, uint32_t *port)
{
	struct shm_evt *e = &ctx->evt;
	uint32_t p;

	if (!e->nr_free)
		return -ENOSPC;
	p = e->free_ports[--e->nr_free];
	/* Clear any stale pending bit before the port is unmasked. */
	__atomic_fetch_and(&ctx->self.pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
	e->lmask[p / 64] &= ~bit(p);
	publish_mask(ctx, p / 64);
	*port = p;
	return 0;
}

static void port_release(struct shm_ctx *ctx, uint32_t p)
{
	struct shm_evt *e = &ctx->evt;

	__atomic_store_n(&ctx->self.bind[p], SHM_BIND(SHM_PORT_FREE, 0, 0), __ATOMIC_SEQ_CST);
	e->lmask[p / 64] |= bit(p);
	publish_mask(ctx, p / 64);
	__atomic_fetch_and(&ctx->self.pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
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
	rc = port_alloc(ctx, &p);
	if (!rc) {
		ctx->evt.ports[p] = (struct shm_port_priv){ .peer = d, .state = SHM_LP_UNBOUND };
		/* Publish last: release pairs with the binder's acquire load. */
		__atomic_store_n(&ctx->self.bind[p], SHM_BIND(SHM_PORT_UNBOUND, remote_domid, 0),
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
	rc = port_alloc(ctx, &p);
	if (rc)
		goto out;
	ctx->evt.ports[p] = (struct shm_port_priv){ .peer = d, .rport = remote_port,
						    .state = SHM_LP_BOUND };
	/* Our side first, so the peer's notify finds it consistent once it sees theirs. */
	__atomic_store_n(&ctx->self.bind[p], SHM_BIND(SHM_PORT_INTERDOMAIN, remote_domid, remote_port),
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
		/* Unbound until the peer binds; it wrote its port into our table. */
		w = __atomic_load_n(&ctx->self.bind[port], __ATOMIC_ACQUIRE);
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

	return ctx->self.efd;
}

/*
 * Finds the next deliverable port at or after @from (wrapping), discarding
 * pending bits a peer set on ports we do not hold. evt->lock held.
 */
static bool find_deliverable(struct shm_ctx *ctx, uint32_t from, uint32_t *port)
{
	uint32_t nw = shm_evt_words(ctx->self.max_ports);
	uint32_t w0 = from / 64;

	for (uint32_t k = 0; k <= nw; k++) {
		uint32_t w = (w0 + k) % nw;
		/* D1 */
		uint64_t cand = __atomic_load_n(&ctx->self.pending[w], __ATOMIC_SEQ_CST) &
				~ctx->evt.lmask[w];

		if (k == 0)
			cand &= ~0ull << (from % 64);
		else if (k == nw)
			cand &= (from % 64) ? ~(~0ull << (from % 64)) : 0;
		while (cand) {
			uint32_t p = w * 64 + (uint32_t)__builtin_ctzll(cand);

			cand &= cand - 1;
			if (port_valid(ctx, p)) {
				*port = p;
				return true;
			}
			__atomic_fetch_and(&ctx->self.pending[w], ~bit(p), __ATOMIC_SEQ_CST);
		}
	}
	return false;
}

void (*pvc_shm_test_after_scan)(void *ctx);

int pvc_shm_evtchn_pending(void *c, uint32_t *port)
{
	struct shm_ctx *ctx = c;
	struct shm_evt *e = &ctx->evt;
	uint32_t p, q;
	int rc = 0;

	pthread_mutex_lock(&e->lock);
	efd_drain(ctx->self.efd); /* D0: must come before the scan */
	while (find_deliverable(ctx, e->scan_pos, &p)) {
		uint64_t old;

		/* D2, D3: mask first, then consume the pending bit. */
		e->lmask[p / 64] |= bit(p);
		publish_mask(ctx, p / 64);
		old = __atomic_fetch_and(&ctx->self.pending[p / 64], ~bit(p), __ATOMIC_SEQ_CST);
		if (!(old & bit(p))) {
			/* Cleared under us by a misbehaving peer: nothing to deliver. */
			e->lmask[p / 64] &= ~bit(p);
			publish_mask(ctx, p / 64);
			continue;
		}
		*port = p;
		rc = 1;
		e->scan_pos = p + 1 < ctx->self.max_ports ? p + 1 : 0;
		/* More to deliver: keep the fd readable for the next call. */
		if (find_deliverable(ctx, e->scan_pos, &q))
			pvc_shm_efd_signal(ctx->self.efd);
		break;
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

	pthread_mutex_lock(&e->lock);
	if (!port_valid(ctx, port)) {
		pthread_mutex_unlock(&e->lock);
		return -EINVAL;
	}
	if (e->lmask[port / 64] & bit(port)) {
		e->lmask[port / 64] &= ~bit(port);
		publish_mask(ctx, port / 64); /* U1 */
		/* U2, U3: redeliver an event that arrived while masked. */
		if (__atomic_load_n(&ctx->self.pending[port / 64], __ATOMIC_SEQ_CST) & bit(port))
			pvc_shm_efd_signal(ctx->self.efd);
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}
