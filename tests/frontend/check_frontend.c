/* SPDX-License-Identifier: MIT */
/*
 * Frontend against a hand-written, misbehaving backend: every malformed
 * response must fail the request it claims to answer (or be dropped and
 * counted), never corrupt memory or hang. Runs over an in-process shm pair;
 * the "backend" here speaks the wire protocol by hand.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/wire_ext.h>

#include "xenbus/xenbus.h"

enum mode {
	GOOD,          /* well-formed answers */
	STALE_FIRST,   /* a response with a stale generation, then the right one */
	WRONG_CMD,     /* echoes the wrong cmd */
	WRONG_ID,      /* echoes the wrong id */
	BAD_RET,       /* ret = +5 */
	ENOTSUPP_RET,  /* ret = -524 */
	GARBAGE_REQID, /* a response for a req_id nobody used, then the right one */
	OVERFLOW,      /* rsp_prod claims more responses than requests */
	SILENT,        /* never answers */
};

struct rawbe {
	pvcalls_transport *hub, *guest;
	uint32_t gid;
	char bedir[128], fedir[128];
	pvcalls_cmd_back ring;
	void *page;
	uint32_t port;
	_Atomic int mode; /* enum mode; read by the fake backend thread */
	_Atomic int stop;
	_Atomic int answered;
	int held;
	struct pvcalls_wire_request held_req;
	pthread_t th;
	/* Datagram rings the frontend attached (DGRAM_RINGS), mapped here so
	 * the test can write hostile in records; nrings is published last. */
	bool offer_dgram;
	struct {
		struct pvcalls_wire_data_intf *intf;
		void *data;
		uint32_t order, port;
	} rings[8];
	_Atomic int nrings;
};

/* DGRAM_RINGS: maps what the frontend shares, as a backend would. */
static void map_dgram_rings(struct rawbe *b, const struct pvcalls_wire_request *req)
{
	const struct pvcalls_ext_request *x = (const void *)req;
	int n = atomic_load(&b->nrings);
	void *intf, *data;
	uint32_t refs[64], order;

	if (n >= 8 ||
	    pvcalls_transport_map(b->hub, b->gid, 1, &x->u.dgram_rings.ref, true, &intf) < 0)
		return;
	order = ((struct pvcalls_wire_data_intf *)intf)->ring_order;
	if (order > 6)
		return;
	for (uint32_t i = 0; i < (1u << order); i++)
		refs[i] = ((struct pvcalls_wire_data_intf *)intf)->ref[i];
	if (pvcalls_transport_map(b->hub, b->gid, 1u << order, refs, true, &data) < 0 ||
	    pvcalls_transport_evtchn_bind(b->hub, b->gid, x->u.dgram_rings.evtchn,
					  &b->rings[n].port) < 0)
		return;
	b->rings[n].intf = intf;
	b->rings[n].data = data;
	b->rings[n].order = order;
	atomic_store(&b->nrings, n + 1);
}

