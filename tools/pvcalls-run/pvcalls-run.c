/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-run: runs a program with its TCP and UDP sockets on PV Calls
 * (LD_PRELOAD=libpvcalls-preload.so), optionally in an empty network
 * namespace so that PV Calls is its only way out. docs/man/pvcalls-run.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls_tools.h>

#define DEFAULT_HUB PVCALLS_SHM_HUB_DEFAULT
#define LIBNAME "libpvcalls-preload.so"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcalls-run [--shm PATH | --xen] [--isolate] [--dns ADDR[:PORT]] [--] "
		"PROGRAM "
		"[ARGS...]\n"
		"Runs PROGRAM with its TCP (and, when the backend offers them, UDP and IPv6)\n"
		"sockets carried by PV Calls.\n"
		"  --shm PATH   the backend's shared-memory hub (default %s)\n"
		"  --xen        the Xen transport (inside a Xen guest)\n"
		"  --isolate    run in a new, empty network namespace: PV Calls is the only\n"
		"               way out (a user namespace too when not root)\n"
		"  --dns ADDR[:PORT]  the DNS server(s) names are resolved with, instead of\n"
		"               /etc/resolv.conf's ([V6ADDR]:PORT; comma-separated list);\n"
		"               needs a backend with datagram sockets (PVCALLS_DNS)\n"
		"  --preload LIB  the shim to use (default: found next to pvcalls-run)\n"
		"  -h, --help   this text;  -V, --version  the version\n",
		DEFAULT_HUB);
}

static bool is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The shim: $PVCALLS_PRELOAD_LIB, then ../LIBDIR/pvcalls next to our
 * binary (installed: a private directory, since no program links it), then
 * the build tree. */
static int find_lib(char *out, size_t len)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *cand[] = { "/../" PVCALLS_RUN_LIBDIR "/pvcalls/" LIBNAME,
			       "/../lib/pvcalls/" LIBNAME, "/../../src/preload/" LIBNAME,
			       "/" LIBNAME };

	if (n < 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s%s", self, cand[i]);
		if (is_file(p) && realpath(p, out) && strlen(out) < len)
			return 0;
	}
	return -1;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int isolate(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];

	if (geteuid() == 0)
		return unshare(CLONE_NEWNET);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return -1;
	/* Stay who we are inside the user namespace. */
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shm", required_argument, NULL, 's' },
		{ "xen", no_argument, NULL, 'x' },
		{ "isolate", no_argument, NULL, 'i' },
		{ "preload", required_argument, NULL, 'p' },
		{ "dns", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *shm = NULL, *lib_opt = getenv("PVCALLS_PRELOAD_LIB");
	bool xen = false, iso = false;
	char lib[PATH_MAX], *pre;
	const char *old;
	int c;

	while ((c = getopt_long(argc, argv, "+s:xip:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			/* Read by the shim's resolver (src/preload/resolv.c). */
			if (!*optarg) {
				fprintf(stderr, "pvcalls-run: --dns needs ADDR[:PORT]\n");
				return 2;
			}
			setenv("PVCALLS_DNS", optarg, 1);
			break;
		case 's':
			shm = optarg;
			break;
		case 'x':
			xen = true;
			break;
		case 'i':
			iso = true;
			break;
		case 'p':
			lib_opt = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return pvcalls_tool_version("pvcalls-run");
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (shm && xen) {
		fprintf(stderr, "pvcalls-run: --shm and --xen exclude each other\n");
		return 2;
	}
	if (lib_opt && *lib_opt) {
		if (!realpath(lib_opt, lib)) {
			fprintf(stderr, "pvcalls-run: %s: %s\n", lib_opt, strerror(errno));
			return 127;
		}
	} else if (find_lib(lib, sizeof(lib)) < 0) {
		fprintf(stderr,
			"pvcalls-run: cannot find %s next to pvcalls-run "
			"(set PVCALLS_PRELOAD_LIB)\n",
			LIBNAME);
		return 127;
	}
	if (xen) {
		setenv("PVCALLS_XEN", "1", 1);
		unsetenv("PVCALLS_SHM");
	} else {
		char abs[PATH_MAX];
		const char *p = shm ? shm : DEFAULT_HUB;

		/* Absolute, so the program may chdir (the hub may not exist yet). */
		if (p[0] != '/' && p[0] != '@') {
			char cwd[PATH_MAX];

			if (realpath(p, abs)) {
				p = abs;
			} else if (getcwd(cwd, sizeof(cwd)) &&
				   (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, p) <
					   sizeof(abs)) {
				p = abs;
			}
		}
		setenv("PVCALLS_SHM", p, 1);
		unsetenv("PVCALLS_XEN");
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		pre = malloc(strlen(lib) + strlen(old) + 2);
		if (!pre)
			return 127;
		sprintf(pre, "%s:%s", lib, old);
	} else {
		pre = lib;
	}
	setenv("LD_PRELOAD", pre, 1);
	if (iso && isolate() < 0) {
		fprintf(stderr, "pvcalls-run: --isolate: cannot make a network namespace: %s\n",
			strerror(errno));
		return 126;
	}
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "pvcalls-run: %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
