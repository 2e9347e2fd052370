/* SPDX-License-Identifier: MIT */
/*
 * The cost of auditing on the command round trip: SOCKET+RELEASE pairs
 * from a hand-driven frontend, with no audit sink and with pvcallsd's
 * (JSON formatting + bounded queue + writer thread to /dev/null), in
 * alternating blocks of the same run. Prints both medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

#include "daemon.h"

/* The raw frontend below is shared with check_policy.c; outside Check. */
#define BENCH_CHK(a, op, b) \
	do { \
		long long _a = (long long)(a), _b = (long long)(b); \
		if (!(_a op _b)) { \
			fprintf(stderr, "%s:%d: %s %s %s (%lld, %lld)\n", __FILE__, __LINE__, #a, #op, \
				#b, _a, _b); \
			abort(); \
		} \
	} while (0)
#define ck_assert_int_eq(a, b) BENCH_CHK(a, ==, b)
#define ck_assert_uint_eq(a, b) BENCH_CHK(a, ==, b)
#define ck_assert_int_ge(a, b) BENCH_CHK(a, >=, b)
#define ck_assert_msg(c, ...) BENCH_CHK(!!(c), ==, 1)

#define T_MS 3000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a raw frontend (as in tests/backend) ------------------------------ */
struct rawfe {
	pvcalls_back *b;
	pvcalls_transport *hub, *t;
	uint32_t domid;
	char dev[128], be[128];
	void *page;
	uint32_t ref, port;
	pvcalls_cmd_front cmd;
	uint32_t next_req;
};

static void wr(pvcalls_transport *t, const char *dir, const char *key, const char *v)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	ck_assert_int_eq(pvcalls_transport_store_write(t, PVCALLS_STORE_NO_TXN, p, v), 0);
}

static unsigned be_state(struct rawfe *fe)
{
	char p[256], v[64];

	snprintf(p, sizeof(p), "%s/state", fe->be);
	if (pvcalls_transport_store_read(fe->hub, PVCALLS_STORE_NO_TXN, p, v, sizeof(v)) < 0)
		return 0;
	return (unsigned)atoi(v);
}

static void pump_state(struct rawfe *fe, unsigned state)
{
	int64_t end = now_ms() + T_MS;

	while (now_ms() < end && be_state(fe) != state)
		ck_assert_int_ge(pvcalls_back_process(fe->b, 5), 0);
	ck_assert_uint_eq(be_state(fe), state);
}

static void fe_setup(struct rawfe *fe, pvcalls_policy *pol)
{
	char v[16];

	memset(fe, 0, sizeof(*fe));
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &fe->hub, &fe->t), 0);
	ck_assert_int_eq(pvcalls_back_new(fe->hub, NULL, &fe->b), 0);
	if (pol)
		ck_assert_int_eq(pvcalls_back_set_policy(fe->b, pol), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(fe->t, &fe->domid), 0);
	snprintf(fe->dev, sizeof(fe->dev), "/local/domain/%u/device/pvcalls/0", fe->domid);
	snprintf(fe->be, sizeof(fe->be), "/local/domain/0/backend/pvcalls/%u/0", fe->domid);
	pump_state(fe, 2);
	ck_assert_int_eq(pvcalls_transport_share(fe->t, 0, 1, true, &fe->ref, &fe->page), 0);
	pvcalls_cmd_sring_init(fe->page);
	pvcalls_cmd_front_init(&fe->cmd, fe->page);
	ck_assert_int_eq(pvcalls_transport_evtchn_alloc_unbound(fe->t, 0, &fe->port), 0);
	snprintf(v, sizeof(v), "%u", fe->ref);
	wr(fe->t, fe->dev, "ring-ref", v);
	snprintf(v, sizeof(v), "%u", fe->port);
	wr(fe->t, fe->dev, "port", v);
	wr(fe->t, fe->dev, "state", "3");
	pump_state(fe, 4);
}

static void fe_teardown(struct rawfe *fe)
{
	pvcalls_back_free(fe->b);
	pvcalls_transport_close(fe->t);
	pvcalls_transport_close(fe->hub);
}

static int32_t call(struct rawfe *fe, struct pvcalls_wire_request *req)
{
	struct pvcalls_wire_response rsp;
	int64_t end = now_ms() + T_MS;

	req->req_id = fe->next_req++;
	ck_assert_int_eq(pvcalls_cmd_front_put(&fe->cmd, req), 0);
	if (pvcalls_cmd_front_push(&fe->cmd))
		pvcalls_transport_evtchn_notify(fe->t, fe->port);
	for (;;) {
		int rc = pvcalls_cmd_front_get(&fe->cmd, &rsp);

		ck_assert_int_ge(rc, 0);
		if (rc == 1)
			break;
		ck_assert_msg(now_ms() < end, "no response");
		ck_assert_int_ge(pvcalls_back_process(fe->b, 2), 0);
	}
	ck_assert_uint_eq(rsp.req_id, req->req_id);
	return rsp.ret;
}


static int32_t do_socket(struct rawfe *fe, uint64_t id)
{
	struct pvcalls_wire_request r;

	ck_assert_int_eq(pvcalls_req_socket(&r, 0, id, AF_INET, SOCK_STREAM, 0), 0);
	return call(fe, &r);
}








static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Formatting alone, for comparison. */
static void format_only(void *arg, const struct pvcalls_back_audit *rec)
{
	char buf[2048];

	*(int *)arg += pvcalls_back_audit_json(rec, buf, sizeof(buf)) > 0;
}

#define BLOCK 1000
#define BLOCKS 20

int main(void)
{
	static int64_t t[3][BLOCK * BLOCKS];
	static const char *const what[] = { "audit off", "format only", "pvcallsd sink" };
	int formatted = 0;
	struct pvcalls_wire_request r;
	struct audit_q *q;
	struct rawfe fe;
	uint64_t w, d;
	int n[3] = { 0, 0, 0 };

	fe_setup(&fe, NULL);
	q = audit_q_new(open("/dev/null", O_WRONLY | O_CLOEXEC), 4096);
	for (int blk = 0; blk < 3 * BLOCKS; blk++) {
		int on = blk % 3;

		if (on == 0)
			pvcalls_back_set_audit(fe.b, NULL, NULL);
		else if (on == 1)
			pvcalls_back_set_audit(fe.b, format_only, &formatted);
		else
			pvcalls_back_set_audit(fe.b, audit_q_sink, q);
		for (int i = 0; i < BLOCK; i++) {
			int64_t t0 = now_ns();

			ck_assert_int_eq(do_socket(&fe, 7), 0);
			pvcalls_req_release(&r, 0, 7);
			ck_assert_int_eq(call(&fe, &r), 0);
			t[on][n[on]++] = now_ns() - t0;
		}
	}
	pvcalls_back_set_audit(fe.b, NULL, NULL);
	audit_q_counts(q, &w, &d);
	printf("SOCKET+RELEASE round trip (2 requests), %d pairs each, interleaved blocks of %d:\n",
	       n[0], BLOCK);
	for (int on = 0; on < 3; on++) {
		qsort(t[on], (size_t)n[on], sizeof(t[0][0]), cmp);
		printf("  %-14s median %.2f us, p90 %.2f us\n", what[on], t[on][n[on] / 2] / 1e3,
		       t[on][n[on] * 9 / 10] / 1e3);
	}
	printf("  (%d records formatted; pvcallsd queue: %llu written, %llu dropped)\n", formatted,
	       (unsigned long long)w, (unsigned long long)d);
	audit_q_free(q, 2000);
	fe_teardown(&fe);
	return 0;
}
