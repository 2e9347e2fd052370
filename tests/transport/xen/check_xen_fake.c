/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport's own logic against a fake at the library boundary
 * (the osdep table): probing, error mapping, bookkeeping of shares and
 * mappings, the non-blocking rules for pending events and watch events,
 * and the watch filter. Needs no Xen, so it always runs.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvcalls/transport.h>
#include <pvcalls/xen.h>

#include "transport/xen/xen_osdep.h"

#define PAGE 4096u

/* The libraries' handles are opaque to us, so the fake defines them. */
struct xenevtchn_handle {
	int unused;
};
struct xengntdev_handle {
	int unused;
};
struct xs_handle {
	int unused;
};

#define MAX_NODES 32
#define MAX_EVENTS 256

/* Counters bumped from several threads in the concurrency test. */
#define BUMP(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static struct fake {
	/* environment */
	const char *missing[3];
	bool denied;

	/* failures to inject: an errno, 0 for none */
	int evtchn_open_err, gnttab_open_err, gntshr_open_err, xs_open_err;
	int share_err, map_err, unshare_err;
	int unbound_err, bind_err, notify_err, pending_err;
	int xs_read_err, xs_watch_err, read_watch_err, txn_start_err, txn_end_err;
	uint32_t pending_port; /* next port pending_ returns, 0: none */

	/* observations */
	int opens, closes;
	int share_n, unshare_n, map_n, unmap_n, xs_rm_n, read_watch_n;
	int last_prot;
	struct xentoollog_logger *logger;

	/* state */
	struct xenevtchn_handle xce;
	struct xengntdev_handle xgt, xgs;
	struct xs_handle xsh;
	int evtchn_pipe[2], store_pipe[2];
	char *key[MAX_NODES], *val[MAX_NODES];
	char **events[MAX_EVENTS];
	int nevents;
} F;

static bool is_missing(const char *path)
{
	for (int i = 0; i < 3; i++)
		if (F.missing[i] && !strcmp(F.missing[i], path))
			return true;
	return false;
}

static int f_access(const char *path, int mode)
{
	if (is_missing(path)) {
		errno = ENOENT;
		return -1;
	}
	if (mode != F_OK && F.denied) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

/* --- evtchn --- */

static xenevtchn_handle *f_evtchn_open(struct xentoollog_logger *l, unsigned int flags)
{
	(void)flags;
	F.logger = l;
	if (F.evtchn_open_err) {
		errno = F.evtchn_open_err;
		return NULL;
	}
	F.opens++;
	return &F.xce;
}

static int f_evtchn_close(xenevtchn_handle *h)
{
	ck_assert_ptr_eq(h, &F.xce);
	F.closes++;
	return 0;
}

static int f_evtchn_fd(xenevtchn_handle *h)
{
	(void)h;
	return F.evtchn_pipe[0];
}

static int f_evtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	(void)h;
	(void)port;
	if (F.notify_err) {
		errno = F.notify_err;
		return -1;
	}
	return 0;
}

static xenevtchn_port_or_error_t f_unbound(xenevtchn_handle *h, uint32_t domid)
{
	(void)h;
	(void)domid;
	if (F.unbound_err) {
		errno = F.unbound_err;
		return -1;
	}
	return 11;
}

static xenevtchn_port_or_error_t f_bind(xenevtchn_handle *h, uint32_t domid, evtchn_port_t remote)
{
	(void)h;
	(void)domid;
	(void)remote;
	if (F.bind_err) {
		errno = F.bind_err;
		return -1;
	}
	return 12;
}

static int f_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	(void)h;
	(void)port;
	return 0;
}

static xenevtchn_port_or_error_t f_pending(xenevtchn_handle *h)
{
	uint32_t p = F.pending_port;

	(void)h;
	/* The real call read()s the fd: it must be non-blocking by now. */
	ck_assert_int_ne(fcntl(F.evtchn_pipe[0], F_GETFL) & O_NONBLOCK, 0);
	if (F.pending_err) {
		errno = F.pending_err;
		return -1;
	}
	if (!p) {
		errno = EAGAIN;
		return -1;
	}
	F.pending_port = 0;
	return (xenevtchn_port_or_error_t)p;
}

static int f_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	(void)h;
	(void)port;
	return 0;
}

/* --- grants --- */

static xengnttab_handle *f_gnttab_open(struct xentoollog_logger *l, unsigned int flags)
{
	(void)flags;
	ck_assert_ptr_eq(l, F.logger);
	if (F.gnttab_open_err) {
		errno = F.gnttab_open_err;
		return NULL;
	}
	F.opens++;
	return &F.xgt;
}

static int f_gnttab_close(xengnttab_handle *h)
{
	ck_assert_ptr_eq(h, &F.xgt);
	F.closes++;
	return 0;
}

