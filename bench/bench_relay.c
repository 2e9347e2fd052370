/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the relay cases: R1/R2 (frontend -> backend -> TCP ->
 * sink vs a direct TCP stream to the same sink).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

#include "bench.h"
#include "bench_common.h"

/* ---------------------------------------------------------------------- */
/* R1/R2: through the backend to a TCP peer vs direct TCP                 */

static int side_relay_front(void *arg)
{
	const struct bulk_cfg *c = arg;
	struct sockaddr_in sa;
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end, last;
	int s, rc;

	if (!buf || guest_open(c->order, c->spin_us, NULL, &t, &fe) < 0)
		return -1;
	if ((rc = sink_addr("front", &sa)) < 0)
		goto out;
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	rc = s < 0 ? s : pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		fail("front: socket/connect: %s", pvcalls_strerror(rc));
		goto out;
	}
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			ssize_t n = pvcalls_front_send(fe, s, buf, CHUNK, 0);

			if (n != CHUNK) {
				rc = fail("front: send: %zd", n);
				goto out;
			}
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	sh->tx_bytes = total;
	last = sink_wait(total);
	if (last < 0) {
		rc = -1;
		goto out;
	}
	sh->value = window_rate(sh->t_start, sh->t_end);
	front_stats(fe);
	rc = pvcalls_front_release(fe, s);
	if (rc < 0)
		fail("front: release: %s", pvcalls_strerror(rc));
out:
	guest_close(t, fe);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static int side_tcp_client(void *arg)
{
	struct sockaddr_in sa;
	uint8_t *buf = pattern_buf(CHUNK);
	uint64_t total = 0;
	int64_t end, last;
	int fd;

	(void)arg;
	if (!buf || sink_addr("tcp client", &sa) < 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("tcp client: connect: %s", strerror(errno));
	sh->t_start = now_ns();
	end = sh->t_start + (int64_t)(dur_bulk * 1e9);
	do {
		for (int k = 0; k < 16; k++) {
			if (write_all(fd, buf, CHUNK) < 0)
				return fail("tcp client: write: %s", strerror(errno));
			total += CHUNK;
		}
	} while (now_ns() < end);
	sh->t_end = now_ns();
	last = sink_wait(total);
	if (last < 0)
		return -1;
	sh->value = window_rate(sh->t_start, sh->t_end);
	close(fd);
	free(buf);
	return 0;
}

int round_relay(uint32_t order, double *gbps)
{
	struct back_cfg bc = { 0 };
	struct bulk_cfg c = { .order = order };
	int rc;

	round_reset();
	rc = backend_sink_front(&bc, side_relay_front, &c);
	*gbps = sh->value;
	if (!rc && cfg.verbose)
		fprintf(stderr, "  order %u: %.2f GB/s (%.2f GB); frontend %" PRIu64 " sleeps, "
			"%" PRIu64 " notifies (%" PRIu64 " suppressed); backend %" PRIu64
			" notifies (%" PRIu64 " suppressed)\n", order, *gbps, sh->tx_bytes / 1e9,
			sh->fe_sleeps, sh->fe_notifies, sh->fe_suppressed, sh->peer_notifies,
			sh->peer_suppressed);
	return rc ? -1 : 0;
}

int round_tcp(double *gbps)
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_sink, side_sink, NULL, "sink",
			     side_tcp_client, NULL, "tcp client");
	*gbps = sh->value;
	return rc ? -1 : 0;
}

