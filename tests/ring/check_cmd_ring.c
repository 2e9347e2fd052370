/* SPDX-License-Identifier: MIT */
/*
 * Command ring: a frontend and a backend driven from one thread against one
 * 4096-byte page. Every check compares exact values: indexes, slot bytes,
 * return codes and the notify decision of each push.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pvcalls/ring.h>

#define PAGE 4096u
#define NSLOT PVCALLS_WIRE_CMD_RING_SIZE

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

struct pair {
	struct pvcalls_wire_cmd_sring *s;
	pvcalls_cmd_front f;
	pvcalls_cmd_back b;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic, seeded per test. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static struct pair *pair_new(void)
{
	struct pair *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->s = aligned_alloc(PAGE, PAGE);
	ck_assert_ptr_nonnull(p->s);
	memset(p->s, 0xa5, PAGE);
	pvcalls_cmd_sring_init(p->s);
	pvcalls_cmd_front_init(&p->f, p->s);
	pvcalls_cmd_back_init(&p->b, p->s);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->s);
	free(p);
}

/* Puts both ends at counter @base with nothing in flight, as if they had
 * already exchanged @base requests and responses. */
static void pair_rebase(struct pair *p, uint32_t base)
{
	p->s->req_prod = base;
	p->s->rsp_prod = base;
	p->s->req_event = base + 1;
	p->s->rsp_event = base + 1;
	p->f.req_prod_pvt = p->f.req_pushed = p->f.rsp_cons = base;
	p->b.req_cons = p->b.rsp_prod_pvt = p->b.rsp_pushed = base;
}

static void mkreq(struct pvcalls_wire_request *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->req_id = id;
	r->cmd = id % PVCALLS_WIRE_NR_CMDS;
	for (unsigned i = 0; i < sizeof(r->u.dummy); i++)
		r->u.dummy[i] = (uint8_t)(id * 31 + i);
}

static void mkrsp(struct pvcalls_wire_response *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->req_id = id;
	r->cmd = id % PVCALLS_WIRE_NR_CMDS;
	r->ret = -(int32_t)(id % 133);
	r->pad = id ^ 0x5a5a5a5au;
	r->u.id = ((uint64_t)id << 32) | (id * 7u);
}

static void check_req(const struct pvcalls_wire_request *got, uint32_t id)
{
	struct pvcalls_wire_request want;

	mkreq(&want, id);
	EQ(got->req_id, id);
	EQ(memcmp(got, &want, sizeof(want)), 0);
}

static void check_rsp(const struct pvcalls_wire_response *got, uint32_t id)
{
	struct pvcalls_wire_response want;

	mkrsp(&want, id);
	EQ(got->req_id, id);
	EQ(memcmp(got, &want, sizeof(want)), 0);
}

/* ---------------------------------------------------------------------- */

START_TEST(test_init)
{
	struct pair *p = pair_new();
	const uint8_t *raw = (const uint8_t *)p->s;

	ck_assert_uint_eq(p->s->req_prod, 0);
	ck_assert_uint_eq(p->s->rsp_prod, 0);
	ck_assert_uint_eq(p->s->req_event, 1);
	ck_assert_uint_eq(p->s->rsp_event, 1);
	for (unsigned i = 16; i < 64; i++)
		ck_assert_uint_eq(raw[i], 0);
	/* SHARED_RING_INIT leaves the slots alone. */
	for (unsigned i = 64; i < PAGE; i++)
		ck_assert_uint_eq(raw[i], 0xa5);
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT);
	ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), 0);
	ck_assert_uint_eq(p->f.req_prod_pvt, 0);
	ck_assert_uint_eq(p->f.req_pushed, 0);
	ck_assert_uint_eq(p->f.rsp_cons, 0);
	ck_assert_uint_eq(p->b.req_cons, 0);
	ck_assert_uint_eq(p->b.rsp_prod_pvt, 0);
	ck_assert_uint_eq(p->b.rsp_pushed, 0);
	pair_free(p);
}
END_TEST

START_TEST(test_put_until_full)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	uint8_t before[PAGE];

	for (uint32_t i = 0; i < NSLOT; i++) {
		ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT - i);
		mkreq(&rq, 100 + i);
		ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), 0);
		/* Written into slot i, not yet published. */
		check_req(&p->s->ring[i].req, 100 + i);
		ck_assert_uint_eq(p->s->req_prod, 0);
	}
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), 0);
	memcpy(before, p->s, PAGE);
	mkreq(&rq, 999);
	ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), -ENOSPC);
	ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), -ENOSPC);
	ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
	ck_assert_uint_eq(p->f.req_prod_pvt, NSLOT);
	/* Pushing does not free anything: only responses do. */
	ck_assert(pvcalls_cmd_front_push(&p->f));
	ck_assert_uint_eq(p->s->req_prod, NSLOT);
	ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), -ENOSPC);
	pair_free(p);
}
END_TEST

