/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (pvcallsd.conf(5)), read with inih:
 *
 *   [daemon]      transport, shm_path, control_socket, audit, audit_queue,
 *                 log_level, spin_us, extensions
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

/* Limits per section, kept in the dconf and installed at the end. */
static struct pvcalls_back_limits *lim_for(struct pctx *x, uint32_t domid)
{
	struct dconf *c = x->c;
	void *n;

	for (size_t i = 0; i < c->nlims; i++)
		if (c->lims[i].domid == domid)
			return &c->lims[i].lim;
	n = realloc(c->lims, (c->nlims + 1) * sizeof(*c->lims));
	if (!n)
		return NULL;
	c->lims = n;
	memset(&c->lims[c->nlims], 0, sizeof(c->lims[0]));
	c->lims[c->nlims].domid = domid;
	return &c->lims[c->nlims++].lim;
}

static bool keep_rule(struct dconf *c, uint32_t domid, const char *text)
{
	void *n = realloc(c->rules, ((size_t)c->nrules + 1) * sizeof(*c->rules));

	if (!n)
		return false;
	c->rules = n;
	c->rules[c->nrules].domid = domid;
	c->rules[c->nrules].text = strdup(text);
	return c->rules[c->nrules].text != NULL;
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

/* "all", "none" or a comma-separated list of extensions to offer
 * (docs/extensions.md); *@off gets the PVCALLS_FEATURE_* bits not offered. */
static int parse_extensions(const char *v, uint32_t *off)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = { { "shutdown", PVCALLS_FEATURE_SHUTDOWN },
		      { "names", PVCALLS_FEATURE_NAMES },
		      { "sockopt", PVCALLS_FEATURE_SOCKOPT } };
	uint32_t on = 0;
	char buf[128], *tok, *save = NULL;

	if (!strcmp(v, "all")) {
		*off = 0;
		return 0;
	}
	if (!strcmp(v, "none")) {
		*off = ~0u;
		return 0;
	}
	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(tok, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		on |= names[i].bit;
	}
	if (!on)
		return -1;
	*off = ~on;
	return 0;
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
	} else if (!strcmp(name, "extensions")) {
		if (parse_extensions(v, &c->ext_off) < 0)
			return bad(x, s, name, "expected all, none, or a list of shutdown, names, sockopt");
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
		if (!keep_rule(x->c, domid, value))
			return bad(x, section, name, "out of memory");
		x->c->nrules++;
		return 1;
	}
	if (!strcmp(name, "fallback") && domid == PVCALLS_POLICY_DEFAULT) {
		if (strcmp(value, "allow") && strcmp(value, "deny"))
			return bad(x, section, name, "expected allow or deny");
		x->c->fallback_allow = !strcmp(value, "allow");
		pvcalls_policy_set_fallback(x->c->policy, x->c->fallback_allow);
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
	c->fallback_allow = true; /* the policy's own default */
	copy(c->control, sizeof(c->control), PVCALLSD_CTL);
	copy(c->shm_path, sizeof(c->shm_path), PVCALLS_SHM_HUB_DEFAULT);
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
		dconf_free(c);
		return rc;
	}
	c->file_found = true;
	rc = ini_parse_file(f, handler, &x);
	fclose(f);
	for (size_t i = 0; rc == 0 && i < c->nlims; i++) {
		if (pvcalls_policy_set_limits(c->policy, c->lims[i].domid, &c->lims[i].lim) < 0)
			rc = -EINVAL;
		if (c->lims[i].domid != PVCALLS_POLICY_DEFAULT)
			c->ndomains++;
	}
	if (rc != 0) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s", err[0] ? err : "syntax error");
		snprintf(err, len, "%s:%d: %s", path, rc, tmp);
		dconf_free(c);
		return -EINVAL;
	}
	return 0;
}

void dconf_free(struct dconf *c)
{
	pvcalls_policy_free(c->policy);
	c->policy = NULL;
	for (int i = 0; i < c->nrules; i++)
		free(c->rules[i].text);
	free(c->rules);
	c->rules = NULL;
	c->nrules = 0;
	free(c->lims);
	c->lims = NULL;
	c->nlims = 0;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_DEBUG: return "debug";
	default: return "info";
	}
}

/* One limit: the value; when 0, [default] shows the built-in value as a
 * comment, a [domain N] nothing (it inherits from [default]). */
static void print_limit(FILE *f, const char *name, uint32_t v, const char *builtin)
{
	if (v)
		fprintf(f, "%s = %u\n", name, v);
	else if (builtin)
		fprintf(f, ";%s = %s\n", name, builtin);
}

