/* SPDX-License-Identifier: MIT */
/*
 * pvcallsd: the PV Calls backend as a program. It runs in the foreground,
 * serves every frontend its transport brings, and stops cleanly on
 * SIGINT or SIGTERM.
 *
 *   pvcallsd (--shm PATH | --xen) [--max-ring-order N] [--max-sockets N]
 *            [--max-listeners N] [--spin-us N] [-v]
 *
 * --shm makes it the hub of the shared-memory transport (guests connect
 * to PATH); --xen serves this Xen domain's backend/pvcalls devices (built
 * only with libpvcalls-xen, PVCALLS_HAVE_XEN).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>
#ifdef PVCALLS_HAVE_XEN
#include <pvcalls/xen.h>
#endif

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* One way of obtaining the backend's transport. */
struct transport_kind {
	int (*open)(const char *arg, pvcalls_transport **t);
	const char *what; /* for messages and the status line */
};

static int open_shm(const char *path, pvcalls_transport **t)
{
	int rc = pvcalls_shm_listen(path, NULL, t);

	if (rc < 0)
		fprintf(stderr, "pvcallsd: shm hub %s: %s\n", path, pvcalls_strerror(rc));
	return rc;
}

static int open_xen(const char *arg, pvcalls_transport **t)
{
#ifdef PVCALLS_HAVE_XEN
	char why[256];
	int rc = pvcalls_xen_probe(why, sizeof(why));

	(void)arg;
	if (rc < 0) {
		fprintf(stderr, "pvcallsd: --xen: %s\n", why);
		return rc;
	}
	rc = pvcalls_xen_open(NULL, t);
	if (rc < 0)
		fprintf(stderr, "pvcallsd: --xen: %s\n", pvcalls_strerror(rc));
	return rc;
#else
	(void)arg;
	(void)t;
	fprintf(stderr, "pvcallsd: --xen: this build has no Xen support "
			"(rebuild with libxen-dev and -DPVCALLS_XEN=ON)\n");
	return -ENOTSUP;
#endif
}

static const struct transport_kind kind_shm = { open_shm, "shm hub" };
static const struct transport_kind kind_xen = { open_xen, "Xen" };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcallsd (--shm PATH | --xen) [options]\n"
		"  --shm PATH            serve guests of a shared-memory hub listening on PATH\n"
		"                        ('@name' for the abstract namespace)\n"
		"  --xen                 serve the pvcalls devices of this Xen domain%s\n"
		"  --max-ring-order N    largest data ring order offered, 1..9 (default 9;\n"
		"                        Linux frontends need at least 4)\n"
		"  --max-sockets N       sockets per frontend (default 1024)\n"
		"  --max-listeners N     listening sockets per frontend (default 64)\n"
		"  --spin-us N           poll busy rings for N us before sleeping (default 20,\n"
		"                        0: never poll)\n"
		"  -v, --verbose         debug log on stderr\n"
		"  -h, --help            this text\n",
#ifdef PVCALLS_HAVE_XEN
		""
#else
		" (not in this build)"
#endif
	);
}

static int parse_num(const char *opt, const char *s, unsigned long min, unsigned long max,
		     uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "pvcallsd: %s: bad number \"%s\" (%lu..%lu)\n", opt, s, min, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shm", required_argument, NULL, 'S' },
		{ "xen", no_argument, NULL, 'X' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-sockets", required_argument, NULL, 's' },
		{ "max-listeners", required_argument, NULL, 'l' },
		{ "spin-us", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvcalls_back_opts opts = { 0 };
	const struct transport_kind *kind = NULL;
	const char *arg = NULL;
	struct pvcalls_back_stats st;
	pvcalls_transport *t = NULL;
	struct sigaction sa;
	pvcalls_back *b = NULL;
	uint32_t spin;
	int c, rc, verbose = 0;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			kind = &kind_shm;
			arg = optarg;
			break;
		case 'X':
			kind = &kind_xen;
			arg = "";
			break;
		case 'o':
			/* 1..9: the spec's minimum (and 0 means "default" to the library). */
			if (parse_num("--max-ring-order", optarg, 1, 9, &opts.limits.max_ring_order))
				return 2;
			break;
		case 's':
			if (parse_num("--max-sockets", optarg, 1, UINT32_MAX, &opts.limits.max_sockets))
				return 2;
			break;
		case 'l':
			if (parse_num("--max-listeners", optarg, 1, UINT32_MAX,
				      &opts.limits.max_listeners))
				return 2;
			break;
		case 'u':
			if (parse_num("--spin-us", optarg, 0, 1000000, &spin))
				return 2;
			opts.spin_us = spin ? spin : PVCALLS_BACK_NO_SPIN;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !kind) {
		usage(stderr);
		return 2;
	}

	pvcalls_set_logger(pvcalls_log_stderr, NULL, verbose ? PVCALLS_LOG_DEBUG : PVCALLS_LOG_WARN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Every guest socket is a host descriptor: allow as many as we may. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	rc = kind->open(arg, &t);
	if (rc < 0)
		return 1;
	rc = pvcalls_back_new(t, &opts, &b);
	if (rc < 0) {
		fprintf(stderr, "pvcallsd: backend: %s\n", pvcalls_strerror(rc));
		pvcalls_transport_close(t);
		return 1;
	}
	printf("pvcallsd %s: serving %s%s%s (max-page-order %u, max-sockets %u, "
	       "max-listeners %u, spin %s)\n",
	       pvcalls_version(), kind->what, *arg ? " " : "", arg,
	       opts.limits.max_ring_order ? opts.limits.max_ring_order : 9,
	       opts.limits.max_sockets ? opts.limits.max_sockets : 1024,
	       opts.limits.max_listeners ? opts.limits.max_listeners : 64,
	       opts.spin_us == PVCALLS_BACK_NO_SPIN ? "off" : "on");
	fflush(stdout);

	/* The signal interrupts epoll_wait(); process() then returns at once. */
	rc = 0;
	while (!stop_signal) {
		rc = pvcalls_back_process(b, 100);
		if (rc < 0)
			break;
	}
	pvcalls_back_get_stats(b, &st);
	pvcalls_back_free(b);
	pvcalls_transport_close(t);
	if (rc < 0) {
		fprintf(stderr, "pvcallsd: event loop failed: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	if (verbose)
		fprintf(stderr, "pvcallsd: %s, %llu bytes to guests, %llu from them\n",
			stop_signal == SIGINT ? "interrupted" : "terminated",
			(unsigned long long)st.bytes_to_guest,
			(unsigned long long)st.bytes_from_guest);
	return 0;
}
