/* SPDX-License-Identifier: MIT */
/*
 * pvcallsd: the PV Calls backend daemon (pvcallsd(8)). It serves every
 * frontend its transport brings, puts each CONNECT/BIND/LISTEN to the
 * policy of pvcallsd.conf(5), writes an audit record per request, answers
 * pvcallsctl(8) on a control socket, reloads on SIGHUP, talks sd_notify,
 * and stops cleanly on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <pvcalls/backend.h>
#include <pvcalls/shm.h>
#ifdef PVCALLS_HAVE_XEN
#include <pvcalls/xen.h>
#endif

#include "daemon.h"

static volatile sig_atomic_t stop_signal, reload_signal;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_signal = 1;
	else
		stop_signal = sig;
}

/* Command-line values, which win over the file's (also after a reload). */
struct flags {
	const char *config;
	bool config_given, check, daemonize, shm_given, xen_given, audit_required;
	const char *transport, *shm_path, *control, *audit;
	int log_level;
	struct pvcalls_back_limits lim;
	uint32_t spin_us;
	bool spin_set;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvcallsd [options]\n"
		"  -c, --config PATH       configuration file (default " PVCALLSD_CONF ")\n"
		"      --check-config      check the configuration, print it with the defaults, "
		"exit\n"
		"      --shm PATH          serve guests of a shared-memory hub at PATH ('@name': "
		"abstract;\n"
		"                          shm_path's default: " PVCALLS_SHM_HUB_DEFAULT ")\n"
		"      --xen               serve the pvcalls devices of this Xen domain%s\n"
		"      --control PATH      control socket (default " PVCALLSD_CTL ", 'none': off)\n"
		"      --audit PATH        audit log (JSON Lines; '-': stdout, 'off': none)\n"
		"      --audit-required    refuse to start without a working audit log; stop\n"
		"                          when writing it fails\n"
		"      --log-level LEVEL   error, warning, notice, info (default) or debug\n"
		"  -v, --verbose           --log-level debug\n"
		"      --max-ring-order N  largest data ring order offered, 1..9 (default 9)\n"
		"      --max-sockets N     sockets per frontend (default 1024)\n"
		"      --max-listeners N   listening sockets per frontend (default 64)\n"
		"      --spin-us N         poll busy rings for N us before sleeping (0: never)\n"
		"      --daemon            detach; log to syslog\n"
		"      --foreground        stay in the foreground (the default)\n"
		"  -h, --help              this text\n"
		"      --version           print the version and exit\n"
		"--shm and --xen exclude each other.\n",
#ifdef PVCALLS_HAVE_XEN
		""
#else
		" (not in this build)"
#endif
	);
}

