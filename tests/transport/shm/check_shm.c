/* SPDX-License-Identifier: MIT */
/*
 * Tests of the shared-memory loopback transport: grants, event channels,
 * the store, rendezvous between processes and peer death.
 */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

#include "transport/shm/shm_priv.h"

#define PAGE 4096u

/* ------------------------------------------------------------------------
 * Helpers.
 */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];

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

static void log_start(void)
{
	pthread_mutex_lock(&log_mu);
	log_buf[0] = '\0';
	pthread_mutex_unlock(&log_mu);
	pvcalls_set_logger(capture_log, NULL, PVCALLS_LOG_DEBUG);
}

static bool log_has(const char *s)
{
	bool r;

	pthread_mutex_lock(&log_mu);
	r = strstr(log_buf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static void make_pair(pvcalls_transport **hub, pvcalls_transport **guest)
{
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, hub, guest), 0);
	ck_assert_ptr_nonnull(*hub);
	ck_assert_ptr_nonnull(*guest);
}

static uint32_t domid_of(pvcalls_transport *t)
{
	uint32_t d = 0xffffffffu;

	ck_assert_int_eq(pvcalls_transport_local_domid(t, &d), 0);
	return d;
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/* Waits up to @ms for a port on @t's event channel fd. */
static int wait_port(pvcalls_transport *t, uint32_t *port, int ms)
{
	int fd = pvcalls_transport_evtchn_fd(t);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = pvcalls_transport_evtchn_pending(t, port);
		long el;

		if (r)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= ms || !readable(fd, (int)(ms - el)))
			return pvcalls_transport_evtchn_pending(t, port);
	}
}

/* Waits up to @ms for a watch event; returns read_watch's result. */
static int wait_watch(pvcalls_transport *t, char *path, char *token, int ms)
{
	int fd = pvcalls_transport_store_fd(t);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = pvcalls_transport_store_read_watch(t, path, 4096, token, 256);
		long el;

		if (r)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= ms)
			return 0;
		readable(fd, (int)(ms - el));
	}
}

/* Waits (by polling) until @path exists; returns its value length. */
static int wait_node(pvcalls_transport *t, const char *path, char *buf, size_t len, int ms)
{
	int r = -ENOENT;

	for (int i = 0; i < ms; i++) {
		r = pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, len);
		if (r != -ENOENT)
			return r;
		usleep(1000);
	}
	return r;
}

struct tmpd {
	char dir[64];
	char path[128];
};

static void tmpd_make(struct tmpd *d)
{
	strcpy(d->dir, "/tmp/pvcalls-shm-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/hub.sock", d->dir);
}

static void tmpd_clean(struct tmpd *d)
{
	unlink(d->path);
	rmdir(d->dir);
}

static struct shm_ctx *ctx_of(pvcalls_transport *t)
{
	struct shm_ctx *c = pvc_shm_ctx(t);

	ck_assert_ptr_nonnull(c);
	return c;
}

/* ------------------------------------------------------------------------
 * Basics and memory.
 */

START_TEST(test_pair_basic)
{
	pvcalls_transport *hub, *guest;

	make_pair(&hub, &guest);
	ck_assert_str_eq(pvcalls_transport_name(hub), "shm");
	ck_assert_uint_eq(domid_of(hub), 0);
	ck_assert_uint_ne(domid_of(guest), 0);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 1);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(guest), -EINVAL);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(guest, -1), -EINVAL);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_share_map_roundtrip)
{
	pvcalls_transport *hub, *guest;
	uint32_t g, refs[3];
	char *gp, *hp;
	void *a, *b;

	make_pair(&hub, &guest);
	g = domid_of(guest);
	/* guest -> hub, one page, both directions visible */
	ck_assert_int_eq(pvcalls_transport_share(guest, 0, 1, true, refs, &a), 0);
	ck_assert_uint_ge(refs[0], SHM_NR_RESERVED_REFS);
	gp = a;
	for (unsigned i = 0; i < PAGE; i++)
		ck_assert_int_eq(gp[i], 0);
	strcpy(gp, "from guest");
	ck_assert_int_eq(pvcalls_transport_map(hub, g, 1, refs, true, &b), 0);
	hp = b;
	ck_assert_str_eq(hp, "from guest");
	strcpy(hp + 100, "from hub");
	ck_assert_str_eq(gp + 100, "from hub");
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 1), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_unshare(guest, a, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(guest, a, 1), -EINVAL);

	/* hub -> guest, three pages mapped contiguously in order */
	ck_assert_int_eq(pvcalls_transport_share(hub, g, 3, true, refs, &a), 0);
	hp = a;
	for (unsigned i = 0; i < 3; i++)
		memset(hp + i * PAGE, 'A' + (int)i, PAGE);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 3, refs, true, &b), 0);
	gp = b;
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(gp[i * PAGE], 'A' + (int)i);
		ck_assert_int_eq(gp[i * PAGE + PAGE - 1], 'A' + (int)i);
	}
	gp[2 * PAGE + 7] = 'z';
	ck_assert_int_eq(hp[2 * PAGE + 7], 'z');
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 2), -EINVAL); /* wrong count */
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 3), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 3), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_share_zeroed_on_reuse)
{
	struct pvcalls_shm_opts o = { .max_pages = 1 };
	pvcalls_transport *hub, *guest;
	uint32_t ref;
	void *a;

	ck_assert_int_eq(pvcalls_shm_pair(&o, NULL, &hub, &guest), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref, &a), 0);
	memset(a, 0x5a, PAGE);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	/* The only page comes back, and it must be zero. */
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref, &a), 0);
	for (unsigned i = 0; i < PAGE; i++)
		ck_assert_int_eq(((char *)a)[i], 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref, &a), -ENOMEM);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_self_map)
{
	pvcalls_transport *hub, *guest;
	uint32_t refs[2], g;
	void *a, *b;

	make_pair(&hub, &guest);
	g = domid_of(guest);
	ck_assert_int_eq(pvcalls_transport_share(hub, 0, 2, true, refs, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(hub, 0, 2, refs, true, &b), 0);
	ck_assert_ptr_ne(a, b);
	strcpy((char *)a + PAGE, "self");
	ck_assert_str_eq((char *)b + PAGE, "self");
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 2), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 2), 0);
	/* A guest may map its own grants too. */
	ck_assert_int_eq(pvcalls_transport_share(guest, g, 1, false, refs, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(guest, g, 1, refs, false, &b), 0);
	strcpy(a, "guest self");
	ck_assert_str_eq(b, "guest self");
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(guest, a, 1), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_map_errors)
{
	pvcalls_transport *hub, *guest;
	uint32_t ref, refs[2], bad;
	struct shm_ctx *hc;
	void *a, *b;

	make_pair(&hub, &guest);
	hc = ctx_of(hub);
	log_start();
	/* ungranted */
	bad = 100;
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &bad, false, &b), -ENOENT);
	ck_assert(log_has("grant ref 100 of domain 0 is not granted"));
	/* reserved and out of range */
	bad = 3;
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &bad, false, &b), -EINVAL);
	ck_assert(log_has("grant ref 3 of domain 0 is out of range"));
	bad = 1000000;
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &bad, false, &b), -EINVAL);
	ck_assert(log_has("grant ref 1000000"));
	/* revoked */
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref, &a), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, false, &b), -ENOENT);
	/* foreign: granted to domain 7, not to the guest (nor to the hub itself) */
	ck_assert_int_eq(pvcalls_transport_share(hub, 7, 1, true, &ref, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, false, &b), -ENOENT);
	ck_assert(log_has("is granted to domain 7, not 1"));
	ck_assert_int_eq(pvcalls_transport_map(hub, 0, 1, &ref, false, &b), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	/* read-only grant */
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, false, &ref, &a), 0);
	strcpy(a, "ro");
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, true, &b), -EPERM);
	ck_assert(log_has("is read-only"));
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, false, &b), 0);
	ck_assert_str_eq(b, "ro");
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 1), 0);
	/* one bad ref fails the whole call and leaves no count behind */
	refs[0] = ref;
	refs[1] = 200;
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 2, refs, false, &b), -ENOENT);
	ck_assert_uint_eq(__atomic_load_n(&hc->self.gnt[ref].maps, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	ck_assert_uint_eq(hc->mem.nr_deferred, 0);
	/* no such domain */
	ck_assert_int_eq(pvcalls_transport_map(guest, 99, 1, &ref, false, &b), -ESRCH);
	ck_assert_int_eq(pvcalls_transport_map(hub, 99, 1, &ref, false, &b), -ESRCH);
	/* bad counts reach the op directly too */
	ck_assert_int_eq(pvc_shm_map_refs(ctx_of(guest), 0, 0, &ref, false, &b), -EINVAL);
	ck_assert_int_eq(
		pvc_shm_share_pages(hc, 1, PVCALLS_TRANSPORT_MAX_PAGES + 1, true, refs, &a),
		-EINVAL);
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* A hostile grant table must fail cleanly: no SIGBUS, no mapping. */
START_TEST(test_hostile_grant_entry)
{
	pvcalls_transport *hub, *guest;
	struct shm_ctx *hc, *gc;
	uint32_t ref = 50, ref2 = 51;
	void *b;

	make_pair(&hub, &guest);
	hc = ctx_of(hub);
	gc = ctx_of(guest);
	/* a page beyond max_pages */
	__atomic_store_n(&hc->self.gnt[ref].desc, SHM_GNT_DESC(1, 0xfffffffu, false),
			 __ATOMIC_SEQ_CST);
	/* a page below max_pages but beyond the pool's current size (a
	 * guest's pool grows on demand; the hub's is made at full size) */
	__atomic_store_n(&gc->self.gnt[ref2].desc, SHM_GNT_DESC(0, 4000, false), __ATOMIC_SEQ_CST);
	log_start();
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, false, &b), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 1, &ref2, false, &b), -EINVAL);
	ck_assert(log_has("names page 4000 outside the pool"));
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
	__atomic_store_n(&hc->self.gnt[ref].desc, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&gc->self.gnt[ref2].desc, 0, __ATOMIC_SEQ_CST);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_unshare_deferred)
{
	struct pvcalls_shm_opts o = { .max_pages = 2 };
	pvcalls_transport *hub, *guest;
	uint32_t ref, ref2, ref3;
	void *a, *a2, *a3, *b;

	ck_assert_int_eq(pvcalls_shm_pair(&o, NULL, &hub, &guest), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, true, &b), 0);
	memset(b, 0xab, PAGE);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	ck_assert_uint_eq(ctx_of(hub)->mem.nr_deferred, 1);
	/* revoked for new mappings, but the existing one stays valid */
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &ref, true, &a3), -ENOENT);
	ck_assert_int_eq(((unsigned char *)b)[PAGE - 1], 0xab);
	/* the other page is usable; the deferred one is not reused */
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref2, &a2), 0);
	ck_assert_uint_ne(ref2, ref);
	memset(a2, 0xcd, PAGE);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref3, &a3), -ENOMEM);
	for (unsigned i = 0; i < PAGE; i++)
		ck_assert_int_eq(((unsigned char *)b)[i], 0xab);
	/* the peer unmaps: the page is freed (zeroed) and can be shared again */
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &ref3, &a3), 0);
	ck_assert_uint_eq(ctx_of(hub)->mem.nr_deferred, 0);
	for (unsigned i = 0; i < PAGE; i++)
		ck_assert_int_eq(((unsigned char *)a3)[i], 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a2, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a3, 1), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* ------------------------------------------------------------------------
 * Runs of pages: a share and a mapping of adjacent pool pages cost one
 * mmap() (and one hole punch on release), whatever the number of pages.
 */

static uint64_t nr_mmaps(pvcalls_transport *t)
{
	return __atomic_load_n(&ctx_of(t)->mem.nr_mmap_calls, __ATOMIC_RELAXED);
}

static uint64_t nr_punches(pvcalls_transport *t)
{
	return __atomic_load_n(&ctx_of(t)->mem.nr_punch_calls, __ATOMIC_RELAXED);
}

/* The granter's pool page behind its ref. */
static uint32_t page_of(pvcalls_transport *t, uint32_t ref)
{
	struct shm_ctx *c = ctx_of(t);
	uint32_t pg;

	pthread_mutex_lock(&c->mem.lock);
	ck_assert_uint_eq(c->mem.refs[ref].state, SHM_REF_LIVE);
	pg = c->mem.refs[ref].page;
	pthread_mutex_unlock(&c->mem.lock);
	return pg;
}

static uint32_t maps_of(pvcalls_transport *t, uint32_t ref)
{
	return __atomic_load_n(&ctx_of(t)->self.gnt[ref].maps, __ATOMIC_SEQ_CST);
}

/* Fills page i of @p with a pattern naming @tag and i. */
static void fill_pages(void *p, unsigned n, unsigned tag)
{
	for (unsigned i = 0; i < n; i++)
		memset((char *)p + (size_t)i * PAGE, (int)(tag * 16 + i + 1), PAGE);
}

static void check_page(const void *p, unsigned tag, unsigned i)
{
	const unsigned char *c = p;

	ck_assert_uint_eq(c[0], (unsigned char)(tag * 16 + i + 1));
	ck_assert_uint_eq(c[PAGE / 2], (unsigned char)(tag * 16 + i + 1));
	ck_assert_uint_eq(c[PAGE - 1], (unsigned char)(tag * 16 + i + 1));
}

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

