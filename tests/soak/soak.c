/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-soak: many connections with random message sizes through a real
 * pvcallsd over the shm transport, with guests and host peers killed at
 * random and one pvcallsd restart in the middle (issue 13; scripts/soak.sh
 * runs the long version, ctest pvcalls.soak.short a short one).
 *
 * Layout. This process is the host: it starts pvcallsd (soak_util.c) and
 * serves the host peers on 127.0.0.1 (a private network namespace when
 * user namespaces allow). Guests are child processes (this program with
 * --guest), each with its own shm transport and frontend, owning conns /
 * guests connection slots. The work is split into rounds: a round spawns
 * every guest, each slot carries its share of the round's bytes, and the
 * round ends when every guest has exited. In the middle round pvcallsd is
 * SIGKILLed and, after a pause, started again on the same hub path.
 *
 * A connection starts with a header (key, mode, length). Its bytes are
 * the stream soak_stream(key): an echo peer sends everything back and the
 * guest checks it in order; a sink peer checks it in order itself and
 * answers with an acknowledgement. Sends are random sizes from 1 byte to
 * --msg-max.
 *
 * Kills. Per round, at a random point of its progress: one guest may be
 * SIGKILLed, and some host peers are reset (SO_LINGER 0, shutdown). A
 * slot whose connection failed opens a new one (new key) for the bytes
 * not yet verified; while pvcallsd is down its socket() gets -ENOTCONN and
 * it retries for at most 20 s.
 *
 * Checks (any failure: exit 1):
 *  - every connection reported OK was verified byte for byte, in order;
 *  - a connection that failed had its host peer reset by us, or was live
 *    across the pvcallsd restart; the errors after a restart are
 *    ECONNRESET, ENOTCONN or EPIPE, and in that round new connections of
 *    the same guests succeeded afterwards (no guest restarted);
 *  - every surviving slot delivered all its bytes;
 *  - after a guest kill, pvcallsd closes every host connection of that
 *    guest within 10 s;
 *  - after every round (its kills included), pvcallsd's fd count and
 *    mapping count return exactly to their baseline, and its RSS to at
 *    most the baseline plus --rss-tol-kb (default 16 MiB), within 15 s.
 *    The fd baseline is pvcallsd idle before the first guest; the mapping
 *    and RSS baselines are taken after each pvcallsd's first round
 *    (malloc arenas and pools grow once).
 * Every wait is bounded; --duration bounds the whole run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvcalls/common.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

#include "soak_util.h"

extern char **environ;

#define HDR_MAGIC 0x534f414bu /* "SOAK" */
#define ACK_MAGIC 0x41434b21u
#define MODE_ECHO 1u
#define MODE_SINK 2u
#define MAX_GUESTS 256
#define MAX_EPOCHS 8
#define CONNECT_RETRY_MS 20000
#define PEER_GONE_MS 10000
#define SETTLE_MS 15000

struct hdr {
	uint32_t magic, mode;
	uint64_t key, bytes;
	uint32_t guest, slot;
};

struct ack {
	uint32_t magic, ok;
	uint64_t bytes;
};

/* ---------------------------------------------------------------------- */
/* Guest                                                                  */
/* ---------------------------------------------------------------------- */

struct gconn {
	pvcalls_front *fe;
	int s;
	uint64_t key, bytes;
	uint32_t msg_max;
	uint64_t rnd;
	/* results */
	uint64_t verified;
	int err;  /* first error (negative), 0 */
	bool bad; /* data mismatch */
};

static int64_t guest_t0;
static int status_fd = 3;
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	pthread_mutex_lock(&status_lock);
	if (write(status_fd, line, (size_t)n) != n) {
		/* the host is gone: nothing to tell */
	}
	pthread_mutex_unlock(&status_lock);
}

