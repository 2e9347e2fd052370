/* SPDX-License-Identifier: MIT */
/*
 * Backend internals, shared by its source files:
 *   backend.c     object lifecycle, event loop, wait policy, stats
 *   back_xenbus.c negotiation and the frontend lifecycle
 *   back_sock.c   the socket table, socket state, ring mapping, fds and
 *                 epoll, lingering close
 *   back_cmd.c    the command ring and the seven commands
 *   back_data.c   the data relay (socket <-> data ring)
 *   back_policy.c rules, limits and the decision callback
 *   back_audit.c  audit records and their JSON
 *   back_ext.c    the extension commands (docs/extensions.md)
 *   back_dgram.c  datagram sockets: their commands and record relay
 *
 * back_cmd.c and back_data.c never call each other: both work on sockets
 * through back_sock.c, and the loop (backend.c) routes a socket's epoll
 * events to one or the other by its state.
 *
 * Everything runs on the thread that calls pvcalls_back_process(); the only
 * cross-thread access is pvcalls_back_get_stats() (stats_lock, atomics).
 */
#ifndef PVCALLS_BACK_PRIV_H
#define PVCALLS_BACK_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/wire.h>

/* The backend's intrusive doubly-linked lists (a frontend's sockets, the
 * lingering closes, the hot sockets): @head is the list's first node,
 * @next/@prev the member names of the links. */
#define PVC_LIST_PUSH(head, n, next, prev)  \
	do {                                \
		(n)->prev = NULL;           \
		(n)->next = (head);         \
		if (head)                   \
			(head)->prev = (n); \
		(head) = (n);               \
	} while (0)
#define PVC_LIST_UNLINK(head, n, next, prev)         \
	do {                                         \
		if ((n)->prev)                       \
			(n)->prev->next = (n)->next; \
		else                                 \
			(head) = (n)->next;          \
		if ((n)->next)                       \
			(n)->next->prev = (n)->prev; \
	} while (0)

#include "common/bucket.h"
#include "common/clock.h"
#include "common/idmap.h"
#include "common/log.h"
#include "common/sockaddr.h"
#include "xenbus/xenbus.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* Defaults of struct pvcalls_back_limits (documented in backend.h). */
#define BACK_DEF_MAX_SOCKETS 1024u
#define BACK_DEF_MAX_LISTENERS 64u
#define BACK_DEF_MAX_PENDING_ACCEPTS 32u
#define BACK_DEF_MAX_MAPPED_PAGES 65536u
#define BACK_DEF_MAX_RING_ORDER 9u
#define BACK_DEF_MAX_BACKLOG 128u
#define BACK_DEF_SPIN_US 20u
/* cmd_rate's default (docs/PERFORMANCE.md, "Command rate"): the most
 * that keeps a command flood's cost to another guest's throughput within
 * 10% as measured (pvcalls-isolation --victim-cpu 0 --pin 1: 30000 cost
 * 12%, 20000 7-8%). It only applies while another frontend has work; a
 * lone frontend is never held, whatever the rate. A program churning
 * connections as fast as wrk against nginx with a new connection per
 * request (4 requests each, about 23000/s through pvcalls-run) is slowed
 * to about 5000 connections/s only while sharing the backend. */
#define BACK_DEF_CMD_RATE 20000u
#define BACK_DEF_CMD_BURST 256u
/* Parked data rings per frontend (docs/extensions.md, "Ring reuse"). */
#define BACK_MAX_PARKED 64u

/* How often a listener starved of host fds retries accept4(). */
#define BACK_STARVED_US 100000

/* Requests taken from one frontend's command ring per round (fairness):
 * a frontend with more pending stays hot and gets this many again in
 * every following round, after every other busy frontend got as many
 * (issue 13; docs/threat-model.md, "Isolation under abuse"). A quarter of
 * the ring, so one frontend that keeps its ring full costs another at
 * most this many commands of latency per round. */
#define BACK_CMD_BATCH 8u
/* The command rate (cmd_rate in backend.h; docs/threat-model.md,
 * "Isolation under abuse") holds a frontend back only while another
 * frontend had work done within this window: a lone frontend, or one
 * whose neighbours are idle, is never held. */
#define BACK_CMD_CONTEND_US 10000
/* A held frontend is looked at again when its next token is due, but
 * not sooner than this (one timer wakeup per this long at most). */
