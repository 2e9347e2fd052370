/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench, the ring cases: T1/T2/T3 (pvcalls_front_send() -> data
 * ring -> ring peer, a minimal backend from the public ring API that
 * consumes like the backend's relay, copying into a 64 KiB buffer as a
 * socket reader would, vs an AF_UNIX stream with 64 KiB writes) and
 * L2ring (the command ring alone, both ends polling).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/frontend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/wire.h>
#include <pvcalls/wire_ext.h>

#include "bench.h"
#include "bench_common.h"
#include "ring/wait_hint.h"
#include "xenbus/xenbus.h"

/* ---------------------------------------------------------------------- */
/* The ring peer (T1-T3): a minimal backend built on the public ring API.  */
/*                                                                         */
/* It negotiates like our backend (max-page-order 9, wait hints), answers */
/* SOCKET, CONNECT and RELEASE, and consumes the out ring as the          */
/* backend's relay does, but into a 64 KiB buffer instead of a host       */
/* socket: what remains is the data ring and the frontend's send path,    */
/* which is what T1-T3 are about. Its wait policy is the backend's:       */
/* poll while data moved within spin_us, then raise back_waiting (H1 in   */
/* ring/wait_hint.h), look again and sleep on the event channel.          */

struct rpeer {
	pvcalls_transport *t;
	uint32_t gid;
	char bedir[PVC_XB_PATH], fedir[PVC_XB_PATH];
	pvcalls_cmd_back cmd;
	void *cmd_page;
	uint32_t cmd_port;
	bool hint;
	uint32_t spin_us;
	/* the one active socket */
	bool active;
	struct pvcalls_wire_data_intf *intf;
	void *data;
	unsigned npages;
	uint32_t port;
	pvcalls_data_ring ring;
	uint8_t *buf;
	uint64_t bytes;
	double cpu0;
	bool released;
};

/* The offer (max-page-order 9, wait hints) and InitWait together, as the
 * backend publishes them (back_xenbus.c). */
static int rp_publish(pvcalls_transport *t, uint32_t txn, void *arg)
{
	const struct rpeer *p = arg;
	struct pvc_xb_offer o = { .max_order = PVCALLS_WIRE_MAX_RING_ORDER, .wait_hint = true };
	int rc = pvc_xb_write_offer(t, txn, p->bedir, &o);

	return rc < 0 ? rc : pvc_xb_write_state(t, txn, p->bedir, PVCALLS_XENBUS_INITWAIT);
}

static int rp_negotiate(struct rpeer *p)
{
	struct pvc_xb_ring r;
	uint32_t me;
	int rc;

	pvcalls_transport_local_domid(p->t, &me);
	if (!wait_flag((int *)&sh->guest_domid, 20000))
		return fail("ring peer: no guest");
	p->gid = LOAD(&sh->guest_domid);
	rc = pvc_xb_back_dir(p->bedir, sizeof(p->bedir), me, p->gid, 0);
	if (!rc)
		rc = pvc_xb_front_dir(p->fedir, sizeof(p->fedir), p->gid, 0);
	if (!rc)
		rc = pvc_xb_transact(p->t, rp_publish, p);
	if (rc == -EAGAIN) /* a busy store kept conflicting: write unguarded */
		rc = rp_publish(p->t, PVCALLS_STORE_NO_TXN, p);
	if (rc)
		return fail("ring peer: store: %s", pvcalls_strerror(rc));
	rc = pvc_xb_watch_state(p->t, p->fedir, "bench-ring-peer",
				PVC_XB_MASK(PVCALLS_XENBUS_INITIALISED), pvc_now_ms() + 20000,
				NULL);
	if (rc)
		return fail("ring peer: the frontend never got to Initialised: %s",
			    pvcalls_strerror(rc));
	if (pvc_xb_read_ring(p->t, p->fedir, &r) < 0)
		return fail("ring peer: ring-ref/port");
	p->hint = r.wait_hint;
	rc = pvcalls_transport_map(p->t, p->gid, 1, &r.ring_ref, true, &p->cmd_page);
	if (!rc)
		rc = pvcalls_transport_evtchn_bind(p->t, p->gid, r.port, &p->cmd_port);
	if (rc)
		return fail("ring peer: command ring: %s", pvcalls_strerror(rc));
	pvcalls_cmd_back_init(&p->cmd, p->cmd_page);
	return pvc_xb_set_state(p->t, p->bedir, PVCALLS_XENBUS_CONNECTED) ? -1 : 0;
}