START_TEST(test_run_share_map)
{
	enum { N = 16 };
	pvcalls_transport *hub, *guest;
	uint32_t refs[N], refs2[N], p0;
	uint64_t m0, p;
	void *a, *b;

	make_pair(&hub, &guest);
	/* a fresh pool hands out adjacent pages: one run, one mmap() */
	m0 = nr_mmaps(hub);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, N, true, refs, &a), 0);
	ck_assert_uint_eq(nr_mmaps(hub) - m0, 1);
	p0 = page_of(hub, refs[0]);
	for (unsigned i = 1; i < N; i++)
		ck_assert_uint_eq(page_of(hub, refs[i]), p0 + i);
	fill_pages(a, N, 1);
	/* the mapper sees the run in order, with one mmap() too */
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, N, refs, true, &b), 0);
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 1);
	for (unsigned i = 0; i < N; i++) {
		check_page((char *)b + (size_t)i * PAGE, 1, i);
		ck_assert_uint_eq(maps_of(hub, refs[i]), 1);
	}
	/* shared memory both ways, at the last page too */
	((char *)b)[(N - 1) * PAGE + 9] = 'g';
	ck_assert_int_eq(((char *)a)[(N - 1) * PAGE + 9], 'g');
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, N), 0);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(maps_of(hub, refs[i]), 0);
	/* release punches the run's holes with one call */
	p = nr_punches(hub);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	ck_assert_uint_eq(nr_punches(hub) - p, 1);
	/* reuse after revoke: the same pages come back ascending, zeroed */
	m0 = nr_mmaps(hub);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, N, true, refs2, &a), 0);
	ck_assert_uint_eq(nr_mmaps(hub) - m0, 1);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(page_of(hub, refs2[i]), p0 + i);
	ck_assert(all_zero(a, (size_t)N * PAGE));
	/* the old refs are revoked (or reused for the new share's pages) */
	for (unsigned i = 0; i < N; i++) {
		bool reused = false;

		for (unsigned j = 0; j < N; j++)
			reused |= refs[i] == refs2[j];
		if (!reused)
			ck_assert_int_eq(pvcalls_transport_map(guest, 0, 1, &refs[i], true, &b),
					 -ENOENT);
	}
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* Refs in any order: each run is mapped where it belongs. */
START_TEST(test_run_noncontiguous)
{
	pvcalls_transport *hub, *guest;
	uint32_t r[3], order[5];
	void *a[3], *b;
	uint64_t m0;

	make_pair(&hub, &guest);
	/* three shares of one page each: adjacent pool pages */
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &r[k], &a[k]), 0);
		fill_pages(a[k], 1, k);
	}
	ck_assert_uint_eq(page_of(hub, r[1]), page_of(hub, r[0]) + 1);
	ck_assert_uint_eq(page_of(hub, r[2]), page_of(hub, r[0]) + 2);
	/* in pool order: one run */
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 3, r, false, &b), 0);
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 1);
	for (unsigned k = 0; k < 3; k++)
		check_page((char *)b + (size_t)k * PAGE, k, 0);
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 3), 0);
	/* out of order, with repeats: runs {2}, {0, 1}, {1, 2} */
	order[0] = r[2];
	order[1] = r[0];
	order[2] = r[1];
	order[3] = r[1];
	order[4] = r[2];
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 5, order, false, &b), 0);
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 1 + 3); /* a reservation, then the runs */
	check_page((char *)b + 0 * PAGE, 2, 0);
	check_page((char *)b + 1 * PAGE, 0, 0);
	check_page((char *)b + 2 * PAGE, 1, 0);
	check_page((char *)b + 3 * PAGE, 1, 0);
	check_page((char *)b + 4 * PAGE, 2, 0);
	ck_assert_uint_eq(maps_of(hub, r[1]), 2);
	/* the same memory: a write through one view shows in the others */
	((char *)a[1])[5] = 'x';
	ck_assert_int_eq(((char *)b)[2 * PAGE + 5], 'x');
	ck_assert_int_eq(((char *)b)[3 * PAGE + 5], 'x');
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, 5), 0);
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_uint_eq(maps_of(hub, r[k]), 0);
		ck_assert_int_eq(pvcalls_transport_unshare(hub, a[k], 1), 0);
	}
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/*
 * A bad ref inside a run fails the whole call: nothing mapped (not even a
 * reservation), no mapping count left on any ref.
 */
START_TEST(test_run_bad_ref_in_middle)
{
	pvcalls_transport *hub, *guest;
	uint32_t ra[4], rb, rc4[4], all[9];
	struct shm_ctx *hc, *gc;
	void *a, *pb, *c, *m;
	uint64_t m0;

	make_pair(&hub, &guest);
	hc = ctx_of(hub);
	gc = ctx_of(guest);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 4, true, ra, &a), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &rb, &pb), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 4, true, rc4, &c), 0);
	fill_pages(a, 4, 1);
	fill_pages(pb, 1, 2);
	fill_pages(c, 4, 3);
	memcpy(all, ra, sizeof(ra));
	all[4] = rb;
	memcpy(all + 5, rc4, sizeof(rc4));
	/* nine adjacent pages from three shares: one run */
	ck_assert_uint_eq(page_of(hub, rc4[3]), page_of(hub, ra[0]) + 8);
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 9, all, true, &m), 0);
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 1);
	check_page((char *)m + 4 * PAGE, 2, 0);
	check_page((char *)m + 8 * PAGE, 3, 3);
	ck_assert_int_eq(pvcalls_transport_unmap(guest, m, 9), 0);

	/* revoke the middle page */
	ck_assert_int_eq(pvcalls_transport_unshare(hub, pb, 1), 0);
	log_start();
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 9, all, true, &m), -ENOENT);
	ck_assert(log_has("is not granted (or revoked)"));
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 0);
	ck_assert_ptr_null(gc->mem.maps);
	for (unsigned i = 0; i < 9; i++)
		ck_assert_uint_eq(maps_of(hub, all[i]), 0);
	ck_assert_uint_eq(hc->mem.nr_deferred, 0);

	/* a hostile entry in the middle (a page beyond max_pages) fails likewise */
	ck_assert_uint_eq(hc->mem.refs[rb].state, SHM_REF_FREE);
	__atomic_store_n(&hc->self.gnt[rb].desc, SHM_GNT_DESC(1, 5000, false), __ATOMIC_SEQ_CST);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 9, all, true, &m), -EINVAL);
	ck_assert(log_has("names page 5000 outside the pool"));
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 0);
	for (unsigned i = 0; i < 9; i++)
		ck_assert_uint_eq(maps_of(hub, all[i]), 0);
	__atomic_store_n(&hc->self.gnt[rb].desc, 0, __ATOMIC_SEQ_CST);
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);

	/* the freed page comes back to the next share, zeroed; the run maps again */
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 1, true, &rb, &pb), 0);
	ck_assert_uint_eq(page_of(hub, rb), page_of(hub, ra[0]) + 4);
	ck_assert(all_zero(pb, PAGE));
	all[4] = rb;
	m0 = nr_mmaps(guest);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, 9, all, true, &m), 0);
	ck_assert_uint_eq(nr_mmaps(guest) - m0, 1);
	ck_assert(all_zero((char *)m + 4 * PAGE, PAGE));
	check_page((char *)m + 3 * PAGE, 1, 3);
	check_page((char *)m + 5 * PAGE, 3, 0);
	ck_assert_int_eq(pvcalls_transport_unmap(guest, m, 9), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 4), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, pb, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, c, 4), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* Pages freed in another order are sorted back into one run. */
START_TEST(test_run_reuse_sorted)
{
	pvcalls_transport *hub, *guest;
	uint32_t r1[2], r2[2], r[4], p0;
	void *a1, *a2, *a;
	uint64_t m0;

	make_pair(&hub, &guest);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 2, true, r1, &a1), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 2, true, r2, &a2), 0);
	p0 = page_of(hub, r1[0]);
	fill_pages(a1, 2, 1);
	fill_pages(a2, 2, 2);
	/* the free stack is now p0+2, p0+3, p0, p0+1 from the top */
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a1, 2), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a2, 2), 0);
	m0 = nr_mmaps(hub);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, 4, true, r, &a), 0);
	ck_assert_uint_eq(nr_mmaps(hub) - m0, 1);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(page_of(hub, r[i]), p0 + i);
	ck_assert(all_zero(a, 4 * PAGE));
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 4), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* Deferred frees (the peer still maps) also come back as a run. */
START_TEST(test_run_deferred)
{
	enum { N = 8 };
	pvcalls_transport *hub, *guest;
	uint32_t refs[N], p0;
	uint64_t m0, p;
	void *a, *b;

	make_pair(&hub, &guest);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, N, true, refs, &a), 0);
	p0 = page_of(hub, refs[0]);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, N, refs, true, &b), 0);
	fill_pages(b, N, 5);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	ck_assert_uint_eq(ctx_of(hub)->mem.nr_deferred, N);
	/* revoked for new mappings; the existing one stays valid */
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, N, refs, true, &a), -ENOENT);
	for (unsigned i = 0; i < N; i++)
		check_page((char *)b + (size_t)i * PAGE, 5, i);
	ck_assert_int_eq(pvcalls_transport_unmap(guest, b, N), 0);
	/* the next share sweeps them (one punch) and gets them ascending */
	p = nr_punches(hub);
	m0 = nr_mmaps(hub);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, N, true, refs, &a), 0);
	ck_assert_uint_eq(ctx_of(hub)->mem.nr_deferred, 0);
	ck_assert_uint_eq(nr_punches(hub) - p, 1);
	ck_assert_uint_eq(nr_mmaps(hub) - m0, 1);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(page_of(hub, refs[i]), p0 + i);
	ck_assert(all_zero(a, (size_t)N * PAGE));
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* A mapper that dies releases its counts on a whole run; the pages are reused. */
START_TEST(test_run_peer_death)
{
	enum { N = 8 };
	pvcalls_transport *hub, *guest;
	uint32_t refs[N], p0;
	struct shm_ctx *hc;
	uint32_t left = N;
	void *a, *b;

	make_pair(&hub, &guest);
	hc = ctx_of(hub);
	ck_assert_int_eq(pvcalls_transport_share(hub, 1, N, true, refs, &a), 0);
	p0 = page_of(hub, refs[0]);
	ck_assert_int_eq(pvcalls_transport_map(guest, 0, N, refs, true, &b), 0);
	fill_pages(b, N, 6);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	ck_assert_uint_eq(hc->mem.nr_deferred, N);
	/* the guest goes away without unmapping */
	pvcalls_transport_close(guest);
	for (int i = 0; i < 5000 && left; i++) {
		pthread_mutex_lock(&hc->mem.lock);
		left = hc->mem.nr_deferred;
		pthread_mutex_unlock(&hc->mem.lock);
		if (left)
			usleep(1000);
	}
	ck_assert_uint_eq(left, 0);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(maps_of(hub, refs[i]), 0);
	ck_assert_int_eq(pvcalls_transport_share(hub, 0, N, true, refs, &a), 0);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(page_of(hub, refs[i]), p0 + i);
	ck_assert(all_zero(a, (size_t)N * PAGE));
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, N), 0);
	pvcalls_transport_close(hub);
}
END_TEST

/* ------------------------------------------------------------------------
 * Event channels.
 */

static void bind_pair(pvcalls_transport *hub, pvcalls_transport *guest, uint32_t *hp, uint32_t *gp)
{
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(hub, domid_of(guest), hp), 0);
	ck_assert_uint_ne(*hp, 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, *hp, gp), 0);
	ck_assert_uint_ne(*gp, 0);
}

START_TEST(test_evtchn_deliver_mask_coalesce)
{
	pvcalls_transport *hub, *guest;
	uint32_t hp, gp, p = 0;
	int hfd;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp, &gp);
	hfd = pvcalls_transport_evtchn_fd(hub);
	ck_assert_int_ge(hfd, 0);
	ck_assert(!readable(hfd, 0));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);

	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp), 0);
	ck_assert(readable(hfd, 1000));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 1);
	ck_assert_uint_eq(p, hp);
	ck_assert(!readable(hfd, 0));
	/* masked: more events coalesce and do not wake */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp), 0);
	ck_assert(!readable(hfd, 50));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	/* unmask redelivers exactly once */
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hp), 0);
	ck_assert(readable(hfd, 1000));
	p = 0;
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 1);
	ck_assert_uint_eq(p, hp);
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hp), 0);
	ck_assert(!readable(hfd, 20));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);

	/* the other direction */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hp), 0);
	ck_assert_int_eq(wait_port(guest, &p, 1000), 1);
	ck_assert_uint_eq(p, gp);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(guest, gp), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_evtchn_two_ports)
{
	pvcalls_transport *hub, *guest;
	uint32_t hp1, gp1, hp2, gp2, p1 = 0, p2 = 0, p;
	int hfd;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp1, &gp1);
	bind_pair(hub, guest, &hp2, &gp2);
	ck_assert_uint_ne(hp1, hp2);
	hfd = pvcalls_transport_evtchn_fd(hub);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp1), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp2), 0);
	ck_assert(readable(hfd, 1000));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p1), 1);
	/* one more is pending: the fd must still poll readable */
	ck_assert(readable(hfd, 0));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p2), 1);
	ck_assert_uint_ne(p1, p2);
	ck_assert((p1 == hp1 && p2 == hp2) || (p1 == hp2 && p2 == hp1));
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	ck_assert(!readable(hfd, 0));
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_evtchn_errors_and_close)
{
	pvcalls_transport *hub, *guest;
	uint32_t hp, gp, gp2, p, hself, hself2;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp, &gp);
	/* already bound, port 0, out of range, not allocated */
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, hp, &gp2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, 0, &gp2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, 1u << 30, &gp2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, hp + 100, &gp2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 42, hp, &gp2), -ESRCH);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(guest, 42, &gp2), -ESRCH);
	/* unbound for another domain: the guest may not bind it */
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(hub, 0, &hself), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, hself, &gp2), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, 4000), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(guest, 4000), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(guest, 4000), -EINVAL);
	/* notify on an unbound port is dropped silently, as on Xen */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hself), 0);
	/* self binding works: loopback */
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(hub, 0, hself, &hself2), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hself2), 0);
	ck_assert_int_eq(wait_port(hub, &p, 1000), 1);
	ck_assert_uint_eq(p, hself);
	/* closing the binder: the hub's end reverts to unbound, notify is dropped */
	ck_assert_int_eq(pvcalls_transport_evtchn_close(guest, gp), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hp), 0);
	ck_assert_int_eq(wait_port(guest, &p, 50), 0);
	/* ... and can be bound again */
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(guest, 0, hp, &gp2), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp2), 0);
	ck_assert_int_eq(wait_port(hub, &p, 1000), 1);
	ck_assert_uint_eq(p, hp);
	/* closing the allocator: the binder's notify is dropped */
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hp), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(guest, gp2), 0);
	ck_assert_int_eq(wait_port(hub, &p, 50), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(guest, gp2), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hself), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hself2), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* Pending bits a peer sets on ports we do not hold are ignored. */
