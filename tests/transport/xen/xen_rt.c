/* SPDX-License-Identifier: MIT */
/*
 * Real-Xen round trips: grants to ourselves (a domain may map its own
 * grants), event channels between two handles of this domain, and the
 * store under our own /local/domain/<id>/data.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/transport.h>
#include <pvcalls/xen.h>

#include "xen_rt.h"

#define PAGE 4096u

static void fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

#define FAIL(...)                               \
	do {                                    \
		fail(err, errlen, __VA_ARGS__); \
		goto out;                       \
	} while (0)

/* Opens the transport and reads our domid. */
static int open_xen(pvcalls_transport **t, uint32_t *domid, char *err, size_t errlen)
{
	int rc = pvcalls_xen_open(NULL, t);

	if (rc < 0) {
		fail(err, errlen, "pvcalls_xen_open: %s", pvcalls_strerror(rc));
		return -1;
	}
	rc = pvcalls_transport_local_domid(*t, domid);
	if (rc < 0) {
		fail(err, errlen, "local_domid: %s", pvcalls_strerror(rc));
		pvcalls_transport_close(*t);
		*t = NULL;
		return -1;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0;
}

/* Next pending port within ms, or -1 (timeout) or a negative errno. */
static int64_t next_port(pvcalls_transport *t, int ms)
{
	int64_t deadline = now_ms() + ms;
	uint32_t port;
	int rc;

	for (;;) {
		rc = pvcalls_transport_evtchn_pending(t, &port);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return port;
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -1;
		readable(pvcalls_transport_evtchn_fd(t), (int)left);
	}
}

/* Next watch event within ms: 1 (filled), 0 (none) or a negative errno. */
static int next_event(pvcalls_transport *t, int ms, char *path, size_t plen, char *tok, size_t tlen)
{
	int64_t deadline = now_ms() + ms;
	int rc;

	for (;;) {
		rc = pvcalls_transport_store_read_watch(t, path, plen, tok, tlen);
		if (rc != 0)
			return rc;
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return 0;
		readable(pvcalls_transport_store_fd(t), (int)left);
	}
}

/* Waits for an event on exactly this path and token; others are skipped. */
static bool wait_event(pvcalls_transport *t, int ms, const char *want_path, const char *want_tok)
{
	int64_t deadline = now_ms() + ms;
	char path[PVCALLS_STORE_MAX], tok[64];

	while (now_ms() < deadline) {
		int rc = next_event(t, (int)(deadline - now_ms()), path, sizeof(path), tok,
				    sizeof(tok));

		if (rc <= 0)
			return false;
		if (!strcmp(path, want_path) && !strcmp(tok, want_tok))
			return true;
	}
	return false;
}

/* --- grants --------------------------------------------------------------- */

static int rt_domid(char *err, size_t errlen)
{
	pvcalls_transport *t1 = NULL, *t2 = NULL;
	uint32_t d1, d2;
	int ret = -1;

	if (open_xen(&t1, &d1, err, errlen) || open_xen(&t2, &d2, err, errlen))
		goto out;
	if (strcmp(pvcalls_transport_name(t1), "xen"))
		FAIL("transport name '%s'", pvcalls_transport_name(t1));
	if (d1 >= 0x7ff0)
		FAIL("domid %u is a reserved id", d1);
	if (d1 != d2)
		FAIL("domid differs between handles: %u vs %u", d1, d2);
	ret = 0;
out:
	pvcalls_transport_close(t1);
	pvcalls_transport_close(t2);
	return ret;
}

/* Shares count pages to ourselves, maps them, checks both views. */
static int self_share(unsigned count, char *err, size_t errlen)
{
	pvcalls_transport *t = NULL;
	uint32_t *refs = calloc(count, sizeof(*refs)), domid;
	unsigned char *a = NULL, *b = NULL;
	void *va, *vb;
	int rc, ret = -1;
	unsigned i;

	if (!refs)
		FAIL("out of memory");
	if (open_xen(&t, &domid, err, errlen))
		goto out;
	rc = pvcalls_transport_share(t, domid, count, true, refs, &va);
	if (rc < 0)
		FAIL("share %u pages to self (domid %u): %s", count, domid, pvcalls_strerror(rc));
	a = va;
	for (i = 0; i < count * PAGE; i++)
		if (a[i])
			FAIL("shared page %u not zeroed at offset %u", i / PAGE, i % PAGE);
	rc = pvcalls_transport_map(t, domid, count, refs, true, &vb);
	if (rc < 0)
		FAIL("map %u refs (first %u) from self: %s", count, refs[0], pvcalls_strerror(rc));
	b = vb;
	if (b == a)
		FAIL("mapping aliases the share's own address");
	for (i = 0; i < count; i++) {
		a[i * PAGE + 7] = (unsigned char)(0x40 + i);
		b[i * PAGE + PAGE - 1] = (unsigned char)(0x80 ^ i);
	}
	for (i = 0; i < count; i++) {
		if (b[i * PAGE + 7] != (unsigned char)(0x40 + i))
			FAIL("page %u: sharer's write not seen through the mapping", i);
		if (a[i * PAGE + PAGE - 1] != (unsigned char)(0x80 ^ i))
			FAIL("page %u: mapper's write not seen by the sharer", i);
	}
	rc = pvcalls_transport_unmap(t, vb, count);
	b = NULL;
	if (rc < 0)
		FAIL("unmap: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_unshare(t, va, count);
	a = NULL;
	if (rc < 0)
		FAIL("unshare: %s", pvcalls_strerror(rc));
	ret = 0;
out:
	if (b)
		pvcalls_transport_unmap(t, b, count);
	if (a)
		pvcalls_transport_unshare(t, a, count);
	pvcalls_transport_close(t);
	free(refs);
	return ret;
}

static int rt_gnt_one(char *err, size_t errlen)
{
	return self_share(1, err, errlen);
}

/* A data ring of the order Linux uses (4): 16 contiguous pages. */
static int rt_gnt_order4(char *err, size_t errlen)
{
	return self_share(16, err, errlen);
}

/* The contract's largest call. */
static int rt_gnt_max(char *err, size_t errlen)
{
	return self_share(PVCALLS_TRANSPORT_MAX_PAGES, err, errlen);
}

static int rt_gnt_readonly(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL;
	uint32_t ref, domid;
	void *a = NULL, *b = NULL, *w = NULL;
	int rc, ret = -1;

	if (open_xen(&t, &domid, err, errlen))
		goto out;
	rc = pvcalls_transport_share(t, domid, 1, false, &ref, &a);
	if (rc < 0)
		FAIL("read-only share: %s", pvcalls_strerror(rc));
	strcpy(a, "read-only grant");
	rc = pvcalls_transport_map(t, domid, 1, &ref, false, &b);
	if (rc < 0)
		FAIL("read-only map of a read-only grant: %s", pvcalls_strerror(rc));
	if (strcmp(b, "read-only grant"))
		FAIL("read-only mapping shows '%.20s'", (char *)b);
	rc = pvcalls_transport_map(t, domid, 1, &ref, true, &w);
	if (rc >= 0)
		FAIL("writable map of a read-only grant succeeded");
	w = NULL;
	ret = 0;
out:
	if (w)
		pvcalls_transport_unmap(t, w, 1);
	if (b)
		pvcalls_transport_unmap(t, b, 1);
	if (a)
		pvcalls_transport_unshare(t, a, 1);
	pvcalls_transport_close(t);
	return ret;
}

static int rt_gnt_ungranted(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL;
	uint32_t ref, bogus = 0xfffff, refs2[2], domid;
	void *a = NULL, *b = NULL;
	int rc, ret = -1;

	if (open_xen(&t, &domid, err, errlen))
		goto out;
	/* A ref revoked by unshare. */
	rc = pvcalls_transport_share(t, domid, 1, true, &ref, &a);
	if (rc < 0)
		FAIL("share: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_unshare(t, a, 1);
	a = NULL;
	if (rc < 0)
		FAIL("unshare: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_map(t, domid, 1, &ref, true, &b);
	if (rc >= 0)
		FAIL("mapping revoked ref %u succeeded", ref);
	b = NULL;
	/* A ref far beyond the grant table. */
	rc = pvcalls_transport_map(t, domid, 1, &bogus, false, &b);
	if (rc >= 0)
		FAIL("mapping out-of-range ref %u succeeded", bogus);
	b = NULL;
	/* One good ref and one bad: nothing may be mapped. */
	rc = pvcalls_transport_share(t, domid, 1, true, &refs2[0], &a);
	if (rc < 0)
		FAIL("share: %s", pvcalls_strerror(rc));
	refs2[1] = bogus;
	rc = pvcalls_transport_map(t, domid, 2, refs2, true, &b);
	if (rc >= 0)
		FAIL("mapping a good and a bad ref succeeded");
	b = NULL;
	ret = 0;
out:
	if (b)
		pvcalls_transport_unmap(t, b, 1);
	if (a)
		pvcalls_transport_unshare(t, a, 1);
	pvcalls_transport_close(t);
	return ret;
}

static int rt_gnt_bookkeeping(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL;
	uint32_t refs[2], domid;
	void *a = NULL, *b = NULL;
	int stack, rc, ret = -1;

	if (open_xen(&t, &domid, err, errlen))
		goto out;
	rc = pvcalls_transport_share(t, domid, 2, true, refs, &a);
	if (rc < 0)
		FAIL("share: %s", pvcalls_strerror(rc));
	if ((rc = pvcalls_transport_unshare(t, a, 1)) != -EINVAL)
		FAIL("unshare with the wrong count: %d, want -EINVAL", rc);
	if ((rc = pvcalls_transport_unshare(t, &stack, 1)) != -EINVAL)
		FAIL("unshare of a stack address: %d, want -EINVAL", rc);
	if ((rc = pvcalls_transport_unmap(t, a, 2)) != -EINVAL)
		FAIL("unmap of a share: %d, want -EINVAL", rc);
	rc = pvcalls_transport_map(t, domid, 2, refs, true, &b);
	if (rc < 0)
		FAIL("map: %s", pvcalls_strerror(rc));
	if ((rc = pvcalls_transport_unshare(t, b, 2)) != -EINVAL)
		FAIL("unshare of a mapping: %d, want -EINVAL", rc);
	rc = pvcalls_transport_unmap(t, b, 2);
	b = NULL;
	if (rc < 0)
		FAIL("unmap: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_unshare(t, a, 2);
	if (rc < 0)
		FAIL("unshare: %s", pvcalls_strerror(rc));
	if ((rc = pvcalls_transport_unshare(t, a, 2)) != -EINVAL)
		FAIL("second unshare: %d, want -EINVAL", rc);
	a = NULL;
	ret = 0;
out:
	if (b)
		pvcalls_transport_unmap(t, b, 2);
	if (a)
		pvcalls_transport_unshare(t, a, 2);
	pvcalls_transport_close(t);
	return ret;
}

/* --- event channels ------------------------------------------------------ */

/* Two handles of this domain (d1 == d2 on Xen). */
static int rt_evtchn_pair(char *err, size_t errlen)
{
	pvcalls_transport *t1 = NULL, *t2 = NULL;
	uint32_t d1, d2, p1 = 0, p2 = 0, port;
	int64_t got;
	int rc, ret = -1;

	if (open_xen(&t1, &d1, err, errlen) || open_xen(&t2, &d2, err, errlen))
		goto out;
	rc = pvcalls_transport_evtchn_alloc_unbound(t1, d2, &p1);
	if (rc < 0)
		FAIL("alloc_unbound(%u): %s", d2, pvcalls_strerror(rc));
	rc = pvcalls_transport_evtchn_bind(t2, d1, p1, &p2);
	if (rc < 0)
		FAIL("bind(%u, %u): %s", d1, p1, pvcalls_strerror(rc));
	if ((rc = pvcalls_transport_evtchn_pending(t1, &port)) != 0)
		FAIL("pending before any notify: %d", rc);

	rc = pvcalls_transport_evtchn_notify(t2, p2);
	if (rc < 0)
		FAIL("notify t2->t1: %s", pvcalls_strerror(rc));
	if ((got = next_port(t1, 2000)) != (int64_t)p1)
		FAIL("t1 pending: got %lld, want port %u", (long long)got, p1);
	/* Masked now: a second event is held back until unmask. */
	pvcalls_transport_evtchn_notify(t2, p2);
	if ((got = next_port(t1, 200)) != -1)
		FAIL("event delivered while masked (got %lld)", (long long)got);
	rc = pvcalls_transport_evtchn_unmask(t1, p1);
	if (rc < 0)
		FAIL("unmask: %s", pvcalls_strerror(rc));
	if ((got = next_port(t1, 2000)) != (int64_t)p1)
		FAIL("event held while masked not redelivered after unmask (got %lld)",
		     (long long)got);
	pvcalls_transport_evtchn_unmask(t1, p1);

	rc = pvcalls_transport_evtchn_notify(t1, p1);
	if (rc < 0)
		FAIL("notify t1->t2: %s", pvcalls_strerror(rc));
	if ((got = next_port(t2, 2000)) != (int64_t)p2)
		FAIL("t2 pending: got %lld, want port %u", (long long)got, p2);
	pvcalls_transport_evtchn_unmask(t2, p2);

	for (int i = 0; i < 200; i++) {
		pvcalls_transport_evtchn_notify(t2, p2);
		if (next_port(t1, 2000) != (int64_t)p1)
			FAIL("ping %d lost", i);
		pvcalls_transport_evtchn_unmask(t1, p1);
		pvcalls_transport_evtchn_notify(t1, p1);
		if (next_port(t2, 2000) != (int64_t)p2)
			FAIL("pong %d lost", i);
		pvcalls_transport_evtchn_unmask(t2, p2);
	}
	ret = 0;
out:
	if (p2)
		pvcalls_transport_evtchn_close(t2, p2);
	if (p1)
		pvcalls_transport_evtchn_close(t1, p1);
	pvcalls_transport_close(t2);
	pvcalls_transport_close(t1);
	return ret;
}

static int rt_evtchn_bad_bind(char *err, size_t errlen)
{
	pvcalls_transport *t1 = NULL, *t2 = NULL;
	uint32_t d1, d2, p1 = 0, p2 = 0;
	int rc, ret = -1;

	if (open_xen(&t1, &d1, err, errlen) || open_xen(&t2, &d2, err, errlen))
		goto out;
	rc = pvcalls_transport_evtchn_alloc_unbound(t1, d2, &p1);
	if (rc < 0)
		FAIL("alloc_unbound: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_evtchn_close(t1, p1);
	if (rc < 0)
		FAIL("close: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_evtchn_bind(t2, d1, p1, &p2);
	p1 = 0;
	if (rc >= 0)
		FAIL("binding to closed port succeeded (local port %u)", p2);
	p2 = 0;
	ret = 0;
out:
	if (p2)
		pvcalls_transport_evtchn_close(t2, p2);
	if (p1)
		pvcalls_transport_evtchn_close(t1, p1);
	pvcalls_transport_close(t2);
	pvcalls_transport_close(t1);
	return ret;
}

/* --- store ---------------------------------------------------------------- */

static void test_dir(char *buf, size_t len, uint32_t domid)
{
	snprintf(buf, len, "/local/domain/%u/data/pvcalls-test-%ld", domid, (long)getpid());
}

static int rt_store_basic(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL;
	char dir[128], path[192], buf[64], names[256];
	uint32_t domid, v;
	int rc, ret = -1;

	if (open_xen(&t, &domid, err, errlen))
		goto out;
	test_dir(dir, sizeof(dir), domid);
	snprintf(path, sizeof(path), "%s/a", dir);
	rc = pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, path, "hello");
	if (rc < 0)
		FAIL("write %s: %s", path, pvcalls_strerror(rc));
	rc = pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf));
	if (rc != 5 || strcmp(buf, "hello"))
		FAIL("read back: %d '%s'", rc, rc >= 0 ? buf : "");
	if ((rc = pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, 5)) != -ERANGE)
		FAIL("read into a 5-byte buffer: %d, want -ERANGE", rc);
	rc = pvcalls_transport_store_printf(t, PVCALLS_STORE_NO_TXN, path, "%u", 4242u);
	if (rc < 0)
		FAIL("printf: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_store_read_uint(t, PVCALLS_STORE_NO_TXN, path, &v);
	if (rc < 0 || v != 4242)
		FAIL("read_uint: %d %u", rc, v);
	snprintf(path, sizeof(path), "%s/b", dir);
	pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, path, "");
	rc = pvcalls_transport_store_directory(t, PVCALLS_STORE_NO_TXN, dir, names, sizeof(names));
	if (rc != 2)
		FAIL("directory %s: %d children, want 2", dir, rc);
	if (!((!strcmp(names, "a") && !strcmp(names + 2, "b")) ||
	      (!strcmp(names, "b") && !strcmp(names + 2, "a"))))
		FAIL("directory lists '%s', '%s'", names, names + strlen(names) + 1);
	if ((rc = pvcalls_transport_store_directory(t, PVCALLS_STORE_NO_TXN, dir, names, 3)) !=
	    -ERANGE)
		FAIL("directory into 3 bytes: %d, want -ERANGE", rc);
	rc = pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, path);
	if (rc < 0)
		FAIL("rm %s: %s", path, pvcalls_strerror(rc));
	if ((rc = pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf))) !=
	    -ENOENT)
		FAIL("read after rm: %d, want -ENOENT", rc);
	if ((rc = pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, path)) != -ENOENT)
		FAIL("rm of an absent node: %d, want -ENOENT", rc);
	rc = pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, dir);
	if (rc < 0)
		FAIL("rm %s: %s", dir, pvcalls_strerror(rc));
	snprintf(path, sizeof(path), "%s/a", dir);
	if ((rc = pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf))) !=
	    -ENOENT)
		FAIL("child after recursive rm: %d, want -ENOENT", rc);
	ret = 0;
