/* SPDX-License-Identifier: MIT */
/*
 * pvcalls/wire.h against Xen's own public headers (libxen-dev): every field's
 * offset and size, every struct's size, and every constant. Each pair is
 * checked twice: by _Static_assert, so a mismatch stops the build, and by a
 * Check test that prints both numbers, so the report says what differs.
 * Then Xen's ring macros are run on a page and read back through our structs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Xen's io headers expect these to be included first. */
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/pvcalls.h>
#include <xen/io/xenbus.h>
#include <xen/errno.h>

#include <pvcalls/proto.h>
#include <pvcalls/wire.h>

#include <check.h>

/* X(our struct, Xen struct, our field, Xen field) */
#define FIELDS(X)                                                                          \
	X(pvcalls_wire_request, xen_pvcalls_request, req_id, req_id)                       \
	X(pvcalls_wire_request, xen_pvcalls_request, cmd, cmd)                             \
	X(pvcalls_wire_request, xen_pvcalls_request, u, u)                                 \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket, u.socket)                   \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket.id, u.socket.id)             \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket.domain, u.socket.domain)     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket.type, u.socket.type)         \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket.protocol, u.socket.protocol) \
	X(pvcalls_wire_request, xen_pvcalls_request, u.socket.pad, u.socket.pad)           \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect, u.connect)                 \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.id, u.connect.id)           \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.addr, u.connect.addr)       \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.len, u.connect.len)         \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.flags, u.connect.flags)     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.ref, u.connect.ref)         \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.evtchn, u.connect.evtchn)   \
	X(pvcalls_wire_request, xen_pvcalls_request, u.connect.pad, u.connect.pad)         \
	X(pvcalls_wire_request, xen_pvcalls_request, u.release, u.release)                 \
	X(pvcalls_wire_request, xen_pvcalls_request, u.release.id, u.release.id)           \
	X(pvcalls_wire_request, xen_pvcalls_request, u.release.reuse, u.release.reuse)     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.release.pad, u.release.pad)         \
	X(pvcalls_wire_request, xen_pvcalls_request, u.bind, u.bind)                       \
	X(pvcalls_wire_request, xen_pvcalls_request, u.bind.id, u.bind.id)                 \
	X(pvcalls_wire_request, xen_pvcalls_request, u.bind.addr, u.bind.addr)             \
	X(pvcalls_wire_request, xen_pvcalls_request, u.bind.len, u.bind.len)               \
	X(pvcalls_wire_request, xen_pvcalls_request, u.listen, u.listen)                   \
	X(pvcalls_wire_request, xen_pvcalls_request, u.listen.id, u.listen.id)             \
	X(pvcalls_wire_request, xen_pvcalls_request, u.listen.backlog, u.listen.backlog)   \
	X(pvcalls_wire_request, xen_pvcalls_request, u.listen.pad, u.listen.pad)           \
	X(pvcalls_wire_request, xen_pvcalls_request, u.accept, u.accept)                   \
	X(pvcalls_wire_request, xen_pvcalls_request, u.accept.id, u.accept.id)             \
	X(pvcalls_wire_request, xen_pvcalls_request, u.accept.id_new, u.accept.id_new)     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.accept.ref, u.accept.ref)           \
	X(pvcalls_wire_request, xen_pvcalls_request, u.accept.evtchn, u.accept.evtchn)     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.poll, u.poll)                       \
	X(pvcalls_wire_request, xen_pvcalls_request, u.poll.id, u.poll.id)                 \
	X(pvcalls_wire_request, xen_pvcalls_request, u.dummy, u.dummy)                     \
	X(pvcalls_wire_request, xen_pvcalls_request, u.dummy, u.dummy.dummy)               \
	X(pvcalls_wire_response, xen_pvcalls_response, req_id, req_id)                     \
	X(pvcalls_wire_response, xen_pvcalls_response, cmd, cmd)                           \
	X(pvcalls_wire_response, xen_pvcalls_response, ret, ret)                           \
	X(pvcalls_wire_response, xen_pvcalls_response, pad, pad)                           \
	X(pvcalls_wire_response, xen_pvcalls_response, u, u)                               \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.socket.id)                  \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.connect.id)                 \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.release.id)                 \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.bind.id)                    \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.listen.id)                  \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.accept.id)                  \
	X(pvcalls_wire_response, xen_pvcalls_response, u.id, u.poll.id)                    \
	X(pvcalls_wire_response, xen_pvcalls_response, u.dummy, u.dummy)                   \
	X(pvcalls_wire_response, xen_pvcalls_response, u.dummy, u.dummy.dummy)             \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, in_cons, in_cons)                     \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, in_prod, in_prod)                     \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, in_error, in_error)                   \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, pad1, pad1)                           \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, out_cons, out_cons)                   \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, out_prod, out_prod)                   \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, out_error, out_error)                 \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, pad2, pad2)                           \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, ring_order, ring_order)               \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, ref[0], ref[0])                       \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, ref[511], ref[511])                   \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, req_prod, req_prod)                   \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, req_event, req_event)                 \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, rsp_prod, rsp_prod)                   \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, rsp_event, rsp_event)                 \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring[0], ring[0])                     \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring[0].req, ring[0].req)             \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring[0].rsp, ring[0].rsp)