static int f_set_max(xengnttab_handle *h, uint32_t n)
{
	(void)h;
	(void)n;
	return 0;
}

static void *f_map(xengnttab_handle *h, uint32_t count, uint32_t domid, uint32_t *refs, int prot)
{
	void *p;

	(void)h;
	(void)domid;
	(void)refs;
	__atomic_store_n(&F.last_prot, prot, __ATOMIC_RELAXED);
	if (F.map_err) {
		errno = F.map_err;
		return NULL;
	}
	p = mmap(NULL, count * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	BUMP(F.map_n);
	return p;
}

static int f_unmap(xengnttab_handle *h, void *addr, uint32_t count)
{
	(void)h;
	BUMP(F.unmap_n);
	return munmap(addr, count * PAGE);
}

static xengntshr_handle *f_gntshr_open(struct xentoollog_logger *l, unsigned int flags)
{
	(void)flags;
	ck_assert_ptr_eq(l, F.logger);
	if (F.gntshr_open_err) {
		errno = F.gntshr_open_err;
		return NULL;
	}
	F.opens++;
	return &F.xgs;
}

static int f_gntshr_close(xengntshr_handle *h)
{
	ck_assert_ptr_eq(h, &F.xgs);
	F.closes++;
	return 0;
}

static void *f_share(xengntshr_handle *h, uint32_t domid, int count, uint32_t *refs, int writable)
{
	void *p;

	(void)h;
	(void)domid;
	(void)writable;
	if (F.share_err) {
		errno = F.share_err;
		return NULL;
	}
	p = mmap(NULL, (size_t)count * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	for (int i = 0; i < count; i++)
		refs[i] = 100u + (uint32_t)i;
	BUMP(F.share_n);
	return p;
}

static int f_unshare(xengntshr_handle *h, void *addr, uint32_t count)
{
	(void)h;
	if (F.unshare_err) {
		errno = F.unshare_err;
		return -1;
	}
	BUMP(F.unshare_n);
	return munmap(addr, count * PAGE);
}

/* --- store --- */

static int node_find(const char *path)
{
	for (int i = 0; i < MAX_NODES; i++)
		if (F.key[i] && !strcmp(F.key[i], path))
			return i;
	return -1;
}

static void node_set(const char *path, const char *value)
{
	int i = node_find(path);

	if (i < 0) {
		for (i = 0; i < MAX_NODES && F.key[i]; i++)
			;
		ck_assert_int_lt(i, MAX_NODES);
		F.key[i] = strdup(path);
	}
	free(F.val[i]);
	F.val[i] = strdup(value);
}

/* A libxenstore-style vector: pointers followed by the strings, one malloc. */
static char **vec_new(const char *const *s, unsigned n)
{
	size_t len = 0;
	char **v, *p;

	for (unsigned i = 0; i < n; i++)
		len += strlen(s[i]) + 1;
	v = malloc(n * sizeof(char *) + len + 1);
	ck_assert_ptr_nonnull(v);
	p = (char *)(v + n);
	for (unsigned i = 0; i < n; i++) {
		v[i] = p;
		strcpy(p, s[i]);
		p += strlen(s[i]) + 1;
	}
	return v;
}

/* libxenstore's watch queue is locked; so is ours. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;

static void push_event(const char *path, const char *token)
{
	const char *s[2] = { path, token };

	pthread_mutex_lock(&ev_mu);
	ck_assert_int_lt(F.nevents, MAX_EVENTS);
	if (F.nevents++ == 0)
		ck_assert_int_eq(write(F.store_pipe[1], "!", 1), 1);
	F.events[F.nevents - 1] = vec_new(s, 2);
	pthread_mutex_unlock(&ev_mu);
}

static struct xs_handle *f_xs_open(unsigned long flags)
{
	(void)flags;
	if (F.xs_open_err) {
		errno = F.xs_open_err;
		return NULL;
	}
	F.opens++;
	return &F.xsh;
}

static void f_xs_close(struct xs_handle *h)
{
	ck_assert_ptr_eq(h, &F.xsh);
	F.closes++;
}

static void *f_xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
{
	int i;

	(void)h;
	(void)t;
	if (F.xs_read_err) {
		errno = F.xs_read_err;
		return NULL;
	}
	i = node_find(path);
	if (i < 0) {
		errno = ENOENT;
		return NULL;
	}
	*len = (unsigned int)strlen(F.val[i]);
	return strdup(F.val[i]);
}

static bool f_xs_write(struct xs_handle *h, xs_transaction_t t, const char *path, const void *data,
		       unsigned int len)
{
	char v[256];

	(void)h;
	(void)t;
	ck_assert_uint_lt(len, sizeof(v));
	memcpy(v, data, len);
	v[len] = '\0';
	node_set(path, v);
	return true;
}

static bool f_xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	int i = node_find(path);

	(void)h;
	(void)t;
	F.xs_rm_n++;
	if (i >= 0) {
		free(F.key[i]);
		free(F.val[i]);
		F.key[i] = F.val[i] = NULL;
	}
	return true;
}

static char **f_xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
			     unsigned int *num)
{
	const char *names[MAX_NODES];
	size_t n = strlen(path);
	unsigned k = 0;

	(void)h;
	(void)t;
	if (node_find(path) < 0) {
		errno = ENOENT;
		return NULL;
	}
	for (int i = 0; i < MAX_NODES; i++) {
		if (F.key[i] && !strncmp(F.key[i], path, n) && F.key[i][n] == '/' &&
		    !strchr(F.key[i] + n + 1, '/'))
			names[k++] = F.key[i] + n + 1;
	}
	*num = k;
	return vec_new(names, k);
}

static bool f_xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	(void)h;
	if (F.xs_watch_err) {
		errno = F.xs_watch_err;
		return false;
	}
	push_event(path, token); /* xenstored's initial event */
	return true;
}

static bool f_xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
	(void)h;
	(void)path;
	(void)token;
	return true;
}

