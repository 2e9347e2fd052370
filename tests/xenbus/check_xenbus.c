/* SPDX-License-Identifier: MIT */
/*
 * The XenBus helpers both drivers share (src/xenbus/): parsing, paths,
 * the state node, each side's published nodes, transactions and waiting
 * for a state, over an in-process shm pair. The state machines that use
 * them are covered by the backend, frontend and conformance tests.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvcalls/shm.h>

#include "xenbus/xenbus.h"

static pvcalls_transport *hub, *guest;
static char dev[PVC_XB_PATH], be[PVC_XB_PATH];

static void setup(void)
{
	uint32_t gid;

	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &hub, &guest), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(guest, &gid), 0);
	ck_assert_int_eq(pvc_xb_front_dir(dev, sizeof(dev), gid, 0), 0);
	ck_assert_int_eq(pvc_xb_back_dir(be, sizeof(be), 0, gid, 0), 0);
}

static void teardown(void)
{
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}

START_TEST(test_versions)
{
	ck_assert(pvc_xb_versions_has_1("1"));
	ck_assert(pvc_xb_versions_has_1("1,2"));
	ck_assert(pvc_xb_versions_has_1("2,1"));
	ck_assert(pvc_xb_versions_has_1(",1,"));
	ck_assert(!pvc_xb_versions_has_1(""));
	ck_assert(!pvc_xb_versions_has_1("2"));
	ck_assert(!pvc_xb_versions_has_1("11"));
	ck_assert(!pvc_xb_versions_has_1("01"));
	ck_assert(!pvc_xb_versions_has_1(" 1"));
	ck_assert(pvc_xb_versions_has("1,2", 2));
	ck_assert(pvc_xb_versions_has("1,12", 12));
	ck_assert(!pvc_xb_versions_has("1,12", 2));
}
END_TEST

START_TEST(test_parse_and_paths)
{
	char p[PVC_XB_PATH], small[16];
	uint32_t v = 7;

	ck_assert(pvc_xb_parse_u32("0", 1, &v) && v == 0);
	ck_assert(pvc_xb_parse_u32("4294967295", 10, &v) && v == UINT32_MAX);
	ck_assert(pvc_xb_parse_u32("12/3", 2, &v) && v == 12);
	ck_assert(!pvc_xb_parse_u32("4294967296", 10, &v));
	ck_assert(!pvc_xb_parse_u32("", 0, &v));
	ck_assert(!pvc_xb_parse_u32("1a", 2, &v));
	ck_assert(!pvc_xb_parse_u32("-1", 2, &v));
	ck_assert(!pvc_xb_parse_u32("00000000001", 11, &v));

	ck_assert_int_eq(pvc_xb_front_dir(p, sizeof(p), 3, 0), 0);
	ck_assert_str_eq(p, "/local/domain/3/device/pvcalls/0");
	ck_assert_int_eq(pvc_xb_back_root(p, sizeof(p), 0), 0);
	ck_assert_str_eq(p, "/local/domain/0/backend/pvcalls");
	ck_assert_int_eq(pvc_xb_back_dir(p, sizeof(p), 0, 3, 1), 0);
	ck_assert_str_eq(p, "/local/domain/0/backend/pvcalls/3/1");
	ck_assert_int_eq(pvc_xb_join(p, sizeof(p), "/a", PVCALLS_WIRE_KEY_STATE), 0);
	ck_assert_str_eq(p, "/a/state");
	ck_assert_int_eq(pvc_xb_join(small, sizeof(small), "/a/long/directory", "state"),
			 -ENAMETOOLONG);
	ck_assert_int_eq(pvc_xb_back_dir(small, sizeof(small), 0, 3, 1), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_state_masks)
{
	uint32_t refused =
		PVC_XB_MASK(PVCALLS_XENBUS_UNKNOWN) | PVC_XB_MASK_FROM(PVCALLS_XENBUS_CLOSING);

	ck_assert(pvc_xb_state_in(PVCALLS_XENBUS_UNKNOWN, refused));
	ck_assert(!pvc_xb_state_in(PVCALLS_XENBUS_CONNECTED, refused));
	ck_assert(pvc_xb_state_in(PVCALLS_XENBUS_RECONFIGURED, refused));
	/* Not states at all: beyond any single-state mask, inside MASK_FROM. */
	ck_assert(pvc_xb_state_in(31, refused));
	ck_assert(pvc_xb_state_in(1000, refused));
	ck_assert(!pvc_xb_state_in(1000, PVC_XB_MASK(PVCALLS_XENBUS_CLOSED)));
	ck_assert_str_eq(pvc_xb_state_name(PVCALLS_XENBUS_INITWAIT), "InitWait");
	ck_assert_str_eq(pvc_xb_state_name(99), "Invalid");
}
END_TEST