#define BACK_CMD_HOLD_MIN_US 1000
/* Notification storms (docs/threat-model.md, "Isolation under abuse"):
 * after this many events in a row on one port that found no work, the
 * port is unmasked only BACK_IDLE_DEFER_US later. Events that come
 * meanwhile coalesce into one, so a guest that notifies in a loop costs
 * the loop one pass per BACK_IDLE_DEFER_US, not one per notification;
 * its work is delayed at most that long, never dropped. Any event that
 * finds work resets the count. */
#define BACK_IDLE_EVENTS 8u
#define BACK_IDLE_DEFER_US 1000
/* Store events handled per round (event-channel ports: one per round);
 * the fds are level-triggered, so the rest come in the next round. */
#define BACK_STORE_BATCH 64u
/* Sockets polled while spinning; beyond, new ones are not polled. */
#define BACK_HOT_MAX 64u
/* Out-ring data still unsent when its socket is released is sent in the
 * background ("lingering") for at most this long, within this budget. */
#define BACK_LINGER_US (30 * 1000000LL)
#define BACK_LINGER_MAX_BYTES (64u << 20)
/* Lingering sockets are host fds too: each counts against its frontend's
 * max_sockets until it ends, and at most this many linger per backend
 * (beyond, a release drops its unsent bytes and closes at once). */
#define BACK_LINGER_MAX_SOCKS 4096u
/* Messages a frontend's requests and sockets may cause (ERR..INFO, the
 * transport's included): a bucket of this many, refilled at this rate;
 * the rest are counted and summarised at most every BACK_LOG_SUMMARY_US
 * ("frontend N: M messages suppressed"). */
#define BACK_LOG_BURST 20u
#define BACK_LOG_RATE 5u
#define BACK_LOG_SUMMARY_US (2 * 1000000LL)
/* A notification the transport failed to send is owed and retried
 * (docs/threat-model.md, "What pvcallsd and the backend enforce"): first after
 * BACK_NOTIFY_RETRY_US, then twice as long after each retry that still
 * failed; after BACK_NOTIFY_TRIES such retries in a row (about 0.5 s) the
 * frontend is disconnected. */
#define BACK_NOTIFY_RETRY_US 1000
#define BACK_NOTIFY_TRIES 9u

/* ---------------------------------------------------------------------- */

/* What an epoll event's data.ptr points at (the first member of each). */
enum ep_kind {
	EPK_EVTCHN = 1,
	EPK_STORE,
	EPK_KICK,
	EPK_SOCK,
	EPK_LINGER,
	EPK_TIMER,
};

struct ep_tag {
	enum ep_kind kind;
};

/* What a local event-channel port belongs to. */
enum port_kind {
	PORT_CMD = 1,
	PORT_SOCK,
};

struct back_port {
	struct pvc_idmap_node n; /* key: local port, in b->ports */
	enum port_kind kind;
	bool bound;
	bool deferred;           /* masked until unmask_us, on b->deferred */
	uint32_t idle;           /* events in a row that found no work */
	int64_t unmask_us;       /* when a deferred port is unmasked */
	struct back_port *dnext; /* b->deferred, oldest first */
};

enum back_sock_state {
	BS_NEW,        /* after SOCKET: an id, no host socket yet */
	BS_CONNECTING, /* CONNECT answered when connect() completes */
	BS_ACTIVE,     /* connected: data flows */
	BS_BOUND,      /* passive: bound */
	BS_LISTENING,  /* passive: listening */
	BS_ACCEPTING,  /* id_new of a pending ACCEPT: rings mapped, queued */
	BS_DGRAM,      /* SOCK_DGRAM: host UDP socket; rings after DGRAM_RINGS (back_dgram.c) */
};

/* The mapped data ring of an active (or accepting/connecting) socket. */
struct back_ring {
	struct pvcalls_wire_data_intf *intf;
	void *data;
	uint32_t order;
	uint32_t npages; /* data pages */
	bool mapped;
	uint32_t port; /* local port bound to the frontend's */
	pvcalls_data_ring ring;
	/* What the frontend named: its indexes-page ref and its port (the
	 * keys of ring reuse, docs/extensions.md, "Ring reuse"). */
	uint32_t ref, evtchn;
	/* Taken from the parked rings by a CONNECT or ACCEPT not answered 0
	 * yet: parked again if that request fails (back_sock.c). */
	bool from_park;
};

