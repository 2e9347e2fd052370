/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-conformance: runs every case against one backend and prints
 *
 *   PASS name
 *   FAIL name: why
 *   DIVERGES name: what (expected: what the spec says)
 *   SKIP name: why
 *   N passed, N failed, N skipped
 *
 * DIVERGES means the backend did what its profile documents and that
 * differs from the spec; it counts as passed. That includes a request the
 * profile says crashes the backend, which is not sent without --unsafe,
 * and a data stall the profile explains (lost_eoi). The exit status is 0
 * iff no case failed.
 */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"
#include <pvcalls_tools.h> /* generated: --version */

int tscale = 1;
bool unsafe;

const char why_map_fail[] =
	"pvcalls_new_active_socket() fails (ring_order above 4, or a grant map or event "
	"channel bind refused) and its error path does list_del() on a node it never "
	"added: kernel BUG in pvcalls_new_active_socket error path (list_del of an "
	"unlinked node), seen on 6.1.192 (docs/protocol-notes.md, \"Hostile frontend\")";

/* ------------------------------------------------------------------ */
/* Verdicts                                                             */

static void note(struct tc *tc, enum verdict v, const char *fmt, va_list ap)
{
	/* Keep the first message of the worst verdict. */
	if (v < tc->verdict || (v == tc->verdict && tc->msg[0]))
		return;
	tc->verdict = v;
	vsnprintf(tc->msg, sizeof(tc->msg), fmt, ap);
}

void tc_fail(struct tc *tc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (tc->verbose) {
		va_list aq;

		va_copy(aq, ap);
		fprintf(stderr, "  [%s] fail: ", tc->def->name);
		vfprintf(stderr, fmt, aq);
		fputc('\n', stderr);
		va_end(aq);
	}
	note(tc, V_FAIL, fmt, ap);
	va_end(ap);
}

void tc_diverge(struct tc *tc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note(tc, V_DIVERGES, fmt, ap);
	va_end(ap);
}

bool crash_guard(struct tc *tc, const char *what, const char *why)
{
	if (!tc->p->map_fail_crashes || unsafe)
		return false;
	tc_diverge(tc, "%s: not sent (--unsafe sends it): on the %s backend %s", what, tc->p->name,
		   why);
	return true;
}

void tc_skip(struct tc *tc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note(tc, V_SKIP, fmt, ap);
	va_end(ap);
}

void tc_log(struct tc *tc, const char *fmt, ...)
{
	va_list ap;

	if (!tc->verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  [%s] ", tc->def->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int tc_fd(struct tc *tc, int fd)
{
	if (fd < 0)
		return fd;
	if (tc->nfd == sizeof(tc->fds) / sizeof(tc->fds[0])) {
		tc_fail(tc, "suite: too many fds");
		close(fd);
		return -1;
	}
	tc->fds[tc->nfd++] = fd;
	return fd;
}

void tc_close_fd(struct tc *tc, int fd)
{
	for (unsigned i = 0; i < tc->nfd; i++) {
		if (tc->fds[i] == fd) {
			tc->fds[i] = tc->fds[--tc->nfd];
			break;
		}
	}
	if (fd >= 0)
		close(fd);
}

const char *xstr(int32_t v, char buf[32])
{
	static const struct {
		int32_t v;
		const char *n;
	} names[] = {
		{ -4, "EINTR" },          { -9, "EBADF" },        { -11, "EAGAIN" },
		{ -12, "ENOMEM" },        { -14, "EFAULT" },      { -17, "EEXIST" },
		{ -22, "EINVAL" },        { -24, "EMFILE" },      { -28, "ENOSPC" },
		{ -32, "EPIPE" },         { -71, "EPROTO" },      { -95, "EOPNOTSUPP" },
		{ -97, "EAFNOSUPPORT" },  { -98, "EADDRINUSE" },  { -99, "EADDRNOTAVAIL" },
		{ -103, "ECONNABORTED" }, { -104, "ECONNRESET" }, { -105, "ENOBUFS" },
		{ -106, "EISCONN" },      { -107, "ENOTCONN" },   { -110, "ETIMEDOUT" },
		{ -111, "ECONNREFUSED" }, { -125, "ECANCELED" },  { -524, "ENOTSUPP" },
	};

	switch (v) {
	case X_NONE:
		return "no response";
	case X_ANYERR:
		return "an error";
	case X_UNSPEC:
		return "unspecified";
	case X_OK_OR_ERR:
		return "any response";
	case 0:
		return "0";
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].v == v) {
			snprintf(buf, 32, "-%s (%d)", names[i].n, v);
			return buf;
		}
	}
	snprintf(buf, 32, "%d", v);
	return buf;
}

static bool matches(int32_t got, int32_t exp)
{
	switch (exp) {
	case X_ANYERR:
		return got < 0 && got != X_NONE;
	case X_OK_OR_ERR:
		return got != X_NONE;
	case X_UNSPEC:
		return true;
	}
	return got == exp;
}

bool judge(struct tc *tc, const char *what, int32_t got, int32_t exp, int32_t spec)
{
	char b1[32], b2[32];

	if (!matches(got, exp)) {
		tc_fail(tc, "%s: expected %s, got %s", what, xstr(exp, b1), xstr(got, b2));
		return false;
	}
	tc_ok(tc);
	if (!matches(got, spec))
		tc_diverge(tc, "%s: got %s (expected: %s per the spec)", what, xstr(got, b1),
			   xstr(spec, b2));
	return true;
}

/* ------------------------------------------------------------------ */
/* Runner                                                               */

