/* SPDX-License-Identifier: MIT */
/*
 * The command ring: Xen's generic ring (ring.h) specialised to PV Calls'
 * 32 slots of 64 bytes. Differences from the macros, all for robustness:
 *  - each side keeps private copies of the indexes it owns and never reads
 *    them back from shared memory, so a peer scribbling on them cannot
 *    confuse us;
 *  - the peer's producer index is read once per call and rejected when it
 *    describes an impossible state.
 *
 * Barrier pairs (tags used in the comments below):
 *  C1 front push: store_release(req_prod) pairs with C2.
 *  C2 back get:   load_acquire(req_prod) -- slot contents visible.
 *  C3 back push:  store_release(rsp_prod) pairs with C4.
 *  C4 front get:  load_acquire(rsp_prod).
 *  C5 push-and-check: the producer's seq store of prod, then seq load of
 *     the consumer's event index; pairs with C6.
 *  C6 final check: the consumer's seq store of its event index, then seq
 *     load of prod. With both sides sequentially consistent, at least one
 *     of them sees the other's store: either the producer notifies or the
 *     consumer sees the new work (the classic Dekker argument).
 *  C7 front peek: load_acquire(rsp_prod), any thread; pairs with C3 like
 *     C4, but only tells a waiter to go and look: get validates and
 *     orders the copy itself (C4).
 */
#include <errno.h>
#include <string.h>

#include <pvcalls/ring.h>

#include "ring/barrier.h"

#define RING_SIZE PVCALLS_WIRE_CMD_RING_SIZE
#define SLOT(i) ((i) & (RING_SIZE - 1))

void pvcalls_cmd_sring_init(struct pvcalls_wire_cmd_sring *sring)
{
	memset(sring, 0, offsetof(struct pvcalls_wire_cmd_sring, ring));
	pvc_store_release(&sring->req_event, 1u);
	pvc_store_release(&sring->rsp_event, 1u);
}

void pvcalls_cmd_front_init(pvcalls_cmd_front *r, struct pvcalls_wire_cmd_sring *sring)
{
	r->sring = sring;
	r->req_prod_pvt = 0;
	r->req_pushed = 0;
	r->rsp_cons = 0;
}

unsigned pvcalls_cmd_front_free(const pvcalls_cmd_front *r)
{
	return RING_SIZE - (r->req_prod_pvt - r->rsp_cons);
}

int pvcalls_cmd_front_put(pvcalls_cmd_front *r, const struct pvcalls_wire_request *req)
{
	if (pvcalls_cmd_front_free(r) == 0)
		return -ENOSPC;
	/* Plain copy: the slot is ours until req_prod is published (C1). */
	memcpy(&r->sring->ring[SLOT(r->req_prod_pvt)].req, req, sizeof(*req));
	r->req_prod_pvt++;
	return 0;
}

/* The event-index test of ring.h: notify if the peer's event index lies in
 * (old, new], i.e. it asked to hear about one of the entries just pushed. */
static bool event_crossed(uint32_t new_prod, uint32_t old_prod, uint32_t event)
{
	return (uint32_t)(new_prod - event) < (uint32_t)(new_prod - old_prod);
}

bool pvcalls_cmd_front_push(pvcalls_cmd_front *r)
{
	uint32_t old = r->req_pushed, new_prod = r->req_prod_pvt;

	if (old == new_prod)
		return false;
	/* C1/C5: the backend sees the requests before req_prod, and we read
	 * req_event only after req_prod is globally visible. */
	r->req_pushed = new_prod; /* before the store: bounds front_available() */
	pvc_store_seq(&r->sring->req_prod, new_prod);
	return event_crossed(new_prod, old, pvc_load_seq(&r->sring->req_event));
}

/* Responses available, validated: the backend cannot have answered more
 * requests than we have published (it cannot see unpushed ones). */
static int front_available(pvcalls_cmd_front *r, uint32_t *prod)
{
	uint32_t p = pvc_load_acquire(&r->sring->rsp_prod); /* C4 */

	if ((uint32_t)(p - r->rsp_cons) > (uint32_t)(r->req_pushed - r->rsp_cons))
		return -EPROTO;
	*prod = p;
	return p != r->rsp_cons;
}