/* A parked data ring (back_sock.c): mapped and its port bound, no socket;
 * its port is not in b->ports, so its notifications are ignored. */
struct back_parked {
	struct back_parked *next, *prev; /* f->parked */
	struct back_ring r;
};

/* What the audit needs of a request until it is answered. */
struct back_audit_ctx {
	int64_t t0;       /* monotonic us when taken; 0 when not auditing */
	uint8_t decision; /* enum pvcalls_back_decision */
	char reason[96];
	/* Extension commands (back_ext.c): what their audit record carries. */
	bool ext; /* ext_arg (how / option id) is set */
	uint32_t ext_arg;
	uint8_t ext_nval; /* SETSOCKOPT: values in ext_val (1, or 2 for SO_LINGER) */
	int32_t ext_val[2];
	bool has_name; /* GETSOCKNAME/GETPEERNAME answered: the address */
	union pvc_sockaddr name;
};

/* A deferred POLL. */
struct back_poll {
	struct back_poll *next;
	struct pvcalls_wire_request req;
	int64_t t0;
};

/* A released socket still sending what its out ring held (back_sock.c):
 * it owns the fd now, the struct back_socket is gone. */
struct back_linger {
	struct ep_tag tag; /* EPK_LINGER */
	struct back_linger *next, *prev;
	struct back_frontend *f; /* whose budget it counts in; NULL once gone */
	int fd;
	uint8_t *buf;
	size_t len, off;
	int64_t deadline_us;
	bool reset; /* SO_LINGER with a time: reset the connection at the deadline */
};

struct back_frontend;
struct back_dgram;

struct back_socket {
	struct ep_tag tag;         /* EPK_SOCK */
	struct pvc_idmap_node idn; /* key: id, in f->ids */
	struct back_port pe;       /* PORT_SOCK */
	struct back_frontend *f;
	struct back_socket *next, *prev; /* f->socks */
	uint64_t id;
	enum back_sock_state state;
	int fd;
	bool in_epoll;
	bool dead; /* released; freed at the end of the round */
	/* Created by a CONNECT or BIND whose id never saw SOCKET (Linux's
	 * frontends may skip it): forgotten again if that call fails. */
	bool implicit;
	struct back_ring r;
	/* The deferred CONNECT or ACCEPT (its copy, for the answer). */
	struct pvcalls_wire_request req;
	struct back_audit_ctx ax;
	int family;                        /* AF_INET, or AF_INET6 (SOCKET with inet6 in force) */
	union pvc_sockaddr laddr;          /* BIND's address, for LISTEN's policy check */
	union pvc_sockaddr baddr;          /* the address bound (getsockname), for BIND's check */
	bool v6only;                       /* AF_INET6: IPV6_V6ONLY when it was bound */
	struct back_socket *pnext, *pprev; /* b->passive: BOUND or LISTENING */
	bool starved; /* listening: accept4() hit a host shortage (EMFILE...) */

	/* Extensions (back_ext.c, docs/extensions.md). */
	bool shut_wr;       /* SHUTDOWN SHUT_WR taken: host shutdown once the out ring drains */
	bool shut_wr_done;  /* host shutdown(SHUT_WR) made: later out bytes are dropped */
	bool shut_rd;       /* SHUTDOWN SHUT_RD: host data is discarded */
	bool reuseaddr_set; /* the frontend set SO_REUSEADDR: BIND keeps its choice */
	bool nodelay_set;   /* the frontend set TCP_NODELAY: activation keeps its choice */
	int32_t linger_on, linger_s; /* the SO_LINGER record, applied at RELEASE */
	struct back_dgram *dg;       /* BS_DGRAM: the relay's state (back_dgram.c) */

	/* Active relay state. */
	bool can_read;    /* the socket may have data (edge seen, no EAGAIN since) */
	bool can_write;   /* the socket may take data */
	bool rd_stop;     /* in_error is set (by us or the frontend): no more reads */
	bool wr_stop;     /* out_error is set: no more writes */
	bool rdhup;       /* the peer closed or failed: read until 0 or an error */
	bool in_full;     /* stalled on a full in ring (counted once) */
	bool notify;      /* an index moved since the last notification */
	bool notify_owed; /* the last notification failed: retried (back_data.c) */

