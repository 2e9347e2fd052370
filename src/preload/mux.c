/* SPDX-License-Identifier: MIT */
/*
 * libpvcalls-preload: readiness. poll, ppoll, select, pselect and epoll
 * with PV Calls sockets mixed with kernel fds.
 *
 * A PV socket's readiness comes from the frontend (pvcalls_front_ready);
 * the kernel fds are waited on together with pvcalls_front_fd(), which
 * becomes readable on any change of any PV socket: then look again.
 *
 * epoll: the PV members of an epoll set live in a table here (struct
 * pvep); the frontend fd is registered in the real epoll set, tagged with
 * the address of that live table, which user data cannot equal.
 *
 * Lost wakeups: a thread that handles the frontend's events may take an
 * event another thread was about to sleep on. Once more than one thread
 * uses PV sockets, a waiter first registers as a sleeper (with its own
 * eventfd), then looks, then sleeps on the frontend fd and its eventfd; a
 * thread that handled events (the frontend fd was readable before it
 * looked, or it fired, or a command call slept inside libpvcalls) kicks
 * every other sleeper, which looks again. A single-threaded program needs
 * none of it. One window stays open: an event that arrives between a
 * thread's "was the frontend fd readable?" and its handling is taken
 * without a kick; the waits' MT_SAFETY_MS slices bound that case.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define MT_SAFETY_MS 250

/* ---------------------------------------------------------------------- */
/* Sleepers                                                               */
/* ---------------------------------------------------------------------- */

struct sleeper {
	int fd; /* eventfd, this thread's; -1 until needed */
	struct sleeper *next;
	bool on;
};

static pthread_mutex_t g_sl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sleeper *g_sl;
static int g_nsl;
static __thread struct sleeper t_sl __attribute__((tls_model("initial-exec"))) = { .fd = -1 };
static pthread_key_t g_sl_key;
static pthread_once_t g_sl_once = PTHREAD_ONCE_INIT;

static void sl_thread_exit(void *arg)
{
	struct sleeper *me = arg;

	if (me && me->fd >= 0) {
		R.close(me->fd);
		me->fd = -1;
	}
}

static void sl_init(void)
{
	pthread_key_create(&g_sl_key, sl_thread_exit);
}

static bool multi(void)
{
	return __atomic_load_n(&g_threads, __ATOMIC_RELAXED) > 1;
}

/* Registers this thread as a sleeper; false if it cannot (no eventfd). */
static bool sleeper_on(void)
{
	if (t_sl.fd < 0) {
		pthread_once(&g_sl_once, sl_init);
		t_sl.fd = R.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t_sl.fd < 0)
			return false;
		fd_fresh(t_sl.fd);
		pthread_setspecific(g_sl_key, &t_sl);
	}
	pthread_mutex_lock(&g_sl_lock);
	t_sl.next = g_sl;
	g_sl = &t_sl;
	__atomic_fetch_add(&g_nsl, 1, __ATOMIC_RELAXED);
	t_sl.on = true;
	pthread_mutex_unlock(&g_sl_lock);
	return true;
}

static void sleeper_drain(void)
{
	uint64_t v;

	if (R.read(t_sl.fd, &v, sizeof(v)) < 0)
		return;
}

static void sleeper_off(void)
{
	pthread_mutex_lock(&g_sl_lock);
	for (struct sleeper **pp = &g_sl; *pp; pp = &(*pp)->next)
		if (*pp == &t_sl) {
			*pp = t_sl.next;
			__atomic_fetch_sub(&g_nsl, 1, __ATOMIC_RELAXED);
			break;
		}
	t_sl.on = false;
	pthread_mutex_unlock(&g_sl_lock);
	sleeper_drain();
}

