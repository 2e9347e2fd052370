/* SPDX-License-Identifier: MIT */
/*
 * The negotiated extensions' commands (docs/extensions.md): SHUTDOWN,
 * GETSOCKNAME, GETPEERNAME, SETSOCKOPT and GETSOCKOPT, plus the pieces the
 * v1 commands need when an extension is in force (the host socket at
 * SOCKET, BIND's SO_REUSEADDR default and port-sharing check).
 *
 * Each request is the private copy pvcalls_cmd_back_get() made; it is
 * checked in the spec's order ("Requests and responses", "Checking
 * order"): reserved bytes and field ranges (-EINVAL), the id (-EBADF),
 * the socket's kind and state, the policy, the host's call. None is
 * deferred: the answer goes out before the next request is taken.
 *
 * Reply areas: only the area the request names (0..31, checked) is
 * written, whole (result then zeros), before the response is put; the
 * push's write barrier orders the two. We never read the areas.
 *
 * AF_INET6 (docs/extensions.md, "IPv6") adds no command: SOCKET's domain,
 * the address form of CONNECT and BIND (pvc_back_ext_parse()), names and
 * the IPv6 options follow the socket's family.
 *
 * DGRAM_RINGS is dispatched here and handled by back_dgram.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "common/log.h"

#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif
#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif

/* ---------------------------------------------------------------------- */
/* Option table (docs/extensions.md, "Option identifiers")                */

enum { K_STREAM = 1, K_INET6 = 2 }; /* K_STREAM: stream sockets only */