	/* Wait policy: polled while hot (our back_waiting word is 0). */
	bool hot;
	struct back_socket *hnext, *hprev;
	int64_t last_us; /* last productive moment */

	/* Passive: ACCEPTs queued FIFO (their id_new sockets) and POLLs. */
	struct back_socket *acc_head, *acc_tail;
	struct back_poll *poll_head, *poll_tail;
	/* Accepting: the listener and the queue link. */
	struct back_socket *listener;
	struct back_socket *acc_next;

	struct back_socket *free_next; /* b->socks_to_free */
};

struct back_frontend {
	struct back_frontend *next; /* b->fronts */
	pvcalls_back *b;
	uint32_t feid, devid;
	char bedir[PVC_XB_PATH];
	char fedir[PVC_XB_PATH];
	char token[48]; /* watch token of fedir */
	bool watching;
	uint32_t state; /* ours, as last published */
	bool connected;
	bool dead;
	bool hint;     /* both ends use the wait-hint extension */
	uint32_t ext;  /* PVCALLS_FEATURE_* in force (back_ext.c); set at connect */
	bool violated; /* disconnected for a violation, not restarted since */

	/* Command ring. */
	struct back_port pe; /* PORT_CMD */
	void *cmd_page;
	pvcalls_cmd_back cmd;
	bool cmd_hot;                /* polled while spinning; req_event not re-armed */
	bool cmd_more;               /* the batch limit left requests on the ring */
	unsigned cmd_round;          /* b->round when last serviced */
	int64_t last_us;             /* last request taken */
	struct back_frontend *cnext; /* b->cmd_hot list */
	/* Command rate (lim.cmd_rate): a token bucket in millionths of a
	 * request, consulted only under contention (back_cmd.c, cmd_admit). */
	struct pvc_bucket cmd_bucket;
	bool cmd_held;                         /* on b->cmd_held: requests wait for a token */
	bool cmd_stashed;                      /* cmd_stash was taken off the ring, not served */
	struct pvcalls_wire_request cmd_stash; /* the copy (taken once) */
	int64_t cmd_wake_us;                   /* when the held frontend is looked at again */
	struct back_frontend *hldnext;         /* b->cmd_held list */

	/* Failed notifications (back_data.c, pvc_back_notify_retry()). */
	bool notify_owed;        /* the command port or a socket's is owed */
	bool cmd_notify_owed;    /* the command port's */
	uint32_t notify_fails;   /* retries in a row that still failed */
	int64_t notify_retry_us; /* when the next retry is due */

	/* Sockets. */
	struct pvc_idmap ids;
	struct back_socket *socks;
	uint32_t nsocks;            /* every id in ids */
	uint32_t npassive;          /* BOUND + LISTENING */
	uint32_t nactive;           /* ACTIVE */
	uint32_t naccepting;        /* pending ACCEPTs */
	uint32_t npages;            /* mapped pages, command page included */
	uint32_t nlinger;           /* released sockets still lingering (back_sock.c) */
	struct back_parked *parked; /* ring reuse: parked rings (back_sock.c) */
	uint32_t nparked;

	/* Limits for this frontend (policy over options) and the CONNECT
	 * token bucket, in millionths of a token. */
	struct pvcalls_back_limits lim;
	struct pvc_bucket connect_bucket;

	/* Counters: written by the loop thread only (relaxed atomic stores),
	 * read by pvcalls_back_get_stats() from any thread. */
	struct pvcalls_back_stats st;

	/* The messages this frontend causes pass its domain's gate in
	 * b->log_keys (pvc_back_gate), which outlives it. */

	struct back_frontend *free_next; /* b->fronts_to_free */
};

struct pvcalls_back {
	pvcalls_transport *t;
	uint32_t domid;
	struct pvcalls_back_limits lim;
	uint32_t spin_us; /* 0: no spinning */
	bool offer_hint;
	uint32_t offer_ext;     /* PVCALLS_FEATURE_* we offer */
	char root[PVC_XB_PATH]; /* /local/domain/<own>/backend/pvcalls */
	bool root_watched;

