/* SPDX-License-Identifier: MIT */
/*
 * Semantics of libpvcalls-preload, seen from an ordinary program. Runs
 * under pvcalls-run in an empty network namespace (harness.py), so every
 * AF_INET stream socket here is a PV Calls socket. Host-side peers, on
 * 127.0.0.1 (harness.py): ECHO echoes, BYE sends "bye\n" and closes, RST
 * sends "rst\n" and resets, LATE sends "late\n" after 1.5 s, CLOSED has
 * nobody listening, DENIED is refused by pvallsd's policy, TOEOF reads to
 * the end of the stream and then answers "got N\n".
 *
 *   sem CASE ECHO BYE RST LATE CLOSED DENIED_ADDR [TOEOF]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int p_echo, p_bye, p_rst, p_late, p_closed;
static const char *denied_addr = "127.0.0.2";
static const char *g_case;
static int p_toeof; /* reads to EOF, then answers "got N\n" (or "noeof\n" first) */

#define CHECK(c, ...)                                                                             \
	do {                                                                                      \
		if (!(c)) {                                                                       \
			int _e = errno;                                                           \
			fprintf(stderr, "FAIL %s:%d [%s] %s (errno %d %s): ", __FILE__, __LINE__, \
				g_case, #c, _e, strerror(_e));                                    \
			fprintf(stderr, __VA_ARGS__);                                             \
			fprintf(stderr, "\n");                                                    \
			exit(1);                                                                  \
		}                                                                                 \
	} while (0)

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int tcp(int flags)
{
	int s = socket(AF_INET, SOCK_STREAM | flags, 0);

	CHECK(s >= 0, "socket");
	return s;
}

static int dial(int port)
{
	int s = tcp(0);
	struct sockaddr_in a = addr_of("127.0.0.1", port);

	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %d", port);
	return s;
}

static void send_all(int s, const void *b, size_t n)
{
	size_t d = 0;

	while (d < n) {
		ssize_t k = send(s, (const char *)b + d, n - d, MSG_NOSIGNAL);

		CHECK(k > 0, "send");
		d += (size_t)k;
	}
}

static void recv_all(int s, void *b, size_t n)
{
	size_t d = 0;

	while (d < n) {
		ssize_t k = recv(s, (char *)b + d, n - d, 0);

		CHECK(k > 0, "recv %zd after %zu of %zu", k, d, n);
		d += (size_t)k;
	}
}

static void echo_roundtrip(int s, size_t n)
{
	char *out = malloc(n), *in = malloc(n);

	for (size_t i = 0; i < n; i++)
		out[i] = (char)(i * 7 + 3);
	send_all(s, out, n);
	recv_all(s, in, n);
	CHECK(memcmp(in, out, n) == 0, "echo data differs");
	free(out);
	free(in);
}

/* ---------------------------------------------------------------------- */

static void case_nbconnect(void)
{
	int s = tcp(SOCK_NONBLOCK), err = -1, rc;
	struct sockaddr_in a = addr_of("127.0.0.1", p_echo);
	socklen_t len = sizeof(err);
	struct pollfd pf = { .fd = s, .events = POLLOUT };
	int type = 0, dom = 0, fl;

	rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	CHECK(rc == -1 && errno == EINPROGRESS, "non-blocking connect gave %d", rc);
	CHECK(poll(&pf, 1, 5000) == 1 && (pf.revents & POLLOUT), "no POLLOUT: %x", pf.revents);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0, "SO_ERROR %d", err);
	len = sizeof(type);
	CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM,
	      "SO_TYPE");
	CHECK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_INET, "SO_DOMAIN");
	fl = fcntl(s, F_GETFL);
	CHECK(fl >= 0 && (fl & O_NONBLOCK), "F_GETFL %x", fl);
	CHECK(fcntl(s, F_SETFL, fl & ~O_NONBLOCK) == 0, "F_SETFL");
	{
		struct sockaddr_in p;

		len = sizeof(p);
		CHECK(getpeername(s, (struct sockaddr *)&p, &len) == 0 && p.sin_port == a.sin_port,
		      "getpeername");
	}
	{
		int one = 1, v = 0;

		CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "NODELAY");
		len = sizeof(v);
		CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1,
		      "NODELAY get");
		CHECK(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) == -1 &&
			      errno == ENOPROTOOPT,
		      "BINDTODEVICE");
	}
	echo_roundtrip(s, 300000);
	{ /* scatter/gather */
		char x[] = "ab", y[] = "cd", b[8] = { 0 }, c[8] = { 0 };
		struct iovec v[2] = { { x, 2 }, { y, 2 } }, r[2] = { { b, 3 }, { c, 8 } };
		struct mmsghdr mm[2];

		CHECK(writev(s, v, 2) == 4, "writev");
		recv_all(s, b, 4);
		CHECK(memcmp(b, "abcd", 4) == 0, "writev echo");
		memset(mm, 0, sizeof(mm));
		mm[0].msg_hdr.msg_iov = &v[0];
		mm[0].msg_hdr.msg_iovlen = 1;
		mm[1].msg_hdr.msg_iov = &v[1];
		mm[1].msg_hdr.msg_iovlen = 1;
		CHECK(sendmmsg(s, mm, 2, 0) == 2 && mm[1].msg_len == 2, "sendmmsg");
		memset(b, 0, sizeof(b));
		for (size_t got = 0; got < 4;) {
			ssize_t k = readv(s, r, 2);

			CHECK(k > 0, "readv");
			got += (size_t)k;
			if (got < 4) { /* the echo came in pieces: collect the rest */
				recv_all(s, b + got, 4 - got);
				got = 4;
			} else {
				memcpy(b + 3, c, 1);
			}
		}
		CHECK(memcmp(b, "abcd", 4) == 0, "sendmmsg echo: %.4s", b);
	}
	{ /* sendfile from a file, with and without an offset */
		char path[] = "/tmp/pvcalls-sem-XXXXXX", b[64];
		int f = mkstemp(path);
		off_t off = 4;

		CHECK(f >= 0 && write(f, "0123456789", 10) == 10, "temp file");
		unlink(path);
		CHECK(sendfile(s, f, &off, 3) == 3 && off == 7, "sendfile with offset");
		CHECK(lseek(f, 0, SEEK_CUR) == 10, "file position kept");
		recv_all(s, b, 3);
		CHECK(memcmp(b, "456", 3) == 0, "sendfile data");
		CHECK(lseek(f, 1, SEEK_SET) == 1, "seek");
		CHECK(sendfile(s, f, NULL, 100) == 9 && lseek(f, 0, SEEK_CUR) == 10,
		      "sendfile to EOF");
		recv_all(s, b, 9);
		CHECK(memcmp(b, "123456789", 9) == 0, "sendfile data 2");
		close(f);
	}
	CHECK(close(s) == 0, "close");
}

