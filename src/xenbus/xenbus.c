/* SPDX-License-Identifier: MIT */
/*
 * The XenBus helpers both drivers share (see xenbus.h for the split).
 * Nothing here decides anything: each driver's state machine does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <pvcalls/common.h>
#include <pvcalls/wire_ext.h>

#include "common/log.h"
#include "xenbus/xenbus.h"

/* ---------------------------------------------------------------------- */
/* Paths                                                                  */

static int fit(int n, size_t len)
{
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int pvc_xb_join(char *out, size_t len, const char *dir, const char *key)
{
	return fit(snprintf(out, len, "%s/%s", dir, key), len);
}

int pvc_xb_front_dir(char *out, size_t len, uint32_t fe_domid, uint32_t devid)
{
	return fit(snprintf(out, len, "/local/domain/%u/device/%s/%u", fe_domid,
			    PVCALLS_WIRE_DEVICE_TYPE, devid),
		   len);
}

int pvc_xb_back_root(char *out, size_t len, uint32_t be_domid)
{
	return fit(snprintf(out, len, "/local/domain/%u/backend/%s", be_domid,
			    PVCALLS_WIRE_DEVICE_TYPE),
		   len);
}

int pvc_xb_back_dir(char *out, size_t len, uint32_t be_domid, uint32_t fe_domid, uint32_t devid)
{
	return fit(snprintf(out, len, "/local/domain/%u/backend/%s/%u/%u", be_domid,
			    PVCALLS_WIRE_DEVICE_TYPE, fe_domid, devid),
		   len);
}

bool pvc_xb_parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Nodes                                                                  */

int pvc_xb_read(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key, char *buf,
		size_t len)
{
	char path[PVC_XB_PATH];
	int rc = pvc_xb_join(path, sizeof(path), dir, key);

	return rc < 0 ? rc : pvcalls_transport_store_read(t, txn, path, buf, len);
}

int pvc_xb_read_uint(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		     uint32_t *v)
{
	char path[PVC_XB_PATH];
	int rc = pvc_xb_join(path, sizeof(path), dir, key);

	return rc < 0 ? rc : pvcalls_transport_store_read_uint(t, txn, path, v);
}

int pvc_xb_write(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		 const char *value)
{
	char path[PVC_XB_PATH];
	int rc = pvc_xb_join(path, sizeof(path), dir, key);

	return rc < 0 ? rc : pvcalls_transport_store_write(t, txn, path, value);
}

int pvc_xb_write_uint(pvcalls_transport *t, uint32_t txn, const char *dir, const char *key,
		      uint32_t v)
{
	char path[PVC_XB_PATH];
	int rc = pvc_xb_join(path, sizeof(path), dir, key);

	return rc < 0 ? rc : pvcalls_transport_store_printf(t, txn, path, "%u", v);
}

/* ---------------------------------------------------------------------- */
/* State                                                                  */

int pvc_xb_read_state(pvcalls_transport *t, const char *dir, uint32_t *state)
{
	int rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, dir, PVCALLS_WIRE_KEY_STATE, state);

	if (rc == -ENOENT) {
		*state = PVCALLS_XENBUS_UNKNOWN;
		return 0;
	}
	return rc;
}

int pvc_xb_write_state(pvcalls_transport *t, uint32_t txn, const char *dir, uint32_t state)
{
	return pvc_xb_write_uint(t, txn, dir, PVCALLS_WIRE_KEY_STATE, state);
}

int pvc_xb_set_state(pvcalls_transport *t, const char *dir, uint32_t state)
{
	pvc_debug("xenbus.state", "%s -> %s", dir, pvc_xb_state_name(state));
	return pvc_xb_write_state(t, PVCALLS_STORE_NO_TXN, dir, state);
}

const char *pvc_xb_state_name(uint32_t state)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait",      "Initialised",  "Connected",
		"Closing", "Closed",       "Reconfiguring", "Reconfigured",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "Invalid";
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
		int64_t left = deadline_ms < 0 ? 1000 : deadline_ms - pvc_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0)
			return 0;
		/* At most a second at a time: a lost wakeup costs no more. */
		rc = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

int pvc_xb_wait_state(pvcalls_transport *t, const char *dir, uint32_t mask, int64_t deadline_ms,
		      uint32_t *state)
{
	uint32_t st;
	int rc;

	for (;;) {
		rc = pvc_xb_read_state(t, dir, &st);
		if (rc < 0)
			return rc;
		if (state)
			*state = st;
		if (pvc_xb_state_in(st, mask))
			return 0;
		rc = pvc_xb_wait_event(t, deadline_ms);
		if (rc < 0)
			return rc;
		if (rc == 0 && deadline_ms >= 0 && pvc_now_ms() >= deadline_ms)
			return -ETIMEDOUT;
	}
}

