/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-nc: a netcat-like PV Calls frontend client.
 *
 *   pvcalls-nc [--shm PATH | --xen] HOST PORT        connect, relay stdin/stdout
 *   pvcalls-nc [--shm PATH | --xen] -l [HOST] PORT   listen, accept one, relay
 *
 * Every socket call goes to the backend over PV Calls; the sockets live
 * in the backend's domain. stdin is sent until EOF; received data goes to
 * stdout until the peer closes. When the backend offers the SHUTDOWN
 * extension (docs/extensions.md), the end of stdin is passed on as a
 * half-close (shutdown(SHUT_WR)), so a server that reads its request to
 * end of stream still answers; without it the peer never learns of it.
 *
 * --xen runs over real Xen (a domU with a pvcalls device, or dom0 with one
 * written by hand) instead of the shared-memory hub; it needs a build with
 * PVCALLS_HAVE_XEN (libpvcalls-xen).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>
#ifdef PVCALLS_HAVE_XEN
#include <pvcalls/xen.h>
#endif

/* The hub pvcallsd serves by default: the build passes it (CMake:
 * PVCALLS_SHM_HUB; installed: `pkg-config --variable=shm_hub pvcalls`). */
#ifndef PVCALLS_SHM_HUB_DEFAULT
#error "define PVCALLS_SHM_HUB_DEFAULT: -DPVCALLS_SHM_HUB_DEFAULT=\"$(pkg-config --variable=shm_hub pvcalls)\""
#endif

struct relay {
	pvcalls_front *fe;
	int s;
	int err;
};

/* stdin -> socket, in its own thread so the main thread can receive. */
static void *pump_stdin(void *arg)
{
	struct relay *r = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) > 0) {
		ssize_t w = pvcalls_front_send(r->fe, r->s, buf, (size_t)n, 0);

		if (w < 0) {
			r->err = (int)w;
			return NULL;
		}
	}
	if (pvcalls_front_features(r->fe) & PVCALLS_FEATURE_SHUTDOWN) {
		int rc = pvcalls_front_shutdown(r->fe, r->s, SHUT_WR);

		if (rc < 0 && rc != -ENOTCONN)
			r->err = rc;
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcalls-nc [--shm PATH | --xen] [-v] HOST PORT\n"
		"       pvcalls-nc [--shm PATH | --xen] [-v] -l [HOST] PORT\n"
		"  --shm PATH  the backend's shared-memory hub (default $PVCALLS_SHM,\n"
		"              else " PVCALLS_SHM_HUB_DEFAULT ")\n"
		"  --xen       use real Xen: this domain's pvcalls device%s\n"
		"  -l          listen on HOST (default 0.0.0.0) PORT, accept one connection\n"
		"  -v          log the library's debug messages on stderr\n"
		"  --version   print the version and exit\n"
		"PORT: 1..65535 to connect, 0..65535 to listen (0: any free port).\n",
#ifdef PVCALLS_HAVE_XEN
		"");
#else
		" (not in this build)");
#endif
}

/* A decimal port: 1..65535, or 0 too when listening. */
static int check_port(const char *port, bool listen_mode)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(port, &end, 10);
	if (!*port || *port == '-' || *port == '+' || *end || errno || v > 65535 ||
	    (v == 0 && !listen_mode)) {
		fprintf(stderr, "pvcalls-nc: bad port \"%s\" (%s..65535)\n", port,
			listen_mode ? "0" : "1");
		return -1;
	}
	return 0;
}

/* Why a socket call failed; EACCES is the backend's policy (pvcallsd.conf). */
static void report(const char *what, const char *host, const char *port, int rc)
{
	if (rc == -EACCES)
		fprintf(stderr, "pvcalls-nc: %s %s:%s: refused by the backend's policy (%s)\n",
			what, host, port, pvcalls_strerror(rc));
	else
		fprintf(stderr, "pvcalls-nc: %s %s:%s: %s\n", what, host, port,
			pvcalls_strerror(rc));
}

/* @host as an IPv4 address, or as IPv6 (an AF_INET6 socket, which needs
 * the backend's inet6 extension, docs/extensions.md, "IPv6"). */
