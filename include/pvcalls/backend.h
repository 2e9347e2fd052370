/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/backend.h
 * @brief The PV Calls backend: serves frontends by performing their socket
 *        calls with real host sockets and relaying the data.
 *
 * One backend object serves every frontend that appears under its domain's
 * backend/pvcalls directory in the transport's store (on Xen: each guest
 * with a pvcalls device; on shm: each connected guest). It is
 * event-driven: it owns an epoll set (its fd, pvcalls_back_fd()) and never
 * blocks on one guest's socket. CONNECT completes asynchronously; ACCEPT
 * and POLL are answered when the listener is ready.
 *
 * The frontend is treated as an attacker: each request is copied out of
 * the ring once, every field is validated, every resource is bounded per
 * frontend (struct pvcalls_back_limits), and a frontend that violates the
 * protocol is disconnected without affecting the others.
 *
 * Differences from Linux's pvcalls-back, each deliberate:
 *  - CONNECT does not block the command ring (no head-of-line blocking).
 *  - ACCEPT and POLL may both be pending on one listener (Linux: -EINTR).
 *  - POLL on an unknown or active id gets -EINVAL (Linux never answers).
 *  - RELEASE of a listener answers its pending ACCEPT/POLL with -EBADF
 *    before answering the RELEASE (Linux leaves them unanswered, which
 *    costs the frontend a command-ring slot for good).
 *  - Duplicate socket ids are refused with -EEXIST (Linux takes the first).
 *  - max-page-order is 9 by default (Linux: 4).
 *  - A ring_order above max-page-order gets -EINVAL; a grant ref or event
 *    channel the transport refuses gets -EFAULT (Linux: -EFAULT for both),
 *    but a shortage the transport reports is passed on: -ENOBUFS (its
 *    mapping budget for the frontend, e.g. the shm hub's
 *    max_maps_per_guest) and -ENOMEM, so a frontend can tell a bad ref
 *    from a retry that may succeed.
 *  - BIND to an address and port that a bound or listening socket of any
 *    frontend of this backend holds (the same address, or either one
 *    INADDR_ANY) gets -EADDRINUSE: one guest cannot take over another's
 *    port between its BIND and LISTEN. BIND to a port sets SO_REUSEADDR
 *    only so that TIME_WAIT does not block rebinding; BIND to port 0 does
 *    not set it (Linux then picks a port nobody holds).
 *  - When accept4() fails for a host shortage (EMFILE, ENFILE, ENOBUFS,
 *    ENOMEM) the oldest pending ACCEPT gets that error, once per
 *    shortage; the other ACCEPTs keep waiting and the listener retries
 *    every 100 ms, so connections already queued are served as soon as
 *    descriptors are back (no new connection needed).
 *  - CONNECT and BIND also accept an id that never saw SOCKET (as Linux,
 *    which keeps no state for SOCKET) and forget it again if they fail.
 *
 * Like Linux's backend, RELEASE (and a frontend's disconnection) first
 * pushes what the socket's out ring still holds into the host socket;
 * what the socket cannot take yet is copied and sent in the background
 * (at most 30 s, 64 MiB and 4096 sockets per backend), so RELEASE is
 * answered at once. A lingering socket is still a host descriptor: it
 * counts against its frontend's max_sockets until it ends, so
 * connect/write/release loops cannot open host sockets without bound.
 *
 * Every connected or accepted host socket gets TCP_NODELAY (unless the
 * frontend set TCP_NODELAY itself through the sockopt extension): the
 * frontend's data ring already gathers an application's small writes,
 * and Nagle's algorithm on the relay would hold back the second piece of
 * a request until the peer's delayed ACK.
 *
 * Log messages a frontend can cause (its requests, its sockets, what the
 * transport logs while working for it, e.g. a bad grant ref, and the
 * creation and removal of its device directories) are rate-limited per
 * guest domain (N, its domid; the limit outlives the frontend, so a guest
 * that reconnects keeps it): a burst of 20, then 5 a second, at levels
 * ERR..INFO (DEBUG is not limited); the rest are counted and reported at
 * most every 2 s as one NOTICE "frontend N: M messages suppressed"
 * (msgid back.log-suppressed), and once more by pvcalls_back_free(). So
 * a guest's flood of bad requests or reconnections cannot flood the log
 * or slow the loop.
 *
 * Threading: a backend object is used by one thread at a time (its event
 * loop), except pvcalls_back_get_stats(), which any thread may call.
 * Several backend objects may run in different threads.
 */
