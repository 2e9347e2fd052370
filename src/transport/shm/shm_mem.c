/* SPDX-License-Identifier: MIT */
/*
 * Page pools and grant tables.
 *
 * Each domain owns three memfds: a page pool (grown on demand up to
 * max_pages, sealed against shrinking), a grant table and a port table
 * (fixed size, sealed against growing and shrinking). Seals make mmap()
 * of a page below the size we saw with fstat() safe for good: the peer can
 * never shrink the file under our mapping, so we never take SIGBUS.
 *
 * Granting writes a descriptor into our grant table; the granting side
 * keeps its own private copy (mem->refs) and never trusts the shared one,
 * which the peer can scribble on. Mapping reads the peer's descriptor once,
 * validates it, counts the mapping in the entry's maps field and re-reads
 * the descriptor; unsharing clears the descriptor and then reads maps.
 * Both sides use seq_cst, so at least one sees the other (Dekker): either
 * the mapper sees the revocation and backs out, or the granter sees the
 * count and defers freeing the page until the mapper unmaps. A mapper
 * takes (validates and counts) every ref of a call before it maps any, so
 * one bad ref fails the call with nothing mapped and no count left behind.
 *
 * Runs. A ring is shared as a block of pages and mapped as one, so both
 * sides mmap() each run of adjacent pool pages with one call, not one per
 * page. The page free list is a stack; unshare frees a share's pages last
 * first, so the next share of that size gets them back ascending (a
 * single run), and punches their holes by runs too.
 *
 * Mapping costs. Each run is one mmap() region (VMA) of the mapping
 * process, and vm.max_map_count is per process: a guest granting its refs
 * in descending page order made the hub spend one region per page (127
 * such CONNECTs reached the limit, issue 13 attack 6). The hub charges the
 * regions of every mapping of a guest's pages to that guest (shm_dom's
 * nr_vmas) and refuses a map_refs that would exceed max_maps_per_guest
 * with -ENOBUFS, before mapping anything, as it refuses one that would
 * take all guests together past half of vm.max_map_count (the hub's own
 * allocations and threads need regions too); the backend answers that one
 * request with an error and the guest's other sockets go on.
 *
 * Trust: a peer holds the raw pool fd and could mmap any page directly; the
 * grant table emulates Xen's semantics for well-behaved peers and keeps a
 * hostile table from crashing or misleading the mapper, it is not a
 * security boundary between processes. A guest's pool is seen by the hub
 * alone. The hub's pool and grant table are seen by every guest: a guest
 * can read and write any page of the hub's pool and any entry of its
 * grant table. That is a cross-guest channel only for pages the hub
 * process shares; a backend never shares (it maps the guests' pages), so
 * under pvcallsd the hub's pool stays empty (tests/transport/shm/
 * check_shm.c, test_hub_pool_sealed). The hub never trusts its shared
 * grant table (its private copy is mem->refs; a forged maps count only
 * defers freeing the hub's own pages), and its pool is fixed in size and
 * sealed, so what a guest writes there is bounded by the hub's max_pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

/* 64-bit atomics must be lock-free to work across processes. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "need lock-free 64-bit atomics");
_Static_assert(sizeof(struct shm_gnt_entry) == 16, "grant entry layout");

#define POOL_GROW_PAGES 64u

struct shm_share {
	struct shm_share *next;
	void *addr;
	unsigned count;
	uint32_t refs[];
};

struct shm_map {
	struct shm_map *next;
	void *addr;
	unsigned count;
	unsigned vmas; /* charged to dom->nr_vmas */
	struct shm_dom *dom;
	uint32_t refs[];
};

static size_t round_page(size_t n)
{
	return (n + SHM_PAGE_SIZE - 1) & ~(size_t)(SHM_PAGE_SIZE - 1);
}

size_t pvc_shm_gnt_bytes(uint32_t max_grants)
{
	return round_page((size_t)max_grants * sizeof(struct shm_gnt_entry));
}

size_t pvc_shm_evt_bytes(uint32_t max_ports)
{
	return round_page(((size_t)shm_evt_words(max_ports) * 2 + max_ports) * sizeof(uint64_t));
}

