/* SPDX-License-Identifier: MIT */
/*
 * The command ring and the seven commands.
 *
 * Each request is copied out of the ring once (pvcalls_cmd_back_get) and
 * checked by pvcalls_req_parse(); only the copy is looked at afterwards.
 * Every request gets exactly one response, echoing req_id, cmd and id.
 * CONNECT, ACCEPT and POLL may be answered later, from the event loop;
 * they keep their ring slot until then, so the frontend's 32 slots bound
 * how much can be pending.
 *
 * Socket ids (the table is back_sock.c's). SOCKET records an id; CONNECT
 * and BIND also accept an id that never saw SOCKET (Linux keeps no state
 * for SOCKET, so its frontends may rely on that): such a socket is
 * "implicit", and forgotten again if that CONNECT or BIND fails. A live
 * id is never created twice (-EEXIST).
 *
 * Choices where the protocol leaves one (docs/protocol-notes.md, "Commands"), or where we differ from Linux on
 * purpose (see also backend.h):
 *  - a bad ring_order answers -EINVAL (Linux: -EFAULT, as for any mapping
 *    failure); a ref or port the transport refuses answers -EFAULT, but
 *    the transport's shortage (-ENOBUFS: its mapping budget for this
 *    frontend; -ENOMEM) is answered as such, since a retry may succeed;
 *  - limits: -EMFILE for sockets and listeners, -ENOBUFS for pending
 *    ACCEPTs and mapped pages;
 *  - a CONNECT or ACCEPT pending on a socket being released is answered
 *    -EBADF before the RELEASE, like a listener's pending ACCEPT/POLL;
 *  - CONNECT on a bound socket connects from the bound address; on a
 *    listener it answers -EISCONN (what connect(2) says);
 *  - BIND to a port sets SO_REUSEADDR, as servers do, so a TIME_WAIT left
 *    by an earlier socket does not block rebinding (PV Calls has no
 *    setsockopt and Linux frontends leave RELEASE's reuse as garbage). But
 *    Linux lets two SO_REUSEADDR sockets bind one address and port while
 *    neither listens, and the first to LISTEN wins: one guest could take
 *    over another's port between its BIND and its LISTEN. So a BIND to an
 *    address and port that a BOUND or LISTENING socket of any frontend
 *    holds (same address, or either one INADDR_ANY) is refused with
 *    -EADDRINUSE; the kernel refuses a bind over a listener anyway. BIND
 *    to port 0 sets no SO_REUSEADDR: the kernel then picks a port nobody
 *    holds;
 *  - LISTEN and ACCEPT on an unknown or non-listening id answer -EINVAL;
 *  - accept4() short of host fds or memory fails the oldest ACCEPT once
 *    per shortage, and the listener is retried until it works again
 *    (accept_one).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "common/log.h"

#define SOCK_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define LISTEN_EVENTS (EPOLLIN | EPOLLET)
/* accept4() attempts per listener service call (bounds ECONNABORTED loops). */
#define ACCEPT_BATCH 64

/* ---------------------------------------------------------------------- */
/* Responses                                                              */

/* @ax: the request's audit context (NULL: taken just now, no decision). */
void pvc_back_respond(struct back_frontend *f, const struct pvcalls_wire_request *req, int err,
		      const struct back_audit_ctx *ax)
{
	pvc_back_respond_val(f, req, err, 0, ax);
}

void pvc_back_respond_val(struct back_frontend *f, const struct pvcalls_wire_request *req, int err,
			  uint32_t val, const struct back_audit_ctx *ax)
{
	struct pvcalls_wire_response rsp;

	pvcalls_rsp_build(&rsp, req, err);
	rsp.pad = err ? 0 : val;
	if (pvcalls_cmd_back_put(&f->cmd, &rsp) < 0)
		pvc_err("back.bug", "frontend %u: response to %s req_id %u without a slot", f->feid,
			pvcalls_cmd_name(req->cmd), req->req_id);
	if (rsp.ret && req->cmd < PVCALLS_WIRE_NR_CMDS)
		ST_ADD(f, commands_failed[req->cmd], 1);
	if (f->b->audit_fn)
		pvc_back_audit_emit(f, req, rsp.ret, ax);
}

