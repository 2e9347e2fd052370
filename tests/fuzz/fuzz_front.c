/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the frontend (src/frontend/) against a hostile backend.
 * Each input gets an in-process shm pair; a fake backend on the hub's side
 * (a thread, like tests/frontend's rawbe) negotiates properly and then
 * answers every request as the second half of the input says: a good
 * answer, or one with a wrong req_id, cmd, id or ret, an answer held back
 * until later, two answers, a response index run ahead, junk in the slot.
 * For CONNECT and ACCEPT it maps the frontend's data ring and fills it
 * with input-chosen bytes, indexes (in_prod, out_cons) and errors, and
 * notifies. Meanwhile the test's thread plays an application, from the
 * first half of the input: socket, connect, bind, listen, accept, send,
 * recv, poll, nread, release, setopt, process.
 *
 * Every blocking call is bounded (send/receive timeouts of at most 50 ms,
 * polls of at most 20 ms), and the fake backend answers every request in
 * the end (held answers go out with the next request or after 30 ms), so
 * a hang is the frontend's. Afterwards the frontend is closed and the
 * process must hold the fds it held before.
 *
 * Input: byte 0 splits the rest (application: the first (b0 * size/256)
 * bytes, backend: the remainder). Missing bytes read as zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

#include "common/clock.h"
#include "xenbus/xenbus.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 64
#define NRINGS 8
#define NSOCK 6
#define MAX_ORDER 1

#define must(c)                                                                             \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "fuzz_front: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* A data ring the fake backend mapped. */
struct bring {
	struct pvcalls_wire_data_intf *intf;
	uint8_t *data;
	unsigned npages;
	uint32_t port; /* our end, 0: none */
};

struct fakebe {
	pvcalls_transport *hub, *guest;
	uint32_t gid;
	char bedir[128], fedir[128];
	pvcalls_cmd_back ring;
	void *page;
	uint32_t port;
	struct input script;
	struct bring rings[NRINGS];
	unsigned nrings;
	bool held;
	struct pvcalls_wire_request held_req;
	int64_t held_since;
	_Atomic int stop;
	pthread_t th;
};

static void notify(struct fakebe *b)
{
	pvcalls_cmd_back_push(&b->ring);
	pvcalls_transport_evtchn_notify(b->hub, b->port);
}

/* Maps the data ring a CONNECT or ACCEPT offers, if it can. */
static struct bring *map_ring(struct fakebe *b, uint32_t ref, uint32_t evtchn)
{
	struct bring *r;
	uint32_t refs[1u << MAX_ORDER];
	uint32_t order;
	void *p;

	if (b->nrings == NRINGS)
		return NULL;
	r = &b->rings[b->nrings];
	if (pvcalls_transport_map(b->hub, b->gid, 1, &ref, true, &p) < 0)
		return NULL;
	r->intf = p;
	order = __atomic_load_n(&r->intf->ring_order, __ATOMIC_ACQUIRE);
	if (order > MAX_ORDER) {
		pvcalls_transport_unmap(b->hub, p, 1);
		return NULL;
	}
	r->npages = 1u << order;
	for (unsigned i = 0; i < r->npages; i++)
		refs[i] = r->intf->ref[i];
	if (pvcalls_transport_map(b->hub, b->gid, r->npages, refs, true, &p) < 0) {
		pvcalls_transport_unmap(b->hub, r->intf, 1);
		return NULL;
	}
	r->data = p;
	if (pvcalls_transport_evtchn_bind(b->hub, b->gid, evtchn, &r->port) < 0)
		r->port = 0;
	b->nrings++;
	return r;
}

/* Input-chosen traffic and indexes on a mapped ring. */
static void ring_traffic(struct fakebe *b, struct bring *r, struct input *in)
{
	uint8_t s = in8(in);
	uint32_t half = r->npages * 2048u; /* in first, out second */

	if (s & 1) { /* bytes in */
		uint8_t n = in8(in);
		uint32_t prod = r->intf->in_prod;

		for (uint8_t i = 0; i < n; i++)
			r->data[(prod + i) % half] = in8(in);
		__atomic_store_n(&r->intf->in_prod, prod + n, __ATOMIC_RELEASE);
	}
	if (s & 2) /* consume what was sent */
		__atomic_store_n(&r->intf->out_cons, r->intf->out_prod, __ATOMIC_RELEASE);
	if (s & 4)
		r->intf->in_error = -(int32_t)(in8(in) % 140);
	if (s & 8)
		r->intf->out_error = -(int32_t)(in8(in) % 140);
	if (s & 16)
		r->intf->in_prod = in32(in);
	if (s & 32)
		r->intf->out_cons = in32(in);
	if (s & 64)
		r->intf->in_cons = in32(in); /* the frontend's own */
	if (r->port)
		pvcalls_transport_evtchn_notify(b->hub, r->port);
}

static void answer(struct fakebe *b, const struct pvcalls_wire_request *req)
{
	struct pvcalls_wire_response rsp;
	struct input *in = &b->script;
	uint8_t mode = in->n ? in8(in) : 0;
	struct bring *r = NULL;
	unsigned spare;

	if (b->held) { /* a held answer goes out first */
		pvcalls_rsp_build(&rsp, &b->held_req, 0);
		pvcalls_cmd_back_put(&b->ring, &rsp);
		b->held = false;
	}
	/*
	 * Requests not yet answered, this one included. An answer with a
	 * req_id nobody is waiting for is dropped by the frontend but still
	 * uses up a slot's credit: it is only sent when another request
	 * lends one, and the real answer follows. Otherwise the request
	 * would go unanswered for good, which is a silent backend, not a
	 * frontend bug (a call without a timeout waits, as on Linux).
	 */
	spare = pvcalls_cmd_back_outstanding(&b->ring) - 1;
	pvcalls_rsp_build(&rsp, req, 0);
	if (req->cmd == PVCALLS_WIRE_CONNECT && !(mode & 0x80))
		r = map_ring(b, req->u.connect.ref, req->u.connect.evtchn);
	else if (req->cmd == PVCALLS_WIRE_ACCEPT && !(mode & 0x80))
		r = map_ring(b, req->u.accept.ref, req->u.accept.evtchn);
	switch (mode & 15) {
	case 1: {
		struct pvcalls_wire_response bad = rsp;

		bad.req_id = in32(in);
		if (spare && bad.req_id != rsp.req_id)
			pvcalls_cmd_back_put(&b->ring, &bad);
		break;
	}
	case 2:
		rsp.cmd = in32(in);
		break;
	case 3:
		rsp.u.id = ((uint64_t)in32(in) << 32) | in32(in);
		break;
	case 4:
		rsp.ret = (int32_t)in32(in);
		break;
	case 5:
		rsp.ret = -(int32_t)(in8(in) % 140);
		break;
	case 6: /* later */
		if (!b->held) {
			b->held = true;
			b->held_req = *req;
			b->held_since = pvc_now_ms();
			notify(b);
			return;
		}
		break;
	case 7: /* twice */
		if (spare)
			pvcalls_cmd_back_put(&b->ring, &rsp);
		break;
	case 8: /* the response index runs ahead */
		pvcalls_cmd_back_put(&b->ring, &rsp);
		__atomic_store_n(&b->ring.sring->rsp_prod, b->ring.rsp_prod_pvt + (in8(in) % 40),
				 __ATOMIC_RELEASE);
		pvcalls_transport_evtchn_notify(b->hub, b->port);
		return;
	case 9: { /* junk in the slot, then the real answer */
		struct pvcalls_wire_response bad;
		uint8_t raw[24];

		for (int i = 0; i < 24; i++)
			raw[i] = in8(in);
		memcpy(&bad, raw, sizeof(bad));
		if (spare)
			pvcalls_cmd_back_put(&b->ring, &bad);
		break;
	}
	default:
		break;
	}
	pvcalls_cmd_back_put(&b->ring, &rsp);
	notify(b);
	if (r && (mode & 0x40))
		ring_traffic(b, r, in);
	/* Traffic on an earlier ring. */
	if (b->nrings && (mode & 0x20))
		ring_traffic(b, &b->rings[in8(in) % b->nrings], in);
}

static void *serve(void *arg)
{
	struct fakebe *b = arg;
	struct pvcalls_wire_request req;

	while (!atomic_load(&b->stop)) {
		struct pollfd pfd = { .fd = pvcalls_transport_evtchn_fd(b->hub), .events = POLLIN };
		uint32_t p, fstate = 0;
		int rc;

		poll(&pfd, 1, 5);
		if (pvc_xb_read_state(b->hub, b->fedir, &fstate) == 0 &&
		    fstate == PVCALLS_XENBUS_CLOSING)
			pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_CLOSING);
		while (pvcalls_transport_evtchn_pending(b->hub, &p) > 0)
			pvcalls_transport_evtchn_unmask(b->hub, p);
		for (;;) {
			rc = pvcalls_cmd_back_get(&b->ring, &req);
			if (rc == 0 && pvcalls_cmd_back_final_check(&b->ring) > 0)
				continue;
			if (rc != 1)
				break;
			answer(b, &req);
		}
		if (b->held && pvc_now_ms() - b->held_since > 30) {
			struct pvcalls_wire_response rsp;

			pvcalls_rsp_build(&rsp, &b->held_req, 0);
			b->held = false;
			if (pvcalls_cmd_back_put(&b->ring, &rsp) == 0)
				notify(b);
		}
	}
	return NULL;
}

