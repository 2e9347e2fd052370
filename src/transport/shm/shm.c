/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory loopback transport (pvcalls/shm.h): Xen's grant, event
 * channel and xenstore semantics between processes of one Linux host.
 *
 * Each domain (the hub and every guest) owns a page pool, a grant table and
 * a port table, each a sealed memfd, plus an eventfd (shm_mem.c). At
 * rendezvous a guest sends its four fds and limits over a SOCK_SEQPACKET
 * Unix socket (SCM_RIGHTS) and the hub answers with its pool and grant
 * table, a port table and eventfd made for this guest alone
 * (shm_evtchn.c), and the domid it assigned (this file). A hub that
 * refuses a peer (credentials) answers before reading its hello and hangs
 * up, so rendezvous() also looks for that answer after EPIPE or a reset. After that, memory and events go directly
 * through shared memory (shm_mem.c, shm_evtchn.c); only store traffic
 * stays on the socket: the hub's service thread keeps the tree
 * (shm_store.c, shm_hub.c) and guests call it synchronously
 * (shm_client.c).
 *
 * Only hub<->guest pairs and a domain with itself can share pages and
 * bind ports; a guest cannot see other guests. Everything read from a
 * peer, on the socket or in shared memory, is validated before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

static const struct pvcalls_transport_ops shm_ops;

int pvc_shm_lookup_dom(struct shm_ctx *ctx, uint32_t domid, struct shm_dom **out)
{
	if (domid == ctx->self.domid) {
		*out = &ctx->self;
		return 0;
	}
	if (ctx->is_hub)
		return pvc_shm_hub_lookup(ctx, domid, out);
	/* hub_lock: a reconnection (pvc_shm_reconnect) may replace hubdom. */
	pthread_mutex_lock(&ctx->hub_lock);
	if (ctx->hubdom && domid == ctx->hubdom->domid && !pvc_shm_dom_dead(ctx->hubdom)) {
		pvc_shm_dom_get(ctx->hubdom);
		*out = ctx->hubdom;
		pthread_mutex_unlock(&ctx->hub_lock);
		return 0;
	}
	pthread_mutex_unlock(&ctx->hub_lock);
	return -ESRCH;
}

struct shm_ctx *pvc_shm_ctx(pvcalls_transport *t)
{
	if (!t || pvcalls_transport_ops(t) != &shm_ops)
		return NULL;
	return pvcalls_transport_ctx(t);
}

/* ------------------------------------------------------------------------
 * Contexts.
 */

static void ctx_free(struct shm_ctx *ctx)
{
	if (!ctx)
		return;
	/* Stop the service thread before tearing down what it uses. */
	pvc_shm_hub_stop(ctx);
	/*
	 * A guest drops its ports and mappings (decrementing the hub's map
	 * counts) before hanging up, so the hub sees a clean departure.
	 */
	pvc_shm_evt_fini(ctx);
	pvc_shm_mem_fini(ctx);
	pvc_shm_client_free(ctx);
	pvc_shm_dom_put(ctx->hubdom);
	pvc_shm_dom_destroy(&ctx->self);
	pthread_mutex_destroy(&ctx->hub_lock);
	free(ctx->path);
	free(ctx);
}

/* vm.max_map_count: the mmap() regions this process may hold. */
static uint32_t max_map_count(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	if (v < 1024 || v > UINT32_MAX)
		v = 65530; /* the kernel's default */
	return (uint32_t)v;
}

