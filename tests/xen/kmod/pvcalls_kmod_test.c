// SPDX-License-Identifier: MIT
/*
 * pvcalls_kmod_test: drives Linux's own PV Calls frontend against whatever
 * backend serves this domain's device/pvcalls/0 (libpvcalls' pvcallsd, or
 * Linux's pvcalls-back for the reference run).
 *
 * Debian's kernel is built without CONFIG_XEN_PVCALLS_FRONTEND, and
 * pvcalls-front.c exports nothing, so this file compiles it into the same
 * module (the harness copies pvcalls-front.c/.h from linux-source next to
 * this file; the result is GPL, as pvcalls-front.c's MODULE_LICENSE says).
 * Its module_init becomes a plain call from ours.
 *
 * Module parameters: addr (IPv4 address as the backend sees it, default
 * 127.0.0.1), port (a peer serving there: we connect), lport (we listen
 * there; a peer connects), out_bytes/out_seed (what we send),
 * in_bytes/in_seed (what the peer sends; we check it), timeout (s).
 *
 * Data: the xorshift32 stream and the FNV-1a hash of tests/xen/tools/xh_peer.c.
 * Every exchange sends out_bytes and receives until EOF (the peer closes
 * once it has everything), then compares with in_bytes/in_seed.
 *
 * Reports with printk (KERN_INFO, read back from dmesg by the scenario):
 *   PVCALLS-KMOD <check> PASS|FAIL <detail>
 *   PVCALLS-KMOD DONE failed=<n>
 * All waits are bounded: calls are made non-blocking and polled, and a
 * watchdog sends SIGKILL to the test thread, which interrupts the
 * frontend's interruptible waits, after 3 * `timeout` seconds.
 * At the end the frontend is unbound from its device (state Closed), so the
 * module can be removed.
 */
#include <linux/module.h>

#pragma push_macro("module_init")
#undef module_init
#define module_init(fn)
#include "pvcalls-front.c"
#pragma pop_macro("module_init")

#include <linux/delay.h>
#include <linux/inet.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#ifndef ITER_DEST
#define ITER_DEST READ
#define ITER_SOURCE WRITE
#endif

static char *addr = "127.0.0.1";
module_param(addr, charp, 0444);
static int port = 7300;
module_param(port, int, 0444);
static int lport = 7301;
module_param(lport, int, 0444);
static ulong out_bytes = 1000003;
module_param(out_bytes, ulong, 0444);
static uint out_seed = 13;
module_param(out_seed, uint, 0444);
static ulong in_bytes = 777777;
module_param(in_bytes, ulong, 0444);
static uint in_seed = 31;
module_param(in_seed, uint, 0444);
static int timeout = 90;
module_param(timeout, int, 0444);

static struct task_struct *kt_task;
static struct delayed_work kt_watchdog;
static DECLARE_COMPLETION(kt_done);
static int kt_failed;

#define KT_PREFIX "PVCALLS-KMOD "

