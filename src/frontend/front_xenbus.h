/* SPDX-License-Identifier: MIT */
/*
 * The frontend's side of the XenBus negotiation (front_xenbus.c): its
 * state machine, written as blocking calls with deadlines since it runs
 * once, at open. The nodes and helpers both sides share are in
 * src/xenbus/xenbus.h.
 */
#ifndef PVCALLS_FRONT_XENBUS_H
#define PVCALLS_FRONT_XENBUS_H

#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/transport.h>

#include "xenbus/xenbus.h"

/* What a frontend learns while probing its device. */
struct pvc_xb_front {
	char dev[PVC_XB_PATH];     /* /local/domain/<me>/device/pvcalls/<devid> */
	char backend[PVC_XB_PATH]; /* the backend's directory */
	uint32_t domid;            /* ours */
	uint32_t backend_id;       /* the backend's domain */
	uint32_t max_order;        /* backend's max-page-order */
	bool wait_hint;            /* backend offers the wait-hint extension */
	uint32_t ext;              /* PVCALLS_FEATURE_* the backend offers */
};

/*
 * Step 1: finds the device's backend, takes a device an earlier frontend
 * left behind through Closing and Closed, goes Initialising, waits (up to
 * timeout_ms) until the backend is in InitWait or later, and reads its
 * offer (pvc_xb_read_offer()).
 * -ENODEV: no such device; -ETIMEDOUT: backend never got to InitWait;
 * -ECONNREFUSED: the backend stays Closing/Closed;
 * -EPROTONOSUPPORT: versions/function-calls unusable.
 */
int pvc_xb_front_probe(pvcalls_transport *t, uint32_t devid, int timeout_ms,
		       struct pvc_xb_front *out);

/*
 * Step 2: publishes version, ring-ref and port (pvc_xb_write_ring()) with
 * Initialised in one transaction; then waits (up to timeout_ms) for the
 * backend to reach Connected and switches to Connected.
 * -ECONNREFUSED: the backend went to Closing/Closed instead.
 */
int pvc_xb_front_connect(pvcalls_transport *t, const struct pvc_xb_front *fe, uint32_t ring_ref,
			 uint32_t port, bool wait_hint, uint32_t ext, int timeout_ms);

#endif
