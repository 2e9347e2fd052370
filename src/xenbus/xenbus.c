/* SPDX-License-Identifier: MIT */
/*
 * XenBus negotiation helpers. The frontend side is written as blocking
 * calls with deadlines (it runs once, at open); the backend drives its
 * side from its event loop with the small helpers at the top.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "xenbus/xenbus.h"

/* How long a frontend waits for a Closing/Closed backend to come back. */
#define CLOSED_GRACE_MS 2000

int64_t pvc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int join(char *out, const char *dir, const char *key)
{
	int n = snprintf(out, PVC_XB_PATH, "%s/%s", dir, key);

	return (n < 0 || n >= PVC_XB_PATH) ? -ENAMETOOLONG : 0;
}

int pvc_xb_read_state(pvcalls_transport *t, const char *dir, uint32_t *state)
{
	char path[PVC_XB_PATH];
	int rc = join(path, dir, PVCALLS_WIRE_KEY_STATE);

	if (rc < 0)
		return rc;
	rc = pvcalls_transport_store_read_uint(t, PVCALLS_STORE_NO_TXN, path, state);
	if (rc == -ENOENT) {
		*state = PVCALLS_XENBUS_UNKNOWN;
		return 0;
	}
	return rc;
}

int pvc_xb_set_state(pvcalls_transport *t, const char *dir, uint32_t state)
{
	char path[PVC_XB_PATH];
	int rc = join(path, dir, PVCALLS_WIRE_KEY_STATE);

	if (rc < 0)
		return rc;
	pvc_debug("xenbus.state", "%s -> %s", dir, pvc_xb_state_name(state));
	return pvcalls_transport_store_printf(t, PVCALLS_STORE_NO_TXN, path, "%u", state);
}

