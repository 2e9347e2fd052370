/* SPDX-License-Identifier: MIT */
/*
 * Frontend internals, shared by its source files:
 *   frontend.c    open, close, the backend's state (the only file that
 *                 sees the XenBus negotiation), stats
 *   front_wait.c  waiting: spinning, sleeping, the poller and dispatch
 *   front_cmd.c   request slots, submitting and completing commands
 *   front_sock.c  the socket table and the socket calls
 *   front_data.c  send and recv on the data rings
 *   front_poll.c  pvcalls_front_poll()
 *   front_extcmd.c the extensions' calls (docs/extensions.md)
 *   front_dgram.c datagram sockets, sendmsg and recvmsg
 *
 * Locking: fe->lock guards the socket table, the request slots, the
 * command ring and all socket state. Data-ring traffic is lockless: one
 * sender (s->tx_lock) and one receiver (s->rx_lock) per socket, taken
 * before fe->lock when both are needed.
 *
 * Time: deadlines are absolute ms of CLOCK_MONOTONIC (common/clock.h).
 * xenbus/xenbus.h still declares its own pvc_now_ms(), which clashes with
 * clock.h's; so this header includes neither, frontend.c includes only
 * xenbus.h and the other files only clock.h. Same clock either way.
 */
#ifndef PVCALLS_FRONT_PRIV_H
#define PVCALLS_FRONT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>

#include "common/relax.h"

#define NSLOTS PVCALLS_WIRE_CMD_RING_SIZE
/* pvcalls_front_opts.cmd_timeout_ms's defaults: how long a command may
 * take to be answered; CONNECT without a send timeout longer than the
 * host's own give-up time (Linux, default tcp_syn_retries: ~127 s). */
#define DEFAULT_CMD_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_WAIT_MS 135000
/* RELEASEs sent and not answered yet (front_sock.c, "Asynchronous release"):
 * at most half of the slots, so other calls always find one. */
#define MAX_RELEASING (NSLOTS / 2)

enum fstate {
	FS_NEW,        /* after SOCKET */
	FS_CONNECTING, /* CONNECT in flight */
	FS_CONNECTED,  /* active: has a data ring */
	FS_BOUND,      /* after BIND */
	FS_LISTENING,  /* after LISTEN */
};

/* The shared resources of an active socket. */
struct fring {
	bool valid;
	void *intf_page;
	uint32_t intf_ref;
	void *data;
	unsigned npages;
	uint32_t *refs; /* our copy of the data pages' refs (the page's is shared) */
	uint32_t port;
	pvcalls_data_ring ring;
	/* Ring reuse (docs/extensions.md, "Ring reuse"): the backend holds
	 * it parked, i.e. RELEASE answered val 1, or it was taken parked and
	 * the CONNECT or ACCEPT naming it has not been answered 0. A parked
	 * ring is never unshared before RING_FREE is answered. */
	bool parked;
};

/* Shared pages of a released ring, kept for the next socket of that order
 * (front_sock.c, "Ring cache"). */
struct fring_cached {
	void *intf_page;
	uint32_t intf_ref;
	void *data;
	unsigned npages;
	uint32_t *refs;
	struct fring_cached *next;
	/* Ring reuse: parked at the backend, with its port still bound. */
	bool parked;
	uint32_t port;
	bool sent; /* on fe->rf_list: RING_FREE sent */
};
#define RING_CACHE_MAX 4 /* per order */
/* Parked rings kept for reuse, all orders (docs/extensions.md, "Limits"). */
#define PARKED_MAX 8

