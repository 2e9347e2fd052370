/* SPDX-License-Identifier: MIT */
/*
 * The id map of common/idmap.h: chained buckets, hashed with SipHash-1-3
 * under a per-map random key. An unkeyed hash (we had Fibonacci hashing)
 * lets a guest pick socket ids that share a bucket, turning every lookup
 * into a walk of its whole socket table; with the key it cannot know
 * which ids collide. SipHash-1-3 of one word is a few nanoseconds, which
 * is nothing next to the command or event it serves.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/idmap.h"

#define IDMAP_MAX_BUCKETS (1u << 24)

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-1-3 of the 8-byte message @m under the key @k. */
static uint64_t siphash13_u64(const uint64_t k[2], uint64_t m)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = k[1] ^ 0x7465646279746573ull;
	const uint64_t last = 8ull << 56; /* the length byte, no tail */

	v3 ^= m;
	SIPROUND;
	v0 ^= m;
	v3 ^= last;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void seed_init(uint64_t seed[2])
{
	uint64_t x;

	/* GRND_NONBLOCK: early in boot the pool may not be ready; a daemon
	 * must not hang on it. */
	if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) == (ssize_t)(2 * sizeof(seed[0])))
		return;
	/* Weaker, still unknown to a guest: the clock and an address. */
	x = (uint64_t)pvc_now_us();
	seed[0] = x ^ (uint64_t)(uintptr_t)seed;
	seed[1] = siphash13_u64(seed, x);
}

static uint32_t slot(const struct pvc_idmap *m, uint64_t key)
{
	return (uint32_t)siphash13_u64(m->seed, key) & (m->nbuckets - 1);
}

int pvc_idmap_init(struct pvc_idmap *m, uint32_t nbuckets)
{
	m->buckets = calloc(nbuckets, sizeof(*m->buckets));
	m->nbuckets = nbuckets;
	m->count = 0;
	seed_init(m->seed);
	return m->buckets ? 0 : -ENOMEM;
}

void pvc_idmap_fini(struct pvc_idmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->count = 0;
}

struct pvc_idmap_node *pvc_idmap_find(const struct pvc_idmap *m, uint64_t key)
{
	struct pvc_idmap_node *n;

	for (n = m->buckets[slot(m, key)]; n; n = n->next)
		if (n->key == key)
			return n;
	return NULL;
}

/* Doubles the buckets, keeping the seed (the nodes' hashes stay valid). */
static void grow(struct pvc_idmap *m)
{
	uint32_t nb = m->nbuckets * 2;
	struct pvc_idmap_node **b;

	if (m->nbuckets >= IDMAP_MAX_BUCKETS)
		return;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the longer chains */
	for (uint32_t i = 0; i < m->nbuckets; i++) {
		struct pvc_idmap_node *n = m->buckets[i], *next;

		for (; n; n = next) {
			uint32_t s = (uint32_t)siphash13_u64(m->seed, n->key) & (nb - 1);

			next = n->next;
			n->next = b[s];
			b[s] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void pvc_idmap_insert(struct pvc_idmap *m, struct pvc_idmap_node *n, uint64_t key)
{
	uint32_t s;

	if (m->count >= m->nbuckets * 2)
		grow(m);
	s = slot(m, key);
	n->key = key;
	n->next = m->buckets[s];
	m->buckets[s] = n;
	m->count++;
}

void pvc_idmap_remove(struct pvc_idmap *m, struct pvc_idmap_node *n)
{
	struct pvc_idmap_node **pp;

	for (pp = &m->buckets[slot(m, n->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			m->count--;
			return;
		}
	}
}
