/* SPDX-License-Identifier: MIT */
/*
 * The frontend's side of the negotiated extensions (docs/extensions.md):
 * SHUTDOWN, GETSOCKNAME/GETPEERNAME and SETSOCKOPT/GETSOCKOPT, and the
 * pieces front_cmd.c, front_data.c and front_poll.c call for them.
 *
 * Reply areas: a request that returns one names the area of its own slot
 * (req_id & 31, "Reply areas"), which no other outstanding request of ours
 * can name. The area is copied once, when the response is taken
 * (pvc_fe_ext_complete(), under fe->lock, before the slot is free again),
 * and val is checked against what the command can return before the copy
 * is used.
 *
 * SHUT_WR (rule 1 of "Writing side"): no send may advance out_prod once the
 * SHUTDOWN request is on the ring. A sender marks itself busy, then checks
 * the flag; shutdown sets the flag, then waits for the busy senders to
 * leave (a ring write never blocks), then puts the request. Both sides use
 * sequentially consistent atomics, so either the sender sees the flag or
 * shutdown sees the sender.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <pvcalls/wire_ext.h>

#include "common/clock.h"
#include "common/sockaddr.h"
#include "frontend/front_priv.h"

#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif
#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif

static bool is_ext(uint32_t cmd)
{
	return (cmd & PVCALLS_EXT_CMD_MASK) == PVCALLS_EXT_CMD_BASE;
}

int pvc_fe_ext_rsp_parse(const struct pvcalls_wire_response *raw, struct pvcalls_rsp *rsp)
{
	if (!is_ext(raw->cmd))
		return pvcalls_rsp_parse(raw, rsp);
	if (raw->ret > 0 || raw->ret < -PVCALLS_WIRE_MAX_ERRNO)
		return -EPROTO;
	rsp->req_id = raw->req_id;
	rsp->cmd = raw->cmd;
	rsp->id = raw->u.id;
	rsp->err = pvcalls_errno_from_wire(raw->ret);
	return 0;
}

void pvc_fe_ext_prepare(struct pvcalls_wire_request *req, unsigned slot)
{
	struct pvcalls_ext_request *x = (struct pvcalls_ext_request *)req;

	switch (req->cmd) {
	case PVCALLS_EXT_GETSOCKNAME:
	case PVCALLS_EXT_GETPEERNAME:
		x->u.getname.area = slot;
		break;
	case PVCALLS_EXT_GETSOCKOPT:
		x->u.getsockopt.area = slot;
		break;
	default:
		break;
	}
}

void pvc_fe_ext_complete(pvcalls_front *fe, uint32_t cmd, struct fsock *s, unsigned slot, int err,
			 uint32_t val, struct req_waiter *w)
{
	if (!is_ext(cmd))
		return;
	if (cmd == PVCALLS_EXT_SHUTDOWN && s && s->shut_rd_sent) {
		s->shut_rd_sent = false;
		/* The backend answered the listener's pending ACCEPTs and POLLs
		 * -EINVAL first; it is bound again ("Other states"). Applied
		 * here, with those answers, so a blocked accept sees it. */
		if (!err && s->state == FS_LISTENING) {
			s->state = FS_BOUND;
			s->poll_ready = false;
		}
	}
	if (!w || err)
		return;
	w->val = val;
	if (cmd == PVCALLS_EXT_GETSOCKNAME || cmd == PVCALLS_EXT_GETPEERNAME ||
	    cmd == PVCALLS_EXT_GETSOCKOPT)
		memcpy(w->area, (const uint8_t *)fe->cmd_page + PVCALLS_EXT_REPLY_AREA_OFFSET(slot),
		       sizeof(w->area));
}

bool pvc_fe_ext_tx_enter(struct fsock *s)
{
	__atomic_add_fetch(&s->tx_busy, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->shut_wr, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&s->tx_busy, 1, __ATOMIC_SEQ_CST);
		return false;
	}
	return true;
}

void pvc_fe_ext_tx_leave(struct fsock *s)
{
	__atomic_sub_fetch(&s->tx_busy, 1, __ATOMIC_SEQ_CST);
}

uint32_t pvcalls_front_features(const pvcalls_front *fe)
{
	return fe ? fe->ext : 0;
}

/*
 * Sends extension request @req (id filled here) for socket @h and waits for
 * its answer into @w. @shut_wr: a SHUTDOWN that ends the write side.
 */
