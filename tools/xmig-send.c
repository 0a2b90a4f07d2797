/* SPDX-License-Identifier: MIT */
/* xmig-send: live-migrate a guest to an xmig-recv, or save it to a file. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "endpoint.h"
#include "guests.h"
#include "tls_opts.h"
#include "toolutil.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"

static const char usage_text[] =
	"Usage: xmig-send [OPTIONS] --to ADDRESS\n"
	"Live-migrate a guest to an xmig-recv listening at ADDRESS, or save it.\n"
	"\n"
	"Where to:\n"
	"  --to ADDRESS            HOST:PORT, [V6]:PORT or unix:PATH: live migration;\n"
	"                          file:PATH: save (to PATH.partial-XXXXXX, renamed to\n"
	"                          PATH once complete; removed on failure);\n"
	"                          -: save to stdout (a pipe or a file; then every\n"
	"                          message goes to stderr);\n"
	"                          fd:N: inherited descriptor N (a socket: live migration;\n"
	"                          a pipe or a file: save)\n"
	"  --ssh HOST              live migration to HOST through ssh, as xl migrate\n"
	"                          does: runs the receiver there (--remote) on the\n"
	"                          ssh connection's stdin and stdout\n"
	"  --ssh-command CMD       the ssh to run, split at spaces (default \"ssh\"; e.g.\n"
	"                          \"ssh -p 2222 -o BatchMode=yes\")\n"
	"  --remote CMD            the receiver's command line on HOST (default\n"
	"                          \"xmig-recv --from stdio --backend BACKEND\"); over ssh\n"
	"                          a lost DONE cannot be asked about (exit 4)\n"
	"  --force                 with file:PATH, overwrite an existing PATH\n"
	"  --connect-timeout DUR   give up connecting after DUR (default 10s)\n"
	"  --timeout DUR           max wait for any answer of the receiver (default 30s)\n"
	"  --resolve-timeout DUR   if COMMIT went out and its confirmation was lost, ask\n"
	"                          the receiver at ADDRESS over a new connection for so\n"
	"                          long what became of the guest, then resume or destroy\n"
	"                          the source copy by its answer (default 60s; 0: never)\n"
	"\n"
	TLS_OPTS_USAGE
	"                          (the sender is the TLS client: --tls-peer-name names\n"
	"                          the receiver)\n"
	"\n"
	"The guest:\n"
	"  --backend NAME          sim (simulated guest), kvm (a VM in this process) or\n"
	"                          xen (a Xen domain; run in dom0); default: sim\n"
	"  --mem SIZE              guest memory, e.g. 256M, 1G (default 256M)\n"
	"  --vcpus N               vCPUs (default 1)\n"
	"  --run-before DUR        let the guest run this long before migrating (default 0)\n"
	"  sim:  --dirty MODEL     none | max | uniform:RATE | hot:SIZE:RATE | seq:RATE\n"
	"                          (RATE like 200M/s or max; default none)\n"
	"        --seed N          content seed (default 1)\n"
	GUESTS_KVM_SEND_USAGE
	GUESTS_XEN_SEND_USAGE
	"\n"
	"How:\n"
	"  --policy NAME           downtime (default) or xen-classic\n"
	"  --downtime MS           target downtime in ms (default 50)\n"
	"  --max-rounds N          live rounds at most, round 0 included (default 30)\n"
	"  --max-time DUR          live phase limit (default none)\n"
	"  --on-no-converge WHAT   stop (stop-and-copy anyway, default) or abort\n"
	"  --max-bandwidth RATE    limit live rounds, e.g. 500M/s (= 500MiB/s), 500MB/s,\n"
	"                          4Gbit/s (default unlimited)\n"
	"  --verify                send a digest of guest memory; the receiver checks it\n"
	"  --keep-running          when saving, resume the guest after saving it\n"
	"\n"
	"Leftovers (xen):\n"
	"  --cleanup               put right what dead xmig processes (kill -9, a crash)\n"
	"                          left on this host: destroy destinations never started,\n"
	"                          turn log-dirty off on running sources, and report\n"
	"                          sources left stopped; then exit (the same as\n"
	"                          xmig-recv --cleanup)\n"
	"  --dry-run               with --cleanup: only report\n"
	"  --resume DOMID          with --cleanup: resume DOMID, a source left stopped,\n"
	"                          once you have seen that the destination does not run\n"
	"                          the guest\n"
	"\n"
	"Output:\n"
	"  --json FILE             write the results as JSON (- for stdout)\n"
	"  -q, --quiet             only errors and the verdict\n"
	"  -v, --verbose           engine log (twice: debug)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"The whole command line is checked before the guest starts. Exit status:\n"
	"0 migrated (or saved), 1 migration failed (the guest keeps running on the\n"
	"source), 2 bad command line, 3 migrated but the paused source copy could not\n"
	"be destroyed (after one retry; the message names it), 4 COMMIT went out but\n"
	"was not confirmed: whether the guest runs on the destination is unknown (the\n"
	"source copy stays paused; check the destination), 130/143 interrupted by\n"
	"SIGINT/SIGTERM (a migration under way is cancelled: the guest stays here).\n";

enum {
	OPT_TO = 256, OPT_SSH, OPT_SSH_COMMAND, OPT_REMOTE, OPT_CONNECT_TIMEOUT, OPT_RESOLVE_TIMEOUT, OPT_TIMEOUT, OPT_BACKEND, OPT_MEM, OPT_VCPUS,
	OPT_RUN_BEFORE, OPT_DIRTY, OPT_SEED, OPT_POLICY, OPT_DOWNTIME, OPT_MAX_ROUNDS,
	OPT_MAX_TIME, OPT_NOCONV, OPT_MAX_BW, OPT_VERIFY, OPT_KEEP, OPT_JSON,
	OPT_GUEST, OPT_APPEND, OPT_DOMAIN, OPT_XEN_SUSPEND, OPT_FORCE, OPT_CLEANUP, OPT_DRY_RUN,
	OPT_RESUME,
};

static const struct option long_opts[] = {
	{ "to", required_argument, NULL, OPT_TO },
	{ "ssh", required_argument, NULL, OPT_SSH },
	{ "ssh-command", required_argument, NULL, OPT_SSH_COMMAND },
	{ "remote", required_argument, NULL, OPT_REMOTE },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "resolve-timeout", required_argument, NULL, OPT_RESOLVE_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "run-before", required_argument, NULL, OPT_RUN_BEFORE },
	{ "dirty", required_argument, NULL, OPT_DIRTY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "xen-suspend", required_argument, NULL, OPT_XEN_SUSPEND },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "downtime", required_argument, NULL, OPT_DOWNTIME },
	{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
	{ "max-time", required_argument, NULL, OPT_MAX_TIME },
	{ "on-no-converge", required_argument, NULL, OPT_NOCONV },
	{ "max-bandwidth", required_argument, NULL, OPT_MAX_BW },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "keep-running", no_argument, NULL, OPT_KEEP },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "resume", required_argument, NULL, OPT_RESUME },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	TLS_OPTS_LONG,
	{ NULL, 0, NULL, 0 },
};

struct send_opts {
	struct guest_opts go;
	struct xmig_send_params sp;
	const char *to, *json;
	const char *ssh, *ssh_command, *remote; /* --ssh HOST: the receiver run there */
	char to_fd[32];                         /* --ssh: "fd:N", our end of it */
	char ssh_label[272];                    /* --ssh: "ssh:HOST", for the JSON */
	uint64_t connect_ms;
	uint64_t resolve_ms;
	int keep, force;
	int cleanup, dry_run, others;
	const char *resume;
	struct endpoint ep;
	struct tls_opts tls;
	FILE *out; /* the summary: stdout, or stderr when stdout carries the stream */
};

