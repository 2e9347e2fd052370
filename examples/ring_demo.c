/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-ring-demo: two processes move data through one PV Calls data
 * ring over the shared-memory transport, both directions at once, and
 * check every byte.
 *
 * The parent is the hub ("backend domain"); the child connects as a guest
 * ("frontend"), shares an indexes page and 2^order data pages, allocates
 * an event channel and publishes the refs in the store, as a PV Calls
 * frontend would for CONNECT. The parent maps them and relays: each side
 * sends a pseudo-random stream and verifies the one it receives.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

struct stream {
	uint64_t state; /* xorshift64 state: sender and receiver agree on it */
	uint64_t done;
};

static uint8_t next_byte(struct stream *s)
{
	/* One xorshift step per 8 bytes keeps generation cheap. */
	uint8_t b;

	if ((s->done & 7) == 0) {
		s->state ^= s->state << 13;
		s->state ^= s->state >> 7;
		s->state ^= s->state << 17;
	}
	b = (uint8_t)(s->state >> ((s->done & 7) * 8));
	s->done++;
	return b;
}

struct side {
	const char *name;
	pvcalls_transport *t;
	pvcalls_data_ring ring;
	uint32_t port;
	struct stream tx, rx;
	uint64_t total;
	uint64_t notifies, sleeps;
	uint64_t bad;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *who, const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s\n", who, what, pvcalls_strerror(rc));
	return 1;
}

/* Moves side->total bytes each way; returns 0 when both streams checked out. */
static int pump(struct side *s)
{
	uint8_t buf[65536];
	int fd = pvcalls_transport_evtchn_fd(s->t);

	while (s->tx.done < s->total || s->rx.done < s->total) {
		bool progress = false;
		ssize_t n;

		if (s->tx.done < s->total) {
			struct iovec iov[2];
			int room = pvcalls_data_tx_spans(&s->ring, iov);
			uint64_t want = s->total - s->tx.done;
			uint32_t put = 0;

			if (room < 0)
				return fail(s->name, "tx ring", room);
			for (int i = 0; i < 2 && put < (uint32_t)room && put < want; i++) {
				uint8_t *p = iov[i].iov_base;

				for (size_t k = 0; k < iov[i].iov_len && put < want; k++, put++)
					p[k] = next_byte(&s->tx);
			}
			if (put) {
				pvcalls_data_tx_commit(&s->ring, put);
				progress = true;
			}
		}
		n = pvcalls_data_read(&s->ring, buf, sizeof(buf), 0);
		if (n < 0)
			return fail(s->name, "rx ring", (int)n);
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != next_byte(&s->rx))
				s->bad++;
		if (n > 0)
			progress = true;
		if (progress) {
			pvcalls_transport_evtchn_notify(s->t, s->port);
			s->notifies++;
			continue;
		}
		/* Nothing to do: sleep until the peer signals. Pending ports
		 * are unmasked before the rings are looked at again, so an
		 * event sent after our last look is never lost. */
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, 5000);
		uint32_t port;

		if (rc == 0) {
			fprintf(stderr, "%s: peer silent for 5 s\n", s->name);
			return 1;
		}
		s->sleeps++;
		while (pvcalls_transport_evtchn_pending(s->t, &port) > 0)
			pvcalls_transport_evtchn_unmask(s->t, port);
	}
	return s->bad ? 1 : 0;
}

static int run_guest(const char *path, unsigned order, uint64_t total)
{
	struct side s = { .name = "frontend", .total = total };
	unsigned npages = 1u << order;
	uint32_t refs[512], iref, domid;
	void *intf, *data;
	char key[128];
	int rc;

	s.tx.state = 0x243f6a8885a308d3ull; /* frontend -> backend stream */
	s.rx.state = 0x13198a2e03707344ull;
	rc = pvcalls_shm_connect(path, NULL, &s.t);
	if (rc < 0)
		return fail("frontend", "connect", rc);
	pvcalls_transport_local_domid(s.t, &domid);
	rc = pvcalls_transport_share(s.t, 0, 1, true, &iref, &intf);
	if (rc == 0)
		rc = pvcalls_transport_share(s.t, 0, npages, true, refs, &data);
	if (rc < 0)
		return fail("frontend", "share pages", rc);
	((struct pvcalls_wire_data_intf *)intf)->ring_order = order;
	memcpy(((struct pvcalls_wire_data_intf *)intf)->ref, refs, npages * sizeof(refs[0]));
	rc = pvcalls_transport_evtchn_alloc_unbound(s.t, 0, &s.port);
	if (rc < 0)
		return fail("frontend", "evtchn", rc);
	pvcalls_data_ring_attach(&s.ring, intf, data, order, PVCALLS_DATA_FRONTEND);
	snprintf(key, sizeof(key), "/local/domain/%u/device/pvcalls/0/demo-port", domid);
	pvcalls_transport_store_printf(s.t, 0, key, "%u", s.port);
	snprintf(key, sizeof(key), "/local/domain/%u/device/pvcalls/0/demo-ref", domid);
	pvcalls_transport_store_printf(s.t, 0, key, "%u", iref);

	rc = pump(&s);
	printf("frontend: sent %" PRIu64 " bytes, received %" PRIu64 " bytes, %s; "
	       "%" PRIu64 " notifications, %" PRIu64 " sleeps\n",
	       s.tx.done, s.rx.done, s.bad ? "CHECKSUM MISMATCH" : "checksum ok", s.notifies,
	       s.sleeps);
	pvcalls_transport_evtchn_close(s.t, s.port);
	pvcalls_transport_unshare(s.t, data, npages);
	pvcalls_transport_unshare(s.t, intf, 1);
	pvcalls_transport_close(s.t);
	return rc;
}

