/* SPDX-License-Identifier: MIT */
/*
 * Error numbers: host <-> wire, through the table in common/errno_table.c
 * (which says why the wire numbers are Linux's on every host).
 */
#include <pvcalls/proto.h>

#include <errno.h>
#include <limits.h>

#include "common/errno_table.h"
#include "common/log.h"

int32_t pvcalls_errno_to_wire(int err)
{
	const struct pvc_errno_entry *e;

	if (err == 0)
		return 0;
	if (err == INT_MIN)
		goto unmapped;
	if (err > 0)
		err = -err;
	if (err == -PVCALLS_WIRE_ENOTSUPP)
		return -PVCALLS_WIRE_ENOTSUPP;
	e = pvc_errno_by_host(-err);
	if (e)
		return -e->wire;
unmapped:
	pvc_debug("proto.errno-unmapped", "host errno %d has no wire value; sending EIO", err);
	return -PVCALLS_WIRE_EIO;
}

int pvcalls_errno_from_wire(int32_t wire)
{
	const struct pvc_errno_entry *e;

	if (wire == 0)
		return 0;
	if (wire > 0 || wire < -PVCALLS_WIRE_MAX_ERRNO) {
		pvc_debug("proto.errno-invalid", "wire errno %d out of range", (int)wire);
		return -EPROTO;
	}
	if (wire == -PVCALLS_WIRE_ENOTSUPP)
		return -EOPNOTSUPP;
	e = pvc_errno_by_wire(-wire);
	if (e)
		return -e->host;
	pvc_debug("proto.errno-unknown", "unknown wire errno %d; reporting EIO", (int)wire);
	return -EIO;
}
