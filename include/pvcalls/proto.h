/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/proto.h
 * @brief PV Calls version 1: building, checking and decoding commands, and
 *        translating error numbers between the host and the wire.
 *
 * These are pure functions over the structures of pvcalls/wire.h. They do
 * not touch shared memory: a backend copies each request out of the command
 * ring first and hands the copy to pvcalls_req_parse(); a frontend does the
 * same with each response and pvcalls_rsp_parse().
 *
 * Error numbers: every function returns host errno values, as the rest of
 * libpvcalls does. The wire carries Linux's numbers (see
 * pvcalls_errno_to_wire()); the builders and parsers convert, so callers
 * only see wire numbers in the raw structures.
 *
 * Thread-safety: every function here is reentrant and may be called from any
 * thread at any time. None keeps state; the only side effect is an optional
 * debug message to the log sink (pvcalls_set_logger()).
 */
#ifndef PVCALLS_PROTO_H
#define PVCALLS_PROTO_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <pvcalls/common.h>
#include <pvcalls/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PVCALLS_WIRE_ENOTSUPP (Linux's -524 for an unknown command),
 * PVCALLS_WIRE_MAX_ERRNO and every wire errno: pvcalls/wire.h. */

/** @name Builders (frontend side)
 *
 * Each builder first zeroes the whole 64-byte request, so unused fields,
 * padding, the tail of the address field and RELEASE's reuse are all zero,
 * then fills the command's fields. @p req must not be NULL. req_id and the
 * socket ids are opaque to the library and sent as given.
 */
/**@{*/

/**
 * SOCKET. Version 1 carries only IPv4 TCP sockets.
 *
 * @param domain   host value; must be AF_INET.
 * @param type     host value; must be SOCK_STREAM. Strip SOCK_NONBLOCK and
 *                 SOCK_CLOEXEC first: they are local matters.
 * @param protocol host value; 0 or IPPROTO_TCP, both sent as 0 (IPPROTO_IP),
 *                 which is what Linux's frontend sends.
 * @return 0, or -EAFNOSUPPORT (domain), -ESOCKTNOSUPPORT (type),
 *         -EPROTONOSUPPORT (protocol). On failure *req is left zeroed.
 */
PVCALLS_API int pvcalls_req_socket(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
				   int domain, int type, int protocol);

/**
 * CONNECT. The address is encoded with pvcalls_addr_encode(); flags is 0.
 *
 * @param addr    a struct sockaddr_in (host layout, port and address in
 *                network order as usual).
 * @param addrlen at least sizeof(struct sockaddr_in).
 * @param ref     grant reference of the socket's indexes page.
 * @param evtchn  the frontend's unbound event channel for the socket.
 * @return 0, or -EINVAL (addr NULL or addrlen too short), -EAFNOSUPPORT
 *         (not AF_INET). On failure *req is left zeroed.
 */
PVCALLS_API int pvcalls_req_connect(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
				    const struct sockaddr *addr, socklen_t addrlen, uint32_t ref,
				    uint32_t evtchn);

/** RELEASE, with reuse = 0 (backends ignore it). Cannot fail. */
PVCALLS_API void pvcalls_req_release(struct pvcalls_wire_request *req, uint32_t req_id,
				     uint64_t id);

/** BIND. Same address rules and errors as pvcalls_req_connect(). */
PVCALLS_API int pvcalls_req_bind(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
				 const struct sockaddr *addr, socklen_t addrlen);

/**
 * LISTEN. A negative @p backlog means "as large as allowed", as with
 * listen(2), and is sent as INT32_MAX; the backend clamps it. Cannot fail.
 */
PVCALLS_API void pvcalls_req_listen(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
				    int backlog);

/**
 * ACCEPT on listener @p id. The accepted socket will be @p id_new, using
 * the indexes page granted as @p ref and the unbound port @p evtchn, all set
 * up before the request is sent. Cannot fail.
 */
PVCALLS_API void pvcalls_req_accept(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
				    uint64_t id_new, uint32_t ref, uint32_t evtchn);

/** POLL on listener @p id. Cannot fail. */
PVCALLS_API void pvcalls_req_poll(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id);
/**@}*/

/** @name Requests (backend side) */
/**@{*/

