/* SPDX-License-Identifier: MIT */
/*
 * The layout numbers of docs/extensions.md, checked at run time against
 * pvcalls/wire_ext.h. The header checks itself at compile time too; this
 * test states the numbers a second time, from the document, says which
 * one is wrong when they disagree, and checks that every extension request
 * and response fits the v1 request and response it travels in.
 */
#include <pvcalls/wire_ext.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout_nums.h"

#define REQ struct pvcalls_ext_request
#define RSP struct pvcalls_ext_response
#define SIN6 struct pvcalls_ext_sockaddr_in6
#define SIN struct pvcalls_ext_sockaddr_in
#define DGH struct pvcalls_ext_dgram_hdr

static struct num nums[] = {
	/* "Requests and responses" */
	NUM(sizeof(REQ), 64),
	OFF(REQ, req_id, 0),
	SZ(REQ, req_id, 4),
	OFF(REQ, cmd, 4),
	SZ(REQ, cmd, 4),
	OFF(REQ, u, 8),
	SZ(REQ, u, 56),
	/* SHUTDOWN */
	OFF(REQ, u.shutdown.id, 8),
	SZ(REQ, u.shutdown.id, 8),
	OFF(REQ, u.shutdown.how, 16),
	SZ(REQ, u.shutdown.how, 4),
	OFF(REQ, u.shutdown.pad, 20),
	SZ(REQ, u.shutdown.pad, 4),
	/* GETSOCKNAME, GETPEERNAME */
	OFF(REQ, u.getname.id, 8),
	SZ(REQ, u.getname.id, 8),
	OFF(REQ, u.getname.area, 16),
	SZ(REQ, u.getname.area, 4),
	OFF(REQ, u.getname.pad, 20),
	SZ(REQ, u.getname.pad, 4),
	/* SETSOCKOPT */
	OFF(REQ, u.setsockopt.id, 8),
	SZ(REQ, u.setsockopt.id, 8),
	OFF(REQ, u.setsockopt.opt, 16),
	SZ(REQ, u.setsockopt.opt, 4),
	OFF(REQ, u.setsockopt.len, 20),
	SZ(REQ, u.setsockopt.len, 4),
	OFF(REQ, u.setsockopt.val, 24),
	SZ(REQ, u.setsockopt.val, 16),
	/* GETSOCKOPT */
	OFF(REQ, u.getsockopt.id, 8),
	SZ(REQ, u.getsockopt.id, 8),
	OFF(REQ, u.getsockopt.opt, 16),
	SZ(REQ, u.getsockopt.opt, 4),
	OFF(REQ, u.getsockopt.area, 20),
	SZ(REQ, u.getsockopt.area, 4),
	/* DGRAM_RINGS */
	OFF(REQ, u.dgram_rings.id, 8),
	SZ(REQ, u.dgram_rings.id, 8),
	OFF(REQ, u.dgram_rings.ref, 16),
	SZ(REQ, u.dgram_rings.ref, 4),
	OFF(REQ, u.dgram_rings.evtchn, 20),
	SZ(REQ, u.dgram_rings.evtchn, 4),
	OFF(REQ, u.ring_free.id, 8),
	SZ(REQ, u.ring_free.id, 8),
	OFF(REQ, u.ring_free.ref, 16),
	SZ(REQ, u.ring_free.ref, 4),
	OFF(REQ, u.ring_free.evtchn, 20),
	SZ(REQ, u.ring_free.evtchn, 4),
	OFF(REQ, u.dummy, 8),
	SZ(REQ, u.dummy, 56),
	NUM(sizeof(struct pvcalls_ext_shutdown), 16),
	NUM(sizeof(struct pvcalls_ext_getname), 16),
	NUM(sizeof(struct pvcalls_ext_setsockopt), 32),
	NUM(sizeof(struct pvcalls_ext_getsockopt), 16),
	NUM(sizeof(struct pvcalls_ext_dgram_rings), 16),
	NUM(sizeof(struct pvcalls_ext_ring_free), 16),
	/* the response */
	NUM(sizeof(RSP), 24),
	OFF(RSP, req_id, 0),
	SZ(RSP, req_id, 4),
	OFF(RSP, cmd, 4),
	SZ(RSP, cmd, 4),
	OFF(RSP, ret, 8),
	SZ(RSP, ret, 4),
	OFF(RSP, val, 12),
	SZ(RSP, val, 4),
	OFF(RSP, u.id, 16),
	SZ(RSP, u.id, 8),
	/* addresses */
	NUM(sizeof(SIN6), 28),
	OFF(SIN6, family, 0),
	SZ(SIN6, family, 2),
	OFF(SIN6, port, 2),
	SZ(SIN6, port, 2),
	OFF(SIN6, flowinfo, 4),
	SZ(SIN6, flowinfo, 4),
	OFF(SIN6, addr, 8),
	SZ(SIN6, addr, 16),
	OFF(SIN6, scope_id, 24),
	SZ(SIN6, scope_id, 4),
	NUM(sizeof(SIN), 16),
	OFF(SIN, family, 0),
	SZ(SIN, family, 2),
	OFF(SIN, port, 2),
	SZ(SIN, port, 2),
	OFF(SIN, addr, 4),
	SZ(SIN, addr, 4),
	OFF(SIN, zero, 8),
	SZ(SIN, zero, 8),
	NUM(PVCALLS_EXT_SOCKADDR_IN6_LEN, 28),
	NUM(PVCALLS_EXT_SOCKADDR_IN6_MIN_LEN, 24),
	NUM(sizeof(struct pvcalls_ext_linger), 8),
	NUM(PVCALLS_EXT_OPT_MAX_LEN, 16),
	/* reply areas */
	NUM(PVCALLS_EXT_REPLY_OFFSET, 2112),
	NUM(PVCALLS_EXT_REPLY_SIZE, 56),
	NUM(PVCALLS_EXT_REPLY_AREAS, 32),
	NUM(PVCALLS_EXT_REPLY_AREA_OFFSET(0), 2112),
	NUM(PVCALLS_EXT_REPLY_AREA_OFFSET(31), 3848),
	NUM(PVCALLS_EXT_REPLY_AREA_OFFSET(32), 3904),
	/* datagram records */
	NUM(sizeof(DGH), 40),
	OFF(DGH, len, 0),
	SZ(DGH, len, 4),
	OFF(DGH, full_len, 4),
	SZ(DGH, full_len, 4),
	OFF(DGH, err, 8),
	SZ(DGH, err, 4),
	OFF(DGH, addr, 12),
	SZ(DGH, addr, 28),
	NUM(PVCALLS_EXT_DGRAM_HDR_LEN, 40),
	NUM(PVCALLS_EXT_DGRAM_ALIGN, 8),
	NUM(PVCALLS_EXT_DGRAM_MAX_INET, 65507),
	NUM(PVCALLS_EXT_DGRAM_MAX_INET6, 65527),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(0), 40),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(1), 48),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(8), 48),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(9), 56),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(512), 552),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(65507), 65552),
	NUM(PVCALLS_EXT_DGRAM_RECORD_LEN(65527), 65568),
	/* wait hints */
	NUM(PVCALLS_EXT_HINT_FRONT_OFFSET, 12),
	NUM(PVCALLS_EXT_HINT_BACK_OFFSET, 76),
	/* command numbers */
	NUM(PVCALLS_EXT_CMD_BASE, 0x6c700000u),
	NUM(PVCALLS_EXT_SHUTDOWN, 0x6c700001u),
	NUM(PVCALLS_EXT_GETSOCKNAME, 0x6c700002u),
	NUM(PVCALLS_EXT_GETPEERNAME, 0x6c700003u),
	NUM(PVCALLS_EXT_SETSOCKOPT, 0x6c700004u),
	NUM(PVCALLS_EXT_GETSOCKOPT, 0x6c700005u),
	NUM(PVCALLS_EXT_DGRAM_RINGS, 0x6c700006u),
	NUM(PVCALLS_EXT_RING_FREE, 0x6c700007u),
	NUM(PVCALLS_EXT_SENDTO, 0x6c708001u),
	/* constants */
	NUM(PVCALLS_EXT_AF_UNSPEC, 0),
	NUM(PVCALLS_EXT_AF_INET6, 10),
	NUM(PVCALLS_EXT_SOCK_DGRAM, 2),
	NUM(PVCALLS_EXT_IPPROTO_TCP, 6),
	NUM(PVCALLS_EXT_IPPROTO_UDP, 17),
	NUM(PVCALLS_EXT_SHUT_RD, 0),
	NUM(PVCALLS_EXT_SHUT_WR, 1),
	NUM(PVCALLS_EXT_SHUT_RDWR, 2),
	NUM(PVCALLS_EXT_OPT_TCP_NODELAY, 1),
	NUM(PVCALLS_EXT_OPT_SO_KEEPALIVE, 2),
	NUM(PVCALLS_EXT_OPT_TCP_KEEPIDLE, 3),
	NUM(PVCALLS_EXT_OPT_TCP_KEEPINTVL, 4),
	NUM(PVCALLS_EXT_OPT_TCP_KEEPCNT, 5),
	NUM(PVCALLS_EXT_OPT_SO_LINGER, 6),
	NUM(PVCALLS_EXT_OPT_SO_RCVBUF, 7),
	NUM(PVCALLS_EXT_OPT_SO_SNDBUF, 8),
	NUM(PVCALLS_EXT_OPT_TCP_USER_TIMEOUT, 9),
	NUM(PVCALLS_EXT_OPT_SO_REUSEADDR, 10),
	NUM(PVCALLS_EXT_OPT_SO_REUSEPORT, 11),
	NUM(PVCALLS_EXT_OPT_IP_TOS, 12),
	NUM(PVCALLS_EXT_OPT_IPV6_V6ONLY, 13),
	NUM(PVCALLS_EXT_OPT_IPV6_TCLASS, 14),
	NUM(PVCALLS_EXT_OPT_NR, 15),
};

