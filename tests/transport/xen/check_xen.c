/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport against real Xen: grants, event channels and xenstore
 * round trips (xen_rt.c). Not on Xen, this exits 77 (skipped) and says
 * what is missing; it never passes without having run.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <pvcalls/xen.h>

#include "xen_rt.h"

START_TEST(test_round_trip)
{
	const struct xrt_case *c = &xrt_cases[_i];
	char err[512] = "";

	ck_assert_msg(c->fn(err, sizeof(err)) == 0, "%s: %s", c->name, err);
}
END_TEST

int main(void)
{
	char why[256];
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (pvcalls_xen_probe(why, sizeof(why)) < 0) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (getenv("PVCALLS_XEN_VERBOSE"))
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
	s = suite_create("transport.xen");
	tc = tcase_create("real-xen");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_round_trip, 0, (int)xrt_ncases);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
