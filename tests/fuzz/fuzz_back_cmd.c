/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the backend's command handling, the negotiated
 * extensions' commands above all (src/backend/back_ext.c,
 * docs/extensions.md): a real backend on an in-process shm pair, driven
 * by a raw frontend that writes arbitrary requests onto the command ring.
 *
 * Checked for every response: it answers an outstanding request (req_id),
 * echoes cmd and id, ret is 0 or a negative errno; an extension command
 * not in force answers -524; an extension command in force has val 0 on
 * error and at most 56 otherwise, and no reply area other than the one it
 * names changes. A crash or sanitizer report in the backend is the main
 * catch.
 *
 * Input: byte 0 selects the extensions the frontend accepts (its low
 * bits, PVCALLS_FEATURE_*); then 64-byte requests, a short last one
 * zero-padded. Byte 4 of a request (the low byte of cmd) selects the
 * command: < 0x70 a v1 command (mod 7), < 0xf0 an extension command
 * (mod 7, including an unassigned one), else the four cmd bytes as they
 * are. The id is folded to 0..7 so requests meet live sockets; CONNECT and
 * BIND addresses are forced to 127.0.0.1, or ::1 when their family field
 * is AF_INET6 (nothing leaves the host).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "xenbus/xenbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQS 128
#define SENTINEL 0xee

#define must(c)                  \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

struct env {
	pvcalls_back *b;
	pvcalls_transport *hub, *t;
	char dev[128], be[128];
	void *page;
	uint32_t ref, port;
	pvcalls_cmd_front cmd;
	uint32_t ext;
	/* Outstanding requests, by req_id (the sequence number). */
	uint32_t cmds[MAX_REQS];
	uint64_t ids[MAX_REQS];
	bool pending[MAX_REQS];
};

static bool pump_state(struct env *e, uint32_t state)
{
	for (int i = 0; i < 2000; i++) {
		uint32_t st;

		if (pvc_xb_read_state(e->hub, e->be, &st) == 0 && st == state)
			return true;
		must(pvcalls_back_process(e->b, 1) >= 0);
	}
	return false;
}

static uint8_t *area(struct env *e, uint32_t n)
{
	return (uint8_t *)e->page + PVCALLS_EXT_REPLY_AREA_OFFSET(n);
}

static bool is_ext(uint32_t cmd)
{
	return (cmd & PVCALLS_EXT_CMD_MASK) == PVCALLS_EXT_CMD_BASE;
}

/* The reply area a request names, or -1. */
static int named_area(const struct pvcalls_wire_request *r)
{
	const struct pvcalls_ext_request *x = (const void *)r;

	switch (r->cmd) {
	case PVCALLS_EXT_GETSOCKNAME:
	case PVCALLS_EXT_GETPEERNAME:
		return x->u.getname.area < PVCALLS_EXT_REPLY_AREAS ? (int)x->u.getname.area : -1;
	case PVCALLS_EXT_GETSOCKOPT:
		return x->u.getsockopt.area < PVCALLS_EXT_REPLY_AREAS ? (int)x->u.getsockopt.area
								      : -1;
	default:
		return -1;
	}
}

static void check_rsp(struct env *e, const struct pvcalls_wire_response *rsp, int named)
{
	uint32_t i = rsp->req_id;

	must(i < MAX_REQS && e->pending[i]);
	e->pending[i] = false;
	must(rsp->cmd == e->cmds[i]);
	must(rsp->u.id == e->ids[i]);
	must(rsp->ret <= 0 && rsp->ret >= -PVCALLS_WIRE_MAX_ERRNO);
	if (is_ext(rsp->cmd) && !(e->ext & pvc_back_ext_cmd_feature(rsp->cmd)))
		must(rsp->ret == -PVCALLS_WIRE_ENOTSUPP);
	if (!is_ext(rsp->cmd) && rsp->cmd >= PVCALLS_WIRE_NR_CMDS)
		must(rsp->ret == -PVCALLS_WIRE_ENOTSUPP);
	if (is_ext(rsp->cmd)) {
		must(rsp->ret == 0 || rsp->pad == 0);
		must(rsp->pad <= PVCALLS_EXT_REPLY_SIZE);
		if (rsp->ret == 0 && named >= 0)
			must(rsp->pad == 4 || rsp->pad == 8 || rsp->pad == 16 || rsp->pad == 28);
	}
	for (uint32_t n = 0; n < PVCALLS_EXT_REPLY_AREAS; n++) {
		if ((int)n == named && rsp->ret == 0)
			continue;
		for (uint32_t k = 0; k < PVCALLS_EXT_REPLY_SIZE; k++)
			must(area(e, n)[k] == SENTINEL);
	}
}

