/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-demo: PV Calls end to end on one machine, no Xen needed.
 *
 * The parent process plays the backend domain: a shared-memory transport
 * hub, the libpvcalls backend, and an ordinary TCP server on 127.0.0.1.
 * The child process plays the guest: it connects to the hub, negotiates a
 * PV Calls frontend, and uses only the frontend's socket calls to
 *   1. fetch data from the TCP server through the backend, and
 *   2. listen for and serve a connection made from the host side.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

/*
 * Usage: pvcalls-demo [--help | --version]. It needs no backend of its own:
 * it starts one, on a private hub in a temporary directory.
 */

#define FETCH_BYTES (64u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over a stream, so both ends can compare without storing it. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void pattern(uint8_t *buf, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)((off + i) * 2654435761u >> 13);
}

/* --- host side: a TCP server that sends FETCH_BYTES and closes -------- */

struct server {
	int lfd;
	uint16_t port;
	uint64_t sum;
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	static uint8_t buf[65536];
	uint64_t sent = 0, h = 0xcbf29ce484222325ull;
	int c = accept(sv->lfd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (sent < FETCH_BYTES) {
		size_t n = sizeof(buf);

		pattern(buf, n, sent);
		h = fnv(h, buf, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(c, buf + off, n - off);

			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
		sent += n;
	}
	sv->sum = h;
out:
	close(c);
	return NULL;
}

static int tcp_listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("demo: tcp server");
		exit(1);
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port that is free now, for the guest to listen on. */
static uint16_t free_port(void)
{
	uint16_t p;
	int fd = tcp_listen(&p);

	close(fd);
	return p;
}

/* --- guest side: only libpvcalls frontend calls ------------------------ */

static int guest(const char *hub, uint16_t server_port, uint16_t listen_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static uint8_t buf[65536];
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint64_t got = 0, h = 0xcbf29ce484222325ull;
	double t0;
	int s, l, c, rc;
	ssize_t n;

	rc = pvcalls_shm_connect(hub, NULL, &t);
	if (rc == 0)
		rc = pvcalls_front_open(t, NULL, &fe);
	if (rc < 0) {
		fprintf(stderr, "guest: cannot reach the backend: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	printf("guest:   frontend connected (ring order %u max, wait hints %s)\n",
	       pvcalls_front_max_order(fe), pvcalls_front_wait_hint(fe) ? "on" : "off");

	/* 1. Fetch from the host's TCP server through the backend. */
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(server_port);
	rc = s < 0 ? s : pvcalls_front_connect(fe, s, (struct sockaddr *)&a, sizeof(a));
	if (rc < 0) {
		fprintf(stderr, "guest: connect: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	t0 = now_s();
	while ((n = pvcalls_front_recv(fe, s, buf, sizeof(buf), 0)) > 0) {
		h = fnv(h, buf, (size_t)n);
		got += (uint64_t)n;
	}
	if (n < 0) {
		fprintf(stderr, "guest: recv: %s\n", pvcalls_strerror((int)n));
		return 1;
	}
	printf("guest:   fetched %" PRIu64 " MiB from 127.0.0.1:%u through the backend "
	       "in %.2f s (%.2f GB/s), checksum %016" PRIx64 "\n",
	       got >> 20, server_port, now_s() - t0, (double)got / 1e9 / (now_s() - t0), h);
	pvcalls_front_release(fe, s);
	fflush(stdout);
	/* Tell the parent what we saw; it compares with what it sent. */
	fprintf(stderr, "%016" PRIx64 "\n", h);

	/* 2. Serve a connection made from the host. */
	l = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(listen_port);
	rc = l < 0 ? l : pvcalls_front_bind(fe, l, (struct sockaddr *)&a, sizeof(a));
	if (rc == 0)
		rc = pvcalls_front_listen(fe, l, 4);
	if (rc < 0) {
		fprintf(stderr, "guest: listen: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	printf("guest:   listening on 127.0.0.1:%u (the socket lives in the backend)\n",
	       listen_port);
	fflush(stdout);
	c = pvcalls_front_accept(fe, l, 0);
	if (c < 0) {
		fprintf(stderr, "guest: accept: %s\n", pvcalls_strerror(c));
		return 1;
	}
	n = pvcalls_front_recv(fe, c, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = 0;
		printf("guest:   accepted a connection, received \"%s\", answering\n", buf);
		fflush(stdout);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z')
				buf[i] = (uint8_t)(buf[i] - 32);
		pvcalls_front_send(fe, c, buf, (size_t)n, 0);
	}
	pvcalls_front_release(fe, c);
	pvcalls_front_release(fe, l);
	pvcalls_front_close(fe);
	pvcalls_transport_close(t);
	return 0;
}

/* --- backend side ------------------------------------------------------ */

static volatile int stop;

static void *backend_loop(void *arg)
{
	pvcalls_back_run(arg, &stop);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvcalls-demo [--help | --version]\n"
		   "  Starts a PV Calls backend and, in a second process, a frontend, both\n"
		   "  over a private shared-memory hub: the frontend fetches 64 MiB from a\n"
		   "  local TCP server through the backend, then serves a connection made\n"
		   "  from the host side. Exits 0 when every byte matched.\n"
		   "  PVCALLS_DEBUG=1 in the environment logs the library's debug messages.\n");
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/pvcalls-demo-XXXXXX", hub_path[64], line[64], reply[64];
	struct server sv = { 0 };
	struct pvcalls_back_stats st;
	pvcalls_transport *hub;
	pvcalls_back *back;
	pthread_t bt, st_thr;
	uint16_t lport;
	int pipefd[2], status, rc, ok = 1;
	FILE *childerr;
	pid_t pid;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("pvcalls-demo (libpvcalls) %s\n", pvcalls_version());
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "pvcalls-demo: unexpected argument '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getenv("PVCALLS_DEBUG"))
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_DEBUG);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(hub_path, sizeof(hub_path), "%s/hub", dir);
	sv.lfd = tcp_listen(&sv.port);
	lport = free_port();
	rc = pvcalls_shm_listen(hub_path, NULL, &hub);
	if (rc == 0)
		rc = pvcalls_back_new(hub, NULL, &back);
	if (rc < 0) {
		fprintf(stderr, "backend: %s\n", pvcalls_strerror(rc));
		return 1;
	}
	printf("pvcalls-demo: a backend and a frontend in two processes, over shared memory\n");
	printf("backend: serving on %s; a TCP server waits on 127.0.0.1:%u\n", hub_path, sv.port);
	fflush(stdout);
	if (pipe(pipefd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		_exit(guest(hub_path, sv.port, lport));
	}
	close(pipefd[1]);
	childerr = fdopen(pipefd[0], "r");
	pthread_create(&bt, NULL, backend_loop, back);
	pthread_create(&st_thr, NULL, serve, &sv);

	/* The guest prints its checksum on stderr once the fetch is done. */
	if (!fgets(line, sizeof(line), childerr)) {
		ok = 0;
	} else {
		pthread_join(st_thr, NULL);
		if (strtoull(line, NULL, 16) == sv.sum) {
			printf("backend: the guest's checksum matches what the server sent\n");
		} else {
			printf("backend: CHECKSUM MISMATCH: %s", line);
			ok = 0;
		}
		fflush(stdout);
	}

	/* Connect to the guest's listener from the host, as any client would. */
	if (ok) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(lport),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int c = -1;

		for (int tries = 0; tries < 200; tries++) {
			c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0)
				break;
			close(c);
			c = -1;
			usleep(10000);
		}
		if (c >= 0 && write(c, "hello from the host", 19) == 19) {
			ssize_t n = read(c, reply, sizeof(reply) - 1);

			reply[n > 0 ? n : 0] = 0;
			printf("host:    connected to the guest's listener, it answered \"%s\"\n",
			       reply);
			ok = strcmp(reply, "HELLO FROM THE HOST") == 0;
		} else {
			ok = 0;
		}
		if (c >= 0)
			close(c);
	}
	while (fgets(line, sizeof(line), childerr))
		fputs(line, stderr);
	waitpid(pid, &status, 0);
	ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	pvcalls_back_get_stats(back, &st);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(bt, NULL);
	printf("backend: %" PRIu64 " commands served, %" PRIu64 " bytes to the guest, "
	       "%" PRIu64 " from it\n",
	       st.commands[0] + st.commands[1] + st.commands[2] + st.commands[3] + st.commands[4] +
		       st.commands[5] + st.commands[6],
	       st.bytes_to_guest, st.bytes_from_guest);
	pvcalls_back_free(back);
	pvcalls_transport_close(hub);
	close(sv.lfd);
	rmdir(dir);
	printf("pvcalls-demo: %s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}
