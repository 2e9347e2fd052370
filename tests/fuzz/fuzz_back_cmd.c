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
 * command: < 0x70 a v1 command (mod 7), < 0xe8 an extension command
 * (mod 8, including an unassigned one), < 0xf0 not a request but a
 * datagram record (below), else the four cmd bytes as they are. The id is
 * folded to 0..7 so requests meet live sockets; CONNECT and BIND addresses
 * are forced to 127.0.0.1, or ::1 when their family field is AF_INET6
 * (family 0 is kept: a datagram CONNECT that dissolves the peer), so
 * nothing leaves the host.
 *
 * CONNECT, ACCEPT and RING_FREE with a ref of 1..8 and port 0 name real
 * rings (real_ring(), below), so ring reuse's parking and taking happen.
 *
 * Datagram sockets (docs/extensions.md, "Datagram sockets"): a
 * DGRAM_RINGS request gets real rings of order 0 for its id (one set per
 * id 0..7, kept across releases) unless bit 0 of byte 16 is set (the
 * fuzzer's ref and port then stay). A record op (byte 4 in 0xe8..0xef)
 * writes one out record on id byte 8 % 8's rings: byte 5 % 49 payload
 * bytes from byte 16 on; byte 6's bits make it hostile (1 full_len !=
 * len, 2 err != 0, 4 only part of it published, 8 out_prod misaligned,
 * 16 len above 65,527); byte 7 % 4 picks the destination: none (family
 * 0), 127.0.0.1 (port from bytes 14-15), ::1, or a family that is
 * neither. After each step the in rings are drained, their producer
 * index checked to be a multiple of 8 (unless a stream socket also had
 * the ring in this input: its bytes move the same index) and their error
 * words checked to be 0 or a negative errno.
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