static void answer(struct rawbe *b, const struct pvcalls_wire_request *req)
{
	/* Read once, as a plain int: a switch on an _Atomic lvalue is
	 * rejected by clang ("statement requires expression of integer
	 * type"), and the mode may change under us between two reads. */
	enum mode mode = (enum mode)atomic_load(&b->mode);
	struct pvcalls_wire_response rsp;

	pvcalls_rsp_build(&rsp, req, 0);
	if (req->cmd == PVCALLS_EXT_DGRAM_RINGS)
		map_dgram_rings(b, req);
	switch (mode) {
	case STALE_FIRST:
	case GARBAGE_REQID:
		/*
		 * A bogus response uses up the credit of the request it
		 * pretends to answer, so the real answer to that request
		 * can only go out on the credit of the next one (which then
		 * stays unanswered).
		 */
		if (!b->held) {
			struct pvcalls_wire_response bad = rsp;

			bad.req_id = mode == STALE_FIRST ? rsp.req_id ^ (1u << 5) : 0xffffffffu;
			b->held_req = *req;
			b->held = 1;
			pvcalls_cmd_back_put(&b->ring, &bad);
		} else {
			pvcalls_rsp_build(&rsp, &b->held_req, 0);
			b->held = 0;
			pvcalls_cmd_back_put(&b->ring, &rsp);
		}
		pvcalls_cmd_back_push(&b->ring);
		pvcalls_transport_evtchn_notify(b->hub, b->port);
		b->answered++;
		return;
	case WRONG_CMD:
		rsp.cmd = PVCALLS_WIRE_CONNECT;
		break;
	case WRONG_ID:
		rsp.u.id ^= 0x1000;
		break;
	case BAD_RET:
		rsp.ret = 5;
		break;
	case ENOTSUPP_RET:
		rsp.ret = -524;
		break;
	case OVERFLOW:
		pvcalls_cmd_back_put(&b->ring, &rsp);
		/* Publish ten more responses than there were requests. */
		__atomic_store_n(&b->ring.sring->rsp_prod, b->ring.rsp_prod_pvt + 10,
				 __ATOMIC_RELEASE);
		pvcalls_transport_evtchn_notify(b->hub, b->port);
		b->answered++;
		return;
	case SILENT:
		return;
	default:
		break;
	}
	pvcalls_cmd_back_put(&b->ring, &rsp);
	if (pvcalls_cmd_back_push(&b->ring))
		pvcalls_transport_evtchn_notify(b->hub, b->port);
	else /* suppression is the frontend's choice; notify anyway for the test */
		pvcalls_transport_evtchn_notify(b->hub, b->port);
	b->answered++;
}

static void *rawbe_main(void *arg)
{
	struct rawbe *b = arg;
	struct pvcalls_wire_request req;

	while (!b->stop) {
		struct pollfd pfd = { .fd = pvcalls_transport_evtchn_fd(b->hub), .events = POLLIN };
		uint32_t p;
		int rc;

		uint32_t fstate = 0;

		poll(&pfd, 1, 20);
		/* Follow the frontend to Closing, as a backend must. */
		if (pvc_xb_read_state(b->hub, b->fedir, &fstate) == 0 &&
		    fstate == PVCALLS_XENBUS_CLOSING)
			pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_CLOSING);
		while (pvcalls_transport_evtchn_pending(b->hub, &p) > 0)
			pvcalls_transport_evtchn_unmask(b->hub, p);
		for (;;) {
			rc = pvcalls_cmd_back_get(&b->ring, &req);
			if (rc == 0) {
				if (pvcalls_cmd_back_final_check(&b->ring) > 0)
					continue;
				break;
			}
			if (rc < 0)
				break;
			answer(b, &req);
		}
	}
	return NULL;
}

/* Plays the backend's side of the negotiation by hand, then serves. */
static void *negotiate(void *arg)
{
	struct rawbe *b = arg;
	struct pvc_xb_offer offer = { .max_order = 4, /* and no wait hints */
				      .ext = b->offer_dgram ? PVCALLS_FEATURE_DGRAM : 0 };
	struct pvc_xb_ring r;
	void *page;
	int rc;

	if (pvc_xb_write_offer(b->hub, PVCALLS_STORE_NO_TXN, b->bedir, &offer) < 0 ||
	    pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_INITWAIT) < 0)
		return NULL;
	rc = pvc_xb_watch_state(b->hub, b->fedir, "rawbe", PVC_XB_MASK(PVCALLS_XENBUS_INITIALISED),
				pvc_now_ms() + 5000, NULL);
	if (rc < 0 || pvc_xb_read_ring(b->hub, b->fedir, &r) < 0)
		return NULL;
	if (pvcalls_transport_map(b->hub, b->gid, 1, &r.ring_ref, true, &page) < 0 ||
	    pvcalls_transport_evtchn_bind(b->hub, b->gid, r.port, &b->port) < 0)
		return NULL;
	b->page = page;
	pvcalls_cmd_back_init(&b->ring, page);
	pvc_xb_set_state(b->hub, b->bedir, PVCALLS_XENBUS_CONNECTED);
	return rawbe_main(b);
}