START_TEST(layout_number)
{
	ck_assert_msg(nums[_i].got == nums[_i].want,
		      "%s: wire_ext.h gives %llu, extensions.md %llu", nums[_i].what, nums[_i].got,
		      nums[_i].want);
}
END_TEST

/* Each request's fields end inside the v1 union, each response's inside the
 * v1 response: the spec's rule for new commands without a version bump. */
START_TEST(fits_v1)
{
	static const size_t members[] = {
		sizeof(struct pvcalls_ext_shutdown),    sizeof(struct pvcalls_ext_getname),
		sizeof(struct pvcalls_ext_setsockopt),  sizeof(struct pvcalls_ext_getsockopt),
		sizeof(struct pvcalls_ext_dgram_rings),
	};

	ck_assert_uint_eq(sizeof(struct pvcalls_ext_request), sizeof(struct pvcalls_wire_request));
	ck_assert_uint_eq(sizeof(struct pvcalls_ext_response),
			  sizeof(struct pvcalls_wire_response));
	ck_assert_uint_eq(sizeof(struct pvcalls_ext_request), sizeof(union pvcalls_wire_cmd_slot));
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		ck_assert_uint_le(offsetof(REQ, u) + members[i],
				  sizeof(struct pvcalls_wire_request));
	/* The common words are where v1 has them. */
	ck_assert_uint_eq(offsetof(REQ, u), offsetof(struct pvcalls_wire_request, u));
	ck_assert_uint_eq(offsetof(RSP, ret), offsetof(struct pvcalls_wire_response, ret));
	ck_assert_uint_eq(offsetof(RSP, val), offsetof(struct pvcalls_wire_response, pad));
	ck_assert_uint_eq(offsetof(RSP, u.id), offsetof(struct pvcalls_wire_response, u.id));
	/* Every request's id is at 8, as in every v1 request (audit reads it there). */
	ck_assert_uint_eq(offsetof(REQ, u.shutdown.id), 8);
	ck_assert_uint_eq(offsetof(REQ, u.getname.id), 8);
	ck_assert_uint_eq(offsetof(REQ, u.setsockopt.id), 8);
	ck_assert_uint_eq(offsetof(REQ, u.getsockopt.id), 8);
	ck_assert_uint_eq(offsetof(REQ, u.dgram_rings.id), 8);
}
END_TEST

