/* SPDX-License-Identifier: MIT */
/*
 * xh-env: checks, inside the guest, the Xen facilities the Xen transport
 * builds on, with the stable Xen libraries only (dynamically linked: a
 * static libxenstore breaks watches). One line per check:
 *
 *   PASS|FAIL <check> <detail>
 *
 * Checks: gnttab (share 4 pages to DOMID, map them, data both ways),
 * evtchn (unbound port for DOMID, bind it from a second handle, notify
 * both ways), xenstore (write, read, watch fires, transaction).
 * The grant and event-channel peer is this domain itself, as in the
 * harness's loopback scenarios. Exit status: number of failed checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

static int failed;

__attribute__((format(printf, 3, 4))) static void report(const char *check, int ok, const char *fmt,
							 ...)
{
	va_list ap;

	printf("%s %s ", ok ? "PASS" : "FAIL", check);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failed += !ok;
}

static unsigned self_domid(struct xs_handle *xs)
{
	unsigned len = 0, id = 0;
	char *v = xs ? xs_read(xs, XBT_NULL, "domid", &len) : NULL;

	if (v)
		id = (unsigned)atoi(v);
	free(v);
	return id;
}

static void check_gnttab(unsigned dom)
{
	xengntshr_handle *gs = xengntshr_open(NULL, 0);
	xengnttab_handle *gt = xengnttab_open(NULL, 0);
	uint32_t refs[4];
	char *a, *b;

	if (!gs || !gt) {
		report("gnttab", 0, "open: %s (gntalloc/gntdev loaded?)", strerror(errno));
		goto out;
	}
	a = xengntshr_share_pages(gs, dom, 4, refs, 1);
	if (!a) {
		report("gnttab", 0, "share 4 pages to dom%u: %s", dom, strerror(errno));
		goto out;
	}
	b = xengnttab_map_domain_grant_refs(gt, 4, dom, refs, PROT_READ | PROT_WRITE);
	if (!b) {
		report("gnttab", 0, "map refs %u.. of dom%u: %s", refs[0], dom, strerror(errno));
	} else {
		int ok = 1;

		for (int i = 0; i < 4; i++)
			a[i * 4096 + 100] = (char)('A' + i);
		for (int i = 0; i < 4; i++)
			ok &= b[i * 4096 + 100] == (char)('A' + i);
		b[3 * 4096 + 4000] = 'z';
		ok &= a[3 * 4096 + 4000] == 'z';
		report("gnttab", ok, "4 pages shared to and mapped from dom%u, refs %u-%u", dom,
		       refs[0], refs[3]);
		xengnttab_unmap(gt, b, 4);
	}
	xengntshr_unshare(gs, a, 4);
out:
	if (gs)
		xengntshr_close(gs);
	if (gt)
		xengnttab_close(gt);
}

static int wait_port(xenevtchn_handle *h, int want)
{
	struct pollfd p = { .fd = xenevtchn_fd(h), .events = POLLIN };

	if (poll(&p, 1, 3000) <= 0)
		return 0;
	int got = xenevtchn_pending(h);

	if (got >= 0)
		xenevtchn_unmask(h, (evtchn_port_t)got);
	return got == want;
}

static void check_evtchn(unsigned dom)
{
	xenevtchn_handle *h1 = xenevtchn_open(NULL, 0), *h2 = xenevtchn_open(NULL, 0);
	int p1, p2, ok;

	if (!h1 || !h2) {
		report("evtchn", 0, "open: %s (xen-evtchn loaded?)", strerror(errno));
		goto out;
	}
	fcntl(xenevtchn_fd(h1), F_SETFL, O_NONBLOCK);
	fcntl(xenevtchn_fd(h2), F_SETFL, O_NONBLOCK);
	p1 = xenevtchn_bind_unbound_port(h1, dom);
	p2 = p1 < 0 ? -1 : xenevtchn_bind_interdomain(h2, dom, (evtchn_port_t)p1);
	if (p1 < 0 || p2 < 0) {
		report("evtchn", 0, "bind (ports %d, %d): %s", p1, p2, strerror(errno));
		goto out;
	}
	xenevtchn_notify(h2, (evtchn_port_t)p2);
	ok = wait_port(h1, p1);
	xenevtchn_notify(h1, (evtchn_port_t)p1);
	ok = wait_port(h2, p2) && ok;
	report("evtchn", ok, "ports %d<->%d with dom%u, notify both ways", p1, p2, dom);
	xenevtchn_unbind(h2, (evtchn_port_t)p2);
	xenevtchn_unbind(h1, (evtchn_port_t)p1);
out:
	if (h1)
		xenevtchn_close(h1);
	if (h2)
		xenevtchn_close(h2);
}

static void check_xenstore(struct xs_handle *xs, unsigned me)
{
	char dir[64], path[96];
	unsigned len = 0;
	int fired = 0, ok;

	if (!xs) {
		report("xenstore", 0, "xs_open: %s", strerror(errno));
		return;
	}
	snprintf(dir, sizeof(dir), "/local/domain/%u/data/xh-env", me);
	snprintf(path, sizeof(path), "%s/k", dir);
	ok = xs_write(xs, XBT_NULL, path, "v1", 2);
	char *v = xs_read(xs, XBT_NULL, path, &len);

	ok = ok && v && len == 2 && !memcmp(v, "v1", 2);
	free(v);
	if (!ok) {
		report("xenstore", 0, "write/read %s: %s", path, strerror(errno));
		return;
	}
	if (!xs_watch(xs, dir, "xh")) {
		report("xenstore", 0, "watch %s: %s", dir, strerror(errno));
		return;
	}
	xs_write(xs, XBT_NULL, path, "v2", 2);
	for (int i = 0; i < 20 && !fired; i++) {
		struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
		unsigned n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		char **ev = xs_read_watch(xs, &n);

		if (ev && !strcmp(ev[XS_WATCH_PATH], path))
			fired = 1;
		free(ev);
	}
	xs_transaction_t t = xs_transaction_start(xs);
	int tok = t && xs_write(xs, t, path, "v3", 2) && xs_transaction_end(xs, t, false);

	xs_unwatch(xs, dir, "xh");
	xs_rm(xs, XBT_NULL, dir);
	report("xenstore", fired && tok, "write/read ok, watch %s, transaction %s",
	       fired ? "fired" : "did NOT fire", tok ? "ok" : "failed");
}

int main(void)
{
	struct xs_handle *xs = xs_open(0);
	unsigned me = self_domid(xs);

	printf("INFO xh-env: domain %u\n", me);
	check_gnttab(me);
	check_evtchn(me);
	check_xenstore(xs, me);
	if (xs)
		xs_close(xs);
	return failed;
}
