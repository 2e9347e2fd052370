/* SPDX-License-Identifier: MIT */
/*
 * Private interfaces of the shared-memory loopback transport (pvcalls/shm.h).
 * See shm.c for the overall design; each .c file explains its own part:
 *   shm.c        ops table, contexts, rendezvous (hello), public entry points
 *   shm_mem.c    page pools, grant tables, share/unshare/map/unmap
 *   shm_evtchn.c port tables and event delivery
 *   shm_store.c  the hub's store tree, watches and transactions
 *   shm_hub.c    the hub's service thread and per-guest bookkeeping
 *   shm_client.c the guest's store client over the socket
 *   shm_msg.c    framing and fd passing over the Unix socket
 */
#ifndef PVCALLS_SHM_PRIV_H
#define PVCALLS_SHM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

#include "common/clock.h"

#define SHM_PAGE_SIZE 4096u
#define SHM_PAGE_SHIFT 12
/* Xen's DOMID_FIRST_RESERVED is 0x7ff0; ids above are special there. */
#define SHM_DOMID_MAX 0x7fefu
#define SHM_NR_RESERVED_REFS 8u

#define SHM_DEF_MAX_PAGES 4096u
#define SHM_DEF_MAX_GRANTS 8192u
#define SHM_DEF_MAX_PORTS 4096u
#define SHM_DEF_TIMEOUT_MS 5000u
/* Hub: access control and per-guest costs (pvcalls_shm_opts, shm.h). */
#define SHM_DEF_HELLO_TIMEOUT_MS 2000u
#define SHM_DEF_MAX_GUESTS 256u
#define SHM_DEF_MAX_PENDING 16u
#define SHM_DEF_QUOTA_NODES 1000u
#define SHM_DEF_QUOTA_BYTES (256u * 1024u)
#define SHM_DEF_QUOTA_WATCHES 128u
#define SHM_DEF_QUOTA_TXNS 8u
#define SHM_DEF_STORE_RATE 2000u /* requests per second per guest */
#define SHM_DEF_STORE_BURST 512u
/* Two regions per socket (indexes page, data ring) at the backend's
 * default of 1024 sockets per frontend, plus slack. */
#define SHM_DEF_MAX_MAPS 4096u

/* Upper bounds for limits, also applied to what a peer advertises. */
#define SHM_CAP_MAX_PAGES (1u << 20)
#define SHM_CAP_MAX_GRANTS (1u << 20)
#define SHM_CAP_MAX_PORTS (1u << 20)

/* ------------------------------------------------------------------------
 * Shared-memory layouts. Everything in here can be written by the peer at
 * any time: access only with __atomic builtins and validate every value.
 */

/*
 * Grant table entry. desc is written by the granting domain only (in
 * intent); maps is incremented/decremented by mappers.
 */
struct shm_gnt_entry {
	uint64_t desc;
	uint32_t maps;
	uint32_t pad;
};

#define SHM_GNT_LIVE (1ull << 63)
#define SHM_GNT_RO (1ull << 62)
#define SHM_GNT_DESC(domid, page, ro) \
	(SHM_GNT_LIVE | ((ro) ? SHM_GNT_RO : 0) | ((uint64_t)((domid)&0xffffu) << 32) | (page))
#define SHM_GNT_DOMID(d) ((uint32_t)(((d) >> 32) & 0xffffu))
#define SHM_GNT_PAGE(d) ((uint32_t)(d))

/*
 * Port table: pending bitmap, mask bitmap, then one bind word per port.
 * A bind word packs the channel state, the remote domid and remote port so
 * a binder can claim an unbound port with a single compare-and-swap.
 */
#define SHM_PORT_FREE 0ull
#define SHM_PORT_UNBOUND 1ull
#define SHM_PORT_INTERDOMAIN 2ull
#define SHM_BIND(state, domid, port) \
	(((uint64_t)(state) << 62) | ((uint64_t)((domid)&0xffffu) << 32) | (uint32_t)(port))
#define SHM_BIND_STATE(w) ((w) >> 62)
#define SHM_BIND_DOMID(w) ((uint32_t)(((w) >> 32) & 0xffffu))
#define SHM_BIND_PORT(w) ((uint32_t)(w))

/*
 * A port table (pending, mask, bind words) in a sealed memfd, and the
 * eventfd its notifiers write. The hub gives each guest its own table for
 * the hub's ports (see shm_evtchn.c); a domain's own table is in shm_dom.
 */
struct shm_evtab {
	int fd;
	int efd;
	void *mem;
	size_t len;
	uint64_t *pending;
	uint64_t *mask;
	uint64_t *bind;
};

int pvc_shm_evtab_create(struct shm_evtab *t, uint32_t max_ports);
void pvc_shm_evtab_destroy(struct shm_evtab *t);