static int f_xs_fileno(struct xs_handle *h)
{
	(void)h;
	return F.store_pipe[0];
}

static char **f_xs_read_watch(struct xs_handle *h, unsigned int *num)
{
	char **v;
	char c;

	(void)h;
	F.read_watch_n++;
	if (F.read_watch_err) {
		errno = F.read_watch_err;
		return NULL;
	}
	pthread_mutex_lock(&ev_mu);
	/* The real one would block here forever. */
	ck_assert_msg(F.nevents > 0, "xs_read_watch called with nothing queued");
	v = F.events[0];
	memmove(F.events, F.events + 1, (size_t)(--F.nevents) * sizeof(F.events[0]));
	if (F.nevents == 0)
		ck_assert_int_eq(read(F.store_pipe[0], &c, 1), 1);
	pthread_mutex_unlock(&ev_mu);
	*num = 2;
	return v;
}

static xs_transaction_t f_txn_start(struct xs_handle *h)
{
	(void)h;
	if (F.txn_start_err) {
		errno = F.txn_start_err;
		return XBT_NULL;
	}
	return 7;
}

static bool f_txn_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
	(void)h;
	(void)abort;
	ck_assert_uint_eq(t, 7);
	if (F.txn_end_err) {
		errno = F.txn_end_err;
		return false;
	}
	return true;
}

static const struct pvc_xen_osdep fake_os = {
	.access = f_access,
	.evtchn_open = f_evtchn_open,
	.evtchn_close = f_evtchn_close,
	.evtchn_fd = f_evtchn_fd,
	.evtchn_notify = f_evtchn_notify,
	.evtchn_bind_unbound_port = f_unbound,
	.evtchn_bind_interdomain = f_bind,
	.evtchn_unbind = f_unbind,
	.evtchn_pending = f_pending,
	.evtchn_unmask = f_unmask,
	.gnttab_open = f_gnttab_open,
	.gnttab_close = f_gnttab_close,
	.gnttab_set_max_grants = f_set_max,
	.gnttab_map_domain_grant_refs = f_map,
	.gnttab_unmap = f_unmap,
	.gntshr_open = f_gntshr_open,
	.gntshr_close = f_gntshr_close,
	.gntshr_share_pages = f_share,
	.gntshr_unshare = f_unshare,
	.xs_open = f_xs_open,
	.xs_close = f_xs_close,
	.xs_read = f_xs_read,
	.xs_write = f_xs_write,
	.xs_rm = f_xs_rm,
	.xs_directory = f_xs_directory,
	.xs_watch = f_xs_watch,
	.xs_unwatch = f_xs_unwatch,
	.xs_fileno = f_xs_fileno,
	.xs_read_watch = f_xs_read_watch,
	.xs_transaction_start = f_txn_start,
	.xs_transaction_end = f_txn_end,
};

