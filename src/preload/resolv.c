/* SPDX-License-Identifier: MIT */
/*
 * libpvcalls-preload: name resolution (docs/running-programs.md, "Names").
 *
 * glibc's getaddrinfo and gethostbyname* resolve through NSS modules whose
 * sockets are opened with glibc-internal calls a preload cannot catch: in an
 * empty network namespace they find no network, outside one they bypass the
 * backend. So these functions are interposed and, when the backend carries
 * datagram sockets (PVCALLS_FEATURE_DGRAM), names are resolved with c-ares
 * in the order of nsswitch's "files dns": /etc/hosts, then the DNS servers
 * of /etc/resolv.conf or of $PVCALLS_DNS (pvcalls-run --dns). c-ares opens
 * its UDP and TCP sockets with socket()/connect()/recvfrom()..., which are
 * this shim's: they are PV Calls sockets, under the backend's policy.
 *
 * Numeric hosts, AI_NUMERICHOST, NI_NUMERICHOST and everything without
 * datagram sockets go to glibc unchanged (files work there, DNS fails as it
 * would in the namespace; one line on stderr says so).
 *
 * Each call uses its own c-ares channel and waits with poll(), so many
 * threads may resolve at once (curl resolves from a thread).
 */
#include <arpa/inet.h>
#include <ares.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* The longest a lookup may take, whatever resolv.conf's timeouts say. */
#define LOOKUP_MAX_MS 30000

static struct {
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t,
			   int);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
			       int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
				struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
			       struct hostent **, int *);
} RN;

static pthread_once_t g_res_once = PTHREAD_ONCE_INIT;
static bool g_ares_ok;

static void res_init_once(void)
{
#define S(n) RN.n = (__typeof__(RN.n))dlsym(RTLD_NEXT, #n)
	S(getaddrinfo);
	S(getnameinfo);
	S(gethostbyname);
	S(gethostbyname2);
	S(gethostbyname_r);
	S(gethostbyname2_r);
	S(gethostbyaddr);
	S(gethostbyaddr_r);
#undef S
	g_ares_ok = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS;
}

static void res_init(void)
{
	shim_init();
	pthread_once(&g_res_once, res_init_once);
}

/*
 * True if names go through c-ares on PV Calls: the backend carries UDP.
 * Otherwise glibc resolves (and says so once).
 */
static bool use_ares(void)
{
	pvcalls_front *fe;
	int err = 0;

	if (t_inlib || !g_ares_ok)
		return false;
	fe = shim_fe(&err);
	if (!fe)
		return false; /* glibc: files work, DNS fails as in the namespace */
	if (shim_dgram_on(fe))
		return true;
	shim_say_no_dgram();
	return false;
}

/* A host glibc handles without any lookup: an IPv4 (inet_aton's forms) or
 * IPv6 literal, with or without a scope. */
static bool numeric_host(const char *name)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *pct = strchr(name, '%');

	if (inet_aton(name, &a4))
		return true;
	if (pct && (size_t)(pct - name) < sizeof(buf)) {
		memcpy(buf, name, (size_t)(pct - name));
		buf[pct - name] = 0;
		name = buf;
	}
	return inet_pton(AF_INET6, name, &a6) == 1;
}

/* The EAI_* glibc's getaddrinfo returns in the same situation. */
static int eai_of(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		return EAI_NONAME;
	case ARES_ENODATA:
		return EAI_NODATA; /* the name exists, without an address of that family */
	case ARES_ENOMEM:
		return EAI_MEMORY;
	case ARES_EBADFAMILY:
		return EAI_FAMILY;
	case ARES_ETIMEOUT:
	case ARES_ECONNREFUSED:
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_EFORMERR:
	case ARES_EBADRESP:
	case ARES_EOF:
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return EAI_AGAIN; /* "Temporary failure in name resolution" */
	default:
		return EAI_FAIL;
	}
}

/* The h_errno gethostbyname* set in the same situation. */
static int herr_of(int st)
{
	switch (eai_of(st)) {
	case EAI_NONAME:
		return HOST_NOT_FOUND;
	case EAI_NODATA:
		return NO_DATA;
	case EAI_AGAIN:
		return TRY_AGAIN;
	default:
		return NO_RECOVERY;
	}
}

/*
 * A channel for one lookup: /etc/hosts then DNS ("fb", whatever
 * nsswitch.conf or host.conf say), servers from resolv.conf or from
 * $PVCALLS_DNS ("ADDR[:PORT]", "[V6ADDR]:PORT", comma-separated, as
 * ares_set_servers_ports_csv reads them).
 */