/* A deferred POLL's audit context. */
static struct back_audit_ctx poll_ax(const struct back_poll *p)
{
	struct back_audit_ctx ax = { .t0 = p->t0 };

	return ax;
}

void pvc_back_flush(struct back_frontend *f)
{
	if (!f->connected || !pvcalls_cmd_back_push(&f->cmd))
		return;
	pvc_back_notify_cmd(f); /* retried if it fails (back_data.c) */
}

/* ---------------------------------------------------------------------- */
/* Release                                                                */

/*
 * RELEASE (@answer: pending requests get -EBADF first) or frontend
 * teardown (@answer false: the ring is going away, nothing is sent).
 * @graceful: what the out ring holds is still sent (not after a violation).
 */
static bool sock_release(struct back_socket *s, bool answer, bool graceful)
{
	struct back_frontend *f = s->f;
	bool parked = false;

	switch (s->state) {
	case BS_ACTIVE:
		if (graceful)
			pvc_back_sock_finish(s);
		/* Ring reuse: only a RELEASE parks (docs/extensions.md). */
		if (answer && graceful)
			parked = pvc_back_ring_park(s);
		break;
	case BS_DGRAM:
		if (graceful)
			pvc_back_dgram_finish(s);
		break;
	case BS_CONNECTING:
	case BS_ACCEPTING:
		if (answer)
			pvc_back_respond(f, &s->req, -EBADF, &s->ax);
		break;
	case BS_BOUND:
	case BS_LISTENING:
		while (s->acc_head) {
			struct back_socket *a = s->acc_head;

			if (answer)
				pvc_back_respond(f, &a->req, -EBADF, &a->ax);
			pvc_back_sock_destroy(a); /* unlinks a from s */
		}
		for (struct back_poll *p = s->poll_head; p && answer; p = p->next) {
			struct back_audit_ctx ax = poll_ax(p);

			pvc_back_respond(f, &p->req, -EBADF, &ax);
		}
		break;
	default:
		break;
	}
	pvc_back_sock_destroy(s);
	return parked;
}

void pvc_back_release_all(struct back_frontend *f, bool graceful)
{
	while (f->socks)
		sock_release(f->socks, false, graceful);
	/* After the sockets: a failing reuse parks its ring again. */
	pvc_back_parked_free_all(f);
}

/* ---------------------------------------------------------------------- */
/* Deferred completions                                                   */

void pvc_back_connect_done(struct back_socket *s)
{
	struct back_frontend *f = s->f;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err == 0) {
		pvc_debug("back.connect", "frontend %u socket %llu connected", f->feid,
			  (unsigned long long)s->id);
		pvc_back_respond(f, &s->req, 0, &s->ax);
		pvc_back_sock_activate(s, true);
	} else {
		pvc_debug("back.connect", "frontend %u socket %llu: connect: %s", f->feid,
			  (unsigned long long)s->id, strerror(err));
		pvc_back_respond(f, &s->req, -err, &s->ax);
		pvc_back_sock_close_fd(s);
		pvc_back_ring_unmap(f, s);
		pvc_back_sock_set_state(s, BS_NEW);
		if (s->implicit)
			pvc_back_sock_destroy(s);
	}
	pvc_back_flush(f);
}

