/* SPDX-License-Identifier: MIT */
/*
 * The layout numbers of docs/protocol-notes.md, "Wire layout", checked at run time against
 * pvcalls/wire.h. The header checks itself at compile time too; this test
 * states the numbers a second time, from the protocol notes, and says which
 * one is wrong when they disagree.
 */
#include <pvcalls/wire.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout_nums.h"

#define REQ struct pvcalls_wire_request
#define RSP struct pvcalls_wire_response
#define SRING struct pvcalls_wire_cmd_sring
#define INTF struct pvcalls_wire_data_intf

/* Smallest power of two <= x (x > 0), written independently of ring.h. */
static unsigned long long rounddown_pow2(unsigned long long x)
{
	unsigned long long p = 1;

	while (p * 2 <= x)
		p *= 2;
	return p;
}

static struct num nums[] = {
	/* Wire layout, Request */
	NUM(sizeof(REQ), 64),
	OFF(REQ, req_id, 0),
	SZ(REQ, req_id, 4),
	OFF(REQ, cmd, 4),
	SZ(REQ, cmd, 4),
	OFF(REQ, u, 8),
	SZ(REQ, u, 56),
	OFF(REQ, u.socket.id, 8),
	SZ(REQ, u.socket.id, 8),
	OFF(REQ, u.socket.domain, 16),
	SZ(REQ, u.socket.domain, 4),
	OFF(REQ, u.socket.type, 20),
	SZ(REQ, u.socket.type, 4),
	OFF(REQ, u.socket.protocol, 24),
	SZ(REQ, u.socket.protocol, 4),
	OFF(REQ, u.socket.pad, 28),
	SZ(REQ, u.socket.pad, 4),
	OFF(REQ, u.connect.id, 8),
	SZ(REQ, u.connect.id, 8),
	OFF(REQ, u.connect.addr, 16),
	SZ(REQ, u.connect.addr, 28),
	OFF(REQ, u.connect.len, 44),
	SZ(REQ, u.connect.len, 4),
	OFF(REQ, u.connect.flags, 48),
	SZ(REQ, u.connect.flags, 4),
	OFF(REQ, u.connect.ref, 52),
	SZ(REQ, u.connect.ref, 4), /* not 44 (1.8.4) */
	OFF(REQ, u.connect.evtchn, 56),
	SZ(REQ, u.connect.evtchn, 4),
	OFF(REQ, u.connect.pad, 60),
	SZ(REQ, u.connect.pad, 4),
	OFF(REQ, u.release.id, 8),
	SZ(REQ, u.release.id, 8),
	OFF(REQ, u.release.reuse, 16),
	SZ(REQ, u.release.reuse, 1),
	OFF(REQ, u.release.pad, 17),
	SZ(REQ, u.release.pad, 7),
	OFF(REQ, u.bind.id, 8),
	SZ(REQ, u.bind.id, 8),
	OFF(REQ, u.bind.addr, 16),
	SZ(REQ, u.bind.addr, 28),
	OFF(REQ, u.bind.len, 44),
	SZ(REQ, u.bind.len, 4),
	OFF(REQ, u.listen.id, 8),
	SZ(REQ, u.listen.id, 8),
	OFF(REQ, u.listen.backlog, 16),
	SZ(REQ, u.listen.backlog, 4),
	OFF(REQ, u.listen.pad, 20),
	SZ(REQ, u.listen.pad, 4),
	OFF(REQ, u.accept.id, 8),
	SZ(REQ, u.accept.id, 8),
	OFF(REQ, u.accept.id_new, 16),
	SZ(REQ, u.accept.id_new, 8),
	OFF(REQ, u.accept.ref, 24),
	SZ(REQ, u.accept.ref, 4),
	OFF(REQ, u.accept.evtchn, 28),
	SZ(REQ, u.accept.evtchn, 4),
	OFF(REQ, u.poll.id, 8),
	SZ(REQ, u.poll.id, 8),
	OFF(REQ, u.dummy, 8),
	SZ(REQ, u.dummy, 56),
	NUM(sizeof(struct pvcalls_wire_socket), 24),
	NUM(sizeof(struct pvcalls_wire_connect), 56),
	NUM(sizeof(struct pvcalls_wire_release), 16),
	NUM(sizeof(struct pvcalls_wire_bind), 40),
	NUM(sizeof(struct pvcalls_wire_listen), 16),
	NUM(sizeof(struct pvcalls_wire_accept), 24),
	NUM(sizeof(struct pvcalls_wire_poll), 8),
	/* Wire layout, Response */
	NUM(sizeof(RSP), 24),
	OFF(RSP, req_id, 0),
	SZ(RSP, req_id, 4),
	OFF(RSP, cmd, 4),
	SZ(RSP, cmd, 4),
	OFF(RSP, ret, 8),
	SZ(RSP, ret, 4),
	OFF(RSP, pad, 12),
	SZ(RSP, pad, 4),
	OFF(RSP, u.id, 16),
	SZ(RSP, u.id, 8),
	NUM(sizeof(union pvcalls_wire_cmd_slot), 64),
	/* Wire layout, Command ring page */
	NUM(sizeof(SRING), 2112), /* 64 + 32 * 64: the rest of the page is unused */
	NUM(sizeof(SRING) <= 4096, 1),
	OFF(SRING, req_prod, 0),
	SZ(SRING, req_prod, 4),
	OFF(SRING, req_event, 4),
	SZ(SRING, req_event, 4),
	OFF(SRING, rsp_prod, 8),
	SZ(SRING, rsp_prod, 4),
	OFF(SRING, rsp_event, 12),
	SZ(SRING, rsp_event, 4),
	OFF(SRING, pad, 16),
	SZ(SRING, pad, 48),
	OFF(SRING, ring, 64),
	SZ(SRING, ring[0], 64),
	NUM(PVCALLS_WIRE_CMD_RING_SIZE, 32),
	NUM(sizeof(((SRING *)0)->ring) / sizeof(((SRING *)0)->ring[0]), 32),
	/* Wire layout, Indexes page */
	OFF(INTF, in_cons, 0),
	SZ(INTF, in_cons, 4),
	OFF(INTF, in_prod, 4),
	SZ(INTF, in_prod, 4),
	OFF(INTF, in_error, 8),
	SZ(INTF, in_error, 4),
	OFF(INTF, pad1, 12),
	SZ(INTF, pad1, 52),
	OFF(INTF, out_cons, 64),
	SZ(INTF, out_cons, 4),
	OFF(INTF, out_prod, 68),
	SZ(INTF, out_prod, 4),
	OFF(INTF, out_error, 72),
	SZ(INTF, out_error, 4),
	OFF(INTF, pad2, 76),
	SZ(INTF, pad2, 52),
	OFF(INTF, ring_order, 128),
	SZ(INTF, ring_order, 4), /* not 76 (1.8.2) */
	OFF(INTF, ref, 132),
	SZ(INTF, ref[0], 4), /* not 80 */
	NUM(sizeof(INTF), 132),
	NUM(PVCALLS_WIRE_DATA_INTF_REF_OFFSET, 132),
	NUM(PVCALLS_WIRE_DATA_INTF_MAX_REFS, 991),
	NUM(PVCALLS_WIRE_MAX_RING_ORDER, 9),
	NUM(PVCALLS_WIRE_LINUX_RING_ORDER, 4),
	/* Wire layout, Data ring */
	NUM(PVCALLS_WIRE_PAGE_SHIFT, 12),
	NUM(PVCALLS_WIRE_PAGE_SIZE, 4096),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(0), 2048),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(1), 4096),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(2), 8192),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(3), 16384),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(4), 32768),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(5), 65536),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(6), 131072),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(7), 262144),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(8), 524288),
	NUM(PVCALLS_WIRE_DATA_RING_SIZE(9), 1048576),
	/* commands (the #defines, not the spec's per-command prose) */
	NUM(PVCALLS_WIRE_SOCKET, 0),
	NUM(PVCALLS_WIRE_CONNECT, 1),
	NUM(PVCALLS_WIRE_RELEASE, 2),
	NUM(PVCALLS_WIRE_BIND, 3),
	NUM(PVCALLS_WIRE_LISTEN, 4),
	NUM(PVCALLS_WIRE_ACCEPT, 5),
	NUM(PVCALLS_WIRE_POLL, 6),
	NUM(PVCALLS_WIRE_NR_CMDS, 7),
	NUM(PVCALLS_WIRE_AF_INET, 2),
	NUM(PVCALLS_WIRE_SOCK_STREAM, 1),
	NUM(PVCALLS_WIRE_IPPROTO_IP, 0),
	NUM(PVCALLS_WIRE_ADDR_LEN, 28),
	NUM(PVCALLS_WIRE_SOCKADDR_IN_LEN, 16),
	/* xenbus states */
	NUM(PVCALLS_XENBUS_UNKNOWN, 0),
	NUM(PVCALLS_XENBUS_INITIALISING, 1),
	NUM(PVCALLS_XENBUS_INITWAIT, 2),
	NUM(PVCALLS_XENBUS_INITIALISED, 3),
	NUM(PVCALLS_XENBUS_CONNECTED, 4),
	NUM(PVCALLS_XENBUS_CLOSING, 5),
	NUM(PVCALLS_XENBUS_CLOSED, 6),
	NUM(PVCALLS_XENBUS_RECONFIGURING, 7),
	NUM(PVCALLS_XENBUS_RECONFIGURED, 8),
};