#ifndef PVCALLS_BACKEND_H
#define PVCALLS_BACKEND_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvcalls/common.h>
#include <pvcalls/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Per-frontend resource limits. Zero means "use the default". A request
 * that would exceed one is answered with an error and changes nothing:
 *  - max_sockets, max_listeners: -EMFILE (as socket(2) and accept(2) when
 *    a process is out of descriptors);
 *  - max_pending_accepts, max_mapped_pages: -ENOBUFS;
 *  - max_ring_order: -EINVAL (CONNECT/ACCEPT with a larger ring_order);
 *  - max_backlog: not an error, LISTEN's backlog is clamped;
 *  - connect_rate/connect_burst: -EAGAIN (CONNECT beyond the token bucket:
 *    "try again later", what connect(2) says when it is out of local
 *    ports; the socket stays usable for another CONNECT).
 *
 * cmd_rate/cmd_burst is not an error either: it never refuses a request.
 * It is a token bucket over every request of the frontend's command ring
 * (cmd_rate requests a second, at most cmd_burst saved up), consulted only
 * while another frontend of the same backend had work done (a request
 * taken, a socket relayed) within the last 10 ms. A frontend whose bucket
 * is empty then has its requests left on its ring, in order, and taken
 * again as tokens come: it is looked at again when its next token is due
 * (at most once per millisecond), and then served without a token if the
 * others have been idle for 10 ms; no new notification is needed. A lone frontend, or
 * frontends all under their rate, are never held back: the limit only
 * decides who goes first when the backend's one thread has more than one
 * frontend's work (docs/threat-model.md, "Isolation under abuse").
 * Each time a frontend is held back counts in the stats field cmd_held.
 */
struct pvcalls_back_limits {
	uint32_t
		max_sockets; /**< active + passive + not yet used ids + released ones still lingering; default 1024 */
	uint32_t max_listeners;       /**< passive sockets; default 64 */
	uint32_t max_pending_accepts; /**< ACCEPTs waiting for a connection; default 32 */
	uint32_t
		max_mapped_pages; /**< ring pages mapped for this frontend; default 65536 (256 MiB) */
	uint32_t max_ring_order; /**< advertised as max-page-order; default 9, at most 9 */
	uint32_t max_backlog;    /**< LISTEN backlog is clamped to this; default 128 */
	uint32_t connect_rate;   /**< CONNECTs per second; default 0 = unlimited */
	uint32_t connect_burst;  /**< token bucket depth; default connect_rate */
	/** Requests per second under contention; default 20000,
	 *  PVCALLS_BACK_UNLIMITED: never held back. */
	uint32_t cmd_rate;
	/** Requests saved up (bucket depth); default 256; ignored when
	 *  cmd_rate is unlimited. */
	uint32_t cmd_burst;
};

/** A cmd_rate that never holds a frontend back. */
#define PVCALLS_BACK_UNLIMITED UINT32_MAX

/** Backend options. Zero-initialise and set what you need. */
struct pvcalls_back_opts {
	struct pvcalls_back_limits limits;
	/**
	 * How long the event loop keeps polling the rings of sockets that were
	 * just active before it sleeps, in microseconds. 0 means the default
	 * (20); set PVCALLS_BACK_NO_SPIN for "sleep at once".
	 */
	uint32_t spin_us;
	/** Offer the wait-hint extension (default on; set true to disable). */
	bool no_wait_hint;
	/**
	 * PVCALLS_FEATURE_* bits not to offer (default 0: offer every
	 * extension this library implements, docs/extensions.md).
	 */
	uint32_t ext_off;
};

#define PVCALLS_BACK_NO_SPIN UINT32_MAX

/** Opaque backend handle. */
typedef struct pvcalls_back pvcalls_back;