START_TEST(test_evtchn_hostile_bits)
{
	pvcalls_transport *hub, *guest;
	struct shm_ctx *hc;
	uint32_t p;

	make_pair(&hub, &guest);
	hc = ctx_of(hub);
	/* what a rogue guest could write into the hub's table */
	__atomic_fetch_or(&hc->self.pending[0], ~0ull, __ATOMIC_SEQ_CST);
	__atomic_store_n(&hc->self.mask[0], 0, __ATOMIC_SEQ_CST);
	pvc_shm_efd_signal(hc->self.efd);
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

struct pp {
	pvcalls_transport *t;
	uint32_t port;
	int n;
	bool starter;
	int err;
};

static void *pingpong(void *arg)
{
	struct pp *a = arg;
	int fd = pvcalls_transport_evtchn_fd(a->t);

	if (a->starter && pvcalls_transport_evtchn_notify(a->t, a->port)) {
		a->err = 1;
		return NULL;
	}
	for (int i = 0; i < a->n; i++) {
		uint32_t p;
		int r;

		while ((r = pvcalls_transport_evtchn_pending(a->t, &p)) == 0) {
			if (!readable(fd, 5000)) {
				a->err = 2; /* a lost wakeup */
				return NULL;
			}
		}
		if (r != 1 || p != a->port || pvcalls_transport_evtchn_unmask(a->t, p)) {
			a->err = 3;
			return NULL;
		}
		if ((!a->starter || i + 1 < a->n) &&
		    pvcalls_transport_evtchn_notify(a->t, a->port)) {
			a->err = 4;
			return NULL;
		}
	}
	return NULL;
}

START_TEST(test_evtchn_pingpong_no_lost_wakeup)
{
	pvcalls_transport *hub, *guest;
	struct pp a, b;
	pthread_t ta, tb;
	uint32_t hp, gp;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp, &gp);
	/* 2 x 50000 = 100000 events */
	a = (struct pp){ .t = hub, .port = hp, .n = 50000, .starter = true };
	b = (struct pp){ .t = guest, .port = gp, .n = 50000 };
	ck_assert_int_eq(pthread_create(&ta, NULL, pingpong, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, pingpong, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(b.err, 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* Many notifications while the receiver masks and unmasks: none is lost. */
struct flood {
	pvcalls_transport *t;
	uint32_t port;
	int n;
	int *seen; /* atomic counter shared with the receiver */
	int err;
};

static void *flood_send(void *arg)
{
	struct flood *f = arg;

	for (int i = 0; i < f->n; i++) {
		__atomic_fetch_add(f->seen, 1, __ATOMIC_SEQ_CST);
		if (pvcalls_transport_evtchn_notify(f->t, f->port)) {
			f->err = 1;
			break;
		}
	}
	return NULL;
}

START_TEST(test_evtchn_flood)
{
	pvcalls_transport *hub, *guest;
	struct flood f;
	pthread_t th;
	uint32_t hp, gp, p;
	int sent = 0, fd, got = 0;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp, &gp);
	f = (struct flood){ .t = guest, .port = gp, .n = 50000, .seen = &sent };
	fd = pvcalls_transport_evtchn_fd(hub);
	ck_assert_int_eq(pthread_create(&th, NULL, flood_send, &f), 0);
	/*
	 * The sender never waits, so once a wakeup is lost every later notify
	 * finds the port already pending and stays silent: poll() times out
	 * with an event pending. That is the failure this loop detects.
	 */
	for (;;) {
		int done = __atomic_load_n(&sent, __ATOMIC_SEQ_CST) == f.n;

		if (pvcalls_transport_evtchn_pending(hub, &p) == 1) {
			ck_assert_uint_eq(p, hp);
			ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, p), 0);
			got++;
			continue;
		}
		if (done)
			break;
		if (!readable(fd, 2000))
			ck_assert_msg(pvcalls_transport_evtchn_pending(hub, &p) == 0,
				      "lost wakeup: an event is pending but the fd is quiet");
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(f.err, 0);
	ck_assert_int_gt(got, 0); /* coalesced, so usually far fewer than sent */
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/*
 * Deterministic version of the lost-wakeup race: a notification that lands
 * after pending() scanned the bitmap (and found nothing) must leave the fd
 * readable. Draining the eventfd after the scan instead of before it fails.
 */
static pvcalls_transport *race_peer;
static uint32_t race_port;
static int race_fired;

static void race_inject(void *ctx)
{
	(void)ctx;
	if (!race_fired++)
		ck_assert_int_eq(pvcalls_transport_evtchn_notify(race_peer, race_port), 0);
}

START_TEST(test_evtchn_notify_after_scan)
{
	pvcalls_transport *hub, *guest;
	uint32_t hp, gp, p = 0;
	int hfd;

	make_pair(&hub, &guest);
	bind_pair(hub, guest, &hp, &gp);
	hfd = pvcalls_transport_evtchn_fd(hub);
	race_peer = guest;
	race_port = gp;
	race_fired = 0;
	pvc_shm_test_after_scan = race_inject;
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	pvc_shm_test_after_scan = NULL;
	ck_assert_int_eq(race_fired, 1);
	ck_assert_msg(readable(hfd, 0), "lost wakeup: notify after the scan left the fd quiet");
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 1);
	ck_assert_uint_eq(p, hp);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* ------------------------------------------------------------------------
 * Store.
 */

static void store_basics(pvcalls_transport *t, const char *base)
{
	char p[256], q[256], buf[64], big[8192];
	int r;

	snprintf(p, sizeof(p), "%s/a/b/c", base);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, p, "hello"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, 5), -ERANGE);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, 6), 5);
	/* parents are created with empty values */
	snprintf(q, sizeof(q), "%s/a/b", base);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, q, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	/* overwrite */
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, p, "x"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), 1);
	/* directory */
	snprintf(p, sizeof(p), "%s/a/b/d", base);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, p, "2"), 0);
	r = pvcalls_transport_store_directory(t, 0, q, buf, sizeof(buf));
	ck_assert_int_eq(r, 2);
	ck_assert_str_eq(buf, "c");
	ck_assert_str_eq(buf + 2, "d");
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, q, buf, 3), -ERANGE);
	snprintf(p, sizeof(p), "%s/a/b/c", base);
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, p, buf, sizeof(buf)), 0);
	snprintf(p, sizeof(p), "%s/nope", base);
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, p, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, p), -ENOENT);
	/* recursive rm */
	snprintf(p, sizeof(p), "%s/a", base);
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, p), 0);
	snprintf(p, sizeof(p), "%s/a/b/d", base);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), -ENOENT);
	snprintf(p, sizeof(p), "%s/a", base);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), -ENOENT);
	/* malformed paths */
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, "relative", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, "/a//b", "1"), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, "/a/b/", "1"), -EINVAL);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, "/a b", "1"), -EINVAL);
	/* a long value round-trips */
	memset(big, 'v', 4000);
	big[4000] = '\0';
	snprintf(p, sizeof(p), "%s/big", base);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, p, big), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, big + 4096, 4096), 4000);
	ck_assert_int_eq(memcmp(big, big + 4096, 4001), 0);
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, p), 0);
}

START_TEST(test_store_basic_hub_and_guest)
{
	pvcalls_transport *hub, *guest;
	char buf[64];

	make_pair(&hub, &guest);
	store_basics(hub, "/test");
	store_basics(guest, "/local/domain/1/test");
	/* both see the same tree */
	ck_assert_int_eq(pvcalls_transport_store_write(guest, 0, "/local/domain/1/x", "g"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(hub, 0, "/local/domain/1/x", buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/shared/y", "h"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/local/domain/1/y", "h"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(guest, 0, "/local/domain/1/y", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "h");
	/* but reads nothing outside its own nodes (test_store_isolation) */
	ck_assert_int_eq(pvcalls_transport_store_read(guest, 0, "/shared/y", buf, sizeof(buf)),
			 -EACCES);
	/* a guest may change only its own subtree */
	ck_assert_int_eq(pvcalls_transport_store_write(guest, 0, "/shared/y", "evil"), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_rm(guest, 0, "/shared"), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_write(guest, 0, "/local/domain/0/backend/x", "e"),
			 -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_rm(guest, 0, "/local/domain/1"), -EACCES);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_store_guest_nodes)
{
	pvcalls_transport *hub, *guest;
	char buf[128];
	uint32_t v;

	make_pair(&hub, &guest);
	ck_assert_uint_eq(domid_of(guest), 1);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(hub, 0, "/local/domain/1/domid", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(
				 guest, 0, "/local/domain/1/device/pvcalls/0/state", &v),
			 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(
				 guest, 0, "/local/domain/1/device/pvcalls/0/backend-id", &v),
			 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_ge(pvcalls_transport_store_read(guest, 0,
						      "/local/domain/1/device/pvcalls/0/backend",
						      buf, sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, "/local/domain/0/backend/pvcalls/1/0");
	ck_assert_int_eq(pvcalls_transport_store_read_uint(
				 hub, 0, "/local/domain/0/backend/pvcalls/1/0/state", &v),
			 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(
				 hub, 0, "/local/domain/0/backend/pvcalls/1/0/frontend-id", &v),
			 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pvcalls_transport_store_read_uint(
				 hub, 0, "/local/domain/0/backend/pvcalls/1/0/online", &v),
			 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_ge(
		pvcalls_transport_store_read(hub, 0, "/local/domain/0/backend/pvcalls/1/0/frontend",
					     buf, sizeof(buf)),
		0);
	ck_assert_str_eq(buf, "/local/domain/1/device/pvcalls/0");
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_store_watch_hub)
{
	pvcalls_transport *hub, *guest;
	char path[4096], tok[256];
	int fd;

	make_pair(&hub, &guest);
	fd = pvcalls_transport_store_fd(hub);
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/w", "t1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/w", "t1"), -EEXIST);
	/* fires once at once */
	ck_assert(readable(fd, 0));
	ck_assert_int_eq(pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, 2),
			 -ERANGE);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/w");
	ck_assert_str_eq(tok, "t1");
	ck_assert(!readable(fd, 0));
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 0);
	/* below the path fires with the changed path; elsewhere and "/wx" do not */
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/w/a/b", "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/wx", "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/other", "1"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_str_eq(path, "/w/a/b");
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 0);
	/* a guest's change fires the hub's watch */
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/local/domain/1/dev", "t2"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_str_eq(tok, "t2");
	ck_assert_int_eq(pvcalls_transport_store_write(guest, 0, "/local/domain/1/dev/state", "3"),
			 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_str_eq(path, "/local/domain/1/dev/state");
	ck_assert_str_eq(tok, "t2");
	/* rm fires for the removed path, and for watched descendants */
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/w/a/b", "t3"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_int_eq(pvcalls_transport_store_rm(hub, 0, "/w/a"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert((!strcmp(tok, "t1") && !strcmp(path, "/w/a")) ||
		  (!strcmp(tok, "t3") && !strcmp(path, "/w/a/b")));
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert((!strcmp(tok, "t1") && !strcmp(path, "/w/a")) ||
		  (!strcmp(tok, "t3") && !strcmp(path, "/w/a/b")));
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 0);
	/* unwatch: nothing more, and queued events of that watch are dropped */
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/w/z", "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_unwatch(hub, "/w", "t1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_unwatch(hub, "/w", "t1"), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/w/y", "1"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert(!readable(fd, 0));
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

START_TEST(test_store_watch_guest)
{
	pvcalls_transport *hub, *guest;
	char path[4096], tok[256], buf[16];
	int fd;

	make_pair(&hub, &guest);
	fd = pvcalls_transport_store_fd(guest);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
		pvcalls_transport_store_watch(guest, "/local/domain/0/backend/pvcalls/1", "be"), 0);
	ck_assert_int_eq(wait_watch(guest, path, tok, 1000), 1);
	ck_assert_str_eq(path, "/local/domain/0/backend/pvcalls/1");
	ck_assert_str_eq(tok, "be");
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(guest, path, sizeof(path), tok, sizeof(tok)), 0);
	/* the hub's change reaches the guest through its store fd */
	ck_assert_int_eq(pvcalls_transport_store_write(
				 hub, 0, "/local/domain/0/backend/pvcalls/1/0/state", "2"),
			 0);
	ck_assert(readable(fd, 2000));
	ck_assert_int_eq(wait_watch(guest, path, tok, 1000), 1);
	ck_assert_str_eq(path, "/local/domain/0/backend/pvcalls/1/0/state");
	/*
	 * An event that a store call reads off the socket while waiting for its
	 * answer must still make store_fd readable.
	 */
	ck_assert_int_eq(
		pvcalls_transport_store_write(hub, 0, "/local/domain/0/backend/pvcalls/1/x", "1"),
		0);
	/* queued for the guest before the write returned, so ahead of the answer */
	ck_assert_int_eq(pvcalls_transport_store_read(
				 guest, 0, "/local/domain/0/backend/pvcalls/1/x", buf, sizeof(buf)),
			 1);
	ck_assert(readable(fd, 0));
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(guest, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/local/domain/0/backend/pvcalls/1/x");
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(guest, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_unwatch(guest, "/local/domain/0/backend/pvcalls/1", "be"),
		0);
	ck_assert_int_eq(
		pvcalls_transport_store_write(hub, 0, "/local/domain/0/backend/pvcalls/1/y", "1"),
		0);
	ck_assert_int_eq(wait_watch(guest, path, tok, 100), 0);
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

static void txn_checks(pvcalls_transport *t, pvcalls_transport *other, const char *base)
{
	char p[128], q[128], buf[32];
	uint32_t tx, tx2;

	snprintf(p, sizeof(p), "%s/txn/a", base);
	snprintf(q, sizeof(q), "%s/txn/b", base);
	/* isolation and commit */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &tx), 0);
	ck_assert_uint_ne(tx, PVCALLS_STORE_NO_TXN);
	ck_assert_int_eq(pvcalls_transport_store_write(t, tx, p, "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, tx, p, buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_read(other, 0, p, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx, false), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(other, 0, p, buf, sizeof(buf)), 1);
	/* abort discards */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_rm(t, tx, p), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, tx, p, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx, true), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, p, buf, sizeof(buf)), 1);
	/* a concurrent commit makes a writing transaction fail with -EAGAIN */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &tx2), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(t, tx, q, "mine"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, tx2, p, buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, p, "2"), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx, false), -EAGAIN);
	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, q, buf, sizeof(buf)), -ENOENT);
	/* a read-only one saw a consistent snapshot and commits */
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx2, false), 0);
	/* ended transactions are gone */
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx, false), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_read(t, tx, p, buf, sizeof(buf)), -ENOENT);
}