static int channel_new(ares_channel *ch)
{
	struct ares_options o;
	const char *dns = getenv("PVCALLS_DNS");
	int st;

	memset(&o, 0, sizeof(o));
	o.lookups = (char *)"fb";
	st = ares_init_options(ch, &o, ARES_OPT_LOOKUPS);
	if (st != ARES_SUCCESS)
		return st;
	if (dns && *dns) {
		st = ares_set_servers_ports_csv(*ch, dns);
		if (st != ARES_SUCCESS) {
			shim_say("PVCALLS_DNS=%s: %s", dns, ares_strerror(st));
			ares_destroy(*ch);
		}
	}
	return st;
}

/*
 * Runs @ch until *done, waiting with poll() (this shim's, which knows the
 * PV sockets c-ares opened). Bounded by c-ares' own timeouts and by
 * LOOKUP_MAX_MS, after which the queries are cancelled (ARES_ECANCELLED).
 */
static void channel_run(ares_channel ch, const int *done)
{
	int64_t end = shim_now_ms() + LOOKUP_MAX_MS;

	while (!*done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd p[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0, ms, r;
		int64_t left = end - shim_now_ms();

		if (left <= 0) {
			ares_cancel(ch);
			break;
		}
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* ARES_GETSOCK_WRITABLE shifts 1 into an int's sign bit for
			 * the last socket (undefined): the same test, unsigned. */
			unsigned ub = (unsigned)bits;
			short ev =
				(short)((((ub >> i) & 1u) ? POLLIN : 0) |
					(((ub >> (i + ARES_GETSOCK_MAXNUM)) & 1u) ? POLLOUT : 0));

			if (!ev)
				continue;
			p[n].fd = socks[i];
			p[n].events = ev;
			p[n++].revents = 0;
		}
		tvp = ares_timeout(ch, NULL, &tv);
		ms = tvp ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : 1000;
		if (ms > left)
			ms = (int)left;
		r = poll(p, (nfds_t)n, ms);
		if (r < 0 && errno != EINTR) {
			ares_cancel(ch);
			break;
		}
		if (r <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
			continue;
		}
		for (int i = 0; i < n; i++) {
			short re = p[i].revents;

			if (!re)
				continue;
			ares_process_fd(
				ch, re & (POLLIN | POLLERR | POLLHUP) ? p[i].fd : ARES_SOCKET_BAD,
				re & (POLLOUT | POLLERR) ? p[i].fd : ARES_SOCKET_BAD);
		}
	}
}

struct gai_res {
	int done, status;
	struct ares_addrinfo *ai;
};

static void gai_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct gai_res *r = arg;

	(void)timeouts;
	r->status = status;
	r->ai = ai;
	r->done = 1;
}

/*
 * Addresses of @name of @family (AF_INET, AF_INET6, AF_UNSPEC): an ARES_*
 * status, *out to free with ares_freeaddrinfo. ARES_AI_NOSORT: c-ares' RFC
 * 6724 sort would connect() a UDP socket per address to learn source
 * addresses, each a question to the backend's policy.
 */
static int lookup(const char *name, int family, struct ares_addrinfo **out)
{
	struct ares_addrinfo_hints h = { .ai_flags = ARES_AI_CANONNAME | ARES_AI_NOSORT,
					 .ai_family = family };
	struct gai_res r = { 0 };
	ares_channel ch;
	int st = channel_new(&ch);

	*out = NULL;
	if (st != ARES_SUCCESS)
		return st;
	ares_getaddrinfo(ch, name, NULL, &h, gai_cb, &r);
	channel_run(ch, &r.done);
	ares_destroy(ch); /* runs the callback with ARES_EDESTRUCTION if still pending */
	if (r.status != ARES_SUCCESS) {
		if (r.ai)
			ares_freeaddrinfo(r.ai);
		return r.status;
	}
	if (!r.ai || !r.ai->nodes) {
		if (r.ai)
			ares_freeaddrinfo(r.ai);
		return ARES_ENODATA;
	}
	*out = r.ai;
	return ARES_SUCCESS;
}

/* The canonical name: the end of the CNAME chain, else the name asked. */
static const char *canon_of(const struct ares_addrinfo *ai, const char *name)
{
	for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next) {
		bool is_alias = false;

		for (const struct ares_addrinfo_cname *d = ai->cnames; d; d = d->next)
			if (d->alias && c->name && !strcasecmp(d->alias, c->name))
				is_alias = true;
		if (c->name && !is_alias)
			return c->name;
	}
	return ai->name ? ai->name : name;
}

