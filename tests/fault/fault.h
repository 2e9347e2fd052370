/* SPDX-License-Identifier: MIT */
/*
 * A fault-injecting transport: wraps another transport and fails its Nth
 * fallible operation (counted across all of them) with the errno a real
 * transport would return there. Everything else is forwarded unchanged.
 *
 * Fallible operations and what they fail with:
 *   local_domid                    -ENOTCONN (store unreachable)
 *   share_pages                    -ENOMEM   (no pages or grant entries)
 *   map_refs                       -ENOMEM
 *   evtchn_alloc_unbound, _bind    -ENOSPC   (no free local port)
 *   evtchn_notify                  -EPIPE    (the peer is gone, shm)
 *   store_read, _write, _rm,
 *   _directory, _txn_start, _watch -EIO      (xenstored's internal error)
 *   store_txn_end                  -EAGAIN for odd N (a conflict: the
 *                                  caller retries), -EIO for even N
 * Teardown operations (unshare, unmap, evtchn_close, store_unwatch,
 * close), the fd getters, evtchn_pending/_unmask and store_read_watch are
 * never failed: a caller cannot recover from a failed teardown but leak,
 * and the others report state rather than act.
 */
#ifndef PVCALLS_TEST_FAULT_H
#define PVCALLS_TEST_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/transport.h>

struct fault;

/*
 * Wraps @inner (owned from now on: closing the wrapper closes it) and
 * fails fallible operation number @fail_at (1-based; 0: none).
 * Returns the wrapper, or NULL (then @inner is closed).
 */
pvcalls_transport *fault_wrap(pvcalls_transport *inner, uint64_t fail_at, struct fault **f);

/*
 * Call sites. With @record set, the wrapper hashes the return addresses
 * of every fallible operation's caller chain (FAULT_SITE_DEPTH frames) into
 * @sites[n - 1] for operation n (up to @max): operations with the same
 * hash come from the same call site by the same path.
 */
#define FAULT_SITE_DEPTH 10
void fault_record_sites(struct fault *f, uint64_t *sites, uint64_t max);

/*
 * Arms @f to fail the next @n calls of operation @op (a name above, e.g.
 * "evtchn_notify"), whatever fail_at says; n = 0 disarms. Any thread.
 */
void fault_fail_next(struct fault *f, const char *op, unsigned n);
/* Calls fault_fail_next() armed that were not failed yet. */
unsigned fault_armed_left(const struct fault *f);

/* Fallible operations seen so far (including the failed one). */
uint64_t fault_count(const struct fault *f);
/* The operation that was failed, or NULL if none was. */
const char *fault_failed_op(const struct fault *f);

#endif
