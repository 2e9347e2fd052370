/* SPDX-License-Identifier: MIT */
/*
 * The hub: store daemon, toolstack and backend domain in one.
 *
 * One service thread owns every guest socket: it accepts connections, runs
 * the hello, answers store requests and sends watch events. Other threads
 * (the hub's own store calls firing guests' watches) only append to a
 * guest's out-queue under hub->lock and kick the thread through an
 * eventfd, so the hub never blocks on a guest and each guest sees its
 * messages in order. A guest that stops reading until its queue overflows
 * is disconnected.
 *
 * Guest death (hang-up, error, protocol violation, overflow) is handled on
 * the thread too: the guest's domain is marked dead first (notify to it
 * returns -EPIPE), its watches and transactions are dropped, its
 * /local/domain/<G> and backend directories are removed (watches fire),
 * and the grants it could still have mapped are reclaimed. Its memory stays
 * mapped while the hub's own mappings or ports reference it.
 *
 * Security boundary. Guests are untrusted processes; the hub must survive
 * any of them and keep them from hurting each other:
 *  - The path is ours only while we hold it: listen refuses (-EADDRINUSE)
 *    when a live hub answers on it and replaces only a stale socket
 *    (connect() refused); at exit we unlink the file only if it is still
 *    the socket we bound (same st_dev/st_ino), never a successor's.
 *  - The socket file is created with its final mode (default 0600, at
 *    most 0660): fchmod() of the socket before bind(), so no umask can
 *    widen it. Every accepted connection's SO_PEERCRED must match the
 *    allow lists (default: the hub's euid and root); abstract names have
 *    no file permissions, so this check is their only gate. A refused
 *    peer is answered -EACCES at once and hung up on: it holds no slot.
 *  - Connections cost descriptors before they are guests: one that has
 *    not completed its hello within hello_timeout_ms is closed, and beyond
 *    max_guests connections or max_pending un-helloed ones a new
 *    connection is closed at accept. Adopted fds (pvcalls_shm_pair) come
 *    from the hub's own process: no credential check, no cap.
 *  - What a guest makes the hub keep is bounded per guest: store quotas
 *    (shm_store.c), bytes queued for it (OUTQ_MAX_BYTES: a guest that
 *    asks and never reads is disconnected), mmap() regions (shm_mem.c).
 *  - What a guest makes the hub do is bounded too: store_rate requests a
 *    second (store_admit()), so a store flood costs this thread, and the
 *    watchers its writes wake (the backend among them), a bounded share
 *    of a CPU. A held guest's socket is simply not read: its requests
 *    wait in the kernel, in order. The budget belongs to the connecting
 *    uid (struct uid_acct), not to the connection, and a hello is
 *    charged to it: a loop of connect, burst, close gets one guest's
 *    rate, and n connections at once n times it (bounded by max_guests).
 *  - Each guest gets its own copy of our port table and its own eventfd
 *    in the hello answer, never ours (shm_evtchn.c).
 *  - Store permissions as Xen gives a domU (may_read(), may_write()): a
 *    guest reaches only its own subtree and its devices' backend
 *    directory; everything else is -EACCES.
 *
 * Lock order: store->lock, then hub->lock (watch callbacks run under the
 * store lock and take hub->lock to queue a message).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/bucket.h"
#include "common/clock.h"
#include "common/log.h"
#include "transport/shm/shm_priv.h"

#define OUTQ_MAX 4096u
/* Bytes queued for one guest: a guest that asks for 64 KiB listings and
 * never reads them must not make the hub hold 4096 of them. */
#define OUTQ_MAX_BYTES (1024u * 1024u)
#define MSGS_PER_WAKEUP 64

struct outmsg {
	struct outmsg *next;
	size_t len;
	char data[];
};

/*
 * Store requests of the guests that connected with one uid (SO_PEERCRED):
 * one bucket for all of them, refilled at store_rate for each of its live
 * connections and charged for their hellos, so that closing and
 * reconnecting gets no fresh burst (a guest's bucket used to be its
 * connection's). Kept after its last connection until full again. An
 * adopted guest (no uid: in-process, trusted) has one of its own in
 * struct guest, with live 1 and a free hello. Service thread only.
 */
struct uid_acct {
	struct uid_acct *next;
	uint32_t uid;
	unsigned live; /* connections with this uid */
	struct pvc_bucket b;
};

struct guest {
	struct guest *next;
	int sock;
	uint32_t domid;
	struct shm_dom *dom;     /* set once the hello succeeded */
	uint64_t hello_deadline; /* CLOCK_MONOTONIC ms; until ready */
	bool ready;
	bool dying;
	uint32_t armed; /* the epoll events its socket is registered for */
	/* Store requests (pvcalls_shm_opts.store_rate): while the bucket is
	 * empty the socket is not read until held_until (CLOCK_MONOTONIC us;
	 * 0: not held). Service thread only. */
	struct uid_acct *ua; /* its uid's (accepted), or &own (adopted) */
	struct uid_acct own; /* an adopted guest's account of its own */
	int64_t held_until;
	struct outmsg *out_head, *out_tail;
	unsigned out_n;
	size_t out_bytes;
};

struct shm_hub {
	struct shm_ctx *ctx;
	struct shm_store *store;
	struct shm_evq local; /* the hub's own watch events */
	pthread_t thread;
	bool started;
	bool stop; /* atomic */
	int epfd;
	int kickfd;
	int lfd;
	bool lfd_paused;
	char *unlink_path;
	dev_t sock_dev; /* the socket file we created, unlinked only if still ours */
	ino_t sock_ino;
	/* Access control and caps (pvcalls_shm_opts), fixed at start. */
	uint32_t *allow_uids, nr_allow_uids;
	uint32_t *allow_gids, nr_allow_gids;
	uint32_t hello_timeout_ms;
	uint32_t max_guests, max_pending;
	struct shm_store_quota quota;
	uint32_t store_rate, store_burst; /* store_rate 0: unlimited */
	struct uid_acct *uids;            /* service thread only */
	uint64_t holds;                   /* times a guest was held (tests) */
	uint64_t last_cap_warn;           /* service thread only */
	pthread_mutex_t lock; /* guests list, their out-queues, domid allocation, counts */
	struct guest *guests;
	unsigned nr_conns;   /* connections, helloed or not */
	unsigned nr_pending; /* connections still in their hello */
	uint32_t next_domid;
	char *rbuf; /* service thread only */
	char *sbuf;
	/* What each guest makes us log, by domid (hub_gate()); the service
	 * thread's, and pvc_shm_hub_stop()'s after it ended. */
	struct pvc_log_keyed log_keys;
	bool log_pending;     /* some domain has suppressed messages */
	int64_t log_check_us; /* when service_guests() looks next */
};

