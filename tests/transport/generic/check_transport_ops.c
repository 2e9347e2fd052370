/* SPDX-License-Identifier: MIT */
/*
 * Registration and checked wrappers of the transport interface, against a
 * fake transport that records which op was reached.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvcalls/transport.h>

struct fake {
	int closed;
	int calls;
	char last[64];
};

static int closes; /* counts ops->close across a test */

#define HIT(ctx, name)                                         \
	do {                                                   \
		struct fake *f_ = (ctx);                       \
		f_->calls++;                                   \
		strncpy(f_->last, name, sizeof(f_->last) - 1); \
	} while (0)

static int f_domid(void *c, uint32_t *d)
{
	HIT(c, "local_domid");
	*d = 7;
	return 0;
}
static int f_share(void *c, uint32_t d, unsigned n, bool w, uint32_t *r, void **a)
{
	(void)d;
	(void)w;
	HIT(c, "share");
	for (unsigned i = 0; i < n; i++)
		r[i] = 8 + i;
	*a = c;
	return 0;
}
static int f_unshare(void *c, void *a, unsigned n)
{
	(void)a;
	(void)n;
	HIT(c, "unshare");
	return 0;
}
static int f_map(void *c, uint32_t d, unsigned n, const uint32_t *r, bool w, void **a)
{
	(void)d;
	(void)n;
	(void)r;
	(void)w;
	HIT(c, "map");
	*a = c;
	return 0;
}
static int f_unmap(void *c, void *a, unsigned n)
{
	(void)a;
	(void)n;
	HIT(c, "unmap");
	return 0;
}
static int f_alloc(void *c, uint32_t d, uint32_t *p)
{
	(void)d;
	HIT(c, "alloc");
	*p = 5;
	return 0;
}
static int f_bind(void *c, uint32_t d, uint32_t rp, uint32_t *p)
{
	(void)d;
	(void)rp;
	HIT(c, "bind");
	*p = 6;
	return 0;
}
static int f_notify(void *c, uint32_t p)
{
	(void)p;
	HIT(c, "notify");
	return 0;
}
static int f_eclose(void *c, uint32_t p)
{
	(void)p;
	HIT(c, "evtchn_close");
	return 0;
}
static int f_efd(void *c)
{
	HIT(c, "evtchn_fd");
	return 42;
}
static int f_pending(void *c, uint32_t *p)
{
	HIT(c, "pending");
	*p = 5;
	return 1;
}
static int f_unmask(void *c, uint32_t p)
{
	(void)p;
	HIT(c, "unmask");
	return 0;
}
static int f_read(void *c, uint32_t t, const char *path, char *buf, size_t len)
{
	(void)t;
	HIT(c, "read");
	/* A tiny fixed store for the parsing tests. */
	static const struct {
		const char *k, *v;
	} kv[] = {
		{ "/ok", "4" },   { "/max", "4294967295" }, { "/big", "4294967296" },
		{ "/neg", "-1" }, { "/hex", "0x10" },       { "/space", " 4" },
		{ "/empty", "" }, { "/junk", "4a" },
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!strcmp(path, kv[i].k)) {
			if (strlen(kv[i].v) + 1 > len)
				return -ERANGE;
			strcpy(buf, kv[i].v);
			return (int)strlen(kv[i].v);
		}
	}
	return -ENOENT;
}
static int f_write(void *c, uint32_t t, const char *p, const char *v)
{
	(void)t;
	(void)v;
	HIT(c, "write");
	strncpy(((struct fake *)c)->last, p, 63);
	return 0;
}
static int f_rm(void *c, uint32_t t, const char *p)
{
	(void)t;
	(void)p;
	HIT(c, "rm");
	return 0;
}
static int f_dir(void *c, uint32_t t, const char *p, char *b, size_t l)
{
	(void)t;
	(void)p;
	(void)l;
	HIT(c, "directory");
	b[0] = 0;
	return 0;
}
static int f_tstart(void *c, uint32_t *t)
{
	HIT(c, "txn_start");
	*t = 9;
	return 0;
}
static int f_tend(void *c, uint32_t t, bool a)
{
	(void)t;
	(void)a;
	HIT(c, "txn_end");
	return 0;
}
static int f_watch(void *c, const char *p, const char *t)
{
	(void)p;
	(void)t;
	HIT(c, "watch");
	return 0;
}
static int f_unwatch(void *c, const char *p, const char *t)
{
	(void)p;
	(void)t;
	HIT(c, "unwatch");
	return 0;
}
static int f_sfd(void *c)
{
	HIT(c, "store_fd");
	return 43;
}
static int f_rwatch(void *c, char *p, size_t pl, char *t, size_t tl)
{
	(void)pl;
	(void)tl;
	HIT(c, "read_watch");
	p[0] = 0;
	t[0] = 0;
	return 0;
}
static void f_close(void *c)
{
	((struct fake *)c)->closed++;
	closes++;
}

