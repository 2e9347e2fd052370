/* SPDX-License-Identifier: MIT */
/*
 * libpvcalls-preload: socket calls on PV Calls sockets, with Linux TCP
 * semantics and errnos where protocol version 1 allows, and further with
 * the negotiated extensions the backend offers (shutdown, names, sockopt;
 * docs/running-programs.md has the table).
 *
 * Every frontend socket is non-blocking; blocking, timeouts, EINTR and
 * SA_RESTART are done here (pv_wait), so a signal interrupts a blocked
 * call as the kernel's would.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shim.h"

#define DEFAULT_BUF 131072

/* Calls into libpvcalls. */
#define FE(expr)                     \
	({                           \
		__typeof__(expr) _r; \
		LIB_ENTER();         \
		_r = (expr);         \
		LIB_LEAVE();         \
		_r;                  \
	})

/*
 * Command calls: they may sleep inside libpvcalls and handle events other
 * threads were waiting for; those threads look again (mux.c, sleepers).
 */
#define FEC(expr)                                                      \
	({                                                             \
		__typeof__(expr) _c = FE(expr);                        \
		if (__atomic_load_n(&g_threads, __ATOMIC_RELAXED) > 1) \
			shim_kick_sleepers();                          \
		_c;                                                    \
	})

static int placeholder(int type_flags)
{
	return R.socket(AF_UNIX, SOCK_STREAM | (type_flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
}

/* Gives a new PV socket @h of @family (datagram if @dgram) an fd.
 * Returns the fd or -1/errno. */
static int adopt(pvcalls_front *fe, int h, int flags, enum pvstate st, int family, bool dgram)
{
	struct pvsock *e;
	int fd = placeholder(flags);

	if (fd < 0) {
		int err = errno;

		FEC(pvcalls_front_release(fe, h));
		return ERR(err);
	}
	fd_fresh(fd);
	e = pvs_new(h, flags & SOCK_NONBLOCK);
	if (!e || pvs_install(fd, e) < 0) {
		R.close(fd);
		if (e)
			free(e);
		FEC(pvcalls_front_release(fe, h));
		return ERR(e ? EMFILE : ENOMEM);
	}
	e->state = st;
	e->family = family;
	e->dgram = dgram;
	return fd;
}

static bool ext_on(pvcalls_front *fe, uint32_t bit);

bool shim_dgram_on(pvcalls_front *fe)
{
	return ext_on(fe, PVCALLS_FEATURE_DGRAM);
}

bool shim_inet6_on(void)
{
	pvcalls_front *fe = shim_fe_now();

	return fe && ext_on(fe, PVCALLS_FEATURE_INET6);
}

void shim_say_no_dgram(void)
{
	static bool said;

	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		shim_say("the backend does not offer datagram sockets: UDP and DNS use the "
			 "kernel's network (glibc's resolver)");
}

static int kernel_socket(int domain, int type, int protocol)
{
	int fd = R.socket(domain, type, protocol);

	if (fd >= 0)
		fd_fresh(fd);
	return fd;
}

/*
 * AF_INET and AF_INET6 TCP and UDP sockets. TCP: AF_INET always a PV
 * socket (ENETDOWN without a backend: fail closed); AF_INET6 a PV socket
 * when the inet6 extension is in force, else EAFNOSUPPORT (never the
 * kernel: programs fall back to IPv4 on it). UDP: a PV socket when the
 * dgram extension is in force (and inet6 for AF_INET6, else EAFNOSUPPORT
 * from the frontend); without dgram, or without a backend, the kernel's, as
 * before the extension existed (in an empty network namespace it has no
 * route). docs/running-programs.md.
 */
SHIM_EXPORT int socket(int domain, int type, int protocol)
{
	pvcalls_front *fe;
	int err = 0, h, base = type & 0xff;
	bool stream = base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
	bool dgram = base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP);

	shim_init();
	if (t_inlib || (domain != AF_INET && domain != AF_INET6) || (!stream && !dgram))
		return kernel_socket(domain, type, protocol);
	if (type & ~(0xff | SOCK_NONBLOCK | SOCK_CLOEXEC))
		return ERR(EINVAL);
	shim_note_thread();
	fe = shim_fe(&err);
	if (dgram && (!fe || !shim_dgram_on(fe))) {
		if (fe)
			shim_say_no_dgram();
		return kernel_socket(domain, type, protocol);
	}
	if (!fe)
		return ERR(err);
	if (domain == AF_INET6 && !ext_on(fe, PVCALLS_FEATURE_INET6))
		return ERR(EAFNOSUPPORT);
	h = FEC(pvcalls_front_socket(fe, domain, base | SOCK_NONBLOCK, 0));
	if (h < 0)
		return ERR(h == -ENOTCONN ? ENETDOWN : -h);
	return adopt(fe, h, type, PS_NEW, domain, dgram);
}

/* The socket's frontend, or NULL with errno (inherited, backend gone). */
static pvcalls_front *fe_of(struct pvsock *e)
{
	pvcalls_front *fe;

	if (!pvs_usable(e))
		return NULL;
	fe = shim_fe_now();
	if (!fe)
		errno = EBADF;
	return fe;
}

/*
 * True if extension @bit (PVCALLS_FEATURE_*) is in force on this
 * connection (docs/extensions.md); without it the v1 emulation applies.
 */
static bool ext_on(pvcalls_front *fe, uint32_t bit)
{
	return (FE(pvcalls_front_features(fe)) & bit) != 0;
}

/* The size of an address of @family (sockaddr_in or sockaddr_in6). */
static socklen_t fam_len(int family)
{
	return family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
				  : (socklen_t)sizeof(struct sockaddr_in);
}

/*
 * Copies a caller's address for socket @e: its family must be the
 * socket's (EAFNOSUPPORT, as Linux); an AF_INET6 one may be the 24-byte
 * form without scope id (then 0).
 */
static int addr_in(const struct pvsock *e, const struct sockaddr *a, socklen_t len,
		   union pvaddr *out)
{
	socklen_t need = e->family == AF_INET6 ? 24 : (socklen_t)sizeof(struct sockaddr_in);

	if (!a || len < sizeof(sa_family_t))
		return -EINVAL;
	if (a->sa_family != e->family)
		return -EAFNOSUPPORT;
	if (len < need)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out, a, len < fam_len(e->family) ? len : fam_len(e->family));
	return 0;
}