static int ctx_new(const struct pvcalls_shm_opts *opts, bool hub, struct shm_ctx **out)
{
	struct pvcalls_shm_opts o = opts ? *opts : (struct pvcalls_shm_opts){ 0 };
	struct shm_ctx *ctx;
	int rc;

	if (!o.max_pages)
		o.max_pages = SHM_DEF_MAX_PAGES;
	if (!o.max_grants)
		o.max_grants = SHM_DEF_MAX_GRANTS;
	if (!o.max_ports)
		o.max_ports = SHM_DEF_MAX_PORTS;
	if (!o.timeout_ms)
		o.timeout_ms = SHM_DEF_TIMEOUT_MS;
	if (o.domid > SHM_DOMID_MAX || o.max_pages > SHM_CAP_MAX_PAGES ||
	    o.max_grants <= SHM_NR_RESERVED_REFS || o.max_grants > SHM_CAP_MAX_GRANTS ||
	    o.max_ports < 2 || o.max_ports > SHM_CAP_MAX_PORTS || o.timeout_ms > INT32_MAX) {
		pvc_err("shm.opts", "invalid pvcalls_shm_opts");
		return -EINVAL;
	}
	if (sysconf(_SC_PAGESIZE) != SHM_PAGE_SIZE) {
		pvc_err("shm.page-size", "the shm transport needs 4 KiB host pages");
		return -EOPNOTSUPP;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->is_hub = hub;
	pthread_mutex_init(&ctx->hub_lock, NULL);
	ctx->timeout_ms = o.timeout_ms;
	ctx->max_maps = o.max_maps_per_guest ? o.max_maps_per_guest : SHM_DEF_MAX_MAPS;
	ctx->max_maps_total = hub ? max_map_count() / 2 : 0;
	rc = pvc_shm_dom_create(&ctx->self, o.max_pages, o.max_grants, o.max_ports, hub);
	if (rc) {
		free(ctx);
		return rc;
	}
	ctx->self.domid = hub ? o.domid : 0;
	rc = pvc_shm_mem_init(ctx);
	if (!rc)
		rc = pvc_shm_evt_init(ctx);
	if (rc) {
		ctx_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

/* ------------------------------------------------------------------------
 * Operations that differ between hub and guest.
 */

static int shm_local_domid(void *c, uint32_t *domid)
{
	struct shm_ctx *ctx = c;

	/* Atomic: a reconnection (pvc_shm_reconnect) may change it. */
	*domid = __atomic_load_n(&ctx->self.domid, __ATOMIC_RELAXED);
	return 0;
}

static int32_t cap_arg(size_t buflen, size_t max)
{
	return (int32_t)(buflen < max ? buflen : max);
}

static int shm_store_read(void *c, uint32_t txn, const char *path, char *buf, size_t buflen)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_read(pvc_shm_hub_store(ctx), NULL, txn, path, buf, buflen);
	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_READ, txn, path, NULL,
				      cap_arg(buflen, PVCALLS_STORE_MAX + 1), buf, buflen, NULL);
}

static int shm_store_write(void *c, uint32_t txn, const char *path, const char *value)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_write(pvc_shm_hub_store(ctx), NULL, txn, path, value);
	if (!pvc_shm_path_valid(path) || !value || strlen(value) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_WRITE, txn, path, value, 0, NULL, 0, NULL);
}

static int shm_store_rm(void *c, uint32_t txn, const char *path)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_rm(pvc_shm_hub_store(ctx), NULL, txn, path);
	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_RM, txn, path, NULL, 0, NULL, 0, NULL);
}

static int shm_store_directory(void *c, uint32_t txn, const char *path, char *buf, size_t buflen)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_dir(pvc_shm_hub_store(ctx), NULL, txn, path, buf, buflen);
	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_DIR, txn, path, NULL,
				      cap_arg(buflen, SHM_MAX_PAYLOAD), buf, buflen, NULL);
}

static int shm_store_txn_start(void *c, uint32_t *txn)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_txn_start(pvc_shm_hub_store(ctx), NULL, txn);
	return pvc_shm_client_request(ctx, SHM_OP_TXN_START, 0, NULL, NULL, 0, NULL, 0, txn);
}

static int shm_store_txn_end(void *c, uint32_t txn, bool abort)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_txn_end(pvc_shm_hub_store(ctx), NULL, txn, abort);
	return pvc_shm_client_request(ctx, SHM_OP_TXN_END, txn, NULL, NULL, abort, NULL, 0, NULL);
}

static int shm_store_watch(void *c, const char *path, const char *token)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_store_watch(pvc_shm_hub_store(ctx), NULL, path, token);
	if (!pvc_shm_path_valid(path) || !token || strlen(token) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_WATCH, 0, path, token, 0, NULL, 0, NULL);
}

