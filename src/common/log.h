/* SPDX-License-Identifier: MIT */
/* Internal logging: the library never prints; it hands messages to the
 * sink installed with pvcalls_set_logger() (default: discard). */
#ifndef PVCALLS_INTERNAL_LOG_H
#define PVCALLS_INTERNAL_LOG_H

#include <stdbool.h>
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

/*
 * Gates by key (a guest's domid), for guests whose objects come and go: a
 * guest that reconnects or re-creates its device gets new objects but
 * the same key, so the same bucket. PVC_LOG_KEYS slots, one per key in
 * use; a slot unused long enough to have refilled (burst / rate) and with
 * nothing to report goes to another key, as it would have been full
 * anyway; beyond that the keys share one more slot. Bounded memory, and
 * the messages of all keys together at most (PVC_LOG_KEYS + 1) * rate a
 * second after the bursts. One thread uses a pvc_log_keyed.
 */
#define PVC_LOG_KEYS 64u
struct pvc_log_keyed {
	uint32_t rate, burst;
	struct pvc_log_key {
		uint32_t key;
		bool used;
		int64_t last_us;    /* last handed out */
		int64_t summary_us; /* last reported */
		struct pvc_log_gate g;
	} slot[PVC_LOG_KEYS + 1]; /* the last: shared by the keys left over */
};

/* @key's gate (to install with pvc_log_gate_swap()); never NULL. */
struct pvc_log_gate *pvc_log_keyed_gate(struct pvc_log_keyed *k, uint32_t key);
/* Called with what a slot suppressed; @shared: the slot of the keys left
 * over (@key is the last one that used it). */
typedef void (*pvc_log_keyed_report_fn)(void *arg, uint32_t key, bool shared, uint64_t n);
/*
 * Reports, through @fn, the slots with suppressed messages whose last
 * report is @every_us old (@all: every one now; @key != UINT32_MAX: only
 * that key's slot). Returns true if some are left to report later.
 */
bool pvc_log_keyed_summary(struct pvc_log_keyed *k, bool all, int64_t every_us, uint32_t key,
			   pvc_log_keyed_report_fn fn, void *arg);

#define pvc_err(id, ...) pvc_log(PVCALLS_LOG_ERR, id, __VA_ARGS__)
#define pvc_warn(id, ...) pvc_log(PVCALLS_LOG_WARN, id, __VA_ARGS__)
#define pvc_notice(id, ...) pvc_log(PVCALLS_LOG_NOTICE, id, __VA_ARGS__)
#define pvc_info(id, ...) pvc_log(PVCALLS_LOG_INFO, id, __VA_ARGS__)
#define pvc_debug(id, ...) pvc_log(PVCALLS_LOG_DEBUG, id, __VA_ARGS__)

#endif
