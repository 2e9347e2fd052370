/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a root-only (0600) SOCK_STREAM Unix socket. A client
 * sends one line ("list", "stats", "close DOMID") and reads the answer
 * until EOF; an answer starting with "error:" is a failure. Served on the
 * backend's thread between event-loop rounds, with short timeouts so a
 * stuck client cannot stall the backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <pvcalls/proto.h>
#include <pvcalls/wire.h>
#include <pvcalls/wire_ext.h>

#include "daemon.h"

#define CTL_TIMEOUT_MS 200
#define MAX_FRONTS 4096

int ctl_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A live daemon's socket is not taken over; a stale one is replaced. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

void ctl_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
}

struct out {
	char *buf;
	size_t len, cap;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = (o->cap + (size_t)n) * 2;
			char *nb = realloc(o->buf, cap);

			if (!nb)
				return;
			o->buf = nb;
			o->cap = cap;
		}
	}
}

static void put_stats(struct out *o, const struct pvcalls_back_stats *st)
{
	outf(o, "  sockets_active %u\n  sockets_passive %u\n", st->active_sockets,
	     st->passive_sockets);
	for (unsigned i = 0; i < PVCALLS_WIRE_NR_CMDS; i++)
		outf(o, "  cmd_%s %llu ok %llu failed\n", pvcalls_cmd_name(i),
		     (unsigned long long)(st->commands[i] - st->commands_failed[i]),
		     (unsigned long long)st->commands_failed[i]);
	/* The extensions' commands (docs/extensions.md), cmd - 0x6c700001. */
	for (unsigned i = 0; i < PVCALLS_BACK_EXT_CMDS; i++)
		outf(o, "  cmd_%s %llu ok %llu failed\n", pvcalls_cmd_name(PVCALLS_EXT_SHUTDOWN + i),
		     (unsigned long long)(st->ext_commands[i] - st->ext_commands_failed[i]),
		     (unsigned long long)st->ext_commands_failed[i]);
	outf(o, "  bad_commands %llu\n  policy_denied %llu\n  rate_limited %llu\n"
		"  limit_hits %llu\n  bytes_to_guest %llu\n  bytes_from_guest %llu\n"
		"  ring_full_stalls %llu\n  notifies_sent %llu\n  notifies_suppressed %llu\n"
		"  protocol_errors %llu\n",
	     (unsigned long long)st->bad_commands, (unsigned long long)st->policy_denied,
	     (unsigned long long)st->rate_limited, (unsigned long long)st->limit_hits,
	     (unsigned long long)st->bytes_to_guest, (unsigned long long)st->bytes_from_guest,
	     (unsigned long long)st->ring_full_stalls, (unsigned long long)st->notifies_sent,
	     (unsigned long long)st->notifies_suppressed,
	     (unsigned long long)st->protocol_errors);
}

static void answer(const char *req, struct out *o, pvcalls_back *b, struct audit_q *aq)
{
	static struct pvcalls_back_frontend fr[MAX_FRONTS];
	int n;

	if (!strcmp(req, "list") || !strcmp(req, "stats")) {
		bool stats = req[0] == 's';
		struct pvcalls_back_stats tot;

		n = pvcalls_back_list_frontends(b, fr, MAX_FRONTS);
		if (n > MAX_FRONTS)
			n = MAX_FRONTS;
		if (!stats)
			outf(o, "%-8s %-6s %-12s %8s %8s\n", "DOMID", "DEV", "STATE", "ACTIVE",
			     "PASSIVE");
		for (int i = 0; i < n; i++) {
			const struct pvcalls_back_frontend *f = &fr[i];

			if (!stats) {
				outf(o, "%-8u %-6u %-12s %8u %8u\n", f->domid, f->devid,
				     f->connected ? "connected" : "disconnected",
				     f->st.active_sockets, f->st.passive_sockets);
				continue;
			}
			outf(o, "frontend %u/%u %s\n", f->domid, f->devid,
			     f->connected ? "connected" : "disconnected");
			put_stats(o, &f->st);
		}
		if (stats) {
			pvcalls_back_get_stats(b, &tot);
			outf(o, "total (frontends that left included)\n  frontends %u\n",
			     tot.frontends);
			put_stats(o, &tot);
			if (aq) {
				uint64_t w, d;

				audit_q_counts(aq, &w, &d);
				outf(o, "audit\n  written %llu\n  dropped %llu\n",
				     (unsigned long long)w, (unsigned long long)d);
			}
		}
		return;
	}
	if (!strncmp(req, "close ", 6)) {
		char *end;
		unsigned long d = strtoul(req + 6, &end, 10);

		if (!req[6] || *end || d >= UINT32_MAX) {
			outf(o, "error: usage: close DOMID\n");
			return;
		}
		n = pvcalls_back_close_frontend(b, (uint32_t)d);
		if (n < 0)
			outf(o, "error: no frontend of domain %lu\n", d);
		else
			outf(o, "closed %d device(s) of domain %lu\n", n, d);
		dlog(LOG_NOTICE, "control: close %lu: %d device(s)", d, n < 0 ? 0 : n);
		return;
	}
	outf(o, "error: unknown request \"%.40s\" (list, stats, close DOMID)\n", req);
}

static void serve_one(int c, pvcalls_back *b, struct audit_q *aq)
{
	struct pollfd p = { .fd = c, .events = POLLIN };
	char req[128];
	size_t len = 0;
	struct out o = { 0 };

	/* One line, within CTL_TIMEOUT_MS. */
	while (len < sizeof(req) - 1 && poll(&p, 1, CTL_TIMEOUT_MS) > 0) {
		ssize_t r = read(c, req + len, sizeof(req) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(req, '\n', len))
			break;
	}
	req[len] = 0;
	req[strcspn(req, "\r\n")] = 0;
	answer(req, &o, b, aq);
	for (size_t off = 0; off < o.len;) {
		ssize_t w;

		p.events = POLLOUT;
		if (poll(&p, 1, CTL_TIMEOUT_MS) <= 0)
			break;
		w = send(c, o.buf + off, o.len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(o.buf);
}

void ctl_serve(int fd, pvcalls_back *b, struct audit_q *aq)
{
	for (int i = 0; i < 8; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0)
			return;
		serve_one(c, b, aq);
		close(c);
	}
}
