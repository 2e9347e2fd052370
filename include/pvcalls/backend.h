/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/backend.h
 * @brief The PV Calls backend: serves frontends by performing their socket
 *        calls with real host sockets and relaying the data.
 *
 * One backend object serves every frontend that appears under its domain's
 * backend/pvcalls directory in the transport's store (on Xen: each guest
 * with a pvcalls device; on shm: each connected guest). It is
 * event-driven: it owns an epoll set (its fd, pvcalls_back_fd()) and never
 * blocks on one guest's socket. CONNECT completes asynchronously; ACCEPT
 * and POLL are answered when the listener is ready.
 *
 * The frontend is treated as an attacker: each request is copied out of
 * the ring once, every field is validated, every resource is bounded per
 * frontend (struct pvcalls_back_limits), and a frontend that violates the
 * protocol is disconnected without affecting the others.
 *
 * Differences from Linux's pvcalls-back, each deliberate:
 *  - CONNECT does not block the command ring (no head-of-line blocking).
 *  - ACCEPT and POLL may both be pending on one listener (Linux: -EINTR).
 *  - POLL on an unknown or active id gets -EINVAL (Linux never answers).
 *  - RELEASE of a listener answers its pending ACCEPT/POLL with -EBADF
 *    before answering the RELEASE (Linux leaves them unanswered, which
 *    costs the frontend a command-ring slot for good).
 *  - Duplicate socket ids are refused with -EEXIST (Linux takes the first).
 *  - max-page-order is 9 by default (Linux: 4).
 *  - A ring_order above max-page-order gets -EINVAL; a grant ref or event
 *    channel the transport refuses gets -EFAULT (Linux: -EFAULT for both).
 *  - CONNECT and BIND also accept an id that never saw SOCKET (as Linux,
 *    which keeps no state for SOCKET) and forget it again if they fail.
 *
 * Like Linux's backend, RELEASE (and a frontend's disconnection) first
 * pushes what the socket's out ring still holds into the host socket;
 * what the socket cannot take yet is copied and sent in the background
 * (at most 30 s, 64 MiB per backend), so RELEASE is answered at once.
 *
 * Threading: a backend object is used by one thread at a time (its event
 * loop), except pvcalls_back_get_stats(), which any thread may call.
 * Several backend objects may run in different threads.
 */
#ifndef PVCALLS_BACKEND_H
#define PVCALLS_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/common.h>
#include <pvcalls/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Per-frontend resource limits. Zero means "use the default". A request
 * that would exceed one is answered with an error and changes nothing:
 *  - max_sockets, max_listeners: -EMFILE (as socket(2) and accept(2) when
 *    a process is out of descriptors);
 *  - max_pending_accepts, max_mapped_pages: -ENOBUFS;
 *  - max_ring_order: -EINVAL (CONNECT/ACCEPT with a larger ring_order);
 *  - max_backlog: not an error, LISTEN's backlog is clamped.
 */
struct pvcalls_back_limits {
	uint32_t max_sockets;         /**< active + passive + not yet used ids; default 1024 */
	uint32_t max_listeners;       /**< passive sockets; default 64 */
	uint32_t max_pending_accepts; /**< ACCEPTs waiting for a connection; default 32 */
	uint32_t max_mapped_pages;    /**< ring pages mapped for this frontend; default 65536 (256 MiB) */
	uint32_t max_ring_order;      /**< advertised as max-page-order; default 9, at most 9 */
	uint32_t max_backlog;         /**< LISTEN backlog is clamped to this; default 128 */
};

/** Backend options. Zero-initialise and set what you need. */
struct pvcalls_back_opts {
	struct pvcalls_back_limits limits;
	/**
	 * How long the event loop keeps polling the rings of sockets that were
	 * just active before it sleeps, in microseconds. 0 means the default
	 * (20); set PVCALLS_BACK_NO_SPIN for "sleep at once".
	 */
	uint32_t spin_us;
	/** Offer the wait-hint extension (default on; set true to disable). */
	bool no_wait_hint;
};

#define PVCALLS_BACK_NO_SPIN UINT32_MAX

/** Opaque backend handle. */
typedef struct pvcalls_back pvcalls_back;

/**
 * Creates a backend on @p t. It watches
 * /local/domain/<own domid>/backend/pvcalls, publishes versions="1",
 * max-page-order and function-calls="1" for every device there as soon as
 * it appears, and switches it to InitWait.
 *
 * @param t     a transport; the backend uses its store watches and event
 *              channels exclusively, and does not own it (close it after
 *              pvcalls_back_free()).
 * @param opts  NULL for defaults.
 * @retval -EINVAL bad options (e.g. max_ring_order > 9).
 * @retval -ENOMEM, or the transport's errors.
 */
PVCALLS_API int pvcalls_back_new(pvcalls_transport *t, const struct pvcalls_back_opts *opts,
				 pvcalls_back **out);

/**
 * Releases every socket of every frontend, tells each frontend the
 * backend is going away (Closing, then Closed), and frees the backend.
 * NULL is accepted.
 */
PVCALLS_API void pvcalls_back_free(pvcalls_back *b);

/** A fd that polls readable whenever pvcalls_back_process() has work. */
PVCALLS_API int pvcalls_back_fd(pvcalls_back *b);

/**
 * Runs the event loop for at most @p timeout_ms (0: handle what is ready
 * and return; -1: until at least one event was handled).
 * @return the number of events handled (>= 0), or a negative errno for a
 *         failure of the backend itself (never for a frontend's misdeeds).
 */
PVCALLS_API int pvcalls_back_process(pvcalls_back *b, int timeout_ms);

/**
 * Runs the event loop until *@p stop becomes non-zero, checked at least
 * every 100 ms with an atomic load. Set it from a signal handler, or from
 * another thread with an atomic store (__atomic_store_n), so the write is
 * not a data race.
 */
PVCALLS_API int pvcalls_back_run(pvcalls_back *b, volatile int *stop);

/** Counters for one frontend (or, summed, for the backend). */
struct pvcalls_back_stats {
	uint32_t frontends;       /**< connected frontends */
	uint32_t active_sockets;
	uint32_t passive_sockets;
	uint64_t commands[7];     /**< per command number */
	uint64_t bad_commands;    /**< unknown cmd or invalid fields */
	uint64_t bytes_to_guest;  /**< socket -> in ring */
	uint64_t bytes_from_guest; /**< out ring -> socket */
	uint64_t ring_full_stalls; /**< in ring full while the socket had data */
	uint64_t notifies_sent;
	uint64_t notifies_suppressed;
	uint64_t protocol_errors; /**< frontends disconnected for violations */
};

/**
 * Fills @p st with the backend-wide totals (frontends that went away
 * included). Safe to call from any thread while the loop runs; each
 * counter is read atomically, the set is not a snapshot.
 */
PVCALLS_API void pvcalls_back_get_stats(pvcalls_back *b, struct pvcalls_back_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_BACKEND_H */