/* Stores @in (of @family) into a caller's buffer, truncated as the kernel
 * does, with the full length in *len. */
static void addr_out(const union pvaddr *in, int family, struct sockaddr *a, socklen_t *len)
{
	socklen_t n, full = fam_len(family);

	if (!a || !len)
		return;
	n = *len < full ? *len : full;
	memcpy(a, in, n);
	*len = full;
}

/* The wildcard address of @family, port 0. */
static union pvaddr any_of(int family)
{
	union pvaddr u;

	memset(&u, 0, sizeof(u));
	u.sa.sa_family = (sa_family_t)family;
	return u;
}

/*
 * Settles a non-blocking connect whose answer came: state and so_error.
 * e->lock held.
 */
static void settle_connect(pvcalls_front *fe, struct pvsock *e)
{
	int rc;

	if (e->state != PS_CONNECTING)
		return;
	rc = FEC(pvcalls_front_connect(fe, e->h, &e->peer.sa, fam_len(e->family)));
	if (rc == -EALREADY || rc == -EINPROGRESS)
		return;
	if (rc == 0 || rc == -EISCONN) {
		e->state = PS_CONNECTED;
	} else {
		e->state = PS_NEW;
		/* The backend went away (frontend.h, "Backend restarts"): the
		 * network is down, as socket() says in that case too. */
		e->so_error = rc == -ENOTCONN ? ENETDOWN : -rc;
		e->has_peer = false;
	}
}

/* Looks whether a pending connect ended, without waiting. e->lock held. */
static void poll_connect(pvcalls_front *fe, struct pvsock *e)
{
	struct pvcalls_ready r = { .sock = e->h, .events = POLLOUT };

	if (e->state != PS_CONNECTING)
		return;
	if (shim_front_ready(fe, &r, 1) > 0)
		settle_connect(fe, e);
}