int pvc_xb_watch_state(pvcalls_transport *t, const char *dir, const char *token, uint32_t mask,
		       int64_t deadline_ms, uint32_t *state)
{
	int rc = pvcalls_transport_store_watch(t, dir, token);

	if (rc < 0)
		return rc;
	rc = pvc_xb_wait_state(t, dir, mask, deadline_ms, state);
	pvcalls_transport_store_unwatch(t, dir, token);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Versions                                                               */

bool pvc_xb_versions_has(const char *versions, uint32_t version)
{
	char want[16];
	size_t wn = (size_t)snprintf(want, sizeof(want), "%u", version);
	const char *p = versions;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == wn && !memcmp(p, want, n))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* Published nodes                                                        */

/* docs/extensions.md, "Negotiation": the keys of the PVCALLS_FEATURE_* bits. */
static const struct {
	uint32_t bit;
	const char *key;
} ext_keys[] = {
	{ PVCALLS_FEATURE_SHUTDOWN, PVCALLS_EXT_KEY_SHUTDOWN },
	{ PVCALLS_FEATURE_NAMES, PVCALLS_EXT_KEY_NAMES },
	{ PVCALLS_FEATURE_SOCKOPT, PVCALLS_EXT_KEY_SOCKOPT },
	{ PVCALLS_FEATURE_INET6, PVCALLS_EXT_KEY_INET6 },
	{ PVCALLS_FEATURE_DGRAM, PVCALLS_EXT_KEY_DGRAM },
	{ PVCALLS_FEATURE_RING_REUSE, PVCALLS_EXT_KEY_RING_REUSE },
};

int pvc_xb_write_ext(pvcalls_transport *t, uint32_t txn, const char *dir, uint32_t ext)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(ext_keys) / sizeof(ext_keys[0]); i++)
		/* "0" for the others: a key an earlier frontend (or backend)
		 * left in the directory must not stay an acceptance. */
		rc = pvc_xb_write(t, txn, dir, ext_keys[i].key,
				  ext & ext_keys[i].bit ? PVCALLS_EXT_KEY_VALUE : "0");
	return rc;
}

/*
 * Reads an optional flag key: *@on when it reads exactly 1. Absent or
 * garbage is "off"; any other error (the store failed) is returned, for
 * callers that must not mistake a failed read for a refusal.
 */
static int read_flag(pvcalls_transport *t, const char *dir, const char *key, bool *on)
{
	uint32_t v;
	int rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, dir, key, &v);

	*on = rc == 0 && v == 1;
	return rc == -ENOENT || rc == -EINVAL ? 0 : rc;
}

/* The PVCALLS_FEATURE_* bits on in @dir into *@ext, or a store error. */
static int read_ext_strict(pvcalls_transport *t, const char *dir, uint32_t *ext)
{
	*ext = 0;
	for (size_t i = 0; i < sizeof(ext_keys) / sizeof(ext_keys[0]); i++) {
		bool on;
		int rc = read_flag(t, dir, ext_keys[i].key, &on);

		if (rc < 0)
			return rc;
		if (on)
			*ext |= ext_keys[i].bit;
	}
	return 0;
}

uint32_t pvc_xb_read_ext(pvcalls_transport *t, const char *dir)
{
	uint32_t ext = 0, v;

	for (size_t i = 0; i < sizeof(ext_keys) / sizeof(ext_keys[0]); i++)
		if (pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, dir, ext_keys[i].key, &v) == 0 &&
		    v == 1)
			ext |= ext_keys[i].bit;
	return ext;
}

int pvc_xb_write_offer(pvcalls_transport *t, uint32_t txn, const char *bedir,
		       const struct pvc_xb_offer *o)
{
	int rc = pvc_xb_write(t, txn, bedir, PVCALLS_WIRE_KEY_VERSIONS, PVCALLS_WIRE_VERSIONS);

	if (rc == 0)
		rc = pvc_xb_write_uint(t, txn, bedir, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER,
				       o->max_order);
	if (rc == 0)
		rc = pvc_xb_write(t, txn, bedir, PVCALLS_WIRE_KEY_FUNCTION_CALLS,
				  PVCALLS_WIRE_FUNCTION_CALLS);
	if (rc == 0 && o->wait_hint)
		rc = pvc_xb_write(t, txn, bedir, PVC_XB_KEY_WAIT_HINT, "1");
	if (rc == 0)
		rc = pvc_xb_write_ext(t, txn, bedir, o->ext);
	return rc;
}