/* Takes one connection for the oldest pending ACCEPT. Returns false to stop. */
static bool accept_one(struct back_socket *l)
{
	struct back_frontend *f = l->f;
	struct back_socket *s = l->acc_head;
	int fd, rc;

	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			return true;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			pvc_back_set_starved(l, false);
			return false;
		}
		/*
		 * A host shortage (EMFILE, ENFILE, ENOBUFS, ENOMEM): the oldest
		 * ACCEPT carries it, as accept(2) would, once per shortage; the
		 * others keep waiting. The connections stay queued and no new
		 * edge comes for them, so the listener is retried every
		 * BACK_STARVED_US until accept4() works again.
		 */
		rc = -errno;
		if (!l->starved) {
			pvc_warn("back.accept", "frontend %u listener %llu: accept: %s", f->feid,
				 (unsigned long long)l->id, strerror(errno));
			pvc_back_respond(f, &s->req, rc, &s->ax);
			pvc_back_sock_destroy(s);
		}
		pvc_back_set_starved(l, true);
		return false;
	}
	pvc_back_set_starved(l, false);
	pvc_back_accept_unlink(s);
	s->fd = fd;
	s->family = l->family; /* accept4() gives the listener's family */
	/* The SO_LINGER record is inherited as the host's options are. */
	s->linger_on = l->linger_on;
	s->linger_s = l->linger_s;
	s->nodelay_set = l->nodelay_set; /* and so is TCP_NODELAY (back_sock.c) */
	rc = pvc_back_sock_epoll(s, SOCK_EVENTS);
	if (rc < 0) {
		pvc_back_respond(f, &s->req, rc, &s->ax);
		pvc_back_sock_destroy(s);
		return true;
	}
	pvc_debug("back.accept", "frontend %u listener %llu: accepted socket %llu", f->feid,
		  (unsigned long long)l->id, (unsigned long long)s->id);
	pvc_back_respond(f, &s->req, 0, &s->ax);
	pvc_back_sock_activate(s, false);
	return true;
}

void pvc_back_set_starved(struct back_socket *l, bool starved)
{
	pvcalls_back *b = l->f->b;

	if (l->starved == starved)
		return;
	l->starved = starved;
	if (starved) {
		if (!b->nstarved++)
			b->starved_us = pvc_now_us() + BACK_STARVED_US;
	} else {
		b->nstarved--;
	}
}

void pvc_back_starved_retry(pvcalls_back *b)
{
	int64_t now = pvc_now_us();
	struct back_socket *l, *next;

	if (!b->nstarved || now < b->starved_us)
		return;
	b->starved_us = now + BACK_STARVED_US;
	for (l = b->passive; l; l = next) {
		struct pvc_log_gate *g;

		next = l->pnext;
		if (!l->starved)
			continue;
		if (!l->acc_head) { /* nobody waits: the next edge will do */
			pvc_back_set_starved(l, false);
			continue;
		}
		g = pvc_back_gate(l->f);
		pvc_back_listener_service(l);
		pvc_back_ungate(l->f, g);
	}
}

/* Answers what a listener can answer now: ACCEPTs first (FIFO), then POLLs
 * if connections are still queued. */
void pvc_back_listener_service(struct back_socket *l)
{
	struct back_frontend *f = l->f;
	bool answered = false;

	if (l->state != BS_LISTENING || l->dead)
		return;
	for (int i = 0; i < ACCEPT_BATCH && l->acc_head; i++) {
		answered = true;
		if (!accept_one(l))
			break;
	}
	if (l->poll_head) {
		struct pollfd p = { .fd = l->fd, .events = POLLIN };

		if (poll(&p, 1, 0) > 0 && p.revents) {
			while (l->poll_head) {
				struct back_poll *q = l->poll_head;
				struct back_audit_ctx ax = poll_ax(q);

				l->poll_head = q->next;
				pvc_back_respond(f, &q->req, 0, &ax);
				free(q);
			}
			l->poll_tail = NULL;
			answered = true;
		}
	}
	if (answered)
		pvc_back_flush(f);
}

/* ---------------------------------------------------------------------- */
/* Commands. Each returns an error to answer now, 0 to answer success, or */
/* 1 when the answer was or will be given elsewhere.                      */