/**
 * Creates a backend on @p t. It watches
 * /local/domain/<own domid>/backend/pvcalls, publishes versions="1",
 * max-page-order and function-calls="1" for every device there as soon as
 * it appears, and switches it to InitWait.
 *
 * @param t     a transport; the backend uses its store watches and event
 *              channels exclusively, and does not own it (close it after
 *              pvcalls_back_free()).
 * @param opts  NULL for defaults.
 * @retval -EINVAL bad options (e.g. max_ring_order > 9).
 * @retval -ENOMEM, or the transport's errors.
 */
PVCALLS_API int pvcalls_back_new(pvcalls_transport *t, const struct pvcalls_back_opts *opts,
				 pvcalls_back **out);

/**
 * Releases every socket of every frontend, tells each frontend the
 * backend is going away (Closing, then Closed), and frees the backend.
 * NULL is accepted.
 */
PVCALLS_API void pvcalls_back_free(pvcalls_back *b);

/** A fd that polls readable whenever pvcalls_back_process() has work. */
PVCALLS_API int pvcalls_back_fd(pvcalls_back *b);

/**
 * Runs the event loop for at most @p timeout_ms (0: handle what is ready
 * and return; -1: until at least one event was handled).
 * @return the number of events handled (>= 0), or a negative errno for a
 *         failure of the backend itself (never for a frontend's misdeeds).
 */
PVCALLS_API int pvcalls_back_process(pvcalls_back *b, int timeout_ms);

/**
 * Runs the event loop until *@p stop becomes non-zero, checked at least
 * every 100 ms with an atomic load. Set it from a signal handler, or from
 * another thread with an atomic store (__atomic_store_n), so the write is
 * not a data race.
 */
PVCALLS_API int pvcalls_back_run(pvcalls_back *b, volatile int *stop);

/** Counters for one frontend (or, summed, for the backend). */
/** Extension command counters in struct pvcalls_back_stats. */
#define PVCALLS_BACK_EXT_CMDS 7

struct pvcalls_back_stats {
	uint32_t frontends; /**< connected frontends */
	uint32_t active_sockets;
	uint32_t passive_sockets;
	uint64_t commands[7];      /**< per command number */
	uint64_t bad_commands;     /**< unknown cmd or invalid fields */
	uint64_t bytes_to_guest;   /**< socket -> in ring */
	uint64_t bytes_from_guest; /**< out ring -> socket */
	uint64_t ring_full_stalls; /**< in ring full while the socket had data */
	uint64_t notifies_sent;
	uint64_t notifies_suppressed;
	uint64_t protocol_errors;    /**< frontends disconnected for violations */
	uint64_t commands_failed[7]; /**< per command number: answered with an error */
	uint64_t policy_denied;      /**< CONNECT/BIND/LISTEN refused by the policy */
	uint64_t rate_limited;       /**< CONNECTs refused by the token bucket */
	uint64_t limit_hits;         /**< requests refused by a resource limit */
	/**
	 * Extension commands in force (docs/extensions.md), by cmd - 0x6c700001:
	 * SHUTDOWN, GETSOCKNAME, GETPEERNAME, SETSOCKOPT, GETSOCKOPT, DGRAM_RINGS,
	 * RING_FREE.
	 * Extension numbers not in force count as bad_commands (unknown).
	 */
	uint64_t ext_commands[PVCALLS_BACK_EXT_CMDS];
	uint64_t
		ext_commands_failed[PVCALLS_BACK_EXT_CMDS]; /**< of those, answered with an error */
	/** Ring reuse (docs/extensions.md): RELEASEs that parked their ring,
	 * and CONNECTs and ACCEPTs that took a parked ring. */
	uint64_t rings_parked;
	uint64_t rings_reused;
	/** Times the frontend's requests were left on its ring by cmd_rate
	 *  (struct pvcalls_back_limits): deferred, never refused. */
	uint64_t cmd_held;
};

/**
 * Fills @p st with the backend-wide totals (frontends that went away
 * included). Safe to call from any thread while the loop runs; each
 * counter is read atomically, the set is not a snapshot.
 */
PVCALLS_API void pvcalls_back_get_stats(pvcalls_back *b, struct pvcalls_back_stats *st);