static void sigpipe(int flags)
{
	if (!(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
}

/* ---------------------------------------------------------------------- */

/*
 * connect() on a datagram socket: sets the peer (answered at once, like
 * UDP's), or with AF_UNSPEC dissolves it (docs/extensions.md, "Datagram
 * sockets").
 */
static int dg_connect(pvcalls_front *fe, struct pvsock *e, const struct sockaddr *addr,
		      socklen_t len)
{
	union pvaddr sin;
	int rc;

	if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
		sin = any_of(AF_UNSPEC);
		pthread_mutex_lock(&e->lock);
		rc = FEC(pvcalls_front_connect(fe, e->h, &sin.sa, sizeof(sa_family_t)));
		if (rc == 0)
			e->has_peer = false;
		pthread_mutex_unlock(&e->lock);
		return rc < 0 ? ERR(-rc) : 0;
	}
	rc = addr_in(e, addr, len, &sin);
	if (rc < 0)
		return ERR(-rc);
	pthread_mutex_lock(&e->lock);
	rc = e->state == PS_CLOSED || e->h < 0
		     ? -EBADF
		     : FEC(pvcalls_front_connect(fe, e->h, &sin.sa, fam_len(e->family)));
	if (rc == 0) {
		e->peer = sin;
		e->has_peer = true;
	}
	pthread_mutex_unlock(&e->lock);
	return rc < 0 ? ERR(rc == -ENOTCONN ? ENETDOWN : -rc) : 0;
}

static int do_connect(struct pvsock *e, const struct sockaddr *addr, socklen_t len)
{
	pvcalls_front *fe = fe_of(e);
	union pvaddr sin;
	int rc, tmo;

	if (!fe)
		return -1;
	if (e->dgram)
		return dg_connect(fe, e, addr, len);
	rc = addr_in(e, addr, len, &sin);
	if (rc < 0)
		return ERR(-rc);
	pthread_mutex_lock(&e->lock);
	switch (e->state) {
	case PS_CONNECTED:
		pthread_mutex_unlock(&e->lock);
		return ERR(EISCONN);
	case PS_CONNECTING:
		poll_connect(fe, e);
		if (e->state == PS_CONNECTING && e->nonblock) {
			pthread_mutex_unlock(&e->lock);
			return ERR(EALREADY);
		}
		break;
	case PS_NEW:
		if (e->so_error) { /* an earlier connect failed: report it once */
			rc = e->so_error;
			e->so_error = 0;
			pthread_mutex_unlock(&e->lock);
			return ERR(rc);
		}
		e->peer = sin;
		e->has_peer = true;
		rc = FEC(pvcalls_front_connect(fe, e->h, &sin.sa, fam_len(e->family)));
		if (rc == 0) {
			e->state = PS_CONNECTED;
			pthread_mutex_unlock(&e->lock);
			return 0;
		}
		if (rc != -EINPROGRESS) {
			e->has_peer = false;
			pthread_mutex_unlock(&e->lock);
			return ERR(rc == -ENOTCONN ? ENETDOWN : -rc);
		}
		e->state = PS_CONNECTING;
		if (e->nonblock) {
			pthread_mutex_unlock(&e->lock);
			return ERR(EINPROGRESS);
		}
		break;
	case PS_CLOSED:
		pthread_mutex_unlock(&e->lock);
		return ERR(EBADF);
	default: /* bound or listening: v1 cannot connect a bound socket */
		pthread_mutex_unlock(&e->lock);
		return ERR(EINVAL);
	}
	tmo = e->sndtimeo_ms;
	pthread_mutex_unlock(&e->lock);
	/* Blocking: wait for the answer like the kernel, interruptible. */
	for (;;) {
		pthread_mutex_lock(&e->lock);
		poll_connect(fe, e);
		if (e->state != PS_CONNECTING) {
			if (e->state == PS_CONNECTED) {
				rc = 0;
			} else {
				rc = e->so_error;
				e->so_error = 0;
			}
			pthread_mutex_unlock(&e->lock);
			return rc ? ERR(rc) : 0;
		}
		pthread_mutex_unlock(&e->lock);
		rc = pv_wait(e, POLLOUT, tmo);
		if (rc == -EAGAIN)
			return ERR(EINPROGRESS); /* SO_SNDTIMEO: as Linux */
		if (rc == -EINTR)
			return ERR(EINTR); /* the connect goes on, as in Linux */
		if (rc < 0)
			return ERR(-rc);
	}
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pvsock *e;
	int rc;

	shim_init();
	e = pvs_get(fd);
	if (!e)
		return R.connect(fd, addr, len);
	shim_note_thread();
	rc = do_connect(e, addr, len);
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	union pvaddr sin;
	pvcalls_front *fe;
	int rc;

	if (!e)
		return R.bind(fd, addr, len);
	rc = -1;
	if ((fe = fe_of(e))) {
		rc = addr_in(e, addr, len, &sin);
		pthread_mutex_lock(&e->lock);
		/* A connected UDP socket is bound already (Linux: EINVAL). */
		if (rc == 0 && (e->state != PS_NEW || (e->dgram && e->has_peer)))
			rc = -EINVAL;
		if (rc == 0)
			rc = FEC(pvcalls_front_bind(fe, e->h, &sin.sa, fam_len(e->family)));
		if (rc == 0) {
			e->state = PS_BOUND;
			e->local = sin;
			e->has_local = true;
		}
		pthread_mutex_unlock(&e->lock);
		rc = rc < 0 ? ERR(rc == -ENOTCONN ? ENETDOWN : -rc) : 0;
	}
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	pvcalls_front *fe;
	int rc = -1;

	if (!e)
		return R.listen(fd, backlog);
	if (e->dgram) {
		pvs_put(e);
		return ERR(EOPNOTSUPP); /* as Linux for UDP */
	}
	if ((fe = fe_of(e))) {
		pthread_mutex_lock(&e->lock);
		if (e->state == PS_NEW) {
			/* Linux binds an unbound socket to an ephemeral port. */
			union pvaddr sin = any_of(e->family);

			rc = FEC(pvcalls_front_bind(fe, e->h, &sin.sa, fam_len(e->family)));
			if (rc == 0) {
				e->state = PS_BOUND;
				e->local = sin;
				e->has_local = true;
			}
		}
		if (e->state == PS_BOUND || e->state == PS_LISTEN)
			rc = FEC(pvcalls_front_listen(fe, e->h, backlog < 0 ? 0 : backlog));
		else
			rc = -EINVAL;
		if (rc == 0)
			e->state = PS_LISTEN;
		pthread_mutex_unlock(&e->lock);
		rc = rc < 0 ? ERR(-rc) : 0;
	}
	pvs_put(e);
	return rc;
}

static int do_accept(struct pvsock *e, struct sockaddr *addr, socklen_t *alen, int flags)
{
	pvcalls_front *fe = fe_of(e);
	int h, rc, fd;

	if (!fe)
		return -1;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return ERR(EINVAL);
	if (e->dgram)
		return ERR(EOPNOTSUPP);
	for (;;) {
		bool nb;
		int tmo;

		pthread_mutex_lock(&e->lock);
		if (e->state != PS_LISTEN) {
			pthread_mutex_unlock(&e->lock);
			return ERR(EINVAL);
		}
		nb = e->nonblock;
		tmo = e->rcvtimeo_ms;
		pthread_mutex_unlock(&e->lock);
		h = FEC(pvcalls_front_accept(fe, e->h, SOCK_NONBLOCK));
		if (h >= 0)
			break;
		if (h != -EAGAIN)
			return ERR(h == -ENOTCONN ? ECONNABORTED : -h);
		if (nb)
			return ERR(EAGAIN);
		rc = pv_wait(e, POLLIN, tmo);
		if (rc < 0)
			return ERR(-rc);
	}
	fd = adopt(fe, h, flags, PS_CONNECTED, e->family, false);
	if (fd < 0)
		return -1;
	{
		struct pvsock *ne = pvs_get(fd);

		if (ne) {
			ne->accepted = true;
			ne->local = e->local;
			ne->has_local = e->has_local;
			pvs_put(ne);
		}
	}
	{
		/* v1 does not carry the peer's address; the names extension does. */
		union pvaddr peer = any_of(e->family);
		socklen_t pl = sizeof(peer);

		if (ext_on(fe, PVCALLS_FEATURE_NAMES) &&
		    (FEC(pvcalls_front_getpeername(fe, h, &peer.sa, &pl)) < 0 ||
		     pl != fam_len(e->family) || peer.sa.sa_family != e->family))
			peer = any_of(e->family);
		addr_out(&peer, e->family, addr, alen);
	}
	return fd;
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	int rc;

	if (!e) {
		rc = R.accept4(fd, addr, alen, flags);
		if (rc >= 0)
			fd_fresh(rc);
		return rc;
	}
	shim_note_thread();
	rc = do_accept(e, addr, alen, flags);
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	int rc;

	if (!e) {
		rc = R.accept(fd, addr, alen);
		if (rc >= 0)
			fd_fresh(rc);
		return rc;
	}
	shim_note_thread();
	rc = do_accept(e, addr, alen, 0);
	pvs_put(e);
	return rc;
}

/*
 * shutdown(). With the SHUTDOWN extension a connected socket is shut down
 * on the backend's host socket (the peer sees the end of the stream after
 * SHUT_WR while this side goes on reading); the flags below keep local
 * sends failing with EPIPE and reads at end of stream, as Linux.
 *
 * Without it (v1 has no half-close): SHUT_RD is local (reads see end of
 * stream); SHUT_WR is local (sends fail with EPIPE; the peer sees the end
 * only at close); SHUT_RDWR releases the PV socket at once (the peer sees
 * the end of the stream) unless another thread is inside a call on it.
 * Listeners are released in both cases.
 */
SHIM_EXPORT int shutdown(int fd, int how)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	pvcalls_front *fe;
	int rc = 0, h = -1;

	if (!e)
		return R.shutdown(fd, how);
	if (!(fe = fe_of(e))) {
		pvs_put(e);
		return -1;
	}
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		pvs_put(e);
		return ERR(EINVAL);
	}
	pthread_mutex_lock(&e->lock);
	if (e->state == PS_CONNECTING)
		poll_connect(fe, e);
	if (e->dgram) {
		/* UDP: local flags on a connected socket, as Linux. */
		if (!e->has_peer) {
			rc = ERR(ENOTCONN);
		} else {
			if (how != SHUT_WR)
				e->shut_rd = true;
			if (how != SHUT_RD)
				e->shut_wr = true;
		}
	} else if (e->state != PS_CONNECTED && e->state != PS_LISTEN && e->state != PS_CLOSED) {
		rc = ERR(ENOTCONN);
	} else if (e->state == PS_CONNECTED && e->h >= 0 && ext_on(fe, PVCALLS_FEATURE_SHUTDOWN)) {
		int r = FEC(pvcalls_front_shutdown(fe, e->h, how));

		if (r < 0) {
			rc = ERR(-r);
		} else {
			if (how != SHUT_WR)
				e->shut_rd = true;
			if (how != SHUT_RD)
				e->shut_wr = true;
		}
	} else {
		if (how != SHUT_WR)
			e->shut_rd = true;
		if (how != SHUT_RD)
			e->shut_wr = true;
		if ((e->shut_rd && e->shut_wr) || (e->state == PS_LISTEN && how != SHUT_WR)) {
			pthread_mutex_lock(&g_lock);
			/* Only the fds' references and ours: nobody uses the handle. */
			if (e->h >= 0 &&
			    __atomic_load_n(&e->refs, __ATOMIC_ACQUIRE) == e->nfd + 1) {
				h = e->h;
				e->h = -1;
				e->state = PS_CLOSED;
			} else if (e->h >= 0) {
				e->release_pending = true;
			}
			pthread_mutex_unlock(&g_lock);
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (h >= 0)
		FEC(pvcalls_front_release(fe, h));
	pvs_put(e);
	return rc;
}

/*
 * Names: with the names extension, the backend's host socket answers (the
 * port a bind to port 0 chose, the local end of a connection, the peer of
 * an accepted one); without it, what bind and connect recorded.
 */
SHIM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	pvcalls_front *fe;

	if (!e)
		return R.getsockname(fd, addr, len);
	if (!(fe = fe_of(e))) {
		pvs_put(e);
		return -1;
	}
	if (!addr || !len) {
		pvs_put(e);
		return ERR(EFAULT);
	}
	pthread_mutex_lock(&e->lock);
	{
		union pvaddr sin, any = any_of(e->family);
		socklen_t sl = sizeof(sin);

		if (e->h >= 0 && e->state != PS_CLOSED && ext_on(fe, PVCALLS_FEATURE_NAMES) &&
		    FEC(pvcalls_front_getsockname(fe, e->h, &sin.sa, &sl)) == 0 &&
		    sl == fam_len(e->family) && sin.sa.sa_family == e->family)
			addr_out(&sin, e->family, addr, len);
		else
			addr_out(e->has_local ? &e->local : &any, e->family, addr, len);
	}
	pthread_mutex_unlock(&e->lock);
	pvs_put(e);
	return 0;
}

