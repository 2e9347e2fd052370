/* SPDX-License-Identifier: MIT */
/*
 * The wait-hint extension: notification suppression for data rings.
 *
 * The data rings of PV Calls have no event indexes, so Linux notifies on
 * every productive step. When both ends are libpvcalls and both wrote
 * "feature-wait-hint" = "1" in the store, each end also publishes in the
 * (otherwise unused, zeroed) padding of the indexes page whether it is
 * about to sleep:
 *
 *   offset 12 (first word of pad1): front_waiting, written by the frontend
 *   offset 76 (first word of pad2): back_waiting, written by the backend
 *
 * A sleeper sets its word, then (full fence) re-checks the ring before it
 * sleeps (H1). A producer/consumer that moved an index (store-release)
 * then (full fence) reads the peer's word and notifies only when it is set
 * (H2). H1 pairs with H2: by the Dekker argument at least one side sees the
 * other's store, so either the sleeper finds the work or it is woken.
 * Without the extension (a Linux peer), every step notifies.
 */
#ifndef PVCALLS_RING_WAIT_HINT_H
#define PVCALLS_RING_WAIT_HINT_H

#include <stdbool.h>

#include <pvcalls/wire.h>

#include "ring/barrier.h"

#define PVC_HINT_FRONT_OFF 12
#define PVC_HINT_BACK_OFF 76
_Static_assert(PVC_HINT_FRONT_OFF == offsetof(struct pvcalls_wire_data_intf, pad1),
	       "front hint is the first pad1 word");
_Static_assert(PVC_HINT_BACK_OFF == offsetof(struct pvcalls_wire_data_intf, pad2),
	       "back hint is the first pad2 word");

static inline uint32_t *pvc_hint_word(struct pvcalls_wire_data_intf *intf, bool backend)
{
	return (uint32_t *)((uint8_t *)intf + (backend ? PVC_HINT_BACK_OFF : PVC_HINT_FRONT_OFF));
}

/* H1: announce that we are going to sleep; caller re-checks the ring after. */
static inline void pvc_hint_sleep(struct pvcalls_wire_data_intf *intf, bool backend)
{
	pvc_store_seq(pvc_hint_word(intf, backend), 1u);
	pvc_mb();
}

/* We are awake again (no fence needed: a stale 1 only costs a notify). */
static inline void pvc_hint_awake(struct pvcalls_wire_data_intf *intf, bool backend)
{
	pvc_write_once(pvc_hint_word(intf, backend), 0u);
}

/* H2: after moving an index, must the peer be notified? */
static inline bool pvc_hint_peer_waiting(struct pvcalls_wire_data_intf *intf, bool backend)
{
	pvc_mb();
	return pvc_load_seq(pvc_hint_word(intf, !backend)) != 0;
}

#endif
