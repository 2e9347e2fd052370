/* SPDX-License-Identifier: MIT */
/*
 * The extensions' address field (src/common/sockaddr.h; docs/extensions.md,
 * "IPv6"): both forms decoded and encoded byte for byte, the checks in
 * Linux's order (length, then family), a peer's claim checked whole, and
 * the address classes the policy relies on.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvcalls/wire.h>
#include <pvcalls/wire_ext.h>

#include "common/sockaddr.h"

/* The 28 bytes of [2001:db8::1%7]:443, flow 0x12345. */
static const uint8_t field6[28] = { 10,   0,    0x01, 0xbb, 0x00, 0x01, 0x23, 0x45, 0x20, 0x01,
				    0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,
				    0,    0,    0,    1,    7,    0,    0,    0 };

START_TEST(test_decode6)
{
	union pvc_sockaddr a;
	socklen_t l = 0;
	char buf[PVC_SOCKADDR_STRLEN];

	ck_assert_int_eq(pvc_sockaddr_from_wire(field6, 28, AF_INET6, &a, &l), 0);
	ck_assert_uint_eq(l, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(a.in6.sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(a.in6.sin6_port), 443);
	ck_assert_uint_eq(ntohl(a.in6.sin6_flowinfo), 0x12345);
	ck_assert_uint_eq(a.in6.sin6_scope_id, 7);
	ck_assert_str_eq(pvc_sockaddr_str(&a.sa, buf), "[2001:db8::1%7]:443");
	/* 24 bytes: no scope id. */
	ck_assert_int_eq(pvc_sockaddr_from_wire(field6, 24, AF_INET6, &a, &l), 0);
	ck_assert_uint_eq(a.in6.sin6_scope_id, 0);
	ck_assert_str_eq(pvc_sockaddr_str(&a.sa, buf), "[2001:db8::1]:443");
}
END_TEST

START_TEST(test_decode_errors)
{
	static const uint32_t bad_len[] = { 0, 2, 16, 23, 29, 0xffffffffu };
	uint8_t f[28];
	union pvc_sockaddr a;
	socklen_t l = 99;

	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		ck_assert_int_eq(pvc_sockaddr_from_wire(field6, bad_len[i], AF_INET6, &a, &l),
				 -EINVAL);
		ck_assert_uint_eq(l, 0);
		ck_assert_int_eq(a.sa.sa_family, 0);
	}
	/* Family 2 in a long enough field: the wrong family. */
	memcpy(f, field6, sizeof(f));
	f[0] = 2;
	ck_assert_int_eq(pvc_sockaddr_from_wire(f, 28, AF_INET6, &a, &l), -EAFNOSUPPORT);
	/* ... but too short first (Linux checks the length first). */
	ck_assert_int_eq(pvc_sockaddr_from_wire(f, 16, AF_INET6, &a, &l), -EINVAL);
	f[0] = 0;
	f[1] = 10; /* 10 byte-swapped */
	ck_assert_int_eq(pvc_sockaddr_from_wire(f, 28, AF_INET6, &a, &l), -EAFNOSUPPORT);
	/* An AF_INET socket: version 1's rule. */
	ck_assert_int_eq(pvc_sockaddr_from_wire(field6, 28, AF_INET, &a, &l), -EAFNOSUPPORT);
	ck_assert_int_eq(pvc_sockaddr_from_wire(field6, 28, AF_UNIX, &a, &l), -EAFNOSUPPORT);
}
END_TEST

START_TEST(test_encode)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(443),
				   .sin6_flowinfo = htonl(0x12345),
				   .sin6_scope_id = 7 };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(80) };
	uint8_t f[28];
	uint32_t len = 99;

	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	ck_assert_int_eq(
		pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s6, sizeof(s6), AF_INET6), 0);
	ck_assert_uint_eq(len, 28);
	ck_assert_mem_eq(f, field6, 28);
	/* 24 bytes given: scope id 0. */
	ck_assert_int_eq(pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s6, 24, AF_INET6), 0);
	ck_assert_uint_eq(f[24], 0);
	ck_assert_int_eq(pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s6, 23, AF_INET6),
			 -EINVAL);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(pvc_sockaddr_to_wire(f, &len, NULL, 28, AF_INET6), -EINVAL);
	ck_assert_int_eq(
		pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s4, sizeof(s4), AF_INET6),
		-EINVAL);
	s6.sin6_family = AF_INET;
	ck_assert_int_eq(
		pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s6, sizeof(s6), AF_INET6),
		-EAFNOSUPPORT);
	/* AF_INET: version 1's encoder. */
	ck_assert_int_eq(pvc_sockaddr_to_wire(f, &len, (struct sockaddr *)&s4, sizeof(s4), AF_INET),
			 0);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(f[0], 2);
}
END_TEST

