/* SPDX-License-Identifier: MIT */
/*
 * The frontend driver.
 *
 * Locking: fe->lock guards the socket table, the request slots, the
 * command ring and all socket state. Data-ring traffic is lockless: one
 * sender (s->tx_lock) and one receiver (s->rx_lock) per socket, taken
 * before fe->lock when both are needed.
 *
 * Waiting (fe_wait): a blocked caller first polls for spin_us, then
 * sleeps. Only one thread at a time sleeps in epoll_wait() on the event
 * fd (the "poller"); it dispatches whatever arrived and broadcasts
 * fe->cond, on which every other blocked thread waits. Every predicate is
 * re-checked under fe->lock after each dispatch, and dispatch runs under
 * fe->lock, so a broadcast cannot fall between a predicate check and the
 * wait. A state change made outside dispatch (release, close) also kicks
 * the poller through kickfd, if there is one.
 *
 * What a wait costs (docs/PERFORMANCE.md): spinning reads the shared
 * indexes and nothing else; only a thread about to sleep arms the
 * command ring's rsp_event and raises wait hints (both followed by one
 * more look, W1 below), and the poller's wakeup touches only the sources
 * epoll reported (one event-channel delivery, the store only when its fd
 * fired), so a blocking round trip costs three syscalls here.
 *
 * Requests: req_id = generation << 5 | slot. A response whose slot is
 * free or whose generation is stale is dropped and counted, so a late or
 * forged answer can never complete another request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "frontend/front_priv.h"
#include "ring/barrier.h"
#include "ring/wait_hint.h"

#define RELEASE_TIMEOUT_MS 30000
#define CLOSE_TIMEOUT_MS 5000
#define DEFAULT_SPIN_US 20
#define WIRE_ENOTCONN (-107) /* Linux's ENOTCONN: end of stream */

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Absolute deadline in ms for a relative timeout; -1 stays "forever". */
static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : pvc_now_ms() + timeout_ms;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* ---------------------------------------------------------------------- */
/* Events                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Wakes the thread asleep in epoll_wait() on epfd, so it re-checks
 * everything. Lock held: poller_busy is only true between the poller's
 * last predicate check and its relock, so a change made under the lock
 * before this call is either seen by that check or followed by the kick.
 */