static void parse_option(struct send_opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_TO: o->to = arg; break;
	case OPT_SSH: o->ssh = arg; break;
	case OPT_SSH_COMMAND: o->ssh_command = arg; break;
	case OPT_REMOTE: o->remote = arg; break;
	case OPT_FORCE: o->force = 1; break;
	case OPT_CONNECT_TIMEOUT: o->connect_ms = parse_duration_ms("--connect-timeout", arg); break;
	case OPT_RESOLVE_TIMEOUT:
		o->resolve_ms = parse_duration_ms("--resolve-timeout", arg);
		break;
	case OPT_TIMEOUT:
		o->sp.timeout_ms = (uint32_t)parse_duration_ms("--timeout", arg);
		if (!o->sp.timeout_ms)
			usage_error("--timeout must be positive");
		break;
	case OPT_BACKEND: o->go.backend = arg; break;
	case OPT_MEM: o->go.mem = parse_size_arg("--mem", arg); o->go.mem_set = 1; break;
	case OPT_VCPUS: o->go.vcpus = (uint32_t)parse_uint_arg("--vcpus", arg, 1, 64); break;
	case OPT_RUN_BEFORE: o->go.run_before_ms = parse_duration_ms("--run-before", arg); break;
	case OPT_DIRTY: o->go.dirty = arg; break;
	case OPT_SEED: o->go.seed = parse_uint_arg("--seed", arg, 0, UINT64_MAX); break;
	case OPT_GUEST: o->go.guest = arg; break;
	case OPT_APPEND: o->go.append = arg; break;
	case OPT_DOMAIN: o->go.domain = arg; break;
	case OPT_XEN_SUSPEND: o->go.xen_suspend = arg; break;
	case OPT_POLICY:
		if (!xmig_policy_lookup(arg))
			usage_error("--policy: unknown policy '%s' (downtime, xen-classic)", arg);
		o->sp.policy = arg;
		break;
	case OPT_DOWNTIME:
		o->sp.target_downtime_ms = (uint32_t)parse_uint_arg("--downtime", arg, 1, 3600000);
		break;
	case OPT_MAX_ROUNDS:
		o->sp.max_rounds = (uint32_t)parse_uint_arg("--max-rounds", arg, 1, 100000);
		break;
	case OPT_MAX_TIME: o->sp.max_time_ms = (uint32_t)parse_duration_ms("--max-time", arg); break;
	case OPT_NOCONV:
		if (!strcmp(arg, "stop"))
			o->sp.on_no_converge = XMIG_NOCONV_STOP;
		else if (!strcmp(arg, "abort"))
			o->sp.on_no_converge = XMIG_NOCONV_ABORT;
		else
			usage_error("--on-no-converge: '%s' is neither stop nor abort", arg);
		break;
	case OPT_MAX_BW: o->sp.max_bandwidth = parse_rate_arg("--max-bandwidth", arg); break;
	case OPT_VERIFY: o->sp.verify = 1; break;
	case OPT_KEEP: o->keep = 1; break;
	case OPT_JSON: o->json = arg; break;
	case OPT_CLEANUP: o->cleanup = 1; return;
	case OPT_DRY_RUN: o->dry_run = 1; return;
	case OPT_RESUME: o->resume = arg; return;
	case 'q': tool_verbosity = 0; return;
	case 'v': tool_verbosity++; return;
	default: tls_opts_parse(&o->tls, c, arg); break;
	}
	o->others++;
}

