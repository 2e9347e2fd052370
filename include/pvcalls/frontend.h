/* SPDX-License-Identifier: MIT */
/**
 * @file pvcalls/frontend.h
 * @brief The PV Calls frontend: a socket-like API for guest-side code.
 *
 * A frontend connects to its backend through a transport (XenBus
 * negotiation on the transport's store), then forwards socket calls over
 * the command ring. Every connected socket gets its own data ring and
 * event channel; send and receive touch only that ring.
 *
 * Sockets are small non-negative integers, like file descriptors, valid
 * in the frontend that returned them until pvcalls_front_release().
 * Every call returns a non-negative value on success and a negative host
 * errno on failure; errno is not used. Wire errors are mapped to host
 * values (pvcalls_errno_from_wire()).
 *
 * Blocking. Calls block by default (each socket can have send and receive
 * timeouts and a non-blocking flag, pvcalls_front_setopt()). A blocked
 * call first polls the ring for a short, bounded time (spin_us) and then
 * sleeps on the event channel, so a busy socket costs no wakeups and an
 * idle one no CPU.
 *
 * Event loops. pvcalls_front_fd() polls readable when events arrived;
 * call pvcalls_front_process() then, and use non-blocking sockets (or
 * MSG_DONTWAIT) with pvcalls_front_poll(..., 0).
 *
 * Threads. Different sockets may be used from different threads at once;
 * one socket may have one sender and one receiver thread at once. At most
 * 32 requests are in flight on the command ring (deferred ACCEPT and POLL
 * included); further callers wait for a slot, they do not fail.
 *
 * A malformed response from the backend (unknown req_id, wrong cmd or id,
 * impossible ret) never corrupts memory: the request it claims to answer
 * fails with -EPROTO, or the response is dropped and counted.
 *
 * Backend restarts. When the backend goes away (its state leaves
 * Connected, or the store becomes unreachable: over the shm transport,
 * pvcallsd died) every blocked call returns -ENOTCONN and every call
 * fails, as on a kernel socket whose network vanished: send -ENOTCONN,
 * recv the data already received, then -ENOTCONN or -ECONNRESET. The
 * handle stays valid. The next pvcalls_front_socket() looks for a new
 * backend session: a shm transport made by pvcalls_shm_connect() first
 * connects again to a hub at the same path (pvcalls/shm.h), then, if the
 * backend's state is Initialising or InitWait (a restarted backend), the
 * frontend negotiates again, under its lock, for at most 5 s (and at most
 * connect_timeout_ms). Until that works socket() returns -ENOTCONN at
 * once: callers retry, with their own bound. Afterwards new sockets work
 * and the sockets of the old session stay failed for good, with errors
 * that name what happened: a connected one gives -ECONNRESET from send
 * and, after the data it had received, from recv (as after a TCP reset:
 * its connection is gone with the old backend); any other call on an old
 * socket (connect, bind, listen, accept, the extensions' calls) gives
 * -ENOTCONN; pvcalls_front_release() frees it and returns 0. Requests
 * in flight when the backend went away never complete: their callers
 * already got -ENOTCONN. The same holds over any transport whose
 * backend starts over in the same store nodes.
 */
#ifndef PVCALLS_FRONTEND_H
#define PVCALLS_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <pvcalls/common.h>
#include <pvcalls/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Data-ring order used when neither the options nor the socket say:
 * 2^6 pages, 128 KiB each way (as much as Linux's default TCP receive
 * buffer). From order 6 the relay through the backend keeps up with a
 * direct TCP connection; larger rings cost memory and set-up time for
 * little more (docs/PERFORMANCE.md, pvcalls-bench --sweep). Clamped to the
 * backend's max-page-order (4 for Linux's backend).
 */
#define PVCALLS_FRONT_DEFAULT_ORDER 6u

