/* SPDX-License-Identifier: MIT */
/*
 * Data ring: a frontend and a backend attached to one indexes page and one
 * data area. Both live between PROT_NONE guard pages, so any access outside
 * the ring faults (and Check reports the test as errored); the unused parts
 * of the indexes page hold canary bytes that are checked after each test.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pvcalls/ring.h>

#define PAGE 4096u
#define CANARY 0x5a
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/*
 * In forking mode every passing ck_assert reports its location to the
 * parent through a pipe; hot loops use this instead, which only talks to
 * Check when it fails.
 */
#define EQ(a, b)                                                                          \
	do {                                                                              \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                          \
		if (a_ != b_)                                                             \
			ck_abort_msg("%s == %llu, expected %s == %llu", #a,               \
				     (unsigned long long)a_, #b, (unsigned long long)b_); \
	} while (0)

struct env {
	uint8_t *map;
	size_t maplen;
	struct pvcalls_wire_data_intf *intf;
	uint8_t *data; /* 2^order pages: in half, then out half */
	unsigned order;
	uint32_t size;
	pvcalls_data_ring f, b;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* A reproducible byte stream: byte @i of stream @seed. */
static uint8_t sbyte(uint32_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull + seed;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint8_t)(x >> ((i & 7) * 8));
}

static void sfill(uint8_t *p, size_t n, uint32_t seed, uint64_t pos)
{
	for (size_t i = 0; i < n; i++)
		p[i] = sbyte(seed, pos + i);
}

static void scheck(const uint8_t *p, size_t n, uint32_t seed, uint64_t pos)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != sbyte(seed, pos + i))
			ck_abort_msg("stream %u byte %llu: got %02x want %02x", seed,
				     (unsigned long long)(pos + i), p[i], sbyte(seed, pos + i));
}

static void env_attach(struct env *e)
{
	EQ(pvcalls_data_ring_attach(&e->f, e->intf, e->data, e->order, PVCALLS_DATA_FRONTEND), 0);
	EQ(pvcalls_data_ring_attach(&e->b, e->intf, e->data, e->order, PVCALLS_DATA_BACKEND), 0);
}

/* Sets all four shared indexes (both directions empty at @in / @out) and
 * re-attaches both sides, which load their private copies from them. */
static void env_rebase(struct env *e, uint32_t in, uint32_t out)
{
	e->intf->in_prod = e->intf->in_cons = in;
	e->intf->out_prod = e->intf->out_cons = out;
	env_attach(e);
}

/* Layout: guard, indexes page, guard, data pages, guard. */
static struct env *env_new(unsigned order)
{
	struct env *e = calloc(1, sizeof(*e));
	size_t npages = (size_t)1 << order;
	uint8_t *pad;

	ck_assert_ptr_nonnull(e);
	e->order = order;
	e->size = PVCALLS_WIRE_DATA_RING_SIZE(order);
	e->maplen = (4 + npages) * PAGE;
	e->map = mmap(NULL, e->maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(e->map, MAP_FAILED);
	e->intf = (struct pvcalls_wire_data_intf *)(e->map + PAGE);
	e->data = e->map + 3 * PAGE;
	ck_assert_int_eq(mprotect(e->intf, PAGE, PROT_READ | PROT_WRITE), 0);
	ck_assert_int_eq(mprotect(e->data, npages * PAGE, PROT_READ | PROT_WRITE), 0);
	pad = (uint8_t *)e->intf;
	memset(pad, CANARY, PAGE);
	memset(e->intf, 0, offsetof(struct pvcalls_wire_data_intf, pad1));
	memset(&e->intf->out_cons, 0, 12);
	e->intf->ring_order = order;
	memset(e->data, 0xcc, npages * PAGE);
	env_attach(e);
	ck_assert_uint_eq(pvcalls_data_ring_size(&e->f), e->size);
	ck_assert_uint_eq(pvcalls_data_ring_size(&e->b), e->size);
	return e;
}

static void env_check_canaries(const struct env *e)
{
	const uint8_t *p = (const uint8_t *)e->intf;

	for (unsigned i = 12; i < 64; i++)
		ck_assert_uint_eq(p[i], CANARY);
	for (unsigned i = 76; i < 128; i++)
		ck_assert_uint_eq(p[i], CANARY);
	for (unsigned i = PVCALLS_WIRE_DATA_INTF_REF_OFFSET; i < PAGE; i++)
		ck_assert_uint_eq(p[i], CANARY);
	ck_assert_uint_eq(e->intf->ring_order, e->order);
}

static void env_free(struct env *e)
{
	env_check_canaries(e);
	munmap(e->map, e->maplen);
	free(e);
}

/* The producer and consumer of one direction: dir 0 is out (front to
 * back), dir 1 is in (back to front). */
static pvcalls_data_ring *prod_of(struct env *e, int dir)
{
	return dir ? &e->b : &e->f;
}

static pvcalls_data_ring *cons_of(struct env *e, int dir)
{
	return dir ? &e->f : &e->b;
}

static uint8_t *half_of(struct env *e, int dir)
{
	return dir ? e->data : e->data + e->size;
}

/* ---------------------------------------------------------------------- */

START_TEST(test_attach_roles)
{
	struct env *e = env_new((unsigned)_i);
	uint8_t buf[16];

	ck_assert_uint_eq(e->size, 1u << (_i + 11));
	/* Frontend produces into out (second half), consumes in (first). */
	ck_assert_ptr_eq(e->f.tx_buf, e->data + e->size);
	ck_assert_ptr_eq(e->f.rx_buf, e->data);
	ck_assert_ptr_eq(e->b.tx_buf, e->data);
	ck_assert_ptr_eq(e->b.rx_buf, e->data + e->size);

	ck_assert_int_eq(pvcalls_data_write(&e->f, "front", 5), 5);
	ck_assert_int_eq(memcmp(e->data + e->size, "front", 5), 0);
	ck_assert_uint_eq(e->data[0], 0xcc);
	ck_assert_uint_eq(e->intf->out_prod, 5);
	ck_assert_uint_eq(e->intf->in_prod, 0);
	ck_assert_int_eq(pvcalls_data_write(&e->b, "backend", 7), 7);
	ck_assert_int_eq(memcmp(e->data, "backend", 7), 0);
	ck_assert_int_eq(memcmp(e->data + e->size, "front", 5), 0);
	ck_assert_uint_eq(e->intf->in_prod, 7);
	ck_assert_uint_eq(e->intf->out_prod, 5);

	ck_assert_int_eq(pvcalls_data_rx_queued(&e->b), 5);
	ck_assert_int_eq(pvcalls_data_rx_queued(&e->f), 7);
	ck_assert_int_eq(pvcalls_data_tx_free(&e->f), (int)e->size - 5);
	ck_assert_int_eq(pvcalls_data_tx_free(&e->b), (int)e->size - 7);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pvcalls_data_read(&e->b, buf, sizeof(buf), 0), 5);
	ck_assert_int_eq(memcmp(buf, "front", 5), 0);
	ck_assert_uint_eq(e->intf->out_cons, 5);
	ck_assert_uint_eq(e->intf->in_cons, 0);
	ck_assert_int_eq(pvcalls_data_read(&e->f, buf, sizeof(buf), 0), 7);
	ck_assert_int_eq(memcmp(buf, "backend", 7), 0);
	ck_assert_uint_eq(e->intf->in_cons, 7);
	env_free(e);
}
END_TEST

