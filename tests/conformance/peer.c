/* SPDX-License-Identifier: MIT */
/*
 * The far end of the backend's sockets: plain POSIX TCP on 127.0.0.1 only
 * (never an external address). Peers are non-blocking and driven from the
 * case's own loop, together with the frontend's rings, so nothing here
 * needs a thread and every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

static void loopback(struct sockaddr_in *sa, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int peer_listen_rcvbuf(struct tc *tc, int backlog, int rcvbuf, uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		tc_fail(tc, "peer: socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Set before listen(): accepted sockets inherit it (and the window). */
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	loopback(&sa, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		tc_fail(tc, "peer: listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return tc_fd(tc, fd);
}

int peer_listen(struct tc *tc, int backlog, uint16_t *port)
{
	return peer_listen_rcvbuf(tc, backlog, 0, port);
}

int peer_accept(struct tc *tc, int lfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int64_t deadline = pvc_now_ms() + timeout_ms;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0)
			return tc_fd(tc, fd);
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			return -1;
		int64_t left = deadline - pvc_now_ms();

		if (left <= 0)
			return -1;
		poll(&pfd, 1, (int)left);
	}
}

int peer_connect_start(struct tc *tc, uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	loopback(&sa, port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return tc_fd(tc, fd);
}

int peer_connect(struct tc *tc, uint16_t port, int timeout_ms)
{
	int fd = peer_connect_start(tc, port);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (poll(&pfd, 1, timeout_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		tc_close_fd(tc, fd);
		return -1;
	}
	return fd;
}

uint16_t free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	loopback(&sa, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

void peer_reset(struct tc *tc, int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	tc_close_fd(tc, fd);
}

int peer_wait_eof(int fd, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (n > 0)
			continue;
		int64_t left = deadline - pvc_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0)
			return 0;
		poll(&pfd, 1, (int)left);
	}
}

int peer_recv_to_eof(struct tc *tc, int fd, uint64_t seed, uint64_t *got, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] != stream_byte(seed, *got + (uint64_t)i)) {
					tc_fail(tc, "peer: byte %llu is corrupt",
						(unsigned long long)(*got + (uint64_t)i));
					return -1;
				}
			}
			*got += (uint64_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return 1;
		int64_t left = deadline - pvc_now_ms();

		if (left <= 0)
			return 0;
		poll(&pfd, 1, (int)left);
	}
}

/*
 * A listener whose accept queue is full drops SYNs (Linux: backlog 0 holds
 * one connection), so a connect to it stays pending until the queue
 * drains and the SYN is retransmitted: deterministic, loopback only.
 */
int full_listener(struct tc *tc, uint16_t *port, int *queued)
{
	int lfd = peer_listen(tc, 0, port), probe;
	struct pollfd pfd;

	if (lfd < 0)
		return -1;
	*queued = peer_connect(tc, *port, 1000);
	if (*queued < 0) {
		tc_skip(tc, "cannot fill a loopback accept queue here");
		return -1;
	}
	probe = peer_connect_start(tc, *port);
	pfd = (struct pollfd){ .fd = probe, .events = POLLOUT };
	if (probe < 0 || poll(&pfd, 1, 200) != 0) {
		tc_skip(tc, "a full accept queue does not hold connects on this host");
		return -1;
	}
	tc_close_fd(tc, probe);
	return lfd;
}

/* Lets pending connects complete (at the next SYN retransmission). */
void drain_listener(struct tc *tc, int lfd)
{
	int fd;

	listen(lfd, 64);
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		tc_fd(tc, fd);
}

/* ------------------------------------------------------------------ */
/* Test data                                                            */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint8_t stream_byte(uint64_t seed, uint64_t pos)
{
	return (uint8_t)(mix(seed + (pos >> 3) * 0x9e3779b97f4a7c15ull) >> ((pos & 7) * 8));
}

static void stream_fill(uint8_t *dst, uint64_t seed, uint64_t pos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = stream_byte(seed, pos + i);
}

