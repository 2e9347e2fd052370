/* SPDX-License-Identifier: MIT */
/*
 * The data relay of active sockets, with no copy beyond the kernel's:
 * out ring -> socket with sendmsg() over the ring's (up to two) queued
 * spans, socket -> in ring with readv() into its free spans.
 *
 * Flow control. A full in ring stops reading the socket; the frontend's
 * notification after it consumed (or our polling, while hot) resumes it.
 * A socket that takes no more data (EAGAIN or a short write) is written
 * again on EPOLLOUT. Sockets are edge-triggered: can_read/can_write say
 * whether an edge was seen since the last EAGAIN. A short read also
 * clears can_read (the queue was drained; the next arrival is a new edge),
 * unless the peer already hung up (rdhup): then we read until 0 so the
 * end of stream is never missed.
 *
 * Errors. End of stream sets in_error = -ENOTCONN after the last byte
 * (release order, D5 in data_ring.c); a read error sets in_error to its
 * wire errno; a write error sets out_error and leaves out_cons alone. A
 * frontend that writes in_error itself (Linux does on release) stops our
 * reads. Impossible ring indexes stop the socket: both errors become
 * -EPROTO, the host connection is shut down, and the rest of the frontend
 * carries on.
 *
 * Notifications: one per service pass that moved in_prod, in_error or
 * out_cons; with the wait-hint extension only when the frontend said it
 * is sleeping (H2 in ring/wait_hint.h).
 *
 * Release. A frontend may write its last bytes and send RELEASE at once
 * (send() then close()); Linux's backend flushes the socket's pending
 * write work before it lets go. We push what the out ring holds into the
 * socket, and what does not fit is copied out and sent in the background
 * ("lingering", bounded in time and bytes) so the RELEASE is answered
 * at once and the rings can be unmapped.
 */
#include <errno.h>
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
/* Mapping                                                                */

/*
 * Maps the indexes page @ref, the 2^ring_order data pages it lists, and
 * binds the frontend's port @evtchn. ring_order and the refs are read out
 * of the shared page exactly once, into locals, before they are used.
 * Returns 0, -ENOBUFS (page limit), -EINVAL (ring_order above our
 * max-page-order) or -EFAULT (a ref or port the transport refused, as
 * Linux answers).
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
		return -EFAULT;
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
		rc = -EFAULT;
		goto unmap_intf;
	}
	rc = pvcalls_transport_evtchn_bind(b->t, f->feid, evtchn, &port);
	if (rc < 0) {
		pvc_debug("back.map", "frontend %u: port %u: %s", f->feid, evtchn,
			  pvcalls_strerror(rc));
		rc = -EFAULT;
		goto unmap_data;
	}
	r->intf = intf;
	r->data = data;
	r->order = order;
	r->npages = npages;
	r->port = port;
	r->mapped = true;
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

void pvc_back_ring_unmap(struct back_frontend *f, struct back_socket *s)
{
	pvcalls_back *b = f->b;
	struct back_ring *r = &s->r;

	if (!r->mapped)
		return;
	pvc_back_hot_del(b, s);
	pvc_back_port_del(b, &s->pe);
	pvcalls_transport_unmap(b->t, r->data, r->npages);
	pvcalls_transport_unmap(b->t, r->intf, 1);
	f->npages -= 1 + r->npages;
	memset(r, 0, sizeof(*r));
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

void pvc_back_sock_close_fd(struct back_socket *s)
{
	if (s->fd < 0)
		return;
	if (s->in_epoll)
		epoll_ctl(s->f->b->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->in_epoll = false;
	close(s->fd);
	s->fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Relay                                                                  */

static void notify_front(struct back_socket *s)
{
	struct back_frontend *f = s->f;

	s->notify = false;
	/* H2: we moved an index; tell the frontend only if it sleeps. */
	if (f->hint && !pvc_hint_peer_waiting(s->r.intf, true)) {
		ST_ADD(f, notifies_suppressed, 1);
		return;
	}
	ST_ADD(f, notifies_sent, 1);
	pvcalls_transport_evtchn_notify(f->b->t, s->r.port);
}

static void ring_violation(struct back_socket *s, const char *dir)
{
	struct back_frontend *f = s->f;

	pvc_warn("back.data-proto", "frontend %u socket %llu: impossible %s ring indexes; "
		 "socket stopped", f->feid, (unsigned long long)s->id, dir);
	if (!s->rd_stop)
		pvcalls_data_set_in_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	if (!s->wr_stop)
		pvcalls_data_set_out_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	s->rd_stop = s->wr_stop = true;
	s->can_read = s->can_write = false;
	s->notify = true;
	/* The remote end learns at once; the id lives on until RELEASE. */
	shutdown(s->fd, SHUT_RDWR);
	if (s->in_epoll) {
		epoll_ctl(f->b->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = false;
	}
}

/* Out ring -> socket. Returns true if anything moved. */
static bool do_write(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;
	bool moved = false;

	while (!s->wr_stop && s->can_write) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		int n = pvcalls_data_rx_spans(ring, iov);
		ssize_t w;

		if (n < 0) {
			ring_violation(s, "out");
			return true;
		}
		if (n == 0)
			break;
		mh.msg_iovlen = iov[1].iov_len ? 2 : 1;
		/* MSG_NOSIGNAL: a reset peer is an error for this socket, not a SIGPIPE. */
		w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			pvcalls_data_rx_consume(ring, (uint32_t)w);
			ST_ADD(s->f, bytes_from_guest, (uint64_t)w);
			s->notify = true;
			moved = true;
			if (w < n) {
				s->can_write = false; /* the socket buffer is full */
				break;
			}
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->can_write = false;
			break;
		}
		pvcalls_data_set_out_error(ring, pvcalls_errno_to_wire(w < 0 ? -errno : -EIO));
		s->wr_stop = true;
		s->notify = true;
		moved = true;
	}
	return moved;
}