/* Messages a guest's hellos, disconnections and violations cause: a
 * bucket of this many, refilled at this rate, per domid (common/log.h);
 * the rest are summarised at most every HUB_LOG_SUMMARY_US. A guest that
 * reconnects in a loop logs "connected" and "disconnected" each time. */
#define HUB_LOG_BURST 20u
#define HUB_LOG_RATE 5u
#define HUB_LOG_SUMMARY_US (2 * 1000000LL)

/* Installs domain @domid's log gate on this thread; returns the old one. */
static struct pvc_log_gate *hub_gate(struct shm_hub *h, uint32_t domid)
{
	if (!h->log_keys.rate) {
		h->log_keys.rate = HUB_LOG_RATE;
		h->log_keys.burst = HUB_LOG_BURST;
	}
	return pvc_log_gate_swap(pvc_log_keyed_gate(&h->log_keys, domid));
}

static void hub_ungate(struct shm_hub *h, struct pvc_log_gate *prev)
{
	struct pvc_log_gate *g = pvc_log_gate_swap(prev);

	if (g && g->suppressed)
		h->log_pending = true;
}

static void hub_log_report(void *arg, uint32_t key, bool shared, uint64_t n)
{
	(void)arg;
	pvc_notice("shm.log-suppressed", "domain %u%s: %llu messages suppressed", key,
		   shared ? " (and others sharing its limit)" : "", (unsigned long long)n);
}

/* Distinct addresses tag the non-guest fds in epoll. */
static char tag_kick, tag_listen;

/* The hub whose service thread is running here, if any. */
static __thread struct shm_hub *self_hub;

/* Wakes the service thread, unless we are it (it flushes before sleeping). */
static void kick(struct shm_hub *h)
{
	if (self_hub != h)
		pvc_shm_efd_signal(h->kickfd);
}

/*
 * dying is set under hub->lock by any thread and read by the service
 * thread without it; a relaxed flag suffices, the lock orders the rest.
 */
static bool is_dying(const struct guest *g)
{
	return __atomic_load_n(&g->dying, __ATOMIC_RELAXED);
}

static void set_dying(struct guest *g)
{
	__atomic_store_n(&g->dying, true, __ATOMIC_RELAXED);
}

/* Queues a message for @g. Takes hub->lock. */
static void guest_queue(struct shm_hub *h, struct guest *g, const struct shm_msg_hdr *hdr,
			const void *payload)
{
	struct outmsg *m = malloc(sizeof(*m) + sizeof(*hdr) + hdr->len);

	pthread_mutex_lock(&h->lock);
	if (!m || g->out_n >= OUTQ_MAX || g->out_bytes + hdr->len > OUTQ_MAX_BYTES) {
		if (!is_dying(g))
			pvc_warn("shm.guest-slow",
				 "domain %u does not read its messages: disconnecting", g->domid);
		set_dying(g);
		free(m);
	} else {
		m->next = NULL;
		m->len = sizeof(*hdr) + hdr->len;
		memcpy(m->data, hdr, sizeof(*hdr));
		if (hdr->len)
			memcpy(m->data + sizeof(*hdr), payload, hdr->len);
		if (g->out_tail)
			g->out_tail->next = m;
		else
			g->out_head = m;
		g->out_tail = m;
		g->out_n++;
		g->out_bytes += hdr->len;
	}
	pthread_mutex_unlock(&h->lock);
	kick(h);
}

/* Store watch callback; the store lock is held. */
static int hub_watch_cb(void *arg, void *owner, const char *path, const char *wpath,
			const char *token)
{
	struct shm_hub *h = arg;
	size_t lp = strlen(path) + 1, lt = strlen(token) + 1, lw = strlen(wpath) + 1;
	struct shm_msg_hdr hdr = { .type = SHM_MSG_WATCH };
	char *buf;

	/* Out of memory: the store fires the watch again, from
	 * service_guests() (pvc_shm_store_refire()); the kick makes sure the
	 * service thread looks soon. */
	if (!owner) {
		if (pvc_shm_evq_push(&h->local, path, wpath, token)) {
			pvc_err("shm.watch", "out of memory queueing a watch event for %s", path);
			kick(h);
			return -ENOMEM;
		}
		return 0;
	}
	buf = malloc(lp + lt + lw);
	if (!buf) {
		pvc_err("shm.watch", "out of memory queueing a watch event for %s", path);
		kick(h);
		return -ENOMEM;
	}
	/* Payload: path, token, watch path; each NUL-terminated. */
	memcpy(buf, path, lp);
	memcpy(buf + lp, token, lt);
	memcpy(buf + lp + lt, wpath, lw);
	hdr.len = (uint32_t)(lp + lt + lw);
	guest_queue(h, owner, &hdr, buf); /* no memory there: the guest is disconnected */
	free(buf);
	return 0;
}

static void guest_free(struct guest *g)
{
	while (g->out_head) {
		struct outmsg *m = g->out_head;

		g->out_head = m->next;
		free(m);
	}
	free(g);
}

/*
 * Adds a connection. @capped: refuse it (-EUSERS, fd closed) when the
 * connection caps are reached; adopted fds are the caller's and uncapped.
 * @ua: the account of the connecting uid (accepted connections, on the
 * service thread), NULL for adopted fds (an account of their own each).
 */
static int add_guest(struct shm_hub *h, int fd, bool capped, struct uid_acct *ua)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct guest *g = calloc(1, sizeof(*g));
	int fl = fcntl(fd, F_GETFL);

	if (!g || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(g);
		close(fd);
		return -ENOMEM;
	}
	g->sock = fd;
	g->armed = EPOLLIN;
	g->hello_deadline = (uint64_t)pvc_now_ms() + h->hello_timeout_ms;
	if (!ua) {
		ua = &g->own; /* live stays 1: the rate of one connection */
		ua->live = 1;
		pvc_bucket_fill(&ua->b, h->store_burst, pvc_now_us()); /* fresh: full */
	}
	g->ua = ua;
	ev.data.ptr = g;
	pthread_mutex_lock(&h->lock);
	if (capped && (h->nr_conns >= h->max_guests || h->nr_pending >= h->max_pending)) {
		pthread_mutex_unlock(&h->lock);
		free(g);
		close(fd);
		return -EUSERS;
	}
	g->next = h->guests;
	h->guests = g;
	h->nr_conns++;
	h->nr_pending++;
	pthread_mutex_unlock(&h->lock);
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;
		struct guest **pp;

		pthread_mutex_lock(&h->lock);
		for (pp = &h->guests; *pp != g; pp = &(*pp)->next)
			;
		*pp = g->next;
		h->nr_conns--;
		h->nr_pending--;
		pthread_mutex_unlock(&h->lock);
		close(fd);
		guest_free(g);
		return rc;
	}
	if (ua != &g->own)
		ua->live++; /* service thread: the connection is ours now */
	kick(h);            /* the service thread recomputes its hello deadline */
	return 0;
}