struct fsock {
	int handle; /* -1 while not in the table (a socket being accepted) */
	uint64_t id;
	int family; /* AF_INET, or AF_INET6 (inet6 in force) */
	enum fstate state;
	bool nonblock;
	int sndtimeo, rcvtimeo; /* ms, -1 none */
	uint32_t order;
	struct fring r;
	int users;    /* threads inside a call on this socket */
	int sleepers; /* threads asleep on this socket's ring (wait hint raised) */
	bool closing; /* RELEASE started: blocked callers leave with -EBADF */
	bool orphan;  /* of a backend session that is over (pvc_fe_revive) */
	pthread_mutex_t tx_lock, rx_lock;
	/* Adaptive spin budgets of data waits, us (front_wait.c,
	 * pvc_fe_spin_learn): spin_tx under tx_lock, spin_rx under rx_lock;
	 * 0: not set yet. */
	uint32_t spin_tx, spin_rx;
	/* Non-blocking connect: result kept until connect() is called again. */
	bool connect_done;
	int connect_err;
	/* Listener state. */
	int accepts_inflight, accept_waiters;
	struct fsock *acc_head, *acc_tail; /* accepted, not yet returned */
	bool poll_inflight, poll_ready;
	struct fsock *next; /* accept queue link */
	/* SHUTDOWN (front_extcmd.c): once shut_wr is set no send advances
	 * out_prod; tx_busy counts senders between their check of shut_wr and
	 * their ring write (both seq_cst, see pvc_fe_ext_tx_enter()). */
	int shut_wr;
	int tx_busy;
	bool shut_rd_sent; /* a SHUTDOWN reading side is outstanding (listener case) */
	/* SOCKET is not waited for (front_sock.c): its error, once answered,
	 * is what every later call on the socket but release returns. */
	int sock_err;
	/* RELEASE sent, answer awaited: out of the table, on fe->releasing
	 * (linked by next); its ring is reclaimed when the answer comes. */
	bool released;
	/* Datagram sockets (front_dgram.c): state FS_NEW for good, rings
	 * attached at creation. dg_connected under fe->lock; dg_err_seen
	 * (the out_error last reported) written under tx_lock; dg_broken (the
	 * backend broke the record format) written under either direction's
	 * lock; both read by poll too, so accessed with relaxed atomics. */
	bool dgram;
	bool dg_connected;
	bool dg_broken;
	int32_t dg_err_seen;
};

/* A caller waiting for the answer to its request. */
struct req_waiter {
	bool done;
	int err;
	unsigned slot;
	uint32_t gen;
	int family; /* extension commands: the socket's (ext_call), to check a name */
	/* Extension commands: the response's val and, for those that name
	 * one, the reply area as it was when the response was taken. */
	uint32_t val;
	uint8_t area[56];
};

struct slot {
	bool busy;
	uint32_t gen;
	uint32_t cmd;
	uint64_t id;
	struct fsock *sock;         /* CONNECT: the socket; ACCEPT/POLL: the listener */
	struct fsock *newsock;      /* ACCEPT: the socket being accepted */
	struct req_waiter *w;       /* NULL when nobody waits (asynchronous) */
	struct fring_cached *rfree; /* RING_FREE: the parked ring it ends (on fe->rf_list) */
};

struct pvc_xb_front;

struct pvcalls_front {
	pvcalls_transport *t;
	struct pvc_xb_front *xb; /* the negotiation's results; frontend.c only */
	uint32_t backend_id;     /* copied from xb: the backend's domain */
	uint32_t max_order;      /* copied from xb: backend's max-page-order */
	pthread_mutex_t lock;    /* everything below, except data-ring traffic */
	pthread_cond_t cond;     /* broadcast on every state change */
	void *cmd_page;
	uint32_t cmd_ref, cmd_port;
	pvcalls_cmd_front cmd;
	struct slot slots[NSLOTS];
	unsigned slots_busy;
	struct fsock **socks;
	int nsocks;
	uint64_t next_id;
	bool poller_busy; /* a thread is sleeping in epoll_wait() on epfd */
	bool kicked;      /* kickfd written, not drained yet */
	bool event_loop;  /* the application sleeps on epfd itself: keep hints raised */
	int kickfd;       /* eventfd in epfd: wakes the poller (release, close) */
	bool dead;        /* backend gone or protocol violated */
	int epfd;
	uint32_t order_default, spin_us;
	int cmd_timeout_ms;   /* waits for a command's answer (not ACCEPT/POLL) */
	int connect_wait_ms;  /* CONNECT's, when the socket has no send timeout */
	char watch_token[32]; /* ours alone: other frontends may share the transport */
	uint32_t cmd_spin[PVCALLS_WIRE_NR_CMDS]; /* adaptive spin per command, us (0: unset) */
	bool hint;
	uint32_t ext;            /* PVCALLS_FEATURE_* in force (front_extcmd.c) */
	struct fsock *releasing; /* released sockets awaiting RELEASE's answer, oldest first */
	unsigned nreleasing;
	struct fring_cached *ring_cache[PVCALLS_WIRE_MAX_RING_ORDER + 1]; /* by order */
	unsigned ring_cached[PVCALLS_WIRE_MAX_RING_ORDER + 1];
	unsigned nparked;             /* parked rings among them */
	struct fring_cached *rf_list; /* parked rings not kept: RING_FREE queued or sent */
	struct pvcalls_front_stats stats;
};

