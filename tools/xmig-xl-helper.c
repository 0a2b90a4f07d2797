/* SPDX-License-Identifier: MIT */
/*
 * xmig-xl-helper: xmig as libxl's save/restore helper (docs/xl-helper.md).
 *
 * libxl runs the program named by LIBXL_SAVE_HELPER for the part of `xl
 * save`, `xl restore` and `xl migrate` that moves memory and CPU state, and
 * keeps everything else: the domain's config, its devices and hotplug
 * scripts, the suspend itself, the "go" handshake. This helper does that
 * part with libxmig's xen backend; its own stream goes on the descriptor
 * libxl hands over, between libxl's records, and it reads exactly that
 * stream on restore: not a byte more, since libxl reads its own records
 * after it from the same descriptor.
 *
 *   --save-domain IO_FD RECV_FD DOMID XCFLAGS CBFLAGS STREAM_TYPE
 *   --restore-domain IO_FD SEND_BACK_FD DOMID STORE_EVTCHN STORE_DOMID
 *                    CONSOLE_EVTCHN CONSOLE_DOMID CBFLAGS STREAM_TYPE
 *
 * Talks to libxl on stdout (messages) and stdin (answers), never anything
 * else there. Always ends with a `complete` message and exit status 0, as
 * libxl's own helper does; the outcome is in the message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define __XEN_TOOLS__ 1 /* the domctl flags in xenctrl.h */
#include <xenctrl.h>
#include <xenstore.h>

#include "common.h"
#include "toolutil.h"
#include "xl_helper_msg.h"
#include "xmig/backend/xen.h"
#include "xmig/xmig.h"
#include "xmig/session.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"
#include "xmig/transport.h"

#define CONTEXT "xmig-xl-helper"
#define DEFAULT_CONF "/etc/xmig/xl-helper.conf"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *prog = CONTEXT; /* argv[0] */
static unsigned long cbflags;

/* ---- talking to libxl ---- */

/* Send a built frame (n bytes; 0 = it did not build: nothing), whole,
 * whichever thread logs: frames never interleave. */
static void send_frame(struct xlh_buf *b, size_t n)
{
	const uint8_t *p = b->frame;

	pthread_mutex_lock(&out_lock);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(2); /* libxl is gone: nobody to report to */
		p += w;
		n -= (size_t)w;
	}
	pthread_mutex_unlock(&out_lock);
}