/* Socket -> in ring. Returns true if anything moved. */
static bool do_read(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;
	bool moved = false;

	while (!s->rd_stop && s->can_read) {
		struct iovec iov[2];
		int n = pvcalls_data_tx_spans(ring, iov);
		ssize_t r;

		if (n < 0) {
			ring_violation(s, "in");
			return true;
		}
		if (n == 0) {
			/* Resumed by the frontend's notification once it consumed. */
			if (!s->in_full) {
				s->in_full = true;
				ST_ADD(s->f, ring_full_stalls, 1);
			}
			break;
		}
		r = readv(s->fd, iov, iov[1].iov_len ? 2 : 1);
		if (r > 0) {
			pvcalls_data_tx_commit(ring, (uint32_t)r);
			ST_ADD(s->f, bytes_to_guest, (uint64_t)r);
			s->in_full = false;
			s->notify = true;
			moved = true;
			if (r < n && !s->rdhup) {
				s->can_read = false; /* drained; see the top comment */
				break;
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->can_read = false;
			break;
		}
		/* End of stream or error, after every byte before it (D5). */
		pvcalls_data_set_in_error(ring, r == 0 ? -PVCALLS_WIRE_ENOTCONN : pvcalls_errno_to_wire(-errno));
		s->rd_stop = true;
		s->in_full = false;
		s->notify = true;
		moved = true;
	}
	return moved;
}

/*
 * Moves whatever can move on an active socket, then notifies the frontend
 * once if an index moved. Returns true if anything moved.
 */
bool pvc_back_sock_service(struct back_socket *s)
{
	bool moved;

	if (s->dead || s->state != BS_ACTIVE || !s->r.mapped)
		return false;
	/* The frontend may stop our reads by writing in_error (Linux: -EBADF). */
	if (!s->rd_stop && pvcalls_data_tx_error(&s->r.ring) != 0) {
		s->rd_stop = true;
		s->in_full = false;
	}
	moved = do_write(s);
	moved |= do_read(s);
	if (s->notify)
		notify_front(s);
	if (moved) {
		s->last_us = pvc_now_us();
		pvc_back_hot_add(s->f->b, s);
	}
	return moved;
}

/* Would pvc_back_sock_service() find something to do? (Reads each index once.) */
bool pvc_back_sock_has_work(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;

	if (s->dead || s->state != BS_ACTIVE || !s->r.mapped)
		return false;
	if (!s->wr_stop && s->can_write && pvcalls_data_rx_queued(ring) != 0)
		return true;
	if (!s->rd_stop && s->can_read && pvcalls_data_tx_free(ring) != 0)
		return true;
	return false;
}

/* A socket just became ACTIVE (connect done or accepted): start relaying. */
void pvc_back_sock_activate(struct back_socket *s)
{
	pvc_back_sock_set_state(s, BS_ACTIVE);
	s->implicit = false;
	s->can_read = s->can_write = true;
	pvc_back_sock_service(s);
}

/* ---------------------------------------------------------------------- */
/* Release and linger                                                     */

static void linger_free(pvcalls_back *b, struct back_linger *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		b->lingers = l->next;
	if (l->next)
		l->next->prev = l->prev;
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	b->linger_bytes -= l->len;
	free(l->buf);
	free(l);
}

/* Sends what is left; returns true when done or hopeless. */
static bool linger_send(struct back_linger *l)
{
	while (l->off < l->len) {
		ssize_t w = send(l->fd, l->buf + l->off, l->len - l->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

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

	if (s->state != BS_ACTIVE || s->fd < 0 || !s->r.mapped || s->wr_stop)
		return;
	s->can_write = true; /* whatever the last edge said: try once more */
	do_write(s);
	n = s->wr_stop ? 0 : pvcalls_data_rx_spans(&s->r.ring, iov);
	if (n <= 0)
		return; /* all sent (or the ring is garbage): a plain close */
	if (b->linger_bytes + (size_t)n > BACK_LINGER_MAX_BYTES) {
		pvc_warn("back.linger", "frontend %u socket %llu: %d unsent bytes dropped at "
			 "release (linger budget exhausted)", s->f->feid,
			 (unsigned long long)s->id, n);
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
	{
		struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.ptr = &l->tag };

		if (epoll_ctl(b->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev) < 0) {
			free(l->buf);
			free(l);
			return;
		}
	}
	/* The fd is the linger's now. */
	s->fd = -1;
	s->in_epoll = false;
	l->next = b->lingers;
	if (b->lingers)
		b->lingers->prev = l;
	b->lingers = l;
	b->linger_bytes += l->len;
}

/* An epoll event on a host socket. */
void pvc_back_sock_event(struct back_socket *s, uint32_t ev)
{
	if (s->dead)
		return;
	switch (s->state) {
	case BS_CONNECTING:
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			pvc_back_connect_done(s);
		break;
	case BS_LISTENING:
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			pvc_back_listener_service(s);
		break;
	case BS_ACTIVE:
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			s->can_read = true;
		if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			s->rdhup = true;
		if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			s->can_write = true;
		pvc_back_sock_service(s);
		break;
	default:
		break;
	}
}