static int make_memfd(const char *name, size_t size, unsigned seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int rc;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, seals | F_SEAL_SEAL) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int pvc_shm_evtab_create(struct shm_evtab *t, uint32_t max_ports)
{
	uint32_t w = shm_evt_words(max_ports);
	int rc;

	t->len = pvc_shm_evt_bytes(max_ports);
	t->mem = MAP_FAILED;
	t->efd = -1;
	t->fd = make_memfd("pvcalls-shm-ports", t->len, F_SEAL_SHRINK | F_SEAL_GROW);
	if (t->fd < 0)
		return t->fd;
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		rc = -errno;
		goto fail;
	}
	t->mem = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->mem == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	t->pending = t->mem;
	t->mask = t->pending + w;
	t->bind = t->mask + w;
	/* Every port masked until it is allocated for this table's reader. */
	for (uint32_t i = 0; i < w; i++)
		__atomic_store_n(&t->mask[i], ~0ull, __ATOMIC_RELAXED);
	return 0;
fail:
	pvc_shm_evtab_destroy(t);
	return rc;
}

void pvc_shm_evtab_destroy(struct shm_evtab *t)
{
	if (t->mem != MAP_FAILED && t->mem)
		munmap(t->mem, t->len);
	if (t->fd >= 0)
		close(t->fd);
	if (t->efd >= 0)
		close(t->efd);
	t->mem = MAP_FAILED;
	t->fd = t->efd = -1;
}

static void set_evt_pointers(struct shm_dom *d)
{
	uint32_t w = shm_evt_words(d->max_ports);

	d->pending = d->evt;
	d->mask = d->pending + w;
	d->bind = d->mask + w;
}

static void dom_init_fds(struct shm_dom *d)
{
	memset(d, 0, sizeof(*d));
	d->pool_fd = d->gnt_fd = d->evt_fd = d->efd = -1;
	d->gnt = MAP_FAILED;
	d->evt = MAP_FAILED;
}

int pvc_shm_dom_create(struct shm_dom *d, uint32_t max_pages, uint32_t max_grants,
		       uint32_t max_ports, bool fixed_pool)
{
	int rc;

	dom_init_fds(d);
	d->is_self = true;
	d->refs = 1;
	d->max_pages = max_pages;
	d->max_grants = max_grants;
	d->max_ports = max_ports;
	d->gnt_len = pvc_shm_gnt_bytes(max_grants);
	d->evt_len = pvc_shm_evt_bytes(max_ports);

	/*
	 * A guest's pool starts empty and grows; it may never shrink. The
	 * hub's pool is handed to every guest, so it is made at its full size
	 * (sparse: pages cost memory only once written) and sealed against
	 * growing too: a guest holding it cannot enlarge it and fill it with
	 * memory that would outlive the guest, only write pages below
	 * max_pages (see "Trust" above).
	 */
	if (fixed_pool)
		rc = make_memfd("pvcalls-shm-pool", (size_t)max_pages << SHM_PAGE_SHIFT,
				F_SEAL_SHRINK | F_SEAL_GROW);
	else
		rc = make_memfd("pvcalls-shm-pool", 0, F_SEAL_SHRINK);
	if (rc < 0)
		goto fail;
	d->pool_fd = rc;
	rc = make_memfd("pvcalls-shm-grants", d->gnt_len, F_SEAL_SHRINK | F_SEAL_GROW);
	if (rc < 0)
		goto fail;
	d->gnt_fd = rc;
	rc = make_memfd("pvcalls-shm-ports", d->evt_len, F_SEAL_SHRINK | F_SEAL_GROW);
	if (rc < 0)
		goto fail;
	d->evt_fd = rc;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		rc = -errno;
		goto fail;
	}
	d->gnt = mmap(NULL, d->gnt_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->gnt_fd, 0);
	d->evt = mmap(NULL, d->evt_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->evt_fd, 0);
	if (d->gnt == MAP_FAILED || d->evt == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	set_evt_pointers(d);
	/* Free ports start masked so that stray notifications never wake us. */
	for (uint32_t i = 0; i < shm_evt_words(max_ports); i++)
		__atomic_store_n(&d->mask[i], ~0ull, __ATOMIC_RELAXED);
	return 0;
fail:
	pvc_err("shm.memfd", "cannot create the domain's shared objects: %s", strerror(-rc));
	pvc_shm_dom_destroy(d);
	return rc;
}

void pvc_shm_dom_destroy(struct shm_dom *d)
{
	if (d->htab) {
		pvc_shm_evtab_destroy(d->htab);
		free(d->htab);
	}
	if (d->gnt != MAP_FAILED && d->gnt)
		munmap(d->gnt, d->gnt_len);
	if (d->evt != MAP_FAILED && d->evt)
		munmap(d->evt, d->evt_len);
	if (d->pool_fd >= 0)
		close(d->pool_fd);
	if (d->gnt_fd >= 0)
		close(d->gnt_fd);
	if (d->evt_fd >= 0)
		close(d->evt_fd);
	if (d->efd >= 0)
		close(d->efd);
	dom_init_fds(d);
}