static __printf(3, 4) void kt_report(const char *check, bool ok, const char *fmt, ...)
{
	char detail[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pr_info(KT_PREFIX "%s %s %s\n", check, ok ? "PASS" : "FAIL", detail);
	if (!ok)
		kt_failed++;
}

/* The stream and hash of xh_peer.c. */
struct kt_gen {
	u32 x;
};

static void kt_gen_init(struct kt_gen *g, u32 seed)
{
	g->x = seed * 2654435761u | 1u;
}

static u8 kt_gen_byte(struct kt_gen *g)
{
	g->x ^= g->x << 13;
	g->x ^= g->x >> 17;
	g->x ^= g->x << 5;
	return (u8)(g->x >> 24);
}

#define KT_FNV_INIT 0xcbf29ce484222325ull

static u64 kt_fnv(u64 h, const u8 *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static u64 kt_expect(ulong bytes, u32 seed)
{
	struct kt_gen g;
	u64 h = KT_FNV_INIT;
	ulong i;

	kt_gen_init(&g, seed);
	for (i = 0; i < bytes; i++) {
		u8 b = kt_gen_byte(&g);

		h = kt_fnv(h, &b, 1);
	}
	return h;
}

static bool kt_killed(void)
{
	return signal_pending(current) || kthread_should_stop();
}

/* Sends out_bytes, receives until EOF; reports <name>-data. */
static void kt_exchange(const char *name, struct socket *sock)
{
	static u8 out[4096], in[8192];
	size_t out_len = 0, out_off = 0;
	ulong tx = 0, rx = 0;
	u64 rxh = KT_FNV_INIT, want;
	unsigned long start = jiffies, deadline = start + timeout * HZ, next_note = start + 5 * HZ;
	const char *why = NULL;
	struct kt_gen g;
	char check[40];
	bool eof = false;
	int rc = 0;

	snprintf(check, sizeof(check), "%s-data", name);
	kt_gen_init(&g, out_seed);
	while (tx < out_bytes || !eof) {
		bool progress = false;

		if (kt_killed()) {
			why = "watchdog";
			break;
		}
		if (time_after(jiffies, deadline)) {
			why = "timeout";
			break;
		}
		if (tx < out_bytes) {
			struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
			struct kvec kv;

			if (out_off == out_len) {
				out_len = min_t(ulong, sizeof(out), out_bytes - tx);
				for (out_off = 0; out_off < out_len; out_off++)
					out[out_off] = kt_gen_byte(&g);
				out_off = 0;
			}
			kv.iov_base = out + out_off;
			kv.iov_len = out_len - out_off;
			iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &kv, 1, kv.iov_len);
			rc = pvcalls_front_sendmsg(sock, &msg, kv.iov_len);
			if (rc > 0) {
				out_off += rc;
				tx += rc;
				progress = true;
			} else if (rc < 0 && rc != -EAGAIN) {
				why = "sendmsg";
				break;
			}
		}
		if (!eof) {
			struct msghdr msg = { 0 };
			struct kvec kv = { .iov_base = in, .iov_len = sizeof(in) };

			iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, kv.iov_len);
			rc = pvcalls_front_recvmsg(sock, &msg, sizeof(in), MSG_DONTWAIT);
			if (rc > 0) {
				rxh = kt_fnv(rxh, in, rc);
				rx += rc;
				progress = true;
			} else if (rc == 0) {
				eof = true;
			} else if (rc != -EAGAIN) {
				why = "recvmsg";
				break;
			}
		}
		if (!progress)
			usleep_range(200, 1000);
		if (time_after(jiffies, next_note)) {
			pr_info(KT_PREFIX "%s progress after %u ms: tx=%lu rx=%lu\n", name,
				jiffies_to_msecs(jiffies - start), tx, rx);
			next_note = jiffies + 5 * HZ;
		}
	}
	want = kt_expect(in_bytes, in_seed);
	if (why)
		kt_report(check, false, "%s failed (rc=%d) after tx=%lu rx=%lu", why, rc, tx, rx);
	else
		kt_report(check, rx == in_bytes && rxh == want,
			  "tx=%lu rx=%lu rxsum=%016llx (want %lu %016llx), EOF, %u ms",
			  tx, rx, rxh, in_bytes, want, jiffies_to_msecs(jiffies - start));
}

static int kt_sockaddr(struct sockaddr_in *sa, int p)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(p);
	return in4_pton(addr, -1, (u8 *)&sa->sin_addr.s_addr, -1, NULL) ? 0 : -EINVAL;
}

static struct socket *kt_socket(const char *name)
{
	struct socket *sock;
	char check[40];
	int rc;

	snprintf(check, sizeof(check), "%s-socket", name);
	/* A real (unused) TCP socket: the frontend keeps its state in sk. */
	rc = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (rc < 0) {
		kt_report(check, false, "sock_create_kern: %d", rc);
		return NULL;
	}
	rc = pvcalls_front_socket(sock);
	kt_report(check, rc == 0, "pvcalls_front_socket: %d", rc);
	if (rc < 0) {
		sock_release(sock);
		return NULL;
	}
	return sock;
}

static void kt_release(const char *check, struct socket *sock)
{
	int rc = pvcalls_front_release(sock);

	kt_report(check, rc == 0, "pvcalls_front_release: %d", rc);
	sock_release(sock);
}

static void kt_test_connect(void)
{
	struct sockaddr_in sa;
	struct socket *sock = kt_socket("connect");
	int rc;

	if (!sock)
		return;
	kt_sockaddr(&sa, port);
	rc = pvcalls_front_connect(sock, (struct sockaddr *)&sa, sizeof(sa), 0);
	kt_report("connect", rc == 0, "%s:%d: %d", addr, port, rc);
	if (rc == 0)
		kt_exchange("connect", sock);
	kt_release("connect-release", sock);
}