/* A sockaddr_in6 fills the v1 address field; a sockaddr_in leaves 12 bytes. */
START_TEST(addresses_fit)
{
	ck_assert_uint_eq(sizeof(SIN6), sizeof(((struct pvcalls_wire_request *)0)->u.connect.addr));
	ck_assert_uint_eq(sizeof(SIN6), sizeof(((struct pvcalls_wire_request *)0)->u.bind.addr));
	ck_assert_uint_eq(sizeof(SIN6), sizeof(((DGH *)0)->addr));
	ck_assert_uint_le(sizeof(SIN), sizeof(((DGH *)0)->addr));
	ck_assert_uint_le(sizeof(SIN6), PVCALLS_EXT_REPLY_SIZE);
	ck_assert_uint_le(sizeof(struct pvcalls_ext_linger), PVCALLS_EXT_REPLY_SIZE);
}
END_TEST

/* Reply areas: after the 32 slots, one per slot, inside the page, disjoint. */
START_TEST(reply_areas)
{
	ck_assert_uint_eq(PVCALLS_EXT_REPLY_OFFSET,
			  offsetof(struct pvcalls_wire_cmd_sring, ring) +
				  PVCALLS_WIRE_CMD_RING_SIZE * sizeof(union pvcalls_wire_cmd_slot));
	ck_assert_uint_eq(PVCALLS_EXT_REPLY_OFFSET, sizeof(struct pvcalls_wire_cmd_sring));
	for (unsigned n = 0; n < PVCALLS_EXT_REPLY_AREAS; n++) {
		unsigned off = PVCALLS_EXT_REPLY_AREA_OFFSET(n);

		ck_assert_uint_eq(off % 8, 0);
		ck_assert_uint_ge(off, sizeof(struct pvcalls_wire_cmd_sring));
		ck_assert_uint_le(off + PVCALLS_EXT_REPLY_SIZE, PVCALLS_WIRE_PAGE_SIZE);
		if (n)
			ck_assert_uint_eq(off - PVCALLS_EXT_REPLY_AREA_OFFSET(n - 1),
					  PVCALLS_EXT_REPLY_SIZE);
	}
}
END_TEST