static void case_refused(void)
{
	int s = tcp(0), err = 0, rc;
	struct sockaddr_in a = addr_of("127.0.0.1", p_closed);
	socklen_t len = sizeof(err);
	struct pollfd pf;

	rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	CHECK(rc == -1 && errno == ECONNREFUSED, "blocking connect to a closed port: %d", rc);
	close(s);
	s = tcp(SOCK_NONBLOCK);
	rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	CHECK(rc == -1 && errno == EINPROGRESS, "nb connect %d", rc);
	pf = (struct pollfd){ .fd = s, .events = POLLOUT };
	CHECK(poll(&pf, 1, 5000) == 1 && (pf.revents & (POLLOUT | POLLERR)), "poll %x", pf.revents);
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED,
	      "SO_ERROR %d", err);
	err = -1;
	CHECK(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0, "cleared %d", err);
	close(s);
}

static void case_denied(void)
{
	int s = tcp(0);
	struct sockaddr_in a = addr_of(denied_addr, p_echo);
	int rc = connect(s, (struct sockaddr *)&a, sizeof(a));

	CHECK(rc == -1 && errno == EACCES, "denied connect gave %d", rc);
	close(s);
}

static void case_eof_reset(void)
{
	char b[16];
	int s = dial(p_bye);
	ssize_t n;

	recv_all(s, b, 4);
	CHECK(memcmp(b, "bye\n", 4) == 0, "greeting");
	/* The peer's FIN comes right after its data. If pvcallsd handles the
	 * connect's completion late, both arrive in the one edge-triggered
	 * event of the connecting socket, and a backend that does not hand
	 * that event to the relay loses the EOF: this recv then waits for
	 * ever (seen under load, 2026-12-04; the eintr case's SIGPIPE part
	 * meets the same). */
	n = recv(s, b, sizeof(b), 0);
	CHECK(n == 0, "EOF expected, got %zd", n);
	n = read(s, b, sizeof(b));
	CHECK(n == 0, "EOF again, got %zd", n);
	{
		struct pollfd pf = { .fd = s, .events = POLLIN | POLLRDHUP };

		CHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN) && (pf.revents & POLLRDHUP),
		      "EOF readiness %x", pf.revents);
	}
	close(s);

	s = dial(p_rst);
	recv_all(s, b, 4);
	send_all(s, "k", 1); /* the peer resets once it has this */
	for (int i = 0; i < 50; i++) {
		n = recv(s, b, sizeof(b), 0);
		if (n < 0)
			break;
		usleep(20000);
	}
	CHECK(n == -1 && errno == ECONNRESET, "reset expected, got %zd", n);
	close(s);
}

