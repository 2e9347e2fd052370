/* SPDX-License-Identifier: MIT */
/*
 * The audit queue: the backend's thread formats each record and copies it
 * into a bounded ring of slots; a writer thread writes them out. A full
 * ring (the sink stalls: a slow disk, a pipe nobody reads) drops the
 * record and counts it; the backend never waits on the sink. The lock is
 * held only to move indexes, never across a write().
 *
 * Group commit: the first record after a quiet spell wakes the writer,
 * which then waits up to FLUSH_MS for more (or for a quarter of the
 * ring) before it writes. A busy backend so pays one wakeup per batch instead of one
 * per request (a futex wake and, on a loaded CPU, a context switch in its
 * round trip); a record reaches the file at most FLUSH_MS late.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define SLOT 2048

struct audit_q {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thr;
	char (*slot)[SLOT];
	uint16_t *slen;
	size_t n, head, tail; /* tail - head records queued */
	int fd, newfd;
	bool stop, busy, sleeping, gathering, flush_now;
	bool failed; /* a write to the sink failed (audit_q_failed) */
	uint64_t written, dropped;
};

/* The fd is non-blocking, so a stalled sink never holds the writer past
 * a stop request for longer than one poll. False if the data was lost. */
static bool write_all(struct audit_q *q, int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE))
				return false;
			poll(&pfd, 1, 100);
			continue;
		}
		if (w <= 0)
			return false; /* a broken sink loses the records */
		p += w;
		len -= (size_t)w;
	}
	return true;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* CLOCK_REALTIME @ms from now, for pthread_cond_timedwait(). */
static struct timespec deadline_in(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#define BATCH 32
#define FLUSH_MS 10
#define GATHER(q) ((q)->n / 4 ? (q)->n / 4 : 1) /* records that end a wait */

static void *writer(void *arg)
{
	struct audit_q *q = arg;
	static __thread char buf[SLOT * BATCH];

	pthread_mutex_lock(&q->lock);
	for (;;) {
		size_t len, n;
		bool ok;
		int fd;

		if (q->newfd >= 0) {
			if (q->fd >= 0 && q->fd != 1)
				close(q->fd);
			q->fd = q->newfd;
			q->newfd = -1;
		}
		if (q->head == q->tail) {
			if (q->stop)
				break;
			q->sleeping = true;
			pthread_cond_wait(&q->cond, &q->lock);
			q->sleeping = false;
			continue;
		}
		if (!q->stop && !q->flush_now && q->newfd < 0 && q->tail - q->head < GATHER(q)) {
			struct timespec dl = deadline_in(FLUSH_MS);

			q->gathering = true;
			while (!q->stop && !q->flush_now && q->tail - q->head < GATHER(q) &&
			       pthread_cond_timedwait(&q->cond, &q->lock, &dl) != ETIMEDOUT)
				;
			q->gathering = false;
		}
		q->flush_now = false;
		/* Up to BATCH records per write(). */
		for (len = 0, n = 0; q->head != q->tail && n < BATCH; n++, q->head++) {
			size_t l = q->slen[q->head % q->n];

			memcpy(buf + len, q->slot[q->head % q->n], l);
			len += l;
		}
		fd = q->fd;
		q->busy = true;
		pthread_mutex_unlock(&q->lock);
		ok = fd >= 0 && write_all(q, fd, buf, len);
		pthread_mutex_lock(&q->lock);
		q->busy = false;
		if (ok) {
			q->written += n;
		} else {
			q->dropped += n;
			if (!q->stop)
				q->failed = true;
		}
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct audit_q *audit_q_new(int fd, size_t slots)
{
	struct audit_q *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->n = slots ? slots : 1;
	q->slot = malloc(q->n * SLOT);
	q->slen = calloc(q->n, sizeof(*q->slen));
	q->fd = fd;
	q->newfd = -1;
	if (fd >= 0)
		set_nonblock(fd);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	if (!q->slot || !q->slen || pthread_create(&q->thr, NULL, writer, q)) {
		free(q->slot);
		free(q->slen);
		free(q);
		return NULL;
	}
	return q;
}

bool audit_q_push(struct audit_q *q, const char *line, size_t len)
{
	bool ok = false;

	if (len > SLOT)
		len = SLOT;
	pthread_mutex_lock(&q->lock);
	if (q->tail - q->head < q->n) {
		memcpy(q->slot[q->tail % q->n], line, len);
		q->slen[q->tail % q->n] = (uint16_t)len;
		q->tail++;
		ok = true;
		/* Else the writer comes back for it anyway (group commit). */
		if (q->sleeping || (q->gathering && q->tail - q->head >= GATHER(q)))
			pthread_cond_signal(&q->cond);
	} else {
		q->dropped++;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

void audit_q_counts(struct audit_q *q, uint64_t *written, uint64_t *dropped)
{
	pthread_mutex_lock(&q->lock);
	*written = q->written;
	*dropped = q->dropped;
	pthread_mutex_unlock(&q->lock);
}

bool audit_q_failed(struct audit_q *q)
{
	bool f;

	pthread_mutex_lock(&q->lock);
	f = q->failed;
	pthread_mutex_unlock(&q->lock);
	return f;
}

void audit_q_set_fd(struct audit_q *q, int fd)
{
	pthread_mutex_lock(&q->lock);
	if (q->newfd >= 0 && q->newfd != 1)
		close(q->newfd);
	q->newfd = fd;
	if (fd >= 0)
		set_nonblock(fd);
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void audit_q_free(struct audit_q *q, int flush_ms)
{
	struct timespec dl;

	if (!q)
		return;
	dl = deadline_in(flush_ms);
	pthread_mutex_lock(&q->lock);
	q->flush_now = true; /* no more gathering: write what is queued */
	pthread_cond_broadcast(&q->cond);
	while ((q->head != q->tail || q->busy) &&
	       pthread_cond_timedwait(&q->cond, &q->lock, &dl) != ETIMEDOUT)
		;
	/* What is left is dropped; a write stuck on a stalled sink gives up
	 * within one poll (100 ms). */
	q->dropped += q->tail - q->head;
	q->head = q->tail;
	__atomic_store_n(&q->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thr, NULL);
	if (q->fd >= 0 && q->fd != 1)
		close(q->fd);
	if (q->newfd >= 0 && q->newfd != 1)
		close(q->newfd);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->slot);
	free(q->slen);
	free(q);
}

void audit_q_sink(void *arg, const struct pvcalls_back_audit *rec)
{
	char buf[SLOT];
	int n = pvcalls_back_audit_json(rec, buf, sizeof(buf));

	if (n > 0)
		audit_q_push(arg, buf, (size_t)n);
}