/* Removes a guest for good; service thread (or close) only. */
static void drop_guest(struct shm_hub *h, struct guest *g)
{
	struct shm_ctx *ctx = h->ctx;
	struct guest **pp;

	epoll_ctl(h->epfd, EPOLL_CTL_DEL, g->sock, NULL);
	close(g->sock);
	pthread_mutex_lock(&h->lock);
	for (pp = &h->guests; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	h->nr_conns--;
	if (!g->ready)
		h->nr_pending--;
	pthread_mutex_unlock(&h->lock);
	if (g->ua != &g->own)
		g->ua->live--; /* its account stays until full again (uid_prune()) */
	/* After this the store never calls back for g. */
	pvc_shm_store_drop_owner(h->store, g);
	if (g->dom) {
		char fe[64], be[96];
		const char *paths[2] = { fe, be };
		const char *vals[2] = { NULL, NULL };

		/* Dead first, so watchers reacting to the removal get -EPIPE. */
		pvc_shm_dom_set_dead(g->dom);
		pvc_shm_evt_del_guest(ctx, g->dom);
		struct pvc_log_gate *lg = hub_gate(h, g->domid);

		pvc_info("shm.peer-died", "domain %u disconnected", g->domid);
		hub_ungate(h, lg);
		snprintf(fe, sizeof(fe), "/local/domain/%u", g->domid);
		snprintf(be, sizeof(be), "/local/domain/%u/backend/pvcalls/%u", ctx->self.domid,
			 g->domid);
		pvc_shm_store_batch(h->store, paths, vals, 2);
		pvc_shm_mem_peer_gone(ctx, g->domid);
		pvc_shm_dom_put(g->dom);
	}
	guest_free(g);
	if (h->lfd_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_listen };

		h->lfd_paused = false;
		epoll_ctl(h->epfd, EPOLL_CTL_MOD, h->lfd, &ev);
	}
}

static bool domid_taken(struct shm_hub *h, uint32_t domid)
{
	if (domid == h->ctx->self.domid)
		return true;
	for (struct guest *g = h->guests; g; g = g->next)
		if (g->ready && g->domid == domid)
			return true;
	return false;
}

