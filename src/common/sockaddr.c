/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses of either family on the wire (common/sockaddr.h;
 * docs/extensions.md, "IPv6"). The field's 16-bit family and 32-bit scope
 * id are in the page's byte order, which is the host's on every Xen
 * architecture (little-endian), as version 1's family already is
 * (src/proto/proto.c).
 */
#include "common/sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pvcalls/proto.h>
#include <pvcalls/wire.h>
#include <pvcalls/wire_ext.h>

socklen_t pvc_sockaddr_len(int family)
{
	switch (family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

static int from_wire6(const uint8_t field[28], uint32_t len, struct sockaddr_in6 *out)
{
	uint16_t family;

	/* Length before family, as Linux's inet6_bind() and tcp_v6_connect(). */
	if (len < PVCALLS_EXT_SOCKADDR_IN6_LEN - 4 || len > PVCALLS_EXT_SOCKADDR_IN6_LEN)
		return -EINVAL;
	memcpy(&family, field, 2);
	if (family != PVCALLS_EXT_AF_INET6)
		return -EAFNOSUPPORT;
#if defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
	defined(__DragonFly__) || defined(__APPLE__)
	out->sin6_len = sizeof(*out);
#endif
	out->sin6_family = AF_INET6;
	memcpy(&out->sin6_port, field + 2, 2);
	memcpy(&out->sin6_flowinfo, field + 4, 4);
	memcpy(&out->sin6_addr, field + 8, 16);
	if (len == PVCALLS_EXT_SOCKADDR_IN6_LEN)
		memcpy(&out->sin6_scope_id, field + 24, 4);
	return 0;
}

int pvc_sockaddr_from_wire(const uint8_t field[28], uint32_t len, int family,
			   union pvc_sockaddr *out, socklen_t *outlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (family == AF_INET6)
		rc = from_wire6(field, len, &out->in6);
	else if (family == AF_INET)
		rc = pvcalls_addr_decode(field, len, &out->in);
	else
		rc = -EAFNOSUPPORT;
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	if (outlen)
		*outlen = rc < 0 ? 0 : pvc_sockaddr_len(family);
	return rc;
}

int pvc_sockaddr_to_wire(uint8_t field[28], uint32_t *len, const struct sockaddr *sa,
			 socklen_t salen, int family)
{
	struct sockaddr_in6 a;
	uint16_t fam = PVCALLS_EXT_AF_INET6;

	if (family == AF_INET)
		return pvcalls_addr_encode(field, len, sa, salen);
	memset(field, 0, PVCALLS_WIRE_ADDR_LEN);
	*len = 0;
	if (family != AF_INET6)
		return -EAFNOSUPPORT;
	/* RFC 2133's 24-byte form has no scope id. */
	if (!sa || salen < (socklen_t)offsetof(struct sockaddr_in6, sin6_scope_id))
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	memcpy(&a, sa, salen < (socklen_t)sizeof(a) ? salen : sizeof(a));
	if (a.sin6_family != AF_INET6)
		return -EAFNOSUPPORT;
	memcpy(field, &fam, 2);
	memcpy(field + 2, &a.sin6_port, 2);
	memcpy(field + 4, &a.sin6_flowinfo, 4);
	memcpy(field + 8, &a.sin6_addr, 16);
	memcpy(field + 24, &a.sin6_scope_id, 4);
	*len = PVCALLS_EXT_SOCKADDR_IN6_LEN;
	return 0;
}

int pvc_sockaddr_from_peer(const uint8_t field[28], uint32_t wlen, bool allow_unspec,
			   union pvc_sockaddr *out)
{
	uint16_t family;

	memset(out, 0, sizeof(*out));
	memcpy(&family, field, 2);
	if (family == PVCALLS_EXT_AF_UNSPEC && allow_unspec)
		return 0;
	if (family == PVCALLS_WIRE_AF_INET && wlen == PVCALLS_WIRE_SOCKADDR_IN_LEN)
		return pvc_sockaddr_from_wire(field, wlen, AF_INET, out, NULL) ? -EPROTO : 0;
	if (family == PVCALLS_EXT_AF_INET6 && wlen == PVCALLS_EXT_SOCKADDR_IN6_LEN)
		return pvc_sockaddr_from_wire(field, wlen, AF_INET6, out, NULL) ? -EPROTO : 0;
	return -EPROTO;
}

const char *pvc_sockaddr_str(const struct sockaddr *sa, char buf[PVC_SOCKADDR_STRLEN])
{
	char a[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, PVC_SOCKADDR_STRLEN, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		if (in6->sin6_scope_id)
			snprintf(buf, PVC_SOCKADDR_STRLEN, "[%s%%%u]:%u", a,
				 (unsigned)in6->sin6_scope_id, ntohs(in6->sin6_port));
		else
			snprintf(buf, PVC_SOCKADDR_STRLEN, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, PVC_SOCKADDR_STRLEN, "?");
	}
	return buf;
}

bool pvc_in6_v4mapped(const struct in6_addr *a, struct in_addr *v4)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(a->s6_addr, pfx, sizeof(pfx)))
		return false;
	if (v4)
		memcpy(&v4->s_addr, a->s6_addr + 12, 4);
	return true;
}

bool pvc_sockaddr_unmap(const struct sockaddr_in6 *a, struct sockaddr_in *out)
{
	struct in_addr v4;

	if (a->sin6_family != AF_INET6 || !pvc_in6_v4mapped(&a->sin6_addr, &v4))
		return false;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = a->sin6_port;
	out->sin_addr = v4;
	return true;
}

bool pvc_in6_is_any(const struct in6_addr *a)
{
	static const struct in6_addr any; /* all zero */

	return !memcmp(a, &any, sizeof(any));
}

bool pvc_in6_is_loopback(const struct in6_addr *a)
{
	static const uint8_t lo[16] = { [15] = 1 };

	return !memcmp(a->s6_addr, lo, sizeof(lo));
}

bool pvc_in6_is_linklocal(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

bool pvc_in6_is_multicast(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xff;
}

bool pvc_sockaddr_same(const union pvc_sockaddr *a, const union pvc_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
	return false;
}

bool pvc_sockaddr_is_any(const union pvc_sockaddr *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->sa.sa_family == AF_INET6)
		return pvc_in6_is_any(&a->in6.sin6_addr);
	return false;
}

uint16_t pvc_sockaddr_port(const union pvc_sockaddr *a)
{
	if (a->sa.sa_family == AF_INET)
		return ntohs(a->in.sin_port);
	if (a->sa.sa_family == AF_INET6)
		return ntohs(a->in6.sin6_port);
	return 0;
}
