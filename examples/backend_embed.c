/* SPDX-License-Identifier: MIT */
/*
 * pvcalls-backend-embed: the smallest useful backend, as a program that
 * embeds libpvcalls would write it (the README's "Embedding the backend"
 * shows this file). It serves the frontends of a shared-memory hub with a
 * policy of two rules until SIGINT/SIGTERM. pvcallsd does the same with a
 * configuration file, an audit log and a control socket.
 *
 *   pvcalls-backend-embed [HUB]     (default: the project's default hub)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>

#ifndef PVCALLS_SHM_HUB_DEFAULT
#error "define PVCALLS_SHM_HUB_DEFAULT: -DPVCALLS_SHM_HUB_DEFAULT=\"$(pkg-config --variable=shm_hub pvcalls)\""
#endif

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *hub = argc > 1 ? argv[1] : PVCALLS_SHM_HUB_DEFAULT;
	pvcalls_transport *t;
	pvcalls_policy *pol;
	pvcalls_back *b;
	char err[128];
	int rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: pvcalls-backend-embed [HUB]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* 1. A transport: the shm hub here; pvcalls_xen_open() on Xen. */
	rc = pvcalls_shm_listen(hub, NULL, &t);
	if (rc < 0) {
		fprintf(stderr, "hub %s: %s\n", hub, pvcalls_strerror(rc));
		return 1;
	}
	/* 2. The backend on it: zeroed options are the defaults. */
	rc = pvcalls_back_new(t, NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "backend: %s\n", pvcalls_strerror(rc));
		pvcalls_transport_close(t);
		return 1;
	}
	/* 3. A policy (optional): loopback HTTP only, no listening. A refused
	 *    call gets EACCES; the backend owns the policy once installed. */
	err[0] = 0;
	rc = pvcalls_policy_new(&pol);
	if (rc == 0) {
		rc = pvcalls_policy_add_rule(pol, PVCALLS_POLICY_DEFAULT,
					     "allow connect 127.0.0.0/8 port 80", err, sizeof(err));
		if (rc == 0)
			rc = pvcalls_policy_add_rule(pol, PVCALLS_POLICY_DEFAULT, "deny any", err,
						     sizeof(err));
		if (rc == 0)
			rc = pvcalls_back_set_policy(b, pol); /* owns pol, also on failure */
		else
			pvcalls_policy_free(pol);
	}
	if (rc < 0) {
		fprintf(stderr, "policy: %s\n",
			rc == -EINVAL && err[0] ? err : pvcalls_strerror(rc));
		pvcalls_back_free(b);
		pvcalls_transport_close(t);
		return 1;
	}
	/* 4. Serve until a signal (or plug pvcalls_back_fd() into your loop
	 *    and call pvcalls_back_process(b, 0) when it is readable). */
	printf("serving %s\n", hub);
	fflush(stdout);
	rc = pvcalls_back_run(b, &stop);
	pvcalls_back_free(b); /* releases every guest socket */
	pvcalls_transport_close(t);
	return rc < 0 ? 1 : 0;
}