/* ---------------------------------------------------------------------- */
/* getaddrinfo                                                            */
/* ---------------------------------------------------------------------- */

/*
 * Entries are allocated as glibc allocates its own: each struct addrinfo
 * with its sockaddr in one malloc() (ai_addr points just after it), and
 * ai_canonname separately, so glibc's freeaddrinfo (free(ai_canonname),
 * free(ai) along ai_next) frees them. freeaddrinfo is therefore not
 * interposed: lists from glibc (numeric hosts, no datagram sockets) and
 * from here are the same kind, and a program that freed with another
 * freeaddrinfo (or linked glibc's statically into a library) stays right.
 */
static struct addrinfo *ai_new(const struct sockaddr *sa, int family, const struct addrinfo *proto)
{
	socklen_t sl = family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
					  : (socklen_t)sizeof(struct sockaddr_in);
	struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in6));

	if (!ai)
		return NULL;
	ai->ai_family = family;
	ai->ai_socktype = proto->ai_socktype;
	ai->ai_protocol = proto->ai_protocol;
	ai->ai_addrlen = sl;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	memcpy(ai->ai_addr, sa, sl);
	/* The port of the service, as glibc worked it out (template below). */
	if (family == AF_INET6)
		((struct sockaddr_in6 *)ai->ai_addr)->sin6_port =
			((const struct sockaddr_in *)proto->ai_addr)->sin_port;
	else
		((struct sockaddr_in *)ai->ai_addr)->sin_port =
			((const struct sockaddr_in *)proto->ai_addr)->sin_port;
	return ai;
}

static void ai_free(struct addrinfo *ai)
{
	while (ai) {
		struct addrinfo *n = ai->ai_next;

		free(ai->ai_canonname);
		free(ai);
		ai = n;
	}
}

/* Appends one entry per (address, socket type) pair; false if out of memory. */
static bool ai_add(struct addrinfo ***tail, const struct sockaddr *sa, int family,
		   const struct addrinfo *tmpl)
{
	for (const struct addrinfo *t = tmpl; t; t = t->ai_next) {
		struct addrinfo *ai = ai_new(sa, family, t);

		if (!ai)
			return false;
		**tail = ai;
		*tail = &ai->ai_next;
	}
	return true;
}

/* ::ffff:a.b.c.d for an IPv4 address (AI_V4MAPPED). */
static struct sockaddr_in6 mapped(const struct sockaddr_in *in)
{
	struct sockaddr_in6 s6;

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr.s6_addr[10] = 0xff;
	s6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&s6.sin6_addr.s6_addr[12], &in->sin_addr, 4);
	return s6;
}