static int cmd_socket(struct back_frontend *f, const struct pvcalls_req *req,
		      const struct back_xreq *x)
{
	struct back_socket *s;
	int rc;

	if (pvc_back_sock_find(f, req->id))
		return -EEXIST;
	if (!pvc_back_sock_budget(f))
		return -EMFILE;
	s = pvc_back_sock_new(f, req->id);
	if (!s)
		return -ENOMEM;
	/* docs/extensions.md, "Host socket at SOCKET": options and names
	 * asked before CONNECT or BIND apply to the socket they then use. */
	if (f->ext & (PVCALLS_FEATURE_NAMES | PVCALLS_FEATURE_SOCKOPT | PVCALLS_FEATURE_INET6 |
		      PVCALLS_FEATURE_DGRAM)) {
		rc = pvc_back_ext_socket(s, x);
		if (rc < 0) {
			pvc_back_sock_destroy(s);
			return rc;
		}
	}
	return 0;
}

/* The id for CONNECT or BIND: the existing socket, or a new (implicit) one. */
static int sock_for(struct back_frontend *f, uint64_t id, struct back_socket **out)
{
	struct back_socket *s = pvc_back_sock_find(f, id);

	if (s) {
		*out = s;
		return 0;
	}
	if (!pvc_back_sock_budget(f))
		return -EMFILE;
	s = pvc_back_sock_new(f, id);
	if (!s)
		return -ENOMEM;
	s->implicit = true;
	*out = s;
	return 0;
}

static void forget_implicit(struct back_socket *s)
{
	if (s->implicit && s->state == BS_NEW)
		pvc_back_sock_destroy(s);
}

static int cmd_connect(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		       const struct pvcalls_req *req, const struct back_xreq *x,
		       const struct back_audit_ctx *ax)
{
	struct back_socket *s = pvc_back_sock_find(f, req->id);
	int rc;

	if (s && s->state == BS_LISTENING)
		return -EISCONN;
	if (s && s->state != BS_NEW && s->state != BS_BOUND)
		return -EEXIST;
	rc = sock_for(f, req->id, &s);
	if (rc < 0)
		return rc;
	rc = pvc_back_ring_take(f, s, req->u.connect.ref, req->u.connect.evtchn);
	if (rc < 0) {
		forget_implicit(s);
		return rc;
	}
	if (s->fd < 0) {
		/* Of the socket's family: an AF_INET6 socket whose earlier
		 * CONNECT failed stays AF_INET6. */
		s->fd = socket(s->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			rc = -errno;
			pvc_back_ring_unmap(f, s);
			forget_implicit(s);
			return rc;
		}
	}
	pvc_back_sock_set_state(s, BS_CONNECTING);
	s->req = *raw;
	s->ax = *ax;
	rc = pvc_back_sock_epoll(s, SOCK_EVENTS);
	if (rc == 0) {
		if (connect(s->fd, &x->addr.sa, x->alen) == 0) {
			pvc_back_respond(f, raw, 0, ax);
			pvc_back_sock_activate(s, false);
			return 1;
		}
		/*
		 * On loopback the handshake usually completes inside the
		 * connect() call (the listener's softirq runs before it
		 * returns), so a second connect() answers now: 0 once
		 * established, the error once refused, EALREADY while the
		 * handshake goes on. Saves an epoll round and SO_ERROR per
		 * connection; costs one syscall for a remote peer. Otherwise
		 * answered by pvc_back_connect_done() on EPOLLOUT.
		 */
		if (errno == EINPROGRESS &&
		    (connect(s->fd, &x->addr.sa, x->alen) == 0 || errno == EISCONN)) {
			pvc_back_respond(f, raw, 0, ax);
			pvc_back_sock_activate(s, false);
			return 1;
		}
		if (errno == EINPROGRESS || errno == EALREADY || errno == EINTR)
			return 1;
		rc = -errno;
	}
	pvc_back_sock_close_fd(s);
	pvc_back_ring_unmap(f, s);
	pvc_back_sock_set_state(s, BS_NEW);
	forget_implicit(s);
	return rc;
}

/* BIND on the host socket SOCKET made: the options set before it apply;
 * on failure the socket stays NEW with its host socket. */