static void kick_poller(pvcalls_front *fe)
{
	uint64_t one = 1;

	if (!fe->poller_busy || fe->kicked)
		return;
	if (write(fe->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pvc_debug("front.kick", "kick fd: %d", errno);
	fe->kicked = true;
}

static void fe_kill(pvcalls_front *fe, const char *why)
{
	if (!fe->dead)
		pvc_err("front.dead", "backend connection lost: %s", why);
	fe->dead = true;
	pthread_cond_broadcast(&fe->cond);
	kick_poller(fe);
}

static void ring_free(pvcalls_front *fe, struct fring *r)
{
	if (!r->valid)
		return;
	pvcalls_transport_evtchn_close(fe->t, r->port);
	pvcalls_transport_unshare(fe->t, r->data, r->npages);
	pvcalls_transport_unshare(fe->t, r->intf_page, 1);
	r->valid = false;
}

static void sock_destroy(pvcalls_front *fe, struct fsock *s)
{
	ring_free(fe, &s->r);
	pthread_mutex_destroy(&s->tx_lock);
	pthread_mutex_destroy(&s->rx_lock);
	free(s);
}

/* Applies a completed request's effect and wakes its waiter. Lock held. */
static void complete(pvcalls_front *fe, unsigned i, int err)
{
	struct slot *sl = &fe->slots[i];
	struct fsock *s = sl->sock, *ns = sl->newsock;

	switch (sl->cmd) {
	case PVCALLS_WIRE_CONNECT:
		if (err) {
			ring_free(fe, &s->r);
			s->state = FS_NEW;
		} else {
			s->state = FS_CONNECTED;
		}
		if (!sl->w) { /* non-blocking connect: kept for the next connect() */
			s->connect_done = true;
			s->connect_err = err;
		}
		break;
	case PVCALLS_WIRE_BIND:
		if (!err)
			s->state = FS_BOUND;
		break;
	case PVCALLS_WIRE_LISTEN:
		if (!err)
			s->state = FS_LISTENING;
		break;
	case PVCALLS_WIRE_ACCEPT:
		s->accepts_inflight--;
		if (err) {
			pvc_debug("front.accept", "ACCEPT on %llu failed: %d",
				  (unsigned long long)s->id, err);
			sock_destroy(fe, ns);
		} else {
			ns->state = FS_CONNECTED;
			ns->next = NULL;
			if (s->acc_tail)
				s->acc_tail->next = ns;
			else
				s->acc_head = ns;
			s->acc_tail = ns;
		}
		break;
	case PVCALLS_WIRE_POLL:
		s->poll_inflight = false;
		if (!err)
			s->poll_ready = true;
		break;
	default:
		break;
	}
	if (sl->w) {
		sl->w->err = err;
		sl->w->done = true;
	}
	sl->busy = false;
	sl->w = NULL;
	fe->slots_busy--;
	pthread_cond_broadcast(&fe->cond);
}

/*
 * Takes every response off the ring. With @arm, also asks the backend for
 * a notification of the next one and looks once more (final_check): only
 * a thread that is about to sleep needs that; a spinning one would only
 * write rsp_event on every pass, into the line the backend reads. Lock
 * held.
 */
static void handle_responses(pvcalls_front *fe, bool arm)
{
	struct pvcalls_wire_response raw;
	struct pvcalls_rsp rsp;
	int rc;

	if (fe->dead)
		return;
	for (;;) {
		rc = pvcalls_cmd_front_get(&fe->cmd, &raw);
		if (rc == 0) {
			if (!arm)
				return;
			rc = pvcalls_cmd_front_final_check(&fe->cmd);
			if (rc == 0)
				return;
			if (rc > 0)
				continue;
		}
		if (rc < 0) {
			fe_kill(fe, "command ring indexes impossible");
			return;
		}
		{
			unsigned i = raw.req_id & (NSLOTS - 1);
			uint32_t gen = raw.req_id >> 5;
			struct slot *sl = &fe->slots[i];
			int err;

			if (!sl->busy || sl->gen != gen) {
				fe->stats.bad_responses++;
				pvc_warn("front.bad-response",
					 "response req_id %u cmd %u matches no request",
					 raw.req_id, raw.cmd);
				continue;
			}
			if (pvcalls_rsp_parse(&raw, &rsp) < 0 || rsp.cmd != sl->cmd ||
			    rsp.id != sl->id) {
				fe->stats.bad_responses++;
				pvc_warn("front.bad-response",
					 "malformed response to %s req_id %u (cmd %u ret %d)",
					 pvcalls_cmd_name(sl->cmd), raw.req_id, raw.cmd, raw.ret);
				err = -EPROTO;
			} else {
				err = rsp.err;
			}
			complete(fe, i, err);
		}
	}
}

/* Store events: the backend's state. Lock held. */
static void handle_store(pvcalls_front *fe)
{
	char path[PVC_XB_PATH], tok[64];
	bool seen = false;
	uint32_t state;
	int rc;

	while ((rc = pvcalls_transport_store_read_watch(fe->t, path, sizeof(path), tok,
							sizeof(tok))) > 0)
		seen = true;
	if (rc < 0) {
		fe_kill(fe, "control store unreachable");
		return;
	}
	if (!seen)
		return;
	rc = pvc_xb_read_state(fe->t, fe->xb.backend, &state);
	if (rc < 0 || state != PVCALLS_XENBUS_CONNECTED)
		fe_kill(fe, rc < 0 ? "backend state unreadable" : pvc_xb_state_name(state));
}

/* What woke the poller: epoll's data.u32 of each fd in epfd. */
#define EV_EVTCHN 1u
#define EV_STORE 2u
#define EV_KICK 4u
#define EV_ALL (EV_EVTCHN | EV_STORE | EV_KICK)

/*
 * Handles what is pending among @what, without blocking. Lock held.
 *
 * Event channels: each port only says "look at your rings", and the
 * caller looks at all of them anyway, so the poller takes one delivery
 * per wakeup: the transport keeps the fd readable while another port is
 * deliverable, so nothing is left behind, and a second, empty
 * pending() (a syscall) is saved. pvcalls_front_process() (@all) drains
 * them all, as an event loop expects.
 */
static void dispatch(pvcalls_front *fe, unsigned what, bool all)
{
	uint32_t port;
	uint64_t kicks;

	/* Unmask before looking at the rings: an event that arrives after
	 * this is delivered again (the fd becomes readable). */
	if (what & EV_EVTCHN) {
		while (pvcalls_transport_evtchn_pending(fe->t, &port) > 0) {
			pvcalls_transport_evtchn_unmask(fe->t, port);
			if (!all)
				break;
		}
	}
	if ((what & EV_KICK) && (fe->kicked || all)) {
		if (read(fe->kickfd, &kicks, sizeof(kicks)) < 0 && errno != EAGAIN)
			pvc_debug("front.kick", "kick fd: %d", errno);
		fe->kicked = false;
	}
	handle_responses(fe, all);
	if (what & EV_STORE)
		handle_store(fe);
	pthread_cond_broadcast(&fe->cond);
}

/*
 * Wait hints. A socket's word is raised while at least one thread sleeps
 * on it (sleepers counts them, under fe->lock), so a sender waking up
 * cannot lower the word under a receiver that still sleeps. Once the
 * application sleeps on pvcalls_front_fd() itself (event_loop), words stay
 * raised: we cannot know when it wakes. Lock held.
 */
static void hints_sleep(pvcalls_front *fe, struct fsock **hs, unsigned nhs)
{
	if (!fe->hint)
		return;
	for (unsigned k = 0; k < nhs; k++)
		if (hs[k]->r.valid && hs[k]->sleepers++ == 0)
			pvc_hint_sleep(hs[k]->r.ring.intf, false);
}

static void hints_awake(pvcalls_front *fe, struct fsock **hs, unsigned nhs)
{
	if (!fe->hint)
		return;
	for (unsigned k = 0; k < nhs; k++)
		if (hs[k]->r.valid && --hs[k]->sleepers == 0 && !fe->event_loop)
			pvc_hint_awake(hs[k]->r.ring.intf, false);
}

/* A poll that found nothing and returns to the caller's event loop. */
static bool arm_hints(pvcalls_front *fe, struct fsock **hs, unsigned nhs)
{
	bool any = false;

	if (!fe->hint || !nhs)
		return false;
	fe->event_loop = true;
	for (unsigned k = 0; k < nhs; k++) {
		if (hs[k]->r.valid) {
			pvc_hint_sleep(hs[k]->r.ring.intf, false);
			any = true;
		}
	}
	return any;
}

typedef bool (*pred_fn)(pvcalls_front *fe, void *arg);

/*
 * One stretch of a command wait's spin: drops fe->lock (other threads
 * may submit or dispatch meanwhile) and watches the shared rsp_prod, the
 * only thing a backend changes that can satisfy a command predicate,
 * until it moves or about a microsecond passed; the caller re-checks
 * everything under the lock. A PAUSE costs ~30 ns on the machines we
 * measured (docs/PERFORMANCE.md), so the index is read after every one:
 * a response is seen within ~50 ns instead of half a long PAUSE train.
 * Lock held on entry and exit.
 */
static void spin_cmd(pvcalls_front *fe)
{
	uint32_t seen = fe->cmd.rsp_cons; /* handle_responses() took up to here */

	pthread_mutex_unlock(&fe->lock);
	for (int k = 0; k < 32; k++) {
		cpu_relax();
		/* Pairs with the backend's release store of rsp_prod (push). */
		if (pvc_load_acquire(&fe->cmd.sring->rsp_prod) != seen)
			break;
	}
	pthread_mutex_lock(&fe->lock);
}

/*
 * Adaptive spinning (docs/PERFORMANCE.md). A blocked send or recv first
 * polls the ring for the socket's current budget (per direction, guarded
 * by the direction's lock), and a blocked command for its command's
 * budget (fe->cmd_spin, under fe->lock); each starts at spin_us:
 *  - a wait that ended during the spin keeps the budget, drifting down
 *    towards twice what it took;
 *  - a wait that needed a sleep but ended within SPIN_MAX_MULT * spin_us
 *    raises the budget to cover it next time (a peer that refills or
 *    drains the ring every few tens of microseconds (a backend relaying
 *    an order-4 ring to TCP), or answers a CONNECT after its own
 *    connect(), should not cost us a wakeup, ~45 us across cores here);
 *  - a longer wait halves the budget, down to spin_us / SPIN_MIN_DIV, so
 *    an idle socket costs little CPU.
 */
#define SPIN_MAX_MULT 4u
#define SPIN_MIN_DIV 4u

static uint32_t spin_budget(pvcalls_front *fe, uint32_t *budget)
{
	if (!*budget)
		*budget = fe->spin_us;
	return *budget;
}

static void spin_learn(pvcalls_front *fe, uint32_t *budget, int64_t waited, bool slept)
{
	uint32_t max = fe->spin_us * SPIN_MAX_MULT, min = fe->spin_us / SPIN_MIN_DIV;
	uint32_t b = *budget;

	if (!slept) {
		uint64_t want = (uint64_t)waited * 2;

		if (want < b)
			b -= (uint32_t)((b - want) / 8);
	} else if (waited <= (int64_t)max) {
		uint32_t want = (uint32_t)waited + (uint32_t)waited / 4;

		b = want > b ? want : b;
	} else {
		b /= 2;
	}
	*budget = b < min ? min : b > max ? max : b;
}

/* fe_wait() flags. */
#define FW_SPUN 1u /* the caller already spun (on a data ring): sleep at once */

/*
 * Waits until pred() holds. Lock held on entry and exit.
 * @hs/@nhs: active sockets whose wait-hint word to raise while asleep.
 * Returns 0, -ETIMEDOUT or -ENOTCONN (backend gone).
 */
static int fe_wait(pvcalls_front *fe, pred_fn pred, void *arg, int64_t deadline,
		   struct fsock **hs, unsigned nhs, unsigned flags, uint32_t *budget)
{
	/* The clock is read once per pass, and not at all when pred() holds
	 * at once: a clock read costs ~50 ns in a guest, a polled round
	 * trip a few hundred. */
	int64_t spin_end = -1; /* not started */
	int64_t t0 = 0, now = 0;
	bool slept = false;

	for (;;) {
		handle_responses(fe, false);
		if (pred(fe, arg)) {
			/* @now is at most one spin stretch (~1 us) old: good
			 * enough to learn from, and saves a clock read. */
			if (budget && t0 && fe->spin_us)
				spin_learn(fe, budget, (slept ? now_us() : now) - t0, slept);
			return 0;
		}
		if (fe->dead)
			return -ENOTCONN;
		now = now_us();
		if (deadline >= 0 && now / 1000 >= deadline) {
			/* The caller will sleep elsewhere (its own event loop,
			 * or a later call): keep the backend notifying. */
			if (arm_hints(fe, hs, nhs) && pred(fe, arg))
				return 0;
			return -ETIMEDOUT;
		}
		if (spin_end < 0) {
			t0 = now;
			spin_end = 0;
			if (fe->spin_us && !(flags & FW_SPUN))
				spin_end = now + (budget ? spin_budget(fe, budget) : fe->spin_us);
		}
		if (now < spin_end) {
			spin_cmd(fe);
			continue;
		}
		spin_end = 0;
		/*
		 * W1: announce the sleep, then look once more. Data rings: H1
		 * (wait_hint.h), pairs with the backend's H2. Command ring:
		 * final_check arms rsp_event and re-reads rsp_prod, pairs with
		 * the backend's push (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
		 */
		hints_sleep(fe, hs, nhs);
		handle_responses(fe, true);
		if (pred(fe, arg)) {
			hints_awake(fe, hs, nhs);
			if (budget && fe->spin_us)
				spin_learn(fe, budget, now - t0, slept);
			return 0;
		}
		fe->stats.sleeps++;
		slept = true;
		if (!fe->poller_busy) {
			int64_t left = deadline < 0 ? 1000 : deadline - pvc_now_ms();
			struct epoll_event evs[4];
			unsigned what = 0;
			int n;

			fe->poller_busy = true;
			pthread_mutex_unlock(&fe->lock);
			n = epoll_wait(fe->epfd, evs, 4,
				       left > 1000 ? 1000 : (left < 0 ? 0 : (int)left));
			pthread_mutex_lock(&fe->lock);
			fe->poller_busy = false;
			for (int i = 0; i < n; i++)
				what |= evs[i].data.u32;
			if (n < 0) /* EINTR: look at everything */
				what = EV_ALL;
			dispatch(fe, what, false);
		} else {
			struct timespec ts;
			int64_t ms = pvc_now_ms() + 1000;

			if (deadline >= 0 && deadline < ms)
				ms = deadline;
			/* fe->cond uses CLOCK_MONOTONIC (see pvcalls_front_open). */
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000;
			pthread_cond_timedwait(&fe->cond, &fe->lock, &ts);
		}
		hints_awake(fe, hs, nhs);
	}
}

/* ---------------------------------------------------------------------- */
/* Requests                                                               */
/* ---------------------------------------------------------------------- */

static bool pred_slot_free(pvcalls_front *fe, void *arg)
{
	(void)arg;
	return fe->slots_busy < NSLOTS && pvcalls_cmd_front_free(&fe->cmd) > 0;
}

static bool pred_done(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct waiter *)arg)->done;
}

