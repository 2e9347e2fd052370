/* SPDX-License-Identifier: MIT */
/* pvcallsd internals, shared by its source files. */
#ifndef PVCALLSD_DAEMON_H
#define PVCALLSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>
#include <pvcalls_tools.h> /* generated: version, default paths */

#define PVCALLSD_CONF PVCALLSD_CONF_DEFAULT
#define PVCALLSD_CTL PVCALLSD_CTL_DEFAULT

/* ---- log.c: diagnostics to the journal, syslog or a terminal ---------- */
enum dlog_mode { DLOG_PLAIN, DLOG_JOURNAL, DLOG_SYSLOG };

void dlog_init(enum dlog_mode mode, int level);
void dlog_set_level(int level);
enum dlog_mode dlog_auto(bool daemonized);
int dlog_parse_level(const char *s); /* -1 if unknown */
void dlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- notify.c: sd_notify without libsystemd ----------------------------- */
int sd_notify_send(const char *msg); /* 0 sent, 1 no $NOTIFY_SOCKET, <0 error */
uint64_t sd_watchdog_usec(void);     /* 0: no watchdog wanted */

/* ---- conf.c: the configuration file ------------------------------------- */
/* [shm]: the hub's access controls (struct pvcalls_shm_opts; 0: default). */
struct dconf_shm {
	uint32_t socket_mode;
	uint32_t *uids, nuids; /* allow_users, resolved to uids */
	uint32_t *gids, ngids; /* allow_groups, resolved to gids */
	uint32_t hello_timeout_ms, max_guests, max_pending;
	uint32_t quota_nodes, quota_bytes, quota_watches, quota_txns;
	uint32_t max_maps_per_guest;
	uint32_t store_rate, store_burst; /* store_rate PVCALLS_SHM_UNLIMITED: no limit */
};

/* At most this many loopback nameservers get a sandbox exception. */
#define DCONF_DNS_MAX 8

struct dconf {
	char transport[8]; /* "shm", "xen" or "" */
	char shm_path[256];
	char control[256];    /* "" or "none": no control socket */
	char audit[256];      /* "" or "off", "-" stdout, else a file */
	bool audit_required;  /* no audit log: refuse to start */
	uint32_t audit_queue; /* records */
	int log_level;
	uint32_t spin_us;               /* 0 default, PVCALLS_BACK_NO_SPIN off */
	uint32_t ext_off;               /* PVCALLS_FEATURE_* not offered ("extensions") */
	struct pvcalls_back_limits lim; /* options-level limits (flags) */
	struct dconf_shm shm;
	pvcalls_policy *policy; /* rules and per-domain limits */
	int nrules, ndomains;
	/* What the policy was built from, for --check-config. */
	bool fallback_allow;
	bool sandbox_rules;    /* [default] sandbox_rules: the built-in tail */
	char resolv_conf[256]; /* [default] resolv_conf: the host's resolvers */
	/* "allow connect <loopback nameserver> port 53", before the tail. */
	char dns_rules[DCONF_DNS_MAX][96];
	int ndns_rules;
	bool file_found; /* false: a missing default file, defaults */
	struct dconf_rule {
		uint32_t domid; /* PVCALLS_POLICY_DEFAULT: [default] */
		char *text;
	} * rules;
	struct dconf_lim {
		uint32_t domid;
		struct pvcalls_back_limits lim;
	} * lims;
	size_t nlims;
};

/* The rules pvcallsd adds after [default]'s own unless sandbox_rules = no:
 * a guest reaches neither this host's own services (loopback, 0.0.0.0 and
 * the host's addresses, which the policy judges as 127.0.0.1 too) nor
 * privileged ports to listen on, unless a rule of the file opens them. */
extern const char *const dconf_sandbox_rules[];

/* Loads @path into @c (policy allocated). @must_exist: a missing file is an
 * error (else it means "defaults"). Messages go to @err. */
int dconf_load(struct dconf *c, const char *path, bool must_exist, char *err, size_t len);
void dconf_free(struct dconf *c);
/* Writes the effective configuration as a pvcallsd.conf(5) file, defaults
 * included (as comments where a value means "built-in"). */
void dconf_print(FILE *f, const struct dconf *c);
/* The hub's options from [shm] (the lists point into @c). */
void dconf_shm_opts(const struct dconf *c, struct pvcalls_shm_opts *o);

/* ---- audit.c: bounded queue and writer thread --------------------------- */
struct audit_q;

struct audit_q *audit_q_new(int fd, size_t slots);
/* Never blocks on the sink: false (and counted) when the queue is full. */
bool audit_q_push(struct audit_q *q, const char *line, size_t len);
void audit_q_counts(struct audit_q *q, uint64_t *written, uint64_t *dropped);
/* True once a write to the sink failed (records lost, not a full queue). */
bool audit_q_failed(struct audit_q *q);
/* Replaces the fd (reopen); the old one is closed by the writer. */
void audit_q_set_fd(struct audit_q *q, int fd);
/* Flushes for at most @flush_ms, stops the writer and frees (closes the fd). */
void audit_q_free(struct audit_q *q, int flush_ms);
/* The library's sink: formats JSON and pushes. */
void audit_q_sink(void *arg, const struct pvcalls_back_audit *rec);

/* ---- ctl.c: the control socket ------------------------------------------ */
int ctl_open(const char *path); /* listening fd or -errno */
void ctl_close(int fd, const char *path);
/* Serves every pending client (non-blocking accept). */
void ctl_serve(int fd, pvcalls_back *b, struct audit_q *aq);

#endif