START_TEST(layout_number)
{
	ck_assert_msg(nums[_i].got == nums[_i].want,
		      "%s: wire.h gives %llu, protocol-notes.md %llu", nums[_i].what, nums[_i].got,
		      nums[_i].want);
}
END_TEST

/* The page-capacity argument of "Wire layout", Indexes page: 2^9 refs fit after the header, 2^10 do not. */
START_TEST(ring_order_capacity)
{
	for (unsigned order = 0; order <= 10; order++) {
		int fits = PVCALLS_WIRE_DATA_INTF_REF_OFFSET + 4u * (1u << order) <= 4096;

		ck_assert_msg(fits == (order <= PVCALLS_WIRE_MAX_RING_ORDER),
			      "order %u: fits %d but MAX_RING_ORDER is %u", order, fits,
			      PVCALLS_WIRE_MAX_RING_ORDER);
	}
	/* Both halves of a data ring fill its 2^order pages exactly. */
	for (unsigned order = 0; order <= PVCALLS_WIRE_MAX_RING_ORDER; order++)
		ck_assert_uint_eq(2ull * PVCALLS_WIRE_DATA_RING_SIZE(order), 4096ull << order);
}
END_TEST

/* Wire layout, Command ring page: (4096 - 64) / 64 = 63 slots of room, rounded down to a power of two. */
START_TEST(cmd_ring_slots)
{
	unsigned long long room =
		(4096 - offsetof(SRING, ring)) / sizeof(union pvcalls_wire_cmd_slot);

	ck_assert_uint_eq(room, 63);
	ck_assert_uint_eq(rounddown_pow2(room), PVCALLS_WIRE_CMD_RING_SIZE);
}
END_TEST

