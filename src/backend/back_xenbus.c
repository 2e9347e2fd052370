/* SPDX-License-Identifier: MIT */
/*
 * Negotiation and the life of a frontend (docs/protocol-notes.md, "Negotiation" and the three sections after it).
 *
 * We watch /local/domain/<own>/backend/pvcalls. Each <feid>/<devid>
 * directory the toolstack creates there becomes a struct back_frontend: we read
 * its "frontend" path and "frontend-id", publish versions, max-page-order,
 * function-calls (and feature-wait-hint) together with state InitWait in
 * one transaction, at once (Linux's frontend reads them once, at probe),
 * and watch the frontend's directory. Then:
 *
 *   frontend state          we
 *   Initialising            InitWait (again, after a close)
 *   Initialised/Connected   map ring-ref, bind port, Connected (a failure
 *                           is logged and leaves the state alone); also
 *                           from Closing/Closed, as Linux does
 *   Closing                 release everything, Closing
 *   Closed                  release everything, Closed
 *   Unknown (node gone)     if we were connected: release, Closed
 *   device directory gone   release everything and forget the frontend
 *                           (the domain died; nothing is written back)
 *
 * Every state write checks, in the same transaction, that the device still
 * exists, so a dead domain's directory is never re-created.
 *
 * This file is the backend's state machine only; the nodes, the paths
 * and the transaction loop are the helpers both sides share
 * (src/xenbus/xenbus.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/back_priv.h"
#include "common/log.h"

#define ROOT_TOKEN "pvcalls-back"
#define FE_TOKEN "pvcalls-back-fe/"

/* Lists the children of @path into a malloc'ed buffer; returns their number. */
static int dir_list(pvcalls_back *b, const char *path, char **out)
{
	size_t cap = 1024;

	for (;;) {
		char *buf = malloc(cap);
		int rc;

		if (!buf)
			return -ENOMEM;
		rc = pvcalls_transport_store_directory(b->t, PVCALLS_STORE_NO_TXN, path, buf, cap);
		if (rc == -ERANGE && cap < (1u << 20)) {
			free(buf);
			cap *= 4;
			continue;
		}
		if (rc < 0) {
			free(buf);
			return rc;
		}
		*out = buf;
		return rc;
	}
}

/* 0 if @path exists, -ENOENT if not, or the transport's error. */
static int dir_exists(pvcalls_back *b, const char *path)
{
	char buf[256];
	int rc = pvcalls_transport_store_directory(b->t, PVCALLS_STORE_NO_TXN, path, buf,
						   sizeof(buf));

	return (rc >= 0 || rc == -ERANGE) ? 0 : rc;
}

static struct back_frontend *front_find(pvcalls_back *b, uint32_t feid, uint32_t devid)
{
	for (struct back_frontend *f = b->fronts; f; f = f->next)
		if (f->feid == feid && f->devid == devid)
			return f;
	return NULL;
}

struct publish {
	struct back_frontend *f;
	uint32_t state;
	bool offer; /* also the nodes Linux's frontend reads once, at probe (docs/protocol-notes.md, "Negotiation keys") */
};

/* Checks that the device still exists, then writes the offer and state. */
static int write_publish(pvcalls_transport *t, uint32_t txn, void *arg)
{
	const struct publish *pu = arg;
	struct back_frontend *f = pu->f;
	struct pvc_xb_offer o = { .max_order = f->lim.max_ring_order,
				  .wait_hint = f->b->offer_hint,
				  .ext = f->b->offer_ext };
	char v[16];
	int rc = pvc_xb_read(t, txn, f->bedir, PVC_XB_KEY_FRONTEND_ID, v, sizeof(v));

	if (rc >= 0 && pu->offer)
		rc = pvc_xb_write_offer(t, txn, f->bedir, &o);
	if (rc >= 0)
		rc = pvc_xb_write_state(t, txn, f->bedir, pu->state);
	return rc < 0 ? rc : 0;
}

/*
 * Writes our state (and, with @offer, the nodes the frontend probes)
 * in one transaction that first checks the device is still there.
 */