START_TEST(test_get_order_and_content)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	for (unsigned round = 0; round < 3; round++) {
		uint32_t base = round * 1000;

		for (uint32_t i = 0; i < NSLOT; i++) {
			mkreq(&rq, base + i);
			ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), 0);
		}
		/* Nothing visible before the push. */
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 0);
		pvcalls_cmd_front_push(&p->f);
		for (uint32_t i = 0; i < NSLOT; i++) {
			memset(&rq, 0xee, sizeof(rq));
			ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
			check_req(&rq, base + i);
			ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), i + 1);
		}
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 0);
		for (uint32_t i = 0; i < NSLOT; i++) {
			mkrsp(&rs, base + i);
			ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
			ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), NSLOT - i - 1);
		}
		mkrsp(&rs, 7);
		ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), -ENOSPC);
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 0);
		pvcalls_cmd_back_push(&p->b);
		ck_assert_uint_eq(p->s->rsp_prod, (round + 1) * NSLOT);
		for (uint32_t i = 0; i < NSLOT; i++) {
			ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), i);
			memset(&rs, 0xee, sizeof(rs));
			ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
			check_rsp(&rs, base + i);
		}
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 0);
		ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT);
	}
	pair_free(p);
}
END_TEST

/* get copies the slot once: scribbling on the slot afterwards (a hostile
 * peer) does not change what the caller holds. */
START_TEST(test_get_copies)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	mkreq(&rq, 42);
	pvcalls_cmd_front_put(&p->f, &rq);
	pvcalls_cmd_front_push(&p->f);
	memset(&rq, 0, sizeof(rq));
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	memset(&p->s->ring[0], 0xff, sizeof(p->s->ring[0]));
	check_req(&rq, 42);

	mkrsp(&rs, 43);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	pvcalls_cmd_back_push(&p->b);
	memset(&rs, 0, sizeof(rs));
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	memset(&p->s->ring[0], 0x11, sizeof(p->s->ring[0]));
	check_rsp(&rs, 43);
	pair_free(p);
}
END_TEST

/*
 * Two independent oracles for the event-index rule: the literal formula of
 * RING_PUSH_*_AND_CHECK_NOTIFY, and a walk over the pushed indexes asking
 * whether one of them is the event index.
 */
static bool xen_notify(uint32_t old, uint32_t new_prod, uint32_t event)
{
	return (uint32_t)(new_prod - event) < (uint32_t)(new_prod - old);
}

static bool walk_notify(uint32_t old, uint32_t new_prod, uint32_t event)
{
	for (uint32_t i = old + 1; i != new_prod + 1; i++)
		if (i == event)
			return true;
	return false;
}

/* Pushes @k entries from counter @old on both rings with @event set and
 * checks the decision against the oracles. */
static void check_push(struct pair *p, uint32_t old, uint32_t k, uint32_t event)
{
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;
	bool want = xen_notify(old, old + k, event);

	if (want != walk_notify(old, old + k, event))
		ck_abort_msg("oracles disagree old=%u k=%u ev=%u", old, k, event);
	/* Frontend: requests old .. old + k. */
	pair_rebase(p, old);
	for (uint32_t i = 0; i < k; i++) {
		mkreq(&rq, old + i);
		EQ(pvcalls_cmd_front_put(&p->f, &rq), 0);
	}
	p->s->req_event = event;
	if (pvcalls_cmd_front_push(&p->f) != want)
		ck_abort_msg("front push old=%u k=%u event=%u want %d", old, k, event, want);
	EQ(p->s->req_prod, old + k);
	EQ(p->s->req_event, event);
	/* A second push with nothing new never notifies. */
	EQ(pvcalls_cmd_front_push(&p->f), 0);

	/* Backend: k requests outstanding, answered. */
	pair_rebase(p, old);
	p->s->req_prod = old + k;
	for (uint32_t i = 0; i < k; i++)
		EQ(pvcalls_cmd_back_get(&p->b, &rq), 1);
	for (uint32_t i = 0; i < k; i++) {
		mkrsp(&rs, old + i);
		EQ(pvcalls_cmd_back_put(&p->b, &rs), 0);
	}
	p->s->rsp_event = event;
	if (pvcalls_cmd_back_push(&p->b) != want)
		ck_abort_msg("back push old=%u k=%u event=%u want %d", old, k, event, want);
	EQ(p->s->rsp_prod, old + k);
	EQ(pvcalls_cmd_back_push(&p->b), 0);
}

/* Hand-picked cases: old, k, event, and the expected answer (checked
 * against the oracles too, so a typo in the table also fails). */