/* --- log capture --- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[8192];

static void capture_log(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&log_mu);
	if (strlen(log_buf) + strlen(msgid) + strlen(msg) + 4 < sizeof(log_buf)) {
		strcat(log_buf, msgid);
		strcat(log_buf, ": ");
		strcat(log_buf, msg);
		strcat(log_buf, "\n");
	}
	pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *s)
{
	bool r;

	pthread_mutex_lock(&log_mu);
	r = strstr(log_buf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	ck_assert_int_eq(pipe(F.evtchn_pipe), 0);
	ck_assert_int_eq(pipe(F.store_pipe), 0);
	log_buf[0] = '\0';
	pvcalls_set_logger(capture_log, NULL, PVCALLS_LOG_DEBUG);
}

static void teardown(void)
{
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_DEBUG);
	close(F.evtchn_pipe[0]);
	close(F.evtchn_pipe[1]);
	close(F.store_pipe[0]);
	close(F.store_pipe[1]);
	for (int i = 0; i < MAX_NODES; i++) {
		free(F.key[i]);
		free(F.val[i]);
	}
	for (int i = 0; i < F.nevents; i++)
		free(F.events[i]);
}

static pvcalls_transport *open_ok(void)
{
	pvcalls_transport *t = NULL;
	int rc = pvc_xen_open_osdep(&fake_os, NULL, &t);

	ck_assert_msg(rc == 0, "open: %s\nlog:\n%s", pvcalls_strerror(rc), log_buf);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* ------------------------------------------------------------------------
 * Opening.
 */

START_TEST(test_open_not_on_xen)
{
	pvcalls_transport *t = (pvcalls_transport *)&F; /* must be reset */
	char why[256];

	F.missing[0] = PVC_XEN_DEV_EVTCHN;
	F.missing[1] = PVC_XEN_DEV_GNTDEV;
	F.missing[2] = PVC_XEN_DEV_GNTALLOC;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -ENODEV);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(F.opens, 0);
	ck_assert_msg(log_has("xen.unavailable: /dev/xen/evtchn, /dev/xen/gntdev, "
			      "/dev/xen/gntalloc missing"),
		      "log:\n%s", log_buf);
	ck_assert_int_eq(pvc_xen_probe_osdep(&fake_os, why, sizeof(why)), -ENODEV);
	ck_assert_msg(strstr(why, "/dev/xen/evtchn, /dev/xen/gntdev, /dev/xen/gntalloc missing"),
		      "why: %s", why);
}
END_TEST

START_TEST(test_open_one_device_missing)
{
	pvcalls_transport *t = NULL;
	char why[256];

	F.missing[0] = PVC_XEN_DEV_GNTALLOC;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -ENODEV);
	ck_assert_msg(log_has("/dev/xen/gntalloc missing"), "log:\n%s", log_buf);
	ck_assert(!log_has("/dev/xen/evtchn"));
	ck_assert_int_eq(pvc_xen_probe_osdep(&fake_os, why, sizeof(why)), -ENODEV);
	ck_assert_msg(!strncmp(why, "/dev/xen/gntalloc missing: ", 27), "why: %s", why);
}
END_TEST

START_TEST(test_open_denied)
{
	pvcalls_transport *t = NULL;
	char why[256];

	F.denied = true;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EACCES);
	ck_assert_msg(log_has("/dev/xen/evtchn: permission denied"), "log:\n%s", log_buf);
	ck_assert_int_eq(pvc_xen_probe_osdep(&fake_os, why, sizeof(why)), -EACCES);
	ck_assert_msg(strstr(why, "permission denied"), "why: %s", why);
	/* A device that exists but fails to open is reported by name. */
	F.denied = false;
	F.gnttab_open_err = EBUSY;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EBUSY);
	ck_assert_msg(log_has("opening /dev/xen/gntdev"), "log:\n%s", log_buf);
	ck_assert_int_eq(F.opens, F.closes);
}
END_TEST

START_TEST(test_open_no_xenstore)
{
	pvcalls_transport *t = NULL;
	char why[256];

	F.xs_open_err = ENOENT;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -ENOENT);
	ck_assert_msg(log_has("xenstore unreachable"), "log:\n%s", log_buf);
	ck_assert_int_eq(F.opens, 3);
	ck_assert_int_eq(F.closes, 3);
	ck_assert_int_eq(pvc_xen_probe_osdep(&fake_os, why, sizeof(why)), -ENOENT);
	ck_assert_msg(strstr(why, "xenstore unreachable"), "why: %s", why);
	/* Any other reason to fail still reads as "no store here". */
	F.xs_open_err = ECONNREFUSED;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -ENOENT);
}
END_TEST

START_TEST(test_open_evtchn_fails)
{
	pvcalls_transport *t = NULL;

	F.evtchn_open_err = EACCES;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EACCES);
	ck_assert_msg(log_has("opening /dev/xen/evtchn"), "log:\n%s", log_buf);
	ck_assert_int_eq(F.opens, 0);
	ck_assert_int_eq(F.closes, 0);
}
END_TEST