	int epfd;
	int kickfd;  /* eventfd: "work is pending" for pvcalls_back_fd() pollers */
	int timerfd; /* timerfd: the first deferred unmask is due */
	struct ep_tag evt_tag, store_tag, kick_tag, timer_tag;
	bool kicked;
	bool work_pending; /* something is left to do without waiting */

	struct back_frontend *fronts;
	struct pvc_idmap ports;
	/* Every frontend's BOUND and LISTENING sockets (back_sock.c), for
	 * BIND's check that no other socket holds the address. */
	struct back_socket *passive;
	/* Listeners whose accept4() hit a host fd/memory shortage while
	 * connections were queued: retried every BACK_STARVED_US, since no
	 * new edge comes for connections already queued. */
	uint32_t nstarved;
	int64_t starved_us;

	/* Wait policy. */
	struct back_socket *hot_head, *hot_tail;
	uint32_t nhot;
	struct back_frontend *cmd_hot;
	unsigned round;   /* counts pvcalls_back_process() rounds */
	int64_t round_us; /* when the round's epoll_wait() returned */
	int64_t timer_us; /* when timerfd is armed to fire; 0: disarmed */
	/* Frontends held back by their command rate (unordered), served again
	 * from the timerfd (backend.c, timer_arm). */
	struct back_frontend *cmd_held;
	/* The two frontends that last had work done, distinct, most recent
	 * first, and when: "does another frontend have work?" for cmd_rate. */
	struct back_frontend *act_f[2];
	int64_t act_us[2];
	/* Ports whose unmask waits (BACK_IDLE_DEFER_US), oldest first. */
	struct back_port *deferred, *deferred_tail;

	/* Some frontend owes a notification: when the first retry is due
	 * (0: none). The timerfd fires for it too. */
	int64_t owed_us;

	/* Rate limits of the messages each guest causes, by domid: its
	 * frontends' work and the creation and removal of its devices
	 * (back_xenbus.c), which a guest that reconnects repeats. */
	struct pvc_log_keyed log_keys;
	/* Some guest has suppressed messages not reported yet; when the
	 * loop looks next. */
	bool log_pending;
	int64_t log_check_us;

	/* Released sockets still sending (back_sock.c). */
	struct back_linger *lingers;
	size_t linger_bytes;
	uint32_t nlingers;

	/* Released this round, freed when it ends (reap() in backend.c):
	 * its epoll events may still name them. */
	struct back_socket *socks_to_free;
	struct back_frontend *fronts_to_free;

	pthread_mutex_t stats_lock; /* fronts list vs. get_stats, and retired */
	struct pvcalls_back_stats retired;

	/* Policy and audit (back_policy.c, back_audit.c). */
	pvcalls_policy *policy;
	pvcalls_back_policy_fn pol_cb;
	void *pol_arg;
	pvcalls_back_audit_fn audit_fn;
	void *audit_arg;
	uint32_t policy_gen; /* bumped whenever the policy is replaced (caches) */

	char *pathbuf;    /* PVCALLS_STORE_MAX + 1, for watch events */
	uint32_t *refbuf; /* 2^9 refs, copied out of an indexes page */
};

/* Counter helpers: one writer, so a relaxed load + store is enough. */
#define ST_ADD(f, field, v)                                                                       \
	__atomic_store_n(&(f)->st.field, __atomic_load_n(&(f)->st.field, __ATOMIC_RELAXED) + (v), \
			 __ATOMIC_RELAXED)
#define ST_SUB(f, field, v)                                                                       \
	__atomic_store_n(&(f)->st.field, __atomic_load_n(&(f)->st.field, __ATOMIC_RELAXED) - (v), \
			 __ATOMIC_RELAXED)

/* backend.c: the loop's services */
/* Installs @f's log gate (its domain's) on this thread (work done for @f
 * from here on is rate-limited); returns the previous gate for
 * pvc_back_ungate(). */
struct pvc_log_gate *pvc_back_gate(struct back_frontend *f);
/* The same for work on domain @feid's devices without a frontend object
 * (their creation and removal). */
struct pvc_log_gate *pvc_back_gate_dom(pvcalls_back *b, uint32_t feid);
/* Puts @prev back; notes whether @f has messages to report. */
void pvc_back_ungate(struct back_frontend *f, struct pvc_log_gate *prev);
void pvc_back_ungate_dom(pvcalls_back *b, struct pvc_log_gate *prev);
/* Reports suppressed messages ("frontend N: M messages suppressed"):
 * those due (@all: every domain's now). */
