/* SPDX-License-Identifier: MIT */
/*
 * What both ends of the XenBus negotiation of PV Calls share
 * (docs/protocol-notes.md, "Negotiation" to "Negotiation order"), written only against the transport's control store so it
 * runs unchanged over xen and shm.
 *
 * The split:
 *   here (src/xenbus/)          store paths and key names, node reads and
 *                               writes, the "state" node as a
 *                               PVCALLS_XENBUS_* value, waiting for a state
 *                               through a watch, "versions" lists, the
 *                               nodes each side publishes for the other
 *                               (the backend's offer, the frontend's ring),
 *                               the transaction retry loop. No policy.
 *   src/frontend/front_xenbus.c the frontend's state machine: probe (with
 *                               the stale-device recovery), connect.
 *   src/backend/back_xenbus.c   the backend's state machine: one bfront
 *                               per device, following the frontend.
 * A test or tool that plays one side by hand (a fake backend, a raw
 * frontend) uses these helpers and the PVCALLS_XENBUS_* constants rather
 * than its own copies, so every side writes the same nodes.
 */
#ifndef PVCALLS_XENBUS_H
#define PVCALLS_XENBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvcalls/transport.h>
#include <pvcalls/wire.h>

#include "common/clock.h"

/* Room for any path we build; longer ones fail with -ENAMETOOLONG. */
#define PVC_XB_PATH 256

/* ---------------------------------------------------------------------- */
/* Paths and keys                                                         */

/* Written by the toolstack (the shm hub plays it), read by the drivers. */
#define PVC_XB_KEY_BACKEND "backend"         /* frontend dir: backend's dir */
#define PVC_XB_KEY_BACKEND_ID "backend-id"   /* frontend dir: backend's domain */
#define PVC_XB_KEY_FRONTEND "frontend"       /* backend dir: frontend's dir */
#define PVC_XB_KEY_FRONTEND_ID "frontend-id" /* backend dir: frontend's domain */
/* The wire keys (versions, max-page-order, function-calls, version,
 * ring-ref, port, state) are PVCALLS_WIRE_KEY_* in <pvcalls/wire.h>. */

/* Extension key (ours): both sides write "1" to use the wait hints in the
 * padding of the indexes page (see docs/ARCHITECTURE.md). Linux ignores it. */
#define PVC_XB_KEY_WAIT_HINT "feature-wait-hint"

/* Writes "1" under each key of @ext (PVCALLS_FEATURE_*), "0" under the other
 * known ones, in @txn. */
int pvc_xb_write_ext(pvcalls_transport *t, uint32_t txn, const char *dir, uint32_t ext);
/* The PVCALLS_FEATURE_* bits whose key in @dir reads exactly 1. */
uint32_t pvc_xb_read_ext(pvcalls_transport *t, const char *dir);

/* The protocol version a frontend picks ("version"); the only one. */
#define PVC_XB_VERSION 1u

/* "<dir>/<key>" into out[len]; -ENAMETOOLONG if it does not fit. */
int pvc_xb_join(char *out, size_t len, const char *dir, const char *key);
/* /local/domain/<fe_domid>/device/pvcalls/<devid> */
int pvc_xb_front_dir(char *out, size_t len, uint32_t fe_domid, uint32_t devid);
/* /local/domain/<be_domid>/backend/pvcalls (what a backend watches) */
int pvc_xb_back_root(char *out, size_t len, uint32_t be_domid);
/* /local/domain/<be_domid>/backend/pvcalls/<fe_domid>/<devid> */
int pvc_xb_back_dir(char *out, size_t len, uint32_t be_domid, uint32_t fe_domid, uint32_t devid);
/* Parses a path component: a decimal u32 of exactly @len characters. */
bool pvc_xb_parse_u32(const char *s, size_t len, uint32_t *out);

/* ---------------------------------------------------------------------- */
/* Nodes: "<dir>/<key>", in transaction @txn or PVCALLS_STORE_NO_TXN      */

/* The value's length, or -ENOENT/-ERANGE/... as the transport says. */
int pvc_xb_read(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key, char *buf,
		size_t len);
/* -EINVAL if the value is not a decimal u32. */
int pvc_xb_read_uint(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		     uint32_t *v);
int pvc_xb_write(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		 const char *value);
int pvc_xb_write_uint(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		      uint32_t v);

/* ---------------------------------------------------------------------- */
/* The "state" node                                                       */

/* Reads "<dir>/state"; a missing node reads as Unknown (0), as in xenbus. */
int pvc_xb_read_state(pvcalls_transport *t, const char *dir, uint32_t *state);
/* Writes "<dir>/state" in @txn (with the nodes that must appear with it). */
int pvc_xb_write_state(pvcalls_transport *t, uint32_t txn, const char *dir, uint32_t state);
/* Writes "<dir>/state" outside any transaction (and logs it). */
int pvc_xb_set_state(pvcalls_transport *t, const char *dir, uint32_t state);
/* Name of a XenbusState value, for logs. */
const char *pvc_xb_state_name(uint32_t state);

