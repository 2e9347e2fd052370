/* SPDX-License-Identifier: MIT */
/*
 * Internal: an intrusive map from u64 ids to objects, for ids a guest
 * chooses (socket ids) and ids we are handed (event-channel ports).
 *
 * Contract:
 *  - Intrusive: the caller embeds a struct pvc_idmap_node in its object and
 *    finds the object with container_of(). The map never allocates a node,
 *    so insert cannot fail and remove never frees.
 *  - Keys are not unique by themselves: the map stores whatever it is
 *    given. A caller that wants unique ids looks the key up first.
 *  - A node is in at most one map at a time, and is removed before its
 *    memory goes.
 *  - Keyed: each map hashes with its own random seed (getrandom()), so a
 *    guest that chooses ids cannot precompute ones that all land in one
 *    chain; lookups stay O(1) on average whatever ids it picks. Iteration
 *    order is therefore arbitrary and differs between maps and runs.
 *  - Not thread-safe: one thread (or the caller's lock) per map.
 *  - The bucket array doubles when the map holds more than two nodes per
 *    bucket, up to 2^24 buckets; if the allocation fails the map keeps
 *    working with longer chains.
 */
#ifndef PVCALLS_INTERNAL_IDMAP_H
#define PVCALLS_INTERNAL_IDMAP_H

#include <stdint.h>

struct pvc_idmap_node {
	struct pvc_idmap_node *next;
	uint64_t key; /* read-only for the caller */
};

struct pvc_idmap {
	struct pvc_idmap_node **buckets;
	uint32_t nbuckets; /* a power of two */
	uint32_t count;    /* nodes in the map */
	uint64_t seed[2];  /* the hash key */
};

/* @nbuckets: initial size, a power of two. 0 or -ENOMEM. */
int pvc_idmap_init(struct pvc_idmap *m, uint32_t nbuckets);
/* Frees the buckets, not the nodes (the caller owns them). */
void pvc_idmap_fini(struct pvc_idmap *m);
/* A node with @key (the most recently inserted one), or NULL. */
struct pvc_idmap_node *pvc_idmap_find(const struct pvc_idmap *m, uint64_t key);
/* Sets @n's key and adds it. Never fails (growing is best effort). */
void pvc_idmap_insert(struct pvc_idmap *m, struct pvc_idmap_node *n, uint64_t key);
/* Removes @n, which must be in @m (a node not in it is ignored). */
void pvc_idmap_remove(struct pvc_idmap *m, struct pvc_idmap_node *n);

#endif
