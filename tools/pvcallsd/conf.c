/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (pvcallsd.conf(5)), read with inih:
 *
 *   [daemon]      transport, shm_path, control_socket, audit,
 *                 audit_required, audit_queue, log_level, spin_us,
 *                 extensions
 *   [shm]         the hub's access controls (struct pvcalls_shm_opts):
 *                 socket_mode, allow_users, allow_groups, hello_timeout_ms,
 *                 max_guests, max_pending, quota_nodes, quota_bytes,
 *                 quota_watches, quota_txns, max_maps_per_guest,
 *                 store_rate (a number or "unlimited"), store_burst
 *   [default]     rule = ..., fallback = allow|deny, sandbox_rules = yes|no,
 *                 resolv_conf,
 *                 and the limits
 *   [domain N]    rule = ... and the limits, for domain N only
 *
 * Limits: max_sockets, max_listeners, max_pending_accepts,
 * max_mapped_pages, max_ring_order, max_backlog, connect_rate,
 * connect_burst, cmd_rate (a number or "unlimited"), cmd_burst.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"

/*
 * pvcallsd's default is safe for a sandbox, the library's (no policy: allow)
 * is not changed: unless [default] says sandbox_rules = no, these rules come
 * after every rule of the file (first match wins, so a rule of the file such
 * as "allow connect 127.0.0.0/8" opens loopback again).
 */
const char *const dconf_sandbox_rules[] = {
	"deny connect 127.0.0.0/8", /* also 0.0.0.0 and the host's own addresses */
	"deny connect ::1/128",     /* also ::, and the host's own IPv6 addresses */
	/* IPv4 link-local: cloud metadata services (169.254.169.254) hand out
	 * the host's credentials. IPv6 link-local already needs a rule that
	 * names it (docs/extensions.md, "IPv6"). */
	"deny connect 169.254.0.0/16",
	"deny listen port 1-1023", /* both families */
	NULL,
};

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

/*
 * A section's number-valued key: its uint32_t at @off in the section's
 * struct, at most @max; @unl: "unlimited" is accepted too and stored as
 * UINT32_MAX, which both PVCALLS_BACK_UNLIMITED and PVCALLS_SHM_UNLIMITED
 * are.
 */
struct numkey {
	const char *name;
	size_t off;
	unsigned long max;
	bool unl;
};
_Static_assert(PVCALLS_BACK_UNLIMITED == UINT32_MAX && PVCALLS_SHM_UNLIMITED == UINT32_MAX,
	       "\"unlimited\" is stored as UINT32_MAX");

static const struct numkey *numkey_find(const struct numkey *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, keys[i].name))
			return &keys[i];
	return NULL;
}

