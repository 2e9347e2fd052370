/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-isolation: how much one shm guest slows another.
 *
 * One process holds a hub (on a Unix socket in a temporary directory), a
 * backend running in a thread, TCP echo and discard servers on 127.0.0.1,
 * and two guests, each with its own connection to the hub and its own
 * frontend. The victim measures the round-trip time of 64-byte echoes
 * (p50, p99) and its bulk throughput to the discard server; meanwhile the
 * attacker floods one of:
 *   commands       SOCKET + RELEASE pairs on its command ring
 *   notifications  evtchn_notify on its command ring's port (no requests)
 *   store          writes into its own device directory, which the
 *                  backend watches (each one makes it read the state)
 *   store txns     8 transactions at a time, each writing 64 nodes in
 *                  its device directory, then all committed (issue 13,
 *                  attack 4: transactions that cloned the whole tree
 *                  under the store's one lock stalled every guest)
 *   cpu spinner    (control) a thread that only burns CPU and never
 *                  talks to the hub or the backend
 * Every figure is printed next to the victim alone in the same run, as a
 * ratio. Nothing is asserted: the machine's load decides the numbers. The
 * attacker runs in this process, on the same CPUs as the backend and the
 * victim: the "cpu spinner" row is what one busy thread costs the victim
 * with no backend involved, so a flood's ratio beyond the spinner's is
 * what the backend (or the hub) lets one guest take from another.
 *
 *   pvcalls-isolation [--quick] [--rounds N] [--pin CPU] [--idle-attacker]
 *                     [--victim-cpu CPU] [--cmd-rate N|unlimited]
 *                     [--store-rate N|unlimited] [--rows LIST]
 *
 * --rounds N runs the whole sequence N times (interleaved, so a change in
 * the machine's load hits every row alike) and prints per-row medians.
 * --pin CPU pins the attacker's (and the spinner's) thread to one CPU.
 * --victim-cpu CPU pins every other thread (the victim, the backend, the
 * hub's service thread, the servers) to one CPU. With --pin on another
 * CPU this is the deployment the isolation target is about: the attacker
 * runs on a CPU of its own (a Xen guest's vCPU, a sandboxed process's
 * core), so what it costs the victim is what the backend and the hub do
 * for it, not its own CPU time. Unpinned on two CPUs, the scheduler's
 * placement moves the victim's figures by 2x from one round to the next.
 * --idle-attacker runs the attacker's (and the spinner's) thread under
 * SCHED_IDLE: it gets only CPU time the victim, the backend and the
 * servers leave idle, as a Xen guest's own vCPUs would not take the
 * backend's. The spinner row then shows what is left of the attacker's
 * own CPU cost (close to nothing), and a flood row what the backend and
 * the hub let it take; its "attack op/s" says how hard it still flooded.
 * --rows runs only the rows named (alone, spin, commands, notify, store,
 * txns; "alone" always runs, as the baseline).
 * --cmd-rate sets the backend's cmd_rate (struct pvcalls_back_limits;
 * default: the library's), --store-rate the hub's store_rate (struct
 * pvcalls_shm_opts), to compare a build with itself unlimited.
 * "back%" is the backend thread's CPU time over the row's wall time: the
 * victim's own traffic plus what the flood makes the backend do; "hub%"
 * the same for the hub's service thread. The "x" columns are medians of
 * each round's figure over the same round's "alone", with their
 * quartiles: rounds pair up in time, so a change in the machine's state
 * between rounds cancels.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/frontend.h>
#include <pvcalls/shm.h>
#include <pvcalls/wire.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pvcalls-isolation: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(1);
}

/* ------------------------------------------------------------------------
 * TCP servers on 127.0.0.1: echo and discard, one thread per connection.
 */

struct server {
	int lfd;
	uint16_t port;
	bool echo;
	uint64_t received; /* atomic */
	pthread_t th;
};