/* This thread handled frontend events: every other sleeper looks again. */
void shim_kick_sleepers(void)
{
	uint64_t one = 1;

	if (!__atomic_load_n(&g_nsl, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&g_sl_lock);
	for (struct sleeper *s = g_sl; s; s = s->next)
		if (s != &t_sl && R.write(s->fd, &one, sizeof(one)) < 0)
			continue;
	pthread_mutex_unlock(&g_sl_lock);
}

/* After fork: only this thread exists; its eventfd is shared with the
 * parent's thread, so take a new one. */
void mux_atfork_child(void)
{
	pthread_mutex_init(&g_sl_lock, NULL);
	g_sl = NULL;
	g_nsl = 0;
	t_sl.fd = -1;
	t_sl.on = false;
}

static bool front_readable(pvcalls_front *fe)
{
	struct pollfd f = { .fd = pvcalls_front_fd(fe), .events = POLLIN };

	return R.poll(&f, 1, 0) == 1;
}

/*
 * pvcalls_front_ready() for the shim: with other threads around, kicks
 * them when it handled events they may have been about to sleep on.
 */
int shim_front_ready(pvcalls_front *fe, struct pvcalls_ready *r, unsigned n)
{
	bool kick = multi() && front_readable(fe);
	int rc;

	LIB_ENTER();
	rc = pvcalls_front_ready(fe, r, n);
	LIB_LEAVE();
	if (kick)
		shim_kick_sleepers();
	return rc;
}

/* Readiness of PV entries (revents, seq); returns how many are ready. */
int pv_ready(struct mux_pv *pv, unsigned npv)
{
	struct pvcalls_ready stack[32], *r = stack;
	pvcalls_front *fe = shim_fe_now();
	unsigned nr = 0;
	int ready = 0;

	if (npv > 32) {
		r = calloc(npv, sizeof(*r));
		if (!r)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < npv; i++) {
		struct pvsock *e = pv[i].e;

		r[i].sock = -1;
		r[i].events = pv[i].events;
		pv[i].revents = 0;
		pv[i].seq = 0;
		if (e->gen != g_gen || !fe)
			continue;
		pthread_mutex_lock(&e->lock);
		if (e->h >= 0 && e->state != PS_CLOSED)
			r[i].sock = e->h;
		pthread_mutex_unlock(&e->lock);
		if (r[i].sock >= 0)
			nr++;
	}
	if (nr)
		shim_front_ready(fe, r, npv);
	for (unsigned i = 0; i < npv; i++) {
		struct pvsock *e = pv[i].e;
		short re = r[i].revents;

		if (e->gen != g_gen || !fe) {
			re = POLLNVAL;
		} else {
			pthread_mutex_lock(&e->lock);
			if (e->h < 0 || e->state == PS_CLOSED)
				re = POLLIN | POLLOUT | POLLHUP | POLLRDHUP;
			if (e->shut_rd || e->release_pending)
				re |= POLLIN | POLLRDHUP;
			if (e->shut_wr && e->shut_rd)
				re |= POLLHUP;
			if (e->so_error)
				re |= POLLERR;
			if (e->state == PS_NEW && !e->so_error && re == (POLLOUT | POLLHUP))
				re = POLLOUT | POLLHUP;
			pthread_mutex_unlock(&e->lock);
		}
		pv[i].revents = re & (short)(pv[i].events | POLLERR | POLLHUP | POLLNVAL);
		pv[i].seq = r[i].seq;
		if (pv[i].revents)
			ready++;
	}
	if (r != stack)
		free(r);
	return ready;
}

/* The frontend fd fired: handle its events even if no PV socket we look
 * at is live (they may be for others), or it stays readable. */
static void front_drain(pvcalls_front *fe)
{
	if (!fe)
		return;
	LIB_ENTER();
	pvcalls_front_process(fe);
	LIB_LEAVE();
	if (multi())
		shim_kick_sleepers();
}

static int slice(int64_t deadline)
{
	int64_t left;
	int cap = multi() ? MT_SAFETY_MS : -1;

	if (deadline < 0)
		return cap;
	left = deadline - shim_now_ms();
	if (left < 0)
		left = 0;
	if (cap >= 0 && left > cap)
		left = cap;
	return (int)left;
}

static int real_ppoll(struct pollfd *fds, nfds_t n, int ms, const sigset_t *mask)
{
	struct timespec ts, *tp = NULL;

	if (!mask)
		return R.poll(fds, n, ms);
	if (ms >= 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		tp = &ts;
	}
	return R.ppoll(fds, n, tp, mask);
}

int mux_wait(struct pollfd *kfds, nfds_t nk, struct mux_pv *pv, unsigned npv, int64_t timeout_ms,
	     const sigset_t *sigmask)
{
	int64_t deadline = timeout_ms < 0 ? -1 : shim_now_ms() + timeout_ms;
	bool sl = npv && multi() && sleeper_on();
	int ret;

	for (;;) {
		pvcalls_front *fe = shim_fe_now();
		sigset_t all, old;
		int pvn, rc, ms, err;
		nfds_t n = nk, wslot = 0;
		bool fe_fired = false;

		/* Signals wait until the kernel wait, as in the kernel: one
		 * that arrives while we look is delivered by ppoll (EINTR). */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pvn = pv_ready(pv, npv);
		if (pvn < 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			ret = pvn;
			break;
		}
		ms = pvn ? 0 : slice(deadline);
		if (fe && npv) {
			kfds[n].fd = pvcalls_front_fd(fe);
			kfds[n].events = POLLIN;
			kfds[n].revents = 0;
			n++;
		}
		if (sl) {
			wslot = n;
			kfds[n].fd = t_sl.fd;
			kfds[n].events = POLLIN;
			kfds[n].revents = 0;
			n++;
		}
		rc = real_ppoll(kfds, n, ms, sigmask ? sigmask : &old);
		err = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc < 0) {
			ret = pvn && err == EINTR ? pvn : -err;
			break;
		}
		if (sl && kfds[wslot].revents) {
			sleeper_drain();
			rc--;
		}
		if (fe && npv && kfds[nk].revents) {
			fe_fired = true;
			rc--;
			front_drain(fe);
		}
		if (pvn || rc > 0) {
			ret = pvn + rc;
			break;
		}
		if (deadline >= 0 && shim_now_ms() >= deadline && (!fe_fired || ms == 0)) {
			ret = 0;
			break;
		}
	}
	if (sl)
		sleeper_off();
	return ret;
}