/* ---------------------------------------------------------------------- */
/** @name Policy
 *
 * Every CONNECT, BIND and LISTEN is put to the policy before anything is
 * done for it. A denial is answered -EACCES (what connect(2) and bind(2)
 * say when a firewall rule or a privileged port refuses them) and nothing
 * else happens: the socket id stays usable. Either a rule set
 * (pvcalls_policy, below) or a caller's callback decides; with neither,
 * everything is allowed.
 *
 * With the sockopt extension in force, every SETSOCKOPT is put to the
 * policy too (cmd PVCALLS_EXT_SETSOCKOPT, opt and opt_val set, addr
 * zero); a refusal (any error from a callback or a rule) is answered -EPERM
 * (docs/extensions.md, "Socket options"). A callback that judges only by
 * address must let cmd PVCALLS_EXT_SETSOCKOPT through.
 */
/**@{*/

/** A call put to the policy. */
struct pvcalls_back_call {
	uint32_t domid; /**< the frontend's domain (shm: its peer id) */
	uint32_t devid;
	uint32_t
		cmd; /**< PVCALLS_WIRE_CONNECT, _BIND, _LISTEN, PVCALLS_EXT_SETSOCKOPT or _SENDTO */
	uint64_t id; /**< the guest's socket id */
	/**
	 * CONNECT: destination; BIND, LISTEN: the bound address. The family
	 * (addr.sin_family, the same bytes as addr6.sin6_family) says which
	 * member is meant: AF_INET, or AF_INET6 with inet6 in force
	 * (docs/extensions.md, "IPv6"). The backend never asks about an
	 * IPv4-mapped address (::ffff:a.b.c.d): it asks about the IPv4
	 * address instead. It may ask more than once for one request (see
	 * pvcalls_policy_add_rule()); each answer must allow.
	 */
	union {
		struct sockaddr_in addr;
		struct sockaddr_in6 addr6;
	};
	/** SETSOCKOPT (addr unset): the option id (PVCALLS_EXT_OPT_* of
	 *  <pvcalls/wire_ext.h>) and its value (SO_LINGER: onoff, linger). */
	uint32_t opt;
	int32_t opt_val[2];
	/** The socket's type: SOCK_STREAM (1) or SOCK_DGRAM (2); 0 is read as
	 *  SOCK_STREAM. Datagram sockets (docs/extensions.md, "Datagram
	 *  sockets") put CONNECT, BIND and each addressed datagram's
	 *  destination (cmd PVCALLS_EXT_SENDTO, judged as a connect). */
	uint32_t type;
};

/**
 * A decision callback. Returns 0 to allow, or a negative errno to answer
 * instead (usually -EACCES). It may write a short explanation (logged and
 * audited) into @p reason, NUL-terminated, at most @p reason_len bytes.
 * It runs on the backend's thread and must not block.
 */
typedef int (*pvcalls_back_policy_fn)(void *arg, const struct pvcalls_back_call *call, char *reason,
				      size_t reason_len);

/** Opaque rule set. */
typedef struct pvcalls_policy pvcalls_policy;

/** Rules and limits under this "domid" apply to every frontend without its own. */
#define PVCALLS_POLICY_DEFAULT UINT32_MAX

/** @retval -ENOMEM */
PVCALLS_API int pvcalls_policy_new(pvcalls_policy **out);
PVCALLS_API void pvcalls_policy_free(pvcalls_policy *p);