struct conn {
	struct server *s;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
		__atomic_fetch_add(&c->s->received, (uint64_t)n, __ATOMIC_RELAXED);
		if (c->s->echo && write(c->fd, buf, (size_t)n) != n)
			break;
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		pthread_t th;
		int one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* listener closed */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		if (pthread_create(&th, NULL, conn_main, c)) {
			close(fd);
			free(c);
			continue;
		}
		pthread_setname_np(th, s->echo ? "echo-conn" : "sink-conn");
		pthread_detach(th);
	}
}

static void server_start(struct server *s, bool echo)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->echo = echo;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->lfd, 64) < 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) < 0)
		die("server", errno);
	s->port = ntohs(sa.sin_port);
	if (pthread_create(&s->th, NULL, server_main, s))
		die("server thread", EAGAIN);
	pthread_setname_np(s->th, echo ? "echo-accept" : "sink-accept");
}

/* ------------------------------------------------------------------------
 * Guests.
 */

struct guest {
	pvcalls_transport *t;
	pvcalls_front *fe;
	uint32_t domid;
};

static void guest_open(struct guest *g, const char *path)
{
	struct pvcalls_front_opts fo = { .connect_timeout_ms = 5000 };
	int rc = pvcalls_shm_connect(path, NULL, &g->t);

	if (rc)
		die("connect to the hub", rc);
	rc = pvcalls_transport_local_domid(g->t, &g->domid);
	if (!rc)
		rc = pvcalls_front_open(g->t, &fo, &g->fe);
	if (rc)
		die("frontend", rc);
}

static int front_connect(struct guest *g, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = pvcalls_front_socket(g->fe, AF_INET, SOCK_STREAM, 0), rc;
	int one = 1;

	if (s < 0)
		die("socket", s);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = pvcalls_front_connect(g->fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc)
		die("connect", rc);
	pvcalls_front_setsockopt(g->fe, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pvcalls_front_setopt(g->fe, s, PVCALLS_OPT_SNDTIMEO_MS, 10000);
	pvcalls_front_setopt(g->fe, s, PVCALLS_OPT_RCVTIMEO_MS, 10000);
	return s;
}

/* ------------------------------------------------------------------------
 * The attacker.
 */

enum flood {
	FLOOD_NONE,
	FLOOD_SPIN,
	FLOOD_COMMANDS,
	FLOOD_NOTIFY,
	FLOOD_STORE,
	FLOOD_TXN,
	NR_FLOODS
};
static const char *const flood_names[NR_FLOODS] = { "alone",         "cpu spinner",  "commands",
						    "notifications", "store writes", "store txns" };

/* FLOOD_TXN: transactions open at once, and writes in each. */
#define TXN_OPEN 8
#define TXN_WRITES 64

struct attacker {
	struct guest *g;
	enum flood kind;
	int stop; /* atomic */
	uint64_t ops;
	uint32_t port; /* its command ring's event channel */
	int cpu;       /* pinned there if >= 0 */
	bool idle;     /* SCHED_IDLE (--idle-attacker) */
	pthread_t th;
};

/* Keeps the spinner's loop from being optimised away. */
static volatile uint64_t spin_sink;

static void *attack_main(void *arg)
{
	struct attacker *a = arg;
	char path[128];
	uint64_t n = 0;

	pthread_setname_np(pthread_self(), "attacker");
	if (a->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(a->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			fprintf(stderr, "pvcalls-isolation: cannot pin to CPU %d\n", a->cpu);
	}
	if (a->idle) {
		struct sched_param sp = { .sched_priority = 0 };
		int e = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);

		if (e)
			die("SCHED_IDLE", e);
	}
	snprintf(path, sizeof(path), "/local/domain/%u/device/pvcalls/0/junk", a->g->domid);
	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		switch (a->kind) {
		case FLOOD_SPIN:
			for (unsigned i = 0; i < 1000; i++)
				spin_sink = spin_sink * 6364136223846793005ull + 1;
			break;
		case FLOOD_COMMANDS: {
			int s = pvcalls_front_socket(a->g->fe, AF_INET, SOCK_STREAM, 0);

			if (s >= 0)
				pvcalls_front_release(a->g->fe, s);
			break;
		}
		case FLOOD_NOTIFY:
			pvcalls_transport_evtchn_notify(a->g->t, a->port);
			break;
		case FLOOD_STORE: {
			char v[24];

			snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
			pvcalls_transport_store_write(a->g->t, PVCALLS_STORE_NO_TXN, path, v);
			break;
		}
		case FLOOD_TXN: {
			uint32_t txn[TXN_OPEN];
			int open = 0;

			for (; open < TXN_OPEN; open++)
				if (pvcalls_transport_store_txn_start(a->g->t, &txn[open]) < 0)
					break;
			for (int i = 0; i < open; i++)
				for (unsigned w = 0; w < TXN_WRITES; w++) {
					char p[160], v[24];

					snprintf(p, sizeof(p), "%s%d/%u", path, i, w);
					snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
					pvcalls_transport_store_write(a->g->t, txn[i], p, v);
				}
			/* Commit; one that conflicts (-EAGAIN) just ends. */
			for (int i = 0; i < open; i++)
				pvcalls_transport_store_txn_end(a->g->t, txn[i], false);
			break;
		}
		default:
			return NULL;
		}
		n++;
	}
	a->ops = n;
	return NULL;
}