/** Frontend options; zero-initialise and set what you need. */
struct pvcalls_front_opts {
	/** Device number under device/pvcalls/ (default 0). */
	uint32_t devid;
	/** How long the negotiation may take, in ms (0: 10000). */
	int connect_timeout_ms;
	/**
	 * Default data-ring order for new sockets (0: PVCALLS_FRONT_DEFAULT_ORDER;
	 * use PVCALLS_FRONT_ORDER_0 for order 0). Always clamped to the
	 * backend's max-page-order.
	 */
	uint32_t ring_order;
	/**
	 * Bounded polling before sleeping, in µs (0: 20; PVCALLS_FRONT_NO_SPIN:
	 * none). It is the starting budget: each socket direction and each
	 * command then adapts its own between spin_us / 4 and 8 * spin_us,
	 * longer when waits just missed it, shorter when they run long.
	 */
	uint32_t spin_us;
	/** Do not offer the wait-hint extension (always notify, as Linux does). */
	bool no_wait_hint;
	/**
	 * PVCALLS_FEATURE_* bits not to accept (default 0: use every
	 * extension the backend offers; ~0u: exactly version 1).
	 */
	uint32_t ext_off;
	/**
	 * How long a call waits for the backend, in ms (<= 0: the defaults
	 * below), so that a backend that never answers cannot block a call
	 * forever. It bounds the wait for a free request slot and for the
	 * answer of every command except ACCEPT and POLL, which the backend
	 * answers when a connection comes (their waits follow the receive
	 * timeout and the poll timeout). Default 30000; for CONNECT on a
	 * socket without a send timeout (PVCALLS_OPT_SNDTIMEO_MS, which
	 * takes precedence) the default is 135000, longer than the host's
	 * own connect timeout, so that an honest backend always answers
	 * first.
	 *
	 * When it expires the call returns -ETIMEDOUT (connect: -EINPROGRESS,
	 * as Linux's connect when SO_SNDTIMEO expires; release: see
	 * pvcalls_front_release()). The request is not taken back: its slot
	 * stays reserved, and if the answer comes later its effect is
	 * applied then (a late CONNECT answer connects the socket, and
	 * pvcalls_front_poll() reports it), a late answer to a released
	 * socket is dropped. A backend that never answers thus keeps the
	 * slot; once all 32 are held so, every call times out, and
	 * pvcalls_front_close() frees them.
	 */
	int cmd_timeout_ms;
};

#define PVCALLS_FRONT_NO_SPIN UINT32_MAX
#define PVCALLS_FRONT_ORDER_0 UINT32_MAX

/** Opaque frontend handle. */
typedef struct pvcalls_front pvcalls_front;

/**
 * Negotiates with the backend of device @p opts->devid and returns a
 * connected frontend.
 *
 * @param t    the transport; the frontend uses its store watches and event
 *             channels exclusively and does not own it (close it after
 *             pvcalls_front_close()).
 * @retval -ENODEV no pvcalls device for this domain.
 * @retval -ETIMEDOUT the backend did not get to InitWait/Connected in time.
 * @retval -EPROTONOSUPPORT the backend does not offer version 1.
 * @retval -ECONNREFUSED the backend closed the device.
 */
PVCALLS_API int pvcalls_front_open(pvcalls_transport *t, const struct pvcalls_front_opts *opts,
				   pvcalls_front **out);

/**
 * Disconnects: switches the device to Closing (the backend releases every
 * socket), waits briefly for the backend to follow, frees every ring, and
 * switches to Closed. Sockets still open are gone; threads blocked in calls
 * return -ENOTCONN. Call it when no other thread will start a call. NULL
 * is accepted.
 */
PVCALLS_API void pvcalls_front_close(pvcalls_front *fe);

/** Backend's max-page-order, as negotiated (ring orders are clamped to it). */
PVCALLS_API uint32_t pvcalls_front_max_order(const pvcalls_front *fe);

/** True if the wait-hint extension is in use on this connection. */
PVCALLS_API bool pvcalls_front_wait_hint(const pvcalls_front *fe);

