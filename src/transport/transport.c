/* SPDX-License-Identifier: MIT */
/*
 * Transport registration and the checked wrappers around its operations.
 * The wrappers reject obviously bad arguments so that every transport,
 * including third-party ones, sees only well-formed calls.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvcalls/transport.h>

#include "common/log.h"

struct pvcalls_transport {
	const struct pvcalls_transport_ops *ops;
	void *ctx;
};

/* Offsets of the required function pointers, for the validation loop. */
#define REQ(m)                                                \
	{                                                     \
		offsetof(struct pvcalls_transport_ops, m), #m \
	}
static const struct {
	size_t off;
	const char *name;
} required_ops[] = {
	REQ(local_domid),    REQ(share_pages),
	REQ(unshare_pages),  REQ(map_refs),
	REQ(unmap),          REQ(evtchn_alloc_unbound),
	REQ(evtchn_bind),    REQ(evtchn_notify),
	REQ(evtchn_close),   REQ(evtchn_fd),
	REQ(evtchn_pending), REQ(evtchn_unmask),
	REQ(store_read),     REQ(store_write),
	REQ(store_rm),       REQ(store_directory),
	REQ(store_watch),    REQ(store_unwatch),
	REQ(store_fd),       REQ(store_read_watch),
	REQ(close),
};
#undef REQ

static int validate_ops(const struct pvcalls_transport_ops *ops)
{
	size_t i;

	if (!ops) {
		pvc_err("transport.invalid", "transport ops table is NULL");
		return -EINVAL;
	}
	if (ops->abi != PVCALLS_TRANSPORT_ABI) {
		pvc_err("transport.invalid", "transport ops abi %u, library expects %u", ops->abi,
			PVCALLS_TRANSPORT_ABI);
		return -EINVAL;
	}
	if (!ops->name || !ops->name[0]) {
		pvc_err("transport.invalid", "transport ops table has no name");
		return -EINVAL;
	}
	for (i = 0; i < sizeof(required_ops) / sizeof(required_ops[0]); i++) {
		void (*fn)(void);

		memcpy(&fn, (const char *)ops + required_ops[i].off, sizeof(fn));
		if (!fn) {
			pvc_err("transport.invalid", "transport '%s' lacks required op %s",
				ops->name, required_ops[i].name);
			return -EINVAL;
		}
	}
	if (!ops->store_txn_start != !ops->store_txn_end) {
		pvc_err("transport.invalid",
			"transport '%s' must provide both or neither of store_txn_start/end",
			ops->name);
		return -EINVAL;
	}
	return 0;
}

int pvcalls_transport_new(const struct pvcalls_transport_ops *ops, void *ctx,
			  pvcalls_transport **out)
{
	pvcalls_transport *t;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = validate_ops(ops);
	if (rc < 0) {
		/* The context is ours even on failure (header contract). */
		if (ops && ops->close)
			ops->close(ctx);
		return rc;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		ops->close(ctx);
		return -ENOMEM;
	}
	t->ops = ops;
	t->ctx = ctx;
	*out = t;
	return 0;
}

void pvcalls_transport_close(pvcalls_transport *t)
{
	if (!t)
		return;
	t->ops->close(t->ctx);
	free(t);
}

const char *pvcalls_transport_name(const pvcalls_transport *t)
{
	return t ? t->ops->name : "(none)";
}

const struct pvcalls_transport_ops *pvcalls_transport_ops(const pvcalls_transport *t)
{
	return t ? t->ops : NULL;
}

void *pvcalls_transport_ctx(const pvcalls_transport *t)
{
	return t ? t->ctx : NULL;
}

static int bad_path(const char *p)
{
	return !p || p[0] == '\0' || strlen(p) >= PVCALLS_STORE_MAX;
}

int pvcalls_transport_local_domid(pvcalls_transport *t, uint32_t *domid)
{
	if (!t || !domid)
		return -EINVAL;
	return t->ops->local_domid(t->ctx, domid);
}

