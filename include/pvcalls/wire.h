/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/wire.h
 * @brief PV Calls protocol version 1: on-wire structures and constants.
 *
 * Byte-exact with Xen's public header xen/include/public/io/pvcalls.h and
 * the ring layout of xen/include/public/io/ring.h, but self-contained: no Xen
 * header is needed to use it. Names carry a pvcalls_wire_ / PVCALLS_WIRE_
 * prefix so this header can be included next to Xen's.
 *
 * All multi-byte fields are in the byte order of the machines sharing the
 * page (little-endian on every Xen architecture), except the port and address
 * inside a sockaddr, which are in network order as in any sockaddr_in.
 *
 * Each offset below is checked at compile time (see the end of this file),
 * and tests/wire compares every one against Xen's own header.
 */
#ifndef PVCALLS_WIRE_H
#define PVCALLS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Ring protocols always use 4 KiB pages, whatever the OS page size. */
#define PVCALLS_WIRE_PAGE_SHIFT 12
#define PVCALLS_WIRE_PAGE_SIZE (1u << PVCALLS_WIRE_PAGE_SHIFT)

/** @name Command numbers (the #defines of the spec; its per-command prose is wrong). */
/**@{*/
#define PVCALLS_WIRE_SOCKET 0u
#define PVCALLS_WIRE_CONNECT 1u
#define PVCALLS_WIRE_RELEASE 2u
#define PVCALLS_WIRE_BIND 3u
#define PVCALLS_WIRE_LISTEN 4u
#define PVCALLS_WIRE_ACCEPT 5u
#define PVCALLS_WIRE_POLL 6u
#define PVCALLS_WIRE_NR_CMDS 7u
/**@}*/

/** Socket parameters defined by protocol version 1 (Linux numbering). */
#define PVCALLS_WIRE_AF_INET 2u
#define PVCALLS_WIRE_SOCK_STREAM 1u
#define PVCALLS_WIRE_IPPROTO_IP 0u

/** Size of the address field of CONNECT and BIND. */
#define PVCALLS_WIRE_ADDR_LEN 28u
/** Size of a Linux struct sockaddr_in, the meaningful part of that field. */
#define PVCALLS_WIRE_SOCKADDR_IN_LEN 16u

/**
 * @name Error numbers on the wire
 *
 * A response's ret and a data ring's in_error/out_error are 0 or a negative
 * Linux errno as x86, Arm and RISC-V number them (asm-generic), whatever the
 * host: the wire value of ECONNREFUSED is -PVCALLS_WIRE_ECONNREFUSED. Like
 * Xen's XEN_E* (xen/include/public/errno.h), these are the positive
 * magnitudes. pvcalls_errno_to_wire() and pvcalls_errno_from_wire()
 * (pvcalls/proto.h) translate to and from the host's E* values, which differ
 * on hosts other than Linux.
 */
