/* SPDX-License-Identifier: MIT */
/* xmig-recv: receive a live migration (or restore a saved stream) and run it. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guests.h"
#include "toolutil.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"

static const char usage_text[] =
	"Usage: xmig-recv [OPTIONS] (--listen ADDRESS | --from file:PATH)\n"
	"Receive a guest from xmig-send, restore it, and run it here.\n"
	"\n"
	"  --listen ADDRESS        HOST:PORT, [V6]:PORT or unix:PATH to accept one migration\n"
	"  --from file:PATH        restore a stream saved with xmig-send --to file:PATH\n"
	"  --accept-timeout DUR    give up if no sender connects in DUR (default: wait)\n"
	"  --timeout DUR           max silence of the sender (default 30s)\n"
	"  --backend NAME          sim or kvm (default: sim); must match the sender's\n"
	"  --max-mem SIZE          refuse larger guests (default 64G)\n"
	"  --require-verify        refuse streams without a memory digest\n"
	"  --run-after DUR         after the migration, run the guest this long, then check\n"
	"                          it with its own checker and stop (default 0)\n"
	"\n"
	"Output:\n"
	"  --json FILE             write the results as JSON (- for stdout)\n"
	"  -q, --quiet             only errors and the verdict\n"
	"  -v, --verbose           engine log (twice: debug)\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 the guest arrived and passed its check, 1 the migration or the\n"
	"guest's check failed, 2 bad command line.\n";

enum {
	OPT_LISTEN = 256, OPT_FROM, OPT_ACCEPT_TIMEOUT, OPT_TIMEOUT, OPT_BACKEND, OPT_MAX_MEM,
	OPT_REQUIRE_VERIFY, OPT_RUN_AFTER, OPT_JSON,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "accept-timeout", required_argument, NULL, OPT_ACCEPT_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "max-mem", required_argument, NULL, OPT_MAX_MEM },
	{ "require-verify", no_argument, NULL, OPT_REQUIRE_VERIFY },
	{ "run-after", required_argument, NULL, OPT_RUN_AFTER },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static struct xmig_session *volatile running_session;

static void on_signal(int sig)
{
	(void)sig;
	if (running_session)
		xmig_session_cancel(running_session);
}

int main(int argc, char **argv)
{
	struct guest_opts go = GUEST_OPTS_INIT;
	struct xmig_recv_params rp = XMIG_RECV_PARAMS_INIT;
	const char *listen_addr = NULL, *from = NULL, *json = NULL;
	int64_t accept_ms = -1;
	uint64_t run_after_ms = 0;
	struct xmig_listener *l = NULL;
	struct xmig_backend *b = NULL;
	struct xmig_transport *t = NULL;
	struct xmig_session *s = NULL;
	struct tool_report rep = { .role = "recv", .guest_downtime_ms = -1 };
	int c, rc;

	opterr = 0;
	tool_name = "xmig-recv";
	rp.max_mem_bytes = 64ull << 30;
	while ((c = getopt_long(argc, argv, ":qvh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: listen_addr = optarg; break;
		case OPT_FROM: from = optarg; break;
		case OPT_ACCEPT_TIMEOUT:
			accept_ms = (int64_t)parse_duration_ms("--accept-timeout", optarg);
			break;
		case OPT_TIMEOUT:
			rp.timeout_ms = (uint32_t)parse_duration_ms("--timeout", optarg);
			if (!rp.timeout_ms)
				usage_error("--timeout must be positive");
			break;
		case OPT_BACKEND: go.backend = optarg; break;
		case OPT_MAX_MEM: rp.max_mem_bytes = parse_size_arg("--max-mem", optarg); break;
		case OPT_REQUIRE_VERIFY: rp.require_verify = 1; break;
		case OPT_RUN_AFTER: run_after_ms = parse_duration_ms("--run-after", optarg); break;
		case OPT_JSON: json = optarg; break;
		case 'q': tool_verbosity = 0; break;
		case 'v': tool_verbosity++; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!!listen_addr == !!from)
		usage_error("give exactly one of --listen ADDRESS and --from file:PATH");
	if (from && strncmp(from, "file:", 5) != 0)
		usage_error("--from takes file:PATH");
	if (strcmp(go.backend, "sim") != 0
#ifdef XMIG_HAVE_KVM
	    && strcmp(go.backend, "kvm") != 0
#endif
	)
		usage_error("--backend: unknown backend '%s'", go.backend);

	rp.log_fn = tool_log;
	rp.log_level = XMIG_LOG_DEBUG;
	rp.progress_fn = tool_progress;
	rep.backend = go.backend;
	rep.transport = listen_addr ? listen_addr : from;
	signal(SIGPIPE, SIG_IGN);

	if (from) {
		rc = xmig_transport_file(&t, from + 5, 0);
	} else {
		rc = xmig_listener_open(&l, listen_addr);
		if (rc == 0) {
			if (tool_verbosity > 0)
				fprintf(stderr, "%s: listening on %s (port %u)\n", tool_name,
					listen_addr, xmig_listener_port(l));
			rc = xmig_listener_accept(l, &t, (int)accept_ms);
			xmig_listener_close(l);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		return EXIT_FAILED;
	}
	if (guest_dest(&go, &b) < 0) {
		xmig_transport_close(t);
		return EXIT_FAILED;
	}
	rc = xmig_recv_new(&s, b, t, &rp);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		guest_stop(&go, b);
		xmig_transport_close(t);
		return EXIT_FAILED;
	}
	running_session = s;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = xmig_session_run(s);
	running_session = NULL;

	rep.result = rc;
	rep.error = xmig_session_error(s);
	rep.stats = xmig_session_stats(s);
	rep.verify = rep.stats->verified;
	if (rc == 0) {
		guest_report_recv(&go, b, &rep);
		if (guest_after(&go, b, run_after_ms, 0, &rep) < 0) {
			rc = XMIG_EGUEST;
			rep.result = rc;
			rep.error = "the guest's own check failed after the migration";
		}
	}
	if (tool_verbosity > 0 || rc < 0)
		print_summary(rc < 0 ? stderr : stdout, &rep);
	if (json && write_json(json, &rep) < 0 && rc == 0)
		rc = -1;
	xmig_session_free(s);
	xmig_transport_close(t);
	guest_stop(&go, b);
	return rc < 0 ? EXIT_FAILED : 0;
}