static int pick_domid(struct shm_hub *h, uint32_t want, uint32_t *out)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (want) {
		if (want > SHM_DOMID_MAX)
			rc = -EINVAL;
		else if (domid_taken(h, want))
			rc = -EEXIST;
		else
			*out = want;
	} else {
		uint32_t tries;

		/* Round robin, so a dead guest's id is not handed out again at once. */
		for (tries = 0; tries < SHM_DOMID_MAX; tries++) {
			uint32_t d = h->next_domid;

			h->next_domid = d >= SHM_DOMID_MAX ? 1 : d + 1;
			if (!domid_taken(h, d)) {
				*out = d;
				break;
			}
		}
		if (tries == SHM_DOMID_MAX)
			rc = -ENOSPC;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* The nodes a toolstack writes when it creates a pvcalls device. */
static int write_device_nodes(struct shm_hub *h, uint32_t g)
{
	uint32_t b = h->ctx->self.domid;
	char p[8][128], v[2][64], gs[16], bs[16];
	const char *paths[8], *vals[8];

	snprintf(gs, sizeof(gs), "%u", g);
	snprintf(bs, sizeof(bs), "%u", b);
	snprintf(v[0], sizeof(v[0]), "/local/domain/%u/backend/pvcalls/%u/0", b, g);
	snprintf(v[1], sizeof(v[1]), "/local/domain/%u/device/pvcalls/0", g);
	/* Frontend side first, backend side last, state last in each. */
	snprintf(p[0], sizeof(p[0]), "/local/domain/%u/domid", g);
	snprintf(p[1], sizeof(p[1]), "%s/backend-id", v[1]);
	snprintf(p[2], sizeof(p[2]), "%s/backend", v[1]);
	snprintf(p[3], sizeof(p[3]), "%s/state", v[1]);
	snprintf(p[4], sizeof(p[4]), "%s/frontend-id", v[0]);
	snprintf(p[5], sizeof(p[5]), "%s/frontend", v[0]);
	snprintf(p[6], sizeof(p[6]), "%s/online", v[0]);
	snprintf(p[7], sizeof(p[7]), "%s/state", v[0]);
	vals[0] = gs;
	vals[1] = bs;
	vals[2] = v[0];
	vals[3] = "1";
	vals[4] = gs;
	vals[5] = v[1];
	vals[6] = "1";
	vals[7] = "1";
	for (int i = 0; i < 8; i++)
		paths[i] = p[i];
	return pvc_shm_store_batch(h->store, paths, vals, 8);
}

static void send_ack(struct shm_hub *h, struct guest *g, int32_t ret, uint32_t domid)
{
	struct shm_ctx *ctx = h->ctx;
	struct {
		struct shm_msg_hdr hdr;
		struct shm_hello hello;
	} m = {
		.hdr = { .type = SHM_MSG_HELLO_ACK, .arg = ret, .len = sizeof(struct shm_hello) },
		.hello = { .magic = SHM_HELLO_MAGIC,
			   .version = SHM_HELLO_VERSION,
			   .domid = domid,
			   .hub_domid = ctx->self.domid,
			   .max_pages = ctx->self.max_pages,
			   .max_grants = ctx->self.max_grants,
			   .max_ports = ctx->self.max_ports },
	};
	int fds[4] = { ctx->self.pool_fd, ctx->self.gnt_fd, -1, -1 };

	/* Never our own port table: the guest's copy (shm_evtchn.c). */
	if (!ret) {
		fds[2] = g->dom->htab->fd;
		fds[3] = g->dom->htab->efd;
	}
	/* The first message on an idle socket: it fits in the send buffer. */
	if (pvc_shm_send(g->sock, &m, sizeof(m), fds, ret ? 0 : 4, MSG_DONTWAIT) < 0 || ret)
		set_dying(g);
}

static void handle_hello(struct shm_hub *h, struct guest *g, const char *payload, size_t len,
			 int *fds, unsigned nfds)
{
	struct shm_hello hello;
	struct shm_dom *d = NULL;
	struct pvc_log_gate *lg;
	uint32_t domid = 0;
	int rc;

	if (len != sizeof(hello) || nfds != 4) {
		pvc_err("shm.bad-peer", "malformed hello from a connecting guest");
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		set_dying(g);
		return;
	}
	memcpy(&hello, payload, sizeof(hello));
	if (hello.magic != SHM_HELLO_MAGIC || hello.version != SHM_HELLO_VERSION) {
		rc = -EPROTO;
		goto refuse;
	}
	rc = pick_domid(h, hello.domid, &domid);
	if (rc)
		goto refuse;
	rc = pvc_shm_dom_import(fds, domid, &hello, &d);
	nfds = 0; /* consumed */
	if (rc == 0 && !d)
		rc = -EPROTO; /* never trust a success without a domain */
	if (rc)
		goto refuse;
	/* The guest's own copy of our port table, and its own eventfd. */
	d->htab = calloc(1, sizeof(*d->htab));
	rc = d->htab ? pvc_shm_evtab_create(d->htab, h->ctx->self.max_ports) : -ENOMEM;
	if (rc) {
		free(d->htab);
		d->htab = NULL;
	} else {
		rc = pvc_shm_evt_add_guest(h->ctx, d);
	}
	if (rc) {
		pvc_shm_dom_put(d);
		goto refuse;
	}
	pthread_mutex_lock(&h->lock);
	g->domid = domid;
	g->dom = d;
	g->ready = true;
	h->nr_pending--;
	pthread_mutex_unlock(&h->lock);
	rc = write_device_nodes(h, domid);
	lg = hub_gate(h, domid);
	if (rc)
		pvc_err("shm.store", "cannot write the device nodes of domain %u: %d", domid, rc);
	pvc_info("shm.guest", "domain %u connected", domid);
	hub_ungate(h, lg);
	send_ack(h, g, 0, domid);
	return;
refuse:
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	lg = hub_gate(h, hello.domid);
	pvc_warn("shm.refused", "refusing a guest (domid %u requested): %s", hello.domid,
		 strerror(-rc));
	hub_ungate(h, lg);
	send_ack(h, g, rc, 0);
}

/* Splits a request payload into up to two NUL-terminated strings. */
static int split(const char *p, size_t len, const char **a, const char **b)
{
	const char *e = memchr(p, '\0', len);

	*a = *b = NULL;
	if (!e)
		return -EINVAL;
	*a = p;
	if ((size_t)(e + 1 - p) < len) {
		*b = e + 1;
		if (!memchr(*b, '\0', len - (size_t)(*b - p)))
			return -EINVAL;
	}
	return 0;
}

/* @dir (no trailing '/') is @path or one of its ancestors, component-wise. */
static bool under(const char *dir, size_t n, const char *path)
{
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * Store permissions, as Xen's toolstack sets them for a domU. A guest G
 * may read, list and watch its own /local/domain/<G> subtree and the
 * backend directory of its own devices, /local/domain/<H>/backend/pvcalls/<G>
 * (H: the hub); it may write and remove strictly below /local/domain/<G>
 * (its root and the backend directory are the toolstack's and the
 * backend's), except the nodes the hub wrote there for it (hub_owned[]:
 * its domid, its device's backend and backend-id), which it may neither
 * change nor remove, not even by removing a directory above them, as
 * Xen's toolstack makes them read-only to a domU. Everything else is -EACCES whether it exists or not, so a
 * guest learns nothing of other guests: not their nodes, not their ids
 * (/local/domain and /local/domain/<H>/backend/pvcalls are not listable),
 * not even whether a path exists. A watch on a foreign path is refused
 * at registration; an allowed watch covers only allowed paths (events
 * fire on the watched path and below), so it never reports a foreign
 * change. Malformed paths stay -EINVAL (the store's own check first).
 */
static bool may_read(struct shm_hub *h, struct guest *g, const char *path)
{
	char own[32], be[80];
	int n = snprintf(own, sizeof(own), "/local/domain/%u", g->domid);
	int m = snprintf(be, sizeof(be), "/local/domain/%u/backend/pvcalls/%u", h->ctx->self.domid,
			 g->domid);

	return under(own, (size_t)n, path) || under(be, (size_t)m, path);
}

/* The nodes of a guest's own directory that write_device_nodes() writes
 * for it and that it may read but not change (relative to its root): its
 * identity and where its device's backend is. Its device's "state" is
 * the frontend's to drive. */
static const char *const hub_owned[] = {
	"domid",
	"device/pvcalls/0/backend",
	"device/pvcalls/0/backend-id",
};

/*
 * Whether @rel (a path below the guest's root, relative to it) is a node
 * the hub wrote for the guest or below one, or (@rm) one whose removal would take such
 * a node with it (an ancestor of one).
 */
static bool hub_owned_node(const char *rel, bool rm)
{
	size_t n = strlen(rel);

	for (size_t i = 0; i < sizeof(hub_owned) / sizeof(hub_owned[0]); i++) {
		size_t k = strlen(hub_owned[i]);

		/* The node itself or below it (a child would hang off it). */
		if (!strncmp(rel, hub_owned[i], k) && (rel[k] == '\0' || rel[k] == '/'))
			return true;
		if (rm && !strncmp(hub_owned[i], rel, n) && hub_owned[i][n] == '/')
			return true;
	}
	return false;
}

static bool may_write(struct guest *g, const char *path, bool rm)
{
	char pre[40];
	int n = snprintf(pre, sizeof(pre), "/local/domain/%u/", g->domid);

	return path && strncmp(path, pre, (size_t)n) == 0 && path[n] != '\0' &&
	       !hub_owned_node(path + n, rm);
}

/* -EINVAL for a malformed path, -EACCES for a foreign one (or, @write, a
 * node the hub owns; @rm: also an ancestor of one), else 0. */
static int check_access(struct shm_hub *h, struct guest *g, const char *path, bool write, bool rm)
{
	if (!path || !pvc_shm_path_valid(path))
		return -EINVAL;
	if (write ? !may_write(g, path, rm) : !may_read(h, g, path))
		return -EACCES;
	return 0;
}

static void handle_req(struct shm_hub *h, struct guest *g, const struct shm_msg_hdr *req,
		       const char *payload)
{
	struct shm_msg_hdr *rsp = (struct shm_msg_hdr *)h->sbuf;
	char *out = h->sbuf + sizeof(*rsp);
	const char *a, *b;
	size_t cap;
	int rc;

	*rsp = (struct shm_msg_hdr){ .type = SHM_MSG_RSP, .id = req->id, .op = req->op };
	rc = split(payload, req->len, &a, &b);
	if (rc && req->op != SHM_OP_TXN_START && req->op != SHM_OP_TXN_END)
		goto reply;
	cap = req->arg < 0 ? 0 : (size_t)req->arg;
	switch (req->op) {
	case SHM_OP_READ:
		if (cap > PVCALLS_STORE_MAX + 1)
			cap = PVCALLS_STORE_MAX + 1;
		rc = check_access(h, g, a, false, false);
		if (!rc)
			rc = pvc_shm_store_read(h->store, g, req->txn, a, out, cap);
		if (rc >= 0)
			rsp->len = (uint32_t)rc + 1;
		break;
	case SHM_OP_WRITE:
		rc = !b ? -EINVAL : check_access(h, g, a, true, false);
		if (!rc)
			rc = pvc_shm_store_write(h->store, g, req->txn, a, b);
		break;
	case SHM_OP_RM:
		rc = check_access(h, g, a, true, true);
		if (!rc)
			rc = pvc_shm_store_rm(h->store, g, req->txn, a);
		break;
	case SHM_OP_DIR:
		if (cap > SHM_MAX_PAYLOAD)
			cap = SHM_MAX_PAYLOAD;
		rc = check_access(h, g, a, false, false);
		if (!rc)
			rc = pvc_shm_store_dir(h->store, g, req->txn, a, out, cap);
		for (int i = 0; i < rc; i++)
			rsp->len += (uint32_t)strlen(out + rsp->len) + 1;
		break;
	case SHM_OP_TXN_START:
		rc = pvc_shm_store_txn_start(h->store, g, &rsp->txn);
		break;
	case SHM_OP_TXN_END:
		rc = pvc_shm_store_txn_end(h->store, g, req->txn, req->arg != 0);
		break;
	case SHM_OP_WATCH:
		rc = !b ? -EINVAL : check_access(h, g, a, false, false);
		if (!rc)
			rc = pvc_shm_store_watch(h->store, g, a, b);
		break;
	case SHM_OP_UNWATCH:
		rc = !b ? -EINVAL : pvc_shm_store_unwatch(h->store, g, a, b);
		break;
	default:
		rc = -EINVAL;
		break;
	}
reply:
	if (rc < 0)
		rsp->len = 0;
	rsp->arg = rc;
	guest_queue(h, g, rsp, out);
}

static void handle_msg(struct shm_hub *h, struct guest *g, long n, int *fds, unsigned nfds)
{
	struct shm_msg_hdr hdr;

	if ((size_t)n < sizeof(hdr))
		goto bad;
	memcpy(&hdr, h->rbuf, sizeof(hdr));
	if (hdr.len != (size_t)n - sizeof(hdr))
		goto bad;
	if (!g->ready) {
		if (hdr.type != SHM_MSG_HELLO)
			goto bad;
		handle_hello(h, g, h->rbuf + sizeof(hdr), hdr.len, fds, nfds);
		return;
	}
	if (nfds || hdr.type != SHM_MSG_REQ)
		goto bad;
	handle_req(h, g, &hdr, h->rbuf + sizeof(hdr));
	return;
bad:
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	{
		struct pvc_log_gate *lg = hub_gate(h, g->domid);

		pvc_err("shm.bad-peer", "protocol violation by domain %u: disconnecting", g->domid);
		hub_ungate(h, lg);
	}
	set_dying(g);
}

/*
 * Registers @g's socket for what we wait for now: input unless its store
 * requests are held, room to write while something is queued. h->lock
 * held (out_head).
 */
static void guest_arm(struct shm_hub *h, struct guest *g)
{
	struct epoll_event ev = { .events = (g->held_until ? 0 : EPOLLIN) |
					    (g->out_head ? EPOLLOUT : 0),
				  .data.ptr = g };

	if (is_dying(g) || ev.events == g->armed)
		return;
	g->armed = ev.events;
	epoll_ctl(h->epfd, EPOLL_CTL_MOD, g->sock, &ev);
}

/* What a hello costs its uid's bucket: about a session's worth of the
 * hub's own work (device nodes written, watches fired, removed at the end). */
#define HELLO_COST 16u

/* The rate @ua refills at: store_rate for each live connection (at least
 * one, so that an account without connections fills up and goes). */
static uint32_t uid_rate(const struct shm_hub *h, const struct uid_acct *ua)
{
	uint64_t r = (uint64_t)h->store_rate * (ua->live ? ua->live : 1);

	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/*
 * May @g's next message be read now? A ready guest's store request costs
 * a token, an accepted connection's hello HELLO_COST (capped at the
 * burst), from its uid's bucket; an adopted guest's hello is free. If the
 * bucket is short, no: the socket stops being read until the tokens are
 * due, and service_guests() lets it go then. A request waits in the
 * socket, in order; nothing is refused. *@cost: what to spend once the
 * message is read. Only the service thread.
 */
static bool store_admit(struct shm_hub *h, struct guest *g, uint32_t *cost)
{
	uint32_t n, rate = uid_rate(h, g->ua);
	int64_t now;

	*cost = 0;
	if (!h->store_rate || (!g->ready && g->ua == &g->own))
		return true;
	n = g->ready ? 1 : HELLO_COST < h->store_burst ? HELLO_COST : h->store_burst;
	now = pvc_now_us();
	if (pvc_bucket_peek_n(&g->ua->b, rate, h->store_burst, now, n)) {
		*cost = n;
		return true;
	}
	g->held_until = now + pvc_bucket_wait_us_n(&g->ua->b, rate, n);
	__atomic_fetch_add(&h->holds, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&h->lock);
	guest_arm(h, g);
	pthread_mutex_unlock(&h->lock);
	return false;
}

/* The account of @uid, made full if it has none; NULL without memory. */
static struct uid_acct *uid_get(struct shm_hub *h, uint32_t uid)
{
	struct uid_acct *ua;

	for (ua = h->uids; ua; ua = ua->next)
		if (ua->uid == uid)
			return ua;
	ua = calloc(1, sizeof(*ua));
	if (!ua)
		return NULL;
	ua->uid = uid;
	pvc_bucket_fill(&ua->b, h->store_burst, pvc_now_us());
	ua->next = h->uids;
	h->uids = ua;
	return ua;
}

/* Frees the accounts without connections whose bucket is full again: a
 * new connection would get a full one anyway. @all: every one (stop). */
static void uid_prune(struct shm_hub *h, bool all)
{
	int64_t now;

	if (!h->uids)
		return;
	now = pvc_now_us();
	for (struct uid_acct **pp = &h->uids; *pp;) {
		struct uid_acct *ua = *pp;

		if (all || (!ua->live && pvc_bucket_peek_n(&ua->b, uid_rate(h, ua), h->store_burst,
							   now, h->store_burst))) {
			*pp = ua->next;
			free(ua);
		} else {
			pp = &ua->next;
		}
	}
}

static void guest_input(struct shm_hub *h, struct guest *g, uint32_t events)
{
	/* Held: a hang-up still ends it; its unread requests die with it. */
	if (g->held_until) {
		if (events & (EPOLLHUP | EPOLLERR))
			set_dying(g);
		return;
	}
	for (int i = 0; i < MSGS_PER_WAKEUP && !is_dying(g); i++) {
		int fds[SHM_MAX_FDS];
		unsigned nfds;
		uint32_t cost;
		long n;

		if (!store_admit(h, g, &cost))
			return;
		n = pvc_shm_recv(g->sock, h->rbuf, SHM_MAX_MSG, fds, &nfds, MSG_DONTWAIT);

		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			if (events & (EPOLLHUP | EPOLLERR))
				set_dying(g);
			return;
		}
		if (n <= 0) {
			set_dying(g); /* EOF, reset, or an oversized message */
			return;
		}
		pvc_bucket_spend_n(&g->ua->b, cost); /* admitted: the tokens are there */
		handle_msg(h, g, n, fds, nfds);
	}
}

static void guest_flush(struct shm_hub *h, struct guest *g)
{
	pthread_mutex_lock(&h->lock);
	while (g->out_head && !is_dying(g)) {
		struct outmsg *m = g->out_head;
		int rc = pvc_shm_send(g->sock, m->data, m->len, NULL, 0, MSG_DONTWAIT);

		if (rc == -EAGAIN || rc == -EWOULDBLOCK)
			break;
		if (rc < 0) {
			set_dying(g);
			break;
		}
		g->out_head = m->next;
		if (!g->out_head)
			g->out_tail = NULL;
		g->out_n--;
		g->out_bytes -= m->len - sizeof(struct shm_msg_hdr);
		free(m);
	}
	guest_arm(h, g);
	pthread_mutex_unlock(&h->lock);
}

static bool id_in(uint32_t id, const uint32_t *list, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (list[i] == id)
			return true;
	return false;
}

/* SO_PEERCRED: the credentials of the process that connected. */
static bool peer_allowed(struct shm_hub *h, int fd, uint32_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr)) {
		pvc_warn("shm.peercred", "cannot read a connecting peer's credentials: refused");
		return false;
	}
	*uid = (uint32_t)cr.uid;
	if (id_in((uint32_t)cr.uid, h->allow_uids, h->nr_allow_uids) ||
	    id_in((uint32_t)cr.gid, h->allow_gids, h->nr_allow_gids))
		return true;
	pvc_warn("shm.refused", "refusing a guest: pid %ld uid %u gid %u not allowed", (long)cr.pid,
		 (unsigned)cr.uid, (unsigned)cr.gid);
	return false;
}

/*
 * Answers a refused peer's hello before it is sent, and hangs up: it costs
 * no guest slot. The answer is queued before the hang-up, so the peer reads
 * it even if its own hello then fails with EPIPE (see rendezvous()).
 */
static void refuse_now(struct shm_hub *h, int fd)
{
	struct {
		struct shm_msg_hdr hdr;
		struct shm_hello hello;
	} m = {
		.hdr = { .type = SHM_MSG_HELLO_ACK,
			 .arg = -EACCES,
			 .len = sizeof(struct shm_hello) },
		.hello = { .magic = SHM_HELLO_MAGIC,
			   .version = SHM_HELLO_VERSION,
			   .hub_domid = h->ctx->self.domid },
	};

	pvc_shm_send(fd, &m, sizeof(m), NULL, 0, MSG_DONTWAIT);
	close(fd);
}

/* One warning per second at most: a flood must not flood the log too. */
static void cap_warn(struct shm_hub *h)
{
	uint64_t now = (uint64_t)pvc_now_ms();

	if (now - h->last_cap_warn < 1000)
		return;
	h->last_cap_warn = now;
	pvc_warn("shm.too-many", "connection cap reached (%u guests, %u in hello): refusing",
		 h->max_guests, h->max_pending);
}

static void accept_all(struct shm_hub *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd >= 0) {
			struct uid_acct *ua;
			uint32_t uid;
			int rc;

			if (!peer_allowed(h, fd, &uid)) {
				refuse_now(h, fd);
				continue;
			}
			ua = uid_get(h, uid);
			if (!ua) {
				close(fd);
				pvc_warn("shm.accept",
					 "cannot add a connecting guest: out of memory");
				continue;
			}
			rc = add_guest(h, fd, true, ua);
			if (rc == -EUSERS)
				cap_warn(h);
			else if (rc)
				pvc_warn("shm.accept", "cannot add a connecting guest");
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Stop polling the listener until a guest goes away, or we would spin. */
			struct epoll_event ev = { .events = 0, .data.ptr = &tag_listen };

			pvc_warn("shm.accept", "cannot accept: %s; pausing", strerror(errno));
			h->lfd_paused = true;
			epoll_ctl(h->epfd, EPOLL_CTL_MOD, h->lfd, &ev);
			return;
		}
		pvc_err("shm.accept", "accept failed: %s", strerror(errno));
		return;
	}
}