/* ------------------------------------------------------------------------
 * A domain: its four shared objects. The local domain has one (ctx->self);
 * peers are imported from the fds received at rendezvous and refcounted,
 * because mappings and ports keep a dead peer's memory alive.
 */
struct shm_dom {
	uint32_t domid;
	uint32_t max_pages;
	uint32_t max_grants;
	uint32_t max_ports;
	int pool_fd;
	/* atomic: the largest size fstat() showed of pool_fd; the pool is
	 * sealed against shrinking, so it stays a safe bound (shm_mem.c,
	 * grant_take) and map_refs need not fstat() on every call */
	int64_t pool_seen;
	int gnt_fd;
	int evt_fd;
	int efd; /* eventfd woken when one of this domain's ports becomes pending */
	struct shm_gnt_entry *gnt;
	size_t gnt_len;
	void *evt;
	size_t evt_len;
	uint64_t *pending;      /* evt + 0 */
	uint64_t *mask;         /* evt + nwords */
	uint64_t *bind;         /* evt + 2 * nwords, max_ports entries */
	int refs;               /* atomic; the local domain is never freed by put */
	uint32_t nr_vmas;       /* atomic; hub: mmap() regions it holds on this guest's pages */
	struct shm_evtab *htab; /* hub: its own ports as this guest sees them */
	bool dead;              /* atomic */
	bool is_self;
};

static inline uint32_t shm_evt_words(uint32_t max_ports)
{
	return (max_ports + 63) / 64;
}

size_t pvc_shm_gnt_bytes(uint32_t max_grants);
size_t pvc_shm_evt_bytes(uint32_t max_ports);

/* Rendezvous payload: the sender's limits (its fds travel alongside). */
#define SHM_HELLO_MAGIC 0x53484d31u /* "SHM1" */
#define SHM_HELLO_VERSION 1u
struct shm_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t domid; /* guest: requested (0 = any); hub: assigned guest id */
	uint32_t hub_domid;
	uint32_t max_pages;
	uint32_t max_grants;
	uint32_t max_ports;
	uint32_t pad;
};

/* @fixed_pool: the pool is made at max_pages and sealed against growing (hub). */
int pvc_shm_dom_create(struct shm_dom *d, uint32_t max_pages, uint32_t max_grants,
		       uint32_t max_ports, bool fixed_pool);
void pvc_shm_dom_destroy(struct shm_dom *d);
/* Imports a peer from its fds (consumed in all cases). */
int pvc_shm_dom_import(const int fds[4], uint32_t domid, const struct shm_hello *h,
		       struct shm_dom **out);
void pvc_shm_dom_get(struct shm_dom *d);
void pvc_shm_dom_put(struct shm_dom *d);
void pvc_shm_dom_set_dead(struct shm_dom *d);
bool pvc_shm_dom_dead(struct shm_dom *d);

/* ------------------------------------------------------------------------
 * Private per-context state.
 */
enum { SHM_REF_FREE, SHM_REF_LIVE, SHM_REF_DEFERRED };

struct shm_ref_priv {
	uint32_t page;
	uint16_t domid;
	uint8_t state;
};

struct shm_share;
struct shm_map;

struct shm_mem {
	pthread_mutex_t lock;
	uint32_t *free_pages;
	uint32_t nr_free_pages;
	uint32_t page_hwm;   /* pages ever handed out: [0, hwm) */
	uint32_t pool_pages; /* current memfd size in pages */
	uint8_t *page_dirty; /* 1: hole punching failed, zero on reuse */
	uint32_t *free_refs;
	uint32_t nr_free_refs;
	struct shm_ref_priv *refs;
	uint32_t nr_deferred;
	struct shm_share *shares;
	struct shm_map *maps;
	/* Statistics for tests (atomic, relaxed): mmap() calls made by
	 * share/map (reservations included), fallocate() hole punches. */
	uint64_t nr_mmap_calls;
	uint64_t nr_punch_calls;
};

enum { SHM_LP_FREE, SHM_LP_UNBOUND, SHM_LP_BOUND };

struct shm_port_priv {
	struct shm_dom *peer; /* holds a reference while allocated */
	uint32_t rport;       /* SHM_LP_BOUND: the remote port we bound to */
	uint8_t state;
};

struct shm_evt {
	pthread_mutex_t lock;
	struct shm_port_priv *ports;
	uint64_t *lmask; /* authoritative mask bits; mirrored to the shared table */
	int epfd;        /* hub: evtchn_fd, over self.efd and every guest's htab efd */
	uint32_t *free_ports;
	uint32_t nr_free;
	uint32_t scan_pos;
};

struct shm_hub;
struct shm_client;

