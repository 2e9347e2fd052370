/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the shm hub (src/transport/shm/shm_hub.c, shm_store.c,
 * shm_msg.c, the import half of shm_mem.c) as a hostile guest reaches it:
 * the rendezvous socket. Each input gets a hub of its own (an in-process
 * pair, whose guest plays a well-behaved neighbour with a watch on the
 * whole store) and one more connection, adopted by the hub, whose
 * messages the input writes byte by byte:
 *
 *   - the hello: well-formed with a real domain's four fds, or with
 *     input-chosen header fields, limits, domid, magic, version, and fds
 *     of the wrong kind or number;
 *   - store requests (read, write, rm, directory, transactions, watches)
 *     with input-chosen header fields and payload strings built from a
 *     small path vocabulary (the guest's own directory, the neighbour's,
 *     the backend's, "/") plus input bytes;
 *   - raw datagrams of any length, with or without fds;
 *   - the neighbour's own writes, so watches fire across guests.
 *
 * The hub must never crash, must answer or disconnect, must stay
 * responsive to the neighbour (a store round trip after the input), and
 * after everything is closed the process holds the fds it held before.
 *
 * Input: records of one opcode byte and its operands; missing bytes read
 * as zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

#include "transport/shm/shm_priv.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 128

#define must(c)                                                                           \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "fuzz_hub: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                          \
		}                                                                         \
	} while (0)

struct ctx {
	pvcalls_transport *hub, *nb; /* the hub and the neighbour */
	uint32_t nb_domid;
	int s;              /* our end of the hostile connection */
	struct shm_dom dom; /* the hostile guest's own domain */
	bool have_dom, gone;
	uint32_t my_domid; /* from the hello's answer, if any */
};

/* Everything the hub sent, without waiting longer than @ms for the first. */
static void drain(struct ctx *c, int ms)
{
	static uint8_t buf[SHM_MAX_MSG];

	for (;;) {
		struct pollfd p = { .fd = c->s, .events = POLLIN };
		int fds[SHM_MAX_FDS];
		unsigned nfds = 0;
		long n;

		if (c->gone || poll(&p, 1, ms) <= 0)
			return;
		ms = 0;
		n = pvc_shm_recv(c->s, buf, sizeof(buf), fds, &nfds, MSG_DONTWAIT);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			c->gone = true; /* the hub hung up on us */
			return;
		}
		if ((size_t)n >= sizeof(struct shm_msg_hdr)) {
			struct shm_msg_hdr h;

			memcpy(&h, buf, sizeof(h));
			if (h.type == SHM_MSG_HELLO_ACK &&
			    (size_t)n >= sizeof(h) + sizeof(struct shm_hello)) {
				struct shm_hello a;

				memcpy(&a, buf + sizeof(h), sizeof(a));
				c->my_domid = a.domid;
			}
		}
	}
}

