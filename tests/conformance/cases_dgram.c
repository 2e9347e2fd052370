/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets (docs/extensions.md, "Datagram sockets"): SOCKET with
 * SOCK_DGRAM, DGRAM_RINGS and the v1 commands on a datagram socket, the
 * records both ways against a host UDP socket on 127.0.0.1, the errors a
 * datagram gets in out_error, and hostile out records (each must stop the
 * socket's rings with -EPROTO and hurt nothing else). The cases accept
 * only the dgram extension and are skipped, with the reason, when the
 * backend does not offer it. Expected values are the specification's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/wire_ext.h>

#include "common/clock.h"
#include "conformance.h"

enum {
	W_EMSGSIZE = -90,
	W_EDESTADDRREQ = -89,
	W_EPROTONOSUPPORT = -93,
	W_EOPNOTSUPP = -95,
	W_ENOBUFS = -105,
};

#define LOOPBACK 0x7f000001u
#define HDR PVCALLS_EXT_DGRAM_HDR_LEN

static int32_t xcall(struct fe *fe, struct pvcalls_ext_request *r)
{
	struct pvcalls_wire_request *w = (struct pvcalls_wire_request *)r;
	struct pvcalls_wire_response rsp;
	int rc;

	if (fe_send(fe, w) < 0)
		return X_NONE;
	rc = fe_wait(fe, w->req_id, T_RSP, &rsp);
	if (rc <= 0) {
		if (rc < 0)
			tc_fail(fe->tc, "backend broke the command ring");
		return X_NONE;
	}
	if (rsp.cmd != w->cmd || (fe->xb.ext && rsp.u.id != r->u.dgram_rings.id))
		tc_fail(fe->tc, "response echoes cmd %#x id %llu, request had %#x id %llu", rsp.cmd,
			(unsigned long long)rsp.u.id, w->cmd,
			(unsigned long long)r->u.dgram_rings.id);
	if (fe->xb.ext && rsp.pad)
		tc_fail(fe->tc, "DGRAM_RINGS answered with val %u (must be 0)", rsp.pad);
	return rsp.ret;
}

static int32_t x_rings(struct fe *fe, uint64_t id, uint32_t ref, uint32_t port, uint8_t junk)
{
	struct pvcalls_ext_request r;

	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_DGRAM_RINGS;
	r.u.dgram_rings.id = id;
	r.u.dgram_rings.ref = ref;
	r.u.dgram_rings.evtchn = port;
	r.u.dummy[40] = junk; /* a reserved byte */
	return xcall(fe, &r);
}

static int32_t d_socket(struct fe *fe, uint64_t id, uint32_t domain, uint32_t proto)
{
	struct pvcalls_wire_request r;

	rq_socket(&r, id, domain, PVCALLS_EXT_SOCK_DGRAM, proto);
	return fe_call(fe, &r, T_RSP);
}

/* CONNECT of a datagram socket: address @port on 127.0.0.1, or family 0. */
static int32_t d_connect(struct fe *fe, uint64_t id, uint16_t family, uint16_t port, uint32_t ref)
{
	struct pvcalls_wire_request r;

	rq_connect(&r, id, port, ref, 0);
	if (family == 0) {
		memset(r.u.connect.addr, 0, sizeof(r.u.connect.addr));
		r.u.connect.len = 2;
	}
	return fe_call(fe, &r, T_RSP);
}

/* A host UDP socket on 127.0.0.1; its port in *port. */
static int host_udp(struct tc *tc, uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return tc_fd(tc, fd);
}

/* Waits for a datagram on @fd; its size, or -1 on timeout. */
static ssize_t host_recv(int fd, void *buf, size_t len, struct sockaddr_in *from)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	socklen_t l = sizeof(*from);

	if (poll(&p, 1, T_RSP) <= 0)
		return -1;
	return recvfrom(fd, buf, len, MSG_TRUNC, (struct sockaddr *)from, &l);
}

