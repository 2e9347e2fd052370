/* SPDX-License-Identifier: MIT */
/*
 * pvcallsctl: asks a running pvcallsd (pvcallsctl(8)).
 *
 *   pvcallsctl [-s SOCKET] list | stats | close DOMID
 *
 * Exit status (pvcallsctl(8)): 0 the daemon answered without error; 1 it
 * answered "error: ...", could not be reached, or gave no answer; 2 a
 * usage error (unknown command or option, bad DOMID, socket path too long).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvcalls_tools.h> /* generated: version, default paths */

#define DEF_SOCK PVCALLSD_CTL_DEFAULT

static void usage(FILE *f)
{
	fprintf(f, "usage: pvcallsctl [-s SOCKET] list | stats | close DOMID\n"
		   "  -s, --socket PATH  pvcallsd's control socket (default " DEF_SOCK ")\n"
		   "  -h, --help         this text\n"
		   "      --version      print the version and exit\n");
}

/* A domain id: decimal, below UINT32_MAX (as pvcallsd checks it). */
static bool domid_ok(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && !errno && v < UINT32_MAX;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = DEF_SOCK;
	char req[128], buf[4096];
	int c, fd, n, failed = -1;
	size_t len;

	while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return pvcalls_tool_version("pvcallsctl");
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && (!strcmp(argv[0], "list") || !strcmp(argv[0], "stats")))
		n = snprintf(req, sizeof(req), "%s\n", argv[0]);
	else if (argc == 2 && !strcmp(argv[0], "close") && domid_ok(argv[1]))
		n = snprintf(req, sizeof(req), "close %s\n", argv[1]);
	else if (argc == 2 && !strcmp(argv[0], "close")) {
		fprintf(stderr, "pvcallsctl: close: bad domain id \"%s\"\n", argv[1]);
		return 2;
	} else {
		usage(stderr);
		return 2;
	}
	if (n < 0 || (size_t)n >= sizeof(req) || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pvcallsctl: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "pvcallsctl: %s: %s (is pvcallsd running?)\n", path,
			strerror(errno));
		return 1;
	}
	if (write(fd, req, (size_t)n) != n) {
		fprintf(stderr, "pvcallsctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	shutdown(fd, SHUT_WR);
	while ((len = (size_t)read(fd, buf, sizeof(buf))) > 0 && len != (size_t)-1) {
		if (failed < 0)
			failed = len >= 6 && !strncmp(buf, "error:", 6);
		fwrite(buf, 1, len, failed ? stderr : stdout);
	}
	close(fd);
	if (failed < 0) {
		fprintf(stderr, "pvcallsctl: no answer from %s\n", path);
		return 1;
	}
	return failed ? 1 : 0;
}
