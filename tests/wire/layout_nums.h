/* SPDX-License-Identifier: MIT */
/*
 * What check_wire.c and check_wire_ext.c share: a table of numbers, each
 * as the header gives it (got) and as the document states it (want),
 * built with OFF() (a member's offset), SZ() (a member's size) and NUM()
 * (any constant expression). The name of each entry is its expression.
 */
#ifndef PVCALLS_TEST_LAYOUT_NUMS_H
#define PVCALLS_TEST_LAYOUT_NUMS_H

#include <stddef.h>

struct num {
	const char *what;
	unsigned long long got, want;
};

#define OFF(t, f, w)                                     \
	{                                                \
#t "." #f " offset", offsetof(t, f), (w) \
	}
#define SZ(t, f, w)                                           \
	{                                                     \
		"sizeof " #t "." #f, sizeof(((t *)0)->f), (w) \
	}
#define NUM(x, w)            \
	{                    \
#x, (x), (w) \
	}

#endif