/*
 * Flushes every guest, closes connections whose hello is overdue and drops
 * the dying ones. Returns the epoll timeout until the next hello deadline.
 */
static int service_guests(struct shm_hub *h)
{
	uint64_t now = (uint64_t)pvc_now_ms(), next = UINT64_MAX;
	struct guest *g;

	pthread_mutex_lock(&h->lock);
	for (g = h->guests; g; g = g->next) {
		if (!g->ready && !is_dying(g)) {
			if (g->hello_deadline <= now) {
				pvc_warn("shm.hello-timeout",
					 "a connection sent no hello within %u ms: closing",
					 h->hello_timeout_ms);
				set_dying(g);
				continue;
			}
			if (g->hello_deadline < next)
				next = g->hello_deadline;
		}
		if (g->held_until && !is_dying(g)) {
			if ((uint64_t)g->held_until <= now * 1000) {
				g->held_until = 0;
				guest_arm(h, g); /* level-triggered: waiting input fires again */
			} else if ((uint64_t)(g->held_until + 999) / 1000 < next) {
				next = (uint64_t)(g->held_until + 999) / 1000;
			}
		}
		if (g->out_head && !is_dying(g)) {
			pthread_mutex_unlock(&h->lock);
			guest_flush(h, g); /* only this thread frees guests */
			pthread_mutex_lock(&h->lock);
		}
	}
	for (;;) {
		for (g = h->guests; g && !is_dying(g); g = g->next)
			;
		if (!g)
			break;
		pthread_mutex_unlock(&h->lock);
		drop_guest(h, g);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	uid_prune(h, false);
	/* Watch events that found no memory: again, every 10 ms until they go. */
	if (pvc_shm_store_refire(h->store) && (next == UINT64_MAX || next > now + 10))
		next = now + 10;
	if (h->log_pending) {
		int64_t us = pvc_now_us();

		if (us >= h->log_check_us) {
			h->log_check_us = us + 100000;
			h->log_pending =
				pvc_log_keyed_summary(&h->log_keys, false, HUB_LOG_SUMMARY_US,
						      UINT32_MAX, hub_log_report, NULL);
		}
		/* Reported even if nothing else happens. */
		if (h->log_pending && (next == UINT64_MAX || next > now + 500))
			next = now + 500;
	}
	if (next == UINT64_MAX)
		return -1;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void *hub_thread(void *arg)
{
	struct shm_hub *h = arg;
	struct epoll_event evs[32];
	int timeout;

	self_hub = h;
	timeout = service_guests(h);
	/* Acquire pairs with the release store in pvc_shm_hub_stop(). */
	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(h->epfd, evs, 32, timeout);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pvc_err("shm.hub", "epoll_wait failed: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == &tag_kick) {
				uint64_t v;

				while (read(h->kickfd, &v, sizeof(v)) < 0 && errno == EINTR)
					;
			} else if (tag == &tag_listen) {
				accept_all(h);
			} else {
				struct guest *g = tag;

				if (!is_dying(g) &&
				    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					guest_input(h, g, evs[i].events);
			}
		}
		timeout = service_guests(h);
	}
	return NULL;
}

/*
 * Is a listener alive at @sa? Connecting is the only reliable test: a
 * socket file outlives its process. 0: something answered (or its backlog
 * is full); -ECONNREFUSED: stale; other errors are returned as they are.
 */
static int probe_live(const struct sockaddr_un *sa, socklen_t alen)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, alen) < 0)
		rc = errno == EAGAIN || errno == EPROTOTYPE ? 0 : -errno;
	close(fd);
	return rc;
}

