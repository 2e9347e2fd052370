/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-bench: the entry points of each family of cases. Each runs one
 * round (fresh processes, bench_common.h) of a case or of its baseline
 * and returns 0 with the round's figure, or -1 with the failure in
 * sh->err. bench_main.c decides which rounds run, in which order, and
 * prints the figures.
 */
#ifndef PVCALLS_BENCH_H
#define PVCALLS_BENCH_H

#include <stdbool.h>
#include <stdint.h>

/* bench_ring.c: T1/T2/T3 (pvcalls_front_send -> data ring -> ring peer
 * vs AF_UNIX), L2ring (the command ring alone) and L2area (the same with
 * GETSOCKOPT's reply area). */
struct bulk_res {
	double gbps;
	double cpu_per_gb;
};
int round_bulk_ring(uint32_t order, uint32_t spin_us, struct bulk_res *r);
int round_bulk_unix(struct bulk_res *r);
int round_cmdring(bool area, double *us); /* area: L2area */

/* bench_cmd.c: L1/L2 (GETSOCKOPT round trips through the backend vs a 64-byte
 * AF_UNIX ping-pong / a shared-atomic ping-pong) and A1/A2 (the same
 * with pvcallsd's audit log on). spin_us: PVCALLS_BACK_NO_SPIN, or 0
 * for the default polling. */
int round_lat_pvcalls(uint32_t spin_us, bool audit, double *us);
int round_pp_unix(double *us);
int round_pp_atomic(double *us); /* L2ring's baseline too */

/* bench_relay.c: R1/R2 (frontend -> backend -> TCP -> sink vs a direct
 * TCP stream to the same sink). */
int round_relay(uint32_t order, double *gbps);
int round_tcp(double *gbps);

/* bench_scale.c: S1 and S1mem (all of S1's rounds in one process tree:
 * figures in sh->s1_*), S2 (connection set-up vs TCP loopback). */
int round_s1(void);
int round_setup_pvcalls(double *rate);
int round_setup_tcp(double *rate);

/* bench_tail.c: LT (small exchanges through the backend to a TCP server
 * vs direct TCP with TCP_NODELAY): p50, p99, max of the "write, write,
 * read" pattern, then of "write, read", in us. */
int round_tail_pvcalls(double out[6]);
int round_tail_tcp(double out[6]);

#endif
