/* SPDX-License-Identifier: MIT */
/*
 * The backend object and its event loop.
 *
 * One epoll set holds the transport's event-channel fd and store fd
 * (level-triggered: we take one port and a bounded number of store events
 * per round and come back for the rest), an eventfd we write when work is
 * left over (so pvcalls_back_fd() polls readable), and every host socket
 * (edge-triggered; each socket remembers whether it may be read or
 * written until a syscall says EAGAIN).
 *
 * Wait policy (PERFORMANCE.md): a socket or command ring that did work is
 * "hot". While anything is hot the loop does not sleep: it polls the hot
 * rings and the epoll set (timeout 0). A hot socket that stayed idle for
 * spin_us is cooled: with the wait-hint extension we raise its
 * back_waiting word (H1 in ring/wait_hint.h) and look at the ring once
 * more; a command ring is cooled with final_check, which re-arms req_event
 * and looks once more. Only when nothing is hot does the loop sleep in
 * epoll_wait(). Before pvcalls_back_process() returns, everything is
 * cooled, so a frontend always notifies us while nobody is polling.
 *
 * Objects released during a round (sockets, frontends) are not freed
 * until the round's epoll events have all been dispatched.
 *
 * Fairness between frontends (issue 13; docs/threat-model.md, "Isolation
 * under abuse"): a round takes at most BACK_CMD_BATCH requests from each
 * frontend's command ring, and each frontend at most once per round (an
 * event-channel wakeup and the hot list do not both serve it); the rest
 * waits for the next round, after every other hot frontend's turn. A port
 * whose events keep finding no work is unmasked only BACK_IDLE_DEFER_US
 * later (a timerfd in the epoll set, so pvcalls_back_fd() pollers wake
 * for it too): a notification storm costs a round per interval.
 *
 * The command rate (cmd_rate in backend.h; back_cmd.c, cmd_admit) holds a
 * frontend back only while another one had work done lately (act_f): a
 * held frontend leaves the hot list and sits on b->cmd_held until its
 * next token is due, and the same timerfd brings the loop back to serve
 * it (held_run), since its requests are already on the ring and no
 * notification will come for them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "backend/back_priv.h"
#include "common/log.h"
#include "ring/wait_hint.h"

#define BACK_EPOLL_EVENTS 64
/* The longest a busy pvcalls_back_process() runs before returning. */
#define BACK_SLICE_US 50000

/* ---------------------------------------------------------------------- */
/* Ports, kick, hot lists                                                 */

void pvc_back_port_add(pvcalls_back *b, struct back_port *pe, enum port_kind kind, uint32_t port)
{
	pe->kind = kind;
	pe->bound = true;
	pe->idle = 0; /* a reconnected frontend starts afresh */
	pvc_idmap_insert(&b->ports, &pe->n, port);
}

static void defer_unlink(pvcalls_back *b, struct back_port *pe);
static void timer_arm(pvcalls_back *b);

void pvc_back_port_del(pvcalls_back *b, struct back_port *pe)
{
	defer_unlink(b, pe);
	if (!pe->bound)
		return;
	pvc_idmap_remove(&b->ports, &pe->n);
	pvcalls_transport_evtchn_close(b->t, (uint32_t)pe->n.key);
	pe->bound = false;
}

void pvc_back_port_forget(pvcalls_back *b, struct back_port *pe)
{
	bool was_deferred = pe->deferred;

	defer_unlink(b, pe);
	if (!pe->bound)
		return;
	pvc_idmap_remove(&b->ports, &pe->n);
	pe->bound = false;
	/* A port left masked here would stay masked when the ring is taken
	 * again: its next user would never be notified. */
	if (was_deferred)
		pvcalls_transport_evtchn_unmask(b->t, (uint32_t)pe->n.key);
}

void pvc_back_kick(pvcalls_back *b)
{
	uint64_t one = 1;

	if (b->kicked)
		return;
	if (write(b->kickfd, &one, sizeof(one)) == (ssize_t)sizeof(one) || errno == EAGAIN)
		b->kicked = true;
}

