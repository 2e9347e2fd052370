/* SPDX-License-Identifier: MIT */
/*
 * Stress over the shm transport: two threads, a frontend (the guest
 * transport) and a backend (the hub), each one side of a data ring whose
 * pages the frontend shares and the backend maps, signalling through a
 * real event channel pair.
 *
 *  bulk:     both directions at once, PVCALLS_STRESS_BYTES each way
 *            (default 1 GiB), random chunk sizes, every byte checked
 *            against a seeded xorshift stream. The frontend copies
 *            (pvcalls_data_write/read), the backend works in place
 *            (spans + commit/consume).
 *  pingpong: PVCALLS_STRESS_ROUNDS (default 200000) one-byte round trips,
 *            each wait going through the arm-then-recheck pattern.
 *
 * Waiting is always: look at the ring; if there is nothing to do, take
 * and unmask pending events (arm), look again, then poll() the event fd.
 * A thread that sees no event for PVCALLS_STRESS_STALL_MS (default 2 s,
 * 10 s under sanitizers) fails the test instead of hanging, and finding
 * work after a poll() timeout whose event never arrives is reported as a
 * lost wakeup. Throughput is printed, never asserted.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvcalls/ring.h>
#include <pvcalls/shm.h>
#include <pvcalls/transport.h>

#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(STRESS_TSAN)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif

/*
 * Generating and checking the streams is private work on private buffers;
 * under TSan it is left uninstrumented, and the ring itself is only
 * touched through memcpy (which TSan intercepts), so every access to
 * shared memory is still checked.
 */
#ifdef STRESS_TSAN
#define NO_TSAN __attribute__((no_sanitize("thread"), noinline))
#else
#define NO_TSAN
#endif

/*
 * 1 GiB each way in every build. Measured on 2 vCPUs: plain ~0.5 GB/s
 * each way (about 2 s per order), TSan ~50 MB/s each way (about 20 s per
 * order), so TSan needs no smaller default. STRESS_TSAN_BYTES can set one.
 */
#define GiB (1ull << 30)
#if defined(STRESS_TSAN) && defined(STRESS_TSAN_BYTES)
#define DEFAULT_BYTES STRESS_TSAN_BYTES
#else
#define DEFAULT_BYTES GiB
#endif
#define DEFAULT_ROUNDS 200000ull
#define SLICE_MS 100

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */
/* ---------------------------------------------------------------------- */

/* An env number with an optional K/M/G suffix; @def when unset. */
static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	uint64_t v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 0);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		break;
	default:
		break;
	}
	return v ? v : def;
}

static int stall_ms(void)
{
#ifdef STRESS_SANITIZED
	return (int)env_u64("PVCALLS_STRESS_STALL_MS", 10000);
#else
	return (int)env_u64("PVCALLS_STRESS_STALL_MS", 2000);
#endif
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------- */
/* Byte streams: xorshift64*, eight bytes per step                        */
/* ---------------------------------------------------------------------- */

struct stream {
	uint64_t s;
	uint8_t word[8];
	unsigned left; /* unused bytes at the end of word[] */
};

static void st_init(struct stream *st, uint64_t seed)
{
	st->s = seed ? seed : 1;
	st->left = 0;
}

NO_TSAN static uint64_t st_next(struct stream *st)
{
	st->s ^= st->s >> 12;
	st->s ^= st->s << 25;
	st->s ^= st->s >> 27;
	return st->s * 2685821657736338717ull;
}

NO_TSAN static void st_fill(struct stream *st, uint8_t *p, size_t n)
{
	for (; n && st->left; n--)
		*p++ = st->word[8 - st->left--];
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w = st_next(st);

		memcpy(p, &w, 8);
	}
	if (n) {
		uint64_t w = st_next(st);

		memcpy(st->word, &w, 8);
		st->left = 8;
		while (n--)
			*p++ = st->word[8 - st->left--];
	}
}

/* Checks @p against the next @n bytes of the stream; false on mismatch. */
NO_TSAN static bool st_check(struct stream *st, const uint8_t *p, size_t n)
{
	bool ok = true;

	for (; n && st->left; n--)
		ok &= *p++ == st->word[8 - st->left--];
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w = st_next(st), got;

		memcpy(&got, p, 8);
		ok &= got == w;
	}
	if (n) {
		uint64_t w = st_next(st);

		memcpy(st->word, &w, 8);
		st->left = 8;
		while (n--)
			ok &= *p++ == st->word[8 - st->left--];
	}
	return ok;
}