static const struct {
	uint32_t old, k, event;
	bool notify;
} push_cases[] = {
	{ 0, 1, 1, true }, /* fresh ring, first request */
	{ 0, 1, 2, false },
	{ 0, 1, 0, false }, /* event already passed */
	{ 0, 32, 32, true },
	{ 0, 32, 33, false },
	{ 0, 32, 17, true },
	{ 5, 0, 6, false }, /* nothing pushed */
	{ 5, 3, 5, false }, /* event == old: already notified */
	{ 5, 3, 6, true },
	{ 5, 3, 8, true },
	{ 5, 3, 9, false },
	{ UINT32_MAX, 1, 0, true }, /* new wraps to 0 */
	{ UINT32_MAX, 2, 1, true },
	{ UINT32_MAX, 2, UINT32_MAX, false },
	{ UINT32_MAX - 3, 8, 2, true },
	{ UINT32_MAX - 3, 8, 5, false },
	{ UINT32_MAX - 3, 8, UINT32_MAX - 2, true },
	{ 0x80000000u, 4, 0x80000004u, true },
	{ 0x80000000u, 4, 4, false },
	{ 0x7fffffffu, 1, 0x80000000u, true },
};

START_TEST(test_push_notify_table)
{
	struct pair *p = pair_new();

	ck_assert(xen_notify(push_cases[_i].old, push_cases[_i].old + push_cases[_i].k,
			     push_cases[_i].event) == push_cases[_i].notify);
	check_push(p, push_cases[_i].old, push_cases[_i].k, push_cases[_i].event);
	pair_free(p);
}
END_TEST

START_TEST(test_push_notify_random)
{
	struct pair *p = pair_new();
	static const uint32_t bases[] = { 0, 1, 0x7fffffe0u, 0xffffffe0u, UINT32_MAX };

	rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
	for (unsigned n = 0; n < 4000; n++) {
		uint32_t old, k = rnd() % (NSLOT + 1), ev;

		/* Half the time near a wrap position, half anywhere. */
		if (n & 1)
			old = bases[rnd() % 5] + (rnd() % 64) - 32;
		else
			old = rnd();
		switch (rnd() % 3) {
		case 0:
			ev = rnd();
			break; /* anywhere */
		case 1:
			ev = old + (rnd() % 80) - 40;
			break; /* near the window */
		default:
			ev = old + k + (rnd() % 3) - 1;
			break; /* at its edge */
		}
		check_push(p, old, k, ev);
	}
	pair_free(p);
}
END_TEST

START_TEST(test_final_check_front)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	pair_rebase(p, 1000);
	p->s->rsp_event = 0xdeadbeef;
	/* Nothing waiting: arms rsp_event = rsp_cons + 1 and returns 0. */
	ck_assert_int_eq(pvcalls_cmd_front_final_check(&p->f), 0);
	ck_assert_uint_eq(p->s->rsp_event, 1001);

	/* Work waiting before the first check: returns 1, event untouched. */
	mkreq(&rq, 1);
	pvcalls_cmd_front_put(&p->f, &rq);
	pvcalls_cmd_front_push(&p->f);
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	mkrsp(&rs, 1);
	pvcalls_cmd_back_put(&p->b, &rs);
	/* The armed event makes the backend notify. */
	ck_assert(pvcalls_cmd_back_push(&p->b));
	p->s->rsp_event = 0xdeadbeef;
	ck_assert_int_eq(pvcalls_cmd_front_final_check(&p->f), 1);
	ck_assert_uint_eq(p->s->rsp_event, 0xdeadbeef);
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	check_rsp(&rs, 1);
	ck_assert_int_eq(pvcalls_cmd_front_final_check(&p->f), 0);
	ck_assert_uint_eq(p->s->rsp_event, 1002);
	pair_free(p);
}
END_TEST

START_TEST(test_final_check_back)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;

	pair_rebase(p, UINT32_MAX);
	p->s->req_event = 0xdeadbeef;
	ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), 0);
	ck_assert_uint_eq(p->s->req_event, 0); /* req_cons + 1 wraps */
	mkreq(&rq, 5);
	pvcalls_cmd_front_put(&p->f, &rq);
	ck_assert(pvcalls_cmd_front_push(&p->f));
	p->s->req_event = 0xdeadbeef;
	ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), 1);
	ck_assert_uint_eq(p->s->req_event, 0xdeadbeef);
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	check_req(&rq, 5);
	ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), 0);
	ck_assert_uint_eq(p->s->req_event, 1);
	pair_free(p);
}
END_TEST

