/* SPDX-License-Identifier: MIT */
/*
 * A raw frontend for backend tests: the guest end of an in-process shm
 * pair, driven by hand on the test's thread (see rawfe.h).
 */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawfe.h"
#include "xenbus/xenbus.h"

/* The library's clock (common/clock.h), for tests that do not include it. */
int64_t now_ms(void)
{
	return pvc_now_ms();
}

char *rd(pvcalls_transport *t, const char *dir, const char *key, char *buf)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	if (pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, p, buf, 64) < 0)
		return NULL;
	return buf;
}

void wr(pvcalls_transport *t, const char *dir, const char *key, const char *v)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	ck_assert_int_eq(pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, p, v), 0);
}

/* As the hub sees it; absent or garbage reads as Unknown. */
unsigned be_state(struct rawfe *fe)
{
	uint32_t st;

	return pvc_xb_read_state(fe->hub, fe->be, &st) == 0 ? st : PVCALLS_XENBUS_UNKNOWN;
}

void fe_set_state(struct rawfe *fe, uint32_t state)
{
	ck_assert_int_eq(pvc_xb_set_state(fe->t, fe->dev, state), 0);
}

/* Runs the backend until @state shows in the backend directory. */
bool pump_state(struct rawfe *fe, unsigned state)
{
	int64_t end = now_ms() + T_MS;

	while (now_ms() < end) {
		if (be_state(fe) == state)
			return true;
		ck_assert_int_ge(pvcalls_back_process(fe->b, 5), 0);
	}
	return be_state(fe) == state;
}

void pump(pvcalls_back *b, int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end)
		ck_assert_int_ge(pvcalls_back_process(b, 5), 0);
}

void fe_setup(struct rawfe *fe, const struct pvcalls_back_opts *opts)
{
	fe_setup_hub(fe, opts, NULL);
}

void fe_setup_hub(struct rawfe *fe, const struct pvcalls_back_opts *opts,
		  const struct pvcalls_shm_opts *hub)
{
	memset(fe, 0, sizeof(*fe));
	ck_assert_int_eq(pvcalls_shm_pair(hub, NULL, &fe->hub, &fe->t), 0);
	ck_assert_int_eq(pvcalls_back_new(fe->hub, opts, &fe->b), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(fe->t, &fe->domid), 0);
	ck_assert_int_eq(pvc_xb_front_dir(fe->dev, sizeof(fe->dev), fe->domid, 0), 0);
	ck_assert_int_eq(pvc_xb_back_dir(fe->be, sizeof(fe->be), 0, fe->domid, 0), 0);
	fe->next_req = 0;
}

void fe_setup_more(struct rawfe *fe, const struct rawfe *first)
{
	int sv[2];

	memset(fe, 0, sizeof(*fe));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pvcalls_shm_hub_adopt(first->hub, sv[0]), 0);
	ck_assert_int_eq(pvcalls_shm_connect_fd(sv[1], NULL, &fe->t), 0);
	fe->b = first->b;
	fe->hub = first->hub;
	ck_assert_int_eq(pvcalls_transport_local_domid(fe->t, &fe->domid), 0);
	ck_assert_int_eq(pvc_xb_front_dir(fe->dev, sizeof(fe->dev), fe->domid, 0), 0);
	ck_assert_int_eq(pvc_xb_back_dir(fe->be, sizeof(fe->be), 0, fe->domid, 0), 0);
}

void fe_teardown_more(struct rawfe *fe)
{
	pvcalls_transport_close(fe->t);
	pump(fe->b, 50);
}

/* The frontend half of the negotiation, by hand (@initwait: wait for it
 * first): the ring's nodes, then Initialised, each its own write. */
void fe_connect(struct rawfe *fe, bool hint, bool initwait)
{
	struct pvc_xb_ring r = { .wait_hint = hint };

	if (initwait)
		ck_assert(pump_state(fe, PVCALLS_XENBUS_INITWAIT));
	ck_assert_int_eq(pvcalls_transport_share(fe->t, 0, 1, true, &fe->ref, &fe->page), 0);
	pvcalls_cmd_sring_init(fe->page);
	pvcalls_cmd_front_init(&fe->cmd, fe->page);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(fe->t, 0, &fe->port), 0);
	r.ring_ref = fe->ref;
	r.port = fe->port;
	r.ext = fe->ext;
	ck_assert_int_eq(pvc_xb_write_ring(fe->t, PVCALLS_STORE_NO_TXN, fe->dev, &r), 0);
	fe_set_state(fe, PVCALLS_XENBUS_INITIALISED);
	ck_assert(pump_state(fe, PVCALLS_XENBUS_CONNECTED));
}

void fe_teardown(struct rawfe *fe)
{
	pvcalls_back_free(fe->b);
	pvcalls_transport_close(fe->t);
	pvcalls_transport_close(fe->hub);
}

void send_req(struct rawfe *fe, struct pvcalls_wire_request *req)
{
	req->req_id = fe->next_req++;
	ck_assert_int_eq(pvcalls_cmd_front_put(&fe->cmd, req), 0);
	if (pvcalls_cmd_front_push(&fe->cmd))
		pvcalls_transport_evtchn_notify(fe->t, fe->port);
}

/* Runs the backend until a response arrives (1) or @ms pass (0). */
int get_rsp(struct rawfe *fe, struct pvcalls_wire_response *rsp, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		int rc = pvcalls_cmd_front_get(&fe->cmd, rsp);

		ck_assert_int_ge(rc, 0);
		if (rc == 1)
			return 1;
		if (now_ms() >= end)
			return 0;
		ck_assert_int_ge(pvcalls_back_process(fe->b, 2), 0);
	}
}

/* Sends @req and returns the ret of its response, checking the echo. */
int32_t call(struct rawfe *fe, struct pvcalls_wire_request *req)
{
	struct pvcalls_wire_response rsp;

	send_req(fe, req);
	ck_assert_int_eq(get_rsp(fe, &rsp, T_MS), 1);
	ck_assert_uint_eq(rsp.req_id, req->req_id);
	ck_assert_uint_eq(rsp.cmd, req->cmd);
	ck_assert_uint_eq(rsp.u.id, req->u.poll.id);
	return rsp.ret;
}

int32_t do_socket(struct rawfe *fe, uint64_t id)
{
	struct pvcalls_wire_request req;

	ck_assert_int_eq(pvcalls_req_socket(&req, 0, id, AF_INET, SOCK_STREAM, 0), 0);
	return call(fe, &req);
}

int32_t do_bind_addr(struct rawfe *fe, uint64_t id, const struct sockaddr_in *a)
{
	struct pvcalls_wire_request req;

	ck_assert_int_eq(pvcalls_req_bind(&req, 0, id, (const struct sockaddr *)a, sizeof(*a)), 0);
	return call(fe, &req);
}

int32_t do_listen_backlog(struct rawfe *fe, uint64_t id, uint32_t backlog)
{
	struct pvcalls_wire_request req;

	pvcalls_req_listen(&req, 0, id, backlog);
	return call(fe, &req);
}

struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	return a;
}

/* A host TCP listener on an ephemeral loopback port. */
int host_listen(uint16_t *port)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

uint16_t free_port(void)
{
	uint16_t port;
	int fd = host_listen(&port);

	close(fd);
	return port;
}

struct pvcalls_back_stats stats(struct rawfe *fe)
{
	struct pvcalls_back_stats st;

	pvcalls_back_get_stats(fe->b, &st);
	return st;
}
