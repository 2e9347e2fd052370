/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/ring.h
 * @brief Lockless command and data rings over shared pages.
 *
 * These are the building blocks the drivers use; they are public so that
 * tests, conformance tools and other implementations can drive a peer at
 * the wire level. Each ring object is a small private struct that points
 * into shared memory. It keeps its own producer/consumer counters
 * privately and only ever *writes* the shared copy; the peer's indexes are
 * read exactly once per call and checked, so a hostile peer can make a
 * call fail with -EPROTO but can never make it touch memory outside the
 * ring.
 *
 * Threading: one thread at a time per ring object and role (single
 * producer, single consumer). The two roles of one data ring (sending and
 * receiving) may be used by two different threads at once. No call
 * blocks, allocates or makes a system call; notifications are the
 * caller's job (each call says when one is due).
 *
 * Memory ordering follows the spec's Workflow section; see
 * src/ring/barrier.h for the mapping of its barriers.
 */
#ifndef PVCALLS_RING_H
#define PVCALLS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <pvcalls/common.h>
#include <pvcalls/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ====================================================================== */
/* Command ring                                                           */
/* ====================================================================== */

/**
 * Frontend end of the command ring (requests out, responses in).
 * Fields are private; the struct is public only so it can be embedded.
 */
typedef struct pvcalls_cmd_front {
	struct pvcalls_wire_cmd_sring *sring;
	uint32_t req_prod_pvt; /* requests written, maybe not pushed */
	uint32_t req_pushed;   /* req_prod as we last published it */
	uint32_t rsp_cons;     /* responses consumed */
} pvcalls_cmd_front;

/**
 * Backend end of the command ring (requests in, responses out).
 */
typedef struct pvcalls_cmd_back {
	struct pvcalls_wire_cmd_sring *sring;
	uint32_t req_cons;     /* requests consumed */
	uint32_t rsp_prod_pvt; /* responses written, maybe not pushed */
	uint32_t rsp_pushed;   /* rsp_prod as we last published it */
} pvcalls_cmd_back;

/**
 * Initialises a shared command-ring page as SHARED_RING_INIT does:
 * producers 0, event indexes 1, padding zeroed. Done by the frontend once,
 * before it grants the page.
 */
PVCALLS_API void pvcalls_cmd_sring_init(struct pvcalls_wire_cmd_sring *sring);

/** Attaches a frontend to an initialised page; counters start at 0. */
PVCALLS_API void pvcalls_cmd_front_init(pvcalls_cmd_front *r, struct pvcalls_wire_cmd_sring *sring);

/**
 * Number of requests that may still be queued: 32 minus the requests
 * whose responses have not been consumed (including deferred ACCEPT and
 * POLL, which hold their slot until answered).
 */
PVCALLS_API unsigned pvcalls_cmd_front_free(const pvcalls_cmd_front *r);

/**
 * Copies @p req into the next free slot (not yet visible to the backend;
 * see pvcalls_cmd_front_push()).
 * @retval 0 queued.
 * @retval -ENOSPC no free slot (32 requests outstanding).
 */
PVCALLS_API int pvcalls_cmd_front_put(pvcalls_cmd_front *r, const struct pvcalls_wire_request *req);

/**
 * Publishes every queued request (write barrier, then req_prod) and tells
 * whether the backend asked to be notified (event-index check, as
 * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
 * @return true if the caller must notify the command-ring event channel.
 */
PVCALLS_API bool pvcalls_cmd_front_push(pvcalls_cmd_front *r);

/**
 * Takes the next response, copying it out of the ring.
 * @retval 1 a response was copied into *@p rsp.
 * @retval 0 no response is waiting.
 * @retval -EPROTO the backend's rsp_prod claims more responses than
 *         requests were sent (hostile or broken backend); nothing is
 *         consumed and the ring should be considered dead.
 */
PVCALLS_API int pvcalls_cmd_front_get(pvcalls_cmd_front *r, struct pvcalls_wire_response *rsp);

/**
 * When pvcalls_cmd_front_get() returned 0: asks to be notified of the
 * next response (rsp_event = rsp_cons + 1), then checks again so a
 * response that raced with the request is not missed
 * (RING_FINAL_CHECK_FOR_RESPONSES).
 * @retval 1 responses are waiting after all: call get again.
 * @retval 0 none; a notification will come.
 * @retval -EPROTO as for get.
 */
PVCALLS_API int pvcalls_cmd_front_final_check(pvcalls_cmd_front *r);

/**
 * Responses consumed so far (the private rsp_cons). Owner only, like get.
 * Taken before handing the ring to other threads, it is the mark to pass
 * to pvcalls_cmd_front_rsp_prod() comparisons: "has the backend produced
 * past what I consumed".
 */
PVCALLS_API uint32_t pvcalls_cmd_front_rsp_cons(const pvcalls_cmd_front *r);

