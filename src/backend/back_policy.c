/* SPDX-License-Identifier: MIT */
/*
 * Policy: rule sets (pvcalls_policy), per-frontend limits and the CONNECT
 * token bucket, and the decision the command handlers ask for.
 *
 * A rule set is a list of sections, one per domid plus the default one.
 * Each section holds rules, tried in order, and optional limits. A call is
 * tried against its domain's rules, then the default rules; the first
 * match decides, else the fallback (allow unless told otherwise).
 *
 * A CONNECT is judged by where the kernel will take it, not only by the
 * address the guest wrote: 0.0.0.0 and every address of the host's own
 * interfaces reach the host itself, services bound to 0.0.0.0 included, so
 * such a CONNECT must also pass the rules as 127.0.0.1 (a "deny connect
 * 127.0.0.0/8" cannot be walked around through 0.0.0.0 or the host's LAN
 * address). Whether an address is the host's own is asked of the kernel's
 * routing (see reaches_host()), so interfaces that come and go are seen.
 *
 * AF_INET6 (docs/extensions.md, "IPv6"): an IPv4-mapped address is judged
 * as the IPv4 address; ::, ::1 and the host's own IPv6 addresses also as
 * ::1 and as 127.0.0.1 (reaches_host6(): a dual-stack host service answers
 * both); a BIND or LISTEN on :: without IPV6_V6ONLY also as 0.0.0.0; and a
 * link-local or multicast destination only by a rule that names its
 * network (scoped_dest()), since its scope id picks a host interface.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "common/log.h"
#include "common/sockaddr.h"

#define RULE_TEXT 80

enum { W_CONNECT = 1, W_LISTEN = 2, W_ANY = 3, W_SOCKOPT = 4 };
/* "tcp" / "udp" in a rule (docs/extensions.md, "Policy and audit for
 * datagrams"): stream or datagram sockets only; neither: both. */
enum { P_BOTH = 0, P_TCP = 1, P_UDP = 2 };

struct prule {
	bool allow;
	uint8_t what;   /* W_* */
	uint8_t family; /* 0 any, 4, 6 */
	uint8_t proto;  /* P_*: which sockets the rule names (default both) */
	bool any_addr;
	uint32_t net, mask; /* family 4: host order */
	uint8_t net6[16];   /* family 6: network order, masked */
	uint8_t bits6;
	uint16_t plo, phi;
	uint32_t opt; /* W_SOCKOPT: PVCALLS_EXT_OPT_*, 0 any */
	char text[RULE_TEXT];
};

struct psect {
	uint32_t domid;
	struct prule *rules;
	size_t n, cap;
	struct pvcalls_back_limits lim;
};

struct pvcalls_policy {
	struct psect *s;
	size_t n;
	bool deny_fallback;
};

int pvcalls_policy_new(pvcalls_policy **out)
{
	if (!out)
		return -EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void pvcalls_policy_free(pvcalls_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i].rules);
	free(p->s);
	free(p);
}

static const struct psect *sect_find(const pvcalls_policy *p, uint32_t domid)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (p->s[i].domid == domid)
			return &p->s[i];
	return NULL;
}

static struct psect *sect_get(pvcalls_policy *p, uint32_t domid)
{
	struct psect *s = (struct psect *)sect_find(p, domid);

	if (s)
		return s;
	s = realloc(p->s, (p->n + 1) * sizeof(*s));
	if (!s)
		return NULL;
	p->s = s;
	s = &p->s[p->n++];
	memset(s, 0, sizeof(*s));
	s->domid = domid;
	return s;
}

void pvcalls_policy_set_fallback(pvcalls_policy *p, bool allow)
{
	if (p)
		p->deny_fallback = !allow;
}

int pvcalls_policy_set_limits(pvcalls_policy *p, uint32_t domid,
			      const struct pvcalls_back_limits *lim)
{
	struct psect *s;

	if (!p || !lim || lim->max_ring_order > PVCALLS_WIRE_MAX_RING_ORDER)
		return -EINVAL;
	s = sect_get(p, domid);
	if (!s)
		return -ENOMEM;
	s->lim = *lim;
	return 0;
}

static int perr(char *err, size_t len, const char *what, const char *tok)
{
	if (err && len)
		snprintf(err, len, "%s%s%s%s", what, tok ? " \"" : "", tok ? tok : "",
			 tok ? "\"" : "");
	return -EINVAL;
}