int pvcalls_cmd_front_get(pvcalls_cmd_front *r, struct pvcalls_wire_response *rsp)
{
	uint32_t prod;
	int rc = front_available(r, &prod);

	if (rc <= 0)
		return rc;
	/* Copy out once; callers look only at the copy. */
	memcpy(rsp, &r->sring->ring[SLOT(r->rsp_cons)].rsp, sizeof(*rsp));
	/* The slot is reused by put() only after this counter moves, and
	 * put() writes it with plain stores that the acquire at C4 of the
	 * *next* response cannot reorder above this copy: single thread. */
	r->rsp_cons++;
	return 1;
}

uint32_t pvcalls_cmd_front_rsp_cons(const pvcalls_cmd_front *r)
{
	return r->rsp_cons;
}

uint32_t pvcalls_cmd_front_rsp_prod(const pvcalls_cmd_front *r)
{
	return pvc_load_acquire(&r->sring->rsp_prod); /* C7 */
}

int pvcalls_cmd_front_final_check(pvcalls_cmd_front *r)
{
	uint32_t prod;
	int rc = front_available(r, &prod);

	if (rc != 0)
		return rc;
	/* C6: ask for an event on the next response, then look again. */
	pvc_store_seq(&r->sring->rsp_event, r->rsp_cons + 1);
	pvc_mb();
	return front_available(r, &prod);
}

void pvcalls_cmd_back_init(pvcalls_cmd_back *r, struct pvcalls_wire_cmd_sring *sring)
{
	r->sring = sring;
	r->req_cons = 0;
	r->rsp_prod_pvt = 0;
	r->rsp_pushed = 0;
}

unsigned pvcalls_cmd_back_outstanding(const pvcalls_cmd_back *r)
{
	return r->req_cons - r->rsp_prod_pvt;
}

/*
 * Requests available, validated. A well-behaved frontend never has more
 * than RING_SIZE requests beyond the responses we produced (it frees a
 * slot only by consuming a response), and never moves req_prod backwards.
 */
static int back_available(pvcalls_cmd_back *r)
{
	uint32_t p = pvc_load_acquire(&r->sring->req_prod); /* C2 */

	if ((uint32_t)(p - r->rsp_prod_pvt) > RING_SIZE || (uint32_t)(p - r->req_cons) > RING_SIZE)
		return -EPROTO;
	return p != r->req_cons;
}

int pvcalls_cmd_back_get(pvcalls_cmd_back *r, struct pvcalls_wire_request *req)
{
	int rc = back_available(r);

	if (rc <= 0)
		return rc;
	/* RING_COPY_REQUEST: one copy, then only the copy is examined. The
	 * frontend may rewrite the slot concurrently (it is hostile); the
	 * copy is then garbage but bounded, and validation happens later. */
	memcpy(req, &r->sring->ring[SLOT(r->req_cons)].req, sizeof(*req));
	r->req_cons++;
	return 1;
}

int pvcalls_cmd_back_put(pvcalls_cmd_back *r, const struct pvcalls_wire_response *rsp)
{
	if (r->rsp_prod_pvt == r->req_cons)
		return -ENOSPC;
	memcpy(&r->sring->ring[SLOT(r->rsp_prod_pvt)].rsp, rsp, sizeof(*rsp));
	r->rsp_prod_pvt++;
	return 0;
}

bool pvcalls_cmd_back_push(pvcalls_cmd_back *r)
{
	uint32_t old = r->rsp_pushed, new_prod = r->rsp_prod_pvt;

	if (old == new_prod)
		return false;
	pvc_store_seq(&r->sring->rsp_prod, new_prod); /* C3, C5 */
	r->rsp_pushed = new_prod;
	return event_crossed(new_prod, old, pvc_load_seq(&r->sring->rsp_event));
}

int pvcalls_cmd_back_final_check(pvcalls_cmd_back *r)
{
	int rc = back_available(r);

	if (rc != 0)
		return rc;
	pvc_store_seq(&r->sring->req_event, r->req_cons + 1); /* C6 */
	pvc_mb();
	return back_available(r);
}