/**
 * The backend's rsp_prod as it is now, read once with acquire ordering
 * (the responses it covers are visible). Unlike the calls above it may be
 * used by any thread while the owner uses the ring: it reads only the
 * shared word. For waiting: a thread that spins without the owner's lock
 * watches it until it differs from a pvcalls_cmd_front_rsp_cons() mark,
 * then lets the owner call get. The value is not validated: never use
 * it to index the ring.
 */
PVCALLS_API uint32_t pvcalls_cmd_front_rsp_prod(const pvcalls_cmd_front *r);

/** Attaches a backend to a page the frontend initialised; counters start at 0. */
PVCALLS_API void pvcalls_cmd_back_init(pvcalls_cmd_back *r, struct pvcalls_wire_cmd_sring *sring);

/**
 * Takes the next request. The request is copied out of the shared slot
 * once, and only the copy may be looked at (no double fetch).
 * @retval 1 a request was copied into *@p req.
 * @retval 0 none waiting, or the frontend already has 32 requests
 *         outstanding (the others wait until responses free slots).
 * @retval -EPROTO req_prod claims more requests than the ring can hold
 *         (hostile frontend); nothing is consumed.
 */
PVCALLS_API int pvcalls_cmd_back_get(pvcalls_cmd_back *r, struct pvcalls_wire_request *req);

/**
 * Number of requests taken with get but not yet answered with put.
 * Deferred requests (ACCEPT, POLL) count here until answered.
 */
PVCALLS_API unsigned pvcalls_cmd_back_outstanding(const pvcalls_cmd_back *r);

/**
 * Writes a response into the next response slot (not yet visible; see
 * pvcalls_cmd_back_push()). Responses may be written in any order
 * relative to the requests (deferred answers).
 * @retval 0 queued.
 * @retval -ENOSPC no request is outstanding: a response would overwrite
 *         a request the backend has not consumed.
 */
PVCALLS_API int pvcalls_cmd_back_put(pvcalls_cmd_back *r, const struct pvcalls_wire_response *rsp);

/**
 * Publishes the queued responses and tells whether the frontend wants a
 * notification (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
 */
PVCALLS_API bool pvcalls_cmd_back_push(pvcalls_cmd_back *r);

/**
 * When pvcalls_cmd_back_get() returned 0: sets req_event = req_cons + 1,
 * then checks again (RING_FINAL_CHECK_FOR_REQUESTS).
 * @retval 1 requests arrived meanwhile: call get again.
 * @retval 0 none; a notification will come.
 * @retval -EPROTO as for get.
 */
PVCALLS_API int pvcalls_cmd_back_final_check(pvcalls_cmd_back *r);

/* ====================================================================== */
/* Data ring                                                              */
/* ====================================================================== */

/**
 * One side's view of an active socket's data ring: the indexes page plus
 * the 2^order data pages (in half first, out half second).
 *
 * "tx" is the direction this side produces (frontend: out, backend: in);
 * "rx" the one it consumes (frontend: in, backend: out).
 */
typedef struct pvcalls_data_ring {
	struct pvcalls_wire_data_intf *intf;
	uint8_t *tx_buf, *rx_buf;
	uint32_t *tx_prod_sh, *tx_cons_sh; /* shared indexes, tx direction */
	uint32_t *rx_prod_sh, *rx_cons_sh; /* shared indexes, rx direction */
	uint32_t size;                     /* bytes per direction, a power of two */
	uint32_t order;
	uint32_t tx_prod;  /* private copy of our producer index */
	uint32_t rx_cons;  /* private copy of our consumer index */
	uint32_t tx_avail; /* free bytes seen by the last tx_spans */
	uint32_t rx_avail; /* queued bytes seen by the last rx_spans */
	bool backend;
} pvcalls_data_ring;

/** Roles for pvcalls_data_ring_attach(). */
enum pvcalls_data_role {
	PVCALLS_DATA_FRONTEND = 0,
	PVCALLS_DATA_BACKEND = 1,
};

/**
 * Attaches to an indexes page and its data pages.
 *
 * @param intf   the mapped indexes page.
 * @param data   the 2^@p order data pages, mapped contiguously.
 * @param order  the ring order. A backend passes the value it read from
 *               intf->ring_order once and validated itself; this call never
 *               reads ring_order from shared memory.
 * @param role   which side we are.
 *
 * The private counters are loaded from the shared page once (a fresh
 * ring has them all 0); after that the shared copies of our own indexes
 * are only written.
 *
 * @retval -EINVAL a NULL pointer or @p order > PVCALLS_WIRE_MAX_RING_ORDER.
 */
PVCALLS_API int pvcalls_data_ring_attach(pvcalls_data_ring *r, struct pvcalls_wire_data_intf *intf,
					 void *data, unsigned order, enum pvcalls_data_role role);

/** Bytes per direction (XEN_FLEX_RING_SIZE(order)). */
PVCALLS_API uint32_t pvcalls_data_ring_size(const pvcalls_data_ring *r);

