/* SPDX-License-Identifier: MIT */
/*
 * Where the frontends come from. Every case asks for a fresh guest (its
 * own domain with a pvcalls device 0) and then talks to the backend only
 * through that guest's pvcalls_transport, so the cases are the same over
 * every transport:
 *
 *  --self  an shm hub in this process with our backend on it, run by a
 *          thread; the first guest is the other end of pvcalls_shm_pair(),
 *          later ones are socketpairs adopted by the hub.
 *  --shm   guests of an external hub (e.g. pvcallsd --shm PATH).
 *  --xen   (later) the Xen transport; see the XEN marker below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>
#ifdef PVCALLS_HAVE_XEN
#include <pvcalls/xen.h>
#endif

#include "conformance.h"

struct target {
	enum target_mode mode;
	char path[256];
	/* --self */
	pvcalls_transport *hub;
	pvcalls_transport *first_guest;
	pvcalls_back *back;
	pthread_t thr;
	bool running;
	int stop;    /* atomic */
	int back_rc; /* atomic: the loop's failure */
	/* --xen: our domain has one device 0, so one guest at a time */
	bool xen_live;
};

/* Guests get room for order-9 rings and many sockets. */
static const struct pvcalls_shm_opts guest_opts = {
	.max_pages = 16384,
	.max_grants = 16384,
	.timeout_ms = 3000,
};

/*
 * The backend loop. pvcalls_back_run() would do, but its stop flag is a
 * plain volatile int; polling an atomic here keeps ThreadSanitizer quiet.
 */
static void *back_thread(void *arg)
{
	struct target *tg = arg;

	while (!__atomic_load_n(&tg->stop, __ATOMIC_ACQUIRE)) {
		int rc = pvcalls_back_process(tg->back, 50);

		if (rc < 0) {
			fprintf(stderr, "pvcalls-conformance: backend loop failed: %s\n",
				pvcalls_strerror(rc));
			__atomic_store_n(&tg->back_rc, rc, __ATOMIC_RELEASE);
			break;
		}
	}
	return NULL;
}

static int back_start(struct target *tg)
{
	int rc;

	__atomic_store_n(&tg->stop, 0, __ATOMIC_RELEASE);
	rc = pthread_create(&tg->thr, NULL, back_thread, tg);
	if (rc)
		return -rc;
	tg->running = true;
	return 0;
}

static void back_stop(struct target *tg)
{
	if (!tg->running)
		return;
	__atomic_store_n(&tg->stop, 1, __ATOMIC_RELEASE);
	pthread_join(tg->thr, NULL);
	tg->running = false;
}

uint32_t target_self_ext_off;

static int open_self(struct target *tg)
{
	struct pvcalls_back_opts bo = { .ext_off = target_self_ext_off };
	int rc;

	rc = pvcalls_shm_pair(NULL, &guest_opts, &tg->hub, &tg->first_guest);
	if (rc < 0) {
		fprintf(stderr, "pvcalls-conformance: shm pair: %s\n", pvcalls_strerror(rc));
		return rc;
	}
	rc = pvcalls_back_new(tg->hub, &bo, &tg->back);
	if (rc < 0) {
		fprintf(stderr, "pvcalls-conformance: backend: %s\n", pvcalls_strerror(rc));
		return rc;
	}
	return back_start(tg);
}

int target_open(enum target_mode mode, const char *path, struct target **out)
{
	struct target *tg = calloc(1, sizeof(*tg));
	int rc = 0;

	if (!tg)
		return -ENOMEM;
	tg->mode = mode;
	switch (mode) {
	case TGT_SELF:
		rc = open_self(tg);
		break;
	case TGT_SHM:
		if (!path || strlen(path) >= sizeof(tg->path)) {
			rc = -EINVAL;
			break;
		}
		strcpy(tg->path, path);
		break;
	case TGT_XEN:
#ifdef PVCALLS_HAVE_XEN
	{
		/*
		 * Every guest is this domain, device 0: target_new_guest()
		 * opens the Xen transport again once the previous case took
		 * the device to Closed (the frontend probe restarts it from
		 * Initialising), and refuses a second guest while one is
		 * open; such cases report SKIP.
		 */
		char why[256];

		rc = pvcalls_xen_probe(why, sizeof(why));
		if (rc < 0) {
			fprintf(stderr, "pvcalls-conformance: --xen: %s\n", why);
			rc = rc == -EACCES ? rc : -EOPNOTSUPP; /* not on Xen: skip */
		}
		break;
	}
#else
		fprintf(stderr, "pvcalls-conformance: --xen: this build has no Xen support\n");
		rc = -EOPNOTSUPP;
		break;
#endif
	}
	if (rc < 0) {
		target_close(tg);
		return rc;
	}
	*out = tg;
	return 0;
}

void target_close(struct target *tg)
{
	if (!tg)
		return;
	back_stop(tg);
	pvcalls_transport_close(tg->first_guest);
	pvcalls_back_free(tg->back);
	pvcalls_transport_close(tg->hub);
	free(tg);
}

int target_new_guest(struct target *tg, pvcalls_transport **out)
{
	int sv[2], rc;

	switch (tg->mode) {
	case TGT_SELF:
		if (tg->first_guest) {
			*out = tg->first_guest;
			tg->first_guest = NULL;
			return 0;
		}
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		rc = pvcalls_shm_hub_adopt(tg->hub, sv[0]);
		if (rc < 0) {
			close(sv[1]);
			return rc;
		}
		return pvcalls_shm_connect_fd(sv[1], &guest_opts, out);
	case TGT_SHM:
		return pvcalls_shm_connect(tg->path, &guest_opts, out);
	case TGT_XEN:
#ifdef PVCALLS_HAVE_XEN
		if (tg->xen_live)
			return -EOPNOTSUPP;
		rc = pvcalls_xen_open(NULL, out);
		if (rc == 0)
			tg->xen_live = true;
		return rc;
#else
		break;
#endif
	}
	return -EOPNOTSUPP;
}

void target_guest_gone(struct target *tg)
{
	tg->xen_live = false;
}

bool target_guest_can_vanish(struct target *tg)
{
	return tg->mode != TGT_XEN;
}

int target_stats(struct target *tg, struct pvcalls_back_stats *st)
{
	if (tg->mode != TGT_SELF || !tg->back)
		return -EOPNOTSUPP;
	/* Documented as callable from any thread, while the loop runs. */
	pvcalls_back_get_stats(tg->back, st);
	return 0;
}

int target_set_policy(struct target *tg, pvcalls_policy *p)
{
	int rc;

	if (tg->mode != TGT_SELF || !tg->back) {
		pvcalls_policy_free(p);
		return -EOPNOTSUPP;
	}
	/* pvcalls_back_set_policy() runs on the loop's thread: stop it. */
	back_stop(tg);
	rc = pvcalls_back_set_policy(tg->back, p);
	if (back_start(tg) < 0 && rc == 0)
		rc = -EAGAIN;
	return rc;
}

int target_backend_error(struct target *tg)
{
	return __atomic_load_n(&tg->back_rc, __ATOMIC_ACQUIRE);
}
