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
#include <time.h>
#include <unistd.h>

#include "rawfe.h"

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

unsigned be_state(struct rawfe *fe)
{
	char v[64];

	return rd(fe->hub, fe->be, "state", v) ? (unsigned)atoi(v) : 0;
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
	memset(fe, 0, sizeof(*fe));
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &fe->hub, &fe->t), 0);
	ck_assert_int_eq(pvcalls_back_new(fe->hub, opts, &fe->b), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(fe->t, &fe->domid), 0);
	snprintf(fe->dev, sizeof(fe->dev), "/local/domain/%u/device/pvcalls/0", fe->domid);
	snprintf(fe->be, sizeof(fe->be), "/local/domain/0/backend/pvcalls/%u/0", fe->domid);
	fe->next_req = 0;
}

/* The frontend half of the negotiation, by hand (@initwait: wait for it first). */
void fe_connect(struct rawfe *fe, bool hint, bool initwait)
{
	char v[16];

	if (initwait)
		ck_assert(pump_state(fe, 2));
	ck_assert_int_eq(pvcalls_transport_share(fe->t, 0, 1, true, &fe->ref, &fe->page), 0);
	pvcalls_cmd_sring_init(fe->page);
	pvcalls_cmd_front_init(&fe->cmd, fe->page);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(fe->t, 0, &fe->port), 0);
	snprintf(v, sizeof(v), "%u", fe->ref);
	wr(fe->t, fe->dev, "ring-ref", v);
	snprintf(v, sizeof(v), "%u", fe->port);
	wr(fe->t, fe->dev, "port", v);
	if (hint)
		wr(fe->t, fe->dev, "feature-wait-hint", "1");
	wr(fe->t, fe->dev, "state", "3");
	ck_assert(pump_state(fe, 4));
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

struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
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
