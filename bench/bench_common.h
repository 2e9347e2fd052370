/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench: what every case shares. The settings of the run, the
 * state the processes of one round share, process spawning and pinning,
 * the receiver's progress and its windowed rate, latency medians, and
 * the host side every backend case runs (a shm hub with the real
 * backend), its guest side and the TCP sink.
 */
#ifndef PVCALLS_BENCH_COMMON_H
#define PVCALLS_BENCH_COMMON_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>

#include "common/clock.h"
#include "common/relax.h"

#define CHUNK (64 * 1024) /* application write/read size, both sides, every case */
#define MAX_ROUNDS 32
#define S1_CONNS 1000
#define WATCHDOG_S 120
#define SAMP_MAX 16384   /* receiver progress samples, at most one per ms */
#define LAT_MAX 65536    /* per-operation (or per-batch) timings */
#define S2_STEP_MAX 8192 /* S2 cycles whose steps are kept (--verbose) */

/* ---------------------------------------------------------------------- */
/* Settings (bench_main.c fills them from the command line)               */

struct bench_cfg {
	bool quick;
	const char *json;
	int rounds;
	const char *only;
	int order;             /* -1: the frontend's default order for S1/S2 */
	bool no_baseline;      /* tuning aid: run the cases only */
	bool verbose;          /* per-round details on stderr */
	bool sweep;            /* also: T, R and S2 at every ring order (choosing the default) */
	uint32_t sweep_orders; /* bit N: order N in the sweep (default all) */
};
extern struct bench_cfg cfg; /* rounds 0: 7, or 5 with --quick */

/* Durations of one round, in seconds. */
extern double dur_bulk, dur_lat, dur_conn, dur_s1;
extern int cpu_guest, cpu_host, cpu_sink; /* -1: do not pin */
/* Tuning aids: wait policies for the cases that use the defaults (0: keep). */
extern uint32_t tune_front_spin, tune_back_spin;

/* ---------------------------------------------------------------------- */
/* State shared by the processes of one round (MAP_SHARED, reset per round) */

struct shared {
	/* rendezvous */
	int ready_b, ready_c;
	uint32_t guest_domid;
	uint16_t tcp_port;
	pid_t pid_b;
	int stop;
	/* results of the host side */
	uint64_t rx_bytes;
	int64_t t_last;
	double cpu_b;
	/* results of the guest side */
	uint64_t tx_bytes;
	int64_t t_start, t_end;
	double cpu_a;
	double value;
	/* wait statistics of the round (--verbose) */
	uint64_t fe_sleeps, fe_notifies, fe_suppressed, peer_sleeps, peer_notifies, peer_suppressed;
	/* the backend process over its loop: requests, read()/write() calls (--verbose) */
	uint64_t b_reqs, b_syscr, b_syscw;
	uint64_t audit_written, audit_dropped; /* A1: pvcallsd's audit queue */
	/* S1 */
	int s1_conns, s1_rounds, s1_order;
	double s1_one[MAX_ROUNDS], s1_all[MAX_ROUNDS];
	long s1_b_anon[2], s1_b_shmem[2], s1_a_anon[2], s1_a_shmem[2];
	char err[512];
	/* the receiver's progress, for windowed rates */
	uint32_t nsamp;
	struct {
		int64_t t;
		uint64_t bytes;
	} samp[SAMP_MAX];
	/* latency cases: one entry per operation or batch, in us */
	uint32_t nlat;
	double lat[LAT_MAX];
	/* S2 (--verbose): each step of each timed cycle, in us */
	uint32_t nstep;
	float step[S2_STEP_MAX][5];
	/* LT (bench_tail.c): p50, p99, max of wwr then wr, in us; exchanges timed */
	double tail[6];
	uint32_t tail_n[2];
	/* L2 baseline: one word on its own cache line */
	__attribute__((aligned(64))) uint32_t pp;
	__attribute__((aligned(64))) uint32_t pp_pad;
};

extern struct shared *sh;
extern char hub_path[108];

/* Maps the shared state; 0, or -1 (errno set). */
int shared_map(void);

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/* The timed loops read the library's clock (pvc_now_ns(), common/clock.h)
 * and relax between looks (cpu_relax(), common/relax.h). */

static inline double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

double cpu_self(void);
/* read()- and write()-family calls of this process so far (/proc/self/io). */
void io_calls(uint64_t *r, uint64_t *w);
void sleep_us(long us);
/* Records the first failure of the round (any process) and prints it; -1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool wait_flag(int *flag, int timeout_ms);
/* A line of /proc/<pid>/status, in kB; -1 if absent. */
long status_kb(pid_t pid, const char *key);
void loopback(struct sockaddr_in *sa, uint16_t port);
int write_all(int fd, const void *buf, size_t len);
int read_all(int fd, void *buf, size_t len);
uint8_t *pattern_buf(size_t len);
int cmp_dbl(const void *a, const void *b);
/* The median of @v[0..n) (sorted in place on return); NAN if n is 0. */
double median(double *v, size_t n);
/* A TCP listener on loopback, port in @sa; the socket, or -1 (errno). */
int tcp_listen(int flags, int backlog, struct sockaddr_in *sa);