static int publish(struct back_frontend *f, uint32_t state, bool offer)
{
	struct publish pu = { .f = f, .state = state, .offer = offer };
	int rc = pvc_xb_transact(f->b->t, write_publish, &pu);

	/* A busy store kept conflicting, or failed once (the frontend would
	 * wait for this state until its timeout): check, then write,
	 * unguarded. */
	if (rc < 0 && rc != -ENOENT)
		rc = write_publish(f->b->t, PVCALLS_STORE_NO_TXN, &pu);
	if (rc < 0) {
		if (rc != -ENOENT)
			pvc_err("back.store", "frontend %u/%u: cannot switch to %s: %s", f->feid,
				f->devid, pvc_xb_state_name(state), pvcalls_strerror(rc));
		return rc;
	}
	pvc_debug("back.state", "%s -> %s", f->bedir, pvc_xb_state_name(state));
	f->state = state;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Connect and disconnect                                                 */

static void front_connect(struct back_frontend *f)
{
	pvcalls_back *b = f->b;
	struct pvc_xb_ring r;
	uint32_t lport;
	void *page;
	int rc;

	rc = pvc_xb_read_ring(b->t, f->fedir, &r);
	if (rc < 0) {
		pvc_warn("back.connect-failed", "frontend %u/%u: ring-ref/port unusable: %s",
			 f->feid, f->devid, pvcalls_strerror(rc));
		return;
	}
	f->hint = b->offer_hint && r.wait_hint;
	/* docs/extensions.md, "Negotiation": in force = offered and accepted;
	 * a key we did not offer is ignored. */
	f->ext = b->offer_ext & r.ext;
	rc = pvcalls_transport_map(b->t, f->feid, 1, &r.ring_ref, true, &page);
	if (rc < 0) {
		pvc_warn("back.connect-failed", "frontend %u/%u: cannot map ring-ref %u: %s",
			 f->feid, f->devid, r.ring_ref, pvcalls_strerror(rc));
		return;
	}
	rc = pvcalls_transport_evtchn_bind(b->t, f->feid, r.port, &lport);
	if (rc < 0) {
		pvc_warn("back.connect-failed", "frontend %u/%u: cannot bind port %u: %s", f->feid,
			 f->devid, r.port, pvcalls_strerror(rc));
		pvcalls_transport_unmap(b->t, page, 1);
		return;
	}
	f->cmd_page = page;
	f->npages++;
	pvcalls_cmd_back_init(&f->cmd, page);
	pvc_back_port_add(b, &f->pe, PORT_CMD, lport);
	f->connected = true;
	ST_ADD(f, frontends, 1);
	publish(f, PVCALLS_XENBUS_CONNECTED, false);
	pvc_info("back.connected",
		 "frontend %u/%u connected (ring-ref %u, port %u%s, extensions 0x%x)", f->feid,
		 f->devid, r.ring_ref, r.port, f->hint ? ", wait hints" : "", f->ext);
	/* Requests sent before we looked; this also arms req_event. */
	pvc_back_cmd_service(f);
}

void pvc_back_front_disconnect(struct back_frontend *f, bool violation)
{
	pvcalls_back *b = f->b;

	if (!f->connected)
		return;
	pvc_back_release_all(f, !violation);
	pvc_back_cmd_sched_stop(b, f);
	pvc_back_port_del(b, &f->pe);
	pvcalls_transport_unmap(b->t, f->cmd_page, 1);
	f->cmd_page = NULL;
	f->npages--;
	f->connected = false;
	f->cmd_more = false;
	ST_SUB(f, frontends, 1);
	pvc_info("back.disconnected", "frontend %u/%u disconnected%s", f->feid, f->devid,
		 violation ? " for violating the protocol" : "");
	if (violation) {
		f->violated = true;
		ST_ADD(f, protocol_errors, 1);
		publish(f, PVCALLS_XENBUS_CLOSING, false);
	}
}

static void front_changed(struct back_frontend *f)
{
	uint32_t fs;
	int rc = pvc_xb_read_state(f->b->t, f->fedir, &fs);

	/* The watch event that brought us here does not come again: a
	 * store failure would leave the change unseen and the frontend
	 * waiting for its timeout. Try once more. */
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL)
		rc = pvc_xb_read_state(f->b->t, f->fedir, &fs);

	/* Garbage reads as Unknown, as in xenbus (and is not worth a warning:
	 * only the guest itself can write it). */
	if (rc == -EINVAL) {
		pvc_debug("back.front-state", "frontend %u/%u: unparsable state", f->feid,
			  f->devid);
		fs = PVCALLS_XENBUS_UNKNOWN;
		rc = 0;
	}
	if (rc < 0) {
		pvc_warn("back.store", "frontend %u/%u: state unreadable: %s", f->feid, f->devid,
			 pvcalls_strerror(rc));
		return;
	}
	pvc_debug("back.front-state", "frontend %u/%u is %s, we are %s", f->feid, f->devid,
		  pvc_xb_state_name(fs), pvc_xb_state_name(f->state));
	/* After a violation the frontend must close or restart before we
	 * map its ring again (not on any write to its directory). */
	if (fs == PVCALLS_XENBUS_INITIALISING || fs == PVCALLS_XENBUS_CLOSING ||
	    fs == PVCALLS_XENBUS_CLOSED)
		f->violated = false;
	switch (fs) {
	case PVCALLS_XENBUS_INITIALISING:
		if (f->state != PVCALLS_XENBUS_INITWAIT) {
			pvc_back_front_disconnect(f, false);
			publish(f, PVCALLS_XENBUS_INITWAIT, false);
		}
		break;
	case PVCALLS_XENBUS_INITIALISED:
	case PVCALLS_XENBUS_CONNECTED:
		/* From Closing or Closed too, as Linux's backend (which walks
		 * Closed -> InitWait -> Connected): a frontend may come back
		 * without passing through Initialising. */
		if (!f->connected && !f->violated && f->state != PVCALLS_XENBUS_UNKNOWN)
			front_connect(f);
		break;
	case PVCALLS_XENBUS_CLOSING:
		pvc_back_front_disconnect(f, false);
		if (f->state != PVCALLS_XENBUS_CLOSING && f->state != PVCALLS_XENBUS_CLOSED)
			publish(f, PVCALLS_XENBUS_CLOSING, false);
		break;
	case PVCALLS_XENBUS_CLOSED:
		pvc_back_front_disconnect(f, false);
		if (f->state != PVCALLS_XENBUS_CLOSED)
			publish(f, PVCALLS_XENBUS_CLOSED, false);
		break;
	case PVCALLS_XENBUS_UNKNOWN:
		/* The frontend's node vanished after it had been in use. */
		if (f->connected || f->state == PVCALLS_XENBUS_CONNECTED ||
		    f->state == PVCALLS_XENBUS_CLOSING) {
			pvc_back_front_disconnect(f, false);
			publish(f, PVCALLS_XENBUS_CLOSED, false);
		}
		break;
	default: /* InitWait, Reconfiguring, Reconfigured: nothing for us */
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* Devices appearing and disappearing                                     */

static void unlink_front(struct back_frontend *f)
{
	pvcalls_back *b = f->b;
	struct back_frontend **pp;

	pthread_mutex_lock(&b->stats_lock);
	for (pp = &b->fronts; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pvc_back_stats_retire(b, f);
	pthread_mutex_unlock(&b->stats_lock);
	if (f->watching)
		pvcalls_transport_store_unwatch(b->t, f->fedir, f->token);
	f->watching = false;
	f->dead = true;
	f->free_next = b->fronts_to_free;
	b->fronts_to_free = f;
}

static void front_watch(struct back_frontend *f)
{
	int rc = pvcalls_transport_store_watch(f->b->t, f->fedir, f->token);

	if (rc < 0) {
		pvc_err("back.store", "frontend %u/%u: cannot watch %s: %s", f->feid, f->devid,
			f->fedir, pvcalls_strerror(rc));
		return;
	}
	f->watching = true; /* its first event runs front_changed() */
}

static void front_add(pvcalls_back *b, uint32_t feid, uint32_t devid, const char *bedir)
{
	char fedir[PVC_XB_PATH];
	struct back_frontend *f;
	uint32_t id;
	int rc;

	/* Not complete yet: a later write in the directory brings us back. */
	if (pvc_xb_read_uint(b->t, PVCALLS_STORE_NO_TXN, bedir, PVC_XB_KEY_FRONTEND_ID, &id) < 0)
		return;
	rc = pvc_xb_read(b->t, PVCALLS_STORE_NO_TXN, bedir, PVC_XB_KEY_FRONTEND, fedir,
			 sizeof(fedir));
	if (rc < 0)
		return;
	if (id != feid) {
		pvc_warn("back.bad-device", "%s: frontend-id %u does not match the directory",
			 bedir, id);
		return;
	}
	/* We append "/ring-ref" and friends to it. */
	if (fedir[0] != '/' || strlen(fedir) > PVC_XB_PATH - 32) {
		pvc_warn("back.bad-device", "%s: unusable frontend path", bedir);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || pvc_idmap_init(&f->ids, 64) < 0) {
		free(f);
		pvc_err("back.nomem", "frontend %u/%u: out of memory", feid, devid);
		return;
	}
	f->b = b;
	f->feid = feid;
	f->devid = devid;
	f->state = PVCALLS_XENBUS_UNKNOWN;
	pvc_back_front_limits(f);
	strcpy(f->bedir, bedir);
	strcpy(f->fedir, fedir);
	snprintf(f->token, sizeof(f->token), FE_TOKEN "%u/%u", feid, devid);
	pthread_mutex_lock(&b->stats_lock);
	f->next = b->fronts;
	b->fronts = f;
	pthread_mutex_unlock(&b->stats_lock);
	pvc_info("back.new-device", "frontend %u/%u at %s", feid, devid, fedir);
	if (publish(f, PVCALLS_XENBUS_INITWAIT, true) < 0)
		return; /* retried on the next event in the directory */
	front_watch(f);
}

static void front_remove(struct back_frontend *f)
{
	pvc_info("back.device-gone", "frontend %u/%u: device removed", f->feid, f->devid);
	pvc_back_front_disconnect(f, false);
	unlink_front(f);
}

/* Brings our view of one device in line with the store. */
static void check_device_gated(pvcalls_back *b, uint32_t feid, uint32_t devid)
{
	struct back_frontend *f = front_find(b, feid, devid);
	char bedir[PVC_XB_PATH];
	int rc = pvc_xb_back_dir(bedir, sizeof(bedir), b->domid, feid, devid);

	if (rc < 0)
		return;
	rc = dir_exists(b, bedir);
	if (rc == -ENOENT) {
		if (f)
			front_remove(f);
		return;
	}
	if (rc < 0)
		return;
	if (!f) {
		front_add(b, feid, devid, bedir);
		return;
	}
	/* Retry what failed before. */
	if (f->state == PVCALLS_XENBUS_UNKNOWN && publish(f, PVCALLS_XENBUS_INITWAIT, true) < 0)
		return;
	if (!f->watching)
		front_watch(f);
}

/*
 * A guest creates and removes its device directories as often as it
 * reconnects (the shm hub writes them at each hello): what that logs
 * passes its domain's gate, like the rest of what it causes.
 */
static void check_device(pvcalls_back *b, uint32_t feid, uint32_t devid)
{
	struct pvc_log_gate *g = pvc_back_gate_dom(b, feid);

	check_device_gated(b, feid, devid);
	pvc_back_ungate_dom(b, g);
}

static void rescan_fe(pvcalls_back *b, uint32_t feid)
{
	char path[PVC_XB_PATH], *names = NULL;
	struct back_frontend *f, *next;
	int n = snprintf(path, sizeof(path), "%s/%u", b->root, feid);

	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	n = dir_list(b, path, &names);
	for (int i = 0, off = 0; i < n; i++) {
		const char *name = names + off;
		uint32_t devid;

		off += (int)strlen(name) + 1;
		if (pvc_xb_parse_u32(name, strlen(name), &devid))
			check_device(b, feid, devid);
	}
	free(names);
	for (f = b->fronts; f; f = next) {
		next = f->next;
		if (f->feid == feid)
			check_device(b, f->feid, f->devid);
	}
}

static void rescan_all(pvcalls_back *b)
{
	struct back_frontend *f, *next;
	char *names = NULL;
	int n = dir_list(b, b->root, &names);

	for (int i = 0, off = 0; i < n; i++) {
		const char *name = names + off;
		uint32_t feid;

		off += (int)strlen(name) + 1;
		if (pvc_xb_parse_u32(name, strlen(name), &feid))
			rescan_fe(b, feid);
	}
	free(names);
	for (f = b->fronts; f; f = next) {
		next = f->next;
		check_device(b, f->feid, f->devid);
	}
}

static void root_event(pvcalls_back *b, const char *path)
{
	size_t rl = strlen(b->root), n;
	const char *p = path + rl;
	uint32_t feid, devid;

	if (strncmp(path, b->root, rl) != 0 || (*p && *p != '/'))
		return;
	if (!*p) {
		rescan_all(b);
		return;
	}
	p++;
	n = strcspn(p, "/");
	if (!pvc_xb_parse_u32(p, n, &feid))
		return;
	p += n;
	if (!*p) {
		rescan_fe(b, feid);
		return;
	}
	p++;
	n = strcspn(p, "/");
	if (pvc_xb_parse_u32(p, n, &devid))
		check_device(b, feid, devid);
}

/*
 * Does a watch event on @path concern the frontend's state? Only its
 * "state" node drives us (front_changed() reads nothing else; the ring
 * details are read when the state says Initialised), and the directory
 * itself or an ancestor fires when it is removed or the watch is set. A
 * guest that writes other nodes of its own directory in a loop (issue 13,
 * store flood) then costs a string comparison per event, not a store read
 * on the loop thread.
 */
static bool state_event(const char *fedir, const char *path)
{
	size_t n = strlen(fedir), m = strlen(path);

	if (m <= n) /* the directory or an ancestor */
		return !strncmp(fedir, path, m) && (m == n || fedir[m] == '/' || m == 1);
	return !strncmp(fedir, path, n) && path[n] == '/' &&
	       !strcmp(path + n + 1, PVCALLS_WIRE_KEY_STATE);
}

int pvc_back_xb_watch_event(pvcalls_back *b, const char *path, const char *token)
{
	if (!strcmp(token, ROOT_TOKEN)) {
		root_event(b, path);
	} else if (!strncmp(token, FE_TOKEN, strlen(FE_TOKEN))) {
		const char *p = token + strlen(FE_TOKEN);
		size_t n = strcspn(p, "/");
		uint32_t feid, devid;
		struct back_frontend *f;

		if (!pvc_xb_parse_u32(p, n, &feid) || p[n] != '/' ||
		    !pvc_xb_parse_u32(p + n + 1, strlen(p + n + 1), &devid))
			return 0;
		f = front_find(b, feid, devid);
		if (f && f->watching && state_event(f->fedir, path)) {
			/* What the frontend wrote is its input: its log gate
			 * (f is freed at the end of the round at the earliest). */
			struct pvc_log_gate *g = pvc_back_gate(f);

			front_changed(f);
			pvc_back_ungate(f, g);
		}
	}
	return 0;
}

int pvc_back_xb_start(pvcalls_back *b)
{
	int rc = pvc_xb_back_root(b->root, sizeof(b->root), b->domid);

	if (rc < 0)
		return rc;
	rc = pvcalls_transport_store_watch(b->t, b->root, ROOT_TOKEN);
	if (rc < 0) {
		pvc_err("back.store", "cannot watch %s: %s", b->root, pvcalls_strerror(rc));
		return rc;
	}
	b->root_watched = true;
	/* Publish for the devices already there before anyone waits on us. */
	rescan_all(b);
	return 0;
}

void pvc_back_front_shutdown(struct back_frontend *f)
{
	pvc_back_front_disconnect(f, false);
	if (f->state != PVCALLS_XENBUS_UNKNOWN) {
		if (f->state != PVCALLS_XENBUS_CLOSED)
			publish(f, PVCALLS_XENBUS_CLOSING, false);
		publish(f, PVCALLS_XENBUS_CLOSED, false);
	}
	unlink_front(f);
}

/* As after a violation, without blame. */
static void close_front(struct back_frontend *f)
{
	bool was = f->connected;

	pvc_back_front_disconnect(f, false);
	f->violated = true; /* not served again until it closes or restarts */
	if (was || f->state == PVCALLS_XENBUS_CONNECTED)
		publish(f, PVCALLS_XENBUS_CLOSING, false);
}

/* pvcalls_back_close_frontend() */
void pvc_back_front_kick_out(struct back_frontend *f)
{
	close_front(f);
	pvc_info("back.closed-by-admin", "frontend %u/%u closed on request", f->feid, f->devid);
}

/* Notifications kept failing (back_data.c): it would only stall. */
void pvc_back_front_unreachable(struct back_frontend *f)
{
	close_front(f);
}

void pvc_back_front_free(struct back_frontend *f)
{
	/* What it had suppressed is its domain's: reported on schedule, not
	 * here (a guest that reconnects in a loop would get a line a time). */
	pvc_back_linger_orphan(f);
	pvc_idmap_fini(&f->ids);
	free(f);
}
