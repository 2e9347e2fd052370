/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: reading operands out of the input, where
 * bytes past its end read as zero, and counting the process's open file
 * descriptors to catch leaks. Header-only, so that both the replay build
 * (afl_driver.c) and the libFuzzer build get it without a link change.
 */
#ifndef PVCALLS_FUZZ_INPUT_H
#define PVCALLS_FUZZ_INPUT_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint32_t in32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)in8(in) << (8 * i);
	return v;
}

/* The open file descriptors, not counting the DIR's own. */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		fprintf(stderr, "fuzz: %s:%d: opendir(/proc/self/fd)\n", __FILE__, __LINE__);
		abort();
	}
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

#endif