/* ---------------------------------------------------------------------- */
/* Processes of a round                                                   */

/* Forks @fn(@arg) pinned to @cpu (-1: unpinned) under a watchdog. */
pid_t spawn(int cpu, int (*fn)(void *), void *arg);
/* Waits for @pid; 0 if it exited with 0, else -1 (the failure recorded). */
int reap(pid_t pid, const char *who);
/* Starts a round: fresh shared state and a fresh hub address. */
void round_reset(void);
/*
 * One round of two processes: the host side (a server, a ring peer, the
 * backend) first, then the guest side on cpu_guest; once the guest is
 * done, the host side is told to stop. 0, or nonzero if either failed.
 */
int host_then_guest(int host_cpu, int (*host)(void *), void *host_arg, const char *host_name,
		    int (*guest)(void *), void *guest_arg, const char *guest_name);
struct back_cfg;
/* Backend, TCP sink and frontend @guest (R1/R2, S1); 0, or -1. */
int backend_sink_front(struct back_cfg *bc, int (*guest)(void *), void *guest_arg);
/* @host and @guest joined by an AF_UNIX stream, unix_fds (the baselines). */
int unix_pair(int (*host)(void *), const char *host_name, int (*guest)(void *),
	      const char *guest_name);

/* ---------------------------------------------------------------------- */
/* Measuring inside a round                                               */

/* The receiver's progress: @total bytes so far. */
void note_progress(uint64_t total);
/* The receiving rate in GB/s over [t0, t1): the median of fixed windows. */
double window_rate(int64_t t0, int64_t t1);
/* Latency cases: one timing in us (of one operation, or a batch's mean). */
void lat_add(double us);
/* The median of the timings of a round. */
double lat_median(void);

/*
 * The timed loop of a latency case: @warm iterations untimed, then timed
 * ones until @dur seconds have passed since the first timed one:
 *
 *	struct timed_loop l = { .warm = 20, .dur = dur_lat };
 *	for (;;) {
 *		int64_t t0 = tl_start(&l);
 *		... @ops operations ...
 *		if (tl_end(&l, t0, pvc_now_ns(), ops))
 *			break;
 *	}
 */
struct timed_loop {
	int warm;   /* iterations before the timed ones */
	double dur; /* seconds of timed iterations */
	int i;
	int64_t end;
};

static inline int64_t tl_start(struct timed_loop *l)
{
	int64_t t0 = pvc_now_ns();

	if (l->i == l->warm)
		l->end = t0 + (int64_t)(l->dur * 1e9);
	return t0;
}

/* Whether the current iteration is a timed one. */
static inline bool tl_timed(const struct timed_loop *l)
{
	return l->i >= l->warm;
}

/* Ends an iteration of @ops operations, [t0, t1): a timed one adds their
 * mean (us) to the round's timings. True when the loop is over. */
static inline bool tl_end(struct timed_loop *l, int64_t t0, int64_t t1, int ops)
{
	if (l->i++ < l->warm)
		return false;
	lat_add((double)(t1 - t0) / 1e3 / ops);
	return t1 >= l->end;
}

/* ---------------------------------------------------------------------- */
/* The host side: a shm hub running the real backend; its guest side      */

struct back_cfg {
	uint32_t spin_us; /* 0: default; PVCALLS_BACK_NO_SPIN */
	bool many;        /* S1: limits for 1,000 connections */
	bool audit;       /* A1: pvcallsd's audit queue, to a file */
};

int side_backend(void *arg);
/* The guest side: connects to the hub of this round and opens a frontend. */
int guest_open(uint32_t order, uint32_t spin_us, const struct pvcalls_shm_opts *go,
	       pvcalls_transport **tp, pvcalls_front **fep);
void front_stats(pvcalls_front *fe);
void guest_close(pvcalls_transport *t, pvcalls_front *fe);

/* The frontend's bulk cases (T, R): ring order and wait policy. */
struct bulk_cfg {
	uint32_t order;
	uint32_t spin_us;
	bool to_sink; /* R: through the backend to the TCP sink */
};
/* Their frontend (struct bulk_cfg): one connection, sends for dur_bulk. */
int side_front_stream(void *arg);
/* Their baselines' sender: CHUNK-byte writes on @fd for dur_bulk seconds,
 * sh->t_start to sh->t_end, sh->tx_bytes in all; 0, or -1 ("@who: ..."). */
int fd_write_for(int fd, const uint8_t *buf, const char *who);

/* ---------------------------------------------------------------------- */
/* The TCP sink: accepts any number of connections, reads everything      */

int side_sink(void *arg);
/* Waits for the sink of this round; its address in @sa. 0, or -1. */
int sink_addr(const char *who, struct sockaddr_in *sa);
/* Waits until the sink counted @total bytes; returns the last arrival. */
int64_t sink_wait(uint64_t total);

/* An AF_UNIX stream pair for the baselines; the children close one end each. */
extern int unix_fds[2];

#endif