START_TEST(test_attach_invalid)
{
	struct env *e = env_new(0);
	pvcalls_data_ring r;

	ck_assert_int_eq(pvcalls_data_ring_attach(NULL, e->intf, e->data, 0, PVCALLS_DATA_FRONTEND),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, NULL, e->data, 0, PVCALLS_DATA_FRONTEND),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, e->intf, NULL, 0, PVCALLS_DATA_BACKEND),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, e->intf, e->data, 10, PVCALLS_DATA_FRONTEND),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, e->intf, e->data, 32, PVCALLS_DATA_FRONTEND),
			 -EINVAL);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, e->intf, e->data, ~0u, PVCALLS_DATA_BACKEND),
			 -EINVAL);
	ck_assert_int_eq(
		pvcalls_data_ring_attach(&r, e->intf, e->data, 0, (enum pvcalls_data_role)2),
		-EINVAL);
	ck_assert_int_eq(
		pvcalls_data_ring_attach(&r, e->intf, e->data, 0, (enum pvcalls_data_role) - 1),
		-EINVAL);
	/* Nothing shared was touched by the failed calls. */
	ck_assert_uint_eq(
		e->intf->in_prod | e->intf->in_cons | e->intf->out_prod | e->intf->out_cons, 0);
	ck_assert_int_eq(pvcalls_data_ring_attach(&r, e->intf, e->data, 0, PVCALLS_DATA_BACKEND),
			 0);
	env_free(e);
}
END_TEST

/* Attach loads our own indexes once and never reads ring_order. */
START_TEST(test_attach_loads_indexes)
{
	struct env *e = env_new(2);
	pvcalls_data_ring f, b;

	e->intf->in_cons = 100;
	e->intf->in_prod = 150;
	e->intf->out_cons = 0xfffffff0u;
	e->intf->out_prod = 0x10u;
	e->intf->ring_order = 77;
	ck_assert_int_eq(pvcalls_data_ring_attach(&f, e->intf, e->data, 2, PVCALLS_DATA_FRONTEND),
			 0);
	ck_assert_int_eq(pvcalls_data_ring_attach(&b, e->intf, e->data, 2, PVCALLS_DATA_BACKEND),
			 0);
	e->intf->ring_order = 2;
	ck_assert_uint_eq(pvcalls_data_ring_size(&f), 8192);
	ck_assert_uint_eq(f.tx_prod, 0x10u);
	ck_assert_uint_eq(f.rx_cons, 100);
	ck_assert_uint_eq(b.tx_prod, 150);
	ck_assert_uint_eq(b.rx_cons, 0xfffffff0u);
	ck_assert_int_eq(pvcalls_data_rx_queued(&f), 50);
	ck_assert_int_eq(pvcalls_data_rx_queued(&b), 0x20);
	ck_assert_int_eq(pvcalls_data_tx_free(&f), 8192 - 0x20);
	ck_assert_int_eq(pvcalls_data_tx_free(&b), 8192 - 50);
	env_free(e);
}
END_TEST

