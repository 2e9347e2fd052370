/* SPDX-License-Identifier: MIT */
/*
 * End-to-end test harness: a shm hub and a backend (event loop in a thread)
 * in the test process, a frontend on the guest side, and plain POSIX TCP
 * peers on 127.0.0.1.
 *
 * Failure reporting: helper threads never call ck_assert (it exits the
 * process from the wrong thread); they record the first failure with
 * e2e_fail() and the test thread checks e2e_check_failed(). Every join and
 * every wait has a deadline, so a bug shows up as a failure, never a hang.
 */
#ifndef PVCALLS_E2E_H
#define PVCALLS_E2E_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

/* --- build flavour ------------------------------------------------------ */

#if defined(__SANITIZE_THREAD__)
#define E2E_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define E2E_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define E2E_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define E2E_ASAN 1
#endif
#endif
#if defined(E2E_TSAN) || defined(E2E_ASAN)
#define E2E_SANITIZED 1
#else
#define E2E_SANITIZED 0
#endif

/* Multiplier for every time limit (sanitizers slow things down a lot). */
#if defined(E2E_TSAN)
#define E2E_SLOW 6
#elif defined(E2E_ASAN)
#define E2E_SLOW 3
#else
#define E2E_SLOW 1
#endif

/* Safety-net timeout put on every frontend socket, in ms. */
#define E2E_SOCK_TIMEO_MS (30000 * E2E_SLOW)

const char *e2e_flavour(void);

/*
 * Bytes for a bulk test: PVCALLS_E2E_BYTES (accepts K/M/G suffixes) if set,
 * else @plain in plain builds and @sanitized in sanitizer builds.
 */
uint64_t e2e_volume(uint64_t plain, uint64_t sanitized);

/* --- time --------------------------------------------------------------- */

double e2e_now(void); /* seconds, monotonic */
int64_t e2e_now_ms(void);
void e2e_sleep_ms(int ms);

/* --- failures from helper threads -------------------------------------- */

void e2e_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool e2e_failed(void);
const char *e2e_fail_msg(void);
#define e2e_check_failed() ck_assert_msg(!e2e_failed(), "%s", e2e_fail_msg())

/* Joins @t or fails the test after @timeout_s seconds. */
void e2e_join(pthread_t t, int timeout_s, const char *what);
pthread_t e2e_thread(void *(*fn)(void *), void *arg);

/* --- streams ------------------------------------------------------------ */

/* Bytes [off, off+len) of the pseudo-random stream @seed. */
void e2e_fill(uint64_t seed, uint64_t off, void *buf, size_t len);
/* -1 if @buf holds bytes [off, off+len) of stream @seed, else the index of the first bad byte. */
ssize_t e2e_verify(uint64_t seed, uint64_t off, const void *buf, size_t len);

/*
 * A periodic stream for bulk transfers: one pre-generated period of a
 * seeded stream (a length that no ring or chunk size divides), so senders
 * send straight from it and receivers memcmp against it.
 */
struct e2e_pattern {
	uint8_t *buf;
	size_t period;
};
void e2e_pattern_init(struct e2e_pattern *p, uint64_t seed);
void e2e_pattern_free(struct e2e_pattern *p);
/* Pointer to offset @off and how many bytes are contiguous from there. */
const uint8_t *e2e_pattern_at(const struct e2e_pattern *p, uint64_t off, size_t *avail);
/* -1 if @buf matches offset @off of the pattern, else the first bad index. */
ssize_t e2e_pattern_verify(const struct e2e_pattern *p, uint64_t off, const void *buf, size_t len);

/* xorshift for chunk sizes */
static inline uint64_t e2e_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* --- the environment ---------------------------------------------------- */

struct e2e_cfg {
	struct pvcalls_front_opts front;
	struct pvcalls_back_opts back;
	struct pvcalls_shm_opts hub, guest;
	bool no_front;   /* do not open a frontend (tests that fork guests) */
	bool listen_hub; /* hub on a Unix socket path (e->path) instead of a pair */
};

struct e2e_env {
	pvcalls_transport *hub, *guest;
	pvcalls_back *be;
	pvcalls_front *fe;
	pthread_t thr;
	bool running;
	volatile int stop;
	int run_rc;
	char dir[64], path[128];
};