static void rp_notify_data(struct rpeer *p)
{
	/* H2: an index moved; notify only a frontend that said it sleeps. */
	if (!p->hint || pvc_hint_peer_waiting(p->intf, true)) {
		pvcalls_transport_evtchn_notify(p->t, p->port);
		sh->peer_notifies++;
	}
}

/* Consumes what the out ring holds. Returns bytes moved, or -1. */
static int64_t rp_drain(struct rpeer *p)
{
	int64_t moved = 0;

	for (;;) {
		struct iovec iov[2];
		int n = pvcalls_data_rx_spans(&p->ring, iov);
		size_t left;

		if (n < 0)
			return fail("ring peer: impossible out-ring indexes");
		if (n == 0)
			break;
		if (!p->bytes)
			p->cpu0 = cpu_self();
		/* Like a socket reader: CHUNK bytes at a time into one buffer. */
		left = (size_t)n;
		for (int i = 0; i < 2 && left; i++) {
			uint8_t *src = iov[i].iov_base;
			size_t len = iov[i].iov_len;

			while (len) {
				size_t k = len < CHUNK ? len : CHUNK;

				memcpy(p->buf, src, k);
				src += k;
				len -= k;
				left -= k;
			}
		}
		pvcalls_data_rx_consume(&p->ring, (uint32_t)n);
		p->bytes += (uint64_t)n;
		moved += n;
	}
	if (moved) {
		note_progress(p->bytes);
		rp_notify_data(p);
	}
	return moved;
}

static int rp_connect(struct rpeer *p, const struct pvcalls_req *rq)
{
	uint32_t ref = rq->u.connect.ref, order, refs[1u << PVCALLS_WIRE_MAX_RING_ORDER];
	int rc;

	if (p->active)
		return -EBUSY;
	rc = pvcalls_transport_map(p->t, p->gid, 1, &ref, true, (void **)&p->intf);
	if (rc)
		return -EFAULT;
	order = pvc_read_once(&p->intf->ring_order);
	if (order > PVCALLS_WIRE_MAX_RING_ORDER) {
		pvcalls_transport_unmap(p->t, p->intf, 1);
		return -EINVAL;
	}
	p->npages = 1u << order;
	for (unsigned i = 0; i < p->npages; i++)
		refs[i] = pvc_read_once(&p->intf->ref[i]);
	rc = pvcalls_transport_map(p->t, p->gid, p->npages, refs, true, &p->data);
	if (!rc)
		rc = pvcalls_transport_evtchn_bind(p->t, p->gid, rq->u.connect.evtchn, &p->port);
	if (rc)
		return fail("ring peer: data ring: %s", pvcalls_strerror(rc));
	pvcalls_data_ring_attach(&p->ring, p->intf, p->data, order, PVCALLS_DATA_BACKEND);
	p->active = true;
	return 0;
}

static void rp_answer(struct rpeer *p, const struct pvcalls_wire_request *raw, int err)
{
	struct pvcalls_wire_response rsp;

	pvcalls_rsp_build(&rsp, raw, err);
	pvcalls_cmd_back_put(&p->cmd, &rsp);
	if (pvcalls_cmd_back_push(&p->cmd))
		pvcalls_transport_evtchn_notify(p->t, p->cmd_port);
}

/* Takes every request; returns how many, or -1. */
static int rp_commands(struct rpeer *p)
{
	struct pvcalls_wire_request raw;
	struct pvcalls_req rq;
	int n = 0, rc, err;

	while ((rc = pvcalls_cmd_back_get(&p->cmd, &raw)) > 0) {
		n++;
		err = pvcalls_req_parse(&raw, &rq);
		if (err == 0) {
			switch (rq.cmd) {
			case PVCALLS_WIRE_SOCKET:
				break;
			case PVCALLS_WIRE_CONNECT:
				err = rp_connect(p, &rq);
				break;
			case PVCALLS_WIRE_RELEASE:
				if (p->active) {
					if (rp_drain(p) < 0)
						return -1;
					sh->rx_bytes = p->bytes;
					sh->cpu_b = p->bytes ? cpu_self() - p->cpu0 : 0;
					pvcalls_transport_evtchn_close(p->t, p->port);
					pvcalls_transport_unmap(p->t, p->data, p->npages);
					pvcalls_transport_unmap(p->t, p->intf, 1);
					p->active = false;
					p->released = true;
				}
				break;
			default:
				err = -EOPNOTSUPP;
			}
		}
		rp_answer(p, &raw, err);
	}
	return rc < 0 ? fail("ring peer: impossible command ring") : n;
}