/*
 * The race final_check exists for: work published after the first check
 * but before the event index is armed. A single thread cannot interleave,
 * so the page is made read-only: the store of the event index faults, and
 * the handler plays the peer (publishes the work) and makes the page
 * writable again. The store then completes, and the re-check must see it.
 */
static uint8_t *fault_page;
static volatile uint32_t *fault_prod;
static uint32_t fault_value;
static volatile sig_atomic_t faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((uint8_t *)si->si_addr < fault_page || (uint8_t *)si->si_addr >= fault_page + PAGE ||
	    faults > 0)
		abort();
	faults++;
	mprotect(fault_page, PAGE, PROT_READ | PROT_WRITE);
	__atomic_store_n(fault_prod, fault_value, __ATOMIC_RELEASE);
}

static struct pair *fault_pair(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct sigaction sa;

	ck_assert_ptr_nonnull(p);
	fault_page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(fault_page, MAP_FAILED);
	p->s = (struct pvcalls_wire_cmd_sring *)fault_page;
	pvcalls_cmd_sring_init(p->s);
	pvcalls_cmd_front_init(&p->f, p->s);
	pvcalls_cmd_back_init(&p->b, p->s);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	faults = 0;
	return p;
}

START_TEST(test_final_check_race_front)
{
	struct pair *p = fault_pair();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	mkreq(&rq, 9);
	pvcalls_cmd_front_put(&p->f, &rq);
	pvcalls_cmd_front_push(&p->f);
	pvcalls_cmd_back_get(&p->b, &rq);
	mkrsp(&rs, 9);
	pvcalls_cmd_back_put(&p->b, &rs); /* written, not published */
	fault_prod = &p->s->rsp_prod;
	fault_value = 1;
	ck_assert_int_eq(mprotect(fault_page, PAGE, PROT_READ), 0);
	ck_assert_int_eq(pvcalls_cmd_front_final_check(&p->f), 1);
	ck_assert_int_eq(faults, 1);
	ck_assert_uint_eq(p->s->rsp_event, 1);
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	check_rsp(&rs, 9);
	munmap(fault_page, PAGE);
	free(p);
}
END_TEST

START_TEST(test_final_check_race_back)
{
	struct pair *p = fault_pair();
	struct pvcalls_wire_request rq;

	mkreq(&rq, 3);
	pvcalls_cmd_front_put(&p->f, &rq); /* written, not published */
	fault_prod = &p->s->req_prod;
	fault_value = 1;
	ck_assert_int_eq(mprotect(fault_page, PAGE, PROT_READ), 0);
	ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), 1);
	ck_assert_int_eq(faults, 1);
	ck_assert_uint_eq(p->s->req_event, 1);
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	check_req(&rq, 3);
	munmap(fault_page, PAGE);
	free(p);
}
END_TEST

/*
 * Thousands of requests and responses across the 2^32 wrap, with random
 * batches and both sides following the notify protocol. Model: a consumer
 * whose final_check returned 0 is asleep; the producer's next push must
 * notify exactly then.
 */
static const uint32_t wrap_bases[] = {
	UINT32_MAX - 1000, UINT32_MAX - 31, UINT32_MAX - 15, UINT32_MAX, 0x7fffff00u,
};