static struct rawbe *be;
static pvcalls_front *fe;

static bool offer_dgram;

static void setup(void)
{
	static struct rawbe storage;
	/* cmd_timeout_ms: a silent backend costs the tests 400 ms a wait. */
	struct pvcalls_front_opts o = { .connect_timeout_ms = 5000, .cmd_timeout_ms = 400 };

	be = &storage;
	memset(be, 0, sizeof(*be));
	be->offer_dgram = offer_dgram;
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &be->hub, &be->guest), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(be->guest, &be->gid), 0);
	ck_assert_int_eq(pvc_xb_back_dir(be->bedir, sizeof(be->bedir), 0, be->gid, 0), 0);
	ck_assert_int_eq(pvc_xb_front_dir(be->fedir, sizeof(be->fedir), be->gid, 0), 0);
	pthread_create(&be->th, NULL, negotiate, be);
	ck_assert_int_eq(pvcalls_front_open(be->guest, &o, &fe), 0);
}

static void teardown(void)
{
	pvcalls_front_close(fe); /* the fake backend follows it to Closing */
	be->stop = 1;
	pthread_join(be->th, NULL);
	if (be->page)
		pvcalls_transport_unmap(be->hub, be->page, 1);
	pvcalls_transport_close(be->guest);
	pvcalls_transport_close(be->hub);
}

START_TEST(test_good_response)
{
	be->mode = GOOD;
	ck_assert_int_ge(pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(pvcalls_front_max_order(fe), 4);
}
END_TEST

struct sock_thr {
	pthread_t th;
	int rc;
};

/* Waits (bounded) until the fake backend has answered @n requests. */
static void wait_answered(int n)
{
	for (int i = 0; i < 400 && atomic_load(&be->answered) < n; i++)
		usleep(5000);
	ck_assert_int_ge(atomic_load(&be->answered), n);
}

/*
 * SOCKET is not waited for (front_sock.c): its answer's verdict comes
 * with the next call on the socket. A socket whose SOCKET got the
 * answer of @m, then a well-formed BIND: the BIND call's result.
 */
static int socket_then_bind(enum mode m)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	int n = atomic_load(&be->answered), s;

	be->mode = m;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	wait_answered(n + 1);
	be->mode = GOOD;
	return pvcalls_front_bind(fe, s, (struct sockaddr *)&a, sizeof(a));
}

static void *do_socket(void *arg)
{
	((struct sock_thr *)arg)->rc = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	return NULL;
}

/* A bogus response is dropped and counted; the request it pretended to
 * answer still completes when its real answer comes. */
static void bogus_response_case(enum mode m)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(9),
				 .sin_addr.s_addr = htonl(0x7f000001) };
	struct pvcalls_front_stats st = { 0 };
	struct sock_thr t;
	int s;

	be->mode = GOOD;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	wait_answered(1);
	be->mode = m;
	pthread_create(&t.th, NULL, do_socket, &t);
	for (int i = 0; i < 400 && st.bad_responses == 0; i++) {
		usleep(5000);
		pvcalls_front_process(fe); /* nobody waits for SOCKET's answer */
		pvcalls_front_get_stats(fe, &st);
	}
	ck_assert_uint_eq(st.bad_responses, 1);
	/* The next request carries the real answer to the first one. */
	ck_assert_int_eq(pvcalls_front_setopt(fe, s, PVCALLS_OPT_SNDTIMEO_MS, 300), 0);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -EINPROGRESS);
	pthread_join(t.th, NULL);
	ck_assert_int_ge(t.rc, 0);
	/* Its real answer came (on CONNECT's credit): the socket is usable. */
	ck_assert_int_eq(pvcalls_front_setopt(fe, t.rc, PVCALLS_OPT_SNDTIMEO_MS, 300), 0);
	pvcalls_front_get_stats(fe, &st);
	ck_assert_uint_eq(st.bad_responses, 1);
}

