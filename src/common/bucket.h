/* SPDX-License-Identifier: MIT */
/*
 * A token bucket counted in millionths of a token, refilled from the
 * monotonic clock (clock.h): the backend's CONNECT rate (back_policy.c)
 * and command rate (back_cmd.c), and the shm hub's store request rate
 * (shm_hub.c). One thread uses a bucket.
 */
#ifndef PVCALLS_COMMON_BUCKET_H
#define PVCALLS_COMMON_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#define PVC_BUCKET_ONE 1000000u /* one token */

struct pvc_bucket {
	uint64_t tokens; /* millionths of a token */
	int64_t at_us;   /* last refill */
};

/* A full bucket of @burst tokens, as of @now_us. */
static inline void pvc_bucket_fill(struct pvc_bucket *b, uint32_t burst, int64_t now_us)
{
	b->tokens = (uint64_t)burst * PVC_BUCKET_ONE;
	b->at_us = now_us;
}

/*
 * Refills @b at @rate tokens per second up to @burst, as of @now_us, and
 * says whether it holds @n whole tokens. The time step is clamped to
 * 1000 s so that the product cannot overflow (2^32 * 10^9 < 2^64).
 */
static inline bool pvc_bucket_peek_n(struct pvc_bucket *b, uint32_t rate, uint32_t burst,
				     int64_t now_us, uint32_t n)
{
	uint64_t cap = (uint64_t)burst * PVC_BUCKET_ONE;

	if (now_us > b->at_us) {
		int64_t dt = now_us - b->at_us;
		uint64_t add = (uint64_t)(dt > 1000000000 ? 1000000000 : dt) * rate;

		b->tokens = b->tokens >= cap || add >= cap - b->tokens ? cap : b->tokens + add;
	}
	b->at_us = now_us;
	return b->tokens >= (uint64_t)n * PVC_BUCKET_ONE;
}

/* Spends @n tokens that pvc_bucket_peek_n() found there. */
static inline void pvc_bucket_spend_n(struct pvc_bucket *b, uint32_t n)
{
	uint64_t c = (uint64_t)n * PVC_BUCKET_ONE;

	b->tokens = b->tokens >= c ? b->tokens - c : 0;
}

/* Microseconds until @b holds @n whole tokens at @rate (> 0) tokens/s. */
static inline int64_t pvc_bucket_wait_us_n(const struct pvc_bucket *b, uint32_t rate, uint32_t n)
{
	uint64_t want = (uint64_t)n * PVC_BUCKET_ONE;
	uint64_t need = b->tokens >= want ? 0 : want - b->tokens;

	return (int64_t)((need + rate - 1) / rate);
}

/* Refills, then spends one token if there is one: true if it did. */
static inline bool pvc_bucket_take(struct pvc_bucket *b, uint32_t rate, uint32_t burst,
				   int64_t now_us)
{
	if (!pvc_bucket_peek_n(b, rate, burst, now_us, 1))
		return false;
	pvc_bucket_spend_n(b, 1);
	return true;
}

/* Microseconds until @b holds a whole token at @rate (> 0) tokens/s. */
static inline int64_t pvc_bucket_wait_us(const struct pvc_bucket *b, uint32_t rate)
{
	return pvc_bucket_wait_us_n(b, rate, 1);
}

#endif