static int bind_listen(struct shm_hub *h, const char *path, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	socklen_t alen;
	struct stat st;
	int rc;

	if (!len)
		return -EINVAL;
	if (path[0] == '@') {
		if (len > sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path + 1, path + 1, len - 1);
		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		if (len >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, path, len);
		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		/*
		 * Replace a stale socket only: a live hub keeps its path (a
		 * second hub would make it unreachable), and other files are
		 * never touched. Two hubs starting at the same instant can
		 * still race between the probe and bind(); the loser's bind()
		 * then fails with -EADDRINUSE, unless both saw the same stale
		 * file and one unlinks the other's fresh socket: start hubs
		 * from one supervisor.
		 */
		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode))
				return -EADDRINUSE;
			rc = probe_live(&sa, alen);
			if (rc == 0) {
				pvc_err("shm.listen", "a hub is already listening on %s", path);
				return -EADDRINUSE;
			}
			if (rc != -ECONNREFUSED)
				return rc;
			unlink(path);
		}
	}
	h->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->lfd < 0)
		return -errno;
	/*
	 * bind() creates the file with the socket inode's mode minus the
	 * umask, so setting the mode first means the file never exists with
	 * more permissions than @mode; the chmod() after only restores bits
	 * the umask took away. Either way SO_PEERCRED is checked at accept.
	 */
	if (path[0] != '@' && fchmod(h->lfd, mode) < 0)
		return -errno;
	if (bind(h->lfd, (struct sockaddr *)&sa, alen) < 0)
		return -errno;
	if (path[0] != '@') {
		h->unlink_path = strdup(path);
		if (!h->unlink_path || lstat(path, &st) < 0) {
			rc = h->unlink_path ? -errno : -ENOMEM;
			unlink(path);
			return rc;
		}
		/* Remembered so that we unlink our own socket only, never a successor's. */
		h->sock_dev = st.st_dev;
		h->sock_ino = st.st_ino;
		if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
			return -errno;
	}
	if (listen(h->lfd, 64) < 0)
		return -errno;
	return 0;
}