/* Empty and full, both directions, every order. */
START_TEST(test_empty_full)
{
	struct env *e = env_new((unsigned)_i);
	uint32_t size = e->size;
	uint8_t *buf = malloc(size + 1);
	struct iovec iov[2];

	ck_assert_ptr_nonnull(buf);
	rng_state = 77 + _i;
	for (int dir = 0; dir < 2; dir++) {
		pvcalls_data_ring *p = prod_of(e, dir), *c = cons_of(e, dir);
		uint64_t pos = 0;

		/* Empty. */
		memset(iov, 0xee, sizeof(iov));
		ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), 0);
		ck_assert_uint_eq(iov[0].iov_len, 0);
		ck_assert_uint_eq(iov[1].iov_len, 0);
		ck_assert_int_eq(pvcalls_data_read(c, buf, size, 0), 0);
		ck_assert_int_eq(pvcalls_data_rx_queued(c), 0);
		ck_assert_int_eq(pvcalls_data_tx_free(p), (int)size);
		ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), (int)size);
		ck_assert_ptr_eq(iov[0].iov_base, half_of(e, dir));
		ck_assert_uint_eq(iov[0].iov_len, size);
		ck_assert_uint_eq(iov[1].iov_len, 0);

		/* Fill with random chunks; the last write is cut short. */
		while (pos < size) {
			uint32_t n = 1 + rnd() % (size / 3 + 1);
			uint32_t want = n < size - pos ? n : (uint32_t)(size - pos);

			sfill(buf, n, dir, pos);
			ck_assert_int_eq(pvcalls_data_write(p, buf, n), (ssize_t)want);
			pos += want;
		}
		ck_assert_int_eq(pvcalls_data_write(p, buf, 1), 0);
		ck_assert_int_eq(pvcalls_data_write(p, buf, size), 0);
		ck_assert_int_eq(pvcalls_data_tx_free(p), 0);
		memset(iov, 0xee, sizeof(iov));
		ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), 0);
		ck_assert_uint_eq(iov[0].iov_len, 0);
		ck_assert_uint_eq(iov[1].iov_len, 0);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, 1), -EINVAL);
		ck_assert_int_eq(pvcalls_data_rx_queued(c), (int)size);
		/* Full: one span covering the whole half. */
		ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), (int)size);
		ck_assert_ptr_eq(iov[0].iov_base, half_of(e, dir));
		ck_assert_uint_eq(iov[0].iov_len, size);
		ck_assert_uint_eq(iov[1].iov_len, 0);
		scheck(half_of(e, dir), size, dir, 0);

		memset(buf, 0, size + 1);
		ck_assert_int_eq(pvcalls_data_read(c, buf, size + 1, 0), (ssize_t)size);
		scheck(buf, size, dir, 0);
		ck_assert_int_eq(pvcalls_data_rx_queued(c), 0);
		ck_assert_int_eq(pvcalls_data_tx_free(p), (int)size);
		ck_assert_uint_eq(*p->tx_prod_sh, size);
		ck_assert_uint_eq(*c->rx_cons_sh, size);
	}
	free(buf);
	env_free(e);
}
END_TEST

/*
 * Every start offset of a small ring: a write of k bytes through spans and
 * through pvcalls_data_write(), read back both ways, in both directions.
 * The regions must split exactly at the end of the buffer.
 */
static const struct sweep_case {
	unsigned order;
	uint32_t base; /* counter value at offset 0: a multiple of the size */
	uint32_t step; /* start offsets 0, step, 2 * step, ... (and size - 1) */
} sweep_cases[] = {
	{ 0, 0, 1 },
	{ 0, 0u - 2048, 1 }, /* counters cross 2^32 within the writes */
	{ 1, 0, 7 },         /* 7 divides 4095: the last offset is hit */
	{ 1, 0x80000000u - 4096, 7 },
};

START_TEST(test_wrap_sweep)
{
	const struct sweep_case *sc = &sweep_cases[_i];
	struct env *e = env_new(sc->order);
	uint32_t size = e->size;
	uint8_t *buf = malloc(size);
	struct iovec iov[2];

	ck_assert_ptr_nonnull(buf);
	for (uint32_t s = 0; s < size; s += sc->step) {
		const uint32_t ks[] = { 1, 2, 3, size / 2, size - s, size - s + 1, size - 1, size };

		for (int dir = 0; dir < 2; dir++) {
			uint8_t *half = half_of(e, dir);

			for (unsigned j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
				uint32_t k = ks[j], first = size - s < k ? size - s : k;
				uint32_t seed = s * 16 + j * 2 + dir;
				uint32_t ctr = sc->base + s;
				pvcalls_data_ring *p, *c;

				if (k == 0 || k > size)
					continue;
				/* Zero-copy path. */
				env_rebase(e, ctr, ctr);
				p = prod_of(e, dir);
				c = cons_of(e, dir);
				EQ(pvcalls_data_tx_spans(p, iov), (int)size);
				EQ((uintptr_t)iov[0].iov_base, (uintptr_t)(half + s));
				EQ(iov[0].iov_len, size - s);
				EQ(iov[1].iov_len, s);
				if (s)
					EQ((uintptr_t)iov[1].iov_base, (uintptr_t)half);
				sfill(iov[0].iov_base, first, seed, 0);
				sfill(iov[1].iov_base, k - first, seed, first);
				EQ(pvcalls_data_tx_commit(p, k), 0);
				EQ(*p->tx_prod_sh, ctr + k);
				/* The bytes sit exactly where the wire says. */
				for (uint32_t i = 0; i < k; i++)
					EQ(half[(s + i) & (size - 1)], sbyte(seed, i));
				EQ(pvcalls_data_rx_spans(c, iov), (int)k);
				EQ((uintptr_t)iov[0].iov_base, (uintptr_t)(half + s));
				EQ(iov[0].iov_len, first);
				EQ(iov[1].iov_len, k - first);
				if (k > first)
					EQ((uintptr_t)iov[1].iov_base, (uintptr_t)half);
				scheck(iov[0].iov_base, first, seed, 0);
				scheck(iov[1].iov_base, k - first, seed, first);
				EQ(pvcalls_data_rx_consume(c, k), 0);
				EQ(*c->rx_cons_sh, ctr + k);
				EQ(pvcalls_data_rx_queued(c), 0);

				/* Copying path. */
				env_rebase(e, ctr, ctr);
				p = prod_of(e, dir);
				c = cons_of(e, dir);
				sfill(buf, k, seed + 1, 0);
				EQ(pvcalls_data_write(p, buf, k), (ssize_t)k);
				memset(buf, 0, k);
				EQ(pvcalls_data_read(c, buf, size, 0), (ssize_t)k);
				scheck(buf, k, seed + 1, 0);
				EQ(*c->rx_cons_sh, ctr + k);
				EQ(*p->tx_prod_sh, ctr + k);
				EQ(pvcalls_data_tx_free(p), (int)size);
			}
		}
	}
	free(buf);
	env_free(e);
}
END_TEST

