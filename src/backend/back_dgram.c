/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets (docs/extensions.md, "Datagram sockets"): SOCKET with
 * SOCK_DGRAM, DGRAM_RINGS, the datagram forms of CONNECT and BIND, the
 * commands a datagram socket refuses, and the record relay between the
 * socket's rings and its host UDP socket.
 *
 * Records. Every header is copied out of the ring once, into a private
 * struct, before any field is read; the payload is handed to the host by
 * sendmsg() straight from the ring's spans. The out ring's structure is
 * checked as the spec's "Sending (out ring)" lists: a violation stops
 * both directions (in_error = out_error = -EPROTO) and we never touch the
 * ring again; a datagram that is well formed but cannot go (family,
 * policy, host error) is consumed and reported in out_error.
 *
 * Receiving. A datagram's size is learnt with MSG_PEEK | MSG_TRUNC and
 * an empty buffer; it is left on the host socket until its record fits
 * the in ring's free space, then received by recvmsg() straight into the
 * ring's spans. A datagram longer than the ring can carry is cut (len =
 * ring size - 40, full_len its size). A host receive error (ECONNREFUSED
 * after an ICMP port unreachable on a connected socket) becomes a 40-byte
 * error record.
 *
 * Policy. Each addressed out record is put to the policy as a connect
 * (SENDTO, UDP). The decision is cached per socket and destination (a
 * bounded table, DG_CACHE entries replaced round robin) until the policy
 * is replaced; the audit gets one SENDTO record when a destination enters
 * the table and one for every refusal.
 *
 * Flow: edge-triggered host events set can_read/can_write; a host send
 * that says EAGAIN leaves the record in the ring and waits for EPOLLOUT;
 * a full in ring leaves the datagram on the host socket and waits for the
 * frontend's notification (or our polling while hot).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "common/log.h"
#include "common/sockaddr.h"
#include "ring/wait_hint.h"

#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif

#define DG_EVENTS (EPOLLIN | EPOLLOUT | EPOLLET)
/* Destinations whose policy decision a socket remembers. */
#define DG_CACHE 64
/* Records moved per direction and service pass (fairness between sockets). */
#define DG_BATCH 64
#define HDR PVCALLS_EXT_DGRAM_HDR_LEN

struct dg_dest {
	union pvc_sockaddr a;
	bool allow;
};

struct back_dgram {
	bool connected;
	bool can_read, can_write;
	bool stopped; /* protocol violation: the rings are never touched again */
	bool in_full;
	uint32_t need; /* in_full: free bytes the waiting record needs */
	uint32_t gen;  /* b->policy_gen the cache was filled under */
	uint32_t ncache, next;
	struct dg_dest cache[DG_CACHE];
};

/* ---------------------------------------------------------------------- */
/* Ring spans                                                             */

/* The sub-spans [off, off + len) of the (up to two) spans @iov. */
static void dg_violation(struct back_socket *s, const char *why);

