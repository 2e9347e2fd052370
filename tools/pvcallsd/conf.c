/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (pvcallsd.conf(5)), read with inih:
 *
 *   [daemon]      transport, shm_path, control_socket, audit, audit_queue,
 *                 log_level, spin_us
 *   [default]     rule = ..., fallback = allow|deny, and the limits
 *   [domain N]    rule = ... and the limits, for domain N only
 *
 * Limits: max_sockets, max_listeners, max_pending_accepts,
 * max_mapped_pages, max_ring_order, max_backlog, connect_rate,
 * connect_burst.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

struct pctx {
	struct dconf *c;
	char *err;
	size_t len;
	/* Limits per section, installed at the end. */
	struct {
		uint32_t domid;
		struct pvcalls_back_limits lim;
	} *lims;
	size_t nlims;
};

static int bad(struct pctx *x, const char *section, const char *name, const char *why)
{
	if (!x->err[0]) /* inih goes on after an error: keep the first */
		snprintf(x->err, x->len, "[%s] %s: %s", section, name, why);
	return 0;
}

static bool num(const char *v, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long n;

	if (!*v || *v == '-')
		return false;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > max)
		return false;
	*out = (uint32_t)n;
	return true;
}

static void copy(char *to, size_t len, const char *v)
{
	snprintf(to, len, "%s", v);
}

static struct pvcalls_back_limits *lim_for(struct pctx *x, uint32_t domid)
{
	void *n;

	for (size_t i = 0; i < x->nlims; i++)
		if (x->lims[i].domid == domid)
			return &x->lims[i].lim;
	n = realloc(x->lims, (x->nlims + 1) * sizeof(*x->lims));
	if (!n)
		return NULL;
	x->lims = n;
	memset(&x->lims[x->nlims], 0, sizeof(x->lims[0]));
	x->lims[x->nlims].domid = domid;
	return &x->lims[x->nlims++].lim;
}

static int limit_key(struct pctx *x, uint32_t domid, const char *s, const char *name,
		     const char *v)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned long max;
	} keys[] = {
#define K(n, m) { #n, offsetof(struct pvcalls_back_limits, n), m }
		K(max_sockets, UINT32_MAX),
		K(max_listeners, UINT32_MAX),
		K(max_pending_accepts, UINT32_MAX),
		K(max_mapped_pages, UINT32_MAX),
		K(max_ring_order, 9),
		K(max_backlog, INT32_MAX),
		K(connect_rate, 1000000),
		K(connect_burst, 1000000),
#undef K
	};
	struct pvcalls_back_limits *l;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(name, keys[i].name))
			continue;
		l = lim_for(x, domid);
		if (!l)
			return bad(x, s, name, "out of memory");
		if (!num(v, keys[i].max, (uint32_t *)((char *)l + keys[i].off)))
			return bad(x, s, name, "bad number");
		return 1;
	}
	return bad(x, s, name, "unknown key");
}

static int on_daemon(struct pctx *x, const char *s, const char *name, const char *v)
{
	struct dconf *c = x->c;

	if (!strcmp(name, "transport")) {
		if (strcmp(v, "shm") && strcmp(v, "xen"))
			return bad(x, s, name, "expected shm or xen");
		copy(c->transport, sizeof(c->transport), v);
	} else if (!strcmp(name, "shm_path")) {
		copy(c->shm_path, sizeof(c->shm_path), v);
	} else if (!strcmp(name, "control_socket")) {
		copy(c->control, sizeof(c->control), v);
	} else if (!strcmp(name, "audit")) {
		copy(c->audit, sizeof(c->audit), v);
	} else if (!strcmp(name, "audit_queue")) {
		if (!num(v, 1u << 20, &c->audit_queue) || !c->audit_queue)
			return bad(x, s, name, "expected 1..1048576");
	} else if (!strcmp(name, "log_level")) {
		c->log_level = dlog_parse_level(v);
		if (c->log_level < 0)
			return bad(x, s, name, "expected error, warning, notice, info or debug");
	} else if (!strcmp(name, "spin_us")) {
		uint32_t us;

		if (!num(v, 1000000, &us))
			return bad(x, s, name, "expected 0..1000000");
		c->spin_us = us ? us : PVCALLS_BACK_NO_SPIN;
	} else {
		return bad(x, s, name, "unknown key");
	}
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct pctx *x = user;
	uint32_t domid = PVCALLS_POLICY_DEFAULT;
	char e[128];
	int rc;

	if (!strcmp(section, "daemon"))
		return on_daemon(x, section, name, value);
	if (!strncmp(section, "domain ", 7)) {
		if (!num(section + 7, UINT32_MAX - 1, &domid))
			return bad(x, section, name, "bad domain id in the section name");
	} else if (strcmp(section, "default")) {
		return bad(x, section, name, "unknown section");
	}
	if (!strcmp(name, "rule")) {
		rc = pvcalls_policy_add_rule(x->c->policy, domid, value, e, sizeof(e));
		if (rc < 0)
			return bad(x, section, name, rc == -EINVAL ? e : strerror(-rc));
		x->c->nrules++;
		return 1;
	}
	if (!strcmp(name, "fallback") && domid == PVCALLS_POLICY_DEFAULT) {
		if (strcmp(value, "allow") && strcmp(value, "deny"))
			return bad(x, section, name, "expected allow or deny");
		pvcalls_policy_set_fallback(x->c->policy, !strcmp(value, "allow"));
		return 1;
	}
	return limit_key(x, domid, section, name, value);
}

int dconf_load(struct dconf *c, const char *path, bool must_exist, char *err, size_t len)
{
	struct pctx x = { .c = c, .err = err, .len = len };
	FILE *f;
	int rc;

	memset(c, 0, sizeof(*c));
	c->log_level = LOG_INFO;
	c->audit_queue = 4096;
	copy(c->control, sizeof(c->control), PVCALLSD_CTL);
	if (pvcalls_policy_new(&c->policy) < 0) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	err[0] = 0;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		if (rc == -ENOENT && !must_exist)
			return 0;
		snprintf(err, len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ini_parse_file(f, handler, &x);
	fclose(f);
	for (size_t i = 0; rc == 0 && i < x.nlims; i++) {
		if (pvcalls_policy_set_limits(c->policy, x.lims[i].domid, &x.lims[i].lim) < 0)
			rc = -EINVAL;
		if (x.lims[i].domid != PVCALLS_POLICY_DEFAULT)
			c->ndomains++;
	}
	free(x.lims);
	if (rc != 0) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s", err[0] ? err : "syntax error");
		snprintf(err, len, "%s:%d: %s", path, rc, tmp);
		return -EINVAL;
	}
	return 0;
}

void dconf_free(struct dconf *c)
{
	pvcalls_policy_free(c->policy);
	c->policy = NULL;
}