START_TEST(test_stale_generation_dropped)
{
	bogus_response_case(STALE_FIRST);
}
END_TEST

START_TEST(test_unknown_reqid_dropped)
{
	bogus_response_case(GARBAGE_REQID);
}
END_TEST

START_TEST(test_wrong_cmd_fails_request)
{
	ck_assert_int_eq(socket_then_bind(WRONG_CMD), -EPROTO);
	/* the frontend still works afterwards */
	ck_assert_int_eq(socket_then_bind(GOOD), 0);
}
END_TEST

START_TEST(test_wrong_id_fails_request)
{
	ck_assert_int_eq(socket_then_bind(WRONG_ID), -EPROTO);
}
END_TEST

START_TEST(test_impossible_ret_fails_request)
{
	ck_assert_int_eq(socket_then_bind(BAD_RET), -EPROTO);
}
END_TEST

START_TEST(test_wire_enotsupp_maps)
{
	ck_assert_int_eq(socket_then_bind(ENOTSUPP_RET), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_response_overflow_kills_connection)
{
	ck_assert_int_eq(socket_then_bind(OVERFLOW), -ENOTCONN);
	ck_assert_int_eq(pvcalls_front_process(fe), -ENOTCONN);
	/* Every later call fails cleanly. */
	ck_assert_int_eq(pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0), -ENOTCONN);
}
END_TEST

START_TEST(test_bad_args_never_reach_backend)
{
	struct sockaddr_in a = { .sin_family = AF_INET6 };

	be->mode = GOOD;
	ck_assert_int_eq(pvcalls_front_socket(fe, AF_INET6, SOCK_STREAM, 0), -EAFNOSUPPORT);
	/* dgram not in force: docs/extensions.md, "Rules" (SOCKET of SOCK_DGRAM). */
	ck_assert_int_eq(pvcalls_front_socket(fe, AF_INET, SOCK_DGRAM, 0), -EAFNOSUPPORT);
	ck_assert_int_eq(pvcalls_front_connect(fe, 12345, (struct sockaddr *)&a, sizeof(a)),
			 -EBADF);
	int s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -EAFNOSUPPORT);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, 4), -EINVAL);
	ck_assert_int_eq(pvcalls_front_send(fe, s, "x", 1, 0), -ENOTCONN);
	ck_assert_int_eq(pvcalls_front_send(fe, s, "x", 1, MSG_OOB), -EOPNOTSUPP);
	ck_assert_int_eq(pvcalls_front_listen(fe, s, 1), -EINVAL); /* not bound */
	ck_assert_int_eq(pvcalls_front_accept(fe, s, 0), -EINVAL); /* not listening */
	ck_assert_int_eq(pvcalls_front_setopt(fe, s, PVCALLS_OPT_RING_ORDER, 5), -EINVAL);
	ck_assert_int_eq(pvcalls_front_setopt(fe, s, PVCALLS_OPT_RING_ORDER, 4), 0);
	wait_answered(1);
	usleep(20000);
	ck_assert_int_eq(be->answered, 1); /* only the one good SOCKET */
}
END_TEST

START_TEST(test_silent_backend_times_out)
{
	int s;

	be->mode = GOOD;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	be->mode = SILENT;
	/* A blocking connect bounded by the send timeout: becomes in-progress. */
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(9),
				 .sin_addr.s_addr = htonl(0x7f000001) };

	ck_assert_int_eq(pvcalls_front_setopt(fe, s, PVCALLS_OPT_SNDTIMEO_MS, 200), 0);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -EINPROGRESS);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)), -EALREADY);
}
END_TEST