/* Waits (through a store watch) until the guest published the refs. */
static int wait_for_guest(pvcalls_transport *t, uint32_t *guest, uint32_t *iref, uint32_t *port)
{
	char path[256], tok[32], key[128];
	double deadline = now_s() + 10;

	pvcalls_transport_store_watch(t, "/local/domain", "demo");
	while (now_s() < deadline) {
		struct pollfd pfd = { .fd = pvcalls_transport_store_fd(t), .events = POLLIN };

		poll(&pfd, 1, 200);
		while (pvcalls_transport_store_read_watch(t, path, sizeof(path), tok, sizeof(tok)) >
		       0) {
			unsigned g;

			if (sscanf(path, "/local/domain/%u/device/pvcalls/0/demo-ref", &g) != 1)
				continue;
			snprintf(key, sizeof(key), "/local/domain/%u/device/pvcalls/0/demo-ref", g);
			if (pvcalls_transport_store_read_uint(t, 0, key, iref) < 0)
				continue;
			snprintf(key, sizeof(key), "/local/domain/%u/device/pvcalls/0/demo-port",
				 g);
			if (pvcalls_transport_store_read_uint(t, 0, key, port) < 0)
				continue;
			*guest = g;
			return 0;
		}
	}
	return -ETIMEDOUT;
}

static int run_hub(pvcalls_transport *t, unsigned order, uint64_t total, double *secs)
{
	struct side s = { .name = "backend", .t = t, .total = total };
	uint32_t guest, iref, rport, refs[512];
	struct pvcalls_wire_data_intf *intf;
	void *ip, *data;
	unsigned ro;
	double t0;
	int rc;

	s.tx.state = 0x13198a2e03707344ull;
	s.rx.state = 0x243f6a8885a308d3ull;
	rc = wait_for_guest(t, &guest, &iref, &rport);
	if (rc < 0)
		return fail("backend", "waiting for the frontend", rc);
	rc = pvcalls_transport_map(t, guest, 1, &iref, true, &ip);
	if (rc < 0)
		return fail("backend", "map indexes page", rc);
	intf = ip;
	/* Read ring_order once and validate the copy (trust model). */
	ro = __atomic_load_n(&intf->ring_order, __ATOMIC_RELAXED);
	if (ro != order || ro > PVCALLS_WIRE_MAX_RING_ORDER)
		return fail("backend", "ring_order", -EPROTO);
	memcpy(refs, intf->ref, (1u << ro) * sizeof(refs[0]));
	rc = pvcalls_transport_map(t, guest, 1u << ro, refs, true, &data);
	if (rc < 0)
		return fail("backend", "map data pages", rc);
	rc = pvcalls_transport_evtchn_bind(t, guest, rport, &s.port);
	if (rc < 0)
		return fail("backend", "bind event channel", rc);
	pvcalls_data_ring_attach(&s.ring, intf, data, ro, PVCALLS_DATA_BACKEND);
	pvcalls_transport_evtchn_notify(t, s.port); /* in case the guest already waits */

	t0 = now_s();
	rc = pump(&s);
	*secs = now_s() - t0;
	printf("backend:  sent %" PRIu64 " bytes, received %" PRIu64 " bytes, %s; "
	       "%" PRIu64 " notifications, %" PRIu64 " sleeps\n",
	       s.tx.done, s.rx.done, s.bad ? "CHECKSUM MISMATCH" : "checksum ok", s.notifies,
	       s.sleeps);
	pvcalls_transport_evtchn_close(t, s.port);
	pvcalls_transport_unmap(t, data, 1u << ro);
	pvcalls_transport_unmap(t, ip, 1);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvcalls-ring-demo [--order N] [--mib M] | --help | --version\n"
		   "  Moves M MiB (default 256) each way through one data ring of\n"
		   "  order N (0..9, default 4) between two processes over shm.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "order", required_argument, NULL, 'o' },
		{ "mib", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	unsigned order = 4;
	uint64_t mib = 256;
	char dir[] = "/tmp/pvcalls-demo-XXXXXX", path[64];
	pvcalls_transport *hub;
	double secs = 0;
	int c, rc, status = 0;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "o:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			order = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			mib = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pvcalls-ring-demo (libpvcalls) %s\n", pvcalls_version());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (order > PVCALLS_WIRE_MAX_RING_ORDER || mib == 0) {
		usage(stderr);
		return 2;
	}
	if (getenv("PVCALLS_DEBUG"))
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/hub", dir);
	rc = pvcalls_shm_listen(path, NULL, &hub);
	if (rc < 0)
		return fail("backend", "listen", rc);
	printf("pvcalls-ring-demo: order %u (%u KiB each way), %" PRIu64 " MiB each way, "
	       "two processes over the shm transport\n",
	       order, PVCALLS_WIRE_DATA_RING_SIZE(order) / 1024, mib);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* The child is only a guest. It must not touch the hub handle:
		 * the hub's service thread does not exist in this process. */
		_exit(run_guest(path, order, mib << 20));
	}
	rc = run_hub(hub, order, mib << 20, &secs);
	if (rc)
		kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	pvcalls_transport_close(hub);
	rmdir(dir);
	if (rc || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("pvcalls-ring-demo: FAILED\n");
		return 1;
	}
	printf("pvcalls-ring-demo: %.2f GB moved in %.2f s (%.2f GB/s both ways together), "
	       "all bytes verified\n",
	       2.0 * (double)(mib << 20) / 1e9, secs, 2.0 * (double)(mib << 20) / 1e9 / secs);
	return 0;
}