/**@{*/
#define PVCALLS_WIRE_EPERM 1
#define PVCALLS_WIRE_ENOENT 2
#define PVCALLS_WIRE_ESRCH 3
#define PVCALLS_WIRE_EINTR 4
#define PVCALLS_WIRE_EIO 5
#define PVCALLS_WIRE_ENXIO 6
#define PVCALLS_WIRE_E2BIG 7
#define PVCALLS_WIRE_ENOEXEC 8
#define PVCALLS_WIRE_EBADF 9
#define PVCALLS_WIRE_ECHILD 10
#define PVCALLS_WIRE_EAGAIN 11
#define PVCALLS_WIRE_ENOMEM 12
#define PVCALLS_WIRE_EACCES 13
#define PVCALLS_WIRE_EFAULT 14
#define PVCALLS_WIRE_ENOTBLK 15
#define PVCALLS_WIRE_EBUSY 16
#define PVCALLS_WIRE_EEXIST 17
#define PVCALLS_WIRE_EXDEV 18
#define PVCALLS_WIRE_ENODEV 19
#define PVCALLS_WIRE_ENOTDIR 20
#define PVCALLS_WIRE_EISDIR 21
#define PVCALLS_WIRE_EINVAL 22
#define PVCALLS_WIRE_ENFILE 23
#define PVCALLS_WIRE_EMFILE 24
#define PVCALLS_WIRE_ENOTTY 25
#define PVCALLS_WIRE_ETXTBSY 26
#define PVCALLS_WIRE_EFBIG 27
#define PVCALLS_WIRE_ENOSPC 28
#define PVCALLS_WIRE_ESPIPE 29
#define PVCALLS_WIRE_EROFS 30
#define PVCALLS_WIRE_EMLINK 31
#define PVCALLS_WIRE_EPIPE 32
#define PVCALLS_WIRE_EDOM 33
#define PVCALLS_WIRE_ERANGE 34
#define PVCALLS_WIRE_EDEADLK 35
#define PVCALLS_WIRE_ENAMETOOLONG 36
#define PVCALLS_WIRE_ENOLCK 37
#define PVCALLS_WIRE_ENOSYS 38
#define PVCALLS_WIRE_ENOTEMPTY 39
#define PVCALLS_WIRE_ELOOP 40
#define PVCALLS_WIRE_ENOMSG 42
#define PVCALLS_WIRE_EIDRM 43
#define PVCALLS_WIRE_ECHRNG 44
#define PVCALLS_WIRE_EL2NSYNC 45
#define PVCALLS_WIRE_EL3HLT 46
#define PVCALLS_WIRE_EL3RST 47
#define PVCALLS_WIRE_ELNRNG 48
#define PVCALLS_WIRE_EUNATCH 49
#define PVCALLS_WIRE_ENOCSI 50
#define PVCALLS_WIRE_EL2HLT 51
#define PVCALLS_WIRE_EBADE 52
#define PVCALLS_WIRE_EBADR 53
#define PVCALLS_WIRE_EXFULL 54
#define PVCALLS_WIRE_ENOANO 55
#define PVCALLS_WIRE_EBADRQC 56
#define PVCALLS_WIRE_EBADSLT 57
#define PVCALLS_WIRE_EBFONT 59
#define PVCALLS_WIRE_ENOSTR 60
#define PVCALLS_WIRE_ENODATA 61
#define PVCALLS_WIRE_ETIME 62
#define PVCALLS_WIRE_ENOSR 63
#define PVCALLS_WIRE_ENONET 64
#define PVCALLS_WIRE_ENOPKG 65
#define PVCALLS_WIRE_EREMOTE 66
#define PVCALLS_WIRE_ENOLINK 67
#define PVCALLS_WIRE_EADV 68
#define PVCALLS_WIRE_ESRMNT 69
#define PVCALLS_WIRE_ECOMM 70
#define PVCALLS_WIRE_EPROTO 71
#define PVCALLS_WIRE_EMULTIHOP 72
#define PVCALLS_WIRE_EDOTDOT 73
#define PVCALLS_WIRE_EBADMSG 74
#define PVCALLS_WIRE_EOVERFLOW 75
#define PVCALLS_WIRE_ENOTUNIQ 76
#define PVCALLS_WIRE_EBADFD 77
#define PVCALLS_WIRE_EREMCHG 78
#define PVCALLS_WIRE_ELIBACC 79
#define PVCALLS_WIRE_ELIBBAD 80
#define PVCALLS_WIRE_ELIBSCN 81
#define PVCALLS_WIRE_ELIBMAX 82
#define PVCALLS_WIRE_ELIBEXEC 83
#define PVCALLS_WIRE_EILSEQ 84
#define PVCALLS_WIRE_ERESTART 85
#define PVCALLS_WIRE_ESTRPIPE 86
#define PVCALLS_WIRE_EUSERS 87
#define PVCALLS_WIRE_ENOTSOCK 88
#define PVCALLS_WIRE_EDESTADDRREQ 89
#define PVCALLS_WIRE_EMSGSIZE 90
#define PVCALLS_WIRE_EPROTOTYPE 91
#define PVCALLS_WIRE_ENOPROTOOPT 92
#define PVCALLS_WIRE_EPROTONOSUPPORT 93
#define PVCALLS_WIRE_ESOCKTNOSUPPORT 94
#define PVCALLS_WIRE_EOPNOTSUPP 95
#define PVCALLS_WIRE_EPFNOSUPPORT 96
#define PVCALLS_WIRE_EAFNOSUPPORT 97
#define PVCALLS_WIRE_EADDRINUSE 98
#define PVCALLS_WIRE_EADDRNOTAVAIL 99
#define PVCALLS_WIRE_ENETDOWN 100
#define PVCALLS_WIRE_ENETUNREACH 101
#define PVCALLS_WIRE_ENETRESET 102
#define PVCALLS_WIRE_ECONNABORTED 103
#define PVCALLS_WIRE_ECONNRESET 104
#define PVCALLS_WIRE_ENOBUFS 105
#define PVCALLS_WIRE_EISCONN 106
#define PVCALLS_WIRE_ENOTCONN 107
#define PVCALLS_WIRE_ESHUTDOWN 108
#define PVCALLS_WIRE_ETOOMANYREFS 109
#define PVCALLS_WIRE_ETIMEDOUT 110
#define PVCALLS_WIRE_ECONNREFUSED 111
#define PVCALLS_WIRE_EHOSTDOWN 112
#define PVCALLS_WIRE_EHOSTUNREACH 113
#define PVCALLS_WIRE_EALREADY 114
#define PVCALLS_WIRE_EINPROGRESS 115
#define PVCALLS_WIRE_ESTALE 116
#define PVCALLS_WIRE_EUCLEAN 117
#define PVCALLS_WIRE_ENOTNAM 118
#define PVCALLS_WIRE_ENAVAIL 119
#define PVCALLS_WIRE_EISNAM 120
#define PVCALLS_WIRE_EREMOTEIO 121
#define PVCALLS_WIRE_EDQUOT 122
#define PVCALLS_WIRE_ENOMEDIUM 123
#define PVCALLS_WIRE_EMEDIUMTYPE 124
#define PVCALLS_WIRE_ECANCELED 125
#define PVCALLS_WIRE_ENOKEY 126
#define PVCALLS_WIRE_EKEYEXPIRED 127
#define PVCALLS_WIRE_EKEYREVOKED 128
#define PVCALLS_WIRE_EKEYREJECTED 129
#define PVCALLS_WIRE_EOWNERDEAD 130
#define PVCALLS_WIRE_ENOTRECOVERABLE 131
#define PVCALLS_WIRE_ERFKILL 132
#define PVCALLS_WIRE_EHWPOISON 133
/* Linux's aliases. */
#define PVCALLS_WIRE_EWOULDBLOCK PVCALLS_WIRE_EAGAIN
#define PVCALLS_WIRE_EDEADLOCK PVCALLS_WIRE_EDEADLK
#define PVCALLS_WIRE_ENOTSUP PVCALLS_WIRE_EOPNOTSUPP
/**
 * Linux's kernel-internal ENOTSUPP (not ENOTSUP, which is EOPNOTSUPP).
 * Linux's backend answers a command it does not know with ret = -524, and
 * so do we. It is no host errno: the library uses -PVCALLS_WIRE_ENOTSUPP
 * only as the result of pvcalls_req_parse() for an unknown command, so that
 * the value can be passed straight to pvcalls_rsp_build().
 * pvcalls_errno_from_wire() turns it into -EOPNOTSUPP.
 */
