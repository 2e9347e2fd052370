/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/wire_ext.h
 * @brief libpvcalls's negotiated extensions to PV Calls version 1:
 *        command numbers, store keys, request and response layouts,
 *        option identifiers and the datagram record header.
 *
 * docs/extensions.md is the specification; this header is its C form and
 * says nothing the document does not. Everything here is used only after
 * negotiation through the store keys below: a peer that does not take part
 * (Linux's pvcalls-front and pvcalls-back) never sees any of it, and the
 * "versions" string stays "1".
 *
 * Conventions are those of pvcalls/wire.h: little-endian integers in the
 * byte order of the two domains, except the port, the IPv4 address, the
 * IPv6 address and the IPv6 flow label inside a sockaddr, which are in
 * network order as in any sockaddr_in/sockaddr_in6. Errors are negative
 * Linux (asm-generic) errno values. Every request is the 64-byte v1 request
 * (req_id, cmd, 56-byte union) and every response the 24-byte v1 response,
 * whose word at offset 12 (v1's padding) is named @c val here.
 *
 * Each offset and size is checked at compile time at the end of this file
 * and again at run time by tests/wire/check_wire_ext.c.
 */
#ifndef PVCALLS_WIRE_EXT_H
#define PVCALLS_WIRE_EXT_H

#include <stddef.h>
#include <stdint.h>

#include <pvcalls/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Command numbers (docs/extensions.md, "Command numbers")
 *
 * One private range, far above v1's dense 0..6 (which any upstream
 * addition would continue), below 2^31 so that a signed 32-bit copy of
 * cmd stays positive and a "cmd < NR_CMDS" check still rejects it. The
 * high half reads "lp" (libpvcalls) in a hex dump of the value.
 */
/**@{*/
#define PVCALLS_EXT_CMD_BASE 0x6c700000u
#define PVCALLS_EXT_CMD_MASK 0xffff0000u    /**< (cmd & MASK) == BASE: ours */
#define PVCALLS_EXT_SHUTDOWN 0x6c700001u    /**< feature "shutdown" */
#define PVCALLS_EXT_GETSOCKNAME 0x6c700002u /**< feature "names" */
#define PVCALLS_EXT_GETPEERNAME 0x6c700003u /**< feature "names" */
#define PVCALLS_EXT_SETSOCKOPT 0x6c700004u  /**< feature "sockopt" */
#define PVCALLS_EXT_GETSOCKOPT 0x6c700005u  /**< feature "sockopt" */
#define PVCALLS_EXT_DGRAM_RINGS 0x6c700006u /**< feature "dgram" */
#define PVCALLS_EXT_RING_FREE 0x6c700007u   /**< feature "ring-reuse" */
/** Never on the ring: the command number policy and audit use for a datagram's destination. */
#define PVCALLS_EXT_SENDTO 0x6c708001u
/**@}*/

/** @name Store keys (docs/extensions.md, "Negotiation")
 *
 * Each is written as "1" by the backend in its directory (offer) and by the
 * frontend in its own (use), the frontend's in the transaction that writes
 * ring-ref and port. An extension is in force only when both are "1".
 */
/**@{*/
#define PVCALLS_EXT_KEY_SHUTDOWN "feature-libpvcalls-shutdown"
#define PVCALLS_EXT_KEY_NAMES "feature-libpvcalls-names"
#define PVCALLS_EXT_KEY_SOCKOPT "feature-libpvcalls-sockopt"
#define PVCALLS_EXT_KEY_INET6 "feature-libpvcalls-inet6"
#define PVCALLS_EXT_KEY_DGRAM "feature-libpvcalls-dgram"
#define PVCALLS_EXT_KEY_RING_REUSE "feature-libpvcalls-ring-reuse"
/** The wait-hint extension predates the prefix; its key keeps its name. */
#define PVCALLS_EXT_KEY_WAIT_HINT "feature-wait-hint"
/** The only value that offers or accepts an extension. */
#define PVCALLS_EXT_KEY_VALUE "1"
/**@}*/

/** @name Socket parameters the extensions add (Linux numbers) */
/**@{*/
#define PVCALLS_EXT_AF_UNSPEC 0u
#define PVCALLS_EXT_AF_INET6 10u
#define PVCALLS_EXT_SOCK_DGRAM 2u
#define PVCALLS_EXT_IPPROTO_TCP 6u
#define PVCALLS_EXT_IPPROTO_UDP 17u
/** Size of a Linux struct sockaddr_in6: exactly the v1 address field. */
#define PVCALLS_EXT_SOCKADDR_IN6_LEN 28u
/** The RFC 2133 sockaddr_in6 without sin6_scope_id, also accepted. */
#define PVCALLS_EXT_SOCKADDR_IN6_MIN_LEN 24u
/**@}*/

/** @name SHUTDOWN's how (Linux's SHUT_* values) */
/**@{*/
#define PVCALLS_EXT_SHUT_RD 0u
#define PVCALLS_EXT_SHUT_WR 1u
#define PVCALLS_EXT_SHUT_RDWR 2u
/**@}*/

/** @name Option identifiers (docs/extensions.md, "Option identifiers")
 *
 * Our own stable enumeration, not Linux's (level, name) pairs: the set is
 * closed and explicit, a backend on another OS maps each id with a table,
 * and each id fixes its value's encoding. 0 is never valid.
 * Values are int32_t (4 bytes) except SO_LINGER (struct pvcalls_ext_linger).
 */
/**@{*/
#define PVCALLS_EXT_OPT_TCP_NODELAY 1u      /**< IPPROTO_TCP, bool */
#define PVCALLS_EXT_OPT_SO_KEEPALIVE 2u     /**< SOL_SOCKET, bool */
#define PVCALLS_EXT_OPT_TCP_KEEPIDLE 3u     /**< IPPROTO_TCP, seconds */
#define PVCALLS_EXT_OPT_TCP_KEEPINTVL 4u    /**< IPPROTO_TCP, seconds */
#define PVCALLS_EXT_OPT_TCP_KEEPCNT 5u      /**< IPPROTO_TCP, probes */
#define PVCALLS_EXT_OPT_SO_LINGER 6u        /**< SOL_SOCKET, struct pvcalls_ext_linger */
#define PVCALLS_EXT_OPT_SO_RCVBUF 7u        /**< SOL_SOCKET, bytes */
#define PVCALLS_EXT_OPT_SO_SNDBUF 8u        /**< SOL_SOCKET, bytes */
#define PVCALLS_EXT_OPT_TCP_USER_TIMEOUT 9u /**< IPPROTO_TCP, milliseconds */
#define PVCALLS_EXT_OPT_SO_REUSEADDR 10u    /**< SOL_SOCKET, bool */
#define PVCALLS_EXT_OPT_SO_REUSEPORT 11u    /**< SOL_SOCKET, bool */
#define PVCALLS_EXT_OPT_IP_TOS 12u          /**< IPPROTO_IP, 0..255 */
#define PVCALLS_EXT_OPT_IPV6_V6ONLY 13u     /**< IPPROTO_IPV6, bool; AF_INET6 only */
#define PVCALLS_EXT_OPT_IPV6_TCLASS 14u     /**< IPPROTO_IPV6, -1..255; AF_INET6 only */
#define PVCALLS_EXT_OPT_NR 15u              /**< one past the last id */
/** Largest option value on the wire (SETSOCKOPT's val field). */
#define PVCALLS_EXT_OPT_MAX_LEN 16u
/**@}*/

/** SO_LINGER's value: Linux's struct linger, two int32_t. */
struct pvcalls_ext_linger {
	int32_t onoff;  /**< 0 or 1 */
	int32_t linger; /**< seconds */
};

/**
 * struct sockaddr_in6 as it sits in an address field, a reply area or a
 * datagram header (28 bytes, Linux layout). Only 4-byte alignment is
 * assumed; copy it out before use.
 */
struct pvcalls_ext_sockaddr_in6 {
	uint16_t family;   /**< PVCALLS_EXT_AF_INET6, little-endian */
	uint16_t port;     /**< network order */
	uint32_t flowinfo; /**< network order */
	uint8_t addr[16];  /**< network order */
	uint32_t scope_id; /**< little-endian: an interface index of the backend's host */
};

/** struct sockaddr_in as it sits in the same places (16 bytes). */
struct pvcalls_ext_sockaddr_in {
	uint16_t family; /**< PVCALLS_WIRE_AF_INET, little-endian */
	uint16_t port;   /**< network order */
	uint32_t addr;   /**< network order */
	uint8_t zero[8];
};

/** @name Reply areas (docs/extensions.md, "Reply areas")
 *
 * The command ring occupies the first 2112 bytes of its page. The next
 * 32 x 56 bytes hold one reply area per outstanding request; a request that
 * returns more than fits in a response names an area, and the backend
 * writes the result there before it pushes the response.
 */
/**@{*/
#define PVCALLS_EXT_REPLY_OFFSET 2112u
#define PVCALLS_EXT_REPLY_SIZE 56u
#define PVCALLS_EXT_REPLY_AREAS 32u
#define PVCALLS_EXT_REPLY_AREA_OFFSET(n) (PVCALLS_EXT_REPLY_OFFSET + (n)*PVCALLS_EXT_REPLY_SIZE)
/**@}*/

/** An extension request: the v1 request with the extensions' union members. */
struct pvcalls_ext_request {
	uint32_t req_id; /**< as in v1 */
	uint32_t cmd;    /**< PVCALLS_EXT_SHUTDOWN .. PVCALLS_EXT_RING_FREE */
	union {
		struct pvcalls_ext_shutdown {
			uint64_t id;
			uint32_t how; /**< PVCALLS_EXT_SHUT_* */
			uint8_t pad[4];
		} shutdown;
		/** GETSOCKNAME and GETPEERNAME. */
		struct pvcalls_ext_getname {
			uint64_t id;
			uint32_t area; /**< reply area 0..31 */
			uint8_t pad[4];
		} getname;
		struct pvcalls_ext_setsockopt {
			uint64_t id;
			uint32_t opt; /**< PVCALLS_EXT_OPT_* */
			uint32_t len; /**< bytes of val used: 4, or 8 for SO_LINGER */
			uint8_t val[PVCALLS_EXT_OPT_MAX_LEN];
		} setsockopt;
		struct pvcalls_ext_getsockopt {
			uint64_t id;
			uint32_t opt;  /**< PVCALLS_EXT_OPT_* */
			uint32_t area; /**< reply area 0..31 */
		} getsockopt;
		struct pvcalls_ext_dgram_rings {
			uint64_t id;
			uint32_t ref;    /**< grant ref of the indexes page */
			uint32_t evtchn; /**< frontend's unbound port */
		} dgram_rings;
		/** RING_FREE (docs/extensions.md, "Ring reuse"). */
		struct pvcalls_ext_ring_free {
			uint64_t id;     /**< MUST be 0 (names no socket) */
			uint32_t ref;    /**< the parked ring's indexes-page grant ref */
			uint32_t evtchn; /**< the parked ring's port (the frontend's) */
		} ring_free;
		uint8_t dummy[56]; /**< the v1 size */
	} u;
};

/** An extension response: the v1 response with its padding word named. */
struct pvcalls_ext_response {
	uint32_t req_id; /**< echoed */
	uint32_t cmd;    /**< echoed */
	int32_t ret;     /**< 0 or a negative Linux errno */
	uint32_t val;    /**< bytes written to the reply area (GET*); else 0 */
	union {
		uint64_t id; /**< the request's id, echoed */
		uint8_t dummy[8];
	} u;
};

/** @name Datagram records (docs/extensions.md, "Datagram records") */
/**@{*/
/**
 * The header before each datagram on the data rings of a SOCK_DGRAM socket.
 * A record is the header and len payload bytes, padded with zeros to a
 * multiple of 8; records start at ring indexes that are multiples of 8 and
 * may wrap around the end of the ring like any other bytes.
 */
struct pvcalls_ext_dgram_hdr {
	uint32_t len;      /**< payload bytes that follow */
	uint32_t full_len; /**< in: the datagram's size on the host (> len: cut); out: = len */
	int32_t err;       /**< in: 0, or a negative errno (an error record, len 0); out: 0 */
	uint8_t addr[28];  /**< sockaddr_in/_in6, or family 0: none (out: the connected peer) */
};
#define PVCALLS_EXT_DGRAM_HDR_LEN 40u
#define PVCALLS_EXT_DGRAM_ALIGN 8u
/** Largest UDP payload over IPv4 (65535 - 20 - 8) and over IPv6 (65535 - 8). */
#define PVCALLS_EXT_DGRAM_MAX_INET 65507u
#define PVCALLS_EXT_DGRAM_MAX_INET6 65527u
/** Ring bytes a record of @p len payload bytes takes. */
#define PVCALLS_EXT_DGRAM_RECORD_LEN(len) \
	(PVCALLS_EXT_DGRAM_HDR_LEN +      \
	 (((len) + PVCALLS_EXT_DGRAM_ALIGN - 1u) & ~(PVCALLS_EXT_DGRAM_ALIGN - 1u)))
/**@}*/

/** @name The wait-hint extension (docs/extensions.md, "Wait hints") */
/**@{*/
#define PVCALLS_EXT_HINT_FRONT_OFFSET 12u /**< indexes page: first word of pad1 */
#define PVCALLS_EXT_HINT_BACK_OFFSET 76u  /**< indexes page: first word of pad2 */
/**@}*/

/* Compile-time layout checks (C or C++ as wire.h decides). */
#define PVCALLS_EXT_ASSERT(c, m) PVCALLS_WIRE_ASSERT(c, m)
#define PVCALLS_EXT_MSZ(m, n)                                                     \
	PVCALLS_EXT_ASSERT(sizeof(((struct pvcalls_ext_request *)0)->u.m) == (n), \
			   #m " is " #n " bytes")
#define PVCALLS_EXT_OFF(t, f, o) \
	PVCALLS_EXT_ASSERT(offsetof(struct t, f) == (o), #t "." #f " at " #o)

PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_request) == sizeof(struct pvcalls_wire_request),
		   "extension requests are v1-sized");
PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_request) == 64, "request is 64 bytes");
PVCALLS_EXT_OFF(pvcalls_ext_request, req_id, 0);
PVCALLS_EXT_OFF(pvcalls_ext_request, cmd, 4);
PVCALLS_EXT_OFF(pvcalls_ext_request, u, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.shutdown.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.shutdown.how, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.shutdown.pad, 20);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getname.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getname.area, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getname.pad, 20);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.setsockopt.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.setsockopt.opt, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.setsockopt.len, 20);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.setsockopt.val, 24);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getsockopt.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getsockopt.opt, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.getsockopt.area, 20);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.dgram_rings.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.dgram_rings.ref, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.dgram_rings.evtchn, 20);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.ring_free.id, 8);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.ring_free.ref, 16);
PVCALLS_EXT_OFF(pvcalls_ext_request, u.ring_free.evtchn, 20);
PVCALLS_EXT_ASSERT(sizeof(((struct pvcalls_ext_request *)0)->u) == 56, "union is 56 bytes");
PVCALLS_EXT_MSZ(shutdown, 16);
PVCALLS_EXT_MSZ(getname, 16);
PVCALLS_EXT_MSZ(setsockopt, 32);
PVCALLS_EXT_MSZ(getsockopt, 16);
PVCALLS_EXT_MSZ(dgram_rings, 16);
PVCALLS_EXT_MSZ(ring_free, 16);

PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_response) == sizeof(struct pvcalls_wire_response),
		   "extension responses are v1-sized");
PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_response) == 24, "response is 24 bytes");
PVCALLS_EXT_OFF(pvcalls_ext_response, req_id, 0);
PVCALLS_EXT_OFF(pvcalls_ext_response, cmd, 4);
PVCALLS_EXT_OFF(pvcalls_ext_response, ret, 8);
PVCALLS_EXT_OFF(pvcalls_ext_response, val, 12);
PVCALLS_EXT_OFF(pvcalls_ext_response, u.id, 16);

PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_sockaddr_in6) == PVCALLS_EXT_SOCKADDR_IN6_LEN,
		   "sockaddr_in6 is 28 bytes");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_SOCKADDR_IN6_LEN == PVCALLS_WIRE_ADDR_LEN,
		   "sockaddr_in6 fills the v1 address field exactly");
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in6, family, 0);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in6, port, 2);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in6, flowinfo, 4);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in6, addr, 8);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in6, scope_id, 24);
PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_sockaddr_in) == PVCALLS_WIRE_SOCKADDR_IN_LEN,
		   "sockaddr_in is 16 bytes");
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in, family, 0);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in, port, 2);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in, addr, 4);
PVCALLS_EXT_OFF(pvcalls_ext_sockaddr_in, zero, 8);

PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_linger) == 8, "linger is 8 bytes");
PVCALLS_EXT_OFF(pvcalls_ext_linger, onoff, 0);
PVCALLS_EXT_OFF(pvcalls_ext_linger, linger, 4);
PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_linger) <= PVCALLS_EXT_OPT_MAX_LEN,
		   "every option value fits SETSOCKOPT's val");

PVCALLS_EXT_ASSERT(PVCALLS_EXT_REPLY_OFFSET == sizeof(struct pvcalls_wire_cmd_sring),
		   "reply areas start right after the 32 ring slots");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_REPLY_AREAS == PVCALLS_WIRE_CMD_RING_SIZE,
		   "one reply area per possible outstanding request");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_REPLY_AREA_OFFSET(PVCALLS_EXT_REPLY_AREAS) <= PVCALLS_WIRE_PAGE_SIZE,
		   "reply areas fit the command ring page");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_REPLY_SIZE % 8u == 0, "reply areas are 8-byte aligned");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_SOCKADDR_IN6_LEN <= PVCALLS_EXT_REPLY_SIZE &&
			   PVCALLS_EXT_OPT_MAX_LEN <= PVCALLS_EXT_REPLY_SIZE,
		   "every reply fits an area");

PVCALLS_EXT_ASSERT(sizeof(struct pvcalls_ext_dgram_hdr) == PVCALLS_EXT_DGRAM_HDR_LEN,
		   "datagram header is 40 bytes");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_DGRAM_HDR_LEN % PVCALLS_EXT_DGRAM_ALIGN == 0,
		   "payload starts aligned");