/* A path from a small vocabulary, with an input-chosen tail. */
static size_t path(struct ctx *c, struct input *in, char *out, size_t cap)
{
	static const char *const tails[] = { "",
					     "/state",
					     "/a",
					     "/a/b",
					     "/device/pvcalls/0",
					     "/device/pvcalls/0/state",
					     "/x/../y",
					     "//",
					     "/control/shutdown" };
	uint8_t s = in8(in);
	int n;

	switch (s & 7) {
	case 0:
		n = snprintf(out, cap, "/local/domain/%u%s", c->my_domid, tails[(s >> 3) % 9]);
		break;
	case 1:
		n = snprintf(out, cap, "/local/domain/%u%s", c->nb_domid, tails[(s >> 3) % 9]);
		break;
	case 2:
		n = snprintf(out, cap, "/local/domain/0/backend/pvcalls/%u/0%s", c->my_domid,
			     tails[(s >> 3) % 9]);
		break;
	case 3:
		n = snprintf(out, cap, "%s", (s & 8) ? "/" : "@introduceDomain");
		break;
	case 4:
		n = snprintf(out, cap, "%s", tails[(s >> 3) % 9]); /* relative */
		break;
	default: { /* input bytes, NULs and all */
		uint8_t len = in8(in);

		if (len >= cap)
			len = (uint8_t)(cap - 1);
		for (uint8_t i = 0; i < len; i++)
			out[i] = (char)in8(in);
		out[len] = 0;
		return len;
	}
	}
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static void hello(struct ctx *c, struct input *in)
{
	struct {
		struct shm_msg_hdr hdr;
		struct shm_hello hello;
	} m;
	uint8_t f = in8(in);
	int fds[SHM_MAX_FDS];
	unsigned nfds = 4;
	size_t len = sizeof(m);

	memset(&m, 0, sizeof(m));
	if (!c->have_dom) {
		/* Small limits: the hub maps what we send. */
		must(pvc_shm_dom_create(&c->dom, 16, 64, 64, false) == 0);
		c->have_dom = true;
	}
	m.hdr.type = SHM_MSG_HELLO;
	m.hdr.len = sizeof(m.hello);
	m.hello.magic = SHM_HELLO_MAGIC;
	m.hello.version = SHM_HELLO_VERSION;
	m.hello.max_pages = 16;
	m.hello.max_grants = 64;
	m.hello.max_ports = 64;
	fds[0] = c->dom.pool_fd;
	fds[1] = c->dom.gnt_fd;
	fds[2] = c->dom.evt_fd;
	fds[3] = c->dom.efd;
	if (f & 1) { /* limits that do not match the fds */
		m.hello.max_pages = in32(in);
		m.hello.max_grants = in32(in);
		m.hello.max_ports = in32(in);
	}
	if (f & 2)
		m.hello.domid = (f & 4) ? in32(in) : c->nb_domid; /* taken */
	if (f & 8) {
		m.hello.magic ^= in8(in);
		m.hello.version = in8(in);
		m.hdr.type = in8(in) & 7;
		m.hdr.len = in8(in);
		len = in8(in) % (sizeof(m) + 1);
	}
	if (f & 16) { /* the wrong number or kind of fds */
		uint8_t k = in8(in);

		nfds = k % 5;
		if (k & 8)
			fds[k % 4] = c->dom.efd; /* an eventfd where a memfd belongs */
		if (k & 16)
			fds[(k >> 5) % 4] = c->s; /* the socket itself */
	}
	pvc_shm_send(c->s, &m, len, fds, nfds, MSG_DONTWAIT);
	drain(c, 50);
}

static void request(struct ctx *c, struct input *in)
{
	static uint8_t buf[sizeof(struct shm_msg_hdr) + 600];
	struct shm_msg_hdr h = { .type = SHM_MSG_REQ };
	uint8_t f = in8(in);
	size_t len = 0;
	char *p = (char *)buf + sizeof(h);
	size_t cap = sizeof(buf) - sizeof(h);

	h.id = in8(in);
	h.op = f & 15; /* 1..8 are ops; the rest unknown */
	h.txn = (f & 16) ? in8(in) : 0;
	h.arg = (f & 32) ? (int32_t)in32(in) : 4097;
	/* Payload: a path, a NUL, and for write/watch a value or token. */
	len = path(c, in, p, 300);
	p[len++] = 0;
	if (f & 64) {
		uint8_t vl = in8(in);

		if (vl > cap - len - 1)
			vl = (uint8_t)(cap - len - 1);
		for (uint8_t i = 0; i < vl; i++)
			p[len++] = (char)in8(in);
		if (!(f & 128))
			p[len++] = 0;
	}
	h.len = (uint32_t)len;
	memcpy(buf, &h, sizeof(h));
	pvc_shm_send(c->s, buf, sizeof(h) + len, NULL, 0, MSG_DONTWAIT);
	drain(c, 20);
}

static void raw(struct ctx *c, struct input *in)
{
	static uint8_t buf[512];
	uint16_t len = (uint16_t)(in8(in) | (in8(in) & 1) << 8);
	int fd = -1;
	bool withfd = len & 0x100;

	for (uint16_t i = 0; i < len; i++)
		buf[i] = in8(in);
	if (withfd)
		fd = eventfd(0, EFD_CLOEXEC);
	pvc_shm_send(c->s, buf, len, &fd, withfd && fd >= 0, MSG_DONTWAIT);
	if (fd >= 0)
		close(fd);
	drain(c, 20);
}

/* The neighbour: writes in its own directory (watches fire), reads. */
static void neighbour(struct ctx *c, struct input *in)
{
	char p[128], buf[PVCALLS_STORE_MAX + 1];
	uint8_t s = in8(in);

	snprintf(p, sizeof(p), "/local/domain/%u/%s", c->nb_domid, (s & 1) ? "a" : "a/b");
	if (s & 2)
		pvcalls_transport_store_write(c->nb, PVCALLS_STORE_NO_TXN, p, "v");
	else if (s & 4)
		pvcalls_transport_store_rm(c->nb, PVCALLS_STORE_NO_TXN, p);
	else
		pvcalls_transport_store_read(c->nb, PVCALLS_STORE_NO_TXN, p, buf, sizeof(buf));
	drain(c, 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvcalls_shm_opts ho = { .quota_nodes = 32,
				       .quota_bytes = 8192,
				       .quota_watches = 4,
				       .quota_txns = 2,
				       .max_pages = 64,
				       .max_grants = 64,
				       .max_ports = 64,
				       /* Held after 32 requests, let go every ms or two. */
				       .store_rate = 20000,
				       .store_burst = 32 };
	struct pvcalls_shm_opts go = {
		.max_pages = 16, .max_grants = 64, .max_ports = 64, .timeout_ms = 3000
	};
	struct input in = { data, size };
	struct ctx c;
	char buf[64];
	int sv[2], base;

	if (size > 8192)
		return 0;
	base = count_fds();
	memset(&c, 0, sizeof(c));
	must(pvcalls_shm_pair(&ho, &go, &c.hub, &c.nb) == 0);
	must(pvcalls_transport_local_domid(c.nb, &c.nb_domid) == 0);
	{
		/* Its own subtree: a guest may watch nothing wider (shm_hub.c). */
		char own[32];

		snprintf(own, sizeof(own), "/local/domain/%u", c.nb_domid);
		must(pvcalls_transport_store_watch(c.nb, own, "nb") == 0);
	}
	must(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	must(pvcalls_shm_hub_adopt(c.hub, sv[0]) == 0);
	c.s = sv[1];

	/* A well-formed hello first unless the input's first byte says no,
	 * so most inputs reach the store. */
	if (!(in8(&in) & 1)) {
		struct input ok = { (const uint8_t *)"", 1 };

		hello(&c, &ok);
	}
	for (unsigned op = 0; in.n && op < MAX_OPS && !c.gone; op++) {
		switch (in8(&in) % 8) {
		case 0:
			hello(&c, &in);
			break;
		case 1:
		case 2:
		case 3:
		case 4:
			request(&c, &in);
			break;
		case 5:
			raw(&c, &in);
			break;
		case 6:
			neighbour(&c, &in);
			break;
		default: /* hang up mid-way: the hub must clean up after us */
			if (in8(&in) & 1) {
				shutdown(c.s, SHUT_RDWR);
				drain(&c, 5);
			}
			break;
		}
	}
	close(c.s);
	/* The hub still serves the neighbour. */
	{
		char p[64];
		int rc;

		snprintf(p, sizeof(p), "/local/domain/%u/alive", c.nb_domid);
		rc = pvcalls_transport_store_write(c.nb, PVCALLS_STORE_NO_TXN, p, "1");
		if (rc != 0) {
			fprintf(stderr, "fuzz_hub: the neighbour's write failed: %d\n", rc);
			abort();
		}
		must(pvcalls_transport_store_read(c.nb, PVCALLS_STORE_NO_TXN, p, buf,
						  sizeof(buf)) >= 0);
	}
	pvcalls_transport_close(c.nb);
	pvcalls_transport_close(c.hub);
	if (c.have_dom)
		pvc_shm_dom_destroy(&c.dom);
	if (count_fds() != base) {
		fprintf(stderr, "fuzz_hub: %d fds before the input, %d after\n", base, count_fds());
		abort();
	}
	return 0;
}