static void xtl_say(struct xentoollog_logger *l, xentoollog_level level, int errnoval,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void xtl_say(struct xentoollog_logger *l, xentoollog_level level, int errnoval,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	l->vmessage(l, level, errnoval, "gnttab", fmt, ap);
	va_end(ap);
}

START_TEST(test_open_ok)
{
	pvcalls_transport *t = open_ok();
	uint32_t domid = 99;

	ck_assert_str_eq(pvcalls_transport_name(t), "xen");
	ck_assert_int_eq(F.opens, 4);
	/* xenevtchn_pending blocks unless the fd is non-blocking. */
	ck_assert_int_eq(pvcalls_transport_evtchn_fd(t), F.evtchn_pipe[0]);
	ck_assert_int_ne(fcntl(F.evtchn_pipe[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(pvcalls_transport_store_fd(t), F.store_pipe[0]);
	/* No "domid" node, as in dom0. */
	ck_assert_int_eq(pvcalls_transport_local_domid(t, &domid), 0);
	ck_assert_uint_eq(domid, 0);
	/* The Xen libraries' messages reach our sink, not stderr. */
	ck_assert_ptr_nonnull(F.logger);
	xtl_say(F.logger, XTL_ERROR, EINVAL, "ioctl %s failed", "MAP_GRANT_REF");
	ck_assert_msg(log_has("xen.lib: gnttab: ioctl MAP_GRANT_REF failed: "), "log:\n%s",
		      log_buf);
	pvcalls_transport_close(t);
	ck_assert_int_eq(F.closes, 4);
}
END_TEST

START_TEST(test_domid)
{
	pvcalls_transport *t;
	uint32_t domid;

	node_set("domid", "7");
	t = open_ok();
	ck_assert_int_eq(pvcalls_transport_local_domid(t, &domid), 0);
	ck_assert_uint_eq(domid, 7);
	pvcalls_transport_close(t);

	node_set("domid", "7x");
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EINVAL);
	ck_assert_msg(log_has("\"domid\""), "log:\n%s", log_buf);
	node_set("domid", "");
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EINVAL);
	node_set("domid", "65536");
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -EINVAL);
	/* A store that fails the first request fails the open. */
	F.xs_read_err = EPIPE;
	ck_assert_int_eq(pvc_xen_open_osdep(&fake_os, NULL, &t), -ENOTCONN);
	ck_assert_int_eq(F.opens, F.closes);
}
END_TEST

/* ------------------------------------------------------------------------
 * Memory.
 */

START_TEST(test_share_fails)
{
	pvcalls_transport *t = open_ok();
	uint32_t refs[4];
	void *a;

	F.share_err = ENOSPC; /* gntalloc out of grants */
	ck_assert_int_eq(pvcalls_transport_share(t, 3, 4, true, refs, &a), -ENOMEM);
	ck_assert_msg(log_has("xen.share: sharing 4 page(s) with domain 3"), "log:\n%s", log_buf);
	F.share_err = ENOMEM;
	ck_assert_int_eq(pvcalls_transport_share(t, 3, 4, true, refs, &a), -ENOMEM);
	F.share_err = EINVAL;
	ck_assert_int_eq(pvcalls_transport_share(t, 3, 4, true, refs, &a), -EINVAL);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_unshare_bookkeeping)
{
	pvcalls_transport *t = open_ok();
	uint32_t refs[2];
	int local;
	void *a;

	ck_assert_int_eq(pvcalls_transport_share(t, 3, 2, true, refs, &a), 0);
	ck_assert_uint_eq(refs[0], 100);
	ck_assert_uint_eq(refs[1], 101);
	/* xengntshr_unshare would munmap whatever it is given: never pass it on. */
	ck_assert_int_eq(pvcalls_transport_unshare(t, a, 1), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unshare(t, (char *)a + PAGE, 1), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unshare(t, &local, 2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unmap(t, a, 2), -EINVAL);
	ck_assert_int_eq(F.unshare_n, 0);
	ck_assert_int_eq(F.unmap_n, 0);
	ck_assert_msg(log_has("xen.unshare: no share of 1 page(s)"), "log:\n%s", log_buf);
	/* A failing unshare keeps the share, so it can be retried. */
	F.unshare_err = EINVAL;
	ck_assert_int_eq(pvcalls_transport_unshare(t, a, 2), -EINVAL);
	F.unshare_err = 0;
	ck_assert_int_eq(pvcalls_transport_unshare(t, a, 2), 0);
	ck_assert_int_eq(F.unshare_n, 1);
	ck_assert_int_eq(pvcalls_transport_unshare(t, a, 2), -EINVAL);
	ck_assert_int_eq(F.unshare_n, 1);

	/* Many live shares at once (hash buckets collide). */
	void *many[200];

	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(pvcalls_transport_share(t, 3, 1, true, refs, &many[i]), 0);
	for (int i = 199; i >= 0; i -= 2)
		ck_assert_int_eq(pvcalls_transport_unshare(t, many[i], 1), 0);
	for (int i = 0; i < 200; i += 2)
		ck_assert_int_eq(pvcalls_transport_unshare(t, many[i], 1), 0);
	ck_assert_int_eq(F.unshare_n, 201);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_map)
{
	pvcalls_transport *t = open_ok();
	uint32_t refs[3] = { 42, 43, 44 };
	void *a;

	ck_assert_int_eq(pvcalls_transport_map(t, 5, 3, refs, false, &a), 0);
	ck_assert_int_eq(F.last_prot, PROT_READ);
	ck_assert_int_eq(pvcalls_transport_unshare(t, a, 3), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unmap(t, a, 2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unmap(t, a, 3), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(t, a, 3), -EINVAL);
	ck_assert_int_eq(F.unmap_n, 1);

	ck_assert_int_eq(pvcalls_transport_map(t, 5, 3, refs, true, &a), 0);
	ck_assert_int_eq(F.last_prot, PROT_READ | PROT_WRITE);
	ck_assert_int_eq(pvcalls_transport_unmap(t, a, 3), 0);

	F.map_err = EINVAL; /* gntdev: a bad ref */
	ck_assert_int_eq(pvcalls_transport_map(t, 5, 3, refs, true, &a), -EINVAL);
	ck_assert_msg(log_has("xen.map: mapping 3 ref(s) from domain 5 (first ref 42) writable"),
		      "log:\n%s", log_buf);
	F.map_err = EACCES; /* read-only grant mapped writable */
	ck_assert_int_eq(pvcalls_transport_map(t, 5, 3, refs, true, &a), -EPERM);
	F.map_err = ESRCH;
	ck_assert_int_eq(pvcalls_transport_map(t, 5, 3, refs, true, &a), -ESRCH);
	F.map_err = 0;
	ck_assert_int_eq(F.map_n, 2);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_close_releases)
{
	pvcalls_transport *t = open_ok();
	uint32_t refs[2] = { 1, 2 };
	void *a, *b;

	ck_assert_int_eq(pvcalls_transport_share(t, 3, 2, true, refs, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(t, 3, 2, refs, true, &b), 0);
	pvcalls_transport_close(t);
	ck_assert_int_eq(F.unshare_n, 1);
	ck_assert_int_eq(F.unmap_n, 1);
	ck_assert_msg(log_has("xen.close: released 2 shares/mappings"), "log:\n%s", log_buf);
	ck_assert_int_eq(F.closes, 4);
}
END_TEST

/* ------------------------------------------------------------------------
 * Event channels.
 */

START_TEST(test_evtchn)
{
	pvcalls_transport *t = open_ok();
	uint32_t port = 0;

	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(t, 3, &port), 0);
	ck_assert_uint_eq(port, 11);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(t, 3, 20, &port), 0);
	ck_assert_uint_eq(port, 12);

	/* Nothing pending: EAGAIN from the non-blocking read is "none". */
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(t, &port), 0);
	F.pending_port = 5;
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(t, &port), 1);
	ck_assert_uint_eq(port, 5);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(t, 5), 0);
	F.pending_err = EIO;
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(t, &port), -EIO);
	F.pending_err = EINTR;
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(t, &port), 0);

	F.unbound_err = ESRCH;
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(t, 3, &port), -ESRCH);
	F.bind_err = EINVAL;
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(t, 3, 20, &port), -EINVAL);
	ck_assert_msg(log_has("xen.evtchn: binding to port 20 of domain 3"), "log:\n%s", log_buf);
	F.notify_err = EINVAL;
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(t, 12), -EINVAL);
	F.notify_err = 0;
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(t, 12), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(t, 12), 0);
	pvcalls_transport_close(t);
}
END_TEST

