/* SPDX-License-Identifier: MIT */
/* Tests for src/proto: builders, request/response checks, errno mapping. */
#include <pvcalls/proto.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errno_table.h"

#define JUNK 0xa5

/* Native-order reads at absolute offsets, independent of the struct names. */
static uint32_t rd32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)p + off, 4);
	return v;
}

static uint64_t rd64(const void *p, size_t off)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)p + off, 8);
	return v;
}

static uint16_t rd16(const void *p, size_t off)
{
	uint16_t v;

	memcpy(&v, (const uint8_t *)p + off, 2);
	return v;
}

static void wr(void *p, size_t off, size_t size, uint64_t val)
{
	uint8_t *b = (uint8_t *)p + off;

	switch (size) {
	case 1: {
		uint8_t v = (uint8_t)val;
		memcpy(b, &v, 1);
		break;
	}
	case 2: {
		uint16_t v = (uint16_t)val;
		memcpy(b, &v, 2);
		break;
	}
	case 4: {
		uint32_t v = (uint32_t)val;
		memcpy(b, &v, 4);
		break;
	}
	case 8:
		memcpy(b, &val, 8);
		break;
	default:
		ck_abort_msg("bad patch size %zu", size);
	}
}

/* Asserts bytes [from, to) of p are zero. */
static void assert_zero(const void *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		ck_assert_msg(((const uint8_t *)p)[i] == 0, "byte %zu is 0x%02x, not 0", i,
			      ((const uint8_t *)p)[i]);
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0xff, sizeof(sin)); /* garbage in sin_zero must not leak */
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

/* ---- builders ------------------------------------------------------------ */

START_TEST(build_socket)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	ck_assert_int_eq(pvcalls_req_socket(&r, 7, 0x1122334455667788ull, AF_INET, SOCK_STREAM, 0),
			 0);
	ck_assert_uint_eq(rd32(&r, 0), 7);
	ck_assert_uint_eq(rd32(&r, 4), 0);
	ck_assert_uint_eq(rd64(&r, 8), 0x1122334455667788ull);
	ck_assert_uint_eq(rd32(&r, 16), 2);
	ck_assert_uint_eq(rd32(&r, 20), 1);
	ck_assert_uint_eq(rd32(&r, 24), 0);
	assert_zero(&r, 28, 64);

	memset(&r, JUNK, sizeof(r));
	ck_assert_int_eq(pvcalls_req_socket(&r, 1, 2, AF_INET, SOCK_STREAM, IPPROTO_TCP), 0);
	ck_assert_uint_eq(rd32(&r, 24), 0); /* IPPROTO_TCP goes out as 0 */
}
END_TEST

static const struct {
	int domain, type, protocol, expect;
} socket_bad[] = {
	{ AF_INET6, SOCK_STREAM, 0, -EAFNOSUPPORT },
	{ AF_UNIX, SOCK_STREAM, 0, -EAFNOSUPPORT },
	{ 0, SOCK_STREAM, 0, -EAFNOSUPPORT },
	{ AF_INET, SOCK_DGRAM, 0, -ESOCKTNOSUPPORT },
	{ AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, -ESOCKTNOSUPPORT },
	{ AF_INET, SOCK_RAW, 0, -ESOCKTNOSUPPORT },
	{ AF_INET, SOCK_STREAM, IPPROTO_UDP, -EPROTONOSUPPORT },
	{ AF_INET, SOCK_STREAM, -1, -EPROTONOSUPPORT },
};

START_TEST(build_socket_bad)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	ck_assert_int_eq(pvcalls_req_socket(&r, 1, 2, socket_bad[_i].domain, socket_bad[_i].type,
					    socket_bad[_i].protocol),
			 socket_bad[_i].expect);
	assert_zero(&r, 0, 64);
}
END_TEST

static void check_addr_bytes(const struct pvcalls_wire_request *r)
{
	static const uint8_t ip[4] = { 192, 0, 2, 1 };
	const uint8_t *a = (const uint8_t *)r + 16;

	ck_assert_uint_eq(rd16(a, 0), 2); /* family, page byte order */
	ck_assert_uint_eq(a[2], 0x1f);    /* port 8080, network order */
	ck_assert_uint_eq(a[3], 0x90);
	ck_assert_mem_eq(a + 4, ip, 4);
	assert_zero(a, 8, 28);              /* sin_zero and the tail */
	ck_assert_uint_eq(rd32(r, 44), 16); /* len */
}

START_TEST(build_connect)
{
	struct pvcalls_wire_request r;
	struct sockaddr_in sin = sin_of("192.0.2.1", 8080);

	memset(&r, JUNK, sizeof(r));
	ck_assert_int_eq(pvcalls_req_connect(&r, 31, 0xdeadbeefcafef00dull, (struct sockaddr *)&sin,
					     sizeof(sin), 0x1234, 0x56),
			 0);
	ck_assert_uint_eq(rd32(&r, 0), 31);
	ck_assert_uint_eq(rd32(&r, 4), 1);
	ck_assert_uint_eq(rd64(&r, 8), 0xdeadbeefcafef00dull);
	check_addr_bytes(&r);
	ck_assert_uint_eq(rd32(&r, 48), 0); /* flags */
	ck_assert_uint_eq(rd32(&r, 52), 0x1234);
	ck_assert_uint_eq(rd32(&r, 56), 0x56);
	assert_zero(&r, 60, 64);
}
END_TEST

