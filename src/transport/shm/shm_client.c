/* SPDX-License-Identifier: MIT */
/*
 * A guest's store client: synchronous request/response over the socket,
 * no thread of its own.
 *
 * Watch events share the socket with responses. A thread waiting for a
 * response queues the events it reads on the way; store_read_watch() takes
 * from that queue first and otherwise drains the socket itself.
 *
 * store_fd is an epoll fd watching both the socket and the queue's
 * eventfd (readable exactly while the queue is non-empty). So the fd polls
 * readable when an event waits in the socket *or* was already moved to the
 * queue by a requesting thread: no event is stranded in the queue with the
 * socket quiet. It may poll readable for a response a requester is about to
 * take; store_read_watch() then returns 0.
 *
 * Hub death (EOF or reset on the socket) is noticed by whichever call reads
 * the socket: every registered watch gets one final event, store calls
 * return -ENOTCONN, and the hub's domain is marked dead so notify returns
 * -EPIPE.
 *
 * A guest made by pvcalls_shm_connect() (it knows the hub's path) then
 * tries, once per store call and only when that call comes, to connect
 * to a hub at that path again (reconnect()): a pvcallsd restarted in
 * place. On success the call goes ahead on the new hub; store_fd stays
 * the same fd. The old session's watches are forgotten (they had their
 * final event; the new hub never knew them), its ports and grants keep
 * the old, dead hub domain as their peer (shm.c, pvc_shm_reconnect()).
 *
 * Lock order: io_lock, then the queue's lock.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

struct cwatch {
	struct cwatch *next;
	char *path;
	char *token;
};

struct shm_client {
	int sock;
	int epfd;
	struct shm_evq q;
	pthread_mutex_t io_lock; /* the socket, the watch list, next_id, buf */
	struct cwatch *watches;
	uint32_t next_id;
	bool dead; /* atomic */
	char *buf;
};

int pvc_shm_client_new(struct shm_ctx *ctx, int sock)
{
	struct shm_client *cl = calloc(1, sizeof(*cl));
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (!cl) {
		close(sock);
		return -ENOMEM;
	}
	ctx->client = cl;
	cl->sock = sock;
	cl->epfd = -1;
	cl->q.efd = -1;
	pthread_mutex_init(&cl->io_lock, NULL);
	cl->buf = malloc(SHM_MAX_MSG);
	if (!cl->buf)
		return -ENOMEM;
	rc = pvc_shm_evq_init(&cl->q);
	if (rc)
		return rc;
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0)
		return -errno;
	ev.data.fd = sock;
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, sock, &ev) < 0)
		return -errno;
	ev.data.fd = cl->q.efd;
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, cl->q.efd, &ev) < 0)
		return -errno;
	return 0;
}

/* Forgets every watch this client registered (the hub's side of them is
 * gone with the connection). */
static void free_watches(struct shm_client *cl)
{
	while (cl->watches) {
		struct cwatch *w = cl->watches;

		cl->watches = w->next;
		free(w->path);
		free(w->token);
		free(w);
	}
}

void pvc_shm_client_free(struct shm_ctx *ctx)
{
	struct shm_client *cl = ctx->client;

	if (!cl)
		return;
	free_watches(cl);
	if (cl->epfd >= 0)
		close(cl->epfd);
	close(cl->sock);
	pvc_shm_evq_fini(&cl->q);
	pthread_mutex_destroy(&cl->io_lock);
	free(cl->buf);
	free(cl);
	ctx->client = NULL;
}

static bool is_dead(struct shm_client *cl)
{
	/* Acquire pairs with the release in mark_dead(): the final events are queued. */
	return __atomic_load_n(&cl->dead, __ATOMIC_ACQUIRE);
}

/* The hub is gone. io_lock held. */
static void mark_dead(struct shm_ctx *ctx)
{
	struct shm_client *cl = ctx->client;

	if (is_dead(cl))
		return;
	pvc_warn("shm.hub-died", "lost the connection to the hub (domain %u)", ctx->hubdom->domid);
	for (struct cwatch *w = cl->watches; w; w = w->next)
		pvc_shm_evq_push(&cl->q, w->path, w->path, w->token);
	pvc_shm_dom_set_dead(ctx->hubdom);
	pvc_shm_mem_peer_gone(ctx, ctx->hubdom->domid);
	__atomic_store_n(&cl->dead, true, __ATOMIC_RELEASE);
}

