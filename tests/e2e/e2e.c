/* SPDX-License-Identifier: MIT */
/* End-to-end test harness; see e2e.h. */
#include "e2e.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *e2e_flavour(void)
{
#if defined(E2E_TSAN)
	return "tsan";
#elif defined(E2E_ASAN)
	return "asan";
#else
	return "plain";
#endif
}

uint64_t e2e_volume(uint64_t plain, uint64_t sanitized)
{
	const char *v = getenv("PVCALLS_E2E_BYTES");

	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 0);

		switch (*end) {
		case 'k':
		case 'K':
			n <<= 10;
			break;
		case 'm':
		case 'M':
			n <<= 20;
			break;
		case 'g':
		case 'G':
			n <<= 30;
			break;
		default:
			break;
		}
		if (n)
			return n;
	}
	return E2E_SANITIZED ? sanitized : plain;
}

/* ---------------------------------------------------------------------- */

double e2e_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void e2e_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------------- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int fail_flag;
static char fail_buf[1024];

void e2e_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!fail_flag) {
		va_start(ap, fmt);
		vsnprintf(fail_buf, sizeof(fail_buf), fmt, ap);
		va_end(ap);
		fprintf(stderr, "e2e: FAIL: %s\n", fail_buf);
		__atomic_store_n(&fail_flag, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&fail_lock);
}

bool e2e_failed(void)
{
	return __atomic_load_n(&fail_flag, __ATOMIC_ACQUIRE) != 0;
}

const char *e2e_fail_msg(void)
{
	return e2e_failed() ? fail_buf : "";
}

static void fail_reset(void)
{
	pthread_mutex_lock(&fail_lock);
	fail_flag = 0;
	fail_buf[0] = 0;
	pthread_mutex_unlock(&fail_lock);
}

void e2e_join(pthread_t t, int timeout_s, const char *what)
{
	int64_t end = e2e_now_ms() + (int64_t)timeout_s * 1000;

	for (;;) {
		struct timespec ts;
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		rc = pthread_timedjoin_np(t, NULL, &ts);
		if (rc == 0)
			return;
		/* Another thread failed: report that at once, the rest of the
		 * test's threads die with the process. */
		if (e2e_failed())
			ck_abort_msg("%s (while waiting for %s)", e2e_fail_msg(), what);
		if (e2e_now_ms() > end)
			ck_abort_msg("watchdog: %s did not finish within %d s", what, timeout_s);
	}
}

pthread_t e2e_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);

	ck_assert_msg(rc == 0, "pthread_create: %s", strerror(rc));
	return t;
}

/* ---------------------------------------------------------------------- */

static inline uint64_t mix(uint64_t seed, uint64_t i)
{
	uint64_t z = seed * 0xD1B54A32D192ED03ull + (i + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void e2e_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t w = mix(seed, off >> 3);
		unsigned b = (unsigned)(off & 7);

		if (b == 0 && len >= 8) {
			for (unsigned k = 0; k < 8; k++)
				p[k] = (uint8_t)(w >> (8 * k));
			p += 8;
			off += 8;
			len -= 8;
		} else {
			*p++ = (uint8_t)(w >> (8 * b));
			off++;
			len--;
		}
	}
}

ssize_t e2e_verify(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t tmp[8192];
	size_t done = 0;

	while (done < len) {
		size_t k = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		e2e_fill(seed, off + done, tmp, k);
		if (memcmp(tmp, p + done, k) != 0) {
			for (size_t i = 0; i < k; i++)
				if (tmp[i] != p[done + i])
					return (ssize_t)(done + i);
		}
		done += k;
	}
	return -1;
}

#define PATTERN_PERIOD ((8u << 20) + 4093u)

void e2e_pattern_init(struct e2e_pattern *p, uint64_t seed)
{
	p->period = PATTERN_PERIOD;
	p->buf = malloc(p->period);
	ck_assert_ptr_nonnull(p->buf);
	e2e_fill(seed, 0, p->buf, p->period);
}

void e2e_pattern_free(struct e2e_pattern *p)
{
	free(p->buf);
	p->buf = NULL;
}

const uint8_t *e2e_pattern_at(const struct e2e_pattern *p, uint64_t off, size_t *avail)
{
	size_t o = (size_t)(off % p->period);

	*avail = p->period - o;
	return p->buf + o;
}