/* One id's datagram rings, as the frontend shares them. */
struct dring {
	bool used;
	bool streamed; /* a CONNECT or ACCEPT also named it (real_ring()) */
	struct pvcalls_wire_data_intf *intf;
	void *data;
	uint32_t ref, dref, port;
	pvcalls_data_ring ring;
};

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
	struct dring rings[8];
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
	/* RELEASE's val: 1 (parked) only with ring reuse in force. */
	if (rsp->cmd == PVCALLS_WIRE_RELEASE)
		must(rsp->pad == 0 ||
		     (rsp->pad == 1 && rsp->ret == 0 && (e->ext & PVCALLS_FEATURE_RING_REUSE)));
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
	else if (sel < 0xe8)
		r->cmd = PVCALLS_EXT_SHUTDOWN + sel % 8u; /* 0x6c700001..8 */
	r->u.socket.id %= 8;
	if (r->cmd == PVCALLS_WIRE_ACCEPT)
		r->u.accept.id_new %= 8;
	if (r->cmd == PVCALLS_WIRE_CONNECT || r->cmd == PVCALLS_WIRE_BIND) {
		uint8_t *a = r->cmd == PVCALLS_WIRE_CONNECT ? r->u.connect.addr : r->u.bind.addr;

		if (a[0] == 0 && a[1] == 0)
			return; /* family 0: no address */
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

/* Ring @i (0..7) of the input's eight, shared on first use. */
static struct dring *ring_get(struct env *e, unsigned i)
{
	struct dring *d = &e->rings[i % 8];
	void *p;

	if (!d->used) {
		must(pvcalls_transport_share(e->t, 0, 1, true, &d->ref, &p) == 0);
		d->intf = p;
		must(pvcalls_transport_share(e->t, 0, 1, true, &d->dref, &d->data) == 0);
		must(pvcalls_transport_evtchn_alloc_unbound(e->t, 0, &d->port) == 0);
		d->intf->ring_order = 0;
		d->intf->ref[0] = d->dref;
		pvcalls_data_ring_attach(&d->ring, d->intf, d->data, 0, PVCALLS_DATA_FRONTEND);
		d->used = true;
	}
	return d;
}

/* DGRAM_RINGS: real rings for the id unless the input says otherwise. */
static void dgram_rings(struct env *e, struct pvcalls_wire_request *r, const uint8_t *raw)
{
	struct pvcalls_ext_request *x = (struct pvcalls_ext_request *)r;
	struct dring *d = ring_get(e, (unsigned)(x->u.dgram_rings.id % 8));

	if (!(raw[16] & 1)) {
		x->u.dgram_rings.ref = d->ref;
		x->u.dgram_rings.evtchn = d->port;
	}
}

/*
 * Ring reuse (docs/extensions.md, "Ring reuse"): a CONNECT, ACCEPT or
 * RING_FREE whose ref is 1..8 and whose port is 0 names real ring ref - 1
 * instead, the same ones DGRAM_RINGS uses, so that rings are mapped,
 * parked, taken again, freed, and named twice. (Ref 0 stays: the seeds'
 * datagram CONNECTs carry ref 0, which must stay 0.)
 */
static void real_ring(struct env *e, uint32_t *ref, uint32_t *evtchn)
{
	struct dring *d;

	if (*ref < 1 || *ref > 8 || *evtchn != 0)
		return;
	d = ring_get(e, *ref - 1);
	d->streamed = true;
	*ref = d->ref;
	*evtchn = d->port;
}

/* A record op (see the top comment). */
static void dgram_record(struct env *e, const uint8_t *raw)
{
	struct dring *d = &e->rings[raw[8] % 8];
	uint8_t rec[PVCALLS_EXT_DGRAM_HDR_LEN + 56] = { 0 };
	struct pvcalls_ext_dgram_hdr h = { 0 };
	uint8_t flags = raw[6];
	uint32_t len = raw[5] % 49u, n;

	if (!d->used)
		return;
	h.len = len;
	h.full_len = flags & 1 ? raw[12] : len;
	h.err = flags & 2 ? -(int32_t)raw[13] : 0;
	switch (raw[7] % 4) {
	case 1: /* 127.0.0.1 */
		h.addr[0] = 2;
		memcpy(h.addr + 2, raw + 14, 2);
		h.addr[4] = 127;
		h.addr[7] = 1;
		break;
	case 2: /* ::1 */
		h.addr[0] = 10;
		memcpy(h.addr + 2, raw + 14, 2);
		h.addr[23] = 1;
		break;
	case 3: /* neither family: never sent anywhere */
		h.addr[0] = raw[9] == 2 || raw[9] == 10 || raw[9] == 0 ? 3 : raw[9];
		break;
	default:
		break;
	}
	n = PVCALLS_EXT_DGRAM_RECORD_LEN(len);
	if (flags & 16) {
		h.len = h.full_len = 65528u + raw[12];
		n = PVCALLS_EXT_DGRAM_HDR_LEN;
	}
	memcpy(rec, &h, sizeof(h));
	memcpy(rec + PVCALLS_EXT_DGRAM_HDR_LEN, raw + 16, len);
	if (flags & 4)
		n = raw[10] % (n + 1);
	pvcalls_data_write(&d->ring, rec, n);
	if (flags & 8)
		__atomic_store_n(&d->intf->out_prod, d->intf->out_prod + 4, __ATOMIC_RELEASE);
	pvcalls_transport_evtchn_notify(e->t, d->port);
}

/* Drains every in ring and checks what the backend wrote there. */
static void dgram_check(struct env *e)
{
	for (int i = 0; i < 8; i++) {
		struct dring *d = &e->rings[i];
		int32_t in_err, out_err;
		struct iovec iov[2];
		int q;

		if (!d->used)
			continue;
		in_err = __atomic_load_n(&d->intf->in_error, __ATOMIC_ACQUIRE);
		out_err = __atomic_load_n(&d->intf->out_error, __ATOMIC_ACQUIRE);
		must(in_err <= 0 && in_err >= -PVCALLS_WIRE_MAX_ERRNO);
		must(out_err <= 0 && out_err >= -PVCALLS_WIRE_MAX_ERRNO);
		must(d->streamed || __atomic_load_n(&d->intf->in_prod, __ATOMIC_ACQUIRE) % 8 == 0);
		q = pvcalls_data_rx_spans(&d->ring, iov);
		if (q > 0)
			pvcalls_data_rx_consume(&d->ring, (uint32_t)q);
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
		if (raw[4] >= 0xe8 && raw[4] < 0xf0) {
			dgram_record(&e, raw);
			for (int k = 0; k < 3; k++)
				must(pvcalls_back_process(e.b, 0) >= 0);
			dgram_check(&e);
			continue;
		}
		memcpy(&r, raw, sizeof(r));
		fix_request(&r, raw);
		if (r.cmd == PVCALLS_EXT_DGRAM_RINGS)
			dgram_rings(&e, &r, raw);
		if (r.cmd == PVCALLS_WIRE_CONNECT)
			real_ring(&e, &r.u.connect.ref, &r.u.connect.evtchn);
		if (r.cmd == PVCALLS_WIRE_ACCEPT)
			real_ring(&e, &r.u.accept.ref, &r.u.accept.evtchn);
		if (r.cmd == PVCALLS_EXT_RING_FREE) {
			struct pvcalls_ext_request *x = (struct pvcalls_ext_request *)&r;

			real_ring(&e, &x->u.ring_free.ref, &x->u.ring_free.evtchn);
		}
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
		dgram_check(&e);
	}
	pvcalls_back_free(e.b);
	pvcalls_transport_close(e.t);
	pvcalls_transport_close(e.hub);
	return 0;
}