static bool parse_port(const char *s, uint16_t *lo, uint16_t *hi)
{
	char *end;
	unsigned long a, b;

	if (!isdigit((unsigned char)*s))
		return false;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return false;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end || a > 65535 || b > 65535 || a > b)
		return false;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return true;
}

/* "ADDR[/BITS]" of either family: ADDR copied into @buf, BITS (default
 * @max_bits, at most @max_bits) into *@bits. */
static bool split_cidr(const char *s, char *buf, size_t len, unsigned long max_bits,
		       unsigned long *bits)
{
	char *slash;

	if (strlen(s) >= len)
		return false;
	strcpy(buf, s);
	*bits = max_bits;
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = 0;
		if (!isdigit((unsigned char)slash[1]))
			return false;
		*bits = strtoul(slash + 1, &end, 10);
		if (*end || *bits > max_bits)
			return false;
	}
	return true;
}

static bool parse_cidr(const char *s, uint32_t *net, uint32_t *mask)
{
	char buf[32];
	struct in_addr a;
	unsigned long bits;

	if (!split_cidr(s, buf, sizeof(buf), 32, &bits) || inet_pton(AF_INET, buf, &a) != 1)
		return false;
	*mask = bits ? ~0u << (32 - bits) : 0;
	*net = ntohl(a.s_addr) & *mask;
	return true;
}

/* An IPv6 network "ADDR[/BITS]". */
static bool parse_cidr6(const char *s, uint8_t net[16], uint8_t *bits)
{
	char buf[64];
	struct in6_addr a;
	unsigned long n;

	if (!split_cidr(s, buf, sizeof(buf), 128, &n) || inet_pton(AF_INET6, buf, &a) != 1)
		return false;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = n >= 8 * (i + 1) ? 8 : n > 8 * i ? n - 8 * i : 0;

		net[i] = a.s6_addr[i] & (uint8_t)(0xff00u >> keep);
	}
	*bits = (uint8_t)n;
	return true;
}

/* Whether @a is in the network @net/@bits. */
static bool in6_match(const uint8_t net[16], unsigned bits, const struct in6_addr *a)
{
	for (unsigned i = 0; i < 16 && bits > 8 * i; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits - 8 * i;

		if ((a->s6_addr[i] & (uint8_t)(0xff00u >> keep)) != net[i])
			return false;
	}
	return true;
}

/* An IPv6 rule network: as IPv4 when inside ::ffff:0:0/96 (mapped
 * addresses are judged as IPv4, so an IPv6 network never sees them; a
 * wider one such as ::/0 simply does not cover them). */
static void rule_net6(struct prule *r, const uint8_t net[16], uint8_t bits)
{
	struct in6_addr a;

	memcpy(a.s6_addr, net, 16);
	if (bits >= 96 && pvc_in6_v4mapped(&a, NULL)) {
		uint32_t v4;

		memcpy(&v4, net + 12, 4);
		r->family = 4;
		r->mask = bits > 96 ? ~0u << (128 - bits) : 0;
		r->net = ntohl(v4) & r->mask;
		return;
	}
	r->family = 6;
	memcpy(r->net6, net, 16);
	r->bits6 = bits;
}

