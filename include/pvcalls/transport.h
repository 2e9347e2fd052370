/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/transport.h
 * @brief The transport contract: how pages are shared, peers signalled and
 *        the negotiation store reached.
 *
 * A transport is a const table of operations plus an opaque context. The
 * drivers (frontend, backend) never touch a hypervisor library; they call
 * these operations through the pvcalls_transport_* wrappers below, which
 * check arguments before the transport sees them.
 *
 * The operations mirror the stable Xen libraries one to one, so the Xen
 * transport is a thin layer:
 *
 *  | operation          | Xen                                      |
 *  |--------------------|------------------------------------------|
 *  | share_pages        | xengntshr_share_pages                    |
 *  | unshare_pages      | xengntshr_unshare                        |
 *  | map_refs           | xengnttab_map_domain_grant_refs          |
 *  | unmap              | xengnttab_unmap                          |
 *  | evtchn_alloc_unbound | xenevtchn_bind_unbound_port            |
 *  | evtchn_bind        | xenevtchn_bind_interdomain               |
 *  | evtchn_notify      | xenevtchn_notify                         |
 *  | evtchn_close       | xenevtchn_unbind                         |
 *  | evtchn_fd          | xenevtchn_fd                             |
 *  | evtchn_pending     | xenevtchn_pending (after poll)           |
 *  | evtchn_unmask      | xenevtchn_unmask                         |
 *  | store_*            | xs_read/xs_write/xs_rm/xs_directory/     |
 *  |                    | xs_watch/xs_unwatch/xs_read_watch/       |
 *  |                    | xs_transaction_start/_end, xs_fileno     |
 *
 * and the shared-memory loopback transport (pvcalls/shm.h) implements the
 * same semantics between processes on one host.
 *
 * Common rules for every operation:
 *  - The first argument is the transport's context as given to
 *    pvcalls_transport_new().
 *  - Return 0 (or the documented non-negative value) on success, a
 *    negative host errno on failure. Never set errno as the only report.
 *  - Operations never block indefinitely. store_* calls may wait for a
 *    store daemon's answer (bounded by the transport's own timeout).
 *  - Thread safety: every operation may be called from several threads at
 *    once, except evtchn_pending and store_read_watch, which are called by
 *    one thread at a time (the one that polls the corresponding fd).
 *  - Domain ids are 16-bit in Xen but travel as uint32_t here.
 *  - Event-channel ports are local to the domain that holds them.
 */
#ifndef PVCALLS_TRANSPORT_H
#define PVCALLS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvcalls/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of struct pvcalls_transport_ops; set .abi to this value. */
#define PVCALLS_TRANSPORT_ABI 1u

/** No transaction: the store operation applies immediately. */
#define PVCALLS_STORE_NO_TXN 0u

/** Longest store path or value the drivers use (xenstore allows 4096). */
#define PVCALLS_STORE_MAX 4096u

struct pvcalls_transport_ops {
	/** Must be PVCALLS_TRANSPORT_ABI. */
	unsigned abi;
	/** Short name, e.g. "xen" or "shm". Required. */
	const char *name;

	/**
	 * The caller's own domain id (Xen: the "domid" store node; dom0 is 0).
	 * Required.
	 */
	int (*local_domid)(void *ctx, uint32_t *domid);

	/* --- memory ------------------------------------------------------ */

	/**
	 * Allocates @p count zeroed 4 KiB pages, grants them to @p domid and
	 * maps them contiguously for the caller. The refs are written to
	 * @p refs (count entries, in page order); the mapping to *@p addr.
	 * Required.
	 * @retval -ENOMEM no memory or no free grant entries.
	 * @retval -EINVAL count is 0 or too large for this transport.
	 */
	int (*share_pages)(void *ctx, uint32_t domid, unsigned count, bool writable, uint32_t *refs,
			   void **addr);
	/**
	 * Ends the sharing made by share_pages (same @p addr and @p count)
	 * and unmaps. If the peer still maps the pages, the transport defers
	 * freeing them until it unmaps (Xen's gntalloc does the same); the
	 * peer's mapping stays valid and the pages are never reused while it
	 * exists. Required.
	 * @retval -EINVAL addr/count do not match a live share.
	 */
	int (*unshare_pages)(void *ctx, void *addr, unsigned count);
	/**
	 * Maps @p count pages granted by domain @p domid, listed in @p refs,
	 * contiguously, and returns the address in *@p addr. Every ref must be
	 * a live grant from @p domid to the caller (with write access when
	 * @p writable); otherwise nothing is mapped. Required.
	 * @retval -EINVAL / -ENOENT a ref that is not granted, revoked, out of
	 *         range or granted to another domain (shm names the ref in the
	 *         log; Xen reports its own status).
	 * @retval -EPERM write access requested on a read-only grant.
	 * @retval -ESRCH no such domain.
	 */
	int (*map_refs)(void *ctx, uint32_t domid, unsigned count, const uint32_t *refs,
			bool writable, void **addr);
	/** Unmaps a mapping made by map_refs (same @p addr and @p count). Required. */
	int (*unmap)(void *ctx, void *addr, unsigned count);