void pvc_back_log_summary(pvcalls_back *b, bool all);
void pvc_back_port_add(pvcalls_back *b, struct back_port *pe, enum port_kind kind, uint32_t port);
void pvc_back_port_del(pvcalls_back *b, struct back_port *pe);
/* back_data.c: notifies @s's frontend that an index moved, only if it
 * sleeps when wait hints are in force (H2, ring/wait_hint.h); clears
 * s->notify. Streams and datagram sockets alike. */
void pvc_back_notify_front(struct back_socket *s);
/* back_data.c: notifies @f's command port (responses were pushed). */
void pvc_back_notify_cmd(struct back_frontend *f);
/* back_data.c: retries the owed notifications that are due; disconnects
 * a frontend whose retries kept failing (BACK_NOTIFY_TRIES). */
void pvc_back_notify_retry(pvcalls_back *b);
/* backend.c: a notification retry is due at @when (arms the timer). */
void pvc_back_notify_due(pvcalls_back *b, int64_t when);
/* Takes @pe out of the loop's ports (and off the deferred-unmask list,
 * unmasking it if it was waiting there) but leaves the port bound: a
 * parked ring's (back_sock.c, "Ring reuse"). */
void pvc_back_port_forget(pvcalls_back *b, struct back_port *pe);
void pvc_back_mark_work(pvcalls_back *b);
void pvc_back_hot_add(pvcalls_back *b, struct back_socket *s);
void pvc_back_hot_del(pvcalls_back *b, struct back_socket *s);
void pvc_back_cmd_hot_add(pvcalls_back *b, struct back_frontend *f);
void pvc_back_cmd_hot_del(pvcalls_back *b, struct back_frontend *f);
void pvc_back_cmd_held_add(pvcalls_back *b, struct back_frontend *f, int64_t wake_us);
void pvc_back_cmd_held_del(pvcalls_back *b, struct back_frontend *f);
void pvc_back_cmd_rate_init(struct back_frontend *f);
void pvc_back_cmd_sched_stop(pvcalls_back *b, struct back_frontend *f);

/* @f had work done at @now (a request taken, a socket relayed or
 * answered): kept in b->act_f for cmd_rate's contention test. */
static inline void pvc_back_active(pvcalls_back *b, struct back_frontend *f, int64_t now)
{
	if (b->act_f[0] != f) {
		b->act_f[1] = b->act_f[0];
		b->act_us[1] = b->act_us[0];
		b->act_f[0] = f;
	}
	b->act_us[0] = now;
}
void pvc_back_kick(pvcalls_back *b);
void pvc_back_stats_retire(pvcalls_back *b, struct back_frontend *f);

/* back_xenbus.c */
int pvc_back_xb_start(pvcalls_back *b);
int pvc_back_xb_watch_event(pvcalls_back *b, const char *path, const char *token);
void pvc_back_front_disconnect(struct back_frontend *f, bool violation);
void pvc_back_front_shutdown(struct back_frontend *f); /* pvcalls_back_free */
void pvc_back_front_free(struct back_frontend *f);
void pvc_back_front_kick_out(struct back_frontend *f);
/* As kick_out, for a frontend the backend cannot notify any more. */
void pvc_back_front_unreachable(struct back_frontend *f);

/* back_sock.c: the socket table, socket state, mapping, fds and epoll */
struct back_socket *pvc_back_sock_find(struct back_frontend *f, uint64_t id);
/* A new BS_NEW socket in f's table (the caller checked the limit), or NULL. */
struct back_socket *pvc_back_sock_new(struct back_frontend *f, uint64_t id);
void pvc_back_sock_set_state(struct back_socket *s, enum back_sock_state st);
/* Whether a BOUND or LISTENING socket of any frontend holds @a's port on
 * @a's address (or either is its family's wildcard; an AF_INET6 wildcard
 * without IPV6_V6ONLY holds 0.0.0.0 too; an IPv4-mapped address is the
 * IPv4 one). @v6only: @a's socket's IPV6_V6ONLY (AF_INET6 only). */