static void set_nb(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int ep_wait(int ep, struct epoll_event *ev, int n, int ms)
{
	int r;

	do
		r = epoll_wait(ep, ev, n, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

static void case_epoll(bool et)
{
	int s = dial(p_echo), pfd[2], ep = epoll_create1(EPOLL_CLOEXEC), n;
	struct epoll_event ev, out[8];
	char b[64];

	CHECK(pipe(pfd) == 0 && ep >= 0, "pipe/epoll");
	set_nb(s);
	ev.events = EPOLLIN | EPOLLRDHUP | (et ? EPOLLET : 0);
	ev.data.u64 = 1111;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "ADD pv");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == -1 && errno == EEXIST, "ADD twice");
	ev.data.u64 = 2222;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev) == 0, "ADD pipe");
	CHECK(ep_wait(ep, out, 8, 100) == 0, "nothing ready yet");

	send_all(s, "hello", 5);
	n = ep_wait(ep, out, 8, 5000);
	CHECK(n == 1 && out[0].data.u64 == 1111 && (out[0].events & EPOLLIN), "pv readable %d", n);
	/* Not drained: LT reports again, ET does not. */
	n = ep_wait(ep, out, 8, 200);
	CHECK(et ? n == 0 : (n == 1 && out[0].data.u64 == 1111), "second wait %d", n);
	CHECK(write(pfd[1], "x", 1) == 1, "pipe write");
	n = ep_wait(ep, out, 8, 5000);
	{
		bool pipe_seen = false, pv_seen = false;

		for (int i = 0; i < n; i++) {
			pipe_seen |= out[i].data.u64 == 2222;
			pv_seen |= out[i].data.u64 == 1111;
		}
		CHECK(pipe_seen && (et ? !pv_seen : pv_seen), "pipe + pv: n=%d pipe %d pv %d", n,
		      pipe_seen, pv_seen);
	}
	CHECK(read(pfd[0], b, 1) == 1, "pipe read");
	if (et) { /* new data while still readable: a new edge */
		send_all(s, "again", 5);
		n = 0;
		for (int i = 0; i < 50 && n == 0; i++)
			n = ep_wait(ep, out, 8, 100);
		CHECK(n == 1 && out[0].data.u64 == 1111, "edge on new data %d", n);
	}
	/* Drain to EAGAIN. */
	{
		size_t got = 0, want = et ? 10 : 5;

		while (got < want) {
			ssize_t k = recv(s, b, sizeof(b), 0);

			if (k < 0 && errno == EAGAIN) {
				usleep(10000);
				continue;
			}
			CHECK(k > 0, "recv");
			got += (size_t)k;
		}
		CHECK(recv(s, b, sizeof(b), 0) == -1 && errno == EAGAIN, "EAGAIN after drain");
	}
	CHECK(ep_wait(ep, out, 8, 100) == 0, "quiet after drain");
	/* ONESHOT: one report until MOD. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 3333;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0, "MOD");
	send_all(s, "one", 3);
	n = ep_wait(ep, out, 8, 5000);
	CHECK(n == 1 && out[0].data.u64 == 3333, "oneshot first %d", n);
	CHECK(ep_wait(ep, out, 8, 150) == 0, "oneshot disabled");
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0, "re-arm");
	n = ep_wait(ep, out, 8, 5000);
	CHECK(n == 1 && out[0].data.u64 == 3333, "oneshot re-armed %d", n);
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) == 0, "DEL");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) == -1 && errno == ENOENT, "DEL twice");
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "EXCLUSIVE accepted");
	CHECK(ep_wait(ep, out, 8, 5000) == 1, "exclusive reported");
	close(s);
	/* Closing the last fd takes it out of the set. */
	CHECK(ep_wait(ep, out, 8, 100) == 0, "closed socket left the set");
	close(pfd[0]);
	close(pfd[1]);
	close(ep);
}

