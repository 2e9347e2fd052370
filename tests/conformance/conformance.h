/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-conformance: drives a PV Calls backend at the wire level (raw
 * requests, raw ring indexes) and checks each command against the spec and
 * docs/protocol-notes.md. Everything a particular backend does differently lives in a
 * profile (profile.c); the cases themselves only know the spec.
 *
 * Files:
 *   main.c       options, case table, runner, verdicts
 *   target.c     how frontends are obtained: --self, --shm, (--xen)
 *   fe.c         a raw frontend: negotiation, command ring, active sockets
 *   peer.c       plain POSIX TCP peers on 127.0.0.1 and the data pump
 *   profile.c    per-backend expectations
 *   cases_*.c    the cases
 */
#ifndef PVCALLS_CONFORMANCE_H
#define PVCALLS_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvcalls/backend.h>
#include <pvcalls/ring.h>
#include <pvcalls/transport.h>
#include <pvcalls/wire.h>

#include "frontend/front_xenbus.h" /* struct pvc_xb_front: we probe as the frontend does */

/*
 * Wire errno values (Linux numbering, negative). Spelled out so that the
 * suite checks the numbers on the wire, whatever the host's errno values.
 */
enum {
	W_EBADF = -9,
	W_EINTR = -4,
	W_EFAULT = -14,
	W_EEXIST = -17,
	W_EINVAL = -22,
	W_EMFILE = -24,
	W_EPIPE = -32,
	W_EPROTO = -71,
	W_EAFNOSUPPORT = -97,
	W_EADDRINUSE = -98,
	W_ECONNRESET = -104,
	W_ENOTCONN = -107,
	W_ECONNREFUSED = -111,
	W_ENOTSUPP = -524,
};

/* Expectations other than a plain wire value. */
#define X_NONE INT32_MIN            /* no response (within the timeout) */
#define X_ANYERR (INT32_MIN + 1)    /* any negative errno */
#define X_UNSPEC (INT32_MIN + 2)    /* spec: nothing said */
#define X_OK_OR_ERR (INT32_MIN + 3) /* any response */

/* Untorn accesses to shared memory the backend may be using right now. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define WR(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/*
 * Timeouts (ms). A missing response fails after T_RSP. --timeout-scale
 * stretches every deadline (sanitizer builds, loaded CI machines); the
 * quiet windows ("no response yet") need no stretching.
 */
extern int tscale;
#define T_MS(ms) ((ms)*tscale)
#define T_RSP T_MS(2000)
#define T_QUIET 300
/* How long data may stand still before a lost_eoi profile looks for the wedge. */
#define T_WEDGE T_MS(3000)

/* --unsafe: send the requests the profile says crash the backend. */
extern bool unsafe;

/* ------------------------------------------------------------------ */
/* Profiles                                                             */

enum viol_policy {
	VIOL_DISCONNECT, /* the backend drops the offending frontend */
	VIOL_TOLERATE,   /* the backend carries on (bounded garbage) */
};