/** A fd that polls readable when pvcalls_front_process() has work. */
PVCALLS_API int pvcalls_front_fd(pvcalls_front *fe);

/**
 * Handles pending events without blocking: responses, data-ring
 * notifications, backend state changes.
 * @return 0, or -ENOTCONN once the backend is gone.
 */
PVCALLS_API int pvcalls_front_process(pvcalls_front *fe);

/**
 * Creates a socket (SOCKET command). When the backend is gone, first
 * tries to reach a restarted one (see "Backend restarts" above).
 * @param domain AF_INET, or AF_INET6 when PVCALLS_FEATURE_INET6 is in
 *        force (docs/extensions.md, "IPv6"; -EAFNOSUPPORT otherwise);
 *        @param type SOCK_STREAM or SOCK_DGRAM, optionally with
 *        SOCK_NONBLOCK; @param protocol 0, IPPROTO_TCP (streams) or
 *        IPPROTO_UDP (datagrams).
 *
 * A stream socket's call does not wait for the backend's answer: the
 * backend takes commands in order, so the CONNECT or BIND that follows
 * reaches it after SOCKET. If the backend refused SOCKET (-EMFILE for its
 * limit, -ENOMEM, ...), the next call on the socket that comes after the
 * answer (connect, bind, listen, accept, setopt, the extension calls)
 * returns that error, and so does every later one but
 * pvcalls_front_release(), which is all such a socket is good for.
 *
 * SOCK_DGRAM needs PVCALLS_FEATURE_DGRAM in force (else -EAFNOSUPPORT;
 * AF_INET6 datagrams need PVCALLS_FEATURE_INET6 too). A datagram socket
 * attaches its data rings (DGRAM_RINGS, ring order 6 or the backend's
 * max-page-order if lower) before this call returns (so its SOCKET is
 * waited for), so PVCALLS_OPT_RING_ORDER then gives -EISCONN. On it:
 * connect sets the peer (AF_UNSPEC dissolves it) and returns at once; bind
 * binds; listen and accept give -EOPNOTSUPP; send/recv move one datagram
 * each (recv flags: MSG_DONTWAIT, MSG_PEEK; see pvcalls_front_recvmsg()
 * for the rest).
 * @return the socket, or -EAFNOSUPPORT, -ESOCKTNOSUPPORT, -EPROTONOSUPPORT
 *         (checked here), -ENOTCONN (backend gone, and no new session
 *         could be negotiated), -ETIMEDOUT (no request
 *         slot within cmd_timeout_ms); for datagram sockets also -EMFILE
 *         (backend limit), -ENOBUFS (datagram rings beyond the backend's
 *         mapped-page limit).
 */
PVCALLS_API int pvcalls_front_socket(pvcalls_front *fe, int domain, int type, int protocol);

/**
 * Connects (CONNECT): sets up the socket's data ring, then asks the backend.
 * @p addr is a struct sockaddr_in (addrlen >= 16) on an AF_INET socket, a
 * struct sockaddr_in6 (addrlen 28, or 24 without scope id) on an AF_INET6
 * one; a shorter @p addrlen is -EINVAL, the other family -EAFNOSUPPORT (IPv4
 * peers of an AF_INET6 socket are reached as ::ffff:a.b.c.d). A scope id
 * is an interface index of the backend's host.
 * Non-blocking sockets get -EINPROGRESS; pvcalls_front_poll() then reports
 * POLLOUT when done, and calling connect again returns the result (0 or
 * the error, once) or -EALREADY while pending.
 * @retval -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, ... as the backend's host says.
 * @retval -EISCONN already connected; -EBADF not a socket.
 */
PVCALLS_API int pvcalls_front_connect(pvcalls_front *fe, int s, const struct sockaddr *addr,
				      socklen_t addrlen);

/** Binds (BIND); @p addr as for pvcalls_front_connect(). An AF_INET6 socket
 * on :: also takes IPv4 unless IPV6_V6ONLY was set (the default is the
 * backend host's). @retval -EADDRINUSE, -EACCES, -EINVAL, -EAFNOSUPPORT, ... */