ssize_t e2e_pattern_verify(const struct e2e_pattern *p, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t done = 0;

	while (done < len) {
		size_t avail;
		const uint8_t *q = e2e_pattern_at(p, off + done, &avail);
		size_t k = len - done < avail ? len - done : avail;

		if (memcmp(q, b + done, k) != 0) {
			for (size_t i = 0; i < k; i++)
				if (q[i] != b[done + i])
					return (ssize_t)(done + i);
		}
		done += k;
	}
	return -1;
}

/* ---------------------------------------------------------------------- */

static void *back_thread(void *arg)
{
	struct e2e_env *e = arg;

	e->run_rc = pvcalls_back_run(e->be, &e->stop);
	return NULL;
}

static void back_start(struct e2e_env *e)
{
	__atomic_store_n(&e->stop, 0, __ATOMIC_RELAXED);
	ck_assert_int_eq(pthread_create(&e->thr, NULL, back_thread, e), 0);
	e->running = true;
}

static void back_halt(struct e2e_env *e)
{
	if (!e->running)
		return;
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELAXED);
	/* pvcalls_back_run checks the flag at least every 100 ms. */
	e2e_join(e->thr, 5 * E2E_SLOW, "pvcalls_back_run to notice its stop flag");
	e->running = false;
	ck_assert_msg(e->run_rc >= 0, "pvcalls_back_run: %s", pvcalls_strerror(e->run_rc));
}

void e2e_env_start(struct e2e_env *e, const struct e2e_cfg *cfg)
{
	static const struct e2e_cfg none;
	int rc;

	fail_reset();
	memset(e, 0, sizeof(*e));
	if (!cfg)
		cfg = &none;
	ck_assert_msg(cfg->listen_hub || !cfg->no_front, "no_front needs listen_hub");
	if (cfg->listen_hub) {
		snprintf(e->dir, sizeof(e->dir), "/tmp/pvcalls-e2e-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(e->dir));
		snprintf(e->path, sizeof(e->path), "%s/hub", e->dir);
		rc = pvcalls_shm_listen(e->path, &cfg->hub, &e->hub);
		ck_assert_msg(rc == 0, "pvcalls_shm_listen(%s): %s", e->path, pvcalls_strerror(rc));
	} else {
		rc = pvcalls_shm_pair(&cfg->hub, &cfg->guest, &e->hub, &e->guest);
		ck_assert_msg(rc == 0, "pvcalls_shm_pair: %s", pvcalls_strerror(rc));
	}
	rc = pvcalls_back_new(e->hub, &cfg->back, &e->be);
	ck_assert_msg(rc == 0, "pvcalls_back_new: %s", pvcalls_strerror(rc));
	back_start(e);
	if (cfg->no_front)
		return;
	if (cfg->listen_hub) {
		rc = pvcalls_shm_connect(e->path, &cfg->guest, &e->guest);
		ck_assert_msg(rc == 0, "pvcalls_shm_connect: %s", pvcalls_strerror(rc));
	}
	rc = pvcalls_front_open(e->guest, &cfg->front, &e->fe);
	ck_assert_msg(rc == 0, "pvcalls_front_open: %s", pvcalls_strerror(rc));
}

void e2e_env_stop(struct e2e_env *e)
{
	double t0 = e2e_now();

	pvcalls_front_close(e->fe);
	e->fe = NULL;
	ck_assert_msg(e2e_now() - t0 < 10.0 * E2E_SLOW, "pvcalls_front_close took %.1f s",
		      e2e_now() - t0);
	back_halt(e);
	pvcalls_back_free(e->be);
	e->be = NULL;
	pvcalls_transport_close(e->guest);
	e->guest = NULL;
	pvcalls_transport_close(e->hub);
	e->hub = NULL;
	if (e->dir[0]) {
		unlink(e->path);
		rmdir(e->dir);
	}
	ck_assert_msg(e2e_now() - t0 < 15.0 * E2E_SLOW, "teardown took %.1f s", e2e_now() - t0);
}

void e2e_back_kill(struct e2e_env *e)
{
	back_halt(e);
	pvcalls_back_free(e->be);
	e->be = NULL;
}

void e2e_back_stats(struct e2e_env *e, struct pvcalls_back_stats *st)
{
	bool was = e->running;

	back_halt(e);
	pvcalls_back_get_stats(e->be, st);
	if (was)
		back_start(e);
}

void e2e_back_set_policy(struct e2e_env *e, pvcalls_policy *p)
{
	bool was = e->running;

	back_halt(e); /* pvcalls_back_set_policy() runs on the backend's thread */
	ck_assert_int_eq(pvcalls_back_set_policy(e->be, p), 0);
	if (was)
		back_start(e);
}

void e2e_back_set_audit(struct e2e_env *e, pvcalls_back_audit_fn fn, void *arg)
{
	bool was = e->running;

	back_halt(e);
	pvcalls_back_set_audit(e->be, fn, arg);
	if (was)
		back_start(e);
}

int e2e_wait_back(struct e2e_env *e, int frontends, int active, int passive, int timeout_ms)
{
	int64_t t0 = e2e_now_ms(), end = t0 + (int64_t)timeout_ms * E2E_SLOW;
	struct pvcalls_back_stats st;

	for (;;) {
		e2e_back_stats(e, &st);
		if ((frontends < 0 || st.frontends == (uint32_t)frontends) &&
		    st.active_sockets == (uint32_t)active &&
		    st.passive_sockets == (uint32_t)passive)
			return (int)(e2e_now_ms() - t0);
		if (e2e_now_ms() > end)
			ck_abort_msg("backend stats: %u frontends, %u active, %u passive sockets "
				     "after %d ms; expected %d, %d, %d",
				     st.frontends, st.active_sockets, st.passive_sockets,
				     timeout_ms * E2E_SLOW, frontends, active, passive);
		e2e_sleep_ms(100);
	}
}

int e2e_socket(struct e2e_env *e, int order)
{
	int s = pvcalls_front_socket(e->fe, AF_INET, SOCK_STREAM, 0);

	ck_assert_msg(s >= 0, "pvcalls_front_socket: %s", pvcalls_strerror(s));
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	ck_assert_int_eq(pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS),
			 0);
	if (order >= 0) {
		int rc = pvcalls_front_setopt(e->fe, s, PVCALLS_OPT_RING_ORDER, order);

		ck_assert_msg(rc == 0, "setopt RING_ORDER %d: %s (max-page-order %u)", order,
			      pvcalls_strerror(rc), pvcalls_front_max_order(e->fe));
	}
	return s;
}