static void case_poll_select(void)
{
	int s = dial(p_echo), pfd[2];
	struct pollfd pf[2];
	fd_set r, w;
	struct timeval tv;
	char b[8];
	int n;

	CHECK(pipe(pfd) == 0, "pipe");
	pf[0] = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = s, .events = POLLIN };
	CHECK(poll(pf, 2, 100) == 0, "quiet");
	CHECK(write(pfd[1], "x", 1) == 1, "pipe");
	CHECK(poll(pf, 2, 1000) == 1 && pf[0].revents == POLLIN && pf[1].revents == 0, "pipe only");
	CHECK(read(pfd[0], b, 1) == 1, "pipe read");
	send_all(s, "ping", 4);
	CHECK(poll(pf, 2, 5000) == 1 && pf[1].revents == POLLIN && !pf[0].revents, "pv only %x %x",
	      pf[0].revents, pf[1].revents);
	pf[1].events = POLLOUT;
	CHECK(poll(&pf[1], 1, 0) == 1 && pf[1].revents == POLLOUT, "writable");
	{
		struct timespec ts = { 1, 0 };
		sigset_t m;

		sigemptyset(&m);
		pf[1].events = POLLIN;
		CHECK(ppoll(&pf[1], 1, &ts, &m) == 1 && pf[1].revents == POLLIN, "ppoll");
	}
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(s, &r);
	FD_SET(pfd[0], &r);
	FD_SET(s, &w);
	tv = (struct timeval){ 2, 0 };
	n = select((s > pfd[0] ? s : pfd[0]) + 1, &r, &w, NULL, &tv);
	CHECK(n == 2 && FD_ISSET(s, &r) && FD_ISSET(s, &w) && !FD_ISSET(pfd[0], &r), "select %d",
	      n);
	recv_all(s, b, 4);
	FD_ZERO(&r);
	FD_SET(s, &r);
	FD_SET(pfd[0], &r);
	tv = (struct timeval){ 0, 100000 };
	CHECK(select((s > pfd[0] ? s : pfd[0]) + 1, &r, NULL, NULL, &tv) == 0, "select quiet");
	CHECK(write(pfd[1], "y", 1) == 1, "pipe");
	FD_ZERO(&r);
	FD_SET(s, &r);
	FD_SET(pfd[0], &r);
	{
		struct timespec ts = { 2, 0 };

		n = pselect((s > pfd[0] ? s : pfd[0]) + 1, &r, NULL, NULL, &ts, NULL);
	}
	CHECK(n == 1 && FD_ISSET(pfd[0], &r) && !FD_ISSET(s, &r), "pselect %d", n);
	{
		int q = -1;

		send_all(s, "12345", 5);
		for (int i = 0; i < 100 && q < 5; i++) {
			CHECK(ioctl(s, FIONREAD, &q) == 0, "FIONREAD");
			usleep(10000);
		}
		CHECK(q == 5, "FIONREAD %d", q);
		CHECK(recv(s, b, 5, MSG_PEEK) == 5 && recv(s, b, 5, MSG_DONTWAIT) == 5,
		      "peek+read");
		CHECK(recv(s, b, 5, MSG_DONTWAIT) == -1 && errno == EAGAIN, "MSG_DONTWAIT");
	}
	close(s);
	close(pfd[0]);
	close(pfd[1]);
}

static void *thr_echo(void *arg)
{
	int s = dial(p_echo);

	(void)arg;
	for (int i = 0; i < 5; i++)
		echo_roundtrip(s, 200000);
	close(s);
	return NULL;
}