/**
 * Free space in the tx direction as up to two contiguous regions, for
 * zero-copy producers (e.g. readv() from a socket straight into the
 * ring). Reads the peer's consumer index once.
 *
 * @param iov receives 0, 1 or 2 regions; unused entries get len 0.
 * @return free bytes (sum of the regions), 0 when full.
 * @retval -EPROTO the peer's index is impossible (more consumed than
 *         produced, or prod - cons > size); iov is zeroed.
 */
PVCALLS_API int pvcalls_data_tx_spans(pvcalls_data_ring *r, struct iovec iov[2]);

/**
 * Publishes @p n bytes written into the regions of the last
 * pvcalls_data_tx_spans() (write barrier, then the producer index).
 * @retval -EINVAL @p n exceeds the free space those regions had (the
 *         space left by earlier commits since that call).
 */
PVCALLS_API int pvcalls_data_tx_commit(pvcalls_data_ring *r, uint32_t n);

/**
 * Copies up to @p len bytes from @p buf into the ring and publishes them.
 * @return bytes written (0 when the ring is full), or -EPROTO.
 */
PVCALLS_API ssize_t pvcalls_data_write(pvcalls_data_ring *r, const void *buf, size_t len);

/**
 * Queued data in the rx direction as up to two contiguous regions, for
 * zero-copy consumers (writev() from the ring into a socket). Reads the
 * peer's producer index once (acquire: the data it covers is visible).
 * @return queued bytes, 0 when empty.
 * @retval -EPROTO impossible peer index; iov is zeroed.
 */
PVCALLS_API int pvcalls_data_rx_spans(pvcalls_data_ring *r, struct iovec iov[2]);

/**
 * Frees @p n bytes consumed from the regions of the last
 * pvcalls_data_rx_spans() (the data reads complete before the consumer
 * index moves).
 * @retval -EINVAL @p n exceeds what the last rx_spans call reported
 *         (less what was consumed since).
 */
PVCALLS_API int pvcalls_data_rx_consume(pvcalls_data_ring *r, uint32_t n);

/** Flag for pvcalls_data_read(): copy without consuming. */
#define PVCALLS_DATA_PEEK 1u

/**
 * Copies up to @p len queued bytes into @p buf and, unless @p flags has
 * PVCALLS_DATA_PEEK, consumes them.
 * @return bytes copied (0 when empty), or -EPROTO.
 */
PVCALLS_API ssize_t pvcalls_data_read(pvcalls_data_ring *r, void *buf, size_t len, unsigned flags);

/** Bytes queued in rx (for poll); -EPROTO on an impossible index. */
PVCALLS_API int pvcalls_data_rx_queued(pvcalls_data_ring *r);
/** Free bytes in tx (for poll); -EPROTO on an impossible index. */
PVCALLS_API int pvcalls_data_tx_free(pvcalls_data_ring *r);

/**
 * Bytes queued in rx, from the shared indexes only: the peer's producer
 * index and the shared copy of our consumer index, each read once with
 * acquire ordering. Unlike pvcalls_data_rx_queued() it reads no private
 * counter, so any thread may call it while other threads send and
 * receive on the ring (e.g. a poll on a socket that is being read).
 *
 * The answer is advisory: the peer can rewrite the shared copy of our
 * index too, and a whole ring's worth passing between the two loads can
 * look impossible. It is never outside [0, size]; do not size a copy by
 * it, use pvcalls_data_rx_spans().
 * @retval -EPROTO the shared indexes are more than size apart.
 */
PVCALLS_API int pvcalls_data_rx_queued_shared(const pvcalls_data_ring *r);

/**
 * Free bytes in tx, from the shared indexes only (the shared copy of our
 * producer index and the peer's consumer index), for any thread; as
 * advisory as pvcalls_data_rx_queued_shared().
 * @retval -EPROTO the shared indexes are more than size apart.
 */
PVCALLS_API int pvcalls_data_tx_free_shared(const pvcalls_data_ring *r);

/**
 * Error fields. in_error/out_error are written by the backend: in_error
 * after the last byte it produced into in (-ENOTCONN for EOF), out_error
 * when a send failed. Values are wire (Linux) errnos; callers map them.
 *
 * pvcalls_data_rx_error() reads the error of the rx direction with
 * acquire ordering, so a frontend that sees in_error != 0 and then finds
 * rx empty has seen all the data produced before the error.
 */
PVCALLS_API int32_t pvcalls_data_rx_error(const pvcalls_data_ring *r);
PVCALLS_API int32_t pvcalls_data_tx_error(const pvcalls_data_ring *r);

/**
 * Backend: sets in_error (after the producer index, release ordering) or
 * out_error. The caller notifies afterwards.
 */
PVCALLS_API void pvcalls_data_set_in_error(pvcalls_data_ring *r, int32_t wire_err);
PVCALLS_API void pvcalls_data_set_out_error(pvcalls_data_ring *r, int32_t wire_err);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_RING_H */
