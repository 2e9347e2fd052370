/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-xen-smoke: runs the Xen transport's real round trips (grants to
 * ourselves, event channels between two handles, xenstore) and prints one
 * line per case, then "N passed, N failed". Meant for a real dom0 or domU,
 * e.g. under the QEMU harness in tests/xen/.
 *
 *   pvcalls-xen-smoke [-v] [CASE...]
 *
 * Exit status: 0 all passed, 1 a case failed, 2 usage, 77 not on Xen.
 */
#include <stdio.h>
#include <string.h>

#include <pvcalls/xen.h>

#include "xen_rt.h"

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0, i;
	int first = 1, a;
	char why[256];

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
		first = 2;
	}
	for (a = first; a < argc; a++) {
		for (i = 0; i < xrt_ncases && strcmp(argv[a], xrt_cases[i].name); i++)
			;
		if (i == xrt_ncases) {
			fprintf(stderr, "pvcalls-xen-smoke: no case '%s'; cases:\n", argv[a]);
			for (i = 0; i < xrt_ncases; i++)
				fprintf(stderr, "  %s\n", xrt_cases[i].name);
			return 2;
		}
	}
	if (pvcalls_xen_probe(why, sizeof(why)) < 0) {
		printf("SKIP: %s\n", why);
		printf("0 passed, 0 failed\n");
		return 77;
	}
	for (i = 0; i < xrt_ncases; i++) {
		char err[512] = "";
		int wanted = first == argc;

		for (a = first; a < argc && !wanted; a++)
			wanted = !strcmp(argv[a], xrt_cases[i].name);
		if (!wanted)
			continue;
		if (xrt_cases[i].fn(err, sizeof(err)) == 0) {
			printf("PASS %s\n", xrt_cases[i].name);
			passed++;
		} else {
			printf("FAIL %s: %s\n", xrt_cases[i].name, err);
			failed++;
		}
		fflush(stdout);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