PVCALLS_API int pvcalls_front_bind(pvcalls_front *fe, int s, const struct sockaddr *addr,
				   socklen_t addrlen);

/** Listens (LISTEN) on a bound socket. @retval -EINVAL not bound. */
PVCALLS_API int pvcalls_front_listen(pvcalls_front *fe, int s, int backlog);

/**
 * Accepts a connection (ACCEPT): prepares the new socket's data ring and
 * waits for the backend's answer, which comes when a client connected.
 * Non-blocking listeners get -EAGAIN (the ACCEPT stays queued at the
 * backend; poll reports POLLIN when a connection is ready).
 * @param flags 0 or SOCK_NONBLOCK (for the new socket).
 * @return the new socket. The protocol does not carry the peer's address.
 */
PVCALLS_API int pvcalls_front_accept(pvcalls_front *fe, int s, int flags);

/**
 * Sends through the data ring. Blocking sockets wait for room until all
 * of @p len is queued or the send timeout passes (then the bytes queued so
 * far, or -EAGAIN if none). @p flags: 0 or MSG_DONTWAIT (MSG_NOSIGNAL is
 * accepted and has no effect; others give -EOPNOTSUPP).
 * @return bytes queued; -EPIPE/-ECONNRESET/... when the backend reported a
 *         send error; -ENOTCONN when not connected.
 */
PVCALLS_API ssize_t pvcalls_front_send(pvcalls_front *fe, int s, const void *buf, size_t len,
				       int flags);

/**
 * Receives from the data ring: returns as soon as some data is there.
 * Data is always drained before an error is reported; end of stream
 * returns 0. @p flags: MSG_DONTWAIT and MSG_PEEK.
 * @return bytes read, 0 at EOF, -EAGAIN (non-blocking or timeout), or the
 *         error the backend reported.
 */
PVCALLS_API ssize_t pvcalls_front_recv(pvcalls_front *fe, int s, void *buf, size_t len, int flags);

/**
 * sendmsg(2) for stream and datagram sockets.
 *
 * Streams: the @p msg iov is gathered (a bounce copy when it has more than
 * one piece) and sent with one pvcalls_front_send(); msg_name is ignored.
 * Datagrams: the iov is ONE datagram (docs/extensions.md, "Datagram
 * records"), to msg_name (a sockaddr_in) or, without one, to the connected
 * peer. It counts as sent once it is in the out ring; a blocking socket
 * waits for room for the whole record (send timeout: -EAGAIN).
 * msg_control is ignored. @p flags: MSG_DONTWAIT, MSG_NOSIGNAL (no effect).
 * Same threading as pvcalls_front_send().
 * @return bytes sent, or -EMSGSIZE (over 65,507 bytes, or a record larger
 *         than the ring), -EDESTADDRREQ (no address, not connected),
 *         -EAFNOSUPPORT (an address not AF_INET), -EINVAL (short
 *         msg_namelen, NULL msg or iov), -EAGAIN, -EBADF, -EOPNOTSUPP
 *         (other flags); a datagram's out_error once, when the backend
 *         reports one (-EACCES from its policy, -ECONNREFUSED,
 *         -ENETUNREACH, ...: the datagram of that call is not sent);
 *         -EPROTO once the backend broke the record format.
 */
PVCALLS_API ssize_t pvcalls_front_sendmsg(pvcalls_front *fe, int s, const struct msghdr *msg,
					  int flags);

