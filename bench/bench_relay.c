/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the relay cases: R1/R2 (frontend -> backend -> TCP ->
 * sink vs a direct TCP stream to the same sink).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "bench_common.h"

/* ---------------------------------------------------------------------- */
/* R1/R2: through the backend to a TCP peer vs direct TCP                 */

/* The frontend is side_front_stream() (bench_common.c) with to_sink, as
 * for T1-T3 but to the sink through the backend. */

static int side_tcp_client(void *arg)
{
	struct sockaddr_in sa;
	uint8_t *buf = pattern_buf(CHUNK);
	int fd;

	(void)arg;
	if (!buf || sink_addr("tcp client", &sa) < 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("tcp client: connect: %s", strerror(errno));
	if (fd_write_for(fd, buf, "tcp client: write") < 0 || sink_wait(sh->tx_bytes) < 0)
		return -1;
	sh->value = window_rate(sh->t_start, sh->t_end);
	close(fd);
	free(buf);
	return 0;
}

int round_relay(uint32_t order, double *gbps)
{
	struct back_cfg bc = { 0 };
	struct bulk_cfg c = { .order = order, .to_sink = true };
	int rc;

	round_reset();
	rc = backend_sink_front(&bc, side_front_stream, &c);
	*gbps = sh->value;
	if (!rc && cfg.verbose)
		fprintf(stderr,
			"  order %u: %.2f GB/s (%.2f GB); frontend %" PRIu64 " sleeps, "
			"%" PRIu64 " notifies (%" PRIu64 " suppressed); backend %" PRIu64
			" notifies (%" PRIu64 " suppressed)\n",
			order, *gbps, sh->tx_bytes / 1e9, sh->fe_sleeps, sh->fe_notifies,
			sh->fe_suppressed, sh->peer_notifies, sh->peer_suppressed);
	return rc ? -1 : 0;
}

int round_tcp(double *gbps)
{
	int rc;

	round_reset();
	rc = host_then_guest(cpu_sink, side_sink, NULL, "sink", side_tcp_client, NULL,
			     "tcp client");
	*gbps = sh->value;
	return rc ? -1 : 0;
}
