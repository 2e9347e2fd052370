/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a root-only (0600) SOCK_STREAM Unix socket. A client
 * sends one line ("list", "stats", "close DOMID") and reads the answer
 * until EOF; an answer starting with "error:" is a failure. Served on the
 * backend's thread between event-loop rounds, and never waits there: each
 * connection is non-blocking with its own request and answer buffers, is
 * read and written as far as it goes without blocking, and is closed at
 * its deadline (CTL_DEADLINE_MS from accept) whatever it has done. A
 * client that sends a byte now and then (root's, but still) once froze
 * every guest for seconds; now it costs a read() per round.
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
#include <time.h>
#include <unistd.h>

#include <pvcalls/proto.h>
#include <pvcalls/wire.h>
#include <pvcalls/wire_ext.h>

#include "daemon.h"

#define CTL_DEADLINE_MS 2000 /* a connection's whole life */
#define CTL_CONNS 8          /* at once; beyond, new ones are closed */
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

static void ctl_drop_all(void);

void ctl_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	ctl_drop_all();
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
		outf(o, "  cmd_%s %llu ok %llu failed\n",
		     pvcalls_cmd_name(PVCALLS_EXT_SHUTDOWN + i),
		     (unsigned long long)(st->ext_commands[i] - st->ext_commands_failed[i]),
		     (unsigned long long)st->ext_commands_failed[i]);
	outf(o,
	     "  bad_commands %llu\n  policy_denied %llu\n  rate_limited %llu\n"
	     "  limit_hits %llu\n  bytes_to_guest %llu\n  bytes_from_guest %llu\n"
	     "  ring_full_stalls %llu\n  notifies_sent %llu\n  notifies_suppressed %llu\n"
	     "  protocol_errors %llu\n",
	     (unsigned long long)st->bad_commands, (unsigned long long)st->policy_denied,
	     (unsigned long long)st->rate_limited, (unsigned long long)st->limit_hits,
	     (unsigned long long)st->bytes_to_guest, (unsigned long long)st->bytes_from_guest,
	     (unsigned long long)st->ring_full_stalls, (unsigned long long)st->notifies_sent,
	     (unsigned long long)st->notifies_suppressed, (unsigned long long)st->protocol_errors);
	/* Ring reuse (docs/extensions.md, "Ring reuse"). */
	outf(o, "  rings_parked %llu\n  rings_reused %llu\n", (unsigned long long)st->rings_parked,
	     (unsigned long long)st->rings_reused);
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

struct conn {
	bool used;
	int fd;
	int64_t deadline_ms;
	char req[128];
	size_t len;
	bool answered;
	struct out o;
	size_t off;
};

static struct conn conns[CTL_CONNS]; /* zeroed: all free */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->o.buf);
	memset(c, 0, sizeof(*c));
}

/* As far as it goes without waiting; false when the connection is done. */
static bool conn_step(struct conn *c, pvcalls_back *b, struct audit_q *aq)
{
	while (!c->answered) {
		ssize_t r = recv(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true; /* the rest later */
		if (r > 0)
			c->len += (size_t)r;
		/* A line, a full buffer, or the end (or an error): answer. */
		if (r <= 0 || memchr(c->req, '\n', c->len) || c->len == sizeof(c->req) - 1) {
			c->req[c->len] = 0;
			c->req[strcspn(c->req, "\r\n")] = 0;
			answer(c->req, &c->o, b, aq);
			c->answered = true;
		}
	}
	while (c->off < c->o.len) {
		ssize_t w = send(c->fd, c->o.buf + c->off, c->o.len - c->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		c->off += (size_t)w;
	}
	return false;
}

void ctl_serve(int fd, pvcalls_back *b, struct audit_q *aq)
{
	int64_t now = mono_ms();

	for (int i = 0; i < CTL_CONNS; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *slot = NULL;

		if (c < 0)
			break;
		for (int j = 0; j < CTL_CONNS && !slot; j++)
			if (!conns[j].used)
				slot = &conns[j];
		if (!slot) {
			close(c); /* busy: the client sees EOF, no answer */
			continue;
		}
		slot->used = true;
		slot->fd = c;
		slot->deadline_ms = now + CTL_DEADLINE_MS;
	}
	for (int i = 0; i < CTL_CONNS; i++) {
		struct conn *c = &conns[i];

		if (!c->used)
			continue;
		if (!conn_step(c, b, aq) || mono_ms() >= c->deadline_ms)
			conn_close(c);
	}
}

static void ctl_drop_all(void)
{
	for (int i = 0; i < CTL_CONNS; i++)
		if (conns[i].used)
			conn_close(&conns[i]);
}