/* Checks that a peer's memfd carries @need seals and is at least @size bytes. */
static int check_memfd(int fd, unsigned need, size_t size, const char *what)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || ((unsigned)seals & need) != need || !((unsigned)seals & F_SEAL_SEAL)) {
		pvc_err("shm.bad-peer", "peer's %s is not a sealed memfd", what);
		return -EPROTO;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < size) {
		pvc_err("shm.bad-peer", "peer's %s is smaller than advertised", what);
		return -EPROTO;
	}
	return 0;
}

int pvc_shm_dom_import(const int fds[4], uint32_t domid, const struct shm_hello *h,
		       struct shm_dom **out)
{
	struct shm_dom *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM, fl;

	if (!d) {
		for (int i = 0; i < 4; i++)
			close(fds[i]);
		return rc;
	}
	dom_init_fds(d);
	d->refs = 1;
	d->pool_fd = fds[0];
	d->gnt_fd = fds[1];
	d->evt_fd = fds[2];
	d->efd = fds[3];
	d->domid = domid;
	rc = -EPROTO;
	if (h->max_pages == 0 || h->max_pages > SHM_CAP_MAX_PAGES ||
	    h->max_grants <= SHM_NR_RESERVED_REFS || h->max_grants > SHM_CAP_MAX_GRANTS ||
	    h->max_ports < 2 || h->max_ports > SHM_CAP_MAX_PORTS) {
		pvc_err("shm.bad-peer", "peer advertises invalid limits");
		goto fail;
	}
	d->max_pages = h->max_pages;
	d->max_grants = h->max_grants;
	d->max_ports = h->max_ports;
	d->gnt_len = pvc_shm_gnt_bytes(d->max_grants);
	d->evt_len = pvc_shm_evt_bytes(d->max_ports);
	rc = check_memfd(d->pool_fd, F_SEAL_SHRINK, 0, "page pool");
	if (!rc)
		rc = check_memfd(d->gnt_fd, F_SEAL_SHRINK | F_SEAL_GROW, d->gnt_len, "grant table");
	if (!rc)
		rc = check_memfd(d->evt_fd, F_SEAL_SHRINK | F_SEAL_GROW, d->evt_len, "port table");
	if (rc)
		goto fail;
	/* We write the peer's eventfd from notify, which must never block. */
	fl = fcntl(d->efd, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK)) {
		pvc_err("shm.bad-peer", "peer's event fd is not non-blocking");
		/* rc is 0 here (the memfd checks passed): failing with it
		 * returned success and no domain, and the hub went on with
		 * an uninitialised pointer (fuzz_hub found it). */
		rc = -EPROTO;
		goto fail;
	}
	d->gnt = mmap(NULL, d->gnt_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->gnt_fd, 0);
	d->evt = mmap(NULL, d->evt_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->evt_fd, 0);
	if (d->gnt == MAP_FAILED || d->evt == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	set_evt_pointers(d);
	*out = d;
	return 0;
fail:
	pvc_shm_dom_destroy(d);
	free(d);
	return rc;
}

void pvc_shm_dom_get(struct shm_dom *d)
{
	if (!d->is_self)
		__atomic_fetch_add(&d->refs, 1, __ATOMIC_RELAXED);
}

void pvc_shm_dom_put(struct shm_dom *d)
{
	if (!d || d->is_self)
		return;
	/* acq_rel: the last put sees every other user's accesses before freeing. */
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		pvc_shm_dom_destroy(d);
		free(d);
	}
}

void pvc_shm_dom_set_dead(struct shm_dom *d)
{
	__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
}

