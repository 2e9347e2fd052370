/* SPDX-License-Identifier: MIT */
/*
 * The frontend's XenBus state machine (docs/protocol-notes.md, "Negotiation" to "Negotiation order"):
 *
 *   we                      until the backend is
 *   (stale device: Closing  out of Connected, then Closed until it
 *    and Closed first)      follows; see close_stale())
 *   Initialising            InitWait or Connected (a Closing/Closed
 *                           backend gets CLOSED_GRACE_MS to follow us)
 *   read its offer
 *   Initialised, with       Connected (Closing, Closed or Unknown:
 *   version/ring-ref/port   -ECONNREFUSED)
 *   Connected
 *
 * Blocking calls with deadlines: this runs once, at open. Closing is the
 * driver's (pvcalls_front_close()). The nodes and the waiting are the
 * shared helpers of src/xenbus/.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "frontend/front_xenbus.h"

/* How long a frontend waits for a Closing/Closed backend to come back. */
#define CLOSED_GRACE_MS 2000

/*
 * The device was left Initialised, Connected or Closing by a frontend
 * that is gone: Closing until the backend leaves Connected (it releases
 * that session's sockets and rings), then Closed. Bounded by CLOSE_STALE_MS
 * and the caller's deadline; a backend that does not follow is left to
 * the main loop's checks.
 */
#define CLOSE_STALE_MS 10000
static int close_stale(pvcalls_transport *t, const struct pvc_xb_front *fe, uint32_t state,
		       int64_t deadline)
{
	int64_t until = pvc_now_ms() + CLOSE_STALE_MS;
	int rc;

	if (until > deadline)
		until = deadline;
	pvc_info("xenbus.stale", "%s was left %s by an earlier frontend: closing it first", fe->dev,
		 pvc_xb_state_name(state));
	rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CLOSING);
	if (rc < 0)
		return rc;
	rc = pvc_xb_wait_state(
		t, fe->backend,
		PVC_XB_MASK(PVCALLS_XENBUS_UNKNOWN) | PVC_XB_MASK(PVCALLS_XENBUS_INITWAIT) |
			PVC_XB_MASK(PVCALLS_XENBUS_CLOSING) | PVC_XB_MASK(PVCALLS_XENBUS_CLOSED),
		until, NULL);
	if (rc < 0 && rc != -ETIMEDOUT)
		return rc;
	if (rc == -ETIMEDOUT)
		pvc_warn("xenbus.stale", "backend %s did not leave Connected", fe->backend);
	rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CLOSED);
	if (rc < 0)
		return rc;
	/* Linux's backend goes Closed on our Closed; ours may skip to InitWait. */
	rc = pvc_xb_wait_state(t, fe->backend,
			       PVC_XB_MASK(PVCALLS_XENBUS_UNKNOWN) |
				       PVC_XB_MASK(PVCALLS_XENBUS_INITWAIT) |
				       PVC_XB_MASK(PVCALLS_XENBUS_CLOSED),
			       pvc_now_ms() + 2000 < until ? pvc_now_ms() + 2000 : until, NULL);
	return rc == -ETIMEDOUT ? 0 : rc;
}

/* Waits for the backend to be InitWait or Connected (docs/protocol-notes.md, "Negotiation order"). */
static int wait_initwait(pvcalls_transport *t, const struct pvc_xb_front *fe, int64_t deadline)
{
	int64_t closed_since = 0;
	uint32_t state;
	int rc;

	for (;;) {
		rc = pvc_xb_read_state(t, fe->backend, &state);
		if (rc < 0)
			return rc;
		if (state >= PVCALLS_XENBUS_INITWAIT && state <= PVCALLS_XENBUS_CONNECTED)
			return 0;
		/* A closed backend gets a short grace to follow us back. */
		if (state >= PVCALLS_XENBUS_CLOSING) {
			if (!closed_since) {
				closed_since = pvc_now_ms();
			} else if (pvc_now_ms() - closed_since > CLOSED_GRACE_MS) {
				pvc_err("xenbus.backend-closed", "backend %s stays %s", fe->backend,
					pvc_xb_state_name(state));
				return -ECONNREFUSED;
			}
		}
		rc = pvc_xb_wait_event(t, closed_since ? pvc_now_ms() + 100 : deadline);
		if (rc < 0)
			return rc;
		if (rc == 0 && pvc_now_ms() >= deadline) {
			pvc_err("xenbus.timeout", "backend %s stayed %s", fe->backend,
				pvc_xb_state_name(state));
			return -ETIMEDOUT;
		}
	}
}