static int parse_num(const char *opt, const char *s, unsigned long min, unsigned long max,
		     uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "pvcallsd: %s: bad number \"%s\" (%lu..%lu)\n", opt, s, min, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_flags(int argc, char **argv, struct flags *fl)
{
	enum {
		O_CHECK = 256,
		O_SHM,
		O_XEN,
		O_CTL,
		O_AUDIT,
		O_AUDIT_REQ,
		O_LEVEL,
		O_ORDER,
		O_SOCKS,
		O_LISTENERS,
		O_SPIN,
		O_DAEMON,
		O_FG,
		O_VERSION
	};
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "shm", required_argument, NULL, O_SHM },
		{ "xen", no_argument, NULL, O_XEN },
		{ "control", required_argument, NULL, O_CTL },
		{ "audit", required_argument, NULL, O_AUDIT },
		{ "audit-required", no_argument, NULL, O_AUDIT_REQ },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "max-ring-order", required_argument, NULL, O_ORDER },
		{ "max-sockets", required_argument, NULL, O_SOCKS },
		{ "max-listeners", required_argument, NULL, O_LISTENERS },
		{ "spin-us", required_argument, NULL, O_SPIN },
		{ "daemon", no_argument, NULL, O_DAEMON },
		{ "foreground", no_argument, NULL, O_FG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(fl, 0, sizeof(*fl));
	fl->config = PVCALLSD_CONF;
	fl->log_level = -1;
	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			fl->config = optarg;
			fl->config_given = true;
			break;
		case O_CHECK:
			fl->check = true;
			break;
		case O_SHM:
			fl->transport = "shm";
			fl->shm_path = optarg;
			fl->shm_given = true;
			break;
		case O_XEN:
			fl->transport = "xen";
			fl->xen_given = true;
			break;
		case O_CTL:
			fl->control = optarg;
			break;
		case O_AUDIT:
			fl->audit = optarg;
			break;
		case O_AUDIT_REQ:
			fl->audit_required = true;
			break;
		case O_LEVEL:
			fl->log_level = dlog_parse_level(optarg);
			if (fl->log_level < 0) {
				fprintf(stderr, "pvcallsd: --log-level: unknown level \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			fl->log_level = LOG_DEBUG;
			break;
		case O_ORDER:
			if (parse_num("--max-ring-order", optarg, 1, 9, &fl->lim.max_ring_order))
				return 2;
			break;
		case O_SOCKS:
			if (parse_num("--max-sockets", optarg, 1, UINT32_MAX, &fl->lim.max_sockets))
				return 2;
			break;
		case O_LISTENERS:
			if (parse_num("--max-listeners", optarg, 1, UINT32_MAX,
				      &fl->lim.max_listeners))
				return 2;
			break;
		case O_SPIN:
			if (parse_num("--spin-us", optarg, 0, 1000000, &fl->spin_us))
				return 2;
			fl->spin_set = true;
			break;
		case O_DAEMON:
			fl->daemonize = true;
			break;
		case O_FG:
			fl->daemonize = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case O_VERSION:
			exit(pvcalls_tool_version("pvcallsd"));
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvcallsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (fl->shm_given && fl->xen_given) {
		fprintf(stderr, "pvcallsd: --shm and --xen exclude each other\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Creates the directory of a default path (/run/pvcalls) if it is missing. */
static void make_parent(const char *path, mode_t mode)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		dlog(LOG_WARNING, "%s: %s", dir, strerror(errno));
}

/* Loads the file and lays the flags over it. */
static int load(const struct flags *fl, struct dconf *c)
{
	char err[512];
	int rc = dconf_load(c, fl->config, fl->config_given, err, sizeof(err));

	if (rc < 0) {
		dlog(LOG_ERR, "%s", err);
		dconf_free(c);
		return rc;
	}
	if (fl->transport)
		snprintf(c->transport, sizeof(c->transport), "%s", fl->transport);
	if (fl->shm_path)
		snprintf(c->shm_path, sizeof(c->shm_path), "%s", fl->shm_path);
	if (fl->control)
		snprintf(c->control, sizeof(c->control), "%s", fl->control);
	if (fl->audit)
		snprintf(c->audit, sizeof(c->audit), "%s", fl->audit);
	if (fl->audit_required)
		c->audit_required = true;
	if (fl->log_level >= 0)
		c->log_level = fl->log_level;
	if (fl->spin_set)
		c->spin_us = fl->spin_us ? fl->spin_us : PVCALLS_BACK_NO_SPIN;
	c->lim = fl->lim;
	if (!strcmp(c->transport, "shm") && !c->shm_path[0]) {
		dlog(LOG_ERR, "transport shm needs shm_path (or --shm PATH)");
		dconf_free(c);
		return -EINVAL;
	}
	return 0;
}

static bool audit_on(const struct dconf *c)
{
	return c->audit[0] && strcmp(c->audit, "off");
}

static int audit_open(const char *path)
{
	int fd;

	if (!strcmp(path, "-"))
		return 1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		fd = -errno;
		dlog(LOG_ERR, "audit log %s: %s", path, strerror(errno));
	}
	return fd;
}

/*
 * audit_required: the audit log must be on and openable for appending
 * (a missing file: its directory writable). Checked before the transport
 * opens, and by --check-config. 0 or -errno (logged).
 */
static int audit_check(const struct dconf *c)
{
	char dir[256], *slash;
	int fd;

	if (!c->audit_required)
		return 0;
	if (!audit_on(c)) {
		dlog(LOG_ERR, "audit_required, but the audit log is off");
		return -EINVAL;
	}
	if (!strcmp(c->audit, "-"))
		return 0;
	fd = open(c->audit, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT) {
		snprintf(dir, sizeof(dir), "%s", c->audit);
		slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
		if (access(dir, W_OK | X_OK) == 0)
			return 0;
	}
	fd = -errno;
	dlog(LOG_ERR, "audit log %s: %s (audit_required)", c->audit, strerror(-fd));
	return fd;
}

static int open_transport(const struct dconf *c, pvcalls_transport **t)
{
	int rc;

	if (!strcmp(c->transport, "shm")) {
		struct pvcalls_shm_opts o;

		/* Guests of the default hub may be other users: 0755 (who may
		 * connect is the hub's socket mode and allow lists, [shm]). */
		if (!strcmp(c->shm_path, PVCALLS_SHM_HUB_DEFAULT))
			make_parent(c->shm_path, 0755);
		dconf_shm_opts(c, &o);
		rc = pvcalls_shm_listen(c->shm_path, &o, t);
		if (rc < 0)
			dlog(LOG_ERR, "shm hub %s: %s", c->shm_path, pvcalls_strerror(rc));
		return rc;
	}
#ifdef PVCALLS_HAVE_XEN
	{
		char why[256];

		rc = pvcalls_xen_probe(why, sizeof(why));
		if (rc < 0) {
			dlog(LOG_ERR, "xen: %s", why);
			return rc;
		}
		rc = pvcalls_xen_open(NULL, t);
		if (rc < 0)
			dlog(LOG_ERR, "xen: %s", pvcalls_strerror(rc));
		return rc;
	}
#else
	(void)t;
	dlog(LOG_ERR, "xen: this build has no Xen support "
		      "(rebuild with libxen-dev and -DPVCALLS_XEN=ON)");
	return -ENOTSUP;
#endif
}

struct daemon {
	struct flags fl;
	struct dconf c;
	pvcalls_back *b;
	struct audit_q *aq;
	int ctl;
	char ctl_path[256];
	char status[128];
};

static void ctl_setup(struct daemon *d)
{
	const char *p = d->c.control;
	int fd;

	if (!p[0] || !strcmp(p, "none"))
		return;
	if (!strcmp(p, PVCALLSD_CTL))
		make_parent(p, 0700);
	fd = ctl_open(p);
	if (fd < 0) {
		dlog(LOG_WARNING, "control socket %s: %s; pvcallsctl will not work", p,
		     strerror(-fd));
		return;
	}
	d->ctl = fd;
	snprintf(d->ctl_path, sizeof(d->ctl_path), "%s", p);
	dlog(LOG_INFO, "control socket %s", p);
}

/* Starts, restarts (a new path: reopened) or stops the audit log.
 * -errno if the log is wanted but could not be opened (the old one, on a
 * reload, is kept). */
static int audit_setup(struct daemon *d)
{
	int fd;

	if (!audit_on(&d->c)) {
		if (d->aq) {
			pvcalls_back_set_audit(d->b, NULL, NULL);
			audit_q_free(d->aq, 1000);
			d->aq = NULL;
			dlog(LOG_INFO, "audit log off");
		}
		return d->c.audit_required ? -EINVAL : 0;
	}
	fd = audit_open(d->c.audit);
	if (fd < 0)
		return fd;
	if (d->aq) {
		audit_q_set_fd(d->aq, fd); /* SIGHUP reopens, for logrotate */
	} else {
		d->aq = audit_q_new(fd, d->c.audit_queue);
		if (!d->aq) {
			dlog(LOG_ERR, "audit log: out of memory");
			if (fd != 1)
				close(fd);
			return -ENOMEM;
		}
		pvcalls_back_set_audit(d->b, audit_q_sink, d->aq);
	}
	dlog(LOG_INFO, "audit log %s%s", !strcmp(d->c.audit, "-") ? "on stdout" : d->c.audit,
	     d->c.audit_required ? " (required)" : "");
	return 0;
}

static void reload(struct daemon *d)
{
	struct dconf nc;

	dlog(LOG_NOTICE, "SIGHUP: reloading %s", d->fl.config);
	sd_notify_send("RELOADING=1");
	if (load(&d->fl, &nc) < 0) {
		dlog(LOG_ERR, "reload failed; keeping the running configuration");
		sd_notify_send("READY=1");
		return;
	}
	if (strcmp(nc.transport, d->c.transport) || strcmp(nc.shm_path, d->c.shm_path) ||
	    strcmp(nc.control, d->c.control))
		dlog(LOG_WARNING, "transport and control socket changes need a restart");
	dlog_set_level(nc.log_level);
	/* Rules and limits apply to requests from now on. */
	pvcalls_back_set_policy(d->b, nc.policy);
	nc.policy = NULL;
	dconf_free(&d->c);
	snprintf(nc.transport, sizeof(nc.transport), "%s", d->c.transport);
	snprintf(nc.shm_path, sizeof(nc.shm_path), "%s", d->c.shm_path);
	snprintf(nc.control, sizeof(nc.control), "%s", d->c.control);
	d->c = nc;
	if (audit_setup(d) < 0 && d->c.audit_required)
		dlog(LOG_ERR, "audit_required: the new audit log could not be opened; "
			      "still writing the old one");
	dlog(LOG_NOTICE, "reloaded: %d rules", d->c.nrules);
	sd_notify_send("READY=1");
}

static void update_status(struct daemon *d)
{
	struct pvcalls_back_stats st;
	char msg[160];

	pvcalls_back_get_stats(d->b, &st);
	snprintf(msg, sizeof(msg), "STATUS=serving %u frontend%s, %u sockets", st.frontends,
		 st.frontends == 1 ? "" : "s", st.active_sockets + st.passive_sockets);
	if (strcmp(msg, d->status)) {
		strcpy(d->status, msg);
		sd_notify_send(msg);
	}
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	struct pvcalls_back_opts opts = { 0 };
	struct daemon d = { .ctl = -1 };
	pvcalls_transport *t = NULL;
	struct sigaction sa;
	uint64_t wd_us;
	int64_t next_status = 0, next_wd = 0;
	bool audit_failed = false;
	int rc;

	rc = parse_flags(argc, argv, &d.fl);
	if (rc)
		return rc;
	dlog_init(dlog_auto(false), d.fl.log_level >= 0 ? d.fl.log_level : LOG_INFO);
	if (d.fl.check) {
		/* As the daemon would start: a missing default file means the
		 * built-in defaults, a missing file named with -c is an error. */
		if (load(&d.fl, &d.c) < 0)
			return 1;
		if (audit_check(&d.c) < 0) {
			dconf_free(&d.c);
			return 1;
		}
		printf("; %s: ok (%d rules%s)\n; the effective configuration, defaults included"
		       " (commented: built-in values):\n",
		       d.fl.config, d.c.nrules,
		       d.c.file_found ? "" : "; no such file: built-in defaults");
		dconf_print(stdout, &d.c);
		dconf_free(&d.c);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (load(&d.fl, &d.c) < 0)
		return 1;
	if (!d.c.transport[0]) {
		dlog(LOG_ERR, "no transport: set [daemon] transport, or pass --shm PATH or --xen");
		usage(stderr);
		dconf_free(&d.c);
		return 2;
	}
	if (audit_check(&d.c) < 0) {
		dconf_free(&d.c);
		return 1;
	}
	if (d.fl.daemonize) {
		/* Before any thread exists. */
		if (daemon(0, 0) < 0) {
			dlog(LOG_ERR, "daemon: %s", strerror(errno));
			return 1;
		}
		dlog_init(dlog_auto(true), d.c.log_level);
	}
	dlog_set_level(d.c.log_level);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Every guest socket is a host descriptor: allow as many as we may. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	if (open_transport(&d.c, &t) < 0) {
		dconf_free(&d.c);
		return 1;
	}
	opts.limits = d.c.lim;
	opts.spin_us = d.c.spin_us;
	opts.ext_off = d.c.ext_off;
	rc = pvcalls_back_new(t, &opts, &d.b);
	if (rc < 0) {
		dlog(LOG_ERR, "backend: %s", pvcalls_strerror(rc));
		pvcalls_transport_close(t);
		dconf_free(&d.c);
		return 1;
	}
	pvcalls_back_set_policy(d.b, d.c.policy);
	d.c.policy = NULL;
	if (audit_setup(&d) < 0 && d.c.audit_required) {
		dlog(LOG_ERR, "audit_required: not starting without the audit log");
		pvcalls_back_free(d.b);
		pvcalls_transport_close(t);
		dconf_free(&d.c);
		return 1;
	}
	ctl_setup(&d);
	dlog(LOG_NOTICE, "pvcallsd %s (libpvcalls %s): serving %s%s%s, %d rules",
	     PVCALLS_TOOLS_VERSION, pvcalls_version(), d.c.transport,
	     strcmp(d.c.transport, "shm") ? "" : " ",
	     strcmp(d.c.transport, "shm") ? "" : d.c.shm_path, d.c.nrules);
	/* The store watch is armed and the existing devices published. */
	sd_notify_send("READY=1");
	wd_us = sd_watchdog_usec();

	rc = 0;
	while (!stop_signal) {
		int64_t now;

		rc = pvcalls_back_process(d.b, 50);
		if (rc < 0)
			break;
		if (reload_signal) {
			reload_signal = 0;
			reload(&d);
		}
		if (d.ctl >= 0)
			ctl_serve(d.ctl, d.b, d.aq);
		/* audit_required and records could not be written: stop, as
		 * pvcallsd.conf(5) says, rather than serve unaudited. */
		if (d.c.audit_required && d.aq && audit_q_failed(d.aq)) {
			dlog(LOG_ERR, "audit log %s: write failed; audit_required: stopping",
			     d.c.audit);
			audit_failed = true;
			break;
		}
		now = mono_us();
		if (now >= next_status) {
			update_status(&d);
			next_status = now + 1000000;
		}
		if (wd_us && now >= next_wd) {
			sd_notify_send("WATCHDOG=1");
			next_wd = now + (int64_t)wd_us / 2;
		}
	}

	/* Stop accepting, release every guest socket, tell the frontends. */
	sd_notify_send("STOPPING=1");
	dlog(LOG_NOTICE, "%s: shutting down",
	     stop_signal == SIGINT    ? "SIGINT"
	     : stop_signal == SIGTERM ? "SIGTERM"
	     : audit_failed           ? "audit log failure"
				      : "event loop failure");
	ctl_close(d.ctl, d.ctl_path);
	pvcalls_back_free(d.b);
	pvcalls_transport_close(t);
	audit_q_free(d.aq, 2000);
	dconf_free(&d.c);
	if (rc < 0) {
		dlog(LOG_ERR, "event loop failed: %s", pvcalls_strerror(rc));
		return 1;
	}
	return audit_failed ? 1 : 0;
}
