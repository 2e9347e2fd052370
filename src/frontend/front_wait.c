/* SPDX-License-Identifier: MIT */
/*
 * Waiting (pvc_fe_wait): a blocked caller first polls for its spin
 * budget, then sleeps. Only one thread at a time sleeps in epoll_wait()
 * on the event fd (the "poller"); it dispatches whatever arrived and
 * broadcasts fe->cond, on which every other blocked thread waits. Every
 * predicate is re-checked under fe->lock after each dispatch, and
 * dispatch runs under fe->lock, so a broadcast cannot fall between a
 * predicate check and the wait. A state change made outside dispatch
 * (release, close) also kicks the poller through kickfd, if there is one.
 *
 * What a wait costs (docs/PERFORMANCE.md): spinning reads the shared
 * indexes and nothing else; only a thread about to sleep arms the
 * command ring's rsp_event and raises wait hints (both followed by one
 * more look, W1 below), and the poller's wakeup touches only the sources
 * epoll reported (one event-channel delivery, the store only when its fd
 * fired), so a blocking round trip costs three syscalls here.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "frontend/front_priv.h"
#include "ring/wait_hint.h"

/*
 * Wakes the thread asleep in epoll_wait() on epfd, so it re-checks
 * everything. Lock held: poller_busy is only true between the poller's
 * last predicate check and its relock, so a change made under the lock
 * before this call is either seen by that check or followed by the kick.
 */
void pvc_fe_kick_poller(pvcalls_front *fe)
{
	uint64_t one = 1;

	if (!fe->poller_busy || fe->kicked)
		return;
	if (write(fe->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pvc_debug("front.kick", "kick fd: %d", errno);
	fe->kicked = true;
}

void pvc_fe_kill(pvcalls_front *fe, const char *why)
{
	if (!fe->dead)
		pvc_err("front.dead", "backend connection lost: %s", why);
	fe->dead = true;
	pthread_cond_broadcast(&fe->cond);
	pvc_fe_kick_poller(fe);
}

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
void pvc_fe_dispatch(pvcalls_front *fe, unsigned what, bool all)
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
	pvc_fe_handle_responses(fe, all);
	if (what & EV_STORE)
		pvc_fe_handle_store(fe);
	pthread_cond_broadcast(&fe->cond);
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
		pvc_fe_dispatch(fe, EV_ALL, true);
	rc = fe->dead ? -ENOTCONN : 0;
	pthread_mutex_unlock(&fe->lock);
	return rc;
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
	/* pvc_fe_handle_responses() took up to here. */
	uint32_t seen = pvcalls_cmd_front_rsp_cons(&fe->cmd);

	pthread_mutex_unlock(&fe->lock);
	for (int k = 0; k < 32; k++) {
		cpu_relax();
		/* Any thread may peek (ring.h); the owner's get re-reads. */
		if (pvcalls_cmd_front_rsp_prod(&fe->cmd) != seen)
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
 *    connect(), should not cost us a wakeup, ~45 us across cores here,
 *    and the backend the wakeup's IPI; 8: a CONNECT's answer also waits
 *    for the RELEASEs sent before it without waiting, 100-120 us at the
 *    default spin_us in pvcalls-bench's S2; the cap was 4, then S2 slept
 *    once a cycle and ran 8% slower);
 *  - a longer wait halves the budget, down to spin_us / SPIN_MIN_DIV, so
 *    an idle socket costs little CPU.
 */
#define SPIN_MAX_MULT 8u
#define SPIN_MIN_DIV 4u

uint32_t pvc_fe_spin_budget(pvcalls_front *fe, uint32_t *budget)
{
	if (!*budget)
		*budget = fe->spin_us;
	return *budget;
}

void pvc_fe_spin_learn(pvcalls_front *fe, uint32_t *budget, int64_t waited, bool slept)
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

/*
 * Sleeps once: as the poller in epoll_wait() if nobody is, dispatching
 * what fired, else on fe->cond until a dispatch broadcasts; at most a
 * second, at most until @deadline. Lock held on entry and exit.
 */
static void sleep_once(pvcalls_front *fe, int64_t deadline)
{
	if (!fe->poller_busy) {
		int64_t left = deadline < 0 ? 1000 : deadline - pvc_now_ms();
		struct epoll_event evs[4];
		unsigned what = 0;
		int n;

		fe->poller_busy = true;
		pthread_mutex_unlock(&fe->lock);
		n = epoll_wait(fe->epfd, evs, 4, left > 1000 ? 1000 : (left < 0 ? 0 : (int)left));
		pthread_mutex_lock(&fe->lock);
		fe->poller_busy = false;
		for (int i = 0; i < n; i++)
			what |= evs[i].data.u32;
		if (n < 0) /* EINTR: look at everything */
			what = EV_ALL;
		pvc_fe_dispatch(fe, what, false);
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
}

int pvc_fe_wait(pvcalls_front *fe, const struct fe_waiter *w)
{
	/* The clock is read once per pass, and not at all when pred() holds
	 * at once: a clock read costs ~50 ns in a guest, a polled round
	 * trip a few hundred. */
	int64_t spin_end = -1; /* not started */
	int64_t t0 = 0, now = 0;
	bool slept = false;

	for (;;) {
		pvc_fe_handle_responses(fe, false);
		if (w->pred(fe, w->arg)) {
			/* @now is at most one spin stretch (~1 us) old: good
			 * enough to learn from, and saves a clock read. */
			if (w->budget && t0 && fe->spin_us)
				pvc_fe_spin_learn(fe, w->budget, (slept ? pvc_now_us() : now) - t0,
						  slept);
			return 0;
		}
		if (fe->dead)
			return -ENOTCONN;
		now = pvc_now_us();
		if (w->deadline >= 0 && now / 1000 >= w->deadline) {
			/* The caller will sleep elsewhere (its own event loop,
			 * or a later call): keep the backend notifying. */
			if (arm_hints(fe, w->hints, w->nhints) && w->pred(fe, w->arg))
				return 0;
			return -ETIMEDOUT;
		}
		if (spin_end < 0) {
			t0 = now;
			spin_end = 0;
			if (fe->spin_us && !w->spun)
				spin_end = now + (w->budget ? pvc_fe_spin_budget(fe, w->budget)
							    : fe->spin_us);
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
		hints_sleep(fe, w->hints, w->nhints);
		pvc_fe_handle_responses(fe, true);
		if (w->pred(fe, w->arg)) {
			hints_awake(fe, w->hints, w->nhints);
			if (w->budget && fe->spin_us)
				pvc_fe_spin_learn(fe, w->budget, now - t0, slept);
			return 0;
		}
		fe->stats.sleeps++;
		slept = true;
		sleep_once(fe, w->deadline);
		hints_awake(fe, w->hints, w->nhints);
	}
}