	/* --- event channels ---------------------------------------------- */

	/**
	 * Allocates a local port that domain @p remote_domid may bind to.
	 * Events on it arrive through evtchn_fd/evtchn_pending, masked
	 * after each delivery until evtchn_unmask. Required.
	 */
	int (*evtchn_alloc_unbound)(void *ctx, uint32_t remote_domid, uint32_t *local_port);
	/**
	 * Binds a new local port to @p remote_port of @p remote_domid, which
	 * must be unbound and allocated for the caller's domain. Required.
	 * @retval -EINVAL the remote port is not unbound-for-us.
	 * @retval -ESRCH no such domain.
	 */
	int (*evtchn_bind)(void *ctx, uint32_t remote_domid, uint32_t remote_port,
			   uint32_t *local_port);
	/**
	 * Sets the peer's port pending and, unless it is masked or already
	 * pending, wakes the peer. Never blocks. Required.
	 * @retval -EPIPE the peer is gone (shm); Xen silently succeeds.
	 */
	int (*evtchn_notify)(void *ctx, uint32_t local_port);
	/** Closes a local port (unbound or bound). Required. */
	int (*evtchn_close)(void *ctx, uint32_t local_port);
	/**
	 * A file descriptor that polls readable when evtchn_pending may
	 * return a port. Owned by the transport; valid until close. Required.
	 */
	int (*evtchn_fd)(void *ctx);
	/**
	 * Takes the next pending port without blocking. The port is then
	 * masked: further events on it are coalesced until evtchn_unmask.
	 * Required.
	 * @return 1 and *@p port set, or 0 if nothing is pending.
	 */
	int (*evtchn_pending)(void *ctx, uint32_t *port);
	/**
	 * Unmasks a port taken by evtchn_pending; if an event arrived while
	 * masked, the fd polls readable again and the port is delivered again.
	 * Required.
	 */
	int (*evtchn_unmask)(void *ctx, uint32_t local_port);

	/* --- control store (xenstore) ------------------------------------ */

	/**
	 * Reads the value at absolute @p path into @p buf (NUL-terminated).
	 * Required.
	 * @return the value's length, excluding the NUL.
	 * @retval -ENOENT no such node.
	 * @retval -ERANGE @p buf is too small (nothing useful in buf).
	 * @retval -ENOTCONN the store is unreachable (peer or daemon gone).
	 */
	int (*store_read)(void *ctx, uint32_t txn, const char *path, char *buf, size_t buflen);
	/** Creates or overwrites @p path with @p value. Required. */
	int (*store_write)(void *ctx, uint32_t txn, const char *path, const char *value);
	/** Removes @p path and everything below it; -ENOENT if absent. Required. */
	int (*store_rm)(void *ctx, uint32_t txn, const char *path);
	/**
	 * Lists the children of @p path into @p buf as consecutive
	 * NUL-terminated names. Required.
	 * @return the number of children.
	 * @retval -ENOENT no such node; -ERANGE buf too small.
	 */
	int (*store_directory)(void *ctx, uint32_t txn, const char *path, char *buf, size_t buflen);
	/**
	 * Starts a transaction (*@p txn never PVCALLS_STORE_NO_TXN).
	 * Optional: when NULL the wrappers apply every operation directly
	 * and transaction_end always succeeds.
	 */
	int (*store_txn_start)(void *ctx, uint32_t *txn);
	/**
	 * Commits (or, with @p abort, discards) a transaction.
	 * @retval -EAGAIN the transaction conflicted; start again.
	 */
	int (*store_txn_end)(void *ctx, uint32_t txn, bool abort);
	/**
	 * Watches @p path and everything below it. As in xenstore, one event
	 * fires at once for the path itself, then one per change. Required.
	 */
	int (*store_watch)(void *ctx, const char *path, const char *token);
	/** Removes a watch set with the same path and token. Required. */
	int (*store_unwatch)(void *ctx, const char *path, const char *token);
	/** A fd that polls readable when store_read_watch may return an event. Required. */
	int (*store_fd)(void *ctx);
	/**
	 * Takes the next watch event without blocking: the changed path and
	 * the watch's token. Required.
	 * @return 1 with an event, 0 if none is queued.
	 * @retval -ENOTCONN the store connection is gone.
	 */
	int (*store_read_watch)(void *ctx, char *path, size_t pathlen, char *token,
				size_t tokenlen);

	/** Releases the context. Called once by pvcalls_transport_close(). Required. */
	void (*close)(void *ctx);
};

/** A transport instance: an ops table bound to its context. Opaque. */
typedef struct pvcalls_transport pvcalls_transport;

