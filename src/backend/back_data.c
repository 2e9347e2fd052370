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
 * Release: pvc_back_relay_flush() pushes what the out ring holds into the
 * socket one last time; back_sock.c keeps what does not fit lingering.
 *
 * The relay touches a socket's ring and fd; the socket's state, table,
 * mapping and epoll registration belong to back_sock.c.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "backend/back_priv.h"
#include "common/log.h"
#include "ring/wait_hint.h"

/* ---------------------------------------------------------------------- */
/* Relay                                                                  */

/*
 * Failed notifications (docs/threat-model.md, "What pvcallsd and the backend enforce"): a
 * frontend that sleeps on an index we moved wakes only for our
 * notification, so one the transport failed to send is owed: the socket
 * (or the command port) is marked and the frontend retried from the
 * timer, BACK_NOTIFY_RETRY_US later at first.
 */
static void notify_failed(struct back_frontend *f)
{
	if (f->notify_owed)
		return; /* its retry is already due at some time */
	f->notify_owed = true;
	f->notify_retry_us = pvc_now_us() + BACK_NOTIFY_RETRY_US;
	pvc_back_notify_due(f->b, f->notify_retry_us);
}

void pvc_back_notify_front(struct back_socket *s)
{
	struct back_frontend *f = s->f;

	s->notify = false;
	/* H2: we moved an index; tell the frontend only if it sleeps. */
	if (f->hint && !pvc_hint_peer_waiting(s->r.intf, true)) {
		s->notify_owed = false; /* awake: it looks at the indexes itself */
		ST_ADD(f, notifies_suppressed, 1);
		return;
	}
	ST_ADD(f, notifies_sent, 1);
	s->notify_owed = pvcalls_transport_evtchn_notify(f->b->t, s->r.port) < 0;
	if (s->notify_owed)
		notify_failed(f);
}

void pvc_back_notify_cmd(struct back_frontend *f)
{
	ST_ADD(f, notifies_sent, 1);
	f->cmd_notify_owed = pvcalls_transport_evtchn_notify(f->b->t, (uint32_t)f->pe.n.key) < 0;
	if (f->cmd_notify_owed)
		notify_failed(f);
}

/* One frontend's owed notifications, again. True if all went. */
static bool notify_again(struct back_frontend *f)
{
	bool ok = true;

	if (f->cmd_notify_owed) {
		pvc_back_notify_cmd(f);
		ok = !f->cmd_notify_owed;
	}
	for (struct back_socket *s = f->socks; s; s = s->next) {
		if (!s->notify_owed)
			continue;
		if (s->dead || !s->r.mapped) {
			s->notify_owed = false; /* nobody left to wake on that ring */
			continue;
		}
		pvc_back_notify_front(s);
		ok &= !s->notify_owed;
	}
	return ok;
}

void pvc_back_notify_retry(pvcalls_back *b)
{
	int64_t now = pvc_now_us(), next = 0;
	struct back_frontend *f, *fn;

	b->owed_us = 0;
	for (f = b->fronts; f; f = fn) {
		struct pvc_log_gate *g;

		fn = f->next;
		if (!f->notify_owed)
			continue;
		if (f->dead || !f->connected) {
			f->notify_owed = f->cmd_notify_owed = false;
			f->notify_fails = 0;
			continue;
		}
		if (now >= f->notify_retry_us) {
			g = pvc_back_gate(f);
			/* notify_again() may fail anew: the frontend stays owed,
			 * with the time set here. */
			if (notify_again(f)) {
				f->notify_owed = false;
				f->notify_fails = 0;
			} else if (++f->notify_fails >= BACK_NOTIFY_TRIES) {
				pvc_warn("back.notify",
					 "frontend %u/%u: notifications keep failing; "
					 "disconnecting it",
					 f->feid, f->devid);
				f->notify_owed = f->cmd_notify_owed = false;
				f->notify_fails = 0;
				pvc_back_front_unreachable(f);
			} else {
				f->notify_retry_us =
					now + ((int64_t)BACK_NOTIFY_RETRY_US << f->notify_fails);
			}
			pvc_back_ungate(f, g);
		}
		if (f->notify_owed && (!next || f->notify_retry_us < next))
			next = f->notify_retry_us;
	}
	if (next)
		pvc_back_notify_due(b, next);
}