SHIM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	pvcalls_front *fe;
	int rc = 0;

	if (!e)
		return R.getpeername(fd, addr, len);
	if (!(fe = fe_of(e))) {
		pvs_put(e);
		return -1;
	}
	pthread_mutex_lock(&e->lock);
	poll_connect(fe, e);
	if (e->dgram) {
		/* The peer connect() set, until AF_UNSPEC dissolves it. */
		if (!e->has_peer)
			rc = ERR(ENOTCONN);
		else if (!addr || !len)
			rc = ERR(EFAULT);
		else
			addr_out(&e->peer, e->family, addr, len);
	} else if (e->state == PS_CONNECTED && e->h >= 0 && ext_on(fe, PVCALLS_FEATURE_NAMES)) {
		union pvaddr sin;
		socklen_t sl = sizeof(sin);
		int r;

		if (!addr || !len) {
			rc = ERR(EFAULT);
		} else if ((r = FEC(pvcalls_front_getpeername(fe, e->h, &sin.sa, &sl))) < 0) {
			rc = ERR(-r);
		} else if (sl != fam_len(e->family) || sin.sa.sa_family != e->family) {
			rc = ERR(EPROTO);
		} else {
			addr_out(&sin, e->family, addr, len);
		}
	} else if (e->state != PS_CONNECTED || (e->shut_rd && e->shut_wr)) {
		rc = ERR(ENOTCONN);
	} else if (!addr || !len) {
		rc = ERR(EFAULT);
	} else {
		union pvaddr any = any_of(e->family);

		addr_out(e->has_peer ? &e->peer : &any, e->family, addr, len);
	}
	pthread_mutex_unlock(&e->lock);
	pvs_put(e);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Options                                                                */
/* ---------------------------------------------------------------------- */

enum okind { O_REC, O_TIMEO };

struct odesc {
	int level, name;
	enum okind kind;
	int def; /* default for int options */
};

/*
 * Without the sockopt extension (or for options outside its set): recorded,
 * not applied (v1 cannot); getsockopt returns what was set.
 */
static const struct odesc g_opts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE, O_REC, 0 },
	{ SOL_SOCKET, SO_REUSEADDR, O_REC, 0 },
	{ SOL_SOCKET, SO_REUSEPORT, O_REC, 0 },
	{ SOL_SOCKET, SO_RCVBUF, O_REC, DEFAULT_BUF },
	{ SOL_SOCKET, SO_SNDBUF, O_REC, DEFAULT_BUF },
	{ SOL_SOCKET, SO_LINGER, O_REC, 0 },
	{ SOL_SOCKET, SO_OOBINLINE, O_REC, 0 },
	{ SOL_SOCKET, SO_PRIORITY, O_REC, 0 },
	{ SOL_SOCKET, SO_RCVTIMEO, O_TIMEO, 0 },
	{ SOL_SOCKET, SO_SNDTIMEO, O_TIMEO, 0 },
	{ IPPROTO_TCP, TCP_NODELAY, O_REC, 0 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, O_REC, 7200 },
	{ IPPROTO_TCP, TCP_KEEPINTVL, O_REC, 75 },
	{ IPPROTO_TCP, TCP_KEEPCNT, O_REC, 9 },
	{ IPPROTO_TCP, TCP_CORK, O_REC, 0 },
	{ IPPROTO_TCP, TCP_QUICKACK, O_REC, 1 },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, O_REC, 0 },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, O_REC, 0 },
	{ IPPROTO_TCP, TCP_MAXSEG, O_REC, 1448 },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, O_REC, 0 },
	{ IPPROTO_IP, IP_TOS, O_REC, 0 },
	{ IPPROTO_IP, IP_TTL, O_REC, 64 },
	{ IPPROTO_IPV6, IPV6_V6ONLY, O_REC, 0 },
};