static int resolve(const char *host, const char *port, struct sockaddr_in6 *a, socklen_t *alen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *i;
	int rc = getaddrinfo(host, port, &hints, &res);

	if (rc) {
		fprintf(stderr, "pvcalls-nc: %s:%s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	/* IPv4 first when the name has both: it needs no extension. */
	for (i = res; i && i->ai_family != AF_INET; i = i->ai_next)
		;
	if (!i)
		i = res;
	memset(a, 0, sizeof(*a));
	*alen = i->ai_addrlen <= sizeof(*a) ? i->ai_addrlen : sizeof(*a);
	memcpy(a, i->ai_addr, *alen);
	freeaddrinfo(res);
	return 0;
}

/* The Xen transport, or a clear error when it is missing or unusable. */
static int open_xen(pvcalls_transport **t)
{
#ifdef PVCALLS_HAVE_XEN
	char why[256];
	int rc = pvcalls_xen_probe(why, sizeof(why));

	if (rc < 0) {
		fprintf(stderr, "pvcalls-nc: --xen: %s\n", why);
		return rc;
	}
	rc = pvcalls_xen_open(NULL, t);
	if (rc < 0)
		fprintf(stderr, "pvcalls-nc: --xen: %s\n", pvcalls_strerror(rc));
	return rc;
#else
	(void)t;
	fprintf(stderr, "pvcalls-nc: --xen: this build has no Xen support "
			"(rebuild with libxen-dev and -DPVCALLS_XEN=ON)\n");
	return -ENOTSUP;
#endif
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shm", required_argument, NULL, 's' },
		{ "xen", no_argument, NULL, 'x' },
		{ "listen", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = getenv("PVCALLS_SHM") ? getenv("PVCALLS_SHM") : PVCALLS_SHM_HUB_DEFAULT;
	const char *what = "socket";
	const char *host, *port;
	struct sockaddr_in6 a;
	socklen_t alen = 0;
	struct relay r = { 0 };
	pvcalls_transport *t;
	pthread_t th;
	char buf[65536];
	bool listen_mode = false, use_xen = false;
	int c, rc, s;
	ssize_t n;

	while ((c = getopt_long(argc, argv, "s:lvh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'x':
			use_xen = true;
			break;
		case 'l':
			listen_mode = true;
			break;
		case 'v':
			pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pvcalls-nc (libpvcalls) %s\n", pvcalls_version());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind == 2) {
		host = argv[optind];
		port = argv[optind + 1];
	} else if (listen_mode && argc - optind == 1) {
		host = "0.0.0.0";
		port = argv[optind];
	} else {
		usage(stderr);
		return 2;
	}
	if (check_port(port, listen_mode) < 0)
		return 2;
	if (resolve(host, port, &a, &alen) < 0)
		return 1;
	if (use_xen) {
		rc = open_xen(&t);
		if (rc < 0)
			return rc == -ENOTSUP ? 2 : 1;
	} else {
		rc = pvcalls_shm_connect(path, NULL, &t);
		if (rc < 0) {
			fprintf(stderr, "pvcalls-nc: backend at %s: %s\n", path,
				pvcalls_strerror(rc));
			return 1;
		}
	}
	rc = pvcalls_front_open(t, NULL, &r.fe);
	if (rc < 0) {
		fprintf(stderr, "pvcalls-nc: negotiation: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	s = pvcalls_front_socket(r.fe, a.sin6_family, SOCK_STREAM, 0);
	if (s < 0) {
		rc = s;
		goto fail;
	}
	if (listen_mode) {
		int l = s;

		what = "bind";
		rc = pvcalls_front_bind(r.fe, l, (struct sockaddr *)&a, alen);
		if (rc == 0) {
			what = "listen";
			rc = pvcalls_front_listen(r.fe, l, 1);
		}
		if (rc == 0) {
			what = "accept";
			rc = s = pvcalls_front_accept(r.fe, l, 0);
		}
		if (rc < 0)
			goto fail;
		pvcalls_front_release(r.fe, l);
	} else {
		what = "connect";
		rc = pvcalls_front_connect(r.fe, s, (struct sockaddr *)&a, alen);
		if (rc < 0)
			goto fail;
	}
	r.s = s;
	pthread_create(&th, NULL, pump_stdin, &r);
	pthread_detach(th);
	while ((n = pvcalls_front_recv(r.fe, s, buf, sizeof(buf), 0)) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	fflush(stdout);
	rc = n < 0 ? (int)n : r.err;
	if (rc < 0)
		fprintf(stderr, "pvcalls-nc: %s\n", pvcalls_strerror(rc));
	/* The stdin thread may still be blocked in read(): just leave. */
	_exit(rc < 0 ? 1 : 0);
fail:
	report(what, host, port, rc);
	pvcalls_front_close(r.fe);
	pvcalls_transport_close(t);
	return 1;
}
