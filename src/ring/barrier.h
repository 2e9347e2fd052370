/* SPDX-License-Identifier: MIT */
/*
 * Every access to an index that lives in shared memory goes through these
 * helpers. They are C11 memory-model operations (the __atomic builtins,
 * which GCC and Clang implement as C11 atomics on plain objects), so that
 * ThreadSanitizer sees them and the compiler cannot tear, fuse or reorder
 * them. Xen's xen_mb()/xen_rmb()/xen_wmb() are not used: they are
 * architecture asm that TSan cannot follow.
 *
 * Mapping from the spec's Workflow section ("general memory barrier",
 * "read barrier", "write barrier") onto these helpers:
 *   - a consumer that reads the peer's producer index and then reads the
 *     data:           pvc_load_acquire(prod)      (read barrier)
 *   - a producer that writes data and then publishes the producer index:
 *                     pvc_store_release(prod)     (write barrier)
 *   - a consumer that finished reading data and then frees the space:
 *                     pvc_store_release(cons)     (general barrier: the
 *                     reads of the data must complete before the store)
 *   - a producer that reads the consumer index before overwriting space:
 *                     pvc_load_acquire(cons)      (general barrier: the
 *                     later writes cannot move above the load)
 *   - "publish, then check whether the peer wants an event" (store
 *     followed by a load of another location) needs a full fence:
 *                     pvc_mb()
 */
#ifndef PVCALLS_RING_BARRIER_H
#define PVCALLS_RING_BARRIER_H

#include <stdint.h>

/* A single untorn read with no ordering: the value may be stale. */
#define pvc_read_once(p) __atomic_load_n((p), __ATOMIC_RELAXED)
/* A single untorn write with no ordering. */
#define pvc_write_once(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Later loads and stores stay after this load. */
#define pvc_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
/* Earlier loads and stores complete before this store is visible. */
#define pvc_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Sequentially consistent load and store, for the event-index handshake. */
#define pvc_load_seq(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define pvc_store_seq(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
/* Full fence: orders earlier stores before later loads (store-load). */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
/*
 * GCC warns (-Wtsan) that TSan does not model fences. Ours only order the
 * event-index / wait-hint handshake (store, then load of another word);
 * no data is published through them (that is release/acquire on the
 * indexes, which TSan follows), so ignoring them cannot cause a false
 * race report. Silence the warning for this one statement.
 */
#define pvc_mb()                                                                            \
	do {                                                                                \
		_Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wtsan\"") \
			__atomic_thread_fence(__ATOMIC_SEQ_CST);                            \
		_Pragma("GCC diagnostic pop")                                               \
	} while (0)
#else
#define pvc_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

#endif