/* Waits for @ev on one socket: 0, -EAGAIN on timeout, -EINTR. */
int pv_wait(struct pvsock *e, short ev, int timeout_ms)
{
	struct pollfd k[2];
	struct mux_pv p = { .e = e, .events = ev };
	int64_t deadline = timeout_ms < 0 ? -1 : shim_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - shim_now_ms();
		int rc;

		if (deadline >= 0 && left <= 0)
			return -EAGAIN;
		rc = mux_wait(k, 0, &p, 1, left, NULL);
		if (rc > 0)
			return p.revents & POLLNVAL ? -EBADF : 0;
		if (rc == 0)
			return -EAGAIN;
		if (rc != -EINTR)
			return rc;
		/* Sockets with a timeout never restart (signal(7)). */
		if (timeout_ms >= 0 || !shim_restart_ok())
			return -EINTR;
	}
}

/* ---------------------------------------------------------------------- */
/* poll, ppoll, select, pselect                                           */
/* ---------------------------------------------------------------------- */

static int do_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ms, const sigset_t *mask)
{
	struct pollfd kstack[64], *k = kstack;
	struct mux_pv pstack[32], *p = pstack;
	int wstack[64], *where = wstack; /* >= 0: index in k; < 0: -1 - index in p */
	unsigned npv = 0;
	nfds_t nk = 0;
	int rc, ready = 0;

	for (nfds_t i = 0; i < n; i++)
		if (pvs_is(fds[i].fd))
			npv++;
	if (!npv) {
		struct timespec ts, *tp = NULL;

		if (!mask && timeout_ms <= INT32_MAX)
			return R.poll(fds, n, (int)timeout_ms);
		if (timeout_ms >= 0) {
			ts.tv_sec = timeout_ms / 1000;
			ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
			tp = &ts;
		}
		return R.ppoll(fds, n, tp, mask);
	}
	shim_note_thread();
	if (n + 2 > 64) {
		k = calloc(n + 2, sizeof(*k));
		where = calloc(n, sizeof(*where));
	}
	if (n > 32)
		p = calloc(n, sizeof(*p));
	if (!k || !p || !where) {
		rc = ERR(ENOMEM);
		goto out;
	}
	npv = 0;
	for (nfds_t i = 0; i < n; i++) {
		struct pvsock *e = pvs_get(fds[i].fd);

		if (e) {
			p[npv].e = e;
			p[npv].events = fds[i].events;
			where[i] = -1 - (int)npv++;
		} else {
			where[i] = (int)nk;
			k[nk++] = fds[i];
		}
	}
	rc = mux_wait(k, nk, p, npv, timeout_ms, mask);
	if (rc >= 0) {
		for (nfds_t i = 0; i < n; i++) {
			fds[i].revents =
				where[i] >= 0 ? k[where[i]].revents : p[-1 - where[i]].revents;
			if (fds[i].revents)
				ready++;
		}
		rc = ready;
	} else {
		errno = -rc;
		rc = -1;
	}
	for (unsigned i = 0; i < npv; i++)
		pvs_put(p[i].e);
out:
	if (k != kstack)
		free(k);
	if (where != wstack)
		free(where);
	if (p != pstack)
		free(p);
	return rc;
}