out:
	if (t) {
		test_dir(dir, sizeof(dir), domid);
		pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, dir);
	}
	pvcalls_transport_close(t);
	return ret;
}

static int rt_store_watch(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL, *t2 = NULL;
	char dir[128], path[192], p[PVCALLS_STORE_MAX], tok[64];
	uint32_t domid, d2;
	int rc, ret = -1;

	if (open_xen(&t, &domid, err, errlen) || open_xen(&t2, &d2, err, errlen))
		goto out;
	test_dir(dir, sizeof(dir), domid);
	pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, dir, "");
	rc = pvcalls_transport_store_watch(t, dir, "tok-1");
	if (rc < 0)
		FAIL("watch %s: %s", dir, pvcalls_strerror(rc));
	if (!wait_event(t, 3000, dir, "tok-1"))
		FAIL("no initial event for the watch on %s", dir);
	/* A change by another connection. */
	snprintf(path, sizeof(path), "%s/x", dir);
	rc = pvcalls_transport_store_write(t2, PVCALLS_STORE_NO_TXN, path, "1");
	if (rc < 0)
		FAIL("write %s: %s", path, pvcalls_strerror(rc));
	if (!wait_event(t, 3000, path, "tok-1"))
		FAIL("no event for the change of %s", path);
	/* A path too long for the buffer: -ERANGE, then the same event. */
	snprintf(path, sizeof(path), "%s/y", dir);
	pvcalls_transport_store_write(t2, PVCALLS_STORE_NO_TXN, path, "2");
	readable(pvcalls_transport_store_fd(t), 3000);
	if ((rc = pvcalls_transport_store_read_watch(t, p, 8, tok, sizeof(tok))) != -ERANGE)
		FAIL("read_watch into 8 bytes: %d, want -ERANGE", rc);
	rc = next_event(t, 1000, p, sizeof(p), tok, sizeof(tok));
	if (rc != 1 || strcmp(p, path) || strcmp(tok, "tok-1"))
		FAIL("event kept after -ERANGE: %d '%s' '%s'", rc, rc > 0 ? p : "",
		     rc > 0 ? tok : "");
	rc = pvcalls_transport_store_unwatch(t, dir, "tok-1");
	if (rc < 0)
		FAIL("unwatch: %s", pvcalls_strerror(rc));
	pvcalls_transport_store_write(t2, PVCALLS_STORE_NO_TXN, path, "3");
	if ((rc = next_event(t, 300, p, sizeof(p), tok, sizeof(tok))) != 0)
		FAIL("event after unwatch: %d '%s'", rc, rc > 0 ? p : "");
	ret = 0;