/* Writes one out record (len @len of byte @fill) to @family/@port. */
static int put_record(struct as *s, uint32_t len, uint32_t full_len, int32_t err, uint16_t family,
		      uint16_t port)
{
	static uint8_t rec[PVCALLS_EXT_DGRAM_RECORD_LEN(PVCALLS_EXT_DGRAM_MAX_INET6)];
	struct pvcalls_ext_dgram_hdr h;
	uint32_t n = PVCALLS_EXT_DGRAM_RECORD_LEN(len);
	ssize_t w;

	memset(&h, 0, sizeof(h));
	h.len = len;
	h.full_len = full_len;
	h.err = err;
	if (family)
		put_addr(h.addr, family, port, LOOPBACK);
	memset(rec, 0, n);
	memcpy(rec, &h, HDR);
	memset(rec + HDR, 0x5a, len);
	w = pvcalls_data_write(&s->ring, rec, n);
	as_notify(s);
	return w == (ssize_t)n ? 0 : -1;
}

/* Waits until out_cons reaches out_prod (the backend took every record). */
static bool out_drained(struct as *s)
{
	int64_t end = pvc_now_ms() + T_RSP;

	while (pvc_now_ms() < end) {
		if (RD(s->intf->out_cons) == RD(s->intf->out_prod))
			return true;
		usleep(1000);
	}
	return false;
}

/* Waits for a record in the in ring and copies it (up to @max bytes). */
static bool get_record(struct as *s, struct pvcalls_ext_dgram_hdr *h, void *buf, size_t max)
{
	int64_t end = pvc_now_ms() + T_RSP;
	uint8_t rec[8192];

	while (pvc_now_ms() < end) {
		int q = pvcalls_data_rx_queued(&s->ring);

		if (q >= (int)HDR) {
			uint32_t n;

			if (pvcalls_data_read(&s->ring, h, HDR, PVCALLS_DATA_PEEK) != HDR)
				return false;
			n = PVCALLS_EXT_DGRAM_RECORD_LEN(h->len);
			if (n > sizeof(rec) || q < (int)n)
				return false;
			pvcalls_data_read(&s->ring, rec, n, 0);
			memcpy(buf, rec + HDR, h->len < max ? h->len : max);
			as_notify(s);
			return true;
		}
		usleep(1000);
	}
	return false;
}

/* A DGRAM socket @id with rings of @order; NULL after reporting. */
static struct as *open_dgram(struct fe *fe, uint64_t id, unsigned order)
{
	struct as *s;

	if (!judge(fe->tc, "SOCKET SOCK_DGRAM", d_socket(fe, id, PVCALLS_WIRE_AF_INET, 0), 0, 0))
		return NULL;
	s = as_new(fe, id, order);
	if (!s || !judge(fe->tc, "DGRAM_RINGS", x_rings(fe, id, s->ref, s->port, 0), 0, 0))
		return NULL;
	return s;
}

/* ------------------------------------------------------------------ */

