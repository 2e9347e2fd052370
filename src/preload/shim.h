/* SPDX-License-Identifier: MIT */
/*
 * libpvcalls-preload internals (docs/running-programs.md).
 *
 * Every AF_INET SOCK_STREAM socket the program creates becomes a PV Calls
 * socket of one per-process frontend; so do AF_INET6 streams and UDP
 * sockets when the backend offers the inet6 and dgram extensions, and
 * names are resolved over PV UDP (resolv.c). Its fd number is a placeholder, an
 * unconnected AF_UNIX stream socket the kernel allocated, so numbers never
 * collide, FD_CLOEXEC and O_NONBLOCK live in the kernel as usual, and
 * fstat() says "socket". The fd table maps such numbers to a refcounted
 * struct pvsock shared by dups.
 */
#ifndef PVCALLS_PRELOAD_SHIM_H
#define PVCALLS_PRELOAD_SHIM_H

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <pvcalls/frontend.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The functions we call underneath, resolved with dlsym(RTLD_NEXT). */
struct shim_real {
	int (*socket)(int, int, int);
	int (*socketpair)(int, int, int, int *);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	int (*pipe)(int *);
	int (*pipe2)(int *, int);
	int (*eventfd)(unsigned, int);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*shutdown)(int, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
};
extern struct shim_real R;
void shim_init(void);

/* A thread inside libpvcalls: interposers pass straight to the kernel. */
extern __thread int t_inlib __attribute__((tls_model("initial-exec")));
#define LIB_ENTER() (t_inlib++)
#define LIB_LEAVE() (t_inlib--)

enum pvstate {
	PS_NEW,
	PS_BOUND,
	PS_LISTEN,
	PS_CONNECTING,
	PS_CONNECTED,
	PS_CLOSED, /* released by shutdown(SHUT_RDWR) (v1 emulation) */
};

#define SHIM_NOPTS 24

struct pvopt {
	int level, name;
	socklen_t len;
	unsigned char val[16];
};

/* An address of the socket's family (AF_INET or AF_INET6). */
union pvaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct pvsock {
	int refs;             /* atomic: fds + calls in flight + epoll users */
	int nfd;              /* fds naming it (under g_lock) */
	int h;                /* frontend handle; -1 once released */
	unsigned gen;         /* fork generation that created it */
	pthread_mutex_t lock; /* everything below */
	enum pvstate state;
	int family; /* AF_INET or AF_INET6 (fixed at socket()) */
	bool dgram; /* SOCK_DGRAM: has_peer says "connected", state stays NEW/BOUND */
	bool nonblock;
	bool shut_rd, shut_wr;
	bool release_pending; /* shutdown(SHUT_RDWR) while other calls were in flight */
	bool accepted;
	int so_error; /* pending error, positive errno */
	bool has_local, has_peer;
	union pvaddr local, peer;
	int rcvtimeo_ms, sndtimeo_ms; /* -1 none */
	int nopts;
	struct pvopt opts[SHIM_NOPTS];
};

/* fd table (core.c). */
extern unsigned g_gen;
extern pthread_mutex_t g_lock;
struct pvsock *pvs_get(int fd); /* counted; NULL if not ours */
void pvs_put(struct pvsock *e);
void pvs_ref(struct pvsock *e);
bool pvs_is(int fd);                       /* cheap, no count */
int pvs_install(int fd, struct pvsock *e); /* new fd names e (counts it) */
void pvs_forget(int fd);                   /* the kernel closed fd: drop it */
void fd_fresh(int fd);                     /* the kernel handed out fd */
int pvs_close(int fd);                     /* close() of a PV fd */
unsigned shim_table_size(void);
struct pvsock *pvs_new(int h, bool nonblock);
bool pvs_usable(struct pvsock *e); /* false (errno EBADF, one line) if inherited */

/* The frontend (core.c). */
pvcalls_front *shim_fe(int *err); /* opens lazily; NULL: err = errno */
pvcalls_front *shim_fe_now(void); /* current one, or NULL */
void shim_note_thread(void);
extern int g_threads; /* threads that made PV calls */
void shim_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool shim_restart_ok(void);
int64_t shim_now_ms(void);

/* Extensions in force (sock.c). */
bool shim_dgram_on(pvcalls_front *fe); /* datagram sockets usable */
bool shim_inet6_on(void);              /* AF_INET6 sockets usable */
void shim_say_no_dgram(void);          /* once per process, on stderr */

/* Readiness (mux.c). */
struct mux_pv {
	struct pvsock *e;
	short events, revents;
	uint32_t seq;
};
/* kfds has room for nk + 2 entries. Returns ready count or -errno. */
int mux_wait(struct pollfd *kfds, nfds_t nk, struct mux_pv *pv, unsigned npv, int64_t timeout_ms,
	     const sigset_t *sigmask);
int pv_ready(struct mux_pv *pv, unsigned npv);
/* Waits for @ev on one socket: 0, -EAGAIN (timeout), -EINTR (no restart). */
int pv_wait(struct pvsock *e, short ev, int timeout_ms);
void ep_forget_sock(struct pvsock *e);
int shim_front_ready(pvcalls_front *fe, struct pvcalls_ready *r, unsigned n);
void shim_kick_sleepers(void);
void mux_atfork_child(void);
void ep_forget_fd(int epfd);
bool ep_is(int epfd);

/* Interposed names that system headers may not declare here. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *a,
		       socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);
int fcntl64(int fd, int cmd, ...);
ssize_t sendfile64(int out, int in, off_t *off, size_t count);
int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
		 const sigset_t *mask);
int close_range(unsigned first, unsigned last, int flags);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
void closefrom(int lowfd);

#define ERR(e) (errno = (e), -1)

#endif