/*
 * Streams across the 2^32 wrap of the indexes: counters preset near
 * UINT32_MAX (attach reads them), several ring sizes moved each way with
 * random chunks, spans on one side and copies on the other.
 */
static const struct iwrap_case {
	unsigned order;
	uint32_t base;
} iwrap_cases[] = {
	{ 0, UINT32_MAX },          { 0, UINT32_MAX - 2047 },  { 0, UINT32_MAX - 5000 },
	{ 4, UINT32_MAX - 100000 }, { 4, UINT32_MAX - 16383 }, { 9, UINT32_MAX - (1u << 20) - 7 },
};

START_TEST(test_index_wrap)
{
	const struct iwrap_case *wc = &iwrap_cases[_i];
	struct env *e = env_new(wc->order);
	uint32_t size = e->size;
	uint64_t total = 8ull * size + 12345, sent[2] = { 0 }, got[2] = { 0 };
	uint8_t *buf = malloc(size);
	struct iovec iov[2];

	ck_assert_ptr_nonnull(buf);
	rng_state = 4242 + _i;
	env_rebase(e, wc->base, wc->base ^ 0x55);
	while (got[0] < total || got[1] < total) {
		for (int dir = 0; dir < 2; dir++) {
			pvcalls_data_ring *p = prod_of(e, dir), *c = cons_of(e, dir);
			uint32_t n = 1 + rnd() % size;
			int room, q;

			/* Producer: dir 0 by copy, dir 1 by spans. */
			if (n > total - sent[dir])
				n = (uint32_t)(total - sent[dir]);
			if (dir == 0 && n) {
				ssize_t w;

				sfill(buf, n, dir, sent[dir]);
				w = pvcalls_data_write(p, buf, n);
				ck_assert_int_ge(w, 0);
				ck_assert_int_le(w, n);
				sent[dir] += (uint64_t)w;
			} else if (n) {
				room = pvcalls_data_tx_spans(p, iov);
				ck_assert_int_ge(room, 0);
				ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, (uint32_t)room);
				if (n > (uint32_t)room)
					n = (uint32_t)room;
				if (n <= iov[0].iov_len) {
					sfill(iov[0].iov_base, n, dir, sent[dir]);
				} else {
					sfill(iov[0].iov_base, iov[0].iov_len, dir, sent[dir]);
					sfill(iov[1].iov_base, n - iov[0].iov_len, dir,
					      sent[dir] + iov[0].iov_len);
				}
				ck_assert_int_eq(pvcalls_data_tx_commit(p, n), 0);
				sent[dir] += n;
			}
			ck_assert_int_eq(pvcalls_data_rx_queued(c), (int)(sent[dir] - got[dir]));
			/* Consumer: dir 0 by spans, dir 1 by copy. */
			n = 1 + rnd() % size;
			if (dir == 0) {
				q = pvcalls_data_rx_spans(c, iov);
				ck_assert_int_eq(q, (int)(sent[dir] - got[dir]));
				if (n > (uint32_t)q)
					n = (uint32_t)q;
				if (n <= iov[0].iov_len) {
					scheck(iov[0].iov_base, n, dir, got[dir]);
				} else {
					scheck(iov[0].iov_base, iov[0].iov_len, dir, got[dir]);
					scheck(iov[1].iov_base, n - iov[0].iov_len, dir,
					       got[dir] + iov[0].iov_len);
				}
				ck_assert_int_eq(pvcalls_data_rx_consume(c, n), 0);
				got[dir] += n;
			} else {
				ssize_t r = pvcalls_data_read(c, buf, n, 0);

				ck_assert_int_ge(r, 0);
				scheck(buf, (size_t)r, dir, got[dir]);
				got[dir] += (uint64_t)r;
			}
		}
	}
	ck_assert_uint_eq(e->intf->in_prod, (uint32_t)(wc->base + total));
	ck_assert_uint_eq(e->intf->in_cons, (uint32_t)(wc->base + total));
	ck_assert_uint_eq(e->intf->out_prod, (uint32_t)((wc->base ^ 0x55) + total));
	ck_assert_uint_eq(e->intf->out_cons, (uint32_t)((wc->base ^ 0x55) + total));
	/* They did wrap. */
	ck_assert_uint_lt(e->intf->in_prod, wc->base);
	free(buf);
	env_free(e);
}
END_TEST