START_TEST(test_wrap)
{
	struct pair *p = pair_new();
	uint32_t base = wrap_bases[_i];
	uint32_t sent = 0, taken = 0, answered = 0, seen = 0;
	bool back_asleep = true, front_asleep = true; /* both armed at start */
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;
	unsigned rounds = 0, notifies = 0, quiet = 0;

	rng_state = 12345 + _i;
	pair_rebase(p, base);
	while (seen < 5000) {
		unsigned room = pvcalls_cmd_front_free(&p->f);
		unsigned k = room ? 1 + rnd() % room : 0;

		rounds++;
		EQ(room, NSLOT - (sent - seen));
		for (unsigned i = 0; i < k; i++) {
			mkreq(&rq, sent++);
			EQ(pvcalls_cmd_front_put(&p->f, &rq), 0);
		}
		if (k) {
			bool n = pvcalls_cmd_front_push(&p->f);

			EQ(n, back_asleep);
			notifies += n;
			quiet += !n;
			back_asleep = false;
		}
		/* Backend takes some or all... */
		for (;;) {
			int rc = pvcalls_cmd_back_get(&p->b, &rq);

			ck_assert_int_ge(rc, 0);
			if (rc == 0) {
				EQ(pvcalls_cmd_back_final_check(&p->b), 0);
				EQ(p->s->req_event, base + taken + 1);
				back_asleep = true;
				break;
			}
			check_req(&rq, taken++);
			if (rnd() % 4 == 0)
				break;
		}
		EQ(pvcalls_cmd_back_outstanding(&p->b), taken - answered);
		/* ...and answers some or all. */
		{
			unsigned n = taken - answered;

			n = (rnd() % 3 == 0) ? n : rnd() % (n + 1);
			for (unsigned i = 0; i < n; i++) {
				mkrsp(&rs, answered++);
				EQ(pvcalls_cmd_back_put(&p->b, &rs), 0);
			}
			if (n) {
				bool nt = pvcalls_cmd_back_push(&p->b);

				EQ(nt, front_asleep);
				notifies += nt;
				quiet += !nt;
				front_asleep = false;
			}
		}
		/* Frontend drains, sometimes stopping early without arming. */
		for (;;) {
			int rc = pvcalls_cmd_front_get(&p->f, &rs);

			ck_assert_int_ge(rc, 0);
			if (rc == 0) {
				EQ(pvcalls_cmd_front_final_check(&p->f), 0);
				EQ(p->s->rsp_event, base + seen + 1);
				front_asleep = true;
				break;
			}
			check_rsp(&rs, seen++);
			if (rnd() % 8 == 0)
				break;
		}
	}
	/* The counters really crossed 2^32 (2^31 for the mid base). */
	EQ(p->f.rsp_cons, base + seen);
	EQ(p->s->rsp_prod, base + answered);
	EQ(p->s->req_prod, base + sent);
	if (base > 0x80000000u)
		ck_assert_uint_lt(p->f.rsp_cons, base);
	else
		ck_assert_uint_gt(p->f.rsp_cons, 0x80000000u);
	ck_assert_uint_gt(rounds, 100);
	/* Both branches of the notify decision were exercised. */
	ck_assert_uint_gt(notifies, 50);
	ck_assert_uint_gt(quiet, 50);
	pair_free(p);
}
END_TEST

/* ACCEPT/POLL style: the backend holds requests and answers out of order. */
START_TEST(test_deferred)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;
	static const uint32_t order[] = { 12, 10, 11 };

	for (uint32_t id = 10; id < 13; id++) {
		mkreq(&rq, id);
		pvcalls_cmd_front_put(&p->f, &rq);
	}
	pvcalls_cmd_front_push(&p->f);
	for (uint32_t id = 10; id < 13; id++) {
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
		check_req(&rq, id);
	}
	ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), 3);
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT - 3);

	/* Answer 12 now; 10 and 11 stay deferred. */
	mkrsp(&rs, 12);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	ck_assert(pvcalls_cmd_back_push(&p->b));
	ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), 2);
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	check_rsp(&rs, 12);
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT - 2);

	/* Meanwhile the frontend fills the ring: 30 more fit, not 31. */
	for (uint32_t i = 0; i < NSLOT - 2; i++) {
		mkreq(&rq, 100 + i);
		ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), 0);
	}
	ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), -ENOSPC);
	pvcalls_cmd_front_push(&p->f);
	for (uint32_t i = 0; i < NSLOT - 2; i++) {
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
		check_req(&rq, 100 + i);
	}
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 0);
	ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), NSLOT);

	/* The deferred ones are answered last, in yet another order. */
	for (uint32_t i = 0; i < NSLOT - 2; i++) {
		mkrsp(&rs, 100 + i);
		ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	}
	for (unsigned i = 1; i < 3; i++) {
		mkrsp(&rs, order[i]);
		ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	}
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), -ENOSPC);
	pvcalls_cmd_back_push(&p->b);
	for (uint32_t i = 0; i < NSLOT - 2; i++) {
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
		check_rsp(&rs, 100 + i);
	}
	for (unsigned i = 1; i < 3; i++) {
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
		check_rsp(&rs, order[i]);
	}
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 0);
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT);
	pair_free(p);
}
END_TEST

START_TEST(test_back_put_nothing_outstanding)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_response rs;
	struct pvcalls_wire_request rq;
	uint8_t before[PAGE];

	mkrsp(&rs, 1);
	memcpy(before, p->s, PAGE);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), -ENOSPC);
	ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
	ck_assert(!pvcalls_cmd_back_push(&p->b));
	ck_assert_uint_eq(p->s->rsp_prod, 0);

	/* Requests published but not yet taken do not count either. */
	mkreq(&rq, 1);
	pvcalls_cmd_front_put(&p->f, &rq);
	pvcalls_cmd_front_push(&p->f);
	memcpy(before, p->s, PAGE);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), -ENOSPC);
	ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), -ENOSPC);
	pair_free(p);
}
END_TEST

/*
 * Hostile frontend. State: the backend has taken @taken requests of which
 * @answered got responses; req_prod is then set to req_cons + @delta.
 */
