/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets on the frontend (docs/extensions.md, "Datagram
 * sockets"), and pvcalls_front_sendmsg()/pvcalls_front_recvmsg() for both
 * kinds of socket.
 *
 * A datagram socket attaches its rings (DGRAM_RINGS) when it is created,
 * with ring order 6 (capped at the backend's max-page-order) so that any
 * UDP datagram fits the out ring as one record. Records are written whole
 * and published with one producer move (tx_commit); the in ring is read
 * one record at a time, its header copied out once and checked as the
 * backend checks ours ("Receiving (in ring)", frontend step 1). A
 * violation marks the socket broken: every later call returns -EPROTO.
 *
 * out_error is advice: a send reports it once when it becomes non-zero or
 * changes (the datagram of that send is not queued, as Linux reports a
 * pending ICMP error), and forgets it once the backend cleared it.
 *
 * Locking as front_data.c: one sender (tx_lock) and one receiver
 * (rx_lock) per socket; fe->lock only to look the socket up and to sleep.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <pvcalls/wire_ext.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sockaddr.h"
#include "frontend/front_priv.h"
#include "ring/barrier.h"
#include "ring/wait_hint.h"

#define HDR PVCALLS_EXT_DGRAM_HDR_LEN
/* Ring order of a datagram socket: a 65,507-byte datagram needs 6. */
#define DG_ORDER 6u
/* "Writable" (docs/extensions.md leaves the threshold to the frontend):
 * room for a record of a maximum-size datagram, or at least 2 KiB. */
#define DG_WRITABLE 2048u

/* ---------------------------------------------------------------------- */
/* Ring spans                                                             */

/* Copies @len bytes between the ring spans @iov at offset @off and @buf. */
static void span_copy(const struct iovec iov[2], size_t off, void *buf, size_t len, bool to_ring)
{
	uint8_t *b = buf;

	for (int i = 0; i < 2 && len; i++) {
		size_t l = iov[i].iov_len, take;

		if (off >= l) {
			off -= l;
			continue;
		}
		take = l - off < len ? l - off : len;
		if (!buf)
			memset((uint8_t *)iov[i].iov_base + off, 0, take);
		else if (to_ring)
			memcpy((uint8_t *)iov[i].iov_base + off, b, take);
		else
			memcpy(b, (uint8_t *)iov[i].iov_base + off, take);
		if (b)
			b += take;
		len -= take;
		off = 0;
	}
}

static size_t iov_total(const struct msghdr *msg)
{
	size_t t = 0;

	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
		t += msg->msg_iov[i].iov_len;
	return t;
}

/* ---------------------------------------------------------------------- */
/* Creation and connect                                                   */

int pvc_fe_dgram_socket(pvcalls_front *fe, int domain, int protocol, bool nonblock)
{
	struct pvcalls_ext_request x;
	struct pvcalls_wire_request sreq;
	struct req_waiter w = { 0 };
	struct fsock *s;
	int rc;

	/* AF_INET6 datagrams need both extensions (docs/extensions.md, "Rules"). */
	if (!(fe->ext & PVCALLS_FEATURE_DGRAM) ||
	    (domain != AF_INET && (domain != AF_INET6 || !(fe->ext & PVCALLS_FEATURE_INET6))))
		return -EAFNOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	pthread_mutex_lock(&fe->lock);
	if (fe->dead) {
		rc = -ENOTCONN;
		goto out;
	}
	s = pvc_fe_sock_alloc(fe);
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	s->dgram = true;
	s->family = domain;
	s->order = fe->max_order < DG_ORDER ? fe->max_order : DG_ORDER;
	memset(&sreq, 0, sizeof(sreq));
	sreq.cmd = PVCALLS_WIRE_SOCKET;
	sreq.u.socket.id = s->id;
	sreq.u.socket.domain = domain == AF_INET ? PVCALLS_WIRE_AF_INET : PVCALLS_EXT_AF_INET6;
	sreq.u.socket.type = PVCALLS_EXT_SOCK_DGRAM;
	sreq.u.socket.protocol = (uint32_t)protocol;
	rc = pvc_fe_call(fe, &sreq, NULL, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
	if (rc < 0) {
		pvc_fe_sock_destroy(fe, s);
		goto out;
	}
	pthread_mutex_unlock(&fe->lock);
	rc = pvc_fe_ring_alloc(fe, s);
	pthread_mutex_lock(&fe->lock);
	if (rc == 0) {
		memset(&x, 0, sizeof(x));
		x.cmd = PVCALLS_EXT_DGRAM_RINGS;
		x.u.dgram_rings.id = s->id;
		x.u.dgram_rings.ref = s->r.intf_ref;
		x.u.dgram_rings.evtchn = s->r.port;
		rc = pvc_fe_submit(fe, (struct pvcalls_wire_request *)&x, NULL, NULL, &w,
				   pvc_deadline_ms(fe->cmd_timeout_ms));
		if (rc == 0)
			rc = pvc_fe_await(fe, &w, PVCALLS_EXT_DGRAM_RINGS,
					  pvc_deadline_ms(fe->cmd_timeout_ms));
	}
	if (rc == 0)
		rc = pvc_fe_sock_add(fe, s);
	if (rc < 0) {
		struct pvcalls_wire_request rel;

		/* The backend knows the id: release it there too. */
		if (!fe->dead) {
			pvcalls_req_release(&rel, 0, s->id);
			pvc_fe_call(fe, &rel, NULL, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
		}
		pvc_fe_sock_destroy(fe, s);
		goto out;
	}
	s->nonblock = nonblock;
out:
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

/* connect(2) on a datagram socket: sets or (AF_UNSPEC) dissolves the
 * peer, answered at once by the backend. Lock held. */
int pvc_fe_dgram_connect(pvcalls_front *fe, struct fsock *s, const struct sockaddr *addr,
			 socklen_t addrlen)
{
	struct pvcalls_wire_request req;
	sa_family_t fam;
	bool unspec;
	int rc;

	if (fe->dead)
		return -ENOTCONN;
	if (!addr || addrlen < (socklen_t)sizeof(fam))
		return -EINVAL;
	memcpy(&fam, addr, sizeof(fam));
	unspec = fam == AF_UNSPEC;
	if (unspec) {
		memset(&req, 0, sizeof(req));
		req.cmd = PVCALLS_WIRE_CONNECT;
		req.u.connect.id = s->id;
		req.u.connect.len = 2; /* family 0: no address */
	} else {
		memset(&req, 0, sizeof(req));
		req.cmd = PVCALLS_WIRE_CONNECT;
		req.u.connect.id = s->id;
		rc = pvc_sockaddr_to_wire(req.u.connect.addr, &req.u.connect.len, addr, addrlen,
					  s->family);
		if (rc < 0)
			return rc;
	}
	/* @s names the slot's socket: front_cmd.c leaves a datagram socket's
	 * state alone. */
	rc = pvc_fe_call(fe, &req, s, NULL, pvc_deadline_ms(fe->cmd_timeout_ms));
	if (rc == 0)
		s->dg_connected = !unspec;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Data calls                                                             */

static void dg_notify(pvcalls_front *fe, struct fsock *s)
{
	/* H2 (ring/wait_hint.h): after moving an index, only a sleeper. */
	if (fe->hint && !pvc_hint_peer_waiting(s->r.ring.intf, false)) {
		__atomic_fetch_add(&fe->stats.notifies_suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&fe->stats.notifies_sent, 1, __ATOMIC_RELAXED);
	pvcalls_transport_evtchn_notify(fe->t, s->r.port);
}

struct dg_arg {
	struct fsock *s;
	bool tx;
	uint32_t need; /* tx: the record's size */
};

/* Lock held; reads the shared indexes only. */
static bool pred_dg(pvcalls_front *fe, void *arg)
{
	struct dg_arg *a = arg;
	pvcalls_data_ring *r = &a->s->r.ring;

	if (a->s->closing || fe->dead || !a->s->r.valid)
		return true;
	if (a->tx) {
		int f = pvcalls_data_tx_free_shared(r);

		return f < 0 || (uint32_t)f >= a->need || pvcalls_data_tx_error(r) != 0;
	}
	return pvcalls_data_rx_queued_shared(r) != 0 || pvcalls_data_rx_error(r) != 0;
}

/* Sleeps until the ring may go on. Direction lock held, fe->lock not.
 * 0: look again; -EAGAIN at the deadline; -EBADF / -ENOTCONN. */
static int dg_wait(pvcalls_front *fe, struct fsock *s, bool tx, uint32_t need, int64_t deadline)
{
	struct dg_arg a = { .s = s, .tx = tx, .need = need };
	struct fe_waiter w = {
		.pred = pred_dg, .arg = &a, .deadline = deadline, .hints = &s, .nhints = 1
	};
	int rc;

	pthread_mutex_lock(&fe->lock);
	rc = pvc_fe_wait(fe, &w);
	if (rc == 0 && s->closing)
		rc = fe->dead ? -ENOTCONN : -EBADF;
	else if (rc == 0 && fe->dead)
		rc = -ENOTCONN;
	pthread_mutex_unlock(&fe->lock);
	return rc == -ETIMEDOUT ? -EAGAIN : rc;
}

struct dg_snap {
	bool dgram, connected, nonblock;
	int64_t deadline;
};

static struct fsock *dg_enter(pvcalls_front *fe, int h, bool tx, struct dg_snap *d)
{
	struct fsock *s;

	pthread_mutex_lock(&fe->lock);
	s = pvc_fe_sock_get(fe, h);
	if (s) {
		d->dgram = s->dgram && s->r.valid;
		d->connected = s->dg_connected;
		d->nonblock = s->nonblock;
		d->deadline = pvc_deadline_ms(tx ? s->sndtimeo : s->rcvtimeo);
	}
	pthread_mutex_unlock(&fe->lock);
	if (s && d->dgram)
		pthread_mutex_lock(tx ? &s->tx_lock : &s->rx_lock);
	return s;
}

static void dg_leave(pvcalls_front *fe, struct fsock *s, bool tx, bool locked)
{
	if (locked)
		pthread_mutex_unlock(tx ? &s->tx_lock : &s->rx_lock);
	pthread_mutex_lock(&fe->lock);
	pvc_fe_sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
}

/* The wire form of a destination in @msg (or family 0) for a socket of
 * @family, with a native socket's length and family checks; 0 or -errno. */
static int dg_addr(const struct msghdr *msg, bool connected, int family, uint8_t out[28])
{
	uint32_t len;

	memset(out, 0, 28);
	if (!msg->msg_name || msg->msg_namelen == 0)
		return connected ? 0 : -EDESTADDRREQ;
	return pvc_sockaddr_to_wire(out, &len, msg->msg_name, msg->msg_namelen, family);
}

static ssize_t dg_send(pvcalls_front *fe, struct fsock *s, const struct dg_snap *d,
		       const struct msghdr *msg, int flags)
{
	pvcalls_data_ring *r = &s->r.ring;
	struct pvcalls_ext_dgram_hdr h;
	size_t len = iov_total(msg), off;
	uint32_t rec;
	int rc;

	if (__atomic_load_n(&s->dg_broken, __ATOMIC_RELAXED))
		return -EPROTO;
	if (len >
	    (s->family == AF_INET6 ? PVCALLS_EXT_DGRAM_MAX_INET6 : PVCALLS_EXT_DGRAM_MAX_INET))
		return -EMSGSIZE;
	rec = PVCALLS_EXT_DGRAM_RECORD_LEN((uint32_t)len);
	if (rec > pvcalls_data_ring_size(r))
		return -EMSGSIZE;
	memset(&h, 0, sizeof(h));
	rc = dg_addr(msg, d->connected, s->family, h.addr);
	if (rc < 0)
		return rc;
	h.len = h.full_len = (uint32_t)len;
	for (;;) {
		struct iovec iov[2];
		int32_t err = pvcalls_data_tx_error(r);
		int f;

		if (err == -PVCALLS_WIRE_EPROTO)
			return -EPROTO;
		if (err != s->dg_err_seen) {
			/* reported once (docs/extensions.md, "Sending"); poll reads it */
			__atomic_store_n(&s->dg_err_seen, err, __ATOMIC_RELAXED);
			if (err)
				return pvcalls_errno_from_wire(err);
		}
		f = pvcalls_data_tx_spans(r, iov);
		if (f < 0) {
			__atomic_store_n(&s->dg_broken, true, __ATOMIC_RELAXED);
			pvc_warn("front.bad-ring",
				 "datagram socket %d: impossible out-ring indexes", s->handle);
			return -EPROTO;
		}
		if ((uint32_t)f >= rec) {
			span_copy(iov, 0, &h, HDR, true);
			off = HDR;
			for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
				span_copy(iov, off, msg->msg_iov[i].iov_base,
					  msg->msg_iov[i].iov_len, true);
				off += msg->msg_iov[i].iov_len;
			}
			span_copy(iov, off, NULL, rec - off, true); /* padding */
			pvcalls_data_tx_commit(r, rec);
			dg_notify(fe, s);
			return (ssize_t)len;
		}
		if (d->nonblock || (flags & MSG_DONTWAIT))
			return -EAGAIN;
		rc = dg_wait(fe, s, true, rec, d->deadline);
		if (rc < 0)
			return rc;
	}
}

static void dg_fail(struct fsock *s, const char *why)
{
	__atomic_store_n(&s->dg_broken, true, __ATOMIC_RELAXED);
	pvc_warn("front.bad-ring", "datagram socket %d: %s", s->handle, why);
}

static ssize_t dg_recv(pvcalls_front *fe, struct fsock *s, const struct dg_snap *d,
		       struct msghdr *msg, int flags)
{
	pvcalls_data_ring *r = &s->r.ring;
	struct pvcalls_ext_dgram_hdr h;
	struct iovec iov[2];
	size_t want = iov_total(msg), got, off;
	uint32_t rec;
	int rc, q;

	msg->msg_flags = 0;
	msg->msg_controllen = 0;
	for (;;) {
		int32_t err;

		if (__atomic_load_n(&s->dg_broken, __ATOMIC_RELAXED))
			return -EPROTO;
		/* D6: the error first, then the indexes. */
		err = pvcalls_data_rx_error(r);
		q = pvcalls_data_rx_spans(r, iov);
		if (q < 0 || (q % PVCALLS_EXT_DGRAM_ALIGN) != 0 || (q > 0 && (uint32_t)q < HDR)) {
			dg_fail(s, "impossible or misaligned in-ring indexes");
			return -EPROTO;
		}
		if (q > 0)
			break;
		if (err)
			return pvcalls_errno_from_wire(err);
		if (d->nonblock || (flags & MSG_DONTWAIT))
			return -EAGAIN;
		rc = dg_wait(fe, s, false, 0, d->deadline);
		if (rc < 0)
			return rc;
	}
	span_copy(iov, 0, &h, HDR, false); /* the one read of the header */
	rec = PVCALLS_EXT_DGRAM_RECORD_LEN(h.len);
	if (h.len > PVCALLS_EXT_DGRAM_MAX_INET6 || h.full_len < h.len || rec > (uint32_t)q ||
	    (h.err && (h.len || h.err > 0 || h.err < -PVCALLS_WIRE_MAX_ERRNO))) {
		dg_fail(s, "bad in-ring record");
		return -EPROTO;
	}
	if (h.err) {
		pvcalls_data_rx_consume(r, HDR); /* returned once, whatever the flags */
		dg_notify(fe, s);
		return pvcalls_errno_from_wire(h.err);
	}
	got = want < h.len ? want : h.len;
	off = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && off < got; i++) {
		size_t n =
			msg->msg_iov[i].iov_len < got - off ? msg->msg_iov[i].iov_len : got - off;

		span_copy(iov, HDR + off, msg->msg_iov[i].iov_base, n, false);
		off += n;
	}
	if (msg->msg_name) {
		union pvc_sockaddr src;
		uint16_t fam;
		socklen_t sl;

		memcpy(&fam, h.addr, sizeof(fam));
		if (pvc_sockaddr_from_peer(h.addr,
					   fam == PVCALLS_EXT_AF_INET6
						   ? PVCALLS_EXT_SOCKADDR_IN6_LEN
						   : PVCALLS_WIRE_SOCKADDR_IN_LEN,
					   true, &src) < 0) {
			dg_fail(s, "bad source address in an in record");
			return -EPROTO;
		}
		sl = src.sa.sa_family == AF_UNSPEC ? pvc_sockaddr_len(s->family)
						   : pvc_sockaddr_len(src.sa.sa_family);
		if (src.sa.sa_family == AF_UNSPEC)
			src.sa.sa_family = (sa_family_t)s->family;
		memcpy(msg->msg_name, &src, msg->msg_namelen < sl ? msg->msg_namelen : sl);
		msg->msg_namelen = sl;
	}
	if (got < h.full_len)
		msg->msg_flags |= MSG_TRUNC;
	if (!(flags & MSG_PEEK)) {
		pvcalls_data_rx_consume(r, rec);
		dg_notify(fe, s);
	}
	return (flags & MSG_TRUNC) ? (ssize_t)h.full_len : (ssize_t)got;
}

/* ---------------------------------------------------------------------- */
/* sendmsg / recvmsg                                                      */

/* A stream socket: one gather into a bounce buffer unless the message is
 * one piece, then one pvcalls_front_send(). */
static ssize_t stream_sendmsg(pvcalls_front *fe, int h, const struct msghdr *msg, int flags)
{
	size_t len = iov_total(msg), off = 0;
	uint8_t *buf;
	ssize_t rc;

	flags &= MSG_DONTWAIT | MSG_NOSIGNAL;
	if (msg->msg_iovlen == 1)
		return pvcalls_front_send(fe, h, msg->msg_iov[0].iov_base, len, flags);
	if (len == 0)
		return pvcalls_front_send(fe, h, NULL, 0, flags);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
		memcpy(buf + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
		off += msg->msg_iov[i].iov_len;
	}
	rc = pvcalls_front_send(fe, h, buf, len, flags);
	free(buf);
	return rc;
}

static ssize_t stream_recvmsg(pvcalls_front *fe, int h, struct msghdr *msg, int flags)
{
	size_t len = iov_total(msg), got = 0, off = 0;
	bool direct = msg->msg_iovlen == 1 && !(flags & MSG_TRUNC);
	int rflags = flags & (MSG_DONTWAIT | MSG_PEEK);
	uint8_t *buf;
	ssize_t rc = 0;

	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	msg->msg_flags = 0;
	buf = direct ? msg->msg_iov[0].iov_base : malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	/* MSG_WAITALL: until @len bytes, end of stream or an error. */
	do {
		rc = pvcalls_front_recv(fe, h, buf + got, len - got, rflags);
		if (rc > 0)
			got += (size_t)rc;
	} while ((flags & MSG_WAITALL) && !(flags & MSG_PEEK) && rc > 0 && got < len);
	if (!direct) {
		/* MSG_TRUNC on a stream: the bytes are taken and discarded. */
		for (size_t i = 0; i < (size_t)msg->msg_iovlen && off < got && !(flags & MSG_TRUNC);
		     i++) {
			size_t n = msg->msg_iov[i].iov_len < got - off ? msg->msg_iov[i].iov_len
								       : got - off;

			memcpy(msg->msg_iov[i].iov_base, buf + off, n);
			off += n;
		}
		free(buf);
	}
	return got ? (ssize_t)got : rc;
}

static bool msg_ok(const struct msghdr *msg)
{
	if (!msg || (msg->msg_iovlen && !msg->msg_iov))
		return false;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
		if (!msg->msg_iov[i].iov_base && msg->msg_iov[i].iov_len)
			return false;
	return true;
}

ssize_t pvcalls_front_sendmsg(pvcalls_front *fe, int h, const struct msghdr *msg, int flags)
{
	struct dg_snap d = { 0 };
	struct fsock *s;
	ssize_t rc;

	if (!fe || !msg_ok(msg))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
		return -EOPNOTSUPP;
	s = dg_enter(fe, h, true, &d);
	if (!s)
		return -EBADF;
	if (!d.dgram) {
		dg_leave(fe, s, true, false);
		return stream_sendmsg(fe, h, msg, flags);
	}
	rc = dg_send(fe, s, &d, msg, flags);
	dg_leave(fe, s, true, true);
	return rc;
}

ssize_t pvcalls_front_recvmsg(pvcalls_front *fe, int h, struct msghdr *msg, int flags)
{
	struct dg_snap d = { 0 };
	struct fsock *s;
	ssize_t rc;

	if (!fe || !msg_ok(msg))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL))
		return -EOPNOTSUPP;
	s = dg_enter(fe, h, false, &d);
	if (!s)
		return -EBADF;
	if (!d.dgram) {
		dg_leave(fe, s, false, false);
		return stream_recvmsg(fe, h, msg, flags);
	}
	rc = dg_recv(fe, s, &d, msg, flags);
	dg_leave(fe, s, false, true);
	return rc;
}

/* pvcalls_front_send()/recv() on a datagram socket (front_data.c). */
ssize_t pvc_fe_dgram_send(pvcalls_front *fe, int h, const void *buf, size_t len, int flags)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return pvcalls_front_sendmsg(fe, h, &m, flags);
}

ssize_t pvc_fe_dgram_recv(pvcalls_front *fe, int h, void *buf, size_t len, int flags)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

	return pvcalls_front_recvmsg(fe, h, &m, flags);
}

/* ---------------------------------------------------------------------- */
/* Readiness                                                              */

/* Linux-like revents of a datagram socket from the shared indexes only
 * (other threads may be sending and receiving). Lock held. */
short pvc_fe_dgram_revents(struct fsock *s, uint32_t *seq)
{
	pvcalls_data_ring *r = &s->r.ring;
	int32_t rerr, terr;
	int q, f;
	short re = 0;

	if (!s->r.valid)
		return POLLERR;
	rerr = pvcalls_data_rx_error(r);
	terr = pvcalls_data_tx_error(r);
	q = pvcalls_data_rx_queued_shared(r);
	f = pvcalls_data_tx_free_shared(r);
	if (seq)
		*seq = pvc_load_acquire(r->rx_prod_sh) + pvc_load_acquire(r->tx_cons_sh);
	if (q < 0 || f < 0 || __atomic_load_n(&s->dg_broken, __ATOMIC_RELAXED))
		return POLLERR;
	if (q >= (int)HDR || rerr)
		re |= POLLIN; /* a whole record: the backend publishes only whole ones */
	if ((uint32_t)f >= DG_WRITABLE || (uint32_t)f >= r->size || terr)
		re |= POLLOUT;
	if (rerr || (terr && terr != __atomic_load_n(&s->dg_err_seen, __ATOMIC_RELAXED)))
		re |= POLLERR;
	return re;
}

/* FIONREAD of a datagram socket: the next datagram's payload length
 * (advisory, from the shared indexes and a copy of the header). Lock held. */
int pvc_fe_dgram_nread(struct fsock *s)
{
	pvcalls_data_ring *r = &s->r.ring;
	struct pvcalls_ext_dgram_hdr h;
	uint32_t cons, mask = r->size - 1;
	int q;

	if (!s->r.valid)
		return 0;
	q = pvcalls_data_rx_queued_shared(r);
	if (q < (int)HDR)
		return q < 0 ? -EPROTO : 0;
	cons = pvc_load_acquire(r->rx_cons_sh);
	for (uint32_t i = 0; i < HDR; i++)
		((uint8_t *)&h)[i] = r->rx_buf[(cons + i) & mask];
	if (h.err || h.len > PVCALLS_EXT_DGRAM_MAX_INET6)
		return 0;
	return (int)h.len;
}
