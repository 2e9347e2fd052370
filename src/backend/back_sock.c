/* SPDX-License-Identifier: MIT */
/*
 * A backend socket: its table, its state, and what it holds on the host
 * and in shared memory. The command handling (back_cmd.c) and the relay
 * (back_data.c) both work on sockets through this file, never through
 * each other.
 *
 * The table: per frontend, an id map (common/idmap.h) from the guest's
 * socket ids to struct back_socket, and a list for teardown. The per-state
 * counts that the limits and the stats read follow every state change
 * (pvc_back_sock_set_state()).
 *
 * What a socket holds: a host fd, registered edge-triggered in the
 * backend's epoll set; the mapped data ring (indexes page, data pages, the
 * bound port). pvc_back_sock_destroy() lets go of all of it at once; the
 * memory itself is freed at the end of the round (backend.c, reap()),
 * because the round's epoll events may still name the socket.
 *
 * Lingering close. A frontend may write its last bytes and send RELEASE at
 * once (send() then close()); Linux's backend flushes the socket's pending
 * write work before it lets go. pvc_back_sock_finish() has the relay push
 * what the out ring holds into the socket, copies out what does not fit,
 * and keeps the fd to send it in the background ("lingering", bounded in
 * time and bytes), so the RELEASE is answered at once and the rings can be
 * unmapped.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/back_priv.h"
#include "common/log.h"
#include "ring/barrier.h"
#include "ring/wait_hint.h"

/* ---------------------------------------------------------------------- */
/* The socket table and socket state                                     */

struct back_socket *pvc_back_sock_find(struct back_frontend *f, uint64_t id)
{
	struct pvc_idmap_node *n = pvc_idmap_find(&f->ids, id);

	return n ? container_of(n, struct back_socket, idn) : NULL;
}

struct back_socket *pvc_back_sock_new(struct back_frontend *f, uint64_t id)
{
	struct back_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->f = f;
	s->id = id;
	s->fd = -1;
	s->family = AF_INET;
	s->state = BS_NEW;
	pvc_idmap_insert(&f->ids, &s->idn, id);
	PVC_LIST_PUSH(f->socks, s, next, prev);
	f->nsocks++;
	return s;
}

/* Keeps the per-state counts right across a state change. */
static void account(struct back_socket *s, int d)
{
	struct back_frontend *f = s->f;

	switch (s->state) {
	case BS_ACTIVE:
		f->nactive += (uint32_t)d;
		ST_ADD(f, active_sockets, (uint32_t)d);
		break;
	case BS_BOUND:
	case BS_LISTENING:
		f->npassive += (uint32_t)d;
		ST_ADD(f, passive_sockets, (uint32_t)d);
		if (d > 0) {
			s->pprev = NULL;
			s->pnext = f->b->passive;
			if (s->pnext)
				s->pnext->pprev = s;
			f->b->passive = s;
		} else {
			if (s->pprev)
				s->pprev->pnext = s->pnext;
			else
				f->b->passive = s->pnext;
			if (s->pnext)
				s->pnext->pprev = s->pprev;
			s->pnext = s->pprev = NULL;
		}
		break;
	case BS_ACCEPTING:
		f->naccepting += (uint32_t)d;
		break;
	default:
		break;
	}
}

void pvc_back_sock_set_state(struct back_socket *s, enum back_sock_state st)
{
	account(s, -1);
	s->state = st;
	account(s, 1);
}

/* @a as the host's binding table sees it: an IPv4-mapped AF_INET6
 * address is the IPv4 one. */
static void bound_view(const union pvc_sockaddr *a, union pvc_sockaddr *v)
{
	*v = *a;
	if (a->sa.sa_family == AF_INET6 && pvc_sockaddr_unmap(&a->in6, &v->in))
		memset((char *)v + sizeof(v->in), 0, sizeof(*v) - sizeof(v->in));
}

/* Whether bound addresses @a and @b (same port) share an address. */
static bool overlap(const union pvc_sockaddr *a, bool a6only, const union pvc_sockaddr *b,
		    bool b6only)
{
	union pvc_sockaddr x, y;

	bound_view(a, &x);
	bound_view(b, &y);
	if (x.sa.sa_family == y.sa.sa_family) {
		if (x.sa.sa_family == AF_INET)
			return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr ||
			       pvc_sockaddr_is_any(&x) || pvc_sockaddr_is_any(&y);
		return !memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, sizeof(x.in6.sin6_addr)) ||
		       pvc_sockaddr_is_any(&x) || pvc_sockaddr_is_any(&y);
	}
	/* One IPv4, one IPv6: only a dual-stack IPv6 wildcard reaches IPv4. */
	if (x.sa.sa_family == AF_INET6)
		return pvc_sockaddr_is_any(&x) && !a6only;
	return pvc_sockaddr_is_any(&y) && !b6only;
}

