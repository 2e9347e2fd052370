/* SPDX-License-Identifier: MIT */
/*
 * A test-only allocation-failure injector (check_fault_alloc): the test
 * binary links a copy of the library's archive in which every call to
 * malloc, calloc, realloc and strdup is renamed (objcopy --redefine-sym,
 * tests/fault/CMakeLists.txt) to the __wrap_* functions here, so only the
 * library's own allocations come here; Check's, the test's and libc's
 * internal ones (stdio, pthread_create, ...) do not. Once armed, the Nth
 * of them (counted across all threads) fails with NULL and errno ENOMEM,
 * as on an exhausted heap. The library itself has no hook.
 */
#ifndef PVCALLS_TEST_ALLOC_H
#define PVCALLS_TEST_ALLOC_H

#include <stdint.h>

/*
 * Counts allocations from now on and fails number @fail_at (1-based; 0:
 * none). With @sites, records a hash of each allocation's call chain into
 * @sites[n - 1] (n <= @max), as fault_record_sites() does.
 */
void alloc_arm(uint64_t fail_at, uint64_t *sites, uint64_t max);
/* Stops counting and failing. */
void alloc_disarm(void);
/* Allocations counted since alloc_arm() (the failed one included). */
uint64_t alloc_count(void);
/* The function whose call was failed ("malloc", ...), or NULL. */
const char *alloc_failed_op(void);

#endif