/*
 * The options of the sockopt extension (docs/extensions.md, "Socket
 * options"): with it in force they are set and read on the backend's host
 * socket, so the host's values, range checks and errnos apply. The
 * frontend creates the host socket at socket(), so options set before
 * connect or bind reach the socket those then use.
 */
static bool opt_ext(int level, int name)
{
	static const int sol[] = { SO_KEEPALIVE, SO_LINGER,    SO_RCVBUF,
				   SO_SNDBUF,    SO_REUSEADDR, SO_REUSEPORT };
	static const int tcp[] = { TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
				   TCP_USER_TIMEOUT };

	if (level == SOL_SOCKET) {
		for (size_t i = 0; i < sizeof(sol) / sizeof(sol[0]); i++)
			if (sol[i] == name)
				return true;
	} else if (level == IPPROTO_TCP) {
		for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
			if (tcp[i] == name)
				return true;
	} else if (level == IPPROTO_IP) {
		return name == IP_TOS;
	} else if (level == IPPROTO_IPV6) {
		return name == IPV6_V6ONLY || name == IPV6_TCLASS;
	}
	return false;
}

/* True if option (level, name) of @e goes to the backend. e->lock held. */
static bool opt_remote(pvcalls_front *fe, struct pvsock *e, int level, int name)
{
	return fe && e->h >= 0 && e->state != PS_CLOSED && opt_ext(level, name) &&
	       ext_on(fe, PVCALLS_FEATURE_SOCKOPT);
}

/* Levels a socket's protocol lacks: ENOPROTOOPT, as Linux answers. */
static bool opt_foreign(const struct pvsock *e, int level)
{
	return (level == IPPROTO_TCP && e->dgram) ||
	       (level == IPPROTO_IPV6 && e->family != AF_INET6);
}

static const struct odesc *odesc_find(int level, int name)
{
	for (size_t i = 0; i < sizeof(g_opts) / sizeof(g_opts[0]); i++)
		if (g_opts[i].level == level && g_opts[i].name == name)
			return &g_opts[i];
	return NULL;
}

static struct pvopt *opt_slot(struct pvsock *e, int level, int name, bool add)
{
	for (int i = 0; i < e->nopts; i++)
		if (e->opts[i].level == level && e->opts[i].name == name)
			return &e->opts[i];
	if (!add || e->nopts == SHIM_NOPTS)
		return NULL;
	e->opts[e->nopts].level = level;
	e->opts[e->nopts].name = name;
	return &e->opts[e->nopts++];
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len || *len < (socklen_t)sizeof(int))
		return ERR(EINVAL);
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	const struct odesc *d;
	pvcalls_front *fe;
	struct pvopt *o;
	int rc = 0;

	if (!e)
		return R.setsockopt(fd, level, name, val, len);
	if (!pvs_usable(e)) {
		pvs_put(e);
		return -1;
	}
	d = odesc_find(level, name);
	fe = shim_fe_now();
	pthread_mutex_lock(&e->lock);
	if (opt_foreign(e, level)) {
		rc = ERR(ENOPROTOOPT);
	} else if (opt_remote(fe, e, level, name)) {
		int r = FEC(pvcalls_front_setsockopt(fe, e->h, level, name, val, len));

		rc = r < 0 ? ERR(-r) : 0;
	} else if (!d) {
		rc = ERR(ENOPROTOOPT);
	} else if (!val || len < (socklen_t)sizeof(int) || len > 16) {
		rc = ERR(EINVAL);
	} else if (d->kind == O_TIMEO) {
		struct timeval tv;
		int ms;

		if (len < (socklen_t)sizeof(tv)) {
			rc = ERR(EINVAL);
		} else {
			memcpy(&tv, val, sizeof(tv));
			ms = tv.tv_sec == 0 && tv.tv_usec == 0
				     ? -1
				     : (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
			if (name == SO_RCVTIMEO)
				e->rcvtimeo_ms = ms;
			else
				e->sndtimeo_ms = ms;
		}
	} else if (level == SOL_SOCKET && name == SO_LINGER &&
		   ((const struct linger *)val)->l_onoff) {
		rc = ERR(ENOPROTOOPT); /* would change what close() does: cannot */
	} else if ((o = opt_slot(e, level, name, true))) {
		int v;

		memcpy(o->val, val, len);
		o->len = len;
		if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) {
			memcpy(&v, val, sizeof(v));
			v = v < 1152 ? 2304 : v * 2; /* as Linux reports it back */
			memcpy(o->val, &v, sizeof(v));
			o->len = sizeof(v);
		}
	} else {
		rc = ERR(ENOMEM);
	}
	pthread_mutex_unlock(&e->lock);
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	const struct odesc *d;
	pvcalls_front *fe;
	struct pvopt *o;
	int rc;

	if (!e)
		return R.getsockopt(fd, level, name, val, len);
	if (!(fe = fe_of(e))) {
		pvs_put(e);
		return -1;
	}
	pthread_mutex_lock(&e->lock);
	if (level == SOL_SOCKET && name == SO_ERROR) {
		poll_connect(fe, e);
		rc = put_int(val, len, e->so_error);
		if (rc == 0)
			e->so_error = 0;
	} else if (level == SOL_SOCKET && name == SO_TYPE) {
		rc = put_int(val, len, e->dgram ? SOCK_DGRAM : SOCK_STREAM);
	} else if (level == SOL_SOCKET && name == SO_DOMAIN) {
		rc = put_int(val, len, e->family);
	} else if (level == SOL_SOCKET && name == SO_PROTOCOL) {
		rc = put_int(val, len, e->dgram ? IPPROTO_UDP : IPPROTO_TCP);
	} else if (level == SOL_SOCKET && name == SO_ACCEPTCONN) {
		rc = put_int(val, len, e->state == PS_LISTEN);
	} else if (opt_foreign(e, level)) {
		rc = ERR(ENOPROTOOPT);
	} else if (opt_remote(fe, e, level, name)) {
		int r;

		if (!val || !len)
			rc = ERR(EFAULT);
		else if ((r = FEC(pvcalls_front_getsockopt(fe, e->h, level, name, val, len))) < 0)
			rc = ERR(-r);
		else
			rc = 0;
	} else if (!(d = odesc_find(level, name))) {
		rc = ERR(ENOPROTOOPT);
	} else if (!val || !len) {
		rc = ERR(EFAULT);
	} else if (d->kind == O_TIMEO) {
		int ms = name == SO_RCVTIMEO ? e->rcvtimeo_ms : e->sndtimeo_ms;
		struct timeval tv = { 0 };

		if (ms > 0) {
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
		}
		if (*len < (socklen_t)sizeof(tv)) {
			rc = ERR(EINVAL);
		} else {
			memcpy(val, &tv, sizeof(tv));
			*len = sizeof(tv);
			rc = 0;
		}
	} else if ((o = opt_slot(e, level, name, false))) {
		socklen_t n = *len < o->len ? *len : o->len;

		memcpy(val, o->val, n);
		*len = n;
		rc = 0;
	} else if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger l = { 0 };

		if (*len < (socklen_t)sizeof(l)) {
			rc = ERR(EINVAL);
		} else {
			memcpy(val, &l, sizeof(l));
			*len = sizeof(l);
			rc = 0;
		}
	} else {
		rc = put_int(val, len, d->def);
	}
	pthread_mutex_unlock(&e->lock);
	pvs_put(e);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Data                                                                   */