static int gai_ares(const char *node, const char *service, const struct addrinfo *hints,
		    struct addrinfo **res)
{
	struct addrinfo th, *tmpl = NULL, *head = NULL, **tail = &head;
	struct ares_addrinfo *ai;
	int flags = hints ? hints->ai_flags : (AI_V4MAPPED | AI_ADDRCONFIG);
	int family = hints ? hints->ai_family : AF_UNSPEC, ask = family, st, rc;
	bool v6 = shim_inet6_on(), any6 = false, oom = false;

	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return EAI_FAMILY;
	/*
	 * The (socket type, protocol, port) triples glibc would give, service
	 * names, EAI_SERVICE and EAI_SOCKTYPE included: its own answer for the
	 * numeric host 0.0.0.0 with the same service and hints (no lookup).
	 */
	memset(&th, 0, sizeof(th));
	if (hints) {
		th.ai_socktype = hints->ai_socktype;
		th.ai_protocol = hints->ai_protocol;
	}
	th.ai_family = AF_INET;
	th.ai_flags = AI_NUMERICHOST | (flags & AI_NUMERICSERV);
	rc = RN.getaddrinfo("0.0.0.0", service, &th, &tmpl);
	if (rc)
		return rc;
	/* AI_ADDRCONFIG: what this program can use is what the backend
	 * carries, not the namespace's interfaces. */
	if (family == AF_UNSPEC && (flags & AI_ADDRCONFIG) && !v6)
		ask = AF_INET;
	if (family == AF_INET6 && (flags & AI_V4MAPPED))
		ask = AF_UNSPEC;
	st = lookup(node, ask, &ai);
	if (st != ARES_SUCCESS) {
		freeaddrinfo(tmpl);
		return eai_of(st);
	}
	/* IPv6 first only when the backend carries it (RFC 6724 would put
	 * unreachable IPv6 after IPv4 too); c-ares' order otherwise. */
	for (int pass = 0; pass < 2 && !oom; pass++) {
		int want = (pass == 0) == v6 ? AF_INET6 : AF_INET;

		for (const struct ares_addrinfo_node *n = ai->nodes; n && !oom; n = n->ai_next) {
			if (n->ai_family != want || !n->ai_addr)
				continue;
			if (family == AF_INET6 && want == AF_INET)
				continue; /* mapped below */
			if (want == AF_INET6)
				any6 = true;
			oom = !ai_add(&tail, n->ai_addr, want, tmpl);
		}
	}
	if (family == AF_INET6 && (flags & AI_V4MAPPED) && (!any6 || (flags & AI_ALL))) {
		for (const struct ares_addrinfo_node *n = ai->nodes; n && !oom; n = n->ai_next) {
			struct sockaddr_in6 s6;

			if (n->ai_family != AF_INET || !n->ai_addr)
				continue;
			s6 = mapped((const struct sockaddr_in *)n->ai_addr);
			oom = !ai_add(&tail, (struct sockaddr *)&s6, AF_INET6, tmpl);
		}
	}
	if (!oom && head && (flags & AI_CANONNAME)) {
		head->ai_canonname = strdup(canon_of(ai, node));
		oom = !head->ai_canonname;
	}
	ares_freeaddrinfo(ai);
	freeaddrinfo(tmpl);
	if (oom) {
		ai_free(head);
		return EAI_MEMORY;
	}
	if (!head)
		return family == AF_UNSPEC ? EAI_NONAME : EAI_NODATA;
	*res = head;
	return 0;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			    struct addrinfo **res)
{
	res_init();
	if (!RN.getaddrinfo)
		return EAI_SYSTEM;
	if (!node || !res || (hints && (hints->ai_flags & AI_NUMERICHOST)) || numeric_host(node) ||
	    (hints &&
	     hints->ai_flags & ~(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
				 AI_ADDRCONFIG | AI_NUMERICSERV | AI_IDN | AI_CANONIDN)) ||
	    !use_ares())
		return RN.getaddrinfo(node, service, hints, res);
	return gai_ares(node, service, hints, res);
}

/* ---------------------------------------------------------------------- */
/* gethostbyname*                                                         */
/* ---------------------------------------------------------------------- */

/*
 * Fills @he from @ai in @buf: h_name (the canonical name), h_aliases (the
 * CNAME chain's other names), h_addr_list (the addresses of @family).
 * Returns 0 or ERANGE.
 */
static int hostent_fill(const struct ares_addrinfo *ai, const char *name, int family,
			struct hostent *he, char *buf, size_t len)
{
	size_t alen = family == AF_INET6 ? 16 : 4, naddr = 0, nalias = 0, need;
	const char *canon = canon_of(ai, name);
	uintptr_t p = (uintptr_t)buf, end = (uintptr_t)buf + len;
	char **aliases, **addrs;

	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
		naddr += n->ai_family == family;
	for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next)
		nalias += c->alias && strcasecmp(c->alias, canon);
	/* Pointer arrays first (aligned), then addresses, then strings. */
	p = (p + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	need = (nalias + 1 + naddr + 1) * sizeof(char *) + naddr * alen + strlen(canon) + 1;
	for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next)
		if (c->alias && strcasecmp(c->alias, canon))
			need += strlen(c->alias) + 1;
	if (p > end || end - p < need)
		return ERANGE;
	aliases = (char **)p;
	addrs = aliases + nalias + 1;
	p = (uintptr_t)(addrs + naddr + 1);
	naddr = 0;
	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
		if (n->ai_family != family)
			continue;
		addrs[naddr] = (char *)p;
		if (family == AF_INET6)
			memcpy(addrs[naddr], &((struct sockaddr_in6 *)n->ai_addr)->sin6_addr, 16);
		else
			memcpy(addrs[naddr], &((struct sockaddr_in *)n->ai_addr)->sin_addr, 4);
		p += alen;
		naddr++;
	}
	addrs[naddr] = NULL;
	nalias = 0;
	for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next) {
		if (!c->alias || !strcasecmp(c->alias, canon))
			continue;
		aliases[nalias] = strcpy((char *)p, c->alias);
		p += strlen(c->alias) + 1;
		nalias++;
	}
	aliases[nalias] = NULL;
	he->h_name = strcpy((char *)p, canon);
	he->h_aliases = aliases;
	he->h_addrtype = family;
	he->h_length = (int)alen;
	he->h_addr_list = addrs;
	return 0;
}