static const struct opt_def {
	const char *name;
	int level, optname;
	uint8_t len;  /* value bytes on the wire */
	uint8_t kind; /* K_* */
	bool boolean; /* read back as 0 or 1 */
} opts[PVCALLS_EXT_OPT_NR] = {
	[PVCALLS_EXT_OPT_TCP_NODELAY] = { "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 4, K_STREAM,
					  true },
	[PVCALLS_EXT_OPT_SO_KEEPALIVE] = { "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 4, 0, true },
	[PVCALLS_EXT_OPT_TCP_KEEPIDLE] = { "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, 4, K_STREAM,
					   false },
	[PVCALLS_EXT_OPT_TCP_KEEPINTVL] = { "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, 4,
					    K_STREAM, false },
	[PVCALLS_EXT_OPT_TCP_KEEPCNT] = { "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, 4, K_STREAM,
					  false },
	[PVCALLS_EXT_OPT_SO_LINGER] = { "SO_LINGER", SOL_SOCKET, SO_LINGER, 8, 0, false },
	[PVCALLS_EXT_OPT_SO_RCVBUF] = { "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, 4, 0, false },
	[PVCALLS_EXT_OPT_SO_SNDBUF] = { "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, 4, 0, false },
	[PVCALLS_EXT_OPT_TCP_USER_TIMEOUT] = { "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, 4,
					       K_STREAM, false },
	[PVCALLS_EXT_OPT_SO_REUSEADDR] = { "SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, 4, 0, true },
	[PVCALLS_EXT_OPT_SO_REUSEPORT] = { "SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, 4, 0, true },
	[PVCALLS_EXT_OPT_IP_TOS] = { "IP_TOS", IPPROTO_IP, IP_TOS, 4, 0, false },
	[PVCALLS_EXT_OPT_IPV6_V6ONLY] = { "IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, 4, K_INET6,
					  true },
	[PVCALLS_EXT_OPT_IPV6_TCLASS] = { "IPV6_TCLASS", IPPROTO_IPV6, IPV6_TCLASS, 4, K_INET6,
					  false },
};

const char *pvc_back_opt_name(uint32_t opt)
{
	return opt < PVCALLS_EXT_OPT_NR && opts[opt].name ? opts[opt].name : NULL;
}

uint32_t pvc_back_opt_by_name(const char *name)
{
	for (uint32_t i = 1; i < PVCALLS_EXT_OPT_NR; i++)
		if (opts[i].name && !strcmp(opts[i].name, name))
			return i;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

uint32_t pvc_back_ext_cmd_feature(uint32_t cmd)
{
	switch (cmd) {
	case PVCALLS_EXT_SHUTDOWN:
		return PVCALLS_FEATURE_SHUTDOWN;
	case PVCALLS_EXT_GETSOCKNAME:
	case PVCALLS_EXT_GETPEERNAME:
		return PVCALLS_FEATURE_NAMES;
	case PVCALLS_EXT_SETSOCKOPT:
	case PVCALLS_EXT_GETSOCKOPT:
		return PVCALLS_FEATURE_SOCKOPT;
	case PVCALLS_EXT_DGRAM_RINGS:
		return PVCALLS_FEATURE_DGRAM;
	case PVCALLS_EXT_RING_FREE:
		return PVCALLS_FEATURE_RING_REUSE;
	default:
		return 0; /* SENDTO (never on the ring), unassigned */
	}
}

/* An id the extension commands may name: known and not a pending ACCEPT's. */
static struct back_socket *ext_sock(struct back_frontend *f, uint64_t id)
{
	struct back_socket *s = pvc_back_sock_find(f, id);

	return s && s->state != BS_ACCEPTING ? s : NULL;
}

static int new_host_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/* NEW sockets lose their host socket when a CONNECT fails (v1's path):
 * names and options then need a new one, of the same family. */
int pvc_back_ext_ensure_fd(struct back_socket *s)
{
	int fd;

	if (s->fd >= 0)
		return 0;
	fd = new_host_socket(s->family);
	if (fd < 0)
		return fd;
	s->fd = fd;
	return 0;
}

static int ensure_fd(struct back_socket *s)
{
	return pvc_back_ext_ensure_fd(s);
}

int pvc_back_ext_socket(struct back_socket *s, const struct back_xreq *x)
{
	s->family = x->domain;
	return ensure_fd(s);
}

/* SOCKET AF_INET6 (docs/extensions.md, "IPv6"): type 1 with protocol 0 or
 * 6; another protocol -EPROTONOSUPPORT; a type not in force -EAFNOSUPPORT,
 * as version 1 answers any parameter it does not support. */
static int parse_socket6(const struct pvcalls_wire_request *raw, struct back_xreq *x)
{
	if (raw->u.socket.type != PVCALLS_WIRE_SOCK_STREAM)
		return -EAFNOSUPPORT;
	if (raw->u.socket.protocol != PVCALLS_WIRE_IPPROTO_IP &&
	    raw->u.socket.protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	x->domain = AF_INET6;
	x->type = SOCK_STREAM;
	return 0;
}

int pvc_back_ext_parse(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		       struct pvcalls_req *req, int rc, struct back_xreq *x)
{
	const struct back_socket *s;

	memset(x, 0, sizeof(*x));
	x->domain = AF_INET;
	x->type = SOCK_STREAM;
	switch (raw->cmd) {
	case PVCALLS_WIRE_SOCKET:
		if ((f->ext & PVCALLS_FEATURE_INET6) &&
		    raw->u.socket.domain == PVCALLS_EXT_AF_INET6)
			return parse_socket6(raw, x);
		return rc;
	case PVCALLS_WIRE_CONNECT:
	case PVCALLS_WIRE_BIND:
		/* CONNECT and BIND lay out id, addr and len alike. An id
		 * without SOCKET is an AF_INET stream socket, as in v1. */
		s = pvc_back_sock_find(f, raw->u.bind.id);
		if (!(f->ext & PVCALLS_FEATURE_INET6) || !s || s->family != AF_INET6) {
			if (rc == 0)
				x->addr.in = raw->cmd == PVCALLS_WIRE_BIND ? req->u.bind.addr
									   : req->u.connect.addr;
			x->alen = rc == 0 ? sizeof(x->addr.in) : 0;
			return rc;
		}
		rc = pvc_sockaddr_from_wire(raw->u.bind.addr, raw->u.bind.len, AF_INET6, &x->addr,
					    &x->alen);
		if (rc == 0 && raw->cmd == PVCALLS_WIRE_CONNECT) {
			/* v1's parse refused the family and kept nothing. */
			req->u.connect.ref = raw->u.connect.ref;
			req->u.connect.evtchn = raw->u.connect.evtchn;
			req->u.connect.flags = raw->u.connect.flags;
		}
		return rc;
	default:
		return rc;
	}
}

/* Writes @len bytes of @res into reply area @area, then zeros to 56. */
static void reply_area(struct back_frontend *f, uint32_t area, const void *res, size_t len)
{
	uint8_t buf[PVCALLS_EXT_REPLY_SIZE] = { 0 };

	memcpy(buf, res, len);
	memcpy((uint8_t *)f->cmd_page + PVCALLS_EXT_REPLY_AREA_OFFSET(area), buf, sizeof(buf));
}

static void respond_val(struct back_frontend *f, const struct pvcalls_wire_request *req, int err,
			uint32_t val, const struct back_audit_ctx *ax)
{
	struct pvcalls_wire_response rsp;
	unsigned i = (req->cmd & 0xffu) - 1u; /* 0..4: SHUTDOWN..GETSOCKOPT */

	pvcalls_rsp_build(&rsp, req, err);
	rsp.pad = err ? 0 : val;
	if (pvcalls_cmd_back_put(&f->cmd, &rsp) < 0)
		pvc_err("back.bug", "frontend %u: response to %s req_id %u without a slot", f->feid,
			pvcalls_cmd_name(req->cmd), req->req_id);
	if (i < PVCALLS_BACK_EXT_CMDS) {
		ST_ADD(f, ext_commands[i], 1);
		if (rsp.ret)
			ST_ADD(f, ext_commands_failed[i], 1);
	}
	if (f->b->audit_fn)
		pvc_back_audit_emit(f, req, rsp.ret, ax);
}

/* ---------------------------------------------------------------------- */
/* SHUTDOWN                                                               */

/* LISTENING, SHUT_RD: pending ACCEPTs and POLLs get -EINVAL first, the host
 * socket stops listening, the socket is BOUND again. */
static int shutdown_listener(struct back_socket *l)
{
	struct back_frontend *f = l->f;

	while (l->acc_head) {
		struct back_socket *a = l->acc_head;

		pvc_back_respond(f, &a->req, -EINVAL, &a->ax);
		pvc_back_sock_destroy(a); /* unlinks a from l */
	}
	while (l->poll_head) {
		struct back_poll *p = l->poll_head;
		struct back_audit_ctx ax = { .t0 = p->t0 };

		l->poll_head = p->next;
		pvc_back_respond(f, &p->req, -EINVAL, &ax);
		free(p);
	}
	l->poll_tail = NULL;
	pvc_back_sock_epoll_del(l);
	if (shutdown(l->fd, SHUT_RD) < 0 && errno != ENOTCONN)
		return -errno;
	pvc_back_sock_set_state(l, BS_BOUND);
	return 0;
}

static int cmd_shutdown(struct back_frontend *f, const struct pvcalls_ext_request *req,
			struct back_audit_ctx *ax)
{
	uint32_t how = req->u.shutdown.how;
	struct back_socket *s;

	ax->ext = true;
	ax->ext_arg = how;
	if (!all_zero(req->u.shutdown.pad, sizeof(req->u.shutdown.pad)) ||
	    !all_zero(req->u.dummy + sizeof(req->u.shutdown),
		      sizeof(req->u.dummy) - sizeof(req->u.shutdown)) ||
	    how > PVCALLS_EXT_SHUT_RDWR)
		return -EINVAL;
	s = ext_sock(f, req->u.shutdown.id);
	if (!s)
		return -EBADF;
	if (s->state == BS_DGRAM)
		return -EOPNOTSUPP; /* docs/extensions.md, "Commands on a datagram socket" */
	switch (s->state) {
	case BS_LISTENING:
		return how == PVCALLS_EXT_SHUT_WR ? 0 : shutdown_listener(s);
	case BS_ACTIVE:
		break;
	default:
		return -ENOTCONN; /* NEW, BOUND, CONNECTING */
	}
	if (how != PVCALLS_EXT_SHUT_WR && !s->shut_rd) {
		if (shutdown(s->fd, SHUT_RD) < 0 && errno != ENOTCONN)
			return -errno;
		s->shut_rd = true;
		if (!s->rd_stop && s->r.mapped) {
			/* End of stream after what the in ring already holds. */
			pvcalls_data_set_in_error(&s->r.ring, -PVCALLS_WIRE_ENOTCONN);
			s->rd_stop = true;
			s->in_full = false;
			s->notify = true;
		}
		s->can_read = true; /* discard what the host still queues */
	}
	if (how != PVCALLS_EXT_SHUT_RD)
		s->shut_wr = true; /* the relay shuts the host down once drained */
	pvc_back_relay_service(s);
	return 0;
}

/* The relay's share, called at the end of each service pass of an ACTIVE
 * socket with SHUTDOWN in force. */
void pvc_back_ext_relay(struct back_socket *s)
{
	pvcalls_data_ring *ring = &s->r.ring;

	if (s->shut_rd && s->can_read) {
		/* Discard what the host queues, a bounded amount per pass so a
		 * flooding peer cannot hold the loop: what stays is discarded
		 * on the next arrival's edge, or never read at all. */
		for (int i = 0; i < 64; i++) {
			char sink[4096];
			ssize_t r = recv(s->fd, sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC);

			if (r > 0)
				continue;
			if (r < 0 && errno == EINTR)
				continue;
			s->can_read = false;
			break;
		}
	}
	if (!s->shut_wr)
		return;
	if (!s->shut_wr_done) {
		/* Rule 3: once every byte up to the final out_prod went (or a
		 * write error ended the direction, rule 4). */
		if (!s->wr_stop && pvcalls_data_rx_queued(ring) != 0)
			return;
		shutdown(s->fd, SHUT_WR);
		s->shut_wr_done = true;
		pvc_debug("back.shutdown", "frontend %u socket %llu: host write side shut down",
			  s->f->feid, (unsigned long long)s->id);
	}
	/* Rule 5: bytes written after the final out_prod are dropped. */
	if (!s->wr_stop && pvcalls_data_rx_queued(ring) != 0) {
		struct iovec iov[2];
		int n = pvcalls_data_rx_spans(ring, iov);

		if (n > 0)
			pvcalls_data_rx_consume(ring, (uint32_t)n);
		pvcalls_data_set_out_error(ring, -PVCALLS_WIRE_EPIPE);
		s->wr_stop = true;
		s->notify = true;
	}
}

/* ---------------------------------------------------------------------- */
/* GETSOCKNAME, GETPEERNAME                                               */

static int cmd_getname(struct back_frontend *f, const struct pvcalls_ext_request *req,
		       struct back_audit_ctx *ax, uint32_t *val)
{
	bool peer = req->cmd == PVCALLS_EXT_GETPEERNAME;
	uint32_t area = req->u.getname.area;
	union pvc_sockaddr sa;
	socklen_t sl = sizeof(sa);
	uint8_t w[PVCALLS_WIRE_ADDR_LEN];
	struct back_socket *s;
	int rc;

	if (!all_zero(req->u.getname.pad, sizeof(req->u.getname.pad)) ||
	    !all_zero(req->u.dummy + sizeof(req->u.getname),
		      sizeof(req->u.dummy) - sizeof(req->u.getname)) ||
	    area >= PVCALLS_EXT_REPLY_AREAS)
		return -EINVAL;
	s = ext_sock(f, req->u.getname.id);
	if (!s)
		return -EBADF;
	if (peer && s->state != BS_ACTIVE && s->state != BS_DGRAM)
		return -ENOTCONN; /* a datagram socket: the host knows whether it has a peer */
	memset(&sa, 0, sizeof(sa));
	sa.sa.sa_family = (sa_family_t)s->family;
	if (s->fd < 0) {
		/* A NEW socket whose CONNECT failed: the wildcard, port 0. */
		if (s->state != BS_NEW)
			return -EBADF;
	} else {
		rc = peer ? getpeername(s->fd, &sa.sa, &sl) : getsockname(s->fd, &sa.sa, &sl);
		if (rc < 0)
			return -errno;
		/* The host socket's family is the socket's (docs/extensions.md,
		 * "Names"): an AF_INET6 one reports IPv4 peers as mapped. */
		if (sa.sa.sa_family != s->family)
			return -EAFNOSUPPORT;
	}
	rc = pvc_sockaddr_to_wire(w, val, &sa.sa, pvc_sockaddr_len(s->family), s->family);
	if (rc < 0)
		return rc;
	reply_area(f, area, w, *val);
	ax->has_name = true;
	ax->name = sa;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* SETSOCKOPT, GETSOCKOPT                                                 */

/* Whether @opt is a known option id, or -ENOPROTOOPT. */
static int opt_known(uint32_t opt)
{
	if (opt == 0 || opt >= PVCALLS_EXT_OPT_NR || !opts[opt].name)
		return -ENOPROTOOPT;
	return 0;
}

/* The option for this socket, or -ENOPROTOOPT: AF_INET6 options on an
 * AF_INET socket, as Linux answers for a level the protocol lacks. */
static int opt_check(uint32_t opt, const struct back_socket *s)
{
	if (opt_known(opt) < 0)
		return -ENOPROTOOPT;
	/* "stream" options on a datagram socket ("Kinds and states"). */
	if (s->state == BS_DGRAM && (opts[opt].kind & K_STREAM))
		return -ENOPROTOOPT;
	if ((opts[opt].kind & K_INET6) && s->family != AF_INET6)
		return -ENOPROTOOPT;
	return 0;
}

static int cmd_setsockopt(struct back_frontend *f, const struct pvcalls_ext_request *req,
			  struct back_audit_ctx *ax)
{
	const struct pvcalls_ext_setsockopt *so = &req->u.setsockopt;
	uint32_t opt = so->opt, len = so->len;
	struct pvcalls_back_call c = { .domid = f->feid,
				       .devid = f->devid,
				       .cmd = PVCALLS_EXT_SETSOCKOPT,
				       .id = so->id,
				       .opt = opt };
	struct back_socket *s;
	int32_t v[2] = { 0, 0 };
	int rc;

	ax->ext = true;
	ax->ext_arg = opt;
	if (len > sizeof(so->val) || !all_zero(so->val + len, sizeof(so->val) - len) ||
	    !all_zero(req->u.dummy + sizeof(*so), sizeof(req->u.dummy) - sizeof(*so)))
		return -EINVAL;
	memcpy(v, so->val, len < sizeof(v) ? len : sizeof(v));
	ax->ext_nval = opt == PVCALLS_EXT_OPT_SO_LINGER ? 2 : 1;
	ax->ext_val[0] = v[0];
	ax->ext_val[1] = v[1];
	/* A known option's size is a field range; an unknown one is ENOPROTOOPT below. */
	if (opt_known(opt) == 0 && len != opts[opt].len)
		return -EINVAL;
	s = ext_sock(f, so->id);
	if (!s)
		return -EBADF;
	rc = opt_check(opt, s);
	if (rc < 0)
		return rc;
	c.opt_val[0] = v[0];
	c.opt_val[1] = v[1];
	rc = pvc_back_policy_decide(f, &c, ax);
	if (rc < 0)
		return -EPERM; /* "forbidden here" (docs/extensions.md, "Errors (both commands)") */
	if (opt == PVCALLS_EXT_OPT_SO_LINGER) {
		/* Recorded, never set on the host socket: a host close with a
		 * linger time would block our loop. Applied at RELEASE. */
		if (v[1] < 0)
			return -EINVAL;
		s->linger_on = v[0] != 0;
		s->linger_s = v[1];
		return 0;
	}
	rc = ensure_fd(s);
	if (rc < 0)
		return rc;
	if (setsockopt(s->fd, opts[opt].level, opts[opt].optname, &v[0], sizeof(v[0])) < 0)
		return -errno;
	if (opt == PVCALLS_EXT_OPT_SO_REUSEADDR)
		s->reuseaddr_set = true;
	if (opt == PVCALLS_EXT_OPT_TCP_NODELAY)
		s->nodelay_set = true;
	return 0;
}

static int cmd_getsockopt(struct back_frontend *f, const struct pvcalls_ext_request *req,
			  struct back_audit_ctx *ax, uint32_t *val)
{
	const struct pvcalls_ext_getsockopt *go = &req->u.getsockopt;
	uint32_t opt = go->opt, area = go->area;
	struct back_socket *s;
	int32_t v[2] = { 0, 0 };
	socklen_t l = sizeof(int);
	int rc;

	ax->ext = true;
	ax->ext_arg = opt;
	if (!all_zero(req->u.dummy + sizeof(*go), sizeof(req->u.dummy) - sizeof(*go)) ||
	    area >= PVCALLS_EXT_REPLY_AREAS)
		return -EINVAL;
	s = ext_sock(f, go->id);
	if (!s)
		return -EBADF;
	rc = opt_check(opt, s);
	if (rc < 0)
		return rc;
	if (opt == PVCALLS_EXT_OPT_SO_LINGER) {
		v[0] = s->linger_on;
		v[1] = s->linger_s;
	} else {
		rc = ensure_fd(s);
		if (rc < 0)
			return rc;
		if (getsockopt(s->fd, opts[opt].level, opts[opt].optname, &v[0], &l) < 0)
			return -errno;
		if (opts[opt].boolean)
			v[0] = v[0] != 0;
	}
	reply_area(f, area, v, opts[opt].len);
	*val = opts[opt].len;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* BIND with an extension in force                                        */

/* Whether another of this frontend's passive sockets holds @a's port with
 * SO_REUSEPORT (docs/extensions.md, "Options the backend must not pass
 * straight through", port sharing). */
static bool front_holds(struct back_socket *self, const union pvc_sockaddr *a)
{
	for (struct back_socket *o = self->f->socks; o; o = o->next) {
		int on = 0;
		socklen_t l = sizeof(on);

		if (o == self || o->fd < 0 || (o->state != BS_BOUND && o->state != BS_LISTENING))
			continue;
		if (pvc_sockaddr_port(&o->laddr) != pvc_sockaddr_port(a))
			continue;
		if (getsockopt(o->fd, SOL_SOCKET, SO_REUSEPORT, &on, &l) == 0 && on)
			return true;
	}
	return false;
}

int pvc_back_ext_bind_check(struct back_socket *s, const union pvc_sockaddr *addr)
{
	int one = 1, on = 0, probe, rc = 0;
	socklen_t l = sizeof(on);

	if (!s->reuseaddr_set)
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* v1's default */
	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &on, &l) < 0 || !on)
		return 0;
	if (pvc_sockaddr_port(addr) == 0)
		return 1; /* never shared: bound without the flag, which is then restored */
	/* A probe without the sharing flag: if it binds, nobody holds the port.
	 * Same family and, for AF_INET6, the same IPV6_V6ONLY, so it meets
	 * what the real bind would meet. */
	probe = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->family == AF_INET6) {
		int v6only = 0;

		l = sizeof(v6only);
		if (getsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) == 0)
			setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(probe, &addr->sa, pvc_sockaddr_len(s->family)) < 0) {
		if (errno != EADDRINUSE)
			rc = -errno;
		else if (!front_holds(s, addr))
			rc = -EADDRINUSE;
	}
	close(probe);
	if (rc == -EADDRINUSE)
		pvc_info("back.reuseport",
			 "frontend %u socket %llu: SO_REUSEPORT bind to port %u "
			 "refused: held by another frontend or the host",
			 s->f->feid, (unsigned long long)s->id, pvc_sockaddr_port(addr));
	return rc;
}

/* ---------------------------------------------------------------------- */
/* RING_FREE (docs/extensions.md, "Ring reuse")                           */

static int cmd_ring_free(struct back_frontend *f, const struct pvcalls_ext_request *req)
{
	const struct pvcalls_ext_ring_free *rf = &req->u.ring_free;

	if (rf->id != 0 || !all_zero(req->u.dummy + sizeof(*rf), sizeof(req->u) - sizeof(*rf)))
		return -EINVAL;
	return pvc_back_ring_free(f, rf->ref, rf->evtchn);
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                               */

bool pvc_back_ext_request(struct back_frontend *f, const struct pvcalls_wire_request *raw)
{
	struct pvcalls_ext_request req;
	struct back_audit_ctx ax;
	uint32_t feat = pvc_back_ext_cmd_feature(raw->cmd), val = 0;
	int rc = 0;

	if (!feat || !(f->ext & feat))
		return false;
	memcpy(&req, raw, sizeof(req));
	memset(&ax, 0, sizeof(ax));
	ax.t0 = f->b->audit_fn ? pvc_now_us() : 0;
	ax.decision = PVCALLS_BACK_DECISION_NONE;
	switch (req.cmd) {
	case PVCALLS_EXT_SHUTDOWN:
		rc = cmd_shutdown(f, &req, &ax);
		break;
	case PVCALLS_EXT_GETSOCKNAME:
	case PVCALLS_EXT_GETPEERNAME:
		rc = cmd_getname(f, &req, &ax, &val);
		break;
	case PVCALLS_EXT_SETSOCKOPT:
		rc = cmd_setsockopt(f, &req, &ax);
		break;
	case PVCALLS_EXT_GETSOCKOPT:
		rc = cmd_getsockopt(f, &req, &ax, &val);
		break;
	case PVCALLS_EXT_DGRAM_RINGS:
		rc = pvc_back_dgram_rings(f, &req);
		break;
	case PVCALLS_EXT_RING_FREE:
		rc = cmd_ring_free(f, &req);
		break;
	}
	if (rc < 0) {
		if (rc == -EINVAL)
			ST_ADD(f, bad_commands, 1);
		pvc_debug("back.cmd", "frontend %u: %s id %llu: %s", f->feid,
			  pvcalls_cmd_name(req.cmd), (unsigned long long)req.u.shutdown.id,
			  strerror(-rc));
	}
	respond_val(f, raw, rc, val, &ax);
	return true;
}
