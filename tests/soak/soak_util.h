/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the soak driver (soak.c) and the restart test (restart.c):
 * a pvcallsd subprocess on a shm hub path, its resource counts from /proc,
 * a checkable byte stream, and an optional private network namespace.
 */
#ifndef PVCALLS_SOAK_UTIL_H
#define PVCALLS_SOAK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvcalls/frontend.h>
#include <pvcalls/transport.h>

/* CLOCK_MONOTONIC in ms. */
int64_t soak_now_ms(void);
void soak_sleep_ms(int ms);

/*
 * Moves this process into a new user and network namespace with only a
 * loopback interface (up), so that every connection stays inside it.
 * Must be called before any thread starts. false (and why on stderr):
 * not possible here; the caller then stays on the host's loopback.
 */
bool soak_enter_netns(void);

/* A pvcallsd with its own config in @dir, serving the hub at dir/hub. */
struct soak_daemon {
	const char *bin;
	char dir[256];
	char hub[300];
	char conf[300];
	char log[300];
	pid_t pid;
};

/* Writes the config (every connect to 127.0.0.1 and listens on ports
 * allowed (pvcallsd still denies ports below 1024), no control socket, no audit) and starts pvcallsd; waits until the hub answers.
 * 0, or -1 with a message. */
int soak_daemon_start(struct soak_daemon *d);
/* Sends @sig and reaps it (bounded: SIGKILL after 10 s). Returns the
 * wait status. */
int soak_daemon_stop(struct soak_daemon *d, int sig);

/* pvcallsd's resource counts (/proc/PID/fd entries, /proc/PID/maps lines,
 * VmRSS in KiB). false if the process is gone. */
struct soak_res {
	unsigned fds;
	unsigned maps;
	unsigned long rss_kb;
};
bool soak_res_read(pid_t pid, struct soak_res *r);

/*
 * A deterministic byte stream (xorshift64*, one 64-bit word per 8 bytes)
 * that both ends of a connection generate from the same key, so that the
 * receiver checks every byte in order without keeping a copy.
 */
struct soak_stream {
	uint64_t state;
	uint8_t word[8];
	unsigned used; /* bytes of word already handed out */
	uint64_t pos;  /* bytes handed out so far */
};
void soak_stream_init(struct soak_stream *st, uint64_t key);
void soak_stream_fill(struct soak_stream *st, uint8_t *buf, size_t len);
/* Compares @len received bytes with the stream; the offset of the first
 * mismatch, or -1 when all match. Advances the stream either way. */
long soak_stream_check(struct soak_stream *st, const uint8_t *buf, size_t len);

/* A random number generator for choices (sizes, victims). */
uint64_t soak_rand(uint64_t *state);

/* Connects a new frontend socket to 127.0.0.1:@port. The socket or a
 * negative errno. */
int soak_front_connect(pvcalls_front *fe, uint16_t port);

#endif