/* What woke the poller: epoll's data.u32 of each fd in epfd. */
#define EV_EVTCHN 1u
#define EV_STORE 2u
#define EV_KICK 4u
#define EV_ALL (EV_EVTCHN | EV_STORE | EV_KICK)

/* ---- frontend.c ------------------------------------------------------ */

/* Store events: re-reads the backend's state. Lock held. */
void pvc_fe_handle_store(pvcalls_front *fe);
/*
 * The backend is gone (fe->dead): if the store shows a backend starting a
 * new session (a restarted pvcallsd), ends the old session (its sockets
 * become orphans, its requests fail with -ENOTCONN) and negotiates again
 * under the lock, bounded by REVIVE_TIMEOUT_MS. 0: alive again;
 * -ENOTCONN: still gone. Lock held.
 */
int pvc_fe_revive(pvcalls_front *fe);

/* ---- front_wait.c ---------------------------------------------------- */

/* Something a blocked call waits for; pvc_fe_wait() returns once pred()
 * holds. Called with fe->lock held, after every dispatch. */
typedef bool (*pred_fn)(pvcalls_front *fe, void *arg);

/* What pvc_fe_wait() waits for, and how. Zero-initialise, then set. */
struct fe_waiter {
	pred_fn pred;
	void *arg;
	int64_t deadline;     /* absolute ms; -1: forever */
	struct fsock **hints; /* active sockets whose wait-hint word to raise while asleep */
	unsigned nhints;
	bool spun;        /* the caller already spun (on a data ring): sleep at once */
	uint32_t *budget; /* adaptive spin budget to use and learn; NULL: spin_us */
};

/* Waits until w->pred() holds. Lock held on entry and exit.
 * Returns 0, -ETIMEDOUT or -ENOTCONN (backend gone). */
int pvc_fe_wait(pvcalls_front *fe, const struct fe_waiter *w);
/* Wakes the poller so that it re-checks everything. Lock held. */
void pvc_fe_kick_poller(pvcalls_front *fe);
/* The backend is gone or broke the protocol: every call leaves. Lock held. */
void pvc_fe_kill(pvcalls_front *fe, const char *why);
/* Handles pending events among @what (EV_*) without blocking. Lock held. */
void pvc_fe_dispatch(pvcalls_front *fe, unsigned what, bool all);
/* The adaptive spin budget *@budget (set to spin_us if unset), us. */
uint32_t pvc_fe_spin_budget(pvcalls_front *fe, uint32_t *budget);
/* Adapts *@budget to a wait that took @waited us (and slept or not). */
void pvc_fe_spin_learn(pvcalls_front *fe, uint32_t *budget, int64_t waited, bool slept);

/* ---- front_cmd.c ----------------------------------------------------- */

/* Takes every response off the command ring; @arm: and asks to be
 * notified of the next (only before sleeping). Lock held. */
void pvc_fe_handle_responses(pvcalls_front *fe, bool arm);
/* Sends @req, waiting for a slot until @deadline; @w NULL: nobody waits
 * for the answer. Lock held. */
int pvc_fe_submit(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		  struct fsock *newsock, struct req_waiter *w, int64_t deadline);
/* Waits for the answer to a request submitted with @w. Returns the
 * request's result once w->done; otherwise (timeout, backend gone) the
 * wait's error, and the request completes without a waiter. Lock held. */
int pvc_fe_await(pvcalls_front *fe, struct req_waiter *w, uint32_t cmd, int64_t deadline);
/* Completes every request in flight with @err (a backend session that
 * is over: frontend.c, pvc_fe_revive()). Lock held. */