/* Per-thread chunk sizes: tiny, page-ish, up to the ring, beyond it. */
static size_t rand_chunk(uint64_t *rng, uint32_t size)
{
	uint64_t r;

	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	r = *rng;
	switch (r & 3) {
	case 0:
		return 1 + (r >> 8) % 64;
	case 1:
		return 1 + (r >> 8) % 4096;
	case 2:
		return 1 + (r >> 8) % size;
	default:
		return 1 + (r >> 8) % (2ull * size);
	}
}

/* ---------------------------------------------------------------------- */
/* The two ends                                                           */
/* ---------------------------------------------------------------------- */

struct run;

struct end {
	struct run *run;
	const char *name;
	pvcalls_transport *t;
	uint32_t port;
	int fd;
	pvcalls_data_ring r;
	void *intf, *data;
	/* statistics */
	uint64_t waits, polls, late_events, notifies;
	double t_done;
};

struct run {
	unsigned order;
	uint64_t total; /* bulk: bytes each way; pingpong: rounds */
	bool pingpong;
	int stall_ms;
	pvcalls_transport *hub, *guest;
	uint32_t hub_domid, guest_domid;

	/* frontend -> backend hand-off of the ring's coordinates */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stage; /* 1: shared, 2: bound, 3: front done, -1: failed */
	uint32_t intf_ref, front_port;
	void *front_intf, *front_data; /* the frontend's mappings (TSan) */

	int abort;     /* atomic: a thread failed */
	char err[512]; /* first failure */
	double t0;
	struct end front, back;
};

static void failf(struct run *run, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&run->mu);
	if (!run->err[0]) {
		va_start(ap, fmt);
		vsnprintf(run->err, sizeof(run->err), fmt, ap);
		va_end(ap);
	}
	run->stage = -1;
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
	__atomic_store_n(&run->abort, 1, __ATOMIC_SEQ_CST);
}

static bool aborted(struct run *run)
{
	return __atomic_load_n(&run->abort, __ATOMIC_SEQ_CST);
}

static bool wait_stage(struct run *run, int stage)
{
	bool ok;

	pthread_mutex_lock(&run->mu);
	while (run->stage >= 0 && run->stage < stage)
		pthread_cond_wait(&run->cv, &run->mu);
	ok = run->stage >= stage;
	pthread_mutex_unlock(&run->mu);
	return ok;
}

static void set_stage(struct run *run, int stage)
{
	pthread_mutex_lock(&run->mu);
	if (run->stage >= 0)
		run->stage = stage;
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
}

static int notify(struct end *e)
{
	int rc = pvcalls_transport_evtchn_notify(e->t, e->port);

	e->notifies++;
	if (rc)
		failf(e->run, "%s: notify: %d", e->name, rc);
	return rc;
}

/* Arming: take every pending event and unmask, so the next notify wakes us. */
static int drain_events(struct end *e)
{
	uint32_t p;
	int rc;

	while ((rc = pvcalls_transport_evtchn_pending(e->t, &p)) == 1) {
		if (p != e->port) {
			failf(e->run, "%s: event on unknown port %u", e->name, p);
			return -1;
		}
		rc = pvcalls_transport_evtchn_unmask(e->t, p);
		if (rc) {
			failf(e->run, "%s: unmask: %d", e->name, rc);
			return -1;
		}
	}
	if (rc < 0) {
		failf(e->run, "%s: pending: %d", e->name, rc);
		return -1;
	}
	return 0;
}

static int poll_fd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Waits until @ready(e) is true: check, arm, re-check, sleep. Returns 0
 * when ready, -1 when the run failed (stall, lost wakeup or abort).
 */