const char *pvc_xb_state_name(uint32_t state)
{
	static const char *const names[] = {
		"Unknown",   "Initialising", "InitWait", "Initialised",   "Connected",
		"Closing",   "Closed",       "Reconfiguring", "Reconfigured",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "Invalid";
}

bool pvc_xb_versions_has_1(const char *versions)
{
	const char *p = versions;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 1 && p[0] == '1')
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

int pvc_xb_wait_event(pvcalls_transport *t, int64_t deadline_ms)
{
	char path[PVC_XB_PATH], token[64];
	int fd = pvcalls_transport_store_fd(t);
	int seen = 0, rc;

	if (fd < 0)
		return fd;
	for (;;) {
		while ((rc = pvcalls_transport_store_read_watch(t, path, sizeof(path), token,
								sizeof(token))) > 0)
			seen = 1;
		if (rc < 0)
			return rc;
		if (seen)
			return 1;
		int64_t left = deadline_ms - pvc_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

/* Reads a string node into buf; -ENOENT/-ERANGE as the transport says. */
static int read_str(pvcalls_transport *t, const char *dir, const char *key, char *buf,
		    size_t len)
{
	char path[PVC_XB_PATH];
	int rc = join(path, dir, key);

	if (rc < 0)
		return rc;
	return pvcalls_transport_store_read(t, PVCALLS_STORE_NO_TXN, path, buf, len);
}

static int read_uint(pvcalls_transport *t, const char *dir, const char *key, uint32_t *v)
{
	char path[PVC_XB_PATH];
	int rc = join(path, dir, key);

	if (rc < 0)
		return rc;
	return pvcalls_transport_store_read_uint(t, PVCALLS_STORE_NO_TXN, path, v);
}

/*
 * Waits until the backend's state is one of @want (a bit mask of states),
 * a store event at a time, up to @deadline. 0 when reached, -ETIMEDOUT.
 */
static int wait_backend(pvcalls_transport *t, const struct pvc_xb_front *fe, uint32_t want,
			int64_t deadline)
{
	uint32_t state;
	int rc;

	for (;;) {
		rc = pvc_xb_read_state(t, fe->backend, &state);
		if (rc < 0)
			return rc;
		if (state < 32 && (want & (1u << state)))
			return 0;
		rc = pvc_xb_wait_event(t, deadline);
		if (rc < 0)
			return rc;
		if (rc == 0 && pvc_now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

#define XB_BIT(s) (1u << PVCALLS_XENBUS_##s)

/*
 * The device was left Initialised, Connected or Closing by a frontend
 * that is gone: Closing until the backend leaves Connected (it releases
 * that session's sockets and rings), then Closed. Bounded by CLOSE_STALE_MS
 * and the caller's deadline; a backend that does not follow is left to
 * the main loop's checks.
 */
#define CLOSE_STALE_MS 10000
static int close_stale(pvcalls_transport *t, const struct pvc_xb_front *fe, uint32_t state,
		       int64_t deadline)
{
	int64_t until = pvc_now_ms() + CLOSE_STALE_MS;
	int rc;

	if (until > deadline)
		until = deadline;
	pvc_info("xenbus.stale", "%s was left %s by an earlier frontend: closing it first",
		   fe->dev, pvc_xb_state_name(state));
	rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CLOSING);
	if (rc < 0)
		return rc;
	rc = wait_backend(t, fe,
			  XB_BIT(UNKNOWN) | XB_BIT(INITWAIT) | XB_BIT(CLOSING) | XB_BIT(CLOSED),
			  until);
	if (rc < 0 && rc != -ETIMEDOUT)
		return rc;
	if (rc == -ETIMEDOUT)
		pvc_warn("xenbus.stale", "backend %s did not leave Connected", fe->backend);
	rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CLOSED);
	if (rc < 0)
		return rc;
	/* Linux's backend goes Closed on our Closed; ours may skip to InitWait. */
	rc = wait_backend(t, fe, XB_BIT(UNKNOWN) | XB_BIT(INITWAIT) | XB_BIT(CLOSED),
			  pvc_now_ms() + 2000 < until ? pvc_now_ms() + 2000 : until);
	return rc == -ETIMEDOUT ? 0 : rc;
}

int pvc_xb_front_probe(pvcalls_transport *t, uint32_t devid, int timeout_ms,
		       struct pvc_xb_front *fe)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	char buf[PVC_XB_PATH];
	uint32_t state, fc;
	int64_t closed_since;
	int rc, n;

	memset(fe, 0, sizeof(*fe));
	rc = pvcalls_transport_local_domid(t, &fe->domid);
	if (rc < 0)
		return rc;
	n = snprintf(fe->dev, sizeof(fe->dev), "/local/domain/%u/device/%s/%u", fe->domid,
		     PVCALLS_WIRE_DEVICE_TYPE, devid);
	if (n < 0 || n >= (int)sizeof(fe->dev))
		return -ENAMETOOLONG;
	rc = read_str(t, fe->dev, "backend", fe->backend, sizeof(fe->backend));
	if (rc == -ENOENT) {
		pvc_err("xenbus.no-device", "no pvcalls device at %s", fe->dev);
		return -ENODEV;
	}
	if (rc < 0)
		return rc;
	rc = read_uint(t, fe->dev, "backend-id", &fe->backend_id);
	if (rc < 0) {
		pvc_err("xenbus.no-device", "%s/backend-id unreadable: %d", fe->dev, rc);
		return rc == -ENOENT ? -ENODEV : rc;
	}

	/* Watch the backend's state from here on. */
	rc = pvcalls_transport_store_watch(t, fe->backend, "pvcalls-fe-probe");
	if (rc < 0)
		return rc;

	/*
	 * Start (or start again, after an earlier frontend closed the device)
	 * from Initialising: a backend that went Closed follows us back to
	 * InitWait (PROTOCOL.md 2.4). A device an earlier frontend left
	 * Initialised or Connected (its process died without
	 * pvcalls_front_close) is first closed in order, so that the backend
	 * drops that session and its sockets before we start a new one.
	 */
	rc = pvc_xb_read_state(t, fe->dev, &state);
	if (rc == 0 && state >= PVCALLS_XENBUS_INITIALISED && state <= PVCALLS_XENBUS_CLOSING)
		rc = close_stale(t, fe, state, deadline);
	if (rc == 0 && state != PVCALLS_XENBUS_INITIALISING)
		rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_INITIALISING);
	if (rc < 0)
		goto out;
	closed_since = 0;
	for (;;) {
		rc = pvc_xb_read_state(t, fe->backend, &state);
		if (rc < 0)
			goto out;
		if (state >= PVCALLS_XENBUS_INITWAIT && state <= PVCALLS_XENBUS_CONNECTED)
			break;
		/* A closed backend gets a short grace to follow us back. */
		if (state >= PVCALLS_XENBUS_CLOSING) {
			if (!closed_since)
				closed_since = pvc_now_ms();
			else if (pvc_now_ms() - closed_since > CLOSED_GRACE_MS) {
				pvc_err("xenbus.backend-closed", "backend %s stays %s",
					fe->backend, pvc_xb_state_name(state));
				rc = -ECONNREFUSED;
				goto out;
			}
		}
		rc = pvc_xb_wait_event(t, closed_since ? pvc_now_ms() + 100 : deadline);
		if (rc < 0)
			goto out;
		if (rc == 0 && pvc_now_ms() >= deadline) {
			pvc_err("xenbus.timeout", "backend %s stayed %s", fe->backend,
				pvc_xb_state_name(state));
			rc = -ETIMEDOUT;
			goto out;
		}
	}

	rc = read_str(t, fe->backend, PVCALLS_WIRE_KEY_VERSIONS, buf, sizeof(buf));
	if (rc < 0 || !pvc_xb_versions_has_1(buf)) {
		pvc_err("xenbus.version", "backend versions \"%s\" lack 1", rc < 0 ? "" : buf);
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	rc = read_uint(t, fe->backend, PVCALLS_WIRE_KEY_FUNCTION_CALLS, &fc);
	if (rc < 0 || fc != 1) {
		pvc_err("xenbus.version", "backend function-calls is not 1");
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	rc = read_uint(t, fe->backend, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER, &fe->max_order);
	if (rc < 0) {
		pvc_err("xenbus.version", "backend max-page-order unreadable");
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	if (fe->max_order > PVCALLS_WIRE_MAX_RING_ORDER)
		fe->max_order = PVCALLS_WIRE_MAX_RING_ORDER;
	{
		uint32_t hint = 0;

		fe->wait_hint = read_uint(t, fe->backend, PVC_XB_KEY_WAIT_HINT, &hint) == 0 &&
				hint == 1;
	}
	rc = 0;
out:
	pvcalls_transport_store_unwatch(t, fe->backend, "pvcalls-fe-probe");
	return rc;
}

int pvc_xb_front_connect(pvcalls_transport *t, const struct pvc_xb_front *fe,
			 uint32_t ring_ref, uint32_t port, bool wait_hint, int timeout_ms)
{
	int64_t deadline = pvc_now_ms() + timeout_ms;
	char path[PVC_XB_PATH];
	uint32_t txn, state;
	int rc, tries = 0;

	/* version, ring-ref and port appear together with Initialised. */
	do {
		rc = pvcalls_transport_store_txn_start(t, &txn);
		if (rc < 0)
			return rc;
		if ((rc = join(path, fe->dev, PVCALLS_WIRE_KEY_VERSION)) == 0)
			rc = pvcalls_transport_store_write(t, txn, path, "1");
		if (rc == 0 && (rc = join(path, fe->dev, PVCALLS_WIRE_KEY_RING_REF)) == 0)
			rc = pvcalls_transport_store_printf(t, txn, path, "%u", ring_ref);
		if (rc == 0 && (rc = join(path, fe->dev, PVCALLS_WIRE_KEY_PORT)) == 0)
			rc = pvcalls_transport_store_printf(t, txn, path, "%u", port);
		if (rc == 0 && wait_hint && (rc = join(path, fe->dev, PVC_XB_KEY_WAIT_HINT)) == 0)
			rc = pvcalls_transport_store_write(t, txn, path, "1");
		if (rc == 0 && (rc = join(path, fe->dev, PVCALLS_WIRE_KEY_STATE)) == 0)
			rc = pvcalls_transport_store_printf(t, txn, path, "%u",
							    PVCALLS_XENBUS_INITIALISED);
		if (rc < 0) {
			pvcalls_transport_store_txn_end(t, txn, true);
			return rc;
		}
		rc = pvcalls_transport_store_txn_end(t, txn, false);
	} while (rc == -EAGAIN && ++tries < 16);
	if (rc < 0)
		return rc;

	rc = pvcalls_transport_store_watch(t, fe->backend, "pvcalls-fe-connect");
	if (rc < 0)
		return rc;
	for (;;) {
		rc = pvc_xb_read_state(t, fe->backend, &state);
		if (rc < 0)
			break;
		if (state == PVCALLS_XENBUS_CONNECTED) {
			rc = pvc_xb_set_state(t, fe->dev, PVCALLS_XENBUS_CONNECTED);
			break;
		}
		if (state >= PVCALLS_XENBUS_CLOSING || state == PVCALLS_XENBUS_UNKNOWN) {
			pvc_err("xenbus.backend-closed", "backend %s went %s while connecting",
				fe->backend, pvc_xb_state_name(state));
			rc = -ECONNREFUSED;
			break;
		}
		rc = pvc_xb_wait_event(t, deadline);
		if (rc < 0)
			break;
		if (rc == 0) {
			pvc_err("xenbus.timeout", "backend %s did not connect (still %s)",
				fe->backend, pvc_xb_state_name(state));
			rc = -ETIMEDOUT;
			break;
		}
	}
	pvcalls_transport_store_unwatch(t, fe->backend, "pvcalls-fe-connect");
	return rc;
}
