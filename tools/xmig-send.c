/* SPDX-License-Identifier: MIT */
/* xmig-send: live-migrate a guest to an xmig-recv, or save it to a file. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guests.h"
#include "toolutil.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"

static const char usage_text[] =
	"Usage: xmig-send [OPTIONS] --to ADDRESS\n"
	"Live-migrate a guest to an xmig-recv listening at ADDRESS, or save it.\n"
	"\n"
	"Where to:\n"
	"  --to ADDRESS            HOST:PORT, [V6]:PORT, unix:PATH, or file:PATH (save)\n"
	"  --connect-timeout DUR   give up connecting after DUR (default 10s)\n"
	"  --timeout DUR           max wait for any answer of the receiver (default 30s)\n"
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
	"  --max-bandwidth RATE    limit live rounds, e.g. 500M/s (default unlimited)\n"
	"  --verify                send a digest of guest memory; the receiver checks it\n"
	"  --keep-running          with file:PATH, resume the guest after saving it\n"
	"\n"
	"Output:\n"
	"  --json FILE             write the results as JSON (- for stdout)\n"
	"  -q, --quiet             only errors and the verdict\n"
	"  -v, --verbose           engine log (twice: debug)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"Exit status: 0 migrated, 1 migration failed (the guest keeps running on the\n"
	"source), 2 bad command line, 3 migrated but the paused source copy could not\n"
	"be destroyed (after one retry; the message names it), 130/143 interrupted by\n"
	"SIGINT/SIGTERM (a migration under way is cancelled: the guest stays here).\n";

enum {
	OPT_TO = 256, OPT_CONNECT_TIMEOUT, OPT_TIMEOUT, OPT_BACKEND, OPT_MEM, OPT_VCPUS,
	OPT_RUN_BEFORE, OPT_DIRTY, OPT_SEED, OPT_POLICY, OPT_DOWNTIME, OPT_MAX_ROUNDS,
	OPT_MAX_TIME, OPT_NOCONV, OPT_MAX_BW, OPT_VERIFY, OPT_KEEP, OPT_JSON,
	OPT_GUEST, OPT_APPEND, OPT_DOMAIN, OPT_XEN_SUSPEND,
};

static const struct option long_opts[] = {
	{ "to", required_argument, NULL, OPT_TO },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
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
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct guest_opts go = GUEST_OPTS_INIT;
	struct xmig_send_params sp = XMIG_SEND_PARAMS_INIT;
	const char *to = NULL, *json = NULL;
	uint64_t connect_ms = 10000;
	int keep = 0, c, rc, file_mode;
	struct xmig_backend *b = NULL;
	struct xmig_transport *t = NULL;
	struct xmig_session *s = NULL;
	struct tool_report rep = { .role = "send", .guest_downtime_ms = -1 };

	opterr = 0;
	tool_name = "xmig-send";
	while ((c = getopt_long(argc, argv, ":qvh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_TO: to = optarg; break;
		case OPT_CONNECT_TIMEOUT: connect_ms = parse_duration_ms("--connect-timeout", optarg); break;
		case OPT_TIMEOUT:
			sp.timeout_ms = (uint32_t)parse_duration_ms("--timeout", optarg);
			if (!sp.timeout_ms)
				usage_error("--timeout must be positive");
			break;
		case OPT_BACKEND: go.backend = optarg; break;
		case OPT_MEM: go.mem = parse_size_arg("--mem", optarg); go.mem_set = 1; break;
		case OPT_VCPUS: go.vcpus = (uint32_t)parse_uint_arg("--vcpus", optarg, 1, 64); break;
		case OPT_RUN_BEFORE: go.run_before_ms = parse_duration_ms("--run-before", optarg); break;
		case OPT_DIRTY: go.dirty = optarg; break;
		case OPT_SEED: go.seed = parse_uint_arg("--seed", optarg, 0, UINT64_MAX); break;
		case OPT_GUEST: go.guest = optarg; break;
		case OPT_APPEND: go.append = optarg; break;
		case OPT_DOMAIN: go.domain = optarg; break;
		case OPT_XEN_SUSPEND: go.xen_suspend = optarg; break;
		case OPT_POLICY:
			if (!xmig_policy_lookup(optarg))
				usage_error("--policy: unknown policy '%s' (downtime, xen-classic)", optarg);
			sp.policy = optarg;
			break;
		case OPT_DOWNTIME:
			sp.target_downtime_ms = (uint32_t)parse_uint_arg("--downtime", optarg, 1, 3600000);
			break;
		case OPT_MAX_ROUNDS:
			sp.max_rounds = (uint32_t)parse_uint_arg("--max-rounds", optarg, 1, 100000);
			break;
		case OPT_MAX_TIME: sp.max_time_ms = (uint32_t)parse_duration_ms("--max-time", optarg); break;
		case OPT_NOCONV:
			if (!strcmp(optarg, "stop"))
				sp.on_no_converge = XMIG_NOCONV_STOP;
			else if (!strcmp(optarg, "abort"))
				sp.on_no_converge = XMIG_NOCONV_ABORT;
			else
				usage_error("--on-no-converge: '%s' is neither stop nor abort", optarg);
			break;
		case OPT_MAX_BW: sp.max_bandwidth = parse_rate_arg("--max-bandwidth", optarg); break;
		case OPT_VERIFY: sp.verify = 1; break;
		case OPT_KEEP: keep = 1; break;
		case OPT_JSON: json = optarg; break;
		case 'q': tool_verbosity = 0; break;
		case 'v': tool_verbosity++; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("%s (xmig) %s\n", tool_name, xmig_version()); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!to)
		usage_error("--to ADDRESS is required");
	file_mode = !strncmp(to, "file:", 5);
	if (keep && !file_mode)
		usage_error("--keep-running only makes sense with --to file:PATH");
	guest_opts_check_send(&go);

	sp.log_fn = tool_log;
	sp.log_level = XMIG_LOG_DEBUG;
	sp.progress_fn = tool_progress;
	rep.backend = go.backend;
	rep.transport = to;
	rep.policy = sp.policy;
	rep.target_downtime_ms = sp.target_downtime_ms;
	rep.verify = sp.verify;

	tool_signals();
	rc = guest_start(&go, &b);
	if (rc < 0) {
		guest_stop(&go, b);
		return tool_exit_status(EXIT_FAILED);
	}
	if (guest_run_for(&go, b, go.run_before_ms) < 0) {
		if (tool_interrupted)
			fprintf(stderr, "%s: interrupted (%s) before the migration: nothing was "
				"sent; %s\n", tool_name, strsignal(tool_interrupted),
				strcmp(go.backend, "xen") ? "the guest, which lives in this process, "
				"stops with it" : "the domain keeps running");
		guest_stop(&go, b);
		return tool_exit_status(EXIT_FAILED);
	}
	sp.annotate_fn = guest_annotate;
	sp.annotate_payload = &go;

	if (file_mode)
		rc = xmig_transport_file(&t, to + 5, 1);
	else
		rc = xmig_transport_connect(&t, to, (int)connect_ms);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		guest_stop(&go, b);
		return EXIT_FAILED;
	}
	rc = xmig_send_new(&s, b, t, &sp);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		guest_stop(&go, b);
		return EXIT_FAILED;
	}
	tool_running(s);
	rc = tool_interrupted ? XMIG_ECANCELED : xmig_session_run(s);
	tool_running(NULL);
	if (tool_interrupted && rc < 0)
		fprintf(stderr, "%s: interrupted (%s): the migration was cancelled; %s\n", tool_name,
			strsignal(tool_interrupted),
			rc == XMIG_EAMBIGUOUS ? "COMMIT had gone out (see below)"
					      : "the guest keeps running on the source");

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
	guest_report_send(&go, b, &rep);
	if (rc == 0 && file_mode) {
		if (keep) {
			if (b->ops->resume(b) < 0)
				fprintf(stderr, "%s: error: could not resume the guest after saving\n",
					tool_name);
		} else if (b->ops->destroy(b) < 0) {
			fprintf(stderr, "%s: error: the image is complete, but the paused guest could "
				"not be destroyed: %s\n", tool_name, xmig_error_last());
			rc = XMIG_ESRCLEFT;
		}
	}
	if (tool_verbosity > 0 || rc < 0)
		print_summary(rc < 0 ? stderr : stdout, &rep);
	if (json && write_json(json, &rep) < 0 && rc == 0)
		rc = -1;
	if (rc == XMIG_EAMBIGUOUS)
		fprintf(stderr, "%s: COMMIT went out but its confirmation did not come back: the "
			"guest most likely runs on the destination. The paused copy here lives in "
			"this process and ends with it; check the destination.\n", tool_name);
	xmig_session_free(s);
	xmig_transport_close(t);
	guest_stop(&go, b);
	if (rc == XMIG_ESRCLEFT)
		return EXIT_SRCLEFT;
	return tool_exit_status(rc < 0 ? EXIT_FAILED : 0);
}