static const struct hf_case {
	uint32_t base, taken, answered;
	int32_t delta; /* req_prod - req_cons */
	int want;      /* get's result */
} hostile_front_cases[] = {
	{ 0, 0, 0, NSLOT, 1 },           /* boundary: 32 outstanding is legal */
	{ 0, 0, 0, NSLOT + 1, -EPROTO }, /* 33 */
	{ 0, 0, 0, -1, -EPROTO },        /* backwards */
	{ 0, 0, 0, INT32_MIN, -EPROTO },
	{ 0, 0, 0, 0x7fffffff, -EPROTO },
	{ 0, 5, 0, NSLOT - 5, 1 },       /* 5 taken unanswered + 27 = 32 */
	{ 0, 5, 0, NSLOT - 4, -EPROTO }, /* 33 */
	{ 0, 5, 0, -1, -EPROTO },        /* behind what we consumed */
	{ 0, 5, 0, -5, -EPROTO },
	{ 0, 5, 5, NSLOT, 1 },
	{ 0, 5, 5, NSLOT + 1, -EPROTO },
	{ 0, 32, 0, 0, 0 },       /* full, nothing new */
	{ 0, 32, 0, 1, -EPROTO }, /* a 33rd while 32 are held */
	{ 0, 32, 31, 31, 1 },
	{ 0, 32, 31, 32, -EPROTO },
	{ UINT32_MAX - 2, 5, 2, NSLOT - 3, 1 },
	{ UINT32_MAX - 2, 5, 2, NSLOT - 2, -EPROTO },
	{ UINT32_MAX - 2, 5, 2, -1, -EPROTO },
	{ UINT32_MAX - 2, 5, 2, -3, -EPROTO }, /* back across the wrap */
};

START_TEST(test_hostile_frontend)
{
	struct pair *p = pair_new();
	const struct hf_case *c = &hostile_front_cases[_i];
	struct pvcalls_wire_request rq, junk;
	struct pvcalls_wire_response rs;
	uint32_t cons, rspp;
	uint8_t before[PAGE];

	pair_rebase(p, c->base);
	for (uint32_t i = 0; i < c->taken; i++) {
		mkreq(&rq, i);
		pvcalls_cmd_front_put(&p->f, &rq);
	}
	pvcalls_cmd_front_push(&p->f);
	for (uint32_t i = 0; i < c->taken; i++)
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	for (uint32_t i = 0; i < c->answered; i++) {
		mkrsp(&rs, i);
		ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	}
	pvcalls_cmd_back_push(&p->b);
	cons = p->b.req_cons;
	rspp = p->b.rsp_prod_pvt;
	p->s->req_prod = cons + (uint32_t)c->delta;
	p->s->req_event = 0x77777777;
	memcpy(before, p->s, PAGE);

	memset(&rq, 0x3c, sizeof(rq));
	memcpy(&junk, &rq, sizeof(rq));
	ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), c->want);
	if (c->want <= 0) {
		/* Nothing consumed, nothing written anywhere. */
		ck_assert_int_eq(memcmp(&rq, &junk, sizeof(rq)), 0);
		ck_assert_uint_eq(p->b.req_cons, cons);
		ck_assert_uint_eq(p->b.rsp_prod_pvt, rspp);
		ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
	} else {
		ck_assert_uint_eq(p->b.req_cons, cons + 1);
	}
	if (c->want < 0) {
		ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), -EPROTO);
		ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
		ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), c->taken - c->answered);
		/* The backend is intact: a sane req_prod works again. */
		p->s->req_prod = cons;
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 0);
		ck_assert_int_eq(pvcalls_cmd_back_final_check(&p->b), 0);
		ck_assert_uint_eq(p->s->req_event, cons + 1);
	}
	pair_free(p);
}
END_TEST

/*
 * Hostile backend: rsp_prod set to rsp_cons + @delta after the frontend
 * pushed @pushed requests, wrote @unpushed more, and consumed @consumed
 * responses.
 */
static const struct hb_case {
	uint32_t base, pushed, unpushed, consumed;
	int32_t delta;
	int want;
} hostile_back_cases[] = {
	{ 0, 0, 0, 0, 1, -EPROTO }, /* a response to nothing */
	{ 0, 3, 0, 0, 3, 1 },       /* boundary */
	{ 0, 3, 0, 0, 4, -EPROTO },
	{ 0, 3, 2, 0, 4, -EPROTO }, /* answers a request not yet pushed */
	{ 0, 3, 2, 0, 5, -EPROTO },
	{ 0, 3, 0, 2, 1, 1 },
	{ 0, 3, 0, 2, 2, -EPROTO },
	{ 0, 3, 0, 2, -1, -EPROTO }, /* backwards */
	{ 0, 32, 0, 0, 32, 1 },
	{ 0, 32, 0, 0, 33, -EPROTO },
	{ 0, 32, 0, 0, INT32_MIN, -EPROTO },
	{ UINT32_MAX, 4, 0, 1, 3, 1 },
	{ UINT32_MAX, 4, 0, 1, 4, -EPROTO },
	{ UINT32_MAX, 4, 0, 1, -2, -EPROTO },
};