static int reply(void)
{
	uint8_t v[sizeof(int)];
	size_t got = 0;
	int r;

	while (got < sizeof(v)) {
		ssize_t n = read(STDIN_FILENO, v + got, sizeof(v) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(2);
		got += (size_t)n;
	}
	memcpy(&r, v, sizeof(r));
	return r;
}

static void say(uint32_t level, const char *fmt, ...) XMIG__PRINTF(2, 3);
static void say(uint32_t level, const char *fmt, ...)
{
	struct xlh_buf b; /* its own: any thread may log */
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	send_frame(&b, xlh_log(&b, level, (uint32_t)-1, CONTEXT, text));
}

/* Send a message and, for those libxl answers, wait for the answer. */
static int ask(size_t (*build)(struct xlh_buf *), int wait)
{
	static struct xlh_buf b; /* the main thread's only */

	send_frame(&b, build(&b));
	return wait ? reply() : 0;
}

static _Noreturn void complete(int ok, int errnoval)
{
	static struct xlh_buf b;

	send_frame(&b, xlh_complete(&b, ok ? 0 : -1, ok ? 0 : errnoval));
	exit(0);
}

static _Noreturn void fail(int errnoval, const char *fmt, ...) XMIG__PRINTF(2, 3);
static _Noreturn void fail(int errnoval, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say(XLH_ERROR, "%s", text);
	complete(0, errnoval);
}

static void on_log(int level, const char *msg, void *payload)
{
	static const uint32_t map[] = { XLH_ERROR, XLH_WARN, XLH_INFO, XLH_DEBUG };

	(void)payload;
	say(level >= 0 && level <= XMIG_LOG_DEBUG ? map[level] : XLH_DEBUG, "%s", msg);
}

static void on_progress(const struct xmig_progress *p, void *payload)
{
	struct xlh_buf b;
	char doing[64];

	(void)payload;
	snprintf(doing, sizeof(doing), "%s round %u",
		 p->phase == XMIG_PHASE_LIVE ? "live" : "final", p->round);
	send_frame(&b, xlh_progress(&b, CONTEXT, doing, (unsigned long)p->round_pages_done,
				    (unsigned long)p->round_pages));
}

/* ---- settings: the config file, then the environment ---- */

struct settings {
	char policy[32];
	uint32_t downtime_ms, max_rounds, timeout_ms;
	uint64_t max_bandwidth; /* bytes/s */
	uint64_t min_rate;      /* bytes/s the receiver requires of each phase */
	int verify;
	int guard;              /* the incoming copy's guard (restore) */
	char where[300];        /* the setting being read, for messages */
};

static int set_one(struct settings *st, const char *key, const char *val)
{
	uint64_t v;

	if (!strcmp(key, "policy")) {
		if (strcmp(val, "downtime") && strcmp(val, "xen-classic"))
			return -1;
		snprintf(st->policy, sizeof(st->policy), "%s", val);
		return 0;
	}
	if (!strcmp(key, "max_bandwidth") || !strcmp(key, "min_rate")) {
		/* bytes per second: 500M, 1G, or 0 for no limit */
		if (xmig__parse_size(val, &v) < 0)
			return -1;
		if (!strcmp(key, "min_rate"))
			st->min_rate = v;
		else
			st->max_bandwidth = v;
		return 0;
	}
	if (xmig__parse_size(val, &v) < 0 || v > UINT32_MAX)
		return -1;
	if (!strcmp(key, "downtime_ms") && v > 0)
		st->downtime_ms = (uint32_t)v;
	else if (!strcmp(key, "max_rounds") && v > 0)
		st->max_rounds = (uint32_t)v;
	else if (!strcmp(key, "timeout_ms") && v > 0)
		st->timeout_ms = (uint32_t)v;
	else if (!strcmp(key, "verify") && v <= 1)
		st->verify = (int)v;
	else if (!strcmp(key, "guard") && v <= 1)
		st->guard = (int)v;
	else
		return -1;
	return 0;
}

static void settings_load(struct settings *st)
{
	static const char *const keys[] = { "policy", "downtime_ms", "max_rounds",
					    "max_bandwidth", "verify", "timeout_ms",
					    "min_rate", "guard" };
	const char *path = getenv("XMIG_XL_HELPER_CONF");
	char line[512], env[64];
	unsigned int lineno = 0;
	FILE *f;

	snprintf(st->policy, sizeof(st->policy), "downtime");
	st->downtime_ms = 50;
	st->max_rounds = 30;
	st->timeout_ms = 30000;
	st->guard = 1;
	/* Lower than xmig-recv's 1 MiB/s: the stream comes through xl's own
	 * channel (ssh, as a rule), and a slow link between two hosts must not
	 * fail a migration that makes progress; silence is still bounded by
	 * timeout_ms. */
	st->min_rate = 64 << 10;
	if (!path)
		path = DEFAULT_CONF;
	f = fopen(path, "re");
	if (!f && (errno != ENOENT || getenv("XMIG_XL_HELPER_CONF")))
		fail(errno, "%s: %s", path, strerror(errno));
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line, *eq, *k, *v, *e;

		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			fail(EINVAL, "%s:%u: line too long", path, lineno);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		eq = strchr(p, '=');
		if (!eq)
			fail(EINVAL, "%s:%u: expected KEY = VALUE", path, lineno);
		k = p;
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v + strlen(v); e > v && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t');
		     e--)
			;
		*e = '\0';
		if (set_one(st, k, v) < 0)
			fail(EINVAL, "%s:%u: bad setting '%s = %s' (docs/xl-helper.md)", path,
			     lineno, k, v);
	}
	if (f)
		fclose(f);
	for (unsigned int i = 0; i < XMIG__ARRAY_SIZE(keys); i++) {
		const char *v;
		size_t j;

		snprintf(env, sizeof(env), "XMIG_XL_%s", keys[i]);
		for (j = 8; env[j]; j++)
			if (env[j] >= 'a' && env[j] <= 'z')
				env[j] = (char)(env[j] - 'a' + 'A');
		v = getenv(env);
		if (v && set_one(st, keys[i], v) < 0)
			fail(EINVAL, "bad %s='%s' (docs/xl-helper.md)", env, v);
	}
}