START_TEST(test_store_transactions)
{
	pvcalls_transport *hub, *guest;
	char path[4096], tok[256];
	uint32_t tx;

	make_pair(&hub, &guest);
	txn_checks(hub, guest, "/local/domain/1/h");
	txn_checks(guest, hub, "/local/domain/1");
	/* the guest cannot use the hub's transaction */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(hub, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(guest, tx, "/local/domain/1/q", "1"),
			 -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(guest, tx, false), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(hub, tx, true), 0);
	/* watches fire at commit, not before */
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/c", "c"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(hub, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, tx, "/c/x", "1"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(hub, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(hub, tx, false), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	ck_assert_str_eq(path, "/c/x");
	pvcalls_transport_close(guest);
	pvcalls_transport_close(hub);
}
END_TEST

/* ------------------------------------------------------------------------
 * Rendezvous and peer death.
 */

START_TEST(test_listen_connect_errors)
{
	struct pvcalls_shm_opts want = { .domid = 5 };
	pvcalls_transport *hub, *g1, *g2, *g3;
	char longp[200], buf[8], abs_name[64];
	struct tmpd d;
	uint32_t ref;
	void *a, *b;
	FILE *f;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g1), -ENOENT);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(pvcalls_shm_listen(longp, NULL, &hub), -ENAMETOOLONG);
	/* an existing non-socket is never replaced */
	f = fopen(d.path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), -EADDRINUSE);
	unlink(d.path);

	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, &want, &g1), 0);
	ck_assert_uint_eq(domid_of(g1), 5);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, &want, &g2), -EEXIST);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g2), 0);
	ck_assert_uint_ne(domid_of(g2), 5);
	ck_assert_uint_ne(domid_of(g2), 0);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 2);
	/* foreign: granted to g1, mapped by g2 */
	ck_assert_int_eq(pvcalls_transport_share(hub, 5, 1, true, &ref, &a), 0);
	ck_assert_int_eq(pvcalls_transport_map(g2, 0, 1, &ref, false, &b), -ENOENT);
	ck_assert_int_eq(pvcalls_transport_map(g1, 0, 1, &ref, false, &b), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(g1, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_unshare(hub, a, 1), 0);
	/* guests cannot reach each other */
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(g1, domid_of(g2), &ref), -ESRCH);
	/* the second socket listening replaces a stale one */
	pvcalls_transport_close(g1);
	pvcalls_transport_close(g2);
	pvcalls_transport_close(hub);
	ck_assert_int_ne(access(d.path, F_OK), 0); /* close unlinks */

	/* abstract namespace */
	snprintf(abs_name, sizeof(abs_name), "@pvcalls-shm-test-%d", (int)getpid());
	ck_assert_int_eq(pvcalls_shm_listen(abs_name, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(abs_name, NULL, &g3), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g3, 0, "/local/domain/1/domid", buf, sizeof(buf)), 1);
	pvcalls_transport_close(g3);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/* A guest that closes its transport is removed like a dead domain. */
START_TEST(test_guest_close_is_death)
{
	pvcalls_transport *hub, *guest;
	char path[4096], tok[256], buf[16];
	uint32_t ref, hp, gp;
	void *a, *b;

	make_pair(&hub, &guest);
	ck_assert_int_eq(pvcalls_transport_share(guest, 0, 1, true, &ref, &a), 0);
	strcpy(a, "still here");
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 1, &ref, true, &b), 0);
	bind_pair(hub, guest, &hp, &gp);
	ck_assert_int_eq(
		pvcalls_transport_store_watch(hub, "/local/domain/0/backend/pvcalls/1", "be"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	pvcalls_transport_close(guest);
	ck_assert_int_eq(wait_watch(hub, path, tok, 2000), 1);
	ck_assert_str_eq(path, "/local/domain/0/backend/pvcalls/1");
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hp), -EPIPE);
	ck_assert_int_eq(
		pvcalls_transport_store_read(hub, 0, "/local/domain/1/domid", buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 0);
	ck_assert_str_eq(b, "still here"); /* the memory outlives the domain */
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 1, &ref, true, &a), -ESRCH);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hp), 0);
	pvcalls_transport_close(hub);
}
END_TEST

static void sync_write(int fd)
{
	char c = 'x';

	(void)!write(fd, &c, 1);
}

static int sync_read(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -1;
}

/* Child side of test_fork_rendezvous; returns the exit code. */
static int child_guest(const char *path, int syncfd)
{
	char p[128], v[32], pt[4096], tok[256];
	pvcalls_transport *t;
	uint32_t ref, port, g;
	void *a;

	if (sync_read(syncfd) || pvcalls_shm_connect(path, NULL, &t))
		return 10;
	g = domid_of(t);
	if (pvcalls_transport_share(t, 0, 1, true, &ref, &a))
		return 11;
	strcpy(a, "hello from the child");
	if (pvcalls_transport_evtchn_alloc_unbound(t, 0, &port))
		return 12;
	snprintf(p, sizeof(p), "/local/domain/%u/test", g);
	if (pvcalls_transport_store_watch(t, p, "t"))
		return 13;
	snprintf(p, sizeof(p), "/local/domain/%u/test/ref", g);
	snprintf(v, sizeof(v), "%u", ref);
	if (pvcalls_transport_store_write(t, 0, p, v))
		return 14;
	snprintf(p, sizeof(p), "/local/domain/%u/test/port", g);
	snprintf(v, sizeof(v), "%u", port);
	if (pvcalls_transport_store_write(t, 0, p, v))
		return 15;
	/* wait for the parent's "bound" */
	snprintf(p, sizeof(p), "/local/domain/%u/test/bound", g);
	for (int i = 0; i < 100; i++) {
		if (wait_watch(t, pt, tok, 100) == 1 && !strcmp(pt, p))
			break;
	}
	if (pvcalls_transport_store_read(t, 0, p, v, sizeof(v)) != 1)
		return 16;
	if (pvcalls_transport_evtchn_notify(t, port))
		return 17;
	snprintf(p, sizeof(p), "/local/domain/%u/test/done", g);
	if (wait_node(t, p, v, sizeof(v), 5000) < 0)
		return 18;
	if (strcmp((char *)a + 2048, "reply from the hub"))
		return 19;
	pvcalls_transport_close(t);
	return 0;
}

START_TEST(test_fork_rendezvous)
{
	pvcalls_transport *hub;
	char buf[32];
	uint32_t ref, port, hp, p;
	struct tmpd d;
	int sv[2], status;
	pid_t pid;
	void *b;

	tmpd_make(&d);
	ck_assert_int_eq(pipe(sv), 0);
	pid = fork(); /* before any thread exists */
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[1]);
		_exit(child_guest(d.path, sv[0]));
	}
	close(sv[0]);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	sync_write(sv[1]);
	ck_assert_int_gt(wait_node(hub, "/local/domain/1/test/port", buf, sizeof(buf), 5000), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_uint(hub, 0, "/local/domain/1/test/ref", &ref), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_uint(hub, 0, "/local/domain/1/test/port", &port), 0);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 1, &ref, true, &b), 0);
	ck_assert_str_eq(b, "hello from the child");
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(hub, 1, port, &hp), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/local/domain/1/test/bound", "1"),
			 0);
	ck_assert_int_eq(wait_port(hub, &p, 5000), 1);
	ck_assert_uint_eq(p, hp);
	strcpy((char *)b + 2048, "reply from the hub");
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/local/domain/1/test/done", "1"),
			 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hp), 0);
	pvcalls_transport_close(hub);
	close(sv[1]);
	tmpd_clean(&d);
}
END_TEST

/* Child of test_peer_killed: streams a counter and events until killed. */
static int child_streamer(const char *path, int syncfd)
{
	char p[128], v[32];
	pvcalls_transport *t;
	uint32_t ref, port, g;
	volatile uint32_t *ctr;
	void *a;

	if (sync_read(syncfd) || pvcalls_shm_connect(path, NULL, &t))
		return 10;
	g = domid_of(t);
	if (pvcalls_transport_share(t, 0, 1, true, &ref, &a) ||
	    pvcalls_transport_evtchn_alloc_unbound(t, 0, &port))
		return 11;
	snprintf(p, sizeof(p), "/local/domain/%u/test/ref", g);
	snprintf(v, sizeof(v), "%u", ref);
	pvcalls_transport_store_write(t, 0, p, v);
	snprintf(p, sizeof(p), "/local/domain/%u/test/port", g);
	snprintf(v, sizeof(v), "%u", port);
	pvcalls_transport_store_write(t, 0, p, v);
	ctr = a;
	for (;;) {
		__atomic_store_n(ctr, *ctr + 1, __ATOMIC_RELEASE);
		pvcalls_transport_evtchn_notify(t, port);
		usleep(100);
	}
}

START_TEST(test_peer_killed)
{
	pvcalls_transport *hub;
	char buf[32], path[4096], tok[256];
	uint32_t ref, port, hp, p, seen;
	struct tmpd d;
	int sv[2], status;
	pid_t pid;
	void *b;

	tmpd_make(&d);
	ck_assert_int_eq(pipe(sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[1]);
		_exit(child_streamer(d.path, sv[0]));
	}
	close(sv[0]);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	sync_write(sv[1]);
	ck_assert_int_gt(wait_node(hub, "/local/domain/1/test/port", buf, sizeof(buf), 5000), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_uint(hub, 0, "/local/domain/1/test/ref", &ref), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read_uint(hub, 0, "/local/domain/1/test/port", &port), 0);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 1, &ref, false, &b), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_bind(hub, 1, port, &hp), 0);
	ck_assert_int_eq(pvcalls_transport_store_watch(hub, "/local/domain/1", "g"), 0);
	ck_assert_int_eq(wait_watch(hub, path, tok, 1000), 1);
	/* mid-transfer: take a few events */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(wait_port(hub, &p, 5000), 1);
		ck_assert_uint_eq(p, hp);
		ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hp), 0);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	/* the hub notices: nodes removed, watch fired, ports closed */
	for (;;) {
		ck_assert_int_eq(wait_watch(hub, path, tok, 5000), 1);
		if (!strcmp(path, "/local/domain/1"))
			break;
	}
	ck_assert_int_eq(
		pvcalls_transport_store_read(hub, 0, "/local/domain/1/domid", buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_directory(
				 hub, 0, "/local/domain/0/backend/pvcalls/1", buf, sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(hub, hp), -EPIPE);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 0);
	seen = __atomic_load_n((uint32_t *)b, __ATOMIC_ACQUIRE);
	ck_assert_uint_gt(seen, 0); /* still valid memory */
	ck_assert_int_eq(pvcalls_transport_unmap(hub, b, 1), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_close(hub, hp), 0);
	pvcalls_transport_close(hub);
	close(sv[1]);
	tmpd_clean(&d);
}
END_TEST

START_TEST(test_hub_killed)
{
	pvcalls_transport *g;
	char path[4096], tok[256], buf[16];
	uint32_t ref, port, got = 0;
	struct tmpd d;
	int sv[2], status, fd, r;
	pid_t pid;
	void *a;

	tmpd_make(&d);
	ck_assert_int_eq(pipe(sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pvcalls_transport *hub;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		if (pvcalls_shm_listen(d.path, NULL, &hub))
			_exit(10);
		sync_write(sv[1]);
		for (;;)
			pause();
	}
	close(sv[1]);
	ck_assert_int_eq(sync_read(sv[0]), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	fd = pvcalls_transport_store_fd(g);
	ck_assert_int_eq(pvcalls_transport_store_watch(g, "/local/domain/1", "w1"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_watch(g, "/local/domain/0/backend/pvcalls/1", "w2"), 0);
	ck_assert_int_eq(wait_watch(g, path, tok, 1000), 1);
	ck_assert_int_eq(wait_watch(g, path, tok, 1000), 1);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(g, path, sizeof(path), tok, sizeof(tok)), 0);
	ck_assert_int_eq(pvcalls_transport_share(g, 0, 1, true, &ref, &a), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(g, 0, &port), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(g, port), 0);

	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* store_fd wakes up; every watch fires once; then -ENOTCONN */
	ck_assert(readable(fd, 5000));
	for (int i = 0; i < 2; i++) {
		r = wait_watch(g, path, tok, 2000);
		ck_assert_int_eq(r, 1);
		got |= !strcmp(tok, "w1") && !strcmp(path, "/local/domain/1") ? 1 : 0;
		got |= !strcmp(tok, "w2") && !strcmp(path, "/local/domain/0/backend/pvcalls/1") ? 2
												: 0;
	}
	ck_assert_uint_eq(got, 3);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(g, path, sizeof(path), tok, sizeof(tok)),
		-ENOTCONN);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, 0, "/local/domain/1/domid", buf, sizeof(buf)),
		-ENOTCONN);
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, "/local/domain/1/x", "1"), -ENOTCONN);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(g, port), -EPIPE);
	ck_assert_int_eq(pvcalls_transport_map(g, 0, 1, &ref, false, &a), -ESRCH);
	pvcalls_transport_close(g);
	close(sv[0]);
	tmpd_clean(&d);
}
END_TEST