/* Without the key: v1 exactly. */
static void dgram_not_in_force(struct tc *tc)
{
	struct fe *fe = fe_open(tc);

	if (!fe)
		return;
	judge(tc, "SOCKET SOCK_DGRAM without dgram", d_socket(fe, 1, PVCALLS_WIRE_AF_INET, 0),
	      W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	judge(tc, "DGRAM_RINGS without dgram", x_rings(fe, 1, 0, 0, 0), W_ENOTSUPP, W_ENOTSUPP);
}

/* SOCKET, DGRAM_RINGS and the v1 commands on a datagram socket. */
static void dgram_commands(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_DGRAM);
	struct pvcalls_wire_request r;
	struct as *s, *t;
	uint16_t port;

	if (!fe)
		return;
	judge(tc, "SOCKET SOCK_DGRAM protocol 6", d_socket(fe, 1, PVCALLS_WIRE_AF_INET, 6),
	      W_EPROTONOSUPPORT, W_EPROTONOSUPPORT);
	if (!(fe->ext & PVCALLS_FEATURE_INET6))
		judge(tc, "SOCKET AF_INET6 SOCK_DGRAM without inet6",
		      d_socket(fe, 1, PVCALLS_EXT_AF_INET6, 0), W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	judge(tc, "SOCKET SOCK_DGRAM protocol 17",
	      d_socket(fe, 1, PVCALLS_WIRE_AF_INET, PVCALLS_EXT_IPPROTO_UDP), 0, 0);
	judge(tc, "SOCKET SOCK_DGRAM twice", d_socket(fe, 1, PVCALLS_WIRE_AF_INET, 0), W_EEXIST,
	      W_EEXIST);
	judge(tc, "SOCKET stream", do_socket(fe, 2), 0, 0);
	if (!(s = as_new(fe, 1, 0)) || !(t = as_new(fe, 2, 0)))
		return;
	judge(tc, "DGRAM_RINGS reserved byte", x_rings(fe, 1, s->ref, s->port, 1), W_EINVAL,
	      W_EINVAL);
	judge(tc, "DGRAM_RINGS unknown id", x_rings(fe, 9, s->ref, s->port, 0), W_EBADF, W_EBADF);
	judge(tc, "DGRAM_RINGS stream socket", x_rings(fe, 2, t->ref, t->port, 0), W_EOPNOTSUPP,
	      W_EOPNOTSUPP);
	if (fe->xb.max_order < PVCALLS_WIRE_MAX_RING_ORDER) {
		s->intf->ring_order = fe->xb.max_order + 1;
		judge(tc, "DGRAM_RINGS ring_order above max-page-order",
		      x_rings(fe, 1, s->ref, s->port, 0), W_EINVAL, W_EINVAL);
		s->intf->ring_order = 0;
	}
	judge(tc, "DGRAM_RINGS bad ref", x_rings(fe, 1, fe_dead_ref(fe), s->port, 0), W_EFAULT,
	      W_EFAULT);
	judge(tc, "DGRAM_RINGS", x_rings(fe, 1, s->ref, s->port, 0), 0, 0);
	judge(tc, "DGRAM_RINGS twice", x_rings(fe, 1, s->ref, s->port, 0), W_EEXIST, W_EEXIST);
	rq_listen(&r, 1, 4);
	judge(tc, "LISTEN datagram", fe_call(fe, &r, T_RSP), W_EOPNOTSUPP, W_EOPNOTSUPP);
	rq_accept(&r, 1, 3, t->ref, t->port);
	judge(tc, "ACCEPT datagram", fe_call(fe, &r, T_RSP), W_EOPNOTSUPP, W_EOPNOTSUPP);
	rq_poll(&r, 1);
	judge(tc, "POLL datagram", fe_call(fe, &r, T_RSP), W_EINVAL, W_EINVAL);
	if (host_udp(tc, &port) < 0)
		return;
	judge(tc, "CONNECT datagram with ref", d_connect(fe, 1, 2, port, 5), W_EINVAL, W_EINVAL);
	judge(tc, "CONNECT datagram", d_connect(fe, 1, 2, port, 0), 0, 0);
	judge(tc, "CONNECT datagram again (new peer)", d_connect(fe, 1, 2, port, 0), 0, 0);
	judge(tc, "CONNECT datagram AF_UNSPEC", d_connect(fe, 1, 0, 0, 0), 0, 0);
	rq_bind(&r, 1, 0);
	judge(tc, "BIND datagram", fe_call(fe, &r, T_RSP), 0, 0);
	judge(tc, "BIND datagram twice", fe_call(fe, &r, T_RSP), W_EINVAL, W_EINVAL);
	judge(tc, "RELEASE datagram", do_release(fe, 1), 0, 0);
	judge(tc, "DGRAM_RINGS after RELEASE", x_rings(fe, 1, s->ref, s->port, 0), W_EBADF,
	      W_EBADF);
}

/* SHUTDOWN on a datagram socket; DGRAM_RINGS naming a pending ACCEPT's id. */
static void dgram_shutdown_accepting(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_DGRAM | PVCALLS_FEATURE_SHUTDOWN);
	struct pvcalls_wire_request acc;
	struct pvcalls_ext_request r;
	uint16_t port;
	struct as *a;

	if (!fe || !open_dgram(fe, 1, 0))
		return;
	memset(&r, 0, sizeof(r));
	r.cmd = PVCALLS_EXT_SHUTDOWN;
	r.u.shutdown.id = 1;
	r.u.shutdown.how = PVCALLS_EXT_SHUT_RDWR;
	judge(tc, "SHUTDOWN datagram", xcall(fe, &r), W_EOPNOTSUPP, W_EOPNOTSUPP);
	if (open_listener(fe, 2, &port) < 0 || !(a = as_new(fe, 3, 0)))
		return;
	rq_accept(&acc, 2, 3, a->ref, a->port);
	if (fe_send(fe, &acc) < 0)
		return;
	judge(tc, "DGRAM_RINGS on an ACCEPTING id", x_rings(fe, 3, a->ref, a->port, 0), W_EBADF,
	      W_EBADF);
}