#define PVCALLS_WIRE_ENOTSUPP 524
/** Largest errno magnitude on the wire (Linux's MAX_ERRNO). */
#define PVCALLS_WIRE_MAX_ERRNO 4095
/**@}*/

/** @name Xenstore keys and values of the negotiation (spec, "Xenstore"). */
/**@{*/
#define PVCALLS_WIRE_DEVICE_TYPE "pvcalls"
#define PVCALLS_WIRE_KEY_VERSIONS "versions"             /* backend */
#define PVCALLS_WIRE_KEY_MAX_PAGE_ORDER "max-page-order" /* backend */
#define PVCALLS_WIRE_KEY_FUNCTION_CALLS "function-calls" /* backend */
#define PVCALLS_WIRE_KEY_VERSION "version"               /* frontend */
#define PVCALLS_WIRE_KEY_RING_REF "ring-ref"             /* frontend */
#define PVCALLS_WIRE_KEY_PORT "port"                     /* frontend */
#define PVCALLS_WIRE_KEY_STATE "state"                   /* both */
/** Linux's frontend compares "versions" with exactly this string. */
#define PVCALLS_WIRE_VERSIONS "1"
/** "function-calls" value meaning the seven commands of version 1. */
#define PVCALLS_WIRE_FUNCTION_CALLS "1"
/**@}*/