static const struct pvcalls_transport_ops full_ops = {
	.abi = PVCALLS_TRANSPORT_ABI,
	.name = "fake",
	.local_domid = f_domid,
	.share_pages = f_share,
	.unshare_pages = f_unshare,
	.map_refs = f_map,
	.unmap = f_unmap,
	.evtchn_alloc_unbound = f_alloc,
	.evtchn_bind = f_bind,
	.evtchn_notify = f_notify,
	.evtchn_close = f_eclose,
	.evtchn_fd = f_efd,
	.evtchn_pending = f_pending,
	.evtchn_unmask = f_unmask,
	.store_read = f_read,
	.store_write = f_write,
	.store_rm = f_rm,
	.store_directory = f_dir,
	.store_txn_start = f_tstart,
	.store_txn_end = f_tend,
	.store_watch = f_watch,
	.store_unwatch = f_unwatch,
	.store_fd = f_sfd,
	.store_read_watch = f_rwatch,
	.close = f_close,
};

static pvcalls_transport *new_fake(struct fake *f)
{
	pvcalls_transport *t = NULL;

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(pvcalls_transport_new(&full_ops, f, &t), 0);
	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(test_register_ok)
{
	struct fake f;
	pvcalls_transport *t = new_fake(&f);

	ck_assert_str_eq(pvcalls_transport_name(t), "fake");
	ck_assert_ptr_eq(pvcalls_transport_ctx(t), &f);
	ck_assert_ptr_eq(pvcalls_transport_ops(t), &full_ops);
	pvcalls_transport_close(t);
	ck_assert_int_eq(f.closed, 1);
	pvcalls_transport_close(NULL);
}
END_TEST

/* Every required member, removed one at a time, makes registration fail
 * and still releases the context. */
static const size_t required[] = {
	offsetof(struct pvcalls_transport_ops, local_domid),
	offsetof(struct pvcalls_transport_ops, share_pages),
	offsetof(struct pvcalls_transport_ops, unshare_pages),
	offsetof(struct pvcalls_transport_ops, map_refs),
	offsetof(struct pvcalls_transport_ops, unmap),
	offsetof(struct pvcalls_transport_ops, evtchn_alloc_unbound),
	offsetof(struct pvcalls_transport_ops, evtchn_bind),
	offsetof(struct pvcalls_transport_ops, evtchn_notify),
	offsetof(struct pvcalls_transport_ops, evtchn_close),
	offsetof(struct pvcalls_transport_ops, evtchn_fd),
	offsetof(struct pvcalls_transport_ops, evtchn_pending),
	offsetof(struct pvcalls_transport_ops, evtchn_unmask),
	offsetof(struct pvcalls_transport_ops, store_read),
	offsetof(struct pvcalls_transport_ops, store_write),
	offsetof(struct pvcalls_transport_ops, store_rm),
	offsetof(struct pvcalls_transport_ops, store_directory),
	offsetof(struct pvcalls_transport_ops, store_watch),
	offsetof(struct pvcalls_transport_ops, store_unwatch),
	offsetof(struct pvcalls_transport_ops, store_fd),
	offsetof(struct pvcalls_transport_ops, store_read_watch),
};

START_TEST(test_register_missing_op)
{
	struct pvcalls_transport_ops ops = full_ops;
	struct fake f = { 0 };
	pvcalls_transport *t = (pvcalls_transport *)&f;
	void (*null_fn)(void) = NULL;

	memcpy((char *)&ops + required[_i], &null_fn, sizeof(null_fn));
	closes = 0;
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(closes, 1);
}
END_TEST

START_TEST(test_register_bad_tables)
{
	struct pvcalls_transport_ops ops;
	struct fake f = { 0 };
	pvcalls_transport *t;

	ck_assert_int_eq(pvcalls_transport_new(NULL, &f, &t), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_new(&full_ops, &f, NULL), -EINVAL);

	ops = full_ops;
	ops.abi = PVCALLS_TRANSPORT_ABI + 1;
	closes = 0;
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), -EINVAL);
	ck_assert_int_eq(closes, 1);

	ops = full_ops;
	ops.name = "";
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), -EINVAL);
	ops.name = NULL;
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), -EINVAL);

	/* Transactions: both or neither. */
	ops = full_ops;
	ops.store_txn_end = NULL;
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), -EINVAL);
	ops.store_txn_start = NULL;
	ck_assert_int_eq(pvcalls_transport_new(&ops, &f, &t), 0);
	{
		uint32_t txn = 77;

		ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &txn), 0);
		ck_assert_uint_eq(txn, PVCALLS_STORE_NO_TXN);
		ck_assert_int_eq(pvcalls_transport_store_txn_end(t, txn, false), 0);
	}
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_wrappers_reject_bad_args)
{
	struct fake f;
	pvcalls_transport *t = new_fake(&f);
	uint32_t refs[4], port;
	void *addr;
	char buf[16], big[PVCALLS_STORE_MAX + 8];

	ck_assert_int_eq(pvcalls_transport_share(t, 0, 0, true, refs, &addr), -EINVAL);
	ck_assert_int_eq(
		pvcalls_transport_share(t, 0, PVCALLS_TRANSPORT_MAX_PAGES + 1, true, refs, &addr),
		-EINVAL);
	ck_assert_int_eq(pvcalls_transport_share(t, 0, 1, true, NULL, &addr), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_share(NULL, 0, 1, true, refs, &addr), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_map(t, 0, 0, refs, true, &addr), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_map(t, 0, 1, NULL, true, &addr), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unmap(t, NULL, 1), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unshare(t, NULL, 1), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(t, 0, NULL), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(t, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(t, NULL), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "/a", buf, 0), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[0] = '/';
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, big, "v"), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, "/a", big), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_watch(t, "/a", NULL), -EINVAL);
	/* None of these reached the transport. */
	ck_assert_int_eq(f.calls, 0);

	/* Valid calls do, and results come back unchanged. */
	ck_assert_int_eq(pvcalls_transport_share(t, 0, 4, true, refs, &addr), 0);
	ck_assert_uint_eq(refs[3], 11);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(t, 0, 1, &port), 0);
	ck_assert_uint_eq(port, 6);
	ck_assert_int_eq(pvcalls_transport_evtchn_fd(t), 42);
	ck_assert_int_eq(pvcalls_transport_store_fd(t), 43);
	ck_assert_int_eq(pvcalls_transport_store_printf(t, 0, "/x/y", "%u", 12u), 0);
	ck_assert_str_eq(f.last, "/x/y");
	ck_assert_int_eq(f.calls, 5);
	pvcalls_transport_close(t);
}
END_TEST

START_TEST(test_read_uint)
{
	struct fake f;
	pvcalls_transport *t = new_fake(&f);
	uint32_t v = 0;

	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/ok", &v), 0);
	ck_assert_uint_eq(v, 4);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/max", &v), 0);
	ck_assert_uint_eq(v, UINT32_MAX);
	v = 1234;
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/big", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/neg", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/hex", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/space", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/empty", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/junk", &v), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(t, 0, "/missing", &v), -ENOENT);
	ck_assert_uint_eq(v, 1234); /* untouched on failure */
	pvcalls_transport_close(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport.ops");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_register_ok);
	tcase_add_loop_test(tc, test_register_missing_op, 0,
			    (int)(sizeof(required) / sizeof(required[0])));
	tcase_add_test(tc, test_register_bad_tables);
	tcase_add_test(tc, test_wrappers_reject_bad_args);
	tcase_add_test(tc, test_read_uint);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
