/* SPDX-License-Identifier: MIT */
/*
 * A main() for fuzz targets built without libFuzzer: runs
 * LLVMFuzzerTestOneInput once per file named on the command line, or once on
 * standard input when there is none (AFL's default). ctest uses it to replay
 * the seed corpus on every run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 20)

static int run(FILE *f, const char *name)
{
	static uint8_t buf[MAX_INPUT];
	size_t n = fread(buf, 1, sizeof(buf), f);

	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", name);
		return 1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	printf("%s: %zu bytes ok\n", name, n);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;

	if (argc < 2)
		return run(stdin, "<stdin>");
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");

		if (!f) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		bad |= run(f, argv[i]);
		fclose(f);
	}
	return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