/* ------------------------------------------------------------------------
 * Store.
 */

START_TEST(test_store_read)
{
	pvcalls_transport *t = open_ok();
	char buf[8];

	node_set("/a", "hello");
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, 6), 5);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, 5), -ERANGE);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/b", buf, sizeof(buf)), -ENOENT);
	F.xs_read_err = EBADF; /* libxenstore after the connection broke */
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, sizeof(buf)), -ENOTCONN);
	F.xs_read_err = EACCES;
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, sizeof(buf)), -EACCES);
	F.xs_read_err = 0;
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, "/c", "v"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/c", buf, sizeof(buf)), 1);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_store_rm)
{
	pvcalls_transport *t = open_ok();

	/* xenstored removes an absent node "successfully"; we must not. */
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, "/nope"), -ENOENT);
	ck_assert_int_eq(F.xs_rm_n, 0);
	node_set("/yes", "");
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, "/yes"), 0);
	ck_assert_int_eq(F.xs_rm_n, 1);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_store_directory)
{
	pvcalls_transport *t = open_ok();
	char buf[16];

	node_set("/d", "");
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, "/d", buf, sizeof(buf)), 0);
	node_set("/d/a", "1");
	node_set("/d/bb", "2");
	node_set("/d/bb/c", "3");
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, "/d", buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "a");
	ck_assert_str_eq(buf + 2, "bb");
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, "/d", buf, 5), 2);
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, "/d", buf, 4), -ERANGE);
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, "/e", buf, sizeof(buf)), -ENOENT);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_store_txn)
{
	pvcalls_transport *t = open_ok();
	uint32_t txn = 0;

	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &txn), 0);
	ck_assert_uint_eq(txn, 7);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, txn, false), 0);
	F.txn_end_err = EAGAIN;
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, txn, false), -EAGAIN);
	F.txn_end_err = ECONNRESET;
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, txn, true), -ENOTCONN);
	F.txn_start_err = ENOSPC; /* xenstored's transaction quota */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &txn), -ENOSPC);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_read_watch_never_blocks)
{
	pvcalls_transport *t = open_ok();
	char path[64], tok[16];

	/* Nothing queued: the fake's xs_read_watch would fail the test. */
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(t, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert_int_eq(F.read_watch_n, 0);
	pvcalls_transport_close(t);
}
END_TEST

static int rw(pvcalls_transport *t, char *path, size_t plen, char *tok, size_t tlen)
{
	return pvcalls_transport_store_read_watch(t, path, plen, tok, tlen);
}

START_TEST(test_read_watch_events)
{
	pvcalls_transport *t = open_ok();
	char path[64], tok[16];

	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/a", "t1"), 0);
	/* The initial event. */
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/a");
	ck_assert_str_eq(tok, "t1");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 0);

	push_event("/a/b", "t1");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/a/b");

	/* Events of no live watch are dropped (stale or foreign). */
	push_event("/ab", "t1");
	push_event("/a/b", "t2");
	push_event("/a/c", "t1");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/a/c");

	/* Too small a buffer: -ERANGE, and the event waits for a bigger one. */
	push_event("/a/long/path", "t1");
	ck_assert_int_eq(rw(t, path, 4, tok, sizeof(tok)), -ERANGE);
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, 2), -ERANGE);
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/a/long/path");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 0);

	/* After unwatch, events still queued for it are dropped. */
	push_event("/a/d", "t1");
	ck_assert_int_eq(pvcalls_transport_store_unwatch(t, "/a", "t1"), 0);
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert_int_eq(F.nevents, 0);

	/* A watch on the root sees everything. */
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/", "r"), 0);
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	push_event("/q/r", "r");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/q/r");
	ck_assert_int_eq(pvcalls_transport_store_unwatch(t, "/", "r"), 0);

	/* The same path watched twice under two tokens. */
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/x", "t1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/x", "t2"), 0);
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(tok, "t1");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(tok, "t2");
	ck_assert_int_eq(pvcalls_transport_store_unwatch(t, "/x", "t1"), 0);
	push_event("/x", "t1");
	push_event("/x", "t2");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(tok, "t2");
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_read_watch_fails)
{
	pvcalls_transport *t = open_ok();
	char path[64], tok[16];

	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/a", "t1"), 0);
	F.read_watch_err = EINVAL; /* libxenstore once its connection is gone */
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), -ENOTCONN);
	ck_assert_msg(log_has("xen.watch: reading a watch event"), "log:\n%s", log_buf);
	F.read_watch_err = ENOMEM;
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), -ENOMEM);
	F.read_watch_err = 0;
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 1);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_watch_fails)
{
	pvcalls_transport *t = open_ok();
	char path[64], tok[16];

	F.xs_watch_err = EACCES;
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/a", "t1"), -EACCES);
	/* Not remembered: its events are not delivered. */
	push_event("/a", "t1");
	ck_assert_int_eq(rw(t, path, sizeof(path), tok, sizeof(tok)), 0);
	F.xs_watch_err = EPIPE;
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/a", "t1"), -ENOTCONN);
	pvcalls_transport_close(t);
}
END_TEST