START_TEST(test_state_node)
{
	uint32_t st = 99;
	char v[16];

	/* Absent reads as Unknown, as in xenbus. */
	ck_assert_int_eq(pvc_xb_read_state(hub, "/local/domain/0/nothing", &st), 0);
	ck_assert_uint_eq(st, PVCALLS_XENBUS_UNKNOWN);
	ck_assert_int_eq(pvc_xb_set_state(hub, be, PVCALLS_XENBUS_INITWAIT), 0);
	/* On the wire it is the decimal number, nothing else. */
	ck_assert_int_eq(
		pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_STATE, v, sizeof(v)),
		1);
	ck_assert_str_eq(v, "2");
	ck_assert_int_eq(pvc_xb_read_state(guest, be, &st), 0);
	ck_assert_uint_eq(st, PVCALLS_XENBUS_INITWAIT);
	ck_assert_int_eq(
		pvc_xb_write(hub, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_STATE, "garbage"), 0);
	ck_assert_int_eq(pvc_xb_read_state(guest, be, &st), -EINVAL);
}
END_TEST

START_TEST(test_offer)
{
	struct pvc_xb_offer o = { .max_order = 6, .wait_hint = true }, r;
	char v[16];

	ck_assert_int_eq(pvc_xb_write_offer(hub, PVCALLS_STORE_NO_TXN, be, &o), 0);
	ck_assert_int_eq(pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_VERSIONS, v,
				     sizeof(v)),
			 1);
	ck_assert_str_eq(v, "1");
	ck_assert_int_eq(pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be,
				     PVCALLS_WIRE_KEY_FUNCTION_CALLS, v, sizeof(v)),
			 1);
	ck_assert_str_eq(v, "1");
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
	ck_assert_uint_eq(r.max_order, 6);
	ck_assert(r.wait_hint);

	/* More than fits the indexes page is clamped. */
	ck_assert_int_eq(pvc_xb_write_uint(hub, PVCALLS_STORE_NO_TXN, be,
					   PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, 12),
			 0);
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
	ck_assert_uint_eq(r.max_order, PVCALLS_WIRE_MAX_RING_ORDER);

	/* A backend without versions 1 or function-calls 1 is unusable. */
	ck_assert_int_eq(
		pvc_xb_write(hub, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_VERSIONS, "2"), 0);
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), -EPROTONOSUPPORT);
	ck_assert_int_eq(
		pvc_xb_write(hub, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_VERSIONS, "2,1"), 0);
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
	ck_assert_int_eq(
		pvc_xb_write(hub, PVCALLS_STORE_NO_TXN, be, PVCALLS_WIRE_KEY_FUNCTION_CALLS, "2"),
		0);
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(test_offer_without_hint)
{
	struct pvc_xb_offer o = { .max_order = 4 }, r;
	char v[16];

	ck_assert_int_eq(pvc_xb_write_offer(hub, PVCALLS_STORE_NO_TXN, be, &o), 0);
	ck_assert_int_eq(
		pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be, PVC_XB_KEY_WAIT_HINT, v, sizeof(v)),
		-ENOENT);
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
	ck_assert_uint_eq(r.max_order, 4);
	ck_assert(!r.wait_hint);
}
END_TEST

