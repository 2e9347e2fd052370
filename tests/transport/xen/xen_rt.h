/* SPDX-License-Identifier: MIT */
/*
 * Round trips through the Xen transport against real Xen, shared by the
 * Check test (check_xen) and the standalone pvcalls-xen-smoke. Public API
 * only. Each case opens its own transports and cleans up after itself.
 */
#ifndef PVCALLS_TEST_XEN_RT_H
#define PVCALLS_TEST_XEN_RT_H

#include <stddef.h>

/* Returns 0, or -1 with a one-line reason in err. */
typedef int (*xrt_fn)(char *err, size_t errlen);

struct xrt_case {
	const char *name;
	xrt_fn fn;
};

extern const struct xrt_case xrt_cases[];
extern const unsigned xrt_ncases;

#endif