/* Offsets only: flexible or variable-length arrays, and Xen's pvt + __pad
 * against our single pad (their sizes are compared in CONSTS). */
#define OFFSETS(X)                                                     \
	X(pvcalls_wire_data_intf, pvcalls_data_intf, ref, ref)         \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, pad, pvt)         \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, pad[4], __pad)    \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring, ring)       \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring[1], ring[1]) \
	X(pvcalls_wire_cmd_sring, xen_pvcalls_sring, ring[31], ring[31])

/* X(our type, Xen type) */
#define SIZES(X)                                                      \
	X(struct pvcalls_wire_request, struct xen_pvcalls_request)    \
	X(struct pvcalls_wire_socket, struct xen_pvcalls_socket)      \
	X(struct pvcalls_wire_connect, struct xen_pvcalls_connect)    \
	X(struct pvcalls_wire_release, struct xen_pvcalls_release)    \
	X(struct pvcalls_wire_bind, struct xen_pvcalls_bind)          \
	X(struct pvcalls_wire_listen, struct xen_pvcalls_listen)      \
	X(struct pvcalls_wire_accept, struct xen_pvcalls_accept)      \
	X(struct pvcalls_wire_poll, struct xen_pvcalls_poll)          \
	X(struct pvcalls_wire_response, struct xen_pvcalls_response)  \
	X(union pvcalls_wire_cmd_slot, union xen_pvcalls_sring_entry) \
	X(struct pvcalls_wire_data_intf, struct pvcalls_data_intf)    \
	X(uint32_t, grant_ref_t)                                      \
	X(uint32_t, RING_IDX)

#define XEN_SRING_BYTES(n) \
	(offsetof(struct xen_pvcalls_sring, ring) + (n) * sizeof(union xen_pvcalls_sring_entry))

/* X(ours, Xen's) */
#define CONSTS(X)                                                           \
	X(PVCALLS_WIRE_SOCKET, PVCALLS_SOCKET)                              \
	X(PVCALLS_WIRE_CONNECT, PVCALLS_CONNECT)                            \
	X(PVCALLS_WIRE_RELEASE, PVCALLS_RELEASE)                            \
	X(PVCALLS_WIRE_BIND, PVCALLS_BIND)                                  \
	X(PVCALLS_WIRE_LISTEN, PVCALLS_LISTEN)                              \
	X(PVCALLS_WIRE_ACCEPT, PVCALLS_ACCEPT)                              \
	X(PVCALLS_WIRE_POLL, PVCALLS_POLL)                                  \
	X(PVCALLS_WIRE_PAGE_SHIFT, XEN_PAGE_SHIFT)                          \
	X(PVCALLS_WIRE_CMD_RING_SIZE, __CONST_RING_SIZE(xen_pvcalls, 4096)) \
	X(sizeof(struct pvcalls_wire_cmd_sring),                            \
	  XEN_SRING_BYTES(__CONST_RING_SIZE(xen_pvcalls, 4096)))            \
	X(sizeof(((struct pvcalls_wire_cmd_sring *)0)->pad),                \
	  sizeof(((struct xen_pvcalls_sring *)0)->pvt) +                    \
		  sizeof(((struct xen_pvcalls_sring *)0)->__pad))           \
	X(PVCALLS_WIRE_DATA_RING_SIZE(0), XEN_FLEX_RING_SIZE(0))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(1), XEN_FLEX_RING_SIZE(1))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(2), XEN_FLEX_RING_SIZE(2))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(3), XEN_FLEX_RING_SIZE(3))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(4), XEN_FLEX_RING_SIZE(4))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(5), XEN_FLEX_RING_SIZE(5))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(6), XEN_FLEX_RING_SIZE(6))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(7), XEN_FLEX_RING_SIZE(7))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(8), XEN_FLEX_RING_SIZE(8))            \
	X(PVCALLS_WIRE_DATA_RING_SIZE(9), XEN_FLEX_RING_SIZE(9))            \
	X(PVCALLS_XENBUS_UNKNOWN, XenbusStateUnknown)                       \
	X(PVCALLS_XENBUS_INITIALISING, XenbusStateInitialising)             \
	X(PVCALLS_XENBUS_INITWAIT, XenbusStateInitWait)                     \
	X(PVCALLS_XENBUS_INITIALISED, XenbusStateInitialised)               \
	X(PVCALLS_XENBUS_CONNECTED, XenbusStateConnected)                   \
	X(PVCALLS_XENBUS_CLOSING, XenbusStateClosing)                       \
	X(PVCALLS_XENBUS_CLOSED, XenbusStateClosed)                         \
	X(PVCALLS_XENBUS_RECONFIGURING, XenbusStateReconfiguring)           \
	X(PVCALLS_XENBUS_RECONFIGURED, XenbusStateReconfigured)