int pvcalls_policy_add_rule(pvcalls_policy *p, uint32_t domid, const char *rule, char *err,
			    size_t err_len)
{
	struct prule r = { .any_addr = true, .plo = 0, .phi = 65535 };
	char buf[256], *tok, *save = NULL;
	bool have_addr = false, have_port = false;
	uint8_t net6[16], bits6;
	struct psect *s;
	int n = 0;

	if (!p || !rule)
		return -EINVAL;
	if (strlen(rule) >= sizeof(buf))
		return perr(err, err_len, "rule too long", NULL);
	strcpy(buf, rule);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save), n++) {
		if (n == 0) {
			if (!strcmp(tok, "allow"))
				r.allow = true;
			else if (strcmp(tok, "deny"))
				return perr(err, err_len, "expected allow or deny, not", tok);
		} else if (n == 1) {
			if (!strcmp(tok, "connect"))
				r.what = W_CONNECT;
			else if (!strcmp(tok, "listen"))
				r.what = W_LISTEN;
			else if (!strcmp(tok, "any"))
				r.what = W_ANY;
			else if (!strcmp(tok, "sockopt"))
				r.what = W_SOCKOPT;
			else
				return perr(err, err_len,
					    "expected connect, listen, any or sockopt, not", tok);
		} else if (r.what == W_SOCKOPT) {
			/* "sockopt" takes exactly one option name or "any". */
			if (n != 2)
				return perr(err, err_len, "unexpected", tok);
			if (strcmp(tok, "any") && !(r.opt = pvc_back_opt_by_name(tok)))
				return perr(err, err_len, "unknown socket option", tok);
		} else if (!strcmp(tok, "tcp") && !r.proto) {
			r.proto = P_TCP;
		} else if (!strcmp(tok, "udp") && !r.proto) {
			r.proto = P_UDP;
		} else if (!strcmp(tok, "inet") && !r.family) {
			r.family = 4;
		} else if (!strcmp(tok, "inet6") && !r.family) {
			r.family = 6;
		} else if (!strcmp(tok, "port") && !have_port) {
			tok = strtok_r(NULL, " \t", &save);
			if (!tok || !parse_port(tok, &r.plo, &r.phi))
				return perr(err, err_len, "bad port range", tok);
			have_port = true;
		} else if (!strcmp(tok, "any") && !have_addr) {
			have_addr = true;
		} else if (!have_addr && parse_cidr(tok, &r.net, &r.mask)) {
			have_addr = true;
			r.any_addr = false;
			if (r.family == 6)
				return perr(err, err_len, "IPv4 network in an inet6 rule", tok);
			r.family = 4;
		} else if (!have_addr && parse_cidr6(tok, net6, &bits6)) {
			have_addr = true;
			r.any_addr = false;
			if (r.family == 4)
				return perr(err, err_len, "IPv6 network in an inet rule", tok);
			rule_net6(&r, net6, bits6);
		} else {
			return perr(err, err_len, "unexpected", tok);
		}
	}
	if (n < 2)
		return perr(err, err_len, "expected (allow|deny) (connect|listen|any) ...", NULL);
	if (r.what == W_SOCKOPT && n != 3)
		return perr(err, err_len, "expected (allow|deny) sockopt (OPTION|any)", NULL);
	/* The normalised text, for the log and the audit. */
	snprintf(r.text, sizeof(r.text), "%s", rule);
	s = sect_get(p, domid);
	if (!s)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct prule *nr = realloc(s->rules, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		s->rules = nr;
		s->cap = cap;
	}
	s->rules[s->n++] = r;
	return 0;
}

static bool rule_match(const struct prule *r, const struct pvcalls_back_call *c)
{
	uint8_t what =
		c->cmd == PVCALLS_WIRE_BIND || c->cmd == PVCALLS_WIRE_LISTEN ? W_LISTEN : W_CONNECT;
	uint16_t port;

	if (c->cmd == PVCALLS_EXT_SETSOCKOPT)
		return r->what == W_SOCKOPT && (!r->opt || r->opt == c->opt);
	if (!(r->what & what))
		return false;
	if (r->proto && r->proto != (c->type == PVCALLS_EXT_SOCK_DGRAM ? P_UDP : P_TCP))
		return false;
	if (c->addr.sin_family == AF_INET6) {
		if (r->family == 4)
			return false;
		if (!r->any_addr && !in6_match(r->net6, r->bits6, &c->addr6.sin6_addr))
			return false;
		port = ntohs(c->addr6.sin6_port);
	} else {
		if (r->family == 6)
			return false;
		if (!r->any_addr && (ntohl(c->addr.sin_addr.s_addr) & r->mask) != r->net)
			return false;
		port = ntohs(c->addr.sin_port);
	}
	return port >= r->plo && port <= r->phi;
}

/* A destination with a scope (its scope id names a host interface): only a
 * rule that names its network may allow it (docs/extensions.md, "IPv6"). */
static bool scoped_dest(const struct pvcalls_back_call *c)
{
	return c->addr.sin_family == AF_INET6 && c->cmd != PVCALLS_WIRE_BIND &&
	       c->cmd != PVCALLS_WIRE_LISTEN && c->cmd != PVCALLS_EXT_SETSOCKOPT &&
	       (pvc_in6_is_linklocal(&c->addr6.sin6_addr) ||
		pvc_in6_is_multicast(&c->addr6.sin6_addr));
}

static const struct prule *sect_match(const struct psect *s, const struct pvcalls_back_call *c,
				      size_t *idx)
{
	for (size_t i = 0; s && i < s->n; i++) {
		if (rule_match(&s->rules[i], c)) {
			*idx = i + 1;
			return &s->rules[i];
		}
	}
	return NULL;
}