static int64_t ts_ms(const struct timespec *ts)
{
	if (!ts)
		return -1;
	return (int64_t)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	shim_init();
	if (t_inlib)
		return R.poll(fds, n, timeout);
	return do_poll(fds, n, timeout < 0 ? -1 : timeout, NULL);
}

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	shim_init();
	if (t_inlib)
		return R.ppoll(fds, n, ts, mask);
	return do_poll(fds, n, ts_ms(ts), mask);
}

extern void __chk_fail(void) __attribute__((noreturn));

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			    const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

static bool sets_have_pv(int nfds, fd_set *r, fd_set *w, fd_set *x)
{
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x))) &&
		    pvs_is(fd))
			return true;
	return false;
}

/* select() on top of poll: fds beyond FD_SETSIZE are not looked at. */
static int do_select(int nfds, fd_set *r, fd_set *w, fd_set *x, int64_t timeout_ms,
		     const sigset_t *mask)
{
	struct pollfd stack[64], *pf = stack;
	int n = 0, rc, ready = 0;

	if (nfds < 0)
		return ERR(EINVAL);
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	if (nfds > 64) {
		pf = calloc((size_t)nfds, sizeof(*pf));
		if (!pf)
			return ERR(ENOMEM);
	}
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;

		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (x && FD_ISSET(fd, x))
			ev |= POLLPRI;
		if (ev) {
			pf[n].fd = fd;
			pf[n].events = ev;
			pf[n].revents = 0;
			n++;
		}
	}
	rc = do_poll(pf, (nfds_t)n, timeout_ms, mask);
	if (rc >= 0) {
		for (int i = 0; i < n; i++) {
			if (pf[i].revents & POLLNVAL) {
				rc = ERR(EBADF);
				goto out;
			}
		}
		if (r)
			FD_ZERO(r);
		if (w)
			FD_ZERO(w);
		if (x)
			FD_ZERO(x);
		for (int i = 0; i < n; i++) {
			short re = pf[i].revents, ev = pf[i].events;

			if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
				FD_SET(pf[i].fd, r);
				ready++;
			}
			if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR))) {
				FD_SET(pf[i].fd, w);
				ready++;
			}
			if ((ev & POLLPRI) && (re & POLLPRI)) {
				FD_SET(pf[i].fd, x);
				ready++;
			}
		}
		rc = ready;
	}
out:
	if (pf != stack)
		free(pf);
	return rc;
}