int e2e_front_connect(struct e2e_env *e, int s, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return pvcalls_front_connect(e->fe, s, (struct sockaddr *)&a, sizeof(a));
}

void e2e_release(struct e2e_env *e, int s)
{
	int rc = pvcalls_front_release(e->fe, s);

	ck_assert_msg(rc == 0, "pvcalls_front_release(%d): %s", s, pvcalls_strerror(rc));
}

/* ---------------------------------------------------------------------- */

int e2e_tcp_listen(uint16_t *port, int backlog)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(*port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
	ck_assert_msg(listen(fd, backlog) == 0, "listen: %s", strerror(errno));
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

uint16_t e2e_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

int e2e_tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	e2e_tcp_timeouts(fd, E2E_SOCK_TIMEO_MS);
	return fd;
}

int e2e_tcp_accept(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int rc, fd;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	ck_assert_msg(rc == 1, "peer: no connection arrived within %d ms", timeout_ms);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(fd >= 0, "accept: %s", strerror(errno));
	e2e_tcp_timeouts(fd, E2E_SOCK_TIMEO_MS);
	return fd;
}

void e2e_tcp_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void e2e_tcp_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int e2e_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int e2e_read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void e2e_tcp_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int e2e_fsend_all(struct e2e_env *e, int s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pvcalls_front_send(e->fe, s, p, len, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int e2e_frecv_all(struct e2e_env *e, int s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pvcalls_front_recv(e->fe, s, p, len, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The many-connection server                                             */
/* ---------------------------------------------------------------------- */

struct sconn {
	int fd;
	uint8_t hb[sizeof(struct e2e_hdr)];
	size_t hgot;
	struct e2e_hdr h;
	bool hdr_done, done;
	uint64_t up_got, down_sent;
};

#define SRV_BUF 65536

static void srv_count(struct e2e_srv *s, int *ctr)
{
	pthread_mutex_lock(&s->lock);
	(*ctr)++;
	pthread_mutex_unlock(&s->lock);
}

/* Returns false when the connection is finished (closed). */
static bool srv_read(struct e2e_srv *s, struct sconn *c, uint8_t *buf)
{
	ssize_t n = read(c->fd, buf, SRV_BUF);
	size_t off = 0;

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return true;
		e2e_fail("server: connection %d: read: %s (after %" PRIu64 " bytes up)",
			 c->hdr_done ? (int)c->h.idx : -1, strerror(errno), c->up_got);
		return false;
	}
	if (n == 0) {
		if (!c->done) {
			e2e_fail("server: connection %d: EOF after %" PRIu64 " of %" PRIu64
				 " bytes up, %" PRIu64 " of %" PRIu64 " down sent",
				 c->hdr_done ? (int)c->h.idx : -1, c->up_got, c->h.up, c->down_sent,
				 c->h.down);
		} else {
			pthread_mutex_lock(&s->lock);
			s->res[c->h.idx].eof = true;
			s->eof++;
			pthread_mutex_unlock(&s->lock);
		}
		return false;
	}
	if (!c->hdr_done) {
		size_t k = sizeof(c->hb) - c->hgot;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(c->hb + c->hgot, buf, k);
		c->hgot += k;
		off = k;
		if (c->hgot < sizeof(c->hb))
			return true;
		memcpy(&c->h, c->hb, sizeof(c->h));
		if (c->h.magic != E2E_SRV_MAGIC || c->h.idx >= (uint32_t)s->max) {
			e2e_fail("server: bad header (magic %#x idx %u)", c->h.magic, c->h.idx);
			return false;
		}
		pthread_mutex_lock(&s->lock);
		if (s->res[c->h.idx].used) {
			pthread_mutex_unlock(&s->lock);
			e2e_fail("server: two connections claim index %u", c->h.idx);
			return false;
		}
		s->res[c->h.idx].used = true;
		pthread_mutex_unlock(&s->lock);
		c->hdr_done = true;
	}
	if ((size_t)n > off) {
		size_t k = (size_t)n - off;
		ssize_t bad;

		if (c->up_got + k > c->h.up) {
			e2e_fail("server: connection %u: %zu bytes beyond the %" PRIu64
				 " announced",
				 c->h.idx, (size_t)(c->up_got + k - c->h.up), c->h.up);
			return false;
		}
		bad = e2e_verify(E2E_SEED_UP(c->h.idx), c->up_got, buf + off, k);
		if (bad >= 0) {
			e2e_fail("server: connection %u: wrong byte at offset %" PRIu64, c->h.idx,
				 c->up_got + (uint64_t)bad);
			return false;
		}
		c->up_got += k;
	}
	return true;
}

static bool srv_write(struct e2e_srv *s, struct sconn *c, uint8_t *buf)
{
	size_t k =
		c->h.down - c->down_sent > SRV_BUF ? SRV_BUF : (size_t)(c->h.down - c->down_sent);
	ssize_t n;

	(void)s;
	e2e_fill(E2E_SEED_DOWN(c->h.idx), c->down_sent, buf, k);
	n = send(c->fd, buf, k, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return true;
		e2e_fail("server: connection %u: send: %s", c->h.idx, strerror(errno));
		return false;
	}
	c->down_sent += (uint64_t)n;
	return true;
}

static void *srv_thread(void *arg)
{
	struct e2e_srv *s = arg;
	struct pollfd *pf = calloc((size_t)s->max + 2, sizeof(*pf));
	struct sconn *c = calloc((size_t)s->max, sizeof(*c));
	uint8_t *buf = malloc(SRV_BUF);
	int nc = 0;

	if (!pf || !c || !buf) {
		e2e_fail("server: out of memory");
		goto out;
	}
	for (;;) {
		int n;

		pf[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->lfd, .events = nc < s->max ? POLLIN : 0 };
		for (int i = 0; i < nc; i++) {
			pf[2 + i].fd = c[i].fd;
			pf[2 + i].events = POLLIN;
			if (c[i].hdr_done && c[i].down_sent < c[i].h.down)
				pf[2 + i].events |= POLLOUT;
			pf[2 + i].revents = 0;
		}
		n = poll(pf, (nfds_t)nc + 2, 1000);
		if (n < 0 && errno != EINTR) {
			e2e_fail("server: poll: %s", strerror(errno));
			break;
		}
		if (n <= 0)
			continue;
		if (pf[0].revents)
			break;
		for (int i = 0; i < nc; i++) {
			bool alive = true;

			if (pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
				alive = srv_read(s, &c[i], buf);
			if (alive && (pf[2 + i].revents & POLLOUT) && c[i].down_sent < c[i].h.down)
				alive = srv_write(s, &c[i], buf);
			if (alive && !c[i].done && c[i].hdr_done && c[i].up_got == c[i].h.up &&
			    c[i].down_sent == c[i].h.down) {
				c[i].done = true;
				pthread_mutex_lock(&s->lock);
				s->res[c[i].h.idx].ok = true;
				s->ok++;
				pthread_mutex_unlock(&s->lock);
			}
			if (!alive) {
				close(c[i].fd);
				c[i].fd = -1;
			}
		}
		/* Compact (pf is rebuilt next round). */
		for (int i = 0; i < nc;) {
			if (c[i].fd < 0)
				c[i] = c[--nc];
			else
				i++;
		}
		if (pf[1].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0) {
				memset(&c[nc], 0, sizeof(c[nc]));
				c[nc++].fd = fd;
				srv_count(s, &s->accepted);
			}
		}
	}
out:
	for (int i = 0; i < nc; i++)
		close(c[i].fd);
	free(pf);
	free(c);
	free(buf);
	return NULL;
}

void e2e_srv_start(struct e2e_srv *s, int max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
	s->res = calloc((size_t)max, sizeof(*s->res));
	ck_assert_ptr_nonnull(s->res);
	pthread_mutex_init(&s->lock, NULL);
	ck_assert_int_eq(pipe2(s->wake, O_CLOEXEC), 0);
	s->lfd = e2e_tcp_listen(&s->port, max + 16);
	s->thr = e2e_thread(srv_thread, s);
}

void e2e_srv_counts(struct e2e_srv *s, int *accepted, int *ok, int *eof)
{
	pthread_mutex_lock(&s->lock);
	if (accepted)
		*accepted = s->accepted;
	if (ok)
		*ok = s->ok;
	if (eof)
		*eof = s->eof;
	pthread_mutex_unlock(&s->lock);
}

void e2e_srv_wait(struct e2e_srv *s, int ok, int eof, int timeout_ms)
{
	int64_t end = e2e_now_ms() + (int64_t)timeout_ms * E2E_SLOW;
	int a, o, f;

	for (;;) {
		e2e_check_failed();
		e2e_srv_counts(s, &a, &o, &f);
		if (o >= ok && f >= eof)
			return;
		if (e2e_now_ms() > end)
			ck_abort_msg("server: %d accepted, %d complete, %d saw EOF after %d ms; "
				     "expected %d complete, %d EOF",
				     a, o, f, timeout_ms * E2E_SLOW, ok, eof);
		e2e_sleep_ms(10);
	}
}

void e2e_srv_stop(struct e2e_srv *s)
{
	ck_assert_int_eq(write(s->wake[1], "x", 1), 1);
	e2e_join(s->thr, 10, "the TCP server thread");
	close(s->wake[0]);
	close(s->wake[1]);
	close(s->lfd);
	free(s->res);
	pthread_mutex_destroy(&s->lock);
}

/* ---------------------------------------------------------------------- */

static int client_send_all(pvcalls_front *fe, int s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pvcalls_front_send(fe, s, p, len, 0);

		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void *e2e_client_thread(void *arg)
{
	struct e2e_client *w = arg;
	struct {
		int s;
		uint32_t idx;
		uint64_t up, down;
	} c[E2E_CLIENT_MAX_SOCKS];
	uint8_t buf[16384];
	bool busy = true;
	int n = w->nsock < E2E_CLIENT_MAX_SOCKS ? w->nsock : E2E_CLIENT_MAX_SOCKS;

	for (int k = 0; k < n; k++) {
		struct e2e_hdr h = { .magic = E2E_SRV_MAGIC, .up = w->bytes, .down = w->bytes };
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(w->port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int rc;

		c[k].idx = w->idx0 + (uint32_t)k;
		c[k].up = c[k].down = 0;
		c[k].s = pvcalls_front_socket(w->fe, AF_INET, SOCK_STREAM, 0);
		if (c[k].s < 0) {
			e2e_fail("client %d: socket #%d: %s", w->id, k, pvcalls_strerror(c[k].s));
			return NULL;
		}
		pvcalls_front_setopt(w->fe, c[k].s, PVCALLS_OPT_SNDTIMEO_MS, E2E_SOCK_TIMEO_MS);
		pvcalls_front_setopt(w->fe, c[k].s, PVCALLS_OPT_RCVTIMEO_MS, E2E_SOCK_TIMEO_MS);
		rc = pvcalls_front_connect(w->fe, c[k].s, (struct sockaddr *)&a, sizeof(a));
		h.idx = c[k].idx;
		if (rc == 0)
			rc = client_send_all(w->fe, c[k].s, &h, sizeof(h));
		if (rc < 0) {
			e2e_fail("client %d: connect/send header #%d: %s", w->id, k,
				 pvcalls_strerror(rc));
			return NULL;
		}
	}
	while (busy) {
		busy = false;
		for (int k = 0; k < n; k++) {
			ssize_t r;

			if (c[k].up < w->bytes) {
				size_t chunk = 8192 + (size_t)k * 1000;
				size_t len = w->bytes - c[k].up > chunk
						     ? chunk
						     : (size_t)(w->bytes - c[k].up);
				int rc;

				if (len > sizeof(buf))
					len = sizeof(buf);
				e2e_fill(E2E_SEED_UP(c[k].idx), c[k].up, buf, len);
				rc = client_send_all(w->fe, c[k].s, buf, len);
				if (rc < 0) {
					e2e_fail("client %d socket %d: send: %s", w->id, k,
						 pvcalls_strerror(rc));
					return NULL;
				}
				c[k].up += len;
				busy = true;
			}
			/* Take what is there; block only once nothing is left to send. */
			while (c[k].down < w->bytes) {
				int fl = c[k].up < w->bytes ? MSG_DONTWAIT : 0;

				r = pvcalls_front_recv(w->fe, c[k].s, buf, sizeof(buf), fl);
				if (r == -EAGAIN && fl)
					break;
				if (r <= 0 || c[k].down + (uint64_t)r > w->bytes ||
				    e2e_verify(E2E_SEED_DOWN(c[k].idx), c[k].down, buf,
					       (size_t)r) >= 0) {
					e2e_fail("client %d socket %d: recv at %" PRIu64
						 ": %zd (%s) or bad data",
						 w->id, k, c[k].down, r, pvcalls_strerror((int)r));
					return NULL;
				}
				c[k].down += (uint64_t)r;
				if (!fl)
					break;
			}
			busy |= c[k].down < w->bytes;
		}
	}
	for (int k = 0; k < n; k++) {
		int rc = pvcalls_front_release(w->fe, c[k].s);

		if (rc < 0)
			e2e_fail("client %d: release: %s", w->id, pvcalls_strerror(rc));
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */

int e2e_main(Suite *s)
{
	const char *lv = getenv("PVCALLS_E2E_LOG");
	enum pvcalls_log_level level = PVCALLS_LOG_WARN;
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	if (lv && !strcmp(lv, "info"))
		level = PVCALLS_LOG_INFO;
	else if (lv && !strcmp(lv, "debug"))
		level = PVCALLS_LOG_DEBUG;
	else if (lv && !strcmp(lv, "err"))
		level = PVCALLS_LOG_ERR;
	pvcalls_set_logger(pvcalls_log_stderr, NULL, level);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int e2e_connected_pair(struct e2e_env *e, int *fd)
{
	uint16_t port = 0;
	int lfd = e2e_tcp_listen(&port, 4), s = e2e_socket(e, -1), rc;

	rc = e2e_front_connect(e, s, port);
	ck_assert_msg(rc == 0, "connect to 127.0.0.1:%u: %s", port, pvcalls_strerror(rc));
	*fd = e2e_tcp_accept(lfd, 10000);
	close(lfd);
	e2e_tcp_timeouts(*fd, E2E_SOCK_TIMEO_MS);
	return s;
}