int pvcalls_policy_check(const pvcalls_policy *p, const struct pvcalls_back_call *c, char *reason,
			 size_t reason_len)
{
	const struct prule *r = NULL;
	size_t idx = 0;
	bool dom = false;

	if (!p || !c)
		return -EINVAL;
	if (c->domid != PVCALLS_POLICY_DEFAULT) {
		r = sect_match(sect_find(p, c->domid), c, &idx);
		dom = r != NULL;
	}
	if (!r)
		r = sect_match(sect_find(p, PVCALLS_POLICY_DEFAULT), c, &idx);
	if (!r && c->cmd == PVCALLS_EXT_SETSOCKOPT) {
		if (reason && reason_len)
			snprintf(reason, reason_len, "no sockopt rule matched: allow");
		return 0;
	}
	if (scoped_dest(c) && (!r || (r->allow && r->any_addr))) {
		if (reason && reason_len)
			snprintf(reason, reason_len,
				 "link-local or multicast destination not named by a rule: deny");
		return -EACCES;
	}
	if (!r) {
		if (reason && reason_len)
			snprintf(reason, reason_len, "no rule matched: %s",
				 p->deny_fallback ? "deny" : "allow");
		return p->deny_fallback ? -EACCES : 0;
	}
	if (reason && reason_len) {
		if (dom)
			snprintf(reason, reason_len, "domain %u rule %zu: %s", c->domid, idx,
				 r->text);
		else
			snprintf(reason, reason_len, "default rule %zu: %s", idx, r->text);
	}
	return r->allow ? 0 : -EACCES;
}

/* ---------------------------------------------------------------------- */
/* The backend's side                                                     */

static void overlay(struct pvcalls_back_limits *to, const struct pvcalls_back_limits *from)
{
#define OV(x) (to->x = from->x ? from->x : to->x)
	OV(max_sockets);
	OV(max_listeners);
	OV(max_pending_accepts);
	OV(max_mapped_pages);
	OV(max_ring_order);
	OV(max_backlog);
	OV(connect_rate);
	OV(connect_burst);
	OV(cmd_rate);
	OV(cmd_burst);
#undef OV
}

void pvc_back_front_limits(struct back_frontend *f)
{
	pvcalls_back *b = f->b;
	const struct psect *s;

	f->lim = b->lim;
	if (b->policy) {
		if ((s = sect_find(b->policy, PVCALLS_POLICY_DEFAULT)))
			overlay(&f->lim, &s->lim);
		if ((s = sect_find(b->policy, f->feid)))
			overlay(&f->lim, &s->lim);
	}
	if (f->lim.max_backlog > INT32_MAX)
		f->lim.max_backlog = INT32_MAX;
	if (f->lim.connect_rate && !f->lim.connect_burst)
		f->lim.connect_burst = f->lim.connect_rate;
	/* A fresh bucket is full. */
	pvc_bucket_fill(&f->connect_bucket, f->lim.connect_burst, pvc_now_us());
	pvc_back_cmd_rate_init(f);
}

int pvcalls_back_set_policy(pvcalls_back *b, pvcalls_policy *p)
{
	if (!b) {
		pvcalls_policy_free(p);
		return -EINVAL;
	}
	pvcalls_policy_free(b->policy);
	b->policy = p;
	b->policy_gen++; /* datagram destination caches start again (back_dgram.c) */
	b->pol_cb = NULL;
	b->pol_arg = NULL;
	pthread_mutex_lock(&b->stats_lock);
	for (struct back_frontend *f = b->fronts; f; f = f->next)
		pvc_back_front_limits(f);
	pthread_mutex_unlock(&b->stats_lock);
	return 0;
}

void pvcalls_back_set_policy_cb(pvcalls_back *b, pvcalls_back_policy_fn fn, void *arg)
{
	if (!b)
		return;
	pvcalls_policy_free(b->policy);
	b->policy = NULL;
	b->policy_gen++;
	b->pol_cb = fn;
	b->pol_arg = arg;
	for (struct back_frontend *f = b->fronts; f; f = f->next)
		pvc_back_front_limits(f);
}

/* One token per CONNECT; false when the bucket is empty. */
static bool rate_take(struct back_frontend *f)
{
	return !f->lim.connect_rate || pvc_bucket_take(&f->connect_bucket, f->lim.connect_rate,
						       f->lim.connect_burst, pvc_now_us());
}