/* ---------------------------------------------------------------------- */

/* Checks before a data call; returns 0 or a positive errno. e->lock held. */
static int data_state(pvcalls_front *fe, struct pvsock *e, bool tx)
{
	if (e->state == PS_CONNECTING)
		poll_connect(fe, e);
	if (e->so_error) {
		int err = e->so_error;

		e->so_error = 0;
		return err;
	}
	if (e->state == PS_CONNECTING)
		return EAGAIN; /* the caller waits for the connect if it blocks */
	if (e->state != PS_CONNECTED && e->state != PS_CLOSED)
		return tx ? EPIPE : ENOTCONN;
	return 0;
}

/*
 * Datagram sockets (docs/extensions.md, "Datagram sockets"): one call, one
 * datagram, whatever the iov count; the frontend's sendmsg/recvmsg keep the
 * records, addresses, MSG_TRUNC and MSG_PEEK. As for streams, the frontend
 * is always asked not to block and the waiting is done here (pv_wait), so
 * timeouts, EINTR and SA_RESTART behave as on a stream socket.
 */
static ssize_t dg_sendmsg(struct pvsock *e, const struct msghdr *m, int flags)
{
	pvcalls_front *fe = fe_of(e);
	struct msghdr mm;
	bool nb;
	int tmo, h, rc;

	if (!fe)
		return -errno;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	if (m->msg_controllen)
		return -EOPNOTSUPP; /* no ancillary data (IP_PKTINFO...) here */
	mm = *m;
	if (!mm.msg_namelen || !mm.msg_name) {
		mm.msg_name = NULL;
		mm.msg_namelen = 0;
	}
	pthread_mutex_lock(&e->lock);
	nb = e->nonblock || (flags & MSG_DONTWAIT);
	tmo = e->sndtimeo_ms;
	h = e->h;
	rc = e->shut_wr || e->state == PS_CLOSED || h < 0 ? -EPIPE : 0;
	pthread_mutex_unlock(&e->lock);
	if (rc) {
		sigpipe(flags);
		return rc;
	}
	for (;;) {
		/* Linux's MSG_CONFIRM, MSG_MORE...: hints that change nothing here. */
		ssize_t n = FEC(pvcalls_front_sendmsg(fe, h, &mm, MSG_DONTWAIT | MSG_NOSIGNAL));

		if (n != -EAGAIN)
			return n == -ENOTCONN ? -ENETDOWN : n;
		if (nb)
			return -EAGAIN;
		rc = pv_wait(e, POLLOUT, tmo);
		if (rc < 0)
			return rc;
	}
}

static ssize_t dg_recvmsg(struct pvsock *e, struct msghdr *m, int flags)
{
	pvcalls_front *fe = fe_of(e);
	bool nb;
	int tmo, h, rc;

	if (!fe)
		return -errno;
	if (flags & MSG_OOB)
		return -EINVAL;
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;
	for (;;) {
		pthread_mutex_lock(&e->lock);
		nb = e->nonblock || (flags & MSG_DONTWAIT);
		tmo = e->rcvtimeo_ms;
		h = e->h;
		rc = e->shut_rd || e->state == PS_CLOSED || h < 0;
		pthread_mutex_unlock(&e->lock);
		if (rc) { /* Linux: 0 after shutdown(SHUT_RD) */
			m->msg_namelen = 0;
			m->msg_controllen = 0;
			m->msg_flags = 0;
			return 0;
		}
		ssize_t n = FE(pvcalls_front_recvmsg(
			fe, h, m, (flags & (MSG_PEEK | MSG_TRUNC)) | MSG_DONTWAIT));

		if (n != -EAGAIN)
			return n == -ENOTCONN ? -ENETDOWN : n;
		if (nb)
			return -EAGAIN;
		rc = pv_wait(e, POLLIN, tmo);
		if (rc < 0)
			return rc;
	}
}

/* One datagram from/to a plain buffer, with an optional address. */
static ssize_t dg_xfer(struct pvsock *e, void *buf, size_t len, int flags, bool out,
		       struct sockaddr *a, socklen_t *alen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (a && alen) {
		m.msg_name = a;
		m.msg_namelen = *alen;
	}
	if (out)
		return dg_sendmsg(e, &m, flags);
	n = dg_recvmsg(e, &m, flags);
	if (n >= 0 && a && alen)
		*alen = m.msg_namelen;
	return n;
}

