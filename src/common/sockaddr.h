/* SPDX-License-Identifier: MIT */
/*
 * Internal: socket addresses of either family as the extensions carry them
 * (docs/extensions.md, "IPv6"): the 28-byte address field of CONNECT and
 * BIND, a reply area, a datagram record's addr. Shared by the backend and
 * the frontend (and by the datagram code of both), so the wire rules live
 * in one place.
 *
 * The field holds a Linux struct sockaddr_in (16 bytes) or struct
 * sockaddr_in6 (28 bytes): family as a 16-bit value in the page's byte
 * order (little-endian on every Xen architecture), port, flow information
 * and address in network order, the scope id little-endian. The family at
 * offset 0 says which; 0 is "no address" (datagram records only).
 */
#ifndef PVCALLS_INTERNAL_SOCKADDR_H
#define PVCALLS_INTERNAL_SOCKADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A host address of either family; sa.sa_family says which. */
union pvc_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Bytes of a host address of @family: sizeof(sockaddr_in/_in6), else 0. */
socklen_t pvc_sockaddr_len(int family);

/*
 * Decodes the address field of a socket of @family (AF_INET or AF_INET6)
 * into @out, with the checks of a native socket of that family, in the
 * order Linux makes them (length, then family):
 *  - AF_INET: len in [16, 28], else -EINVAL; family 2, else -EAFNOSUPPORT
 *    (version 1's rule, pvcalls_addr_decode());
 *  - AF_INET6: len in [24, 28], else -EINVAL; family 10, else
 *    -EAFNOSUPPORT; len 24 (RFC 2133, no scope id) gives scope id 0.
 * @p field is a private copy (never shared memory). On failure @p out is
 * zeroed. @p outlen (may be NULL) gets the host address's length.
 */
int pvc_sockaddr_from_wire(const uint8_t field[28], uint32_t len, int family,
			   union pvc_sockaddr *out, socklen_t *outlen);

/*
 * Encodes host address @sa (@salen bytes, as a caller passed it) for a
 * socket of @family into the 28-byte field, zero-filled: *len = 16 or 28.
 * Same checks and errors as pvc_sockaddr_from_wire() on @salen and the
 * family (a native connect/bind would fail the same way), -EINVAL for
 * NULL. On failure @p field is zeroed and *len is 0.
 */
int pvc_sockaddr_to_wire(uint8_t field[28], uint32_t *len, const struct sockaddr *sa,
			 socklen_t salen, int family);

/*
 * Reads an address the peer wrote into a reply area or record (@wlen
 * bytes, the peer's claim) without any assumption: 16 with family 2 or 28
 * with family 10, else -EPROTO. Family 0 with @allow_unspec: *out zeroed
 * (sa_family AF_UNSPEC), 0.
 */
int pvc_sockaddr_from_peer(const uint8_t field[28], uint32_t wlen, bool allow_unspec,
			   union pvc_sockaddr *out);

/* "192.0.2.1:80", "[2001:db8::1]:80", "[fe80::1%2]:80"; "?" for others. */
#define PVC_SOCKADDR_STRLEN 80
const char *pvc_sockaddr_str(const struct sockaddr *sa, char buf[PVC_SOCKADDR_STRLEN]);

/* Whether @a is in ::ffff:0:0/96; if so *v4 (may be NULL) gets the IPv4
 * address it maps (network order). */
bool pvc_in6_v4mapped(const struct in6_addr *a, struct in_addr *v4);

/*
 * The IPv4 view of an AF_INET6 address in ::ffff:0:0/96 (port kept):
 * true and *out filled; false for any other address.
 */
bool pvc_sockaddr_unmap(const struct sockaddr_in6 *a, struct sockaddr_in *out);

/* Classes the policy treats specially (docs/extensions.md, "IPv6"). */
bool pvc_in6_is_any(const struct in6_addr *a);       /* :: */
bool pvc_in6_is_loopback(const struct in6_addr *a);  /* ::1 */
bool pvc_in6_is_linklocal(const struct in6_addr *a); /* fe80::/10 */
bool pvc_in6_is_multicast(const struct in6_addr *a); /* ff00::/8 */

/* Whether two host addresses name the same address and port (scope id and
 * flow information ignored). */
bool pvc_sockaddr_same(const union pvc_sockaddr *a, const union pvc_sockaddr *b);
/* Whether @a's address is its family's wildcard (0.0.0.0 or ::). */
bool pvc_sockaddr_is_any(const union pvc_sockaddr *a);
/* The port of @a in host order (0 for other families). */
uint16_t pvc_sockaddr_port(const union pvc_sockaddr *a);

#endif