/* Closing the hub disconnects its guests the same way. */
START_TEST(test_hub_close_seen_by_guest)
{
	pvcalls_transport *hub, *guest;
	char path[4096], tok[256], buf[8];

	make_pair(&hub, &guest);
	ck_assert_int_eq(pvcalls_transport_store_watch(guest, "/local/domain/1/x", "t"), 0);
	ck_assert_int_eq(wait_watch(guest, path, tok, 1000), 1);
	pvcalls_transport_close(hub);
	ck_assert_int_eq(
		pvcalls_transport_store_read(guest, 0, "/local/domain/1/x", buf, sizeof(buf)),
		-ENOTCONN);
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(guest, path, sizeof(path), tok, sizeof(tok)), 1);
	ck_assert_str_eq(path, "/local/domain/1/x");
	ck_assert_int_eq(
		pvcalls_transport_store_read_watch(guest, path, sizeof(path), tok, sizeof(tok)),
		-ENOTCONN);
	pvcalls_transport_close(guest);
}
END_TEST

START_TEST(test_stream_socket_refused)
{
	pvcalls_transport *hub = NULL, *g = NULL;
	int sv[2];

	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &hub, &g), 0);
	pvcalls_transport_close(g);
	/* A stream socket would lose message boundaries: refused at once. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(hub, sv[0]), -EINVAL);
	ck_assert_int_eq(pvcalls_shm_connect_fd(sv[1], NULL, &g), -EINVAL);
	pvcalls_transport_close(hub);
}
END_TEST

/* ------------------------------------------------------------------------
 * The hub as a security boundary (issue 13): every guest is an attacker.
 */

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The hub closed @fd within @ms (EOF or reset). */
static bool hung_up(int fd, int ms)
{
	char c;

	if (!readable(fd, ms))
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Attack 9: a second hub on a live hub's path. */
START_TEST(test_listen_live_hub_kept)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pvcalls_transport *h1, *h2 = NULL, *g;
	struct tmpd d;
	int fd;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &h1), 0);
	/* refused, and the live hub keeps its path */
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &h2), -EADDRINUSE);
	ck_assert_ptr_null(h2);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(h1), 1);
	pvcalls_transport_close(g);
	/* someone else's socket took the path: closing the first hub leaves it */
	ck_assert_int_eq(unlink(d.path), 0);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &h2), 0);
	pvcalls_transport_close(h1);
	ck_assert_int_eq(access(d.path, F_OK), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(h2), 1);
	pvcalls_transport_close(g);
	pvcalls_transport_close(h2);
	ck_assert_int_ne(access(d.path, F_OK), 0);
	/* a stale socket (nobody listens) is replaced */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_uint_lt(strlen(d.path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, d.path, strlen(d.path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(access(d.path, F_OK), 0);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &h1), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(h1);
	tmpd_clean(&d);
}
END_TEST

static unsigned sock_mode(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	return st.st_mode & 07777;
}

/* Attack 7: the socket file's mode does not depend on the umask. */
START_TEST(test_listen_socket_mode)
{
	struct pvcalls_shm_opts o = { 0 };
	pvcalls_transport *hub = NULL;
	mode_t old = umask(0);
	struct tmpd d;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_uint_eq(sock_mode(d.path), 0600);
	pvcalls_transport_close(hub);
	o.socket_mode = 0660;
	umask(0077); /* bits the umask takes away come back */
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &o, &hub), 0);
	ck_assert_uint_eq(sock_mode(d.path), 0660);
	pvcalls_transport_close(hub);
	o.socket_mode = 0666;
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &o, &hub), -EINVAL);
	o.socket_mode = 0400;
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &o, &hub), -EINVAL);
	umask(old);
	tmpd_clean(&d);
}
END_TEST

/* Attack 7: only allowed uids/gids become guests, abstract names included. */
START_TEST(test_peer_credentials)
{
	uint32_t other = (uint32_t)geteuid() == 4242u ? 4243u : 4242u, gid = (uint32_t)getegid();
	struct pvcalls_shm_opts o = { .allow_uids = &other, .nr_allow_uids = 1 };
	pvcalls_transport *hub, *g = NULL;
	char abs_name[64];
	struct tmpd d;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &o, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), -EACCES);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 0);
	pvcalls_transport_close(hub);
	snprintf(abs_name, sizeof(abs_name), "@pvcalls-shm-cred-%d", (int)getpid());
	ck_assert_int_eq(pvcalls_shm_listen(abs_name, &o, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(abs_name, NULL, &g), -EACCES);
	pvcalls_transport_close(hub);
	/* a matching gid is enough */
	o.allow_gids = &gid;
	o.nr_allow_gids = 1;
	ck_assert_int_eq(pvcalls_shm_listen(abs_name, &o, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(abs_name, NULL, &g), 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	/* the default: the hub's own uid (and root) */
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/* Attack 7: connections that never say hello cannot pile up. */
START_TEST(test_hello_timeout_and_caps)
{
	struct pvcalls_shm_opts o = { .hello_timeout_ms = 1000, .max_pending = 4, .max_guests = 6 };
	pvcalls_transport *hub, *g[7];
	int raw[5];
	struct tmpd d;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &o, &hub), 0);
	for (int i = 0; i < 5; i++)
		raw[i] = raw_connect(d.path);
	/* the fifth is over max_pending: closed at once */
	ck_assert(hung_up(raw[4], 500));
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g[0]), -ECONNREFUSED);
	/* the silent ones are closed after the hello timeout */
	for (int i = 0; i < 4; i++)
		ck_assert(hung_up(raw[i], 3000));
	for (int i = 0; i < 5; i++)
		close(raw[i]);
	/* then room again, up to max_guests */
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g[i]), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g[6]), -ECONNREFUSED);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 6);
	for (int i = 0; i < 6; i++)
		pvcalls_transport_close(g[i]);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/* Attack 2: one guest filling the store locks nobody else out. */
START_TEST(test_store_quota_two_guests)
{
	pvcalls_transport *hub, *a, *b;
	char p[128], buf[16];
	uint32_t da, db, tx[9];
	struct tmpd d;
	int rc = 0, i;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &a), 0);
	da = domid_of(a);
	for (i = 0; i < 20000; i++) {
		snprintf(p, sizeof(p), "/local/domain/%u/fill/%d", da, i);
		rc = pvcalls_transport_store_write(a, 0, p, "x");
		if (rc)
			break;
	}
	/* a's quota (1000 nodes by default) stops it, as xenstored would */
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_le(i, 1000);
	ck_assert_int_ge(i, 900);
	/* a guest connecting now still gets its device and may write */
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &b), 0);
	db = domid_of(b);
	snprintf(p, sizeof(p), "/local/domain/%u/device/pvcalls/0/state", db);
	ck_assert_int_eq(pvcalls_transport_store_read(b, 0, p, buf, sizeof(buf)), 1);
	snprintf(p, sizeof(p), "/local/domain/%u/data/x", db);
	ck_assert_int_eq(pvcalls_transport_store_write(b, 0, p, "1"), 0);
	/* the hub itself has no quota */
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/hub/x", "1"), 0);
	/* watches and transactions are per guest too */
	for (i = 0; i < 128; i++) {
		snprintf(p, sizeof(p), "/local/domain/%u/w/%d", da, i);
		ck_assert_int_eq(pvcalls_transport_store_watch(a, p, "t"), 0);
	}
	snprintf(p, sizeof(p), "/local/domain/%u/w/x", da);
	ck_assert_int_eq(pvcalls_transport_store_watch(a, p, "t"), -ENOSPC);
	snprintf(p, sizeof(p), "/local/domain/%u/w/x", db);
	ck_assert_int_eq(pvcalls_transport_store_watch(b, p, "t"), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(pvcalls_transport_store_txn_start(a, &tx[i]), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(a, &tx[8]), -EBUSY);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(b, &tx[8]), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(b, tx[8], true), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(pvcalls_transport_store_txn_end(a, tx[i], true), 0);
	/* removing its nodes gives a its room back */
	snprintf(p, sizeof(p), "/local/domain/%u/fill", da);
	ck_assert_int_eq(pvcalls_transport_store_rm(a, 0, p), 0);
	snprintf(p, sizeof(p), "/local/domain/%u/fill/again", da);
	ck_assert_int_eq(pvcalls_transport_store_write(a, 0, p, "1"), 0);
	pvcalls_transport_close(a);
	pvcalls_transport_close(b);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/* Bytes the allocator hands out now (all arenas), or 0 if it cannot tell. */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* Attack 3: store memory is bounded per guest; a transaction costs O(1). */
START_TEST(test_store_memory_bounded)
{
	pvcalls_transport *hub, *g;
	char p[128], *big = malloc(4001);
	uint32_t tx[8];
	size_t h0, h1, h2;
	bool measurable;
	int rc = 0, i;

	ck_assert_ptr_nonnull(big);
	memset(big, 'v', 4000);
	big[4000] = '\0';
	make_pair(&hub, &g);
	h0 = heap_used();
	for (i = 0; i < 15000; i++) {
		snprintf(p, sizeof(p), "/local/domain/1/big/%d", i);
		ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, p, "value"), 0);
	}
	h1 = heap_used();
	/* Sanitizer allocators do not report through mallinfo2(). */
	measurable = h1 > h0 + 1000000;
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx[i]), 0);
		ck_assert_int_eq(pvcalls_transport_store_read(g, tx[i], "/local/domain/1/big/7", p,
							      sizeof(p)),
				 5);
	}
	h2 = heap_used();
	if (measurable)
		ck_assert_msg(h2 < h1 + 65536, "8 transactions cost %zu bytes", h2 - h1);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx[i], false), 0);
	/* big values: the byte quota (256 KiB by default) stops the guest */
	h1 = heap_used();
	for (i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "/local/domain/1/v/%d", i);
		rc = pvcalls_transport_store_write(g, 0, p, big);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_le(i, 64);
	h2 = heap_used();
	if (measurable)
		ck_assert_msg(h2 < h1 + 1024 * 1024, "the guest grew the hub by %zu bytes",
			      h2 - h1);
	/* the same inside a transaction, which then commits within quota */
	ck_assert_int_eq(pvcalls_transport_store_rm(g, 0, "/local/domain/1/v"), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx[0]), 0);
	for (i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "/local/domain/1/v/%d", i);
		rc = pvcalls_transport_store_write(g, tx[0], p, big);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_le(i, 64);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx[0], false), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(g, 0, "/local/domain/1/v/0", big, 4001),
			 4000);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	free(big);
}
END_TEST

/* Transactions are logs over the live tree: the view, dooming, accounting. */
START_TEST(test_store_txn_overlay)
{
	pvcalls_transport *hub, *g;
	char buf[256];
	uint32_t tx;

	make_pair(&hub, &g);
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, "/local/domain/1/t/a", "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, "/local/domain/1/t/b", "2"), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_rm(g, tx, "/local/domain/1/t"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(g, tx, "/local/domain/1/t/c/d", "4"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(g, tx, "/local/domain/1/t/a", "5"), 0);
	/* the transaction's view */
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, tx, "/local/domain/1/t/b", buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_read(g, tx, "/local/domain/1/t", buf, sizeof(buf)),
			 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, tx, "/local/domain/1/t/c", buf, sizeof(buf)), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, tx, "/local/domain/1/t/a", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "5");
	/* (order unspecified, as with xenstored) */
	ck_assert_int_eq(
		pvcalls_transport_store_directory(g, tx, "/local/domain/1/t", buf, sizeof(buf)), 2);
	ck_assert((!strcmp(buf, "c") && !strcmp(buf + 2, "a")) ||
		  (!strcmp(buf, "a") && !strcmp(buf + 2, "c")));
	/* the live tree is untouched */
	ck_assert_int_eq(
		pvcalls_transport_store_directory(g, 0, "/local/domain/1/t", buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "a");
	ck_assert_str_eq(buf + 2, "b");
	ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx, false), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, 0, "/local/domain/1/t/b", buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, 0, "/local/domain/1/t/c/d", buf, sizeof(buf)), 1);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, 0, "/local/domain/1/t/a", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "5");
	/* a read after a concurrent commit may see newer data: -EAGAIN */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, tx, "/local/domain/1/t/a", buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/other", "1"), 0);
	ck_assert_int_eq(
		pvcalls_transport_store_read(g, tx, "/local/domain/1/t/a", buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx, false), -EAGAIN);
	/* reservations are returned whatever the outcome */
	ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(g, tx, "/local/domain/1/u/v/w", "x"), 0);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx, true), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(g, 0, "/local/domain/1/u", buf, sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(pvcalls_transport_store_rm(g, 0, "/local/domain/1/t"), 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
}
END_TEST

/* Attack 6: refs in descending page order cost one mmap() region each. */
START_TEST(test_map_regions_per_guest)
{
	struct pvcalls_shm_opts ho = { .max_maps_per_guest = 64 };
	pvcalls_transport *hub, *g, *g2;
	uint32_t r[130], rev[100], r2[40], rev2[40];
	void *a[130], *a2[40], *m1, *m2, *m3, *m4;
	int sv[2];

	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, &hub, &g), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(hub, sv[0]), 0);
	ck_assert_int_eq(pvcalls_shm_connect_fd(sv[1], NULL, &g2), 0);
	/* one page per share: ascending pages, reversed by the attacker */
	for (int i = 0; i < 130; i++)
		ck_assert_int_eq(pvcalls_transport_share(g, 0, 1, true, &r[i], &a[i]), 0);
	for (int i = 0; i < 100; i++)
		rev[i] = r[99 - i];
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 100, rev, true, &m1), -ENOBUFS);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 50, rev, true, &m1), 0);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 20, rev + 50, true, &m2), -ENOBUFS);
	/* nothing was left counted by the refused calls */
	ck_assert_uint_eq(maps_of(g, rev[60]), 0);
	/* adjacent pages cost one region however many */
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 30, r + 100, true, &m3), 0);
	/* another guest is unaffected */
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(pvcalls_transport_share(g2, 0, 1, true, &r2[i], &a2[i]), 0);
	for (int i = 0; i < 40; i++)
		rev2[i] = r2[39 - i];
	ck_assert_int_eq(pvcalls_transport_map(hub, domid_of(g2), 40, rev2, true, &m4), 0);
	/* unmapping gives the regions back */
	ck_assert_int_eq(pvcalls_transport_unmap(hub, m1, 50), 0);
	ck_assert_int_eq(pvcalls_transport_map(hub, 1, 20, rev + 50, true, &m2), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, m2, 20), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, m3, 30), 0);
	ck_assert_int_eq(pvcalls_transport_unmap(hub, m4, 40), 0);
	pvcalls_transport_close(g2);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
}
END_TEST