static const struct case_def *const tables[] = {
	cases_negotiation, cases_cmdring, cases_socket, cases_passive, cases_data,  cases_hostile,
	cases_ext,         cases_inet6,   cases_dgram,  cases_reuse,   cases_final,
};

static const char *current_case;

static void watchdog(int sig)
{
	static const char pre[] = "FAIL ";
	static const char post[] = ": watchdog: the case hung\n";

	(void)sig;
	if (write(STDOUT_FILENO, pre, sizeof(pre) - 1) < 0 ||
	    write(STDOUT_FILENO, current_case, strlen(current_case)) < 0 ||
	    write(STDOUT_FILENO, post, sizeof(post) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void run_case(const struct case_def *def, struct target *tg, const struct profile *p,
		     int verbose, unsigned *counts)
{
	static const char *const label[] = { "PASS", "DIVERGES", "SKIP", "FAIL" };
	struct tc tc = { .def = def, .tg = tg, .p = p, .verbose = verbose };

	current_case = def->name;
	alarm(60 * (unsigned)tscale);
	def->fn(&tc);
	for (unsigned i = tc.nfe; i-- > 0;) {
		fe_close(tc.fes[i]);
		free(tc.fes[i]);
	}
	while (tc.nfd)
		tc_close_fd(&tc, tc.fds[tc.nfd - 1]);
	if (target_backend_error(tg))
		tc_fail(&tc, "the in-process backend's loop failed");
	alarm(0);
	/* A case that returned early (a setup step failed quietly) or checks
	 * nothing must not count as a pass. */
	if (tc.verdict == V_PASS && tc.checks == 0)
		tc_fail(&tc, "no check ran: a setup step failed without a verdict");
	if (tc.verdict == V_PASS)
		printf("PASS %s\n", def->name);
	else
		printf("%s %s: %s\n", label[tc.verdict], def->name, tc.msg);
	fflush(stdout);
	counts[tc.verdict]++;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvcalls-conformance [--self | --self-v1 | --shm PATH | --xen]\n"
		   "                           [--profile libpvcalls|linux] [--only GLOB]...\n"
		   "                           [--timeout-scale N] [--unsafe] [--list] [-v]\n"
		   "  --self          in-process shm hub running our backend (default)\n"
		   "  --self-v1       the same, offering no extension (the ext. cases skip)\n"
		   "  --shm PATH      guests of the shm hub at PATH (e.g. pvcallsd --shm PATH)\n"
		   "  --xen           the Xen transport (this domain, device 0)\n"
		   "  --profile NAME  expected backend behaviour (default libpvcalls)\n"
		   "  --only GLOB     run only the cases whose name matches (repeatable)\n"
		   "  --timeout-scale N  multiply every deadline by N (slow machines)\n"
		   "  --unsafe        also send the requests the profile says crash the\n"
		   "                  backend (linux: CONNECT/ACCEPT whose mapping fails,\n"
		   "                  ACCEPT before LISTEN); without it they are not sent\n"
		   "                  and their cases report DIVERGES\n"
		   "  --list          print the case names and exit\n"
		   "  -v              log details and the library's messages to stderr\n");
}

static bool selected(const char *name, char **only, int nonly)
{
	if (!nonly)
		return true;
	for (int i = 0; i < nonly; i++)
		if (!fnmatch(only[i], name, 0))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	enum target_mode mode = TGT_SELF;
	const char *path = NULL, *pname = "libpvcalls";
	const struct profile *p;
	struct target *tg;
	char *only[32];
	int nonly = 0, verbose = 0, list = 0, rc;
	unsigned counts[4] = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--self")) {
			mode = TGT_SELF;
		} else if (!strcmp(argv[i], "--self-v1")) {
			mode = TGT_SELF;
			target_self_ext_off = ~0u;
		} else if (!strcmp(argv[i], "--shm") && i + 1 < argc) {
			mode = TGT_SHM;
			path = argv[++i];
		} else if (!strcmp(argv[i], "--xen")) {
			mode = TGT_XEN;
		} else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
			pname = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc && nonly < 32) {
			only[nonly++] = argv[++i];
		} else if (!strcmp(argv[i], "--timeout-scale") && i + 1 < argc) {
			tscale = atoi(argv[++i]);
			if (tscale < 1 || tscale > 100) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--unsafe")) {
			unsafe = true;
		} else if (!strcmp(argv[i], "--list")) {
			list = 1;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "--version")) {
			return pvcalls_tool_version("pvcalls-conformance");
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	p = profile_find(pname);
	if (!p) {
		fprintf(stderr, "pvcalls-conformance: unknown profile '%s'\n", pname);
		return 2;
	}
	if (list) {
		for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
			for (const struct case_def *c = tables[t]; c->name; c++)
				if (selected(c->name, only, nonly))
					printf("%s\n", c->name);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (verbose)
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);

	rc = target_open(mode, path, &tg);
	if (rc < 0) {
		fprintf(stderr, "pvcalls-conformance: cannot open the target: %s\n",
			pvcalls_strerror(rc));
		return rc == -EOPNOTSUPP ? 77 : 1;
	}
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct case_def *c = tables[t]; c->name; c++)
			if (selected(c->name, only, nonly))
				run_case(c, tg, p, verbose, counts);
	target_close(tg);

	if (counts[V_DIVERGES])
		printf("(%u of the passed cases diverge from the spec as the %s profile "
		       "documents)\n",
		       counts[V_DIVERGES], p->name);
	printf("%u passed, %u failed", counts[V_PASS] + counts[V_DIVERGES], counts[V_FAIL]);
	if (counts[V_SKIP])
		printf(", %u skipped", counts[V_SKIP]);
	printf("\n");
	return counts[V_FAIL] ? 1 : 0;
}
