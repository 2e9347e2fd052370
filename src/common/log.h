/* SPDX-License-Identifier: MIT */
/* Internal logging: the library never prints; it hands messages to the
 * sink installed with pvcalls_set_logger() (default: discard). */
#ifndef PVCALLS_INTERNAL_LOG_H
#define PVCALLS_INTERNAL_LOG_H

#include <pvcalls/common.h>

/* msgid is a short stable id such as "shm.bad-ref"; fmt is printf-style. */
void pvc_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pvc_err(id, ...) pvc_log(PVCALLS_LOG_ERR, id, __VA_ARGS__)
#define pvc_warn(id, ...) pvc_log(PVCALLS_LOG_WARN, id, __VA_ARGS__)
#define pvc_info(id, ...) pvc_log(PVCALLS_LOG_INFO, id, __VA_ARGS__)
#define pvc_debug(id, ...) pvc_log(PVCALLS_LOG_DEBUG, id, __VA_ARGS__)

#endif