/* Unlinks the socket file if it is still the one bind_listen() created. */
static void unlink_own(struct shm_hub *h)
{
	struct stat st;

	if (!h->unlink_path)
		return;
	if (lstat(h->unlink_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == h->sock_dev &&
	    st.st_ino == h->sock_ino)
		unlink(h->unlink_path);
	else
		pvc_info("shm.listen", "%s is no longer our socket: left in place", h->unlink_path);
	free(h->unlink_path);
	h->unlink_path = NULL;
}

static uint32_t *dup_ids(const uint32_t *ids, uint32_t n)
{
	uint32_t *c = malloc((n ? n : 1) * sizeof(*c));

	if (c && n)
		memcpy(c, ids, n * sizeof(*c));
	return c;
}

/* Takes the access-control and cap settings from @o (defaults for zeroes). */
static int hub_config(struct shm_hub *h, const struct pvcalls_shm_opts *o)
{
	struct pvcalls_shm_opts z = { 0 };

	if (!o)
		o = &z;
	if ((o->nr_allow_uids && !o->allow_uids) || (o->nr_allow_gids && !o->allow_gids) ||
	    o->nr_allow_uids > 65536 || o->nr_allow_gids > 65536)
		return -EINVAL;
	if (!o->nr_allow_uids && !o->nr_allow_gids) {
		uint32_t def[2] = { (uint32_t)geteuid(), 0 };

		h->allow_uids = dup_ids(def, def[0] ? 2 : 1);
		h->nr_allow_uids = def[0] ? 2 : 1;
	} else {
		h->allow_uids = dup_ids(o->allow_uids, o->nr_allow_uids);
		h->nr_allow_uids = o->nr_allow_uids;
	}
	h->allow_gids = dup_ids(o->allow_gids, o->nr_allow_gids);
	h->nr_allow_gids = o->nr_allow_gids;
	if (!h->allow_uids || !h->allow_gids)
		return -ENOMEM;
	h->hello_timeout_ms = o->hello_timeout_ms ? o->hello_timeout_ms : SHM_DEF_HELLO_TIMEOUT_MS;
	h->max_guests = o->max_guests ? o->max_guests : SHM_DEF_MAX_GUESTS;
	h->max_pending = o->max_pending ? o->max_pending : SHM_DEF_MAX_PENDING;
	if (h->hello_timeout_ms > INT32_MAX)
		return -EINVAL;
	h->quota.nodes = o->quota_nodes ? o->quota_nodes : SHM_DEF_QUOTA_NODES;
	h->quota.bytes = o->quota_bytes ? o->quota_bytes : SHM_DEF_QUOTA_BYTES;
	h->quota.watches = o->quota_watches ? o->quota_watches : SHM_DEF_QUOTA_WATCHES;
	h->quota.txns = o->quota_txns ? o->quota_txns : SHM_DEF_QUOTA_TXNS;
	h->store_rate = !o->store_rate                           ? SHM_DEF_STORE_RATE
			: o->store_rate == PVCALLS_SHM_UNLIMITED ? 0
								 : o->store_rate;
	h->store_burst = o->store_burst ? o->store_burst : SHM_DEF_STORE_BURST;
	if (h->store_burst == PVCALLS_SHM_UNLIMITED)
		return -EINVAL;
	return 0;
}

int pvc_shm_hub_start(struct shm_ctx *ctx, const char *path, const struct pvcalls_shm_opts *o)
{
	struct shm_hub *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };
	char p[48], v[16];
	int rc;

	if (!h)
		return -ENOMEM;
	ctx->hub = h;
	h->ctx = ctx;
	h->epfd = h->kickfd = h->lfd = h->local.efd = -1;
	h->next_domid = 1;
	pthread_mutex_init(&h->lock, NULL);
	h->rbuf = malloc(SHM_MAX_MSG);
	h->sbuf = malloc(SHM_MAX_MSG);
	rc = hub_config(h, o);
	if (rc)
		return rc;
	h->store = pvc_shm_store_new(hub_watch_cb, h, &h->quota);
	if (!h->rbuf || !h->sbuf || !h->store)
		return -ENOMEM;
	rc = pvc_shm_evq_init(&h->local);
	if (rc)
		return rc;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->epfd < 0 || h->kickfd < 0)
		return -errno;
	ev.data.ptr = &tag_kick;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->kickfd, &ev) < 0)
		return -errno;
	if (path) {
		mode_t mode = o && o->socket_mode ? (mode_t)o->socket_mode : 0600;

		/* Owner read-write always, group at most, never others. */
		if ((mode & ~(mode_t)0660) || (mode & 0600) != 0600)
			return -EINVAL;
		rc = bind_listen(h, path, mode);
		if (rc) {
			pvc_err("shm.listen", "cannot listen on %s: %s", path, strerror(-rc));
			return rc;
		}
		ev.data.ptr = &tag_listen;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &ev) < 0)
			return -errno;
	}
	snprintf(p, sizeof(p), "/local/domain/%u/domid", ctx->self.domid);
	snprintf(v, sizeof(v), "%u", ctx->self.domid);
	rc = pvc_shm_store_write(h->store, NULL, PVCALLS_STORE_NO_TXN, p, v);
	if (rc)
		return rc;
	rc = pthread_create(&h->thread, NULL, hub_thread, h);
	if (rc)
		return -rc;
	/* Named so that top -H and /proc/PID/task tell its CPU apart. */
	pthread_setname_np(h->thread, "pvcalls-hub");
	h->started = true;
	return 0;
}