PVCALLS_EXT_OFF(pvcalls_ext_dgram_hdr, len, 0);
PVCALLS_EXT_OFF(pvcalls_ext_dgram_hdr, full_len, 4);
PVCALLS_EXT_OFF(pvcalls_ext_dgram_hdr, err, 8);
PVCALLS_EXT_OFF(pvcalls_ext_dgram_hdr, addr, 12);
PVCALLS_EXT_ASSERT(PVCALLS_EXT_DGRAM_RECORD_LEN(PVCALLS_EXT_DGRAM_MAX_INET6) == 65568u,
		   "largest record is 65568 bytes");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_DGRAM_RECORD_LEN(PVCALLS_EXT_DGRAM_MAX_INET6) >
			   PVCALLS_WIRE_DATA_RING_SIZE(5),
		   "a largest datagram needs ring order 6");

PVCALLS_EXT_ASSERT(PVCALLS_EXT_HINT_FRONT_OFFSET == offsetof(struct pvcalls_wire_data_intf, pad1),
		   "front hint is the first pad1 word");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_HINT_BACK_OFFSET == offsetof(struct pvcalls_wire_data_intf, pad2),
		   "back hint is the first pad2 word");

PVCALLS_EXT_ASSERT((PVCALLS_EXT_SHUTDOWN & PVCALLS_EXT_CMD_MASK) == PVCALLS_EXT_CMD_BASE &&
			   (PVCALLS_EXT_DGRAM_RINGS & PVCALLS_EXT_CMD_MASK) ==
				   PVCALLS_EXT_CMD_BASE &&
			   (PVCALLS_EXT_SENDTO & PVCALLS_EXT_CMD_MASK) == PVCALLS_EXT_CMD_BASE,
		   "commands are in the private range");
PVCALLS_EXT_ASSERT(PVCALLS_EXT_CMD_BASE < 0x80000000u, "below 2^31");

#undef PVCALLS_EXT_OFF
#undef PVCALLS_EXT_MSZ

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_WIRE_EXT_H */