START_TEST(test_hostile_backend)
{
	struct pair *p = pair_new();
	const struct hb_case *c = &hostile_back_cases[_i];
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs, junk;
	uint32_t cons;
	unsigned freeb;
	uint8_t before[PAGE];

	pair_rebase(p, c->base);
	for (uint32_t i = 0; i < c->pushed; i++) {
		mkreq(&rq, i);
		pvcalls_cmd_front_put(&p->f, &rq);
	}
	pvcalls_cmd_front_push(&p->f);
	for (uint32_t i = 0; i < c->consumed; i++) {
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
		mkrsp(&rs, i);
		pvcalls_cmd_back_put(&p->b, &rs);
	}
	pvcalls_cmd_back_push(&p->b);
	for (uint32_t i = 0; i < c->consumed; i++)
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	for (uint32_t i = 0; i < c->unpushed; i++) {
		mkreq(&rq, 50 + i);
		pvcalls_cmd_front_put(&p->f, &rq);
	}
	cons = p->f.rsp_cons;
	freeb = pvcalls_cmd_front_free(&p->f);
	p->s->rsp_prod = cons + (uint32_t)c->delta;
	p->s->rsp_event = 0x66666666;
	memcpy(before, p->s, PAGE);

	memset(&rs, 0xc3, sizeof(rs));
	memcpy(&junk, &rs, sizeof(rs));
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), c->want);
	if (c->want < 0) {
		ck_assert_int_eq(memcmp(&rs, &junk, sizeof(rs)), 0);
		ck_assert_uint_eq(p->f.rsp_cons, cons);
		ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), freeb);
		ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
		ck_assert_int_eq(pvcalls_cmd_front_final_check(&p->f), -EPROTO);
		ck_assert_int_eq(memcmp(before, p->s, PAGE), 0);
	} else {
		ck_assert_uint_eq(p->f.rsp_cons, cons + 1);
		ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), freeb + 1);
	}
	pair_free(p);
}
END_TEST

/* Each side keeps its own indexes privately: a peer rewriting the shared
 * copies of them changes nothing but that shared word. */
START_TEST(test_private_indexes)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	for (uint32_t i = 0; i < 3; i++) {
		mkreq(&rq, i);
		pvcalls_cmd_front_put(&p->f, &rq);
	}
	pvcalls_cmd_front_push(&p->f);
	/* The "backend" scribbles on req_prod, the frontend's index. */
	p->s->req_prod = 1000;
	ck_assert_uint_eq(pvcalls_cmd_front_free(&p->f), NSLOT - 3);
	mkreq(&rq, 3);
	ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), 0);
	check_req(&p->s->ring[3].req, 3);
	pvcalls_cmd_front_push(&p->f);
	ck_assert_uint_eq(p->s->req_prod, 4);

	for (uint32_t i = 0; i < 4; i++)
		ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
	mkrsp(&rs, 0);
	pvcalls_cmd_back_put(&p->b, &rs);
	pvcalls_cmd_back_push(&p->b);
	/* The "frontend" scribbles on rsp_prod, the backend's index. */
	p->s->rsp_prod = 0xabcdef;
	ck_assert_uint_eq(pvcalls_cmd_back_outstanding(&p->b), 3);
	mkrsp(&rs, 1);
	ck_assert_int_eq(pvcalls_cmd_back_put(&p->b, &rs), 0);
	check_rsp(&p->s->ring[1].rsp, 1);
	pvcalls_cmd_back_push(&p->b);
	ck_assert_uint_eq(p->s->rsp_prod, 2);
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	check_rsp(&rs, 0);
	ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
	check_rsp(&rs, 1);
	pair_free(p);
}
END_TEST

/*
 * The lock-free peeks: rsp_cons is the owner's mark, rsp_prod follows
 * only what the backend pushed, across the 2^32 wrap, and an impossible
 * rsp_prod is returned as it is (the peek never validates; get does).
 */
