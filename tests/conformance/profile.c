/* SPDX-License-Identifier: MIT */
/*
 * Backend profiles: every expectation that depends on which backend is
 * under test. The cases pair each with what the spec says, so a result
 * that matches a documented divergence is reported as DIVERGES rather
 * than as a failure.
 *
 * libpvcalls: include/pvcalls/backend.h ("Differences from Linux's
 * pvcalls-back"), include/pvcalls/proto.h (pvcalls_req_parse) and the
 * choices listed at the top of src/backend/back_cmd.c.
 * linux: docs/protocol-notes.md, "Commands", "Linux backend behaviour" and "Hostile frontend" (Linux pvcalls-back, >= 6.10), and
 * what Debian's 6.1.192 did in tests/xen scenario 5.
 */
#include <string.h>

#include "conformance.h"

static const struct profile profiles[] = {
	{
		.name = "libpvcalls",
		.versions = "1",
		.max_order = 9,
		.order0 = true,
		.connect_async = true,
		.accept_poll_both = true,
		.second_pending = 0,
		.poll_unknown = W_EINVAL,
		.poll_active = W_EINVAL,
		.release_pending = W_EBADF,
		.release_connecting = W_EBADF,
		.dup_socket = W_EEXIST,
		.dup_connect = W_EEXIST,
		.dup_bind = W_EEXIST,
		.dup_bind_active = W_EEXIST,
		.dup_accept_new = W_EEXIST,
		.connect_bad_family = W_EAFNOSUPPORT,
		.connect_no_socket = 0, /* as Linux: SOCKET is optional */
		.bind_no_socket = 0,
		.map_fail = W_EFAULT,
		.bad_order = W_EINVAL,
		.bind_len_long = W_EINVAL,
		.accept_not_listening = W_EINVAL,
		.listen_active = W_EINVAL,
		.unknown_cmd_echoes_id = true,
		.cmd_violation = VIOL_DISCONNECT,
		.data_violation = W_EPROTO,
		.writes_after_in_error = true,
		.private_indexes = true,
		.max_sockets = 1024,
		.max_listeners = 64,
		.limit_err = W_EMFILE,
		.release_flushes = true, /* back_data.c: "lingering" */
		.map_fail_crashes = false,
		.lost_eoi = false,
		.connect_first_read_lost = false,
		.eof_lost = false,
		.reset_lost = false,
	},
	{
		/* Linux pvcalls-back as described in docs/protocol-notes.md. */
		.name = "linux",
		.versions = "1",
		.max_order = 4,
		.order0 = true, /* Spec errata 11: not rejected */
		.connect_async =
			false, /* Commands, CONNECT: blocking connect in the command thread */
		.accept_poll_both = false, /* Commands, ACCEPT and POLL: one reqcopy per listener */
		.second_pending = W_EINTR,
		.poll_unknown = X_NONE, /* Commands, POLL: never answered */
		.poll_active = X_NONE,
		.release_pending = X_NONE,         /* Commands, RELEASE: dropped */
		.release_connecting = X_OK_OR_ERR, /* cannot be pending: HOL blocking */
		.dup_socket = 0,                   /* Commands, SOCKET: keeps no state */
		.dup_connect = 0,                  /* Commands, CONNECT: active ids not checked */
		.dup_bind = W_EEXIST,              /* Commands, BIND: radix insert */
		.dup_bind_active = 0,              /* separate structures */
		.dup_accept_new = 0,
		.connect_bad_family = W_EINVAL, /* Commands, CONNECT step 1 */
		.connect_no_socket = 0,
		.bind_no_socket = 0,
		.map_fail = W_EFAULT, /* Commands, CONNECT step 3 */
		.bad_order = W_EFAULT,
		.bind_len_long = 0, /* Commands, BIND: only inet_bind's lower bound */
		.accept_not_listening =
			X_ANYERR, /* Commands, ACCEPT; Hostile frontend: crash risk (reading) */
		.listen_active = W_EINVAL,      /* radix lookup fails */
		.unknown_cmd_echoes_id = false, /* Commands, Unknown commands: id not filled */
		.cmd_violation =
			VIOL_TOLERATE, /* Hostile frontend: bounded by RING_HAS_UNCONSUMED_REQUESTS */
		.data_violation = 0,   /* Wire layout, Data ring: queued() is bounded, no error */
		.writes_after_in_error = true,
		.private_indexes = false, /* Linux backend data path: reads its indexes back */
		.max_sockets = 0,
		.max_listeners = 0,
		.limit_err = 0,
		.release_flushes = false, /* a prefix; the ring's rest is dropped */
		/*
		 * Hostile frontend: pvcalls_new_active_socket()'s error path list_del()s a node
		 * it never added (kernel BUG at lib/list_debug.c:49 on 6.1.192,
		 * then a GPF; the backend answers nothing more). 3.7: ACCEPT
		 * before LISTEN goes on to it with sock->sk == NULL.
		 */
		.map_fail_crashes = true,
		/*
		 * Linux backend data path, Linux bugs (lost late EOI): pvcalls_conn_back_write() leaves map->write set on an
		 * empty out ring, so pvcalls_back_ioworker() never sends the late
		 * EOI (docs/xen-harness.md; tests/xen/kmod/pvcalls-back-lateeoi.patch).
		 */
		.lost_eoi = true,
		.connect_first_read_lost = true, /* pvcalls_back_connect(): no queue_work */
		/*
		 * pvcalls_conn_back_read() calls inet_recvmsg() only while the
		 * receive queue is not empty; a FIN read with the last data
		 * leaves it empty, so the 0 that means EOF is never seen
		 * (docs/xen-harness.md).
		 */
		.eof_lost = true,
		/*
		 * Linux backend data path, Linux bugs (reset not reported): pvcalls_sk_state_change() only sets map->read and
		 * notifies; a reset brings no sk_data_ready to queue the worker.
		 */
		.reset_lost = true,
	},
};

const struct profile *profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}
