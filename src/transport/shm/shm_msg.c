/* SPDX-License-Identifier: MIT */
/*
 * Message framing for the shm rendezvous socket. The socket is
 * SOCK_SEQPACKET, so one sendmsg is one message: no partial frames to
 * reassemble, and a truncated message (MSG_TRUNC) is a protocol error.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/shm/shm_priv.h"

int pvc_shm_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SHM_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > SHM_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(fd, &mh, flags | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

long pvc_shm_recv(int fd, void *buf, size_t len, int *fds, unsigned *nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SHM_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	unsigned got = 0;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	do {
		n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Collect every passed fd first so none leaks, whatever happens next. */
	int tmp[64];
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && got < 64; i++)
			memcpy(&tmp[got++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	/*
	 * An empty datagram reads as EOF to every caller, which then returns
	 * without looking at fds: a peer could pass fds on one and leak them
	 * into our table, one hello at a time (fuzz_hub found it).
	 */
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !fds || got > SHM_MAX_FDS || n == 0) {
		close_fds(tmp, got);
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
			return -EMSGSIZE;
		got = 0;
	}
	if (fds && got)
		memcpy(fds, tmp, got * sizeof(int));
	if (nfds)
		*nfds = got;
	else
		close_fds(tmp, got);
	return n;
}

int pvc_shm_wait(int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = (uint64_t)pvc_now_ms();
		int r;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline_ms - now > 60000 ? 60000 : deadline_ms - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0; /* readable, writable, or hung up: the caller finds out */
	}
}

/* ------------------------------------------------------------------------
 * Watch event queues.
 */
struct shm_event {
	struct shm_event *next;
	char *path;
	char *wpath;
	char *token;
	char data[];
};

int pvc_shm_evq_init(struct shm_evq *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void pvc_shm_evq_fini(struct shm_evq *q)
{
	if (q->efd < 0)
		return;
	while (q->head) {
		struct shm_event *ev = q->head;

		q->head = ev->next;
		free(ev);
	}
	close(q->efd);
	q->efd = -1;
	pthread_mutex_destroy(&q->lock);
}

int pvc_shm_evq_push(struct shm_evq *q, const char *path, const char *wpath, const char *token)
{
	size_t lp = strlen(path) + 1, lw = strlen(wpath) + 1, lt = strlen(token) + 1;
	struct shm_event *ev = malloc(sizeof(*ev) + lp + lw + lt);

	if (!ev)
		return -ENOMEM;
	ev->next = NULL;
	ev->path = memcpy(ev->data, path, lp);
	ev->wpath = memcpy(ev->data + lp, wpath, lw);
	ev->token = memcpy(ev->data + lp + lw, token, lt);
	pthread_mutex_lock(&q->lock);
	if (q->tail) {
		q->tail->next = ev;
	} else {
		q->head = ev;
		pvc_shm_efd_signal(q->efd); /* empty -> non-empty */
	}
	q->tail = ev;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void evq_drain_if_empty(struct shm_evq *q)
{
	uint64_t v;

	if (!q->head) {
		q->tail = NULL;
		while (read(q->efd, &v, sizeof(v)) < 0 && errno == EINTR)
			;
	}
}

int pvc_shm_evq_pop(struct shm_evq *q, char *path, size_t pathlen, char *token, size_t tokenlen)
{
	struct shm_event *ev;

	pthread_mutex_lock(&q->lock);
	ev = q->head;
	if (!ev) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	if (strlen(ev->path) >= pathlen || strlen(ev->token) >= tokenlen) {
		pthread_mutex_unlock(&q->lock);
		return -ERANGE;
	}
	strcpy(path, ev->path);
	strcpy(token, ev->token);
	q->head = ev->next;
	evq_drain_if_empty(q);
	pthread_mutex_unlock(&q->lock);
	free(ev);
	return 1;
}

void pvc_shm_evq_purge(struct shm_evq *q, const char *wpath, const char *token)
{
	struct shm_event **pp, *ev;

	pthread_mutex_lock(&q->lock);
	for (pp = &q->head; (ev = *pp);) {
		if (!strcmp(ev->wpath, wpath) && !strcmp(ev->token, token)) {
			*pp = ev->next;
			free(ev);
		} else {
			pp = &ev->next;
		}
	}
	q->tail = NULL;
	for (ev = q->head; ev; ev = ev->next)
		q->tail = ev;
	evq_drain_if_empty(q);
	pthread_mutex_unlock(&q->lock);
}