bool pvc_back_addr_taken(pvcalls_back *b, const union pvc_sockaddr *a, bool v6only)
{
	for (struct back_socket *p = b->passive; p; p = p->pnext) {
		if (pvc_sockaddr_port(&p->baddr) != pvc_sockaddr_port(a))
			continue;
		if (overlap(&p->baddr, p->v6only, a, v6only))
			return true;
	}
	return false;
}

void pvc_back_accept_unlink(struct back_socket *s)
{
	struct back_socket *l = s->listener, **pp;

	if (!l)
		return;
	for (pp = &l->acc_head; *pp; pp = &(*pp)->acc_next) {
		if (*pp == s) {
			*pp = s->acc_next;
			break;
		}
	}
	l->acc_tail = NULL;
	for (struct back_socket *a = l->acc_head; a; a = a->acc_next)
		l->acc_tail = a;
	s->listener = NULL;
	s->acc_next = NULL;
}

/* Frees every host and shared resource of @s; the memory goes at round end. */
void pvc_back_sock_destroy(struct back_socket *s)
{
	struct back_frontend *f = s->f;
	pvcalls_back *b = f->b;

	pvc_back_accept_unlink(s);
	pvc_back_set_starved(s, false);
	pvc_back_sock_set_state(s, BS_NEW);
	pvc_back_sock_close_fd(s);
	pvc_back_ring_unmap(f, s);
	pvc_back_hot_del(b, s);
	pvc_back_dgram_free(s);
	while (s->poll_head) {
		struct back_poll *p = s->poll_head;

		s->poll_head = p->next;
		free(p);
	}
	for (struct back_socket *a = s->acc_head; a; a = a->acc_next)
		a->listener = NULL;
	s->acc_head = s->acc_tail = NULL;
	pvc_idmap_remove(&f->ids, &s->idn);
	PVC_LIST_UNLINK(f->socks, s, next, prev);
	f->nsocks--;
	s->dead = true;
	s->free_next = b->socks_to_free;
	b->socks_to_free = s;
}

/*
 * A socket just became ACTIVE (connect done or accepted): start relaying.
 * The host socket gets TCP_NODELAY unless the frontend chose (SETSOCKOPT,
 * on it or its listener): the frontend's ring already gathers the
 * application's small writes, and each relay pass sends what it holds, so
 * Nagle on top only holds a request's second piece back for the peer's
 * delayed ACK (40 ms on Linux; pvcalls-bench's LT case, docs/PERFORMANCE.md,
 * "Tail latency"). Fails harmlessly on a socket that is not TCP.
 */
void pvc_back_sock_activate(struct back_socket *s, bool readable)
{
	int one = 1;

	if (!s->nodelay_set)
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pvc_back_sock_set_state(s, BS_ACTIVE);
	s->implicit = false;
	s->r.from_park = false; /* answered 0: parked again only by RELEASE */
	pvc_back_relay_start(s, readable);
}

/* ---------------------------------------------------------------------- */
/* The data ring's mapping                                                */

/* A transport's map error as the frontend sees it (pvc_back_ring_map). */
static int map_err(int rc)
{
	return rc == -ENOBUFS || rc == -ENOMEM ? rc : -EFAULT;
}

/*
 * Maps the indexes page @ref, the 2^ring_order data pages it lists, and
 * binds the frontend's port @evtchn. ring_order and the refs are read out
 * of the shared page exactly once, into locals, before they are used.
 * Returns 0, -ENOBUFS (our page limit, or the transport's mapping budget
 * for this frontend, e.g. shm's max_maps_per_guest), -ENOMEM (the host's
 * shortage), -EINVAL (ring_order above our max-page-order) or -EFAULT (a
 * ref or port the transport refused, as Linux answers). A shortage is not
 * the guest's bad ref: the same request may succeed later.
 */