struct profile {
	const char *name;
	const char *versions;       /* exact "versions" value */
	uint32_t max_order;         /* "max-page-order" */
	bool order0;                /* ring_order 0 accepted */
	bool connect_async;         /* other commands answered during CONNECT */
	bool accept_poll_both;      /* ACCEPT+POLL, ACCEPT+ACCEPT pending together */
	int32_t second_pending;     /* else: ret of the second one */
	int32_t poll_unknown;       /* POLL on an unknown id */
	int32_t poll_active;        /* POLL on an active socket */
	int32_t release_pending;    /* what pending ACCEPT/POLL get on RELEASE */
	int32_t release_connecting; /* what a pending CONNECT gets on RELEASE */
	int32_t dup_socket;         /* SOCKET on a live id */
	int32_t dup_connect;        /* CONNECT on an active id */
	int32_t dup_bind;           /* BIND on a bound id */
	int32_t dup_bind_active;    /* BIND on an active id */
	int32_t dup_accept_new;     /* ACCEPT whose id_new is live */
	int32_t connect_bad_family;
	int32_t connect_no_socket; /* CONNECT on an id never created */
	int32_t bind_no_socket;    /* BIND on an id never created */
	int32_t map_fail;          /* bad ref / evtchn in CONNECT or ACCEPT */
	int32_t bad_order;         /* ring_order > max-page-order */
	int32_t bind_len_long;     /* BIND len 29 */
	int32_t accept_not_listening;
	int32_t listen_active; /* LISTEN on an active socket */
	bool unknown_cmd_echoes_id;
	enum viol_policy cmd_violation;
	int32_t data_violation;     /* error set for impossible data indexes; 0 none */
	bool writes_after_in_error; /* out ring still served after in_error */
	bool private_indexes;       /* ignores scribbles on its own shared indexes */
	uint32_t max_sockets;       /* 0: no limit to test */
	uint32_t max_listeners;     /* 0: no limit to test */
	int32_t limit_err;          /* SOCKET or BIND beyond a limit */
	bool release_flushes;       /* out data written before RELEASE all arrives */
	/*
	 * A CONNECT or ACCEPT whose mapping fails (bad ref, ring_order above
	 * the maximum, bad port) or an ACCEPT before LISTEN takes the
	 * backend down: such requests are not sent (DIVERGES) without
	 * --unsafe.
	 */
	bool map_fail_crashes;
	/*
	 * A data-ring notification that finds nothing to send can leave the
	 * port without its (late) EOI, so later notifications are lost and a
	 * direction stalls: such a stall is reported as DIVERGES.
	 */
	bool lost_eoi;
	/* CONNECT installs its socket callbacks without a first read: bytes the
	 * peer sent before that wait until the frontend notifies (Linux). */
	bool connect_first_read_lost;
	/*
	 * The peer's FIN, when it comes with its last data, never becomes
	 * in_error = -ENOTCONN.
	 */
	bool eof_lost;
	/* A reset by the peer shows up in in_error only once something else
	 * wakes the backend's worker. */
	bool reset_lost;
};

const struct profile *profile_find(const char *name);

/* ------------------------------------------------------------------ */
/* Targets: where frontends come from                                   */

enum target_mode { TGT_SELF, TGT_SHM, TGT_XEN };

struct target;

int target_open(enum target_mode mode, const char *path, struct target **out);
/* TGT_SELF: extensions our backend does not offer (PVCALLS_FEATURE_*). */
extern uint32_t target_self_ext_off;
void target_close(struct target *tg);
/* A new guest domain with a fresh pvcalls device 0. */
int target_new_guest(struct target *tg, pvcalls_transport **out);
/* The guest from target_new_guest() was closed (fe_vanish). */
void target_guest_gone(struct target *tg);
/* Whether closing a guest's transport looks like its domain dying. */
bool target_guest_can_vanish(struct target *tg);
/* Backend counters; -EOPNOTSUPP unless the backend runs in-process. */
int target_stats(struct target *tg, struct pvcalls_back_stats *st);
/* Installs @p (NULL: none) in the in-process backend; -EOPNOTSUPP (@p
 * freed) for any other target. */
int target_set_policy(struct target *tg, pvcalls_policy *p);
/* Non-zero once the in-process backend's loop has failed. */
int target_backend_error(struct target *tg);

/* ------------------------------------------------------------------ */
/* Test cases                                                           */

enum verdict { V_PASS, V_DIVERGES, V_SKIP, V_FAIL };

struct tc;
struct case_def {
	const char *name;
	void (*fn)(struct tc *tc);
};

struct fe;

struct tc {
	const struct case_def *def;
	struct target *tg;
	const struct profile *p;
	enum verdict verdict;
	char msg[640];
	struct fe *fes[16];
	unsigned nfe;
	int fds[256];
	unsigned nfd;
	int verbose;
	bool stopped;    /* a stall the profile explains ended the case (DIVERGES) */
	unsigned checks; /* checks that held (judge, pump, tc_ok): PASS needs one */
};