/* ---- --ssh HOST: the receiver on HOST, on the ssh connection's stdio ---- */

static pid_t ssh_pid = -1;
static char ssh_what[160];
static int ssh_sock = -1; /* our end, while it may still be open */
static ino_t ssh_ino;

/* At exit: the ssh ends with the stream; wait for it (10 s), report a failure. */
static void ssh_reap(void)
{
	int st = 0;

	struct stat sb;

	if (ssh_pid < 0)
		return;
	/* an exit before the stream was closed (a guest that would not start):
	 * end it, so that the far end sees it and ssh ends too */
	if (ssh_sock >= 0 && fstat(ssh_sock, &sb) == 0 && sb.st_ino == ssh_ino)
		shutdown(ssh_sock, SHUT_RDWR);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(ssh_pid, &st, WNOHANG);

		if (r == ssh_pid)
			break;
		if (r < 0 && errno != EINTR)
			return;
		if (i == 999) {
			fprintf(stderr, "%s: %s still runs 10 s after the stream ended: "
				"stopped\n", tool_name, ssh_what);
			kill(ssh_pid, SIGTERM);
			waitpid(ssh_pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	ssh_pid = -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (WIFEXITED(st))
		fprintf(stderr, "%s: %s exited with status %d%s\n", tool_name, ssh_what,
			WEXITSTATUS(st),
			WEXITSTATUS(st) == 255 ? " (ssh's own failure: connecting or logging in)"
			: WEXITSTATUS(st) == 127 ? " (the command was not found)" : "");
	else if (WIFSIGNALED(st))
		fprintf(stderr, "%s: %s was killed by %s\n", tool_name, ssh_what,
			strsignal(WTERMSIG(st)));
}

/* HOST goes to ssh as one argument: a name, [user@]host, no option, no shell. */
static void ssh_check_host(const char *h)
{
	if (!*h || *h == '-' || strlen(h) > 255 ||
	    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:[]%") !=
		    strlen(h))
		usage_error("--ssh '%s': not a host name ([user@]host, letters, digits, . _ - : "
			    "[ ])", h);
}

/*
 * Start `ssh_command HOST remote` with a socket as its stdin and stdout;
 * o->to becomes "fd:N" of our end, a duplex stream like a TCP connection.
 */
static void ssh_start(struct send_opts *o)
{
	static char remote[512];
	char *cmd, *argv[32], *tok, *save = NULL;
	int sv[2], n = 0;

	if (!o->remote) {
		snprintf(remote, sizeof(remote), "xmig-recv --from stdio --backend %s",
			 o->go.backend);
		o->remote = remote;
	}
	cmd = strdup(o->ssh_command ? o->ssh_command : "ssh");
	if (!cmd)
		usage_error("out of memory");
	for (tok = strtok_r(cmd, " ", &save); tok && n < 29; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	if (!n || tok)
		usage_error("--ssh-command '%s': give a program and at most 28 arguments",
			    o->ssh_command ? o->ssh_command : "ssh");
	argv[n++] = (char *)o->ssh;
	argv[n++] = (char *)o->remote;
	argv[n] = NULL;
	snprintf(ssh_what, sizeof(ssh_what), "the remote end (%s %s)", argv[0], o->ssh);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: error: socketpair: %s\n", tool_name, strerror(errno));
		exit(EXIT_FAILED);
	}
	fflush(NULL);
	ssh_pid = fork();
	if (ssh_pid < 0) {
		fprintf(stderr, "%s: error: fork: %s\n", tool_name, strerror(errno));
		exit(EXIT_FAILED);
	}
	if (ssh_pid == 0) {
		/* the child: the socket as stdin and stdout, stderr ours */
		if (dup2(sv[1], STDIN_FILENO) < 0 || dup2(sv[1], STDOUT_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", tool_name, argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	free(cmd);
	{
		struct stat sb;

		if (fstat(sv[0], &sb) == 0) {
			ssh_sock = sv[0];
			ssh_ino = sb.st_ino;
		}
	}
	atexit(ssh_reap);
	snprintf(o->to_fd, sizeof(o->to_fd), "fd:%d", sv[0]);
	snprintf(o->ssh_label, sizeof(o->ssh_label), "ssh:%s", o->ssh);
	o->to = o->to_fd;
}

/* The whole command line, checked before any guest starts; exits on an error. */
static void parse_command_line(struct send_opts *o, int argc, char **argv)
{
	int c;

	opterr = 0;
	tls_opts_init(&o->tls);
	while ((c = getopt_long(argc, argv, ":qvh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_text, stdout); exit(0);
		case 'V': printf("%s (xmig) %s\n", tool_name, xmig_version()); exit(0);
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		case '?': usage_error("unknown option %s", argv[optind - 1]);
		default: parse_option(o, c, optarg);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if ((o->dry_run || o->resume) && !o->cleanup)
		usage_error("%s is for --cleanup", o->dry_run ? "--dry-run" : "--resume");
	if (o->cleanup && o->others)
		usage_error("--cleanup takes no other options (but --dry-run, --resume, -q, -v)");
	if (o->cleanup && o->dry_run && o->resume)
		usage_error("--resume changes a domain: not with --dry-run");
	if (o->cleanup)
		exit(guest_cleanup(o->dry_run, o->resume));
	if (!!o->to == !!o->ssh)
		usage_error(o->to ? "give either --to or --ssh, not both"
				  : "--to ADDRESS (or --ssh HOST) is required");
	if (!o->ssh && (o->ssh_command || o->remote))
		usage_error("%s is for --ssh", o->ssh_command ? "--ssh-command" : "--remote");
	if (o->ssh) {
		ssh_check_host(o->ssh);
		if (o->force || o->keep)
			usage_error("%s is for saving, not --ssh", o->force ? "--force" : "--keep-running");
		if (tls_opts_on(&o->tls))
			usage_error("TLS is not for --ssh: ssh encrypts the stream already");
	}
	if (o->force && strncmp(o->to, "file:", 5) != 0)
		usage_error("--force is for --to file:PATH");
	if (o->ssh) {
		guest_opts_check_send(&o->go);
		ssh_start(o);
	}
	endpoint_parse(&o->ep, o->ssh ? "--ssh" : "--to", o->to, ENDPOINT_SEND, o->force);
	tls_opts_check(&o->tls, &o->ep);
	o->ep.tls = &o->tls;
	if (o->keep && o->ep.duplex)
		usage_error("--keep-running is for saving (--to file:PATH, - or fd:N of a pipe "
			    "or a file)");
	if (o->json && endpoint_holds(&o->ep, o->json))
		usage_error("--json %s: the migration stream goes there (--to %s)", o->json, o->to);
	guest_opts_check_send(&o->go);
	/* stdout carries the stream or the JSON: the text goes to stderr */
	o->out = o->ep.on_stdout || (o->json && !strcmp(o->json, "-")) ? stderr : stdout;
}

/* A failure before the session: the JSON says so too (nothing was measured). */
static int early_failure(const struct send_opts *o, struct tool_report *rep, int rc)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", xmig_error_last());
	rep->result = rc < 0 ? rc : XMIG_EINVAL;
	rep->error = why;
	rep->stats = NULL;
	if (o->json)
		write_json(o->json, rep);
	return tool_exit_status(EXIT_FAILED);
}

/*
 * A one-way stream (a save) ended with `rc`. A file is kept only if the
 * stream is whole and no signal came meanwhile (a pipe has the stream once
 * it is written); then the guest, paused since the stream completed, is
 * destroyed (or resumed: --keep-running). A file not kept resumes it.
 * Returns the outcome.
 */
static int finish_save(struct send_opts *o, struct xmig_backend *b, struct xmig_transport *t,
		       int rc, struct tool_report *rep)
{
	int complete = rc == 0;

	if (complete && tool_interrupted && o->ep.save.tmp) {
		fprintf(stderr, "%s: interrupted (%s) as the stream ended: it is not kept; the "
			"guest keeps running here\n", tool_name, strsignal(tool_interrupted));
		rc = XMIG_ECANCELED;
		rep->error = "interrupted before the stream was kept";
	}
	if (endpoint_close(&o->ep, t, rc == 0) < 0 && rc == 0) {
		rc = XMIG_EIO;
		rep->error = "the stream is complete but could not be kept (see above); the "
			     "guest keeps running here";
	}
	rep->result = rc;
	if (rc < 0) {
		/* The engine resumes the guest itself when the stream fails. */
		if (complete && b->ops->resume(b) < 0)
			fprintf(stderr, "%s: error: could not resume the guest: %s\n", tool_name,
				xmig_error_last());
		return rc;
	}
	if (o->keep) {
		if (b->ops->resume(b) < 0)
			fprintf(stderr, "%s: error: could not resume the guest after saving\n",
				tool_name);
	} else if (b->ops->destroy(b) < 0) {
		fprintf(stderr, "%s: error: the image is complete, but the paused guest could "
			"not be destroyed: %s\n", tool_name, xmig_error_last());
		rc = XMIG_ESRCLEFT;
	}
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * COMMIT went out, its confirmation did not come back: ask the receiver
 * over a new connection what became of the guest (docs/stream-format.md,
 * "Outcome queries"); xmig_session_resolve resumes or destroys the source
 * copy by the answer. A receiver that cannot be reached yet (it may still
 * be waiting on the old connection) is tried again until --resolve-timeout;
 * the first answer decides. The session's transport is closed first, so
 * the receiver sees that stream end.
 */
static int resolve(struct send_opts *o, struct xmig_session *s, struct xmig_transport **t)
{
	int64_t deadline = mono_ms() + (int64_t)o->resolve_ms;
	struct xmig_transport *q = NULL;
	int rc, tries = 0;

	endpoint_close(&o->ep, *t, 0);
	*t = NULL;
	if (o->ep.kind != ENDPOINT_NET || !o->resolve_ms)
		return XMIG_EAMBIGUOUS;
	fprintf(stderr, "%s: COMMIT went out but its confirmation was lost; asking the receiver "
		"at %s what became of the guest\n", tool_name, o->to);
	for (;;) {
		int64_t left = deadline - mono_ms();

		/* interrupted: one try only */
		if (left <= 0 || (tries && tool_interrupted)) {
			fprintf(stderr, "%s: no answer from %s within --resolve-timeout (%d "
				"attempts): %s\n", tool_name, o->to, tries, xmig_error_last());
			return XMIG_EAMBIGUOUS;
		}
		tries++;
		rc = endpoint_reconnect(&o->ep, &q, left < 5000 ? (int)left : 5000);
		if (rc == 0)
			break;
		usleep(500000);
	}
	/* at least 1 s for the answer, even when connecting took the rest (a
	 * negative time would mean no limit) */
	tool_running(s);
	rc = xmig_session_resolve(s, q, (int)(deadline - mono_ms() > 1000 ? deadline - mono_ms()
									   : 1000));
	tool_running(NULL);
	xmig_transport_close(q);
	if (rc == 0)
		fprintf(stderr, "%s: the receiver answers that it started the guest: the source "
			"copy was destroyed\n", tool_name);
	else if (rc != XMIG_EAMBIGUOUS)
		fprintf(stderr, "%s: the receiver answered: %s\n", tool_name,
			xmig_session_error(s));
	return rc;
}

int main(int argc, char **argv)
{
	struct send_opts o = { .go = GUEST_OPTS_INIT, .sp = XMIG_SEND_PARAMS_INIT,
			       .connect_ms = 10000, .resolve_ms = 60000 };
	struct tool_report rep = { .role = "send", .guest_downtime_ms = -1 };
	struct xmig_backend *b = NULL;
	struct xmig_transport *t = NULL;
	struct xmig_session *s = NULL;
	int rc;

	tool_name = "xmig-send";
	parse_command_line(&o, argc, argv);
	o.sp.log_fn = tool_log;
	o.sp.log_level = XMIG_LOG_DEBUG;
	o.sp.progress_fn = tool_progress;
	rep.backend = o.go.backend;
	rep.transport = o.ssh ? o.ssh_label : o.to;
	rep.policy = o.sp.policy;
	rep.target_downtime_ms = o.sp.target_downtime_ms;
	rep.verify = o.sp.verify;

	tool_signals();
	rc = guest_start(&o.go, &b);
	if (rc < 0) {
		guest_stop(&o.go, b);
		return early_failure(&o, &rep, rc);
	}
	if (guest_run_for(&o.go, b, o.go.run_before_ms) < 0) {
		if (tool_interrupted)
			fprintf(stderr, "%s: interrupted (%s) before the migration: nothing was "
				"sent; %s\n", tool_name, strsignal(tool_interrupted),
				strcmp(o.go.backend, "xen") ? "the guest, which lives in this "
				"process, stops with it" : "the domain keeps running");
		guest_stop(&o.go, b);
		return tool_exit_status(EXIT_FAILED);
	}
	o.sp.annotate_fn = guest_annotate;
	o.sp.annotate_payload = &o.go;

	if ((rc = endpoint_open(&o.ep, &t, (int)o.connect_ms)) < 0) {
		guest_stop(&o.go, b);
		return early_failure(&o, &rep, rc);
	}
	rc = xmig_send_new(&s, b, t, &o.sp);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		endpoint_close(&o.ep, t, 0);
		guest_stop(&o.go, b);
		return early_failure(&o, &rep, rc);
	}
	tool_running(s);
	rc = tool_interrupted ? XMIG_ECANCELED : xmig_session_run(s);
	tool_running(NULL);
	if (tool_interrupted && rc < 0)
		fprintf(stderr, "%s: interrupted (%s): the migration was cancelled; %s\n", tool_name,
			strsignal(tool_interrupted),
			rc == XMIG_EAMBIGUOUS ? "COMMIT had gone out (see below)"
					      : "the guest keeps running on the source");

	if (rc == XMIG_EAMBIGUOUS)
		rc = resolve(&o, s, &t);
	if (rc == XMIG_ESRCLEFT) {
		/* The guest runs on the destination; this copy must not come back. */
		fprintf(stderr, "%s: warning: %s; retrying once\n", tool_name,
			xmig_session_error(s));
		if (b->ops->destroy(b) == 0) {
			fprintf(stderr, "%s: the source copy was destroyed on the retry\n",
				tool_name);
			rc = 0;
		}
	}
	rep.result = rc;
	rep.error = rc == 0 ? NULL : xmig_session_error(s);
	rep.stats = xmig_session_stats(s);
	guest_report_send(&o.go, b, &rep);
	if (o.ep.duplex && t)
		endpoint_close(&o.ep, t, rc == 0);
	else
		rc = finish_save(&o, b, t, rc, &rep);
	print_summary(rc < 0 ? stderr : o.out, &rep);
	if (o.json && write_json(o.json, &rep) < 0 && rc == 0)
		rc = -1;
	if (rc == XMIG_EAMBIGUOUS) {
		fprintf(stderr, "%s: COMMIT went out but the receiver's confirmation did not come "
			"back: whether the guest runs on the destination cannot be known from "
			"here (the receiver may have started it, or failed before it read "
			"COMMIT); check the destination.\n", tool_name);
		if (!strcmp(o.go.backend, "xen"))
			fprintf(stderr, "%s: domain %s stays paused here: if the guest runs on the "
				"destination, destroy this copy (xl destroy %s); if it does not, "
				"resume it (xl unpause %s).\n", tool_name, o.go.domain,
				o.go.domain, o.go.domain);
		else
			fprintf(stderr, "%s: the paused copy here lives in this process and ends "
				"with it.\n", tool_name);
	}
	xmig_session_free(s);
	guest_stop(&o.go, b);
	if (rc == XMIG_ESRCLEFT)
		return EXIT_SRCLEFT;
	if (rc == XMIG_EAMBIGUOUS) /* even when interrupted: this matters more */
		return EXIT_AMBIGUOUS;
	return tool_exit_status(rc < 0 ? EXIT_FAILED : 0);
}