out:
	if (t)
		pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, dir);
	pvcalls_transport_close(t2);
	pvcalls_transport_close(t);
	return ret;
}

static int rt_store_txn(char *err, size_t errlen)
{
	pvcalls_transport *t = NULL, *t2 = NULL;
	char dir[128], path[192], buf[32];
	uint32_t domid, d2, txn = 0;
	int rc, ret = -1, tries;

	if (open_xen(&t, &domid, err, errlen) || open_xen(&t2, &d2, err, errlen))
		goto out;
	test_dir(dir, sizeof(dir), domid);
	snprintf(path, sizeof(path), "%s/t", dir);
	pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, path, "0");

	/* Commit. */
	rc = pvcalls_transport_store_txn_start(t, &txn);
	if (rc < 0 || txn == PVCALLS_STORE_NO_TXN)
		FAIL("txn_start: %d (txn %u)", rc, txn);
	pvcalls_transport_store_write(t, txn, path, "1");
	rc = pvcalls_transport_store_read(t2, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf));
	if (rc < 0 || strcmp(buf, "0"))
		FAIL("uncommitted write visible to another connection: '%s'", buf);
	rc = pvcalls_transport_store_txn_end(t, txn, false);
	if (rc < 0)
		FAIL("commit: %s", pvcalls_strerror(rc));
	rc = pvcalls_transport_store_read(t2, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf));
	if (rc < 0 || strcmp(buf, "1"))
		FAIL("after commit: '%s'", buf);

	/* Abort. */
	pvcalls_transport_store_txn_start(t, &txn);
	pvcalls_transport_store_write(t, txn, path, "2");
	rc = pvcalls_transport_store_txn_end(t, txn, true);
	if (rc < 0)
		FAIL("abort: %s", pvcalls_strerror(rc));
	pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf));
	if (strcmp(buf, "1"))
		FAIL("after abort: '%s'", buf);

	/* Conflict: a node read in the transaction changes under it. */
	pvcalls_transport_store_txn_start(t, &txn);
	pvcalls_transport_store_read(t, txn, path, buf, sizeof(buf));
	pvcalls_transport_store_write(t2, PVCALLS_STORE_NO_TXN, path, "3");
	pvcalls_transport_store_write(t, txn, path, "4");
	if ((rc = pvcalls_transport_store_txn_end(t, txn, false)) != -EAGAIN)
		FAIL("conflicting commit: %d, want -EAGAIN", rc);
	pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, sizeof(buf));
	if (strcmp(buf, "3"))
		FAIL("after the conflict: '%s', want '3'", buf);
	/* And the usual retry loop gets through. */
	for (tries = 0; tries < 10; tries++) {
		pvcalls_transport_store_txn_start(t, &txn);
		pvcalls_transport_store_write(t, txn, path, "5");
		rc = pvcalls_transport_store_txn_end(t, txn, false);
		if (rc != -EAGAIN)
			break;
	}
	if (rc < 0)
		FAIL("retry loop: %s", pvcalls_strerror(rc));
	ret = 0;
out:
	if (t)
		pvcalls_transport_store_rm(t, PVCALLS_STORE_NO_TXN, dir);
	pvcalls_transport_close(t2);
	pvcalls_transport_close(t);
	return ret;
}

const struct xrt_case xrt_cases[] = {
	{ "local_domid", rt_domid },
	{ "gnt_self_1_page", rt_gnt_one },
	{ "gnt_self_16_pages_contiguous", rt_gnt_order4 },
	{ "gnt_self_512_pages_contiguous", rt_gnt_max },
	{ "gnt_readonly", rt_gnt_readonly },
	{ "gnt_ungranted_ref_fails", rt_gnt_ungranted },
	{ "gnt_unshare_unmap_bookkeeping", rt_gnt_bookkeeping },
	{ "evtchn_two_handles", rt_evtchn_pair },
	{ "evtchn_bind_closed_port_fails", rt_evtchn_bad_bind },
	{ "store_read_write_dir_rm", rt_store_basic },
	{ "store_watch", rt_store_watch },
	{ "store_transaction", rt_store_txn },
};

const unsigned xrt_ncases = sizeof(xrt_cases) / sizeof(xrt_cases[0]);