SHIM_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	int64_t ms, start;
	int rc;

	shim_init();
	if (t_inlib || !sets_have_pv(nfds, r, w, x))
		return R.select(nfds, r, w, x, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0))
		return ERR(EINVAL);
	ms = tv ? (int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
	start = shim_now_ms();
	rc = do_select(nfds, r, w, x, ms, NULL);
	if (tv) { /* Linux writes back the time left */
		int64_t left = ms - (shim_now_ms() - start);

		if (left < 0 || rc == 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	return rc;
}

SHIM_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
			const sigset_t *mask)
{
	shim_init();
	if (t_inlib || !sets_have_pv(nfds, r, w, x))
		return R.pselect(nfds, r, w, x, ts, mask);
	return do_select(nfds, r, w, x, ts_ms(ts), mask);
}

/* ---------------------------------------------------------------------- */
/* epoll                                                                  */
/* ---------------------------------------------------------------------- */

struct epmember {
	int fd;
	struct pvsock *e; /* no reference: removed before the socket dies */
	uint32_t events;
	epoll_data_t data;
	short last; /* ET: what was last reported and still held */
	uint32_t seq;
	bool disabled; /* EPOLLONESHOT fired */
	struct epmember *next;
};

struct pvep {
	int epfd;
	pthread_mutex_t lock;
	struct epmember *m;
	unsigned nm;
	int tagged_fd;     /* the frontend fd registered in the set, or -1 */
	struct pvep *next; /* g_eps */
};

static pthread_mutex_t g_ep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pvep *g_eps;

bool ep_is(int epfd)
{
	struct pvep *p;
	bool found = false;

	if (!__atomic_load_n(&g_eps, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&g_ep_lock);
	for (p = g_eps; p; p = p->next)
		if (p->epfd == epfd) {
			found = true;
			break;
		}
	pthread_mutex_unlock(&g_ep_lock);
	return found;
}

static struct pvep *ep_find(int epfd, bool create)
{
	struct pvep *p;

	pthread_mutex_lock(&g_ep_lock);
	for (p = g_eps; p; p = p->next)
		if (p->epfd == epfd)
			break;
	if (!p && create) {
		p = calloc(1, sizeof(*p));
		if (p) {
			p->epfd = epfd;
			p->tagged_fd = -1;
			pthread_mutex_init(&p->lock, NULL);
			p->next = g_eps;
			__atomic_store_n(&g_eps, p, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&g_ep_lock);
	return p;
}

/* The epoll fd is being closed (or was, behind our back). */
void ep_forget_fd(int epfd)
{
	struct pvep **pp, *p = NULL;

	pthread_mutex_lock(&g_ep_lock);
	for (pp = &g_eps; *pp; pp = &(*pp)->next)
		if ((*pp)->epfd == epfd) {
			p = *pp;
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&g_ep_lock);
	if (!p)
		return;
	/* A thread may still be inside epoll_wait on it: leak the few bytes
	 * rather than free under it (closing an fd in use is a bug anyway). */
	pthread_mutex_lock(&p->lock);
	while (p->m) {
		struct epmember *m = p->m;

		p->m = m->next;
		free(m);
	}
	p->nm = 0;
	pthread_mutex_unlock(&p->lock);
}

/* The socket's last fd closed: it leaves every epoll set (as in Linux). */
void ep_forget_sock(struct pvsock *e)
{
	pthread_mutex_lock(&g_ep_lock);
	for (struct pvep *p = g_eps; p; p = p->next) {
		pthread_mutex_lock(&p->lock);
		for (struct epmember **mp = &p->m; *mp;) {
			if ((*mp)->e == e) {
				struct epmember *m = *mp;

				*mp = m->next;
				p->nm--;
				free(m);
			} else {
				mp = &(*mp)->next;
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&g_ep_lock);
}

static uint64_t tag_of(struct pvep *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Registers the frontend fd in the real set. p->lock held. */
static int ep_tag(struct pvep *p)
{
	pvcalls_front *fe = shim_fe_now();
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	if (!fe)
		return -EBADF;
	fd = pvcalls_front_fd(fe);
	if (p->tagged_fd == fd)
		return 0;
	ev.data.u64 = tag_of(p);
	if (R.epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST)
		return -errno;
	/* A set inherited across fork still holds the parent's frontend fd,
	 * which fires for the parent's events: not ours to look at. */
	if (p->tagged_fd >= 0)
		R.epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->tagged_fd, NULL);
	p->tagged_fd = fd;
	return 0;
}

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct pvsock *e;
	struct pvep *p;
	struct epmember *m, **mp;
	int rc = 0;

	shim_init();
	if (t_inlib || !(e = pvs_get(fd)))
		return R.epoll_ctl(epfd, op, fd, ev);
	if (!pvs_usable(e)) {
		pvs_put(e);
		return -1;
	}
	/* Is epfd an epoll fd at all? Ask the kernel with a harmless DEL. */
	if (R.epoll_ctl(epfd, EPOLL_CTL_DEL, -1, NULL) < 0 && errno != EBADF) {
		rc = -errno;
		if (rc == -EINVAL || rc == -EFAULT)
			rc = -EINVAL;
		pvs_put(e);
		return ERR(-rc);
	}
	if (op != EPOLL_CTL_DEL && !ev) {
		pvs_put(e);
		return ERR(EFAULT);
	}
	p = ep_find(epfd, op == EPOLL_CTL_ADD);
	if (!p) {
		pvs_put(e);
		return ERR(op == EPOLL_CTL_ADD ? ENOMEM : ENOENT);
	}
	pthread_mutex_lock(&p->lock);
	for (mp = &p->m; *mp; mp = &(*mp)->next)
		if ((*mp)->fd == fd && (*mp)->e == e)
			break;
	m = *mp;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (m) {
			rc = -EEXIST;
			break;
		}
		rc = ep_tag(p);
		if (rc < 0)
			break;
		m = calloc(1, sizeof(*m));
		if (!m) {
			rc = -ENOMEM;
			break;
		}
		m->fd = fd;
		m->e = e;
		m->events = ev->events;
		m->data = ev->data;
		m->next = p->m;
		p->m = m;
		p->nm++;
		break;
	case EPOLL_CTL_MOD:
		if (!m) {
			rc = -ENOENT;
			break;
		}
		if (ev->events & EPOLLEXCLUSIVE) {
			rc = -EINVAL;
			break;
		}
		m->events = ev->events;
		m->data = ev->data;
		m->disabled = false;
		m->last = 0;
		break;
	case EPOLL_CTL_DEL:
		if (!m) {
			rc = -ENOENT;
			break;
		}
		*mp = m->next;
		p->nm--;
		free(m);
		break;
	default:
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&p->lock);
	pvs_put(e);
	return rc < 0 ? ERR(-rc) : 0;
}

static short ev2poll(uint32_t ev)
{
	short p = 0;

	if (ev & EPOLLIN)
		p |= POLLIN;
	if (ev & EPOLLOUT)
		p |= POLLOUT;
	if (ev & EPOLLRDHUP)
		p |= POLLRDHUP;
	if (ev & EPOLLPRI)
		p |= POLLPRI;
	return p;
}

static uint32_t poll2ev(short p)
{
	uint32_t ev = 0;

	if (p & POLLIN)
		ev |= EPOLLIN;
	if (p & POLLOUT)
		ev |= EPOLLOUT;
	if (p & POLLRDHUP)
		ev |= EPOLLRDHUP;
	if (p & POLLERR)
		ev |= EPOLLERR;
	if (p & POLLHUP)
		ev |= EPOLLHUP;
	return ev;
}

/*
 * The PV half of an epoll_wait: reports ready members into @out (at most
 * @max), applying level/edge/one-shot rules. p->lock held.
 */
static int ep_collect(struct pvep *p, struct epoll_event *out, int max)
{
	struct mux_pv stack[32], *pv = stack;
	struct epmember *ms[32], **mv = ms;
	unsigned n = 0;
	int got = 0;

	if (p->nm > 32) {
		pv = calloc(p->nm, sizeof(*pv));
		mv = calloc(p->nm, sizeof(*mv));
		if (!pv || !mv) {
			free(pv == stack ? NULL : pv);
			free(mv == ms ? NULL : mv);
			return -ENOMEM;
		}
	}
	for (struct epmember *m = p->m; m; m = m->next) {
		if (m->disabled)
			continue;
		pv[n].e = m->e;
		pv[n].events = ev2poll(m->events);
		mv[n++] = m;
	}
	if (n && pv_ready(pv, n) < 0)
		n = 0;
	for (unsigned i = 0; i < n && got < max; i++) {
		struct epmember *m = mv[i];
		short re = pv[i].revents & ~POLLNVAL;

		if (!re) {
			m->last = 0;
			continue;
		}
		if (m->events & EPOLLET) {
			/* An edge: something new became true, or new data or
			 * room arrived while it stayed true (as Linux does). */
			bool edge = (re & ~m->last) || pv[i].seq != m->seq;

			m->last = re;
			m->seq = pv[i].seq;
			if (!edge)
				continue;
		}
		out[got].events = poll2ev(re);
		out[got].data = m->data;
		got++;
		if (m->events & EPOLLONESHOT)
			m->disabled = true;
	}
	if (pv != stack)
		free(pv);
	if (mv != ms)
		free(mv);
	return got;
}

/*
 * The kernel half of an epoll wait. With other threads around, sleeps in
 * ppoll on the epoll fd and this thread's sleeper eventfd first, so a kick
 * wakes it; then takes the events without waiting. Returns as epoll_pwait.
 */
static int ep_kernel_wait(int epfd, struct epoll_event *evs, int max, int ms, const sigset_t *mask,
			  bool sl)
{
	struct pollfd pf[2] = { { .fd = epfd, .events = POLLIN },
				{ .fd = t_sl.fd, .events = POLLIN } };
	int rc;

	if (!sl)
		return R.epoll_pwait(epfd, evs, max, ms, mask);
	rc = real_ppoll(pf, 2, ms, mask);
	if (rc <= 0)
		return rc;
	if (pf[1].revents)
		sleeper_drain();
	if (!pf[0].revents)
		return 0;
	return R.epoll_pwait(epfd, evs, max, 0, NULL);
}

static int do_epoll_wait(int epfd, struct epoll_event *evs, int max, int64_t timeout_ms,
			 const sigset_t *mask)
{
	int64_t deadline = timeout_ms < 0 ? -1 : shim_now_ms() + timeout_ms;
	struct pvep *p = ep_find(epfd, false);
	bool sl;
	int ret;

	if (!p)
		return R.epoll_pwait(epfd, evs, max,
				     timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms, mask);
	if (max <= 0)
		return ERR(EINVAL);
	shim_note_thread();
	sl = multi() && sleeper_on();
	for (;;) {
		int got, rc, ms, k, err;
		bool fired = false;
		sigset_t all, old;

		/* As in mux_wait: signals only in the kernel wait. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_mutex_lock(&p->lock);
		if (p->nm)
			ep_tag(p); /* a new frontend after fork */
		/* Leave one slot to the kernel so its fds cannot starve. */
		got = p->nm ? ep_collect(p, evs, max > 1 ? max - 1 : 1) : 0;
		pthread_mutex_unlock(&p->lock);
		if (got < 0 || got == max) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			ret = got < 0 ? ERR(-got) : got;
			break;
		}
		ms = got ? 0 : slice(deadline);
		rc = ep_kernel_wait(epfd, evs + got, max - got, ms, mask ? mask : &old, sl);
		err = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc < 0) {
			ret = got && err == EINTR ? got : ERR(err);
			break;
		}
		/* Take our tags out. */
		k = got;
		for (int i = 0; i < rc; i++) {
			struct epoll_event *ev = &evs[got + i];

			if (ev->data.u64 == tag_of(p)) {
				if (!fired)
					front_drain(shim_fe_now());
				fired = true;
				continue;
			}
			evs[k++] = *ev;
		}
		if (k > 0) {
			ret = k;
			break;
		}
		if (deadline >= 0 && shim_now_ms() >= deadline && (!fired || ms == 0)) {
			ret = 0;
			break;
		}
	}
	if (sl)
		sleeper_off();
	return ret;
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	shim_init();
	if (t_inlib)
		return R.epoll_pwait(epfd, evs, max, timeout, NULL);
	return do_epoll_wait(epfd, evs, max, timeout < 0 ? -1 : timeout, NULL);
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
			    const sigset_t *mask)
{
	shim_init();
	if (t_inlib)
		return R.epoll_pwait(epfd, evs, max, timeout, mask);
	return do_epoll_wait(epfd, evs, max, timeout < 0 ? -1 : timeout, mask);
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
			     const sigset_t *mask)
{
	shim_init();
	if (t_inlib) {
		int ms = ts ? (int)ts_ms(ts) : -1;

		return R.epoll_pwait(epfd, evs, max, ms, mask);
	}
	return do_epoll_wait(epfd, evs, max, ts_ms(ts), mask);
}