/* Which ring orders carry the largest datagrams whole (the rest are cut on
 * the way in and refused with EMSGSIZE on the way out). */
START_TEST(dgram_capacity)
{
	for (unsigned order = 0; order <= PVCALLS_WIRE_MAX_RING_ORDER; order++) {
		unsigned long long size = PVCALLS_WIRE_DATA_RING_SIZE(order);
		int v4 = PVCALLS_EXT_DGRAM_RECORD_LEN(PVCALLS_EXT_DGRAM_MAX_INET) <= size;
		int v6 = PVCALLS_EXT_DGRAM_RECORD_LEN(PVCALLS_EXT_DGRAM_MAX_INET6) <= size;

		ck_assert_int_eq(v4, order >= 6);
		ck_assert_int_eq(v6, order >= 6);
		/* Even order 0 carries a 512-byte DNS message and a 1232-byte EDNS one. */
		ck_assert_uint_le(PVCALLS_EXT_DGRAM_RECORD_LEN(1232u), size);
	}
	for (unsigned len = 0; len < 64; len++) {
		unsigned r = PVCALLS_EXT_DGRAM_RECORD_LEN(len);

		ck_assert_uint_eq(r % PVCALLS_EXT_DGRAM_ALIGN, 0);
		ck_assert_uint_ge(r, PVCALLS_EXT_DGRAM_HDR_LEN + len);
		ck_assert_uint_lt(r, PVCALLS_EXT_DGRAM_HDR_LEN + len + PVCALLS_EXT_DGRAM_ALIGN);
	}
}
END_TEST

/* Command numbers: private range, clear of v1, positive as int32_t, distinct. */
START_TEST(command_numbers)
{
	static const uint32_t cmds[] = {
		PVCALLS_EXT_SHUTDOWN,   PVCALLS_EXT_GETSOCKNAME, PVCALLS_EXT_GETPEERNAME,
		PVCALLS_EXT_SETSOCKOPT, PVCALLS_EXT_GETSOCKOPT,  PVCALLS_EXT_DGRAM_RINGS,
		PVCALLS_EXT_RING_FREE,  PVCALLS_EXT_SENDTO,
	};
	size_t n = sizeof(cmds) / sizeof(cmds[0]);

	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(cmds[i] & PVCALLS_EXT_CMD_MASK, PVCALLS_EXT_CMD_BASE);
		ck_assert_uint_ge(cmds[i], PVCALLS_WIRE_NR_CMDS);
		ck_assert_int_gt((int32_t)cmds[i], 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(cmds[i], cmds[j]);
	}
}
END_TEST