void pvc_fe_fail_requests(pvcalls_front *fe, int err);
/* pvc_fe_submit() then pvc_fe_await(). Lock held. */
int pvc_fe_call(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		struct fsock *newsock, int64_t deadline);

/* ---- front_extcmd.c -------------------------------------------------- */

/* Parses any response: v1 (pvcalls_rsp_parse) or an extension command's.
 * -EPROTO if malformed. */
int pvc_fe_ext_rsp_parse(const struct pvcalls_wire_response *raw, struct pvcalls_rsp *rsp);
/* Before a request is put in slot @slot: names reply area @slot if the
 * command returns one. */
void pvc_fe_ext_prepare(struct pvcalls_wire_request *req, unsigned slot);
/* When the response to @cmd (on socket @s) in slot @slot came: applies its
 * effect and keeps val and the reply area for the waiter @w (may be NULL).
 * Lock held. */
void pvc_fe_ext_complete(pvcalls_front *fe, uint32_t cmd, struct fsock *s, unsigned slot, int err,
			 uint32_t val, struct req_waiter *w);
/* Around a send's ring write: false (and nothing to leave) after SHUT_WR. */
bool pvc_fe_ext_tx_enter(struct fsock *s);
void pvc_fe_ext_tx_leave(struct fsock *s);

/* ---- front_sock.c ---------------------------------------------------- */

/* Looks up a socket and counts the caller as a user (NULL: no such
 * socket, or being released). Lock held. */
struct fsock *pvc_fe_sock_get(pvcalls_front *fe, int h);
/* Drops a user taken by pvc_fe_sock_get(). Lock held. */
void pvc_fe_sock_put(pvcalls_front *fe, struct fsock *s);
/* Frees a socket that is in no table and no slot, with its ring. */
void pvc_fe_sock_destroy(pvcalls_front *fe, struct fsock *s);
/* Ends the sharing of a socket's data ring and closes its port. */
void pvc_fe_ring_free(pvcalls_front *fe, struct fring *r);
/* A released socket whose RELEASE was answered 0 (@answered), or will never
 * be (backend gone, close, timeout): drops the slots that still name it,
 * takes it off fe->releasing and frees it; its ring's pages go to the ring
 * cache if @answered and there is room, else are unshared. Lock held. */
void pvc_fe_sock_reclaim(pvcalls_front *fe, struct fsock *s, bool answered);
/* Unshares every cached ring (close), parked ones and those awaiting
 * RING_FREE's answer included (the backend ends them at Closing). Lock
 * held. */
void pvc_fe_ring_cache_drain(pvcalls_front *fe);
/* RING_FREE answered (@c from its slot): ends the grants and the port on 0
 * or -ENOENT; other answers keep them until close. Lock held. */
void pvc_fe_ring_free_done(pvcalls_front *fe, struct fring_cached *c, int err);
/* A new socket (not in the table yet), its ring (no lock needed), and
 * putting it into the table (returns the handle). */
struct fsock *pvc_fe_sock_alloc(pvcalls_front *fe);
int pvc_fe_ring_alloc(pvcalls_front *fe, struct fsock *s);
int pvc_fe_sock_add(pvcalls_front *fe, struct fsock *s);

/* ---- front_dgram.c --------------------------------------------------- */

/* pvcalls_front_socket() for SOCK_DGRAM. Lock not held. */
int pvc_fe_dgram_socket(pvcalls_front *fe, int domain, int protocol, bool nonblock);
/* connect(2) of a datagram socket. Lock held. */
int pvc_fe_dgram_connect(pvcalls_front *fe, struct fsock *s, const struct sockaddr *addr,
			 socklen_t addrlen);
/* send/recv of a datagram socket (no lock held). */
ssize_t pvc_fe_dgram_send(pvcalls_front *fe, int h, const void *buf, size_t len, int flags);
ssize_t pvc_fe_dgram_recv(pvcalls_front *fe, int h, void *buf, size_t len, int flags);
/* Readiness (POLLIN/POLLOUT/POLLERR; *@seq as pvcalls_ready.seq) and
 * FIONREAD of a datagram socket. Lock held. */
short pvc_fe_dgram_revents(struct fsock *s, uint32_t *seq);
int pvc_fe_dgram_nread(struct fsock *s);

#endif