/* send() on a PV socket. Returns bytes or -errno. */
static ssize_t pv_send(struct pvsock *e, const void *buf, size_t len, int flags)
{
	pvcalls_front *fe;
	size_t done = 0;
	bool nb;
	int tmo, err, h;

	if (e->dgram)
		return dg_xfer(e, (void *)buf, len, flags, true, NULL, NULL);
	fe = fe_of(e);
	if (!fe)
		return -errno;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&e->lock);
	err = data_state(fe, e, true);
	if (!err && (e->shut_wr || e->state == PS_CLOSED))
		err = EPIPE;
	nb = e->nonblock || (flags & MSG_DONTWAIT);
	tmo = e->sndtimeo_ms;
	h = e->h;
	pthread_mutex_unlock(&e->lock);
	if (err == EAGAIN && !nb) {
		/* A blocking send during a connect waits for it, like Linux. */
		int rc = pv_wait(e, POLLOUT, tmo);

		if (rc < 0)
			return rc;
		return pv_send(e, buf, len, flags);
	}
	if (err) {
		if (err == EPIPE)
			sigpipe(flags);
		return -err;
	}
	if (len == 0)
		return 0;
	for (;;) {
		ssize_t n = FE(pvcalls_front_send(fe, h, (const char *)buf + done, len - done,
						  MSG_DONTWAIT));
		int rc;

		if (n > 0) {
			done += (size_t)n;
			if (done == len)
				return (ssize_t)done;
			continue;
		}
		if (n == 0)
			n = -EAGAIN;
		if (n != -EAGAIN) {
			if (done)
				return (ssize_t)done;
			if (n == -EPIPE)
				sigpipe(flags);
			return n == -ENOTCONN ? -EPIPE : n;
		}
		if (nb)
			return done ? (ssize_t)done : -EAGAIN;
		rc = pv_wait(e, POLLOUT, tmo);
		if (rc < 0)
			return done ? (ssize_t)done : rc;
	}
}

/* recv() on a PV socket. Returns bytes or -errno. */
static ssize_t pv_recv(struct pvsock *e, void *buf, size_t len, int flags)
{
	pvcalls_front *fe;
	size_t got = 0;
	bool nb, waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
	int tmo, err, h, ff = flags & (MSG_PEEK);

	if (e->dgram)
		return dg_xfer(e, buf, len, flags, false, NULL, NULL);
	fe = fe_of(e);
	if (!fe)
		return -errno;
	if (flags & MSG_OOB)
		return -EINVAL;
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;
	for (;;) {
		pthread_mutex_lock(&e->lock);
		err = data_state(fe, e, false);
		nb = e->nonblock || (flags & MSG_DONTWAIT);
		tmo = e->rcvtimeo_ms;
		h = e->h;
		if (!err && (e->shut_rd || e->state == PS_CLOSED || e->release_pending)) {
			pthread_mutex_unlock(&e->lock);
			return (ssize_t)got; /* end of stream */
		}
		pthread_mutex_unlock(&e->lock);
		if (err == EAGAIN && !nb) { /* still connecting */
			int rc = pv_wait(e, POLLOUT, tmo);

			if (rc < 0)
				return rc;
			continue;
		}
		if (err)
			return got ? (ssize_t)got : -err;
		if (len == 0)
			return 0;
		ssize_t n = FE(
			pvcalls_front_recv(fe, h, (char *)buf + got, len - got, ff | MSG_DONTWAIT));
		if (n > 0) {
			got += (size_t)n;
			if (!waitall || got == len)
				return (ssize_t)got;
			continue;
		}
		if (n == 0)
			return (ssize_t)got;
		if (n != -EAGAIN)
			return got ? (ssize_t)got : (n == -ENOTCONN ? -ECONNRESET : n);
		if (nb)
			return got ? (ssize_t)got : -EAGAIN;
		int rc = pv_wait(e, POLLIN, tmo);

		if (rc < 0)
			return got ? (ssize_t)got : rc;
	}
}

static long syscall_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	static int (*real)(int, struct mmsghdr *, unsigned, int);

	if (!real)
		real = (int (*)(int, struct mmsghdr *, unsigned, int))dlsym(RTLD_NEXT, "sendmmsg");
	return real ? real(fd, v, n, flags) : ERR(ENOSYS);
}

static long syscall_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
	static int (*real)(int, struct mmsghdr *, unsigned, int, struct timespec *);

	if (!real)
		real = (int (*)(int, struct mmsghdr *, unsigned, int, struct timespec *))dlsym(
			RTLD_NEXT, "recvmmsg");
	return real ? real(fd, v, n, flags, tmo) : ERR(ENOSYS);
}

#define RET(x)                                        \
	({                                            \
		ssize_t _x = (x);                     \
		_x < 0 ? (errno = (int)-_x, -1) : _x; \
	})

static void note(void)
{
	shim_note_thread();
}

/* An I/O interposer's whole body: @real for an @fd that is not ours, else
 * @call, an expression on `struct pvsock *e` giving a count or -errno,
 * returned the way libc does. */
#define SHIM_IO(fd, real, call)                                \
	do {                                                   \
		struct pvsock *e = (shim_init(), pvs_get(fd)); \
		ssize_t rc;                                    \
                                                               \
		if (!e)                                        \
			return real;                           \
		note();                                        \
		rc = RET(call);                                \
		pvs_put(e);                                    \
		return rc;                                     \
	} while (0)

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	SHIM_IO(fd, R.read(fd, buf, len), pv_recv(e, buf, len, 0));
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	SHIM_IO(fd, R.write(fd, buf, len), pv_send(e, buf, len, 0));
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	SHIM_IO(fd, R.recv(fd, buf, len, flags), pv_recv(e, buf, len, flags));
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a,
			     socklen_t *alen)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	ssize_t rc;

	if (!e)
		return R.recvfrom(fd, buf, len, flags, a, alen);
	note();
	if (e->dgram) {
		rc = RET(dg_xfer(e, buf, len, flags, false, a, alen));
		pvs_put(e);
		return rc;
	}
	rc = RET(pv_recv(e, buf, len, flags));
	if (rc >= 0 && a && alen)
		*alen = 0; /* TCP: no source address, as Linux */
	pvs_put(e);
	return rc;
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	SHIM_IO(fd, R.send(fd, buf, len, flags), pv_send(e, buf, len, flags));
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a,
			   socklen_t alen)
{
	/* TCP ignores the address of a connected socket; UDP sends to it. */
	SHIM_IO(fd, R.sendto(fd, buf, len, flags, a, alen),
		e->dgram ? dg_xfer(e, (void *)buf, len, flags, true, (struct sockaddr *)a, &alen)
			 : pv_send(e, buf, len, flags));
}

/* Scatter/gather: the first piece with the call's flags, the rest with
 * @more added (MSG_DONTWAIT to receive, MSG_NOSIGNAL to send), stopping at
 * the first short transfer. */