/* ------------------------------------------------------------------------
 * The victim's measurements.
 */

/* Only doubles: main() takes the median of each member by offset. */
struct figures {
	double p50_us, p99_us, max_us, mbps;
	double attack_rate; /* attacker operations per second */
	double cmd_rate;    /* requests the backend took per second (both guests) */
	double back_cpu;    /* the backend thread's CPU time / wall time, % */
	double hub_cpu;     /* the hub's service thread's, % */
	double p99_x;       /* p99 over the same round's "alone" p99 */
	double mbps_x;      /* throughput over the same round's "alone" */
};
_Static_assert(sizeof(struct figures) == 10 * sizeof(double),
	       "struct figures: doubles only (a new member: a double, and count it here)");

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Echo round trips for @secs (at most @max of them); p50, p99, max in us. */
static void measure_rtt(struct guest *v, int s, double secs, unsigned max, struct figures *f)
{
	double *rtt = calloc(max, sizeof(*rtt)), end = now_s() + secs;
	char out[64], in[64];
	unsigned n = 0;

	if (!rtt)
		die("memory", ENOMEM);
	memset(out, 'p', sizeof(out));
	while (n < max && now_s() < end) {
		double t0 = now_s();
		size_t got = 0;

		if (pvcalls_front_send(v->fe, s, out, sizeof(out), 0) != (ssize_t)sizeof(out))
			die("victim send", EIO);
		while (got < sizeof(in)) {
			ssize_t r = pvcalls_front_recv(v->fe, s, in + got, sizeof(in) - got, 0);

			if (r <= 0)
				die("victim recv", r < 0 ? (int)-r : EPIPE);
			got += (size_t)r;
		}
		rtt[n++] = (now_s() - t0) * 1e6;
	}
	qsort(rtt, n, sizeof(*rtt), cmp_double);
	f->p50_us = n ? rtt[n / 2] : 0;
	f->p99_us = n ? rtt[(size_t)((double)n * 0.99)] : 0;
	f->max_us = n ? rtt[n - 1] : 0;
	free(rtt);
}

/* Bulk send for @secs; MB/s as the discard server counted it. */
static void measure_bulk(struct guest *v, int s, struct server *sink, double secs,
			 struct figures *f)
{
	static char buf[65536];
	uint64_t b0 = __atomic_load_n(&sink->received, __ATOMIC_RELAXED), b1;
	double t0 = now_s(), end = t0 + secs, t1;

	while (now_s() < end)
		if (pvcalls_front_send(v->fe, s, buf, sizeof(buf), 0) <= 0)
			die("victim bulk send", EIO);
	b1 = __atomic_load_n(&sink->received, __ATOMIC_RELAXED);
	t1 = now_s();
	f->mbps = (double)(b1 - b0) / (t1 - t0) / 1e6;
}