static int side_ring_peer(void *arg)
{
	struct rpeer p = { .spin_us = *(uint32_t *)arg };
	int64_t last = pvc_now_ns(), end;
	uint32_t state = PVCALLS_XENBUS_UNKNOWN;
	int efd, rc = -1;

	p.buf = malloc(CHUNK);
	if (pvcalls_shm_listen(hub_path, NULL, &p.t) < 0)
		return fail("ring peer: shm listen");
	STORE(&sh->ready_b, 1);
	if (rp_negotiate(&p) < 0)
		goto out;
	efd = pvcalls_transport_evtchn_fd(p.t);
	while (!p.released) {
		int64_t moved = 0;
		int n = rp_commands(&p);

		if (n < 0)
			goto out;
		if (p.active && (moved = rp_drain(&p)) < 0)
			goto out;
		if (n || moved) {
			last = pvc_now_ns();
			continue;
		}
		if (pvc_now_ns() - last < (int64_t)p.spin_us * 1000) {
			cpu_relax(); /* ~30 ns: look again at once */
			continue;
		}
		/* H1: say we sleep, then look once more (pairs with the frontend's H2). */
		if (p.active && p.hint)
			pvc_hint_sleep(p.intf, true);
		if (pvcalls_cmd_back_final_check(&p.cmd) == 0 &&
		    !(p.active && pvcalls_data_rx_queued(&p.ring) != 0)) {
			struct pollfd pfd = { .fd = efd, .events = POLLIN };
			uint32_t port;

			sh->peer_sleeps++;
			poll(&pfd, 1, 100);
			while (pvcalls_transport_evtchn_pending(p.t, &port) > 0)
				pvcalls_transport_evtchn_unmask(p.t, port);
		}
		if (p.active && p.hint)
			pvc_hint_awake(p.intf, true);
		last = pvc_now_ns();
	}
	/* Follow the frontend to Closing, as a backend must, then go. */
	for (end = pvc_now_ns() + 10000000000ll; pvc_now_ns() < end; sleep_us(500)) {
		rp_commands(&p);
		/* A missing node (the guest is gone) reads as Unknown. */
		if (pvc_xb_read_state(p.t, p.fedir, &state) < 0 ||
		    state == PVCALLS_XENBUS_UNKNOWN || state >= PVCALLS_XENBUS_CLOSING ||
		    LOAD(&sh->stop))
			break;
	}
	pvc_xb_set_state(p.t, p.bedir, PVCALLS_XENBUS_CLOSED);
	rc = 0;
out:
	pvcalls_transport_close(p.t);
	free(p.buf);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* T1/T2/T3: bulk through pvcalls_front_send() vs AF_UNIX                 */

/* The frontend is side_front_stream() (bench_common.c), as for R1/R2. */

static int side_unix_writer(void *arg)
{
	uint8_t *buf = pattern_buf(CHUNK);
	double cpu0;
	int fd = unix_fds[0];

	(void)arg;
	close(unix_fds[1]);
	cpu0 = cpu_self();
	if (fd_write_for(fd, buf, "unix writer") < 0)
		return -1;
	sh->cpu_a = cpu_self() - cpu0;
	close(fd);
	free(buf);
	return 0;
}

static int side_unix_reader(void *arg)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t total = 0;
	double cpu0 = 0;
	int fd = unix_fds[1];

	(void)arg;
	close(unix_fds[0]);
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("unix reader: %s", strerror(errno));
		if (n == 0)
			break;
		if (!total)
			cpu0 = cpu_self();
		total += (uint64_t)n;
		note_progress(total);
	}
	sh->cpu_b = cpu_self() - cpu0;
	sh->rx_bytes = total;
	free(buf);
	return 0;
}

static int bulk_result(struct bulk_res *r)
{
	double s = secs(sh->t_last - sh->t_start);

	if (sh->rx_bytes != sh->tx_bytes || s <= 0)
		return fail("bulk: sent %" PRIu64 ", received %" PRIu64, sh->tx_bytes,
			    sh->rx_bytes);
	r->gbps = window_rate(sh->t_start, sh->t_end);
	r->cpu_per_gb = (sh->cpu_a + sh->cpu_b) / ((double)sh->rx_bytes / 1e9);
	return 0;
}