static int sub_spans(const struct iovec iov[2], size_t off, size_t len, struct iovec out[2])
{
	int n = 0;

	out[0].iov_len = out[1].iov_len = 0;
	for (int i = 0; i < 2 && len; i++) {
		size_t l = iov[i].iov_len, take;

		if (off >= l) {
			off -= l;
			continue;
		}
		take = l - off < len ? l - off : len;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

static void copy_out(const struct iovec iov[2], size_t off, void *dst, size_t len)
{
	struct iovec s[2];
	int n = sub_spans(iov, off, len, s);

	for (int i = 0, o = 0; i < n; o += (int)s[i].iov_len, i++)
		memcpy((uint8_t *)dst + o, s[i].iov_base, s[i].iov_len);
}

static void copy_in(const struct iovec iov[2], size_t off, const void *src, size_t len)
{
	struct iovec s[2];
	int n = sub_spans(iov, off, len, s);

	for (int i = 0, o = 0; i < n; o += (int)s[i].iov_len, i++)
		memcpy(s[i].iov_base, (const uint8_t *)src + o, s[i].iov_len);
}

static void zero_in(const struct iovec iov[2], size_t off, size_t len)
{
	struct iovec s[2];
	int n = sub_spans(iov, off, len, s);

	for (int i = 0; i < n; i++)
		memset(s[i].iov_base, 0, s[i].iov_len);
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */

bool pvc_back_is_dgram(const struct back_socket *s)
{
	return s && s->state == BS_DGRAM;
}

void pvc_back_dgram_free(struct back_socket *s)
{
	free(s->dg);
	s->dg = NULL;
}

/* SOCKET with type SOCK_DGRAM, dgram in force. */
static int dg_socket(struct back_frontend *f, const struct pvcalls_wire_request *raw)
{
	uint32_t domain = raw->u.socket.domain, proto = raw->u.socket.protocol;
	struct back_socket *s;
	int fd, rc;

	/* AF_INET6 datagrams need inet6 in force too ("Rules"). */
	if (domain != PVCALLS_WIRE_AF_INET &&
	    (domain != PVCALLS_EXT_AF_INET6 || !(f->ext & PVCALLS_FEATURE_INET6)))
		return -EAFNOSUPPORT;
	if (proto != 0 && proto != PVCALLS_EXT_IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	if (pvc_back_sock_find(f, raw->u.socket.id))
		return -EEXIST;
	if (!pvc_back_sock_budget(f))
		return -EMFILE;
	fd = socket(domain == PVCALLS_WIRE_AF_INET ? AF_INET : AF_INET6,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s = pvc_back_sock_new(f, raw->u.socket.id);
	if (!s || !(s->dg = calloc(1, sizeof(*s->dg)))) {
		close(fd);
		if (s)
			pvc_back_sock_destroy(s);
		return -ENOMEM;
	}
	s->fd = fd;
	s->family = domain == PVCALLS_WIRE_AF_INET ? AF_INET : AF_INET6;
	pvc_back_sock_set_state(s, BS_DGRAM);
	rc = pvc_back_sock_epoll(s, DG_EVENTS);
	if (rc < 0) {
		pvc_back_sock_destroy(s);
		return rc;
	}
	return 0;
}

int pvc_back_dgram_rings(struct back_frontend *f, const struct pvcalls_ext_request *req)
{
	const struct pvcalls_ext_dgram_rings *dr = &req->u.dgram_rings;
	struct back_socket *s;
	int rc;

	for (size_t i = sizeof(*dr); i < sizeof(req->u.dummy); i++)
		if (req->u.dummy[i])
			return -EINVAL;
	s = pvc_back_sock_find(f, dr->id);
	if (!s || s->state == BS_ACCEPTING)
		return -EBADF;
	if (s->state != BS_DGRAM)
		return -EOPNOTSUPP;
	if (s->r.mapped)
		return -EEXIST;
	rc = pvc_back_ring_map(f, s, dr->ref, dr->evtchn);
	if (rc == -ENOBUFS)
		ST_ADD(f, limit_hits, 1);
	if (rc < 0)
		return rc;
	/* Every record starts at a multiple of 8 (docs/extensions.md,
	 * "Datagram sockets", Alignment). Indexes the frontend left elsewhere
	 * (a ring it used for a stream, a parked ring it did not reset) would
	 * make our records start off it: a violation, found by fuzz_back_cmd. */
	if (s->r.ring.tx_prod % PVCALLS_EXT_DGRAM_ALIGN ||
	    s->r.ring.rx_cons % PVCALLS_EXT_DGRAM_ALIGN) {
		dg_violation(s, "ring indexes not multiples of 8 at DGRAM_RINGS");
		pvc_back_notify_front(s);
		return 0;
	}
	s->dg->can_read = s->dg->can_write = true;
	pvc_back_dgram_service(s);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Policy                                                                 */

static void dg_audit_sendto(struct back_socket *s, const union pvc_sockaddr *a, int ret,
			    const struct back_audit_ctx *ax)
{
	struct pvcalls_wire_request req;
	struct back_audit_ctx c = *ax;

	if (!s->f->b->audit_fn)
		return;
	memset(&req, 0, sizeof(req));
	req.cmd = PVCALLS_EXT_SENDTO;
	req.u.poll.id = s->id;
	c.has_name = true; /* the destination, in the record's addr */
	c.name = *a;
	pvc_back_audit_emit(s->f, &req, ret, &c);
}

/* 0 or -EACCES for a datagram to @a (docs/extensions.md, "Policy and
 * audit for datagrams"). */
static void call_addr(struct pvcalls_back_call *c, const union pvc_sockaddr *a)
{
	if (a->sa.sa_family == AF_INET6)
		c->addr6 = a->in6;
	else
		c->addr = a->in;
}

static int dg_policy(struct back_socket *s, const union pvc_sockaddr *a)
{
	struct back_frontend *f = s->f;
	struct back_dgram *d = s->dg;
	struct pvcalls_back_call c = { .domid = f->feid,
				       .devid = f->devid,
				       .cmd = PVCALLS_EXT_SENDTO,
				       .id = s->id,
				       .type = PVCALLS_EXT_SOCK_DGRAM };
	struct back_audit_ctx ax = { 0 };
	struct dg_dest *e;
	int rc;

	if (!f->b->pol_cb && !f->b->policy)
		return 0;
	if (d->gen != f->b->policy_gen) {
		d->gen = f->b->policy_gen;
		d->ncache = d->next = 0;
	}
	for (uint32_t i = 0; i < d->ncache; i++) {
		e = &d->cache[i];
		if (pvc_sockaddr_same(&e->a, a)) {
			if (e->allow)
				return 0;
			ax.decision = PVCALLS_BACK_DECISION_DENY;
			snprintf(ax.reason, sizeof(ax.reason), "remembered refusal");
			ST_ADD(f, policy_denied, 1);
			dg_audit_sendto(s, a, -EACCES, &ax);
			return -EACCES;
		}
	}
	ax.t0 = f->b->audit_fn ? pvc_now_us() : 0;
	call_addr(&c, a);
	rc = pvc_back_policy_decide(f, &c, &ax);
	if (rc < 0)
		rc = -EACCES;
	if (d->ncache < DG_CACHE) {
		e = &d->cache[d->ncache++];
	} else {
		e = &d->cache[d->next];
		d->next = (d->next + 1) % DG_CACHE;
	}
	e->a = *a;
	e->allow = rc == 0;
	dg_audit_sendto(s, a, rc, &ax);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Relay                                                                  */

static void dg_violation(struct back_socket *s, const char *why)
{
	pvc_warn("back.dgram-proto", "frontend %u socket %llu: %s; datagram rings stopped",
		 s->f->feid, (unsigned long long)s->id, why);
	pvcalls_data_set_in_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	pvcalls_data_set_out_error(&s->r.ring, -PVCALLS_WIRE_EPROTO);
	s->dg->stopped = true;
	s->notify = true;
}

/* The wire address of a record as a destination: 0 and *@dst set, or the
 * error that fails the datagram. @fam0: family 0 (the connected peer). */
static int dg_dest(const struct back_socket *s, const struct pvcalls_ext_dgram_hdr *h,
		   union pvc_sockaddr *dst, socklen_t *dlen, bool *fam0)
{
	uint16_t fam;
	int rc;

	memcpy(&fam, h->addr, 2);
	*fam0 = fam == 0;
	if (fam == 0)
		rc = s->dg->connected ? 0 : -EDESTADDRREQ;
	else if (fam != (s->family == AF_INET ? PVCALLS_WIRE_AF_INET : PVCALLS_EXT_AF_INET6))
		rc = -EAFNOSUPPORT;
	else
		rc = pvc_sockaddr_from_wire(h->addr, PVCALLS_WIRE_ADDR_LEN, s->family, dst, dlen);
	if (rc == 0 && s->family == AF_INET && h->len > PVCALLS_EXT_DGRAM_MAX_INET)
		rc = -EMSGSIZE;
	return rc;
}

/* Sends one record; 1: consumed, 0: the host is full (retry on EPOLLOUT),
 * -1: stopped (violation). @flush: release, no retry. */
static int dg_send_one(struct back_socket *s, bool flush, bool *empty)
{
	pvcalls_data_ring *ring = &s->r.ring;
	struct pvcalls_ext_dgram_hdr h;
	struct iovec iov[2], pl[2];
	union pvc_sockaddr dst;
	socklen_t dlen = 0;
	struct msghdr mh = { 0 };
	uint32_t rec;
	bool fam0;
	int q = pvcalls_data_rx_spans(ring, iov), rc;
	ssize_t w;

	*empty = false;
	if (q == 0) {
		*empty = true;
		return 0;
	}
	if (q < 0 || (q % PVCALLS_EXT_DGRAM_ALIGN) != 0) {
		dg_violation(s, "out ring indexes impossible or not multiples of 8");
		return -1;
	}
	if ((uint32_t)q < HDR) {
		dg_violation(s, "out ring holds less than a record header");
		return -1;
	}
	copy_out(iov, 0, &h, HDR); /* the one read of the header */
	if (h.len > PVCALLS_EXT_DGRAM_MAX_INET6 || h.full_len != h.len || h.err != 0) {
		dg_violation(s, "bad out record header");
		return -1;
	}
	rec = PVCALLS_EXT_DGRAM_RECORD_LEN(h.len);
	if (rec > (uint32_t)q) {
		dg_violation(s, "out record extends past out_prod");
		return -1;
	}
	rc = dg_dest(s, &h, &dst, &dlen, &fam0);
	if (rc == 0 && !fam0)
		rc = dg_policy(s, &dst);
	if (rc == 0) {
		mh.msg_iov = pl;
		mh.msg_iovlen = (size_t)sub_spans(iov, HDR, h.len, pl);
		if (!fam0) {
			mh.msg_name = &dst;
			mh.msg_namelen = dlen;
		}
		do
			w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !flush) {
			s->dg->can_write = false;
			return 0;
		}
		rc = w < 0 ? -errno : 0;
		if (rc == 0)
			ST_ADD(s->f, bytes_from_guest, h.len);
	}
	pvcalls_data_rx_consume(ring, rec);
	if (!flush) {
		int32_t cur = pvcalls_data_rx_error(ring);
		int32_t want = rc ? pvcalls_errno_to_wire(rc) : 0;

		if (cur != want)
			pvcalls_data_set_out_error(ring, want);
		if (rc)
			pvc_debug("back.dgram", "frontend %u socket %llu: datagram failed: %s",
				  s->f->feid, (unsigned long long)s->id, strerror(-rc));
	}
	s->notify = true;
	return 1;
}

static bool dg_write(struct back_socket *s)
{
	bool moved = false, empty;

	for (int i = 0; i < DG_BATCH && !s->dg->stopped && s->dg->can_write; i++) {
		int r = dg_send_one(s, false, &empty);

		if (r != 0)
			moved = true;
		if (r <= 0)
			break;
	}
	return moved;
}

/* Writes an error record (40 bytes, err @err) at the in ring's head. */
static void dg_err_record(struct back_socket *s, const struct iovec iov[2], int err)
{
	struct pvcalls_ext_dgram_hdr h;

	memset(&h, 0, sizeof(h));
	h.err = pvcalls_errno_to_wire(err);
	copy_in(iov, 0, &h, HDR);
	pvcalls_data_tx_commit(&s->r.ring, HDR);
}

/* The in ring has no room for the next record of @need bytes (counted
 * once per stall). */
static bool dg_stall(struct back_socket *s, uint32_t need)
{
	s->dg->need = need;
	if (!s->dg->in_full) {
		s->dg->in_full = true;
		ST_ADD(s->f, ring_full_stalls, 1);
	}
	return false;
}

/* Receives one datagram into the in ring; true if a record was written. */
static bool dg_recv_one(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;
	uint32_t size = pvcalls_data_ring_size(ring);
	struct pvcalls_ext_dgram_hdr h;
	struct iovec iov[2], pl[2];
	union pvc_sockaddr src;
	struct msghdr mh = { 0 };
	uint32_t len, rec;
	ssize_t full, r;
	int free_ = pvcalls_data_tx_spans(ring, iov);

	if (free_ < 0) {
		dg_violation(s, "in ring indexes impossible");
		return true;
	}
	if ((uint32_t)free_ < HDR)
		return dg_stall(s, HDR);
	do
		full = recv(s->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (full < 0 && errno == EINTR);
	if (full < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			s->dg->can_read = false;
			return false;
		}
		dg_err_record(s, iov, -errno);
		return true;
	}
	len = (uint32_t)full;
	if (len > size - HDR)
		len = size - HDR; /* cut: the record fills the whole ring */
	rec = PVCALLS_EXT_DGRAM_RECORD_LEN(len);
	if (rec > (uint32_t)free_)
		return dg_stall(s, rec); /* left on the host until the frontend consumes */
	mh.msg_iov = pl;
	mh.msg_iovlen = (size_t)sub_spans(iov, HDR, len, pl);
	mh.msg_name = &src;
	mh.msg_namelen = sizeof(src);
	do
		r = recvmsg(s->fd, &mh, MSG_TRUNC | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			s->dg->can_read = false;
			return false;
		}
		dg_err_record(s, iov, -errno);
		return true;
	}
	memset(&h, 0, sizeof(h));
	h.full_len = (uint32_t)r; /* MSG_TRUNC: the real size */
	h.len = (uint32_t)r < len ? (uint32_t)r : len;
	{
		uint32_t wl; /* the source as the host reports it, in the socket's family */

		if (pvc_sockaddr_to_wire(h.addr, &wl, &src.sa, mh.msg_namelen, s->family) < 0)
			memset(h.addr, 0, sizeof(h.addr));
	}
	rec = PVCALLS_EXT_DGRAM_RECORD_LEN(h.len);
	copy_in(iov, 0, &h, HDR);
	zero_in(iov, HDR + h.len, rec - HDR - h.len);
	pvcalls_data_tx_commit(ring, rec);
	ST_ADD(s->f, bytes_to_guest, h.len);
	return true;
}

static bool dg_read(struct back_socket *s)
{
	bool moved = false;

	if (pvcalls_data_tx_error(&s->r.ring) != 0)
		return false; /* in_error set (-EPROTO, or the frontend's -EBADF) */
	for (int i = 0; i < DG_BATCH && !s->dg->stopped && s->dg->can_read; i++) {
		if (!dg_recv_one(s))
			break;
		s->dg->in_full = false;
		s->notify = true;
		moved = true;
	}
	return moved;
}

bool pvc_back_dgram_service(struct back_socket *s)
{
	bool moved;

	if (s->dead || !s->dg || !s->r.mapped || s->dg->stopped)
		return false;
	if (s->dg->in_full)
		s->dg->can_read = true; /* the frontend may have consumed: look again */
	moved = dg_write(s);
	moved |= dg_read(s);
	if (s->notify)
		pvc_back_notify_front(s);
	if (moved) {
		s->last_us = pvc_now_us();
		pvc_back_hot_add(s->f->b, s);
	}
	return moved;
}

bool pvc_back_dgram_has_work(struct back_socket *s)
{
	int q;

	if (s->dead || !s->dg || !s->r.mapped || s->dg->stopped)
		return false;
	q = pvcalls_data_rx_queued(&s->r.ring);
	if (q != 0 && s->dg->can_write)
		return true;
	/* A stalled record waits for its whole size: less is no work (a hot
	 * socket would otherwise spin until the frontend consumes). */
	if (s->dg->in_full)
		return pvcalls_data_tx_free(&s->r.ring) >= (int)s->dg->need;
	return s->dg->can_read && pvcalls_data_tx_free(&s->r.ring) >= (int)HDR;
}

void pvc_back_dgram_event(struct back_socket *s, uint32_t ev)
{
	if (!s->dg)
		return;
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		s->dg->can_read = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		s->dg->can_write = true;
	pvc_back_dgram_service(s);
}

/* RELEASE: complete records still queued go once each, without retry. */
void pvc_back_dgram_finish(struct back_socket *s)
{
	bool empty = false;

	if (!s->dg || !s->r.mapped || s->dg->stopped)
		return;
	for (int i = 0; i < 4096 && !empty; i++)
		if (dg_send_one(s, true, &empty) < 0)
			break;
}

/* ---------------------------------------------------------------------- */
/* v1 commands naming a datagram socket                                   */

static int dg_connect(struct back_frontend *f, struct back_socket *s,
		      const struct pvcalls_wire_request *raw, struct back_audit_ctx *ax)
{
	struct pvcalls_back_call c = { .domid = f->feid,
				       .devid = f->devid,
				       .cmd = PVCALLS_WIRE_CONNECT,
				       .id = s->id,
				       .type = PVCALLS_EXT_SOCK_DGRAM };
	uint32_t len = raw->u.connect.len;
	union pvc_sockaddr a;
	socklen_t alen;
	uint16_t fam;
	int rc;

	if (raw->u.connect.ref || raw->u.connect.evtchn || len > PVCALLS_WIRE_ADDR_LEN)
		return -EINVAL;
	memcpy(&fam, raw->u.connect.addr, 2);
	if (fam == PVCALLS_EXT_AF_UNSPEC) {
		struct sockaddr sa = { .sa_family = AF_UNSPEC };

		if (len < 2)
			return -EINVAL;
		if (connect(s->fd, &sa, sizeof(sa)) < 0 && errno != EAFNOSUPPORT)
			return -errno;
		s->dg->connected = false;
		return 0;
	}
	rc = pvc_sockaddr_from_wire(raw->u.connect.addr, len, s->family, &a, &alen);
	if (rc < 0)
		return rc;
	call_addr(&c, &a);
	rc = pvc_back_policy_decide(f, &c, ax);
	if (rc < 0)
		return rc;
	if (connect(s->fd, &a.sa, alen) < 0)
		return -errno;
	s->dg->connected = true;
	return 0;
}

/* Whether another datagram socket of this frontend is bound to @a's port. */
static bool dg_front_holds(struct back_socket *self, const union pvc_sockaddr *a)
{
	for (struct back_socket *o = self->f->socks; o; o = o->next) {
		union pvc_sockaddr b;
		socklen_t l = sizeof(b);

		if (o == self || o->state != BS_DGRAM || o->fd < 0)
			continue;
		if (getsockname(o->fd, &b.sa, &l) == 0 &&
		    pvc_sockaddr_port(&b) == pvc_sockaddr_port(a))
			return true;
	}
	return false;
}

static int dg_bind(struct back_frontend *f, struct back_socket *s,
		   const struct pvcalls_wire_request *raw, struct back_audit_ctx *ax)
{
	struct pvcalls_back_call c = { .domid = f->feid,
				       .devid = f->devid,
				       .cmd = PVCALLS_WIRE_BIND,
				       .id = s->id,
				       .type = PVCALLS_EXT_SOCK_DGRAM };
	int on = 0, ra = 0, rp = 0, v6only = 1, rc;
	socklen_t l = sizeof(on);
	union pvc_sockaddr a;
	socklen_t alen;
	bool dual;

	rc = pvc_sockaddr_from_wire(raw->u.bind.addr, raw->u.bind.len, s->family, &a, &alen);
	if (rc < 0)
		return rc;
	call_addr(&c, &a);
	/* :: with IPV6_V6ONLY off also receives IPv4: judged as both
	 * (docs/extensions.md, "IPv6", "Policy"). */
	dual = s->family == AF_INET6 &&
	       getsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) == 0 && !v6only;
	rc = pvc_back_policy_judge(f, &c, dual, ax);
	if (rc < 0)
		return rc;
	l = sizeof(on);
	/* Port sharing (docs/extensions.md, "Options the backend must not
	 * pass straight through"): on UDP both flags share a port. */
	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &ra, &l) == 0 && ra)
		on = 1;
	l = sizeof(rp);
	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &rp, &l) == 0 && rp)
		on = 1;
	if (on && pvc_sockaddr_port(&a)) {
		int probe = socket(s->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (probe < 0)
			return -errno;
		if (s->family == AF_INET6)
			setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
		rc = 0;
		if (bind(probe, &a.sa, alen) < 0) {
			if (errno != EADDRINUSE)
				rc = -errno;
			else if (!dg_front_holds(s, &a))
				rc = -EADDRINUSE; /* held by another frontend or the host */
		}
		close(probe);
		if (rc < 0)
			return rc;
	} else if (on) {
		/* A port-0 bind is never shared: bind without the flags. */
		int off = 0;

		setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &off, sizeof(off));
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &off, sizeof(off));
	}
	rc = bind(s->fd, &a.sa, alen) < 0 ? -errno : 0;
	if (on && !pvc_sockaddr_port(&a)) {
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &ra, sizeof(ra));
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &rp, sizeof(rp));
	}
	return rc;
}

