/* SPDX-License-Identifier: MIT */
/*
 * The data path: send and recv on a connected socket's data ring. No
 * fe->lock on the way: one sender (s->tx_lock) and one receiver
 * (s->rx_lock) per socket own their direction of the ring; fe->lock is
 * taken only to look the socket up and, when the ring stays full or
 * empty past the spin, to sleep (data_wait).
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/log.h"
#include "frontend/front_priv.h"
#include "ring/wait_hint.h"

/* Tells the backend about ring progress unless the hint says it is awake. */
static void notify_data(pvcalls_front *fe, struct fsock *s)
{
	if (fe->hint && !pvc_hint_peer_waiting(s->r.ring.intf, false)) {
		__atomic_fetch_add(&fe->stats.notifies_suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&fe->stats.notifies_sent, 1, __ATOMIC_RELAXED);
	/* As for the command ring (front_cmd.c): waiters would sleep until
	 * their timeout on progress the backend never hears of. The
	 * direction's lock is held, which comes before fe->lock. */
	if (pvcalls_transport_evtchn_notify(fe->t, s->r.port)) {
		pthread_mutex_lock(&fe->lock);
		/* An orphan's peer is an old backend session, gone for good
		 * (frontend.c, pvc_fe_revive()): not this session's failure. */
		if (!s->orphan)
			pvc_fe_kill(fe, "cannot notify a data ring");
		pthread_mutex_unlock(&fe->lock);
	}
}

/* One direction of one socket's ring: what a data wait watches. */
struct data_arg {
	struct fsock *s;
	bool tx;
};

/* The ring alone can go on: room to send (or data to read) or an error.
 * Reads no socket state, so it is safe without fe->lock, under the
 * direction's lock. */
static bool ring_ready(const struct data_arg *a)
{
	pvcalls_data_ring *r = &a->s->r.ring;

	if (a->tx) /* shut_wr: SHUTDOWN SHUT_WR wakes a blocked send (-EPIPE) */
		return pvcalls_data_tx_free(r) != 0 || pvcalls_data_tx_error(r) != 0 ||
		       __atomic_load_n(&a->s->shut_wr, __ATOMIC_SEQ_CST);
	return pvcalls_data_rx_queued(r) != 0 || pvcalls_data_rx_error(r) != 0;
}

/* The same, or the socket is going away. Lock held. */
static bool pred_data(pvcalls_front *fe, void *arg)
{
	struct data_arg *a = arg;

	(void)fe;
	return a->s->closing || !a->s->r.valid || ring_ready(a);
}

/*
 * Spins on the ring without any lock, for up to *@budget us; true if it
 * became ready. *@t0 is when the spin started.
 */
static bool spin_ring(pvcalls_front *fe, const struct data_arg *a, uint32_t *budget, int64_t *t0)
{
	int64_t end;

	*t0 = pvc_now_us();
	if (!fe->spin_us)
		return false;
	end = *t0 + pvc_fe_spin_budget(fe, budget);
	do {
		/* One PAUSE (~30 ns) per look: ring_ready() reads one or two
		 * shared words; the clock is read every 16 looks. */
		for (int k = 0; k < 16; k++) {
			cpu_relax();
			if (ring_ready(a)) {
				pvc_fe_spin_learn(fe, budget, pvc_now_us() - *t0, false);
				return true;
			}
		}
	} while (pvc_now_us() < end);
	return false;
}

/*
 * Waits until the ring of @s can go on in direction @tx: spins for the
 * direction's budget, then sleeps with the socket's wait hint raised.
 * The direction's lock held, fe->lock not.
 * @return 0: look at the ring again; -EAGAIN at @deadline; -EBADF
 *         (released) or -ENOTCONN (backend gone).
 */
static int data_wait(pvcalls_front *fe, struct fsock *s, bool tx, int64_t deadline)
{
	struct data_arg a = { .s = s, .tx = tx };
	uint32_t *budget = tx ? &s->spin_tx : &s->spin_rx;
	struct fe_waiter w = {
		.pred = pred_data,
		.arg = &a,
		.deadline = deadline,
		.hints = &s,
		.nhints = 1,
		.spun = true,
	};
	int64_t t0;
	int rc;

	if (spin_ring(fe, &a, budget, &t0))
		return 0;
	pthread_mutex_lock(&fe->lock);
	rc = pvc_fe_wait(fe, &w);
	if (rc == 0 && s->closing)
		rc = fe->dead ? -ENOTCONN : -EBADF;
	pthread_mutex_unlock(&fe->lock);
	if (rc == 0 && fe->spin_us)
		pvc_fe_spin_learn(fe, budget, pvc_now_us() - t0, true);
	return rc == -ETIMEDOUT ? -EAGAIN : rc;
}

/* Socket state a data call needs, read under fe->lock once. */
struct dsnap {
	bool connected, nonblock, dgram;
	int64_t deadline;
};

/* Enters a data call: looks the socket up and takes one of its locks. */
static struct fsock *data_enter(pvcalls_front *fe, int h, bool tx, struct dsnap *d)
{
	struct fsock *s;

	pthread_mutex_lock(&fe->lock);
	s = pvc_fe_sock_get(fe, h);
	if (s) {
		d->connected = s->state == FS_CONNECTED && s->r.valid && !(tx && fe->dead);
		d->dgram = s->dgram;
		d->nonblock = s->nonblock;
		d->deadline = pvc_deadline_ms(tx ? s->sndtimeo : s->rcvtimeo);
	}
	pthread_mutex_unlock(&fe->lock);
	if (s)
		pthread_mutex_lock(tx ? &s->tx_lock : &s->rx_lock);
	return s;
}

static void data_leave(pvcalls_front *fe, struct fsock *s, bool tx)
{
	pthread_mutex_unlock(tx ? &s->tx_lock : &s->rx_lock);
	pthread_mutex_lock(&fe->lock);
	pvc_fe_sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
}

ssize_t pvcalls_front_send(pvcalls_front *fe, int h, const void *buf, size_t len, int flags)
{
	struct fsock *s;
	size_t total = 0;
	ssize_t rc = 0;
	struct dsnap d;

	if (!fe || (!buf && len))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
		return -EOPNOTSUPP;
	s = data_enter(fe, h, true, &d);
	if (!s)
		return -EBADF;
	if (d.dgram) { /* one datagram: front_dgram.c */
		data_leave(fe, s, true);
		return pvc_fe_dgram_send(fe, h, buf, len, flags);
	}
	if (!d.connected) {
		rc = -ENOTCONN;
		goto out;
	}
	while (total < len || len == 0) {
		int32_t err = pvcalls_data_tx_error(&s->r.ring);
		ssize_t n;

		if (err) {
			rc = pvcalls_errno_from_wire(err);
			break;
		}
		if (!pvc_fe_ext_tx_enter(s)) { /* SHUTDOWN SHUT_WR: as send(2) */
			rc = -EPIPE;
			break;
		}
		n = pvcalls_data_write(&s->r.ring, (const uint8_t *)buf + total, len - total);
		pvc_fe_ext_tx_leave(s);
		if (n < 0) {
			pvc_warn("front.bad-ring", "socket %d: impossible out-ring indexes", h);
			rc = n;
			break;
		}
		if (n > 0) {
			total += (size_t)n;
			notify_data(fe, s);
			continue;
		}
		if (len == 0)
			break;
		if (d.nonblock || (flags & MSG_DONTWAIT)) {
			rc = -EAGAIN;
			break;
		}
		rc = data_wait(fe, s, true, d.deadline);
		if (rc < 0)
			break;
	}
out:
	data_leave(fe, s, true);
	return total ? (ssize_t)total : rc;
}

ssize_t pvcalls_front_recv(pvcalls_front *fe, int h, void *buf, size_t len, int flags)
{
	unsigned rflags = (flags & MSG_PEEK) ? PVCALLS_DATA_PEEK : 0;
	struct fsock *s;
	ssize_t rc;
	struct dsnap d;

	if (!fe || (!buf && len))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_PEEK))
		return -EOPNOTSUPP;
	s = data_enter(fe, h, false, &d);
	if (!s)
		return -EBADF;
	if (d.dgram) {
		data_leave(fe, s, false);
		return pvc_fe_dgram_recv(fe, h, buf, len, flags);
	}
	if (!d.connected) {
		rc = -ENOTCONN;
		goto out;
	}
	for (;;) {
		/* D6: the error first, then the data: an error seen here is
		 * reported only once everything produced before it is read. */
		int32_t err = pvcalls_data_rx_error(&s->r.ring);

		rc = pvcalls_data_read(&s->r.ring, buf, len, rflags);
		if (rc > 0) {
			if (!rflags)
				notify_data(fe, s);
			break;
		}
		if (rc < 0) {
			pvc_warn("front.bad-ring", "socket %d: impossible in-ring indexes", h);
			break;
		}
		if (len == 0)
			break;
		if (err) {
			rc = pvcalls_errno_from_wire(err);
			if (rc == -ENOTCONN)
				rc = 0; /* end of stream */
			break;
		}
		if (d.nonblock || (flags & MSG_DONTWAIT)) {
			rc = -EAGAIN;
			break;
		}
		rc = data_wait(fe, s, false, d.deadline);
		if (rc < 0)
			break;
	}
out:
	data_leave(fe, s, false);
	return rc;
}