START_TEST(test_ring)
{
	struct pvc_xb_ring w = { .ring_ref = 8, .port = 5, .wait_hint = false }, r;
	uint32_t v;

	ck_assert_int_eq(pvc_xb_write_ring(guest, PVCALLS_STORE_NO_TXN, dev, &w), 0);
	ck_assert_int_eq(
		pvc_xb_read_uint(hub, PVCALLS_STORE_NO_TXN, dev, PVCALLS_WIRE_KEY_VERSION, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pvc_xb_read_ring(hub, dev, &r), 0);
	ck_assert_uint_eq(r.ring_ref, 8);
	ck_assert_uint_eq(r.port, 5);
	ck_assert(!r.wait_hint);
	w.wait_hint = true;
	ck_assert_int_eq(pvc_xb_write_ring(guest, PVCALLS_STORE_NO_TXN, dev, &w), 0);
	ck_assert_int_eq(pvc_xb_read_ring(hub, dev, &r), 0);
	ck_assert(r.wait_hint);
	ck_assert_int_eq(pvc_xb_write(guest, PVCALLS_STORE_NO_TXN, dev, PVCALLS_WIRE_KEY_PORT, "x"),
			 0);
	ck_assert_int_eq(pvc_xb_read_ring(hub, dev, &r), -EINVAL);
}
END_TEST

/* docs/extensions.md, "Negotiation": the feature-libpvcalls-* keys. */
START_TEST(test_ext_keys)
{
	struct pvc_xb_offer o = { .max_order = 4,
				  .ext = PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_SOCKOPT },
			    r;
	struct pvc_xb_ring w = { .ring_ref = 8, .port = 5, .ext = PVCALLS_FEATURE_NAMES }, rr;
	static const char *const no[] = { "0", "2", "1 ", "yes", "", "-1", "4294967297", NULL };
	char v[16];

	ck_assert_int_eq(pvc_xb_write_offer(hub, PVCALLS_STORE_NO_TXN, be, &o), 0);
	ck_assert_int_eq(pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be, "feature-libpvcalls-shutdown",
				     v, sizeof(v)),
			 1);
	ck_assert_str_eq(v, "1");
	/* What is not offered is written "0": a stale "1" must not stay. */
	ck_assert_int_eq(pvc_xb_read(guest, PVCALLS_STORE_NO_TXN, be, "feature-libpvcalls-names", v,
				     sizeof(v)),
			 1);
	ck_assert_str_eq(v, "0");
	ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
	ck_assert_uint_eq(r.ext, PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_SOCKOPT);
	/* Only the value 1 offers. */
	for (const char *const *n = no; *n; n++) {
		ck_assert_int_eq(pvc_xb_write(hub, PVCALLS_STORE_NO_TXN, be,
					      "feature-libpvcalls-shutdown", *n),
				 0);
		ck_assert_int_eq(pvc_xb_read_offer(guest, be, &r), 0);
		ck_assert_msg(!(r.ext & PVCALLS_FEATURE_SHUTDOWN), "\"%s\" offers", *n);
	}
	ck_assert_uint_eq(pvc_xb_read_ext(guest, "/no/such/dir"), 0);
	/* The frontend's side. */
	ck_assert_int_eq(pvc_xb_write_ring(guest, PVCALLS_STORE_NO_TXN, dev, &w), 0);
	ck_assert_int_eq(pvc_xb_read_ring(hub, dev, &rr), 0);
	ck_assert_uint_eq(rr.ext, PVCALLS_FEATURE_NAMES);
	w.ext = 0;
	ck_assert_int_eq(pvc_xb_write_ring(guest, PVCALLS_STORE_NO_TXN, dev, &w), 0);
	ck_assert_int_eq(pvc_xb_read_ring(hub, dev, &rr), 0);
	ck_assert_uint_eq(rr.ext, 0);
}
END_TEST