static int ext_call(pvcalls_front *fe, int h, struct pvcalls_ext_request *req, struct req_waiter *w,
		    int how)
{
	struct fsock *s;
	int rc;

	pthread_mutex_lock(&fe->lock);
	s = pvc_fe_sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	if (fe->dead || s->sock_err) {
		rc = fe->dead ? -ENOTCONN : s->sock_err; /* SOCKET's (front_sock.c) */
		goto out;
	}
	req->u.shutdown.id = s->id; /* every request carries id at offset 8 */
	w->family = s->family;
	if (how >= 0 && how != SHUT_RD && s->state == FS_CONNECTED) {
		__atomic_store_n(&s->shut_wr, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&s->tx_busy, __ATOMIC_SEQ_CST))
			cpu_relax();
		/* A send asleep waiting for room leaves with -EPIPE, as on Linux. */
		pthread_cond_broadcast(&fe->cond);
		pvc_fe_kick_poller(fe);
	}
	if (how >= 0 && how != SHUT_WR && s->state == FS_LISTENING)
		s->shut_rd_sent = true;
	rc = pvc_fe_submit(fe, (struct pvcalls_wire_request *)req, s, NULL, w,
			   pvc_deadline_ms(fe->cmd_timeout_ms));
	if (rc == 0)
		rc = pvc_fe_await(fe, w, req->cmd, pvc_deadline_ms(fe->cmd_timeout_ms));
	else
		s->shut_rd_sent = false;
out:
	pvc_fe_sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

int pvcalls_front_shutdown(pvcalls_front *fe, int s, int how)
{
	struct pvcalls_ext_request req;
	struct req_waiter w = { 0 };

	if (!fe || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	if (!(fe->ext & PVCALLS_FEATURE_SHUTDOWN))
		return -EOPNOTSUPP;
	memset(&req, 0, sizeof(req));
	req.cmd = PVCALLS_EXT_SHUTDOWN;
	req.u.shutdown.how = how == SHUT_RD   ? PVCALLS_EXT_SHUT_RD
			     : how == SHUT_WR ? PVCALLS_EXT_SHUT_WR
					      : PVCALLS_EXT_SHUT_RDWR;
	return ext_call(fe, s, &req, &w, how);
}

static int getname(pvcalls_front *fe, int s, struct sockaddr *addr, socklen_t *addrlen,
		   uint32_t cmd)
{
	struct pvcalls_ext_request req;
	struct req_waiter w = { 0 };
	uint8_t field[PVCALLS_WIRE_ADDR_LEN];
	union pvc_sockaddr sa;
	socklen_t len;
	int rc;

	if (!fe || !addrlen || (!addr && *addrlen))
		return -EINVAL;
	if (!(fe->ext & PVCALLS_FEATURE_NAMES))
		return -EOPNOTSUPP;
	memset(&req, 0, sizeof(req));
	req.cmd = cmd;
	rc = ext_call(fe, s, &req, &w, -1);
	if (rc < 0)
		return rc;
	/* "Hostile peers": val first (16 with family 2, 28 with family 10),
	 * then the copy; the family must be the socket's ("Names"). */
	if (w.val > sizeof(field))
		return -EPROTO;
	memcpy(field, w.area, sizeof(field));
	if (pvc_sockaddr_from_peer(field, w.val, false, &sa) < 0 || sa.sa.sa_family != w.family)
		return -EPROTO;
	len = pvc_sockaddr_len(sa.sa.sa_family);
	if (*addrlen)
		memcpy(addr, &sa, *addrlen < len ? *addrlen : len);
	*addrlen = len;
	return 0;
}

int pvcalls_front_getsockname(pvcalls_front *fe, int s, struct sockaddr *addr, socklen_t *addrlen)
{
	return getname(fe, s, addr, addrlen, PVCALLS_EXT_GETSOCKNAME);
}

int pvcalls_front_getpeername(pvcalls_front *fe, int s, struct sockaddr *addr, socklen_t *addrlen)
{
	return getname(fe, s, addr, addrlen, PVCALLS_EXT_GETPEERNAME);
}

/* (level, optname) of this host -> option id ("Option identifiers"); 0: none. */
static uint32_t opt_id(int level, int optname)
{
	static const struct {
		int level, name;
		uint32_t id;
	} map[] = {
		{ IPPROTO_TCP, TCP_NODELAY, PVCALLS_EXT_OPT_TCP_NODELAY },
		{ SOL_SOCKET, SO_KEEPALIVE, PVCALLS_EXT_OPT_SO_KEEPALIVE },
		{ IPPROTO_TCP, TCP_KEEPIDLE, PVCALLS_EXT_OPT_TCP_KEEPIDLE },
		{ IPPROTO_TCP, TCP_KEEPINTVL, PVCALLS_EXT_OPT_TCP_KEEPINTVL },
		{ IPPROTO_TCP, TCP_KEEPCNT, PVCALLS_EXT_OPT_TCP_KEEPCNT },
		{ SOL_SOCKET, SO_LINGER, PVCALLS_EXT_OPT_SO_LINGER },
		{ SOL_SOCKET, SO_RCVBUF, PVCALLS_EXT_OPT_SO_RCVBUF },
		{ SOL_SOCKET, SO_SNDBUF, PVCALLS_EXT_OPT_SO_SNDBUF },
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, PVCALLS_EXT_OPT_TCP_USER_TIMEOUT },
		{ SOL_SOCKET, SO_REUSEADDR, PVCALLS_EXT_OPT_SO_REUSEADDR },
		{ SOL_SOCKET, SO_REUSEPORT, PVCALLS_EXT_OPT_SO_REUSEPORT },
		{ IPPROTO_IP, IP_TOS, PVCALLS_EXT_OPT_IP_TOS },
		{ IPPROTO_IPV6, IPV6_V6ONLY, PVCALLS_EXT_OPT_IPV6_V6ONLY },
		{ IPPROTO_IPV6, IPV6_TCLASS, PVCALLS_EXT_OPT_IPV6_TCLASS },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].level == level && map[i].name == optname)
			return map[i].id;
	return 0;
}