/* ------------------------------------------------------------------------
 * Threads: every operation but pending/read_watch may run concurrently.
 */

#define THREADS 4
#define ROUNDS 300

struct worker {
	pvcalls_transport *t;
	int id;
	int errors;
};

static void *mem_worker(void *arg)
{
	struct worker *w = arg;
	uint32_t refs[4];
	void *a, *b;

	for (int i = 0; i < ROUNDS; i++) {
		unsigned n = 1u + (unsigned)(i + w->id) % 4u;

		if (pvcalls_transport_share(w->t, 3, n, true, refs, &a) < 0) {
			w->errors++;
			continue;
		}
		memset(a, w->id, n * PAGE);
		if (pvcalls_transport_map(w->t, 3, n, refs, true, &b) < 0 ||
		    pvcalls_transport_unmap(w->t, b, n) < 0)
			w->errors++;
		if (pvcalls_transport_unshare(w->t, a, n) < 0)
			w->errors++;
	}
	return NULL;
}

static void *watch_worker(void *arg)
{
	struct worker *w = arg;
	char path[32], tok[32];

	snprintf(path, sizeof(path), "/w/%d", w->id);
	snprintf(tok, sizeof(tok), "tok%d", w->id);
	for (int i = 0; i < ROUNDS / 10; i++) {
		if (pvcalls_transport_store_watch(w->t, path, tok) < 0 ||
		    pvcalls_transport_store_unwatch(w->t, path, tok) < 0)
			w->errors++;
	}
	return NULL;
}

