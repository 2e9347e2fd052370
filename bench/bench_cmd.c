/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the command cases: L1/L2 (GETSOCKOPT round trips
 * through the real backend vs a 64-byte AF_UNIX ping-pong / a
 * shared-atomic ping-pong) and A1/A2 (the same round trips with
 * pvcallsd's audit log on, vs off).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>

#include "bench.h"
#include "bench_common.h"

/* ---------------------------------------------------------------------- */
/* L1/L2: command round trips vs ping-pongs                               */

struct lat_cfg {
	uint32_t spin_us; /* frontend and backend alike */
};

/*
 * GETSOCKOPT(SO_LINGER) on a socket that never connects, the cheapest
 * request and response there is: the backend answers it from its record
 * of the socket, with no host syscall, so what is timed is the command
 * ring, the notifications and the wait policies. (Until SOCKET and
 * RELEASE were sent without waiting for their answers, front_sock.c, this
 * case timed SOCKET/RELEASE pairs; those now cost the caller no round
 * trip.)
 */
static int side_lat_front(void *arg)
{
	const struct lat_cfg *c = arg;
	/* Blocking: every round trip timed; polling: batches of 8. */
	int ops = c->spin_us == PVCALLS_FRONT_NO_SPIN ? 1 : 8;
	pvcalls_transport *t;
	pvcalls_front *fe;
	struct timed_loop l = { .warm = 50, .dur = dur_lat };
	struct linger lg;
	int rc = 0, s;

	if (guest_open(UINT32_MAX, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		guest_close(t, fe);
		return fail("front: socket: %s", pvcalls_strerror(s));
	}
	for (;;) {
		int64_t t0 = tl_start(&l);

		for (int k = 0; k < ops && rc >= 0; k++) {
			socklen_t len = sizeof(lg);

			rc = pvcalls_front_getsockopt(fe, s, SOL_SOCKET, SO_LINGER, &lg, &len);
		}
		if (rc < 0) {
			fail("front: getsockopt: %s (the backend must offer sockopt)",
			     pvcalls_strerror(rc));
			break;
		}
		if (tl_end(&l, t0, pvc_now_ns(), ops))
			break;
	}
	pvcalls_front_release(fe, s);
	guest_close(t, fe);
	return rc < 0 ? -1 : 0;
}

int round_lat_pvcalls(uint32_t spin_us, bool audit, double *us)
{
	struct back_cfg bc = { .spin_us = spin_us, .audit = audit };
	struct lat_cfg lc = { .spin_us = spin_us == PVCALLS_BACK_NO_SPIN ? PVCALLS_FRONT_NO_SPIN
									 : spin_us };
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_backend, &bc, "backend", side_lat_front, &lc,
			     "frontend");
	*us = lat_median();
	if (!rc && cfg.verbose && sh->b_reqs)
		fprintf(stderr,
			"  %.3f us; backend per request: %.2f us CPU, %.2f read() and "
			"%.2f write() calls (%" PRIu64 " requests)\n",
			*us, sh->cpu_b * 1e6 / (double)sh->b_reqs,
			(double)sh->b_syscr / (double)sh->b_reqs,
			(double)sh->b_syscw / (double)sh->b_reqs, sh->b_reqs);
	if (!rc && audit && cfg.verbose)
		fprintf(stderr, "  audit: %" PRIu64 " records written, %" PRIu64 " dropped\n",
			sh->audit_written, sh->audit_dropped);
	if (!rc && audit && sh->audit_written == 0)
		return fail("audit: no record reached the log");
	return rc ? -1 : 0;
}

static int side_pp_unix_client(void *arg)
{
	uint8_t msg[64] = { 1 };
	struct timed_loop l = { .warm = 50, .dur = dur_lat };
	int fd = unix_fds[0];

	(void)arg;
	close(unix_fds[1]);
	for (;;) {
		int64_t t0 = tl_start(&l);

		if (write_all(fd, msg, sizeof(msg)) < 0 || read_all(fd, msg, sizeof(msg)) < 0)
			return fail("ping-pong client: %s", strerror(errno));
		if (tl_end(&l, t0, pvc_now_ns(), 1))
			break;
	}
	close(fd);
	return 0;
}

static int side_pp_unix_server(void *arg)
{
	uint8_t msg[64];
	int fd = unix_fds[1];

	(void)arg;
	close(unix_fds[0]);
	while (read_all(fd, msg, sizeof(msg)) == 0)
		if (write_all(fd, msg, sizeof(msg)) < 0)
			break;
	close(fd);
	return 0;
}

int round_pp_unix(double *us)
{
	int rc;

	round_reset();
	rc = unix_pair(side_pp_unix_server, "ping-pong server", side_pp_unix_client,
		       "ping-pong client");
	*us = lat_median();
	return rc ? -1 : 0;
}

/* A bare shared-atomic ping-pong: the floor of any polling round trip. */
static int side_pp_atomic_client(void *arg)
{
	struct timed_loop l = { .warm = 20, .dur = dur_lat };
	uint32_t v = 0;

	(void)arg;
	/* Batches of 256 round trips: a clock read per trip would be 20% of it. */
	for (;;) {
		int64_t t0 = tl_start(&l);

		for (int k = 0; k < 256; k++) {
			__atomic_store_n(&sh->pp, v + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&sh->pp, __ATOMIC_ACQUIRE) != v + 2)
				cpu_relax();
			v += 2;
		}
		if (tl_end(&l, t0, pvc_now_ns(), 256))
			break;
	}
	STORE(&sh->stop, 1);
	return 0;
}

static int side_pp_atomic_server(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		uint32_t v = __atomic_load_n(&sh->pp, __ATOMIC_ACQUIRE);

		if (v & 1)
			__atomic_store_n(&sh->pp, v + 1, __ATOMIC_RELEASE);
		else
			cpu_relax();
	}
	return 0;
}

int round_pp_atomic(double *us)
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_pp_atomic_server, NULL, "ping-pong server",
			     side_pp_atomic_client, NULL, "ping-pong client");
	*us = lat_median();
	return rc ? -1 : 0;
}