static void *negotiate(void *arg)
{
	struct fakebe *b = arg;
	struct pvc_xb_offer offer = { .max_order = MAX_ORDER };
	struct pvc_xb_ring r;
	void *page;

	if (pvc_xb_write_offer(b->hub, PVCALLS_STORE_NO_TXN, b->bedir, &offer) < 0 ||
	    pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_INITWAIT) < 0)
		return NULL;
	if (pvc_xb_watch_state(b->hub, b->fedir, "fakebe", PVC_XB_MASK(PVCALLS_XENBUS_INITIALISED),
			       pvc_now_ms() + 5000, NULL) < 0 ||
	    pvc_xb_read_ring(b->hub, b->fedir, &r) < 0)
		return NULL;
	if (pvcalls_transport_map(b->hub, b->gid, 1, &r.ring_ref, true, &page) < 0 ||
	    pvcalls_transport_evtchn_bind(b->hub, b->gid, r.port, &b->port) < 0)
		return NULL;
	b->page = page;
	pvcalls_cmd_back_init(&b->ring, page);
	pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_CONNECTED);
	return serve(b);
}

/* The application's side. */
static void app(pvcalls_front *fe, struct input *in)
{
	int socks[NSOCK];
	uint8_t buf[512];

	for (int i = 0; i < NSOCK; i++)
		socks[i] = -1;
	for (unsigned op = 0; in->n && op < MAX_OPS; op++) {
		uint8_t code = in8(in), k = in8(in);
		int *s = &socks[k % NSOCK];
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(80),
					 .sin_addr.s_addr = htonl(0x0a000001) };
		int rc;

		switch (code % 12) {
		case 0:
			if (*s >= 0)
				break;
			rc = pvcalls_front_socket(
				fe, AF_INET, SOCK_STREAM | ((k & 0x80) ? SOCK_NONBLOCK : 0), 0);
			if (rc >= 0) {
				*s = rc;
				/* Bounded blocking from here on. */
				pvcalls_front_setopt(fe, rc, PVCALLS_OPT_SNDTIMEO_MS, in8(in) % 50);
				pvcalls_front_setopt(fe, rc, PVCALLS_OPT_RCVTIMEO_MS, in8(in) % 50);
			}
			break;
		case 1:
			a.sin_port = htons((uint16_t)in32(in));
			pvcalls_front_connect(fe, *s, (struct sockaddr *)&a,
					      (k & 0x40) ? in8(in) % 32 : sizeof(a));
			break;
		case 2:
			a.sin_port = htons(in8(in));
			pvcalls_front_bind(fe, *s, (struct sockaddr *)&a, sizeof(a));
			break;
		case 3:
			pvcalls_front_listen(fe, *s, in8(in));
			break;
		case 4: {
			rc = pvcalls_front_accept(fe, *s, (k & 0x80) ? SOCK_NONBLOCK : 0);
			if (rc >= 0) {
				int *t = &socks[in8(in) % NSOCK];

				if (*t >= 0)
					pvcalls_front_release(fe, *t);
				*t = rc;
				pvcalls_front_setopt(fe, rc, PVCALLS_OPT_SNDTIMEO_MS, 20);
				pvcalls_front_setopt(fe, rc, PVCALLS_OPT_RCVTIMEO_MS, 20);
			}
			break;
		}
		case 5: {
			size_t n = (size_t)in8(in) * ((k & 0x40) ? 64 : 1);
			static uint8_t big[256 * 64];

			pvcalls_front_send(fe, *s, big, n, (k & 0x80) ? MSG_DONTWAIT : 0);
			break;
		}
		case 6:
			pvcalls_front_recv(fe, *s, buf, (size_t)in8(in) * 2 + 1,
					   ((k & 0x80) ? MSG_DONTWAIT : 0) |
						   ((k & 0x40) ? MSG_PEEK : 0));
			break;
		case 7: {
			struct pvcalls_pollfd p[NSOCK];

			for (int i = 0; i < NSOCK; i++)
				p[i] = (struct pvcalls_pollfd){ .sock = socks[i],
								.events = POLLIN | POLLOUT };
			pvcalls_front_poll(fe, p, NSOCK, in8(in) % 20);
			break;
		}
		case 8:
			if (*s >= 0) {
				pvcalls_front_release(fe, *s);
				*s = -1;
			}
			break;
		case 9:
			pvcalls_front_nread(fe, *s);
			break;
		case 10:
			pvcalls_front_setopt(fe, *s, PVCALLS_OPT_NONBLOCK, in8(in) & 1);
			break;
		default:
			pvcalls_front_process(fe);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvcalls_front_opts o = { .connect_timeout_ms = 5000,
					.spin_us = PVCALLS_FRONT_NO_SPIN };
	struct pvcalls_shm_opts so = { .max_pages = 256, .max_grants = 256, .max_ports = 128 };
	static struct fakebe be;
	struct input in;
	pvcalls_front *fe;
	size_t split;
	int base;

	if (size > 4096)
		return 0;
	split = size ? 1 + (size_t)data[0] * (size - 1) / 256 : 0;
	in = (struct input){ data + (size ? 1 : 0), split ? split - 1 : 0 };
	base = count_fds();
	memset(&be, 0, sizeof(be));
	be.script = (struct input){ data + split, size - split };
	must(pvcalls_shm_pair(&so, &so, &be.hub, &be.guest) == 0);
	must(pvcalls_transport_local_domid(be.guest, &be.gid) == 0);
	must(pvc_xb_back_dir(be.bedir, sizeof(be.bedir), 0, be.gid, 0) == 0);
	must(pvc_xb_front_dir(be.fedir, sizeof(be.fedir), be.gid, 0) == 0);
	must(pthread_create(&be.th, NULL, negotiate, &be) == 0);
	must(pvcalls_front_open(be.guest, &o, &fe) == 0);
	app(fe, &in);
	pvcalls_front_close(fe);
	atomic_store(&be.stop, 1);
	pthread_join(be.th, NULL);
	for (unsigned i = 0; i < be.nrings; i++) {
		pvcalls_transport_unmap(be.hub, be.rings[i].data, be.rings[i].npages);
		pvcalls_transport_unmap(be.hub, be.rings[i].intf, 1);
	}
	if (be.page)
		pvcalls_transport_unmap(be.hub, be.page, 1);
	pvcalls_transport_close(be.guest);
	pvcalls_transport_close(be.hub);
	if (count_fds() != base) {
		fprintf(stderr, "fuzz_front: %d fds before the input, %d after\n", base,
			count_fds());
		abort();
	}
	return 0;
}