int round_bulk_ring(uint32_t order, uint32_t spin_us, struct bulk_res *r)
{
	struct bulk_cfg c = { .order = order, .spin_us = spin_us };
	uint32_t peer_spin = tune_back_spin ? tune_back_spin : 20; /* the backend's default */
	int rc;

	round_reset();
	rc = host_then_guest(cpu_host, side_ring_peer, &peer_spin, "ring peer", side_front_stream,
			     &c, "frontend");
	if (rc || bulk_result(r))
		return -1;
	if (cfg.verbose)
		fprintf(stderr,
			"  order %u: %.2f GB/s (%.2f GB in %.3f s), %.3f s/GB; frontend "
			"%" PRIu64 " sleeps, %" PRIu64 " notifies (%" PRIu64 " suppressed); peer "
			"%" PRIu64 " sleeps, %" PRIu64 " notifies\n",
			order, r->gbps, sh->rx_bytes / 1e9, secs(sh->t_last - sh->t_start),
			r->cpu_per_gb, sh->fe_sleeps, sh->fe_notifies, sh->fe_suppressed,
			sh->peer_sleeps, sh->peer_notifies);
	return 0;
}

int round_bulk_unix(struct bulk_res *r)
{
	round_reset();
	if (unix_pair(side_unix_reader, "unix reader", side_unix_writer, "unix writer") ||
	    bulk_result(r))
		return -1;
	if (cfg.verbose)
		fprintf(stderr, "  AF_UNIX: %.2f GB/s (%.2f GB in %.3f s), %.3f s/GB\n", r->gbps,
			sh->rx_bytes / 1e9, secs(sh->t_last - sh->t_start), r->cpu_per_gb);
	return 0;
}

/*
 * The floor of L2: the command ring alone, both ends polling with the
 * public ring API and doing nothing else (SOCKET requests answered with
 * 0), on one shared page. What the frontend and the backend add to this
 * is their own work.
 *
 * With @arg pointing to true (L2area), the server also writes a 56-byte
 * reply into the request's reply area and the client copies it out, as
 * GETSOCKOPT does (docs/extensions.md, "Reply areas"): the wire's own
 * cost of L2's command beyond the bare ring.
 */
static struct pvcalls_wire_cmd_sring *cmdring_page;

static uint8_t *reply_area(uint32_t id)
{
	return (uint8_t *)cmdring_page + PVCALLS_EXT_REPLY_AREA_OFFSET(id & 31u);
}

static int side_cmdring_client(void *arg)
{
	struct pvcalls_wire_request q;
	struct pvcalls_wire_response p;
	pvcalls_cmd_front f;
	struct timed_loop l = { .warm = 20, .dur = dur_lat };
	uint8_t area[PVCALLS_EXT_REPLY_SIZE];
	bool with_area = *(const bool *)arg;
	uint32_t id = 0, sum = 0;

	pvcalls_cmd_front_init(&f, cmdring_page);
	for (;;) {
		int64_t t0 = tl_start(&l);

		for (int k = 0; k < 64; k++, id++) {
			pvcalls_req_socket(&q, id, id, AF_INET, SOCK_STREAM, 0);
			pvcalls_cmd_front_put(&f, &q);
			pvcalls_cmd_front_push(&f);
			while (pvcalls_cmd_front_get(&f, &p) <= 0)
				cpu_relax();
			if (with_area) {
				memcpy(area, reply_area(id), sizeof(area));
				sum += area[id % sizeof(area)];
			}
		}
		if (tl_end(&l, t0, pvc_now_ns(), 64))
			break;
	}
	STORE(&sh->stop, 1);
	return sum == UINT32_MAX; /* uses the copies; never true */
}

static int side_cmdring_server(void *arg)
{
	struct pvcalls_wire_request q;
	struct pvcalls_wire_response p;
	pvcalls_cmd_back r;
	uint8_t area[PVCALLS_EXT_REPLY_SIZE];
	bool with_area = *(const bool *)arg;

	pvcalls_cmd_back_init(&r, cmdring_page);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		if (pvcalls_cmd_back_get(&r, &q) > 0) {
			if (with_area) {
				memset(area, (int)q.req_id, sizeof(area));
				memcpy(reply_area(q.req_id), area, sizeof(area));
			}
			pvcalls_rsp_build(&p, &q, 0);
			pvcalls_cmd_back_put(&r, &p);
			pvcalls_cmd_back_push(&r);
		} else {
			cpu_relax();
		}
	}
	return 0;
}

int round_cmdring(bool area, double *us)
{
	static bool with_area;
	int rc;

	if (!cmdring_page) {
		void *p =
			mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return fail("mmap: %s", strerror(errno));
		cmdring_page = p;
	}
	round_reset();
	pvcalls_cmd_sring_init(cmdring_page);
	with_area = area;
	rc = host_then_guest(cpu_host, side_cmdring_server, &with_area, "command ring server",
			     side_cmdring_client, &with_area, "command ring client");
	*us = lat_median();
	return rc ? -1 : 0;
}