START_TEST(build_connect_storage)
{
	struct pvcalls_wire_request r;
	struct sockaddr_storage ss;
	struct sockaddr_in sin = sin_of("192.0.2.1", 8080);

	memset(&ss, 0xee, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));
	ck_assert_int_eq(pvcalls_req_connect(&r, 0, 0, (struct sockaddr *)&ss, sizeof(ss), 0, 0),
			 0);
	check_addr_bytes(&r);
}
END_TEST

START_TEST(build_bind)
{
	struct pvcalls_wire_request r;
	struct sockaddr_in sin = sin_of("192.0.2.1", 8080);

	memset(&r, JUNK, sizeof(r));
	ck_assert_int_eq(pvcalls_req_bind(&r, 3, 99, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_uint_eq(rd32(&r, 0), 3);
	ck_assert_uint_eq(rd32(&r, 4), 3);
	ck_assert_uint_eq(rd64(&r, 8), 99);
	check_addr_bytes(&r);
	assert_zero(&r, 48, 64);
}
END_TEST

/* Bad addresses, for CONNECT (even _i) and BIND (odd _i). */
static const struct {
	int family;
	socklen_t len;
	int null;
	int expect;
} addr_bad[] = {
	{ AF_INET, 0, 1, -EINVAL },         { AF_INET, 16, 1, -EINVAL },
	{ AF_INET, 0, 0, -EINVAL },         { AF_INET, 2, 0, -EINVAL },
	{ AF_INET, 15, 0, -EINVAL },        { AF_INET6, 28, 0, -EAFNOSUPPORT },
	{ AF_UNIX, 110, 0, -EAFNOSUPPORT }, { AF_UNSPEC, 16, 0, -EAFNOSUPPORT },
	{ AF_INET6, 8, 0, -EINVAL }, /* length is checked first */
};
#define N_ADDR_BAD (sizeof(addr_bad) / sizeof(addr_bad[0]))

START_TEST(build_addr_bad)
{
	struct pvcalls_wire_request r;
	struct sockaddr_storage ss;
	const int i = _i / 2;
	const struct sockaddr *sa = addr_bad[i].null ? NULL : (struct sockaddr *)&ss;
	int err;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)addr_bad[i].family;
	memset(&r, JUNK, sizeof(r));
	if (_i % 2)
		err = pvcalls_req_bind(&r, 1, 2, sa, addr_bad[i].len);
	else
		err = pvcalls_req_connect(&r, 1, 2, sa, addr_bad[i].len, 3, 4);
	ck_assert_int_eq(err, addr_bad[i].expect);
	assert_zero(&r, 0, 64);
}
END_TEST

START_TEST(build_release)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	pvcalls_req_release(&r, 9, 0xffffffffffffffffull);
	ck_assert_uint_eq(rd32(&r, 0), 9);
	ck_assert_uint_eq(rd32(&r, 4), 2);
	ck_assert_uint_eq(rd64(&r, 8), 0xffffffffffffffffull);
	assert_zero(&r, 16, 64); /* reuse and everything after */
}
END_TEST

static const struct {
	int backlog;
	uint32_t wire;
} listen_cases[] = {
	{ 0, 0 },           { 1, 1 },
	{ 128, 128 },       { INT_MAX, 0x7fffffff },
	{ -1, 0x7fffffff }, { INT_MIN, 0x7fffffff },
};

START_TEST(build_listen)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	pvcalls_req_listen(&r, 4, 5, listen_cases[_i].backlog);
	ck_assert_uint_eq(rd32(&r, 0), 4);
	ck_assert_uint_eq(rd32(&r, 4), 4);
	ck_assert_uint_eq(rd64(&r, 8), 5);
	ck_assert_uint_eq(rd32(&r, 16), listen_cases[_i].wire);
	assert_zero(&r, 20, 64);
}
END_TEST

START_TEST(build_accept)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	pvcalls_req_accept(&r, 30, 0x0102030405060708ull, 0x1112131415161718ull, 0xabcd, 0x77);
	ck_assert_uint_eq(rd32(&r, 0), 30);
	ck_assert_uint_eq(rd32(&r, 4), 5);
	ck_assert_uint_eq(rd64(&r, 8), 0x0102030405060708ull);
	ck_assert_uint_eq(rd64(&r, 16), 0x1112131415161718ull);
	ck_assert_uint_eq(rd32(&r, 24), 0xabcd);
	ck_assert_uint_eq(rd32(&r, 28), 0x77);
	assert_zero(&r, 32, 64);
}
END_TEST

START_TEST(build_poll)
{
	struct pvcalls_wire_request r;

	memset(&r, JUNK, sizeof(r));
	pvcalls_req_poll(&r, 0xffffffffu, 42);
	ck_assert_uint_eq(rd32(&r, 0), 0xffffffffu);
	ck_assert_uint_eq(rd32(&r, 4), 6);
	ck_assert_uint_eq(rd64(&r, 8), 42);
	assert_zero(&r, 16, 64);
}
END_TEST

/* ---- request parsing ----------------------------------------------------- */