/* Everything a guest can do to the hub's port table as it sees it. */
static void trash_hub_table(pvcalls_transport *guest, bool mask)
{
	struct shm_dom *hd = ctx_of(guest)->hubdom;
	uint64_t v;

	for (uint32_t w = 0; w < shm_evt_words(hd->max_ports); w++) {
		if (mask)
			__atomic_store_n(&hd->mask[w], ~0ull, __ATOMIC_SEQ_CST);
		__atomic_store_n(&hd->pending[w], 0, __ATOMIC_SEQ_CST);
	}
	while (read(hd->efd, &v, sizeof(v)) > 0)
		;
}

/* Attack 5: one guest's writes to shared event state starve another. */
START_TEST(test_evtchn_guest_isolation)
{
	pvcalls_transport *hub, *a, *b;
	uint32_t hpa, gpa, hpb, gpb, p = 0;
	struct shm_dom *ha;
	int hfd, sv[2];

	make_pair(&hub, &a);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(hub, sv[0]), 0);
	ck_assert_int_eq(pvcalls_shm_connect_fd(sv[1], NULL, &b), 0);
	bind_pair(hub, a, &hpa, &gpa);
	bind_pair(hub, b, &hpb, &gpb);
	hfd = pvcalls_transport_evtchn_fd(hub);
	ha = ctx_of(a)->hubdom;
	/* a masks every port and drains the hub's wakeups: b still gets through */
	trash_hub_table(a, true);
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(b, gpb), 0);
	trash_hub_table(a, true);
	ck_assert_msg(readable(hfd, 1000), "b's notification did not wake the hub");
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 1);
	ck_assert_uint_eq(p, hpb);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hpb), 0);
	/* a clears pending bits right after b's notification: not lost */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(b, gpb), 0);
	trash_hub_table(a, false);
	ck_assert_msg(readable(hfd, 1000), "b's notification was lost");
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 1);
	ck_assert_uint_eq(p, hpb);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hpb), 0);
	/* a cannot even see b's binding */
	ck_assert_uint_eq(__atomic_load_n(&ha->bind[hpb], __ATOMIC_SEQ_CST), 0);
	/* a's forged pending bit for b's port is not delivered */
	__atomic_fetch_or(&ha->pending[hpb / 64], 1ull << (hpb % 64), __ATOMIC_SEQ_CST);
	pvc_shm_efd_signal(ha->efd);
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	/*
	 * a only hurt itself: it masked its own channel in its view, so its
	 * event waits, pending, until the hub's next unmask repairs the view.
	 */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(a, gpa), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hpa), 0);
	ck_assert_int_eq(wait_port(hub, &p, 1000), 1);
	ck_assert_uint_eq(p, hpa);
	/* and mask-until-unmask still holds per guest table */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(a, gpa), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_pending(hub, &p), 0);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hpa), 0);
	ck_assert_int_eq(wait_port(hub, &p, 1000), 1);
	ck_assert_uint_eq(p, hpa);
	ck_assert_int_eq(pvcalls_transport_evtchn_unmask(hub, hpa), 0);
	pvcalls_transport_close(a);
	/* a's death leaves b's channel alone */
	ck_assert_int_eq(pvcalls_transport_evtchn_notify(b, gpb), 0);
	ck_assert_int_eq(wait_port(hub, &p, 1000), 1);
	ck_assert_uint_eq(p, hpb);
	pvcalls_transport_close(b);
	pvcalls_transport_close(hub);
}
END_TEST

static int nop_watch(void *arg, void *owner, const char *path, const char *wpath, const char *token)
{
	(void)arg, (void)owner, (void)path, (void)wpath, (void)token;
	return 0;
}

/* Events seen by flaky_watch(); it refuses the first @fail of them. */
static struct {
	int fail, seen;
	char last[128];
} flaky;

static int flaky_watch(void *arg, void *owner, const char *path, const char *wpath,
		       const char *token)
{
	(void)arg, (void)owner, (void)wpath, (void)token;
	if (flaky.fail > 0) {
		flaky.fail--;
		return -ENOMEM;
	}
	flaky.seen++;
	snprintf(flaky.last, sizeof(flaky.last), "%s", path);
	return 0;
}

/*
 * A watch event the hub could not queue (no memory) is not lost: the
 * watch fires again, with its own path, once memory is back (found by
 * check_fault_alloc: a lost "state" event left a frontend's close waiting
 * for its 5 s timeout).
 */
START_TEST(test_store_watch_event_refired)
{
	struct shm_store_quota q = { .nodes = 16, .bytes = 1 << 20, .watches = 4, .txns = 2 };
	struct shm_store *st = pvc_shm_store_new(flaky_watch, NULL, &q);

	ck_assert_ptr_nonnull(st);
	memset(&flaky, 0, sizeof(flaky));
	ck_assert_int_eq(pvc_shm_store_watch(st, NULL, "/fe", "tok"), 0);
	ck_assert_int_eq(flaky.seen, 1); /* at registration */
	ck_assert(!pvc_shm_store_refire(st));
	flaky.fail = 1;
	ck_assert_int_eq(pvc_shm_store_write(st, NULL, 0, "/fe/state", "5"), 0);
	ck_assert_int_eq(flaky.seen, 1); /* refused */
	flaky.fail = 1;
	ck_assert(pvc_shm_store_refire(st)); /* still no memory */
	ck_assert_int_eq(flaky.seen, 1);
	ck_assert(!pvc_shm_store_refire(st));
	ck_assert_int_eq(flaky.seen, 2);
	ck_assert_str_eq(flaky.last, "/fe");
	ck_assert(!pvc_shm_store_refire(st)); /* once */
	ck_assert_int_eq(flaky.seen, 2);
	pvc_shm_store_free(st);
}
END_TEST

/* A logged write reserves only the nodes its commit can create. */
START_TEST(test_store_txn_reservation)
{
	struct shm_store_quota q = { .nodes = 5, .bytes = 1 << 20, .watches = 4, .txns = 2 };
	struct shm_store *st = pvc_shm_store_new(nop_watch, NULL, &q);
	static int owner;
	char buf[64];
	uint32_t tx;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, 0, "/a/b/c", "1"), 0);
	ck_assert_int_eq(pvc_shm_store_txn_start(st, &owner, &tx), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/b/c", "2"), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/b/d", "3"), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/b/d", "4"), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/e/f", "5"), -ENOSPC);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/e", "5"), 0);
	/* a removal in the log makes the nodes below it missing again */
	ck_assert_int_eq(pvc_shm_store_rm(st, &owner, tx, "/a/b"), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, tx, "/a/b", "6"), -ENOSPC);
	ck_assert_int_eq(pvc_shm_store_dir(st, &owner, tx, "/a", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "e");
	ck_assert_int_eq(pvc_shm_store_txn_end(st, &owner, tx, false), 0);
	ck_assert_int_eq(pvc_shm_store_read(st, &owner, 0, "/a/e", buf, sizeof(buf)), 1);
	ck_assert_int_eq(pvc_shm_store_read(st, &owner, 0, "/a/b", buf, sizeof(buf)), -ENOENT);
	/* 2 nodes now (/a, /a/e): room for 3 more, not 4 */
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, 0, "/a/x/y/z", "1"), 0);
	ck_assert_int_eq(pvc_shm_store_write(st, &owner, 0, "/a/w", "1"), -ENOSPC);
	/* the owner goes; the hub removes its nodes */
	pvc_shm_store_drop_owner(st, &owner);
	ck_assert_int_eq(pvc_shm_store_rm(st, NULL, 0, "/a"), 0);
	pvc_shm_store_free(st);
}
END_TEST

struct back_thread {
	pvcalls_back *b;
	volatile int stop;
	pthread_t th;
};

static void *back_main(void *arg)
{
	struct back_thread *bt = arg;

	pvcalls_back_run(bt->b, &bt->stop);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lines by msgid (counted, not kept), and what summaries say was dropped. */
static struct {
	unsigned hub_lines, hub_sum, back_lines, back_sum;
	unsigned long long hub_suppressed, back_suppressed;
} churn;

static void count_log(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	unsigned d;
	unsigned long long n;

	(void)arg;
	(void)level;
	pthread_mutex_lock(&log_mu);
	if (!strcmp(msgid, "shm.guest") || !strcmp(msgid, "shm.peer-died")) {
		churn.hub_lines++;
	} else if (!strcmp(msgid, "back.new-device") || !strcmp(msgid, "back.device-gone")) {
		churn.back_lines++;
	} else if (!strcmp(msgid, "shm.log-suppressed") &&
		   sscanf(msg, "domain %u: %llu messages suppressed", &d, &n) == 2) {
		churn.hub_sum++;
		churn.hub_suppressed += n;
	} else if (!strcmp(msgid, "back.log-suppressed") &&
		   sscanf(msg, "frontend %u: %llu messages suppressed", &d, &n) == 2) {
		churn.back_sum++;
		churn.back_suppressed += n;
	}
	pthread_mutex_unlock(&log_mu);
}

/*
 * A guest that re-creates its device directory in a loop (it reconnects:
 * the hub writes the directory at each hello and removes it when the
 * guest goes) gets a bounded number of log lines, from the hub and from
 * the backend: its domain's bucket (20, then 5 a second), and the rest
 * summarised as "N messages suppressed", at the latest when they stop.
 */
START_TEST(test_device_churn_log_bounded)
{
	enum { ROUNDS = 150 };
	struct pvcalls_shm_opts go = { .domid = 7 };
	struct back_thread bt = { 0 };
	pvcalls_transport *hub, *g;
	unsigned done = 0, bound;
	double t0, t;
	struct tmpd d;

	tmpd_make(&d);
	memset(&churn, 0, sizeof(churn));
	pvcalls_set_logger(count_log, NULL, PVCALLS_LOG_INFO);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_back_new(hub, NULL, &bt.b), 0);
	ck_assert_int_eq(pthread_create(&bt.th, NULL, back_main, &bt), 0);
	t0 = now_s();
	/* Bounded in count and time; a domid still held by the last
	 * connection (its drop is asynchronous) is asked for again. */
	for (int i = 0; done < ROUNDS && i < ROUNDS * 50 && now_s() - t0 < 20; i++) {
		int rc = pvcalls_shm_connect(d.path, &go, &g);

		if (rc == -EEXIST) {
			usleep(1000);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(domid_of(g), 7);
		if (done % 8 == 0)
			usleep(20000); /* now and then, let the backend see the device */
		pvcalls_transport_close(g);
		done++;
	}
	ck_assert_uint_eq(done, ROUNDS);
	usleep(300000);
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
	pvcalls_transport_close(hub); /* the hub's summaries come now at the latest */
	t = now_s() - t0;
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
	/* The bucket's burst, its refill over the run, and a margin. */
	bound = 20 + (unsigned)(5 * t) + 2;
	ck_assert_msg(churn.hub_lines <= bound, "hub: %u lines for %u reconnections in %.1f s",
		      churn.hub_lines, ROUNDS, t);
	ck_assert_msg(churn.back_lines <= bound, "backend: %u lines for %u reconnections in %.1f s",
		      churn.back_lines, ROUNDS, t);
	/* Nothing is lost silently: the hub logs one line per connection
	 * and one per disconnection, shown or counted in a summary; the
	 * summaries themselves are few. */
	ck_assert_uint_eq(churn.hub_lines + churn.hub_suppressed, 2 * ROUNDS);
	ck_assert_uint_le(churn.hub_sum, 2 + (unsigned)(t / 2));
	ck_assert_uint_gt(churn.back_lines, 0);
	ck_assert_uint_le(churn.back_sum, 2 + (unsigned)(t / 2));
	tmpd_clean(&d);
}
END_TEST

/* Attack 6 end to end: the region limit fails one CONNECT, nothing else. */
START_TEST(test_map_limit_fails_one_connect)
{
	struct pvcalls_shm_opts ho = { .max_maps_per_guest = 7 };
	struct pvcalls_front_opts fo = { .ring_order = PVCALLS_FRONT_ORDER_0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct back_thread bt = { 0 };
	pvcalls_transport *hub, *g;
	int lfd, s[8], peer[8], n, rc = 0;
	pvcalls_front *fe;
	char c;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, &hub, &g), 0);
	ck_assert_int_eq(pvcalls_back_new(hub, NULL, &bt.b), 0);
	ck_assert_int_eq(pthread_create(&bt.th, NULL, back_main, &bt), 0);
	ck_assert_int_eq(pvcalls_front_open(g, &fo, &fe), 0);
	/* the command ring costs 1 region, each socket 2: the fourth fails */
	for (n = 0; n < 8; n++) {
		s[n] = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(s[n], 0);
		rc = pvcalls_front_connect(fe, s[n], (struct sockaddr *)&sa, sizeof(sa));
		if (rc)
			break;
		peer[n] = accept(lfd, NULL, NULL);
		ck_assert_int_ge(peer[n], 0);
	}
	ck_assert_int_eq(n, 3);
	ck_assert_int_lt(rc, 0);
	/* the connected sockets and the frontend go on */
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(pvcalls_front_send(fe, s[i], "x", 1, 0), 1);
		ck_assert_int_eq(recv(peer[i], &c, 1, 0), 1);
		ck_assert_int_eq(send(peer[i], "y", 1, 0), 1);
		ck_assert_int_eq(pvcalls_front_recv(fe, s[i], &c, 1, 0), 1);
		ck_assert_int_eq(c, 'y');
	}
	/* releasing one gives its regions back */
	ck_assert_int_eq(pvcalls_front_release(fe, s[n]), 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s[0]), 0);
	close(peer[0]);
	s[0] = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(pvcalls_front_connect(fe, s[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	peer[0] = accept(lfd, NULL, NULL);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(pvcalls_front_release(fe, s[i]), 0);
		close(peer[i]);
	}
	pvcalls_front_close(fe);
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	close(lfd);
}
END_TEST

/* Expects -EACCES for every way guest @t could reach @path. */
static void no_access(pvcalls_transport *t, const char *path)
{
	char buf[256];
	uint32_t tx;

	ck_assert_int_eq(pvcalls_transport_store_read(t, 0, path, buf, sizeof(buf)), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_directory(t, 0, path, buf, sizeof(buf)), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_watch(t, path, "spy"), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_write(t, 0, path, "x"), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_rm(t, 0, path), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_txn_start(t, &tx), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(t, tx, path, buf, sizeof(buf)), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_write(t, tx, path, "x"), -EACCES);
	ck_assert_int_eq(pvcalls_transport_store_txn_end(t, tx, true), 0);
}

/*
 * The nodes the hub writes for a guest in its own directory (its domid,
 * its device's backend and backend-id) are read-only to it: no write, no
 * removal (not even of a directory above them), in a transaction or not.
 * The rest of its directory stays its own.
 */
START_TEST(test_store_hub_nodes_readonly)
{
	static const char *const owned[] = { "domid", "device/pvcalls/0/backend",
					     "device/pvcalls/0/backend-id" };
	static const char *const above[] = { "device", "device/pvcalls", "device/pvcalls/0" };
	pvcalls_transport *hub, *g;
	char p[128], want[3][128], buf[128];
	uint32_t dg, tx;
	struct tmpd d;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
	dg = domid_of(g);
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "/local/domain/%u/%s", dg, owned[i]);
		ck_assert_int_gt(pvcalls_transport_store_read(g, 0, p, want[i], sizeof(want[i])),
				 0);
		ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "7"), -EACCES);
		ck_assert_int_eq(pvcalls_transport_store_rm(g, 0, p), -EACCES);
		ck_assert_int_eq(pvcalls_transport_store_txn_start(g, &tx), 0);
		ck_assert_int_eq(pvcalls_transport_store_write(g, tx, p, "7"), -EACCES);
		ck_assert_int_eq(pvcalls_transport_store_rm(g, tx, p), -EACCES);
		ck_assert_int_eq(pvcalls_transport_store_txn_end(g, tx, false), 0);
		snprintf(p, sizeof(p), "/local/domain/%u/%s/child", dg, owned[i]);
		ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "7"), -EACCES);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "/local/domain/%u/%s", dg, above[i]);
		ck_assert_int_eq(pvcalls_transport_store_rm(g, 0, p), -EACCES);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "/local/domain/%u/%s", dg, owned[i]);
		ck_assert_int_gt(pvcalls_transport_store_read(g, 0, p, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, want[i]);
	}
	/* its own nodes: the device's state, and anything it makes */
	snprintf(p, sizeof(p), "/local/domain/%u/device/pvcalls/0/state", dg);
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "1"), 0);
	snprintf(p, sizeof(p), "/local/domain/%u/device/mine/x", dg);
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "1"), 0);
	snprintf(p, sizeof(p), "/local/domain/%u/device/mine", dg);
	ck_assert_int_eq(pvcalls_transport_store_rm(g, 0, p), 0);
	snprintf(p, sizeof(p), "/local/domain/%u/domid2", dg); /* whole components */
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "1"), 0);
	/* the hub itself may */
	snprintf(p, sizeof(p), "/local/domain/%u/domid", dg);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, p, want[0]), 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/*
 * Store permissions: a guest reaches its own /local/domain/<G> and the
 * backend directory of its devices, nothing else, existing or not.
 */
