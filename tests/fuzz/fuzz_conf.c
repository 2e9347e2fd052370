/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for pvcallsd's configuration parser (tools/pvcallsd/conf.c):
 * the input is written to a memfd and loaded with dconf_load() through
 * /proc/self/fd, the way the daemon reads /etc/pvcalls/pvcallsd.conf. A
 * file that loads is printed back (dconf_print, into /dev/null's stream)
 * and the printout must load again; then everything is freed, so ASan's
 * leak check sees any leak of the parser's error paths.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int load_bytes(struct dconf *c, const void *buf, size_t len, char *err, size_t elen)
{
	char path[64];
	int fd = memfd_create("fuzz_conf", MFD_CLOEXEC);
	int rc;

	if (fd < 0)
		abort();
	if (len && write(fd, buf, len) != (ssize_t)len)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = dconf_load(c, path, true, err, elen);
	close(fd);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dconf c;
	char err[512];

	if (size > 1 << 16)
		return 0;
	memset(&c, 0, sizeof(c));
	if (load_bytes(&c, data, size, err, sizeof(err)) == 0) {
		char *out = NULL;
		size_t olen = 0;
		FILE *f = open_memstream(&out, &olen);
		struct dconf again;

		if (!f)
			abort();
		dconf_print(f, &c);
		fclose(f);
		/* What --check-config prints must read back as a valid file. */
		memset(&again, 0, sizeof(again));
		if (load_bytes(&again, out, olen, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_conf: printed config does not load: %s\n%s", err,
				out);
			abort();
		}
		dconf_free(&again);
		free(out);
	}
	dconf_free(&c);
	return 0;
}
