/* SPDX-License-Identifier: MIT */
/* Internal logging: the library never prints; it hands messages to the
 * sink installed with pvcalls_set_logger() (default: discard). */
#ifndef PVCALLS_INTERNAL_LOG_H
#define PVCALLS_INTERNAL_LOG_H

#include <stdint.h>

#include <pvcalls/common.h>

/* msgid is a short stable id such as "shm.bad-ref"; fmt is printf-style. */
void pvc_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A token bucket for messages a guest can trigger (issue 13: 160k bad
 * CONNECTs gave 160k synchronous log lines). While a gate is installed on
 * the calling thread (pvc_log_gate_swap), each message of level ERR..INFO
 * that the sink would take spends a token; without one it is dropped and
 * counted in @suppressed, for the owner to report. DEBUG messages are not
 * gated (debug logging is an explicit choice). One thread uses a gate.
 */
struct pvc_log_gate {
	uint32_t rate;       /* messages per second */
	uint32_t burst;      /* bucket size */
	uint64_t tokens;     /* millionths of a message */
	int64_t t_us;        /* last refill; 0: full bucket */
	uint64_t suppressed; /* dropped since the owner last reset it */
};

/* Installs @g (NULL: none) for this thread's messages; returns the old one. */
struct pvc_log_gate *pvc_log_gate_swap(struct pvc_log_gate *g);

#define pvc_err(id, ...) pvc_log(PVCALLS_LOG_ERR, id, __VA_ARGS__)
#define pvc_warn(id, ...) pvc_log(PVCALLS_LOG_WARN, id, __VA_ARGS__)
#define pvc_notice(id, ...) pvc_log(PVCALLS_LOG_NOTICE, id, __VA_ARGS__)
#define pvc_info(id, ...) pvc_log(PVCALLS_LOG_INFO, id, __VA_ARGS__)
#define pvc_debug(id, ...) pvc_log(PVCALLS_LOG_DEBUG, id, __VA_ARGS__)

#endif
