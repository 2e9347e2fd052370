/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: "<N>text" on stderr when stderr is the journal (sd-daemon(3)
 * prefixes; JOURNAL_STREAM names the stream), syslog(3) with LOG_DAEMON
 * when daemonized, plain "pvcallsd: level: text" in a terminal.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "daemon.h"

static enum dlog_mode mode;
static int max_level = LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const names[] = { "emerg",   "alert",  "crit", "error",
				     "warning", "notice", "info", "debug" };

int dlog_parse_level(const char *s)
{
	for (int i = 3; i < 8; i++)
		if (!strcmp(s, names[i]))
			return i;
	if (!strcmp(s, "err"))
		return LOG_ERR;
	if (!strcmp(s, "warn"))
		return LOG_WARNING;
	return -1;
}

/* True when stderr is the stream JOURNAL_STREAM ("dev:ino") names. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

enum dlog_mode dlog_auto(bool daemonized)
{
	if (stderr_is_journal())
		return DLOG_JOURNAL;
	return daemonized ? DLOG_SYSLOG : DLOG_PLAIN;
}

static void lib_sink(void *arg, enum pvcalls_log_level level, const char *msgid, const char *msg)
{
	(void)arg;
	dlog((int)level, "%s: %s", msgid, msg);
}

void dlog_init(enum dlog_mode m, int level)
{
	mode = m;
	if (mode == DLOG_SYSLOG)
		openlog("pvcallsd", LOG_PID, LOG_DAEMON);
	dlog_set_level(level);
}

void dlog_set_level(int level)
{
	max_level = level;
	pvcalls_set_logger(lib_sink, NULL, (enum pvcalls_log_level)level);
}

void dlog(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	switch (mode) {
	case DLOG_SYSLOG:
		syslog(level, "%s", buf);
		break;
	case DLOG_JOURNAL:
		pthread_mutex_lock(&lock);
		fprintf(stderr, "<%d>%s\n", level, buf);
		pthread_mutex_unlock(&lock);
		break;
	default:
		pthread_mutex_lock(&lock);
		fprintf(stderr, "pvcallsd: %s: %s\n", names[level & 7], buf);
		pthread_mutex_unlock(&lock);
		break;
	}
}
