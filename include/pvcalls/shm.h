/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/shm.h
 * @brief The shared-memory loopback transport: Xen's semantics between
 *        processes (or threads) of one Linux host, no hypervisor needed.
 *
 * Topology. One side is the *hub*: it plays the backend domain and the
 * store daemon (xenstored) and the toolstack. It listens on a Unix socket.
 * Each process that connects is a *guest domain* with its own domid. Only
 * hub<->guest pairs can share pages and event channels; a hub can also map
 * its own grants (domid == its own, as a Xen domain may).
 *
 * Memory. Each domain owns a memfd page pool and a grant table in a second
 * memfd; both are passed to the peer with SCM_RIGHTS at rendezvous. A grant
 * is an entry the granting side writes; the mapping side validates the
 * entry (in use, granted to it, write access, page inside the pool) before
 * mmap()ing the page, so an ungranted, revoked or foreign ref fails with
 * -ENOENT (a reserved or out-of-range ref with -EINVAL, write access to a
 * read-only grant with -EPERM) and a log line naming the ref.
 *
 * Events. Each domain has a port table (state, peer, pending and mask bits)
 * in shared memory and one eventfd. The hub gives each guest its own copy
 * of its port table and its own eventfd, so a guest only ever touches
 * event state of its own channels. Delivery masks the port until unmask,
 * and events that arrive while masked are coalesced, as on Xen.
 *
 * Security. The hub is meant to be a security boundary: guests may be
 * hostile processes. Who may connect (socket mode, SO_PEERCRED allow
 * lists), how many connections and for how long without a hello, and what
 * one guest may cost (store quotas, mmap() regions, store requests per
 * second) are bounded by
 * struct pvcalls_shm_opts; one guest cannot lock another out of the
 * store or starve its events. Store permissions are Xen's for a domU: a
 * guest may read, list and watch only its own /local/domain/<G> subtree
 * and its devices' backend directory /local/domain/<H>/backend/pvcalls/<G>,
 * and write only below /local/domain/<G>, except the nodes the hub wrote
 * there for it (its domid, device/pvcalls/0/backend and backend-id), which
 * it may neither change nor remove (nor a directory above them); anything
 * else gives -EACCES, whether the node exists or not (a watch on a foreign
 * path is refused). What a guest's hellos, disconnections and violations
 * make the hub log is rate-limited per domid (a burst of 20, then 5 a
 * second; the rest summarised as NOTICE "domain N: M messages
 * suppressed", msgid shm.log-suppressed, at most every 2 s and when the
 * hub stops).
 * Every guest receives the hub's page pool fd (fixed in size and sealed):
 * pages the hub process itself shares are therefore not private to their
 * grantee; a backend never shares pages (docs/threat-model.md).
 *
 * Store. The hub keeps the tree; guests reach it with requests over the
 * Unix socket and receive their watch events the same way. When a guest
 * connects, the hub writes the device nodes a toolstack would
 * (/local/domain/<G>/device/pvcalls/0 and
 * /local/domain/<H>/backend/pvcalls/<G>/0 with state 1, frontend-id,
 * backend-id, frontend, backend, online) so the same negotiation code runs
 * over xen and shm.
 *
 * Peer death. A guest that disconnects or dies (socket hang-up) is removed:
 * its whole /local/domain/<G> subtree and its backend directory are
 * deleted (watches fire, as when Xen destroys a domain), its event channels
 * become closed (notify returns -EPIPE) and its pages are released once the
 * hub unmaps them; mappings held meanwhile stay valid memory. A guest whose
 * hub dies sees -ENOTCONN from store operations and from
 * store_read_watch, -EPIPE from notify, and every watch fires once so the
 * negotiation code notices. (A guest has no thread: it learns of the death
 * when it next reads the socket, in a store call or in store_read_watch;
 * its store_fd polls readable at the hang-up, so an event loop learns at
 * once. Until then notify still succeeds.)
 *
 * Hub restarts. A guest made by pvcalls_shm_connect() (not one made from
 * an fd) whose hub died tries, in each later store call (once per call,
 * no retry loop, no thread), to connect to a hub at the same path again,
 * asking for its old domid and taking another if that is taken. Once that
 * works the call and every later one reach the new hub; store_fd and
 * evtchn_fd stay the same fds; local_domid may change; the old watches
 * are gone (the new hub never had them) and transactions of the old hub
 * fail with -ENOTCONN. Grants and ports made before the death stay valid
 * handles to end, but their peer is the dead hub: notify on them returns
 * -EPIPE and they never reach the new hub. While no hub answers, store
 * calls keep returning -ENOTCONN. (pvcalls_front_socket() relies on this
 * to renegotiate: pvcalls/frontend.h, "Backend restarts".)
 *
 * Threads. The hub serves the socket from an internal thread, so guests get
 * store answers whatever the hub's own event loop is doing. Guest handles
 * have no thread of their own.
 */
