/* SPDX-License-Identifier: MIT */
/* The fault-injecting transport; see fault.h. */
#include "fault.h"

#include <errno.h>
#include <execinfo.h>
#include <stdlib.h>
#include <string.h>

struct fault {
	pvcalls_transport *inner;
	uint64_t fail_at;
	uint64_t count;        /* atomic */
	const char *failed_op; /* written once, by the thread that failed */
	uint64_t *sites;       /* fault_record_sites() */
	uint64_t max_sites;
	const char *arm_op; /* fault_fail_next(): written before arm_n */
	unsigned arm_n;     /* atomic */
};

/* True (and the op recorded) when this call is the one to fail. */
static bool hit(struct fault *f, const char *op)
{
	uint64_t n = __atomic_add_fetch(&f->count, 1, __ATOMIC_RELAXED);

	if (f->sites && n <= f->max_sites) {
		void *pc[FAULT_SITE_DEPTH + 1];
		int k = backtrace(pc, FAULT_SITE_DEPTH + 1);
		uint64_t h = 1469598103934665603ull; /* FNV-1a over the addresses */

		for (int i = 1; i < k; i++) { /* frame 0 is hit() itself */
			h ^= (uint64_t)(uintptr_t)pc[i];
			h *= 1099511628211ull;
		}
		f->sites[n - 1] = h; /* each n is one thread's */
	}
	if (__atomic_load_n(&f->arm_n, __ATOMIC_ACQUIRE) &&
	    !strcmp(__atomic_load_n(&f->arm_op, __ATOMIC_RELAXED), op)) {
		unsigned left = __atomic_load_n(&f->arm_n, __ATOMIC_RELAXED);

		while (left && !__atomic_compare_exchange_n(&f->arm_n, &left, left - 1, false,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		if (left)
			return true;
	}
	if (n != f->fail_at)
		return false;
	__atomic_store_n(&f->failed_op, op, __ATOMIC_RELEASE);
	return true;
}

static int f_local_domid(void *c, uint32_t *domid)
{
	struct fault *f = c;

	return hit(f, "local_domid") ? -ENOTCONN : pvcalls_transport_local_domid(f->inner, domid);
}

static int f_share(void *c, uint32_t domid, unsigned count, bool writable, uint32_t *refs,
		   void **addr)
{
	struct fault *f = c;

	if (hit(f, "share_pages"))
		return -ENOMEM;
	return pvcalls_transport_share(f->inner, domid, count, writable, refs, addr);
}

static int f_unshare(void *c, void *addr, unsigned count)
{
	return pvcalls_transport_unshare(((struct fault *)c)->inner, addr, count);
}

static int f_map(void *c, uint32_t domid, unsigned count, const uint32_t *refs, bool writable,
		 void **addr)
{
	struct fault *f = c;

	if (hit(f, "map_refs"))
		return -ENOMEM;
	return pvcalls_transport_map(f->inner, domid, count, refs, writable, addr);
}

static int f_unmap(void *c, void *addr, unsigned count)
{
	return pvcalls_transport_unmap(((struct fault *)c)->inner, addr, count);
}

static int f_alloc_unbound(void *c, uint32_t remote, uint32_t *port)
{
	struct fault *f = c;

	if (hit(f, "evtchn_alloc_unbound"))
		return -ENOSPC;
	return pvcalls_transport_evtchn_alloc_unbound(f->inner, remote, port);
}

static int f_bind(void *c, uint32_t remote, uint32_t rport, uint32_t *port)
{
	struct fault *f = c;

	if (hit(f, "evtchn_bind"))
		return -ENOSPC;
	return pvcalls_transport_evtchn_bind(f->inner, remote, rport, port);
}

static int f_notify(void *c, uint32_t port)
{
	struct fault *f = c;

	return hit(f, "evtchn_notify") ? -EPIPE : pvcalls_transport_evtchn_notify(f->inner, port);
}

static int f_close_port(void *c, uint32_t port)
{
	return pvcalls_transport_evtchn_close(((struct fault *)c)->inner, port);
}

static int f_evtchn_fd(void *c)
{
	return pvcalls_transport_evtchn_fd(((struct fault *)c)->inner);
}

static int f_pending(void *c, uint32_t *port)
{
	return pvcalls_transport_evtchn_pending(((struct fault *)c)->inner, port);
}

static int f_unmask(void *c, uint32_t port)
{
	return pvcalls_transport_evtchn_unmask(((struct fault *)c)->inner, port);
}

static int f_read(void *c, uint32_t txn, const char *path, char *buf, size_t len)
{
	struct fault *f = c;

	if (hit(f, "store_read"))
		return -EIO;
	return pvcalls_transport_store_read(f->inner, txn, path, buf, len);
}

static int f_write(void *c, uint32_t txn, const char *path, const char *value)
{
	struct fault *f = c;

	if (hit(f, "store_write"))
		return -EIO;
	return pvcalls_transport_store_write(f->inner, txn, path, value);
}

static int f_rm(void *c, uint32_t txn, const char *path)
{
	struct fault *f = c;

	return hit(f, "store_rm") ? -EIO : pvcalls_transport_store_rm(f->inner, txn, path);
}

static int f_dir(void *c, uint32_t txn, const char *path, char *buf, size_t len)
{
	struct fault *f = c;

	if (hit(f, "store_directory"))
		return -EIO;
	return pvcalls_transport_store_directory(f->inner, txn, path, buf, len);
}

static int f_txn_start(void *c, uint32_t *txn)
{
	struct fault *f = c;

	return hit(f, "store_txn_start") ? -EIO : pvcalls_transport_store_txn_start(f->inner, txn);
}

static int f_txn_end(void *c, uint32_t txn, bool abort)
{
	struct fault *f = c;

	if (hit(f, "store_txn_end")) {
		/* The transaction is gone either way, as after a real failure. */
		pvcalls_transport_store_txn_end(f->inner, txn, true);
		return f->fail_at & 1 ? -EAGAIN : -EIO;
	}
	return pvcalls_transport_store_txn_end(f->inner, txn, abort);
}

static int f_watch(void *c, const char *path, const char *token)
{
	struct fault *f = c;

	return hit(f, "store_watch") ? -EIO : pvcalls_transport_store_watch(f->inner, path, token);
}

static int f_unwatch(void *c, const char *path, const char *token)
{
	return pvcalls_transport_store_unwatch(((struct fault *)c)->inner, path, token);
}

static int f_store_fd(void *c)
{
	return pvcalls_transport_store_fd(((struct fault *)c)->inner);
}

static int f_read_watch(void *c, char *path, size_t plen, char *token, size_t tlen)
{
	return pvcalls_transport_store_read_watch(((struct fault *)c)->inner, path, plen, token,
						  tlen);
}

static void f_close(void *c)
{
	struct fault *f = c;

	pvcalls_transport_close(f->inner);
	free(f);
}

static const struct pvcalls_transport_ops fault_ops = {
	.abi = PVCALLS_TRANSPORT_ABI,
	.name = "fault",
	.local_domid = f_local_domid,
	.share_pages = f_share,
	.unshare_pages = f_unshare,
	.map_refs = f_map,
	.unmap = f_unmap,
	.evtchn_alloc_unbound = f_alloc_unbound,
	.evtchn_bind = f_bind,
	.evtchn_notify = f_notify,
	.evtchn_close = f_close_port,
	.evtchn_fd = f_evtchn_fd,
	.evtchn_pending = f_pending,
	.evtchn_unmask = f_unmask,
	.store_read = f_read,
	.store_write = f_write,
	.store_rm = f_rm,
	.store_directory = f_dir,
	.store_txn_start = f_txn_start,
	.store_txn_end = f_txn_end,
	.store_watch = f_watch,
	.store_unwatch = f_unwatch,
	.store_fd = f_store_fd,
	.store_read_watch = f_read_watch,
	.close = f_close,
};

pvcalls_transport *fault_wrap(pvcalls_transport *inner, uint64_t fail_at, struct fault **out)
{
	struct fault *f = calloc(1, sizeof(*f));
	pvcalls_transport *t = NULL;

	if (!f) {
		pvcalls_transport_close(inner);
		return NULL;
	}
	f->inner = inner;
	f->fail_at = fail_at;
	if (pvcalls_transport_new(&fault_ops, f, &t))
		return NULL; /* f_close ran: inner is closed */
	*out = f;
	return t;
}

void fault_record_sites(struct fault *f, uint64_t *sites, uint64_t max)
{
	f->sites = sites;
	f->max_sites = max;
}

uint64_t fault_count(const struct fault *f)
{
	return __atomic_load_n(&f->count, __ATOMIC_RELAXED);
}

const char *fault_failed_op(const struct fault *f)
{
	return __atomic_load_n(&f->failed_op, __ATOMIC_ACQUIRE);
}

void fault_fail_next(struct fault *f, const char *op, unsigned n)
{
	__atomic_store_n(&f->arm_n, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&f->arm_op, op, __ATOMIC_RELAXED);
	__atomic_store_n(&f->arm_n, n, __ATOMIC_RELEASE); /* pairs with hit()'s acquire */
}

unsigned fault_armed_left(const struct fault *f)
{
	return __atomic_load_n(&f->arm_n, __ATOMIC_ACQUIRE);
}