/**
 * Appends a rule for @p domid (or PVCALLS_POLICY_DEFAULT). The rules of the
 * frontend's domain are tried first, in order, then the default rules; the
 * first that matches decides. Syntax:
 *
 *     (allow|deny) (connect|listen|any) [tcp|udp] [inet|inet6] [CIDR|any] [port P[-Q]]
 *     (allow|deny) sockopt (OPTION|any)
 *
 * "tcp" or "udp" limits a rule to stream or datagram sockets (default:
 * both). A datagram socket's CONNECT and each destination it sends to
 * (SENDTO) are judged by "connect" rules, its BIND by "listen" rules.
 * "listen" rules govern BIND (with the address bound) and LISTEN.
 * CIDR is an IPv4 network ("10.0.0.0/8", "192.0.2.1") or an IPv6 one
 * ("2001:db8::/32", "::1"); a rule naming one applies to that family only,
 * "inet" and "inet6" restrict a rule without a network to one family, and
 * a rule with neither applies to both. An IPv6 network inside
 * ::ffff:0:0/96 is stored as the IPv4 network it maps ("::ffff:10.0.0.0/104"
 * is "10.0.0.0/8"), since IPv4-mapped addresses are judged as IPv4
 * (docs/extensions.md, "IPv6"). How the backend asks about AF_INET6 calls:
 *  - an IPv4-mapped address is judged as the IPv4 address it maps;
 *  - a CONNECT to ::, ::1 or an address of the host's own is judged as
 *    written, as ::1 and as 127.0.0.1 (a host service on a dual-stack
 *    wildcard answers both), and every answer must allow; an IPv4 CONNECT
 *    to 0.0.0.0 or a host address is judged as 127.0.0.1 too;
 *  - a BIND (and LISTEN) on :: with IPV6_V6ONLY off is judged as a listen
 *    on :: and on 0.0.0.0;
 *  - a link-local (fe80::/10) or multicast (ff00::/8) CONNECT destination
 *    is allowed only by an allow rule whose network contains it: a rule
 *    without a network, or no rule (whatever the fallback), refuses it.
 * "sockopt" rules govern SETSOCKOPT only (OPTION: TCP_NODELAY, SO_KEEPALIVE,
 * TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, SO_LINGER, SO_RCVBUF, SO_SNDBUF,
 * TCP_USER_TIMEOUT, SO_REUSEADDR, SO_REUSEPORT, IP_TOS, IPV6_V6ONLY,
 * IPV6_TCLASS); "any" rules never match SETSOCKOPT, and a SETSOCKOPT no
 * sockopt rule matches is allowed whatever the fallback.
 * Examples: "allow connect 10.0.0.0/8 port 80-443", "deny listen",
 * "allow connect udp 127.0.0.53/32 port 53",
 * "allow listen port 8000-8999", "deny any", "deny sockopt SO_REUSEPORT",
 * "deny connect ::1/128", "allow connect inet6 2001:db8::/32 port 443",
 * "deny listen inet6".
 *
 * @retval -EINVAL a syntax error; @p err (if not NULL) says where.
 */
PVCALLS_API int pvcalls_policy_add_rule(pvcalls_policy *p, uint32_t domid, const char *rule,
					char *err, size_t err_len);

/**
 * Limits for @p domid (or PVCALLS_POLICY_DEFAULT). Zero fields inherit: a
 * domain's from the default section, the default's from the backend's
 * options.
 */
PVCALLS_API int pvcalls_policy_set_limits(pvcalls_policy *p, uint32_t domid,
					  const struct pvcalls_back_limits *lim);

/** What happens when no rule matches (default: allow). */
PVCALLS_API void pvcalls_policy_set_fallback(pvcalls_policy *p, bool allow);

/**
 * Decides @p call by the rules: 0 or -EACCES, with the matching rule (or
 * "no rule matched") in @p reason.
 */
PVCALLS_API int pvcalls_policy_check(const pvcalls_policy *p, const struct pvcalls_back_call *call,
				     char *reason, size_t reason_len);

/**
 * Installs @p p (the backend owns it from now on and frees the previous
 * one; NULL removes it) and clears any callback. Limits and rules apply to
 * requests from now on; live sockets are left alone. Call it on the
 * backend's thread.
 * @retval -EINVAL a limit out of range (p is then still freed).
 */
PVCALLS_API int pvcalls_back_set_policy(pvcalls_back *b, pvcalls_policy *p);

/** Installs a decision callback instead of rules (NULL: none). */
PVCALLS_API void pvcalls_back_set_policy_cb(pvcalls_back *b, pvcalls_back_policy_fn fn, void *arg);
/**@}*/

/* ---------------------------------------------------------------------- */
/** @name Audit
 *
 * One record per command-ring request, handed to the caller's sink when
 * the request is answered (for CONNECT, ACCEPT and POLL that may be much
 * later). The sink runs on the backend's thread: it must not block (queue
 * the record and write it elsewhere).
 */