/*
 * Sends @req (req_id filled here), waiting for a free slot and ring credit
 * until @deadline. @w may be NULL for an asynchronous request. Lock held.
 */
static int submit(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		  struct fsock *newsock, struct waiter *w, int64_t deadline)
{
	unsigned i;
	int rc;

	rc = fe_wait(fe, pred_slot_free, NULL, deadline, NULL, 0, 0, NULL);
	if (rc < 0)
		return rc;
	for (i = 0; i < NSLOTS; i++)
		if (!fe->slots[i].busy)
			break;
	struct slot *sl = &fe->slots[i];

	sl->gen = (sl->gen + 1) & 0x7ffffffu;
	sl->busy = true;
	sl->cmd = req->cmd;
	sl->id = req->u.socket.id; /* every request carries id at offset 8 */
	sl->sock = sock;
	sl->newsock = newsock;
	sl->w = w;
	fe->slots_busy++;
	req->req_id = sl->gen << 5 | i;
	if (w) {
		w->done = false;
		w->slot = i;
		w->gen = sl->gen;
	}
	rc = pvcalls_cmd_front_put(&fe->cmd, req);
	if (rc < 0) { /* cannot happen: credit checked above */
		sl->busy = false;
		fe->slots_busy--;
		return rc;
	}
	fe->stats.requests++;
	if (pvcalls_cmd_front_push(&fe->cmd))
		pvcalls_transport_evtchn_notify(fe->t, fe->cmd_port);
	return 0;
}

/* Sends a request and waits for its answer. Lock held. */
static int call(pvcalls_front *fe, struct pvcalls_wire_request *req, struct fsock *sock,
		struct fsock *newsock, int64_t deadline)
{
	struct waiter w = { 0 };
	int rc = submit(fe, req, sock, newsock, &w, deadline);