/** Values of the "state" node (xen/include/public/io/xenbus.h). */
enum pvcalls_wire_xenbus_state {
	PVCALLS_XENBUS_UNKNOWN = 0,
	PVCALLS_XENBUS_INITIALISING = 1,
	PVCALLS_XENBUS_INITWAIT = 2,
	PVCALLS_XENBUS_INITIALISED = 3,
	PVCALLS_XENBUS_CONNECTED = 4,
	PVCALLS_XENBUS_CLOSING = 5,
	PVCALLS_XENBUS_CLOSED = 6,
	PVCALLS_XENBUS_RECONFIGURING = 7,
	PVCALLS_XENBUS_RECONFIGURED = 8,
};

/** A request: 64 bytes on every architecture. */
struct pvcalls_wire_request {
	uint32_t req_id; /**< chosen by the frontend, echoed in the response */
	uint32_t cmd;    /**< PVCALLS_WIRE_SOCKET .. PVCALLS_WIRE_POLL */
	union {
		struct pvcalls_wire_socket {
			uint64_t id;
			uint32_t domain;
			uint32_t type;
			uint32_t protocol;
			uint8_t pad[4];
		} socket;
		struct pvcalls_wire_connect {
			uint64_t id;
			uint8_t addr[PVCALLS_WIRE_ADDR_LEN];
			uint32_t len;
			uint32_t flags;
			uint32_t ref;    /**< grant ref of the indexes page */
			uint32_t evtchn; /**< frontend's unbound port */
			uint8_t pad[4];
		} connect;
		struct pvcalls_wire_release {
			uint64_t id;
			uint8_t reuse; /**< a hint; Linux leaves it as garbage */
			uint8_t pad[7];
		} release;
		struct pvcalls_wire_bind {
			uint64_t id;
			uint8_t addr[PVCALLS_WIRE_ADDR_LEN];
			uint32_t len;
		} bind;
		struct pvcalls_wire_listen {
			uint64_t id;
			uint32_t backlog;
			uint8_t pad[4];
		} listen;
		struct pvcalls_wire_accept {
			uint64_t id; /**< the listening socket */
			uint64_t id_new;
			uint32_t ref;
			uint32_t evtchn;
		} accept;
		struct pvcalls_wire_poll {
			uint64_t id;
		} poll;
		uint8_t dummy[56]; /**< fixes the size across architectures */
	} u;
};

/** A response: 24 bytes. It occupies the first 24 bytes of a 64-byte slot. */
struct pvcalls_wire_response {
	uint32_t req_id; /**< echoed */
	uint32_t cmd;    /**< echoed */
	int32_t ret;     /**< 0 or a negative Linux errno */
	uint32_t pad;
	union {
		uint64_t id; /**< the request's id; for ACCEPT the listener's */
		uint8_t dummy[8];
	} u;
};

/** A command-ring slot: requests and responses share the slots. */
union pvcalls_wire_cmd_slot {
	struct pvcalls_wire_request req;
	struct pvcalls_wire_response rsp;
};