/* Stores @v for @k into the struct at @base; false if it is not valid. */
static bool numkey_set(const struct numkey *k, void *base, const char *v)
{
	uint32_t *out = (uint32_t *)((char *)base + k->off);

	if (k->unl && !strcmp(v, "unlimited")) {
		*out = UINT32_MAX;
		return true;
	}
	return num(v, k->max, out);
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

static int limit_key(struct pctx *x, uint32_t domid, const char *s, const char *name, const char *v)
{
	static const struct numkey keys[] = {
#define K(n, m) { #n, offsetof(struct pvcalls_back_limits, n), m, false }
		K(max_sockets, UINT32_MAX),
		K(max_listeners, UINT32_MAX),
		K(max_pending_accepts, UINT32_MAX),
		K(max_mapped_pages, UINT32_MAX),
		K(max_ring_order, 9),
		K(max_backlog, INT32_MAX),
		K(connect_rate, 1000000),
		K(connect_burst, 1000000),
		{ "cmd_rate", offsetof(struct pvcalls_back_limits, cmd_rate), 1000000, true },
		K(cmd_burst, 1000000),
#undef K
	};
	const struct numkey *k;
	struct pvcalls_back_limits *l;

	k = numkey_find(keys, sizeof(keys) / sizeof(keys[0]), name);
	if (!k)
		return bad(x, s, name, "unknown key");
	l = lim_for(x, domid);
	if (!l)
		return bad(x, s, name, "out of memory");
	if (!numkey_set(k, l, v))
		return bad(x, s, name, "bad number");
	return 1;
}

static bool yesno(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* A list of user or group names or numbers, separated by commas or blanks;
 * each resolved now (getpwnam/getgrnam), so a typo fails the load. A list
 * given replaces the earlier one. */
static int id_list(struct pctx *x, const char *s, const char *name, const char *v, bool groups,
		   uint32_t **out, uint32_t *nout)
{
	char buf[1024], *save = NULL, *tok;
	uint32_t *ids = NULL, n = 0;

	if (strlen(v) >= sizeof(buf))
		return bad(x, s, name, "list too long");
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint32_t id;
		void *nn;

		if (!num(tok, UINT32_MAX - 1, &id)) {
			if (groups) {
				struct group *g = getgrnam(tok);

				if (!g) {
					free(ids);
					return bad(x, s, name, "unknown group");
				}
				id = (uint32_t)g->gr_gid;
			} else {
				struct passwd *pw = getpwnam(tok);

				if (!pw) {
					free(ids);
					return bad(x, s, name, "unknown user");
				}
				id = (uint32_t)pw->pw_uid;
			}
		}
		nn = realloc(ids, (n + 1) * sizeof(*ids));
		if (!nn) {
			free(ids);
			return bad(x, s, name, "out of memory");
		}
		ids = nn;
		ids[n++] = id;
	}
	if (!n)
		return bad(x, s, name, "empty list");
	free(*out);
	*out = ids;
	*nout = n;
	return 1;
}

static int on_shm(struct pctx *x, const char *s, const char *name, const char *v)
{
	static const struct numkey keys[] = {
#define K(n, m) { #n, offsetof(struct dconf_shm, n), m, false }
		K(hello_timeout_ms, 3600000),
		K(max_guests, 1000000),
		K(max_pending, 1000000),
		K(quota_nodes, UINT32_MAX),
		K(quota_bytes, UINT32_MAX),
		K(quota_watches, UINT32_MAX),
		K(quota_txns, UINT32_MAX),
		K(max_maps_per_guest, UINT32_MAX),
		{ "store_rate", offsetof(struct dconf_shm, store_rate), 10000000, true },
		K(store_burst, 1000000),
#undef K
	};
	struct dconf_shm *h = &x->c->shm;
	const struct numkey *k;

	if (!strcmp(name, "socket_mode")) {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(v, &end, 8);
		if (errno || !*v || *end || (m & ~0660ul) || (m & 0600) != 0600)
			return bad(x, s, name, "expected 0600, 0620, 0640 or 0660 (octal)");
		h->socket_mode = (uint32_t)m;
		return 1;
	}
	if (!strcmp(name, "allow_users"))
		return id_list(x, s, name, v, false, &h->uids, &h->nuids);
	if (!strcmp(name, "allow_groups"))
		return id_list(x, s, name, v, true, &h->gids, &h->ngids);
	k = numkey_find(keys, sizeof(keys) / sizeof(keys[0]), name);
	if (!k)
		return bad(x, s, name, "unknown key");
	if (!numkey_set(k, h, v))
		return bad(x, s, name, "bad number");
	return 1;
}

/* The extensions [daemon] extensions= names (docs/extensions.md), in the
 * order they are printed. */
static const struct {
	const char *name;
	uint32_t bit;
} ext_names[] = {
	{ "shutdown", PVCALLS_FEATURE_SHUTDOWN }, { "names", PVCALLS_FEATURE_NAMES },
	{ "sockopt", PVCALLS_FEATURE_SOCKOPT },   { "inet6", PVCALLS_FEATURE_INET6 },
	{ "dgram", PVCALLS_FEATURE_DGRAM },       { "ring-reuse", PVCALLS_FEATURE_RING_REUSE }
};
#define NR_EXT_NAMES (sizeof(ext_names) / sizeof(ext_names[0]))

/* "all", "none" or a comma-separated list of extensions to offer
 * (docs/extensions.md); *@off gets the PVCALLS_FEATURE_* bits not offered. */
static int parse_extensions(const char *v, uint32_t *off)
{
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

		for (i = 0; i < NR_EXT_NAMES; i++)
			if (!strcmp(tok, ext_names[i].name))
				break;
		if (i == NR_EXT_NAMES)
			return -1;
		on |= ext_names[i].bit;
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
	} else if (!strcmp(name, "audit_required")) {
		if (!yesno(v, &c->audit_required))
			return bad(x, s, name, "expected yes or no");
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
			return bad(x, s, name,
				   "expected all, none, or a list of shutdown, names, sockopt, "
				   "inet6, dgram");
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
	if (!strcmp(section, "shm"))
		return on_shm(x, section, name, value);
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
	if (!strcmp(name, "sandbox_rules") && domid == PVCALLS_POLICY_DEFAULT) {
		if (!yesno(value, &x->c->sandbox_rules))
			return bad(x, section, name, "expected yes or no");
		return 1;
	}
	if (!strcmp(name, "resolv_conf") && domid == PVCALLS_POLICY_DEFAULT) {
		/* Absolute, so that what --check-config prints reads back. */
		if (value[0] != '/' || strlen(value) >= sizeof(x->c->resolv_conf))
			return bad(x, section, name, "expected an absolute path");
		copy(x->c->resolv_conf, sizeof(x->c->resolv_conf), value);
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

/*
 * The host's stub resolvers stay reachable on port 53. A sandboxed program
 * resolves names through the preload shim's resolver, which asks the
 * nameservers of the host's resolv.conf over PV Calls
 * (docs/running-programs.md); a stub on loopback (systemd-resolved's
 * 127.0.0.53, a local dnsmasq) would otherwise be refused by the first
 * sandbox rule and every lookup would fail. Only loopback nameservers need
 * the exception (the sandbox rules do not cover the others), and only port
 * 53, over UDP and TCP (TCP carries truncated answers). Read at each load,
 * so a reload follows a changed resolv.conf; a missing file adds nothing.
 */
static int dns_exceptions(struct dconf *c, char *err, size_t len)
{
	char line[512];
	FILE *f = fopen(c->resolv_conf, "r");

	c->ndns_rules = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && c->ndns_rules < DCONF_DNS_MAX) {
		char kw[16], addr[64], *rule = c->dns_rules[c->ndns_rules];
		unsigned char a[16];
		bool loop = false;
		int rc;

		if (sscanf(line, " %15s %63s", kw, addr) != 2 || strcmp(kw, "nameserver"))
			continue;
		if (inet_pton(AF_INET, addr, a) == 1)
			loop = a[0] == 127;
		else if (inet_pton(AF_INET6, addr, a) == 1)
			loop = IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
		if (!loop)
			continue;
		snprintf(rule, sizeof(c->dns_rules[0]), "allow connect %s port 53", addr);
		rc = pvcalls_policy_add_rule(c->policy, PVCALLS_POLICY_DEFAULT, rule, err, len);
		if (rc < 0) {
			fclose(f);
			return rc;
		}
		c->ndns_rules++;
	}
	fclose(f);
	return 0;
}

/* After the file: the sandbox rules at the end of [default]'s. */
static int add_sandbox_rules(struct dconf *c, char *err, size_t len)
{
	int rc;

	if (!c->sandbox_rules)
		return 0;
	if ((rc = dns_exceptions(c, err, len)) < 0)
		return rc;
	for (int i = 0; dconf_sandbox_rules[i]; i++) {
		rc = pvcalls_policy_add_rule(c->policy, PVCALLS_POLICY_DEFAULT,
					     dconf_sandbox_rules[i], err, len);
		if (rc < 0)
			return rc;
	}
	return 0;
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
	c->sandbox_rules = true;
	copy(c->control, sizeof(c->control), PVCALLSD_CTL);
	copy(c->shm_path, sizeof(c->shm_path), PVCALLS_SHM_HUB_DEFAULT);
	copy(c->resolv_conf, sizeof(c->resolv_conf), "/etc/resolv.conf");
	if (pvcalls_policy_new(&c->policy) < 0) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	err[0] = 0;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		if (rc == -ENOENT && !must_exist)
			return add_sandbox_rules(c, err, len);
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
	return add_sandbox_rules(c, err, len);
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
	free(c->shm.uids);
	free(c->shm.gids);
	memset(&c->shm, 0, sizeof(c->shm));
}

void dconf_shm_opts(const struct dconf *c, struct pvcalls_shm_opts *o)
{
	const struct dconf_shm *h = &c->shm;

	memset(o, 0, sizeof(*o));
	o->socket_mode = h->socket_mode;
	o->allow_uids = h->uids;
	o->nr_allow_uids = h->nuids;
	o->allow_gids = h->gids;
	o->nr_allow_gids = h->ngids;
	o->hello_timeout_ms = h->hello_timeout_ms;
	o->max_guests = h->max_guests;
	o->max_pending = h->max_pending;
	o->quota_nodes = h->quota_nodes;
	o->quota_bytes = h->quota_bytes;
	o->quota_watches = h->quota_watches;
	o->quota_txns = h->quota_txns;
	o->max_maps_per_guest = h->max_maps_per_guest;
	o->store_rate = h->store_rate;
	o->store_burst = h->store_burst;
}

static void print_limit(FILE *f, const char *name, uint32_t v, const char *builtin);
static void print_rate(FILE *f, const char *name, uint32_t v, const char *builtin);

static void print_ids(FILE *f, const char *name, const uint32_t *ids, uint32_t n)
{
	fprintf(f, "%s = ", name);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? "," : "", ids[i]);
	fputc('\n', f);
}

static void print_shm(FILE *f, const struct dconf *c)
{
	const struct dconf_shm *h = &c->shm;

	fprintf(f, "\n[shm]\n");
	if (h->socket_mode)
		fprintf(f, "socket_mode = 0%o\n", h->socket_mode);
	else
		fprintf(f, ";socket_mode = 0600 (built-in)\n");
	if (!h->nuids && !h->ngids)
		fprintf(f, "; no allow list: only pvcallsd's own uid (%u) and root may connect\n",
			(unsigned)geteuid());
	if (h->nuids)
		print_ids(f, "allow_users", h->uids, h->nuids);
	else
		fprintf(f, ";allow_users = (none)\n");
	if (h->ngids)
		print_ids(f, "allow_groups", h->gids, h->ngids);
	else
		fprintf(f, ";allow_groups = (none)\n");
	print_limit(f, "hello_timeout_ms", h->hello_timeout_ms, "2000 (built-in)");
	print_limit(f, "max_guests", h->max_guests, "256 (built-in)");
	print_limit(f, "max_pending", h->max_pending, "16 (built-in)");
	print_limit(f, "quota_nodes", h->quota_nodes, "1000 (built-in)");
	print_limit(f, "quota_bytes", h->quota_bytes, "262144 (built-in)");
	print_limit(f, "quota_watches", h->quota_watches, "128 (built-in)");
	print_limit(f, "quota_txns", h->quota_txns, "8 (built-in)");
	print_limit(f, "max_maps_per_guest", h->max_maps_per_guest, "4096 (built-in)");
	print_rate(f, "store_rate", h->store_rate, "2000 (built-in)");
	print_limit(f, "store_burst", h->store_burst, "512 (built-in)");
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_DEBUG:
		return "debug";
	default:
		return "info";
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

/* print_limit() for a key that may be "unlimited" (struct numkey). */
static void print_rate(FILE *f, const char *name, uint32_t v, const char *builtin)
{
	if (v == UINT32_MAX)
		fprintf(f, "%s = unlimited\n", name);
	else
		print_limit(f, name, v, builtin);
}

/* @flags: --max-* (the backend's options), under [default]'s own values. */
static void print_limits(FILE *f, const struct pvcalls_back_limits *l, bool deflt,
			 const struct pvcalls_back_limits *flags)
{
	char sock[48], lis[48], order[48];

	snprintf(sock, sizeof(sock),
		 flags && flags->max_sockets ? "%u (--max-sockets)" : "1024 (built-in)",
		 flags ? flags->max_sockets : 0);
	snprintf(lis, sizeof(lis),
		 flags && flags->max_listeners ? "%u (--max-listeners)" : "64 (built-in)",
		 flags ? flags->max_listeners : 0);
	snprintf(order, sizeof(order),
		 flags && flags->max_ring_order ? "%u (--max-ring-order)" : "9 (built-in)",
		 flags ? flags->max_ring_order : 0);
	print_limit(f, "max_sockets", l->max_sockets, deflt ? sock : NULL);
	print_limit(f, "max_listeners", l->max_listeners, deflt ? lis : NULL);
	print_limit(f, "max_pending_accepts", l->max_pending_accepts,
		    deflt ? "32 (built-in)" : NULL);
	print_limit(f, "max_mapped_pages", l->max_mapped_pages, deflt ? "65536 (built-in)" : NULL);
	print_limit(f, "max_ring_order", l->max_ring_order, deflt ? order : NULL);
	print_limit(f, "max_backlog", l->max_backlog, deflt ? "128 (built-in)" : NULL);
	print_limit(f, "connect_rate", l->connect_rate, deflt ? "0 (built-in: unlimited)" : NULL);
	print_limit(f, "connect_burst", l->connect_burst, deflt ? "connect_rate (built-in)" : NULL);
	print_rate(f, "cmd_rate", l->cmd_rate, deflt ? "20000 (built-in)" : NULL);
	print_limit(f, "cmd_burst", l->cmd_burst, deflt ? "256 (built-in)" : NULL);
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
	fprintf(f, "audit_required = %s\n", c->audit_required ? "yes" : "no");
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
	else {
		const char *sep = "";

		fprintf(f, "extensions = ");
		for (size_t i = 0; i < NR_EXT_NAMES; i++) {
			if (c->ext_off & ext_names[i].bit)
				continue;
			fprintf(f, "%s%s", sep, ext_names[i].name);
			sep = ",";
		}
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < c->nlims; i++)
		if (c->lims[i].domid == PVCALLS_POLICY_DEFAULT)
			dl = &c->lims[i].lim;
	print_shm(f, c);
	fprintf(f, "\n[default]\nfallback = %s\n", c->fallback_allow ? "allow" : "deny");
	for (int i = 0; i < c->nrules; i++)
		if (c->rules[i].domid == PVCALLS_POLICY_DEFAULT)
			fprintf(f, "rule = %s\n", c->rules[i].text);
	fprintf(f, "sandbox_rules = %s\n", c->sandbox_rules ? "yes" : "no");
	if (c->sandbox_rules) {
		fprintf(f, "resolv_conf = %s\n", c->resolv_conf);
		fprintf(f, "; built in, after every rule above (sandbox_rules = no drops them):\n");
		for (int i = 0; i < c->ndns_rules; i++)
			fprintf(f, ";rule = %s\n", c->dns_rules[i]);
		for (int i = 0; dconf_sandbox_rules[i]; i++)
			fprintf(f, ";rule = %s\n", dconf_sandbox_rules[i]);
	}
	print_limits(f, dl, true, fl);

	/* Each [domain N] once, in the order first seen (rules or limits). */
	for (int i = 0; i < c->nrules + (int)c->nlims; i++) {
		uint32_t d = i < c->nrules ? c->rules[i].domid : c->lims[i - c->nrules].domid;
		bool seen = false;

		if (d == PVCALLS_POLICY_DEFAULT)
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = (j < c->nrules ? c->rules[j].domid : c->lims[j - c->nrules].domid) ==
			       d;
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