/* Index of the first byte that differs, or -1. */
static long stream_check(const uint8_t *src, uint64_t seed, uint64_t pos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (src[i] != stream_byte(seed, pos + i))
			return (long)i;
	return -1;
}

/* Chunk sizes cycle through odd values so copies straddle the wrap. */
static const size_t chunks[] = { 1, 7, 1000, 4093, 65536, 333, 2048, 12345, 4096, 64 };
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* Frontend: one write step into out. 1 progress, 0 none, -1 failed. */
static int fe_tx_step(struct as *s, uint64_t seed, uint64_t *pos, uint64_t total, unsigned *ci)
{
	struct iovec iov[2];
	int room;
	size_t n, first;

	if (*pos >= total)
		return 0;
	room = pvcalls_data_tx_spans(&s->ring, iov);
	if (room < 0) {
		tc_fail(s->fe->tc, "out ring: impossible out_cons from the backend");
		return -1;
	}
	n = min3((size_t)room, total - *pos, chunks[(*ci)++ % NCHUNKS]);
	if (n == 0)
		return 0;
	first = n < iov[0].iov_len ? n : iov[0].iov_len;
	stream_fill(iov[0].iov_base, seed, *pos, first);
	if (n > first)
		stream_fill(iov[1].iov_base, seed, *pos + first, n - first);
	pvcalls_data_tx_commit(&s->ring, (uint32_t)n);
	*pos += n;
	as_notify(s);
	return 1;
}

/* Frontend: one read step from in. 1 progress, 0 none, -1 failed. */
static int fe_rx_step(struct as *s, uint64_t seed, uint64_t *pos, size_t limit)
{
	struct iovec iov[2];
	int q = pvcalls_data_rx_spans(&s->ring, iov);
	size_t n, done = 0;

	if (q < 0) {
		tc_fail(s->fe->tc, "in ring: impossible in_prod from the backend");
		return -1;
	}
	n = (size_t)q < limit ? (size_t)q : limit;
	if (n == 0)
		return 0;
	for (int i = 0; i < 2 && done < n; i++) {
		size_t m = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
		long bad = stream_check(iov[i].iov_base, seed, *pos + done, m);

		if (bad >= 0) {
			tc_fail(s->fe->tc, "in ring: byte %llu is corrupt",
				(unsigned long long)(*pos + done + (size_t)bad));
			return -1;
		}
		done += m;
	}
	pvcalls_data_rx_consume(&s->ring, (uint32_t)n);
	*pos += n;
	as_notify(s);
	return 1;
}