/** Slots in the one-page command ring: (4096 - 64) / 64 rounded down to a power of two. */
#define PVCALLS_WIRE_CMD_RING_SIZE 32u

/**
 * The command ring page (DEFINE_RING_TYPES(xen_pvcalls, ...)). The 48
 * bytes after the four indexes are padding on the wire.
 */
struct pvcalls_wire_cmd_sring {
	uint32_t req_prod;
	uint32_t req_event;
	uint32_t rsp_prod;
	uint32_t rsp_event;
	uint8_t pad[48];
	union pvcalls_wire_cmd_slot ring[PVCALLS_WIRE_CMD_RING_SIZE];
};

/** Largest data-ring order that fits the indexes page (2^9 refs; spec N.B.). */
#define PVCALLS_WIRE_MAX_RING_ORDER 9u
/** Largest order Linux's pvcalls-back accepts and its frontend uses. */
#define PVCALLS_WIRE_LINUX_RING_ORDER 4u

/**
 * Bytes in each direction of a data ring of @p order (XEN_FLEX_RING_SIZE):
 * 2^order pages hold both halves, so each is 2^(order + 11) bytes.
 */
#define PVCALLS_WIRE_DATA_RING_SIZE(order) (1u << ((order) + PVCALLS_WIRE_PAGE_SHIFT - 1))

/**
 * The indexes page of an active socket (struct pvcalls_data_intf).
 * in: backend to frontend; out: frontend to backend. The data pages,
 * ref[0 .. 2^ring_order - 1], hold in first and out second.
 */
struct pvcalls_wire_data_intf {
	uint32_t in_cons; /**< written by the frontend */
	uint32_t in_prod; /**< written by the backend */
	int32_t in_error; /**< backend: 0 or negative errno; -ENOTCONN is EOF */
	uint8_t pad1[52];
	uint32_t out_cons; /**< written by the backend */
	uint32_t out_prod; /**< written by the frontend */
	int32_t out_error; /**< backend: 0 or negative errno of the last send */
	uint8_t pad2[52];
	uint32_t ring_order; /**< written by the frontend */
	uint32_t ref[];      /**< 2^ring_order grant refs */
};

/** Offset of ref[] in the indexes page, and how many refs fit after it. */
#define PVCALLS_WIRE_DATA_INTF_REF_OFFSET 132u
#define PVCALLS_WIRE_DATA_INTF_MAX_REFS \
	((PVCALLS_WIRE_PAGE_SIZE - PVCALLS_WIRE_DATA_INTF_REF_OFFSET) / 4u)

/* Compile-time layout checks: every field's offset and every size. */
#if defined(__cplusplus)
#define PVCALLS_WIRE_ASSERT(c, m) static_assert(c, m)
#else
#define PVCALLS_WIRE_ASSERT(c, m) _Static_assert(c, m)
#endif
#define PVCALLS_WIRE_OFF(t, f, o) \
	PVCALLS_WIRE_ASSERT(offsetof(struct t, f) == (o), #t "." #f " at " #o)

PVCALLS_WIRE_ASSERT(sizeof(struct pvcalls_wire_request) == 64, "request is 64 bytes");
PVCALLS_WIRE_OFF(pvcalls_wire_request, req_id, 0);
PVCALLS_WIRE_OFF(pvcalls_wire_request, cmd, 4);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.socket.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.socket.domain, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.socket.type, 20);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.socket.protocol, 24);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.socket.pad, 28);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.addr, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.len, 44);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.flags, 48);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.ref, 52);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.evtchn, 56);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.connect.pad, 60);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.release.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.release.reuse, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.release.pad, 17);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.bind.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.bind.addr, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.bind.len, 44);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.listen.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.listen.backlog, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.listen.pad, 20);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.accept.id, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.accept.id_new, 16);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.accept.ref, 24);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.accept.evtchn, 28);
PVCALLS_WIRE_OFF(pvcalls_wire_request, u.poll.id, 8);
PVCALLS_WIRE_ASSERT(sizeof(((struct pvcalls_wire_request *)0)->u) == 56, "union is 56 bytes");