static int shm_store_unwatch(void *c, const char *path, const char *token)
{
	struct shm_ctx *ctx = c;
	int rc;

	if (ctx->is_hub) {
		rc = pvc_shm_store_unwatch(pvc_shm_hub_store(ctx), NULL, path, token);
		/* Like xenbus, drop events of the watch that are still queued. */
		if (!rc)
			pvc_shm_hub_purge_local(ctx, path, token);
		return rc;
	}
	if (!path || !token || strlen(path) >= PVCALLS_STORE_MAX ||
	    strlen(token) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	return pvc_shm_client_request(ctx, SHM_OP_UNWATCH, 0, path, token, 0, NULL, 0, NULL);
}

static int shm_store_fd(void *c)
{
	struct shm_ctx *ctx = c;

	return ctx->is_hub ? pvc_shm_hub_store_fd(ctx) : pvc_shm_client_store_fd(ctx);
}

static int shm_store_read_watch(void *c, char *path, size_t pathlen, char *token, size_t tokenlen)
{
	struct shm_ctx *ctx = c;

	if (ctx->is_hub)
		return pvc_shm_hub_read_watch(ctx, path, pathlen, token, tokenlen);
	return pvc_shm_client_read_watch(ctx, path, pathlen, token, tokenlen);
}

static void shm_close(void *c)
{
	ctx_free(c);
}

static const struct pvcalls_transport_ops shm_ops = {
	.abi = PVCALLS_TRANSPORT_ABI,
	.name = "shm",
	.local_domid = shm_local_domid,
	.share_pages = pvc_shm_share_pages,
	.unshare_pages = pvc_shm_unshare_pages,
	.map_refs = pvc_shm_map_refs,
	.unmap = pvc_shm_unmap,
	.evtchn_alloc_unbound = pvc_shm_evtchn_alloc_unbound,
	.evtchn_bind = pvc_shm_evtchn_bind,
	.evtchn_notify = pvc_shm_evtchn_notify,
	.evtchn_close = pvc_shm_evtchn_close,
	.evtchn_fd = pvc_shm_evtchn_fd,
	.evtchn_pending = pvc_shm_evtchn_pending,
	.evtchn_unmask = pvc_shm_evtchn_unmask,
	.store_read = shm_store_read,
	.store_write = shm_store_write,
	.store_rm = shm_store_rm,
	.store_directory = shm_store_directory,
	.store_txn_start = shm_store_txn_start,
	.store_txn_end = shm_store_txn_end,
	.store_watch = shm_store_watch,
	.store_unwatch = shm_store_unwatch,
	.store_fd = shm_store_fd,
	.store_read_watch = shm_store_read_watch,
	.close = shm_close,
};

/* ------------------------------------------------------------------------
 * Public entry points.
 */

static int hub_create(const char *path, const struct pvcalls_shm_opts *opts,
		      pvcalls_transport **out)
{
	struct shm_ctx *ctx;
	int rc;

	rc = ctx_new(opts, true, &ctx);
	if (rc)
		return rc;
	rc = pvc_shm_hub_start(ctx, path, opts);
	if (rc) {
		ctx_free(ctx);
		return rc;
	}
	/* The transport owns ctx from here on, also if this fails. */
	return pvcalls_transport_new(&shm_ops, ctx, out);
}

int pvcalls_shm_listen(const char *path, const struct pvcalls_shm_opts *opts,
		       pvcalls_transport **out)
{
	if (!path || !*path || !out)
		return -EINVAL;
	return hub_create(path, opts, out);
}

/* Sends our hello and takes the hub's answer: the hub's domain and our domid. */
static int rendezvous(struct shm_ctx *ctx, int fd, uint32_t want, struct shm_dom **hubdom,
		      uint32_t *domid)
{
	struct {
		struct shm_msg_hdr hdr;
		struct shm_hello hello;
	} m = {
		.hdr = { .type = SHM_MSG_HELLO, .len = sizeof(struct shm_hello) },
		.hello = { .magic = SHM_HELLO_MAGIC, .version = SHM_HELLO_VERSION, .domid = want,
			   .max_pages = ctx->self.max_pages, .max_grants = ctx->self.max_grants,
			   .max_ports = ctx->self.max_ports },
	}, ack;
	int fds[SHM_MAX_FDS] = { ctx->self.pool_fd, ctx->self.gnt_fd, ctx->self.evt_fd,
				 ctx->self.efd };
	uint64_t deadline = (uint64_t)pvc_now_ms() + ctx->timeout_ms;
	unsigned nfds = 0;
	long n;
	int rc;

	for (;;) {
		rc = pvc_shm_send(fd, &m, sizeof(m), fds, 4, MSG_DONTWAIT);
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			break;
		rc = pvc_shm_wait(fd, POLLOUT, deadline);
		if (rc)
			return rc;
	}
	if (rc && rc != -EPIPE && rc != -ECONNRESET)
		return rc;
	/*
	 * EPIPE: the hub may have refused us and hung up before our hello;
	 * its answer is queued before the hang-up. ECONNRESET (it hung up
	 * with our hello unread) is reported once, before that answer.
	 */
	for (bool reset = false;;) {
		n = pvc_shm_recv(fd, &ack, sizeof(ack), fds, &nfds, MSG_DONTWAIT);
		if (n == -ECONNRESET && !reset) {
			reset = true;
			continue;
		}
		if (rc && (n == -EAGAIN || n == -EWOULDBLOCK))
			return -ECONNREFUSED; /* hung up without an answer */
		if (n != -EAGAIN && n != -EWOULDBLOCK)
			break;
		rc = pvc_shm_wait(fd, POLLIN, deadline);
		if (rc) {
			pvc_err("shm.connect", "the hub did not answer the hello");
			return rc;
		}
	}
	if (n == 0 || n == -ECONNRESET)
		return -ECONNREFUSED;
	if (n < 0)
		return (int)n;
	rc = -EPROTO;
	if ((size_t)n != sizeof(ack) || ack.hdr.type != SHM_MSG_HELLO_ACK ||
	    ack.hdr.len != sizeof(ack.hello) || ack.hello.magic != SHM_HELLO_MAGIC ||
	    ack.hello.version != SHM_HELLO_VERSION)
		goto fail;
	if (ack.hdr.arg < 0) {
		rc = ack.hdr.arg;
		goto fail;
	}
	if (nfds != 4 || ack.hello.domid == 0 || ack.hello.domid > SHM_DOMID_MAX ||
	    ack.hello.hub_domid > SHM_DOMID_MAX || ack.hello.domid == ack.hello.hub_domid ||
	    (want && ack.hello.domid != want))
		goto fail;
	rc = pvc_shm_dom_import(fds, ack.hello.hub_domid, &ack.hello, hubdom);
	if (rc)
		return rc;
	*domid = ack.hello.domid;
	return 0;
fail:
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (rc == -EPROTO)
		pvc_err("shm.connect", "malformed answer from the hub");
	return rc;
}

/* The protocol relies on message boundaries: only SOCK_SEQPACKET works. */
static bool is_seqpacket(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET;
}

int pvcalls_shm_connect_fd(int fd, const struct pvcalls_shm_opts *opts, pvcalls_transport **out)
{
	struct shm_ctx *ctx;
	int rc, fl;

	if (fd >= 0 && !is_seqpacket(fd)) {
		pvc_err("shm.connect", "fd %d is not a SOCK_SEQPACKET Unix socket", fd);
		close(fd);
		return -EINVAL;
	}
	if (fd < 0 || !out) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	rc = ctx_new(opts, false, &ctx);
	if (rc) {
		close(fd);
		return rc;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = -errno;
		close(fd);
		ctx_free(ctx);
		return rc;
	}
	rc = rendezvous(ctx, fd, opts ? opts->domid : 0, &ctx->hubdom, &ctx->self.domid);
	if (rc) {
		close(fd);
		ctx_free(ctx);
		return rc;
	}
	rc = pvc_shm_client_new(ctx, fd); /* owns fd, also on failure */
	if (rc) {
		ctx_free(ctx);
		return rc;
	}
	pvc_info("shm.connected", "connected as domain %u to hub domain %u", ctx->self.domid,
		 ctx->hubdom->domid);
	return pvcalls_transport_new(&shm_ops, ctx, out);
}

/* A SOCK_SEQPACKET connection to the hub at @path, in *@fd. */
static int open_path(const char *path, int *fdp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	socklen_t alen;
	int fd, rc;

	len = strlen(path);
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
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, alen) < 0) {
		rc = -errno;
		if (rc == -EINTR) {
			/* The connection goes on in the background: wait for its outcome. */
			socklen_t sl = sizeof(rc);
			int err = 0;

			rc = pvc_shm_wait(fd, POLLOUT, (uint64_t)pvc_now_ms() + SHM_DEF_TIMEOUT_MS);
			if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
			rc = rc ? rc : -err;
		}
		if (rc) {
			close(fd);
			return rc;
		}
	}
	*fdp = fd;
	return 0;
}