bool pvc_back_dgram_request(struct back_frontend *f, const struct pvcalls_wire_request *raw)
{
	struct back_audit_ctx ax = { 0 };
	struct back_socket *s;
	int rc;

	if (!(f->ext & PVCALLS_FEATURE_DGRAM) || raw->cmd >= PVCALLS_WIRE_NR_CMDS)
		return false;
	if (raw->cmd == PVCALLS_WIRE_SOCKET) {
		if (raw->u.socket.type != PVCALLS_EXT_SOCK_DGRAM)
			return false;
	} else {
		s = pvc_back_sock_find(f, raw->u.poll.id);
		if (!pvc_back_is_dgram(s) || raw->cmd == PVCALLS_WIRE_RELEASE)
			return false;
	}
	ax.t0 = f->b->audit_fn ? pvc_now_us() : 0;
	ax.decision = PVCALLS_BACK_DECISION_NONE;
	ST_ADD(f, commands[raw->cmd], 1);
	s = pvc_back_sock_find(f, raw->u.poll.id);
	switch (raw->cmd) {
	case PVCALLS_WIRE_SOCKET:
		rc = dg_socket(f, raw);
		break;
	case PVCALLS_WIRE_CONNECT:
		rc = dg_connect(f, s, raw, &ax);
		break;
	case PVCALLS_WIRE_BIND:
		rc = dg_bind(f, s, raw, &ax);
		break;
	case PVCALLS_WIRE_POLL:
		rc = -EINVAL; /* POLL is for listeners */
		break;
	default: /* LISTEN, ACCEPT: what Linux's listen answers on UDP */
		rc = -EOPNOTSUPP;
		break;
	}
	if (rc == -EINVAL)
		ST_ADD(f, bad_commands, 1);
	if (rc == -EMFILE)
		ST_ADD(f, limit_hits, 1);
	if (rc < 0)
		pvc_debug("back.cmd", "frontend %u: datagram %s id %llu: %s", f->feid,
			  pvcalls_cmd_name(raw->cmd), (unsigned long long)raw->u.poll.id,
			  strerror(-rc));
	pvc_back_respond(f, raw, rc, &ax);
	return true;
}