/**
 * A request after pvcalls_req_parse(): checked, in host types. Only the
 * member of @c u that matches @c cmd is meaningful; SOCKET, RELEASE and
 * POLL carry nothing beyond @c id (SOCKET's parameters can only have the
 * one accepted meaning, and RELEASE's reuse hint is ignored because Linux's
 * frontend never initialises it).
 */
struct pvcalls_req {
	uint32_t req_id; /**< to echo */
	uint32_t cmd;    /**< PVCALLS_WIRE_SOCKET .. PVCALLS_WIRE_POLL */
	uint64_t id;     /**< the socket acted on; for ACCEPT and POLL the listener */
	union {
		struct {
			struct sockaddr_in addr; /**< sin_zero cleared */
			uint32_t ref;            /**< indexes page grant */
			uint32_t evtchn;         /**< frontend's port */
			uint32_t flags;          /**< sent by Linux as file flags; ignore */
		} connect;
		struct {
			struct sockaddr_in addr; /**< sin_zero cleared */
		} bind;
		struct {
			int backlog; /**< wire value clamped to [0, INT_MAX] */
		} listen;
		struct {
			uint64_t id_new; /**< the socket to create */
			uint32_t ref;
			uint32_t evtchn;
		} accept;
	} u;
};

/**
 * Checks a request copied out of the command ring and decodes it.
 *
 * Only what the protocol gives a meaning to is checked; padding, the unused
 * tail of the address field, reuse and CONNECT's flags may hold anything
 * (Linux's frontend leaves stale bytes there). Socket ids, grant refs and
 * ports are not checked: the backend knows its live ids, and the hypervisor
 * (or transport) checks refs and ports when they are used.
 *
 * Per command (values on the wire):
 *  - unknown cmd: -PVCALLS_WIRE_ENOTSUPP, which pvcalls_rsp_build() sends
 *    as -524 as Linux's backend does.
 *  - SOCKET: domain 2 (AF_INET), type 1 (SOCK_STREAM) and protocol 0, or
 *    2 which Linux's backend also accepts; anything else -EAFNOSUPPORT,
 *    the value Linux's backend answers.
 *  - CONNECT, BIND: len in [16, 28] (a whole sockaddr_in, at most the field),
 *    else -EINVAL; family 2 (AF_INET), else -EAFNOSUPPORT. The order and the
 *    numbers are those a native Linux TCP socket gives connect() and bind(),
 *    which is what the guest application would have seen without PV Calls.
 *    (Linux's backend answers -EINVAL for a bad family, and lets len 2..15
 *    through only for its connect to fail with -EINVAL; it does not check
 *    BIND at all. Linux's frontend passes ret on untouched, so the difference
 *    is only in which errno the application sees.)
 *  - LISTEN: backlog is clamped into an int, never rejected.
 *  - RELEASE, ACCEPT, POLL: nothing to check.
 *
 * @param req the request; it must not be shared memory the peer can change.
 * @param out filled on success; on failure it holds req_id, cmd and id and a
 *            zeroed @c u. May be NULL to check only.
 * @return 0, -PVCALLS_WIRE_ENOTSUPP, -EAFNOSUPPORT or -EINVAL. Any non-zero
 *         result is meant to be answered with pvcalls_rsp_build().
 */
PVCALLS_API int pvcalls_req_parse(const struct pvcalls_wire_request *req, struct pvcalls_req *out);

/**
 * Builds the response to @p req: zeroes @p rsp, echoes req_id, cmd and the
 * request's id (the 8 bytes at offset 8, also for unknown commands), and
 * sets ret = pvcalls_errno_to_wire(@p err).
 *
 * @param err 0, a negative host errno, or -PVCALLS_WIRE_ENOTSUPP.
 */
PVCALLS_API void pvcalls_rsp_build(struct pvcalls_wire_response *rsp,
				   const struct pvcalls_wire_request *req, int err);
/**@}*/

/** @name Responses (frontend side) */
/**@{*/

/** A response after pvcalls_rsp_parse(). */
struct pvcalls_rsp {
	uint32_t req_id; /**< not checked: matching it is the caller's business */
	uint32_t cmd;    /**< PVCALLS_WIRE_SOCKET .. PVCALLS_WIRE_POLL */
	uint64_t id;     /**< echoed id; for ACCEPT the listener */
	int err;         /**< 0 or a negative host errno (pvcalls_errno_from_wire()) */
};