/* A descriptor argument: a number, or -1 for none (libxl's spelling). */
static int fd_arg(char **argv, int i, const char *what)
{
	unsigned long v;

	if (!strcmp(argv[i], "-1"))
		return -1;
	if (xlh_parse_num(argv[i], INT32_MAX, &v) < 0)
		fail(EINVAL, "argument %d (%s): '%s' is not a descriptor", i, what, argv[i]);
	return (int)v;
}

static unsigned long num_arg(char **argv, int i, unsigned long max, const char *what)
{
	unsigned long v;

	if (xlh_parse_num(argv[i], max, &v) < 0)
		fail(EINVAL, "argument %d (%s): '%s' is not a number in 0..%lu", i, what,
		     argv[i], max);
	return v;
}

static void check_stream_type(unsigned long type)
{
	if (type != 0)
		fail(EOPNOTSUPP, "stream type %lu (%s) is not supported by xmig: only plain "
		     "save, restore and migration. Unset LIBXL_SAVE_HELPER to use Xen's own "
		     "helper for Remus and COLO", type, type == 1 ? "Remus" : type == 2 ? "COLO"
		     : "unknown");
}

/* ---- save ---- */

static size_t build_suspend(struct xlh_buf *b)
{
	return xlh_simple(b, XLH_SUSPEND);
}

static int suspend_by_libxl(uint32_t domid, void *payload)
{
	(void)payload;
	if (!XLH_HAS(cbflags, XLH_SUSPEND)) {
		say(XLH_ERROR, "libxl offers no suspend callback (cbflags 0x%lx): cannot stop "
		    "d%u", cbflags, domid);
		return -1;
	}
	/* libxl answers 1 once the domain is suspended. */
	return ask(build_suspend, 1) == 1 ? 0 : -1;
}

static int resume_by_libxl(uint32_t domid, void *payload)
{
	(void)payload;
	say(XLH_INFO, "d%u stays suspended: libxl resumes it when it sees the save failed",
	    domid);
	return 0;
}

/* milliseconds from a to b of a stats timeline (0 where either is unset) */
static double span_ms(uint64_t a, uint64_t b)
{
	return a && b >= a ? (double)(b - a) / 1e6 : 0.0;
}