int peer_send_all(struct tc *tc, int fd, uint64_t seed, uint64_t pos, uint64_t n, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	uint64_t end = pos + n;
	uint8_t buf[4096];

	while (pos < end) {
		size_t m = end - pos < sizeof(buf) ? (size_t)(end - pos) : sizeof(buf);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		stream_fill(buf, seed, pos, m);
		w = send(fd, buf, m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			pos += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			tc_fail(tc, "peer: send: %s", strerror(errno));
			return -1;
		}
		int64_t left = deadline - pvc_now_ms();

		if (left <= 0) {
			tc_fail(tc, "peer: cannot send (socket buffers full)");
			return -1;
		}
		poll(&pfd, 1, (int)left);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Stalls from a lost event-channel EOI (profile lost_eoi)              */

/*
 * Linux's pvcalls-back (6.1.192; docs/protocol-notes.md, "Linux backend
 * data path" and "Linux bugs"): every notification on a socket's port makes pvcalls_back_conn_event() count a write and a
 * pending EOI, and pvcalls_back_ioworker() sends the late EOI only once
 * the write count is 0. pvcalls_conn_back_write() returns early on an
 * empty out ring without clearing it, so a notification that finds the
 * out ring empty (the one the spec asks for after consuming from in)
 * leaves the port un-EOIed and Xen delivers none of our later
 * notifications. The worker then runs only when the backend's socket
 * receives something (sk_data_ready). Symptoms, both checked against the
 * indexes as they were at our last notification:
 *
 *  out: the out ring holds data our notification announced and the
 *       backend has consumed none of it since;
 *  in:  the peer's bytes wait in the backend's socket, the in ring has
 *       room (we consumed and notified) and the backend has produced
 *       nothing since (its read is retried only when the worker runs).
 *
 * Returns a description of the stall, or NULL for any other kind.
 */
static const char *wedge_what(struct as *s, const struct xfer *x, char *buf, size_t len)
{
	uint32_t out_prod = RD(s->intf->out_prod), out_cons = RD(s->intf->out_cons);
	uint32_t in_prod = RD(s->intf->in_prod), in_cons = RD(s->intf->in_cons);
	uint32_t size = pvcalls_data_ring_size(&s->ring), q = in_prod - in_cons;

	if (!s->fe->tc->p->lost_eoi || !s->notified)
		return NULL;
	if (out_prod != out_cons && s->nt_out_prod != s->nt_out_cons &&
	    out_cons == s->nt_out_cons && !RD(s->intf->out_error)) {
		snprintf(buf, len,
			 "out ring: %u bytes queued (out_prod %u, out_cons %u), none consumed "
			 "since our last notification",
			 out_prod - out_cons, out_prod, out_cons);
		return buf;
	}
	if (x && !RD(s->intf->in_error) && in_prod == s->nt_in_prod && q < size &&
	    x->sent_peer > x->got_fe + q) {
		snprintf(buf, len,
			 "in ring: %llu bytes the peer sent wait in the backend's socket, the ring "
			 "holds %u of %u, nothing produced since our last notification",
			 (unsigned long long)(x->sent_peer - x->got_fe - q), q, size);
		return buf;
	}
	return NULL;
}

/* Ends a case on a documented stall: leave nothing open for later cases. */
static void stop_case(struct fe *fe)
{
	fe->tc->stopped = true;
	/* The command ring still works. */
	for (unsigned i = 0; i < fe->nsocks; i++)
		do_release(fe, fe->socks[i]->id);
}

bool wedge_check(struct as *s, const struct xfer *x)
{
	struct tc *tc = s->fe->tc;
	const char *what;
	char buf[160];

	/*
	 * Before any notification of ours: Linux's pvcalls_back_connect()
	 * connects, then pvcalls_new_active_socket() installs
	 * pvcalls_sk_data_ready() without queueing a first read (its accept
	 * path does queue one), so what the peer sent in between stays in the
	 * socket until the frontend notifies. A spec frontend that waits for
	 * the server to speak first (SMTP, SSH) then waits for ever.
	 */
	if (tc->p->connect_first_read_lost && x && !s->notified && RD(s->intf->in_prod) == 0 &&
	    !RD(s->intf->in_error) && x->sent_peer > x->got_fe) {
		tc_diverge(tc,
			   "data stalled before any notification of ours: %llu bytes the peer "
			   "sent wait in the backend's socket, the in ring is untouched: "
			   "pvcalls_back_connect() installs pvcalls_sk_data_ready() after the "
			   "connection is up and queues no first read (its accept path does), so "
			   "bytes that arrived in between wait for the frontend's notification",
			   (unsigned long long)(x->sent_peer - x->got_fe));
		stop_case(s->fe);
		return true;
	}
	what = wedge_what(s, x, buf, sizeof(buf));
	if (!what)
		return false;
	tc_diverge(tc,
		   "data stalled, %s: the backend lost the late EOI of the socket's port "
		   "(pvcalls_conn_back_write() returns on an empty out ring without clearing "
		   "map->write, so pvcalls_back_ioworker() never calls xen_irq_lateeoi() and our "
		   "later notifications are not delivered; fixed by "
		   "tests/xen/kmod/pvcalls-back-lateeoi.patch, PVCALLS_XEN_FIX_LINUX=1)",
		   what);
	stop_case(s->fe);
	return true;
}

bool close_unreported(struct as *s, const struct xfer *x, bool reset)
{
	struct tc *tc = s->fe->tc;

	if (!(reset ? tc->p->reset_lost : tc->p->eof_lost) || RD(s->intf->in_error) ||
	    pvcalls_data_rx_queued(&s->ring) || x->got_fe != x->sent_peer)
		return false;
	if (reset)
		tc_diverge(tc,
			   "no in_error after the peer's reset (all %llu bytes read): "
			   "pvcalls_sk_state_change() only marks a read and notifies the "
			   "frontend, and a reset brings no sk_data_ready, so nothing runs "
			   "pvcalls_back_ioworker() to see the error until the frontend "
			   "notifies for another reason (docs/protocol-notes.md, \"Linux backend "
			   "data path\")",
			   (unsigned long long)x->got_fe);
	else
		tc_diverge(tc,
			   "no in_error after all %llu bytes and the peer's FIN: "
			   "pvcalls_conn_back_read() took the FIN with the last data in one "
			   "inet_recvmsg() and calls it again only while the receive queue is "
			   "not empty, so it never sees the 0 that sets in_error = -ENOTCONN "
			   "(docs/xen-harness.md)",
			   (unsigned long long)x->got_fe);
	stop_case(s->fe);
	return true;
}

/*
 * A stall a lost_eoi profile explains: stalled for T_WEDGE already, and
 * wedge_check() recognises it.
 */
static bool wedged(struct as *s, const struct xfer *x, int64_t last)
{
	return s->fe->tc->p->lost_eoi && pvc_now_ms() - last >= T_WEDGE && wedge_check(s, x);
}

/*
 * Whether a loop that started moving data may give up at @deadline: with
 * a lost_eoi profile, only once it has stood still for T_WEDGE (so that
 * wedged() had its chance), or T_WEDGE after the deadline.
 */
static bool give_up(const struct tc *tc, int64_t deadline, int64_t last)
{
	int64_t now = pvc_now_ms();

	if (now <= deadline)
		return false;
	return !tc->p->lost_eoi || now - last >= T_WEDGE || now > deadline + T_WEDGE;
}

int pump(struct as *s, int peerfd, struct xfer *x, int timeout_ms)
{
	struct tc *tc = s->fe->tc;
	int64_t deadline = pvc_now_ms() + timeout_ms, last = pvc_now_ms();
	unsigned ci_fe = 0, ci_peer = 3;
	bool shut = false;
	static uint8_t buf[65536];

	for (;;) {
		int progress = 0, rc;

		rc = fe_tx_step(s, x->seed_out, &x->sent_fe, x->to_peer, &ci_fe);
		if (rc < 0)
			return -1;
		progress |= rc;
		rc = fe_rx_step(s, x->seed_in, &x->got_fe, SIZE_MAX);
		if (rc < 0)
			return -1;
		progress |= rc;
		if (!rc) {
			int32_t err = pvcalls_data_rx_error(&s->ring);

			/* Error seen and ring empty: everything before it is in. */
			if (err && pvcalls_data_rx_queued(&s->ring) == 0 && x->got_fe < x->to_fe) {
				tc_fail(tc, "in_error %d after %llu of %llu bytes", err,
					(unsigned long long)x->got_fe,
					(unsigned long long)x->to_fe);
				return -1;
			}
		}
		if (pvcalls_data_tx_error(&s->ring)) {
			tc_fail(tc, "out_error %d after %llu of %llu bytes",
				pvcalls_data_tx_error(&s->ring), (unsigned long long)x->got_peer,
				(unsigned long long)x->to_peer);
			return -1;
		}

		/* Peer sends. */
		if (x->sent_peer < x->to_fe) {
			size_t n = min3(sizeof(buf), x->to_fe - x->sent_peer,
					chunks[ci_peer++ % NCHUNKS] * 3);
			ssize_t w;

			stream_fill(buf, x->seed_in, x->sent_peer, n);
			w = send(peerfd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0) {
				x->sent_peer += (uint64_t)w;
				progress = 1;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				tc_fail(tc, "peer: send: %s", strerror(errno));
				return -1;
			}
		} else if (x->shut_peer && !shut) {
			shutdown(peerfd, SHUT_WR);
			shut = true;
		}
		/* Peer receives. */
		if (x->got_peer < x->to_peer) {
			ssize_t r = recv(peerfd, buf, sizeof(buf), MSG_DONTWAIT);

			if (r > 0) {
				long bad = stream_check(buf, x->seed_out, x->got_peer, (size_t)r);

				if (bad >= 0) {
					tc_fail(tc, "peer: byte %llu from the out ring is corrupt",
						(unsigned long long)(x->got_peer + (uint64_t)bad));
					return -1;
				}
				x->got_peer += (uint64_t)r;
				progress = 1;
			} else if (r == 0) {
				tc_fail(tc, "peer: EOF after %llu of %llu bytes",
					(unsigned long long)x->got_peer,
					(unsigned long long)x->to_peer);
				return -1;
			} else if (errno != EAGAIN && errno != EINTR) {
				tc_fail(tc, "peer: recv: %s", strerror(errno));
				return -1;
			}
		}

		if (x->sent_fe == x->to_peer && x->got_peer == x->to_peer &&
		    x->sent_peer == x->to_fe && x->got_fe == x->to_fe && (!x->shut_peer || shut)) {
			tc_ok(tc); /* every byte arrived, checked, both ways */
			return 0;
		}
		if (progress)
			last = pvc_now_ms();
		else if (wedged(s, x, last))
			return -1;
		if (give_up(tc, deadline, last)) {
			tc_fail(tc,
				"data stalled: fe->peer %llu/%llu sent, %llu received; "
				"peer->fe %llu/%llu sent, %llu received (in %u/%u/%d out %u/%u/%d)",
				(unsigned long long)x->sent_fe, (unsigned long long)x->to_peer,
				(unsigned long long)x->got_peer, (unsigned long long)x->sent_peer,
				(unsigned long long)x->to_fe, (unsigned long long)x->got_fe,
				RD(s->intf->in_prod), RD(s->intf->in_cons), RD(s->intf->in_error),
				RD(s->intf->out_prod), RD(s->intf->out_cons),
				RD(s->intf->out_error));
			return -1;
		}
		if (!progress) {
			struct pollfd pfd[2] = {
				{ .fd = pvcalls_transport_evtchn_fd(s->fe->t), .events = POLLIN },
				{ .fd = peerfd,
				  .events = (short)(POLLIN |
						    (x->sent_peer < x->to_fe ? POLLOUT : 0)) },
			};

			poll(pfd, 2, 5);
			fe_events(s->fe, 0);
		}
	}
}

int32_t drain_to_error(struct as *s, struct xfer *x, size_t chunk, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms, last = pvc_now_ms();

	for (;;) {
		int32_t err = pvcalls_data_rx_error(&s->ring);
		int rc = fe_rx_step(s, x->seed_in, &x->got_fe, chunk);

		if (rc < 0)
			return 0;
		if (rc > 0) {
			last = pvc_now_ms();
			continue;
		}
		if (err)
			return err;
		if (wedged(s, x, last) || give_up(s->fe->tc, deadline, last))
			return 0;
		fe_events(s->fe, 5);
	}
}

uint64_t fe_fill_until_stalled(struct as *s, uint64_t seed, uint64_t *pos, uint64_t max,
			       int stall_ms)
{
	int64_t last = pvc_now_ms();
	uint64_t start = *pos;
	unsigned ci = 0;

	while (*pos - start < max && pvc_now_ms() - last < stall_ms) {
		int rc = fe_tx_step(s, seed, pos, start + max, &ci);

		if (rc < 0)
			break;
		if (rc > 0)
			last = pvc_now_ms();
		else
			fe_events(s->fe, 5);
	}
	return *pos - start;
}

int fe_write_all(struct as *s, uint64_t seed, uint64_t *pos, uint64_t n, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms, last = pvc_now_ms();
	uint64_t end = *pos + n;
	unsigned ci = 0;

	while (*pos < end) {
		int rc = fe_tx_step(s, seed, pos, end, &ci);

		if (rc < 0)
			return -1;
		if (rc > 0) {
			last = pvc_now_ms();
		} else {
			if (wedged(s, NULL, last) || give_up(s->fe->tc, deadline, last))
				return -1;
			fe_events(s->fe, 5);
		}
	}
	return 0;
}
