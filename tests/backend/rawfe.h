/* SPDX-License-Identifier: MIT */
/*
 * A raw frontend for the backend's tests (tests/backend, tests/policy):
 * an in-process shm pair whose guest end is driven by hand, request by
 * request, while the test's own thread runs pvcalls_back_process(). Every
 * helper asserts with Check, so call them from the test's thread only.
 */
#ifndef PVCALLS_TEST_RAWFE_H
#define PVCALLS_TEST_RAWFE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvcalls/backend.h>
#include <pvcalls/proto.h>
#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

/* Default wait for a state or a response, ms. */
#define T_MS 3000

struct rawfe {
	pvcalls_back *b;
	pvcalls_transport *hub, *t;
	uint32_t domid;
	char dev[128], be[128];
	void *page;
	uint32_t ref, port;
	pvcalls_cmd_front cmd;
	uint32_t next_req;
	uint32_t ext; /* PVCALLS_FEATURE_* fe_connect() accepts (set before it) */
};

/* pvc_now_ms(), for tests that do not include src/common/clock.h. */
int64_t now_ms(void);
/* Store nodes under @dir; rd returns NULL when absent (buf: 64 bytes). */
char *rd(pvcalls_transport *t, const char *dir, const char *key, char *buf);
void wr(pvcalls_transport *t, const char *dir, const char *key, const char *v);
/* The backend's state (a PVCALLS_XENBUS_* value; absent: Unknown). */
unsigned be_state(struct rawfe *fe);
/* Writes the frontend's state (a PVCALLS_XENBUS_* value). */
void fe_set_state(struct rawfe *fe, uint32_t state);
/* Runs the backend until @state shows in its directory (T_MS at most). */
bool pump_state(struct rawfe *fe, unsigned state);
/* Runs the backend for @ms. */
void pump(pvcalls_back *b, int ms);
/* A pair and a backend (@opts may be NULL); fe_connect negotiates. */
void fe_setup(struct rawfe *fe, const struct pvcalls_back_opts *opts);
/* As fe_setup, with the hub's shm options (@hub may be NULL). */
void fe_setup_hub(struct rawfe *fe, const struct pvcalls_back_opts *opts,
		  const struct pvcalls_shm_opts *hub);
void fe_connect(struct rawfe *fe, bool hint, bool initwait);
/* Another guest of @first's hub and backend (fe_connect it next);
 * fe_teardown_more closes only its own transport. */
void fe_setup_more(struct rawfe *fe, const struct rawfe *first);
void fe_teardown_more(struct rawfe *fe);
void fe_teardown(struct rawfe *fe);
void send_req(struct rawfe *fe, struct pvcalls_wire_request *req);
/* Runs the backend until a response arrives (1) or @ms pass (0). */
int get_rsp(struct rawfe *fe, struct pvcalls_wire_response *rsp, int ms);
/* Sends @req, returns its response's ret after checking the echo. */
int32_t call(struct rawfe *fe, struct pvcalls_wire_request *req);
int32_t do_socket(struct rawfe *fe, uint64_t id);
/* BIND of @id to @a, LISTEN of @id: the backend's answer. */
int32_t do_bind_addr(struct rawfe *fe, uint64_t id, const struct sockaddr_in *a);
int32_t do_listen_backlog(struct rawfe *fe, uint64_t id, uint32_t backlog);
struct sockaddr_in loopback(uint16_t port);
/* A host TCP listener on an ephemeral loopback port. */
int host_listen(uint16_t *port);
uint16_t free_port(void);
struct pvcalls_back_stats stats(struct rawfe *fe);

#endif