static int bind_ext(struct back_socket *s, const struct back_xreq *x)
{
	const union pvc_sockaddr *addr = &x->addr;
	int rc = pvc_back_ext_bind_check(s, addr), off = 0, on = 1, v6only = 0, share = 0;
	bool restore = rc == 1;
	socklen_t alen = sizeof(v6only);

	if (rc < 0)
		return rc;
	if (s->family == AF_INET6 &&
	    getsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &alen) < 0)
		v6only = 0;
	alen = sizeof(share);
	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &share, &alen) < 0)
		share = 0;
	/* As v1's BIND: no bound socket of any frontend may hold the address
	 * (with SO_REUSEPORT, the probe above judged the sharing). */
	if (!share && pvc_sockaddr_port(addr) && pvc_back_addr_taken(s->f->b, addr, v6only != 0))
		return -EADDRINUSE;
	/* A port-0 bind is never shared: the host must not pick a port
	 * another socket of this host user holds with SO_REUSEPORT. */
	if (restore)
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &off, sizeof(off));
	rc = bind(s->fd, &addr->sa, x->alen) < 0 ? -errno : 0;
	if (restore)
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (rc < 0)
		return rc;
	alen = sizeof(s->baddr);
	if (getsockname(s->fd, &s->baddr.sa, &alen) < 0)
		s->baddr = *addr;
	s->v6only = v6only != 0;
	s->laddr = *addr;
	pvc_back_sock_set_state(s, BS_BOUND);
	return 0;
}

static int cmd_bind(struct back_frontend *f, const struct pvcalls_req *req,
		    const struct back_xreq *x)
{
	struct back_socket *s = pvc_back_sock_find(f, req->id);
	socklen_t alen;
	int one = 1, fd, rc;

	if (s && s->state != BS_NEW)
		return -EEXIST;
	if (f->npassive >= f->lim.max_listeners)
		return -EMFILE;
	rc = sock_for(f, req->id, &s);
	if (rc < 0)
		return rc;
	if (s->fd < 0 && s->family != AF_INET) { /* its CONNECT failed: a new one */
		rc = pvc_back_ext_ensure_fd(s);
		if (rc < 0)
			return rc;
	}
	if (s->fd >= 0) /* made at SOCKET (an extension is in force): back_ext.c */
		return bind_ext(s, x);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		forget_implicit(s);
		return rc;
	}
	if (req->u.bind.addr.sin_port) {
		if (pvc_back_addr_taken(f->b, &x->addr, false)) {
			close(fd);
			forget_implicit(s);
			return -EADDRINUSE;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(fd, (const struct sockaddr *)&req->u.bind.addr, sizeof(req->u.bind.addr)) < 0) {
		rc = -errno;
		close(fd);
		forget_implicit(s);
		return rc;
	}
	alen = sizeof(s->baddr.in);
	if (getsockname(fd, &s->baddr.sa, &alen) < 0)
		s->baddr = x->addr;
	s->fd = fd;
	s->laddr = x->addr;
	pvc_back_sock_set_state(s, BS_BOUND);
	return 0;
}

static int cmd_listen(struct back_frontend *f, const struct pvcalls_req *req)
{
	struct back_socket *s = pvc_back_sock_find(f, req->id);
	int backlog = req->u.listen.backlog;
	int rc;

	if (!s || (s->state != BS_BOUND && s->state != BS_LISTENING))
		return -EINVAL;
	if ((uint32_t)backlog > f->lim.max_backlog)
		backlog = (int)f->lim.max_backlog;
	if (listen(s->fd, backlog) < 0)
		return -errno;
	if (s->state == BS_BOUND) {
		rc = pvc_back_sock_epoll(s, LISTEN_EVENTS);
		if (rc < 0)
			return rc;
		pvc_back_sock_set_state(s, BS_LISTENING);
		/* POLLs may have waited since BIND. */
		pvc_back_listener_service(s);
	}
	return 0;
}