static _Noreturn void save(char **argv)
{
	struct xmig_xen_params xp = XMIG_XEN_PARAMS_INIT;
	struct xmig_send_params sp = XMIG_SEND_PARAMS_INIT;
	struct xmig_guest_info gi;
	struct xmig_transport *t;
	struct xmig_backend *b;
	struct xmig_session *s;
	struct settings st = { 0 };
	int io_fd, rc;
	uint32_t domid;
	unsigned long xcflags;

	io_fd = fd_arg(argv, 2, "io_fd");
	(void)fd_arg(argv, 3, "recv_fd"); /* Remus/COLO only */
	domid = (uint32_t)num_arg(argv, 4, 0x7fef, "domid");
	xcflags = num_arg(argv, 5, UINT32_MAX, "xcflags");
	cbflags = num_arg(argv, 6, UINT32_MAX, "cbflags");
	check_stream_type(num_arg(argv, 7, UINT32_MAX, "stream_type"));
	settings_load(&st);

	if (xmig_xen_available() < 0)
		fail(EPERM, "%s", xmig_error_last());
	xp.suspend = XMIG_XEN_SUSPEND_TOOLSTACK;
	xp.suspend_fn = suspend_by_libxl;
	xp.resume_fn = resume_by_libxl;
	if (xmig_xen_open(&b, domid, &xp) < 0)
		fail(EINVAL, "d%u: %s", domid, xmig_error_last());
	if (b->ops->describe(b, &gi) < 0)
		fail(EIO, "d%u: %s", domid, xmig_error_last());
	if (gi.guest_kind == XMIG_GUEST_XEN_HVM)
		fail(EOPNOTSUPP, "d%u is an HVM guest: its device model's log-dirty switch is not "
		     "supported yet; unset LIBXL_SAVE_HELPER to save it with Xen's own helper",
		     domid);
	if (xmig_transport_fd(&t, -1, io_fd, 0) < 0)
		fail(EBADF, "io_fd %d: %s", io_fd, xmig_error_last());
	sp.policy = st.policy;
	sp.target_downtime_ms = st.downtime_ms;
	/* xl save without --live: the guest is not to run on, so one pass
	 * while it runs (round 0), then the rest paused; no further rounds */
	sp.max_rounds = xcflags & 1 ? st.max_rounds : 1;
	sp.max_bandwidth = st.max_bandwidth;
	sp.verify = st.verify;
	sp.timeout_ms = st.timeout_ms;
	sp.log_fn = on_log;
	sp.log_level = XMIG_LOG_INFO;
	sp.progress_fn = on_progress;
	if (xmig_send_new(&s, b, t, &sp) < 0)
		fail(EINVAL, "%s", xmig_error_last());
	say(XLH_INFO, "saving d%u with xmig %s (%s, policy %s, downtime target %u ms%s)", domid,
	    xmig_version(), xcflags & 1 ? "live" : "not live: one pass, then the rest paused",
	    st.policy, st.downtime_ms, st.verify ? ", verified" : "");
	rc = xmig_session_run(s);
	if (rc == 0) {
		const struct xmig_stats *x = xmig_session_stats(s);
		const struct xmig_downtime *tl = &x->timeline;
		uint64_t final_pages = 0;

		for (uint32_t i = 0; i < x->nr_rounds; i++)
			if (x->rounds[i].final)
				final_pages += x->rounds[i].pages_sent + x->rounds[i].pages_zero;
		/* the engine's part of the pause: libxl's suspend, the last pages,
		 * the CPU and platform state (the lab's breakdown reads this) */
		say(XLH_INFO, "d%u saved: %u rounds, %llu bytes; suspend %.1f ms, final round "
		    "%.1f ms (%llu pages), state %.1f ms; the domain stays suspended for libxl",
		    domid, x->nr_rounds, (unsigned long long)x->bytes,
		    span_ms(tl->pause_requested, tl->paused), span_ms(tl->paused, tl->last_page_sent),
		    (unsigned long long)final_pages, span_ms(tl->last_page_sent, tl->state_sent));
	} else {
		say(XLH_ERROR, "saving d%u failed: %s", domid, xmig_session_error(s));
	}
	xmig_session_free(s);
	xmig_transport_close(t);
	b->ops->free(b);
	complete(rc == 0, EIO);
}

/* ---- the incoming copy's guard ---- */

/*
 * xl migrate-receive exits without destroying its copy when it cannot send
 * "ready" after the stream (tools/xl/xl_migrate.c: the sender went away):
 * the domain stays behind, paused, named NAME--incoming, its devices
 * attached (a DRBD disk held Primary on both hosts). So a restore that
 * succeeded leaves a guard: a process of the helper's that outlives it
 * (libxl waits for the helper, not for it) and watches the process that
 * ran the helper. Once that process is gone, a domain it left paused and
 * still named "...--incoming" was never started: the guard destroys it
 * with `xl destroy`. It leaves as soon as the domain runs, is renamed or is
 * gone, which is what every migration that goes on does. The guest is not
 * lost by it: xl destroys the source only once the destination reported
 * its copy started, and it was not.
 */