PVCALLS_WIRE_ASSERT(sizeof(struct pvcalls_wire_response) == 24, "response is 24 bytes");
PVCALLS_WIRE_OFF(pvcalls_wire_response, req_id, 0);
PVCALLS_WIRE_OFF(pvcalls_wire_response, cmd, 4);
PVCALLS_WIRE_OFF(pvcalls_wire_response, ret, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_response, pad, 12);
PVCALLS_WIRE_OFF(pvcalls_wire_response, u.id, 16);

PVCALLS_WIRE_ASSERT(sizeof(union pvcalls_wire_cmd_slot) == 64, "slot is 64 bytes");
/* 64 + 32 * 64 = 2112 bytes: the rest of the page is unused, because 63
 * slots would fit but the ring size must be a power of two. */
PVCALLS_WIRE_ASSERT(sizeof(struct pvcalls_wire_cmd_sring) == 64 + 64 * PVCALLS_WIRE_CMD_RING_SIZE,
		    "command ring header plus 32 slots");
PVCALLS_WIRE_ASSERT(sizeof(struct pvcalls_wire_cmd_sring) <= PVCALLS_WIRE_PAGE_SIZE,
		    "command ring fits one page");
PVCALLS_WIRE_ASSERT(64 + 64 * 2 * PVCALLS_WIRE_CMD_RING_SIZE > PVCALLS_WIRE_PAGE_SIZE,
		    "32 is the largest power of two that fits");
PVCALLS_WIRE_OFF(pvcalls_wire_cmd_sring, req_prod, 0);
PVCALLS_WIRE_OFF(pvcalls_wire_cmd_sring, req_event, 4);
PVCALLS_WIRE_OFF(pvcalls_wire_cmd_sring, rsp_prod, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_cmd_sring, rsp_event, 12);
PVCALLS_WIRE_OFF(pvcalls_wire_cmd_sring, ring, 64);

PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, in_cons, 0);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, in_prod, 4);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, in_error, 8);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, pad1, 12);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, out_cons, 64);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, out_prod, 68);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, out_error, 72);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, pad2, 76);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, ring_order, 128);
PVCALLS_WIRE_OFF(pvcalls_wire_data_intf, ref, PVCALLS_WIRE_DATA_INTF_REF_OFFSET);
PVCALLS_WIRE_ASSERT(sizeof(struct pvcalls_wire_data_intf) == PVCALLS_WIRE_DATA_INTF_REF_OFFSET,
		    "indexes header is 132 bytes");
PVCALLS_WIRE_ASSERT((1u << PVCALLS_WIRE_MAX_RING_ORDER) <= PVCALLS_WIRE_DATA_INTF_MAX_REFS,
		    "2^9 refs fit on the indexes page");
PVCALLS_WIRE_ASSERT((2u << PVCALLS_WIRE_MAX_RING_ORDER) > PVCALLS_WIRE_DATA_INTF_MAX_REFS,
		    "2^10 refs do not");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_DATA_RING_SIZE(4) == 32768u, "order 4 is 32 KiB each way");

PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_ENOTCONN == 107, "ENOTCONN (end of stream) is 107");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_EPROTO == 71, "EPROTO is 71");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_EAGAIN == 11 && PVCALLS_WIRE_EWOULDBLOCK == 11, "EAGAIN is 11");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_EOPNOTSUPP == 95 && PVCALLS_WIRE_ENOTSUP == 95,
		    "EOPNOTSUPP is 95");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_ENOTSUPP == 524, "Linux's ENOTSUPP is 524");
PVCALLS_WIRE_ASSERT(PVCALLS_WIRE_EHWPOISON < PVCALLS_WIRE_ENOTSUPP &&
			    PVCALLS_WIRE_ENOTSUPP <= PVCALLS_WIRE_MAX_ERRNO,
		    "every wire errno is below MAX_ERRNO");

#undef PVCALLS_WIRE_OFF

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_WIRE_H */