/*
 * The hub is dead: tries once to reach a hub at the same path again.
 * 0: connected, the client is live again; else -ENOTCONN. io_lock held.
 */
static int reconnect(struct shm_ctx *ctx)
{
	struct shm_client *cl = ctx->client;
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, rc;

	rc = pvc_shm_reconnect(ctx, &fd);
	if (rc) {
		pvc_debug("shm.reconnect", "no hub to reconnect to: %d", rc);
		return -ENOTCONN;
	}
	epoll_ctl(cl->epfd, EPOLL_CTL_DEL, cl->sock, NULL);
	close(cl->sock);
	cl->sock = fd;
	ev.data.fd = fd;
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		/* store_fd would never wake for this hub: stay dead. */
		pvc_err("shm.reconnect", "cannot poll the new hub connection: %d", -errno);
		return -ENOTCONN;
	}
	free_watches(cl);
	cl->next_id = 0;
	/* Release pairs with the acquire in is_dead(). */
	__atomic_store_n(&cl->dead, false, __ATOMIC_RELEASE);
	return 0;
}

/* A watch event from the hub: path, token, watch path. */
static void queue_event(struct shm_client *cl, const char *p, size_t len)
{
	const char *path = p, *token, *wpath, *end = p + len;

	if (!len || p[len - 1] != '\0')
		return;
	token = path + strlen(path) + 1;
	if (token >= end)
		return;
	wpath = token + strlen(token) + 1;
	if (wpath >= end)
		return;
	pvc_shm_evq_push(&cl->q, path, wpath, token);
}

/*
 * Reads one message without blocking. Returns 1 with a response in
 * cl->buf, 0 when nothing (else) is there, -ENOTCONN when the hub is gone.
 * io_lock held.
 */
static int read_one(struct shm_ctx *ctx, struct shm_msg_hdr *hdr)
{
	struct shm_client *cl = ctx->client;
	long n = pvc_shm_recv(cl->sock, cl->buf, SHM_MAX_MSG, NULL, NULL, MSG_DONTWAIT);

	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return 0;
	if (n == 0 || n == -ECONNRESET || n == -EPIPE || n == -ENOTCONN) {
		mark_dead(ctx);
		return -ENOTCONN;
	}
	if (n < 0 || (size_t)n < sizeof(*hdr))
		return 2; /* oversized or runt: dropped */
	memcpy(hdr, cl->buf, sizeof(*hdr));
	if (hdr->len != (size_t)n - sizeof(*hdr))
		return 2;
	if (hdr->type == SHM_MSG_WATCH) {
		queue_event(cl, cl->buf + sizeof(*hdr), hdr->len);
		return 2;
	}
	return hdr->type == SHM_MSG_RSP ? 1 : 2;
}

static int add_watch(struct shm_client *cl, const char *path, const char *token)
{
	struct cwatch *w = calloc(1, sizeof(*w));

	if (w) {
		w->path = strdup(path);
		w->token = strdup(token);
	}
	if (!w || !w->path || !w->token) {
		if (w) {
			free(w->path);
			free(w->token);
		}
		free(w);
		return -ENOMEM;
	}
	w->next = cl->watches;
	cl->watches = w;
	return 0;
}

static void del_watch(struct shm_client *cl, const char *path, const char *token)
{
	for (struct cwatch **pp = &cl->watches, *w; (w = *pp); pp = &w->next) {
		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			free(w->path);
			free(w->token);
			free(w);
			return;
		}
	}
}

/* Copies a response's result into the caller's buffer. io_lock held. */
static int take_result(struct shm_client *cl, const struct shm_msg_hdr *hdr, uint32_t op, char *out,
		       size_t outlen, uint32_t *txn_out)
{
	const char *p = cl->buf + sizeof(*hdr);
	int rc = hdr->arg;

	if (rc < 0)
		return rc;
	switch (op) {
	case SHM_OP_READ:
		/* value, NUL; length as returned */
		if (hdr->len != (uint32_t)rc + 1 || p[rc] != '\0' || hdr->len > outlen)
			return -EPROTO;
		memcpy(out, p, hdr->len);
		break;
	case SHM_OP_DIR:
		if (hdr->len > outlen || (hdr->len && p[hdr->len - 1] != '\0'))
			return -EPROTO;
		memcpy(out, p, hdr->len);
		break;
	case SHM_OP_TXN_START:
		if (hdr->txn == PVCALLS_STORE_NO_TXN)
			return -EPROTO;
		*txn_out = hdr->txn;
		break;
	default:
		break;
	}
	return rc;
}

