/* SPDX-License-Identifier: MIT */
/*
 * Logging for the shared libpvcalls-xen. The sink lives in libpvcalls,
 * whose pvc_log() is hidden, so this library's pvc_log() calls are renamed
 * to pvc_xen_log() (a compile definition in CMakeLists.txt) and forwarded
 * through libpvcalls' exported pvcalls_log(). The static test twin does
 * not build this file: there pvc_log() is libpvcalls' own.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

void pvc_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pvcalls_log(level, msgid, "%s", msg);
}