/* gethostbyname2_r through c-ares: glibc's return and h_errno conventions. */
static int ghbn_ares(const char *name, int family, struct hostent *he, char *buf, size_t len,
		     struct hostent **result, int *herr)
{
	struct ares_addrinfo *ai;
	int st, rc;

	*result = NULL;
	if (family != AF_INET && family != AF_INET6) {
		*herr = NETDB_INTERNAL;
		return EAFNOSUPPORT;
	}
	st = lookup(name, family, &ai);
	if (st != ARES_SUCCESS) {
		*herr = herr_of(st);
		return st == ARES_ENOMEM ? ENOMEM : (*herr == TRY_AGAIN ? EAGAIN : ENOENT);
	}
	rc = hostent_fill(ai, name, family, he, buf, len);
	ares_freeaddrinfo(ai);
	if (rc) {
		*herr = NETDB_INTERNAL;
		return rc;
	}
	if (!he->h_addr_list[0]) {
		*herr = NO_DATA;
		return ENOENT;
	}
	*herr = 0;
	*result = he;
	return 0;
}

static bool ghbn_ours(const char *name)
{
	res_init();
	return name && !numeric_host(name) && use_ares();
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int family, struct hostent *he, char *buf,
				 size_t len, struct hostent **result, int *herr)
{
	if (!ghbn_ours(name))
		return RN.gethostbyname2_r
			       ? RN.gethostbyname2_r(name, family, he, buf, len, result, herr)
			       : ENOSYS;
	return ghbn_ares(name, family, he, buf, len, result, herr);
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *he, char *buf, size_t len,
				struct hostent **result, int *herr)
{
	if (!ghbn_ours(name))
		return RN.gethostbyname_r ? RN.gethostbyname_r(name, he, buf, len, result, herr)
					  : ENOSYS;
	return ghbn_ares(name, AF_INET, he, buf, len, result, herr);
}

/* The non-reentrant forms: one result per thread (glibc's is one per
 * process; per thread is at least as safe for every caller). */
static __thread struct {
	struct hostent he;
	char buf[4096];
} t_hbn;

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int family)
{
	struct hostent *r = NULL;
	int herr = 0;

	if (!ghbn_ours(name))
		return RN.gethostbyname2 ? RN.gethostbyname2(name, family) : NULL;
	if (ghbn_ares(name, family, &t_hbn.he, t_hbn.buf, sizeof(t_hbn.buf), &r, &herr))
		r = NULL;
	h_errno = herr;
	return r;
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	if (!ghbn_ours(name))
		return RN.gethostbyname ? RN.gethostbyname(name) : NULL;
	return gethostbyname2(name, AF_INET);
}

/* ---------------------------------------------------------------------- */
/* getnameinfo                                                            */
/* ---------------------------------------------------------------------- */

struct hba_res {
	int done, status;
	char name[NI_MAXHOST];
	/* gethostbyaddr_r: the answer copied into the caller's buffer */
	struct hostent *he;
	char *buf;
	size_t len;
	int copy_err;
};