static void ring_violation(struct back_socket *s, const char *dir)
{
	struct back_frontend *f = s->f;

	pvc_warn("back.data-proto",
		 "frontend %u socket %llu: impossible %s ring indexes; "
		 "socket stopped",
		 f->feid, (unsigned long long)s->id, dir);
	if (!s->rd_stop)
		pvcalls_data_set_in_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	if (!s->wr_stop)
		pvcalls_data_set_out_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	s->rd_stop = s->wr_stop = true;
	s->can_read = s->can_write = false;
	s->notify = true;
	/* The remote end learns at once; the id lives on until RELEASE. */
	shutdown(s->fd, SHUT_RDWR);
	pvc_back_sock_epoll_del(s);
}

/* Out ring -> socket. Returns true if anything moved. */
static bool do_write(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;
	bool moved = false;

	if (s->shut_wr_done)
		return false; /* SHUTDOWN: pvc_back_ext_relay() drops late bytes */
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
		pvcalls_data_set_in_error(ring, r == 0 ? -PVCALLS_WIRE_ENOTCONN
						       : pvcalls_errno_to_wire(-errno));
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
bool pvc_back_relay_service(struct back_socket *s)
{
	bool moved;

	if (s->state == BS_DGRAM) /* datagram records: back_dgram.c */
		return pvc_back_dgram_service(s);
	if (s->dead || s->state != BS_ACTIVE || !s->r.mapped)
		return false;
	/* The frontend may stop our reads by writing in_error (Linux: -EBADF). */
	if (!s->rd_stop && pvcalls_data_tx_error(&s->r.ring) != 0) {
		s->rd_stop = true;
		s->in_full = false;
	}
	moved = do_write(s);
	moved |= do_read(s);
	if (s->shut_wr || s->shut_rd)
		pvc_back_ext_relay(s);
	if (s->notify)
		pvc_back_notify_front(s);
	if (moved) {
		s->last_us = pvc_now_us();
		pvc_back_hot_add(s->f->b, s);
	}
	return moved;
}

/* Would pvc_back_relay_service() find something to do? (Reads each index once.) */
bool pvc_back_relay_has_work(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;

	if (s->state == BS_DGRAM)
		return pvc_back_dgram_has_work(s);
	if (s->dead || s->state != BS_ACTIVE || !s->r.mapped)
		return false;
	if (!s->wr_stop && s->can_write && pvcalls_data_rx_queued(ring) != 0)
		return true;
	if (!s->rd_stop && s->can_read && pvcalls_data_tx_free(ring) != 0)
		return true;
	return false;
}


/*
 * A socket just became ACTIVE: both directions may move. Reading waits
 * for its EPOLLIN edge unless @readable: a socket whose epoll entry was
 * added before the connection could carry data (CONNECT registers before
 * connect(); ADD after accept4() reports data already queued) gets that
 * edge from the next epoll_wait(), so a read now would only find EAGAIN
 * (one readv() per connection saved). When the edge that completed a
 * deferred connect was consumed (pvc_back_connect_done), it may have
 * said EPOLLIN too: read at once.
 */
void pvc_back_relay_start(struct back_socket *s, bool readable)
{
	s->can_read = readable;
	s->can_write = true;
	pvc_back_relay_service(s);
}

/* An epoll event on an ACTIVE socket. */
void pvc_back_relay_event(struct back_socket *s, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->can_write = true;
	pvc_back_relay_service(s);
}

/*
 * On release: sends what the out ring holds, as far as the socket takes
 * it now. Returns the bytes left (their spans in @iov), or 0 when all went
 * or the ring is garbage.
 */
int pvc_back_relay_flush(struct back_socket *s, struct iovec iov[2])
{
	s->can_write = true; /* whatever the last edge said: try once more */
	do_write(s);
	return s->wr_stop ? 0 : pvcalls_data_rx_spans(&s->r.ring, iov);
}
