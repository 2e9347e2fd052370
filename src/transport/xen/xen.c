/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport: each operation of pvcalls/transport.h maps onto one
 * call of the stable Xen libraries (through the osdep table), plus the
 * bookkeeping the libraries leave to their callers:
 *  - live shares and mappings are remembered, because xengntshr_unshare
 *    munmap()s whatever it is given, and a wrong address would unmap
 *    unrelated memory;
 *  - watches are remembered, so events still queued for a removed watch are
 *    dropped, as the shm transport does;
 *  - a watch event that does not fit the caller's buffers is kept for the
 *    next call rather than lost (libxenstore hands each event out once).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/xen/xen_osdep.h"

_Static_assert(PVCALLS_STORE_NO_TXN == XBT_NULL, "no-transaction ids differ");

#define REGION_BUCKETS 64u

struct xen_region {
	struct xen_region *next;
	void *addr;
	unsigned count;
	bool shared; /* share_pages; else map_refs */
};

struct xen_watch {
	struct xen_watch *next;
	char *path;
	char *token;
};

struct xen_ctx {
	const struct pvc_xen_osdep *os;
	xenevtchn_handle *xce;
	xengnttab_handle *xgt;
	xengntshr_handle *xgs;
	struct xs_handle *xsh;
	int evtchn_fd;
	int store_fd;
	uint32_t domid;

	pthread_mutex_t lock; /* regions, watches */
	struct xen_region *regions[REGION_BUCKETS];
	struct xen_watch *watches;

	char **stash; /* undelivered watch event; read_watch's thread only */
};

/* errno after a failed library call, as a negative value (never 0). */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Store errors: a closed or broken connection reads as -ENOTCONN. */
static int store_err(void)
{
	switch (errno) {
	case EBADF:
	case EPIPE:
	case ECONNRESET:
	case ECONNREFUSED:
	case ENOTCONN:
	case ESHUTDOWN:
		return -ENOTCONN;
	default:
		return neg_errno();
	}
}

/* --- probing ------------------------------------------------------------ */

static bool hypervisor_is_xen(void)
{
	char buf[16] = "";
	FILE *f = fopen("/sys/hypervisor/type", "re");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strncmp(buf, "xen", 3) == 0;
}

static void set_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The device nodes: -ENODEV naming each missing one, -EACCES if unusable. */
static int probe_devices(const struct pvc_xen_osdep *os, char *why, size_t len)
{
	static const char *const devs[] = {
		PVC_XEN_DEV_EVTCHN,
		PVC_XEN_DEV_GNTDEV,
		PVC_XEN_DEV_GNTALLOC,
	};
	char missing[128] = "";
	size_t i;

	for (i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		if (os->access(devs[i], F_OK) == 0)
			continue;
		if (missing[0])
			strcat(missing, ", ");
		strcat(missing, devs[i]);
	}
	if (missing[0]) {
		if (hypervisor_is_xen())
			set_why(why, len,
				"%s missing: running on Xen, but the xen-evtchn, "
				"xen-gntdev and xen-gntalloc drivers are not all loaded",
				missing);
		else
			set_why(why, len, "%s missing: not running on Xen", missing);
		return -ENODEV;
	}
	for (i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		if (os->access(devs[i], R_OK | W_OK) < 0) {
			set_why(why, len, "%s: permission denied (needs root)", devs[i]);
			return -EACCES;
		}
	}
	return 0;
}

static int xs_open_err(char *why, size_t len)
{
	int rc = neg_errno();

	set_why(why, len,
		"xenstore unreachable (is xenstored running? is there a /dev/xen/xenbus?): %s",
		pvcalls_strerror(rc));
	return rc == -EACCES ? rc : -ENOENT;
}

int pvc_xen_probe_osdep(const struct pvc_xen_osdep *os, char *why, size_t whylen)
{
	struct xs_handle *xsh;
	int rc;

	set_why(why, whylen, "%s", "");
	rc = probe_devices(os, why, whylen);
	if (rc < 0)
		return rc;
	errno = 0;
	xsh = os->xs_open(0);
	if (!xsh)
		return xs_open_err(why, whylen);
	os->xs_close(xsh);
	return 0;
}

