/* SPDX-License-Identifier: MIT */
/*
 * The id map (src/common/idmap.h): lookups, duplicates, growth, removal,
 * and that ids a guest could pick to collide under an unkeyed
 * multiplicative hash spread over the buckets.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/idmap.h"

struct obj {
	struct pvc_idmap_node n;
	int tag;
};

/* The longest chain, walked through the map's own fields. */
static uint32_t longest_chain(const struct pvc_idmap *m)
{
	uint32_t best = 0, total = 0;

	for (uint32_t i = 0; i < m->nbuckets; i++) {
		uint32_t len = 0;

		for (const struct pvc_idmap_node *n = m->buckets[i]; n; n = n->next)
			len++;
		total += len;
		if (len > best)
			best = len;
	}
	ck_assert_uint_eq(total, m->count);
	return best;
}

START_TEST(test_basic)
{
	struct pvc_idmap m;
	struct obj a = { .tag = 1 }, b = { .tag = 2 }, c = { .tag = 3 };

	ck_assert_int_eq(pvc_idmap_init(&m, 4), 0);
	ck_assert_ptr_null(pvc_idmap_find(&m, 0));
	pvc_idmap_insert(&m, &a.n, 0);
	pvc_idmap_insert(&m, &b.n, UINT64_MAX);
	ck_assert_uint_eq(m.count, 2);
	ck_assert_ptr_eq(pvc_idmap_find(&m, 0), &a.n);
	ck_assert_ptr_eq(pvc_idmap_find(&m, UINT64_MAX), &b.n);
	ck_assert_ptr_null(pvc_idmap_find(&m, 1));
	/* Duplicates are the caller's business: the newest is found first. */
	pvc_idmap_insert(&m, &c.n, 0);
	ck_assert_ptr_eq(pvc_idmap_find(&m, 0), &c.n);
	pvc_idmap_remove(&m, &c.n);
	ck_assert_ptr_eq(pvc_idmap_find(&m, 0), &a.n);
	/* Removing a node that is not in the map changes nothing. */
	pvc_idmap_remove(&m, &c.n);
	ck_assert_uint_eq(m.count, 2);
	pvc_idmap_remove(&m, &a.n);
	pvc_idmap_remove(&m, &b.n);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(pvc_idmap_find(&m, 0));
	ck_assert_ptr_null(pvc_idmap_find(&m, UINT64_MAX));
	pvc_idmap_fini(&m);
	ck_assert_ptr_null(m.buckets);
}
END_TEST

START_TEST(test_grow)
{
	enum { N = 20000 };
	struct pvc_idmap m;
	struct obj *o = calloc(N, sizeof(*o));

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(pvc_idmap_init(&m, 64), 0);
	for (int i = 0; i < N; i++) {
		o[i].tag = i;
		pvc_idmap_insert(&m, &o[i].n, (uint64_t)i * 7919u);
	}
	ck_assert_uint_eq(m.count, N);
	ck_assert_uint_ge(m.nbuckets, N / 2);
	ck_assert_uint_eq(m.nbuckets & (m.nbuckets - 1), 0);
	for (int i = 0; i < N; i++) {
		struct pvc_idmap_node *n = pvc_idmap_find(&m, (uint64_t)i * 7919u);

		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(((struct obj *)n)->tag, i);
	}
	/* Remove the even ones; the odd ones stay reachable. */
	for (int i = 0; i < N; i += 2)
		pvc_idmap_remove(&m, &o[i].n);
	ck_assert_uint_eq(m.count, N / 2);
	for (int i = 0; i < N; i++) {
		struct pvc_idmap_node *n = pvc_idmap_find(&m, (uint64_t)i * 7919u);

		if (i % 2)
			ck_assert_ptr_eq(n, &o[i].n);
		else
			ck_assert_ptr_null(n);
	}
	longest_chain(&m);
	pvc_idmap_fini(&m);
	free(o);
}
END_TEST

/*
 * Ids that differ only in their top bits all shared one bucket under the
 * old unkeyed Fibonacci hash (the product's low 32 bits never reach the
 * slot). Keyed, they spread like any others.
 */
static const unsigned hostile_shift[] = { 52, 40, 32, 0 };

START_TEST(test_hostile_ids)
{
	enum { N = 4096 };
	struct pvc_idmap m;
	struct obj *o = calloc(N, sizeof(*o));
	unsigned shift = hostile_shift[_i];
	uint32_t longest;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(pvc_idmap_init(&m, 64), 0);
	for (uint64_t i = 0; i < N; i++)
		pvc_idmap_insert(&m, &o[i].n, i << shift);
	longest = longest_chain(&m);
	/* At two nodes per bucket on average, a random hash's longest chain
	 * is about 10; one shared chain would be 4096. */
	ck_assert_msg(longest <= 24, "shift %u: a chain of %u in %u buckets", shift, longest,
		      m.nbuckets);
	pvc_idmap_fini(&m);
	free(o);
}
END_TEST

START_TEST(test_seeded)
{
	struct pvc_idmap a, b;

	ck_assert_int_eq(pvc_idmap_init(&a, 8), 0);
	ck_assert_int_eq(pvc_idmap_init(&b, 8), 0);
	/* Each map has its own key (equal by chance: 2^-128). */
	ck_assert(memcmp(a.seed, b.seed, sizeof(a.seed)) != 0);
	pvc_idmap_fini(&a);
	pvc_idmap_fini(&b);
}
END_TEST

static Suite *idmap_suite(void)
{
	Suite *s = suite_create("idmap");
	TCase *tc = tcase_create("idmap");

	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_grow);
	tcase_add_loop_test(tc, test_hostile_ids, 0,
			    (int)(sizeof(hostile_shift) / sizeof(hostile_shift[0])));
	tcase_add_test(tc, test_seeded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(idmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