/**
 * recvmsg(2) for stream and datagram sockets. msg_controllen and
 * msg_flags are set on return (msg_control is never written).
 *
 * Streams: one pvcalls_front_recv() scattered over the iov (a bounce copy
 * when it has more than one piece), msg_namelen set to 0; MSG_WAITALL
 * repeats until the iov is full, end of stream or an error; MSG_TRUNC
 * takes the bytes and discards them.
 * Datagrams: one datagram, min(iov total, its length) bytes; its source in
 * msg_name (a sockaddr_in, cut to msg_namelen, which is set to 16);
 * MSG_TRUNC in msg_flags when the datagram was longer than the iov or cut
 * by the backend; an error record (e.g. -ECONNREFUSED on a connected
 * socket) is returned once. @p flags: MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC
 * (return the datagram's full length), MSG_WAITALL (streams only).
 * @return bytes (or the full length with MSG_TRUNC), 0 at a stream's end,
 *         -EAGAIN, -EBADF, -EINVAL, -EOPNOTSUPP, the error of an error
 *         record, -EPROTO (the backend broke the record format).
 */
PVCALLS_API ssize_t pvcalls_front_recvmsg(pvcalls_front *fe, int s, struct msghdr *msg, int flags);

/**
 * Releases the socket (RELEASE). Threads blocked on it return -EBADF. The
 * handle is free when the call returns, always, even when the backend
 * does not answer or is gone.
 *
 * The call does not wait for the backend's answer (unless the socket is a
 * listener with accepts in flight): the socket's data ring, its grants and
 * its event channel stay as they are until the answer comes, and are
 * reclaimed then (by whichever thread handles responses), so no page the
 * backend may still map is unshared before it let go. At most 16 releases
 * are outstanding; a release beyond that waits for the oldest answer,
 * and after cmd_timeout_ms reclaims the oldest anyway (a backend that
 * never answers: the transport keeps pages a peer still maps until it
 * unmaps them, so that costs a request slot, never memory safety).
 * pvcalls_front_close() reclaims whatever is still outstanding. Releasing
 * a socket whose CONNECT is in flight waits for that answer first.
 *
 * Once answered, a ring's pages are kept (still granted to the same
 * backend, which said it unmapped them) for the next connect or accept of
 * the same ring order, up to 4 rings per order, so a frontend that
 * connected once holds up to 4 rings' memory per order used until
 * pvcalls_front_close() (order 6: 4 x 260 KiB). Nothing changes on the
 * wire, unless ring reuse (PVCALLS_FEATURE_RING_REUSE, docs/extensions.md,
 * "Ring reuse") is in force: then the backend keeps the ring mapped too
 * (RELEASE answered val 1), the cache keeps the event-channel port with
 * it (at most 8 such rings in all), and the next connect or accept reuses
 * both; parked rings beyond those are ended with RING_FREE, sent with a
 * later release, before their pages are unshared.
 * @return 0; -EBADF not a socket; -ETIMEDOUT (listener case) the backend
 *         did not answer in time.
 */
PVCALLS_API int pvcalls_front_release(pvcalls_front *fe, int s);

/** One entry for pvcalls_front_poll(), like struct pollfd. */
struct pvcalls_pollfd {
	int sock;      /**< a socket, or negative to ignore the entry */
	short events;  /**< POLLIN, POLLOUT */
	short revents; /**< POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL */
};

/**
 * Waits until one of the sockets is ready. Connected sockets are checked
 * on their rings; listeners use the POLL command (or a queued ACCEPT).
 * Datagram sockets: POLLIN for a whole datagram (or error) queued, POLLOUT
 * for at least 2 KiB free in the out ring (see pvcalls_front_ready()).
 * @param timeout_ms -1 forever, 0 check only.
 * @return the number of entries with non-zero revents, 0 on timeout.
 */
PVCALLS_API int pvcalls_front_poll(pvcalls_front *fe, struct pvcalls_pollfd *fds, unsigned nfds,
				   int timeout_ms);

/** Socket options for pvcalls_front_setopt(). */
enum pvcalls_front_opt {
	PVCALLS_OPT_NONBLOCK = 1, /**< 0 or 1 */
	PVCALLS_OPT_SNDTIMEO_MS,  /**< send/connect timeout; -1 (default) none */
	PVCALLS_OPT_RCVTIMEO_MS,  /**< recv/accept timeout; -1 (default) none */
	PVCALLS_OPT_RING_ORDER,   /**< data-ring order for connect/accept; 0..max */
};