/* Store keys: distinct, and none is a v1 key. */
START_TEST(store_keys)
{
	static const char *const keys[] = {
		PVCALLS_EXT_KEY_SHUTDOWN,  PVCALLS_EXT_KEY_NAMES, PVCALLS_EXT_KEY_SOCKOPT,
		PVCALLS_EXT_KEY_INET6,     PVCALLS_EXT_KEY_DGRAM, PVCALLS_EXT_KEY_RING_REUSE,
		PVCALLS_EXT_KEY_WAIT_HINT, /* last: the one without the prefix */
	};
	static const char *const v1[] = {
		PVCALLS_WIRE_KEY_VERSIONS,       PVCALLS_WIRE_KEY_MAX_PAGE_ORDER,
		PVCALLS_WIRE_KEY_FUNCTION_CALLS, PVCALLS_WIRE_KEY_VERSION,
		PVCALLS_WIRE_KEY_RING_REF,       PVCALLS_WIRE_KEY_PORT,
		PVCALLS_WIRE_KEY_STATE,
	};
	size_t n = sizeof(keys) / sizeof(keys[0]);

	for (size_t i = 0; i < n; i++) {
		ck_assert(strncmp(keys[i], "feature-", 8) == 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(keys[i], keys[j]);
		for (size_t j = 0; j < sizeof(v1) / sizeof(v1[0]); j++)
			ck_assert_str_ne(keys[i], v1[j]);
	}
	for (size_t i = 0; i + 1 < n; i++)
		ck_assert(strncmp(keys[i], "feature-libpvcalls-", 19) == 0);
	ck_assert_str_eq(PVCALLS_EXT_KEY_VALUE, "1");
	ck_assert_str_eq(PVCALLS_WIRE_VERSIONS, "1");
}
END_TEST

/* Byte placement through a real slot on a little-endian host. */
START_TEST(byte_placement)
{
	union {
		struct pvcalls_ext_request req;
		struct pvcalls_ext_response rsp;
		uint8_t b[64];
	} s;
	struct pvcalls_ext_sockaddr_in6 a;
	const uint8_t *ab = (const uint8_t *)&a;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	return; /* big-endian hosts share no pages with Xen guests */
#endif
	memset(&s, 0, sizeof(s));
	s.req.cmd = PVCALLS_EXT_SETSOCKOPT;
	s.req.u.setsockopt.opt = PVCALLS_EXT_OPT_SO_LINGER;
	s.req.u.setsockopt.len = 8;
	ck_assert_uint_eq(s.b[4] | s.b[5] << 8 | s.b[6] << 16 | (uint32_t)s.b[7] << 24,
			  0x6c700004u);
	ck_assert_uint_eq(s.b[16], 6);
	ck_assert_uint_eq(s.b[20], 8);
	memset(&s, 0, sizeof(s));
	s.rsp.ret = -92; /* ENOPROTOOPT */
	s.rsp.val = 28;
	s.rsp.u.id = 0x0102030405060708ull;
	ck_assert_uint_eq(s.b[8], 0xa4);
	ck_assert_uint_eq(s.b[12], 28);
	ck_assert_uint_eq(s.b[16], 0x08);
	ck_assert_uint_eq(s.b[23], 0x01);
	/* sockaddr_in6: family little-endian, port and flow label big-endian. */
	memset(&a, 0, sizeof(a));
	a.family = PVCALLS_EXT_AF_INET6;
	a.port = (uint16_t)(0x35u << 8); /* 53 in network order */
	a.scope_id = 3;
	ck_assert_uint_eq(ab[0], 10);
	ck_assert_uint_eq(ab[1], 0);
	ck_assert_uint_eq(ab[2], 0);
	ck_assert_uint_eq(ab[3], 53);
	ck_assert_uint_eq(ab[24], 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_ext");
	TCase *tc = tcase_create("layout");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, layout_number, 0, (int)(sizeof(nums) / sizeof(nums[0])));
	tcase_add_test(tc, fits_v1);
	tcase_add_test(tc, addresses_fit);
	tcase_add_test(tc, reply_areas);
	tcase_add_test(tc, dgram_capacity);
	tcase_add_test(tc, command_numbers);
	tcase_add_test(tc, store_keys);
	tcase_add_test(tc, byte_placement);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