struct duplex {
	int s;
	size_t n;
};

static void *thr_sender(void *arg)
{
	struct duplex *d = arg;
	char b[8192];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (char)i;
	for (size_t done = 0; done < d->n; done += sizeof(b))
		send_all(d->s, b, sizeof(b));
	return NULL;
}

static void case_threads(void)
{
	pthread_t t[6], snd;
	struct duplex d;
	char b[8192];
	size_t got = 0;

	for (int i = 0; i < 6; i++)
		CHECK(pthread_create(&t[i], NULL, thr_echo, NULL) == 0, "thread");
	/* One socket, a sender thread and a receiver thread. */
	d.s = dial(p_echo);
	d.n = 8u << 20;
	CHECK(pthread_create(&snd, NULL, thr_sender, &d) == 0, "sender");
	while (got < d.n) {
		ssize_t k = recv(d.s, b, sizeof(b), 0);

		CHECK(k > 0, "duplex recv");
		got += (size_t)k;
	}
	pthread_join(snd, NULL);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	close(d.s);
}

static void case_fork(const char *self)
{
	int s = dial(p_echo), st;
	pid_t pid;

	echo_roundtrip(s, 1000);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		char b[4];
		int c;

		/* The parent's socket is not usable here, and closing it must
		 * not release it. */
		if (send(s, "x", 1, MSG_NOSIGNAL) != -1 || errno != EBADF)
			_exit(10);
		if (recv(s, b, 1, MSG_DONTWAIT) != -1 || errno != EBADF)
			_exit(11);
		close(s);
		/* A socket of our own: a new frontend. */
		c = dial(p_echo);
		echo_roundtrip(c, 100000);
		close(c);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child status %x", st);
	echo_roundtrip(s, 100000); /* still ours */
	/* fork + exec: the new image starts its own frontend. */
	pid = fork();
	CHECK(pid >= 0, "fork 2");
	if (pid == 0) {
		char ps[16];

		snprintf(ps, sizeof(ps), "%d", p_echo);
		execl(self, self, "exec-child", ps, "0", "0", "0", "0", (char *)NULL);
		_exit(12);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "exec child status %x", st);
	echo_roundtrip(s, 100000);
	close(s);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void case_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 300000 } };
	char b[16];
	ssize_t n;
	int s = dial(p_late);

	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
	setitimer(ITIMER_REAL, &it, NULL);
	n = recv(s, b, sizeof(b), 0);
	CHECK(n == -1 && errno == EINTR, "recv interrupted: %zd", n);
	/* With SA_RESTART the same wait goes on until the data comes (the
	 * peer sends it 1.5 s after our "g"). */
	send_all(s, "g", 1);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	n = recv(s, b, sizeof(b), 0);
	CHECK(n == 5 && memcmp(b, "late\n", 5) == 0, "restarted recv: %zd", n);
	close(s);
	/* poll is never restarted. */
	s = dial(p_late);
	setitimer(ITIMER_REAL, &it, NULL);
	{
		struct pollfd pf = { .fd = s, .events = POLLIN };
		int r = poll(&pf, 1, 5000);

		CHECK(r == -1 && errno == EINTR, "poll: %d", r);
	}
	/* SO_RCVTIMEO: EAGAIN when it expires. */
	{
		struct timeval tv = { 0, 200000 };

		CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "RCVTIMEO");
		n = recv(s, b, sizeof(b), 0);
		CHECK(n == -1 && errno == EAGAIN, "timeout %zd", n);
	}
	close(s);
	/* SIGPIPE: sends after the peer is gone. */
	{
		int c = dial(p_bye), got_pipe = 0;
		sigset_t m, old;

		recv_all(c, b, 4);
		CHECK(recv(c, b, 4, 0) == 0, "EOF");
		sigemptyset(&m);
		sigaddset(&m, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &m, &old);
		/* The peer closes 1 s after the accept; wait for that up to 20 s. */
		for (int i = 0; i < 2000; i++) {
			n = send(c, "zzzz", 4, 0);
			if (n < 0)
				break;
			usleep(10000);
		}
		CHECK(n == -1 && (errno == EPIPE || errno == ECONNRESET), "send after close: %zd",
		      n);
		if (errno == EPIPE) {
			struct timespec z = { 0, 0 };

			got_pipe = sigtimedwait(&m, NULL, &z) == SIGPIPE;
			CHECK(got_pipe, "SIGPIPE raised with EPIPE");
		}
		CHECK(send(c, "z", 1, MSG_NOSIGNAL) == -1, "still failing");
		{
			struct timespec z = { 0, 0 };

			CHECK(sigtimedwait(&m, NULL, &z) == -1, "no SIGPIPE with MSG_NOSIGNAL");
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		close(c);
	}
}