START_TEST(test_from_peer)
{
	uint8_t f[28];
	union pvc_sockaddr a;

	ck_assert_int_eq(pvc_sockaddr_from_peer(field6, 28, false, &a), 0);
	ck_assert_int_eq(a.sa.sa_family, AF_INET6);
	ck_assert_int_eq(pvc_sockaddr_from_peer(field6, 16, false, &a), -EPROTO);
	ck_assert_int_eq(pvc_sockaddr_from_peer(field6, 24, false, &a), -EPROTO);
	memcpy(f, field6, sizeof(f));
	f[0] = 2;
	ck_assert_int_eq(pvc_sockaddr_from_peer(f, 28, false, &a), -EPROTO);
	ck_assert_int_eq(pvc_sockaddr_from_peer(f, 16, false, &a), 0);
	ck_assert_int_eq(a.sa.sa_family, AF_INET);
	f[0] = 0;
	ck_assert_int_eq(pvc_sockaddr_from_peer(f, 0, false, &a), -EPROTO);
	ck_assert_int_eq(pvc_sockaddr_from_peer(f, 0, true, &a), 0);
	ck_assert_int_eq(a.sa.sa_family, AF_UNSPEC);
}
END_TEST

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	ck_assert_int_eq(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

START_TEST(test_classes)
{
	struct in6_addr a;
	struct in_addr v4;
	struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = htons(22) };
	struct sockaddr_in o;
	union pvc_sockaddr x, y;

	a = ip6("::ffff:10.1.2.3");
	ck_assert(pvc_in6_v4mapped(&a, &v4));
	ck_assert_uint_eq(ntohl(v4.s_addr), 0x0a010203);
	a = ip6("::10.1.2.3"); /* IPv4-compatible, not mapped */
	ck_assert(!pvc_in6_v4mapped(&a, NULL));
	a = ip6("::fffe:10.1.2.3");
	ck_assert(!pvc_in6_v4mapped(&a, NULL));
	m.sin6_addr = ip6("::ffff:127.0.0.1");
	ck_assert(pvc_sockaddr_unmap(&m, &o));
	ck_assert_int_eq(o.sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(o.sin_port), 22);
	ck_assert_uint_eq(ntohl(o.sin_addr.s_addr), 0x7f000001);
	m.sin6_addr = ip6("::1");
	ck_assert(!pvc_sockaddr_unmap(&m, &o));
	ck_assert(pvc_in6_is_loopback(&m.sin6_addr));
	a = ip6("::");
	ck_assert(pvc_in6_is_any(&a));
	ck_assert(!pvc_in6_is_loopback(&a));
	a = ip6("fe80::1");
	ck_assert(pvc_in6_is_linklocal(&a));
	a = ip6("febf::1");
	ck_assert(pvc_in6_is_linklocal(&a));
	a = ip6("fec0::1");
	ck_assert(!pvc_in6_is_linklocal(&a));
	a = ip6("ff02::1");
	ck_assert(pvc_in6_is_multicast(&a));
	a = ip6("fe80::1");
	ck_assert(!pvc_in6_is_multicast(&a));

	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	x.in6 = m;
	y.in6 = m;
	y.in6.sin6_scope_id = 3;
	ck_assert(pvc_sockaddr_same(&x, &y));
	y.in6.sin6_port = htons(23);
	ck_assert(!pvc_sockaddr_same(&x, &y));
	ck_assert_uint_eq(pvc_sockaddr_port(&y), 23);
	ck_assert(!pvc_sockaddr_is_any(&x));
	x.in6.sin6_addr = ip6("::");
	ck_assert(pvc_sockaddr_is_any(&x));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common.sockaddr");
	TCase *tc = tcase_create("sockaddr");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_decode6);
	tcase_add_test(tc, test_decode_errors);
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_from_peer);
	tcase_add_test(tc, test_classes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