	if (rc < 0)
		return rc;
	rc = fe_wait(fe, pred_done, &w, deadline, NULL, 0, 0,
		     req->cmd < PVCALLS_WIRE_NR_CMDS ? &fe->cmd_spin[req->cmd] : NULL);
	if (rc < 0 && !w.done) {
		/* Leave the request to complete asynchronously; its effect is
		 * still applied when (if) the answer comes. */
		if (fe->slots[w.slot].busy && fe->slots[w.slot].gen == w.gen)
			fe->slots[w.slot].w = NULL;
		return rc;
	}
	return w.err;
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */
/* ---------------------------------------------------------------------- */

static struct fsock *sock_new(pvcalls_front *fe)
{
	struct fsock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->handle = -1;
	s->id = fe->next_id++;
	s->sndtimeo = s->rcvtimeo = -1;
	s->order = fe->order_default;
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	return s;
}

static int sock_insert(pvcalls_front *fe, struct fsock *s)
{
	int i;

	for (i = 0; i < fe->nsocks; i++)
		if (!fe->socks[i])
			break;
	if (i == fe->nsocks) {
		int n = fe->nsocks ? fe->nsocks * 2 : 64;
		struct fsock **p = realloc(fe->socks, (size_t)n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + fe->nsocks, 0, (size_t)(n - fe->nsocks) * sizeof(*p));
		fe->socks = p;
		fe->nsocks = n;
	}
	fe->socks[i] = s;
	s->handle = i;
	return i;
}

/* Looks up a socket and counts the caller as a user. Lock held. */
static struct fsock *sock_get(pvcalls_front *fe, int h)
{
	struct fsock *s;