int pvcalls_shm_connect(const char *path, const struct pvcalls_shm_opts *opts,
			pvcalls_transport **out)
{
	pvcalls_transport *t;
	char *copy;
	int fd, rc;

	if (!path || !*path || !out)
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	rc = open_path(path, &fd);
	if (rc == 0)
		rc = pvcalls_shm_connect_fd(fd, opts, &t);
	if (rc) {
		free(copy);
		return rc;
	}
	/* Remembered for pvc_shm_reconnect(); set before anyone else sees t. */
	((struct shm_ctx *)pvcalls_transport_ctx(t))->path = copy;
	*out = t;
	return 0;
}

/*
 * The hub died (shm_client.c noticed): a hello to whatever hub listens at
 * the path now. Our own pool, grant table and port table are offered
 * again as they are: grants and ports of the old session stay ours, to
 * be ended by their owners; their peer is the old, dead hub domain, which
 * they keep referenced, so they fail (-EPIPE) instead of reaching the new
 * hub. We ask for our old domid, so that store paths stay the same, and
 * take any if it is taken. The caller (shm_client.c, io_lock held) swaps
 * in the socket returned in *@fdp.
 */
int pvc_shm_reconnect(struct shm_ctx *ctx, int *fdp)
{
	uint32_t old_domid = __atomic_load_n(&ctx->self.domid, __ATOMIC_RELAXED), domid = 0;
	struct shm_dom *hubdom = NULL, *old;
	int fd = -1, rc = -ENOTCONN;

	if (!ctx->path)
		return -ENOTCONN; /* a guest made from an fd has nowhere to go */
	for (int attempt = 0; attempt < 2; attempt++) {
		int fl;

		rc = open_path(ctx->path, &fd);
		if (rc)
			return rc;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			rc = -errno;
		else
			rc = rendezvous(ctx, fd, attempt ? 0 : old_domid, &hubdom, &domid);
		if (rc == 0)
			break;
		close(fd);
		fd = -1;
		if (rc != -EEXIST)
			return rc;
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&ctx->hub_lock);
	old = ctx->hubdom;
	ctx->hubdom = hubdom;
	__atomic_store_n(&ctx->self.domid, domid, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ctx->hub_lock);
	pvc_shm_dom_put(old); /* ports and mappings of the old session hold their own */
	pvc_info("shm.reconnected", "reconnected to %s as domain %u (was %u), hub domain %u",
		 ctx->path, domid, old_domid, hubdom->domid);
	*fdp = fd;
	return 0;
}