static int cmd_accept(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		      const struct pvcalls_req *req, const struct back_audit_ctx *ax)
{
	const struct pvcalls_back_limits *lim = &f->lim;
	struct back_socket *l = pvc_back_sock_find(f, req->id), *s;
	int rc;

	if (!l || l->state != BS_LISTENING)
		return -EINVAL;
	if (pvc_back_sock_find(f, req->u.accept.id_new))
		return -EEXIST;
	if (!pvc_back_sock_budget(f))
		return -EMFILE;
	if (f->naccepting >= lim->max_pending_accepts)
		return -ENOBUFS;
	s = pvc_back_sock_new(f, req->u.accept.id_new);
	if (!s)
		return -ENOMEM;
	/* Mapped now, so a bad ref fails at once instead of losing a connection. */
	rc = pvc_back_ring_take(f, s, req->u.accept.ref, req->u.accept.evtchn);
	if (rc < 0) {
		pvc_back_sock_destroy(s);
		return rc;
	}
	pvc_back_sock_set_state(s, BS_ACCEPTING);
	s->req = *raw;
	s->ax = *ax;
	s->listener = l;
	if (l->acc_tail)
		l->acc_tail->acc_next = s;
	else
		l->acc_head = s;
	l->acc_tail = s;
	pvc_back_listener_service(l);
	return 1;
}

static int cmd_poll(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		    const struct pvcalls_req *req, const struct back_audit_ctx *ax)
{
	struct back_socket *l = pvc_back_sock_find(f, req->id);
	struct back_poll *p;

	if (!l || (l->state != BS_BOUND && l->state != BS_LISTENING))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->req = *raw;
	p->t0 = ax->t0;
	if (l->poll_tail)
		l->poll_tail->next = p;
	else
		l->poll_head = p;
	l->poll_tail = p;
	pvc_back_listener_service(l);
	return 1;
}

/* RELEASE answers val 1 when it parked the socket's ring (ring reuse). */
static int cmd_release(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		       const struct pvcalls_req *req, const struct back_audit_ctx *ax)
{
	struct back_socket *s = pvc_back_sock_find(f, req->id);

	if (!s || !sock_release(s, true, true))
		return 0;
	ST_ADD(f, rings_parked, 1);
	pvc_back_respond_val(f, raw, 0, 1, ax);
	return 1;
}

/*
 * Puts CONNECT, BIND and LISTEN to the policy (and CONNECT to the rate
 * limit). Returns 0 or the error to answer.
 */
/* Whether AF_INET6 socket @s would also take IPv4 (IPV6_V6ONLY off, as
 * the host reports it now): a BIND on :: is then a listen on 0.0.0.0 too. */
static bool dual_stack(const struct back_socket *s)
{
	int v6only = 1;
	socklen_t l = sizeof(v6only);

	if (!s || s->family != AF_INET6 || s->fd < 0)
		return false;
	if (s->state == BS_BOUND)
		return !s->v6only;
	return getsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) == 0 && !v6only;
}

/*
 * Puts CONNECT, BIND and LISTEN to the policy (and CONNECT to the rate
 * limit). Returns 0 or the error to answer.
 */
static int check_policy(struct back_frontend *f, const struct pvcalls_req *req,
			const struct back_xreq *x, struct back_audit_ctx *ax)
{
	struct pvcalls_back_call c = { .domid = f->feid,
				       .devid = f->devid,
				       .cmd = req->cmd,
				       .id = req->id,
				       .type = PVCALLS_WIRE_SOCK_STREAM };
	struct back_socket *s = pvc_back_sock_find(f, req->id);

	switch (req->cmd) {
	case PVCALLS_WIRE_CONNECT:
	case PVCALLS_WIRE_BIND:
		if (x->addr.sa.sa_family == AF_INET6)
			c.addr6 = x->addr.in6;
		else
			c.addr = x->addr.in;
		break;
	case PVCALLS_WIRE_LISTEN:
		/* Only a bound socket: the rest is answered -EINVAL anyway. */
		if (!s || s->state != BS_BOUND)
			return 0;
		if (s->laddr.sa.sa_family == AF_INET6)
			c.addr6 = s->laddr.in6;
		else
			c.addr = s->laddr.in;
		break;
	default:
		return 0;
	}
	return pvc_back_policy_judge(f, &c, req->cmd != PVCALLS_WIRE_CONNECT && dual_stack(s), ax);
}