#define GUARD_LOG "/var/log/xen/xmig-xl-helper.log"
#define INCOMING "--incoming"

static void guard_say(const char *fmt, ...) XMIG__PRINTF(1, 2);
static void guard_say(const char *fmt, ...)
{
	char text[512], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	syslog(LOG_WARNING, "%s", text);
	f = fopen(GUARD_LOG, "ae");
	if (!f)
		return;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
	fprintf(f, "%s xmig-xl-helper[%d]: %s\n", stamp, (int)getpid(), text);
	fclose(f);
}

enum guard_look { GUARD_WATCH, GUARD_LEAVE, GUARD_DESTROY };

/* What the domain is now; `gone`: the toolstack process has exited. */
static enum guard_look guard_look(xc_interface *xc, struct xs_handle *xs, uint32_t domid,
				  int gone, char *name, size_t len)
{
	xc_domaininfo_t di;
	char path[64], *n;
	unsigned int nlen;
	size_t k = strlen(INCOMING);

	if (xc_domain_getinfolist(xc, domid, 1, &di) != 1 || di.domain != domid ||
	    (di.flags & XEN_DOMINF_dying))
		return GUARD_LEAVE;
	if (!(di.flags & XEN_DOMINF_paused))
		return GUARD_LEAVE; /* started */
	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	n = xs_read(xs, XBT_NULL, path, &nlen);
	if (!n)
		return GUARD_WATCH;
	if (nlen < k || memcmp(n + nlen - k, INCOMING, k) != 0) {
		free(n);
		return GUARD_LEAVE; /* renamed: xl took it as its own */
	}
	snprintf(name, len, "%.*s", (int)nlen, n);
	free(n);
	return gone ? GUARD_DESTROY : GUARD_WATCH;
}

static _Noreturn void guard_run(uint32_t domid, pid_t toolstack, int pidfd)
{
	char name[256] = "", dom[16];
	xc_interface *xc = xc_interface_open(NULL, NULL, 0);
	struct xs_handle *xs = xs_open(0);
	enum guard_look v;
	int gone, status, unnamed = 0;
	pid_t pid;

	openlog(CONTEXT, LOG_PID, LOG_DAEMON);
	if (!xc || !xs) {
		guard_say("d%u: no guard (libxenctrl or xenstore would not open)", domid);
		_exit(0);
	}
	for (;;) {
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			gone = poll(&p, 1, 1000) > 0;
		} else {
			sleep(1);
			gone = kill(toolstack, 0) < 0 && errno == ESRCH;
		}
		v = guard_look(xc, xs, domid, gone, name, sizeof(name));
		if (v == GUARD_LEAVE)
			_exit(0);
		if (v == GUARD_DESTROY)
			break;
		/* the toolstack gone and the domain's name unreadable: a few
		 * more looks, a second apart (the pidfd stays readable) */
		if (gone && (sleep(1), ++unnamed > 30))
			_exit(0);
	}
	/* (a moment for a toolstack that is still cleaning up in a child) */
	sleep(2);
	if (guard_look(xc, xs, domid, 1, name, sizeof(name)) != GUARD_DESTROY)
		_exit(0);
	snprintf(dom, sizeof(dom), "%u", domid);
	pid = fork();
	if (pid == 0) {
		execlp("xl", "xl", "destroy", dom, (char *)NULL);
		_exit(127);
	}
	status = -1;
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	guard_say("d%u (%s): the toolstack (pid %d) exited and left it paused, never started: "
		  "%s (the guest is on the source)", domid, name, (int)toolstack,
		  pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0
			  ? "destroyed it (xl destroy)"
			  : "xl destroy FAILED: destroy it by hand");
	_exit(0);
}