int pvc_back_ring_map(struct back_frontend *f, struct back_socket *s, uint32_t ref, uint32_t evtchn)
{
	pvcalls_back *b = f->b;
	struct back_ring *r = &s->r;
	void *intf, *data;
	uint32_t order, npages, port;
	int rc;

	if (f->npages + 1 > f->lim.max_mapped_pages)
		return -ENOBUFS;
	rc = pvcalls_transport_map(b->t, f->feid, 1, &ref, true, &intf);
	if (rc < 0) {
		pvc_debug("back.map", "frontend %u: indexes page ref %u: %s", f->feid, ref,
			  pvcalls_strerror(rc));
		return map_err(rc);
	}
	order = pvc_read_once(&((struct pvcalls_wire_data_intf *)intf)->ring_order);
	if (pvcalls_proto_check_ring_order(order, f->lim.max_ring_order) < 0) {
		pvc_debug("back.map", "frontend %u: ring_order %u above %u", f->feid, order,
			  f->lim.max_ring_order);
		rc = -EINVAL;
		goto unmap_intf;
	}
	npages = 1u << order;
	if (f->npages + 1 + npages > f->lim.max_mapped_pages) {
		rc = -ENOBUFS;
		goto unmap_intf;
	}
	/* One read per ref; 2^9 refs always fit the page (wire.h). */
	for (uint32_t i = 0; i < npages; i++)
		b->refbuf[i] = pvc_read_once(&((struct pvcalls_wire_data_intf *)intf)->ref[i]);
	rc = pvcalls_transport_map(b->t, f->feid, npages, b->refbuf, true, &data);
	if (rc < 0) {
		pvc_debug("back.map", "frontend %u: %u data pages: %s", f->feid, npages,
			  pvcalls_strerror(rc));
		rc = map_err(rc);
		goto unmap_intf;
	}
	rc = pvcalls_transport_evtchn_bind(b->t, f->feid, evtchn, &port);
	if (rc < 0) {
		pvc_debug("back.map", "frontend %u: port %u: %s", f->feid, evtchn,
			  pvcalls_strerror(rc));
		rc = rc == -ENOMEM ? rc : -EFAULT;
		goto unmap_data;
	}
	r->intf = intf;
	r->data = data;
	r->order = order;
	r->npages = npages;
	r->port = port;
	r->mapped = true;
	r->ref = ref;
	r->evtchn = evtchn;
	r->from_park = false;
	pvcalls_data_ring_attach(&r->ring, intf, data, order, PVCALLS_DATA_BACKEND);
	pvc_back_port_add(b, &s->pe, PORT_SOCK, port);
	f->npages += 1 + npages;
	/* Not polled yet: the frontend must notify us (H1 in wait_hint.h). */
	if (f->hint)
		pvc_hint_sleep(r->intf, true);
	return 0;

unmap_data:
	pvcalls_transport_unmap(b->t, data, npages);
unmap_intf:
	pvcalls_transport_unmap(b->t, intf, 1);
	return rc;
}

static void ring_unmap(struct back_frontend *f, struct back_ring *r)
{
	pvcalls_back *b = f->b;

	pvcalls_transport_unmap(b->t, r->data, r->npages);
	pvcalls_transport_unmap(b->t, r->intf, 1);
	f->npages -= 1 + r->npages;
	memset(r, 0, sizeof(*r));
}

void pvc_back_ring_unmap(struct back_frontend *f, struct back_socket *s)
{
	pvcalls_back *b = f->b;
	struct back_ring *r = &s->r;

	if (!r->mapped)
		return;
	/* docs/extensions.md, "Ring reuse": a CONNECT or ACCEPT that took a
	 * parked ring and fails (whatever the reason, a RELEASE that cancels
	 * it included) leaves the ring parked, as the frontend expects. */
	if (r->from_park && f->connected && pvc_back_ring_park(s))
		return;
	pvc_back_hot_del(b, s);
	pvc_back_port_del(b, &s->pe);
	ring_unmap(f, r);
}

/* ---------------------------------------------------------------------- */
/* Ring reuse (docs/extensions.md, "Ring reuse")                          */

/*
 * Parked rings are few (BACK_MAX_PARKED per frontend) and keyed by the
 * frontend's indexes-page ref, so lists searched linearly do. A parked
 * ring's port leaves b->ports but stays bound: the loop finds no owner for
 * its notifications and drops them, and we never touch its pages. It still
 * counts in f->npages, so it weighs against max_mapped_pages as a mapped
 * ring does.
 */
static struct back_parked *parked_find(struct back_frontend *f, uint32_t ref)
{
	for (struct back_parked *p = f->parked; p; p = p->next)
		if (p->r.ref == ref)
			return p;
	return NULL;
}