int pvc_xb_read_offer(pvcalls_transport *t, const char *bedir, struct pvc_xb_offer *o)
{
	char buf[PVC_XB_PATH];
	uint32_t fc, hint = 0;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = pvc_xb_read(t, PVCALLS_STORE_NO_TXN, bedir, PVCALLS_WIRE_KEY_VERSIONS, buf,
			 sizeof(buf));
	if (rc < 0 || !pvc_xb_versions_has(buf, PVC_XB_VERSION)) {
		pvc_err("xenbus.version", "backend versions \"%s\" lack 1", rc < 0 ? "" : buf);
		return -EPROTONOSUPPORT;
	}
	rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, bedir, PVCALLS_WIRE_KEY_FUNCTION_CALLS, &fc);
	if (rc < 0 || fc != 1) {
		pvc_err("xenbus.version", "backend function-calls is not 1");
		return -EPROTONOSUPPORT;
	}
	rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, bedir, PVCALLS_WIRE_KEY_MAX_PAGE_ORDER,
			      &o->max_order);
	if (rc < 0) {
		pvc_err("xenbus.version", "backend max-page-order unreadable");
		return -EPROTONOSUPPORT;
	}
	if (o->max_order > PVCALLS_WIRE_MAX_RING_ORDER)
		o->max_order = PVCALLS_WIRE_MAX_RING_ORDER;
	o->wait_hint = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, bedir, PVC_XB_KEY_WAIT_HINT,
					&hint) == 0 &&
		       hint == 1;
	o->ext = pvc_xb_read_ext(t, bedir);
	return 0;
}

int pvc_xb_write_ring(pvcalls_transport *t, uint32_t txn, const char *fedir,
		      const struct pvc_xb_ring *r)
{
	int rc = pvc_xb_write_uint(t, txn, fedir, PVCALLS_WIRE_KEY_VERSION, PVC_XB_VERSION);

	if (rc == 0)
		rc = pvc_xb_write_uint(t, txn, fedir, PVCALLS_WIRE_KEY_RING_REF, r->ring_ref);
	if (rc == 0)
		rc = pvc_xb_write_uint(t, txn, fedir, PVCALLS_WIRE_KEY_PORT, r->port);
	if (rc == 0 && r->wait_hint)
		rc = pvc_xb_write(t, txn, fedir, PVC_XB_KEY_WAIT_HINT, "1");
	if (rc == 0)
		rc = pvc_xb_write_ext(t, txn, fedir, r->ext);
	return rc;
}

int pvc_xb_read_ring(pvcalls_transport *t, const char *fedir, struct pvc_xb_ring *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, fedir, PVCALLS_WIRE_KEY_RING_REF,
			      &r->ring_ref);
	if (rc == 0)
		rc = pvc_xb_read_uint(t, PVCALLS_STORE_NO_TXN, fedir, PVCALLS_WIRE_KEY_PORT,
				      &r->port);
	if (rc < 0)
		return rc;
	/*
	 * What the frontend accepted is in force on its side whatever we
	 * read: a failed read taken for "not accepted" would leave the two
	 * ends disagreeing (a frontend waiting for wait hints we never give,
	 * extension commands we refuse). A store error fails the connect
	 * instead. (The frontend's reading of the offer may stay lenient:
	 * an offer it misses is simply not accepted, on both sides.)
	 */
	rc = read_flag(t, fedir, PVC_XB_KEY_WAIT_HINT, &r->wait_hint);
	if (rc == 0)
		rc = read_ext_strict(t, fedir, &r->ext);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Transactions                                                           */

int pvc_xb_transact(pvcalls_transport *t, pvc_xb_txn_fn *fn, void *arg)
{
	int rc = -EAGAIN;

	for (int tries = 0; tries < PVC_XB_TXN_TRIES && rc == -EAGAIN; tries++) {
		uint32_t txn;

		rc = pvcalls_transport_store_txn_start(t, &txn);
		if (rc < 0)
			return rc;
		rc = fn(t, txn, arg);
		if (rc < 0) {
			pvcalls_transport_store_txn_end(t, txn, true);
			return rc;
		}
		rc = pvcalls_transport_store_txn_end(t, txn, false);
	}
	return rc;
}
