/* SPDX-License-Identifier: MIT */
/*
 * xh-peer: the plain-socket end of the Xen harness's data tests, and the
 * reference for the byte stream the other ends (pvcalls-nc, the kernel test
 * module) send and check.
 *
 *   xh-peer gen BYTES SEED            write the stream to stdout
 *   xh-peer sum                       read stdin, print "BYTES HASH"
 *   xh-peer expect BYTES SEED         print "BYTES HASH" of a stream
 *   xh-peer serve PORT   [options]    accept one connection, exchange
 *   xh-peer connect HOST PORT [options]   connect (retrying), exchange
 *     --send BYTES --seed SEED   what to send (default nothing)
 *     --expect BYTES             close once that much arrived (default: EOF)
 *     --after-rx                 send only once everything expected arrived
 *                                (a request, then the answer)
 *     --close-delay MS           wait MS before closing (so that the FIN
 *                                travels alone, not with the last data)
 *     --retry SECS               connect: keep retrying refused connects
 *     --timeout SECS             give up (default 60)
 *     --bind ADDR                serve: address to listen on (default 0.0.0.0)
 *
 * An exchange sends and receives at once (poll), then closes, and prints
 *   PEER rx=BYTES rxsum=HASH tx=BYTES txsum=HASH status=ok|<error>
 *
 * The stream of (SEED) is xorshift32 output, one byte per step; the hash is
 * 64-bit FNV-1a. tests/xen/kmod/pvcalls_kmod_test.c uses the same two.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct gen {
	uint32_t x;
};

static void gen_init(struct gen *g, uint32_t seed)
{
	g->x = seed * 2654435761u | 1u;
}

static uint8_t gen_byte(struct gen *g)
{
	g->x ^= g->x << 13;
	g->x ^= g->x >> 17;
	g->x ^= g->x << 5;
	return (uint8_t)(g->x >> 24);
}

#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_gen(unsigned long long bytes, uint32_t seed)
{
	uint8_t buf[65536];
	struct gen g;

	gen_init(&g, seed);
	while (bytes) {
		size_t n = bytes < sizeof(buf) ? (size_t)bytes : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = gen_byte(&g);
		if (write_all(1, buf, n) < 0)
			return 1;
		bytes -= n;
	}
	return 0;
}

static int cmd_sum(void)
{
	uint8_t buf[65536];
	unsigned long long total = 0;
	uint64_t h = FNV_INIT;
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("xh-peer sum");
			return 1;
		}
		h = fnv(h, buf, (size_t)n);
		total += (unsigned long long)n;
	}
	printf("%llu %016llx\n", total, (unsigned long long)h);
	return 0;
}

static int cmd_expect(unsigned long long bytes, uint32_t seed)
{
	struct gen g;
	uint64_t h = FNV_INIT;

	gen_init(&g, seed);
	for (unsigned long long i = 0; i < bytes; i++) {
		uint8_t b = gen_byte(&g);

		h = fnv(h, &b, 1);
	}
	printf("%llu %016llx\n", bytes, (unsigned long long)h);
	return 0;
}

struct opts {
	unsigned long long send, expect;
	uint32_t seed;
	int have_expect, after_rx;
	double retry, timeout, close_delay;
	const char *bind;
};

/* Sends o->send bytes and receives until o->expect bytes or EOF. */
static int exchange(int fd, const struct opts *o, double deadline)
{
	uint8_t out[16384], in[65536];
	size_t out_len = 0, out_off = 0;
	unsigned long long tx = 0, rx = 0;
	uint64_t txh = FNV_INIT, rxh = FNV_INIT;
	struct gen g;
	const char *status = "ok";
	int rx_done = 0;

	gen_init(&g, o->seed);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!rx_done || tx < o->send) {
		struct pollfd p = { .fd = fd, .events = 0 };
		double left = deadline - now();
		int may_send = tx < o->send && (!o->after_rx || rx_done);

		if (left <= 0) {
			status = "timeout";
			break;
		}
		if (!rx_done)
			p.events |= POLLIN;
		if (may_send)
			p.events |= POLLOUT;
		if (poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1) < 0 && errno != EINTR) {
			status = "poll-error";
			break;
		}
		if (!rx_done && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(fd, in, sizeof(in));

			if (n > 0) {
				rxh = fnv(rxh, in, (size_t)n);
				rx += (unsigned long long)n;
				if (o->have_expect && rx >= o->expect)
					rx_done = 1;
			} else if (n == 0) {
				rx_done = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				status = errno == ECONNRESET ? "reset" : "read-error";
				break;
			}
		}
		if (may_send && (p.revents & POLLOUT)) {
			if (out_off == out_len) {
				unsigned long long left_b = o->send - tx;

				out_len = left_b < sizeof(out) ? (size_t)left_b : sizeof(out);
				for (size_t i = 0; i < out_len; i++)
					out[i] = gen_byte(&g);
				out_off = 0;
			}
			ssize_t w = write(fd, out + out_off, out_len - out_off);

			if (w > 0) {
				txh = fnv(txh, out + out_off, (size_t)w);
				out_off += (size_t)w;
				tx += (unsigned long long)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				status = "write-error";
				break;
			}
		}
	}
	if (o->close_delay > 0)
		usleep((useconds_t)(o->close_delay * 1000));
	close(fd);
	printf("PEER rx=%llu rxsum=%016llx tx=%llu txsum=%016llx status=%s\n", rx,
	       (unsigned long long)rxh, tx, (unsigned long long)txh, status);
	fflush(stdout);
	return strcmp(status, "ok") ? 1 : 0;
}

