/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the whole backend (src/backend/) as a hostile guest sees
 * it: one process holds an in-process shm pair (the hub and one guest), a
 * backend on the hub, and a raw guest end driven by the input. After the
 * negotiation (done right, so the fuzzer starts from a connected device),
 * the input is a program of guest actions, pvcalls_back_process() running
 * between them:
 *
 *   push a request with input-chosen fields, or 64 raw bytes, onto the
 *   command ring; write the ring's indexes (req_prod, rsp_event, ...);
 *   notify; take responses; write the guest's store nodes (state,
 *   ring-ref, port, version) with input-chosen values; scribble on two
 *   shared data rings (indexes, ring_order, refs, data); play the host
 *   peer of connections (accept, send, close); and at the end either a
 *   clean teardown or the guest dying (its transport closed first).
 *
 * Afterwards the backend is freed and the process must hold exactly the
 * fds it held before the input: a leaked socket, map or event fd aborts.
 *
 * Host side effects are confined: every CONNECT and BIND address is
 * rewritten to 127.0.0.1, CONNECT's port to this target's own listener or
 * to a closed port, BIND's to 0 or the listener's (EADDRINUSE); and a
 * policy callback refuses anything else (other families, extension
 * commands' destinations), so no traffic ever leaves loopback. The
 * negotiation never accepts an extension, so datagram and IPv6 commands
 * stay unknown commands.
 *
 * Input: records of one opcode byte and its operands; missing bytes read
 * as zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

#include "common/clock.h"
#include "xenbus/xenbus.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 256
#define NDATA 2 /* shared data rings the guest offers */

#define must(c)                                                                               \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "fuzz_backend: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* Host side: a listener CONNECT may reach, and a port nobody listens on. */
static int lfd = -1;
static uint16_t lport, closed_port;

static void host_init(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd;

	if (lfd >= 0)
		return;
	/* The closed port: bound (never listening) for the whole run, so
	 * nothing else on the host can take it and a CONNECT there is
	 * refused. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	must(fd >= 0);
	must(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	must(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	closed_port = ntohs(a.sin_port);
	a.sin_port = 0;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	must(lfd >= 0);
	must(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	must(listen(lfd, 64) == 0);
	len = sizeof(a);
	must(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
	lport = ntohs(a.sin_port);
}

/* Belt and braces for the rewriting below: loopback only, CONNECT only to
 * our own two ports. */
static int confine(void *arg, const struct pvcalls_back_call *call, char *reason, size_t rlen)
{
	(void)arg;
	(void)reason;
	(void)rlen;
	if (call->addr.sin_family != AF_INET ||
	    call->addr.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		return -EACCES;
	if (call->cmd != PVCALLS_WIRE_BIND && call->cmd != PVCALLS_WIRE_LISTEN &&
	    ntohs(call->addr.sin_port) != lport && ntohs(call->addr.sin_port) != closed_port)
		return -EACCES;
	return 0;
}

struct guest {
	pvcalls_transport *hub, *t;
	pvcalls_back *b;
	uint32_t domid;
	char dev[128], be[128];
	struct pvcalls_wire_cmd_sring *page;
	uint32_t ref, port;
	pvcalls_cmd_front cmd;
	uint32_t next_req;
	/* NDATA data rings: an indexes page and one data page (order 0)
	 * each, and an event channel each. */
	struct pvcalls_wire_data_intf *intf[NDATA];
	uint8_t *dpage[NDATA];
	uint32_t iref[NDATA], dref[NDATA], dport[NDATA];
	int hostfd[8];
	bool dead;
};

static void pump(struct guest *g, int ms)
{
	int64_t end = pvc_now_ms() + ms;

	do
		must(pvcalls_back_process(g->b, ms ? 1 : 0) >= 0);
	while (pvc_now_ms() < end);
}

static bool setup(struct guest *g)
{
	struct pvcalls_back_opts o = { .spin_us = PVCALLS_BACK_NO_SPIN };
	struct pvc_xb_ring r = { .wait_hint = false };
	int64_t end;
	uint32_t st = 0;

	memset(g, 0, sizeof(*g));
	for (int i = 0; i < 8; i++)
		g->hostfd[i] = -1;
	must(pvcalls_shm_pair(NULL, NULL, &g->hub, &g->t) == 0);
	must(pvcalls_back_new(g->hub, &o, &g->b) == 0);
	pvcalls_back_set_policy_cb(g->b, confine, NULL);
	must(pvcalls_transport_local_domid(g->t, &g->domid) == 0);
	must(pvc_xb_front_dir(g->dev, sizeof(g->dev), g->domid, 0) == 0);
	must(pvc_xb_back_dir(g->be, sizeof(g->be), 0, g->domid, 0) == 0);
	must(pvcalls_transport_share(g->t, 0, 1, true, &g->ref, (void **)&g->page) == 0);
	pvcalls_cmd_sring_init(g->page);
	pvcalls_cmd_front_init(&g->cmd, g->page);
	must(pvcalls_transport_evtchn_alloc_unbound(g->t, 0, &g->port) == 0);
	for (int i = 0; i < NDATA; i++) {
		must(pvcalls_transport_share(g->t, 0, 1, true, &g->iref[i], (void **)&g->intf[i]) ==
		     0);
		must(pvcalls_transport_share(g->t, 0, 1, true, &g->dref[i],
					     (void **)&g->dpage[i]) == 0);
		g->intf[i]->ring_order = 0;
		g->intf[i]->ref[0] = g->dref[i];
		must(pvcalls_transport_evtchn_alloc_unbound(g->t, 0, &g->dport[i]) == 0);
	}
	r.ring_ref = g->ref;
	r.port = g->port;
	must(pvc_xb_write_ring(g->t, PVCALLS_STORE_NO_TXN, g->dev, &r) == 0);
	must(pvc_xb_set_state(g->t, g->dev, PVCALLS_XENBUS_INITIALISED) == 0);
	end = pvc_now_ms() + 3000;
	while (pvc_now_ms() < end) {
		must(pvcalls_back_process(g->b, 2) >= 0);
		if (pvc_xb_read_state(g->hub, g->be, &st) == 0 && st == PVCALLS_XENBUS_CONNECTED)
			return true;
	}
	return false;
}

static void teardown(struct guest *g)
{
	int c;

	if (!g->dead) {
		int64_t end = pvc_now_ms() + 1000;
		uint32_t st = 0;

		pump(g, 0);
		/* A clean guest closes: Closing, and the backend follows. */
		pvc_xb_set_state(g->t, g->dev, PVCALLS_XENBUS_CLOSING);
		do
			must(pvcalls_back_process(g->b, 1) >= 0);
		while (pvc_now_ms() < end &&
		       (pvc_xb_read_state(g->hub, g->be, &st) != 0 || st < PVCALLS_XENBUS_CLOSING));
		pvcalls_transport_close(g->t);
	}
	for (int i = 0; i < 3; i++)
		pump(g, 0);
	pvcalls_back_free(g->b);
	pvcalls_transport_close(g->hub);
	for (int i = 0; i < 8; i++)
		if (g->hostfd[i] >= 0)
			close(g->hostfd[i]);
	/* Connections the backend made and nobody accepted. */
	while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
}

/* 127.0.0.1 and one of our ports, or 0, into a v1 address field; the
 * family and the length stay the input's. */
static void confine_addr(uint8_t addr[PVCALLS_WIRE_ADDR_LEN], uint8_t sel, bool bind)
{
	uint16_t port;
	uint32_t lo = htonl(INADDR_LOOPBACK);

	switch (sel & 3) {
	case 0:
		port = bind ? 0 : lport;
		break;
	case 1:
		port = closed_port;
		break;
	default:
		port = lport;
		break;
	}
	port = htons(port);
	memcpy(addr + 2, &port, 2);
	memcpy(addr + 4, &lo, 4);
	/* IPv6-looking bytes after the v4 address are left as they are: the
	 * policy callback refuses any family but AF_INET. */
}

static uint32_t pick_ref(struct guest *g, struct input *in)
{
	uint8_t s = in8(in);

	if (s < 200)
		return g->iref[s % NDATA];
	if (s < 220)
		return g->dref[s % NDATA];
	if (s < 230)
		return g->ref;
	return in32(in);
}

static uint32_t pick_port(struct guest *g, struct input *in)
{
	uint8_t s = in8(in);

	if (s < 200)
		return g->dport[s % NDATA];
	if (s < 220)
		return g->port;
	return in32(in);
}

static void push(struct guest *g, struct pvcalls_wire_request *req, bool keep_id)
{
	if (!keep_id)
		req->req_id = g->next_req++;
	if (pvcalls_cmd_front_put(&g->cmd, req) < 0) {
		/* Full: take the answers first, as a guest would. */
		struct pvcalls_wire_response rsp;

		while (pvcalls_cmd_front_get(&g->cmd, &rsp) == 1)
			;
		if (pvcalls_cmd_front_put(&g->cmd, req) < 0)
			return;
	}
	if (pvcalls_cmd_front_push(&g->cmd))
		pvcalls_transport_evtchn_notify(g->t, g->port);
}

static void request(struct guest *g, struct input *in, uint8_t op)
{
	struct pvcalls_wire_request req;
	uint8_t f = in8(in);

	memset(&req, 0, sizeof(req));
	req.cmd = op;
	/* Socket ids from a small set, so commands meet the same sockets. */
	req.u.poll.id = (f & 0x80) ? in32(in) : (uint64_t)(f & 7);
	switch (op) {
	case PVCALLS_WIRE_SOCKET:
		req.u.socket.domain = PVCALLS_WIRE_AF_INET;
		req.u.socket.type = PVCALLS_WIRE_SOCK_STREAM;
		req.u.socket.protocol = PVCALLS_WIRE_IPPROTO_IP;
		if (f & 0x40) {
			req.u.socket.domain = in8(in);
			req.u.socket.type = in32(in);
			req.u.socket.protocol = in8(in);
		}
		break;
	case PVCALLS_WIRE_CONNECT:
		req.u.connect.addr[0] = PVCALLS_WIRE_AF_INET;
		req.u.connect.len = PVCALLS_WIRE_SOCKADDR_IN_LEN;
		if (f & 0x40) {
			req.u.connect.addr[0] = in8(in);
			req.u.connect.addr[1] = in8(in);
			req.u.connect.len = in8(in);
			req.u.connect.flags = in32(in);
		}
		confine_addr(req.u.connect.addr, in8(in), false);
		req.u.connect.ref = pick_ref(g, in);
		req.u.connect.evtchn = pick_port(g, in);
		break;
	case PVCALLS_WIRE_RELEASE:
		req.u.release.reuse = in8(in);
		break;
	case PVCALLS_WIRE_BIND:
		req.u.bind.addr[0] = PVCALLS_WIRE_AF_INET;
		req.u.bind.len = PVCALLS_WIRE_SOCKADDR_IN_LEN;
		if (f & 0x40) {
			req.u.bind.addr[0] = in8(in);
			req.u.bind.addr[1] = in8(in);
			req.u.bind.len = in8(in);
		}
		confine_addr(req.u.bind.addr, in8(in), true);
		break;
	case PVCALLS_WIRE_LISTEN:
		req.u.listen.backlog = (f & 0x40) ? in32(in) : 8;
		break;
	case PVCALLS_WIRE_ACCEPT:
		req.u.accept.id_new = in8(in) & 7;
		req.u.accept.ref = pick_ref(g, in);
		req.u.accept.evtchn = pick_port(g, in);
		break;
	default:
		break;
	}
	push(g, &req, false);
}

/* 64 raw bytes; an address of a v1 CONNECT or BIND is confined all the
 * same. Extension commands are not negotiated, so they are unknown. */
static void raw_request(struct guest *g, struct input *in)
{
	struct pvcalls_wire_request req;

	for (size_t i = 0; i < sizeof(req); i++)
		((uint8_t *)&req)[i] = in8(in);
	if (req.cmd == PVCALLS_WIRE_CONNECT)
		confine_addr(req.u.connect.addr, req.u.connect.pad[0], false);
	else if (req.cmd == PVCALLS_WIRE_BIND)
		confine_addr(req.u.bind.addr, 0, true);
	push(g, &req, true);
}

static void store_write(struct guest *g, struct input *in)
{
	static const char *const keys[] = { "state",   "ring-ref",          "port",
					    "version", "feature-wait-hint", "junk" };
	static const char *const vals[] = { "1", "2",          "3",          "4",  "5", "6",
					    "0", "4294967295", "4294967296", "-1", "",  "x" };
	uint8_t k = in8(in), v = in8(in);
	char buf[16];
	const char *val;

	if (v & 0x80)
		val = vals[v % (sizeof(vals) / sizeof(vals[0]))];
	else {
		snprintf(buf, sizeof(buf), "%u", in32(in));
		val = buf;
	}
	k %= sizeof(keys) / sizeof(keys[0]);
	if (k == 1 && (v & 0x40)) { /* ring-ref: a real one, elsewhere */
		snprintf(buf, sizeof(buf), "%u", g->iref[v & 1]);
		val = buf;
	}
	if (v & 0x20) {
		pvc_xb_write(g->t, PVCALLS_STORE_NO_TXN, g->dev, keys[k], val);
	} else {
		char path[256];

		/* "junk" stands for the whole directory. */
		if (k == 5)
			snprintf(path, sizeof(path), "%s", g->dev);
		else
			snprintf(path, sizeof(path), "%s/%s", g->dev, keys[k]);
		pvcalls_transport_store_rm(g->t, PVCALLS_STORE_NO_TXN, path);
	}
}

static void data_write(struct guest *g, struct input *in)
{
	uint8_t s = in8(in), which = s & 1;
	struct pvcalls_wire_data_intf *d = g->intf[which];

	switch ((s >> 1) & 7) {
	case 0: /* out_prod: send what is in the out half */
		d->out_prod += in8(in);
		break;
	case 1:
		d->in_cons += in8(in);
		break;
	case 2:
		d->out_prod = in32(in);
		break;
	case 3:
		d->in_cons = in32(in);
		break;
	case 4:
		d->ring_order = in8(in) % 11;
		break;
	case 5:
		d->ref[in8(in) & 3] = pick_ref(g, in);
		break;
	case 6: { /* bytes into the data page */
		uint16_t off = (uint16_t)(in8(in) << 4);
		uint8_t len = in8(in) & 63;

		for (uint8_t i = 0; i < len; i++)
			g->dpage[which][(off + i) % 4096] = in8(in);
		break;
	}
	default: /* the backend-owned fields too */
		d->in_prod = in32(in);
		d->out_cons = in32(in);
		break;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (s & 0x80)
		pvcalls_transport_evtchn_notify(g->t, g->dport[which]);
}

static void host_peer(struct guest *g, struct input *in)
{
	uint8_t s = in8(in), slot = s & 7;
	int c;

	switch ((s >> 3) & 3) {
	case 0:
		if (g->hostfd[slot] < 0) {
			c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c >= 0)
				g->hostfd[slot] = c;
		}
		break;
	case 1:
		if (g->hostfd[slot] >= 0) {
			uint8_t buf[64];
			uint8_t n = in8(in) & 63;

			for (uint8_t i = 0; i < n; i++)
				buf[i] = in8(in);
			(void)!send(g->hostfd[slot], buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		break;
	case 2:
		if (g->hostfd[slot] >= 0) {
			uint8_t buf[4096];

			(void)!recv(g->hostfd[slot], buf, sizeof(buf), MSG_DONTWAIT);
		}
		break;
	default:
		if (g->hostfd[slot] >= 0) {
			if (s & 0x20)
				shutdown(g->hostfd[slot], SHUT_WR);
			else {
				close(g->hostfd[slot]);
				g->hostfd[slot] = -1;
			}
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct guest g;
	int base;

	if (size > 4096)
		return 0;
	host_init();
	base = count_fds();
	if (!setup(&g)) {
		fprintf(stderr, "fuzz_backend: the negotiation did not finish\n");
		abort();
	}
	for (unsigned op = 0; in.n && op < MAX_OPS && !g.dead; op++) {
		uint8_t code = in8(&in);
		struct pvcalls_wire_response rsp;

		switch (code % 16) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 4:
		case 5:
		case 6:
			request(&g, &in, code % 16);
			break;
		case 7:
			raw_request(&g, &in);
			break;
		case 8: { /* hostile command ring indexes */
			uint8_t sel = in8(&in);
			uint32_t *idx[4] = { &g.page->req_prod, &g.page->req_event,
					     &g.page->rsp_prod, &g.page->rsp_event };

			if (sel & 4)
				*idx[sel & 3] = in32(&in);
			else
				*idx[sel & 3] += (uint32_t)(int8_t)in8(&in);
			if (sel & 8)
				pvcalls_transport_evtchn_notify(g.t, g.port);
			break;
		}
		case 9:
			pvcalls_transport_evtchn_notify(g.t, g.port);
			break;
		case 10: /* take every response (a hostile ring may say -EPROTO) */
			while (pvcalls_cmd_front_get(&g.cmd, &rsp) == 1)
				;
			pvcalls_cmd_front_final_check(&g.cmd);
			break;
		case 11:
			store_write(&g, &in);
			break;
		case 12:
			data_write(&g, &in);
			break;
		case 13:
			host_peer(&g, &in);
			break;
		case 14: /* let the backend run for a while */
			pump(&g, in8(&in) & 7);
			break;
		default: /* the guest dies: its connection to the hub goes away */
			if (in8(&in) & 1) {
				pvcalls_transport_close(g.t);
				g.dead = true;
			} else {
				pvc_xb_set_state(g.t, g.dev, in8(&in) % 9);
			}
			break;
		}
		pump(&g, 0);
	}
	teardown(&g);
	if (count_fds() != base) {
		fprintf(stderr, "fuzz_backend: %d fds before the input, %d after\n", base,
			count_fds());
		abort();
	}
	return 0;
}