int pvcalls_front_setsockopt(pvcalls_front *fe, int s, int level, int optname, const void *optval,
			     socklen_t optlen)
{
	uint32_t id = opt_id(level, optname);
	uint32_t len = id == PVCALLS_EXT_OPT_SO_LINGER ? 8u : 4u;
	struct pvcalls_ext_request req;
	struct req_waiter w = { 0 };
	int32_t v[2];

	if (!fe)
		return -EINVAL;
	if (!id || !(fe->ext & PVCALLS_FEATURE_SOCKOPT))
		return -ENOPROTOOPT;
	if (!optval || optlen < len)
		return -EINVAL;
	if (id == PVCALLS_EXT_OPT_SO_LINGER) {
		struct linger lg;

		memcpy(&lg, optval, sizeof(lg));
		v[0] = lg.l_onoff;
		v[1] = lg.l_linger;
	} else {
		memcpy(&v[0], optval, sizeof(v[0]));
	}
	memset(&req, 0, sizeof(req));
	req.cmd = PVCALLS_EXT_SETSOCKOPT;
	req.u.setsockopt.opt = id;
	req.u.setsockopt.len = len;
	memcpy(req.u.setsockopt.val, v, len);
	return ext_call(fe, s, &req, &w, -1);
}

int pvcalls_front_getsockopt(pvcalls_front *fe, int s, int level, int optname, void *optval,
			     socklen_t *optlen)
{
	uint32_t id = opt_id(level, optname);
	uint32_t len = id == PVCALLS_EXT_OPT_SO_LINGER ? 8u : 4u;
	struct pvcalls_ext_request req;
	struct req_waiter w = { 0 };
	int32_t v[2];
	int rc;

	if (!fe || !optlen || (!optval && *optlen))
		return -EINVAL;
	if (!id || !(fe->ext & PVCALLS_FEATURE_SOCKOPT))
		return -ENOPROTOOPT;
	memset(&req, 0, sizeof(req));
	req.cmd = PVCALLS_EXT_GETSOCKOPT;
	req.u.getsockopt.opt = id;
	rc = ext_call(fe, s, &req, &w, -1);
	if (rc < 0)
		return rc;
	if (w.val != len)
		return -EPROTO;
	memcpy(v, w.area, len);
	if (id == PVCALLS_EXT_OPT_SO_LINGER) {
		struct linger lg = { .l_onoff = v[0], .l_linger = v[1] };

		if (*optlen)
			memcpy(optval, &lg, *optlen < sizeof(lg) ? *optlen : sizeof(lg));
		*optlen = sizeof(lg);
	} else {
		if (*optlen)
			memcpy(optval, &v[0], *optlen < sizeof(int) ? *optlen : sizeof(int));
		*optlen = sizeof(int);
	}
	return 0;
}