/**
 * Validates @p ops and wraps it with @p ctx.
 *
 * @param ops  must stay valid for the transport's lifetime (normally a
 *             static const table).
 * @param ctx  passed to every op; owned by the transport from now on
 *             (ops->close releases it), also when this call fails.
 * @param out  receives the new transport.
 * @retval -EINVAL @p ops is NULL, has the wrong abi, lacks a name, lacks a
 *         required operation, or has only one of the two transaction ops
 *         (the log names the missing member).
 * @retval -ENOMEM
 */
PVCALLS_API int pvcalls_transport_new(const struct pvcalls_transport_ops *ops, void *ctx,
				      pvcalls_transport **out);

/** Calls ops->close and frees the instance. NULL is accepted. */
PVCALLS_API void pvcalls_transport_close(pvcalls_transport *t);

/** The transport's name ("xen", "shm", ...). */
PVCALLS_API const char *pvcalls_transport_name(const pvcalls_transport *t);

/** The ops table and context, for transports that extend the contract. */
PVCALLS_API const struct pvcalls_transport_ops *pvcalls_transport_ops(const pvcalls_transport *t);
PVCALLS_API void *pvcalls_transport_ctx(const pvcalls_transport *t);

/*
 * Checked wrappers. Each validates its arguments (NULL pointers, count 0 or
 * above PVCALLS_TRANSPORT_MAX_PAGES, empty paths) and returns -EINVAL before
 * reaching the transport; otherwise it returns what the operation returned.
 */

/** Most pages one share_pages/map_refs call handles: a data ring of order 9. */
#define PVCALLS_TRANSPORT_MAX_PAGES 512u

PVCALLS_API int pvcalls_transport_local_domid(pvcalls_transport *t, uint32_t *domid);
PVCALLS_API int pvcalls_transport_share(pvcalls_transport *t, uint32_t domid, unsigned count,
					bool writable, uint32_t *refs, void **addr);
PVCALLS_API int pvcalls_transport_unshare(pvcalls_transport *t, void *addr, unsigned count);
PVCALLS_API int pvcalls_transport_map(pvcalls_transport *t, uint32_t domid, unsigned count,
				      const uint32_t *refs, bool writable, void **addr);
PVCALLS_API int pvcalls_transport_unmap(pvcalls_transport *t, void *addr, unsigned count);
PVCALLS_API int pvcalls_transport_evtchn_alloc_unbound(pvcalls_transport *t, uint32_t remote_domid,
						       uint32_t *local_port);
PVCALLS_API int pvcalls_transport_evtchn_bind(pvcalls_transport *t, uint32_t remote_domid,
					      uint32_t remote_port, uint32_t *local_port);
PVCALLS_API int pvcalls_transport_evtchn_notify(pvcalls_transport *t, uint32_t port);
PVCALLS_API int pvcalls_transport_evtchn_close(pvcalls_transport *t, uint32_t port);
PVCALLS_API int pvcalls_transport_evtchn_fd(pvcalls_transport *t);
PVCALLS_API int pvcalls_transport_evtchn_pending(pvcalls_transport *t, uint32_t *port);
PVCALLS_API int pvcalls_transport_evtchn_unmask(pvcalls_transport *t, uint32_t port);
PVCALLS_API int pvcalls_transport_store_read(pvcalls_transport *t, uint32_t txn, const char *path,
					     char *buf, size_t buflen);
PVCALLS_API int pvcalls_transport_store_write(pvcalls_transport *t, uint32_t txn, const char *path,
					      const char *value);
/** printf-style store_write. */
PVCALLS_API int pvcalls_transport_store_printf(pvcalls_transport *t, uint32_t txn, const char *path,
					       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/**
 * Reads @p path and parses it as an unsigned decimal number.
 * @retval -EINVAL the value is not a decimal number that fits in 32 bits.
 */
PVCALLS_API int pvcalls_transport_store_read_uint(pvcalls_transport *t, uint32_t txn,
						  const char *path, uint32_t *value);
PVCALLS_API int pvcalls_transport_store_rm(pvcalls_transport *t, uint32_t txn, const char *path);
PVCALLS_API int pvcalls_transport_store_directory(pvcalls_transport *t, uint32_t txn,
						  const char *path, char *buf, size_t buflen);
PVCALLS_API int pvcalls_transport_store_txn_start(pvcalls_transport *t, uint32_t *txn);
PVCALLS_API int pvcalls_transport_store_txn_end(pvcalls_transport *t, uint32_t txn, bool abort);
PVCALLS_API int pvcalls_transport_store_watch(pvcalls_transport *t, const char *path,
					      const char *token);
PVCALLS_API int pvcalls_transport_store_unwatch(pvcalls_transport *t, const char *path,
						const char *token);
PVCALLS_API int pvcalls_transport_store_fd(pvcalls_transport *t);
PVCALLS_API int pvcalls_transport_store_read_watch(pvcalls_transport *t, char *path, size_t pathlen,
						   char *token, size_t tokenlen);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_TRANSPORT_H */