int pvc_xb_front_probe(pvcalls_transport *t, uint32_t devid, int timeout_ms,
		       struct pvc_xb_front *fe)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	struct pvc_xb_offer offer;
	uint32_t state;
	int rc;

	memset(fe, 0, sizeof(*fe));
	rc = pvcalls_transport_local_domid(t, &fe->domid);
	if (rc < 0)
		return rc;
	rc = pvc_xb_front_dir(fe->dev, sizeof(fe->dev), fe->domid, devid);
	if (rc < 0)
		return rc;
	rc = pvc_xb_read(t, PVCALLS_STORE_NO_TXN, fe->dev, PVC_XB_KEY_BACKEND, fe->backend,
			 sizeof(fe->backend));
	if (rc == -ENOENT) {
		pvc_err("xenbus.no-device", "no pvcalls device at %s", fe->dev);
		return -ENODEV;
	}
	if (rc < 0)
		return rc;
	rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, fe->dev, PVC_XB_KEY_BACKEND_ID,
			      &fe->backend_id);
	if (rc < 0) {
		pvc_err("xenbus.no-device", "%s/backend-id unreadable: %d", fe->dev, rc);
		return rc == -ENOENT ? -ENODEV : rc;
	}

	/* Watch the backend's state from here on. */
	rc = pvcalls_transport_store_watch(t, fe->backend, "pvcalls-fe-probe");
	if (rc < 0)
		return rc;

	/*
	 * Start (or start again, after an earlier frontend closed the device)
	 * from Initialising: a backend that went Closed follows us back to
	 * InitWait (docs/protocol-notes.md, "Negotiation states"). A device an earlier frontend left
	 * Initialised or Connected (its process died without
	 * pvcalls_front_close) is first closed in order, so that the backend
	 * drops that session and its sockets before we start a new one.
	 */
	rc = pvc_xb_read_state(t, fe->dev, &state);
	if (rc == 0 && state >= PVCALLS_XENBUS_INITIALISED && state <= PVCALLS_XENBUS_CLOSING)
		rc = close_stale(t, fe, state, deadline);
	if (rc == 0 && state != PVCALLS_XENBUS_INITIALISING)
		rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_INITIALISING);
	if (rc == 0)
		rc = wait_initwait(t, fe, deadline);
	if (rc == 0)
		rc = pvc_xb_read_offer(t, fe->backend, &offer);
	if (rc == 0) {
		fe->max_order = offer.max_order;
		fe->wait_hint = offer.wait_hint;
		fe->ext = offer.ext;
	}
	pvcalls_transport_store_unwatch(t, fe->backend, "pvcalls-fe-probe");
	return rc;
}

struct initialised {
	const struct pvc_xb_front *fe;
	struct pvc_xb_ring ring;
};

/* version, ring-ref and port appear together with Initialised. */
static int write_initialised(pvcalls_transport *t, uint32_t txn, void *arg)
{
	const struct initialised *in = arg;
	int rc = pvc_xb_write_ring(t, txn, in->fe->dev, &in->ring);

	return rc < 0 ? rc : pvc_xb_write_state(t, txn, in->fe->dev, PVCALLS_XENBUS_INITIALISED);
}

int pvc_xb_front_connect(pvcalls_transport *t, const struct pvc_xb_front *fe, uint32_t ring_ref,
			 uint32_t port, bool wait_hint, uint32_t ext, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	struct initialised in = {
		.fe = fe,
		.ring = { .ring_ref = ring_ref, .port = port, .wait_hint = wait_hint, .ext = ext },
	};
	uint32_t state = PVCALLS_XENBUS_UNKNOWN;
	int rc;

	rc = pvc_xb_transact(t, write_initialised, &in);
	if (rc < 0)
		return rc;
	pvc_debug("xenbus.state", "%s -> %s", fe->dev,
		  pvc_xb_state_name(PVCALLS_XENBUS_INITIALISED));

	/* Anything from Closing on, or the node gone, is a refusal. */
	rc = pvc_xb_watch_state(t, fe->backend, "pvcalls-fe-connect",
				PVC_XB_MASK(PVCALLS_XENBUS_CONNECTED) |
					PVC_XB_MASK(PVCALLS_XENBUS_UNKNOWN) |
					PVC_XB_MASK_FROM(PVCALLS_XENBUS_CLOSING),
				deadline, &state);
	if (rc == -ETIMEDOUT) {
		pvc_err("xenbus.timeout", "backend %s did not connect (still %s)", fe->backend,
			pvc_xb_state_name(state));
	} else if (rc == 0 && state == PVCALLS_XENBUS_CONNECTED) {
		rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CONNECTED);
	} else if (rc == 0) {
		pvc_err("xenbus.backend-closed", "backend %s went %s while connecting", fe->backend,
			pvc_xb_state_name(state));
		rc = -ECONNREFUSED;
	}
	return rc;
}