static void case_dup(void)
{
	int s = dial(p_echo), d, d2, fl, pfd[2];
	char b[4];

	d = dup(s);
	CHECK(d >= 0 && d != s, "dup");
	CHECK(close(s) == 0, "close original");
	echo_roundtrip(d, 10000);
	CHECK(pipe(pfd) == 0, "pipe");
	d2 = dup2(d, pfd[0]); /* onto a kernel fd */
	CHECK(d2 == pfd[0], "dup2");
	echo_roundtrip(d2, 10000);
	CHECK(close(d) == 0, "close dup");
	echo_roundtrip(d2, 10000); /* still open through d2 */
	s = fcntl(d2, F_DUPFD_CLOEXEC, 100);
	CHECK(s >= 100, "F_DUPFD_CLOEXEC");
	fl = fcntl(s, F_GETFD);
	CHECK(fl == FD_CLOEXEC, "FD_CLOEXEC on the dup: %d", fl);
	CHECK(fcntl(d2, F_GETFD) == 0, "not on the original");
	d = dup3(s, 200, 0);
	CHECK(d == 200, "dup3");
	/* dup2 of a kernel fd onto a PV fd: that name now is the pipe. */
	close(pfd[1]); /* its read end was replaced by d2 above */
	CHECK(pipe(pfd) == 0, "pipe 2");
	CHECK(dup2(pfd[1], d) == d, "dup2 onto pv");
	CHECK(write(d, "p", 1) == 1, "now a pipe end");
	CHECK(read(pfd[0], b, 1) == 1 && b[0] == 'p', "through the pipe");
	close(d);
	close(pfd[0]);
	close(pfd[1]);
	echo_roundtrip(s, 1000);
	close(s);
	/* The last close releases: the peer sees the end. */
	close(d2);
	/* A closed number is not ours any more. */
	CHECK(send(d2, "x", 1, MSG_NOSIGNAL) == -1 && errno == EBADF, "closed fd");
	/* Closed behind the shim's back (a raw syscall), then handed out
	 * again by the kernel: the number is a plain file now. */
	{
		int r = dial(p_echo), f;

		CHECK(syscall(SYS_close, r) == 0, "raw close");
		f = open("/dev/zero", O_RDONLY);
		CHECK(f == r, "the kernel reuses the lowest number (%d, %d)", f, r);
		CHECK(read(f, b, 4) == 4 && b[0] == 0, "reads the file, not the old socket");
		close(f);
	}
	(void)b;
	/* Listening + a connection to ourselves through the backend. */
	{
		int l = tcp(0), c, a, one = 1;
		struct sockaddr_in la = addr_of("127.0.0.1", p_closed), got;
		socklen_t len = sizeof(got);

		CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, "REUSEADDR");
		CHECK(bind(l, (struct sockaddr *)&la, sizeof(la)) == 0, "bind");
		CHECK(listen(l, 8) == 0, "listen");
		CHECK(getsockname(l, (struct sockaddr *)&got, &len) == 0 &&
			      got.sin_port == la.sin_port,
		      "getsockname");
		{
			int acc = 0;

			len = sizeof(acc);
			CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc == 1,
			      "ACCEPTCONN");
		}
		c = tcp(0);
		CHECK(connect(c, (struct sockaddr *)&la, sizeof(la)) == 0, "self connect");
		len = sizeof(got);
		a = accept4(l, (struct sockaddr *)&got, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		CHECK(a >= 0 && got.sin_family == AF_INET, "accept4");
		CHECK(fcntl(a, F_GETFD) == FD_CLOEXEC && (fcntl(a, F_GETFL) & O_NONBLOCK),
		      "accept4 flags");
		send_all(c, "abc", 3);
		{
			struct pollfd pf = { .fd = a, .events = POLLIN };

			CHECK(poll(&pf, 1, 5000) == 1, "accepted readable");
		}
		CHECK(recv(a, b, 3, 0) == 3 && memcmp(b, "abc", 3) == 0, "accepted data");
		CHECK(shutdown(c, SHUT_RDWR) == 0, "shutdown");
		CHECK(recv(c, b, 1, 0) == 0, "recv after shutdown");
		{
			struct pollfd pf = { .fd = a, .events = POLLIN };

			CHECK(poll(&pf, 1, 5000) == 1, "peer sees the shutdown");
			CHECK(recv(a, b, 1, 0) == 0, "EOF after the peer's shutdown");
		}
		close(a);
		close(c);
		close(l);
	}
}

