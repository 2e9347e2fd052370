/* SPDX-License-Identifier: MIT */
/*
 * The XenBus negotiation of PV Calls (PROTOCOL.md section 2), shared by the
 * frontend and the backend and written only against the transport's
 * control store, so it runs unchanged over xen and shm.
 */
#ifndef PVCALLS_XENBUS_H
#define PVCALLS_XENBUS_H

#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/transport.h>
#include <pvcalls/wire.h>

#define PVC_XB_PATH 256

/* Reads "<dir>/state"; a missing node reads as Unknown (0), as in xenbus. */
int pvc_xb_read_state(pvcalls_transport *t, const char *dir, uint32_t *state);
/* Writes "<dir>/state" (outside any transaction). */
int pvc_xb_set_state(pvcalls_transport *t, const char *dir, uint32_t state);
/* Name of a XenbusState value, for logs. */
const char *pvc_xb_state_name(uint32_t state);

/*
 * True if the comma-separated list @p versions contains exactly "1".
 * (Linux's frontend requires the whole string to be "1"; we accept lists.)
 */
bool pvc_xb_versions_has_1(const char *versions);

/* What a frontend learns while probing its device. */
struct pvc_xb_front {
	char dev[PVC_XB_PATH];     /* /local/domain/<me>/device/pvcalls/<devid> */
	char backend[PVC_XB_PATH]; /* the backend's directory */
	uint32_t domid;            /* ours */
	uint32_t backend_id;       /* the backend's domain */
	uint32_t max_order;        /* backend's max-page-order */
	bool wait_hint;            /* backend offers the wait-hint extension */
};

/*
 * Frontend, step 1: finds the device's backend, waits (up to timeout_ms)
 * until the backend is in InitWait or later, and checks "versions",
 * "function-calls" and "max-page-order".
 * -ENODEV: no such device; -ETIMEDOUT: backend never got to InitWait;
 * -EPROTONOSUPPORT: versions/function-calls unusable.
 */
int pvc_xb_front_probe(pvcalls_transport *t, uint32_t devid, int timeout_ms,
		       struct pvc_xb_front *out);

/*
 * Frontend, step 2: publishes version, ring-ref and port in one
 * transaction and switches to Initialised; then waits (up to timeout_ms)
 * for the backend to reach Connected and switches to Connected.
 * -ECONNREFUSED: the backend went to Closing/Closed instead.
 */
int pvc_xb_front_connect(pvcalls_transport *t, const struct pvc_xb_front *fe,
			 uint32_t ring_ref, uint32_t port, bool wait_hint,
			 int timeout_ms);

/*
 * Waits until a watch event arrives on the transport's store or the
 * deadline (CLOCK_MONOTONIC ms) passes; drains the queued events.
 * Returns 1 if any event was seen, 0 on timeout, or a negative errno.
 */
int pvc_xb_wait_event(pvcalls_transport *t, int64_t deadline_ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t pvc_now_ms(void);

/* Extension key (ours): both sides write "1" to use the wait hints in the
 * padding of the indexes page (see docs/ARCHITECTURE.md). Linux ignores it. */
#define PVC_XB_KEY_WAIT_HINT "feature-wait-hint"

#endif
