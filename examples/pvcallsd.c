/* SPDX-License-Identifier: MIT */
/*
 * pvcallsd: the PV Calls backend as a program. It runs in the foreground,
 * serves every frontend its transport brings, and stops cleanly on
 * SIGINT or SIGTERM.
 *
 *   pvcallsd --shm PATH [--max-ring-order N] [--max-sockets N]
 *            [--max-listeners N] [--spin-us N] [-v]
 *
 * Transports are chosen through the table below; --xen joins it when the
 * Xen transport exists.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* One way of obtaining the backend's transport. */
struct transport_kind {
	const char *option;
	int (*open)(const char *arg, pvcalls_transport **t);
	const char *what; /* for the status line */
};

static int open_shm(const char *path, pvcalls_transport **t)
{
	return pvcalls_shm_listen(path, NULL, t);
}

/* XEN: add { "xen", open_xen, "Xen" } once src/transport/xen exists. */
static const struct transport_kind kinds[] = {
	{ "shm", open_shm, "shm hub" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcallsd --shm PATH [options]\n"
		"  --shm PATH            serve guests of a shared-memory hub listening on PATH\n"
		"                        ('@name' for the abstract namespace)\n"
		"  --max-ring-order N    largest data ring order offered, 1..9 (default 9;\n"
		"                        Linux frontends need at least 4)\n"
		"  --max-sockets N       sockets per frontend (default 1024)\n"
		"  --max-listeners N     listening sockets per frontend (default 64)\n"
		"  --spin-us N           poll busy rings for N us before sleeping (default 20,\n"
		"                        0: never poll)\n"
		"  -v, --verbose         debug log on stderr\n"
		"  -h, --help            this text\n");
}

static int parse_num(const char *opt, const char *s, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "pvcallsd: %s: bad number \"%s\" (0..%lu)\n", opt, s, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shm", required_argument, NULL, 'S' },
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
	bool order_set = false;
	uint32_t spin;
	int c, rc, verbose = 0;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			kind = &kinds[0];
			arg = optarg;
			break;
		case 'o':
			if (parse_num("--max-ring-order", optarg, 9, &opts.limits.max_ring_order))
				return 2;
			order_set = true;
			break;
		case 's':
			if (parse_num("--max-sockets", optarg, UINT32_MAX, &opts.limits.max_sockets))
				return 2;
			break;
		case 'l':
			if (parse_num("--max-listeners", optarg, UINT32_MAX,
				      &opts.limits.max_listeners))
				return 2;
			break;
		case 'u':
			if (parse_num("--spin-us", optarg, 1000000, &spin))
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
	/* The spec's minimum is 1 (and the library reads 0 as "default"). */
	if (order_set && opts.limits.max_ring_order == 0) {
		fprintf(stderr, "pvcallsd: --max-ring-order: must be 1..9\n");
		return 2;
	}

	pvcalls_set_logger(pvcalls_log_stderr, NULL, verbose ? PVCALLS_LOG_DEBUG : PVCALLS_LOG_WARN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = kind->open(arg, &t);
	if (rc < 0) {
		fprintf(stderr, "pvcallsd: %s %s: %s\n", kind->what, arg, pvcalls_strerror(rc));
		return 1;
	}
	rc = pvcalls_back_new(t, &opts, &b);
	if (rc < 0) {
		fprintf(stderr, "pvcallsd: backend: %s\n", pvcalls_strerror(rc));
		pvcalls_transport_close(t);
		return 1;
	}
	printf("pvcallsd %s: serving %s %s (max-page-order %u, max-sockets %u, "
	       "max-listeners %u, spin %s)\n",
	       pvcalls_version(), kind->what, arg,
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