/**
 * Sets an option. PVCALLS_OPT_RING_ORDER must be set before connect or
 * accept; values above the backend's max-page-order give -EINVAL.
 */
PVCALLS_API int pvcalls_front_setopt(pvcalls_front *fe, int s, enum pvcalls_front_opt opt,
				     int value);

/** Frontend counters. */
struct pvcalls_front_stats {
	uint64_t requests;      /**< commands sent */
	uint64_t bad_responses; /**< malformed or unmatched responses */
	uint64_t notifies_sent;
	uint64_t notifies_suppressed;
	uint64_t sleeps;     /**< waits that went to sleep */
	uint64_t lost_slots; /**< requests the backend never answered (released listeners) */
};

PVCALLS_API void pvcalls_front_get_stats(pvcalls_front *fe, struct pvcalls_front_stats *st);

/* ---------------------------------------------------------------------- */
/* Extensions for event loops and socket emulation (src/frontend/front_ext.c) */
/* ---------------------------------------------------------------------- */

/** One entry for pvcalls_front_ready(). */
struct pvcalls_ready {
	int sock;      /**< a socket, or negative to ignore the entry */
	short events;  /**< POLLIN, POLLOUT, POLLRDHUP (others are ignored) */
	short revents; /**< out: see pvcalls_front_ready() */
	uint32_t seq;  /**< out: connected sockets: changes whenever data arrived
			    or ring space was freed since the last call; else 0 */
};

/**
 * Readiness of many sockets, the way a Linux TCP socket would report it,
 * without ever blocking: first handles pending events (as
 * pvcalls_front_process()), then looks at every socket once.
 *
 * revents (filtered by @c events, plus POLLERR, POLLHUP, POLLNVAL always):
 *  - connected: POLLIN when data is queued or the stream ended; POLLRDHUP
 *    (and POLLIN) once the peer ended its stream; POLLERR|POLLHUP (and
 *    POLLIN) when the connection was reset or failed; POLLOUT when the
 *    out-ring has room (or the send side failed, so a send reports it);
 *    POLLOUT also once a non-blocking connect succeeded.
 *  - connecting: nothing until the CONNECT is answered.
 *  - a failed non-blocking connect (until connect() returns the error):
 *    POLLOUT|POLLERR|POLLHUP.
 *  - new or bound: POLLOUT|POLLHUP (as Linux reports a socket that is not
 *    connected).
 *  - datagram (docs/extensions.md, "Datagram sockets"): POLLIN when a
 *    whole datagram or an error record is queued; POLLOUT when the out
 *    ring has at least 2 KiB free (a documented choice: a larger datagram
 *    may still get -EAGAIN, as on Linux); POLLERR when the backend stopped
 *    the rings or reported a send error not returned yet. @c seq as for
 *    connected sockets.
 *  - listening: POLLIN when an accept would not block. Asking for POLLIN
 *    on a listener may queue a POLL command at the backend (as
 *    pvcalls_front_poll() does).
 *  - unknown or released socket: POLLNVAL.
 *
 * After a call that found nothing, any later change of the sockets in the
 * set (data, room, a response, the backend going away) makes
 * pvcalls_front_fd() readable: wait on it (with your other fds), then call
 * this again. @c seq lets an edge-triggered emulation report every new
 * arrival, as Linux does, not only a not-ready-to-ready transition.
 *
 * @return the number of entries with non-zero revents; -EINVAL; -ENOMEM.
 *         Once the backend is gone every valid entry reports
 *         POLLERR|POLLHUP and the call returns their number.
 */
PVCALLS_API int pvcalls_front_ready(pvcalls_front *fe, struct pvcalls_ready *r, unsigned nr);

/**
 * Bytes that a recv on @p s would return now without blocking (FIONREAD);
 * on a datagram socket the next datagram's length (0 when none is queued,
 * as FIONREAD on UDP).
 * @return >= 0; -EBADF not a socket; -EINVAL a listener; 0 when not
 *         connected (as Linux).
 */