/* Reads to end of stream (or @max bytes); returns the count. */
static size_t recv_eof(int s, char *b, size_t max)
{
	size_t n = 0;
	ssize_t r;

	while (n < max && (r = recv(s, b + n, max - n, 0)) > 0)
		n += (size_t)r;
	CHECK(r >= 0 || n == max, "recv");
	return n;
}

/*
 * The classic half-close client: send the request, shutdown(SHUT_WR), read
 * the answer to EOF. With the SHUTDOWN extension the host peer sees the end
 * of the stream and answers. Without it (pvcallsd: extensions = none) the
 * v1 emulation is local: sends fail with EPIPE, but the peer sees no end
 * of stream (it says "noeof" after 1.5 s of silence) until close().
 */
static void case_halfclose(bool ext)
{
	int s = dial(p_toeof);
	char b[64];
	size_t n;

	CHECK(p_toeof > 0, "no ToEof peer");
	send_all(s, "hello", 5);
	CHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
	CHECK(send(s, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "send after SHUT_WR");
	if (ext) {
		n = recv_eof(s, b, sizeof(b) - 1);
		b[n] = 0;
		CHECK(!strcmp(b, "got 5\n"), "answer %s", b);
		/* Both directions ended, the socket is still ours to name. */
		CHECK(shutdown(s, SHUT_RDWR) == 0, "shutdown RDWR");
	} else {
		n = recv_eof(s, b, 6);
		b[n] = 0;
		CHECK(!strcmp(b, "noeof\n"), "v1: peer should not see EOF before close: %s", b);
	}
	close(s);
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* getsockname/getpeername through the names extension. */
static void case_names(void)
{
	struct sockaddr_in a = addr_of("127.0.0.1", 0), ln, cl, cpeer, acc, apeer, aloc, want;
	socklen_t l;
	int ls = tcp(0), c, as;

	CHECK(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
	l = sizeof(ln);
	CHECK(getsockname(ls, (struct sockaddr *)&ln, &l) == 0 && l == sizeof(ln), "getsockname");
	CHECK(ln.sin_port != 0 && ln.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	      "bind(port 0) should report the chosen port: %s:%d", inet_ntoa(ln.sin_addr),
	      ntohs(ln.sin_port));
	CHECK(listen(ls, 4) == 0, "listen");
	l = sizeof(a);
	CHECK(getsockname(ls, (struct sockaddr *)&a, &l) == 0 && same_addr(&a, &ln),
	      "listener name changed");

	c = dial(ntohs(ln.sin_port));
	l = sizeof(acc);
	as = accept(ls, (struct sockaddr *)&acc, &l);
	CHECK(as >= 0, "accept");
	l = sizeof(cl);
	CHECK(getsockname(c, (struct sockaddr *)&cl, &l) == 0, "getsockname client");
	CHECK(cl.sin_port != 0, "connected socket: real local port");
	l = sizeof(cpeer);
	CHECK(getpeername(c, (struct sockaddr *)&cpeer, &l) == 0 && same_addr(&cpeer, &ln),
	      "client's peer is the listener");
	l = sizeof(apeer);
	CHECK(getpeername(as, (struct sockaddr *)&apeer, &l) == 0, "getpeername accepted");
	CHECK(same_addr(&apeer, &cl), "accepted peer %s:%d vs client %d", inet_ntoa(apeer.sin_addr),
	      ntohs(apeer.sin_port), ntohs(cl.sin_port));
	CHECK(same_addr(&acc, &cl), "accept()'s address %d vs client %d", ntohs(acc.sin_port),
	      ntohs(cl.sin_port));
	l = sizeof(aloc);
	CHECK(getsockname(as, (struct sockaddr *)&aloc, &l) == 0 && same_addr(&aloc, &ln),
	      "accepted local end");
	close(as);
	close(c);
	close(ls);

	c = dial(p_echo);
	want = addr_of("127.0.0.1", p_echo);
	l = sizeof(cpeer);
	CHECK(getpeername(c, (struct sockaddr *)&cpeer, &l) == 0 && same_addr(&cpeer, &want),
	      "peer of a connection to the echo peer");
	close(c);
	c = tcp(0);
	l = sizeof(cpeer);
	CHECK(getpeername(c, (struct sockaddr *)&cpeer, &l) == -1 && errno == ENOTCONN,
	      "unconnected getpeername");
	close(c);
}

/* setsockopt/getsockopt through the sockopt extension. */
static void case_sockopt(void)
{
	int s = tcp(0), v = 1, c;
	socklen_t l = sizeof(v);
	char cc[32];

	CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0, "TCP_NODELAY before");
	v = 0;
	CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l) == 0 && v == 1, "get %d", v);
	c = dial(p_echo);
	v = 1;
	CHECK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0, "TCP_NODELAY connected");
	v = 0;
	l = sizeof(v);
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &l) == 0 && v == 1, "get %d", v);
	v = 65536;
	CHECK(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0, "SO_RCVBUF");
	l = sizeof(v);
	CHECK(getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0 && v == 131072,
	      "SO_RCVBUF as the host kernel reports it: %d", v);
	v = 0;
	CHECK(setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v)) == -1 && errno == EINVAL,
	      "the host's range check");
	l = sizeof(cc);
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &l) == -1 && errno == ENOPROTOOPT,
	      "TCP_CONGESTION");
	echo_roundtrip(c, 10000);
	close(c);
	close(s);
}