/* A backend that never answers: calls come back after cmd_timeout_ms. */
START_TEST(test_command_timeout)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(9),
				 .sin_addr.s_addr = htonl(0x7f000001) };
	int64_t t0;
	int s;

	be->mode = GOOD;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	wait_answered(1);
	be->mode = SILENT;
	t0 = pvc_now_ms();
	ck_assert_int_eq(pvcalls_front_bind(fe, s, (struct sockaddr *)&a, sizeof(a)), -ETIMEDOUT);
	ck_assert_int_ge(pvc_now_ms() - t0, 350);
	/* The BIND's slot stays reserved for a late answer, which (if it
	 * came) would bind the socket; a second socket connects, with no
	 * send timeout: in progress after cmd_timeout_ms. */
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	t0 = pvc_now_ms();
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)),
			 -EINPROGRESS);
	ck_assert_int_ge(pvc_now_ms() - t0, 350);
	ck_assert_int_le(pvc_now_ms() - t0, 5000);
	ck_assert_int_eq(pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a)), -EALREADY);
}
END_TEST

/*
 * RELEASE is not waited for, and a backend that never answers it cannot
 * make the frontend hold unbounded state: 16 releases return at once, the
 * 17th waits cmd_timeout_ms and then reclaims the oldest (its slot
 * counted lost). Close reclaims the rest (ASan and LSan check the frees).
 */
START_TEST(test_release_outstanding_bounded)
{
	struct pvcalls_front_stats st;
	int s[17];
	int64_t t0;

	be->mode = GOOD;
	for (int i = 0; i < 17; i++) {
		s[i] = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(s[i], 0);
	}
	wait_answered(17);
	ck_assert_int_eq(pvcalls_front_process(fe), 0);
	be->mode = SILENT;
	t0 = pvc_now_ms();
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(pvcalls_front_release(fe, s[i]), 0);
	ck_assert_int_lt(pvc_now_ms() - t0, 300);
	/* Handles are free at once. */
	ck_assert_int_eq(pvcalls_front_setopt(fe, s[0], PVCALLS_OPT_NONBLOCK, 1), -EBADF);
	pvcalls_front_get_stats(fe, &st);
	ck_assert_uint_eq(st.lost_slots, 0);
	t0 = pvc_now_ms();
	ck_assert_int_eq(pvcalls_front_release(fe, s[16]), 0);
	ck_assert_int_ge(pvc_now_ms() - t0, 350);
	pvcalls_front_get_stats(fe, &st);
	ck_assert_uint_eq(st.lost_slots, 1);
}
END_TEST

/* A RELEASE answered later is applied then; the answer frees the slot. */
START_TEST(test_release_answered_later)
{
	struct pvcalls_front_stats st;
	int s;

	be->mode = GOOD;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(pvcalls_front_release(fe, s), 0);
	wait_answered(2);
	ck_assert_int_eq(pvcalls_front_process(fe), 0);
	pvcalls_front_get_stats(fe, &st);
	ck_assert_uint_eq(st.bad_responses, 0);
	ck_assert_uint_eq(st.lost_slots, 0);
	ck_assert_uint_eq(st.requests, 2);
}
END_TEST

static void setup_dgram(void)
{
	offer_dgram = true;
	setup();
}

/*
 * A backend that breaks the datagram record format (docs/extensions.md,
 * "Receiving (in ring)", frontend step 1): each makes recv fail with
 * -EPROTO, and every later call on that socket too; another socket is
 * unharmed.
 */