int pvc_shm_client_request(struct shm_ctx *ctx, uint32_t op, uint32_t txn, const char *a,
			   const char *b, int32_t arg, char *out, size_t outlen, uint32_t *txn_out)
{
	struct shm_client *cl = ctx->client;
	size_t la = a ? strlen(a) + 1 : 0, lb = b ? strlen(b) + 1 : 0;
	struct shm_msg_hdr hdr = { .type = SHM_MSG_REQ, .op = op, .txn = txn, .arg = arg };
	uint64_t deadline = (uint64_t)pvc_now_ms() + ctx->timeout_ms;
	char *msg;
	int rc;

	if (la + lb > SHM_MAX_PAYLOAD)
		return -EINVAL;
	if (is_dead(cl) && !ctx->path)
		return -ENOTCONN;
	msg = malloc(sizeof(hdr) + la + lb);
	if (!msg)
		return -ENOMEM;
	pthread_mutex_lock(&cl->io_lock);
	/* A transaction of the dead hub means nothing to a new one. */
	if (is_dead(cl) && (txn != PVCALLS_STORE_NO_TXN || reconnect(ctx) < 0)) {
		rc = -ENOTCONN;
		goto out;
	}
	if (++cl->next_id == 0)
		cl->next_id = 1;
	hdr.id = cl->next_id;
	hdr.len = (uint32_t)(la + lb);
	memcpy(msg, &hdr, sizeof(hdr));
	if (la)
		memcpy(msg + sizeof(hdr), a, la);
	if (lb)
		memcpy(msg + sizeof(hdr) + la, b, lb);
	for (;;) {
		rc = pvc_shm_send(cl->sock, msg, sizeof(hdr) + la + lb, NULL, 0, MSG_DONTWAIT);
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			break;
		rc = pvc_shm_wait(cl->sock, POLLOUT, deadline);
		if (rc)
			goto out;
	}
	if (rc) {
		mark_dead(ctx);
		rc = -ENOTCONN;
		goto out;
	}
	for (;;) {
		struct shm_msg_hdr rsp;

		rc = read_one(ctx, &rsp);
		if (rc < 0)
			goto out;
		if (rc == 1 && rsp.id == hdr.id && rsp.op == op) {
			rc = take_result(cl, &rsp, op, out, outlen, txn_out);
			break;
		}
		if (rc == 0) {
			rc = pvc_shm_wait(cl->sock, POLLIN, deadline);
			if (rc) {
				pvc_warn("shm.timeout", "store request %u timed out", op);
				goto out;
			}
		}
	}
	if (rc >= 0 && op == SHM_OP_WATCH) {
		if (add_watch(cl, a, b) < 0)
			pvc_err("shm.watch", "out of memory remembering watch %s", a);
	} else if (rc >= 0 && op == SHM_OP_UNWATCH) {
		del_watch(cl, a, b);
		pvc_shm_evq_purge(&cl->q, a, b);
	}
out:
	pthread_mutex_unlock(&cl->io_lock);
	free(msg);
	return rc;
}

int pvc_shm_client_store_fd(struct shm_ctx *ctx)
{
	return ctx->client->epfd;
}

int pvc_shm_client_read_watch(struct shm_ctx *ctx, char *path, size_t pathlen, char *token,
			      size_t tokenlen)
{
	struct shm_client *cl = ctx->client;

	for (int tries = 0;; tries++) {
		bool dead = is_dead(cl); /* before the pop: final events precede dead */
		int rc = pvc_shm_evq_pop(&cl->q, path, pathlen, token, tokenlen);

		if (rc)
			return rc;
		if (dead)
			return -ENOTCONN;
		if (tries)
			return 0;
		/* A requester holds the socket: it queues what it reads, and the fd says so. */
		if (pthread_mutex_trylock(&cl->io_lock))
			return 0;
		for (;;) {
			struct shm_msg_hdr hdr;

			/* Responses read here are stale: requesters hold io_lock throughout. */
			if (read_one(ctx, &hdr) <= 0)
				break;
		}
		pthread_mutex_unlock(&cl->io_lock);
	}
}