bool pvc_back_ring_park(struct back_socket *s)
{
	struct back_frontend *f = s->f;
	pvcalls_back *b = f->b;
	struct back_parked *p;

	if (!(f->ext & PVCALLS_FEATURE_RING_REUSE) || !s->r.mapped)
		return false;
	/* A parked ring is one more only when it did not come from parking. */
	if ((!s->r.from_park && f->nparked >= BACK_MAX_PARKED) ||
	    f->npages > f->lim.max_mapped_pages)
		return false;
	p = calloc(1, sizeof(*p));
	if (!p)
		return false;
	pvc_back_hot_del(b, s);
	/* Out of b->ports and off the deferred-unmask list (s is freed at
	 * the end of the round), still bound (closed in parked_end()). */
	pvc_back_port_forget(b, &s->pe);
	p->r = s->r;
	p->r.from_park = false;
	memset(&s->r, 0, sizeof(s->r));
	PVC_LIST_PUSH(f->parked, p, next, prev);
	f->nparked++;
	return true;
}

static void parked_end(struct back_frontend *f, struct back_parked *p)
{
	PVC_LIST_UNLINK(f->parked, p, next, prev);
	f->nparked--;
	pvcalls_transport_evtchn_close(f->b->t, p->r.port);
	ring_unmap(f, &p->r);
	free(p);
}

int pvc_back_ring_take(struct back_frontend *f, struct back_socket *s, uint32_t ref,
		       uint32_t evtchn)
{
	struct back_parked *p;
	struct back_ring *r = &s->r;

	if (!(f->ext & PVCALLS_FEATURE_RING_REUSE))
		return pvc_back_ring_map(f, s, ref, evtchn);
	p = parked_find(f, ref);
	if (!p) {
		int rc;

		/* One mapping per ref: a ring in use is never mapped twice,
		 * so a ref names at most one ring of this frontend. */
		for (struct back_socket *o = f->socks; o; o = o->next)
			if (o->r.mapped && o->r.ref == ref)
				return -EINVAL;
		/* Parked rings yield to a ring in use ("Limits"): when our page
		 * limit or the transport's mapping budget refuses the new one,
		 * the oldest parked ring is ended and the mapping tried again.
		 * The frontend learns it from RING_FREE's -ENOENT, or its reuse
		 * maps anew: both are what the spec lets a parked ring become. */
		while ((rc = pvc_back_ring_map(f, s, ref, evtchn)) == -ENOBUFS && f->parked) {
			struct back_parked *old = f->parked;

			while (old->next)
				old = old->next;
			parked_end(f, old);
		}
		return rc;
	}
	if (p->r.evtchn != evtchn)
		return -EINVAL; /* the ring keeps its state */
	/* As it is mapped: ring_order and the data refs are those copied at
	 * the first mapping; nothing is read from the indexes page but the
	 * indexes, which the data ring checks as for any ring. */
	*r = p->r;
	r->from_park = true;
	ST_ADD(f, rings_reused, 1);
	PVC_LIST_UNLINK(f->parked, p, next, prev);
	f->nparked--;
	free(p);
	/* Our private indexes start again from the shared ones (which the
	 * frontend zeroed before sending the request). */
	pvcalls_data_ring_attach(&r->ring, r->intf, r->data, r->order, PVCALLS_DATA_BACKEND);
	pvc_back_port_add(f->b, &s->pe, PORT_SOCK, r->port);
	/* As after a fresh mapping: the frontend must notify us (H1 in
	 * wait_hint.h); it zeroed the hint words too. */
	if (f->hint)
		pvc_hint_sleep(r->intf, true);
	return 0;
}

int pvc_back_ring_free(struct back_frontend *f, uint32_t ref, uint32_t evtchn)
{
	struct back_parked *p = parked_find(f, ref);

	if (!p || p->r.evtchn != evtchn)
		return -ENOENT;
	parked_end(f, p);
	return 0;
}

void pvc_back_parked_free_all(struct back_frontend *f)
{
	while (f->parked)
		parked_end(f, f->parked);
}

/* ---------------------------------------------------------------------- */
/* Host socket plumbing                                                   */

