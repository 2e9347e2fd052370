/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include <pvcalls/ring.h>
#include <pvcalls/shm.h>

int main(void)
{
	static struct pvcalls_wire_cmd_sring page;
	pvcalls_cmd_front f;

	pvcalls_cmd_sring_init(&page);
	pvcalls_cmd_front_init(&f, &page);
	printf("libpvcalls %s, %u free slots\n", pvcalls_version(), pvcalls_cmd_front_free(&f));
	return pvcalls_cmd_front_free(&f) == 32 && strcmp(pvcalls_version(), "") ? 0 : 1;
}