void pvc_shm_hub_stop(struct shm_ctx *ctx)
{
	struct shm_hub *h = ctx->hub;

	if (!h)
		return;
	if (h->started) {
		/* Release pairs with the thread's acquire load of stop. */
		__atomic_store_n(&h->stop, true, __ATOMIC_RELEASE);
		pvc_shm_efd_signal(h->kickfd);
		pthread_join(h->thread, NULL);
		h->started = false;
	}
	while (h->guests)
		drop_guest(h, h->guests);
	uid_prune(h, true);
	pvc_log_keyed_summary(&h->log_keys, true, 0, UINT32_MAX, hub_log_report, NULL);
	if (h->lfd >= 0)
		close(h->lfd);
	unlink_own(h);
	free(h->allow_uids);
	free(h->allow_gids);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->kickfd >= 0)
		close(h->kickfd);
	pvc_shm_store_free(h->store);
	pvc_shm_evq_fini(&h->local);
	pthread_mutex_destroy(&h->lock);
	free(h->rbuf);
	free(h->sbuf);
	free(h);
	ctx->hub = NULL;
}

int pvc_shm_hub_adopt_fd(struct shm_ctx *ctx, int fd)
{
	return add_guest(ctx->hub, fd, false, NULL);
}

uint64_t pvc_shm_hub_holds(struct shm_ctx *ctx)
{
	return ctx->hub ? __atomic_load_n(&ctx->hub->holds, __ATOMIC_RELAXED) : 0;
}

int pvc_shm_hub_nr_guests_ctx(struct shm_ctx *ctx)
{
	struct shm_hub *h = ctx->hub;
	int n = 0;

	pthread_mutex_lock(&h->lock);
	for (struct guest *g = h->guests; g; g = g->next)
		n += g->ready && !is_dying(g);
	pthread_mutex_unlock(&h->lock);
	return n;
}

int pvc_shm_hub_lookup(struct shm_ctx *ctx, uint32_t domid, struct shm_dom **out)
{
	struct shm_hub *h = ctx->hub;
	int rc = -ESRCH;

	pthread_mutex_lock(&h->lock);
	for (struct guest *g = h->guests; g; g = g->next) {
		if (g->ready && g->domid == domid && !pvc_shm_dom_dead(g->dom)) {
			pvc_shm_dom_get(g->dom);
			*out = g->dom;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int pvc_shm_hub_store_fd(struct shm_ctx *ctx)
{
	return ctx->hub->local.efd;
}

int pvc_shm_hub_read_watch(struct shm_ctx *ctx, char *path, size_t pathlen, char *token,
			   size_t tokenlen)
{
	return pvc_shm_evq_pop(&ctx->hub->local, path, pathlen, token, tokenlen);
}

struct shm_store *pvc_shm_hub_store(struct shm_ctx *ctx)
{
	return ctx->hub->store;
}

void pvc_shm_hub_purge_local(struct shm_ctx *ctx, const char *wpath, const char *token)
{
	pvc_shm_evq_purge(&ctx->hub->local, wpath, token);
}