/**@{*/

enum pvcalls_back_decision {
	PVCALLS_BACK_DECISION_NONE = 0, /**< the command is not put to the policy */
	PVCALLS_BACK_DECISION_ALLOW,
	PVCALLS_BACK_DECISION_DENY,
};

struct pvcalls_back_audit {
	int64_t time_us;       /**< CLOCK_REALTIME when the request was taken, in us */
	uint32_t domid, devid; /**< the frontend */
	uint32_t req_id;
	uint32_t cmd;    /**< as on the wire (may be unknown) */
	uint64_t id;     /**< the request's socket id (the 8 bytes at offset 8) */
	uint64_t id_new; /**< ACCEPT only */
	bool has_addr;   /**< CONNECT, BIND: addr and addr_raw are set */
	bool addr_valid; /**< addr (AF_INET) or addr6 (AF_INET6) holds a decoded address */
	union {
		struct sockaddr_in addr;   /**< sin_family AF_INET */
		struct sockaddr_in6 addr6; /**< sin6_family AF_INET6 (inet6 in force) */
	};
	uint8_t addr_raw[28]; /**< the address field as the guest wrote it */
	uint32_t addr_len;    /**< the guest's len field */
	enum pvcalls_back_decision decision;
	const char *reason;  /**< the rule or callback's reason; "" if none */
	int32_t ret;         /**< the wire result: 0 or a negative Linux errno */
	uint32_t latency_us; /**< request taken -> response written */
	/**
	 * Extension commands (docs/extensions.md, "Policy and audit"):
	 * SHUTDOWN's how, or SETSOCKOPT/GETSOCKOPT's option id, in ext_arg;
	 * SETSOCKOPT's value in ext_val (ext_nval of them: 2 for SO_LINGER).
	 * GETSOCKNAME/GETPEERNAME put the address returned in has_addr/addr.
	 */
	bool has_ext;
	uint32_t ext_arg;
	uint32_t ext_nval;
	int32_t ext_val[2];
};

typedef void (*pvcalls_back_audit_fn)(void *arg, const struct pvcalls_back_audit *rec);

/** Installs (or with NULL removes) the audit sink. */
PVCALLS_API void pvcalls_back_set_audit(pvcalls_back *b, pvcalls_back_audit_fn fn, void *arg);

/**
 * Formats @p rec as one JSON object and a newline (JSON Lines), with every
 * byte that came from the guest escaped. @return the length written
 * (without the NUL), or -ENOSPC (2048 bytes always suffice).
 */
PVCALLS_API int pvcalls_back_audit_json(const struct pvcalls_back_audit *rec, char *buf,
					size_t len);

/**
 * Writes @p in (any bytes) as the inside of a JSON string: '"', '\\' and
 * control characters escaped, bytes >= 0x80 as \u00XX (read as Latin-1, so
 * the output is always valid). @return the length the full output needs;
 * at most @p out_len - 1 bytes are written, always NUL-terminated when
 * out_len > 0 (never cutting an escape in two).
 */
PVCALLS_API size_t pvcalls_json_escape(char *out, size_t out_len, const void *in, size_t in_len);
/**@}*/

/* ---------------------------------------------------------------------- */
/** @name Frontends */
/**@{*/

struct pvcalls_back_frontend {
	uint32_t domid, devid;
	bool connected;
	struct pvcalls_back_stats st;
};

/**
 * Fills up to @p max entries, one per frontend device the backend knows.
 * @return the number of frontends (may exceed @p max). Any thread.
 */
PVCALLS_API int pvcalls_back_list_frontends(pvcalls_back *b, struct pvcalls_back_frontend *out,
					    size_t max);

/**
 * Disconnects every device of domain @p domid: its sockets are released,
 * the backend goes to Closing, and it is not served again until the
 * frontend closes or restarts. Call it on the backend's thread.
 * @return the number of devices disconnected, or -ENOENT.
 */
PVCALLS_API int pvcalls_back_close_frontend(pvcalls_back *b, uint32_t domid);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_BACKEND_H */