static bool send_all(pvcalls_front *fe, int s, const void *buf, size_t len, int *err)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = pvcalls_front_send(fe, s, (const uint8_t *)buf + off, len - off, 0);

		if (n <= 0) {
			*err = n < 0 ? (int)n : -EPIPE;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

static bool recv_all(pvcalls_front *fe, int s, void *buf, size_t len, int *err)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = pvcalls_front_recv(fe, s, (uint8_t *)buf + off, len - off, 0);

		if (n <= 0) {
			*err = n < 0 ? (int)n : -ENODATA; /* end of stream too early */
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* Echo mode: checks what comes back, in order. */
static void *echo_rx(void *arg)
{
	struct gconn *c = arg;
	struct soak_stream st;
	uint8_t *buf = malloc(65536);

	soak_stream_init(&st, c->key);
	while (buf && c->verified < c->bytes) {
		size_t want = c->bytes - c->verified < 65536 ? c->bytes - c->verified : 65536;
		ssize_t n = pvcalls_front_recv(c->fe, c->s, buf, want, 0);

		if (n <= 0) {
			c->err = n < 0 ? (int)n : -ENODATA;
			break;
		}
		if (soak_stream_check(&st, buf, (size_t)n) >= 0) {
			c->bad = true;
			break;
		}
		c->verified += (size_t)n;
	}
	free(buf);
	return NULL;
}

/* Sends the stream in random sizes. */
static int stream_tx(struct gconn *c)
{
	struct soak_stream st;
	uint8_t *buf = malloc(c->msg_max);
	uint64_t sent = 0;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	soak_stream_init(&st, c->key);
	while (sent < c->bytes) {
		size_t n = 1 + soak_rand(&c->rnd) % c->msg_max;

		if (n > c->bytes - sent)
			n = c->bytes - sent;
		soak_stream_fill(&st, buf, n);
		if (!send_all(c->fe, c->s, buf, n, &err))
			break;
		sent += n;
	}
	free(buf);
	return err;
}

struct slot_arg {
	pvcalls_front *fe;
	uint16_t port;
	uint32_t guest, slot, round, msg_max;
	uint64_t bytes, seed;
	int failed; /* data mismatch or a slot that could not finish */
};

static int connect_retry(pvcalls_front *fe, uint16_t port)
{
	int64_t end = soak_now_ms() + CONNECT_RETRY_MS;
	int s;

	/* While pvcallsd is down socket() fails with -ENOTCONN at once; a
	 * connect under way when it died fails too. */
	while (((s = soak_front_connect(fe, port)) == -ENOTCONN || s == -ECONNRESET ||
		s == -EPIPE) &&
	       soak_now_ms() < end)
		soak_sleep_ms(50);
	return s;
}

static void *slot_run(void *arg)
{
	struct slot_arg *a = arg;
	uint64_t left = a->bytes;

	for (uint32_t epoch = 0; left > 0 && epoch < MAX_EPOCHS; epoch++) {
		struct gconn c = { .fe = a->fe, .msg_max = a->msg_max };
		struct hdr h = { .magic = HDR_MAGIC, .guest = a->guest, .slot = a->slot };
		pthread_t rx;
		int err = 0;

		c.key = a->seed ^ ((uint64_t)a->round << 40) ^ ((uint64_t)a->guest << 24) ^
			((uint64_t)a->slot << 8) ^ epoch;
		c.rnd = c.key * 0x9e3779b97f4a7c15ULL + 1;
		c.bytes = left;
		h.key = c.key;
		h.bytes = left;
		h.mode = (soak_rand(&c.rnd) & 1) ? MODE_ECHO : MODE_SINK;
		c.s = connect_retry(a->fe, a->port);
		if (c.s < 0) {
			report("C %" PRIx64 " %u %u 0 %d connect\n", c.key, a->guest, h.mode, c.s);
			a->failed = 1;
			return NULL;
		}
		if (!send_all(a->fe, c.s, &h, sizeof(h), &err)) {
			c.err = err;
		} else if (h.mode == MODE_ECHO) {
			if (pthread_create(&rx, NULL, echo_rx, &c)) {
				c.err = -EAGAIN;
			} else {
				err = stream_tx(&c);
				pthread_join(rx, NULL);
				if (!c.err && !c.bad && c.verified < c.bytes)
					c.err = err ? err : -EIO;
			}
		} else {
			struct ack k;

			err = stream_tx(&c);
			if (err)
				c.err = err;
			else if (!recv_all(a->fe, c.s, &k, sizeof(k), &err))
				c.err = err;
			else if (k.magic != ACK_MAGIC || !k.ok || k.bytes != c.bytes)
				c.bad = true;
			else
				c.verified = c.bytes;
		}
		pvcalls_front_release(a->fe, c.s);
		if (c.bad) {
			report("C %" PRIx64 " %u %u %" PRIu64 " 0 BAD\n", c.key, a->guest, h.mode,
			       c.verified);
			a->failed = 1;
			return NULL;
		}
		report("C %" PRIx64 " %u %u %" PRIu64 " %d %s %u\n", c.key, a->guest, h.mode,
		       c.verified, c.err, c.err ? "ERR" : "OK", epoch);
		/* A sink's bytes count only once acknowledged: all or nothing. */
		left -= c.verified;
	}
	if (left)
		a->failed = 1;
	return NULL;
}

/* argv: --guest hub port guest round nslots bytes_per_slot seed msg_max */
static int guest_main(char **argv)
{
	const char *hub = argv[2];
	uint16_t port = (uint16_t)strtoul(argv[3], NULL, 10);
	uint32_t guest = (uint32_t)strtoul(argv[4], NULL, 10);
	uint32_t round = (uint32_t)strtoul(argv[5], NULL, 10);
	uint32_t nslots = (uint32_t)strtoul(argv[6], NULL, 10);
	uint64_t bytes = strtoull(argv[7], NULL, 10);
	uint64_t seed = strtoull(argv[8], NULL, 10);
	uint32_t msg_max = (uint32_t)strtoul(argv[9], NULL, 10);
	struct slot_arg *sa = calloc(nslots, sizeof(*sa));
	pthread_t *th = calloc(nslots, sizeof(*th));
	pvcalls_transport *t;
	pvcalls_front *fe;
	int rc, failed = 0;

	guest_t0 = soak_now_ms();
	if (!sa || !th || !nslots || !msg_max)
		return 2;
	rc = pvcalls_shm_connect(hub, NULL, &t);
	if (rc == 0) {
		rc = pvcalls_front_open(t, NULL, &fe);
		if (rc)
			pvcalls_transport_close(t);
	}
	if (rc) {
		report("E %u open %d\n", guest, rc);
		return 1;
	}
	for (uint32_t i = 0; i < nslots; i++) {
		sa[i] = (struct slot_arg){ .fe = fe,
					   .port = port,
					   .guest = guest,
					   .slot = i,
					   .round = round,
					   .msg_max = msg_max,
					   .bytes = bytes,
					   .seed = seed };
		if (pthread_create(&th[i], NULL, slot_run, &sa[i])) {
			report("E %u thread\n", guest);
			return 1;
		}
	}
	for (uint32_t i = 0; i < nslots; i++) {
		pthread_join(th[i], NULL);
		failed |= sa[i].failed;
	}
	pvcalls_front_close(fe);
	pvcalls_transport_close(t);
	report("D %u %d %lld\n", guest, failed, (long long)(soak_now_ms() - guest_t0));
	free(sa);
	free(th);
	return failed;
}

/* ---------------------------------------------------------------------- */
/* Host peers                                                             */
/* ---------------------------------------------------------------------- */

struct hconn {
	int fd;
	uint32_t guest;
	uint64_t key;
	bool live, reset;
	struct hconn *next;
};

static struct {
	pthread_mutex_t lock;
	struct hconn *list; /* live connections only */
	int lsn;
	uint16_t port;
	uint64_t bytes; /* atomic: payload bytes the peers received */
	uint64_t reset_keys[4096];
	unsigned nreset;
	uint64_t bad; /* atomic: sink mismatches */
} host = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool fd_read_all(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = recv(fd, (uint8_t *)buf + off, len - off, 0);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static bool fd_write_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const uint8_t *)buf + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static void *peer_run(void *arg)
{
	struct hconn *hc = arg;
	struct soak_stream st;
	struct hdr h;
	uint8_t *buf = malloc(65536);
	uint64_t got = 0;

	if (!buf || !fd_read_all(hc->fd, &h, sizeof(h)) || h.magic != HDR_MAGIC)
		goto out;
	pthread_mutex_lock(&host.lock);
	hc->key = h.key;
	hc->guest = h.guest;
	pthread_mutex_unlock(&host.lock);
	soak_stream_init(&st, h.key);
	while (got < h.bytes) {
		size_t want = h.bytes - got < 65536 ? h.bytes - got : 65536;
		ssize_t n = recv(hc->fd, buf, want, 0);

		if (n <= 0)
			goto out;
		if (h.mode == MODE_ECHO) {
			if (!fd_write_all(hc->fd, buf, (size_t)n))
				goto out;
		} else if (soak_stream_check(&st, buf, (size_t)n) >= 0) {
			__atomic_fetch_add(&host.bad, 1, __ATOMIC_RELAXED);
			goto out;
		}
		got += (size_t)n;
		__atomic_fetch_add(&host.bytes, (uint64_t)n, __ATOMIC_RELAXED);
	}
	if (h.mode == MODE_SINK) {
		struct ack k = { .magic = ACK_MAGIC, .ok = 1, .bytes = got };

		fd_write_all(hc->fd, &k, sizeof(k));
	}
	/* Until the guest releases its socket (bounded by the peer's end). */
	while (recv(hc->fd, buf, 65536, 0) > 0)
		;
out:
	pthread_mutex_lock(&host.lock);
	for (struct hconn **pp = &host.list; *pp; pp = &(*pp)->next)
		if (*pp == hc) {
			*pp = hc->next;
			break;
		}
	pthread_mutex_unlock(&host.lock);
	close(hc->fd);
	free(hc);
	free(buf);
	return NULL;
}

static void *accept_run(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(host.lsn, NULL, NULL, SOCK_CLOEXEC);
		struct hconn *hc;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return NULL;
		}
		hc = calloc(1, sizeof(*hc));
		if (!hc) {
			close(fd);
			continue;
		}
		hc->fd = fd;
		hc->guest = UINT32_MAX;
		pthread_mutex_lock(&host.lock);
		hc->next = host.list;
		host.list = hc;
		pthread_mutex_unlock(&host.lock);
		if (pthread_create(&t, NULL, peer_run, hc)) {
			pthread_mutex_lock(&host.lock);
			host.list = hc->next; /* still first: only this thread adds */
			pthread_mutex_unlock(&host.lock);
			close(fd);
			free(hc);
			continue;
		}
		pthread_detach(t);
	}
}