START_TEST(test_store_isolation)
{
	pvcalls_transport *hub, *a, *b;
	char p[128], path[4096], tok[256], buf[256];
	uint32_t da, db;
	struct tmpd d;

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, NULL, &hub), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &a), 0);
	ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &b), 0);
	da = domid_of(a);
	db = domid_of(b);
	snprintf(p, sizeof(p), "/local/domain/%u/secret", da);
	ck_assert_int_eq(pvcalls_transport_store_write(a, 0, p, "s3cret"), 0);
	/* b watches its own subtree and its backend directory: allowed */
	snprintf(p, sizeof(p), "/local/domain/%u", db);
	ck_assert_int_eq(pvcalls_transport_store_watch(b, p, "own"), 0);
	ck_assert_int_eq(wait_watch(b, path, tok, 1000), 1);
	snprintf(p, sizeof(p), "/local/domain/0/backend/pvcalls/%u", db);
	ck_assert_int_eq(pvcalls_transport_store_watch(b, p, "be"), 0);
	ck_assert_int_eq(wait_watch(b, path, tok, 1000), 1);
	ck_assert_int_eq(pvcalls_transport_store_directory(b, 0, p, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "0");
	snprintf(p, sizeof(p), "/local/domain/0/backend/pvcalls/%u/0/state", db);
	ck_assert_int_eq(pvcalls_transport_store_read(b, 0, p, buf, sizeof(buf)), 1);
	/* but may not write the backend's nodes or its own domain's root */
	ck_assert_int_eq(pvcalls_transport_store_write(b, 0, p, "4"), -EACCES);
	snprintf(p, sizeof(p), "/local/domain/%u", db);
	ck_assert_int_eq(pvcalls_transport_store_write(b, 0, p, "x"), -EACCES);

	/* a's nodes, existing or not, are closed to b (no existence oracle) */
	snprintf(p, sizeof(p), "/local/domain/%u/secret", da);
	no_access(b, p);
	snprintf(p, sizeof(p), "/local/domain/%u/no-such-node", da);
	no_access(b, p);
	snprintf(p, sizeof(p), "/local/domain/%u", da);
	no_access(b, p);
	snprintf(p, sizeof(p), "/local/domain/0/backend/pvcalls/%u/0/state", da);
	no_access(b, p);
	/* listings that would reveal other guests' ids */
	no_access(b, "/");
	no_access(b, "/local");
	no_access(b, "/local/domain");
	no_access(b, "/local/domain/0");
	no_access(b, "/local/domain/0/backend/pvcalls");
	no_access(b, "/local/domain/4242/x");
	/* prefixes compare whole components */
	snprintf(p, sizeof(p), "/local/domain/%u0/x", db);
	no_access(b, p);
	snprintf(p, sizeof(p), "/local/domain/0/backend/pvcalls/%u0", db);
	no_access(b, p);
	/* malformed paths stay -EINVAL */
	ck_assert_int_eq(pvcalls_transport_store_read(b, 0, "/local//x", buf, sizeof(buf)),
			 -EINVAL);
	/* a's changes never reach b's watches */
	snprintf(p, sizeof(p), "/local/domain/%u/secret", da);
	ck_assert_int_eq(pvcalls_transport_store_write(a, 0, p, "again"), 0);
	ck_assert_int_eq(pvcalls_transport_store_write(hub, 0, "/local/domain/0/x", "1"), 0);
	ck_assert_int_eq(wait_watch(b, path, tok, 100), 0);
	/* b's own change does, and a reads its own node */
	snprintf(p, sizeof(p), "/local/domain/%u/data", db);
	ck_assert_int_eq(pvcalls_transport_store_write(b, 0, p, "1"), 0);
	ck_assert_int_eq(wait_watch(b, path, tok, 1000), 1);
	ck_assert_str_eq(path, p);
	snprintf(p, sizeof(p), "/local/domain/%u/secret", da);
	ck_assert_int_eq(pvcalls_transport_store_read(a, 0, p, buf, sizeof(buf)), 5);
	/* the hub reads everything */
	ck_assert_int_eq(pvcalls_transport_store_read(hub, 0, p, buf, sizeof(buf)), 5);
	ck_assert_int_ge(
		pvcalls_transport_store_directory(hub, 0, "/local/domain", buf, sizeof(buf)), 3);
	pvcalls_transport_close(a);
	pvcalls_transport_close(b);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/*
 * Every guest holds the hub's page pool fd. It is fixed in size and
 * sealed, so a guest cannot grow it (and park memory there that outlives
 * it); and a backend never shares hub pages, so there is nothing of
 * another guest in it to read.
 */
START_TEST(test_hub_pool_sealed)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct back_thread bt = { 0 };
	pvcalls_transport *hub, *g;
	struct shm_ctx *gc, *hc;
	pvcalls_front *fe;
	int lfd, s, peer, seals;
	struct stat st;
	char c;

	make_pair(&hub, &g);
	gc = ctx_of(g);
	hc = ctx_of(hub);
	ck_assert_int_eq(fstat(gc->hubdom->pool_fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)hc->self.max_pages * PAGE);
	seals = fcntl(gc->hubdom->pool_fd, F_GET_SEALS);
	ck_assert_int_ge(seals, 0);
	ck_assert(seals & F_SEAL_GROW);
	ck_assert(seals & F_SEAL_SEAL);
	ck_assert_int_eq(ftruncate(gc->hubdom->pool_fd, st.st_size + 64 * (off_t)PAGE), -1);
	ck_assert_int_eq(errno, EPERM);
	/* a guest's own pool still grows on demand */
	ck_assert_int_eq(fstat(gc->self.pool_fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);

	/* a whole session: the backend maps the guest's pages, shares none */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	ck_assert_int_eq(pvcalls_back_new(hub, NULL, &bt.b), 0);
	ck_assert_int_eq(pthread_create(&bt.th, NULL, back_main, &bt), 0);
	ck_assert_int_eq(pvcalls_front_open(g, NULL, &fe), 0);
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	peer = accept(lfd, NULL, NULL);
	ck_assert_int_ge(peer, 0);
	ck_assert_int_eq(pvcalls_front_send(fe, s, "x", 1, 0), 1);
	ck_assert_int_eq(recv(peer, &c, 1, 0), 1);
	ck_assert_uint_gt(gc->mem.page_hwm, 0);
	ck_assert_uint_eq(hc->mem.page_hwm, 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s), 0);
	close(peer);
	pvcalls_front_close(fe);
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
	ck_assert_uint_eq(hc->mem.page_hwm, 0);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
	close(lfd);
}
END_TEST

/* Sends one store request on a raw guest socket; payload @a (and @b). */
static int raw_req(int fd, uint32_t id, uint32_t op, int32_t arg, const char *a, const char *b)
{
	char buf[8192];
	struct shm_msg_hdr h = { .type = SHM_MSG_REQ, .id = id, .op = op, .arg = arg };
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;
	int rc;

	ck_assert_uint_le(sizeof(h) + la + lb, sizeof(buf));
	h.len = (uint32_t)(la + lb);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), a, la);
	if (b)
		memcpy(buf + sizeof(h) + la, b, lb);
	for (int i = 0; i < 5000; i++) {
		rc = pvc_shm_send(fd, buf, sizeof(h) + la + lb, NULL, 0, MSG_DONTWAIT);
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			break;
		usleep(1000);
	}
	return rc;
}

/*
 * A guest whose socket the test drives by hand (@sock), so requests can be
 * sent without waiting for answers: adopted by @hub, hello done with the
 * domain @d (pvc_shm_dom_destroy() it). Returns its domid.
 */
static uint32_t raw_guest(pvcalls_transport *hub, int *sock, struct shm_dom *d)
{
	struct {
		struct shm_msg_hdr hdr;
		struct shm_hello hello;
	} m = { .hdr = { .type = SHM_MSG_HELLO, .len = sizeof(struct shm_hello) },
		.hello = { .magic = SHM_HELLO_MAGIC,
			   .version = SHM_HELLO_VERSION,
			   .max_pages = 16,
			   .max_grants = 64,
			   .max_ports = 64 } };
	int sv[2], fds[SHM_MAX_FDS];
	unsigned nfds = 0;
	long r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(hub, sv[0]), 0);
	ck_assert_int_eq(pvc_shm_dom_create(d, 16, 64, 64, false), 0);
	fds[0] = d->pool_fd;
	fds[1] = d->gnt_fd;
	fds[2] = d->evt_fd;
	fds[3] = d->efd;
	ck_assert_int_eq(pvc_shm_send(sv[1], &m, sizeof(m), fds, 4, 0), 0);
	ck_assert(readable(sv[1], 2000));
	r = pvc_shm_recv(sv[1], &m, sizeof(m), fds, &nfds, 0);
	ck_assert_int_eq(r, (long)sizeof(m));
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	ck_assert_int_eq(m.hdr.arg, 0);
	*sock = sv[1];
	return m.hello.domid;
}

/* Ends what raw_guest() began, then the pair @hub, @g. */
static void raw_guest_end(pvcalls_transport *hub, pvcalls_transport *g, int sock, struct shm_dom *d)
{
	close(sock);
	pvc_shm_dom_destroy(d);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
}

/* A guest that asks and never reads its answers is cut off at 1 MiB queued. */
START_TEST(test_hub_slow_reader)
{
	pvcalls_transport *hub, *g;
	struct shm_dom d;
	char p[64], big[4001], buf[256];
	int sock, n;
	uint32_t domid;

	make_pair(&hub, &g);
	domid = raw_guest(hub, &sock, &d);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 2);
	/* a 4000-byte node of its own, then read it back, never reading */
	memset(big, 'b', 4000);
	big[4000] = '\0';
	snprintf(p, sizeof(p), "/local/domain/%u/big", domid);
	log_start();
	ck_assert_int_eq(raw_req(sock, 1, SHM_OP_WRITE, 0, p, big), 0);
	/* sending fails (reset) once the hub has hung up */
	for (n = 0; n < 2000; n++)
		if (raw_req(sock, (uint32_t)n + 2, SHM_OP_READ, 4097, p, NULL))
			break;
	/* cut off after about 1 MiB (plus what the socket buffers) */
	for (int i = 0; i < 5000 && pvcalls_shm_hub_nr_guests(hub) == 2; i++)
		usleep(1000);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 1);
	ck_assert_int_gt(n, 256);
	ck_assert(log_has("does not read its messages"));
	pvcalls_set_logger(NULL, NULL, PVCALLS_LOG_ERR);
	/* the other guest is served as before */
	ck_assert_int_eq(pvcalls_transport_store_write(g, 0, "/local/domain/1/ok", "1"), 0);
	ck_assert_int_eq(pvcalls_transport_store_read(g, 0, "/local/domain/1/ok", buf, sizeof(buf)),
			 1);
	raw_guest_end(hub, g, sock, &d);
}
END_TEST