static void kt_test_listen(void)
{
	unsigned long deadline = jiffies + timeout * HZ;
	struct socket *lsock = kt_socket("listen"), *nsock = NULL;
	struct sockaddr_in sa;
	int rc;

	if (!lsock)
		return;
	kt_sockaddr(&sa, lport);
	rc = pvcalls_front_bind(lsock, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0)
		rc = pvcalls_front_listen(lsock, 4);
	kt_report("listen", rc == 0, "bind+listen %s:%d: %d", addr, lport, rc);
	if (rc)
		goto out;
	rc = sock_create_lite(AF_INET, SOCK_STREAM, IPPROTO_TCP, &nsock);
	if (rc) {
		kt_report("accept", false, "sock_create_lite: %d", rc);
		goto out;
	}
	/* Non-blocking accept, polled: the first call sends ACCEPT. */
	do {
		rc = pvcalls_front_accept(lsock, nsock, SOCK_NONBLOCK);
		if (rc != -EAGAIN)
			break;
		msleep(20);
	} while (!kt_killed() && time_before(jiffies, deadline));
	kt_report("accept", rc == 0, "pvcalls_front_accept: %d", rc);
	if (rc == 0) {
		kt_exchange("accept", nsock);
		rc = pvcalls_front_release(nsock);
		kt_report("accept-release", rc == 0, "pvcalls_front_release: %d", rc);
		/* accept gave nsock an sk of the frontend's own proto. */
		sk_free(nsock->sk);
		nsock->sk = NULL;
	}
	sock_release(nsock);
out:
	kt_release("listen-release", lsock);
}

static int kt_thread(void *unused)
{
	unsigned long deadline = jiffies + 30 * HZ;
	struct xenbus_device *dev;

	allow_signal(SIGKILL);
	/* Wait for the xenbus probe and the backend to connect. */
	while (!kt_killed() && time_before(jiffies, deadline)) {
		dev = READ_ONCE(pvcalls_front_dev);
		if (dev && dev->state == XenbusStateConnected)
			break;
		msleep(50);
	}
	dev = READ_ONCE(pvcalls_front_dev);
	if (!dev || dev->state != XenbusStateConnected) {
		kt_report("negotiate", false,
			  dev ? "device %s is in state %d, backend %s" :
				"no pvcalls device was probed (%s%d%s)",
			  dev ? dev->nodename : "device/pvcalls/0 and a backend in InitWait?",
			  dev ? dev->state : 0, dev ? dev->otherend : "");
		goto done;
	}
	kt_report("negotiate", true, "%s connected to %s (backend domain %d)", dev->nodename,
		  dev->otherend, dev->otherend_id);
	kt_test_connect();
	kt_test_listen();
	/*
	 * Close the connection as a frontend going away does (the driver's
	 * remove switches to Closed) and unbind, which also drops the module
	 * reference xenbus holds while a device is bound: rmmod works after.
	 */
	device_release_driver(&dev->dev);
	kt_report("close", dev->state == XenbusStateClosed, "frontend state %d after unbind",
		  dev->state);
done:
	pr_info(KT_PREFIX "DONE failed=%d\n", kt_failed);
	complete(&kt_done);
	/* Stay until module removal so kthread_stop() has a thread to stop. */
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule_timeout(HZ);
	}
	return 0;
}

static void kt_watchdog_fn(struct work_struct *w)
{
	if (!completion_done(&kt_done)) {
		pr_info(KT_PREFIX "watchdog FAIL test thread still running after %d s: SIGKILL\n",
			timeout * 3);
		send_sig(SIGKILL, kt_task, 1);
	}
}

static int __init kt_init(void)
{
	int rc = pvcalls_frontend_init(); /* registers the xenbus frontend driver */

	if (rc)
		return rc;
	kt_task = kthread_run(kt_thread, NULL, "pvcalls-kmod-test");
	if (IS_ERR(kt_task)) {
		xenbus_unregister_driver(&pvcalls_front_driver);
		return PTR_ERR(kt_task);
	}
	get_task_struct(kt_task);
	INIT_DELAYED_WORK(&kt_watchdog, kt_watchdog_fn);
	schedule_delayed_work(&kt_watchdog, timeout * 3 * HZ);
	return 0;
}

static void __exit kt_exit(void)
{
	cancel_delayed_work_sync(&kt_watchdog);
	kthread_stop(kt_task);
	put_task_struct(kt_task);
	xenbus_unregister_driver(&pvcalls_front_driver);
}

module_init(kt_init);
module_exit(kt_exit);