START_TEST(test_front_peek)
{
	static const uint32_t bases[] = { 0, 1000, UINT32_MAX - 1 };
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;

	for (unsigned k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
		struct pair *p = pair_new();
		uint32_t base = bases[k], mark;

		pair_rebase(p, base);
		mark = pvcalls_cmd_front_rsp_cons(&p->f);
		ck_assert_uint_eq(mark, base);
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_prod(&p->f), mark);
		for (uint32_t i = 0; i < 3; i++) {
			mkreq(&rq, i);
			ck_assert_int_eq(pvcalls_cmd_front_put(&p->f, &rq), 0);
		}
		pvcalls_cmd_front_push(&p->f);
		for (uint32_t i = 0; i < 3; i++)
			ck_assert_int_eq(pvcalls_cmd_back_get(&p->b, &rq), 1);
		mkrsp(&rs, 0);
		pvcalls_cmd_back_put(&p->b, &rs);
		mkrsp(&rs, 1);
		pvcalls_cmd_back_put(&p->b, &rs);
		/* Written but not pushed: nothing to see yet. */
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_prod(&p->f), mark);
		pvcalls_cmd_back_push(&p->b);
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_prod(&p->f), base + 2);
		/* Peeking consumes nothing. */
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_cons(&p->f), base);
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
		check_rsp(&rs, 0);
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_cons(&p->f), base + 1);
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), 1);
		check_rsp(&rs, 1);
		mark = pvcalls_cmd_front_rsp_cons(&p->f);
		ck_assert_uint_eq(mark, base + 2);
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_prod(&p->f), mark);

		/* A hostile rsp_prod: the peek reports it, get refuses it. */
		p->s->rsp_prod = base + 40;
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_prod(&p->f), base + 40);
		ck_assert_int_eq(pvcalls_cmd_front_get(&p->f, &rs), -EPROTO);
		ck_assert_uint_eq(pvcalls_cmd_front_rsp_cons(&p->f), mark);
		pair_free(p);
	}
}
END_TEST

/*
 * A third thread watches rsp_prod while the owner and the backend work
 * the ring: it must see the responses arrive in order, and under
 * ThreadSanitizer the peek must not race with either of them.
 */
#define PEEK_ROUNDS 20000u

struct watcher {
	const pvcalls_cmd_front *f;
	uint32_t base;
	int bad;
};

static void *watch_rsp_prod(void *arg)
{
	struct watcher *w = arg;
	uint32_t last = w->base, now;

	do {
		now = pvcalls_cmd_front_rsp_prod(w->f);
		/* Never backwards, never ahead of what could be pushed. */
		if ((uint32_t)(now - last) > PEEK_ROUNDS || (uint32_t)(now - w->base) > PEEK_ROUNDS)
			w->bad = 1;
		last = now;
	} while (!w->bad && now != w->base + PEEK_ROUNDS);
	return NULL;
}

START_TEST(test_front_peek_thread)
{
	struct pair *p = pair_new();
	struct pvcalls_wire_request rq;
	struct pvcalls_wire_response rs;
	struct watcher w = { &p->f, UINT32_MAX - PEEK_ROUNDS / 2, 0 };
	pthread_t th;

	pair_rebase(p, w.base);
	ck_assert_int_eq(pthread_create(&th, NULL, watch_rsp_prod, &w), 0);
	for (uint32_t i = 0; i < PEEK_ROUNDS; i++) {
		mkreq(&rq, i);
		EQ(pvcalls_cmd_front_put(&p->f, &rq), 0);
		pvcalls_cmd_front_push(&p->f);
		EQ(pvcalls_cmd_back_get(&p->b, &rq), 1);
		mkrsp(&rs, i);
		EQ(pvcalls_cmd_back_put(&p->b, &rs), 0);
		pvcalls_cmd_back_push(&p->b);
		EQ(pvcalls_cmd_front_get(&p->f, &rs), 1);
		check_rsp(&rs, i);
		EQ(pvcalls_cmd_front_rsp_cons(&p->f), w.base + i + 1);
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(w.bad, 0);
	pair_free(p);
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *cmd_ring_suite(void)
{
	Suite *s = suite_create("ring.cmd");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_put_until_full);
	tcase_add_test(tc, test_get_order_and_content);
	tcase_add_test(tc, test_get_copies);
	tcase_add_test(tc, test_deferred);
	tcase_add_test(tc, test_back_put_nothing_outstanding);
	tcase_add_test(tc, test_private_indexes);
	tcase_add_test(tc, test_front_peek);
	tcase_add_test(tc, test_front_peek_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_loop_test(tc, test_push_notify_table, 0, NELEM(push_cases));
	tcase_add_loop_test(tc, test_push_notify_random, 0, 4);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_final_check_front);
	tcase_add_test(tc, test_final_check_back);
	tcase_add_test(tc, test_final_check_race_front);
	tcase_add_test(tc, test_final_check_race_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("wrap");
	tcase_add_loop_test(tc, test_wrap, 0, NELEM(wrap_bases));
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_loop_test(tc, test_hostile_frontend, 0, NELEM(hostile_front_cases));
	tcase_add_loop_test(tc, test_hostile_backend, 0, NELEM(hostile_back_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cmd_ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
