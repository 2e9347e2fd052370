/* SPDX-License-Identifier: MIT */
/* Internal: the errno table behind pvcalls_errno_to_wire()/_from_wire() and
 * pvcalls_strerror(), exposed for the tests. */
#ifndef PVCALLS_INTERNAL_ERRNO_TABLE_H
#define PVCALLS_INTERNAL_ERRNO_TABLE_H

#include <stddef.h>

struct pvc_errno_entry {
	int host;         /* host E* value (positive) */
	int wire;         /* Linux asm-generic number (positive) */
	const char *name; /* "ECONNREFUSED" */
	const char *desc; /* pvcalls_strerror() text */
};

/* The table and its length. Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) come
 * after the entries they alias, so a lookup finds the canonical one first. */
const struct pvc_errno_entry *pvc_errno_table(size_t *n);

#endif