/* Every errno Xen's public errno.h gives a guest (EINTR and ERESTART are
 * Xen-internal): the same Linux numbers. */
#define ERRNOS(X)                                        \
	X(PVCALLS_WIRE_EPERM, XEN_EPERM)                 \
	X(PVCALLS_WIRE_ENOENT, XEN_ENOENT)               \
	X(PVCALLS_WIRE_ESRCH, XEN_ESRCH)                 \
	X(PVCALLS_WIRE_EIO, XEN_EIO)                     \
	X(PVCALLS_WIRE_ENXIO, XEN_ENXIO)                 \
	X(PVCALLS_WIRE_E2BIG, XEN_E2BIG)                 \
	X(PVCALLS_WIRE_ENOEXEC, XEN_ENOEXEC)             \
	X(PVCALLS_WIRE_EBADF, XEN_EBADF)                 \
	X(PVCALLS_WIRE_ECHILD, XEN_ECHILD)               \
	X(PVCALLS_WIRE_EAGAIN, XEN_EAGAIN)               \
	X(PVCALLS_WIRE_EWOULDBLOCK, XEN_EWOULDBLOCK)     \
	X(PVCALLS_WIRE_ENOMEM, XEN_ENOMEM)               \
	X(PVCALLS_WIRE_EACCES, XEN_EACCES)               \
	X(PVCALLS_WIRE_EFAULT, XEN_EFAULT)               \
	X(PVCALLS_WIRE_EBUSY, XEN_EBUSY)                 \
	X(PVCALLS_WIRE_EEXIST, XEN_EEXIST)               \
	X(PVCALLS_WIRE_EXDEV, XEN_EXDEV)                 \
	X(PVCALLS_WIRE_ENODEV, XEN_ENODEV)               \
	X(PVCALLS_WIRE_ENOTDIR, XEN_ENOTDIR)             \
	X(PVCALLS_WIRE_EISDIR, XEN_EISDIR)               \
	X(PVCALLS_WIRE_EINVAL, XEN_EINVAL)               \
	X(PVCALLS_WIRE_ENFILE, XEN_ENFILE)               \
	X(PVCALLS_WIRE_EMFILE, XEN_EMFILE)               \
	X(PVCALLS_WIRE_ENOSPC, XEN_ENOSPC)               \
	X(PVCALLS_WIRE_EROFS, XEN_EROFS)                 \
	X(PVCALLS_WIRE_EMLINK, XEN_EMLINK)               \
	X(PVCALLS_WIRE_EDOM, XEN_EDOM)                   \
	X(PVCALLS_WIRE_ERANGE, XEN_ERANGE)               \
	X(PVCALLS_WIRE_EDEADLK, XEN_EDEADLK)             \
	X(PVCALLS_WIRE_EDEADLOCK, XEN_EDEADLOCK)         \
	X(PVCALLS_WIRE_ENAMETOOLONG, XEN_ENAMETOOLONG)   \
	X(PVCALLS_WIRE_ENOLCK, XEN_ENOLCK)               \
	X(PVCALLS_WIRE_ENOSYS, XEN_ENOSYS)               \
	X(PVCALLS_WIRE_ENOTEMPTY, XEN_ENOTEMPTY)         \
	X(PVCALLS_WIRE_ENODATA, XEN_ENODATA)             \
	X(PVCALLS_WIRE_ETIME, XEN_ETIME)                 \
	X(PVCALLS_WIRE_EBADMSG, XEN_EBADMSG)             \
	X(PVCALLS_WIRE_EOVERFLOW, XEN_EOVERFLOW)         \
	X(PVCALLS_WIRE_EILSEQ, XEN_EILSEQ)               \
	X(PVCALLS_WIRE_ENOTSOCK, XEN_ENOTSOCK)           \
	X(PVCALLS_WIRE_EMSGSIZE, XEN_EMSGSIZE)           \
	X(PVCALLS_WIRE_EOPNOTSUPP, XEN_EOPNOTSUPP)       \
	X(PVCALLS_WIRE_EADDRINUSE, XEN_EADDRINUSE)       \
	X(PVCALLS_WIRE_EADDRNOTAVAIL, XEN_EADDRNOTAVAIL) \
	X(PVCALLS_WIRE_ENOBUFS, XEN_ENOBUFS)             \
	X(PVCALLS_WIRE_EISCONN, XEN_EISCONN)             \
	X(PVCALLS_WIRE_ENOTCONN, XEN_ENOTCONN)           \
	X(PVCALLS_WIRE_ETIMEDOUT, XEN_ETIMEDOUT)         \
	X(PVCALLS_WIRE_ECONNREFUSED, XEN_ECONNREFUSED)

