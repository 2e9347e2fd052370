/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/common.h
 * @brief Export macro, version, error strings and the library's log sink.
 *
 * Conventions used by every libpvcalls header:
 *  - Functions return 0 (or a non-negative count) on success and a negative
 *    host errno value on failure. The library never sets the global errno as
 *    its way of reporting an error.
 *  - Handles are opaque. Every close/free function accepts NULL.
 *  - The library never prints. Diagnostics go to the sink installed with
 *    pvcalls_set_logger(); by default they are discarded.
 */
#ifndef PVCALLS_COMMON_H
#define PVCALLS_COMMON_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PVCALLS_BUILDING_LIBRARY) && defined(__GNUC__)
#define PVCALLS_API __attribute__((visibility("default")))
#else
#define PVCALLS_API
#endif

#define PVCALLS_VERSION_MAJOR 0
#define PVCALLS_VERSION_MINOR 1
#define PVCALLS_VERSION_PATCH 0

/** Returns the library version as "MAJOR.MINOR.PATCH". Never NULL. */
PVCALLS_API const char *pvcalls_version(void);

/**
 * Describes a libpvcalls return value.
 *
 * @param err a negative host errno as returned by any pvcalls_ function
 *            (a positive value is accepted and treated the same).
 * @return a static, thread-safe string. Protocol-specific conditions have
 *         their own wording (for example -EPROTO reads "peer violated the
 *         PV Calls protocol"). Never NULL.
 */
PVCALLS_API const char *pvcalls_strerror(int err);

/**
 * @name Negotiated extensions (docs/extensions.md)
 * Bits of pvcalls_front_features(), pvcalls_front_opts.ext_off and
 * pvcalls_back_opts.ext_off.
 */
/**@{*/
#define PVCALLS_FEATURE_SHUTDOWN 0x01u   /**< feature-libpvcalls-shutdown */
#define PVCALLS_FEATURE_NAMES 0x02u      /**< feature-libpvcalls-names */
#define PVCALLS_FEATURE_SOCKOPT 0x04u    /**< feature-libpvcalls-sockopt */
#define PVCALLS_FEATURE_INET6 0x08u      /**< feature-libpvcalls-inet6 */
#define PVCALLS_FEATURE_DGRAM 0x10u      /**< feature-libpvcalls-dgram */
#define PVCALLS_FEATURE_RING_REUSE 0x20u /**< feature-libpvcalls-ring-reuse */
/** The extensions this library implements. */
#define PVCALLS_FEATURES_IMPLEMENTED                                                  \
	(PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_NAMES | PVCALLS_FEATURE_SOCKOPT | \
	 PVCALLS_FEATURE_INET6 | PVCALLS_FEATURE_DGRAM | PVCALLS_FEATURE_RING_REUSE)
/**@}*/

/** Log levels, in the order of syslog priorities. */
enum pvcalls_log_level {
	PVCALLS_LOG_ERR = 3,
	PVCALLS_LOG_WARN = 4,
	PVCALLS_LOG_NOTICE = 5,
	PVCALLS_LOG_INFO = 6,
	PVCALLS_LOG_DEBUG = 7,
};

/**
 * A log sink. @p msgid is a short stable identifier of the message kind
 * (for example "shm.peer-died"), @p msg the formatted text without a
 * trailing newline. Called from whatever thread hit the condition; the sink
 * must be thread-safe and must not call back into libpvcalls.
 */
typedef void (*pvcalls_log_fn)(void *arg, enum pvcalls_log_level level, const char *msgid,
			       const char *msg);

/**
 * Installs the process-wide log sink and the most verbose level passed to
 * it. NULL @p fn discards everything (the default). Thread-safe, but
 * messages racing with the call may reach either sink.
 */
PVCALLS_API void pvcalls_set_logger(pvcalls_log_fn fn, void *arg, enum pvcalls_log_level max_level);

/**
 * Sends a message to the installed sink, exactly as the library's own code
 * does. For transports built outside libpvcalls (libpvcalls-xen, third
 * parties) so their diagnostics follow the application's choice of sink.
 */
PVCALLS_API void pvcalls_log(enum pvcalls_log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** A ready-made sink that writes "pvcalls: <level>: <msgid>: <msg>" to stderr. */
PVCALLS_API void pvcalls_log_stderr(void *arg, enum pvcalls_log_level level, const char *msgid,
				    const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_COMMON_H */