/* Leave a guard for d`domid`, restored, paused, handed to libxl. */
static void guard_incoming(uint32_t domid)
{
	pid_t toolstack = getppid(), pid;
	int pidfd = (int)syscall(SYS_pidfd_open, toolstack, 0), null;

	pid = fork();
	if (pid < 0) {
		say(XLH_WARN, "d%u: no guard for the incoming copy: fork: %s", domid,
		    strerror(errno));
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (pidfd >= 0)
			close(pidfd);
		say(XLH_INFO, "d%u: a guard destroys it if the toolstack (pid %d) exits leaving it "
		    "paused and named *" INCOMING " (xl does on a lost \"ready\"; " GUARD_LOG ")",
		    domid, (int)toolstack);
		return;
	}
	/* its own session, nothing of libxl's open (libxl's pipes see EOF
	 * when the helper exits), and a command line of its own: `ps` says
	 * what it is, and nothing that looks for the helper finds it */
	if (setsid() < 0 || (pid = fork()) != 0)
		_exit(0);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	for (int fd = 3; fd < 1024; fd++)
		if (fd != pidfd)
			close(fd);
	{
		char dom[16], ts[16], fd[16];

		snprintf(dom, sizeof(dom), "%u", domid);
		snprintf(ts, sizeof(ts), "%d", (int)toolstack);
		snprintf(fd, sizeof(fd), "%d", pidfd);
		if (pidfd >= 0)
			fcntl(pidfd, F_SETFD, 0);
		execl("/proc/self/exe", prog, "--guard", dom, ts, fd, (char *)NULL);
	}
	guard_run(domid, toolstack, pidfd); /* no exec: the same, under the helper's name */
}

/* ---- restore ---- */

static size_t build_nothing_missing(struct xlh_buf *b)
{
	return xlh_static_data_done(b, 0);
}

/*
 * The first bytes are read before the session: libxenguest's stream starts
 * with 8 bytes of 0xff and "XENF", which xmig's reader would only call a
 * bad length. A prefixed transport (toolutil.h) then serves them first.
 */
static struct xmig_xen_restore_info restored;

static int on_before_unpause(const struct xmig_xen_restore_info *ri, void *payload)
{
	(void)payload;
	restored = *ri;
	return 0;
}