/* A valid request of each command, built from raw bytes. */
static void base_request(struct pvcalls_wire_request *r, uint32_t cmd)
{
	memset(r, 0, sizeof(*r));
	wr(r, 0, 4, 17);
	wr(r, 4, 4, cmd);
	wr(r, 8, 8, 0x0a0b0c0d01020304ull);
	switch (cmd) {
	case PVCALLS_WIRE_SOCKET:
		wr(r, 16, 4, 2);
		wr(r, 20, 4, 1);
		break;
	case PVCALLS_WIRE_CONNECT:
	case PVCALLS_WIRE_BIND:
		wr(r, 16, 2, 2);
		wr(r, 18, 2, htons(80));
		wr(r, 20, 4, htonl(0x7f000001));
		wr(r, 44, 4, 16);
		if (cmd == PVCALLS_WIRE_CONNECT) {
			wr(r, 52, 4, 8);
			wr(r, 56, 4, 9);
		}
		break;
	case PVCALLS_WIRE_LISTEN:
		wr(r, 16, 4, 10);
		break;
	case PVCALLS_WIRE_ACCEPT:
		wr(r, 16, 8, 0x99);
		wr(r, 24, 4, 8);
		wr(r, 28, 4, 9);
		break;
	default:
		break;
	}
}

struct patch {
	uint8_t off, size;
	uint64_t val;
};

static const struct parse_case {
	const char *name;
	uint32_t cmd;
	struct patch p[4];
	int expect;
} parse_cases[] = {
	{ "socket", PVCALLS_WIRE_SOCKET, { { 0 } }, 0 },
	{ "socket protocol 2 (Linux)", PVCALLS_WIRE_SOCKET, { { 24, 4, 2 } }, 0 },
	{ "socket pad junk", PVCALLS_WIRE_SOCKET, { { 28, 4, ~0ull }, { 40, 8, ~0ull } }, 0 },
	{ "socket domain 10", PVCALLS_WIRE_SOCKET, { { 16, 4, 10 } }, -EAFNOSUPPORT },
	{ "socket domain 0", PVCALLS_WIRE_SOCKET, { { 16, 4, 0 } }, -EAFNOSUPPORT },
	{ "socket domain swapped", PVCALLS_WIRE_SOCKET, { { 16, 4, 0x02000000 } }, -EAFNOSUPPORT },
	{ "socket type dgram", PVCALLS_WIRE_SOCKET, { { 20, 4, 2 } }, -EAFNOSUPPORT },
	{ "socket type nonblock", PVCALLS_WIRE_SOCKET, { { 20, 4, 0x801 } }, -EAFNOSUPPORT },
	{ "socket protocol tcp", PVCALLS_WIRE_SOCKET, { { 24, 4, 6 } }, -EAFNOSUPPORT },
	{ "socket protocol 1", PVCALLS_WIRE_SOCKET, { { 24, 4, 1 } }, -EAFNOSUPPORT },
	{ "socket protocol max", PVCALLS_WIRE_SOCKET, { { 24, 4, ~0u } }, -EAFNOSUPPORT },
	{ "connect", PVCALLS_WIRE_CONNECT, { { 0 } }, 0 },
	{ "connect len 28", PVCALLS_WIRE_CONNECT, { { 44, 4, 28 } }, 0 },
	{ "connect len 2", PVCALLS_WIRE_CONNECT, { { 44, 4, 2 } }, -EINVAL },
	{ "connect len 15", PVCALLS_WIRE_CONNECT, { { 44, 4, 15 } }, -EINVAL },
	{ "connect len 0", PVCALLS_WIRE_CONNECT, { { 44, 4, 0 } }, -EINVAL },
	{ "connect len 29", PVCALLS_WIRE_CONNECT, { { 44, 4, 29 } }, -EINVAL },
	{ "connect len max", PVCALLS_WIRE_CONNECT, { { 44, 4, ~0u } }, -EINVAL },
	{ "connect family 10",
	  PVCALLS_WIRE_CONNECT,
	  { { 16, 2, 10 }, { 44, 4, 28 } },
	  -EAFNOSUPPORT },
	{ "connect family 0", PVCALLS_WIRE_CONNECT, { { 16, 2, 0 } }, -EAFNOSUPPORT },
	{ "connect family 1", PVCALLS_WIRE_CONNECT, { { 16, 2, 1 } }, -EAFNOSUPPORT },
	{ "connect family swapped", PVCALLS_WIRE_CONNECT, { { 16, 2, 0x0200 } }, -EAFNOSUPPORT },
	{ "connect len before family",
	  PVCALLS_WIRE_CONNECT,
	  { { 16, 2, 10 }, { 44, 4, 3 } },
	  -EINVAL },
	{ "connect tail junk", PVCALLS_WIRE_CONNECT, { { 24, 8, ~0ull }, { 36, 8, ~0ull } }, 0 },
	{ "connect flags and pad", PVCALLS_WIRE_CONNECT, { { 48, 4, 0x802 }, { 60, 4, ~0u } }, 0 },
	{ "bind", PVCALLS_WIRE_BIND, { { 0 } }, 0 },
	{ "bind len 28", PVCALLS_WIRE_BIND, { { 44, 4, 28 } }, 0 },
	{ "bind len 15", PVCALLS_WIRE_BIND, { { 44, 4, 15 } }, -EINVAL },
	{ "bind len 29", PVCALLS_WIRE_BIND, { { 44, 4, 29 } }, -EINVAL },
	{ "bind len 1<<31", PVCALLS_WIRE_BIND, { { 44, 4, 0x80000000u } }, -EINVAL },
	{ "bind family 10", PVCALLS_WIRE_BIND, { { 16, 2, 10 } }, -EAFNOSUPPORT },
	{ "bind beyond junk", PVCALLS_WIRE_BIND, { { 48, 8, ~0ull }, { 56, 8, ~0ull } }, 0 },
	{ "release", PVCALLS_WIRE_RELEASE, { { 0 } }, 0 },
	{ "release reuse junk", PVCALLS_WIRE_RELEASE, { { 16, 1, 0xab }, { 17, 4, ~0u } }, 0 },
	{ "listen", PVCALLS_WIRE_LISTEN, { { 0 } }, 0 },
	{ "listen huge", PVCALLS_WIRE_LISTEN, { { 16, 4, ~0u } }, 0 },
	{ "accept", PVCALLS_WIRE_ACCEPT, { { 0 } }, 0 },
	{ "accept same ids", PVCALLS_WIRE_ACCEPT, { { 16, 8, 0x0a0b0c0d01020304ull } }, 0 },
	{ "poll", PVCALLS_WIRE_POLL, { { 0 } }, 0 },
	{ "poll junk", PVCALLS_WIRE_POLL, { { 16, 8, ~0ull }, { 56, 8, ~0ull } }, 0 },
	{ "cmd 7", 7, { { 0 } }, -PVCALLS_WIRE_ENOTSUPP },
	{ "cmd 8", 8, { { 0 } }, -PVCALLS_WIRE_ENOTSUPP },
	{ "cmd 1<<31", 0x80000000u, { { 0 } }, -PVCALLS_WIRE_ENOTSUPP },
	{ "cmd max", 0xffffffffu, { { 0 } }, -PVCALLS_WIRE_ENOTSUPP },
};
#define N_PARSE (sizeof(parse_cases) / sizeof(parse_cases[0]))