static ssize_t pv_xferv(struct pvsock *e, const struct iovec *iov, int n, int flags, bool out,
			int more)
{
	ssize_t total = 0;

	if (n < 0 || n > 1024)
		return -EINVAL;
	if (e->dgram) { /* one datagram gathered from / scattered into the iov */
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };

		return out ? dg_sendmsg(e, &m, flags) : dg_recvmsg(e, &m, flags);
	}
	for (int i = 0; i < n; i++) {
		int f = total ? flags | more : flags;
		ssize_t r;

		if (!iov[i].iov_len)
			continue;
		r = out ? pv_send(e, iov[i].iov_base, iov[i].iov_len, f)
			: pv_recv(e, iov[i].iov_base, iov[i].iov_len, f);
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

static ssize_t pv_recvv(struct pvsock *e, const struct iovec *iov, int n, int flags)
{
	return pv_xferv(e, iov, n, flags, false, MSG_DONTWAIT);
}

static ssize_t pv_sendv(struct pvsock *e, const struct iovec *iov, int n, int flags)
{
	return pv_xferv(e, iov, n, flags, true, MSG_NOSIGNAL);
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	SHIM_IO(fd, R.readv(fd, iov, n), pv_recvv(e, iov, n, 0));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	SHIM_IO(fd, R.writev(fd, iov, n), pv_sendv(e, iov, n, 0));
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	ssize_t rc;

	if (!e)
		return R.recvmsg(fd, m, flags);
	note();
	if (e->dgram) {
		rc = RET(dg_recvmsg(e, m, flags));
		pvs_put(e);
		return rc;
	}
	rc = RET(pv_recvv(e, m->msg_iov, (int)m->msg_iovlen, flags));
	if (rc >= 0) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	pvs_put(e);
	return rc;
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	ssize_t rc;

	if (!e)
		return R.sendmsg(fd, m, flags);
	note();
	if (e->dgram)
		rc = RET(dg_sendmsg(e, m, flags));
	else if (m->msg_controllen)
		rc = RET(-EOPNOTSUPP); /* no ancillary data on TCP here */
	else
		rc = RET(pv_sendv(e, m->msg_iov, (int)m->msg_iovlen, flags));
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	int done = 0;
	ssize_t rc = 0;

	if (!e)
		return (int)syscall_sendmmsg(fd, v, n, flags);
	note();
	for (; (unsigned)done < n; done++) {
		if (e->dgram) { /* one datagram per message, as Linux */
			rc = dg_sendmsg(e, &v[done].msg_hdr, done ? flags | MSG_DONTWAIT : flags);
			if (rc < 0)
				break;
			v[done].msg_len = (unsigned)rc;
			continue;
		}
		if (v[done].msg_hdr.msg_controllen) {
			rc = -EOPNOTSUPP;
			break;
		}
		rc = pv_sendv(e, v[done].msg_hdr.msg_iov, (int)v[done].msg_hdr.msg_iovlen,
			      done ? flags | MSG_DONTWAIT : flags);
		if (rc < 0)
			break;
		v[done].msg_len = (unsigned)rc;
	}
	pvs_put(e);
	if (done == 0 && rc < 0)
		return (int)RET(rc);
	return done;
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
	struct pvsock *e = (shim_init(), pvs_get(fd));
	int done = 0;
	ssize_t rc = 0;

	if (!e)
		return (int)syscall_recvmmsg(fd, v, n, flags, tmo);
	note();
	for (; (unsigned)done < n; done++) {
		if (e->dgram) {
			rc = dg_recvmsg(e, &v[done].msg_hdr,
					done ? flags | MSG_DONTWAIT : flags & ~MSG_WAITFORONE);
			if (rc < 0)
				break;
			v[done].msg_len = (unsigned)rc;
			if (flags & MSG_WAITFORONE)
				flags |= MSG_DONTWAIT;
			continue;
		}
		rc = pv_recvv(e, v[done].msg_hdr.msg_iov, (int)v[done].msg_hdr.msg_iovlen,
			      done ? flags | MSG_DONTWAIT : flags & ~MSG_WAITFORONE);
		if (rc <= 0)
			break;
		v[done].msg_len = (unsigned)rc;
		v[done].msg_hdr.msg_namelen = 0;
		v[done].msg_hdr.msg_controllen = 0;
		v[done].msg_hdr.msg_flags = 0;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
	}
	pvs_put(e);
	if (done == 0 && rc < 0)
		return (int)RET(rc);
	return done;
}

/* Fortified variants (_FORTIFY_SOURCE): check, then the same. */
extern void __chk_fail(void) __attribute__((noreturn));

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				   struct sockaddr *a, socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, a, alen);
}

/* sendfile from a file to a PV socket: pread + send, the file position
 * moved only when @off is NULL, by what was sent. */
static ssize_t pv_sendfile(struct pvsock *e, int in, off_t *off, size_t count)
{
	char buf[65536];
	off_t pos = off ? *off : lseek(in, 0, SEEK_CUR);
	ssize_t total = 0;

	if (pos < 0)
		return -errno;
	while ((size_t)total < count) {
		size_t want = count - (size_t)total;
		ssize_t n, s;

		if (want > sizeof(buf))
			want = sizeof(buf);
		n = R.pread(in, buf, want, pos);
		if (n < 0) {
			if (!total)
				total = -errno;
			break;
		}
		if (n == 0)
			break;
		s = pv_send(e, buf, (size_t)n, total ? MSG_NOSIGNAL : 0);
		if (s < 0) {
			if (!total)
				total = s;
			break;
		}
		pos += s;
		total += s;
		if (s < n)
			break;
	}
	if (total > 0 || total == 0) {
		if (off)
			*off = pos;
		else if (lseek(in, pos, SEEK_SET) < 0 && total == 0)
			total = -errno;
	}
	return total;
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct pvsock *e;
	ssize_t rc;

	shim_init();
	if (pvs_is(in) && !t_inlib)
		return ERR(EINVAL); /* a socket cannot be mmap()ed */
	e = pvs_get(out);
	if (!e)
		return R.sendfile(out, in, off, count);
	note();
	rc = RET(pv_sendfile(e, in, off, count));
	pvs_put(e);
	return rc;
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}