static _Noreturn void restore(char **argv)
{
	struct xmig_xen_params xp = XMIG_XEN_PARAMS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	static const uint8_t libxc_marker[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct prefixed_transport pt;
	struct xmig_transport *in;
	uint8_t head[8];
	struct xmig_backend *b;
	struct xmig_session *s;
	struct settings st = { 0 };
	int io_fd, rc;
	uint32_t domid;

	io_fd = fd_arg(argv, 2, "io_fd");
	(void)fd_arg(argv, 3, "send_back_fd"); /* never written (xl's) */
	domid = (uint32_t)num_arg(argv, 4, 0x7fef, "domid");
	xp.store_port = (uint32_t)num_arg(argv, 5, UINT32_MAX, "store_evtchn");
	xp.store_domid = (uint32_t)num_arg(argv, 6, 0x7fef, "store_domid");
	xp.console_port = (uint32_t)num_arg(argv, 7, UINT32_MAX, "console_evtchn");
	xp.console_domid = (uint32_t)num_arg(argv, 8, 0x7fef, "console_domid");
	cbflags = num_arg(argv, 9, UINT32_MAX, "cbflags");
	check_stream_type(num_arg(argv, 10, UINT32_MAX, "stream_type"));
	settings_load(&st);

	if (xmig_xen_available() < 0)
		fail(EPERM, "%s", xmig_error_last());
	if (xmig_transport_fd(&in, io_fd, -1, 0) < 0)
		fail(EBADF, "io_fd %d: %s", io_fd, xmig_error_last());
	if (in->ops->read(in, head, sizeof(head), (int)st.timeout_ms) < 0)
		fail(EIO, "reading the stream: %s", xmig_error_last());
	prefixed_init(&pt, in, head, sizeof(head));
	if (!memcmp(head, libxc_marker, sizeof(libxc_marker)))
		fail(EINVAL, "the stream is libxenguest's (xc_domain_save), not xmig's: the "
		     "sending host ran Xen's own helper. Set LIBXL_SAVE_HELPER to xmig-xl-helper "
		     "on both hosts, or on neither");
	/* The CPU policy travels in xmig's stream: libxl need not supply one. */
	if (XLH_HAS(cbflags, XLH_STATIC_DATA_DONE) &&
	    ask(build_nothing_missing, 1) != 0)
		fail(EIO, "libxl refused the static data");

	xp.domid = domid;
	xp.before_unpause = on_before_unpause;
	xp.toolstack_owns = 1;
	if (xmig_xen_new_dest(&b, &xp) < 0)
		fail(EINVAL, "d%u: %s", domid, xmig_error_last());
	rp.timeout_ms = st.timeout_ms;
	rp.min_rate = st.min_rate;
	rp.require_verify = 0;
	rp.log_fn = on_log;
	rp.log_level = XMIG_LOG_INFO;
	rp.progress_fn = on_progress;
	if (xmig_recv_new(&s, b, &pt.base, &rp) < 0)
		fail(EINVAL, "%s", xmig_error_last());
	rc = xmig_session_run(s);
	if (rc == 0) {
		static struct xlh_buf m;

		send_frame(&m, xlh_restore_results(&m, (unsigned long)restored.store_gfn,
						   (unsigned long)restored.console_gfn));
		const struct xmig_stats *rs = xmig_session_stats(s);

		say(XLH_INFO, "d%u restored by xmig%s (%s); libxl attaches its devices and "
		    "unpauses it", domid,
		    rs->verified ? ", memory verified: the source's digest matches" : "",
		    xmig_xen_notes(b));
	} else {
		say(XLH_ERROR, "restoring d%u failed: %s (libxl destroys the domain)", domid,
		    xmig_session_error(s));
	}
	xmig_session_free(s);
	b->ops->free(b);
	xmig_transport_close(&pt.base);
	if (rc == 0 && st.guard)
		guard_incoming(domid);
	complete(rc == 0, EIO);
}

int main(int argc, char **argv)
{
	prog = argv[0] ? argv[0] : CONTEXT;
	if (argc == 5 && !strcmp(argv[1], "--guard")) { /* its own guard (guard_incoming) */
		char *e1, *e2, *e3;
		unsigned long dom = strtoul(argv[2], &e1, 10);
		long pid = strtol(argv[3], &e2, 10), fd = strtol(argv[4], &e3, 10);

		if (*e1 || *e2 || *e3 || e1 == argv[2] || dom > 0x7fef || pid < 2 ||
		    pid > INT32_MAX || fd < -1 || fd > 1023) {
			fprintf(stderr, "xmig-xl-helper: --guard DOMID PID FD: not a guard's arguments\n");
			return 2;
		}
		guard_run((uint32_t)dom, (pid_t)pid, (int)fd);
	}
	if (argc == 8 && !strcmp(argv[1], "--save-domain"))
		save(argv);
	if (argc == 11 && !strcmp(argv[1], "--restore-domain"))
		restore(argv);
	if (isatty(STDOUT_FILENO) || argc < 2 || !strcmp(argv[1], "--help")) {
		fputs("Usage: xmig-xl-helper --save-domain IO_FD RECV_FD DOMID XCFLAGS CBFLAGS "
		      "STREAM_TYPE\n"
		      "       xmig-xl-helper --restore-domain IO_FD SEND_BACK_FD DOMID "
		      "STORE_EVTCHN STORE_DOMID\n"
		      "                      CONSOLE_EVTCHN CONSOLE_DOMID CBFLAGS STREAM_TYPE\n"
		      "libxl's save/restore helper on xmig: libxl runs it, with\n"
		      "LIBXL_SAVE_HELPER set to its path (docs/xl-helper.md). Settings come\n"
		      "from " DEFAULT_CONF " (or $XMIG_XL_HELPER_CONF) and the\n"
		      "XMIG_XL_* environment variables.\n",
		      stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	fail(EINVAL, "unexpected arguments (%d, mode '%s'): this libxl speaks another "
	     "helper protocol than Xen 4.17's", argc - 1, argv[1]);
}