static void exec_child(void)
{
	int s = dial(p_echo);

	echo_roundtrip(s, 50000);
	close(s);
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: sem CASE ECHO BYE RST LATE CLOSED [DENIED_ADDR [TOEOF]]\n");
		return 2;
	}
	g_case = argv[1];
	p_echo = atoi(argv[2]);
	p_bye = atoi(argv[3]);
	p_rst = atoi(argv[4]);
	p_late = atoi(argv[5]);
	p_closed = atoi(argv[6]);
	if (argc > 7)
		denied_addr = argv[7];
	if (argc > 8)
		p_toeof = atoi(argv[8]);
	signal(SIGPIPE, SIG_DFL);
	if (!strcmp(g_case, "nbconnect"))
		case_nbconnect();
	else if (!strcmp(g_case, "refused"))
		case_refused();
	else if (!strcmp(g_case, "denied"))
		case_denied();
	else if (!strcmp(g_case, "eof-reset"))
		case_eof_reset();
	else if (!strcmp(g_case, "epoll-lt"))
		case_epoll(false);
	else if (!strcmp(g_case, "epoll-et"))
		case_epoll(true);
	else if (!strcmp(g_case, "poll-select"))
		case_poll_select();
	else if (!strcmp(g_case, "threads"))
		case_threads();
	else if (!strcmp(g_case, "fork"))
		case_fork(argv[0][0] == '/' ? argv[0] : "/proc/self/exe");
	else if (!strcmp(g_case, "eintr"))
		case_eintr();
	else if (!strcmp(g_case, "dup"))
		case_dup();
	else if (!strcmp(g_case, "halfclose"))
		case_halfclose(true);
	else if (!strcmp(g_case, "halfclose-v1"))
		case_halfclose(false);
	else if (!strcmp(g_case, "names"))
		case_names();
	else if (!strcmp(g_case, "sockopt"))
		case_sockopt();
	else if (!strcmp(g_case, "exec-child"))
		exec_child();
	else {
		fprintf(stderr, "unknown case %s\n", g_case);
		return 2;
	}
	printf("ok %s\n", g_case);
	return 0;
}