/* Records both ways, the source address, boundaries, and the cut. */
static void dgram_records(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_DGRAM);
	struct pvcalls_ext_dgram_hdr h;
	struct pvcalls_ext_sockaddr_in src;
	struct sockaddr_in from, me;
	socklen_t ml = sizeof(me);
	uint8_t buf[8192];
	uint16_t port;
	struct as *s;
	int hfd;

	if (!fe || (hfd = host_udp(tc, &port)) < 0 || !(s = open_dgram(fe, 1, 0)))
		return;
	/* Out: two records in one index move, each one datagram. */
	if (put_record(s, 5, 5, 0, 2, port) < 0 || put_record(s, 0, 0, 0, 2, port) < 0) {
		tc_fail(tc, "out ring full");
		return;
	}
	judge(tc, "first datagram size", (int32_t)host_recv(hfd, buf, sizeof(buf), &from), 5, 5);
	judge(tc, "second (empty) datagram size", (int32_t)host_recv(hfd, buf, sizeof(buf), &from),
	      0, 0);
	judge(tc, "out_error after good records", RD(s->intf->out_error), 0, 0);
	/* In: the source address is the host socket's. */
	if (sendto(hfd, "abcdefghi", 9, 0, (struct sockaddr *)&from, sizeof(from)) != 9) {
		tc_fail(tc, "sendto: %s", strerror(errno));
		return;
	}
	REQUIRE(tc, get_record(s, &h, buf, sizeof(buf)), "no in record");
	judge(tc, "in record len", (int32_t)h.len, 9, 9);
	judge(tc, "in record full_len", (int32_t)h.full_len, 9, 9);
	judge(tc, "in record err", h.err, 0, 0);
	memcpy(&src, h.addr, sizeof(src));
	REQUIRE(tc,
		src.family == PVCALLS_WIRE_AF_INET && ntohs(src.port) == port &&
			ntohl(src.addr) == LOOPBACK,
		"in record source is not 127.0.0.1:%u", port);
	REQUIRE(tc, !memcmp(buf, "abcdefghi", 9), "payload differs");
	REQUIRE(tc, RD(s->intf->in_prod) % 8 == 0, "in_prod not a multiple of 8");
	/* Cut: order 0 carries 2,008 bytes; the record fills the ring. */
	memset(buf, 0x33, 3000);
	(void)getsockname(hfd, (struct sockaddr *)&me, &ml);
	if (sendto(hfd, buf, 3000, 0, (struct sockaddr *)&from, sizeof(from)) != 3000) {
		tc_fail(tc, "sendto: %s", strerror(errno));
		return;
	}
	REQUIRE(tc, get_record(s, &h, buf, sizeof(buf)), "no cut record");
	judge(tc, "cut record len", (int32_t)h.len, 2008, 2008);
	judge(tc, "cut record full_len", (int32_t)h.full_len, 3000, 3000);
}