bool pvc_back_addr_taken(pvcalls_back *b, const union pvc_sockaddr *a, bool v6only);
/* BS_ACTIVE, and the relay starts. @readable: an epoll edge that may have
 * said EPOLLIN was consumed already (pvc_back_relay_start). */
void pvc_back_sock_activate(struct back_socket *s, bool readable);
/* Takes an accepting socket off its listener's queue. */
void pvc_back_accept_unlink(struct back_socket *s);
/* Before destroying an ACTIVE socket gracefully: flush, linger the rest. */
void pvc_back_sock_finish(struct back_socket *s);
/* Out of the table, everything released; freed at the end of the round. */
void pvc_back_sock_destroy(struct back_socket *s);
int pvc_back_ring_map(struct back_frontend *f, struct back_socket *s, uint32_t ref,
		      uint32_t evtchn);
/* Unmaps @s's ring; a ring taken from the parked ones by a CONNECT or
 * ACCEPT that has not succeeded is parked again instead. */
void pvc_back_ring_unmap(struct back_frontend *f, struct back_socket *s);
/* CONNECT and ACCEPT (docs/extensions.md, "Ring reuse"): with ring reuse
 * in force, a parked ring named by @ref and @evtchn is taken as it is
 * mapped; a parked ring's @ref with another port, or the @ref of a ring in
 * use, is -EINVAL. Otherwise (and without the extension) as
 * pvc_back_ring_map(). */
int pvc_back_ring_take(struct back_frontend *f, struct back_socket *s, uint32_t ref,
		       uint32_t evtchn);
/* RELEASE of an ACTIVE socket, after pvc_back_sock_finish(): parks its
 * ring if ring reuse is in force and the limits allow. True: parked (the
 * socket has no ring any more; RELEASE answers val 1). */
bool pvc_back_ring_park(struct back_socket *s);
/* RING_FREE: 0, or -ENOENT when no parked ring has @ref and @evtchn. */
int pvc_back_ring_free(struct back_frontend *f, uint32_t ref, uint32_t evtchn);
/* Ends every parked ring of @f (its disconnection). */
void pvc_back_parked_free_all(struct back_frontend *f);
int pvc_back_sock_epoll(struct back_socket *s, uint32_t events);
void pvc_back_sock_epoll_del(struct back_socket *s);
void pvc_back_sock_close_fd(struct back_socket *s);
void pvc_back_linger_event(pvcalls_back *b, struct back_linger *l);
void pvc_back_linger_sweep(pvcalls_back *b, bool all);
/* @f is going: its lingers count in no budget any more. */
void pvc_back_linger_orphan(struct back_frontend *f);
/* Whether @f may have one more socket: its ids and its lingering
 * released sockets together stay within max_sockets. */
bool pvc_back_sock_budget(const struct back_frontend *f);

/* back_cmd.c: the command ring, the commands, deferred answers */
int pvc_back_cmd_service(struct back_frontend *f);
void pvc_back_respond(struct back_frontend *f, const struct pvcalls_wire_request *req, int err,
		      const struct back_audit_ctx *ax);
/* The same with @val in the response's val word (0 when @err). */
void pvc_back_respond_val(struct back_frontend *f, const struct pvcalls_wire_request *req, int err,
			  uint32_t val, const struct back_audit_ctx *ax);
void pvc_back_flush(struct back_frontend *f);
void pvc_back_release_all(struct back_frontend *f, bool graceful);
void pvc_back_connect_done(struct back_socket *s);
void pvc_back_listener_service(struct back_socket *l);
void pvc_back_set_starved(struct back_socket *l, bool starved);
/* Retries the starved listeners (every BACK_STARVED_US). */
void pvc_back_starved_retry(pvcalls_back *b);

/* back_data.c: the relay of ACTIVE sockets */
bool pvc_back_relay_service(struct back_socket *s);
bool pvc_back_relay_has_work(struct back_socket *s);
void pvc_back_relay_start(struct back_socket *s, bool readable);
void pvc_back_relay_event(struct back_socket *s, uint32_t events);
int pvc_back_relay_flush(struct back_socket *s, struct iovec iov[2]);

/* back_ext.c: the extension commands (docs/extensions.md) */
/* Handles @req if it is an extension command in force for @f; false: not
 * one (the caller answers it as v1 does: an unknown command). */
