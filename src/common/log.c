/* SPDX-License-Identifier: MIT */
#include "common/log.h"
#include "common/clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Logging is off the hot paths, so a mutex guarding the sink is enough and
 * keeps set_logger() race-free against concurrent messages. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static pvcalls_log_fn sink_fn;
static void *sink_arg;
static int sink_max;

void pvcalls_set_logger(pvcalls_log_fn fn, void *arg, enum pvcalls_log_level max_level)
{
	pthread_mutex_lock(&sink_lock);
	sink_fn = fn;
	sink_arg = arg;
	sink_max = (int)max_level;
	pthread_mutex_unlock(&sink_lock);
}

static __thread struct pvc_log_gate *cur_gate;

struct pvc_log_gate *pvc_log_gate_swap(struct pvc_log_gate *g)
{
	struct pvc_log_gate *old = cur_gate;

	cur_gate = g;
	return old;
}

/* Spends a token of @g, refilled at g->rate per second up to g->burst. */
static bool gate_take(struct pvc_log_gate *g)
{
	const uint64_t one = 1000000, cap = (uint64_t)g->burst * one;
	int64_t now = pvc_now_us();

	if (!g->t_us) {
		g->tokens = cap;
	} else if (now > g->t_us) {
		uint64_t add = (uint64_t)(now - g->t_us) * g->rate;

		g->tokens = add >= cap - g->tokens ? cap : g->tokens + add;
	}
	g->t_us = now;
	if (g->tokens < one)
		return false;
	g->tokens -= one;
	return true;
}

void pvc_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
{
	pvcalls_log_fn fn;
	void *arg;
	char msg[512];
	va_list ap;

	pthread_mutex_lock(&sink_lock);
	fn = sink_fn;
	arg = sink_arg;
	if ((int)level > sink_max)
		fn = NULL;
	pthread_mutex_unlock(&sink_lock);
	if (!fn)
		return;
	if (cur_gate && level != PVCALLS_LOG_DEBUG && !gate_take(cur_gate)) {
		cur_gate->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, level, msgid, msg);
}

void pvcalls_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pvc_log(level, msgid, "%s", msg);
}

void pvcalls_log_stderr(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	static const char *const names[] = {
		[PVCALLS_LOG_ERR] = "error",     [PVCALLS_LOG_WARN] = "warning",
		[PVCALLS_LOG_NOTICE] = "notice", [PVCALLS_LOG_INFO] = "info",
		[PVCALLS_LOG_DEBUG] = "debug",
	};
	const char *name =
		(level >= PVCALLS_LOG_ERR && level <= PVCALLS_LOG_DEBUG) ? names[level] : "log";

	(void)arg;
	fprintf(stderr, "pvcalls: %s: %s: %s\n", name, msgid, msg);
}

const char *pvcalls_version(void)
{
	return PVCALLS_VERSION_STRING; /* from project(VERSION), CMakeLists.txt */
}

/* A slot that refilled since its last use and has nothing to report is
 * as good as new: another key may have it. */
static bool slot_idle(const struct pvc_log_keyed *k, const struct pvc_log_key *sl, int64_t now)
{
	return !sl->used || (!sl->g.suppressed && k->rate &&
			     now - sl->last_us >= (int64_t)k->burst * 1000000 / k->rate);
}

struct pvc_log_gate *pvc_log_keyed_gate(struct pvc_log_keyed *k, uint32_t key)
{
	struct pvc_log_key *sl = NULL;
	int64_t now = pvc_now_us();

	for (unsigned i = 0; i < PVC_LOG_KEYS; i++) {
		if (k->slot[i].used && k->slot[i].key == key) {
			sl = &k->slot[i];
			break;
		}
		if (!sl && slot_idle(k, &k->slot[i], now))
			sl = &k->slot[i]; /* the first free one, unless key has one */
	}
	if (sl && (!sl->used || sl->key != key)) {
		/* For another key: a full bucket, nothing to report. */
		memset(sl, 0, sizeof(*sl));
		sl->used = true;
		sl->key = key;
	}
	if (!sl) {
		sl = &k->slot[PVC_LOG_KEYS];
		sl->used = true;
		sl->key = key;
	}
	sl->g.rate = k->rate;
	sl->g.burst = k->burst;
	sl->last_us = now;
	return &sl->g;
}

bool pvc_log_keyed_summary(struct pvc_log_keyed *k, bool all, int64_t every_us, uint32_t key,
			   pvc_log_keyed_report_fn fn, void *arg)
{
	int64_t now = pvc_now_us();
	bool left = false;

	for (unsigned i = 0; i <= PVC_LOG_KEYS; i++) {
		struct pvc_log_key *sl = &k->slot[i];
		uint64_t n = sl->g.suppressed;

		if (!sl->used || !n || (key != UINT32_MAX && sl->key != key))
			continue;
		if (!all && now - sl->summary_us < every_us) {
			left = true;
			continue;
		}
		sl->g.suppressed = 0;
		sl->summary_us = now;
		fn(arg, sl->key, i == PVC_LOG_KEYS, n);
	}
	return left;
}