static void fix_request(struct pvcalls_wire_request *r, const uint8_t *raw)
{
	uint8_t sel = raw[4];

	if (sel < 0x70)
		r->cmd = sel % PVCALLS_WIRE_NR_CMDS;
	else if (sel < 0xf0)
		r->cmd = PVCALLS_EXT_SHUTDOWN + sel % 7u; /* 0x6c700001..7 */
	r->u.socket.id %= 8;
	if (r->cmd == PVCALLS_WIRE_ACCEPT)
		r->u.accept.id_new %= 8;
	if (r->cmd == PVCALLS_WIRE_CONNECT || r->cmd == PVCALLS_WIRE_BIND) {
		uint8_t *a = r->cmd == PVCALLS_WIRE_CONNECT ? r->u.connect.addr : r->u.bind.addr;

		if (a[0] == 10 && a[1] == 0) {
			/* AF_INET6 (inet6): ::1; port, flow information and
			 * scope id as given (the host ignores a scope on ::1). */
			memset(a + 8, 0, 16);
			a[23] = 1;
			return;
		}
		a[0] = 2; /* AF_INET, 127.0.0.1, the port as given */
		a[1] = 0;
		a[4] = 127;
		a[5] = 0;
		a[6] = 0;
		a[7] = 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvcalls_back_opts bo = { .spin_us = PVCALLS_BACK_NO_SPIN };
	struct pvc_xb_ring ring = { 0 };
	struct env e;
	uint32_t domid, nreq = 0;

	if (size < 1)
		return 0;
	memset(&e, 0, sizeof(e));
	e.ext = data[0] & PVCALLS_FEATURES_IMPLEMENTED;
	must(pvcalls_shm_pair(NULL, NULL, &e.hub, &e.t) == 0);
	must(pvcalls_back_new(e.hub, &bo, &e.b) == 0);
	must(pvcalls_transport_local_domid(e.t, &domid) == 0);
	must(pvc_xb_front_dir(e.dev, sizeof(e.dev), domid, 0) == 0);
	must(pvc_xb_back_dir(e.be, sizeof(e.be), 0, domid, 0) == 0);
	must(pump_state(&e, PVCALLS_XENBUS_INITWAIT));
	must(pvcalls_transport_share(e.t, 0, 1, true, &e.ref, &e.page) == 0);
	pvcalls_cmd_sring_init(e.page);
	pvcalls_cmd_front_init(&e.cmd, e.page);
	must(pvcalls_transport_evtchn_alloc_unbound(e.t, 0, &e.port) == 0);
	ring.ring_ref = e.ref;
	ring.port = e.port;
	ring.ext = e.ext;
	must(pvc_xb_write_ring(e.t, PVCALLS_STORE_NO_TXN, e.dev, &ring) == 0);
	must(pvc_xb_set_state(e.t, e.dev, PVCALLS_XENBUS_INITIALISED) == 0);
	must(pump_state(&e, PVCALLS_XENBUS_CONNECTED));

	for (size_t off = 1; off < size && nreq < MAX_REQS; off += 64) {
		uint8_t raw[64] = { 0 };
		struct pvcalls_wire_request r;
		struct pvcalls_wire_response rsp;
		int named, got = 0;

		memcpy(raw, data + off, size - off < 64 ? size - off : 64);
		memcpy(&r, raw, sizeof(r));
		fix_request(&r, raw);
		if (pvcalls_cmd_front_free(&e.cmd) == 0)
			break; /* deferred requests hold every slot */
		memset(area(&e, 0), SENTINEL, PVCALLS_EXT_REPLY_AREAS * PVCALLS_EXT_REPLY_SIZE);
		named = named_area(&r);
		r.req_id = nreq;
		e.cmds[nreq] = r.cmd;
		e.ids[nreq] = r.u.socket.id;
		e.pending[nreq] = true;
		nreq++;
		must(pvcalls_cmd_front_put(&e.cmd, &r) == 0);
		if (pvcalls_cmd_front_push(&e.cmd))
			pvcalls_transport_evtchn_notify(e.t, e.port);
		/* Extension commands are never deferred: answered in this round
		 * (a v1 CONNECT, ACCEPT or POLL may stay pending). */
		for (int k = 0; k < 20 && !got; k++) {
			must(pvcalls_back_process(e.b, k < 2 ? 0 : 1) >= 0);
			while (pvcalls_cmd_front_get(&e.cmd, &rsp) == 1) {
				check_rsp(&e, &rsp, rsp.req_id == r.req_id ? named : -1);
				got |= rsp.req_id == r.req_id;
			}
		}
		if (is_ext(r.cmd))
			must(got);
	}
	pvcalls_back_free(e.b);
	pvcalls_transport_close(e.t);
	pvcalls_transport_close(e.hub);
	return 0;
}