struct shm_ctx {
	bool is_hub;
	uint32_t timeout_ms;
	uint32_t max_maps;       /* hub: mmap() regions per guest domain (nr_vmas) */
	uint32_t max_maps_total; /* hub: all guests together, half vm.max_map_count */
	uint32_t nr_vmas;        /* atomic; hub: regions held on all guests' pages */
	struct shm_dom self;
	struct shm_mem mem;
	struct shm_evt evt;
	struct shm_hub *hub;       /* hub only */
	struct shm_client *client; /* guest only */
	struct shm_dom *hubdom;    /* guest only: the hub's domain (hub_lock) */
	pthread_mutex_t hub_lock;  /* guest: hubdom, replaced by pvc_shm_reconnect() */
	char *path;                /* guest made by pvcalls_shm_connect(): the hub's path */
};

/* Finds a live domain by id and takes a reference (self included). */
int pvc_shm_lookup_dom(struct shm_ctx *ctx, uint32_t domid, struct shm_dom **out);

/* shm_mem.c */
int pvc_shm_mem_init(struct shm_ctx *ctx);
void pvc_shm_mem_fini(struct shm_ctx *ctx);
/* A peer died: its mappings of our pages are gone; reclaim deferred grants. */
void pvc_shm_mem_peer_gone(struct shm_ctx *ctx, uint32_t domid);
int pvc_shm_share_pages(void *c, uint32_t domid, unsigned count, bool writable, uint32_t *refs,
			void **addr);
int pvc_shm_unshare_pages(void *c, void *addr, unsigned count);
int pvc_shm_map_refs(void *c, uint32_t domid, unsigned count, const uint32_t *refs, bool writable,
		     void **addr);
int pvc_shm_unmap(void *c, void *addr, unsigned count);

/* shm_evtchn.c */
int pvc_shm_evt_init(struct shm_ctx *ctx);
void pvc_shm_evt_fini(struct shm_ctx *ctx);
int pvc_shm_evtchn_alloc_unbound(void *c, uint32_t remote_domid, uint32_t *port);
int pvc_shm_evtchn_bind(void *c, uint32_t remote_domid, uint32_t remote_port, uint32_t *port);
int pvc_shm_evtchn_notify(void *c, uint32_t port);
int pvc_shm_evtchn_close(void *c, uint32_t port);
int pvc_shm_evtchn_fd(void *c);
int pvc_shm_evtchn_pending(void *c, uint32_t *port);
int pvc_shm_evtchn_unmask(void *c, uint32_t port);
/* Hub: a guest's table joins / leaves the set evtchn_pending() looks at. */
int pvc_shm_evt_add_guest(struct shm_ctx *ctx, struct shm_dom *d);
void pvc_shm_evt_del_guest(struct shm_ctx *ctx, struct shm_dom *d);
void pvc_shm_efd_signal(int efd);
/* Tests only: called by evtchn_pending when its scan found nothing. */
extern void (*pvc_shm_test_after_scan)(void *ctx);

/* shm_msg.c: framing over a SOCK_SEQPACKET Unix socket. */
enum {
	SHM_MSG_HELLO = 1,
	SHM_MSG_HELLO_ACK,
	SHM_MSG_REQ,
	SHM_MSG_RSP,
	SHM_MSG_WATCH,
};

enum {
	SHM_OP_READ = 1,
	SHM_OP_WRITE,
	SHM_OP_RM,
	SHM_OP_DIR,
	SHM_OP_TXN_START,
	SHM_OP_TXN_END,
	SHM_OP_WATCH,
	SHM_OP_UNWATCH,
};

struct shm_msg_hdr {
	uint32_t type;
	uint32_t id; /* request id, echoed in the response */
	uint32_t op;
	uint32_t txn;
	int32_t arg;  /* request: buffer size / abort flag; response: result */
	uint32_t len; /* payload bytes following the header */
};

#define SHM_MAX_FDS 4
/* Largest payload: a directory listing the guest may ask for. */
#define SHM_MAX_PAYLOAD (64u * 1024u)
#define SHM_MAX_MSG (sizeof(struct shm_msg_hdr) + SHM_MAX_PAYLOAD)

int pvc_shm_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds, int flags);
/* Returns the message length, 0 on EOF, or -errno. Received fds are CLOEXEC. */
long pvc_shm_recv(int fd, void *buf, size_t len, int *fds, unsigned *nfds, int flags);
/* Waits for @events on @fd until @deadline_ms (CLOCK_MONOTONIC ms). */
int pvc_shm_wait(int fd, short events, uint64_t deadline_ms);

/*
 * A queue of watch events with an eventfd that is readable exactly while
 * the queue is non-empty (both changed under the queue's lock).
 */
struct shm_event;
struct shm_evq {
	pthread_mutex_t lock;
	struct shm_event *head, *tail;
	int efd;
};