START_TEST(test_dgram_hostile_records)
{
	static const struct {
		const char *what;
		uint32_t len, full_len;
		int32_t err;
		uint32_t write; /* bytes published */
	} bad[] = {
		{ "in_prod not a multiple of 8", 0, 0, 0, 4 },
		{ "fewer than 40 bytes", 0, 0, 0, 16 },
		{ "len above 65,527", 65528, 65528, 0, 40 },
		{ "full_len below len", 8, 7, 0, 48 },
		{ "record past in_prod", 100, 100, 0, 80 },
		{ "error record with a payload", 8, 8, -111, 48 },
		{ "positive err", 0, 0, 5, 40 },
	};
	uint8_t buf[256], in[64];

	be->mode = GOOD;
	ck_assert_uint_ne(pvcalls_front_features(fe) & PVCALLS_FEATURE_DGRAM, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pvcalls_ext_dgram_hdr h = { .len = bad[i].len,
						   .full_len = bad[i].full_len,
						   .err = bad[i].err };
		pvcalls_data_ring r;
		int s = pvcalls_front_socket(fe, AF_INET, SOCK_DGRAM, 0), n;

		ck_assert_int_ge(s, 0);
		n = atomic_load(&be->nrings);
		ck_assert_int_eq(n, (int)i + 1);
		pvcalls_data_ring_attach(&r, be->rings[n - 1].intf, be->rings[n - 1].data,
					 be->rings[n - 1].order, PVCALLS_DATA_BACKEND);
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &h, sizeof(h));
		ck_assert_int_eq(pvcalls_data_write(&r, buf, bad[i].write), (ssize_t)bad[i].write);
		ck_assert_msg(pvcalls_front_recv(fe, s, in, sizeof(in), MSG_DONTWAIT) == -EPROTO,
			      "%s accepted", bad[i].what);
		ck_assert_int_eq(pvcalls_front_recv(fe, s, in, sizeof(in), MSG_DONTWAIT), -EPROTO);
		ck_assert_int_eq(pvcalls_front_send(fe, s, "x", 1, MSG_DONTWAIT), -EPROTO);
	}
	{
		/* A good record on a fresh socket still arrives. */
		struct pvcalls_ext_dgram_hdr h = { .len = 3, .full_len = 3 };
		struct pvcalls_ext_sockaddr_in a = { .family = 2,
						     .port = htons(53),
						     .addr = htonl(0x7f000001) };
		struct sockaddr_in from;
		struct iovec v = { in, sizeof(in) };
		struct msghdr m = { .msg_iov = &v,
				    .msg_iovlen = 1,
				    .msg_name = &from,
				    .msg_namelen = sizeof(from) };
		pvcalls_data_ring r;
		int s = pvcalls_front_socket(fe, AF_INET, SOCK_DGRAM, 0), n;

		ck_assert_int_ge(s, 0);
		n = atomic_load(&be->nrings);
		pvcalls_data_ring_attach(&r, be->rings[n - 1].intf, be->rings[n - 1].data,
					 be->rings[n - 1].order, PVCALLS_DATA_BACKEND);
		memcpy(h.addr, &a, sizeof(a));
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), "abc", 3);
		ck_assert_int_eq(pvcalls_data_write(&r, buf, 48), 48);
		ck_assert_int_eq(pvcalls_front_recvmsg(fe, s, &m, MSG_DONTWAIT), 3);
		ck_assert_int_eq(memcmp(in, "abc", 3), 0);
		ck_assert_int_eq(ntohs(from.sin_port), 53);
		ck_assert_int_eq(pvcalls_front_recvmsg(fe, s, &m, MSG_DONTWAIT), -EAGAIN);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("frontend");
	TCase *tc = tcase_create("malformed-responses");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_good_response);
	tcase_add_test(tc, test_stale_generation_dropped);
	tcase_add_test(tc, test_unknown_reqid_dropped);
	tcase_add_test(tc, test_wrong_cmd_fails_request);
	tcase_add_test(tc, test_wrong_id_fails_request);
	tcase_add_test(tc, test_impossible_ret_fails_request);
	tcase_add_test(tc, test_wire_enotsupp_maps);
	tcase_add_test(tc, test_response_overflow_kills_connection);
	tcase_add_test(tc, test_bad_args_never_reach_backend);
	tcase_add_test(tc, test_silent_backend_times_out);
	tcase_add_test(tc, test_command_timeout);
	tcase_add_test(tc, test_release_outstanding_bounded);
	tcase_add_test(tc, test_release_answered_later);
	suite_add_tcase(su, tc);
	tc = tcase_create("hostile-datagrams");
	tcase_add_checked_fixture(tc, setup_dgram, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dgram_hostile_records);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
