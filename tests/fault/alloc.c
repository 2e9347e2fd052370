/* SPDX-License-Identifier: MIT */
/* The allocation-failure injector; see alloc.h. This file is not renamed:
 * its malloc() is the real one. */
#include "alloc.h"

#include <errno.h>
#include <execinfo.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h" /* FAULT_SITE_DEPTH */

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

/* Written by alloc_arm()/alloc_disarm() while no allocation of interest
 * runs on another thread... except the library's own threads (the shm
 * hub's): hence atomics; armed is released last and acquired first. */
static bool armed;
static uint64_t fail_at, count;
static const char *failed_op;
static uint64_t *sites, max_sites;

void alloc_arm(uint64_t n, uint64_t *s, uint64_t max)
{
	__atomic_store_n(&armed, false, __ATOMIC_SEQ_CST);
	__atomic_store_n(&count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&failed_op, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
	__atomic_store_n(&sites, s, __ATOMIC_RELAXED);
	__atomic_store_n(&max_sites, max, __ATOMIC_RELAXED);
	__atomic_store_n(&armed, true, __ATOMIC_RELEASE); /* pairs with hit()'s acquire */
}

void alloc_disarm(void)
{
	__atomic_store_n(&armed, false, __ATOMIC_SEQ_CST);
}

uint64_t alloc_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

const char *alloc_failed_op(void)
{
	return __atomic_load_n(&failed_op, __ATOMIC_ACQUIRE);
}

/* True when this call is the one to fail (and then it is recorded). */
static bool hit(const char *op)
{
	uint64_t n, *s;

	if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
		return false;
	n = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
	s = __atomic_load_n(&sites, __ATOMIC_RELAXED);
	if (s && n <= __atomic_load_n(&max_sites, __ATOMIC_RELAXED)) {
		void *pc[FAULT_SITE_DEPTH + 2];
		/* backtrace() allocates inside libc only: not wrapped. */
		int k = backtrace(pc, FAULT_SITE_DEPTH + 2);
		uint64_t h = 1469598103934665603ull; /* FNV-1a over the addresses */

		for (int i = 2; i < k; i++) { /* 0: hit(), 1: the wrapper */
			h ^= (uint64_t)(uintptr_t)pc[i];
			h *= 1099511628211ull;
		}
		s[n - 1] = h;
	}
	if (n != __atomic_load_n(&fail_at, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&failed_op, op, __ATOMIC_RELEASE);
	return true;
}

void *__wrap_malloc(size_t size)
{
	if (hit("malloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (hit("calloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	if (hit("realloc")) {
		errno = ENOMEM;
		return NULL; /* @p stays allocated, as after a real failure */
	}
	return realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	if (hit("strdup")) {
		errno = ENOMEM;
		return NULL;
	}
	return strdup(s);
}
