/* SPDX-License-Identifier: MIT */
/*
 * pvcallsd's audit queue: records flow to the sink in order; a stalled
 * sink (a pipe nobody reads) makes pushes drop and count, never block; and
 * shutdown is bounded even then.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

START_TEST(test_flowing)
{
	char path[] = "/tmp/pvcalls-auditq.XXXXXX", line[64], buf[8192];
	int fd = mkstemp(path), rfd;
	struct audit_q *q;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	rfd = open(path, O_RDONLY);
	unlink(path);
	q = audit_q_new(fd, 16);
	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < 100; i++) {
		int len = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);

		while (!audit_q_push(q, line, (size_t)len))
			usleep(100); /* a flowing sink catches up */
	}
	audit_q_free(q, 5000);
	n = read(rfd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	ck_assert(strstr(buf, "{\"n\":0}\n{\"n\":1}\n"));
	ck_assert(strstr(buf, "{\"n\":99}\n"));
	close(rfd);
}
END_TEST

START_TEST(test_stalled_sink)
{
	char line[2000];
	int p[2];
	struct audit_q *q;
	uint64_t w, d;
	int64_t t0, worst = 0, t;
	int ok = 0;

	ck_assert_int_eq(pipe(p), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	q = audit_q_new(p[1], 8);
	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < 2000; i++) {
		t0 = now_us();
		ok += audit_q_push(q, line, sizeof(line));
		t = now_us() - t0;
		if (t > worst)
			worst = t;
	}
	/* Nobody reads the pipe: at most the queue, the pipe and the record
	 * being written got through; every push returned at once. */
	audit_q_counts(q, &w, &d);
	ck_assert_uint_eq(d + (uint64_t)ok, 2000);
	ck_assert_uint_ge(d, 2000 - 8 - 4 - 32);
	ck_assert_msg(worst < 100000, "a push took %lld us", (long long)worst);
	t0 = now_us();
	audit_q_free(q, 200); /* the writer is stuck in write(): bounded anyway */
	ck_assert_int_lt(now_us() - t0, 2000000);
	close(p[0]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit_queue");
	TCase *tc = tcase_create("queue");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_flowing);
	tcase_add_test(tc, test_stalled_sink);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
