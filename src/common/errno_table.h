/* SPDX-License-Identifier: MIT */
/* Internal: the errno table behind pvcalls_errno_to_wire()/_from_wire(),
 * pvcalls_strerror() and the audit's errno names; the whole table is
 * exposed for the tests. */
#ifndef PVCALLS_INTERNAL_ERRNO_TABLE_H
#define PVCALLS_INTERNAL_ERRNO_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct pvc_errno_entry {
	int host;         /* host E* value (positive) */
	int wire;         /* Linux asm-generic number, PVCALLS_WIRE_E* (positive) */
	const char *name; /* "ECONNREFUSED" */
	const char *desc; /* pvcalls_strerror() text */
};

/* The table and its length. Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) come
 * after the entries they alias, so a lookup finds the canonical one first. */
const struct pvc_errno_entry *pvc_errno_table(size_t *n);

/* The canonical entry for a positive host E* value, or NULL. */
const struct pvc_errno_entry *pvc_errno_by_host(int host);
/* The canonical entry for a positive Linux number, or NULL. */
const struct pvc_errno_entry *pvc_errno_by_wire(int wire);
/* The Linux name of a wire return value as a guest or peer may send it:
 * "ECONNREFUSED" for -111, "ENOTSUPP" for -524. NULL for 0, a positive
 * value, a value beyond -PVCALLS_WIRE_MAX_ERRNO (INT32_MIN included) or
 * a number the table lacks. */
const char *pvc_errno_wire_name(int32_t ret);

#endif