int pvcalls_shm_pair(const struct pvcalls_shm_opts *hub_opts,
		     const struct pvcalls_shm_opts *guest_opts, pvcalls_transport **hub,
		     pvcalls_transport **guest)
{
	int sv[2], rc;

	if (!hub || !guest)
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	rc = hub_create(NULL, hub_opts, hub);
	if (rc) {
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	rc = pvcalls_shm_hub_adopt(*hub, sv[0]);
	if (rc) {
		close(sv[1]);
		goto fail;
	}
	rc = pvcalls_shm_connect_fd(sv[1], guest_opts, guest);
	if (rc)
		goto fail;
	return 0;
fail:
	pvcalls_transport_close(*hub);
	*hub = NULL;
	return rc;
}

int pvcalls_shm_hub_adopt(pvcalls_transport *hub, int fd)
{
	struct shm_ctx *ctx = pvc_shm_ctx(hub);

	if (fd < 0)
		return -EINVAL;
	if (!ctx || !ctx->is_hub || !is_seqpacket(fd)) {
		pvc_err("shm.adopt", "fd %d: not a hub, or not a SOCK_SEQPACKET Unix socket", fd);
		close(fd);
		return -EINVAL;
	}
	return pvc_shm_hub_adopt_fd(ctx, fd);
}

int pvcalls_shm_hub_nr_guests(pvcalls_transport *hub)
{
	struct shm_ctx *ctx = pvc_shm_ctx(hub);

	if (!ctx || !ctx->is_hub)
		return -EINVAL;
	return pvc_shm_hub_nr_guests_ctx(ctx);
}