static void handle_req(struct back_frontend *f, const struct pvcalls_wire_request *raw)
{
	struct back_audit_ctx ax = { 0 };
	struct pvcalls_req req;
	struct back_xreq x;
	int rc;

	/* docs/extensions.md: ours only when in force; otherwise the
	 * unknown command v1 answers below. */
	if ((raw->cmd & PVCALLS_EXT_CMD_MASK) == PVCALLS_EXT_CMD_BASE &&
	    pvc_back_ext_request(f, raw))
		return;
	/* SOCKET of type SOCK_DGRAM and commands naming a datagram socket. */
	if (pvc_back_dgram_request(f, raw))
		return;
	rc = pvcalls_req_parse(raw, &req);
	rc = pvc_back_ext_parse(f, raw, &req, rc, &x);
	ax.t0 = f->b->audit_fn ? pvc_now_us() : 0;
	ax.decision = PVCALLS_BACK_DECISION_NONE;
	ax.reason[0] = 0;
	if (raw->cmd < PVCALLS_WIRE_NR_CMDS)
		ST_ADD(f, commands[raw->cmd], 1);
	if (rc) {
		ST_ADD(f, bad_commands, 1);
		pvc_debug("back.bad-cmd", "frontend %u: %s (cmd %u) req_id %u id %llu: %s", f->feid,
			  pvcalls_cmd_name(raw->cmd), raw->cmd, raw->req_id,
			  (unsigned long long)req.id,
			  rc == -PVCALLS_WIRE_ENOTSUPP ? "unknown command" : strerror(-rc));
		pvc_back_respond(f, raw, rc, &ax);
		return;
	}
	rc = check_policy(f, &req, &x, &ax);
	if (rc < 0) {
		pvc_back_respond(f, raw, rc, &ax);
		return;
	}
	switch (req.cmd) {
	case PVCALLS_WIRE_SOCKET:
		rc = cmd_socket(f, &req, &x);
		break;
	case PVCALLS_WIRE_CONNECT:
		rc = cmd_connect(f, raw, &req, &x, &ax);
		break;
	case PVCALLS_WIRE_RELEASE:
		rc = cmd_release(f, raw, &req, &ax);
		break;
	case PVCALLS_WIRE_BIND:
		rc = cmd_bind(f, &req, &x);
		break;
	case PVCALLS_WIRE_LISTEN:
		rc = cmd_listen(f, &req);
		break;
	case PVCALLS_WIRE_ACCEPT:
		rc = cmd_accept(f, raw, &req, &ax);
		break;
	case PVCALLS_WIRE_POLL:
		rc = cmd_poll(f, raw, &req, &ax);
		break;
	}
	if (rc == -EMFILE || rc == -ENOBUFS)
		ST_ADD(f, limit_hits, 1);
	if (rc != 1) {
		if (rc < 0)
			pvc_debug("back.cmd", "frontend %u: %s id %llu: %s", f->feid,
				  pvcalls_cmd_name(req.cmd), (unsigned long long)req.id,
				  strerror(-rc));
		pvc_back_respond(f, raw, rc, &ax);
	}
}

/* ---------------------------------------------------------------------- */
/* Command rate (backend.h, cmd_rate; docs/threat-model.md, "Isolation    */
/* under abuse")                                                          */

void pvc_back_cmd_rate_init(struct back_frontend *f)
{
	if (!f->lim.cmd_burst)
		f->lim.cmd_burst = 1;
	pvc_bucket_fill(&f->cmd_bucket, f->lim.cmd_burst, pvc_now_us()); /* fresh: full */
}