START_TEST(test_commit_consume_limits)
{
	struct env *e = env_new(1);
	uint32_t size = e->size;
	struct iovec iov[2];

	for (int dir = 0; dir < 2; dir++) {
		pvcalls_data_ring *p = prod_of(e, dir), *c = cons_of(e, dir);
		uint32_t prod0 = *p->tx_prod_sh;

		/* Nothing handed out yet. */
		ck_assert_int_eq(pvcalls_data_tx_commit(p, 1), -EINVAL);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, 1), -EINVAL);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, 0), 0);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, 0), 0);

		ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), (int)size);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, size + 1), -EINVAL);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, UINT32_MAX), -EINVAL);
		ck_assert_uint_eq(*p->tx_prod_sh, prod0);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, 10), 0);
		ck_assert_uint_eq(*p->tx_prod_sh, prod0 + 10);
		/* Commits draw down what the spans call reported. */
		ck_assert_int_eq(pvcalls_data_tx_commit(p, size - 9), -EINVAL);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, size - 10), 0);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, 1), -EINVAL);
		ck_assert_uint_eq(*p->tx_prod_sh, prod0 + size);

		ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), (int)size);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, size + 1), -EINVAL);
		ck_assert_uint_eq(*c->rx_cons_sh, prod0);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, 100), 0);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, size - 99), -EINVAL);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, size - 100), 0);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, 1), -EINVAL);
		ck_assert_uint_eq(*c->rx_cons_sh, prod0 + size);

		/* A partial spans call limits the next commit to what it saw. */
		ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), (int)size);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, size - 5), 0);
		ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), (int)size - 5);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, size - 5), 0);
		ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), (int)size);
		ck_assert_int_eq(pvcalls_data_tx_commit(p, size), 0);
		ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), (int)size);
		ck_assert_int_eq(pvcalls_data_rx_consume(c, size), 0);
	}
	env_free(e);
}
END_TEST

START_TEST(test_peek)
{
	struct env *e = env_new(0);
	uint8_t src[300], a[300], b[300];

	sfill(src, sizeof(src), 9, 0);
	for (int dir = 0; dir < 2; dir++) {
		pvcalls_data_ring *p = prod_of(e, dir), *c = cons_of(e, dir);
		uint32_t cons0 = *c->rx_cons_sh;

		ck_assert_int_eq(pvcalls_data_write(p, src, 100), 100);
		ck_assert_int_eq(pvcalls_data_read(c, a, 50, PVCALLS_DATA_PEEK), 50);
		ck_assert_int_eq(memcmp(a, src, 50), 0);
		ck_assert_int_eq(pvcalls_data_rx_queued(c), 100);
		ck_assert_uint_eq(*c->rx_cons_sh, cons0);
		ck_assert_int_eq(pvcalls_data_read(c, a, 300, PVCALLS_DATA_PEEK), 100);
		ck_assert_int_eq(pvcalls_data_read(c, b, 300, PVCALLS_DATA_PEEK), 100);
		ck_assert_int_eq(memcmp(a, b, 100), 0);
		ck_assert_int_eq(pvcalls_data_tx_free(p), (int)e->size - 100);
		ck_assert_int_eq(pvcalls_data_read(c, b, 30, 0), 30);
		ck_assert_int_eq(memcmp(b, src, 30), 0);
		ck_assert_uint_eq(*c->rx_cons_sh, cons0 + 30);
		ck_assert_int_eq(pvcalls_data_read(c, b, 300, PVCALLS_DATA_PEEK), 70);
		ck_assert_int_eq(memcmp(b, src + 30, 70), 0);
		ck_assert_int_eq(pvcalls_data_read(c, b, 300, 0), 70);
		ck_assert_int_eq(pvcalls_data_read(c, b, 300, PVCALLS_DATA_PEEK), 0);
	}
	env_free(e);
}
END_TEST

/*
 * The shared-only views match the owners' views in every state they can
 * agree on (empty, partly full, full, across the index wrap), follow the
 * shared words only (what an owner has not published is not seen), and
 * report -EPROTO for an impossible distance.
 */
START_TEST(test_shared_views)
{
	static const uint32_t bases[] = { 0, 12345, UINT32_MAX - 1000 };

	for (unsigned k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
		struct env *e = env_new(_i);
		uint32_t size = e->size;
		uint8_t *buf = malloc(size);
		struct iovec iov[2];

		ck_assert_ptr_nonnull(buf);
		sfill(buf, size, 3, 0);
		env_rebase(e, bases[k], bases[k] + 7);
		for (int dir = 0; dir < 2; dir++) {
			pvcalls_data_ring *p = prod_of(e, dir), *c = cons_of(e, dir);
			uint32_t saved;

			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 0);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), (int)size);
			ck_assert_int_eq(pvcalls_data_write(p, buf, 100), 100);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 100);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), (int)size - 100);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c),
					 pvcalls_data_rx_queued(c));
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), pvcalls_data_tx_free(p));
			/* Handed out but not committed or consumed: unseen. */
			ck_assert_int_eq(pvcalls_data_tx_spans(p, iov), (int)size - 100);
			ck_assert_int_eq(pvcalls_data_rx_spans(c, iov), 100);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 100);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), (int)size - 100);
			ck_assert_int_eq(pvcalls_data_rx_consume(c, 30), 0);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 70);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), (int)size - 70);
			/* Full, then empty. */
			ck_assert_int_eq(pvcalls_data_write(p, buf, size), (ssize_t)size - 70);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), (int)size);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), 0);
			ck_assert_int_eq(pvcalls_data_read(c, buf, size, 0), (ssize_t)size);
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 0);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), (int)size);
			/* Impossible distances, whoever wrote them. */
			saved = *c->rx_prod_sh;
			*c->rx_prod_sh = *c->rx_cons_sh + size + 1;
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), -EPROTO);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), -EPROTO);
			*c->rx_prod_sh = *c->rx_cons_sh - 1;
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), -EPROTO);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(p), -EPROTO);
			*c->rx_prod_sh = saved;
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(c), 0);
			/* The other direction never moved. */
			ck_assert_int_eq(pvcalls_data_rx_queued_shared(p), 0);
			ck_assert_int_eq(pvcalls_data_tx_free_shared(c), (int)size);
		}
		free(buf);
		env_free(e);
	}
}
END_TEST