/* Byte placement through a real buffer, on a little-endian host (every Xen
 * architecture is): fields land where 1.2 and 1.3 say. */
START_TEST(byte_placement)
{
	union pvcalls_wire_cmd_slot s;
	const uint8_t *b = (const uint8_t *)&s;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	return; /* big-endian hosts share no pages with Xen guests */
#endif
	memset(&s, 0, sizeof(s));
	s.req.u.connect.ref = 0x11223344;
	s.req.u.connect.evtchn = 0x55667788;
	ck_assert_uint_eq(b[52] | b[53] << 8 | b[54] << 16 | (uint32_t)b[55] << 24, 0x11223344);
	ck_assert_uint_eq(b[56] | b[57] << 8 | b[58] << 16 | (uint32_t)b[59] << 24, 0x55667788);
	memset(&s, 0, sizeof(s));
	s.rsp.ret = -524;
	s.rsp.u.id = 0x0102030405060708ull;
	ck_assert_uint_eq(b[8] | b[9] << 8, 0xfdf4);
	ck_assert_uint_eq(b[10] & b[11], 0xff);
	ck_assert_uint_eq(b[16], 0x08);
	ck_assert_uint_eq(b[23], 0x01);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("layout");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, layout_number, 0, (int)(sizeof(nums) / sizeof(nums[0])));
	tcase_add_test(tc, ring_order_capacity);
	tcase_add_test(tc, cmd_ring_slots);
	tcase_add_test(tc, byte_placement);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