void tc_fail(struct tc *tc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tc_diverge(struct tc *tc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tc_skip(struct tc *tc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tc_log(struct tc *tc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts a check that held; a case with none cannot PASS. */
static inline void tc_ok(struct tc *tc)
{
	tc->checks++;
}
static inline bool tc_failed(const struct tc *tc)
{
	return tc->verdict == V_FAIL;
}
/* Failed, or stopped by a documented stall: the rest would mean nothing. */
static inline bool tc_done(const struct tc *tc)
{
	return tc->verdict == V_FAIL || tc->stopped;
}
/*
 * Before a request that the profile says crashes the backend
 * (map_fail_crashes): unless --unsafe, reports DIVERGES (what the request
 * is, @why: what the backend does) and returns true; the case then must
 * not send it.
 */
bool crash_guard(struct tc *tc, const char *what, const char *why);
/* Why: a CONNECT or ACCEPT whose mapping fails. */
extern const char why_map_fail[];
/* Registers @fd to be closed when the case ends; returns it. */
int tc_fd(struct tc *tc, int fd);
/* Closes a registered fd early. */
void tc_close_fd(struct tc *tc, int fd);

/*
 * Compares a result with the profile's expectation and the spec's.
 * Matches the profile: pass, or DIVERGES when the spec says otherwise.
 * Otherwise: FAIL. Returns true unless it failed.
 */
bool judge(struct tc *tc, const char *what, int32_t got, int32_t exp, int32_t spec);
const char *xstr(int32_t v, char buf[32]);

#define REQUIRE(tc, cond, ...)                      \
	do {                                        \
		if (!(cond)) {                      \
			tc_fail((tc), __VA_ARGS__); \
			return;                     \
		}                                   \
		tc_ok(tc);                          \
	} while (0)

/* Case tables, each ends with { NULL, NULL }. */
extern const struct case_def cases_negotiation[];
extern const struct case_def cases_cmdring[];
extern const struct case_def cases_socket[];
extern const struct case_def cases_passive[];
extern const struct case_def cases_data[];
extern const struct case_def cases_hostile[];
extern const struct case_def cases_ext[];
extern const struct case_def cases_inet6[];
extern const struct case_def cases_dgram[];
extern const struct case_def cases_reuse[];
extern const struct case_def cases_final[];

/* ------------------------------------------------------------------ */
/* A raw frontend (fe.c)                                                */

struct as;

struct fe {
	struct tc *tc;
	pvcalls_transport *t;
	struct pvc_xb_front xb;
	struct pvcalls_wire_cmd_sring *sring;
	uint32_t ring_ref;
	uint32_t port;
	pvcalls_cmd_front ring;
	uint32_t next_req_id;
	uint32_t outstanding[64];
	unsigned nout;
	struct pvcalls_wire_response stash[64];
	uint32_t stash_seq[64]; /* arrival order */
	unsigned nstash;
	uint32_t rsp_seq;  /* responses taken off the ring */
	uint32_t last_seq; /* arrival number of the last response returned */
	struct {
		uint32_t port;
		uint32_t count;
	} ev[256];
	unsigned nev;
	struct as *socks[128];
	unsigned nsocks;
	bool connected;
	bool broken;       /* ring deliberately corrupted or backend gone */
	bool allow_stray;  /* unsolicited responses are expected */
	bool gone;         /* transport closed */
	uint32_t ext_want; /* PVCALLS_FEATURE_* to accept if offered (before fe_connect) */
	uint32_t ext;      /* PVCALLS_FEATURE_* in force */
};

/* Guest + probe only (negotiation cases finish by hand). */
int fe_new(struct tc *tc, struct fe **out);
/* Shares the command ring and runs the negotiation to Connected. */
int fe_connect(struct fe *fe);
/* fe_new + fe_connect; reports failures into tc. */
struct fe *fe_open(struct tc *tc);
/*
 * fe_new, then accepts the extensions @want (PVCALLS_FEATURE_*) and
 * connects. NULL after skipping the case (with the reason) when the
 * backend does not offer all of them, or after a failure.
 */
struct fe *fe_open_ext(struct tc *tc, uint32_t want);
/* Graceful shutdown (Closing/Closed) unless broken, then drop the guest. */
void fe_close(struct fe *fe);
/* Drops the guest abruptly, as if the domain died. */
void fe_vanish(struct fe *fe);

uint32_t fe_req_id(struct fe *fe);
/*
 * Queues one request without pushing. A req_id of 0 is replaced by a fresh
 * one (written back); fe_put_raw() sends req_id as given.
 */
int fe_put(struct fe *fe, struct pvcalls_wire_request *req);
int fe_put_raw(struct fe *fe, const struct pvcalls_wire_request *req);
/* Publishes queued requests and notifies when the ring says so. */
int fe_push(struct fe *fe);
/* fe_put + fe_push. */
int fe_send(struct fe *fe, struct pvcalls_wire_request *req);
/*
 * Waits for the response to @req_id. Returns 1 (got it), 0 (timeout) or a
 * negative errno (ring violation by the backend).
 */
int fe_wait(struct fe *fe, uint32_t req_id, int timeout_ms, struct pvcalls_wire_response *rsp);
/*
 * Sends, waits and checks the echo of req_id, cmd and id. Returns the ret
 * field, or X_NONE when no response came within @timeout_ms.
 */
int32_t fe_call(struct fe *fe, struct pvcalls_wire_request *req, int timeout_ms);
/* Waits for and checks a response to a request sent earlier. */
int32_t fe_result(struct fe *fe, const struct pvcalls_wire_request *req, int timeout_ms);
/* Handles pending events (up to @timeout_ms for the first). */
void fe_events(struct fe *fe, int timeout_ms);
uint32_t fe_event_count(struct fe *fe, uint32_t port);
/* Waits for an event on @port beyond @before, looking at nothing else. */
bool fe_wait_event(struct fe *fe, uint32_t port, uint32_t before, int timeout_ms);
/* Takes every response that has arrived into the stash. */
int fe_drain(struct fe *fe);
/* Backend state node, or -errno. */
int fe_backend_state(struct fe *fe);
/* Waits until the backend state satisfies lo <= state <= hi. */
int fe_wait_backend_state(struct fe *fe, uint32_t lo, uint32_t hi, int timeout_ms);

/* Raw request builders (all bytes zeroed first). */
void rq_socket(struct pvcalls_wire_request *r, uint64_t id, uint32_t domain, uint32_t type,
	       uint32_t protocol);
void rq_connect(struct pvcalls_wire_request *r, uint64_t id, uint16_t port, uint32_t ref,
		uint32_t evtchn);
void rq_bind(struct pvcalls_wire_request *r, uint64_t id, uint16_t port);
void rq_listen(struct pvcalls_wire_request *r, uint64_t id, uint32_t backlog);
void rq_accept(struct pvcalls_wire_request *r, uint64_t id, uint64_t id_new, uint32_t ref,
	       uint32_t evtchn);
void rq_poll(struct pvcalls_wire_request *r, uint64_t id);
void rq_release(struct pvcalls_wire_request *r, uint64_t id);
/* sockaddr_in as Linux lays it out: family (host order), port, address. */
void put_addr(uint8_t addr[PVCALLS_WIRE_ADDR_LEN], uint16_t family, uint16_t port,
	      uint32_t ip_host);

/* An active socket's shared memory, as the frontend sets it up. */
struct as {
	struct fe *fe;
	uint64_t id;
	unsigned order;
	uint32_t ref; /* indexes page */
	struct pvcalls_wire_data_intf *intf;
	uint8_t *data;
	uint32_t refs[1u << PVCALLS_WIRE_MAX_RING_ORDER];
	uint32_t port;
	pvcalls_data_ring ring;
	bool shared;
	/* The indexes when we last notified (as_notify), for wedge checks. */
	bool notified;
	uint32_t nt_in_prod, nt_out_prod, nt_out_cons;
};

/* Shares the indexes page and 2^order data pages, allocates the port. */
struct as *as_new(struct fe *fe, uint64_t id, unsigned order);
/* Ends the sharing (after RELEASE). */
void as_free(struct as *s);
/*
 * A grant ref and a port that were valid once and no longer are (the
 * worst kind of bad value). Take them after the good ones: the transport
 * reuses freed numbers. 0 on failure (after reporting it).
 */
uint32_t fe_dead_ref(struct fe *fe);
uint32_t fe_dead_port(struct fe *fe);
/* Re-reads our own indexes from the page (after poking them by hand). */
void as_reattach(struct as *s);
void as_notify(struct as *s);

/* Common sequences; each returns the response's ret (or X_NONE). */
int32_t do_socket(struct fe *fe, uint64_t id);
int32_t do_bind(struct fe *fe, uint64_t id, uint16_t port);
int32_t do_listen(struct fe *fe, uint64_t id, uint32_t backlog);
int32_t do_release(struct fe *fe, uint64_t id);
int32_t do_connect(struct fe *fe, struct as *s, uint16_t port);
/* SOCKET + BIND (a free port, retried) + LISTEN; 0 or reports a failure. */
int open_listener(struct fe *fe, uint64_t id, uint16_t *port);
/*
 * A connected active socket: a peer listener, SOCKET, CONNECT, and the
 * peer's accepted fd in *peerfd. NULL after reporting a failure.
 */
struct as *open_active(struct fe *fe, uint64_t id, unsigned order, int *peerfd);
/* The same, with a small receive buffer at the peer. */
struct as *open_active_rcvbuf(struct fe *fe, uint64_t id, unsigned order, int rcvbuf, int *peerfd);

/* ------------------------------------------------------------------ */
/* TCP peers and the data pump (peer.c)                                 */

/* Listening socket on 127.0.0.1 (non-blocking); *port gets the port. */
int peer_listen(struct tc *tc, int backlog, uint16_t *port);
/* The same with a small receive buffer (0: the default), to make the
 * backend's sends block. */
int peer_listen_rcvbuf(struct tc *tc, int backlog, int rcvbuf, uint16_t *port);
/* Accepts within timeout; non-blocking fd or -1. */
int peer_accept(struct tc *tc, int lfd, int timeout_ms);
/* Connects to 127.0.0.1:port within timeout; non-blocking fd or -1. */
int peer_connect(struct tc *tc, uint16_t port, int timeout_ms);
/* Starts a non-blocking connect; returns the fd (maybe still connecting). */
int peer_connect_start(struct tc *tc, uint16_t port);
/* A port nothing listens on right now. */
uint16_t free_port(void);
/* Closes with an RST. */
void peer_reset(struct tc *tc, int fd);
/*
 * Receives stream @seed from *got on until EOF (or a reset), checking every
 * byte. 1 at EOF, 0 on timeout, -1 after reporting corrupt data.
 */
int peer_recv_to_eof(struct tc *tc, int fd, uint64_t seed, uint64_t *got, int timeout_ms);
/* Waits for EOF (or an error) on fd, discarding data. 1 EOF, 0 timeout. */
int peer_wait_eof(int fd, int timeout_ms);
/*
 * A listener whose accept queue is full, so that a connect to it stays
 * pending (SYNs are dropped) until drain_listener(). *queued is the
 * client that fills the queue. Returns -1 after skipping the case.
 */
int full_listener(struct tc *tc, uint16_t *port, int *queued);
/* Accepts everything queued and widens the backlog. */
void drain_listener(struct tc *tc, int lfd);

/* Peer sends bytes [pos, pos + n) of stream @seed. 0, or -1 after failing. */
int peer_send_all(struct tc *tc, int fd, uint64_t seed, uint64_t pos, uint64_t n, int timeout_ms);
/* Deterministic test data: byte @pos of stream @seed. */
uint8_t stream_byte(uint64_t seed, uint64_t pos);

struct xfer {
	uint64_t to_peer; /* bytes the frontend sends */
	uint64_t to_fe;   /* bytes the peer sends */
	uint64_t seed_out, seed_in;
	uint64_t sent_fe, got_peer; /* fe -> peer progress */
	uint64_t sent_peer, got_fe; /* peer -> fe progress */
	bool shut_peer;             /* peer shuts down its write side when done */
};

/*
 * Moves data both ways between active socket @s and @peerfd until both
 * totals are reached, verifying every byte. Returns 0 or reports a
 * failure (or a stall the profile explains: DIVERGES) into the case and
 * returns -1.
 */
int pump(struct as *s, int peerfd, struct xfer *x, int timeout_ms);
/*
 * Reads the in ring (verifying against seed_in / got_fe) until in_error is
 * set and the ring is empty. Returns in_error, or 0 on timeout or after a
 * stall the profile explains (tc_done()). Reads at most @chunk bytes per
 * step. x->sent_peer must count what the peer sent.
 */
int32_t drain_to_error(struct as *s, struct xfer *x, size_t chunk, int timeout_ms);
/*
 * Frontend writes stream @seed into out until nothing moves for @stall_ms
 * (the backend's socket is full) or @max bytes went; returns the count.
 */
uint64_t fe_fill_until_stalled(struct as *s, uint64_t seed, uint64_t *pos, uint64_t max,
			       int stall_ms);
/*
 * With a lost_eoi profile: whether @s stalls as that bug makes it (x may
 * be NULL: the out direction only). If so, reports DIVERGES, releases the
 * frontend's active sockets, sets tc->stopped and returns true.
 */
bool wedge_check(struct as *s, const struct xfer *x);
/*
 * After drain_to_error() returned 0 with everything the peer sent read:
 * whether the profile explains the missing in_error (eof_lost, or
 * reset_lost when @reset: the peer reset rather than closed). If so,
 * reports DIVERGES like wedge_check() and returns true.
 */
bool close_unreported(struct as *s, const struct xfer *x, bool reset);
/* Frontend writes n bytes of seed into out (waiting for room). */
int fe_write_all(struct as *s, uint64_t seed, uint64_t *pos, uint64_t n, int timeout_ms);

#endif