static int wait_for(struct end *e, bool (*ready)(struct end *))
{
	double start = now_s();

	e->waits++;
	for (;;) {
		int r;

		if (ready(e))
			return 0;
		if (aborted(e->run) || drain_events(e))
			return -1;
		if (ready(e)) /* work that raced with arming */
			return 0;
		r = poll_fd(e->fd, SLICE_MS);
		e->polls++;
		if (r < 0) {
			failf(e->run, "%s: poll: %s", e->name, strerror(errno));
			return -1;
		}
		if (r > 0)
			continue;
		/* Timed out. Work found now without an event means the event
		 * is late or lost: give it the stall time to show up. */
		if (ready(e)) {
			if (poll_fd(e->fd, e->run->stall_ms) <= 0) {
				failf(e->run,
				      "%s: lost wakeup: work found after a poll timeout, "
				      "no event within %d ms",
				      e->name, e->run->stall_ms);
				return -1;
			}
			e->late_events++;
			return 0;
		}
		if ((now_s() - start) * 1000 >= e->run->stall_ms) {
			failf(e->run, "%s: stalled: no event and no work for %d ms", e->name,
			      e->run->stall_ms);
			return -1;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Setup and teardown                                                     */
/* ---------------------------------------------------------------------- */

static int front_setup(struct end *e)
{
	struct run *run = e->run;
	unsigned n = 1u << run->order;
	struct pvcalls_wire_data_intf *intf;
	uint32_t ref, refs[1u << PVCALLS_WIRE_MAX_RING_ORDER];
	int rc;

	rc = pvcalls_transport_share(e->t, run->hub_domid, 1, true, &ref, &e->intf);
	if (rc)
		goto fail;
	rc = pvcalls_transport_share(e->t, run->hub_domid, n, true, refs, &e->data);
	if (rc)
		goto fail;
	intf = e->intf;
	intf->ring_order = run->order;
	memcpy(intf->ref, refs, n * sizeof(refs[0]));
	rc = pvcalls_transport_evtchn_alloc_unbound(e->t, run->hub_domid, &e->port);
	if (rc)
		goto fail;
	rc = pvcalls_data_ring_attach(&e->r, intf, e->data, run->order, PVCALLS_DATA_FRONTEND);
	if (rc)
		goto fail;
	e->fd = pvcalls_transport_evtchn_fd(e->t);
	pthread_mutex_lock(&run->mu);
	run->intf_ref = ref;
	run->front_port = e->port;
	run->front_intf = e->intf;
	run->front_data = e->data;
	pthread_mutex_unlock(&run->mu);
	set_stage(run, 1);
	return wait_stage(run, 2) ? 0 : -1;
fail:
	failf(run, "frontend setup: %d", rc);
	return -1;
}

static int back_setup(struct end *e)
{
	struct run *run = e->run;
	unsigned n = 1u << run->order;
	struct pvcalls_wire_data_intf *intf;
	uint32_t refs[1u << PVCALLS_WIRE_MAX_RING_ORDER], ref, fport;
	int rc;

	if (!wait_stage(run, 1))
		return -1;
	pthread_mutex_lock(&run->mu);
	ref = run->intf_ref;
	fport = run->front_port;
	pthread_mutex_unlock(&run->mu);
	rc = pvcalls_transport_map(e->t, run->guest_domid, 1, &ref, true, &e->intf);
	if (rc)
		goto fail;
	intf = e->intf;
	/* As a backend does: the order was validated, the refs are read once. */
	memcpy(refs, intf->ref, n * sizeof(refs[0]));
	rc = pvcalls_transport_map(e->t, run->guest_domid, n, refs, true, &e->data);
	if (rc)
		goto fail;
	rc = pvcalls_transport_evtchn_bind(e->t, run->guest_domid, fport, &e->port);
	if (rc)
		goto fail;
#ifdef STRESS_TSAN
	/*
	 * TSan tracks memory by virtual address, and the two mappings of
	 * the same pages have different ones: it would see neither races
	 * nor synchronisation on the ring. So under TSan the backend's ring
	 * uses the frontend's mapping (events still go through the
	 * transport), and a missing barrier in the ring shows up as a race.
	 */
	pthread_mutex_lock(&run->mu);
	intf = run->front_intf;
	rc = pvcalls_data_ring_attach(&e->r, intf, run->front_data, run->order,
				      PVCALLS_DATA_BACKEND);
	pthread_mutex_unlock(&run->mu);
#else
	rc = pvcalls_data_ring_attach(&e->r, intf, e->data, run->order, PVCALLS_DATA_BACKEND);
#endif
	if (rc)
		goto fail;
	e->fd = pvcalls_transport_evtchn_fd(e->t);
	set_stage(run, 2);
	return 0;
fail:
	failf(run, "backend setup: %d", rc);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Bulk transfer                                                          */
/* ---------------------------------------------------------------------- */

struct bulk {
	struct end *e;
	bool spans; /* in place (backend) or by copy (frontend) */
	struct stream tx, rx;
	uint64_t sent, got, rng;
	uint8_t *txbuf, *rxbuf;
	size_t tx_len, tx_off; /* copy mode: generated, not yet written */
};

static __thread struct bulk *cur_bulk;

static bool bulk_ready(struct end *e)
{
	struct bulk *b = cur_bulk;
	uint64_t total = e->run->total;
	int f = 1, q = 1;

	if (b->sent < total)
		f = pvcalls_data_tx_free(&e->r);
	if (b->got < total)
		q = pvcalls_data_rx_queued(&e->r);
	/* Errors count as "ready": the next step reports them. */
	return (b->sent < total && f != 0) || (b->got < total && q != 0) ||
	       (b->sent == total && b->got == total);
}

/* One tx step; returns bytes produced or -1. */
static int64_t bulk_tx(struct bulk *b)
{
	struct end *e = b->e;
	uint64_t left = e->run->total - b->sent;
	size_t want = rand_chunk(&b->rng, e->r.size);

	if (left == 0)
		return 0;
	if (want > left)
		want = (size_t)left;
	if (b->spans) {
		struct iovec iov[2];
		int room = pvcalls_data_tx_spans(&e->r, iov);
		size_t n, first;

		if (room < 0) {
			failf(e->run, "%s: tx_spans: %d", e->name, room);
			return -1;
		}
		n = want < (size_t)room ? want : (size_t)room;
		if (n == 0)
			return 0; /* full: the regions are NULL */
		first = n < iov[0].iov_len ? n : iov[0].iov_len;
		st_fill(&b->tx, b->txbuf, n);
		memcpy(iov[0].iov_base, b->txbuf, first);
		if (n > first)
			memcpy(iov[1].iov_base, b->txbuf + first, n - first);
		if (pvcalls_data_tx_commit(&e->r, (uint32_t)n)) {
			failf(e->run, "%s: tx_commit %zu of %d refused", e->name, n, room);
			return -1;
		}
		b->sent += n;
		return (int64_t)n;
	}
	if (b->tx_off == b->tx_len) {
		st_fill(&b->tx, b->txbuf, want);
		b->tx_len = want;
		b->tx_off = 0;
	}
	{
		ssize_t n = pvcalls_data_write(&e->r, b->txbuf + b->tx_off, b->tx_len - b->tx_off);

		if (n < 0) {
			failf(e->run, "%s: write: %zd", e->name, n);
			return -1;
		}
		b->tx_off += (size_t)n;
		b->sent += (uint64_t)n;
		return n;
	}
}

static int64_t bulk_rx(struct bulk *b)
{
	struct end *e = b->e;
	uint64_t left = e->run->total - b->got;
	size_t want = rand_chunk(&b->rng, e->r.size);
	bool ok;

	if (left == 0)
		return 0;
	if (want > left)
		want = (size_t)left;
	if (b->spans) {
		struct iovec iov[2];
		int q = pvcalls_data_rx_spans(&e->r, iov);
		size_t n, first;

		if (q < 0) {
			failf(e->run, "%s: rx_spans: %d", e->name, q);
			return -1;
		}
		n = want < (size_t)q ? want : (size_t)q;
		if (n == 0)
			return 0; /* empty: the regions are NULL */
		first = n < iov[0].iov_len ? n : iov[0].iov_len;
		memcpy(b->rxbuf, iov[0].iov_base, first);
		if (n > first)
			memcpy(b->rxbuf + first, iov[1].iov_base, n - first);
		ok = st_check(&b->rx, b->rxbuf, n);
		if (pvcalls_data_rx_consume(&e->r, (uint32_t)n)) {
			failf(e->run, "%s: rx_consume %zu of %d refused", e->name, n, q);
			return -1;
		}
		if (!ok) {
			failf(e->run, "%s: data mismatch in [%" PRIu64 ", %" PRIu64 ")", e->name,
			      b->got, b->got + n);
			return -1;
		}
		b->got += n;
		return (int64_t)n;
	}
	{
		ssize_t n = pvcalls_data_read(&e->r, b->rxbuf, want, 0);

		if (n < 0) {
			failf(e->run, "%s: read: %zd", e->name, n);
			return -1;
		}
		if (!st_check(&b->rx, b->rxbuf, (size_t)n)) {
			failf(e->run, "%s: data mismatch in [%" PRIu64 ", %" PRIu64 ")", e->name,
			      b->got, b->got + (uint64_t)n);
			return -1;
		}
		b->got += (uint64_t)n;
		return n;
	}
}

static void bulk_run(struct end *e, bool spans, uint64_t tx_seed, uint64_t rx_seed)
{
	struct bulk b = { .e = e, .spans = spans, .rng = tx_seed ^ 0xa5a5a5a5ull };
	uint64_t total = e->run->total;

	st_init(&b.tx, tx_seed);
	st_init(&b.rx, rx_seed);
	b.txbuf = malloc(2ull * e->r.size + 1);
	b.rxbuf = malloc(2ull * e->r.size + 1);
	if (!b.txbuf || !b.rxbuf) {
		failf(e->run, "%s: out of memory", e->name);
		goto out;
	}
	cur_bulk = &b;
	while (b.sent < total || b.got < total) {
		int64_t t, r;

		if (aborted(e->run))
			goto out;
		/*
		 * Data rings have no event index: notify after every step
		 * that moved an index, right away (a late notify would look
		 * like a lost one to the peer's check). Receiving first means
		 * the data is read before this thread acquires anything else
		 * the peer published after it, so under TSan only the ring's
		 * own release/acquire pair orders it.
		 */
		r = bulk_rx(&b);
		if (r < 0 || (r > 0 && notify(e)))
			goto out;
		t = bulk_tx(&b);
		if (t < 0 || (t > 0 && notify(e)))
			goto out;
		if (t > 0 || r > 0)
			continue;
		if (wait_for(e, bulk_ready))
			goto out;
	}
	e->t_done = now_s();
out:
	cur_bulk = NULL;
	free(b.txbuf);
	free(b.rxbuf);
}

/* ---------------------------------------------------------------------- */
/* Ping-pong                                                              */
/* ---------------------------------------------------------------------- */

static bool rx_ready(struct end *e)
{
	return pvcalls_data_rx_queued(&e->r) != 0; /* data or an error */
}

static uint8_t pp_byte(uint64_t i)
{
	return (uint8_t)(i * 131 + 7);
}

static void pingpong_run(struct end *e, bool front)
{
	uint64_t rounds = e->run->total;

	for (uint64_t i = 0; i < rounds; i++) {
		uint8_t c = pp_byte(i), got;
		ssize_t n;

		if (front) {
			n = pvcalls_data_write(&e->r, &c, 1);
			if (n != 1) {
				failf(e->run, "front: write round %" PRIu64 ": %zd", i, n);
				return;
			}
			if (notify(e))
				return;
		}
		if (wait_for(e, rx_ready))
			return;
		n = pvcalls_data_read(&e->r, &got, 1, 0);
		if (n != 1 || got != (front ? (uint8_t)~c : c)) {
			failf(e->run, "%s: round %" PRIu64 ": read %zd byte %02x", e->name, i, n,
			      got);
			return;
		}
		if (!front) {
			got = (uint8_t)~got;
			n = pvcalls_data_write(&e->r, &got, 1);
			if (n != 1) {
				failf(e->run, "back: write round %" PRIu64 ": %zd", i, n);
				return;
			}
			if (notify(e))
				return;
		}
	}
	e->t_done = now_s();
}

/* ---------------------------------------------------------------------- */
/* Threads and the tests                                                  */
/* ---------------------------------------------------------------------- */

static void *front_thread(void *arg)
{
	struct end *e = arg;
	struct run *run = e->run;

	if (front_setup(e) == 0) {
		if (run->pingpong)
			pingpong_run(e, true);
		else
			bulk_run(e, false, 0x1234567ull, 0x7654321ull);
	}
	/* The backend unmaps first, as a backend does before the frontend
	 * revokes its grants. */
	wait_stage(run, 3);
	if (e->port)
		pvcalls_transport_evtchn_close(e->t, e->port);
	if (e->data)
		pvcalls_transport_unshare(e->t, e->data, 1u << run->order);
	if (e->intf)
		pvcalls_transport_unshare(e->t, e->intf, 1);
	return NULL;
}

static void *back_thread(void *arg)
{
	struct end *e = arg;
	struct run *run = e->run;

	if (back_setup(e) == 0) {
		if (run->pingpong)
			pingpong_run(e, false);
		else
			bulk_run(e, true, 0x7654321ull, 0x1234567ull);
	}
	if (e->port)
		pvcalls_transport_evtchn_close(e->t, e->port);
	if (e->data)
		pvcalls_transport_unmap(e->t, e->data, 1u << run->order);
	if (e->intf)
		pvcalls_transport_unmap(e->t, e->intf, 1);
	set_stage(run, 3);
	return NULL;
}

static void run_threads(struct run *run)
{
	pthread_t tf, tb;

	pthread_mutex_init(&run->mu, NULL);
	pthread_cond_init(&run->cv, NULL);
	run->stall_ms = stall_ms();
	ck_assert_int_eq(pvcalls_shm_pair(NULL, NULL, &run->hub, &run->guest), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(run->hub, &run->hub_domid), 0);
	ck_assert_int_eq(pvcalls_transport_local_domid(run->guest, &run->guest_domid), 0);
	run->front = (struct end){ .run = run, .name = "front", .t = run->guest, .fd = -1 };
	run->back = (struct end){ .run = run, .name = "back", .t = run->hub, .fd = -1 };
	run->t0 = now_s();
	ck_assert_int_eq(pthread_create(&tf, NULL, front_thread, &run->front), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, back_thread, &run->back), 0);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	pvcalls_transport_close(run->guest);
	pvcalls_transport_close(run->hub);
	pthread_cond_destroy(&run->cv);
	pthread_mutex_destroy(&run->mu);
	if (run->err[0])
		ck_abort_msg("%s", run->err);
}

static const unsigned bulk_orders[] = { 4, 9 };

START_TEST(test_bulk)
{
	struct run *run = calloc(1, sizeof(*run));
	double el;

	ck_assert_ptr_nonnull(run);
	run->order = bulk_orders[_i];
	run->total = env_u64("PVCALLS_STRESS_BYTES", DEFAULT_BYTES);
	run_threads(run);
	el = (run->front.t_done > run->back.t_done ? run->front.t_done : run->back.t_done) -
	     run->t0;
	printf("stress bulk order %u (%u KiB each way): %" PRIu64 " MiB each way in %.2f s, "
	       "%.0f MB/s each way, %.0f MB/s total; waits front %" PRIu64 " back %" PRIu64
	       ", notifies %" PRIu64 "/%" PRIu64 ", late events %" PRIu64 "\n",
	       run->order, PVCALLS_WIRE_DATA_RING_SIZE(run->order) >> 10, run->total >> 20, el,
	       (double)run->total / el / 1e6, 2.0 * (double)run->total / el / 1e6, run->front.waits,
	       run->back.waits, run->front.notifies, run->back.notifies,
	       run->front.late_events + run->back.late_events);
	fflush(stdout);
	free(run);
}
END_TEST

START_TEST(test_pingpong)
{
	struct run *run = calloc(1, sizeof(*run));
	double el;

	ck_assert_ptr_nonnull(run);
	run->order = 0;
	run->pingpong = true;
	run->total = env_u64("PVCALLS_STRESS_ROUNDS", DEFAULT_ROUNDS);
	run_threads(run);
	el = run->front.t_done - run->t0;
	printf("stress pingpong: %" PRIu64 " one-byte round trips in %.2f s, %.1f us each; "
	       "polls front %" PRIu64 " back %" PRIu64 ", late events %" PRIu64 "\n",
	       run->total, el, el * 1e6 / (double)run->total, run->front.polls, run->back.polls,
	       run->front.late_events + run->back.late_events);
	fflush(stdout);
	free(run);
}
END_TEST

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("shm");

	tcase_add_loop_test(tc, test_bulk, 0, sizeof(bulk_orders) / sizeof(bulk_orders[0]));
	tcase_add_test(tc, test_pingpong);
	tcase_set_timeout(tc, 900);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stress_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