int pvc_back_sock_epoll(struct back_socket *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &s->tag };

	s->tag.kind = EPK_SOCK;
	if (epoll_ctl(s->f->b->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	s->in_epoll = true;
	return 0;
}

/* Stops the socket's events (the fd stays open, e.g. shut down). */
void pvc_back_sock_epoll_del(struct back_socket *s)
{
	if (!s->in_epoll)
		return;
	epoll_ctl(s->f->b->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->in_epoll = false;
}

void pvc_back_sock_close_fd(struct back_socket *s)
{
	if (s->fd < 0)
		return;
	pvc_back_sock_epoll_del(s);
	close(s->fd);
	s->fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Lingering close                                                        */

static void linger_free(pvcalls_back *b, struct back_linger *l)
{
	PVC_LIST_UNLINK(b->lingers, l, next, prev);
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	b->linger_bytes -= l->len;
	b->nlingers--;
	if (l->f)
		l->f->nlinger--;
	free(l->buf);
	free(l);
}

/* Sends what is left; returns true when done or hopeless. */
static bool linger_send(struct back_linger *l)
{
	while (l->off < l->len) {
		ssize_t w =
			send(l->fd, l->buf + l->off, l->len - l->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			l->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		break; /* the peer is gone: nothing more to do */
	}
	return true;
}

/* EPOLLOUT on a lingering socket (its only event in a round: freeing it
 * here cannot leave a stale pointer in the round's event list). */
void pvc_back_linger_event(pvcalls_back *b, struct back_linger *l)
{
	if (linger_send(l))
		linger_free(b, l);
}

void pvc_back_linger_orphan(struct back_frontend *f)
{
	for (struct back_linger *l = f->b->lingers; l && f->nlinger; l = l->next) {
		if (l->f == f) {
			l->f = NULL;
			f->nlinger--;
		}
	}
}

bool pvc_back_sock_budget(const struct back_frontend *f)
{
	return (uint64_t)f->nsocks + f->nlinger < f->lim.max_sockets;
}

/* Frees lingers past their deadline, or (@all) every one. */
void pvc_back_linger_sweep(pvcalls_back *b, bool all)
{
	int64_t now = pvc_now_us();
	struct back_linger *l, *next;

	for (l = b->lingers; l; l = next) {
		next = l->next;
		if (all)
			linger_send(l); /* a last try, without waiting */
		else if (now < l->deadline_us)
			continue;
		if (l->off < l->len)
			pvc_debug("back.linger", "dropping %zu unsent bytes after release",
				  l->len - l->off);
		if (l->off < l->len && l->reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(l->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		linger_free(b, l);
	}
}

/*
 * The last act of an active socket on RELEASE or frontend disconnect:
 * flush the out ring into the socket, keep the rest lingering, close.
 * The caller unmaps the rings afterwards.
 */
void pvc_back_sock_finish(struct back_socket *s)
{
	pvcalls_back *b = s->f->b;
	struct iovec iov[2];
	struct back_linger *l;
	int n;

	if (s->state != BS_ACTIVE || s->fd < 0 || !s->r.mapped)
		return;
	if (s->linger_on && s->linger_s == 0) {
		/* SO_LINGER {1, 0} (docs/extensions.md): abortive close, the out
		 * ring is discarded; a zero linger time never blocks close. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		return;
	}
	if (s->wr_stop || s->shut_wr_done)
		return;
	n = pvc_back_relay_flush(s, iov);
	if (n <= 0)
		return; /* all sent (or the ring is garbage): a plain close */
	if (b->linger_bytes + (size_t)n > BACK_LINGER_MAX_BYTES ||
	    b->nlingers >= BACK_LINGER_MAX_SOCKS) {
		pvc_warn("back.linger",
			 "frontend %u socket %llu: %d unsent bytes dropped at "
			 "release (linger budget exhausted)",
			 s->f->feid, (unsigned long long)s->id, n);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (l)
		l->buf = malloc((size_t)n);
	if (!l || !l->buf) {
		free(l);
		return;
	}
	memcpy(l->buf, iov[0].iov_base, iov[0].iov_len);
	if (iov[1].iov_len)
		memcpy(l->buf + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
	l->len = (size_t)n;
	l->tag.kind = EPK_LINGER;
	l->fd = s->fd;
	l->deadline_us = pvc_now_us() + BACK_LINGER_US;
	if (s->linger_on) {
		/* SO_LINGER {1, N}: bounded by N s, then the connection is reset. */
		if ((int64_t)s->linger_s * 1000000 < BACK_LINGER_US)
			l->deadline_us = pvc_now_us() + (int64_t)s->linger_s * 1000000;
		l->reset = true;
	}
	{
		struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.ptr = &l->tag };

		if (epoll_ctl(b->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev) <
		    0) {
			free(l->buf);
			free(l);
			return;
		}
	}
	/* The fd is the linger's now. */
	s->fd = -1;
	s->in_epoll = false;
	PVC_LIST_PUSH(b->lingers, l, next, prev);
	b->linger_bytes += l->len;
	b->nlingers++;
	l->f = s->f;
	s->f->nlinger++;
}