	if (h < 0 || h >= fe->nsocks || !(s = fe->socks[h]) || s->closing)
		return NULL;
	s->users++;
	return s;
}

static void sock_put(pvcalls_front *fe, struct fsock *s)
{
	if (--s->users <= 1 && s->closing) { /* a releaser holds one */
		pthread_cond_broadcast(&fe->cond);
		kick_poller(fe); /* the releaser may be the poller */
	}
}

/* Shares the data ring of @s and allocates its event channel. No lock needed. */
static int ring_alloc(pvcalls_front *fe, struct fsock *s)
{
	struct fring *r = &s->r;
	struct pvcalls_wire_data_intf *intf;
	uint32_t *refs;
	int rc;

	r->npages = 1u << s->order;
	refs = calloc(r->npages, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, 1, true, &r->intf_ref,
				     &r->intf_page);
	if (rc < 0)
		goto out;
	rc = pvcalls_transport_share(fe->t, fe->xb.backend_id, r->npages, true, refs, &r->data);
	if (rc < 0) {
		pvcalls_transport_unshare(fe->t, r->intf_page, 1);
		goto out;
	}
	rc = pvcalls_transport_evtchn_alloc_unbound(fe->t, fe->xb.backend_id, &r->port);
	if (rc < 0) {
		pvcalls_transport_unshare(fe->t, r->data, r->npages);
		pvcalls_transport_unshare(fe->t, r->intf_page, 1);
		goto out;
	}
	intf = r->intf_page;
	intf->ring_order = s->order;
	memcpy(intf->ref, refs, r->npages * sizeof(*refs));
	/* The backend reads the page only after the request that names it is
	 * published with a release store (cmd ring C1). */
	pvcalls_data_ring_attach(&r->ring, intf, r->data, s->order, PVCALLS_DATA_FRONTEND);
	r->valid = true;
out:
	free(refs);
	return rc;
}

/* Tells the backend about ring progress unless the hint says it is awake. */
static void notify_data(pvcalls_front *fe, struct fsock *s)
{
	if (fe->hint && !pvc_hint_peer_waiting(s->r.ring.intf, false)) {
		__atomic_fetch_add(&fe->stats.notifies_suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&fe->stats.notifies_sent, 1, __ATOMIC_RELAXED);
	pvcalls_transport_evtchn_notify(fe->t, s->r.port);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */
/* ---------------------------------------------------------------------- */

int pvcalls_front_open(pvcalls_transport *t, const struct pvcalls_front_opts *opts,
		       pvcalls_front **out)
{
	struct pvcalls_front_opts o = { 0 };
	pthread_condattr_t ca;
	struct epoll_event ev = { .events = EPOLLIN }, ev_store = { .events = EPOLLIN },
			   ev_kick = { .events = EPOLLIN };
	pvcalls_front *fe;
	int rc, timeout;

	if (!t || !out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	timeout = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 10000;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->t = t;
	fe->next_id = 1;
	fe->epfd = -1;
	fe->kickfd = -1;
	pthread_mutex_init(&fe->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fe->cond, &ca);
	pthread_condattr_destroy(&ca);
	fe->spin_us = o.spin_us == PVCALLS_FRONT_NO_SPIN ? 0 : o.spin_us ? o.spin_us : DEFAULT_SPIN_US;

	rc = pvc_xb_front_probe(t, o.devid, timeout, &fe->xb);
	if (rc < 0)
		goto fail;
	if (o.ring_order == PVCALLS_FRONT_ORDER_0)
		fe->order_default = 0;
	else
		fe->order_default = o.ring_order ? o.ring_order : PVCALLS_FRONT_DEFAULT_ORDER;
	if (fe->order_default > fe->xb.max_order)
		fe->order_default = fe->xb.max_order;
	fe->hint = fe->xb.wait_hint && !o.no_wait_hint;

	rc = pvcalls_transport_share(t, fe->xb.backend_id, 1, true, &fe->cmd_ref, &fe->cmd_page);
	if (rc < 0)
		goto fail;
	pvcalls_cmd_sring_init(fe->cmd_page);
	pvcalls_cmd_front_init(&fe->cmd, fe->cmd_page);
	rc = pvcalls_transport_evtchn_alloc_unbound(t, fe->xb.backend_id, &fe->cmd_port);
	if (rc < 0)
		goto fail_page;
	fe->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (fe->epfd < 0) {
		rc = -errno;
		goto fail_port;
	}
	fe->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.u32 = EV_EVTCHN;
	ev_store.data.u32 = EV_STORE;
	ev_kick.data.u32 = EV_KICK;
	if (fe->kickfd < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, pvcalls_transport_evtchn_fd(t), &ev) < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, pvcalls_transport_store_fd(t), &ev_store) < 0 ||
	    epoll_ctl(fe->epfd, EPOLL_CTL_ADD, fe->kickfd, &ev_kick) < 0) {
		rc = -errno;
		goto fail_port;
	}
	rc = pvc_xb_front_connect(t, &fe->xb, fe->cmd_ref, fe->cmd_port, fe->hint, timeout);
	if (rc < 0)
		goto fail_port;
	/*
	 * From now on a change of the backend's state is an event. The token
	 * is unique per frontend: another one on this transport (or one that
	 * was abandoned on it) may watch the same node.
	 */
	{
		static atomic_uint next_token;

		snprintf(fe->watch_token, sizeof(fe->watch_token), "pvcalls-fe-%u",
			 atomic_fetch_add(&next_token, 1));
	}
	rc = pvcalls_transport_store_watch(t, fe->xb.backend, fe->watch_token);
	if (rc < 0)
		goto fail_port;
	pvc_info("front.connected", "connected to %s (domain %u), max-page-order %u%s",
		 fe->xb.backend, fe->xb.backend_id, fe->xb.max_order,
		 fe->hint ? ", wait hints" : "");
	*out = fe;
	return 0;

fail_port:
	pvcalls_transport_evtchn_close(t, fe->cmd_port);
fail_page:
	pvcalls_transport_unshare(t, fe->cmd_page, 1);
fail:
	if (fe->epfd >= 0)
		close(fe->epfd);
	if (fe->kickfd >= 0)
		close(fe->kickfd);
	pthread_cond_destroy(&fe->cond);
	pthread_mutex_destroy(&fe->lock);
	free(fe);
	return rc;
}

static bool pred_backend_closing(pvcalls_front *fe, void *arg)
{
	uint32_t state;

	(void)arg;
	return pvc_xb_read_state(fe->t, fe->xb.backend, &state) < 0 ||
	       state >= PVCALLS_XENBUS_CLOSING || state == PVCALLS_XENBUS_UNKNOWN;
}

void pvcalls_front_close(pvcalls_front *fe)
{
	if (!fe)
		return;
	pthread_mutex_lock(&fe->lock);
	pvcalls_transport_store_unwatch(fe->t, fe->xb.backend, fe->watch_token);
	/* Closing makes the backend release every socket and unmap every
	 * ring (PROTOCOL.md 2.4); only then are our grants ended. */
	if (!fe->dead) {
		pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSING);
		pvcalls_transport_store_watch(fe->t, fe->xb.backend, "pvcalls-fe-close");
		fe->dead = true; /* makes every blocked call leave */
		pthread_cond_broadcast(&fe->cond);
		kick_poller(fe);
		for (int64_t end = pvc_now_ms() + CLOSE_TIMEOUT_MS;
		     !pred_backend_closing(fe, NULL) && pvc_now_ms() < end;) {
			pthread_mutex_unlock(&fe->lock);
			pvc_xb_wait_event(fe->t, pvc_now_ms() + 100);
			pthread_mutex_lock(&fe->lock);
		}
		pvcalls_transport_store_unwatch(fe->t, fe->xb.backend, "pvcalls-fe-close");
	}
	/* Wait for threads still inside calls to leave (they see dead). */
	for (int i = 0; i < fe->nsocks; i++) {
		struct fsock *s = fe->socks[i];

		while (s && s->users > 0) {
			s->closing = true;
			pthread_cond_broadcast(&fe->cond);
			pthread_mutex_unlock(&fe->lock);
			usleep(1000);
			pthread_mutex_lock(&fe->lock);
		}
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &fe->slots[i];

		if (sl->busy && sl->cmd == PVCALLS_WIRE_ACCEPT && sl->newsock)
			sock_destroy(fe, sl->newsock);
		sl->busy = false;
	}
	for (int i = 0; i < fe->nsocks; i++) {
		struct fsock *s = fe->socks[i];

		if (!s)
			continue;
		while (s->acc_head) {
			struct fsock *n = s->acc_head;

			s->acc_head = n->next;
			sock_destroy(fe, n);
		}
		sock_destroy(fe, s);
	}
	free(fe->socks);
	pvcalls_transport_evtchn_close(fe->t, fe->cmd_port);
	pvcalls_transport_unshare(fe->t, fe->cmd_page, 1);
	pvc_xb_set_state(fe->t, fe->xb.dev, PVCALLS_XENBUS_CLOSED);
	pthread_mutex_unlock(&fe->lock);
	close(fe->epfd);
	close(fe->kickfd);
	pthread_cond_destroy(&fe->cond);
	pthread_mutex_destroy(&fe->lock);
	free(fe);
}

uint32_t pvcalls_front_max_order(const pvcalls_front *fe)
{
	return fe->xb.max_order;
}

bool pvcalls_front_wait_hint(const pvcalls_front *fe)
{
	return fe->hint;
}

int pvcalls_front_fd(pvcalls_front *fe)
{
	return fe ? fe->epfd : -EINVAL;
}

int pvcalls_front_process(pvcalls_front *fe)
{
	int rc;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	/* A thread asleep in poll() will dispatch; do not race it for the
	 * same events. */
	if (!fe->poller_busy)
		dispatch(fe, EV_ALL, true);
	rc = fe->dead ? -ENOTCONN : 0;
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

void pvcalls_front_get_stats(pvcalls_front *fe, struct pvcalls_front_stats *st)
{
	pthread_mutex_lock(&fe->lock);
	*st = fe->stats;
	st->notifies_sent = __atomic_load_n(&fe->stats.notifies_sent, __ATOMIC_RELAXED);
	st->notifies_suppressed =
		__atomic_load_n(&fe->stats.notifies_suppressed, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fe->lock);
}

int pvcalls_front_socket(pvcalls_front *fe, int domain, int type, int protocol)
{
	struct pvcalls_wire_request req;
	bool nonblock = type & SOCK_NONBLOCK;
	struct fsock *s;
	int rc;

	if (!fe)
		return -EINVAL;
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	pthread_mutex_lock(&fe->lock);
	if (fe->dead) {
		rc = -ENOTCONN;
		goto out;
	}
	s = sock_new(fe);
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pvcalls_req_socket(&req, 0, s->id, domain, type, protocol);
	if (rc == 0)
		rc = call(fe, &req, NULL, NULL, deadline_after(RELEASE_TIMEOUT_MS));
	if (rc == 0)
		rc = sock_insert(fe, s);
	if (rc < 0) {
		sock_destroy(fe, s);
		goto out;
	}
	s->nonblock = nonblock;
out:
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

int pvcalls_front_connect(pvcalls_front *fe, int h, const struct sockaddr *addr,
			  socklen_t addrlen)
{
	struct pvcalls_wire_request req;
	struct waiter w = { 0 };
	struct fsock *s;
	int rc;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	switch (s->state) {
	case FS_CONNECTED:
		if (s->connect_done) { /* result of a non-blocking connect */
			s->connect_done = false;
			rc = 0;
		} else {
			rc = -EISCONN;
		}
		goto out;
	case FS_CONNECTING:
		rc = -EALREADY;
		goto out;
	case FS_NEW:
		if (s->connect_done) {
			s->connect_done = false;
			rc = s->connect_err;
			goto out;
		}
		break;
	default:
		rc = -EINVAL; /* bound or listening: not supported by the protocol */
		goto out;
	}
	if (fe->dead) {
		rc = -ENOTCONN;
		goto out;
	}
	/* Validate the address before sharing memory for the ring. */
	rc = pvcalls_req_connect(&req, 0, s->id, addr, addrlen, 0, 0);
	if (rc < 0)
		goto out;
	s->state = FS_CONNECTING;
	pthread_mutex_unlock(&fe->lock);
	rc = ring_alloc(fe, s);
	pthread_mutex_lock(&fe->lock);
	if (rc < 0) {
		s->state = FS_NEW;
		goto out;
	}
	req.u.connect.ref = s->r.intf_ref;
	req.u.connect.evtchn = s->r.port;
	if (s->nonblock) {
		rc = submit(fe, &req, s, NULL, NULL, deadline_after(s->sndtimeo));
		if (rc == 0)
			rc = -EINPROGRESS;
		else {
			ring_free(fe, &s->r);
			s->state = FS_NEW;
		}
		goto out;
	}
	rc = submit(fe, &req, s, NULL, &w, deadline_after(s->sndtimeo));
	if (rc < 0) {
		ring_free(fe, &s->r);
		s->state = FS_NEW;
		goto out;
	}
	rc = fe_wait(fe, pred_done, &w, deadline_after(s->sndtimeo), NULL, 0, 0,
		     &fe->cmd_spin[PVCALLS_WIRE_CONNECT]);
	if (rc < 0 && !w.done) {
		/* Timed out: the connect goes on; poll reports when it ends. */
		if (fe->slots[w.slot].busy && fe->slots[w.slot].gen == w.gen)
			fe->slots[w.slot].w = NULL;
		rc = rc == -ETIMEDOUT ? -EINPROGRESS : rc;
		goto out;
	}
	rc = w.err;
out:
	sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

int pvcalls_front_bind(pvcalls_front *fe, int h, const struct sockaddr *addr, socklen_t addrlen)
{
	struct pvcalls_wire_request req;
	struct fsock *s;
	int rc;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	if (s->state != FS_NEW)
		rc = -EINVAL;
	else if ((rc = pvcalls_req_bind(&req, 0, s->id, addr, addrlen)) == 0)
		rc = call(fe, &req, s, NULL, deadline_after(RELEASE_TIMEOUT_MS));
	sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

int pvcalls_front_listen(pvcalls_front *fe, int h, int backlog)
{
	struct pvcalls_wire_request req;
	struct fsock *s;
	int rc;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	if (s->state != FS_BOUND && s->state != FS_LISTENING) {
		rc = -EINVAL;
	} else {
		pvcalls_req_listen(&req, 0, s->id, backlog);
		rc = call(fe, &req, s, NULL, deadline_after(RELEASE_TIMEOUT_MS));
	}
	sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

/* Queues one more ACCEPT on listener @l. Lock held on entry and exit. */
static int issue_accept(pvcalls_front *fe, struct fsock *l, int64_t deadline)
{
	struct pvcalls_wire_request req;
	struct fsock *ns = sock_new(fe);
	int rc;

	if (!ns)
		return -ENOMEM;
	ns->order = l->order;
	l->accepts_inflight++; /* counted now so a second thread does not double up */
	pthread_mutex_unlock(&fe->lock);
	rc = ring_alloc(fe, ns);
	pthread_mutex_lock(&fe->lock);
	if (rc == 0 && (l->closing || fe->dead))
		rc = fe->dead ? -ENOTCONN : -EBADF;
	if (rc == 0) {
		pvcalls_req_accept(&req, 0, l->id, ns->id, ns->r.intf_ref, ns->r.port);
		rc = submit(fe, &req, l, ns, NULL, deadline);
	}
	if (rc < 0) {
		l->accepts_inflight--;
		sock_destroy(fe, ns);
	}
	return rc;
}

struct accept_arg {
	struct fsock *l;
};

static bool pred_accept(pvcalls_front *fe, void *arg)
{
	struct fsock *l = ((struct accept_arg *)arg)->l;

	(void)fe;
	return l->acc_head || l->closing || l->accepts_inflight < l->accept_waiters;
}

int pvcalls_front_accept(pvcalls_front *fe, int h, int flags)
{
	struct accept_arg a;
	struct fsock *l, *ns;
	int64_t deadline;
	int rc;

	if (!fe || (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)))
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	l = sock_get(fe, h);
	if (!l) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	if (l->state != FS_LISTENING) {
		rc = -EINVAL;
		goto out;
	}
	a.l = l;
	deadline = deadline_after(l->nonblock ? 0 : l->rcvtimeo);
	l->accept_waiters++;
	for (;;) {
		if (l->acc_head)
			break;
		if (l->closing) {
			rc = -EBADF;
			goto out_w;
		}
		if (fe->dead) {
			rc = -ENOTCONN;
			goto out_w;
		}
		if (l->accepts_inflight < l->accept_waiters) {
			rc = issue_accept(fe, l, deadline);
			if (rc < 0)
				goto out_w;
			continue;
		}
		if (l->nonblock) {
			rc = -EAGAIN;
			goto out_w;
		}
		rc = fe_wait(fe, pred_accept, &a, deadline, NULL, 0, 0,
			     &fe->cmd_spin[PVCALLS_WIRE_ACCEPT]);
		if (rc == -ETIMEDOUT)
			rc = -EAGAIN;
		if (rc < 0)
			goto out_w;
	}
	ns = l->acc_head;
	l->acc_head = ns->next;
	if (!l->acc_head)
		l->acc_tail = NULL;
	l->poll_ready = false;
	ns->next = NULL;
	rc = sock_insert(fe, ns);
	if (rc < 0) {
		/* Out of memory for the table: give the connection back. */
		ns->next = l->acc_head;
		l->acc_head = ns;
		if (!l->acc_tail)
			l->acc_tail = ns;
		goto out_w;
	}
	ns->nonblock = flags & SOCK_NONBLOCK;
out_w:
	l->accept_waiters--;
out:
	sock_put(fe, l);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}

struct data_arg {
	struct fsock *s;
};

static bool pred_tx(pvcalls_front *fe, void *arg)
{
	struct fsock *s = ((struct data_arg *)arg)->s;

	(void)fe;
	return s->closing || !s->r.valid || pvcalls_data_tx_free(&s->r.ring) != 0 ||
	       pvcalls_data_tx_error(&s->r.ring) != 0;
}

static bool pred_rx(pvcalls_front *fe, void *arg)
{
	struct fsock *s = ((struct data_arg *)arg)->s;

	(void)fe;
	return s->closing || !s->r.valid || pvcalls_data_rx_queued(&s->r.ring) != 0 ||
	       pvcalls_data_rx_error(&s->r.ring) != 0;
}

/* Ring-only conditions, safe without fe->lock (no socket state read). */
static bool ring_tx_ready(pvcalls_front *fe, void *arg)
{
	struct fsock *s = ((struct data_arg *)arg)->s;

	(void)fe;
	return pvcalls_data_tx_free(&s->r.ring) != 0 || pvcalls_data_tx_error(&s->r.ring) != 0;
}

static bool ring_rx_ready(pvcalls_front *fe, void *arg)
{
	struct fsock *s = ((struct data_arg *)arg)->s;

	(void)fe;
	return pvcalls_data_rx_queued(&s->r.ring) != 0 || pvcalls_data_rx_error(&s->r.ring) != 0;
}

/*
 * Spins on a ring condition without any lock, for up to *@budget us;
 * true if it came true. *@t0 is when the spin started.
 */
static bool spin_ring(pvcalls_front *fe, pred_fn pred, void *arg, uint32_t *budget, int64_t *t0)
{
	int64_t end;

	*t0 = now_us();
	if (!fe->spin_us)
		return false;
	end = *t0 + spin_budget(fe, budget);
	do {
		/* One PAUSE (~30 ns) per look: the predicate reads one or two
		 * shared words; the clock is read every 16 looks. */
		for (int k = 0; k < 16; k++) {
			cpu_relax();
			if (pred(fe, arg)) {
				spin_learn(fe, budget, now_us() - *t0, false);
				return true;
			}
		}
	} while (now_us() < end);
	return false;
}

/* Enters a data call: looks the socket up and takes one of its locks. */
struct dsnap {
	bool connected, nonblock;
	int64_t deadline;
};

/* Socket state a data call needs, read under fe->lock once. */
static struct fsock *data_enter(pvcalls_front *fe, int h, bool tx, struct dsnap *d)
{
	struct fsock *s;

	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (s) {
		d->connected = s->state == FS_CONNECTED && s->r.valid && !(tx && fe->dead);
		d->nonblock = s->nonblock;
		d->deadline = deadline_after(tx ? s->sndtimeo : s->rcvtimeo);
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
	sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
}

ssize_t pvcalls_front_send(pvcalls_front *fe, int h, const void *buf, size_t len, int flags)
{
	struct data_arg a;
	struct fsock *s;
	size_t total = 0;
	ssize_t rc = 0;
	int64_t deadline, t0;
	struct dsnap d;

	if (!fe || (!buf && len))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
		return -EOPNOTSUPP;
	s = data_enter(fe, h, true, &d);
	if (!s)
		return -EBADF;
	a.s = s;
	deadline = d.deadline;
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
		n = pvcalls_data_write(&s->r.ring, (const uint8_t *)buf + total, len - total);
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
		if (spin_ring(fe, ring_tx_ready, &a, &s->spin_tx, &t0))
			continue;
		pthread_mutex_lock(&fe->lock);
		rc = fe_wait(fe, pred_tx, &a, deadline, &s, 1, FW_SPUN, NULL);
		if (rc == 0 && s->closing)
			rc = fe->dead ? -ENOTCONN : -EBADF;
		pthread_mutex_unlock(&fe->lock);
		if (rc == 0 && fe->spin_us)
			spin_learn(fe, &s->spin_tx, now_us() - t0, true);
		if (rc == -ETIMEDOUT)
			rc = -EAGAIN;
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
	struct data_arg a;
	struct fsock *s;
	ssize_t rc;
	int64_t deadline, t0;
	struct dsnap d;

	if (!fe || (!buf && len))
		return -EINVAL;
	if (flags & ~(MSG_DONTWAIT | MSG_PEEK))
		return -EOPNOTSUPP;
	s = data_enter(fe, h, false, &d);
	if (!s)
		return -EBADF;
	a.s = s;
	deadline = d.deadline;
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
		if (spin_ring(fe, ring_rx_ready, &a, &s->spin_rx, &t0))
			continue;
		pthread_mutex_lock(&fe->lock);
		rc = fe_wait(fe, pred_rx, &a, deadline, &s, 1, FW_SPUN, NULL);
		if (rc == 0 && s->closing)
			rc = fe->dead ? -ENOTCONN : -EBADF;
		pthread_mutex_unlock(&fe->lock);
		if (rc == 0 && fe->spin_us)
			spin_learn(fe, &s->spin_rx, now_us() - t0, true);
		if (rc == -ETIMEDOUT)
			rc = -EAGAIN;
		if (rc < 0)
			break;
	}
out:
	data_leave(fe, s, false);
	return rc;
}

static bool pred_sole_user(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct fsock *)arg)->users == 1;
}

static bool pred_no_connect(pvcalls_front *fe, void *arg)
{
	(void)fe;
	return ((struct fsock *)arg)->state != FS_CONNECTING;
}

int pvcalls_front_release(pvcalls_front *fe, int h)
{
	struct pvcalls_wire_request req;
	int64_t deadline = deadline_after(RELEASE_TIMEOUT_MS);
	struct fsock *s;
	int rc = 0;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	s->closing = true;
	pthread_cond_broadcast(&fe->cond);
	kick_poller(fe);
	/* Blocked callers see closing and leave; wait for them. */
	fe_wait(fe, pred_sole_user, s, deadline, NULL, 0, 0, NULL);
	/* A CONNECT in flight must be answered first: the backend maps the
	 * ring while connecting. */
	if (s->state == FS_CONNECTING)
		fe_wait(fe, pred_no_connect, s, deadline, NULL, 0, 0, NULL);
	if (!fe->dead) {
		pvcalls_req_release(&req, 0, s->id);
		rc = call(fe, &req, s, NULL, deadline);
		if (rc < 0)
			pvc_warn("front.release", "RELEASE of socket %d: %s", h,
				 pvcalls_strerror(rc));
	}
	/* Requests the backend will never answer (Linux leaves a released
	 * listener's ACCEPT/POLL unanswered): free our side of them. */
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &fe->slots[i];

		if (!sl->busy || sl->sock != s)
			continue;
		fe->stats.lost_slots++;
		if (sl->cmd == PVCALLS_WIRE_ACCEPT)
			sock_destroy(fe, sl->newsock);
		if (sl->w) {
			sl->w->err = -EBADF;
			sl->w->done = true;
		}
		sl->busy = false;
		sl->w = NULL;
		fe->slots_busy--;
	}
	/* Accepted connections nobody picked up are released too. */
	while (s->acc_head) {
		struct fsock *n = s->acc_head;

		s->acc_head = n->next;
		if (!fe->dead) {
			pvcalls_req_release(&req, 0, n->id);
			call(fe, &req, n, NULL, deadline);
		}
		sock_destroy(fe, n);
	}
	fe->socks[h] = NULL;
	s->users--;
	sock_destroy(fe, s);
	pthread_cond_broadcast(&fe->cond);
	pthread_mutex_unlock(&fe->lock);
	return rc == -ENOTCONN ? 0 : rc;
}

/* prod - cons from the shared copies, or -EPROTO when impossible. */
static int shared_distance(uint32_t *prod, uint32_t *cons, uint32_t size)
{
	uint32_t c = pvc_load_acquire(cons);
	uint32_t d = pvc_load_acquire(prod) - c;

	return d > size ? -EPROTO : (int)d;
}

/* Readiness of one entry. Lock held. May queue a POLL for a listener. */
static short poll_one(pvcalls_front *fe, struct fsock *s, short events)
{
	short re = 0;

	switch (s->state) {
	case FS_CONNECTED: {
		int32_t rerr = pvcalls_data_rx_error(&s->r.ring);
		int32_t terr = pvcalls_data_tx_error(&s->r.ring);
		/* Other threads may be sending and receiving on this socket
		 * and own the ring's private counters: look at the shared
		 * indexes only (our own side's were published with release). */
		int q = shared_distance(s->r.ring.rx_prod_sh, s->r.ring.rx_cons_sh,
					s->r.ring.size);
		int f = shared_distance(s->r.ring.tx_prod_sh, s->r.ring.tx_cons_sh,
					s->r.ring.size);

		if (f >= 0)
			f = (int)s->r.ring.size - f;

		if (q < 0 || f < 0)
			return POLLERR;
		if (q > 0 || rerr)
			re |= POLLIN;
		if (f > 0 || terr)
			re |= POLLOUT;
		if ((rerr && rerr != WIRE_ENOTCONN) || (terr && terr != WIRE_ENOTCONN))
			re |= POLLERR;
		if (rerr == WIRE_ENOTCONN && q == 0)
			re |= POLLHUP;
		if (s->connect_done) /* non-blocking connect finished */
			re |= POLLOUT;
		break;
	}
	case FS_CONNECTING:
		break;
	case FS_LISTENING:
		if (s->acc_head || s->poll_ready) {
			re |= POLLIN;
		} else if ((events & POLLIN) && !s->poll_inflight && s->accepts_inflight == 0 &&
			   fe->slots_busy < NSLOTS && pvcalls_cmd_front_free(&fe->cmd) > 0) {
			struct pvcalls_wire_request req;

			pvcalls_req_poll(&req, 0, s->id);
			if (submit(fe, &req, s, NULL, NULL, 0) == 0)
				s->poll_inflight = true;
		}
		break;
	case FS_NEW:
		if (s->connect_done) /* non-blocking connect failed */
			re |= POLLOUT | POLLERR;
		else
			re |= POLLHUP;
		break;
	default:
		re |= POLLHUP;
		break;
	}
	return re & (events | POLLERR | POLLHUP);
}

struct poll_arg {
	struct pvcalls_pollfd *fds;
	unsigned n;
	int ready;
};

static bool pred_poll(pvcalls_front *fe, void *arg)
{
	struct poll_arg *p = arg;

	p->ready = 0;
	for (unsigned i = 0; i < p->n; i++) {
		struct pvcalls_pollfd *pf = &p->fds[i];
		struct fsock *s;

		pf->revents = 0;
		if (pf->sock < 0)
			continue;
		if (pf->sock >= fe->nsocks || !(s = fe->socks[pf->sock]))
			pf->revents = POLLNVAL;
		else if (s->closing)
			pf->revents = POLLNVAL;
		else
			pf->revents = poll_one(fe, s, pf->events);
		if (pf->revents)
			p->ready++;
	}
	return p->ready > 0;
}

int pvcalls_front_poll(pvcalls_front *fe, struct pvcalls_pollfd *fds, unsigned nfds,
		       int timeout_ms)
{
	struct poll_arg a = { .fds = fds, .n = nfds };
	struct fsock *stack_hs[16], **hs = stack_hs;
	unsigned nhs = 0;
	int rc;

	if (!fe || (!fds && nfds))
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	if (nfds > 16) {
		hs = malloc(nfds * sizeof(*hs));
		if (!hs) {
			pthread_mutex_unlock(&fe->lock);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < nfds; i++) {
		int h = fds[i].sock;

		/* Counted as users: a release waits until we let go of them. */
		if (h >= 0 && h < fe->nsocks && fe->socks[h] && !fe->socks[h]->closing &&
		    fe->socks[h]->state == FS_CONNECTED && (hs[nhs] = sock_get(fe, h)))
			nhs++;
	}
	rc = fe_wait(fe, pred_poll, &a, deadline_after(timeout_ms), hs, nhs, 0, NULL);
	if (rc == -ETIMEDOUT)
		rc = 0;
	else if (rc == 0)
		rc = a.ready;
	for (unsigned k = 0; k < nhs; k++)
		sock_put(fe, hs[k]);
	pthread_mutex_unlock(&fe->lock);
	if (hs != stack_hs)
		free(hs);
	return rc;
}

int pvcalls_front_setopt(pvcalls_front *fe, int h, enum pvcalls_front_opt opt, int value)
{
	struct fsock *s;
	int rc = 0;

	if (!fe)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	s = sock_get(fe, h);
	if (!s) {
		pthread_mutex_unlock(&fe->lock);
		return -EBADF;
	}
	switch (opt) {
	case PVCALLS_OPT_NONBLOCK:
		s->nonblock = value != 0;
		break;
	case PVCALLS_OPT_SNDTIMEO_MS:
		s->sndtimeo = value < 0 ? -1 : value;
		break;
	case PVCALLS_OPT_RCVTIMEO_MS:
		s->rcvtimeo = value < 0 ? -1 : value;
		break;
	case PVCALLS_OPT_RING_ORDER:
		if (value < 0 || (uint32_t)value > fe->xb.max_order)
			rc = -EINVAL;
		else if (s->state == FS_CONNECTED || s->state == FS_CONNECTING)
			rc = -EISCONN;
		else
			s->order = (uint32_t)value;
		break;
	default:
		rc = -ENOPROTOOPT;
	}
	sock_put(fe, s);
	pthread_mutex_unlock(&fe->lock);
	return rc;
}