/* Sets up hub, backend (running in a thread) and, unless cfg->no_front, a frontend. */
void e2e_env_start(struct e2e_env *e, const struct e2e_cfg *cfg);
/* Tears everything down, failing the test if that takes too long. */
void e2e_env_stop(struct e2e_env *e);
/* Stops the backend loop and frees the backend (the guest keeps running). */
void e2e_back_kill(struct e2e_env *e);
/* Backend totals, taken while the backend loop is paused (race-free). */
void e2e_back_stats(struct e2e_env *e, struct pvcalls_back_stats *st);
/* Installs @p (owned by the backend) while the backend loop is paused. */
void e2e_back_set_policy(struct e2e_env *e, pvcalls_policy *p);
/* Installs the audit sink @fn (called on the backend's thread) the same way. */
void e2e_back_set_audit(struct e2e_env *e, pvcalls_back_audit_fn fn, void *arg);
/*
 * Waits up to @timeout_ms for the backend to have exactly @frontends
 * frontends (ignored if negative), @active and @passive sockets; fails
 * the test otherwise. Returns the ms waited.
 */
int e2e_wait_back(struct e2e_env *e, int frontends, int active, int passive, int timeout_ms);

/* A socket with the safety-net timeouts set (and ring order if >= 0). */
int e2e_socket(struct e2e_env *e, int order);
/* Connects a frontend socket to 127.0.0.1:@port. */
int e2e_front_connect(struct e2e_env *e, int s, uint16_t port);
void e2e_release(struct e2e_env *e, int s);

/* --- plain TCP peers ---------------------------------------------------- */

int e2e_tcp_listen(uint16_t *port, int backlog);
/* A port on 127.0.0.1 that nobody listens on right now. */
uint16_t e2e_free_port(void);
/* Connected plain socket to 127.0.0.1:@port, or -errno (with safety-net timeouts). */
int e2e_tcp_connect(uint16_t port);
/* accept() with a timeout; fails the test on timeout (safety-net timeouts set). */
int e2e_tcp_accept(int lfd, int timeout_ms);
void e2e_tcp_timeouts(int fd, int ms);
/* A frontend socket connected to a plain TCP peer on 127.0.0.1 (*fd, with
 * E2E_SOCK_TIMEO_MS timeouts); fails the test on error. */
int e2e_connected_pair(struct e2e_env *e, int *fd);
void e2e_tcp_nodelay(int fd);
/* write()/read() everything; 0 or -errno (read: -EPIPE on early EOF). */
int e2e_write_all(int fd, const void *buf, size_t len);
int e2e_read_all(int fd, void *buf, size_t len);
/* Abortive close: SO_LINGER 0 then close (the peer sees a reset). */
void e2e_tcp_reset(int fd);

/* Frontend counterparts (blocking; loop over short counts). */
int e2e_fsend_all(struct e2e_env *e, int s, const void *buf, size_t len);
int e2e_frecv_all(struct e2e_env *e, int s, void *buf, size_t len);

/*
 * A poll()-based TCP server for many connections. Each client sends a
 * header {magic, idx, up, down} and then @up bytes of stream
 * E2E_SEED_UP(idx); the server sends @down bytes of stream
 * E2E_SEED_DOWN(idx) concurrently, verifies everything, and once both are
 * done waits for the client's EOF and closes.
 */
#define E2E_SRV_MAGIC 0x70766332u
#define E2E_SEED_UP(i) (0x5550000000000000ull + (uint64_t)(i))
#define E2E_SEED_DOWN(i) (0x444f000000000000ull + (uint64_t)(i))

struct e2e_hdr {
	uint32_t magic;
	uint32_t idx;
	uint64_t up;
	uint64_t down;
};

struct e2e_srv_conn {
	bool used, ok, eof;
};

struct e2e_srv {
	int lfd;
	uint16_t port;
	int max;
	pthread_t thr;
	int wake[2];
	struct e2e_srv_conn *res; /* by idx */
	int accepted, ok, eof;    /* counters, read with e2e_srv_counts */
	pthread_mutex_t lock;
};

void e2e_srv_start(struct e2e_srv *s, int max);
void e2e_srv_counts(struct e2e_srv *s, int *accepted, int *ok, int *eof);
/* Waits until ok >= @ok and eof >= @eof; fails the test after @timeout_ms. */
void e2e_srv_wait(struct e2e_srv *s, int ok, int eof, int timeout_ms);
void e2e_srv_stop(struct e2e_srv *s);

/*
 * A client thread of the server: @nsock blocking sockets on @fe with
 * indexes idx0.., each moving @bytes each way, round-robin (send a chunk,
 * take what has arrived), then released. Failures go to e2e_fail().
 */
struct e2e_client {
	pvcalls_front *fe;
	uint16_t port;
	int id;
	uint32_t idx0;
	int nsock;
	uint64_t bytes;
};
#define E2E_CLIENT_MAX_SOCKS 64
void *e2e_client_thread(void *arg);

/* --- Check glue --------------------------------------------------------- */

/* Common main(): ignores SIGPIPE, sets up logging, runs @s. */
int e2e_main(Suite *s);

#endif
