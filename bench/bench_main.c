/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench: the targets of docs/PERFORMANCE.md, each next to its
 * baseline, in one run and one process tree.
 *
 * Every round forks fresh processes: the "guest" side (the frontend, or
 * the baseline's client) pinned to the first CPU, the "host" side (a shm
 * hub with the backend, a ring peer, or the baseline's server) pinned to
 * the second, and where a TCP peer is needed a sink pinned with the host
 * side. Case and baseline rounds alternate (and swap order every round),
 * so a change of load on this shared machine hits both alike; every
 * figure is the median of the rounds and every ratio is taken between
 * medians of the same run. Within a round, rates are the median of 20 ms
 * windows of the receiver's progress and latencies the median of the
 * operations (window_rate(), lat_median()), for case and baseline alike.
 *
 * What each case measures (and why) is written next to its code and in
 * docs/PERFORMANCE.md:
 *   T1/T2/T3  pvcalls_front_send() -> data ring -> ring peer (a minimal
 *             backend from the public ring API that consumes like the
 *             backend's relay, copying into a 64 KiB buffer as a socket
 *             reader would) vs an AF_UNIX stream with 64 KiB writes.
 *             bench_ring.c, with L2ring (the command ring alone) and
 *             L2area (the same, plus GETSOCKOPT's reply area, vs L2ring).
 *   L1/L2     GETSOCKOPT round trips through the real backend vs
 *             a 64-byte AF_UNIX ping-pong / a shared-atomic ping-pong;
 *             A1/A2, the same with pvcallsd's audit log on. bench_cmd.c.
 *   R1/R2     frontend -> backend -> TCP -> sink vs a direct TCP stream
 *             to the same sink. bench_relay.c.
 *   LT        small request/response exchanges through the backend to a
 *             TCP server, p50/p99/max, vs direct TCP with TCP_NODELAY.
 *             bench_tail.c.
 *   S1        1,000 connections through the backend, all sending, vs one;
 *             backend RSS per idle connection vs its rings + 16 KiB.
 *   S2        socket+connect+accept+release x2 through the protocol vs
 *             the same on TCP loopback. S1 and S2: bench_scale.c.
 * What they share (processes, pinning, windows, medians, the backend
 * and the sink) is bench_common.c; this file has the options, which
 * rounds run in which order, and the table and JSON Lines output.
 *
 * Exit status: 0 unless something broke; figures never fail the run.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/common.h>
#include <pvcalls/frontend.h>

#include <pvcalls_tools.h>

#include "bench.h"
#include "bench_common.h"

/* ---------------------------------------------------------------------- */
/* Results                                                                */

/* VALUE_AT_MOST: an absolute bound on the worst round's value (LT's
 * "no exchange slower than 10 ms"), not on a ratio. */
enum dir { INFO, AT_LEAST, AT_MOST, VALUE_AT_MOST };

struct result {
	const char *id, *what, *unit, *baseline;
	enum dir dir;
	double target;
	double v[MAX_ROUNDS], b[MAX_ROUNDS];
	int n;
	bool error;
	char note[512];
	/* computed */
	double value, bvalue, ratio;
	double vmin, vmax, bmin, bmax;
	bool met;
};

#define MAX_RESULTS 64
static struct result results[MAX_RESULTS];
static int nresults;
static bool broken;

static struct result *result_new(const char *id, const char *what, const char *unit,
				 const char *baseline, enum dir dir, double target)
{
	struct result *r = &results[nresults++];

	*r = (struct result){ .id = id,
			      .what = what,
			      .unit = unit,
			      .baseline = baseline,
			      .dir = dir,
			      .target = target };
	return r;
}

static void stats(const double *v, int n, double *med, double *mn, double *mx)
{
	double s[MAX_ROUNDS];

	if (n <= 0) {
		*med = *mn = *mx = NAN;
		return;
	}
	memcpy(s, v, (size_t)n * sizeof(*s));
	*med = median(s, (size_t)n); /* sorts s */
	*mn = s[0];
	*mx = s[n - 1];
}

static void result_finish(struct result *r)
{
	stats(r->v, r->n, &r->value, &r->vmin, &r->vmax);
	stats(r->b, r->n, &r->bvalue, &r->bmin, &r->bmax);
	r->ratio = r->bvalue > 0 ? r->value / r->bvalue : NAN;
	if (r->error || r->n == 0)
		r->met = false;
	else if (r->dir == AT_LEAST)
		r->met = r->ratio >= r->target;
	else if (r->dir == AT_MOST)
		r->met = r->ratio <= r->target;
	else if (r->dir == VALUE_AT_MOST)
		r->met = r->vmax <= r->target;
	else
		r->met = true;
	if (r->error)
		broken = true;
}

static bool wanted(const char *id)
{
	const char *p = cfg.only;
	size_t l = strlen(id);

	if (!p)
		return true;
	while (*p) {
		size_t k = strcspn(p, ",");

		if (k == l && !strncasecmp(p, id, l))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

static void progress(const char *id, int r, int n, const char *what)
{
	fprintf(stderr, "%s round %d/%d %s...\n", id, r + 1, n, what);
}

/* Runs @n interleaved rounds of a case and its baseline. */
#define INTERLEAVE(res, CASE, BASE)                                                        \
	do {                                                                               \
		for (int r_ = 0; r_ < cfg.rounds && !(res)->error; r_++) {                 \
			double cv_ = NAN, bv_ = NAN;                                       \
			int rc_ = 0;                                                       \
			progress((res)->id, r_, cfg.rounds, "");                           \
			for (int k_ = 0; k_ < 2 && !rc_; k_++) {                           \
				if ((k_ == 0) == !(r_ & 1))                                \
					rc_ = (CASE);                                      \
				else if (!cfg.no_baseline)                                 \
					rc_ = (BASE);                                      \
			}                                                                  \
			if (rc_) {                                                         \
				(res)->error = true;                                       \
				snprintf((res)->note, sizeof((res)->note), "%s", sh->err); \
				break;                                                     \
			}                                                                  \
			(res)->v[(res)->n] = cv_;                                          \
			(res)->b[(res)->n++] = bv_;                                        \
		}                                                                          \
		result_finish(res);                                                        \
	} while (0)

static void run_bulk(void)
{
	struct result *t1 = NULL, *t3 = NULL, *t2 = NULL;
	struct bulk_res cr, br;
	double c3[MAX_ROUNDS], b3[MAX_ROUNDS];

	if (wanted("T1") || wanted("T3")) {
		t1 = result_new("T1", "data ring bulk, order 9, pvcalls_front_send -> ring peer",
				"GB/s", "AF_UNIX stream, 64 KiB writes", AT_LEAST, 2.0);
		INTERLEAVE(t1,
			   (cv_ = (round_bulk_ring(9, 0, &cr) ? NAN : cr.gbps),
			    c3[r_] = cr.cpu_per_gb, isnan(cv_) ? -1 : 0),
			   (bv_ = (round_bulk_unix(&br) ? NAN : br.gbps), b3[r_] = br.cpu_per_gb,
			    isnan(bv_) ? -1 : 0));
		t3 = result_new("T3", "CPU seconds per GB (both sides), order 9", "s/GB",
				"AF_UNIX stream, 64 KiB writes", AT_MOST, 0.6);
		memcpy(t3->v, c3, sizeof(c3));
		memcpy(t3->b, b3, sizeof(b3));
		t3->n = t1->n;
		t3->error = t1->error;
		result_finish(t3);
	}
	if (wanted("T2")) {
		t2 = result_new("T2", "data ring bulk, order 4, default wait policy", "GB/s",
				"AF_UNIX stream, 64 KiB writes", AT_LEAST, 1.0);
		INTERLEAVE(
			t2,
			(cv_ = (round_bulk_ring(4, 0, &cr) ? NAN : cr.gbps), isnan(cv_) ? -1 : 0),
			(bv_ = (round_bulk_unix(&br) ? NAN : br.gbps), isnan(bv_) ? -1 : 0));
	}
}

static void run_lat(void)
{
	if (wanted("L1")) {
		struct result *r = result_new("L1", "command round trip, blocking (no spin)", "us",
					      "64-byte AF_UNIX round trip", AT_MOST, 1.1);

		INTERLEAVE(r, round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, false, &cv_),
			   round_pp_unix(&bv_));
	}
	if (wanted("L2")) {
		/* Issue 14: L2 against its own floor, the command ring alone
		 * (L2ring's figure), in the same rounds. */
		struct result *r =
			result_new("L2", "command round trip, polling (default spin)", "us",
				   "the command ring alone (L2ring)", AT_MOST, 1.3);

		INTERLEAVE(r, round_lat_pvcalls(0, false, &cv_), round_cmdring(false, &bv_));
		r = result_new("L2ring", "the command ring alone (ring API, no work)", "us",
			       "shared-atomic ping-pong", INFO, 0);
		INTERLEAVE(r, round_cmdring(false, &cv_), round_pp_atomic(&bv_));
		r = result_new("L2area", "the command ring with a reply area (information)", "us",
			       "the command ring alone", INFO, 0);
		INTERLEAVE(r, round_cmdring(true, &cv_), round_cmdring(false, &bv_));
	}
	if (wanted("A1")) {
		/* Issue 5: what auditing costs a command round trip, measured
		 * as pvcallsd audits (format in the loop, queue, writer thread,
		 * a file), against the same round trip unaudited. */
		struct result *r = result_new("A1", "command round trip, blocking, audit log on",
					      "us", "the same, audit log off", INFO, 0);

		INTERLEAVE(r, round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, true, &cv_),
			   round_lat_pvcalls(PVCALLS_BACK_NO_SPIN, false, &bv_));
		r = result_new("A2", "command round trip, polling, audit log on", "us",
			       "the same, audit log off", INFO, 0);
		INTERLEAVE(r, round_lat_pvcalls(0, true, &cv_), round_lat_pvcalls(0, false, &bv_));
	}
}

static void run_relay(void)
{
	if (wanted("R1")) {
		struct result *r = result_new("R1", "frontend -> backend -> TCP peer, order 9",
					      "GB/s", "direct TCP loopback", AT_LEAST, 1.0);

		INTERLEAVE(r, round_relay(9, &cv_), round_tcp(&bv_));
	}
	if (wanted("R6")) {
		struct result *r =
			result_new("R6", "frontend -> backend -> TCP peer, order 6 (default)",
				   "GB/s", "direct TCP loopback", AT_LEAST, 0.9);

		INTERLEAVE(r, round_relay(PVCALLS_FRONT_DEFAULT_ORDER, &cv_), round_tcp(&bv_));
	}
	if (wanted("R2")) {
		/* Information since issue 14: the two-vCPU bound of
		 * docs/PERFORMANCE.md keeps small rings below direct TCP. */
		struct result *r = result_new("R2", "frontend -> backend -> TCP peer, order 4",
					      "GB/s", "direct TCP loopback", INFO, 0);

		INTERLEAVE(r, round_relay(4, &cv_), round_tcp(&bv_));
	}
}

/*
 * LT: the tails of small exchanges through the backend (bench_tail.c).
 * Six information rows from the same rounds: p50, p99 and max of each
 * pattern, each against the same statistic over direct TCP.
 */
static void run_tail(void)
{
	static const char *const id[6] = { "LTwwr.p50", "LTwwr.p99", "LTwwr.max",
					   "LTwr.p50",  "LTwr.p99",  "LTwr.max" };
	static const char *const what[6] = {
		"write 32+32, read 64, through the backend: p50",
		"write 32+32, read 64, through the backend: p99",
		"write 32+32, read 64, through the backend: max",
		"write 64, read 64, through the backend: p50",
		"write 64, read 64, through the backend: p99",
		"write 64, read 64, through the backend: max",
	};
	struct result *r[6];
	bool err = false;

	if (!wanted("LT") || nresults + 6 > MAX_RESULTS)
		return;
	/* Issue 14's targets: p99 <= 2x direct TCP, and no exchange slower
	 * than 10 ms (the worst round's max, in us); p50 is information. */
	for (int k = 0; k < 6; k++)
		r[k] = result_new(id[k], what[k], "us", "direct TCP, TCP_NODELAY, same exchanges",
				  k % 3 == 0   ? INFO
				  : k % 3 == 1 ? AT_MOST
					       : VALUE_AT_MOST,
				  k % 3 == 1   ? 2.0
				  : k % 3 == 2 ? 10000.0
					       : 0);
	for (int i = 0; i < cfg.rounds && !err; i++) {
		double cv[6], bv[6];

		progress("LT", i, cfg.rounds, "");
		for (int k = 0; k < 2 && !err; k++) {
			if ((k == 0) == !(i & 1))
				err = round_tail_pvcalls(cv) < 0;
			else if (!cfg.no_baseline)
				err = round_tail_tcp(bv) < 0;
			else
				for (int j = 0; j < 6; j++)
					bv[j] = NAN;
		}
		if (err) {
			for (int k = 0; k < 6; k++) {
				r[k]->error = true;
				snprintf(r[k]->note, sizeof(r[k]->note), "%s", sh->err);
			}
			break;
		}
		for (int k = 0; k < 6; k++) {
			r[k]->v[r[k]->n] = cv[k];
			r[k]->b[r[k]->n++] = bv[k];
		}
	}
	for (int k = 0; k < 6; k++)
		result_finish(r[k]);
}

static void run_s1(void)
{
	struct result *r, *m;

	if (!wanted("S1"))
		return;
	r = result_new("S1", "1,000 connections sending at once, aggregate", "GB/s",
		       "one connection, same harness", AT_LEAST, 0.8);
	m = result_new("S1mem", "backend memory per idle connection", "KiB", "its rings + 16 KiB",
		       AT_MOST, 1.0);
	fprintf(stderr, "S1 setting up %d connections...\n", S1_CONNS);
	if (round_s1()) {
		r->error = m->error = true;
		snprintf(r->note, sizeof(r->note), "%s", sh->err);
		snprintf(m->note, sizeof(m->note), "%s", sh->err);
	} else {
		double ring_kib = (double)((1u << sh->s1_order) + 1) * 4.0;
		double dba = (double)(sh->s1_b_anon[1] - sh->s1_b_anon[0]) / S1_CONNS;
		double dbs = (double)(sh->s1_b_shmem[1] - sh->s1_b_shmem[0]) / S1_CONNS;
		double daa = (double)(sh->s1_a_anon[1] - sh->s1_a_anon[0]) / S1_CONNS;
		double das = (double)(sh->s1_a_shmem[1] - sh->s1_a_shmem[0]) / S1_CONNS;

		for (int i = 0; i < cfg.rounds; i++) {
			r->v[i] = sh->s1_all[i];
			r->b[i] = sh->s1_one[i];
		}
		r->n = cfg.rounds;
		m->v[0] = dba + dbs;
		m->b[0] = ring_kib + 16;
		m->n = 1;
		snprintf(m->note, sizeof(m->note),
			 "order %d; backend RSS +%.1f KiB anon +%.1f KiB shared per connection; "
			 "frontend +%.1f KiB anon +%.1f KiB shared (the rings are its memory)",
			 sh->s1_order, dba, dbs, daa, das);
	}
	result_finish(r);
	result_finish(m);
}

static void run_s2(void)
{
	if (wanted("S2")) {
		struct result *r =
			result_new("S2", "connect+accept+release x2 through the protocol", "conn/s",
				   "TCP loopback connect/accept/close", AT_LEAST, 1.0);

		INTERLEAVE(r, round_setup_pvcalls(&cv_), round_setup_tcp(&bv_));
	}
}

/*
 * --sweep: the same cases at every ring order, as information (no
 * target), for choosing PVCALLS_FRONT_DEFAULT_ORDER: bulk through the
 * ring and through the backend grow with the order, connection set-up
 * and memory per connection shrink.
 */
static void run_sweep(void)
{
	static const char *const tid[] = { "T@0", "T@1", "T@2", "T@3", "T@4",
					   "T@5", "T@6", "T@7", "T@8", "T@9" };
	static const char *const rid[] = { "R@0", "R@1", "R@2", "R@3", "R@4",
					   "R@5", "R@6", "R@7", "R@8", "R@9" };
	static const char *const sid[] = { "S2@0", "S2@1", "S2@2", "S2@3", "S2@4",
					   "S2@5", "S2@6", "S2@7", "S2@8", "S2@9" };
	int saved = cfg.order;

	if (!cfg.sweep)
		return;
	for (uint32_t o = 0; o <= 9 && nresults + 3 <= MAX_RESULTS; o++) {
		struct result *r;
		struct bulk_res cr, br;

		if (!(cfg.sweep_orders & (1u << o)))
			continue;

		r = result_new(tid[o], "data ring bulk at this order", "GB/s", "AF_UNIX stream",
			       INFO, 0);
		INTERLEAVE(
			r,
			(cv_ = (round_bulk_ring(o, 0, &cr) ? NAN : cr.gbps), isnan(cv_) ? -1 : 0),
			(bv_ = (round_bulk_unix(&br) ? NAN : br.gbps), isnan(bv_) ? -1 : 0));
		r = result_new(rid[o], "through the backend to a TCP peer at this order", "GB/s",
			       "direct TCP loopback", INFO, 0);
		INTERLEAVE(r, round_relay(o, &cv_), round_tcp(&bv_));
		cfg.order = (int)o;
		r = result_new(sid[o], "connection set-up at this order", "conn/s", "TCP loopback",
			       INFO, 0);
		INTERLEAVE(r, round_setup_pvcalls(&cv_), round_setup_tcp(&bv_));
		cfg.order = saved;
	}
}

static void fmt_range(char *out, size_t len, double med, double mn, double mx, int n)
{
	if (isnan(med))
		snprintf(out, len, "-");
	else if (n > 1)
		snprintf(out, len, "%.3g [%.3g-%.3g]", med, mn, mx);
	else
		snprintf(out, len, "%.3g", med);
}

static void print_table(FILE *f)
{
	fprintf(f, "\n%-6s %-50s %-26s %-26s %-7s %-8s %s\n", "id", "what", "value [min-max]",
		"baseline [min-max]", "ratio", "target", "met");
	for (int i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		char v[64], b[64], tg[32];

		fmt_range(v, sizeof(v), r->value, r->vmin, r->vmax, r->n);
		fmt_range(b, sizeof(b), r->bvalue, r->bmin, r->bmax, r->n);
		if (r->dir == INFO)
			snprintf(tg, sizeof(tg), "-");
		else if (r->dir == VALUE_AT_MOST)
			snprintf(tg, sizeof(tg), "max<=%g", r->target);
		else
			snprintf(tg, sizeof(tg), "%s %.1fx",
				 r->dir == AT_LEAST ? ">=" : "<=", r->target);
		fprintf(f, "%-6s %-50s %-19s %-6s %-26s %-7.2f %-8s %s\n", r->id, r->what, v,
			r->unit, b, r->ratio, tg,
			r->error         ? "ERROR"
			: r->dir == INFO ? "-"
			: r->met         ? "yes"
					 : "no");
		fprintf(f, "%-6s   baseline: %s%s%s\n", "", r->baseline, r->note[0] ? "; " : "",
			r->note);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

/* ,"key":value after the first member of an object. */
static void json_str_at(FILE *f, const char *key, const char *s)
{
	fprintf(f, ",\"%s\":", key);
	json_str(f, s);
}

static void json_num_at(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	json_num(f, v);
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return fail("%s: %s", path, strerror(errno));
	for (int i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		char tg[32];

		if (r->dir == INFO)
			snprintf(tg, sizeof(tg), "none");
		else if (r->dir == VALUE_AT_MOST) /* not a ratio: plots skip it */
			snprintf(tg, sizeof(tg), "max<=%g", r->target);
		else
			snprintf(tg, sizeof(tg), "%s%.1f",
				 r->dir == AT_LEAST ? ">=" : "<=", r->target);
		fputs("{\"id\":", f);
		json_str(f, r->id);
		json_str_at(f, "what", r->what);
		json_num_at(f, "value", r->value);
		json_str_at(f, "unit", r->unit);
		json_str_at(f, "baseline", r->baseline);
		json_num_at(f, "baseline_value", r->bvalue);
		json_num_at(f, "ratio", r->ratio);
		json_str_at(f, "target", tg);
		fprintf(f, ",\"met\":%s", r->dir == INFO ? "null" : r->met ? "true" : "false");
		json_num_at(f, "min", r->vmin);
		json_num_at(f, "max", r->vmax);
		json_num_at(f, "baseline_min", r->bmin);
		json_num_at(f, "baseline_max", r->bmax);
		fprintf(f, ",\"rounds\":%d,\"error\":%s", r->n, r->error ? "true" : "false");
		json_str_at(f, "note", r->note);
		fputs("}\n", f);
	}
	return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcalls-bench [--quick] [--json FILE] [--rounds N] [--only IDS] [options]\n"
		"  --quick          short rounds (under 15 s in all), for CI\n"
		"  --json FILE      also write one JSON object per case (JSON Lines)\n"
		"  --rounds N       rounds per case and baseline (default 7, --quick 3)\n"
		"  --only IDS       comma-separated case ids: T1,T3,T2,L1,L2,A1,R1,R6,R2,LT,S1,S2\n"
		"                   (S1 also gives S1mem; T1 and T3 come from the same rounds;\n"
		"                   A1 also gives A2: the cost of pvcallsd's audit log;\n"
		"                   LT: tail latency of small exchanges, six rows)\n"
		"  --order N        ring order for S1 and S2 (default: the frontend's, %u)\n"
		"  --sweep          also T, R and S2 at every ring order 0-9 (information)\n"
		"  --sweep-orders L only these orders, comma-separated (e.g. 0,6,9)\n"
		"  --verbose        per-round details on stderr\n"
		"tuning aids (figures then differ from the targets' definitions):\n"
		"  --no-baseline    run the cases only\n"
		"  --front-spin US  frontend spin_us where the cases use the default\n"
		"  --back-spin US   backend (and ring peer) spin_us likewise\n"
		"  --sink-cpu N     pin the TCP sink to CPU N (-1: unpinned; default: the\n"
		"                   host side's CPU)\n",
		PVCALLS_FRONT_DEFAULT_ORDER);
}

static void pick_cpus(void)
{
	cpu_set_t set;
	int found = 0;

	cpu_guest = cpu_host = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && found < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (found++ == 0)
			cpu_guest = i;
		else
			cpu_host = i;
	}
	if (found < 2)
		cpu_guest = cpu_host = -1; /* one CPU: nothing to pin apart */
	cpu_sink = cpu_host;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "order", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ "no-baseline", no_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "sink-cpu", required_argument, NULL, 'S' },
		{ "sweep", no_argument, NULL, 'W' },
		{ "sweep-orders", required_argument, NULL, 'w' },
		{ "front-spin", required_argument, NULL, 'F' },
		{ "back-spin", required_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct rlimit rl;
	struct utsname un;
	int sink_cpu = -2;
	double load[3] = { 0 };
	int64_t t0 = pvc_now_ns();
	int c;

	while ((c = getopt_long(argc, argv, "qj:r:o:O:hBvS:F:K:Ww:", lo, NULL)) != -1) {
		switch (c) {
		case 'v':
			cfg.verbose = true;
			break;
		case 'W':
			cfg.sweep = true;
			break;
		case 'w': {
			char *p = optarg, *e;

			cfg.sweep = true;
			cfg.sweep_orders = 0;
			for (;;) {
				long o = strtol(p, &e, 10);

				if (e == p || o < 0 || o > 9) {
					fprintf(stderr, "pvcalls-bench: --sweep-orders: 0..9, "
							"comma-separated\n");
					return 2;
				}
				cfg.sweep_orders |= 1u << o;
				if (*e != ',')
					break;
				p = e + 1;
			}
			if (*e) {
				fprintf(stderr,
					"pvcalls-bench: --sweep-orders: 0..9, comma-separated\n");
				return 2;
			}
			break;
		}
		case 'S':
			sink_cpu = atoi(optarg);
			break;
		case 'F':
			tune_front_spin = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'K':
			tune_back_spin = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'B':
			cfg.no_baseline = true;
			break;
		case 'q':
			cfg.quick = true;
			break;
		case 'j':
			cfg.json = optarg;
			break;
		case 'r':
			cfg.rounds = atoi(optarg);
			if (cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS) {
				fprintf(stderr, "pvcalls-bench: --rounds 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 'O':
			cfg.order = atoi(optarg);
			if (cfg.order < 0 || cfg.order > 9) {
				fprintf(stderr, "pvcalls-bench: --order 0..9\n");
				return 2;
			}
			break;
		case 'V':
			return pvcalls_tool_version("pvcalls-bench");
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.rounds)
		cfg.rounds = cfg.quick ? 3 : 7;
	if (cfg.quick) {
		dur_bulk = 0.08;
		dur_lat = 0.05;
		dur_conn = 0.05;
		dur_s1 = 0.08;
	} else {
		dur_bulk = 0.5;
		dur_lat = 0.3;
		dur_conn = 0.3;
		dur_s1 = 0.4;
	}
	if (shared_map() < 0) {
		perror("mmap");
		return 1;
	}
	/* S1 needs ~2,000 descriptors on the host side. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	pick_cpus();
	if (sink_cpu != -2)
		cpu_sink = sink_cpu;
	uname(&un);
	getloadavg(load, 3);
	fprintf(stderr,
		"pvcalls-bench %s: %s %s, %ld CPUs online, guest side on CPU %d, host side "
		"on CPU %d, load %.2f %.2f %.2f, %d rounds%s\n",
		pvcalls_version(), un.sysname, un.release, sysconf(_SC_NPROCESSORS_ONLN), cpu_guest,
		cpu_host, load[0], load[1], load[2], cfg.rounds, cfg.quick ? ", quick" : "");

	run_bulk();
	run_lat();
	run_relay();
	run_tail();
	run_s1();
	run_s2();
	run_sweep();

	print_table(stdout);
	getloadavg(load, 3);
	printf("\n%d cases in %.1f s; load at the end %.2f %.2f %.2f\n", nresults,
	       secs(pvc_now_ns() - t0), load[0], load[1], load[2]);
	if (cfg.json && write_json(cfg.json) < 0)
		broken = true;
	return broken ? 1 : 0;
}