static void kick_drain(pvcalls_back *b)
{
	uint64_t v;

	while (read(b->kickfd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	b->kicked = false;
}

void pvc_back_mark_work(pvcalls_back *b)
{
	b->work_pending = true;
}

/* A socket that just did work: poll it instead of waiting for events. */
void pvc_back_hot_add(pvcalls_back *b, struct back_socket *s)
{
	if (s->hot || !b->spin_us || b->nhot >= BACK_HOT_MAX)
		return;
	s->hot = true;
	PVC_LIST_PUSH(b->hot_head, s, hnext, hprev);
	b->nhot++;
	/* We poll it now: the frontend need not notify (wait_hint.h). */
	if (s->f->hint)
		pvc_hint_awake(s->r.intf, true);
}

void pvc_back_hot_del(pvcalls_back *b, struct back_socket *s)
{
	if (!s->hot)
		return;
	PVC_LIST_UNLINK(b->hot_head, s, hnext, hprev);
	s->hnext = s->hprev = NULL;
	s->hot = false;
	b->nhot--;
}

void pvc_back_cmd_hot_add(pvcalls_back *b, struct back_frontend *f)
{
	if (f->cmd_hot)
		return;
	f->cmd_hot = true;
	f->cnext = b->cmd_hot;
	b->cmd_hot = f;
}

void pvc_back_cmd_hot_del(pvcalls_back *b, struct back_frontend *f)
{
	struct back_frontend **pp;

	if (!f->cmd_hot)
		return;
	for (pp = &b->cmd_hot; *pp; pp = &(*pp)->cnext) {
		if (*pp == f) {
			*pp = f->cnext;
			break;
		}
	}
	f->cnext = NULL;
	f->cmd_hot = false;
}

/* @f waits for a command token until @wake_us (back_cmd.c, cmd_admit):
 * not polled meanwhile, so a held frontend costs no spinning. */
void pvc_back_cmd_held_add(pvcalls_back *b, struct back_frontend *f, int64_t wake_us)
{
	pvc_back_cmd_hot_del(b, f);
	f->cmd_more = false;
	if (!f->cmd_held) {
		f->cmd_held = true;
		f->cmd_wake_us = wake_us;
		f->hldnext = b->cmd_held;
		b->cmd_held = f;
	} else if (wake_us < f->cmd_wake_us) {
		f->cmd_wake_us = wake_us;
	}
	if (!b->timer_us || wake_us < b->timer_us)
		timer_arm(b);
}

void pvc_back_cmd_held_del(pvcalls_back *b, struct back_frontend *f)
{
	struct back_frontend **pp;

	if (!f->cmd_held)
		return;
	for (pp = &b->cmd_held; *pp; pp = &(*pp)->hldnext) {
		if (*pp == f) {
			*pp = f->hldnext;
			break;
		}
	}
	f->hldnext = NULL;
	f->cmd_held = false;
}

/*
 * Stops polling @s: raise back_waiting, then look at the ring again (H1
 * in wait_hint.h, pairs with the frontend's H2 after it moves an index).
 * Returns true if work showed up, in which case @s stays hot.
 */
static bool cool_sock(pvcalls_back *b, struct back_socket *s)
{
	bool hint = s->f->hint;

	if (hint)
		pvc_hint_sleep(s->r.intf, true);
	if (pvc_back_relay_has_work(s)) {
		if (hint)
			pvc_hint_awake(s->r.intf, true);
		return true;
	}
	pvc_back_hot_del(b, s);
	return false;
}

/*
 * Stops polling @f's command ring: final_check re-arms req_event and looks
 * again (C6 in cmd_ring.c, pairs with the frontend's push C5).
 * Returns true if requests showed up (@f stays hot).
 */
static bool cool_cmd(pvcalls_back *b, struct back_frontend *f)
{
	int rc;

	/* Held by its command rate: the timerfd serves it, and what waits on
	 * its ring must not keep the loop polling. */
	if (f->cmd_held)
		return false;
	if (f->cmd_more)
		return true;
	rc = pvcalls_cmd_back_final_check(&f->cmd);
	if (rc > 0)
		return true;
	pvc_back_cmd_hot_del(b, f);
	if (rc < 0) {
		pvc_warn("back.cmd-proto", "frontend %u/%u: impossible command ring indexes",
			 f->feid, f->devid);
		pvc_back_front_disconnect(f, true);
	}
	return false;
}

/* Polls every hot command ring and socket once. Returns the work done. */
static int poll_hot(pvcalls_back *b)
{
	int64_t now = pvc_now_us();
	struct back_frontend *f, *fn;
	struct back_socket *s, *sn;
	struct pvc_log_gate *g;
	int done = 0;

	b->work_pending = false;
	for (f = b->cmd_hot; f; f = fn) {
		int n;

		fn = f->cnext;
		if (f->dead || !f->connected) {
			pvc_back_cmd_hot_del(b, f);
			continue;
		}
		if (f->cmd_round == b->round) {
			/* Its event already served it this round: one batch per
			 * frontend per round. */
			if (f->cmd_more)
				b->work_pending = true;
			continue;
		}
		f->cmd_round = b->round;
		g = pvc_back_gate(f);
		n = pvc_back_cmd_service(f);
		pvc_back_ungate(f, g);
		if (n > 0) {
			f->last_us = now;
			done += n;
		} else if (f->connected && now - f->last_us >= (int64_t)b->spin_us) {
			if (cool_cmd(b, f))
				b->work_pending = true;
		}
		if (f->cmd_more)
			b->work_pending = true;
	}
	for (s = b->hot_head; s; s = sn) {
		bool did;

		sn = s->hnext;
		g = pvc_back_gate(s->f);
		did = pvc_back_relay_service(s);
		pvc_back_ungate(s->f, g);
		if (did) {
			done++;
			pvc_back_active(b, s->f, now);
		} else if (s->hot && now - s->last_us >= (int64_t)b->spin_us) {
			if (cool_sock(b, s))
				b->work_pending = true;
		}
		/* Servicing touches only @s: new hot sockets go to the head. */
	}
	return done;
}

/* Before sleeping in someone else's loop: cool everything, kick if needed. */
static void go_idle(pvcalls_back *b)
{
	struct back_frontend *f, *fn;
	struct back_socket *s, *sn;
	bool again = b->work_pending;

	for (f = b->cmd_hot; f; f = fn) {
		fn = f->cnext;
		if (f->dead || !f->connected)
			pvc_back_cmd_hot_del(b, f);
		else if (cool_cmd(b, f))
			again = true;
	}
	for (s = b->hot_head; s; s = sn) {
		sn = s->hnext;
		if (cool_sock(b, s))
			again = true;
	}
	if (again)
		pvc_back_kick(b);
}

/* ---------------------------------------------------------------------- */
/* Deferred unmasks (notification storms)                                 */

/* Arms the timerfd for the first deferred unmask or held frontend due. */
static void timer_arm(pvcalls_back *b)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	int64_t at = b->deferred ? b->deferred->unmask_us : 0;

	for (struct back_frontend *f = b->cmd_held; f; f = f->hldnext)
		if (!at || f->cmd_wake_us < at)
			at = f->cmd_wake_us;
	/* Owed notifications share the timer (back_data.c). */
	if (b->owed_us && (!at || b->owed_us < at))
		at = b->owed_us;
	b->timer_us = at;
	if (at) {
		int64_t left = at - pvc_now_us();

		if (left < 1)
			left = 1; /* 0 would disarm */
		its.it_value.tv_sec = left / 1000000;
		its.it_value.tv_nsec = (long)(left % 1000000) * 1000;
	}
	timerfd_settime(b->timerfd, 0, &its, NULL);
}

static void defer_unlink(pvcalls_back *b, struct back_port *pe)
{
	struct back_port **pp, *prev = NULL;

	if (!pe->deferred)
		return;
	for (pp = &b->deferred; *pp; prev = *pp, pp = &(*pp)->dnext) {
		if (*pp == pe) {
			*pp = pe->dnext;
			if (b->deferred_tail == pe)
				b->deferred_tail = prev;
			break;
		}
	}
	pe->dnext = NULL;
	pe->deferred = false;
}

/* Leaves @pe masked for BACK_IDLE_DEFER_US (a constant: the list stays
 * sorted by appending). */
static void defer_unmask(pvcalls_back *b, struct back_port *pe)
{
	bool first = !b->deferred;

	pe->deferred = true;
	pe->unmask_us = pvc_now_us() + BACK_IDLE_DEFER_US;
	pe->dnext = NULL;
	if (b->deferred_tail)
		b->deferred_tail->dnext = pe;
	else
		b->deferred = pe;
	b->deferred_tail = pe;
	if (first && (!b->timer_us || pe->unmask_us < b->timer_us))
		timer_arm(b);
}

/* Serves the held frontends whose token is due (their requests wait on
 * their rings: no notification comes for them). Serving one may hold it
 * again, onto the list being rebuilt. */
static void held_run(pvcalls_back *b, int64_t now)
{
	struct back_frontend *f = b->cmd_held, *fn;

	b->cmd_held = NULL;
	for (; f; f = fn) {
		struct pvc_log_gate *g;

		fn = f->hldnext;
		f->hldnext = NULL;
		if (f->cmd_wake_us > now && !f->dead && f->connected) {
			f->hldnext = b->cmd_held; /* not yet: back on the list */
			b->cmd_held = f;
			continue;
		}
		f->cmd_held = false;
		if (f->dead || !f->connected)
			continue;
		f->cmd_round = b->round;
		g = pvc_back_gate(f);
		pvc_back_cmd_service(f);
		pvc_back_ungate(f, g);
	}
}

/* The timerfd fired: unmask what is due. Events that waited are
 * delivered again by the unmask (transport.h, evtchn_unmask). */
static void timer_event(pvcalls_back *b)
{
	int64_t now = pvc_now_us();
	uint64_t v;

	while (read(b->timerfd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	while (b->deferred && b->deferred->unmask_us <= now) {
		struct back_port *pe = b->deferred;

		defer_unlink(b, pe);
		pvcalls_transport_evtchn_unmask(b->t, (uint32_t)pe->n.key);
	}
	held_run(b, now);
	if (b->owed_us && b->owed_us <= now)
		pvc_back_notify_retry(b);
	timer_arm(b);
}

void pvc_back_notify_due(pvcalls_back *b, int64_t when)
{
	if (b->owed_us && b->owed_us <= when)
		return;
	b->owed_us = when;
	timer_arm(b);
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                               */

/*
 * Takes one event-channel port per wakeup of the transport's fd. The fd is
 * level-triggered in our epoll set and the transport keeps it readable
 * while another port is deliverable (transport.h, evtchn_fd), so the others
 * come with the next epoll_wait() (timeout 0 while anything is hot, or the
 * next pvcalls_back_process() call). Calling pending() until it returns 0
 * would cost one more read() of the fd per wakeup, which nearly always
 * finds nothing: one request and its answer are one port.
 */
static int handle_evtchn(pvcalls_back *b)
{
	struct pvc_idmap_node *hn;
	uint32_t port;
	int rc = pvcalls_transport_evtchn_pending(b->t, &port);
	struct back_port *pe = NULL;
	bool did = false;

	if (rc <= 0)
		return 0;
	hn = pvc_idmap_find(&b->ports, port);
	if (hn) {
		struct pvc_log_gate *g;

		pe = container_of(hn, struct back_port, n);
		if (pe->kind == PORT_CMD) {
			struct back_frontend *f = container_of(pe, struct back_frontend, pe);

			if (!f->dead && f->connected) {
				g = pvc_back_gate(f);
				f->cmd_round = b->round;
				did = pvc_back_cmd_service(f) > 0;
				pvc_back_ungate(f, g);
			}
		} else {
			struct back_socket *s = container_of(pe, struct back_socket, pe);

			if (!s->dead) {
				g = pvc_back_gate(s->f);
				did = pvc_back_relay_service(s);
				pvc_back_ungate(s->f, g);
				if (did)
					pvc_back_active(b, s->f, b->round_us);
			}
		}
	}
	/* The work may have closed the port (a violation, a RELEASE): its
	 * back_port is still allocated (freed at the end of the round) but
	 * no longer bound, and must not be deferred. */
	if (pe && pe->bound && !did && !pe->deferred && ++pe->idle >= BACK_IDLE_EVENTS) {
		defer_unmask(b, pe);
		return 1;
	}
	if (pe && did)
		pe->idle = 0;
	/* After the work, as lateeoi: events that came meanwhile were
	 * coalesced and are delivered again now, so a storm costs one
	 * pass per port, not one per event. */
	pvcalls_transport_evtchn_unmask(b->t, port);
	return 1;
}

static int handle_store(pvcalls_back *b)
{
	char token[64];
	int n = 0;

	for (unsigned i = 0; i < BACK_STORE_BATCH; i++) {
		int rc = pvcalls_transport_store_read_watch(b->t, b->pathbuf, PVCALLS_STORE_MAX + 1,
							    token, sizeof(token));

		if (rc == 0)
			break;
		if (rc < 0) {
			pvc_err("back.store", "reading watch events failed: %s",
				pvcalls_strerror(rc));
			return rc;
		}
		n++;
		pvc_back_xb_watch_event(b, b->pathbuf, token);
	}
	return n;
}

/* An epoll event on a host socket: what it means depends on the state. */
static void sock_event(struct back_socket *s, uint32_t ev)
{
	struct pvc_log_gate *g;

	if (s->dead)
		return;
	pvc_back_active(s->f->b, s->f, s->f->b->round_us);
	g = pvc_back_gate(s->f);
	switch (s->state) {
	case BS_CONNECTING:
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			pvc_back_connect_done(s);
			/* Edge-triggered: when the loop gets here late, the same
			 * event also carries the peer's first data and its FIN,
			 * and neither is reported again; the relay takes them now. */
			if (s->state == BS_ACTIVE &&
			    (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				pvc_back_relay_event(s, ev);
		}
		break;
	case BS_LISTENING:
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			pvc_back_listener_service(s);
		break;
	case BS_ACTIVE:
		pvc_back_relay_event(s, ev);
		break;
	case BS_DGRAM:
		pvc_back_dgram_event(s, ev);
		break;
	default:
		break;
	}
	pvc_back_ungate(s->f, g);
}

static int dispatch(pvcalls_back *b, const struct epoll_event *evs, int n)
{
	int handled = 0;

	for (int i = 0; i < n; i++) {
		struct ep_tag *tag = evs[i].data.ptr;
		int rc;

		switch (tag->kind) {
		case EPK_EVTCHN:
			handled += handle_evtchn(b);
			break;
		case EPK_STORE:
			rc = handle_store(b);
			if (rc < 0)
				return rc;
			handled += rc;
			break;
		case EPK_KICK:
			kick_drain(b);
			break;
		case EPK_SOCK:
			sock_event(container_of(tag, struct back_socket, tag), evs[i].events);
			handled++;
			break;
		case EPK_LINGER:
			pvc_back_linger_event(b, container_of(tag, struct back_linger, tag));
			break;
		case EPK_TIMER:
			timer_event(b);
			break;
		}
	}
	return handled;
}

/* ---------------------------------------------------------------------- */
/* Guest-triggered messages                                               */

struct pvc_log_gate *pvc_back_gate_dom(pvcalls_back *b, uint32_t feid)
{
	if (!b->log_keys.rate) {
		b->log_keys.rate = BACK_LOG_RATE;
		b->log_keys.burst = BACK_LOG_BURST;
	}
	return pvc_log_gate_swap(pvc_log_keyed_gate(&b->log_keys, feid));
}

void pvc_back_ungate_dom(pvcalls_back *b, struct pvc_log_gate *prev)
{
	struct pvc_log_gate *g = pvc_log_gate_swap(prev);

	if (g && g->suppressed)
		b->log_pending = true;
}

struct pvc_log_gate *pvc_back_gate(struct back_frontend *f)
{
	return pvc_back_gate_dom(f->b, f->feid);
}

void pvc_back_ungate(struct back_frontend *f, struct pvc_log_gate *prev)
{
	pvc_back_ungate_dom(f->b, prev);
}

static void log_report(void *arg, uint32_t key, bool shared, uint64_t n)
{
	(void)arg;
	if (shared)
		pvc_notice("back.log-suppressed",
			   "frontend %u (and others sharing its limit): %llu messages suppressed",
			   key, (unsigned long long)n);
	else
		pvc_notice("back.log-suppressed", "frontend %u: %llu messages suppressed", key,
			   (unsigned long long)n);
}

void pvc_back_log_summary(pvcalls_back *b, bool all)
{
	int64_t now = pvc_now_us();

	if (!b->log_pending || (!all && now < b->log_check_us))
		return;
	b->log_check_us = now + 100000;
	b->log_pending = pvc_log_keyed_summary(&b->log_keys, all, BACK_LOG_SUMMARY_US, UINT32_MAX,
					       log_report, NULL);
}

static void reap(pvcalls_back *b)
{
	while (b->socks_to_free) {
		struct back_socket *s = b->socks_to_free;

		b->socks_to_free = s->free_next;
		free(s);
	}
	while (b->fronts_to_free) {
		struct back_frontend *f = b->fronts_to_free;

		b->fronts_to_free = f->free_next;
		pvc_back_cmd_sched_stop(b, f);
		if (b->act_f[0] == f) {
			b->act_f[0] = b->act_f[1];
			b->act_us[0] = b->act_us[1];
			b->act_f[1] = NULL;
		} else if (b->act_f[1] == f) {
			b->act_f[1] = NULL;
		}
		pvc_back_front_free(f);
	}
}

int pvcalls_back_process(pvcalls_back *b, int timeout_ms)
{
	struct epoll_event evs[BACK_EPOLL_EVENTS];
	int64_t start = pvc_now_us();
	int64_t deadline = timeout_ms < 0 ? -1 : start + (int64_t)timeout_ms * 1000;
	int handled = 0, rc = 0;

	if (!b)
		return -EINVAL;
	for (unsigned pass = 0;; pass++) {
		int64_t now = pvc_now_us();
		bool busy = b->work_pending || b->hot_head || b->cmd_hot;
		int to, n;

		if (busy) {
			if (pass > 0 && (timeout_ms == 0 || now - start >= BACK_SLICE_US ||
					 (deadline >= 0 && now >= deadline)))
				break;
			to = 0;
		} else {
			if (handled > 0 || (pass > 0 && timeout_ms == 0))
				break;
			if (deadline < 0) {
				to = -1;
			} else {
				int64_t left = deadline - now;

				if (left <= 0 && pass > 0)
					break;
				to = left <= 0 ? 0 : (int)((left + 999) / 1000);
			}
			/* Lingering sockets time out even when nothing happens;
			 * suppressed messages are reported even so. */
			if (b->lingers) {
				pvc_back_linger_sweep(b, false);
				if (to < 0 || to > 1000)
					to = 1000;
			}
			if (b->log_pending && (to < 0 || to > 500))
				to = 500;
			if (b->nstarved && (to < 0 || to > BACK_STARVED_US / 1000))
				to = BACK_STARVED_US / 1000;
		}
		n = epoll_wait(b->epfd, evs, BACK_EPOLL_EVENTS, to);
		if (n < 0) {
			if (errno != EINTR)
				rc = -errno;
			break; /* a signal: let the caller look at its flags */
		}
		b->round++;
		b->round_us = pvc_now_us();
		n = dispatch(b, evs, n);
		if (n < 0) {
			rc = n;
			break;
		}
		handled += n;
		handled += poll_hot(b);
		if (b->log_pending)
			pvc_back_log_summary(b, false);
		if (b->nstarved)
			pvc_back_starved_retry(b);
		reap(b);
	}
	go_idle(b);
	reap(b);
	return rc < 0 ? rc : handled;
}

int pvcalls_back_run(pvcalls_back *b, volatile int *stop)
{
	if (!b || !stop)
		return -EINVAL;
	/* An atomic read, so a caller's atomic store is seen race-free. */
	while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
		int rc = pvcalls_back_process(b, 100);

		if (rc < 0)
			return rc;
	}
	return 0;
}

int pvcalls_back_fd(pvcalls_back *b)
{
	return b ? b->epfd : -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* Stats                                                                  */

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void stats_add(struct pvcalls_back_stats *to, const struct pvcalls_back_stats *from)
{
	to->frontends += LD(from->frontends);
	to->active_sockets += LD(from->active_sockets);
	to->passive_sockets += LD(from->passive_sockets);
	for (unsigned i = 0; i < PVCALLS_WIRE_NR_CMDS; i++)
		to->commands[i] += LD(from->commands[i]);
	to->bad_commands += LD(from->bad_commands);
	to->bytes_to_guest += LD(from->bytes_to_guest);
	to->bytes_from_guest += LD(from->bytes_from_guest);
	to->ring_full_stalls += LD(from->ring_full_stalls);
	to->notifies_sent += LD(from->notifies_sent);
	to->notifies_suppressed += LD(from->notifies_suppressed);
	to->protocol_errors += LD(from->protocol_errors);
	for (unsigned i = 0; i < PVCALLS_WIRE_NR_CMDS; i++)
		to->commands_failed[i] += LD(from->commands_failed[i]);
	to->policy_denied += LD(from->policy_denied);
	to->rate_limited += LD(from->rate_limited);
	to->limit_hits += LD(from->limit_hits);
	for (unsigned i = 0; i < PVCALLS_BACK_EXT_CMDS; i++) {
		to->ext_commands[i] += LD(from->ext_commands[i]);
		to->ext_commands_failed[i] += LD(from->ext_commands_failed[i]);
	}
	to->rings_parked += LD(from->rings_parked);
	to->rings_reused += LD(from->rings_reused);
	to->cmd_held += LD(from->cmd_held);
}

void pvcalls_back_get_stats(pvcalls_back *b, struct pvcalls_back_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!b)
		return;
	pthread_mutex_lock(&b->stats_lock);
	*st = b->retired;
	for (struct back_frontend *f = b->fronts; f; f = f->next)
		stats_add(st, &f->st);
	pthread_mutex_unlock(&b->stats_lock);
}

int pvcalls_back_list_frontends(pvcalls_back *b, struct pvcalls_back_frontend *out, size_t max)
{
	int n = 0;

	if (!b || (!out && max))
		return -EINVAL;
	pthread_mutex_lock(&b->stats_lock);
	for (struct back_frontend *f = b->fronts; f; f = f->next, n++) {
		if ((size_t)n >= max)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].domid = f->feid;
		out[n].devid = f->devid;
		out[n].connected = LD(f->st.frontends) != 0;
		stats_add(&out[n].st, &f->st);
	}
	pthread_mutex_unlock(&b->stats_lock);
	return n;
}

int pvcalls_back_close_frontend(pvcalls_back *b, uint32_t domid)
{
	int n = 0;

	if (!b)
		return -EINVAL;
	for (struct back_frontend *f = b->fronts; f; f = f->next) {
		if (f->feid == domid && !f->dead) {
			pvc_back_front_kick_out(f);
			n++;
		}
	}
	return n ? n : -ENOENT;
}

/* Called with the frontend already unlinked from b->fronts, lock held. */
void pvc_back_stats_retire(pvcalls_back *b, struct back_frontend *f)
{
	struct pvcalls_back_stats tmp = f->st;

	/* Gauges are zero for a frontend that has released everything. */
	tmp.frontends = tmp.active_sockets = tmp.passive_sockets = 0;
	stats_add(&b->retired, &tmp);
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */

static int check_limits(struct pvcalls_back_limits *l)
{
	if (l->max_ring_order > PVCALLS_WIRE_MAX_RING_ORDER)
		return -EINVAL;
	if (!l->max_sockets)
		l->max_sockets = BACK_DEF_MAX_SOCKETS;
	if (!l->max_listeners)
		l->max_listeners = BACK_DEF_MAX_LISTENERS;
	if (!l->max_pending_accepts)
		l->max_pending_accepts = BACK_DEF_MAX_PENDING_ACCEPTS;
	if (!l->max_mapped_pages)
		l->max_mapped_pages = BACK_DEF_MAX_MAPPED_PAGES;
	if (!l->max_ring_order)
		l->max_ring_order = BACK_DEF_MAX_RING_ORDER;
	if (!l->max_backlog)
		l->max_backlog = BACK_DEF_MAX_BACKLOG;
	if (l->max_backlog > INT32_MAX)
		l->max_backlog = INT32_MAX;
	if (l->connect_rate && !l->connect_burst)
		l->connect_burst = l->connect_rate;
	if (!l->cmd_rate)
		l->cmd_rate = BACK_DEF_CMD_RATE;
	if (!l->cmd_burst)
		l->cmd_burst = BACK_DEF_CMD_BURST;
	return 0;
}

static int ep_add(pvcalls_back *b, int fd, struct ep_tag *tag, enum ep_kind kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	tag->kind = kind;
	return epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int pvcalls_back_new(pvcalls_transport *t, const struct pvcalls_back_opts *opts, pvcalls_back **out)
{
	struct pvcalls_back_opts o = { 0 };
	pvcalls_back *b;
	int rc, fd;

	if (!t || !out)
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	rc = check_limits(&o.limits);
	if (rc < 0)
		return rc;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->t = t;
	b->lim = o.limits;
	b->spin_us =
		o.spin_us == PVCALLS_BACK_NO_SPIN ? 0 : (o.spin_us ? o.spin_us : BACK_DEF_SPIN_US);
	b->offer_hint = !o.no_wait_hint;
	b->offer_ext = PVCALLS_FEATURES_IMPLEMENTED & ~o.ext_off;
	b->epfd = b->kickfd = b->timerfd = -1;
	pthread_mutex_init(&b->stats_lock, NULL);
	b->pathbuf = malloc(PVCALLS_STORE_MAX + 1);
	b->refbuf = malloc(sizeof(uint32_t) << PVCALLS_WIRE_MAX_RING_ORDER);
	if (!b->pathbuf || !b->refbuf || pvc_idmap_init(&b->ports, 64) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = pvcalls_transport_local_domid(t, &b->domid);
	if (rc < 0)
		goto fail;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	b->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->epfd < 0 || b->kickfd < 0 || b->timerfd < 0) {
		rc = -errno;
		goto fail;
	}
	fd = pvcalls_transport_evtchn_fd(t);
	rc = fd < 0 ? fd : ep_add(b, fd, &b->evt_tag, EPK_EVTCHN);
	if (rc < 0)
		goto fail;
	fd = pvcalls_transport_store_fd(t);
	rc = fd < 0 ? fd : ep_add(b, fd, &b->store_tag, EPK_STORE);
	if (rc < 0)
		goto fail;
	rc = ep_add(b, b->kickfd, &b->kick_tag, EPK_KICK);
	if (rc < 0)
		goto fail;
	rc = ep_add(b, b->timerfd, &b->timer_tag, EPK_TIMER);
	if (rc < 0)
		goto fail;
	rc = pvc_back_xb_start(b);
	if (rc < 0)
		goto fail;
	pvc_info("back.start",
		 "backend on %s, domain %u: max-page-order %u, %u sockets, "
		 "spin %u us%s",
		 pvcalls_transport_name(t), b->domid, b->lim.max_ring_order, b->lim.max_sockets,
		 b->spin_us, b->offer_hint ? ", wait hints offered" : "");
	*out = b;
	return 0;
fail:
	pvcalls_back_free(b);
	return rc;
}

void pvcalls_back_free(pvcalls_back *b)
{
	if (!b)
		return;
	while (b->fronts)
		pvc_back_front_shutdown(b->fronts);
	pvc_back_linger_sweep(b, true);
	pvc_back_log_summary(b, true); /* what was suppressed, said once more */
	if (b->root_watched)
		pvcalls_transport_store_unwatch(b->t, b->root, "pvcalls-back");
	reap(b);
	if (b->epfd >= 0)
		close(b->epfd);
	if (b->kickfd >= 0)
		close(b->kickfd);
	if (b->timerfd >= 0)
		close(b->timerfd);
	pvc_idmap_fini(&b->ports);
	pthread_mutex_destroy(&b->stats_lock);
	pvcalls_policy_free(b->policy);
	free(b->pathbuf);
	free(b->refbuf);
	free(b);
}
