/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport reaches the Xen libraries only through this table, so
 * that tests can put a fake at the library boundary and produce failures
 * that real Xen rarely shows (a share running out of grants, a dead
 * xenstore connection, a failing pending read).
 */
#ifndef PVCALLS_XEN_OSDEP_H
#define PVCALLS_XEN_OSDEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xentoollog.h>

#include <pvcalls/transport.h>
#include <pvcalls/xen.h>

struct pvc_xen_osdep {
	/* Environment: access(2), used to look for the device nodes. */
	int (*access)(const char *path, int mode);

	xenevtchn_handle *(*evtchn_open)(struct xentoollog_logger *logger, unsigned int flags);
	int (*evtchn_close)(xenevtchn_handle *xce);
	int (*evtchn_fd)(xenevtchn_handle *xce);
	int (*evtchn_notify)(xenevtchn_handle *xce, evtchn_port_t port);
	xenevtchn_port_or_error_t (*evtchn_bind_unbound_port)(xenevtchn_handle *xce,
							      uint32_t domid);
	xenevtchn_port_or_error_t (*evtchn_bind_interdomain)(xenevtchn_handle *xce, uint32_t domid,
							     evtchn_port_t remote_port);
	int (*evtchn_unbind)(xenevtchn_handle *xce, evtchn_port_t port);
	xenevtchn_port_or_error_t (*evtchn_pending)(xenevtchn_handle *xce);
	int (*evtchn_unmask)(xenevtchn_handle *xce, evtchn_port_t port);

	xengnttab_handle *(*gnttab_open)(struct xentoollog_logger *logger, unsigned int flags);
	int (*gnttab_close)(xengnttab_handle *xgt);
	int (*gnttab_set_max_grants)(xengnttab_handle *xgt, uint32_t nr_grants);
	void *(*gnttab_map_domain_grant_refs)(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
					      uint32_t *refs, int prot);
	int (*gnttab_unmap)(xengnttab_handle *xgt, void *addr, uint32_t count);

	xengntshr_handle *(*gntshr_open)(struct xentoollog_logger *logger, unsigned int flags);
	int (*gntshr_close)(xengntshr_handle *xgs);
	void *(*gntshr_share_pages)(xengntshr_handle *xgs, uint32_t domid, int count,
				    uint32_t *refs, int writable);
	int (*gntshr_unshare)(xengntshr_handle *xgs, void *addr, uint32_t count);

	struct xs_handle *(*xs_open)(unsigned long flags);
	void (*xs_close)(struct xs_handle *h);
	void *(*xs_read)(struct xs_handle *h, xs_transaction_t t, const char *path,
			 unsigned int *len);
	bool (*xs_write)(struct xs_handle *h, xs_transaction_t t, const char *path,
			 const void *data, unsigned int len);
	bool (*xs_rm)(struct xs_handle *h, xs_transaction_t t, const char *path);
	char **(*xs_directory)(struct xs_handle *h, xs_transaction_t t, const char *path,
			       unsigned int *num);
	bool (*xs_watch)(struct xs_handle *h, const char *path, const char *token);
	bool (*xs_unwatch)(struct xs_handle *h, const char *path, const char *token);
	int (*xs_fileno)(struct xs_handle *h);
	/* Blocks when nothing is queued: call only once xs_fileno polls readable. */
	char **(*xs_read_watch)(struct xs_handle *h, unsigned int *num);
	xs_transaction_t (*xs_transaction_start)(struct xs_handle *h);
	bool (*xs_transaction_end)(struct xs_handle *h, xs_transaction_t t, bool abort);
};

/* The Xen libraries themselves. */
extern const struct pvc_xen_osdep pvc_xen_osdep_real;

/* Device nodes the transport needs, in the order they are checked. */
#define PVC_XEN_DEV_EVTCHN "/dev/xen/evtchn"
#define PVC_XEN_DEV_GNTDEV "/dev/xen/gntdev"
#define PVC_XEN_DEV_GNTALLOC "/dev/xen/gntalloc"

/* pvcalls_xen_open / pvcalls_xen_probe over an explicit table (tests). */
int pvc_xen_open_osdep(const struct pvc_xen_osdep *os, const struct pvcalls_xen_opts *opts,
		       pvcalls_transport **out);
int pvc_xen_probe_osdep(const struct pvc_xen_osdep *os, char *why, size_t whylen);

/* The xentoollog logger handed to the Xen libraries: forwards to pvc_log. */
extern struct xentoollog_logger pvc_xen_logger;

#endif