/* What fails a datagram (out_error), and a success clearing it. */
static void dgram_out_errors(struct tc *tc)
{
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_DGRAM);
	struct sockaddr_in from;
	uint8_t buf[64];
	uint16_t port, closed;
	unsigned order;
	struct as *s;
	int hfd, c;

	if (!fe || (hfd = host_udp(tc, &port)) < 0)
		return;
	order = fe->xb.max_order < 6 ? fe->xb.max_order : 6;
	if (!(s = open_dgram(fe, 1, order)))
		return;
	put_record(s, 4, 4, 0, PVCALLS_EXT_AF_INET6, port);
	REQUIRE(tc, out_drained(s), "record with family 10 not consumed");
	judge(tc, "out_error, family 10", RD(s->intf->out_error), W_EAFNOSUPPORT, W_EAFNOSUPPORT);
	put_record(s, 4, 4, 0, 0, 0);
	REQUIRE(tc, out_drained(s), "family-0 record not consumed");
	judge(tc, "out_error, family 0 unconnected", RD(s->intf->out_error), W_EDESTADDRREQ,
	      W_EDESTADDRREQ);
	if (PVCALLS_EXT_DGRAM_RECORD_LEN(65508u) <= (1u << (order + 11))) {
		put_record(s, 65508, 65508, 0, 2, port);
		REQUIRE(tc, out_drained(s), "oversized record not consumed");
		judge(tc, "out_error, 65,508 bytes over AF_INET", RD(s->intf->out_error),
		      W_EMSGSIZE, W_EMSGSIZE);
	}
	put_record(s, 3, 3, 0, 2, port);
	judge(tc, "datagram after errors", (int32_t)host_recv(hfd, buf, sizeof(buf), &from), 3, 3);
	REQUIRE(tc, out_drained(s), "record not consumed");
	judge(tc, "out_error cleared by a success", RD(s->intf->out_error), 0, 0);
	/* Connected to a closed port: ICMP comes back as an error. */
	c = host_udp(tc, &closed);
	tc_close_fd(tc, c);
	judge(tc, "CONNECT closed port", d_connect(fe, 1, 2, closed, 0), 0, 0);
	{
		struct pvcalls_ext_dgram_hdr h;
		int32_t seen = 0;
		int64_t end = pvc_now_ms() + T_RSP;

		put_record(s, 4, 4, 0, 0, 0);
		while (!seen && pvc_now_ms() < end) {
			if (pvcalls_data_rx_queued(&s->ring) >= (int)HDR &&
			    get_record(s, &h, buf, sizeof(buf)))
				seen = h.err;
			else if (RD(s->intf->out_error))
				seen = RD(s->intf->out_error);
			else if (put_record(s, 4, 4, 0, 0, 0) == 0)
				usleep(20000);
		}
		judge(tc, "error record or out_error after ICMP", seen, W_ECONNREFUSED,
		      W_ECONNREFUSED);
	}
}