bool pvc_shm_dom_dead(struct shm_dom *d)
{
	return __atomic_load_n(&d->dead, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------
 * Private allocators of the granting side.
 */

int pvc_shm_mem_init(struct shm_ctx *ctx)
{
	struct shm_mem *m = &ctx->mem;
	uint32_t i;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->free_pages = calloc(ctx->self.max_pages, sizeof(*m->free_pages));
	m->page_dirty = calloc(ctx->self.max_pages, 1);
	m->free_refs = calloc(ctx->self.max_grants, sizeof(*m->free_refs));
	m->refs = calloc(ctx->self.max_grants, sizeof(*m->refs));
	if (!m->free_pages || !m->page_dirty || !m->free_refs || !m->refs)
		return -ENOMEM;
	/* The hub's pool is created at its full size (pvc_shm_dom_create()). */
	if (ctx->is_hub)
		m->pool_pages = ctx->self.max_pages;
	/* Stack of free refs, lowest on top; 0..7 are reserved as on Xen. */
	for (i = ctx->self.max_grants; i-- > SHM_NR_RESERVED_REFS;)
		m->free_refs[m->nr_free_refs++] = i;
	return 0;
}

/*
 * Pages freed together are returned to the kernel together: one
 * fallocate(PUNCH_HOLE) per run of adjacent pages instead of one per page.
 * The pages go on the free list at once; the holes are punched by
 * punch_flush() before mem->lock is dropped, so no page is handed out
 * again before its hole is punched (or it is marked dirty).
 */
struct shm_punch {
	uint32_t start, n; /* the pending run: pages [start, start + n) */
};

/* Punching the hole returns the memory and makes the pages read as zeroes. */
static void punch_flush(struct shm_ctx *ctx, struct shm_punch *pu)
{
	struct shm_mem *m = &ctx->mem;

	if (!pu->n)
		return;
	__atomic_fetch_add(&m->nr_punch_calls, 1, __ATOMIC_RELAXED);
	if (fallocate(ctx->self.pool_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)pu->start << SHM_PAGE_SHIFT, (off_t)pu->n << SHM_PAGE_SHIFT) < 0)
		memset(&m->page_dirty[pu->start], 1, pu->n);
	pu->n = 0;
}

/* Frees @page onto the free list; its hole joins the pending run. mem->lock held. */
static void page_free(struct shm_ctx *ctx, uint32_t page, struct shm_punch *pu)
{
	struct shm_mem *m = &ctx->mem;

	if (pu->n && page + 1 == pu->start) {
		pu->start = page;
		pu->n++;
	} else if (pu->n && page == pu->start + pu->n) {
		pu->n++;
	} else {
		punch_flush(ctx, pu);
		pu->start = page;
		pu->n = 1;
	}
	m->free_pages[m->nr_free_pages++] = page;
}

static void ref_free(struct shm_ctx *ctx, uint32_t ref, struct shm_punch *pu)
{
	struct shm_mem *m = &ctx->mem;

	page_free(ctx, m->refs[ref].page, pu);
	m->refs[ref].state = SHM_REF_FREE;
	m->free_refs[m->nr_free_refs++] = ref;
}

/*
 * Frees deferred grants nobody maps any more. Called with mem->lock held.
 * Highest ref first, like unshare: the free lists then hand them out
 * lowest first (see pvc_shm_unshare_pages()).
 */
static void sweep_deferred(struct shm_ctx *ctx)
{
	struct shm_mem *m = &ctx->mem;
	struct shm_punch pu = { 0 };

	if (!m->nr_deferred)
		return;
	for (uint32_t ref = ctx->self.max_grants; ref-- > SHM_NR_RESERVED_REFS;) {
		if (m->refs[ref].state != SHM_REF_DEFERRED)
			continue;
		/* Pairs with the mapper's decrement in maps_dec(). */
		if (__atomic_load_n(&ctx->self.gnt[ref].maps, __ATOMIC_ACQUIRE))
			continue;
		pvc_debug("shm.deferred-free", "grant ref %u: peer unmapped, page %u freed", ref,
			  m->refs[ref].page);
		ref_free(ctx, ref, &pu);
		m->nr_deferred--;
	}
	punch_flush(ctx, &pu);
}

void pvc_shm_mem_peer_gone(struct shm_ctx *ctx, uint32_t domid)
{
	struct shm_mem *m = &ctx->mem;

	/*
	 * Entries granted to @domid can only be mapped by @domid (the mapper
	 * checks the grantee), and it is gone together with its mappings, so
	 * their counts are stale. Self-grants are never affected.
	 */
	if (domid == ctx->self.domid)
		return;
	pthread_mutex_lock(&m->lock);
	for (uint32_t ref = SHM_NR_RESERVED_REFS; ref < ctx->self.max_grants; ref++) {
		if (m->refs[ref].state != SHM_REF_FREE && m->refs[ref].domid == domid)
			__atomic_store_n(&ctx->self.gnt[ref].maps, 0, __ATOMIC_RELEASE);
	}
	sweep_deferred(ctx);
	pthread_mutex_unlock(&m->lock);
}

/* Gets a free pool page, growing the memfd when needed. mem->lock held. */
static int page_alloc(struct shm_ctx *ctx, uint32_t *page)
{
	struct shm_mem *m = &ctx->mem;

	if (m->nr_free_pages) {
		*page = m->free_pages[--m->nr_free_pages];
		return 0;
	}
	if (m->page_hwm >= ctx->self.max_pages)
		return -ENOMEM;
	if (m->page_hwm >= m->pool_pages) {
		uint32_t n = m->pool_pages + POOL_GROW_PAGES;

		if (n > ctx->self.max_pages)
			n = ctx->self.max_pages;
		if (ftruncate(ctx->self.pool_fd, (off_t)n << SHM_PAGE_SHIFT) < 0) {
			pvc_warn("shm.pool", "cannot grow the page pool: %s", strerror(errno));
			return -ENOMEM;
		}
		m->pool_pages = n;
	}
	*page = m->page_hwm++;
	return 0;
}

/* Reserves a contiguous address range so that runs can be placed with MAP_FIXED. */
static void *reserve(struct shm_mem *m, unsigned count)
{
	void *p = mmap(NULL, (size_t)count * SHM_PAGE_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	__atomic_fetch_add(&m->nr_mmap_calls, 1, __ATOMIC_RELAXED);
	return p == MAP_FAILED ? NULL : p;
}

/* The length of the run of adjacent ascending pages starting at pages[i]. */
static unsigned run_len(const uint32_t *pages, unsigned i, unsigned count)
{
	unsigned j = i + 1;

	while (j < count && pages[j] == pages[j - 1] + 1)
		j++;
	return j - i;
}

/*
 * Maps pool pages @pages[0..count) of @fd contiguously, pages[i] at
 * base + i pages, with one mmap() per run of adjacent ascending pages: a
 * ring whose pages were allocated together costs one call instead of one
 * per page. A single run is mapped where the kernel likes; several go
 * into a reserved range with MAP_FIXED. On failure nothing stays mapped.
 * Returns the base, or NULL with *@err set.
 */
static void *map_pages(struct shm_mem *m, int fd, const uint32_t *pages, unsigned count,
		       bool writable, int *err)
{
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	char *base;
	void *p;

	if (run_len(pages, 0, count) == count) {
		p = mmap(NULL, (size_t)count * SHM_PAGE_SIZE, prot, MAP_SHARED, fd,
			 (off_t)pages[0] << SHM_PAGE_SHIFT);
		__atomic_fetch_add(&m->nr_mmap_calls, 1, __ATOMIC_RELAXED);
		if (p == MAP_FAILED) {
			*err = -errno;
			return NULL;
		}
		return p;
	}
	base = reserve(m, count);
	if (!base) {
		*err = -ENOMEM;
		return NULL;
	}
	for (unsigned i = 0, n; i < count; i += n) {
		n = run_len(pages, i, count);
		p = mmap(base + (size_t)i * SHM_PAGE_SIZE, (size_t)n * SHM_PAGE_SIZE, prot,
			 MAP_SHARED | MAP_FIXED, fd, (off_t)pages[i] << SHM_PAGE_SHIFT);
		__atomic_fetch_add(&m->nr_mmap_calls, 1, __ATOMIC_RELAXED);
		if (p == MAP_FAILED) {
			*err = -errno;
			munmap(base, (size_t)count * SHM_PAGE_SIZE);
			return NULL;
		}
	}
	return base;
}

/* mmap() regions a mapping of @pages costs: one per run (see map_pages()). */
static unsigned nr_runs(const uint32_t *pages, unsigned count)
{
	unsigned n = 0;

	for (unsigned i = 0; i < count; i += run_len(pages, i, count))
		n++;
	return n;
}

/*
 * Charges @n regions to guest domain @d, or fails with -ENOBUFS if that
 * would exceed the hub's per-guest limit. Only the hub's mappings of a
 * guest are charged: they are the hub process's cost, one guest must not
 * spend all of vm.max_map_count. A guest's own process is its own business.
 */
static int vmas_charge(struct shm_ctx *ctx, struct shm_dom *d, unsigned n)
{
	uint32_t now;

	if (!ctx->is_hub || d->is_self)
		return 0;
	/* Relaxed: counters, no data is published through them. */
	now = __atomic_add_fetch(&d->nr_vmas, n, __ATOMIC_RELAXED);
	if (now > ctx->max_maps) {
		__atomic_sub_fetch(&d->nr_vmas, n, __ATOMIC_RELAXED);
		pvc_warn("shm.too-many-maps",
			 "domain %u: mapping %u more regions would exceed its limit of %u",
			 d->domid, n, ctx->max_maps);
		return -ENOBUFS;
	}
	now = __atomic_add_fetch(&ctx->nr_vmas, n, __ATOMIC_RELAXED);
	if (now > ctx->max_maps_total) {
		__atomic_sub_fetch(&ctx->nr_vmas, n, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&d->nr_vmas, n, __ATOMIC_RELAXED);
		pvc_warn("shm.too-many-maps",
			 "domain %u: mapping %u more regions would exceed the hub's limit of %u",
			 d->domid, n, ctx->max_maps_total);
		return -ENOBUFS;
	}
	return 0;
}

static void vmas_uncharge(struct shm_ctx *ctx, struct shm_dom *d, unsigned n)
{
	if (ctx->is_hub && !d->is_self) {
		__atomic_sub_fetch(&d->nr_vmas, n, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&ctx->nr_vmas, n, __ATOMIC_RELAXED);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int pvc_shm_share_pages(void *c, uint32_t domid, unsigned count, bool writable, uint32_t *refs,
			void **addr)
{
	struct shm_ctx *ctx = c;
	struct shm_mem *m = &ctx->mem;
	uint32_t pages[PVCALLS_TRANSPORT_MAX_PAGES];
	struct shm_punch pu = { 0 };
	struct shm_share *sh;
	unsigned i, got = 0;
	char *base = NULL;
	int rc;

	if (!count || count > PVCALLS_TRANSPORT_MAX_PAGES || domid > SHM_DOMID_MAX || !refs ||
	    !addr)
		return -EINVAL;
	sh = malloc(sizeof(*sh) + count * sizeof(uint32_t));
	if (!sh)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	sweep_deferred(ctx);
	rc = -ENOMEM;
	if (m->nr_free_refs < count) {
		pthread_mutex_unlock(&m->lock);
		pvc_warn("shm.no-grants", "no free grant entries for %u pages", count);
		goto out;
	}
	for (got = 0; got < count; got++) {
		rc = page_alloc(ctx, &pages[got]);
		if (rc)
			break;
	}
	/*
	 * Unshare frees a share's pages so that they come back ascending
	 * (one run); pages freed in another order are sorted into runs.
	 */
	if (!rc && run_len(pages, 0, count) != count)
		qsort(pages, count, sizeof(pages[0]), cmp_u32);
	if (!rc)
		base = map_pages(m, ctx->self.pool_fd, pages, count, true, &rc);
	if (!base) {
		/* Back in reverse, so the free list is as it was. */
		while (got--)
			page_free(ctx, pages[got], &pu);
		punch_flush(ctx, &pu);
		pthread_mutex_unlock(&m->lock);
		pvc_warn("shm.no-pages", "cannot share %u pages: %s", count, strerror(-rc));
		goto out;
	}
	for (i = 0; i < count; i++) {
		uint32_t ref = m->free_refs[--m->nr_free_refs];

		if (m->page_dirty[pages[i]]) {
			memset(base + (size_t)i * SHM_PAGE_SIZE, 0, SHM_PAGE_SIZE);
			m->page_dirty[pages[i]] = 0;
		}
		m->refs[ref] = (struct shm_ref_priv){ .page = pages[i],
						      .domid = (uint16_t)domid,
						      .state = SHM_REF_LIVE };
		/*
		 * Publish the grant. Release pairs with the mapper's acquire
		 * load of desc in grant_take(); the zeroed page is visible first.
		 */
		__atomic_store_n(&ctx->self.gnt[ref].desc, SHM_GNT_DESC(domid, pages[i], !writable),
				 __ATOMIC_RELEASE);
		refs[i] = ref;
		sh->refs[i] = ref;
	}
	sh->addr = base;
	sh->count = count;
	sh->next = m->shares;
	m->shares = sh;
	pthread_mutex_unlock(&m->lock);
	*addr = base;
	return 0;
out:
	free(sh);
	return rc;
}

/*
 * Revokes one grant; frees it now (its hole joins @pu) or defers until the
 * peer unmaps.
 */
static void grant_revoke(struct shm_ctx *ctx, uint32_t ref, struct shm_punch *pu)
{
	struct shm_mem *m = &ctx->mem;
	struct shm_gnt_entry *e = &ctx->self.gnt[ref];

	/*
	 * seq_cst store then seq_cst load: pairs with the mapper's seq_cst
	 * increment of maps followed by its re-read of desc in grant_take().
	 */
	__atomic_store_n(&e->desc, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->maps, __ATOMIC_SEQ_CST) == 0) {
		ref_free(ctx, ref, pu);
		return;
	}
	pvc_debug("shm.deferred", "grant ref %u still mapped by domain %u: free deferred", ref,
		  m->refs[ref].domid);
	m->refs[ref].state = SHM_REF_DEFERRED;
	m->nr_deferred++;
}

int pvc_shm_unshare_pages(void *c, void *addr, unsigned count)
{
	struct shm_ctx *ctx = c;
	struct shm_mem *m = &ctx->mem;
	struct shm_punch pu = { 0 };
	struct shm_share **pp, *sh;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->shares; (sh = *pp); pp = &sh->next)
		if (sh->addr == addr && sh->count == count)
			break;
	if (!sh) {
		pthread_mutex_unlock(&m->lock);
		return -EINVAL;
	}
	*pp = sh->next;
	munmap(addr, (size_t)count * SHM_PAGE_SIZE);
	/*
	 * Last page first: the free lists are stacks, so the next share of
	 * this size pops these pages (and refs) lowest first, ascending, and
	 * maps them with one mmap(). The holes are punched by runs.
	 */
	for (unsigned i = count; i-- > 0;)
		grant_revoke(ctx, sh->refs[i], &pu);
	punch_flush(ctx, &pu);
	sweep_deferred(ctx);
	pthread_mutex_unlock(&m->lock);
	free(sh);
	return 0;
}

/* Drops one mapping count without ever wrapping below zero. */
static void maps_dec(struct shm_gnt_entry *e, uint32_t ref)
{
	uint32_t v = __atomic_load_n(&e->maps, __ATOMIC_RELAXED);

	do {
		if (!v) {
			pvc_warn("shm.bad-ref", "grant ref %u: map count already zero", ref);
			return;
		}
		/*
		 * seq_cst (a release at least): pairs with the granter's acquire
		 * in sweep_deferred(), so our last access to the page happens
		 * before the granter frees it.
		 */
	} while (!__atomic_compare_exchange_n(&e->maps, &v, v - 1, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
}

/*
 * Validates one ref of @d and counts the mapping in its entry; *@page is
 * the pool page to map. The caller maps it afterwards (the count keeps
 * the granter from freeing the page meanwhile) or undoes the count with
 * maps_dec().
 */
/*
 * Whether page @pg lies inside @d's pool as far as we know (*@pool_bytes),
 * else after a fresh fstat(), which raises *@pool_bytes and d->pool_seen.
 * The pool only grows (sealed against shrinking, checked at import), so a
 * size once seen stays safe to map below.
 */
static bool pool_has(struct shm_dom *d, uint32_t pg, off_t *pool_bytes)
{
	off_t need = ((off_t)pg + 1) << SHM_PAGE_SHIFT;
	struct stat st;

	if (need <= *pool_bytes)
		return true;
	if (fstat(d->pool_fd, &st) < 0 || st.st_size <= *pool_bytes)
		return false;
	*pool_bytes = st.st_size;
	for (int64_t seen = __atomic_load_n(&d->pool_seen, __ATOMIC_RELAXED); seen < st.st_size;)
		if (__atomic_compare_exchange_n(&d->pool_seen, &seen, (int64_t)st.st_size, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
	return need <= *pool_bytes;
}

static int grant_take(struct shm_ctx *ctx, struct shm_dom *d, uint32_t ref, bool writable,
		      off_t *pool_bytes, uint32_t *page)
{
	struct shm_gnt_entry *e;
	uint64_t desc;
	uint32_t pg;

	if (ref < SHM_NR_RESERVED_REFS || ref >= d->max_grants) {
		pvc_err("shm.bad-ref", "grant ref %u of domain %u is out of range (%u..%u)", ref,
			d->domid, SHM_NR_RESERVED_REFS, d->max_grants - 1);
		return -EINVAL;
	}
	e = &d->gnt[ref];
	/* Acquire pairs with the release store of desc in share_pages(). */
	desc = __atomic_load_n(&e->desc, __ATOMIC_ACQUIRE);
	if (!(desc & SHM_GNT_LIVE)) {
		pvc_err("shm.bad-ref", "grant ref %u of domain %u is not granted (or revoked)", ref,
			d->domid);
		return -ENOENT;
	}
	if (SHM_GNT_DOMID(desc) != ctx->self.domid) {
		pvc_err("shm.bad-ref", "grant ref %u of domain %u is granted to domain %u, not %u",
			ref, d->domid, SHM_GNT_DOMID(desc), ctx->self.domid);
		return -ENOENT;
	}
	if (writable && (desc & SHM_GNT_RO)) {
		pvc_err("shm.bad-ref", "grant ref %u of domain %u is read-only", ref, d->domid);
		return -EPERM;
	}
	pg = SHM_GNT_PAGE(desc);
	if (pg >= d->max_pages || !pool_has(d, pg, pool_bytes)) {
		pvc_err("shm.bad-ref", "grant ref %u of domain %u names page %u outside the pool",
			ref, d->domid, pg);
		return -EINVAL;
	}
	/* seq_cst increment then re-read: pairs with grant_revoke()'s store then load. */
	__atomic_fetch_add(&e->maps, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->desc, __ATOMIC_SEQ_CST) != desc) {
		maps_dec(e, ref);
		pvc_err("shm.bad-ref", "grant ref %u of domain %u was revoked while mapping", ref,
			d->domid);
		return -ENOENT;
	}
	*page = pg;
	return 0;
}

int pvc_shm_map_refs(void *c, uint32_t domid, unsigned count, const uint32_t *refs, bool writable,
		     void **addr)
{
	struct shm_ctx *ctx = c;
	uint32_t pages[PVCALLS_TRANSPORT_MAX_PAGES];
	struct shm_dom *d = NULL;
	struct shm_map *mp = NULL;
	off_t pool;
	char *base;
	unsigned i = 0;
	int rc;

	if (!count || count > PVCALLS_TRANSPORT_MAX_PAGES || !refs || !addr)
		return -EINVAL;
	rc = pvc_shm_lookup_dom(ctx, domid, &d);
	if (rc)
		return rc;
	mp = malloc(sizeof(*mp) + count * sizeof(uint32_t));
	rc = -ENOMEM;
	if (!mp)
		goto fail;
	/* The pool only grows (sealed), so a size seen before stays a safe
	 * bound; grant_take() looks again only for a page beyond it. */
	pool = (off_t)__atomic_load_n(&d->pool_seen, __ATOMIC_RELAXED);
	/* Every ref is validated and counted before anything is mapped. */
	for (i = 0; i < count; i++) {
		rc = grant_take(ctx, d, refs[i], writable, &pool, &pages[i]);
		if (rc)
			goto fail;
		mp->refs[i] = refs[i];
	}
	/* Refs in scattered order cost one region per page: bounded per guest. */
	mp->vmas = nr_runs(pages, count);
	rc = vmas_charge(ctx, d, mp->vmas);
	if (rc)
		goto fail;
	base = map_pages(&ctx->mem, d->pool_fd, pages, count, writable, &rc);
	if (!base) {
		pvc_err("shm.map", "cannot map %u pages of domain %u: %s", count, d->domid,
			strerror(-rc));
		vmas_uncharge(ctx, d, mp->vmas);
		goto fail;
	}
	mp->addr = base;
	mp->count = count;
	mp->dom = d;
	pthread_mutex_lock(&ctx->mem.lock);
	mp->next = ctx->mem.maps;
	ctx->mem.maps = mp;
	pthread_mutex_unlock(&ctx->mem.lock);
	*addr = base;
	return 0;
fail:
	while (i--)
		maps_dec(&d->gnt[refs[i]], refs[i]);
	free(mp);
	pvc_shm_dom_put(d);
	return rc;
}

static void unmap_one(struct shm_ctx *ctx, struct shm_map *mp)
{
	munmap(mp->addr, (size_t)mp->count * SHM_PAGE_SIZE);
	for (unsigned i = 0; i < mp->count; i++)
		maps_dec(&mp->dom->gnt[mp->refs[i]], mp->refs[i]);
	vmas_uncharge(ctx, mp->dom, mp->vmas);
	pvc_shm_dom_put(mp->dom);
	free(mp);
}

int pvc_shm_unmap(void *c, void *addr, unsigned count)
{
	struct shm_ctx *ctx = c;
	struct shm_map **pp, *mp;
	bool self;

	pthread_mutex_lock(&ctx->mem.lock);
	for (pp = &ctx->mem.maps; (mp = *pp); pp = &mp->next)
		if (mp->addr == addr && mp->count == count)
			break;
	if (mp)
		*pp = mp->next;
	pthread_mutex_unlock(&ctx->mem.lock);
	if (!mp)
		return -EINVAL;
	self = mp->dom->is_self;
	unmap_one(ctx, mp);
	if (self) {
		/* Our own deferred grants may now be free. */
		pthread_mutex_lock(&ctx->mem.lock);
		sweep_deferred(ctx);
		pthread_mutex_unlock(&ctx->mem.lock);
	}
	return 0;
}

void pvc_shm_mem_fini(struct shm_ctx *ctx)
{
	struct shm_mem *m = &ctx->mem;

	while (m->maps) {
		struct shm_map *mp = m->maps;

		m->maps = mp->next;
		pvc_warn("shm.leak", "closing with %u pages of domain %u still mapped", mp->count,
			 mp->dom->domid);
		unmap_one(ctx, mp);
	}
	while (m->shares) {
		struct shm_share *sh = m->shares;

		m->shares = sh->next;
		munmap(sh->addr, (size_t)sh->count * SHM_PAGE_SIZE);
		free(sh);
	}
	free(m->free_pages);
	free(m->page_dirty);
	free(m->free_refs);
	free(m->refs);
	pthread_mutex_destroy(&m->lock);
	memset(m, 0, sizeof(*m));
}