PVCALLS_API int pvcalls_front_nread(pvcalls_front *fe, int s);
/**
 * @name Negotiated extensions (docs/extensions.md)
 *
 * Used only when the backend offered them and pvcalls_front_opts.ext_off
 * did not refuse them; against a Linux backend (or with ext_off = ~0u) the
 * connection is plain version 1 and these calls fail as documented.
 */
/**@{*/

/** The PVCALLS_FEATURE_* bits in force on this connection (0: version 1). */
PVCALLS_API uint32_t pvcalls_front_features(const pvcalls_front *fe);

/**
 * shutdown(2) of a connected socket (SHUTDOWN). After SHUT_WR (or
 * SHUT_RDWR) the backend delivers what was already sent, then shuts its
 * host socket's write side; sends then fail with -EPIPE, receiving goes on
 * until the peer's end of stream. With SHUTDOWN in force the peer's end of
 * stream is a half-close: recv returns 0, sends still work, and
 * pvcalls_front_poll() reports POLLIN (not POLLHUP) until this side has
 * shut its write side too. A send blocked on a full ring when the write
 * side is shut down returns what it queued (then -EPIPE). SHUT_RD on a
 * listener wakes its pending accepts (-EINVAL) and leaves it bound.
 * @param how SHUT_RD, SHUT_WR or SHUT_RDWR.
 * @retval -EOPNOTSUPP SHUTDOWN not in force; -ENOTCONN not connected;
 *         -EBADF not a socket; -EINVAL bad @p how.
 */
PVCALLS_API int pvcalls_front_shutdown(pvcalls_front *fe, int s, int how);

/**
 * getsockname(2)/getpeername(2) of the backend's host socket (GETSOCKNAME,
 * GETPEERNAME): after a bind to port 0, the port the host chose; for an
 * accepted socket, both ends of the connection. A struct sockaddr_in for
 * an AF_INET socket, a struct sockaddr_in6 for an AF_INET6 one (IPv4 peers
 * of a dual-stack socket as ::ffff:a.b.c.d). At most @p *addrlen bytes
 * are written; @p *addrlen is set to the address's full size.
 * @retval -EOPNOTSUPP names not in force; -ENOTCONN no peer; -EBADF.
 */
PVCALLS_API int pvcalls_front_getsockname(pvcalls_front *fe, int s, struct sockaddr *addr,
					  socklen_t *addrlen);
PVCALLS_API int pvcalls_front_getpeername(pvcalls_front *fe, int s, struct sockaddr *addr,
					  socklen_t *addrlen);

/**
 * setsockopt(2)/getsockopt(2) on the backend's host socket (SETSOCKOPT,
 * GETSOCKOPT), for this host's (level, optname) pairs of: TCP_NODELAY,
 * SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, SO_LINGER (a
 * struct linger; emulated: release never blocks, {1, 0} resets, {1, N}
 * bounds the background flush to N s), SO_RCVBUF, SO_SNDBUF,
 * TCP_USER_TIMEOUT, SO_REUSEADDR, SO_REUSEPORT (both take effect at bind),
 * IP_TOS, and on AF_INET6 sockets IPV6_V6ONLY (before bind or connect) and
 * IPV6_TCLASS. Values are ints; the host's range checks and quirks apply.
 * @retval -ENOPROTOOPT any other option, or sockopt not in force;
 *         -EPERM the backend's policy refuses it; -EINVAL short @p optlen
 *         or a value the host refuses; -EBADF.
 */
PVCALLS_API int pvcalls_front_setsockopt(pvcalls_front *fe, int s, int level, int optname,
					 const void *optval, socklen_t optlen);
PVCALLS_API int pvcalls_front_getsockopt(pvcalls_front *fe, int s, int level, int optname,
					 void *optval, socklen_t *optlen);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* PVCALLS_FRONTEND_H */