/* Sets of states, for pvc_xb_wait_state(). Values of 31 and more (not
 * states at all) share bit 31, so MASK_FROM() takes them in. */
#define PVC_XB_MASK(state) (1u << (state))
#define PVC_XB_MASK_FROM(state) (~0u << (state)) /* @state and every later one */
static inline bool pvc_xb_state_in(uint32_t state, uint32_t mask)
{
	return (mask >> (state < 31 ? state : 31)) & 1u;
}

/*
 * Waits until "<dir>/state" is in @mask, re-reading it on every store
 * event, up to @deadline_ms (pvc_now_ms() clock; negative: no limit).
 * The caller watches @dir (or a parent). *@state (may be NULL) is the
 * last state read, also on -ETIMEDOUT. 0 when reached, -ETIMEDOUT, or
 * the store's error.
 */
int pvc_xb_wait_state(pvcalls_transport *t, const char *dir, uint32_t mask, int64_t deadline_ms,
		      uint32_t *state);
/* The same inside its own watch of @dir (@token: unique on @t). */
int pvc_xb_watch_state(pvcalls_transport *t, const char *dir, const char *token, uint32_t mask,
		       int64_t deadline_ms, uint32_t *state);

/*
 * Waits until a watch event arrives on the transport's store or the
 * deadline (pvc_now_ms() clock; negative: no limit) passes; drains the
 * queued events. Returns 1 if any event was seen, 0 on timeout, or a
 * negative errno.
 */
int pvc_xb_wait_event(pvcalls_transport *t, int64_t deadline_ms);

/* ---------------------------------------------------------------------- */
/* Versions                                                               */

/*
 * True if the comma-separated list @versions ("1", "1,2", ...) has an
 * element that is exactly the decimal @version (no spaces, no zeros in
 * front). Linux's frontend requires the whole string to be "1"; we
 * accept lists.
 */
bool pvc_xb_versions_has(const char *versions, uint32_t version);
static inline bool pvc_xb_versions_has_1(const char *versions)
{
	return pvc_xb_versions_has(versions, PVC_XB_VERSION);
}

/* ---------------------------------------------------------------------- */
/* What each side publishes for the other                                 */

/* The backend's offer, in its directory before (or with) InitWait. */
struct pvc_xb_offer {
	uint32_t max_order; /* max-page-order */
	bool wait_hint;     /* feature-wait-hint = 1 */
	uint32_t ext;       /* PVCALLS_FEATURE_* offered (feature-libpvcalls-*) */
};

/* Backend: writes versions, max-page-order, function-calls and, if
 * offered, feature-wait-hint (in the order Linux's backend writes). */
int pvc_xb_write_offer(pvcalls_transport *t, uint32_t txn, const char *bedir,
		       const struct pvc_xb_offer *o);
/*
 * Frontend: reads and checks the backend's offer. max_order is clamped
 * to PVCALLS_WIRE_MAX_RING_ORDER. -EPROTONOSUPPORT (logged) if versions
 * lacks 1, function-calls is not 1 or max-page-order is unreadable.
 */
int pvc_xb_read_offer(pvcalls_transport *t, const char *bedir, struct pvc_xb_offer *o);

/* The frontend's command ring, in its directory with Initialised. */
struct pvc_xb_ring {
	uint32_t ring_ref;
	uint32_t port;
	bool wait_hint; /* feature-wait-hint = 1 */
	uint32_t ext;   /* PVCALLS_FEATURE_* accepted (feature-libpvcalls-*) */
};

/* Frontend: writes version, ring-ref, port and, if asked, feature-wait-hint. */
int pvc_xb_write_ring(pvcalls_transport *t, uint32_t txn, const char *fedir,
		      const struct pvc_xb_ring *r);
/* Backend: reads ring-ref and port (their error if unusable), the hint and
 * the extensions (absent or garbage: off; a store error fails the call). */
int pvc_xb_read_ring(pvcalls_transport *t, const char *fedir, struct pvc_xb_ring *r);

/* ---------------------------------------------------------------------- */
/* Transactions                                                           */

#define PVC_XB_TXN_TRIES 16

typedef int pvc_xb_txn_fn(pvcalls_transport *t, uint32_t txn, void *arg);

/*
 * Runs @fn in a transaction and commits it, again while the commit
 * conflicts (-EAGAIN), PVC_XB_TXN_TRIES times at most. A negative return
 * of @fn aborts and is returned. -EAGAIN: the store kept conflicting (the
 * caller may fall back to @fn(t, PVCALLS_STORE_NO_TXN, arg)).
 */
int pvc_xb_transact(pvcalls_transport *t, pvc_xb_txn_fn *fn, void *arg);

#endif