START_TEST(test_errors)
{
	struct env *e = env_new(0);

	ck_assert_int_eq(pvcalls_data_rx_error(&e->f), 0);
	ck_assert_int_eq(pvcalls_data_tx_error(&e->f), 0);
	ck_assert_int_eq(pvcalls_data_rx_error(&e->b), 0);
	ck_assert_int_eq(pvcalls_data_tx_error(&e->b), 0);

	pvcalls_data_set_in_error(&e->b, -107); /* wire ENOTCONN */
	ck_assert_int_eq(e->intf->in_error, -107);
	ck_assert_int_eq(e->intf->out_error, 0);
	ck_assert_int_eq(pvcalls_data_rx_error(&e->f), -107);
	ck_assert_int_eq(pvcalls_data_tx_error(&e->b), -107);
	ck_assert_int_eq(pvcalls_data_tx_error(&e->f), 0);
	ck_assert_int_eq(pvcalls_data_rx_error(&e->b), 0);

	pvcalls_data_set_out_error(&e->b, -32); /* wire EPIPE */
	ck_assert_int_eq(e->intf->out_error, -32);
	ck_assert_int_eq(pvcalls_data_tx_error(&e->f), -32);
	ck_assert_int_eq(pvcalls_data_rx_error(&e->b), -32);
	ck_assert_int_eq(pvcalls_data_rx_error(&e->f), -107);

	pvcalls_data_set_out_error(&e->b, 0); /* cleared by a later send */
	ck_assert_int_eq(pvcalls_data_tx_error(&e->f), 0);
	/* Errors do not stop data: in is drained before EOF is reported. */
	ck_assert_int_eq(pvcalls_data_write(&e->b, "x", 1), 1);
	ck_assert_int_eq(pvcalls_data_rx_queued(&e->f), 1);
	env_free(e);
}
END_TEST

/*
 * Hostile peer indexes. For each role and each class of impossible
 * distance, the peer's index of one direction is set so that
 * (prod - cons) equals that distance; every call touching that direction
 * must fail with -EPROTO, write nothing (the whole shared area is compared)
 * and move no private counter, while the other direction keeps working.
 */
static const uint32_t bad_dist_fixed[] = {
	0,                       /* size + 1 */
	1,                       /* size + 2 */
	0x80000000u, UINT32_MAX, /* consumer ahead of producer by one */
	0x7fffffffu, 0xfffff000u,
};
#define NR_BAD_FIXED NELEM(bad_dist_fixed)
#define NR_BAD_RANDOM 6
#define NR_BAD (NR_BAD_FIXED + NR_BAD_RANDOM)
static const unsigned hostile_orders[] = { 0, 4, 9 };

/* Distance class @cls for a ring of @size bytes. */
static uint32_t bad_dist(int cls, uint32_t size)
{
	uint32_t d;

	if (cls == 0)
		return size + 1;
	if (cls == 1)
		return size + 2;
	if (cls < NR_BAD_FIXED)
		return bad_dist_fixed[cls];
	do
		d = rnd();
	while (d <= size);
	return d;
}

struct snap {
	uint8_t *intf, *data;
	size_t dlen;
};

static void snap_take(struct snap *s, const struct env *e)
{
	s->dlen = (size_t)PAGE << e->order;
	s->intf = malloc(PAGE);
	s->data = malloc(s->dlen);
	ck_assert(s->intf && s->data);
	memcpy(s->intf, e->intf, PAGE);
	memcpy(s->data, e->data, s->dlen);
}

static void snap_check(struct snap *s, const struct env *e)
{
	ck_assert_int_eq(memcmp(s->intf, e->intf, PAGE), 0);
	ck_assert_int_eq(memcmp(s->data, e->data, s->dlen), 0);
	free(s->intf);
	free(s->data);
}