/* Whether another frontend than @f had work done lately (b->act_f). */
static bool contended(const pvcalls_back *b, const struct back_frontend *f, int64_t now)
{
	int i = b->act_f[0] == f ? 1 : 0;

	return b->act_f[i] && now - b->act_us[i] < BACK_CMD_CONTEND_US;
}

/*
 * Whether @f's next request may be served now. A token is spent whenever
 * there is one, contended or not, so a frontend that flooded while alone
 * meets a contention with an empty bucket; without a token it is served
 * anyway unless another frontend has work (work-conserving). Otherwise @f
 * is held until its next token is due and false is returned.
 */
static bool cmd_admit(struct back_frontend *f)
{
	pvcalls_back *b = f->b;
	uint32_t rate = f->lim.cmd_rate;
	int64_t now, wake;

	if (rate == PVCALLS_BACK_UNLIMITED)
		return true;
	/* The round's clock, not a clock read per request: the bucket then
	 * fills late by at most one round, which only matters when held. */
	now = b->round_us;
	if (pvc_bucket_take(&f->cmd_bucket, rate, f->lim.cmd_burst, now))
		return true;
	if (!contended(b, f, now))
		return true;
	wake = now + pvc_bucket_wait_us(&f->cmd_bucket, rate);
	if (wake < now + BACK_CMD_HOLD_MIN_US)
		wake = now + BACK_CMD_HOLD_MIN_US;
	ST_ADD(f, cmd_held, 1);
	pvc_back_cmd_held_add(b, f, wake);
	return false;
}

/* The frontend's ring is going away: nothing of it stays scheduled. */
void pvc_back_cmd_sched_stop(pvcalls_back *b, struct back_frontend *f)
{
	pvc_back_cmd_hot_del(b, f);
	pvc_back_cmd_held_del(b, f);
	f->cmd_stashed = false;
}

/*
 * Takes up to BACK_CMD_BATCH requests off @f's ring and answers what can
 * be answered. Returns the number of requests taken.
 *
 * A request held back by the command rate was already copied off the ring
 * (there is no peek): it waits in f->cmd_stash and is the next one served,
 * so the order of @f's requests never changes. It keeps its ring slot
 * until answered, like a pending ACCEPT.
 */
int pvc_back_cmd_service(struct back_frontend *f)
{
	pvcalls_back *b = f->b;
	struct pvcalls_wire_request req;
	int n = 0, rc;

	f->cmd_more = false;
	while (f->connected) {
		if (f->cmd_held)
			break; /* its timer serves it (backend.c, held_run) */
		if (n == (int)BACK_CMD_BATCH) {
			/* Fairness: the rest waits for the next round. */
			f->cmd_more = true;
			f->last_us = pvc_now_us();
			pvc_back_cmd_hot_add(b, f);
			pvc_back_mark_work(b);
			break;
		}
		if (f->cmd_stashed) {
			req = f->cmd_stash;
			rc = 1;
		} else {
			rc = pvcalls_cmd_back_get(&f->cmd, &req);
		}
		if (rc == 0) {
			if (f->cmd_hot)
				break; /* polled: req_event stays unarmed */
			if (n > 0 && b->spin_us) {
				f->last_us = pvc_now_us();
				pvc_back_cmd_hot_add(b, f);
				break;
			}
			rc = pvcalls_cmd_back_final_check(&f->cmd);
			if (rc == 0)
				break;
			if (rc > 0)
				continue;
		}
		if (rc < 0) {
			pvc_warn("back.cmd-proto",
				 "frontend %u/%u: impossible command ring indexes; disconnecting",
				 f->feid, f->devid);
			pvc_back_front_disconnect(f, true);
			return n;
		}
		if (!cmd_admit(f)) {
			f->cmd_stash = req;
			f->cmd_stashed = true;
			break;
		}
		f->cmd_stashed = false;
		handle_req(f, &req);
		n++;
	}
	if (n > 0)
		pvc_back_active(b, f, b->round_us);
	pvc_back_flush(f);
	return n;
}