static int txn_two(pvcalls_transport *t, uint32_t txn, void *arg)
{
	int rc = pvc_xb_write(t, txn, be, "a", "1");

	if (rc == 0)
		rc = pvc_xb_write(t, txn, be, "b", "2");
	return rc < 0 ? rc : *(int *)arg;
}

START_TEST(test_transact)
{
	int ret = -EIO;
	char v[16];

	/* An error from the body aborts: nothing appears. */
	ck_assert_int_eq(pvc_xb_transact(hub, txn_two, &ret), -EIO);
	ck_assert_int_eq(pvc_xb_read(hub, PVCALLS_STORE_NO_TXN, be, "a", v, sizeof(v)), -ENOENT);
	ret = 0;
	ck_assert_int_eq(pvc_xb_transact(hub, txn_two, &ret), 0);
	ck_assert_int_eq(pvc_xb_read(hub, PVCALLS_STORE_NO_TXN, be, "a", v, sizeof(v)), 1);
	ck_assert_int_eq(pvc_xb_read(hub, PVCALLS_STORE_NO_TXN, be, "b", v, sizeof(v)), 1);
}
END_TEST

static void *later_connected(void *arg)
{
	(void)arg;
	usleep(50000);
	pvc_xb_set_state(hub, be, PVCALLS_XENBUS_INITWAIT); /* not what is waited for */
	usleep(50000);
	pvc_xb_set_state(hub, be, PVCALLS_XENBUS_CONNECTED);
	return NULL;
}

START_TEST(test_wait_state)
{
	uint32_t want = PVC_XB_MASK(PVCALLS_XENBUS_CONNECTED), st = 99, was;
	pthread_t th;
	int64_t t0;

	ck_assert_int_eq(pvc_xb_read_state(guest, be, &was), 0); /* the hub's Initialising */
	ck_assert_int_eq(pvcalls_transport_store_watch(guest, be, "t"), 0);
	/* Nothing changes: times out near the deadline, with what it saw. */
	t0 = pvc_now_ms();
	ck_assert_int_eq(pvc_xb_wait_state(guest, be, want, t0 + 100, &st), -ETIMEDOUT);
	ck_assert_int_ge(pvc_now_ms() - t0, 100);
	ck_assert_uint_eq(st, was);
	/* Reached through the watch, past a state that does not match. */
	pthread_create(&th, NULL, later_connected, NULL);
	ck_assert_int_eq(pvc_xb_wait_state(guest, be, want, pvc_now_ms() + 5000, &st), 0);
	ck_assert_uint_eq(st, PVCALLS_XENBUS_CONNECTED);
	pthread_join(th, NULL);
	/* Already there: no wait at all, also without a deadline. */
	ck_assert_int_eq(pvc_xb_wait_state(guest, be, want, -1, NULL), 0);
	pvcalls_transport_store_unwatch(guest, be, "t");
	/* With its own watch, which it removes: the same token works again. */
	ck_assert_int_eq(pvc_xb_watch_state(guest, be, "t", want, -1, &st), 0);
	ck_assert_int_eq(pvc_xb_watch_state(guest, be, "t", PVC_XB_MASK(PVCALLS_XENBUS_CLOSED),
					    pvc_now_ms() + 50, &st),
			 -ETIMEDOUT);
	ck_assert_uint_eq(st, PVCALLS_XENBUS_CONNECTED);
}
END_TEST

static Suite *xenbus_suite(void)
{
	Suite *s = suite_create("xenbus");
	TCase *pure = tcase_create("parsing");
	TCase *store = tcase_create("store");

	tcase_add_test(pure, test_versions);
	tcase_add_test(pure, test_parse_and_paths);
	tcase_add_test(pure, test_state_masks);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(store, setup, teardown);
	tcase_add_test(store, test_state_node);
	tcase_add_test(store, test_offer);
	tcase_add_test(store, test_offer_without_hint);
	tcase_add_test(store, test_ring);
	tcase_add_test(store, test_ext_keys);
	tcase_add_test(store, test_transact);
	tcase_add_test(store, test_wait_state);
	suite_add_tcase(s, store);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xenbus_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