/*
 * Whether a CONNECT to @a lands on this host although @a is not in
 * 127.0.0.0/8. 0.0.0.0 does (Linux connects it to 127.0.0.1). For any other
 * address the kernel's routing decides: a route of type local picks the
 * destination itself as the source address, which a connected UDP socket
 * reports through getsockname(). No packet is sent; no route means not
 * local (the real CONNECT fails the same way).
 */
static bool reaches_host(const struct sockaddr_in *a)
{
	uint32_t h = ntohl(a->sin_addr.s_addr);
	struct sockaddr_in probe = *a, src;
	socklen_t len = sizeof(src);
	bool local = false;
	int fd;

	if (h == INADDR_ANY)
		return true;
	if ((h >> 24) == 127)
		return false; /* loopback already: judged as it is */
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return true; /* cannot tell: judge it as local too (stricter) */
	if (!probe.sin_port)
		probe.sin_port = htons(9);
	if (connect(fd, (struct sockaddr *)&probe, sizeof(probe)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&src, &len) == 0)
		local = src.sin_addr.s_addr == a->sin_addr.s_addr;
	close(fd);
	return local;
}

/*
 * The same for IPv6 (never called with an IPv4-mapped address, which is
 * judged as IPv4): :: (Linux connects it to ::1), ::1 itself, and any
 * address the routing delivers locally (the host's own addresses, with
 * the scope id the guest gave for a link-local one).
 */