int pvcalls_xen_probe(char *why, size_t whylen)
{
	return pvc_xen_probe_osdep(&pvc_xen_osdep_real, why, whylen);
}

/* --- regions and watches ----------------------------------------------- */

static unsigned region_bucket(const void *addr)
{
	return (unsigned)(((uintptr_t)addr >> 12) % REGION_BUCKETS);
}

static int region_add(struct xen_ctx *ctx, void *addr, unsigned count, bool shared)
{
	struct xen_region *r = malloc(sizeof(*r));
	unsigned b = region_bucket(addr);

	if (!r)
		return -ENOMEM;
	r->addr = addr;
	r->count = count;
	r->shared = shared;
	pthread_mutex_lock(&ctx->lock);
	r->next = ctx->regions[b];
	ctx->regions[b] = r;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

/* Unlinks the region at addr if it has this count and kind. */
static struct xen_region *region_take(struct xen_ctx *ctx, void *addr, unsigned count, bool shared)
{
	struct xen_region **pp, *r;

	pthread_mutex_lock(&ctx->lock);
	for (pp = &ctx->regions[region_bucket(addr)]; (r = *pp); pp = &r->next) {
		if (r->addr == addr && r->count == count && r->shared == shared) {
			*pp = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

static void region_put_back(struct xen_ctx *ctx, struct xen_region *r)
{
	unsigned b = region_bucket(r->addr);

	pthread_mutex_lock(&ctx->lock);
	r->next = ctx->regions[b];
	ctx->regions[b] = r;
	pthread_mutex_unlock(&ctx->lock);
}

static struct xen_watch *watch_new(const char *path, const char *token)
{
	struct xen_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->path = strdup(path);
	w->token = strdup(token);
	if (!w->path || !w->token) {
		free(w->path);
		free(w->token);
		free(w);
		return NULL;
	}
	return w;
}

static void watch_free(struct xen_watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
}

/* Unlinks one watch entry equal to (path, token); lock held. */
static struct xen_watch *watch_unlink(struct xen_ctx *ctx, const char *path, const char *token)
{
	struct xen_watch **pp, *w;

	for (pp = &ctx->watches; (w = *pp); pp = &w->next) {
		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			return w;
		}
	}
	return NULL;
}

/* Whether an event (changed path, token) belongs to a live watch. */
static bool watch_live(struct xen_ctx *ctx, const char *path, const char *token)
{
	struct xen_watch *w;
	bool live = false;

	pthread_mutex_lock(&ctx->lock);
	for (w = ctx->watches; w && !live; w = w->next) {
		size_t n = strlen(w->path);

		live = !strcmp(w->token, token) && !strncmp(w->path, path, n) &&
		       (path[n] == '\0' || path[n] == '/' || (n && w->path[n - 1] == '/'));
	}
	pthread_mutex_unlock(&ctx->lock);
	return live;
}

/* --- context ------------------------------------------------------------ */

static void ctx_free(struct xen_ctx *ctx)
{
	const struct pvc_xen_osdep *os = ctx->os;
	unsigned leaked = 0, b;

	for (b = 0; b < REGION_BUCKETS; b++) {
		struct xen_region *r, *next;

		for (r = ctx->regions[b]; r; r = next) {
			next = r->next;
			if (r->shared)
				os->gntshr_unshare(ctx->xgs, r->addr, r->count);
			else
				os->gnttab_unmap(ctx->xgt, r->addr, r->count);
			leaked++;
			free(r);
		}
	}
	if (leaked)
		pvc_warn("xen.close", "released %u shares/mappings still live at close", leaked);
	while (ctx->watches) {
		struct xen_watch *w = ctx->watches;

		ctx->watches = w->next;
		watch_free(w);
	}
	free(ctx->stash);
	if (ctx->xsh)
		os->xs_close(ctx->xsh); /* drops its watches in xenstored */
	if (ctx->xgs)
		os->gntshr_close(ctx->xgs);
	if (ctx->xgt)
		os->gnttab_close(ctx->xgt);
	if (ctx->xce)
		os->evtchn_close(ctx->xce); /* unbinds every port still open */
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

static int xen_local_domid(void *c, uint32_t *domid)
{
	struct xen_ctx *ctx = c;

	*domid = ctx->domid;
	return 0;
}

/* --- memory ------------------------------------------------------------- */

static int xen_share_pages(void *c, uint32_t domid, unsigned count, bool writable, uint32_t *refs,
			   void **addr)
{
	struct xen_ctx *ctx = c;
	void *p;
	int rc;

	if (count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	p = ctx->os->gntshr_share_pages(ctx->xgs, domid, (int)count, refs, writable);
	if (!p) {
		rc = neg_errno();
		if (rc == -ENOSPC || rc == -EIO)
			rc = -ENOMEM; /* gntalloc's "no free grant entries" */
		pvc_err("xen.share", "sharing %u page(s) with domain %u: %s", count, domid,
			pvcalls_strerror(rc));
		return rc;
	}
	rc = region_add(ctx, p, count, true);
	if (rc < 0) {
		ctx->os->gntshr_unshare(ctx->xgs, p, count);
		return rc;
	}
	*addr = p;
	return 0;
}

static int xen_unshare_pages(void *c, void *addr, unsigned count)
{
	struct xen_ctx *ctx = c;
	struct xen_region *r = region_take(ctx, addr, count, true);
	int rc;

	if (!r) {
		pvc_err("xen.unshare", "no share of %u page(s) at %p", count, addr);
		return -EINVAL;
	}
	if (ctx->os->gntshr_unshare(ctx->xgs, addr, count) < 0) {
		rc = neg_errno();
		pvc_err("xen.unshare", "unsharing %u page(s) at %p: %s", count, addr,
			pvcalls_strerror(rc));
		region_put_back(ctx, r);
		return rc;
	}
	free(r);
	return 0;
}

static int xen_map_refs(void *c, uint32_t domid, unsigned count, const uint32_t *refs,
			bool writable, void **addr)
{
	struct xen_ctx *ctx = c;
	uint32_t copy[PVCALLS_TRANSPORT_MAX_PAGES];
	void *p;
	int rc;

	if (count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	/* The library's prototype is not const-correct. */
	memcpy(copy, refs, count * sizeof(*refs));
	p = ctx->os->gnttab_map_domain_grant_refs(ctx->xgt, count, domid, copy,
						  PROT_READ | (writable ? PROT_WRITE : 0));
	if (!p) {
		rc = neg_errno();
		if (rc == -EACCES)
			rc = -EPERM;
		pvc_err("xen.map", "mapping %u ref(s) from domain %u (first ref %u)%s: %s", count,
			domid, refs[0], writable ? " writable" : "", pvcalls_strerror(rc));
		return rc;
	}
	rc = region_add(ctx, p, count, false);
	if (rc < 0) {
		ctx->os->gnttab_unmap(ctx->xgt, p, count);
		return rc;
	}
	*addr = p;
	return 0;
}

static int xen_unmap(void *c, void *addr, unsigned count)
{
	struct xen_ctx *ctx = c;
	struct xen_region *r = region_take(ctx, addr, count, false);
	int rc;

	if (!r) {
		pvc_err("xen.unmap", "no mapping of %u page(s) at %p", count, addr);
		return -EINVAL;
	}
	if (ctx->os->gnttab_unmap(ctx->xgt, addr, count) < 0) {
		rc = neg_errno();
		pvc_err("xen.unmap", "unmapping %u page(s) at %p: %s", count, addr,
			pvcalls_strerror(rc));
		region_put_back(ctx, r);
		return rc;
	}
	free(r);
	return 0;
}

/* --- event channels ----------------------------------------------------- */

static int xen_evtchn_alloc_unbound(void *c, uint32_t remote_domid, uint32_t *local_port)
{
	struct xen_ctx *ctx = c;
	xenevtchn_port_or_error_t p;

	p = ctx->os->evtchn_bind_unbound_port(ctx->xce, remote_domid);
	if (p < 0) {
		int rc = neg_errno();

		pvc_err("xen.evtchn", "allocating a port for domain %u: %s", remote_domid,
			pvcalls_strerror(rc));
		return rc;
	}
	*local_port = (uint32_t)p;
	return 0;
}

static int xen_evtchn_bind(void *c, uint32_t remote_domid, uint32_t remote_port,
			   uint32_t *local_port)
{
	struct xen_ctx *ctx = c;
	xenevtchn_port_or_error_t p;

	p = ctx->os->evtchn_bind_interdomain(ctx->xce, remote_domid, remote_port);
	if (p < 0) {
		int rc = neg_errno();

		pvc_err("xen.evtchn", "binding to port %u of domain %u: %s", remote_port,
			remote_domid, pvcalls_strerror(rc));
		return rc;
	}
	*local_port = (uint32_t)p;
	return 0;
}

static int xen_evtchn_notify(void *c, uint32_t port)
{
	struct xen_ctx *ctx = c;

	return ctx->os->evtchn_notify(ctx->xce, port) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_close(void *c, uint32_t port)
{
	struct xen_ctx *ctx = c;

	return ctx->os->evtchn_unbind(ctx->xce, port) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_fd(void *c)
{
	return ((struct xen_ctx *)c)->evtchn_fd;
}

static int xen_evtchn_pending(void *c, uint32_t *port)
{
	struct xen_ctx *ctx = c;
	xenevtchn_port_or_error_t p;

	/* The fd is non-blocking, so an empty queue reads as EAGAIN. */
	p = ctx->os->evtchn_pending(ctx->xce);
	if (p < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return neg_errno();
	}
	*port = (uint32_t)p;
	return 1;
}

static int xen_evtchn_unmask(void *c, uint32_t port)
{
	struct xen_ctx *ctx = c;

	return ctx->os->evtchn_unmask(ctx->xce, port) < 0 ? neg_errno() : 0;
}

/* --- store -------------------------------------------------------------- */

static int xen_store_read(void *c, uint32_t txn, const char *path, char *buf, size_t buflen)
{
	struct xen_ctx *ctx = c;
	unsigned int len = 0;
	char *v;

	errno = 0;
	v = ctx->os->xs_read(ctx->xsh, txn, path, &len);
	if (!v)
		return store_err();
	if ((size_t)len + 1 > buflen || len > INT32_MAX) {
		free(v);
		return -ERANGE;
	}
	memcpy(buf, v, len);
	buf[len] = '\0';
	free(v);
	return (int)len;
}

static int xen_store_write(void *c, uint32_t txn, const char *path, const char *value)
{
	struct xen_ctx *ctx = c;

	errno = 0;
	if (!ctx->os->xs_write(ctx->xsh, txn, path, value, (unsigned int)strlen(value)))
		return store_err();
	return 0;
}

static int xen_store_rm(void *c, uint32_t txn, const char *path)
{
	struct xen_ctx *ctx = c;
	unsigned int len;
	char *v;

	/* xenstored accepts removing an absent node; the contract does not. */
	errno = 0;
	v = ctx->os->xs_read(ctx->xsh, txn, path, &len);
	if (!v)
		return store_err();
	free(v);
	errno = 0;
	if (!ctx->os->xs_rm(ctx->xsh, txn, path))
		return store_err();
	return 0;
}

static int xen_store_directory(void *c, uint32_t txn, const char *path, char *buf, size_t buflen)
{
	struct xen_ctx *ctx = c;
	unsigned int num = 0, i;
	size_t off = 0;
	char **names;

	errno = 0;
	names = ctx->os->xs_directory(ctx->xsh, txn, path, &num);
	if (!names)
		return errno ? store_err() : 0;
	for (i = 0; i < num; i++) {
		size_t n = strlen(names[i]) + 1;

		if (off + n > buflen || i >= INT32_MAX) {
			free(names);
			return -ERANGE;
		}
		memcpy(buf + off, names[i], n);
		off += n;
	}
	free(names);
	return (int)num;
}

static int xen_store_txn_start(void *c, uint32_t *txn)
{
	struct xen_ctx *ctx = c;
	xs_transaction_t t;

	errno = 0;
	t = ctx->os->xs_transaction_start(ctx->xsh);
	if (t == XBT_NULL)
		return store_err();
	*txn = t;
	return 0;
}

static int xen_store_txn_end(void *c, uint32_t txn, bool abort)
{
	struct xen_ctx *ctx = c;

	errno = 0;
	if (!ctx->os->xs_transaction_end(ctx->xsh, txn, abort))
		return errno == EAGAIN ? -EAGAIN : store_err();
	return 0;
}

static int xen_store_watch(void *c, const char *path, const char *token)
{
	struct xen_ctx *ctx = c;
	struct xen_watch *w = watch_new(path, token);
	int rc;

	if (!w)
		return -ENOMEM;
	/* Listed first: the initial event may be read before xs_watch returns. */
	pthread_mutex_lock(&ctx->lock);
	w->next = ctx->watches;
	ctx->watches = w;
	pthread_mutex_unlock(&ctx->lock);
	errno = 0;
	if (ctx->os->xs_watch(ctx->xsh, path, token))
		return 0;
	rc = store_err();
	pthread_mutex_lock(&ctx->lock);
	w = watch_unlink(ctx, path, token);
	pthread_mutex_unlock(&ctx->lock);
	if (w)
		watch_free(w);
	return rc;
}

static int xen_store_unwatch(void *c, const char *path, const char *token)
{
	struct xen_ctx *ctx = c;
	struct xen_watch *w;

	errno = 0;
	if (!ctx->os->xs_unwatch(ctx->xsh, path, token))
		return store_err();
	pthread_mutex_lock(&ctx->lock);
	w = watch_unlink(ctx, path, token);
	pthread_mutex_unlock(&ctx->lock);
	if (w)
		watch_free(w);
	return 0;
}

static int xen_store_fd(void *c)
{
	return ((struct xen_ctx *)c)->store_fd;
}

/* Hands the stashed event out if it fits; it stays stashed otherwise. */
static int deliver_stash(struct xen_ctx *ctx, char *path, size_t pathlen, char *token,
			 size_t tokenlen)
{
	const char *p = ctx->stash[XS_WATCH_PATH], *t = ctx->stash[XS_WATCH_TOKEN];

	if (strlen(p) >= pathlen || strlen(t) >= tokenlen)
		return -ERANGE;
	strcpy(path, p);
	strcpy(token, t);
	free(ctx->stash);
	ctx->stash = NULL;
	return 1;
}

static int xen_store_read_watch(void *c, char *path, size_t pathlen, char *token, size_t tokenlen)
{
	struct xen_ctx *ctx = c;
	unsigned int num;
	char **vec;
	int rc;

	while (!ctx->stash) {
		struct pollfd pfd = { .fd = ctx->store_fd, .events = POLLIN };

		/* xs_read_watch blocks on an empty queue: ask the pipe first. */
		rc = poll(&pfd, 1, 0);
		if (rc < 0)
			return errno == EINTR ? 0 : neg_errno();
		if (rc == 0)
			return 0;
		if (pfd.revents & POLLNVAL)
			return -ENOTCONN;
		errno = 0;
		num = 0;
		vec = ctx->os->xs_read_watch(ctx->xsh, &num);
		if (!vec) {
			rc = errno == ENOMEM ? -ENOMEM : -ENOTCONN;
			pvc_err("xen.watch", "reading a watch event: %s",
				pvcalls_strerror(errno ? -errno : -EIO));
			return rc;
		}
		if (num > XS_WATCH_TOKEN &&
		    watch_live(ctx, vec[XS_WATCH_PATH], vec[XS_WATCH_TOKEN]))
			ctx->stash = vec;
		else
			free(vec); /* malformed, or for a watch removed since */
	}
	return deliver_stash(ctx, path, pathlen, token, tokenlen);
}

static void xen_close(void *c)
{
	ctx_free(c);
}

static const struct pvcalls_transport_ops xen_ops = {
	.abi = PVCALLS_TRANSPORT_ABI,
	.name = "xen",
	.local_domid = xen_local_domid,
	.share_pages = xen_share_pages,
	.unshare_pages = xen_unshare_pages,
	.map_refs = xen_map_refs,
	.unmap = xen_unmap,
	.evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
	.evtchn_bind = xen_evtchn_bind,
	.evtchn_notify = xen_evtchn_notify,
	.evtchn_close = xen_evtchn_close,
	.evtchn_fd = xen_evtchn_fd,
	.evtchn_pending = xen_evtchn_pending,
	.evtchn_unmask = xen_evtchn_unmask,
	.store_read = xen_store_read,
	.store_write = xen_store_write,
	.store_rm = xen_store_rm,
	.store_directory = xen_store_directory,
	.store_txn_start = xen_store_txn_start,
	.store_txn_end = xen_store_txn_end,
	.store_watch = xen_store_watch,
	.store_unwatch = xen_store_unwatch,
	.store_fd = xen_store_fd,
	.store_read_watch = xen_store_read_watch,
	.close = xen_close,
};

/* --- open --------------------------------------------------------------- */

/* "domid" relative to our own domain's store directory; absent in dom0. */
static int read_domid(struct xen_ctx *ctx)
{
	unsigned int len = 0;
	unsigned long v;
	char *s, *end;

	errno = 0;
	s = ctx->os->xs_read(ctx->xsh, XBT_NULL, "domid", &len);
	if (!s) {
		if (errno == ENOENT) {
			ctx->domid = 0;
			return 0;
		}
		return store_err();
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (len == 0 || strspn(s, "0123456789") != len || errno || *end || v > 0xffff) {
		pvc_err("xen.open", "the store's \"domid\" node holds \"%.16s\", not a domain id",
			s);
		free(s);
		return -EINVAL;
	}
	free(s);
	ctx->domid = (uint32_t)v;
	return 0;
}

static int open_fail(const char *what, int rc)
{
	pvc_err("xen.open", "%s: %s", what, pvcalls_strerror(rc));
	return rc;
}

int pvc_xen_open_osdep(const struct pvc_xen_osdep *os, const struct pvcalls_xen_opts *opts,
		       pvcalls_transport **out)
{
	struct xen_ctx *ctx;
	char why[256];
	int rc, fl;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = probe_devices(os, why, sizeof(why));
	if (rc < 0) {
		pvc_err("xen.unavailable", "%s", why);
		return rc;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->os = os;
	ctx->evtchn_fd = ctx->store_fd = -1;
	pthread_mutex_init(&ctx->lock, NULL);

	ctx->xce = os->evtchn_open(&pvc_xen_logger, 0);
	if (!ctx->xce) {
		rc = open_fail("opening " PVC_XEN_DEV_EVTCHN, neg_errno());
		goto fail;
	}
	ctx->evtchn_fd = os->evtchn_fd(ctx->xce);
	/* xenevtchn_pending() blocks on a blocking fd. */
	fl = ctx->evtchn_fd < 0 ? -1 : fcntl(ctx->evtchn_fd, F_GETFL);
	if (fl < 0 || fcntl(ctx->evtchn_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = open_fail("making the event-channel fd non-blocking", neg_errno());
		goto fail;
	}

	ctx->xgt = os->gnttab_open(&pvc_xen_logger, 0);
	if (!ctx->xgt) {
		rc = open_fail("opening " PVC_XEN_DEV_GNTDEV, neg_errno());
		goto fail;
	}
	if (opts && opts->max_map_pages &&
	    os->gnttab_set_max_grants(ctx->xgt, opts->max_map_pages) < 0) {
		rc = open_fail("setting the gntdev mapping limit", neg_errno());
		goto fail;
	}
	ctx->xgs = os->gntshr_open(&pvc_xen_logger, 0);
	if (!ctx->xgs) {
		rc = open_fail("opening " PVC_XEN_DEV_GNTALLOC, neg_errno());
		goto fail;
	}

	errno = 0;
	ctx->xsh = os->xs_open(0);
	if (!ctx->xsh) {
		rc = xs_open_err(why, sizeof(why));
		pvc_err("xen.unavailable", "%s", why);
		goto fail;
	}
	/* Creates libxenstore's watch pipe now, not on first use. */
	ctx->store_fd = os->xs_fileno(ctx->xsh);
	if (ctx->store_fd < 0) {
		rc = open_fail("creating the xenstore watch pipe", neg_errno());
		goto fail;
	}
	rc = read_domid(ctx);
	if (rc < 0) {
		open_fail("reading \"domid\" from xenstore", rc);
		goto fail;
	}
	pvc_debug("xen.open", "Xen transport open, domid %u", ctx->domid);
	return pvcalls_transport_new(&xen_ops, ctx, out);

fail:
	ctx_free(ctx);
	return rc;
}

int pvcalls_xen_open(const struct pvcalls_xen_opts *opts, pvcalls_transport **out)
{
	return pvc_xen_open_osdep(&pvc_xen_osdep_real, opts, out);
}