bool pvc_back_ext_request(struct back_frontend *f, const struct pvcalls_wire_request *req);
/* What a v1 command means under the extensions in force (back_ext.c). */
struct back_xreq {
	int domain, type;        /* SOCKET: the host's values (AF_INET, SOCK_STREAM in v1) */
	union pvc_sockaddr addr; /* CONNECT, BIND: the address in the socket's family */
	socklen_t alen;          /* its host length; 0 for other commands */
};
/* Reads @raw again for the extensions in force for @f, given @rc, what
 * pvcalls_req_parse() said of it (@req): the v1 result unless SOCKET asks
 * for AF_INET6 or CONNECT/BIND name an AF_INET6 socket (docs/extensions.md,
 * "IPv6"). Fills @x; returns 0 or the error to answer. */
int pvc_back_ext_parse(struct back_frontend *f, const struct pvcalls_wire_request *raw,
		       struct pvcalls_req *req, int rc, struct back_xreq *x);
/* SOCKET with an extension in force: the host socket now, of @x's domain
 * and type. 0 or -errno. */
int pvc_back_ext_socket(struct back_socket *s, const struct back_xreq *x);
/* @s's host socket of its family (a NEW socket whose CONNECT failed
 * lost it). 0 or -errno. */
int pvc_back_ext_ensure_fd(struct back_socket *s);
/* The PVCALLS_FEATURE_* an extension command number needs; 0: none we
 * implement. */
uint32_t pvc_back_ext_cmd_feature(uint32_t cmd);
/* BIND on a socket that has its host socket: SO_REUSEADDR default and the
 * port-sharing check. 0, 1 (a port-0 bind with SO_REUSEPORT on: bind with
 * it off, then restore it), or the error to answer. */
int pvc_back_ext_bind_check(struct back_socket *s, const union pvc_sockaddr *addr);
/* Option names (PVCALLS_EXT_OPT_*): NULL / 0 when unknown. */
const char *pvc_back_opt_name(uint32_t opt);
uint32_t pvc_back_opt_by_name(const char *name);
/* back_data.c: the relay's share of SHUTDOWN (drops, host shutdown). */
void pvc_back_ext_relay(struct back_socket *s);

/* back_dgram.c: datagram sockets (docs/extensions.md, "Datagram sockets") */
/* A v1 command for a datagram socket (SOCKET of type SOCK_DGRAM, or a
 * command naming a BS_DGRAM id other than RELEASE), dgram in force:
 * handled and answered; false: not one. */
bool pvc_back_dgram_request(struct back_frontend *f, const struct pvcalls_wire_request *raw);
struct pvcalls_ext_request;
/* DGRAM_RINGS: 0 or the error to answer. */
int pvc_back_dgram_rings(struct back_frontend *f, const struct pvcalls_ext_request *req);
bool pvc_back_is_dgram(const struct back_socket *s);
/* The relay: as pvc_back_relay_service/has_work/event for BS_DGRAM. */
bool pvc_back_dgram_service(struct back_socket *s);
bool pvc_back_dgram_has_work(struct back_socket *s);
void pvc_back_dgram_event(struct back_socket *s, uint32_t events);
/* RELEASE: queued complete records are sent once each. */
void pvc_back_dgram_finish(struct back_socket *s);
void pvc_back_dgram_free(struct back_socket *s);

/* back_policy.c */
void pvc_back_front_limits(struct back_frontend *f);
/* Puts @c to the installed policy (and a CONNECT to the rate limit): 0 or
 * the error to answer; records the decision and reason in @ax. An AF_INET6
 * @c is judged as docs/extensions.md, "IPv6" says: an IPv4-mapped address
 * as IPv4, a destination on this host also as ::1 and 127.0.0.1. */
int pvc_back_policy_decide(struct back_frontend *f, const struct pvcalls_back_call *c,
			   struct back_audit_ctx *ax);
/* The same, and with @dual (a socket with IPV6_V6ONLY off) a BIND or
 * LISTEN on :: is also judged as one on 0.0.0.0. */
int pvc_back_policy_judge(struct back_frontend *f, const struct pvcalls_back_call *c, bool dual,
			  struct back_audit_ctx *ax);

/* back_audit.c */
void pvc_back_audit_emit(struct back_frontend *f, const struct pvcalls_wire_request *req,
			 int32_t ret, const struct back_audit_ctx *ax);

#endif
