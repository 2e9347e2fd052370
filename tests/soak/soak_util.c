/* SPDX-License-Identifier: MIT */
/* Helpers of the soak driver and the restart test (soak_util.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/shm.h>

#include "soak_util.h"

extern char **environ;

int64_t soak_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void soak_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

bool soak_enter_netns(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];
	struct ifreq ifr = { 0 };
	int fd;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		fprintf(stderr,
			"soak: no private network namespace (%s): using the host's loopback\n",
			strerror(errno));
		return false;
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	write_file("/proc/self/setgroups", "deny");
	if (!write_file("/proc/self/uid_map", map)) {
		fprintf(stderr, "soak: cannot write uid_map\n");
		return false;
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	write_file("/proc/self/gid_map", map);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		fprintf(stderr, "soak: cannot bring lo up in the new namespace: %s\n",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

int soak_daemon_start(struct soak_daemon *d)
{
	char *argv[] = { (char *)d->bin, (char *)"-c", d->conf, (char *)"--foreground", NULL };
	posix_spawn_file_actions_t fa;
	FILE *f;
	int rc;

	snprintf(d->hub, sizeof(d->hub), "%s/hub", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/pvcallsd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/pvcallsd.log", d->dir);
	f = fopen(d->conf, "w");
	if (!f) {
		perror("soak: config");
		return -1;
	}
	fprintf(f,
		"[daemon]\ntransport = shm\nshm_path = %s\ncontrol_socket = none\naudit = off\n"
		"log_level = warning\n\n[default]\nfallback = deny\n"
		"rule = allow connect 127.0.0.1 port 1-65535\nrule = allow listen\n"
		"max_sockets = 1024\nmax_mapped_pages = 1048576\n",
		d->hub);
	fclose(f);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawn(&d->pid, d->bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "soak: cannot start %s: %s\n", d->bin, strerror(rc));
		return -1;
	}
	/* Up once a guest can rendezvous (bounded: 10 s). */
	for (int64_t end = soak_now_ms() + 10000; soak_now_ms() < end; soak_sleep_ms(20)) {
		pvcalls_transport *t;
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			fprintf(stderr, "soak: pvcallsd exited at start (status %d), see %s\n", st,
				d->log);
			d->pid = 0;
			return -1;
		}
		if (pvcalls_shm_connect(d->hub, NULL, &t) == 0) {
			pvcalls_transport_close(t);
			return 0;
		}
	}
	fprintf(stderr, "soak: pvcallsd's hub %s never answered\n", d->hub);
	soak_daemon_stop(d, SIGKILL);
	return -1;
}

int soak_daemon_stop(struct soak_daemon *d, int sig)
{
	int st = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int64_t end = soak_now_ms() + 10000;; soak_sleep_ms(10)) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			break;
		if (soak_now_ms() > end) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			break;
		}
	}
	d->pid = 0;
	return st;
}

#if defined(__SANITIZE_THREAD__)
#define SOAK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SOAK_TSAN 1
#endif
#endif
#ifndef SOAK_TSAN
#define SOAK_TSAN 0
#endif

bool soak_res_read(pid_t pid, struct soak_res *r)
{
	char path[64], line[512];
	FILE *f;
	int c;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (SOAK_TSAN) {
		/* ThreadSanitizer's runtime in pvcallsd maps as it goes (the
		 * same build instruments the daemon), so only the mappings a
		 * guest can cause count there: the shared-memory transport's. */
		while (fgets(line, sizeof(line), f))
			r->maps += strstr(line, "/memfd:pvcalls-shm-") != NULL;
	} else {
		while ((c = fgetc(f)) != EOF)
			r->maps += c == '\n';
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu", &r->rss_kb) == 1)
			break;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	{
		DIR *dir = opendir(path);
		struct dirent *de;

		if (!dir)
			return false;
		while ((de = readdir(dir)))
			r->fds += de->d_name[0] != '.';
		closedir(dir);
	}
	return true;
}

static uint64_t xs_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

uint64_t soak_rand(uint64_t *state)
{
	if (!*state)
		*state = 0x9e3779b97f4a7c15ULL;
	return xs_next(state);
}

void soak_stream_init(struct soak_stream *st, uint64_t key)
{
	memset(st, 0, sizeof(*st));
	/* splitmix64 of the key: neighbouring keys give unrelated streams. */
	key += 0x9e3779b97f4a7c15ULL;
	key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
	key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
	st->state = (key ^ (key >> 31)) | 1;
	st->used = 8;
}

void soak_stream_fill(struct soak_stream *st, uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len && st->used < 8)
		buf[i++] = st->word[st->used++];
	for (; i + 8 <= len; i += 8) {
		uint64_t w = xs_next(&st->state);

		memcpy(buf + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = xs_next(&st->state);

		memcpy(st->word, &w, 8);
		st->used = 0;
		while (i < len)
			buf[i++] = st->word[st->used++];
	}
	st->pos += len;
}

long soak_stream_check(struct soak_stream *st, const uint8_t *buf, size_t len)
{
	uint8_t tmp[4096];
	long bad = -1;

	for (size_t off = 0; off < len;) {
		size_t n = len - off < sizeof(tmp) ? len - off : sizeof(tmp);

		soak_stream_fill(st, tmp, n);
		if (bad < 0 && memcmp(tmp, buf + off, n)) {
			for (size_t i = 0; i < n; i++)
				if (tmp[i] != buf[off + i]) {
					bad = (long)(off + i);
					break;
				}
		}
		off += n;
	}
	return bad;
}

int soak_front_connect(pvcalls_front *fe, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s, rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = pvcalls_front_socket(fe, AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return s;
	rc = pvcalls_front_connect(fe, s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		pvcalls_front_release(fe, s);
		return rc;
	}
	return s;
}