static bool reaches_host6(const struct sockaddr_in6 *a)
{
	struct sockaddr_in6 probe = *a, src;
	socklen_t len = sizeof(src);
	bool local = false;
	int fd;

	if (pvc_in6_is_any(&a->sin6_addr) || pvc_in6_is_loopback(&a->sin6_addr))
		return true;
	if (pvc_in6_is_multicast(&a->sin6_addr))
		return false; /* never "this host" as a unicast destination is */
	if ((fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return true; /* cannot tell: judge it as local too (stricter) */
	if (!probe.sin6_port)
		probe.sin6_port = htons(9);
	probe.sin6_flowinfo = 0;
	if (connect(fd, (struct sockaddr *)&probe, sizeof(probe)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&src, &len) == 0)
		local = !memcmp(&src.sin6_addr, &a->sin6_addr, sizeof(src.sin6_addr));
	close(fd);
	return local;
}

/* The installed callback or rule set on one call; > 0 counts as -EACCES. */
static int judge(pvcalls_back *b, const struct pvcalls_back_call *c, char *reason, size_t len)
{
	int rc = b->pol_cb ? b->pol_cb(b->pol_arg, c, reason, len)
			   : pvcalls_policy_check(b->policy, c, reason, len);

	reason[len - 1] = 0;
	return rc > 0 ? -EACCES : rc;
}

/* SETSOCKOPT (docs/extensions.md, "Socket options"): no address, no rate. */
static int sockopt_decide(struct back_frontend *f, const struct pvcalls_back_call *c,
			  struct back_audit_ctx *ax)
{
	const char *name = pvc_back_opt_name(c->opt);
	int rc = judge(f->b, c, ax->reason, sizeof(ax->reason));

	ax->decision = rc ? PVCALLS_BACK_DECISION_DENY : PVCALLS_BACK_DECISION_ALLOW;
	if (rc) {
		ST_ADD(f, policy_denied, 1);
		pvc_info("back.policy-deny",
			 "frontend %u: SETSOCKOPT socket %llu %s = %d denied (%s)", f->feid,
			 (unsigned long long)c->id, name ? name : "?", c->opt_val[0], ax->reason);
	}
	return rc;
}

/* Whether @c names a destination (CONNECT; a datagram's SENDTO) rather
 * than an address to bind. */
static bool is_dest(const struct pvcalls_back_call *c)
{
	return c->cmd != PVCALLS_WIRE_BIND && c->cmd != PVCALLS_WIRE_LISTEN;
}

/*
 * The other questions a call implies (docs/extensions.md, "IPv6" and
 * "Policy and audit"): the addresses it also reaches. Fills @alt (at most
 * 2) and returns how many.
 */
static int also_asked(const struct pvcalls_back_call *c, bool dual, struct pvcalls_back_call alt[2])
{
	int n = 0;

	if (c->addr.sin_family == AF_INET) {
		if (is_dest(c) && reaches_host(&c->addr)) {
			alt[n] = *c;
			alt[n++].addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		}
		return n;
	}
	if (c->addr.sin_family != AF_INET6)
		return 0;
	if (is_dest(c) && reaches_host6(&c->addr6)) {
		/* As ::1, and as 127.0.0.1: a host service bound to a
		 * dual-stack wildcard answers both, so "deny connect
		 * 127.0.0.0/8" must not be walked around over IPv6. */
		if (!pvc_in6_is_loopback(&c->addr6.sin6_addr)) {
			alt[n] = *c;
			memset(&alt[n].addr6.sin6_addr, 0, sizeof(alt[n].addr6.sin6_addr));
			alt[n].addr6.sin6_addr.s6_addr[15] = 1;
			alt[n++].addr6.sin6_scope_id = 0;
		}
		alt[n] = *c;
		memset(&alt[n].addr6, 0, sizeof(alt[n].addr6));
		alt[n].addr.sin_family = AF_INET;
		alt[n].addr.sin_port = c->addr6.sin6_port;
		alt[n++].addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (!is_dest(c) && dual && pvc_in6_is_any(&c->addr6.sin6_addr)) {
		/* A dual-stack wildcard also listens on 0.0.0.0. */
		alt[n] = *c;
		memset(&alt[n].addr6, 0, sizeof(alt[n].addr6));
		alt[n].addr.sin_family = AF_INET;
		alt[n++].addr.sin_port = c->addr6.sin6_port;
	}
	return n;
}

int pvc_back_policy_decide(struct back_frontend *f, const struct pvcalls_back_call *c,
			   struct back_audit_ctx *ax)
{
	return pvc_back_policy_judge(f, c, false, ax);
}

int pvc_back_policy_judge(struct back_frontend *f, const struct pvcalls_back_call *call, bool dual,
			  struct back_audit_ctx *ax)
{
	pvcalls_back *b = f->b;
	struct pvcalls_back_call c = *call, alt[2];
	char addr[PVC_SOCKADDR_STRLEN];
	int rc, n;

	ax->reason[0] = 0;
	if (!b->pol_cb && !b->policy)
		goto rate; /* nothing installed: no decision recorded */
	if (c.cmd == PVCALLS_EXT_SETSOCKOPT)
		return sockopt_decide(f, &c, ax);
	if (c.addr.sin_family == AF_INET6) {
		struct sockaddr_in v4;

		/* ::ffff:a.b.c.d is a.b.c.d to the host: judged as such. */
		if (pvc_sockaddr_unmap(&c.addr6, &v4)) {
			memset(&c.addr6, 0, sizeof(c.addr6));
			c.addr = v4;
		}
	}
	rc = judge(b, &c, ax->reason, sizeof(ax->reason));
	pvc_sockaddr_str((const struct sockaddr *)&call->addr, addr);
	n = rc ? 0 : also_asked(&c, dual, alt);
	for (int i = 0; i < n && rc == 0; i++) {
		char why[sizeof(ax->reason)], as[PVC_SOCKADDR_STRLEN];

		rc = judge(b, &alt[i], why, sizeof(why));
		pvc_sockaddr_str((const struct sockaddr *)&alt[i].addr, as);
		/* a long rule's text is cut; the rule number comes first */
		if (snprintf(ax->reason, sizeof(ax->reason), "%s %s as %s: %s", addr,
			     is_dest(&c) ? "is this host," : "also listens", as,
			     why) >= (int)sizeof(ax->reason))
			pvc_debug("back.policy-reason", "reason cut: %s", why);
	}
	ax->decision = rc ? PVCALLS_BACK_DECISION_DENY : PVCALLS_BACK_DECISION_ALLOW;
	if (rc) {
		ST_ADD(f, policy_denied, 1);
		pvc_info("back.policy-deny", "frontend %u: %s socket %llu %s denied (%s)", f->feid,
			 pvcalls_cmd_name(c.cmd), (unsigned long long)c.id, addr, ax->reason);
		return rc;
	}
	pvc_debug("back.policy-allow", "frontend %u: %s socket %llu %s allowed (%s)", f->feid,
		  pvcalls_cmd_name(c.cmd), (unsigned long long)c.id, addr, ax->reason);
rate:
	if (c.cmd == PVCALLS_WIRE_CONNECT && !rate_take(f)) {
		ST_ADD(f, rate_limited, 1);
		pvc_info("back.rate-limit",
			 "frontend %u: CONNECT socket %llu: over %u/s (burst %u)", f->feid,
			 (unsigned long long)c.id, f->lim.connect_rate, f->lim.connect_burst);
		return -EAGAIN;
	}
	return 0;
}