static int parse_addr(const char *host, const char *port, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		fprintf(stderr, "xh-peer: %s: not an IPv4 address\n", host);
		return -1;
	}
	return 0;
}

static int cmd_serve(const char *port, const struct opts *o)
{
	double deadline = now() + o->timeout;
	struct sockaddr_in a;
	int one = 1, l, fd;

	if (parse_addr(o->bind ? o->bind : "0.0.0.0", port, &a) < 0)
		return 2;
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0) {
		printf("PEER rx=0 rxsum=- tx=0 txsum=- status=listen-error:%s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "xh-peer: listening on port %s\n", port);
	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		double left = deadline - now();

		if (left <= 0) {
			printf("PEER rx=0 rxsum=- tx=0 txsum=- status=no-connection\n");
			return 1;
		}
		if (poll(&p, 1, 1000) > 0)
			break;
	}
	fd = accept(l, NULL, NULL);
	close(l);
	if (fd < 0) {
		printf("PEER rx=0 rxsum=- tx=0 txsum=- status=accept-error:%s\n", strerror(errno));
		return 1;
	}
	return exchange(fd, o, deadline);
}

static int cmd_connect(const char *host, const char *port, const struct opts *o)
{
	double start = now(), deadline = start + o->timeout;
	struct sockaddr_in a;
	int fd;

	if (parse_addr(host, port, &a) < 0)
		return 2;
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		int e = errno;

		close(fd);
		if (now() - start >= o->retry || (e != ECONNREFUSED && e != ETIMEDOUT)) {
			printf("PEER rx=0 rxsum=- tx=0 txsum=- status=connect-error:%s\n",
			       strerror(e));
			return 1;
		}
		usleep(200000);
	}
	return exchange(fd, o, deadline);
}

static void usage(void)
{
	fprintf(stderr, "usage: xh-peer gen BYTES SEED | sum | expect BYTES SEED\n"
			"       xh-peer serve PORT [--bind ADDR] [opts]\n"
			"       xh-peer connect HOST PORT [--retry SECS] [opts]\n"
			"  opts: --send BYTES --seed SEED --expect BYTES --after-rx\n"
			"        --close-delay MS --timeout SECS\n");
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout = 60 };
	const char *pos[3] = { 0 };
	int npos = 0;

	if (argc < 2) {
		usage();
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] == '-' && a[1] == '-' && !v && strcmp(a, "--after-rx")) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--send"))
			o.send = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--seed"))
			o.seed = (uint32_t)strtoul(v, NULL, 0), i++;
		else if (!strcmp(a, "--expect"))
			o.expect = strtoull(v, NULL, 0), o.have_expect = 1, i++;
		else if (!strcmp(a, "--after-rx"))
			o.after_rx = 1;
		else if (!strcmp(a, "--close-delay"))
			o.close_delay = atof(v), i++;
		else if (!strcmp(a, "--retry"))
			o.retry = atof(v), i++;
		else if (!strcmp(a, "--timeout"))
			o.timeout = atof(v), i++;
		else if (!strcmp(a, "--bind"))
			o.bind = v, i++;
		else if (npos < 3)
			pos[npos++] = a;
		else {
			usage();
			return 2;
		}
	}
	if (!strcmp(argv[1], "gen") && npos == 2)
		return cmd_gen(strtoull(pos[0], NULL, 0), (uint32_t)strtoul(pos[1], NULL, 0));
	if (!strcmp(argv[1], "sum") && npos == 0)
		return cmd_sum();
	if (!strcmp(argv[1], "expect") && npos == 2)
		return cmd_expect(strtoull(pos[0], NULL, 0), (uint32_t)strtoul(pos[1], NULL, 0));
	if (!strcmp(argv[1], "serve") && npos == 1)
		return cmd_serve(pos[0], &o);
	if (!strcmp(argv[1], "connect") && npos == 2)
		return cmd_connect(pos[0], pos[1], &o);
	usage();
	return 2;
}