struct back_thread {
	pvcalls_back *b;
	volatile int stop;
	pthread_t th;
};

/* CPU time @th has used, in seconds. */
/* Seconds on clock @cid (a thread's CPU clock); 0 for none, (clockid_t)-1. */
static double clock_s(clockid_t cid)
{
	struct timespec ts;

	if (cid == (clockid_t)-1 || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(pthread_t th)
{
	clockid_t cid;

	return pthread_getcpuclockid(th, &cid) ? 0 : clock_s(cid);
}

/*
 * The CPU clock of the hub's service thread, which the library names
 * "pvcalls-hub": found by its name in /proc/self/task, and read through
 * the kernel's per-thread CPU clock id for a thread id (the encoding
 * of MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), Linux ABI).
 */
static clockid_t hub_clock(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	clockid_t cid = (clockid_t)-1;

	while (d && (e = readdir(d))) {
		char p[300], comm[32] = "";
		FILE *f;

		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		f = e->d_name[0] != '.' ? fopen(p, "r") : NULL;
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (!strcmp(comm, "pvcalls-hub\n"))
			cid = (clockid_t)((~(unsigned)atoi(e->d_name) << 3) | 6);
	}
	if (d)
		closedir(d);
	return cid;
}

static void *back_main(void *arg)
{
	struct back_thread *bt = arg;

	pvcalls_back_run(bt->b, &bt->stop);
	return NULL;
}

/* Requests the backend has taken so far, every command and extension. */
static uint64_t back_cmds(pvcalls_back *b)
{
	struct pvcalls_back_stats st;
	uint64_t n = 0;

	pvcalls_back_get_stats(b, &st);
	for (unsigned i = 0; i < PVCALLS_WIRE_NR_CMDS; i++)
		n += st.commands[i];
	for (unsigned i = 0; i < PVCALLS_BACK_EXT_CMDS; i++)
		n += st.ext_commands[i];
	return n;
}

/*
 * The median of @n rounds' @off field (a struct figures member); its
 * quartiles in *@lo (25%) and *@hi (75%) if not NULL. With one round all
 * three are that round.
 */
static double quantiles(struct figures *r, unsigned n, size_t off, double *lo, double *hi)
{
	double v[n];

	for (unsigned i = 0; i < n; i++)
		v[i] = *(double *)((char *)&r[i] + off);
	qsort(v, n, sizeof(*v), cmp_double);
	if (lo)
		*lo = v[(n - 1) / 4];
	if (hi)
		*hi = v[(3 * (n - 1) + 3) / 4];
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Short names for --rows, in enum flood's order. */
static const char *const row_keys[NR_FLOODS] = { "alone",  "spin",  "commands",
						 "notify", "store", "txns" };

/* "spin,notify" etc.: a bit per row named; 0 if a name is unknown. */
static unsigned parse_rows(const char *list)
{
	char buf[128], *tok, *save = NULL;
	unsigned rows = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = 0;

		while (k < NR_FLOODS && strcmp(tok, row_keys[k]))
			k++;
		if (k == NR_FLOODS)
			return 0;
		rows |= 1u << k;
	}
	return rows;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pvcalls-isolation [--quick] [--rounds N] [--pin CPU] "
		"[--victim-cpu CPU] [--idle-attacker]\n"
		"                         [--cmd-rate N|unlimited] [--store-rate N|unlimited]\n"
		"                         [--rows alone,spin,commands,notify,store,txns]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool quick = false;
	unsigned rounds = 1;
	int pin = -1, vcpu = -1;
	bool idle = false;
	unsigned rows = ~0u; /* bit k: row k runs ("alone" always does) */
	struct pvcalls_back_opts bo = { 0 };
	struct pvcalls_shm_opts ho = { 0 };
	double secs;
	char dir[] = "/tmp/pvcalls-isolation-XXXXXX", path[128], buf[32];
	struct figures *all, fig[NR_FLOODS];
	struct {
		double p99_lo, p99_hi, mbps_lo, mbps_hi; /* quartiles of the ratios */
	} spread[NR_FLOODS];
	clockid_t hubclk;
	struct server echo, sink;
	struct back_thread bt = { 0 };
	struct guest victim, attacker;
	pvcalls_transport *hub;
	int es, bs, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--pin") && i + 1 < argc)
			pin = (int)strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--victim-cpu") && i + 1 < argc)
			vcpu = (int)strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--idle-attacker"))
			idle = true;
		else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
			rows = parse_rows(argv[++i]);
		else if (!strcmp(argv[i], "--cmd-rate") && i + 1 < argc &&
			 !strcmp(argv[i + 1], "unlimited"))
			bo.limits.cmd_rate = PVCALLS_BACK_UNLIMITED, i++;
		else if (!strcmp(argv[i], "--cmd-rate") && i + 1 < argc)
			bo.limits.cmd_rate = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--store-rate") && i + 1 < argc &&
			 !strcmp(argv[i + 1], "unlimited"))
			ho.store_rate = PVCALLS_SHM_UNLIMITED, i++;
		else if (!strcmp(argv[i], "--store-rate") && i + 1 < argc)
			ho.store_rate = (uint32_t)strtoul(argv[++i], NULL, 10);
		else
			usage();
	}
	if (rounds < 1 || rounds > 100 || pin < -1 || pin >= CPU_SETSIZE || vcpu < -1 ||
	    vcpu >= CPU_SETSIZE || !rows)
		usage();
	if (vcpu >= 0) {
		/* Before any thread starts: they all inherit it, but the attacker's
		 * (--pin moves it). */
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(vcpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("--victim-cpu", errno);
	}
	rows |= 1u << FLOOD_NONE;
	secs = quick ? 0.5 : 2.0;
	all = calloc((size_t)rounds * NR_FLOODS, sizeof(*all));
	if (!all)
		die("memory", ENOMEM);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(path, sizeof(path), "%s/hub.sock", dir);
	server_start(&echo, true);
	server_start(&sink, false);
	rc = pvcalls_shm_listen(path, &ho, &hub);
	if (rc)
		die("hub", rc);
	hubclk = hub_clock();
	rc = pvcalls_back_new(hub, &bo, &bt.b);
	if (rc)
		die("backend", rc);
	if (pthread_create(&bt.th, NULL, back_main, &bt))
		die("backend thread", EAGAIN);
	pthread_setname_np(bt.th, "backend");
	guest_open(&victim, path);
	guest_open(&attacker, path);
	es = front_connect(&victim, echo.port);
	bs = front_connect(&victim, sink.port);

	for (unsigned r = 0; r < rounds; r++) {
		for (int k = 0; k < NR_FLOODS; k++) {
			struct attacker a = {
				.g = &attacker, .kind = (enum flood)k, .cpu = pin, .idle = idle
			};
			struct figures *f = &all[(size_t)k * rounds + r];
			double t0, c0, h0;
			uint64_t n0;

			if (!(rows & (1u << k)))
				continue;
			if (k == FLOOD_NOTIFY) {
				char p[128];

				snprintf(p, sizeof(p), "/local/domain/%u/device/pvcalls/0/%s",
					 attacker.domid, PVCALLS_WIRE_KEY_PORT);
				rc = pvcalls_transport_store_read(attacker.t, PVCALLS_STORE_NO_TXN,
								  p, buf, sizeof(buf));
				if (rc < 0)
					die("attacker's port", rc);
				a.port = (uint32_t)strtoul(buf, NULL, 10);
			}
			t0 = now_s();
			c0 = thread_cpu_s(bt.th);
			h0 = clock_s(hubclk);
			n0 = back_cmds(bt.b);
			if (k != FLOOD_NONE && pthread_create(&a.th, NULL, attack_main, &a))
				die("attacker thread", EAGAIN);
			usleep(100000); /* let the flood reach its pace */
			measure_rtt(&victim, es, secs, 200000, f);
			measure_bulk(&victim, bs, &sink, secs, f);
			if (k != FLOOD_NONE) {
				__atomic_store_n(&a.stop, 1, __ATOMIC_RELAXED);
				pthread_join(a.th, NULL);
				f->attack_rate = (double)a.ops / (now_s() - t0);
			}
			f->back_cpu = 100 * (thread_cpu_s(bt.th) - c0) / (now_s() - t0);
			f->hub_cpu = 100 * (clock_s(hubclk) - h0) / (now_s() - t0);
			f->p99_x = f->p99_us / all[r].p99_us; /* row 0 ran first */
			f->mbps_x = f->mbps / all[r].mbps;
			f->cmd_rate = (double)(back_cmds(bt.b) - n0) / (now_s() - t0);
		}
	}
	for (int k = 0; k < NR_FLOODS; k++) {
		struct figures *r = &all[(size_t)k * rounds];

		/* Every member is a double (struct figures): the median of each. */
		for (size_t off = 0; off < sizeof(struct figures); off += sizeof(double))
			*(double *)((char *)&fig[k] + off) = quantiles(r, rounds, off, NULL, NULL);
		quantiles(r, rounds, offsetof(struct figures, p99_x), &spread[k].p99_lo,
			  &spread[k].p99_hi);
		quantiles(r, rounds, offsetof(struct figures, mbps_x), &spread[k].mbps_lo,
			  &spread[k].mbps_hi);
	}

	printf("victim over shm while another guest floods (%s run, %.1f s per figure, "
	       "%u round%s%s, attacker %s%s)\n",
	       quick ? "quick" : "full", secs, rounds, rounds > 1 ? "s" : "",
	       rounds > 1 ? ", medians" : "", pin >= 0 ? "pinned" : "not pinned",
	       idle ? ", SCHED_IDLE" : "");
	if (pin >= 0)
		printf("attacker and spinner pinned to CPU %d\n", pin);
	if (vcpu >= 0)
		printf("victim, backend, hub and servers pinned to CPU %d\n", vcpu);
	printf("%-14s %8s %8s %8s %8s %11s %8s %5s %5s %6s %-11s %6s %-11s\n", "attacker", "p50 us",
	       "p99 us", "max us", "MB/s", "attack op/s", "cmds/s", "back%", "hub%", "p99 x",
	       "(quartiles)", "MB/s x", "(quartiles)");
	for (int k = 0; k < NR_FLOODS; k++)
		if (rows & (1u << k))
			printf("%-14s %8.1f %8.1f %8.0f %8.1f %11.0f %8.0f %5.0f %5.0f %6.2f "
			       "%4.2f-%-6.2f "
			       "%6.2f %4.2f-%-6.2f\n",
			       flood_names[k], fig[k].p50_us, fig[k].p99_us, fig[k].max_us,
			       fig[k].mbps, fig[k].attack_rate, fig[k].cmd_rate, fig[k].back_cpu,
			       fig[k].hub_cpu, fig[k].p99_x, spread[k].p99_lo, spread[k].p99_hi,
			       fig[k].mbps_x, spread[k].mbps_lo, spread[k].mbps_hi);
	printf("x: the median over rounds of each round's figure over that round's \"alone\";\n"
	       "back%%, hub%%: CPU time of the backend's and the hub's threads over wall time\n");
	free(all);

	pvcalls_front_release(victim.fe, es);
	pvcalls_front_release(victim.fe, bs);
	pvcalls_front_close(victim.fe);
	pvcalls_front_close(attacker.fe);
	__atomic_store_n(&bt.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(bt.th, NULL);
	pvcalls_back_free(bt.b);
	pvcalls_transport_close(victim.t);
	pvcalls_transport_close(attacker.t);
	pvcalls_transport_close(hub);
	/* The servers' threads end with the process. */
	close(echo.lfd);
	close(sink.lfd);
	rmdir(dir);
	return 0;
}