/* Reads answers on a raw guest's socket until @n came or @ms passed; each
 * must answer request id *@next (then incremented) with @arg. */
static unsigned raw_answers(int sock, unsigned n, uint32_t *next, int32_t arg, int ms)
{
	double end = now_s() + ms / 1000.0;
	unsigned got = 0;

	while (got < n && now_s() < end) {
		char buf[SHM_MAX_MSG];
		struct shm_msg_hdr h;
		int fds[SHM_MAX_FDS];
		unsigned nfds = 0;
		long r;

		if (readable(sock, 50) <= 0)
			continue;
		r = pvc_shm_recv(sock, buf, sizeof(buf), fds, &nfds, MSG_DONTWAIT);
		if (r == -EAGAIN)
			continue;
		ck_assert_int_ge(r, (long)sizeof(h));
		ck_assert_uint_eq(nfds, 0);
		memcpy(&h, buf, sizeof(h));
		if (h.type != SHM_MSG_RSP)
			continue; /* a watch event */
		ck_assert_uint_eq(h.id, *next);
		ck_assert_int_eq(h.arg, arg);
		(*next)++;
		got++;
	}
	return got;
}

/*
 * Store rate (issue 13, "Isolation under abuse"): a guest pipelining
 * requests beyond store_rate is held, its requests answered in order and
 * none refused, while another guest's requests go through at once.
 */
START_TEST(test_store_rate_holds_flooder)
{
	struct pvcalls_shm_opts ho = { .store_rate = 200, .store_burst = 20 };
	pvcalls_transport *hub, *g;
	struct shm_dom d;
	char p[64], v[16], buf[16];
	uint32_t domid, next = 1;
	unsigned got;
	double t0, t1;
	int sock;

	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, &hub, &g), 0);
	domid = raw_guest(hub, &sock, &d);
	snprintf(p, sizeof(p), "/local/domain/%u/n", domid);
	t0 = now_s();
	for (unsigned i = 1; i <= 120; i++) {
		snprintf(v, sizeof(v), "%u", i);
		ck_assert_int_eq(raw_req(sock, i, SHM_OP_WRITE, 0, p, v), 0);
	}
	/* The burst is answered at once, then 200 a second: 100 more take 0.5 s. */
	got = raw_answers(sock, 20, &next, 0, 2000);
	ck_assert_uint_eq(got, 20);
	/* Meanwhile the other guest is not held: 15 round trips, each its own. */
	t1 = now_s();
	for (int i = 0; i < 15; i++)
		ck_assert_int_eq(pvcalls_transport_store_read(g, 0, "/local/domain/1/domid", buf,
							      sizeof(buf)),
				 1);
	t1 = now_s() - t1;
	got += raw_answers(sock, 100, &next, 0, 10000);
	t0 = now_s() - t0;
	ck_assert_uint_eq(got, 120);
	ck_assert_msg(t0 >= 0.4, "120 requests at 200/s (burst 20) took only %.3f s", t0);
	/* ... and well before the flooder's last answer. */
	ck_assert_msg(t1 < t0 / 2, "the other guest's 15 reads took %.3f s of %.3f", t1, t0);
	/* The last write won: nothing refused, nothing reordered. */
	ck_assert_int_eq(pvcalls_transport_store_read(hub, 0, p, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "120");
	ck_assert_uint_gt(pvc_shm_hub_holds(ctx_of(hub)), 0);
	raw_guest_end(hub, g, sock, &d);
}
END_TEST

/*
 * A hub at 1 request/s, burst 1, and a raw guest that sent @n writes to
 * @p and got the first answer: the rest wait, the next one 1 s later.
 */
static void held_guest(pvcalls_transport **hub, pvcalls_transport **g, int *sock, struct shm_dom *d,
		       unsigned n, char *p, size_t plen)
{
	struct pvcalls_shm_opts ho = { .store_rate = 1, .store_burst = 1 };
	uint32_t next = 1;

	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, hub, g), 0);
	snprintf(p, plen, "/local/domain/%u/n", raw_guest(*hub, sock, d));
	for (unsigned i = 1; i <= n; i++)
		ck_assert_int_eq(raw_req(*sock, i, SHM_OP_WRITE, 0, p, "x"), 0);
	ck_assert_uint_eq(raw_answers(*sock, 1, &next, 0, 2000), 1);
}

/* A held guest that hangs up is dropped at once, its unread requests with it. */
START_TEST(test_store_rate_held_hangup)
{
	pvcalls_transport *hub, *g;
	struct shm_dom d;
	char p[64];
	int sock;

	held_guest(&hub, &g, &sock, &d, 50, p, sizeof(p));
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 2);
	/* 49 requests unread; at 1/s they would take 49 s. Dropped within
	 * 0.6 s, before its first release (1 s), when answering would have
	 * found the socket closed too. */
	close(sock);
	for (int i = 0; i < 600 && pvcalls_shm_hub_nr_guests(hub) == 2; i++)
		usleep(1000);
	ck_assert_int_eq(pvcalls_shm_hub_nr_guests(hub), 1);
	/* its domain went, as any guest's that dies */
	ck_assert_int_eq(wait_node(hub, p, NULL, 0, 0), -ENOENT);
	pvc_shm_dom_destroy(&d);
	pvcalls_transport_close(g);
	pvcalls_transport_close(hub);
}
END_TEST


/* CPU seconds the hub's service thread (named "pvcalls-hub") has used. */
static double hub_thread_cpu(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double cpu = -1;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char p[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, "pvcalls-hub\n")) {
			/* The per-thread CPU clock of a tid (Linux's clockid encoding). */
			clockid_t cid = (clockid_t)((~(unsigned)atoi(e->d_name) << 3) | 6);
			struct timespec ts;

			ck_assert_int_eq(clock_gettime(cid, &ts), 0);
			cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		}
		fclose(f);
	}
	closedir(d);
	ck_assert_msg(cpu >= 0, "no pvcalls-hub thread");
	return cpu;
}

/* A held guest's waiting requests cost the hub nothing: its socket is not
 * polled for input meanwhile (level-triggered, it would spin). */
START_TEST(test_store_rate_held_no_spin)
{
	pvcalls_transport *hub, *g;
	struct shm_dom d;
	double c0, c1;
	char p[64];
	int sock;

	held_guest(&hub, &g, &sock, &d, 5, p, sizeof(p));
	c0 = hub_thread_cpu();
	usleep(700000); /* held: the next token is due 1 s after the first */
	c1 = hub_thread_cpu();
	ck_assert_msg(c1 - c0 < 0.1, "the hub used %.3f s of CPU holding a guest", c1 - c0);
	ck_assert_uint_gt(pvc_shm_hub_holds(ctx_of(hub)), 0);
	raw_guest_end(hub, g, sock, &d);
}
END_TEST

/*
 * Reconnecting gets no fresh burst: the guests of one uid share their
 * bucket, refilled at store_rate per live connection and charged for
 * each hello (a guest's bucket used to be its connection's, and a loop of
 * connect, burst, close got about 130 times the rate).
 */
START_TEST(test_store_rate_reconnect)
{
	struct pvcalls_shm_opts ho = { .store_rate = 200, .store_burst = 100 };
	pvcalls_transport *hub, *g;
	unsigned writes = 0, conns = 0;
	double t0, el;
	struct tmpd d;
	char p[64];

	tmpd_make(&d);
	ck_assert_int_eq(pvcalls_shm_listen(d.path, &ho, &hub), 0);
	t0 = now_s();
	while (now_s() - t0 < 1.5) {
		uint32_t domid;

		ck_assert_int_eq(pvcalls_shm_connect(d.path, NULL, &g), 0);
		domid = domid_of(g);
		conns++;
		snprintf(p, sizeof(p), "/local/domain/%u/n", domid);
		for (int i = 0; i < 50 && now_s() - t0 < 1.5; i++) {
			ck_assert_int_eq(pvcalls_transport_store_write(g, 0, p, "x"), 0);
			writes++;
		}
		pvcalls_transport_close(g);
	}
	el = now_s() - t0;
	/* The burst, then 200/s for one live connection, hellos included. */
	ck_assert_msg(writes <= 100 + 200 * el + 50, "%u writes over %u connections in %.2f s",
		      writes, conns, el);
	ck_assert_uint_ge(writes, 100);
	ck_assert_uint_gt(pvc_shm_hub_holds(ctx_of(hub)), 0);
	pvcalls_transport_close(hub);
	tmpd_clean(&d);
}
END_TEST

/* store_rate unlimited holds nobody; an unlimited burst is refused. */
START_TEST(test_store_rate_unlimited)
{
	struct pvcalls_shm_opts ho = { .store_rate = PVCALLS_SHM_UNLIMITED, .store_burst = 1 };
	pvcalls_transport *hub, *g;
	struct shm_dom d;
	uint32_t domid, next = 1;
	char p[64];
	double t0;
	int sock;

	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, &hub, &g), 0);
	domid = raw_guest(hub, &sock, &d);
	snprintf(p, sizeof(p), "/local/domain/%u/n", domid);
	t0 = now_s();
	for (unsigned i = 1; i <= 200; i++)
		ck_assert_int_eq(raw_req(sock, i, SHM_OP_WRITE, 0, p, "x"), 0);
	ck_assert_uint_eq(raw_answers(sock, 200, &next, 0, 10000), 200);
	/* With any rate, burst 1 would hold it 199 times. */
	ck_assert_msg(now_s() - t0 < 5, "200 requests took %.3f s", now_s() - t0);
	ck_assert_uint_eq(pvc_shm_hub_holds(ctx_of(hub)), 0);
	raw_guest_end(hub, g, sock, &d);
	ho.store_rate = 0;
	ho.store_burst = PVCALLS_SHM_UNLIMITED;
	ck_assert_int_eq(pvcalls_shm_pair(&ho, NULL, &hub, &g), -EINVAL);
}
END_TEST

static Suite *shm_suite(void)
{
	Suite *s = suite_create("transport.shm");
	TCase *mem = tcase_create("memory");
	TCase *evt = tcase_create("evtchn");
	TCase *st = tcase_create("store");
	TCase *rv = tcase_create("rendezvous");
	TCase *sec = tcase_create("security");

	tcase_add_test(mem, test_pair_basic);
	tcase_add_test(mem, test_share_map_roundtrip);
	tcase_add_test(mem, test_share_zeroed_on_reuse);
	tcase_add_test(mem, test_self_map);
	tcase_add_test(mem, test_map_errors);
	tcase_add_test(mem, test_hostile_grant_entry);
	tcase_add_test(mem, test_unshare_deferred);
	tcase_add_test(mem, test_run_share_map);
	tcase_add_test(mem, test_run_noncontiguous);
	tcase_add_test(mem, test_run_bad_ref_in_middle);
	tcase_add_test(mem, test_run_reuse_sorted);
	tcase_add_test(mem, test_run_deferred);
	tcase_add_test(mem, test_run_peer_death);
	suite_add_tcase(s, mem);

	tcase_add_test(evt, test_evtchn_deliver_mask_coalesce);
	tcase_add_test(evt, test_evtchn_two_ports);
	tcase_add_test(evt, test_evtchn_errors_and_close);
	tcase_add_test(evt, test_evtchn_hostile_bits);
	tcase_add_test(evt, test_evtchn_pingpong_no_lost_wakeup);
	tcase_add_test(evt, test_evtchn_flood);
	tcase_add_test(evt, test_evtchn_notify_after_scan);
	suite_add_tcase(s, evt);

	tcase_add_test(st, test_store_basic_hub_and_guest);
	tcase_add_test(st, test_store_guest_nodes);
	tcase_add_test(st, test_store_watch_hub);
	tcase_add_test(st, test_store_watch_guest);
	tcase_add_test(st, test_store_transactions);
	suite_add_tcase(s, st);

	tcase_add_test(rv, test_listen_connect_errors);
	tcase_add_test(rv, test_guest_close_is_death);
	tcase_add_test(rv, test_fork_rendezvous);
	tcase_add_test(rv, test_peer_killed);
	tcase_add_test(rv, test_hub_killed);
	tcase_add_test(rv, test_hub_close_seen_by_guest);
	tcase_add_test(rv, test_stream_socket_refused);
	suite_add_tcase(s, rv);

	tcase_add_test(sec, test_listen_live_hub_kept);
	tcase_add_test(sec, test_listen_socket_mode);
	tcase_add_test(sec, test_peer_credentials);
	tcase_add_test(sec, test_hello_timeout_and_caps);
	tcase_add_test(sec, test_store_quota_two_guests);
	tcase_add_test(sec, test_store_memory_bounded);
	tcase_add_test(sec, test_store_txn_overlay);
	tcase_add_test(sec, test_store_txn_reservation);
	tcase_add_test(sec, test_map_regions_per_guest);
	tcase_add_test(sec, test_map_limit_fails_one_connect);
	tcase_add_test(sec, test_evtchn_guest_isolation);
	tcase_add_test(sec, test_store_isolation);
	tcase_add_test(sec, test_store_hub_nodes_readonly);
	tcase_add_test(sec, test_device_churn_log_bounded);
	tcase_add_test(sec, test_store_watch_event_refired);
	tcase_add_test(sec, test_hub_pool_sealed);
	tcase_add_test(sec, test_hub_slow_reader);
	tcase_add_test(sec, test_store_rate_holds_flooder);
	tcase_add_test(sec, test_store_rate_held_hangup);
	tcase_add_test(sec, test_store_rate_held_no_spin);
	tcase_add_test(sec, test_store_rate_reconnect);
	tcase_add_test(sec, test_store_rate_unlimited);
	tcase_set_timeout(sec, 30);
	suite_add_tcase(s, sec);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(shm_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
