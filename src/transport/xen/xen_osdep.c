/* SPDX-License-Identifier: MIT */
/* The real Xen libraries behind the osdep table, and the xentoollog logger
 * that keeps them from printing. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/xen/xen_osdep.h"

const struct pvc_xen_osdep pvc_xen_osdep_real = {
	.access = access,

	.evtchn_open = xenevtchn_open,
	.evtchn_close = xenevtchn_close,
	.evtchn_fd = xenevtchn_fd,
	.evtchn_notify = xenevtchn_notify,
	.evtchn_bind_unbound_port = xenevtchn_bind_unbound_port,
	.evtchn_bind_interdomain = xenevtchn_bind_interdomain,
	.evtchn_unbind = xenevtchn_unbind,
	.evtchn_pending = xenevtchn_pending,
	.evtchn_unmask = xenevtchn_unmask,

	.gnttab_open = xengnttab_open,
	.gnttab_close = xengnttab_close,
	.gnttab_set_max_grants = xengnttab_set_max_grants,
	.gnttab_map_domain_grant_refs = xengnttab_map_domain_grant_refs,
	.gnttab_unmap = xengnttab_unmap,

	.gntshr_open = xengntshr_open,
	.gntshr_close = xengntshr_close,
	.gntshr_share_pages = xengntshr_share_pages,
	.gntshr_unshare = xengntshr_unshare,

	.xs_open = xs_open,
	.xs_close = xs_close,
	.xs_read = xs_read,
	.xs_write = xs_write,
	.xs_rm = xs_rm,
	.xs_directory = xs_directory,
	.xs_watch = xs_watch,
	.xs_unwatch = xs_unwatch,
	.xs_fileno = xs_fileno,
	.xs_read_watch = xs_read_watch,
	.xs_transaction_start = xs_transaction_start,
	.xs_transaction_end = xs_transaction_end,
};

/*
 * Without a logger of ours, libxengnttab and libxenevtchn create one that
 * writes to stderr. Theirs are diagnostics about calls that also fail
 * towards us, so they go to the sink with their own msgid.
 */
static enum pvcalls_log_level xtl_to_pvc(xentoollog_level level)
{
	if (level >= XTL_ERROR)
		return PVCALLS_LOG_ERR;
	if (level >= XTL_WARN)
		return PVCALLS_LOG_WARN;
	if (level >= XTL_NOTICE)
		return PVCALLS_LOG_NOTICE;
	if (level >= XTL_PROGRESS)
		return PVCALLS_LOG_INFO;
	return PVCALLS_LOG_DEBUG;
}

static void xtl_vmessage(struct xentoollog_logger *logger, xentoollog_level level, int errnoval,
			 const char *context, const char *format, va_list al)
	__attribute__((format(printf, 5, 0)));

static void xtl_vmessage(struct xentoollog_logger *logger, xentoollog_level level, int errnoval,
			 const char *context, const char *format, va_list al)
{
	char msg[400];

	(void)logger;
	vsnprintf(msg, sizeof(msg), format, al);
	if (errnoval >= 0)
		pvc_log(xtl_to_pvc(level), "xen.lib", "%s%s%s: %s", context ? context : "",
			context ? ": " : "", msg, pvcalls_strerror(errnoval));
	else
		pvc_log(xtl_to_pvc(level), "xen.lib", "%s%s%s", context ? context : "",
			context ? ": " : "", msg);
}

static void xtl_destroy(struct xentoollog_logger *logger)
{
	(void)logger; /* static: nothing to free */
}

struct xentoollog_logger pvc_xen_logger = {
	.vmessage = xtl_vmessage,
	.progress = NULL,
	.destroy = xtl_destroy,
};