/* Hostile out records: each stops that socket's rings, nothing else. */
static void dgram_hostile(struct tc *tc)
{
	static const struct {
		const char *what;
		uint32_t raw; /* bytes to write raw (0: a record) */
		uint32_t len, full_len;
		int32_t err;
		uint32_t cut; /* publish only this much of the record */
	} bad[] = {
		{ "out_prod not a multiple of 8", 4, 0, 0, 0, 0 },
		{ "fewer than 40 bytes queued", 16, 0, 0, 0, 0 },
		{ "len above 65,527", 0, 65528, 65528, 0, 0 },
		{ "full_len != len", 0, 8, 9, 0, 0 },
		{ "err != 0", 0, 0, 0, -5, 0 },
		{ "record past out_prod", 0, 100, 100, 0, 80 },
	};
	struct fe *fe = fe_open_ext(tc, PVCALLS_FEATURE_DGRAM);
	struct sockaddr_in from;
	uint8_t buf[256];
	uint16_t port;
	int hfd;

	if (!fe || (hfd = host_udp(tc, &port)) < 0)
		return;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pvcalls_ext_dgram_hdr h;
		struct as *s = open_dgram(fe, 10 + i, 0);
		int64_t end = pvc_now_ms() + T_RSP;
		char what[96];

		if (!s)
			return;
		memset(buf, 0, sizeof(buf));
		memset(&h, 0, sizeof(h));
		h.len = bad[i].len;
		h.full_len = bad[i].full_len;
		h.err = bad[i].err;
		put_addr(h.addr, 2, port, LOOPBACK);
		memcpy(buf, &h, HDR);
		pvcalls_data_write(&s->ring, buf,
				   bad[i].raw   ? bad[i].raw
				   : bad[i].cut ? bad[i].cut
						: PVCALLS_EXT_DGRAM_RECORD_LEN(
							  bad[i].len < 200 ? bad[i].len : 0));
		as_notify(s);
		while (RD(s->intf->in_error) == 0 && pvc_now_ms() < end)
			usleep(1000);
		snprintf(what, sizeof(what), "in_error, %s", bad[i].what);
		judge(tc, what, RD(s->intf->in_error), W_EPROTO, W_EPROTO);
		snprintf(what, sizeof(what), "out_error, %s", bad[i].what);
		judge(tc, what, RD(s->intf->out_error), W_EPROTO, W_EPROTO);
	}
	/* Indexes not multiples of 8 when the rings are handed over (a ring
	 * used for a stream before): records could not start on 8. */
	for (unsigned i = 0; i < 2; i++) {
		static const char *const what[2] = { "in_prod 3 at DGRAM_RINGS",
						     "out_cons 5 at DGRAM_RINGS" };
		struct as *s;
		int64_t end = pvc_now_ms() + T_RSP;
		char w[96];

		if (!judge(tc, "SOCKET SOCK_DGRAM", d_socket(fe, 20 + i, PVCALLS_WIRE_AF_INET, 0),
			   0, 0) ||
		    !(s = as_new(fe, 20 + i, 0)))
			return;
		if (i == 0)
			__atomic_store_n(&s->intf->in_prod, 3, __ATOMIC_RELEASE);
		else
			__atomic_store_n(&s->intf->out_cons, 5, __ATOMIC_RELEASE);
		judge(tc, "DGRAM_RINGS answers", x_rings(fe, 20 + i, s->ref, s->port, 0), 0, 0);
		while (RD(s->intf->in_error) == 0 && pvc_now_ms() < end)
			usleep(1000);
		snprintf(w, sizeof(w), "in_error, %s", what[i]);
		judge(tc, w, RD(s->intf->in_error), W_EPROTO, W_EPROTO);
	}
	/* The frontend and its other sockets carry on. */
	{
		struct as *s = open_dgram(fe, 1, 0);

		if (!s)
			return;
		put_record(s, 2, 2, 0, 2, port);
		judge(tc, "a good socket after hostile ones",
		      (int32_t)host_recv(hfd, buf, sizeof(buf), &from), 2, 2);
		judge(tc, "RELEASE a stopped socket", do_release(fe, 10), 0, 0);
	}
}

const struct case_def cases_dgram[] = {
	{ "dgram.not_in_force", dgram_not_in_force },
	{ "dgram.commands", dgram_commands },
	{ "dgram.shutdown_accepting", dgram_shutdown_accepting },
	{ "dgram.records", dgram_records },
	{ "dgram.out_errors", dgram_out_errors },
	{ "dgram.hostile", dgram_hostile },
	{ NULL, NULL },
};
