/* SPDX-License-Identifier: MIT */
/* The library's one monotonic clock. Every timeout, deadline and spin
 * budget in src/ reads CLOCK_MONOTONIC through these helpers, so a
 * change of clock (or a fake clock in a test) happens in one place. */
#ifndef PVCALLS_INTERNAL_CLOCK_H
#define PVCALLS_INTERNAL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds since an arbitrary fixed point; never goes backwards.
 * (pvcalls-bench times single operations with it.) */
static inline int64_t pvc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Microseconds, same clock as pvc_now_ns(). */
static inline int64_t pvc_now_us(void)
{
	return pvc_now_ns() / 1000;
}

/* Milliseconds, same clock as pvc_now_us(). */
static inline int64_t pvc_now_ms(void)
{
	return pvc_now_us() / 1000;
}

/* Absolute deadline in ms for a relative timeout; a negative timeout
 * stays -1 ("forever"). */
static inline int64_t pvc_deadline_ms(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : pvc_now_ms() + timeout_ms;
}

#endif
