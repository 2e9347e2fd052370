/* SPDX-License-Identifier: MIT */
/* Frontend internals, shared by its source files. */
#ifndef PVCALLS_FRONT_PRIV_H
#define PVCALLS_FRONT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>

#include "frontend/front_xenbus.h"

#define NSLOTS PVCALLS_WIRE_CMD_RING_SIZE

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
	uint32_t port;
	pvcalls_data_ring ring;
};

struct fsock {
	int handle; /* -1 while not in the table (a socket being accepted) */
	uint64_t id;
	enum fstate state;
	bool nonblock;
	int sndtimeo, rcvtimeo; /* ms, -1 none */
	uint32_t order;
	struct fring r;
	int users;    /* threads inside a call on this socket */
	int sleepers; /* threads asleep on this socket's ring (wait hint raised) */
	bool closing; /* RELEASE started: blocked callers leave with -EBADF */
	pthread_mutex_t tx_lock, rx_lock;
	/* Adaptive spin budgets of data waits, us (frontend.c, spin_learn):
	 * spin_tx under tx_lock, spin_rx under rx_lock; 0: not set yet. */
	uint32_t spin_tx, spin_rx;
	/* Non-blocking connect: result kept until connect() is called again. */
	bool connect_done;
	int connect_err;
	/* Listener state. */
	int accepts_inflight, accept_waiters;
	struct fsock *acc_head, *acc_tail; /* accepted, not yet returned */
	bool poll_inflight, poll_ready;
	struct fsock *next; /* accept queue link */
};

struct waiter {
	bool done;
	int err;
	unsigned slot;
	uint32_t gen;
};

struct slot {
	bool busy;
	uint32_t gen;
	uint32_t cmd;
	uint64_t id;
	struct fsock *sock;    /* CONNECT: the socket; ACCEPT/POLL: the listener */
	struct fsock *newsock; /* ACCEPT: the socket being accepted */
	struct waiter *w;      /* NULL when nobody waits (asynchronous) */
};

struct pvcalls_front {
	pvcalls_transport *t;
	struct pvc_xb_front xb;
	pthread_mutex_t lock; /* everything below, except data-ring traffic */
	pthread_cond_t cond;  /* broadcast on every state change */
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
	char watch_token[32]; /* ours alone: other frontends may share the transport */
	uint32_t cmd_spin[PVCALLS_WIRE_NR_CMDS]; /* adaptive spin per command, us (0: unset) */
	bool hint;
	struct pvcalls_front_stats stats;
};

#endif