/* Copies @src (c-ares') into @he and @buf: 0 or ERANGE. */
static int hostent_copy(const struct hostent *src, struct hostent *he, char *buf, size_t len)
{
	size_t nal = 0, nad = 0, need, alen = (size_t)src->h_length;
	uintptr_t p = ((uintptr_t)buf + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	uintptr_t end = (uintptr_t)buf + len;
	char **al, **ad;

	while (src->h_aliases && src->h_aliases[nal])
		nal++;
	while (src->h_addr_list && src->h_addr_list[nad])
		nad++;
	need = (nal + 1 + nad + 1) * sizeof(char *) + nad * alen + strlen(src->h_name) + 1;
	for (size_t i = 0; i < nal; i++)
		need += strlen(src->h_aliases[i]) + 1;
	if (p > end || end - p < need)
		return ERANGE;
	al = (char **)p;
	ad = al + nal + 1;
	p = (uintptr_t)(ad + nad + 1);
	for (size_t i = 0; i < nad; i++, p += alen)
		ad[i] = memcpy((char *)p, src->h_addr_list[i], alen);
	ad[nad] = NULL;
	for (size_t i = 0; i < nal; i++) {
		al[i] = strcpy((char *)p, src->h_aliases[i]);
		p += strlen(src->h_aliases[i]) + 1;
	}
	al[nal] = NULL;
	he->h_name = strcpy((char *)p, src->h_name);
	he->h_aliases = al;
	he->h_addr_list = ad;
	he->h_addrtype = src->h_addrtype;
	he->h_length = src->h_length;
	return 0;
}

static void hba_cb(void *arg, int status, int timeouts, struct hostent *he)
{
	struct hba_res *r = arg;

	(void)timeouts;
	r->status = status;
	if (status == ARES_SUCCESS && he && he->h_name) {
		if (strlen(he->h_name) < sizeof(r->name))
			strcpy(r->name, he->h_name);
		else
			r->status = ARES_EBADNAME;
		if (r->he)
			r->copy_err = hostent_copy(he, r->he, r->buf, r->len);
	}
	r->done = 1;
}

/* A reverse lookup of @addr (@alen bytes, @family): an ARES_* status. */
static int reverse(const void *addr, socklen_t alen, int family, struct hba_res *r)
{
	ares_channel ch;
	int st = channel_new(&ch);

	if (st != ARES_SUCCESS)
		return st;
	ares_gethostbyaddr(ch, addr, (int)alen, family, hba_cb, r);
	channel_run(ch, &r->done);
	ares_destroy(ch);
	return r->status;
}

SHIM_EXPORT int gethostbyaddr_r(const void *addr, socklen_t alen, int family, struct hostent *he,
				char *buf, size_t len, struct hostent **result, int *herr)
{
	struct hba_res r = { .he = he, .buf = buf, .len = len };
	int st;

	res_init();
	if (!addr || (family != AF_INET && family != AF_INET6) ||
	    alen != (family == AF_INET ? 4u : 16u) || !use_ares())
		return RN.gethostbyaddr_r
			       ? RN.gethostbyaddr_r(addr, alen, family, he, buf, len, result, herr)
			       : ENOSYS;
	*result = NULL;
	st = reverse(addr, alen, family, &r);
	if (st != ARES_SUCCESS) {
		*herr = herr_of(st);
		return *herr == TRY_AGAIN ? EAGAIN : ENOENT;
	}
	if (r.copy_err) {
		*herr = NETDB_INTERNAL;
		return r.copy_err;
	}
	*herr = 0;
	*result = he;
	return 0;
}

SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t alen, int family)
{
	struct hostent *r = NULL;
	int herr = 0;

	res_init();
	if (!addr || (family != AF_INET && family != AF_INET6) ||
	    alen != (family == AF_INET ? 4u : 16u) || !use_ares())
		return RN.gethostbyaddr ? RN.gethostbyaddr(addr, alen, family) : NULL;
	if (gethostbyaddr_r(addr, alen, family, &t_hbn.he, t_hbn.buf, sizeof(t_hbn.buf), &r, &herr))
		r = NULL;
	h_errno = herr;
	return r;
}

/*
 * Reverse lookups (/etc/hosts, then PTR through DNS). The service part is
 * glibc's (services file, no network); NI_NUMERICHOST goes to glibc whole.
 */
SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
			    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	struct hba_res r = { 0 };
	const void *addr;
	socklen_t alen;
	int rc;

	res_init();
	if (!RN.getnameinfo)
		return EAI_SYSTEM;
	if (!sa || !host || !hostlen || (flags & NI_NUMERICHOST) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !use_ares())
		return RN.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	if (sa->sa_family == AF_INET) {
		if (salen < sizeof(struct sockaddr_in))
			return EAI_FAMILY;
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
		alen = 4;
	} else {
		if (salen < sizeof(struct sockaddr_in6))
			return EAI_FAMILY;
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		alen = 16;
	}
	if (serv && servlen) {
		rc = RN.getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
		if (rc)
			return rc;
	}
	r.status = reverse(addr, alen, sa->sa_family, &r);
	if (r.status != ARES_SUCCESS) {
		if (flags & NI_NAMEREQD)
			return eai_of(r.status) == EAI_AGAIN ? EAI_AGAIN : EAI_NONAME;
		/* As glibc: the numeric form when the name is not found. */
		return RN.getnameinfo(sa, salen, host, hostlen, NULL, 0, flags | NI_NUMERICHOST);
	}
	if (flags & NI_NOFQDN) {
		char *dot = strchr(r.name, '.');

		if (dot)
			*dot = 0;
	}
	if (strlen(r.name) >= hostlen)
		return EAI_OVERFLOW;
	strcpy(host, r.name);
	return 0;
}