START_TEST(test_hostile)
{
	int cls = _i % NR_BAD;
	int role = (_i / NR_BAD) % 2;
	unsigned order = hostile_orders[_i / NR_BAD / 2];
	struct env *e = env_new(order);
	uint32_t size = e->size;
	pvcalls_data_ring *me = role ? &e->b : &e->f;
	pvcalls_data_ring *peer = role ? &e->f : &e->b;
	uint32_t *peer_cons = me->tx_cons_sh; /* written by the peer */
	uint32_t *peer_prod = me->rx_prod_sh;
	uint8_t *buf = malloc(size + 16);
	struct iovec iov[2];
	struct snap sn;

	ck_assert_ptr_nonnull(buf);
	rng_state = 999 + _i;
	/* Start near the wrap with data queued both ways. */
	env_rebase(e, UINT32_MAX - size / 3, UINT32_MAX - size / 5);
	sfill(buf, size, 1, 0);
	ck_assert_int_eq(pvcalls_data_write(me, buf, size / 2 + 3), size / 2 + 3);
	ck_assert_int_eq(pvcalls_data_write(peer, buf, size / 4 + 1), size / 4 + 1);
	/* Leave stale "avail" from successful spans calls behind. */
	ck_assert_int_eq(pvcalls_data_tx_spans(me, iov), (int)(size - size / 2 - 3));
	ck_assert_int_eq(pvcalls_data_rx_spans(me, iov), (int)(size / 4 + 1));

	for (int which = 0; which < 2; which++) {
		uint32_t tx_prod = me->tx_prod, rx_cons = me->rx_cons;
		uint32_t saved_cons = *peer_cons, saved_prod = *peer_prod;
		uint32_t d = bad_dist(cls, size);
		ssize_t r;

		if (which == 0)
			*peer_cons = tx_prod - d; /* tx: used = d */
		else
			*peer_prod = rx_cons + d; /* rx: queued = d */
		snap_take(&sn, e);
		if (which == 0) {
			memset(iov, 0xee, sizeof(iov));
			ck_assert_int_eq(pvcalls_data_tx_spans(me, iov), -EPROTO);
			ck_assert_ptr_null(iov[0].iov_base);
			ck_assert_ptr_null(iov[1].iov_base);
			ck_assert_uint_eq(iov[0].iov_len, 0);
			ck_assert_uint_eq(iov[1].iov_len, 0);
			/* A failed spans call hands out nothing to commit. */
			ck_assert_int_eq(pvcalls_data_tx_commit(me, 1), -EINVAL);
			ck_assert_int_eq(pvcalls_data_tx_free(me), -EPROTO);
			ck_assert_int_eq(pvcalls_data_write(me, buf, size), -EPROTO);
			ck_assert_int_eq(pvcalls_data_write(me, buf, 1), -EPROTO);
			/* The other direction is unaffected. */
			ck_assert_int_eq(pvcalls_data_rx_queued(me), (int)(size / 4 + 1));
		} else {
			memset(iov, 0xee, sizeof(iov));
			ck_assert_int_eq(pvcalls_data_rx_spans(me, iov), -EPROTO);
			ck_assert_ptr_null(iov[0].iov_base);
			ck_assert_ptr_null(iov[1].iov_base);
			ck_assert_uint_eq(iov[0].iov_len, 0);
			ck_assert_uint_eq(iov[1].iov_len, 0);
			ck_assert_int_eq(pvcalls_data_rx_consume(me, 1), -EINVAL);
			ck_assert_int_eq(pvcalls_data_rx_queued(me), -EPROTO);
			memset(buf, 0x77, size + 16);
			r = pvcalls_data_read(me, buf, size + 16, 0);
			ck_assert_int_eq(r, -EPROTO);
			r = pvcalls_data_read(me, buf, size + 16, PVCALLS_DATA_PEEK);
			ck_assert_int_eq(r, -EPROTO);
			for (uint32_t i = 0; i < size + 16; i++)
				EQ(buf[i], 0x77);
			ck_assert_int_eq(pvcalls_data_tx_free(me), (int)(size - size / 2 - 3));
		}
		snap_check(&sn, e);
		ck_assert_uint_eq(me->tx_prod, tx_prod);
		ck_assert_uint_eq(me->rx_cons, rx_cons);
		/* A sane index again: business as usual from the same place. */
		*peer_cons = saved_cons;
		*peer_prod = saved_prod;
		ck_assert_int_eq(pvcalls_data_tx_free(me), (int)(size - size / 2 - 3));
		ck_assert_int_eq(pvcalls_data_rx_queued(me), (int)(size / 4 + 1));
	}
	/* Boundaries that are legal: full and empty. */
	*peer_cons = me->tx_prod - size;
	ck_assert_int_eq(pvcalls_data_tx_free(me), 0);
	ck_assert_int_eq(pvcalls_data_write(me, buf, 1), 0);
	*peer_cons = me->tx_prod;
	ck_assert_int_eq(pvcalls_data_tx_free(me), (int)size);
	*peer_prod = me->rx_cons + size;
	ck_assert_int_eq(pvcalls_data_rx_spans(me, iov), (int)size);
	ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, size);
	ck_assert_int_eq(pvcalls_data_read(me, buf, size + 16, 0), (ssize_t)size);
	free(buf);
	env_free(e);
}
END_TEST

/* A peer rewriting the shared copies of OUR indexes changes nothing. */
START_TEST(test_private_copies)
{
	struct env *e = env_new(0);
	uint8_t buf[64];

	for (int role = 0; role < 2; role++) {
		pvcalls_data_ring *me = role ? &e->b : &e->f;
		pvcalls_data_ring *peer = role ? &e->f : &e->b;
		uint32_t prod0 = me->tx_prod, cons0 = me->rx_cons;

		ck_assert_int_eq(pvcalls_data_write(me, "0123456789", 10), 10);
		*me->tx_prod_sh = 5000; /* hostile */
		*me->rx_cons_sh = 77;   /* hostile */
		ck_assert_int_eq(pvcalls_data_tx_free(me), (int)e->size - 10);
		ck_assert_int_eq(pvcalls_data_write(me, "abcde", 5), 5);
		ck_assert_int_eq(
			memcmp(me->tx_buf + (prod0 & (e->size - 1)), "0123456789abcde", 15), 0);
		ck_assert_uint_eq(*me->tx_prod_sh, prod0 + 15);
		/* The peer reads that word as its consumer index, so it gets
		 * the true value back to send; then the scribble returns. */
		*me->rx_cons_sh = cons0;
		ck_assert_int_eq(pvcalls_data_write(peer, "ABCDEFGHIJKLMNOPQRST", 20), 20);
		*me->rx_cons_sh = 77;
		ck_assert_int_eq(pvcalls_data_rx_queued(me), 20);
		ck_assert_int_eq(pvcalls_data_read(me, buf, sizeof(buf), 0), 20);
		ck_assert_int_eq(memcmp(buf, "ABCDEFGHIJKLMNOPQRST", 20), 0);
		ck_assert_uint_eq(*me->rx_cons_sh, cons0 + 20);
		ck_assert_int_eq(pvcalls_data_read(peer, buf, sizeof(buf), 0), 15);
	}
	env_free(e);
}
END_TEST