static volatile int stop_reader;

static void *watch_reader(void *arg)
{
	struct worker *w = arg;
	char path[64], tok[32];

	while (!__atomic_load_n(&stop_reader, __ATOMIC_ACQUIRE))
		if (pvcalls_transport_store_read_watch(w->t, path, sizeof(path), tok, sizeof(tok)) <
		    0)
			w->errors++;
	return NULL;
}

START_TEST(test_threads)
{
	pvcalls_transport *t = open_ok();
	struct worker w[2 * THREADS + 1];
	pthread_t th[2 * THREADS + 1];
	char path[64], tok[32];
	int i;

	for (i = 0; i < 2 * THREADS + 1; i++)
		w[i] = (struct worker){ .t = t, .id = i };
	pthread_create(&th[2 * THREADS], NULL, watch_reader, &w[2 * THREADS]);
	for (i = 0; i < THREADS; i++) {
		pthread_create(&th[i], NULL, mem_worker, &w[i]);
		pthread_create(&th[THREADS + i], NULL, watch_worker, &w[THREADS + i]);
	}
	for (i = 0; i < 2 * THREADS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&stop_reader, 1, __ATOMIC_RELEASE);
	pthread_join(th[2 * THREADS], NULL);
	for (i = 0; i < 2 * THREADS + 1; i++)
		ck_assert_msg(w[i].errors == 0, "worker %d: %d errors", i, w[i].errors);
	ck_assert_int_eq(F.share_n, THREADS * ROUNDS);
	ck_assert_int_eq(F.unshare_n, THREADS * ROUNDS);
	ck_assert_int_eq(F.unmap_n, THREADS * ROUNDS);
	/* Every watch is gone: whatever is still queued is dropped. */
	while (pvcalls_transport_store_read_watch(t, path, sizeof(path), tok, sizeof(tok)) > 0)
		ck_abort_msg("event for removed watch %s (%s) delivered", path, tok);
	pvcalls_transport_close(t);
	ck_assert_int_eq(F.unshare_n, THREADS * ROUNDS); /* nothing left to release */
}
END_TEST

/* ------------------------------------------------------------------------
 * The real libraries, on this machine.
 */

START_TEST(test_real_open)
{
	pvcalls_transport *t = NULL;
	char why[256];
	int rc;

	if (access(PVC_XEN_DEV_EVTCHN, F_OK) == 0)
		return; /* on Xen: check_xen covers the real thing */
	rc = pvcalls_xen_open(NULL, &t);
	ck_assert_int_eq(rc, -ENODEV);
	ck_assert_ptr_null(t);
	ck_assert_msg(log_has("/dev/xen/evtchn"), "log:\n%s", log_buf);
	ck_assert_int_eq(pvcalls_xen_probe(why, sizeof(why)), -ENODEV);
	ck_assert_msg(strstr(why, "/dev/xen/evtchn") && strstr(why, "missing"), "why: %s", why);
	ck_assert_int_eq(pvcalls_xen_probe(NULL, 0), -ENODEV);
}
END_TEST

static Suite *xen_fake_suite(void)
{
	Suite *s = suite_create("transport.xen_osdep");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_not_on_xen);
	tcase_add_test(tc, test_open_one_device_missing);
	tcase_add_test(tc, test_open_denied);
	tcase_add_test(tc, test_open_no_xenstore);
	tcase_add_test(tc, test_open_evtchn_fails);
	tcase_add_test(tc, test_open_ok);
	tcase_add_test(tc, test_domid);
	tcase_add_test(tc, test_real_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_share_fails);
	tcase_add_test(tc, test_unshare_bookkeeping);
	tcase_add_test(tc, test_map);
	tcase_add_test(tc, test_close_releases);
	suite_add_tcase(s, tc);

	tc = tcase_create("evtchn");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_evtchn);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_read);
	tcase_add_test(tc, test_store_rm);
	tcase_add_test(tc, test_store_directory);
	tcase_add_test(tc, test_store_txn);
	tcase_add_test(tc, test_read_watch_never_blocks);
	tcase_add_test(tc, test_read_watch_events);
	tcase_add_test(tc, test_read_watch_fails);
	tcase_add_test(tc, test_watch_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_fake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