/**
 * Checks a response copied out of the command ring and decodes it.
 * The pad field is ignored. The caller must still check that req_id, cmd
 * and id match a request it has outstanding.
 *
 * @param out filled on success; may be NULL to check only.
 * @return 0 if the response is well formed (the command's outcome is then
 *         in out->err), or -EPROTO if cmd is not a version 1 command or ret is
 *         neither 0 nor in [-4095, -1].
 */
PVCALLS_API int pvcalls_rsp_parse(const struct pvcalls_wire_response *rsp, struct pvcalls_rsp *out);
/**@}*/

/** @name Addresses */
/**@{*/

/**
 * Encodes a host IPv4 address into the 28-byte address field: family 2 as
 * a 16-bit value in the page's byte order, then port and address in network
 * order, then zeros (a Linux struct sockaddr_in), and *len = 16.
 *
 * @return 0, -EINVAL (addr NULL or addrlen < sizeof(struct sockaddr_in)) or
 *         -EAFNOSUPPORT (sa_family is not AF_INET). On failure @p field is
 *         zeroed and *len set to 0.
 */
PVCALLS_API int pvcalls_addr_encode(uint8_t field[PVCALLS_WIRE_ADDR_LEN], uint32_t *len,
				    const struct sockaddr *addr, socklen_t addrlen);

/**
 * Decodes the address field of CONNECT or BIND into a host sockaddr_in
 * (sin_zero cleared; sin_len set where the host has it).
 *
 * @param len the request's len field.
 * @return 0, -EINVAL (len outside [16, 28]) or -EAFNOSUPPORT (family not 2).
 *         On failure *out is zeroed.
 */
PVCALLS_API int pvcalls_addr_decode(const uint8_t field[PVCALLS_WIRE_ADDR_LEN], uint32_t len,
				    struct sockaddr_in *out);
/**@}*/

/** @name Error numbers
 *
 * The wire carries negative Linux errno values as defined for x86, Arm and
 * most other architectures (asm-generic numbering). The mapping is a table of
 * Linux numbers against the host's E* constants, so it is the identity on
 * Linux and right on other hosts too. Xen does not run on the Linux ports
 * that number errno differently (MIPS, Alpha, SPARC, PA-RISC).
 */
/**@{*/

/**
 * Host errno to wire.
 *
 * @param err 0, a negative host errno (a positive one is treated as its
 *            negation) or -PVCALLS_WIRE_ENOTSUPP.
 * @return 0 or a negative Linux errno. Host values with no Linux equivalent
 *         become -5 (EIO), with a debug message. Host EOPNOTSUPP is sent as
 *         -95; only -PVCALLS_WIRE_ENOTSUPP is sent as -524.
 */
PVCALLS_API int32_t pvcalls_errno_to_wire(int err);

/**
 * Wire errno to host.
 *
 * @return 0 for 0; the host's negative errno for a known Linux value;
 *         -EOPNOTSUPP for -524; -EIO, with a debug message, for an unknown
 *         value in [-4095, -1] (plausible, just not one we know); -EPROTO for
 *         anything else (positive, or below -4095).
 */
PVCALLS_API int pvcalls_errno_from_wire(int32_t wire);
/**@}*/

/** @name Helpers */
/**@{*/

/**
 * Name of a command: "SOCKET", "CONNECT", "RELEASE", "BIND", "LISTEN",
 * "ACCEPT", "POLL", the extensions' "SHUTDOWN", "GETSOCKNAME",
 * "GETPEERNAME", "SETSOCKOPT", "GETSOCKOPT", "DGRAM_RINGS", "RING_FREE",
 * "SENDTO"
 * (<pvcalls/wire_ext.h>), or "UNKNOWN" for anything else. Never NULL; static.
 */
PVCALLS_API const char *pvcalls_cmd_name(uint32_t cmd);

/**
 * Checks a data ring order read (once) from an indexes page.
 *
 * @param order     the ring_order value.
 * @param max_order the largest order this end accepts (what a backend
 *                  advertised as max-page-order); values above
 *                  PVCALLS_WIRE_MAX_RING_ORDER are treated as that maximum.
 * @return 0 if order <= max_order, else -EINVAL. Order 0 is accepted, as
 *         Linux's backend accepts it although the spec says 1.
 */
PVCALLS_API int pvcalls_proto_check_ring_order(uint32_t order, uint32_t max_order);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_PROTO_H */