/*
 * Two threads, one per side, moving a stream each way with busy polling:
 * exercises the memory ordering under ThreadSanitizer without any
 * transport. The shm stress test does the same at scale with events.
 */
struct tside {
	struct env *e;
	pvcalls_data_ring *r;
	int dir_tx;
	uint64_t total;
	int bad;
};

static void *tside_run(void *arg)
{
	struct tside *t = arg;
	uint64_t sent = 0, got = 0;
	uint8_t buf[3000];
	struct iovec iov[2];
	uint64_t seed = 1000 + (uint64_t)t->dir_tx;
	unsigned spins = 0;

	while ((sent < t->total || got < t->total) && !t->bad) {
		int progress = 0;

		if (sent < t->total) {
			size_t n = 1 + (seed = seed * 6364136223846793005ull + 1) % sizeof(buf);
			ssize_t w;

			if (n > t->total - sent)
				n = (size_t)(t->total - sent);
			sfill(buf, n, t->dir_tx, sent);
			w = pvcalls_data_write(t->r, buf, n);
			if (w < 0)
				t->bad = 1;
			else if (w > 0) {
				sent += (uint64_t)w;
				progress = 1;
			}
		}
		{
			int q = pvcalls_data_rx_spans(t->r, iov);

			if (q < 0) {
				t->bad = 2;
			} else if (q > 0) {
				for (int i = 0; i < 2; i++) {
					const uint8_t *p = iov[i].iov_base;

					for (size_t j = 0; j < iov[i].iov_len; j++)
						if (p[j] != sbyte(!t->dir_tx, got + j))
							t->bad = 3;
					got += iov[i].iov_len;
				}
				if (pvcalls_data_rx_consume(t->r, (uint32_t)q))
					t->bad = 4;
				progress = 1;
			}
		}
		if (!progress && ++spins % 64 == 0)
			sched_yield();
	}
	return NULL;
}

/*
 * A poller: looks at both directions through the shared-only views while
 * the two sides stream, as pvcalls_front_poll() does from a third thread.
 * Values stay in [0, size]; -EPROTO may appear (a whole ring passed
 * between its two loads) but must stay rare.
 */
struct tpeek {
	struct env *e;
	int stop; /* __atomic builtins */
	unsigned looks, eproto;
	int bad;
};

static void *tpeek_run(void *arg)
{
	struct tpeek *t = arg;
	const pvcalls_data_ring *views[4] = { &t->e->f, &t->e->b, &t->e->f, &t->e->b };

	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 4; i++) {
			int v = i < 2 ? pvcalls_data_rx_queued_shared(views[i])
				      : pvcalls_data_tx_free_shared(views[i]);

			if (v == -EPROTO)
				t->eproto++;
			else if (v < 0 || (uint32_t)v > t->e->size)
				t->bad = 1;
			t->looks++;
		}
		sched_yield();
	}
	return NULL;
}

START_TEST(test_threads)
{
	static const unsigned orders[] = { 0, 4 };
	struct env *e = env_new(orders[_i]);
	struct tside a = { e, &e->f, 0, 8u << 20, 0 }, b = { e, &e->b, 1, 8u << 20, 0 };
	struct tpeek pk = { .e = e };
	pthread_t ta, tb, tp;

	ck_assert_int_eq(pthread_create(&ta, NULL, tside_run, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, tside_run, &b), 0);
	ck_assert_int_eq(pthread_create(&tp, NULL, tpeek_run, &pk), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	__atomic_store_n(&pk.stop, 1, __ATOMIC_RELAXED);
	pthread_join(tp, NULL);
	ck_assert_int_eq(a.bad, 0);
	ck_assert_int_eq(b.bad, 0);
	ck_assert_int_eq(pk.bad, 0);
	ck_assert_uint_le(pk.eproto, pk.looks / 2);
	ck_assert_uint_eq(e->intf->out_cons, (uint32_t)a.total);
	ck_assert_uint_eq(e->intf->in_cons, (uint32_t)b.total);
	env_free(e);
}
END_TEST

static Suite *data_ring_suite(void)
{
	Suite *s = suite_create("ring.data");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_add_loop_test(tc, test_attach_roles, 0, PVCALLS_WIRE_MAX_RING_ORDER + 1);
	tcase_add_test(tc, test_attach_invalid);
	tcase_add_test(tc, test_attach_loads_indexes);
	tcase_add_loop_test(tc, test_empty_full, 0, PVCALLS_WIRE_MAX_RING_ORDER + 1);
	tcase_add_test(tc, test_commit_consume_limits);
	tcase_add_test(tc, test_peek);
	tcase_add_loop_test(tc, test_shared_views, 0, 5);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_private_copies);
	suite_add_tcase(s, tc);

	tc = tcase_create("wrap");
	tcase_add_loop_test(tc, test_wrap_sweep, 0, NELEM(sweep_cases));
	tcase_add_loop_test(tc, test_index_wrap, 0, NELEM(iwrap_cases));
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_loop_test(tc, test_hostile, 0, NR_BAD * 2 * NELEM(hostile_orders));
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_loop_test(tc, test_threads, 0, 2);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(data_ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