START_TEST(parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	struct pvcalls_wire_request r;
	struct pvcalls_req out;
	struct pvcalls_req zero_u;
	int err;

	base_request(&r, c->cmd);
	for (int k = 0; k < 4 && c->p[k].size; k++)
		wr(&r, c->p[k].off, c->p[k].size, c->p[k].val);
	memset(&out, JUNK, sizeof(out));
	err = pvcalls_req_parse(&r, &out);
	ck_assert_msg(err == c->expect, "%s: got %d, expected %d", c->name, err, c->expect);
	ck_assert_int_eq(pvcalls_req_parse(&r, NULL), c->expect);
	ck_assert_uint_eq(out.req_id, 17);
	ck_assert_uint_eq(out.cmd, c->cmd);
	ck_assert_uint_eq(out.id, rd64(&r, 8));
	if (err) {
		memset(&zero_u, 0, sizeof(zero_u));
		ck_assert_mem_eq(&out.u, &zero_u.u, sizeof(out.u));
	}
}
END_TEST

START_TEST(parse_connect_fields)
{
	struct pvcalls_wire_request r;
	struct pvcalls_req out;

	base_request(&r, PVCALLS_WIRE_CONNECT);
	wr(&r, 24, 8, ~0ull); /* garbage where sin_zero is */
	wr(&r, 48, 4, 0x800);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_int_eq(out.u.connect.addr.sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(out.u.connect.addr.sin_port), 80);
	ck_assert_uint_eq(ntohl(out.u.connect.addr.sin_addr.s_addr), 0x7f000001);
	assert_zero(out.u.connect.addr.sin_zero, 0, sizeof(out.u.connect.addr.sin_zero));
	ck_assert_uint_eq(out.u.connect.ref, 8);
	ck_assert_uint_eq(out.u.connect.evtchn, 9);
	ck_assert_uint_eq(out.u.connect.flags, 0x800);
}
END_TEST

START_TEST(parse_bind_fields)
{
	struct pvcalls_wire_request r;
	struct pvcalls_req out;

	base_request(&r, PVCALLS_WIRE_BIND);
	wr(&r, 18, 2, htons(65535));
	wr(&r, 20, 4, htonl(0xc0000201));
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_int_eq(out.u.bind.addr.sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(out.u.bind.addr.sin_port), 65535);
	ck_assert_uint_eq(ntohl(out.u.bind.addr.sin_addr.s_addr), 0xc0000201);
}
END_TEST

static const struct {
	uint32_t wire;
	int backlog;
} backlog_cases[] = {
	{ 0, 0 }, { 5, 5 }, { 0x7fffffff, INT_MAX }, { 0x80000000u, INT_MAX }, { ~0u, INT_MAX },
};

START_TEST(parse_listen_backlog)
{
	struct pvcalls_wire_request r;
	struct pvcalls_req out;

	base_request(&r, PVCALLS_WIRE_LISTEN);
	wr(&r, 16, 4, backlog_cases[_i].wire);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_int_eq(out.u.listen.backlog, backlog_cases[_i].backlog);
}
END_TEST

START_TEST(parse_accept_fields)
{
	struct pvcalls_wire_request r;
	struct pvcalls_req out;

	pvcalls_req_accept(&r, 1, 2, 0xfedcba9876543210ull, 0x11, 0x22);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_uint_eq(out.cmd, PVCALLS_WIRE_ACCEPT);
	ck_assert_uint_eq(out.id, 2);
	ck_assert_uint_eq(out.u.accept.id_new, 0xfedcba9876543210ull);
	ck_assert_uint_eq(out.u.accept.ref, 0x11);
	ck_assert_uint_eq(out.u.accept.evtchn, 0x22);
}
END_TEST