static int host_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	pthread_t t;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	host.lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (host.lsn < 0 || bind(host.lsn, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(host.lsn, 1024) < 0 || getsockname(host.lsn, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	host.port = ntohs(sa.sin_port);
	return pthread_create(&t, NULL, accept_run, NULL) ? -1 : 0;
}

/* Resets up to @n random live host connections that carry a stream. */
static unsigned host_reset_random(uint64_t *rnd, unsigned n)
{
	unsigned done = 0;

	pthread_mutex_lock(&host.lock);
	for (unsigned i = 0; i < n; i++) {
		unsigned count = 0, pick;
		struct hconn *hc;

		for (hc = host.list; hc; hc = hc->next)
			count += hc->key && !hc->reset;
		if (!count)
			break;
		pick = (unsigned)(soak_rand(rnd) % count);
		for (hc = host.list; hc; hc = hc->next)
			if (hc->key && !hc->reset && pick-- == 0)
				break;
		if (!hc)
			break;
		{
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(hc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		/* The owner thread closes the fd; shutdown wakes it. */
		shutdown(hc->fd, SHUT_RDWR);
		hc->reset = true;
		if (host.nreset < sizeof(host.reset_keys) / sizeof(host.reset_keys[0]))
			host.reset_keys[host.nreset++] = hc->key;
		done++;
	}
	pthread_mutex_unlock(&host.lock);
	return done;
}

static bool host_was_reset(uint64_t key)
{
	bool r = false;

	pthread_mutex_lock(&host.lock);
	for (unsigned i = 0; i < host.nreset && !r; i++)
		r = host.reset_keys[i] == key;
	pthread_mutex_unlock(&host.lock);
	return r;
}

static unsigned host_live_of(uint32_t guest)
{
	unsigned n = 0;

	pthread_mutex_lock(&host.lock);
	for (struct hconn *hc = host.list; hc; hc = hc->next)
		n += hc->guest == guest;
	pthread_mutex_unlock(&host.lock);
	return n;
}

/* ---------------------------------------------------------------------- */
/* Driver                                                                 */
/* ---------------------------------------------------------------------- */

struct opts {
	const char *pvcallsd;
	uint64_t bytes;
	unsigned conns, guests, rounds;
	unsigned duration_s;
	uint64_t seed;
	uint32_t msg_max;
	unsigned long rss_tol_kb;
	bool restart, kills, netns;
};

struct guest_proc {
	pid_t pid;
	int fd; /* status pipe */
	char buf[1024];
	size_t len;
	bool done, killed;
	int64_t killed_at;
};

static struct {
	uint64_t conns_ok, conns_err, conns_reset, conns_restart, bytes_ok;
	uint64_t guests_killed, peers_reset, restarts, failures;
	uint64_t new_after_restart;
	unsigned max_fds, max_maps;
	unsigned long max_rss;
} tot;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "soak: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	tot.failures++;
	return -1;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k':
	case 'K':
		return v << 10;
	case 'm':
	case 'M':
		return v << 20;
	case 'g':
	case 'G':
		return v << 30;
	default:
		return v;
	}
}

static pid_t spawn_guest(const struct opts *o, const char *hub, unsigned g, unsigned round,
			 unsigned nslots, uint64_t per_slot, int *fd_out)
{
	char a_port[16], a_g[16], a_r[16], a_n[16], a_b[32], a_s[32], a_m[16];
	char *argv[] = { (char *)"/proc/self/exe",
			 (char *)"--guest",
			 (char *)hub,
			 a_port,
			 a_g,
			 a_r,
			 a_n,
			 a_b,
			 a_s,
			 a_m,
			 NULL };
	posix_spawn_file_actions_t fa;
	int p[2];
	pid_t pid;
	int rc;

	snprintf(a_port, sizeof(a_port), "%u", host.port);
	snprintf(a_g, sizeof(a_g), "%u", g);
	snprintf(a_r, sizeof(a_r), "%u", round);
	snprintf(a_n, sizeof(a_n), "%u", nslots);
	snprintf(a_b, sizeof(a_b), "%" PRIu64, per_slot);
	snprintf(a_s, sizeof(a_s), "%" PRIu64, o->seed);
	snprintf(a_m, sizeof(a_m), "%u", o->msg_max);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 3);
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc) {
		close(p[0]);
		return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*fd_out = p[0];
	return pid;
}

struct round_ctx {
	const struct opts *o;
	struct soak_daemon *d;
	unsigned round;
	bool restart_here;
	int64_t restart_at; /* ms, 0: none yet */
	unsigned restart_err, restart_ok_after;
};

/* One "C key guest mode bytes err what" line from a guest. */
static void take_line(struct round_ctx *rc, struct guest_proc *gp, const char *line)
{
	uint64_t key, bytes;
	unsigned guest, mode, epoch = 0;
	int err;
	char what[16];

	if (line[0] == 'D' || line[0] == 'E') {
		if (line[0] == 'E')
			fail("round %u: guest: %s", rc->round, line);
		return;
	}
	if (sscanf(line, "C %" SCNx64 " %u %u %" SCNu64 " %d %15s %u", &key, &guest, &mode, &bytes,
		   &err, what, &epoch) < 6) {
		fail("round %u: unreadable guest line '%s'", rc->round, line);
		return;
	}
	(void)gp;
	if (!strcmp(what, "OK")) {
		tot.conns_ok++;
		tot.bytes_ok += bytes;
		/* A connection opened again after one failed, since the restart. */
		if (rc->restart_at && epoch > 0)
			rc->restart_ok_after++;
		return;
	}
	if (!strcmp(what, "BAD")) {
		fail("round %u: guest %u connection %" PRIx64 ": data mismatch after %" PRIu64
		     " verified bytes",
		     rc->round, guest, key, bytes);
		return;
	}
	if (!strcmp(what, "connect")) {
		fail("round %u: guest %u could not connect: %s", rc->round, guest,
		     pvcalls_strerror(err));
		return;
	}
	tot.conns_err++;
	tot.bytes_ok += bytes; /* verified before the error (echo) */
	if (host_was_reset(key)) {
		tot.conns_reset++;
		return;
	}
	if (rc->restart_at) {
		/* Live across the restart: a clean error. */
		if (err == -ECONNRESET || err == -ENOTCONN || err == -EPIPE) {
			tot.conns_restart++;
			rc->restart_err++;
			return;
		}
		fail("round %u: guest %u connection %" PRIx64 " after the restart: %d (%s)",
		     rc->round, guest, key, err, pvcalls_strerror(err));
		return;
	}
	fail("round %u: guest %u connection %" PRIx64 " failed unprovoked: %d (%s)", rc->round,
	     guest, key, err, pvcalls_strerror(err));
}

static void drain_guest(struct round_ctx *rc, struct guest_proc *gp)
{
	for (;;) {
		ssize_t n = read(gp->fd, gp->buf + gp->len, sizeof(gp->buf) - 1 - gp->len);
		char *nl;

		if (n <= 0)
			return;
		gp->len += (size_t)n;
		gp->buf[gp->len] = '\0';
		while ((nl = strchr(gp->buf, '\n'))) {
			*nl = '\0';
			take_line(rc, gp, gp->buf);
			memmove(gp->buf, nl + 1, gp->len - (size_t)(nl + 1 - gp->buf) + 1);
			gp->len -= (size_t)(nl + 1 - gp->buf);
		}
		if (gp->len >= sizeof(gp->buf) - 1)
			gp->len = 0; /* a runaway line: dropped */
	}
}

/* Waits (bounded) until pvcallsd is back at its baselines. */
static int settle(struct soak_daemon *d, unsigned round, unsigned base_fds, unsigned base_maps,
		  unsigned long base_rss, unsigned long tol, struct soak_res *out)
{
	struct soak_res r = { 0 };
	int64_t end = soak_now_ms() + SETTLE_MS;

	do {
		if (!soak_res_read(d->pid, &r))
			return fail("round %u: pvcallsd is gone", round);
		if (r.fds == base_fds && (!base_maps || r.maps <= base_maps) &&
		    (!base_rss || r.rss_kb <= base_rss + tol))
			break;
		soak_sleep_ms(100);
	} while (soak_now_ms() < end);
	*out = r;
	if (r.fds != base_fds)
		fail("round %u: pvcallsd holds %u fds, baseline %u", round, r.fds, base_fds);
	if (base_maps && r.maps > base_maps)
		fail("round %u: pvcallsd has %u mappings, baseline %u", round, r.maps, base_maps);
	if (base_rss && r.rss_kb > base_rss + tol)
		fail("round %u: pvcallsd RSS %lu KiB, baseline %lu + %lu", round, r.rss_kb,
		     base_rss, tol);
	return 0;
}

static int run(const struct opts *o)
{
	struct soak_daemon d = { .bin = o->pvcallsd };
	uint64_t rnd = o->seed ^ 0x5eed;
	unsigned per_guest = (o->conns + o->guests - 1) / o->guests;
	uint64_t per_round = o->bytes / o->rounds;
	uint64_t per_slot = per_round / o->conns ? per_round / o->conns : 1;
	unsigned base_fds;
	unsigned base_maps = 0;
	unsigned long base_rss = 0;
	int64_t t_start = soak_now_ms(), t_end = t_start + (int64_t)o->duration_s * 1000;
	struct soak_res r;
	unsigned rounds_done = 0;

	snprintf(d.dir, sizeof(d.dir), "/tmp/pvcalls-soak-XXXXXX");
	if (!mkdtemp(d.dir) || host_start() < 0 || soak_daemon_start(&d) < 0) {
		fprintf(stderr, "soak: cannot set up (%s)\n", strerror(errno));
		return 2;
	}
	soak_sleep_ms(300); /* the start probe's guest is removed */
	soak_res_read(d.pid, &r);
	base_fds = r.fds;
	printf("soak: pvcallsd %d idle: %u fds, %u mappings, %lu KiB RSS; %u rounds of %u guests x "
	       "%u connections, %" PRIu64 " bytes per connection per round, seed %" PRIu64 "\n",
	       (int)d.pid, r.fds, r.maps, r.rss_kb, o->rounds, o->guests, per_guest, per_slot,
	       o->seed);
	fflush(stdout);

	for (unsigned round = 0; round < o->rounds && soak_now_ms() < t_end; round++) {
		struct guest_proc gp[MAX_GUESTS] = { 0 };
		struct round_ctx rc = { .o = o, .d = &d, .round = round };
		unsigned alive, nslots_left = o->conns;
		uint64_t b0 = __atomic_load_n(&host.bytes, __ATOMIC_RELAXED);
		uint64_t round_bytes = per_slot * o->conns;
		/* Kill points: fractions of the round's bytes. */
		double kill_guest_at = 0.2 + (double)(soak_rand(&rnd) % 600) / 1000.0;
		double reset_at = 0.1 + (double)(soak_rand(&rnd) % 700) / 1000.0;
		double restart_at = 0.3 + (double)(soak_rand(&rnd) % 400) / 1000.0;
		bool guest_killed = false, peers_reset = false, restarted = false;
		int victim = (int)(soak_rand(&rnd) % o->guests);
		int64_t round_end = soak_now_ms() + 600000;

		rc.restart_here = o->restart && round == o->rounds / 2;
		for (unsigned g = 0; g < o->guests; g++) {
			unsigned n = nslots_left < per_guest ? nslots_left : per_guest;

			nslots_left -= n;
			gp[g].pid = n ? spawn_guest(o, d.hub, g, round, n, per_slot, &gp[g].fd) : 0;
			if (n && gp[g].pid < 0) {
				fail("round %u: cannot spawn guest %u", round, g);
				gp[g].pid = 0;
			}
			if (!n)
				gp[g].done = true;
		}
		for (;;) {
			struct pollfd pfd[MAX_GUESTS];
			unsigned np = 0;
			uint64_t done_bytes = __atomic_load_n(&host.bytes, __ATOMIC_RELAXED) - b0;
			double frac = (double)done_bytes / (double)(round_bytes ? round_bytes : 1);

			alive = 0;
			for (unsigned g = 0; g < o->guests; g++) {
				int st;

				if (gp[g].done)
					continue;
				if (waitpid(gp[g].pid, &st, WNOHANG) == gp[g].pid) {
					drain_guest(&rc, &gp[g]);
					close(gp[g].fd);
					gp[g].done = true;
					if (!gp[g].killed &&
					    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
						fail("round %u: guest %u ended with status %d",
						     round, g, st);
					continue;
				}
				alive++;
				pfd[np].fd = gp[g].fd;
				pfd[np].events = POLLIN;
				np++;
			}
			if (!alive)
				break;
			if (soak_now_ms() > round_end || soak_now_ms() > t_end + 120000) {
				fail("round %u: guests still running at the deadline", round);
				for (unsigned g = 0; g < o->guests; g++)
					if (!gp[g].done)
						kill(gp[g].pid, SIGKILL);
				continue;
			}
			poll(pfd, np, 50);
			for (unsigned g = 0; g < o->guests; g++)
				if (!gp[g].done)
					drain_guest(&rc, &gp[g]);
			if (o->kills && !guest_killed && frac >= kill_guest_at &&
			    !gp[victim].done && (round % 2 == 1)) {
				/* Every other round kills a guest: others check a clean run. */
				gp[victim].killed = true;
				gp[victim].killed_at = soak_now_ms();
				kill(gp[victim].pid, SIGKILL);
				guest_killed = true;
				tot.guests_killed++;
			}
			if (guest_killed && gp[victim].killed_at) {
				/* pvcallsd must close every host connection of the dead guest. */
				if (!host_live_of((uint32_t)victim)) {
					gp[victim].killed_at = 0;
				} else if (soak_now_ms() - gp[victim].killed_at > PEER_GONE_MS) {
					fail("round %u: %u host connections of killed guest %d "
					     "still "
					     "open after %d ms",
					     round, host_live_of((uint32_t)victim), victim,
					     PEER_GONE_MS);
					gp[victim].killed_at = 0;
				}
			}
			if (o->kills && !peers_reset && frac >= reset_at) {
				unsigned n = 1 + (unsigned)(soak_rand(&rnd) % 3);

				tot.peers_reset += host_reset_random(&rnd, n);
				peers_reset = true;
			}
			if (rc.restart_here && !restarted && frac >= restart_at) {
				int pause = 200 + (int)(soak_rand(&rnd) % 800);

				soak_daemon_stop(&d, SIGKILL);
				rc.restart_at = soak_now_ms();
				printf("soak: round %u: pvcallsd killed at %.0f%% of the round; "
				       "restarting in %d ms\n",
				       round, frac * 100, pause);
				fflush(stdout);
				soak_sleep_ms(pause);
				if (soak_daemon_start(&d) < 0)
					return fail("pvcallsd did not come back"), 1;
				restarted = true;
				tot.restarts++;
				base_maps = 0; /* a new process: new baselines after this round */
				base_rss = 0;
			}
		}
		if (guest_killed && gp[victim].killed_at) {
			/* Guests are gone; give pvcallsd the rest of the bound. */
			int64_t end = gp[victim].killed_at + PEER_GONE_MS;

			while (host_live_of((uint32_t)victim) && soak_now_ms() < end)
				soak_sleep_ms(50);
			if (host_live_of((uint32_t)victim))
				fail("round %u: host connections of killed guest %d still open",
				     round, victim);
		}
		if (rc.restart_here) {
			tot.new_after_restart += rc.restart_ok_after;
			if (!restarted)
				fail("round %u: the round ended before the restart point", round);
			else if (!rc.restart_ok_after)
				fail("round %u: no connection succeeded after the restart", round);
			printf("soak: round %u: after the restart %u connections failed cleanly, "
			       "%u new ones succeeded\n",
			       round, rc.restart_err, rc.restart_ok_after);
		}
		settle(&d, round, base_fds, base_maps, base_rss, o->rss_tol_kb, &r);
		if (!base_maps) {
			base_maps = r.maps;
			base_rss = r.rss_kb;
		}
		if (r.fds > tot.max_fds)
			tot.max_fds = r.fds;
		if (r.maps > tot.max_maps)
			tot.max_maps = r.maps;
		if (r.rss_kb > tot.max_rss)
			tot.max_rss = r.rss_kb;
		rounds_done++;
		printf("soak: round %u done at %.1f s: %" PRIu64
		       " MiB verified so far; pvcallsd idle "
		       "at %u fds, %u mappings, %lu KiB RSS%s%s\n",
		       round, (double)(soak_now_ms() - t_start) / 1000, tot.bytes_ok >> 20, r.fds,
		       r.maps, r.rss_kb, guest_killed ? "; a guest killed" : "",
		       rc.restart_here ? "; pvcallsd restarted" : "");
		fflush(stdout);
	}
	{
		int st = soak_daemon_stop(&d, SIGTERM);
		double secs = (double)(soak_now_ms() - t_start) / 1000;

		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			fail("pvcallsd exited with status %d on SIGTERM", st);
		if (__atomic_load_n(&host.bad, __ATOMIC_RELAXED))
			fail("%" PRIu64 " sink peers received bytes out of order or corrupted",
			     __atomic_load_n(&host.bad, __ATOMIC_RELAXED));
		if (rounds_done < o->rounds)
			fail("--duration reached after %u of %u rounds", rounds_done, o->rounds);
		printf("soak: summary: %u rounds in %.1f s; %" PRIu64
		       " bytes verified (%.1f MiB/s); "
		       "connections: %" PRIu64 " ok, %" PRIu64 " failed (%" PRIu64
		       " host peer resets, %" PRIu64 " across the restart); guests killed %" PRIu64
		       ", peers reset %" PRIu64 ", pvcallsd restarts %" PRIu64
		       ", new connections after the restart %" PRIu64
		       "; pvcallsd idle maxima: %u fds, %u mappings, %lu KiB RSS (tolerance %lu "
		       "KiB); failures %" PRIu64 "\n",
		       rounds_done, secs, tot.bytes_ok, (double)tot.bytes_ok / 1048576 / secs,
		       tot.conns_ok, tot.conns_err, tot.conns_reset, tot.conns_restart,
		       tot.guests_killed, tot.peers_reset, tot.restarts, tot.new_after_restart,
		       tot.max_fds, tot.max_maps, tot.max_rss, o->rss_tol_kb, tot.failures);
		if (tot.failures)
			printf("soak: pvcallsd's log: %s\n", d.log);
		else {
			unlink(d.conf);
			unlink(d.log);
			rmdir(d.dir);
		}
	}
	return tot.failures ? 1 : 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --pvcallsd PATH [--bytes N[K|M|G]] [--conns N] [--guests N]\n"
		"          [--rounds N] [--duration S] [--seed N] [--msg-max N[K|M]]\n"
		"          [--rss-tol-kb N] [--no-restart] [--no-kills] [--no-netns]\n"
		"defaults: 10G, 64 connections, 8 guests, 16 rounds, 3600 s, seed from the "
		"clock,\n          256K, 16384, restart and kills on, private netns if possible\n",
		argv0);
}

int main(int argc, char **argv)
{
	struct opts o = { .bytes = 10ull << 30,
			  .conns = 64,
			  .guests = 8,
			  .rounds = 16,
			  .duration_s = 3600,
			  .msg_max = 256 << 10,
			  .rss_tol_kb = 16384,
			  .restart = true,
			  .kills = true,
			  .netns = true };

	signal(SIGPIPE, SIG_IGN);
	if (argc == 10 && !strcmp(argv[1], "--guest")) {
		pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_ERR);
		return guest_main(argv);
	}
	o.seed = (uint64_t)soak_now_ms() ^ (uint64_t)getpid() << 20;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-restart")) {
			o.restart = false;
			continue;
		}
		if (!strcmp(a, "--no-kills")) {
			o.kills = false;
			continue;
		}
		if (!strcmp(a, "--no-netns")) {
			o.netns = false;
			continue;
		}
		if (!v) {
			usage(argv[0]);
			return 2;
		}
		i++;
		if (!strcmp(a, "--pvcallsd"))
			o.pvcallsd = v;
		else if (!strcmp(a, "--bytes"))
			o.bytes = parse_size(v);
		else if (!strcmp(a, "--conns"))
			o.conns = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--guests"))
			o.guests = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--rounds"))
			o.rounds = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--duration"))
			o.duration_s = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--msg-max"))
			o.msg_max = (uint32_t)parse_size(v);
		else if (!strcmp(a, "--rss-tol-kb"))
			o.rss_tol_kb = strtoul(v, NULL, 10);
		else {
			usage(argv[0]);
			return 2;
		}
	}
	if (!o.pvcallsd || !o.conns || !o.guests || o.guests > MAX_GUESTS || o.guests > o.conns ||
	    !o.rounds || !o.msg_max || o.msg_max > (64u << 20) || !o.duration_s ||
	    o.bytes < o.rounds) {
		usage(argv[0]);
		return 2;
	}
	if (o.netns && !soak_enter_netns())
		fprintf(stderr, "soak: on the host's loopback\n");
	pvcalls_set_logger(pvcalls_log_stderr, NULL, PVCALLS_LOG_ERR);
	return run(&o);
}
