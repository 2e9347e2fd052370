/* SPDX-License-Identifier: MIT */
/*
 * libpvcalls-preload: the fd table, the per-process frontend, fork, and the
 * fd-level calls (close, dup*, fcntl, ioctl, and the calls that hand out
 * new fd numbers, which purge stale entries).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/shm.h>

#include "shim.h"

struct shim_real R;
__thread int t_inlib __attribute__((tls_model("initial-exec")));
static __thread int t_counted __attribute__((tls_model("initial-exec")));

unsigned g_gen;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
int g_threads;

static struct pvsock **g_tab; /* indexed by fd; entries read atomically */
static unsigned g_tabsize;

static pthread_mutex_t g_fe_lock = PTHREAD_MUTEX_INITIALIZER;
static pvcalls_front *g_fe;
static pvcalls_transport *g_t;
static bool g_said_fail, g_said_inherited;

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&g_fe_lock);
	pthread_mutex_lock(&g_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_unlock(&g_fe_lock);
}

/*
 * The child keeps a copy of the parent's frontend and sockets, which share
 * the parent's command ring and data rings: never use them. The child's
 * own sockets open a new frontend (a new connection to the backend).
 */
static void atfork_child(void)
{
	pthread_mutex_init(&g_lock, NULL);
	pthread_mutex_init(&g_fe_lock, NULL);
	g_fe = NULL;
	g_t = NULL;
	g_gen++;
	g_said_fail = false;
	g_threads = t_counted ? 1 : 0;
	mux_atfork_child();
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
#define S(n) R.n = (__typeof__(R.n))sym(#n)
	S(socket);
	S(socketpair);
	S(close);
	S(dup);
	S(dup2);
	S(dup3);
	S(fcntl);
	S(ioctl);
	S(poll);
	S(ppoll);
	S(epoll_ctl);
	S(epoll_pwait);
	S(close_range);
	S(closefrom);
	S(read);
	S(write);
	S(pread);
	S(open);
	S(open64);
	S(openat);
	S(openat64);
	S(pipe);
	S(pipe2);
	S(eventfd);
	S(epoll_create);
	S(epoll_create1);
	S(accept);
	S(accept4);
	S(connect);
	S(bind);
	S(listen);
	S(shutdown);
	S(getsockname);
	S(getpeername);
	S(getsockopt);
	S(setsockopt);
	S(readv);
	S(writev);
	S(recv);
	S(recvfrom);
	S(recvmsg);
	S(send);
	S(sendto);
	S(sendmsg);
	S(sendfile);
	S(select);
	S(pselect);
#undef S
	struct rlimit rl;
	rlim_t n = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		n = rl.rlim_max == RLIM_INFINITY ? (1u << 20) : rl.rlim_max;
		if (n < rl.rlim_cur)
			n = rl.rlim_cur;
	}
	if (n > (1u << 20))
		n = 1u << 20;
	if (n < 1024)
		n = 1024;
	/* Untouched pages cost nothing: a large table is cheap. */
	g_tab = mmap(NULL, n * sizeof(*g_tab), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g_tabsize = g_tab == MAP_FAILED ? 0 : (unsigned)n;
	if (g_tab == MAP_FAILED)
		g_tab = NULL;
	if (getenv("PVCALLS_PRELOAD_DEBUG"))
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void shim_init(void)
{
	pthread_once(&g_once, init_once);
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_init();
}

unsigned shim_table_size(void)
{
	return g_tabsize;
}

/* One line on stderr, never through stdio's buffers of the program. */
void shim_say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	memcpy(buf, "pvcalls-preload: ", 17);
	va_start(ap, fmt);
	n = vsnprintf(buf + 17, sizeof(buf) - 18, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 17;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (R.write(2, buf, (size_t)n) < 0)
		return;
}

int64_t shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * SA_RESTART, as the kernel applies it: we cannot tell which signal
 * interrupted a wait, so restart only if the handler of every signal that
 * could have (caught, not blocked in this thread, not a fault signal that
 * only a faulting instruction raises) has SA_RESTART. Only looked at after
 * an EINTR.
 */
bool shim_restart_ok(void)
{
	sigset_t blocked;

	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS ||
		    sig == SIGFPE || sig == SIGILL || sig == SIGTRAP || sig == SIGSYS)
			continue;
		if (sigismember(&blocked, sig) == 1 || sigaction(sig, NULL, &sa) < 0)
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

void shim_note_thread(void)
{
	if (!t_counted) {
		t_counted = 1;
		__atomic_fetch_add(&g_threads, 1, __ATOMIC_RELAXED);
	}
}

/* ---------------------------------------------------------------------- */
/* The frontend                                                           */
/* ---------------------------------------------------------------------- */

static int fe_open_locked(char *why, size_t whylen)
{
	const char *shm = getenv("PVCALLS_SHM"), *xen = getenv("PVCALLS_XEN");
	pvcalls_front *fe = NULL;
	pvcalls_transport *t = NULL;
	int rc;

	LIB_ENTER();
	if (xen && *xen && strcmp(xen, "0")) {
		/* Loaded only when asked for: the Xen libraries stay out of
		 * every other program the shim is preloaded into. */
		void *lib = dlopen("libpvcalls-xen.so.0", RTLD_NOW | RTLD_LOCAL);
		int (*xopen)(const void *, pvcalls_transport **) =
			lib ? (int (*)(const void *, pvcalls_transport **))dlsym(lib,
										 "pvcalls_xen_open")
			    : NULL;

		if (!xopen) {
			rc = -ENOTSUP;
			snprintf(why, whylen,
				 "PVCALLS_XEN set but libpvcalls-xen.so.0 is not usable: %s",
				 dlerror());
		} else {
			rc = xopen(NULL, &t);
			if (rc < 0)
				snprintf(why, whylen, "Xen transport: %s", pvcalls_strerror(rc));
		}
	} else if (shm && *shm) {
		/* A program may hold thousands of sockets: room for them in the
		 * guest pool (grown on demand, so the caps cost nothing). */
		struct pvcalls_shm_opts so = { .max_pages = 1u << 18,
					       .max_grants = 1u << 18,
					       .max_ports = 1u << 15 };

		rc = pvcalls_shm_connect(shm, &so, &t);
		if (rc < 0)
			snprintf(why, whylen, "hub %s: %s", shm, pvcalls_strerror(rc));
	} else {
		rc = -EINVAL;
		snprintf(why, whylen,
			 "no transport: set PVCALLS_SHM=PATH or PVCALLS_XEN=1 "
			 "(pvcalls-run does)");
	}
	if (rc == 0) {
		struct pvcalls_front_opts fo = { 0 };
		const char *order = getenv("PVCALLS_RING_ORDER");

		/* Smaller rings for programs with very many sockets. */
		if (order && *order)
			fo.ring_order =
				atoi(order) == 0 ? PVCALLS_FRONT_ORDER_0 : (uint32_t)atoi(order);
		rc = pvcalls_front_open(t, &fo, &fe);
		if (rc < 0) {
			snprintf(why, whylen, "backend negotiation: %s", pvcalls_strerror(rc));
			pvcalls_transport_close(t);
		}
	}
	LIB_LEAVE();
	if (rc < 0)
		return rc;
	g_t = t;
	/* Pairs with the lock-free acquire load in shim_fe(). */
	__atomic_store_n(&g_fe, fe, __ATOMIC_RELEASE);
	return 0;
}

/*
 * The frontend of this process, opened on first use. Fails closed: with
 * no backend, AF_INET stream sockets fail with ENETDOWN and one line on
 * stderr says why (once per process).
 */
pvcalls_front *shim_fe(int *err)
{
	pvcalls_front *fe;
	char why[256] = "";

	fe = __atomic_load_n(&g_fe, __ATOMIC_ACQUIRE);
	if (fe)
		return fe;
	pthread_mutex_lock(&g_fe_lock);
	if (!g_fe && fe_open_locked(why, sizeof(why)) < 0) {
		if (!g_said_fail)
			shim_say("cannot reach the PV Calls backend (%s); AF_INET stream "
				 "sockets fail with ENETDOWN",
				 why);
		g_said_fail = true;
		pthread_mutex_unlock(&g_fe_lock);
		*err = ENETDOWN;
		return NULL;
	}
	fe = g_fe;
	pthread_mutex_unlock(&g_fe_lock);
	return fe;
}

pvcalls_front *shim_fe_now(void)
{
	return __atomic_load_n(&g_fe, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------------- */
/* The fd table                                                           */
/* ---------------------------------------------------------------------- */

bool pvs_is(int fd)
{
	return fd >= 0 && (unsigned)fd < g_tabsize &&
	       __atomic_load_n(&g_tab[fd], __ATOMIC_ACQUIRE) != NULL;
}

void pvs_ref(struct pvsock *e)
{
	__atomic_fetch_add(&e->refs, 1, __ATOMIC_ACQ_REL);
}

struct pvsock *pvs_get(int fd)
{
	struct pvsock *e;

	if (t_inlib || !pvs_is(fd))
		return NULL;
	pthread_mutex_lock(&g_lock);
	e = g_tab[fd];
	if (e)
		pvs_ref(e);
	pthread_mutex_unlock(&g_lock);
	return e;
}

struct pvsock *pvs_new(int h, bool nonblock)
{
	struct pvsock *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->h = h;
	e->gen = g_gen;
	e->nonblock = nonblock;
	e->rcvtimeo_ms = e->sndtimeo_ms = -1;
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

static void pvs_release(struct pvsock *e)
{
	pvcalls_front *fe = shim_fe_now();

	/* Only the process that made the socket may release it. */
	if (e->gen == g_gen && e->h >= 0 && fe) {
		LIB_ENTER();
		pvcalls_front_release(fe, e->h);
		LIB_LEAVE();
		if (__atomic_load_n(&g_threads, __ATOMIC_RELAXED) > 1)
			shim_kick_sleepers();
	}
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void pvs_put(struct pvsock *e)
{
	if (e && __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
		pvs_release(e);
}

/* Drops fd's name on e; the last name also leaves every epoll set. */
static void drop_name(struct pvsock *e, bool last)
{
	if (last)
		ep_forget_sock(e);
	pvs_put(e);
}

int pvs_install(int fd, struct pvsock *e)
{
	struct pvsock *old;
	bool last = false;

	if (fd < 0 || (unsigned)fd >= g_tabsize)
		return -EMFILE;
	pthread_mutex_lock(&g_lock);
	old = g_tab[fd];
	if (old)
		last = --old->nfd == 0;
	e->nfd++;
	pvs_ref(e);
	__atomic_store_n(&g_tab[fd], e, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&g_lock);
	if (old)
		drop_name(old, last);
	return 0;
}

void pvs_forget(int fd)
{
	struct pvsock *e;
	bool last = false;

	if (!pvs_is(fd))
		return;
	pthread_mutex_lock(&g_lock);
	e = g_tab[fd];
	if (e) {
		__atomic_store_n(&g_tab[fd], NULL, __ATOMIC_RELEASE);
		last = --e->nfd == 0;
	}
	pthread_mutex_unlock(&g_lock);
	if (e)
		drop_name(e, last);
}

/* The kernel just handed out @fd: anything we knew under it is stale. */
void fd_fresh(int fd)
{
	if (fd < 0 || t_inlib)
		return;
	pvs_forget(fd);
	if (ep_is(fd))
		ep_forget_fd(fd);
}

bool pvs_usable(struct pvsock *e)
{
	if (e->gen == g_gen)
		return true;
	if (!g_said_inherited)
		shim_say("a PV Calls socket inherited across fork() cannot be used in the "
			 "child (EBADF); open a new one there");
	g_said_inherited = true;
	errno = EBADF;
	return false;
}

int pvs_close(int fd)
{
	int rc;

	pvs_forget(fd);
	rc = R.close(fd);
	/* The fd is gone even when close() reports an error (Linux). */
	return rc;
}

/* ---------------------------------------------------------------------- */
/* fd-level interposers                                                   */
/* ---------------------------------------------------------------------- */

SHIM_EXPORT int close(int fd)
{
	shim_init();
	if (t_inlib)
		return R.close(fd);
	if (ep_is(fd))
		ep_forget_fd(fd);
	if (pvs_is(fd))
		return pvs_close(fd);
	return R.close(fd);
}

static int dup_to(int oldfd, int newfd)
{
	struct pvsock *e = pvs_get(oldfd);

	if (newfd >= 0 && !e)
		fd_fresh(newfd);
	if (newfd >= 0 && e) {
		if (pvs_install(newfd, e) < 0) {
			R.close(newfd);
			pvs_put(e);
			return ERR(EMFILE);
		}
	}
	pvs_put(e);
	return newfd;
}

SHIM_EXPORT int dup(int fd)
{
	shim_init();
	if (t_inlib)
		return R.dup(fd);
	return dup_to(fd, R.dup(fd));
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	int rc;

	shim_init();
	if (t_inlib)
		return R.dup2(oldfd, newfd);
	if (oldfd == newfd)
		return R.dup2(oldfd, newfd);
	if (ep_is(newfd) && R.fcntl(oldfd, F_GETFD) >= 0)
		ep_forget_fd(newfd);
	rc = R.dup2(oldfd, newfd);
	return rc < 0 ? rc : dup_to(oldfd, rc);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int rc;

	shim_init();
	if (t_inlib)
		return R.dup3(oldfd, newfd, flags);
	rc = R.dup3(oldfd, newfd, flags);
	return rc < 0 ? rc : dup_to(oldfd, rc);
}

static int shim_fcntl(int fd, int cmd, void *arg)
{
	struct pvsock *e;
	int rc;

	if (t_inlib || !pvs_is(fd)) {
		rc = R.fcntl(fd, cmd, arg);
		if (rc >= 0 && !t_inlib && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
			fd_fresh(rc);
		return rc;
	}
	e = pvs_get(fd);
	if (!e)
		return R.fcntl(fd, cmd, arg);
	/* FD_CLOEXEC and the file status flags live on the placeholder. */
	rc = R.fcntl(fd, cmd, arg);
	if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
		if (pvs_install(rc, e) < 0) {
			R.close(rc);
			rc = ERR(EMFILE);
		}
	} else if (rc >= 0 && cmd == F_SETFL) {
		pthread_mutex_lock(&e->lock);
		e->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
		pthread_mutex_unlock(&e->lock);
	}
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_init();
	return shim_fcntl(fd, cmd, arg);
}

/* The same call: its varargs can only be read where they are passed, so one
 * body under both names rather than a helper. */
SHIM_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct pvsock *e;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_init();
	e = pvs_get(fd);
	if (!e)
		return R.ioctl(fd, req, arg);
	if (!pvs_usable(e)) {
		rc = -1;
	} else if (req == FIONBIO) {
		int on = arg ? *(int *)arg : 0;

		rc = R.ioctl(fd, req, arg); /* keeps F_GETFL in step */
		if (rc == 0) {
			pthread_mutex_lock(&e->lock);
			e->nonblock = on != 0;
			pthread_mutex_unlock(&e->lock);
		}
	} else if (req == FIONREAD) {
		pvcalls_front *fe = shim_fe_now();
		int n = 0;

		pthread_mutex_lock(&e->lock);
		if (e->state == PS_LISTEN) {
			n = -EINVAL;
		} else if (e->h >= 0 && fe && !e->shut_rd) {
			LIB_ENTER();
			n = pvcalls_front_nread(fe, e->h);
			LIB_LEAVE();
		}
		pthread_mutex_unlock(&e->lock);
		if (n < 0) {
			rc = ERR(-n);
		} else {
			*(int *)arg = n;
			rc = 0;
		}
	} else if (req == FIOCLEX || req == FIONCLEX || req == FIOASYNC) {
		rc = R.ioctl(fd, req, arg);
	} else {
		rc = ERR(ENOTTY);
	}
	pvs_put(e);
	return rc;
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int rc;

	shim_init();
	if (!t_inlib && !(flags & 4 /* CLOSE_RANGE_CLOEXEC */)) {
		for (unsigned fd = first; fd <= last && fd < g_tabsize; fd++) {
			if (ep_is((int)fd))
				ep_forget_fd((int)fd);
			pvs_forget((int)fd);
			if (fd == UINT32_MAX)
				break;
		}
	}
	if (!R.close_range)
		return ERR(ENOSYS);
	rc = R.close_range(first, last, flags);
	return rc;
}

SHIM_EXPORT void closefrom(int lowfd)
{
	shim_init();
	if (!t_inlib && lowfd >= 0) {
		for (unsigned fd = (unsigned)lowfd; fd < g_tabsize; fd++) {
			if (ep_is((int)fd))
				ep_forget_fd((int)fd);
			pvs_forget((int)fd);
		}
	}
	if (R.closefrom)
		R.closefrom(lowfd);
}

/* Calls that hand out fd numbers: a number we still knew is stale. */
#define FRESH(call)                    \
	do {                           \
		int _fd;               \
		shim_init();           \
		_fd = (call);          \
		if (_fd >= 0)          \
			fd_fresh(_fd); \
		return _fd;            \
	} while (0)

static mode_t va_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = va_mode(flags, ap);
	va_end(ap);
	FRESH(R.open(path, flags, m));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = va_mode(flags, ap);
	va_end(ap);
	FRESH(R.open64 ? R.open64(path, flags, m) : R.open(path, flags, m));
}

SHIM_EXPORT int openat(int dfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = va_mode(flags, ap);
	va_end(ap);
	FRESH(R.openat(dfd, path, flags, m));
}

SHIM_EXPORT int openat64(int dfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = va_mode(flags, ap);
	va_end(ap);
	FRESH(R.openat64 ? R.openat64(dfd, path, flags, m) : R.openat(dfd, path, flags, m));
}

SHIM_EXPORT int pipe(int fds[2])
{
	int rc;

	shim_init();
	rc = R.pipe(fds);
	if (rc == 0) {
		fd_fresh(fds[0]);
		fd_fresh(fds[1]);
	}
	return rc;
}

SHIM_EXPORT int pipe2(int fds[2], int flags)
{
	int rc;

	shim_init();
	rc = R.pipe2(fds, flags);
	if (rc == 0) {
		fd_fresh(fds[0]);
		fd_fresh(fds[1]);
	}
	return rc;
}

SHIM_EXPORT int socketpair(int d, int type, int proto, int fds[2])
{
	int rc;

	shim_init();
	rc = R.socketpair(d, type, proto, fds);
	if (rc == 0) {
		fd_fresh(fds[0]);
		fd_fresh(fds[1]);
	}
	return rc;
}

SHIM_EXPORT int eventfd(unsigned count, int flags)
{
	FRESH(R.eventfd(count, flags));
}

SHIM_EXPORT int epoll_create(int size)
{
	FRESH(R.epoll_create(size));
}

SHIM_EXPORT int epoll_create1(int flags)
{
	FRESH(R.epoll_create1(flags));
}

/* More calls that hand out numbers (fortified open, timers, signalfd). */
SHIM_EXPORT int __open_2(const char *path, int flags)
{
	FRESH(R.open(path, flags, 0));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	FRESH(R.open64 ? R.open64(path, flags, 0) : R.open(path, flags, 0));
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
	FRESH(R.open(path, O_CREAT | O_WRONLY | O_TRUNC, mode));
}

SHIM_EXPORT int timerfd_create(int clock, int flags)
{
	static int (*real)(int, int);

	if (!real)
		real = (int (*)(int, int))sym("timerfd_create");
	FRESH(real ? real(clock, flags) : ERR(ENOSYS));
}

SHIM_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	static int (*real)(int, const sigset_t *, int);

	if (!real)
		real = (int (*)(int, const sigset_t *, int))sym("signalfd");
	FRESH(real ? real(fd, mask, flags) : ERR(ENOSYS));
}