#define MEMBER_SIZE(t, f) sizeof(((struct t *)0)->f)

/* ---- compile time -------------------------------------------------------- */

#define ASSERT_FIELD(to, tx, fo, fx)                                       \
	_Static_assert(offsetof(struct to, fo) == offsetof(struct tx, fx), \
		       #to "." #fo " offset differs from " #tx "." #fx);   \
	_Static_assert(MEMBER_SIZE(to, fo) == MEMBER_SIZE(tx, fx),         \
		       #to "." #fo " size differs from " #tx "." #fx);
#define ASSERT_OFFSET(to, tx, fo, fx)                                      \
	_Static_assert(offsetof(struct to, fo) == offsetof(struct tx, fx), \
		       #to "." #fo " offset differs from " #tx "." #fx);
#define ASSERT_SIZE(to, tx) \
	_Static_assert(sizeof(to) == sizeof(tx), "sizeof " #to " != sizeof " #tx);
#define ASSERT_CONST(o, x) \
	_Static_assert((unsigned long long)(o) == (unsigned long long)(x), #o " != " #x);

FIELDS(ASSERT_FIELD)
OFFSETS(ASSERT_OFFSET)
SIZES(ASSERT_SIZE)
CONSTS(ASSERT_CONST)
ERRNOS(ASSERT_CONST)

/* ---- run time ------------------------------------------------------------ */

struct pair {
	const char *ours, *xen;
	unsigned long long a, b;
};

#define ROW_OFF(to, tx, fo, fx) \
	{ #to "." #fo " offset", #tx "." #fx, offsetof(struct to, fo), offsetof(struct tx, fx) },
#define ROW_SIZE(to, tx, fo, fx) \
	{ #to "." #fo " size", #tx "." #fx, MEMBER_SIZE(to, fo), MEMBER_SIZE(tx, fx) },
#define ROW_FIELD(to, tx, fo, fx) ROW_OFF(to, tx, fo, fx) ROW_SIZE(to, tx, fo, fx)
#define ROW_TSIZE(to, tx) { "sizeof " #to, "sizeof " #tx, sizeof(to), sizeof(tx) },
#define ROW_CONST(o, x) { #o, #x, (unsigned long long)(o), (unsigned long long)(x) },

static const struct pair pairs[] = { FIELDS(ROW_FIELD) OFFSETS(ROW_OFF) SIZES(ROW_TSIZE)
					     CONSTS(ROW_CONST) ERRNOS(ROW_CONST) };

START_TEST(same_number)
{
	const struct pair *p = &pairs[_i];

	ck_assert_msg(p->a == p->b, "%s is %llu but Xen's %s is %llu", p->ours, p->a, p->xen, p->b);
}
END_TEST

/* Xen's ring macros on a page, read back through our layout. */
START_TEST(xen_ring_macros)
{
	struct xen_pvcalls_sring *xs = aligned_alloc(4096, 4096);
	struct pvcalls_wire_cmd_sring *ours;
	struct xen_pvcalls_front_ring front;
	struct xen_pvcalls_back_ring back;

	ck_assert_ptr_nonnull(xs);
	memset(xs, 0xaa, 4096);
	SHARED_RING_INIT(xs);
	FRONT_RING_INIT(&front, xs, 4096);
	BACK_RING_INIT(&back, xs, 4096);
	ours = (struct pvcalls_wire_cmd_sring *)(void *)xs;
	ck_assert_uint_eq(ours->req_prod, 0);
	ck_assert_uint_eq(ours->rsp_prod, 0);
	ck_assert_uint_eq(ours->req_event, 1);
	ck_assert_uint_eq(ours->rsp_event, 1);
	for (size_t i = 0; i < sizeof(ours->pad); i++)
		ck_assert_msg(ours->pad[i] == 0, "pad[%zu] not cleared by SHARED_RING_INIT", i);
	ck_assert_uint_eq(RING_SIZE(&front), PVCALLS_WIRE_CMD_RING_SIZE);
	ck_assert_uint_eq(RING_SIZE(&back), PVCALLS_WIRE_CMD_RING_SIZE);
	for (unsigned idx = 0; idx < 3 * PVCALLS_WIRE_CMD_RING_SIZE; idx++) {
		unsigned slot = idx % PVCALLS_WIRE_CMD_RING_SIZE;

		ck_assert_ptr_eq((void *)RING_GET_REQUEST(&front, idx), &ours->ring[slot].req);
		ck_assert_ptr_eq((void *)RING_GET_RESPONSE(&front, idx), &ours->ring[slot].rsp);
		ck_assert_ptr_eq((void *)RING_GET_REQUEST(&back, idx), &ours->ring[slot].req);
	}
	/* Xen's last slot ends where our struct does (2112 bytes in). */
	ck_assert_ptr_eq((char *)RING_GET_REQUEST(&front, 31) +
				 sizeof(union xen_pvcalls_sring_entry),
			 (char *)xs + sizeof(struct pvcalls_wire_cmd_sring));
	free(xs);
}
END_TEST

/* Requests built by src/proto, read with Xen's structs. */
START_TEST(proto_through_xen)
{
	struct pvcalls_wire_request r;
	struct pvcalls_wire_response rsp;
	struct xen_pvcalls_request x;
	struct xen_pvcalls_response xr;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(7);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	ck_assert_int_eq(pvcalls_req_connect(&r, 3, 0x1122334455667788ull, (struct sockaddr *)&sin,
					     sizeof(sin), 0x99, 0x42),
			 0);
	memcpy(&x, &r, sizeof(x));
	ck_assert_uint_eq(x.req_id, 3);
	ck_assert_uint_eq(x.cmd, PVCALLS_CONNECT);
	ck_assert_uint_eq(x.u.connect.id, 0x1122334455667788ull);
	ck_assert_uint_eq(x.u.connect.len, 16);
	ck_assert_uint_eq(x.u.connect.ref, 0x99);
	ck_assert_uint_eq(x.u.connect.evtchn, 0x42);
	ck_assert_uint_eq(x.u.connect.addr[2], 0);
	ck_assert_uint_eq(x.u.connect.addr[3], 7);

	pvcalls_req_accept(&r, 4, 10, 11, 12, 13);
	memcpy(&x, &r, sizeof(x));
	ck_assert_uint_eq(x.cmd, PVCALLS_ACCEPT);
	ck_assert_uint_eq(x.u.accept.id, 10);
	ck_assert_uint_eq(x.u.accept.id_new, 11);
	ck_assert_uint_eq(x.u.accept.ref, 12);
	ck_assert_uint_eq(x.u.accept.evtchn, 13);

	pvcalls_rsp_build(&rsp, &r, -ECONNREFUSED);
	memcpy(&xr, &rsp, sizeof(xr));
	ck_assert_uint_eq(xr.req_id, 4);
	ck_assert_uint_eq(xr.cmd, PVCALLS_ACCEPT);
	ck_assert_int_eq(xr.ret, -111);
	ck_assert_uint_eq(xr.u.accept.id, 10);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire.xen");
	TCase *tc = tcase_create("xen");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, same_number, 0, (int)(sizeof(pairs) / sizeof(pairs[0])));
	tcase_add_test(tc, xen_ring_macros);
	tcase_add_test(tc, proto_through_xen);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