/* @flags: --max-* (the backend's options), under [default]'s own values. */
static void print_limits(FILE *f, const struct pvcalls_back_limits *l, bool deflt,
			 const struct pvcalls_back_limits *flags)
{
	char sock[48], lis[48], order[48];

	snprintf(sock, sizeof(sock), flags && flags->max_sockets ? "%u (--max-sockets)" :
		 "1024 (built-in)", flags ? flags->max_sockets : 0);
	snprintf(lis, sizeof(lis), flags && flags->max_listeners ? "%u (--max-listeners)" :
		 "64 (built-in)", flags ? flags->max_listeners : 0);
	snprintf(order, sizeof(order), flags && flags->max_ring_order ?
		 "%u (--max-ring-order)" : "9 (built-in)", flags ? flags->max_ring_order : 0);
	print_limit(f, "max_sockets", l->max_sockets, deflt ? sock : NULL);
	print_limit(f, "max_listeners", l->max_listeners, deflt ? lis : NULL);
	print_limit(f, "max_pending_accepts", l->max_pending_accepts,
		    deflt ? "32 (built-in)" : NULL);
	print_limit(f, "max_mapped_pages", l->max_mapped_pages,
		    deflt ? "65536 (built-in)" : NULL);
	print_limit(f, "max_ring_order", l->max_ring_order, deflt ? order : NULL);
	print_limit(f, "max_backlog", l->max_backlog, deflt ? "128 (built-in)" : NULL);
	print_limit(f, "connect_rate", l->connect_rate,
		    deflt ? "0 (built-in: unlimited)" : NULL);
	print_limit(f, "connect_burst", l->connect_burst,
		    deflt ? "connect_rate (built-in)" : NULL);
}

void dconf_print(FILE *f, const struct dconf *c)
{
	static const struct pvcalls_back_limits none;
	const struct pvcalls_back_limits *dl = &none;
	const struct pvcalls_back_limits *fl = &c->lim;

	fprintf(f, "[daemon]\n");
	if (c->transport[0])
		fprintf(f, "transport = %s\n", c->transport);
	else
		fprintf(f, ";transport = (none: pass --shm PATH or --xen)\n");
	fprintf(f, "shm_path = %s\n", c->shm_path);
	fprintf(f, "control_socket = %s\n", c->control[0] ? c->control : "none");
	fprintf(f, "audit = %s\n", c->audit[0] ? c->audit : "off");
	fprintf(f, "audit_queue = %u\n", c->audit_queue);
	fprintf(f, "log_level = %s\n", level_name(c->log_level));
	if (c->spin_us == PVCALLS_BACK_NO_SPIN)
		fprintf(f, "spin_us = 0\n");
	else if (c->spin_us)
		fprintf(f, "spin_us = %u\n", c->spin_us);
	else
		fprintf(f, ";spin_us = 20 (built-in)\n");
	if (c->ext_off == 0)
		fprintf(f, "extensions = all\n");
	else if ((c->ext_off & PVCALLS_FEATURES_IMPLEMENTED) == PVCALLS_FEATURES_IMPLEMENTED)
		fprintf(f, "extensions = none\n");
	else
		fprintf(f, "extensions = %s%s%s%s%s\n",
			c->ext_off & PVCALLS_FEATURE_SHUTDOWN ? "" : "shutdown",
			(c->ext_off & (PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_NAMES)) ? "" : ",",
			c->ext_off & PVCALLS_FEATURE_NAMES ? "" : "names",
			(c->ext_off & PVCALLS_FEATURE_SOCKOPT) ||
					(c->ext_off & (PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_NAMES)) ==
						(PVCALLS_FEATURE_SHUTDOWN | PVCALLS_FEATURE_NAMES)
				? ""
				: ",",
			c->ext_off & PVCALLS_FEATURE_SOCKOPT ? "" : "sockopt");
	for (size_t i = 0; i < c->nlims; i++)
		if (c->lims[i].domid == PVCALLS_POLICY_DEFAULT)
			dl = &c->lims[i].lim;
	fprintf(f, "\n[default]\nfallback = %s\n", c->fallback_allow ? "allow" : "deny");
	for (int i = 0; i < c->nrules; i++)
		if (c->rules[i].domid == PVCALLS_POLICY_DEFAULT)
			fprintf(f, "rule = %s\n", c->rules[i].text);
	print_limits(f, dl, true, fl);

	/* Each [domain N] once, in the order first seen (rules or limits). */
	for (int i = 0; i < c->nrules + (int)c->nlims; i++) {
		uint32_t d = i < c->nrules ? c->rules[i].domid : c->lims[i - c->nrules].domid;
		bool seen = false;

		if (d == PVCALLS_POLICY_DEFAULT)
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = (j < c->nrules ? c->rules[j].domid : c->lims[j - c->nrules].domid) == d;
		if (seen)
			continue;
		fprintf(f, "\n[domain %u]\n", d);
		for (int j = 0; j < c->nrules; j++)
			if (c->rules[j].domid == d)
				fprintf(f, "rule = %s\n", c->rules[j].text);
		for (size_t j = 0; j < c->nlims; j++)
			if (c->lims[j].domid == d)
				print_limits(f, &c->lims[j].lim, false, NULL);
	}
}