/* Whatever the builders produce, the parser accepts with the same values. */
START_TEST(build_parse_roundtrip)
{
	struct pvcalls_wire_request r;
	struct pvcalls_req out;
	struct sockaddr_in sin = sin_of("203.0.113.77", 443);

	ck_assert_int_eq(pvcalls_req_socket(&r, 1, 100, AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_uint_eq(out.id, 100);

	ck_assert_int_eq(
		pvcalls_req_connect(&r, 2, 101, (struct sockaddr *)&sin, sizeof(sin), 5, 6), 0);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_uint_eq(out.u.connect.addr.sin_port, sin.sin_port);
	ck_assert_uint_eq(out.u.connect.addr.sin_addr.s_addr, sin.sin_addr.s_addr);
	ck_assert_uint_eq(out.u.connect.ref, 5);
	ck_assert_uint_eq(out.u.connect.evtchn, 6);

	ck_assert_int_eq(pvcalls_req_bind(&r, 3, 102, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_uint_eq(out.u.bind.addr.sin_port, sin.sin_port);
	ck_assert_uint_eq(out.u.bind.addr.sin_addr.s_addr, sin.sin_addr.s_addr);

	pvcalls_req_listen(&r, 4, 103, -1);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_int_eq(out.u.listen.backlog, INT32_MAX);

	pvcalls_req_release(&r, 5, 104);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	pvcalls_req_poll(&r, 6, 105);
	ck_assert_int_eq(pvcalls_req_parse(&r, &out), 0);
	ck_assert_uint_eq(out.cmd, PVCALLS_WIRE_POLL);
}
END_TEST

START_TEST(addr_decode_direct)
{
	uint8_t field[PVCALLS_WIRE_ADDR_LEN];
	struct sockaddr_in sin = sin_of("10.1.2.3", 1), out;
	uint32_t len = 99;

	memset(field, JUNK, sizeof(field));
	ck_assert_int_eq(pvcalls_addr_encode(field, &len, NULL, 16), -EINVAL);
	ck_assert_uint_eq(len, 0);
	assert_zero(field, 0, sizeof(field));
	ck_assert_int_eq(pvcalls_addr_encode(field, &len, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_uint_eq(len, 16);
	memset(&out, JUNK, sizeof(out));
	ck_assert_int_eq(pvcalls_addr_decode(field, len, &out), 0);
	ck_assert_uint_eq(out.sin_port, sin.sin_port);
	ck_assert_uint_eq(out.sin_addr.s_addr, sin.sin_addr.s_addr);
	memset(&out, JUNK, sizeof(out));
	ck_assert_int_eq(pvcalls_addr_decode(field, 29, &out), -EINVAL);
	assert_zero(&out, 0, sizeof(out));
	field[0] ^= 0xff;
	memset(&out, JUNK, sizeof(out));
	ck_assert_int_eq(pvcalls_addr_decode(field, 16, &out), -EAFNOSUPPORT);
	assert_zero(&out, 0, sizeof(out));
}
END_TEST

/* ---- responses ----------------------------------------------------------- */

START_TEST(rsp_build_echo)
{
	struct pvcalls_wire_request r;
	struct pvcalls_wire_response rsp;

	pvcalls_req_accept(&r, 29, 0x8877665544332211ull, 5, 6, 7);
	memset(&rsp, JUNK, sizeof(rsp));
	pvcalls_rsp_build(&rsp, &r, -ECONNREFUSED);
	ck_assert_uint_eq(rd32(&rsp, 0), 29);
	ck_assert_uint_eq(rd32(&rsp, 4), PVCALLS_WIRE_ACCEPT);
	ck_assert_int_eq((int32_t)rd32(&rsp, 8), -111);
	ck_assert_uint_eq(rd32(&rsp, 12), 0);
	ck_assert_uint_eq(rd64(&rsp, 16), 0x8877665544332211ull); /* the listener */

	pvcalls_rsp_build(&rsp, &r, 0);
	ck_assert_int_eq((int32_t)rd32(&rsp, 8), 0);
	pvcalls_rsp_build(&rsp, &r, -EOPNOTSUPP);
	ck_assert_int_eq((int32_t)rd32(&rsp, 8), -95);
}
END_TEST

START_TEST(rsp_build_unknown_cmd)
{
	struct pvcalls_wire_request r;
	struct pvcalls_wire_response rsp;
	int err;

	base_request(&r, 0x1234);
	err = pvcalls_req_parse(&r, NULL);
	ck_assert_int_eq(err, -524);
	memset(&rsp, JUNK, sizeof(rsp));
	pvcalls_rsp_build(&rsp, &r, err);
	ck_assert_uint_eq(rsp.req_id, 17);
	ck_assert_uint_eq(rsp.cmd, 0x1234);
	ck_assert_int_eq(rsp.ret, -524);
	ck_assert_uint_eq(rsp.pad, 0);
	ck_assert_uint_eq(rsp.u.id, 0x0a0b0c0d01020304ull);
}
END_TEST

static const struct {
	uint32_t cmd;
	int32_t ret;
	int expect; /* of pvcalls_rsp_parse */
	int err;    /* out->err when expect == 0 */
} rsp_cases[] = {
	{ 0, 0, 0, 0 },
	{ 1, -111, 0, -ECONNREFUSED },
	{ 2, 0, 0, 0 },
	{ 3, -98, 0, -EADDRINUSE },
	{ 4, -22, 0, -EINVAL },
	{ 5, -4, 0, -EINTR },
	{ 6, 0, 0, 0 },
	{ 1, -524, 0, -EOPNOTSUPP },
	{ 1, -1, 0, -EPERM },
	{ 1, -4095, 0, -EIO },
	{ 1, -3000, 0, -EIO },
	{ 1, -4096, -EPROTO, 0 },
	{ 1, 1, -EPROTO, 0 },
	{ 1, INT32_MAX, -EPROTO, 0 },
	{ 1, INT32_MIN, -EPROTO, 0 },
	{ 7, 0, -EPROTO, 0 },
	{ 0xffffffffu, 0, -EPROTO, 0 },
	{ 0x80000000u, -22, -EPROTO, 0 },
};

START_TEST(rsp_parse_table)
{
	struct pvcalls_wire_response rsp;
	struct pvcalls_rsp out;
	int err;

	memset(&rsp, 0, sizeof(rsp));
	rsp.req_id = 0xfffffff0u;
	rsp.cmd = rsp_cases[_i].cmd;
	rsp.ret = rsp_cases[_i].ret;
	rsp.pad = 0xdeadbeef; /* ignored */
	rsp.u.id = 0x123456789ull;
	memset(&out, JUNK, sizeof(out));
	err = pvcalls_rsp_parse(&rsp, &out);
	ck_assert_msg(err == rsp_cases[_i].expect, "cmd %u ret %d: got %d, expected %d", rsp.cmd,
		      rsp.ret, err, rsp_cases[_i].expect);
	ck_assert_int_eq(pvcalls_rsp_parse(&rsp, NULL), rsp_cases[_i].expect);
	if (err)
		return;
	ck_assert_uint_eq(out.req_id, 0xfffffff0u);
	ck_assert_uint_eq(out.cmd, rsp_cases[_i].cmd);
	ck_assert_uint_eq(out.id, 0x123456789ull);
	ck_assert_int_eq(out.err, rsp_cases[_i].err);
}
END_TEST

/* ---- errno mapping ------------------------------------------------------- */

static const struct pvc_errno_entry *table_at(size_t i)
{
	size_t n;
	const struct pvc_errno_entry *t = pvc_errno_table(&n);

	ck_assert_uint_lt(i, n);
	return &t[i];
}

START_TEST(errno_table_entry)
{
	size_t n;
	const struct pvc_errno_entry *t = pvc_errno_table(&n);
	const struct pvc_errno_entry *e = table_at((size_t)_i);
	const struct pvc_errno_entry *canon_h = NULL, *canon_w = NULL;

	ck_assert_int_gt(e->host, 0);
	ck_assert_int_gt(e->wire, 0);
	ck_assert_int_lt(e->wire, 134);
	ck_assert_ptr_nonnull(e->name);
	ck_assert_ptr_nonnull(e->desc);
	for (size_t k = 0; k < n; k++) {
		if (!canon_h && t[k].host == e->host)
			canon_h = &t[k];
		if (!canon_w && t[k].wire == e->wire)
			canon_w = &t[k];
	}
	/* Two entries for one host value must agree on the wire value. */
	ck_assert_msg(canon_h->wire == e->wire, "%s: host %d is wire %d and %d", e->name, e->host,
		      canon_h->wire, e->wire);
	ck_assert_int_eq(pvcalls_errno_to_wire(-e->host), -e->wire);
	ck_assert_int_eq(pvcalls_errno_to_wire(e->host), -e->wire);
	ck_assert_int_eq(pvcalls_errno_from_wire(-e->wire), -canon_w->host);
	ck_assert_int_eq(pvcalls_errno_to_wire(pvcalls_errno_from_wire(-e->wire)), -e->wire);
	ck_assert_str_eq(pvcalls_strerror(-e->host), canon_h->desc);
#if defined(__linux__) && !defined(__mips__) && !defined(__alpha__) && !defined(__sparc__) && \
	!defined(__hppa__)
	/* The host is the wire here: this checks every number in the table. */
	ck_assert_msg(e->host == e->wire, "%s: table says %d, <errno.h> says %d", e->name, e->wire,
		      e->host);
#endif
}
END_TEST

/* Linux numbers written out independently of src/proto/errno.c. */
static const struct {
	int host, wire;
} must_map[] = {
	{ EAGAIN, 11 },
	{ EWOULDBLOCK, 11 },
	{ EPIPE, 32 },
	{ ECONNRESET, 104 },
	{ ECONNABORTED, 103 },
	{ ENOTCONN, 107 },
	{ EBADF, 9 },
	{ EINPROGRESS, 115 },
	{ EALREADY, 114 },
	{ EADDRINUSE, 98 },
	{ EADDRNOTAVAIL, 99 },
	{ ENETDOWN, 100 },
	{ ENETUNREACH, 101 },
	{ EHOSTUNREACH, 113 },
	{ ETIMEDOUT, 110 },
	{ ECONNREFUSED, 111 },
	{ EISCONN, 106 },
	{ EMFILE, 24 },
	{ ENFILE, 23 },
	{ ENOBUFS, 105 },
	{ ENOMEM, 12 },
	{ EACCES, 13 },
	{ EPERM, 1 },
	{ EFAULT, 14 },
	{ EEXIST, 17 },
	{ EINVAL, 22 },
	{ EINTR, 4 },
	{ ENOENT, 2 },
	{ EOPNOTSUPP, 95 },
	{ ENOTSUP, 95 },
	{ EAFNOSUPPORT, 97 },
	{ EPROTONOSUPPORT, 93 },
	{ ESOCKTNOSUPPORT, 94 },
	{ EMSGSIZE, 90 },
	{ EPROTO, 71 },
	{ ENOSPC, 28 },
	{ E2BIG, 7 },
	{ ENOTSOCK, 88 },
	{ EDESTADDRREQ, 89 },
	{ ENOPROTOOPT, 92 },
	{ EIO, 5 },
	{ ENODEV, 19 },
	{ ESHUTDOWN, 108 },
	{ ENETRESET, 102 },
	{ EHOSTDOWN, 112 },
	{ EPROTOTYPE, 91 },
	{ ENOSYS, 38 },
	{ EBUSY, 16 },
	{ ECANCELED, 125 },
	{ EOVERFLOW, 75 },
	{ EBADMSG, 74 },
	{ ERANGE, 34 },
	{ EDEADLK, 35 },
	{ ELOOP, 40 },
	{ ENAMETOOLONG, 36 },
	{ ENOTEMPTY, 39 },
};

START_TEST(errno_must_map)
{
	ck_assert_int_eq(pvcalls_errno_to_wire(-must_map[_i].host), -must_map[_i].wire);
	ck_assert_int_eq(pvcalls_errno_from_wire(-must_map[_i].wire), -must_map[_i].host);
}
END_TEST

START_TEST(errno_special)
{
	ck_assert_int_eq(pvcalls_errno_to_wire(0), 0);
	ck_assert_int_eq(pvcalls_errno_from_wire(0), 0);
	ck_assert_int_eq(pvcalls_errno_to_wire(-PVCALLS_WIRE_ENOTSUPP), -524);
	ck_assert_int_eq(pvcalls_errno_to_wire(PVCALLS_WIRE_ENOTSUPP), -524);
	ck_assert_int_eq(pvcalls_errno_from_wire(-524), -EOPNOTSUPP);
	ck_assert_int_eq(pvcalls_errno_to_wire(-EOPNOTSUPP), -95);
	/* Host values with no wire meaning become EIO. */
	ck_assert_int_eq(pvcalls_errno_to_wire(INT_MIN), -5);
	ck_assert_int_eq(pvcalls_errno_to_wire(INT_MAX), -5);
	ck_assert_int_eq(pvcalls_errno_to_wire(-4000), -5);
	ck_assert_int_eq(pvcalls_errno_to_wire(-100000), -5);
	/* Unknown but plausible wire values become EIO. */
	ck_assert_int_eq(pvcalls_errno_from_wire(-41), -EIO);
	ck_assert_int_eq(pvcalls_errno_from_wire(-58), -EIO);
	ck_assert_int_eq(pvcalls_errno_from_wire(-134), -EIO);
	ck_assert_int_eq(pvcalls_errno_from_wire(-512), -EIO);
	ck_assert_int_eq(pvcalls_errno_from_wire(-4095), -EIO);
	/* Implausible ones are protocol violations. */
	ck_assert_int_eq(pvcalls_errno_from_wire(-4096), -EPROTO);
	ck_assert_int_eq(pvcalls_errno_from_wire(1), -EPROTO);
	ck_assert_int_eq(pvcalls_errno_from_wire(111), -EPROTO);
	ck_assert_int_eq(pvcalls_errno_from_wire(INT32_MAX), -EPROTO);
	ck_assert_int_eq(pvcalls_errno_from_wire(INT32_MIN), -EPROTO);
}
END_TEST

START_TEST(errno_sweep)
{
	for (int w = -5000; w <= 5000; w++) {
		int h = pvcalls_errno_from_wire(w);
		int32_t back = pvcalls_errno_to_wire(h);

		ck_assert_msg(h <= 0 && (h == 0) == (w == 0), "wire %d -> host %d", w, h);
		if (w > 0 || w < -4095)
			ck_assert_int_eq(h, -EPROTO);
		/* Back to the wire: the same value, or its stand-in. */
		ck_assert_msg(back == w || (w == -524 && back == -95) || back == -5 ||
				      (h == -EPROTO && back == -71),
			      "wire %d -> host %d -> wire %d", w, h, back);
	}
	for (int h = -5000; h <= 5000; h++) {
		int32_t w = pvcalls_errno_to_wire(h);

		ck_assert_msg(w <= 0 && w >= -4095 && (w == 0) == (h == 0), "host %d -> wire %d", h,
			      w);
	}
}
END_TEST

struct capture {
	int n;
	char msgid[64];
	enum pvcalls_log_level level;
};

static void capture_log(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	struct capture *c = arg;

	(void)msg;
	c->n++;
	c->level = level;
	snprintf(c->msgid, sizeof(c->msgid), "%s", msgid);
}

START_TEST(errno_logs_debug)
{
	struct capture c = { 0 };

	pvcalls_set_logger(capture_log, &c, PVCALLS_LOG_DEBUG);
	ck_assert_int_eq(pvcalls_errno_from_wire(-111), -ECONNREFUSED);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(pvcalls_errno_from_wire(-3000), -EIO);
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(c.level, PVCALLS_LOG_DEBUG);
	ck_assert_str_eq(c.msgid, "proto.errno-unknown");
	ck_assert_int_eq(pvcalls_errno_from_wire(7000), -EPROTO);
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.msgid, "proto.errno-invalid");
	ck_assert_int_eq(pvcalls_errno_to_wire(-4000), -5);
	ck_assert_int_eq(c.n, 3);
	ck_assert_str_eq(c.msgid, "proto.errno-unmapped");
	/* Not passed on above the sink's level. */
	pvcalls_set_logger(capture_log, &c, PVCALLS_LOG_INFO);
	ck_assert_int_eq(pvcalls_errno_from_wire(-3000), -EIO);
	ck_assert_int_eq(c.n, 3);
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
}
END_TEST

/* ---- strerror, names, ring order ----------------------------------------- */

START_TEST(strerror_total)
{
	for (int e = -5000; e <= 5000; e++) {
		const char *s = pvcalls_strerror(e);

		ck_assert_msg(s && s[0], "pvcalls_strerror(%d) is empty", e);
		ck_assert_ptr_eq(s, pvcalls_strerror(-e));
	}
	ck_assert_ptr_nonnull(pvcalls_strerror(INT_MIN));
	ck_assert_ptr_nonnull(pvcalls_strerror(INT_MAX));
	ck_assert_str_eq(pvcalls_strerror(0), "success");
	ck_assert_str_eq(pvcalls_strerror(-4000), "unknown error");
	ck_assert_str_eq(pvcalls_strerror(INT_MIN), "unknown error");
}
END_TEST

START_TEST(strerror_wording)
{
	ck_assert_str_eq(pvcalls_strerror(-EPROTO), "peer violated the PV Calls protocol");
	ck_assert_ptr_nonnull(strstr(pvcalls_strerror(-ENOTCONN), "not connected"));
	ck_assert_ptr_nonnull(strstr(pvcalls_strerror(-ENOTCONN), "end of stream"));
	ck_assert_ptr_nonnull(strstr(pvcalls_strerror(-PVCALLS_WIRE_ENOTSUPP), "PV Calls backend"));
	ck_assert_ptr_nonnull(strstr(pvcalls_strerror(-ECONNREFUSED), "refused"));
	ck_assert_ptr_nonnull(strstr(pvcalls_strerror(-EAFNOSUPPORT), "IPv4"));
	ck_assert_str_ne(pvcalls_strerror(-EOPNOTSUPP), pvcalls_strerror(-PVCALLS_WIRE_ENOTSUPP));
}
END_TEST

START_TEST(cmd_names)
{
	static const char *const want[] = { "SOCKET", "CONNECT", "RELEASE", "BIND",
					    "LISTEN", "ACCEPT",  "POLL" };

	for (uint32_t c = 0; c < 7; c++)
		ck_assert_str_eq(pvcalls_cmd_name(c), want[c]);
	ck_assert_str_eq(pvcalls_cmd_name(7), "UNKNOWN");
	ck_assert_str_eq(pvcalls_cmd_name(0x80000000u), "UNKNOWN");
	ck_assert_str_eq(pvcalls_cmd_name(UINT32_MAX), "UNKNOWN");
}
END_TEST

static const struct {
	uint32_t order, max;
	int expect;
} order_cases[] = {
	{ 0, 4, 0 },
	{ 1, 4, 0 },
	{ 4, 4, 0 },
	{ 5, 4, -EINVAL },
	{ 1, 0, -EINVAL },
	{ 0, 0, 0 },
	{ 9, 9, 0 },
	{ 9, 100, 0 },
	{ 10, 100, -EINVAL },
	{ 10, UINT32_MAX, -EINVAL },
	{ UINT32_MAX, UINT32_MAX, -EINVAL },
	{ 0x80000004u, 4, -EINVAL },
};

START_TEST(ring_order)
{
	ck_assert_int_eq(pvcalls_proto_check_ring_order(order_cases[_i].order, order_cases[_i].max),
			 order_cases[_i].expect);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;
	size_t n_err;

	pvc_errno_table(&n_err);

	tc = tcase_create("build");
	tcase_add_test(tc, build_socket);
	tcase_add_loop_test(tc, build_socket_bad, 0, N(socket_bad));
	tcase_add_test(tc, build_connect);
	tcase_add_test(tc, build_connect_storage);
	tcase_add_test(tc, build_bind);
	tcase_add_loop_test(tc, build_addr_bad, 0, 2 * (int)N_ADDR_BAD);
	tcase_add_test(tc, build_release);
	tcase_add_loop_test(tc, build_listen, 0, N(listen_cases));
	tcase_add_test(tc, build_accept);
	tcase_add_test(tc, build_poll);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, parse_table, 0, (int)N_PARSE);
	tcase_add_test(tc, parse_connect_fields);
	tcase_add_test(tc, parse_bind_fields);
	tcase_add_loop_test(tc, parse_listen_backlog, 0, N(backlog_cases));
	tcase_add_test(tc, parse_accept_fields);
	tcase_add_test(tc, build_parse_roundtrip);
	tcase_add_test(tc, addr_decode_direct);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, rsp_build_echo);
	tcase_add_test(tc, rsp_build_unknown_cmd);
	tcase_add_loop_test(tc, rsp_parse_table, 0, N(rsp_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("errno");
	tcase_add_loop_test(tc, errno_table_entry, 0, (int)n_err);
	tcase_add_loop_test(tc, errno_must_map, 0, N(must_map));
	tcase_add_test(tc, errno_special);
	tcase_add_test(tc, errno_sweep);
	tcase_add_test(tc, errno_logs_debug);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_test(tc, strerror_total);
	tcase_add_test(tc, strerror_wording);
	tcase_add_test(tc, cmd_names);
	tcase_add_loop_test(tc, ring_order, 0, N(order_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