#ifndef PVCALLS_SHM_H
#define PVCALLS_SHM_H

#include <stdint.h>

#include <pvcalls/common.h>
#include <pvcalls/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options for pvcalls_shm_listen / pvcalls_shm_connect; zero means default. */
struct pvcalls_shm_opts {
	/** Hub: its own domid (default 0). Guest: the domid to ask for (0: the hub picks). */
	uint32_t domid;
	/** Pages in this domain's pool (default 4096, i.e. 16 MiB; grown on demand up to max_pages). */
	uint32_t max_pages;
	/** Grant-table entries (default 8192). Refs 0..7 are reserved, as on Xen. */
	uint32_t max_grants;
	/** Event-channel ports (default 4096). Port 0 is never used, as on Xen. */
	uint32_t max_ports;
	/** Guest: how long a store request may wait for the hub, in ms (default 5000). */
	uint32_t timeout_ms;

	/*
	 * Hub only: what a guest may cost and who may be one. The shm
	 * transport is a security boundary: every guest is assumed hostile,
	 * and one guest must not be able to hurt the hub or another guest.
	 * Zero means the default in each case.
	 */

	/**
	 * Permission bits of the socket file of a path hub (default 0600).
	 * Only subsets of 0660 that include 0600 are accepted (-EINVAL
	 * otherwise); the file never has other modes, whatever the umask.
	 * Ignored for abstract ('@') names, which have no permissions.
	 */
	uint32_t socket_mode;
	/**
	 * Who may connect (accepted connections only; pvcalls_shm_hub_adopt()
	 * and pvcalls_shm_pair() trust their caller): the SO_PEERCRED uid of
	 * the connecting process must be in @p allow_uids or its gid in
	 * @p allow_gids. Both lists empty (the default) allow the hub's
	 * effective uid and root; a list given replaces that default
	 * entirely. The hub copies the lists. A refused peer's hello is
	 * answered with -EACCES.
	 */
	const uint32_t *allow_uids;
	uint32_t nr_allow_uids;
	const uint32_t *allow_gids;
	uint32_t nr_allow_gids;
	/** A connection that has not completed its hello within this many ms is closed (default 2000). */
	uint32_t hello_timeout_ms;
	/**
	 * Most connections at once, helloed or not (default 256); beyond, a
	 * new connection is closed at once (the guest sees -ECONNREFUSED).
	 */
	uint32_t max_guests;
	/** Most connections that have not completed their hello (default 16); beyond, as above. */
	uint32_t max_pending;
	/**
	 * Per-guest store quotas: nodes (default 1000), bytes of names,
	 * values, open transaction logs and a fixed 64-byte overhead per node
	 * (default 256 KiB), watches (default 128) and open transactions
	 * (default 8). Beyond them a request fails with -ENOSPC (nodes,
	 * bytes, watches) or -EBUSY (transactions), as xenstored answers;
	 * other guests are unaffected. The hub's own calls have no quota.
	 */
	uint32_t quota_nodes;
	uint32_t quota_bytes;
	uint32_t quota_watches;
	uint32_t quota_txns;
	/**
	 * Most mmap() regions the hub may hold on one guest's pages (default
	 * 4096: two per socket at the backend's default socket limit). A
	 * mapping costs one region per run of adjacent pages, so refs in
	 * scattered order cost up to one per page; a map_refs of a guest's
	 * refs that would exceed this, or take all guests together past half
	 * of vm.max_map_count (read at start; the hub process needs the rest),
	 * fails with -ENOBUFS and maps nothing.
	 */
	uint32_t max_maps_per_guest;
	/**
	 * Store requests per second one guest may make (default 2000;
	 * PVCALLS_SHM_UNLIMITED: no limit), with bursts of up to
	 * @p store_burst (default 512). Beyond, the hub stops reading that
	 * guest's socket until the rate allows the next request: its
	 * requests wait, in order, and none is refused (a guest's store
	 * call may then take longer, up to its timeout_ms). The guests that
	 * connected with one uid (SO_PEERCRED) share one bucket, refilled
	 * at this rate for each of their live connections and charged 16
	 * tokens (at most the burst) for each hello, so reconnecting gets
	 * no fresh burst; it outlives their connections until full again.
	 * Adopted guests (pvcalls_shm_hub_adopt(), pvcalls_shm_pair()) have
	 * a bucket each and free hellos. What one guest's store flood costs
	 * the hub's thread, and the watchers its writes wake (the backend
	 * among them), is bounded by this rate; other uids are not held
	 * (docs/threat-model.md).
	 */
	uint32_t store_rate;
	/** See @p store_rate (default 512; PVCALLS_SHM_UNLIMITED is invalid). */
	uint32_t store_burst;
};