int pvcalls_transport_share(pvcalls_transport *t, uint32_t domid, unsigned count, bool writable,
			    uint32_t *refs, void **addr)
{
	if (!t || !refs || !addr || count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	return t->ops->share_pages(t->ctx, domid, count, writable, refs, addr);
}

int pvcalls_transport_unshare(pvcalls_transport *t, void *addr, unsigned count)
{
	if (!t || !addr || count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	return t->ops->unshare_pages(t->ctx, addr, count);
}

int pvcalls_transport_map(pvcalls_transport *t, uint32_t domid, unsigned count,
			  const uint32_t *refs, bool writable, void **addr)
{
	if (!t || !refs || !addr || count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	return t->ops->map_refs(t->ctx, domid, count, refs, writable, addr);
}

int pvcalls_transport_unmap(pvcalls_transport *t, void *addr, unsigned count)
{
	if (!t || !addr || count == 0 || count > PVCALLS_TRANSPORT_MAX_PAGES)
		return -EINVAL;
	return t->ops->unmap(t->ctx, addr, count);
}

int pvcalls_transport_evtchn_alloc_unbound(pvcalls_transport *t, uint32_t remote_domid,
					   uint32_t *local_port)
{
	if (!t || !local_port)
		return -EINVAL;
	return t->ops->evtchn_alloc_unbound(t->ctx, remote_domid, local_port);
}

int pvcalls_transport_evtchn_bind(pvcalls_transport *t, uint32_t remote_domid, uint32_t remote_port,
				  uint32_t *local_port)
{
	if (!t || !local_port)
		return -EINVAL;
	return t->ops->evtchn_bind(t->ctx, remote_domid, remote_port, local_port);
}

int pvcalls_transport_evtchn_notify(pvcalls_transport *t, uint32_t port)
{
	if (!t)
		return -EINVAL;
	return t->ops->evtchn_notify(t->ctx, port);
}

int pvcalls_transport_evtchn_close(pvcalls_transport *t, uint32_t port)
{
	if (!t)
		return -EINVAL;
	return t->ops->evtchn_close(t->ctx, port);
}

int pvcalls_transport_evtchn_fd(pvcalls_transport *t)
{
	if (!t)
		return -EINVAL;
	return t->ops->evtchn_fd(t->ctx);
}

int pvcalls_transport_evtchn_pending(pvcalls_transport *t, uint32_t *port)
{
	if (!t || !port)
		return -EINVAL;
	return t->ops->evtchn_pending(t->ctx, port);
}

int pvcalls_transport_evtchn_unmask(pvcalls_transport *t, uint32_t port)
{
	if (!t)
		return -EINVAL;
	return t->ops->evtchn_unmask(t->ctx, port);
}

int pvcalls_transport_store_read(pvcalls_transport *t, uint32_t txn, const char *path, char *buf,
				 size_t buflen)
{
	if (!t || bad_path(path) || !buf || buflen == 0)
		return -EINVAL;
	return t->ops->store_read(t->ctx, txn, path, buf, buflen);
}

int pvcalls_transport_store_write(pvcalls_transport *t, uint32_t txn, const char *path,
				  const char *value)
{
	if (!t || bad_path(path) || !value || strlen(value) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	return t->ops->store_write(t->ctx, txn, path, value);
}

int pvcalls_transport_store_printf(pvcalls_transport *t, uint32_t txn, const char *path,
				   const char *fmt, ...)
{
	char val[256];
	va_list ap;
	int n;

	if (!fmt)
		return -EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -ERANGE;
	return pvcalls_transport_store_write(t, txn, path, val);
}

int pvcalls_transport_store_read_uint(pvcalls_transport *t, uint32_t txn, const char *path,
				      uint32_t *value)
{
	char buf[32], *end;
	unsigned long long v;
	int n;

	if (!value)
		return -EINVAL;
	n = pvcalls_transport_store_read(t, txn, path, buf, sizeof(buf));
	if (n < 0)
		return n;
	/* Strictly decimal digits: strtoull alone would accept " -1" or "0x10". */
	if (n == 0 || n > 10 || strspn(buf, "0123456789") != (size_t)n)
		return -EINVAL;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*value = (uint32_t)v;
	return 0;
}

int pvcalls_transport_store_rm(pvcalls_transport *t, uint32_t txn, const char *path)
{
	if (!t || bad_path(path))
		return -EINVAL;
	return t->ops->store_rm(t->ctx, txn, path);
}

int pvcalls_transport_store_directory(pvcalls_transport *t, uint32_t txn, const char *path,
				      char *buf, size_t buflen)
{
	if (!t || bad_path(path) || !buf || buflen == 0)
		return -EINVAL;
	return t->ops->store_directory(t->ctx, txn, path, buf, buflen);
}

int pvcalls_transport_store_txn_start(pvcalls_transport *t, uint32_t *txn)
{
	if (!t || !txn)
		return -EINVAL;
	if (!t->ops->store_txn_start) {
		*txn = PVCALLS_STORE_NO_TXN;
		return 0;
	}
	return t->ops->store_txn_start(t->ctx, txn);
}

int pvcalls_transport_store_txn_end(pvcalls_transport *t, uint32_t txn, bool abort)
{
	if (!t)
		return -EINVAL;
	if (!t->ops->store_txn_end || txn == PVCALLS_STORE_NO_TXN)
		return 0;
	return t->ops->store_txn_end(t->ctx, txn, abort);
}

int pvcalls_transport_store_watch(pvcalls_transport *t, const char *path, const char *token)
{
	if (!t || bad_path(path) || !token)
		return -EINVAL;
	return t->ops->store_watch(t->ctx, path, token);
}

int pvcalls_transport_store_unwatch(pvcalls_transport *t, const char *path, const char *token)
{
	if (!t || bad_path(path) || !token)
		return -EINVAL;
	return t->ops->store_unwatch(t->ctx, path, token);
}

int pvcalls_transport_store_fd(pvcalls_transport *t)
{
	if (!t)
		return -EINVAL;
	return t->ops->store_fd(t->ctx);
}

int pvcalls_transport_store_read_watch(pvcalls_transport *t, char *path, size_t pathlen,
				       char *token, size_t tokenlen)
{
	if (!t || !path || !pathlen || !token || !tokenlen)
		return -EINVAL;
	return t->ops->store_read_watch(t->ctx, path, pathlen, token, tokenlen);
}
