/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/xen.h
 * @brief The Xen transport: real grant tables, event channels and xenstore,
 *        through Xen's stable libraries (libxengnttab, libxenevtchn,
 *        libxenstore). Provided by libpvcalls-xen (pkg-config pvcalls-xen,
 *        CMake pvcalls::pvcalls-xen).
 *
 * Requirements at run time: a Xen domain (dom0 or domU) with the device
 * nodes /dev/xen/evtchn, /dev/xen/gntdev and /dev/xen/gntalloc (Linux
 * modules xen-evtchn, xen-gntdev, xen-gntalloc) and a reachable xenstore
 * (xenstored's socket in dom0, /dev/xen/xenbus in a domU). Opening the
 * devices normally needs root.
 *
 * Semantics are those of pvcalls/transport.h, with Xen's own details:
 *  - share_pages allocates through gntalloc; a peer's mapping outlives
 *    unshare_pages (the kernel frees the pages when the peer unmaps).
 *  - map_refs fails with the errno the gntdev driver reports for a bad ref
 *    (normally -EINVAL); the hypervisor's status is in its log, not ours.
 *  - evtchn_notify never reports a dead peer.
 *  - store_read_watch notices a dead xenstore connection only when an
 *    event is due; other store operations return -ENOTCONN at once.
 *  - store calls wait for xenstored without a timeout of their own.
 *
 * Messages of the Xen libraries themselves are forwarded to the libpvcalls
 * log sink (msgid "xen.lib"); nothing is printed.
 *
 * This header needs no Xen headers.
 */
#ifndef PVCALLS_XEN_H
#define PVCALLS_XEN_H

#include <stddef.h>
#include <stdint.h>

#include <pvcalls/common.h>
#include <pvcalls/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options for pvcalls_xen_open; zero means default. */
struct pvcalls_xen_opts {
	/**
	 * Most pages this handle may map from other domains at once
	 * (xengnttab_set_max_grants). 0 keeps the gntdev driver's default.
	 */
	uint32_t max_map_pages;
};

/**
 * Opens the Xen transport: one event-channel handle, one grant-mapping and
 * one grant-sharing handle, and one xenstore connection. local_domid is
 * read from the "domid" store node once (0 when absent, as in dom0).
 *
 * @param opts NULL for defaults.
 * @param out  the transport; pvcalls_transport_close() releases every
 *             handle, and any share, mapping or port still open.
 * @retval -ENODEV not on Xen: a device node is missing (the log names
 *         every missing one).
 * @retval -ENOENT no xenstore to connect to.
 * @retval -EACCES a device or xenstore refused us (not root?).
 * @retval -ENOMEM, or another negative errno from the Xen libraries.
 */
PVCALLS_API int pvcalls_xen_open(const struct pvcalls_xen_opts *opts, pvcalls_transport **out);

/**
 * Tells whether pvcalls_xen_open() can work here, without logging: checks
 * the device nodes and connects to xenstore once.
 *
 * @param why    receives a one-line reason on failure, e.g.
 *               "/dev/xen/evtchn, /dev/xen/gntdev missing: not running on
 *               Xen"; may be NULL.
 * @param whylen size of @p why.
 * @retval 0 Xen is usable.
 * @retval -ENODEV, -ENOENT, -EACCES as for pvcalls_xen_open().
 */
PVCALLS_API int pvcalls_xen_probe(char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_XEN_H */