/** store_rate: no limit (0 means the default, as for every field). */
#define PVCALLS_SHM_UNLIMITED UINT32_MAX

/**
 * Creates a hub listening on the Unix socket @p path (a leading '@' means
 * the Linux abstract namespace). A socket file at @p path is replaced only
 * if it is stale (connecting to it is refused); a live hub there, or any
 * other kind of file, gives -EADDRINUSE. The socket file is created with
 * opts->socket_mode (default 0600) atomically: it never exists with other
 * permissions.
 * @param opts NULL for defaults.
 * @param out  the hub's transport; pvcalls_transport_close() stops it,
 *             disconnects every guest and unlinks the socket file if it
 *             is still the one this hub created (same device and inode).
 * @retval -EADDRINUSE, -EACCES, -ENAMETOOLONG, -ENOMEM, -EINVAL (bad opts), ...
 */
PVCALLS_API int pvcalls_shm_listen(const char *path, const struct pvcalls_shm_opts *opts,
				   pvcalls_transport **out);

/**
 * Connects to the hub at @p path as a new guest domain.
 * @param out the guest's transport; its local_domid is the domid the hub
 *            assigned. Closing it is the guest "domain" going away.
 * @retval -ECONNREFUSED / -ENOENT no hub there; -EEXIST the domid asked
 *         for is taken; -ETIMEDOUT the hub did not answer.
 */
PVCALLS_API int pvcalls_shm_connect(const char *path, const struct pvcalls_shm_opts *opts,
				    pvcalls_transport **out);

/**
 * In-process pair for tests and single-process demos: a hub and one guest
 * joined by a socketpair, no filesystem name.
 */
PVCALLS_API int pvcalls_shm_pair(const struct pvcalls_shm_opts *hub_opts,
				 const struct pvcalls_shm_opts *guest_opts, pvcalls_transport **hub,
				 pvcalls_transport **guest);

/**
 * Hub only: adds a guest connected through @p fd (one end of a
 * socketpair(AF_UNIX, SOCK_SEQPACKET, ...) or an accepted connection).
 * The hub owns @p fd afterwards, also on failure. The other end is passed
 * to pvcalls_shm_connect_fd().
 * @retval -EINVAL not a hub, or @p fd is not a SOCK_SEQPACKET socket.
 */
PVCALLS_API int pvcalls_shm_hub_adopt(pvcalls_transport *hub, int fd);

/**
 * Guest over an already connected SOCK_SEQPACKET Unix socket @p fd (owned
 * afterwards, also on failure). @retval -EINVAL other socket types.
 */
PVCALLS_API int pvcalls_shm_connect_fd(int fd, const struct pvcalls_shm_opts *opts,
				       pvcalls_transport **out);

/** Hub only: number of guests currently connected, or -EINVAL. */
PVCALLS_API int pvcalls_shm_hub_nr_guests(pvcalls_transport *hub);

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_SHM_H */