int pvc_shm_evq_init(struct shm_evq *q);
void pvc_shm_evq_fini(struct shm_evq *q);
int pvc_shm_evq_push(struct shm_evq *q, const char *path, const char *wpath, const char *token);
/* 1 with an event, 0 if empty, -ERANGE if a buffer is too small (kept queued). */
int pvc_shm_evq_pop(struct shm_evq *q, char *path, size_t pathlen, char *token, size_t tokenlen);
/* Drops queued events of the watch (@wpath, @token). */
void pvc_shm_evq_purge(struct shm_evq *q, const char *wpath, const char *token);

/* shm_store.c: the tree the hub serves. owner NULL is the hub itself. */
struct shm_store;
/* Delivers a watch event; < 0 (-ENOMEM): it could not be queued, and the
 * store fires that watch again later (pvc_shm_store_refire()). */
typedef int (*shm_watch_fn)(void *arg, void *owner, const char *path, const char *wpath,
			    const char *token);

/* Per-owner limits; the hub (owner NULL) has none. */
struct shm_store_quota {
	uint32_t nodes;
	uint32_t bytes;
	uint32_t watches;
	uint32_t txns;
};

struct shm_store *pvc_shm_store_new(shm_watch_fn fn, void *arg, const struct shm_store_quota *q);
void pvc_shm_store_free(struct shm_store *st);
/*
 * Fires again, with their own path (something at or below it changed),
 * the watches whose last event could not be delivered. Returns true if
 * some still could not (call it again soon).
 */
bool pvc_shm_store_refire(struct shm_store *st);
int pvc_shm_store_read(struct shm_store *st, void *owner, uint32_t txn, const char *path, char *buf,
		       size_t buflen);
int pvc_shm_store_write(struct shm_store *st, void *owner, uint32_t txn, const char *path,
			const char *value);
int pvc_shm_store_rm(struct shm_store *st, void *owner, uint32_t txn, const char *path);
int pvc_shm_store_dir(struct shm_store *st, void *owner, uint32_t txn, const char *path, char *buf,
		      size_t buflen);
int pvc_shm_store_txn_start(struct shm_store *st, void *owner, uint32_t *txn);
int pvc_shm_store_txn_end(struct shm_store *st, void *owner, uint32_t txn, bool abort);
int pvc_shm_store_watch(struct shm_store *st, void *owner, const char *path, const char *token);
int pvc_shm_store_unwatch(struct shm_store *st, void *owner, const char *path, const char *token);
/* Writes several nodes (NULL value: rm, ENOENT ignored) under one lock hold. */
int pvc_shm_store_batch(struct shm_store *st, const char *const *paths, const char *const *values,
			unsigned n);
/* Forgets an owner's watches and transactions (guest gone). */
void pvc_shm_store_drop_owner(struct shm_store *st, void *owner);
bool pvc_shm_path_valid(const char *path);

/* shm_hub.c */
int pvc_shm_hub_start(struct shm_ctx *ctx, const char *path, const struct pvcalls_shm_opts *o);
void pvc_shm_hub_stop(struct shm_ctx *ctx);
int pvc_shm_hub_adopt_fd(struct shm_ctx *ctx, int fd);
int pvc_shm_hub_nr_guests_ctx(struct shm_ctx *ctx);
/* Times a guest's reading was held by store_rate (tests). */
uint64_t pvc_shm_hub_holds(struct shm_ctx *ctx);
int pvc_shm_hub_lookup(struct shm_ctx *ctx, uint32_t domid, struct shm_dom **out);
int pvc_shm_hub_store_fd(struct shm_ctx *ctx);
int pvc_shm_hub_read_watch(struct shm_ctx *ctx, char *path, size_t pathlen, char *token,
			   size_t tokenlen);
struct shm_store *pvc_shm_hub_store(struct shm_ctx *ctx);
void pvc_shm_hub_purge_local(struct shm_ctx *ctx, const char *wpath, const char *token);

/* shm_client.c */
int pvc_shm_client_new(struct shm_ctx *ctx, int sock);
void pvc_shm_client_free(struct shm_ctx *ctx);
int pvc_shm_client_request(struct shm_ctx *ctx, uint32_t op, uint32_t txn, const char *a,
			   const char *b, int32_t arg, char *out, size_t outlen, uint32_t *txn_out);
int pvc_shm_client_store_fd(struct shm_ctx *ctx);
int pvc_shm_client_read_watch(struct shm_ctx *ctx, char *path, size_t pathlen, char *token,
			      size_t tokenlen);

/* shm.c: after the hub died, a new rendezvous at ctx->path; the new
 * socket in *@fd. -ENOTCONN: no path (made from an fd). io_lock held. */
int pvc_shm_reconnect(struct shm_ctx *ctx, int *fd);

/* Tests: the context behind a shm transport, NULL for any other. */
struct shm_ctx *pvc_shm_ctx(pvcalls_transport *t);

#endif /* PVCALLS_SHM_PRIV_H */
