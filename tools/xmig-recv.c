/* SPDX-License-Identifier: MIT */
/* xmig-recv: receive a live migration (or restore a saved stream) and run it. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "endpoint.h"
#include "guests.h"
#include "tls_opts.h"
#include "toolutil.h"
#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"
#ifdef XMIG_HAVE_XEN
#include "xmig/backend/xen.h"
#endif

static const char usage_text[] =
	"Usage: xmig-recv [OPTIONS] (--listen ADDRESS | --from SOURCE)\n"
	"Receive a guest from xmig-send, restore it, and run it here.\n"
	"\n"
	"  --listen ADDRESS        HOST:PORT, [V6]:PORT or unix:PATH to accept a migration\n"
	"                          (a unix:PATH left by a receiver that ended is reported\n"
	"                          as a stale socket, never removed)\n"
	"  --from SOURCE           read the stream from SOURCE instead: file:PATH (saved\n"
	"                          with xmig-send --to file:PATH), - (stdin, e.g. a pipe\n"
	"                          from xmig-send --to -), fd:N (inherited descriptor\n"
	"                          N; a socket carries a live migration), or stdio (a\n"
	"                          live migration on stdin, answers on stdout: the far\n"
	"                          end of xmig-send --ssh; messages go to stderr)\n"
	"  --accept-timeout DUR    give up if no sender connects in DUR (default: wait).\n"
	"                          A connection that is not from an xmig sender (no\n"
	"                          valid header, a failed TLS handshake) is dropped,\n"
	"                          counted and logged, and the wait goes on\n"
	"  --timeout DUR           the longest one record of the stream may take to\n"
	"                          arrive, however its bytes trickle in (default 30s)\n"
	"  --min-rate RATE         after --timeout, each round (and the final state) must\n"
	"                          average RATE, e.g. 1M/s (default 1M/s; 0: no minimum)\n"
	"  --backend NAME          sim, kvm or xen (default: sim); must match the sender's\n"
	GUESTS_XEN_RECV_USAGE
	"  --max-mem SIZE          refuse larger guests (default: sim and kvm, 90% of this\n"
	"                          host's available memory; xen, 1T: Xen refuses itself\n"
	"                          what it cannot give)\n"
	"  --require-verify        refuse streams without a memory digest (and send one\n"
	"                          when forwarding)\n"
	"  --linger DUR            if the sender may not have learnt how the migration\n"
	"                          ended (its confirmation was lost), keep answering its\n"
	"                          outcome query on --listen for so long (default 60s;\n"
	"                          0: never)\n"
	"\n"
	TLS_OPTS_USAGE
	"                          (the receiver is the TLS server, on --listen or\n"
	"                          --from fd:N of a socket; --tls-peer-name names the\n"
	"                          one sender it accepts. A sender refused by TLS is\n"
	"                          dropped, with no guest started, and the wait goes on)\n"
	"\n"
	"After the migration:\n"
	"  --run-after DUR         run the guest this long, then check it with its own\n"
	"                          checker and stop (default 0)\n"
	"  --until-exit            kvm: run until the guest exits; its exit code and final\n"
	"                          self-check decide the verdict\n"
	"  --exit-timeout DUR      with --until-exit: give up after DUR (default 5m)\n"
	"  --forward-to ADDRESS    then migrate the guest on to ADDRESS (ping-pong)\n"
	"  --hops N                with --forward-to: receive N times, listening again after\n"
	"                          each forward (default 1)\n"
	"  --keep-last             with --hops: keep the guest of the last hop (do not\n"
	"                          forward it; --until-exit and --run-after then apply)\n"
	"\n"
	"Leftovers (xen):\n"
	"  --cleanup               put right what dead xmig processes (kill -9, a crash)\n"
	"                          left on this host: destroy destinations they created\n"
	"                          and never started, turn log-dirty off on running\n"
	"                          sources, report sources left stopped; then exit\n"
	"  --dry-run               with --cleanup: only report\n"
	"  --resume DOMID          with --cleanup: resume DOMID, a source left stopped,\n"
	"                          once you have seen that the destination does not run\n"
	"                          the guest\n"
	"\n"
	"Output:\n"
	"  --json FILE             write the results as JSON (- for stdout)\n"
	"  -q, --quiet             only errors and the verdict\n"
	"  -v, --verbose           engine log (twice: debug; thrice: every guest line)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"The whole command line is checked before the destination is set up. Exit\n"
	"status: 0 the guest arrived and passed its check, 1 the migration or the\n"
	"guest's check failed, 2 bad command line, 130/143 interrupted by SIGINT/SIGTERM\n"
	"(a migration under way is cancelled and its partial guest destroyed).\n";

enum {
	OPT_LISTEN = 256, OPT_FROM, OPT_ACCEPT_TIMEOUT, OPT_TIMEOUT, OPT_BACKEND, OPT_MAX_MEM,
	OPT_REQUIRE_VERIFY, OPT_RUN_AFTER, OPT_UNTIL_EXIT, OPT_FORWARD, OPT_HOPS, OPT_KEEP_LAST,
	OPT_EXIT_TIMEOUT, OPT_NAME, OPT_JSON, OPT_MIN_RATE, OPT_LINGER, OPT_CLEANUP, OPT_DRY_RUN,
	OPT_RESUME, OPT_PAUSED, OPT_KEEP_LISTENING,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "accept-timeout", required_argument, NULL, OPT_ACCEPT_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "max-mem", required_argument, NULL, OPT_MAX_MEM },
	{ "min-rate", required_argument, NULL, OPT_MIN_RATE },
	{ "require-verify", no_argument, NULL, OPT_REQUIRE_VERIFY },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "run-after", required_argument, NULL, OPT_RUN_AFTER },
	{ "until-exit", no_argument, NULL, OPT_UNTIL_EXIT },
	{ "forward-to", required_argument, NULL, OPT_FORWARD },
	{ "hops", required_argument, NULL, OPT_HOPS },
	{ "keep-last", no_argument, NULL, OPT_KEEP_LAST },
	{ "exit-timeout", required_argument, NULL, OPT_EXIT_TIMEOUT },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "resume", required_argument, NULL, OPT_RESUME },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "keep-listening", no_argument, NULL, OPT_KEEP_LISTENING },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	TLS_OPTS_LONG,
	{ NULL, 0, NULL, 0 },
};

struct opts {
	struct guest_opts go;
	struct xmig_recv_params rp;
	const char *listen_addr, *from, *json, *forward_to;
	int64_t accept_ms;
	uint64_t run_after_ms;
	uint64_t exit_timeout_ms;
	uint64_t linger_ms;
	int until_exit;
	int keep_last;
	int keep_listening;
	unsigned int hops;
	struct xmig_listener *listener; /* --keep-listening: one for every migration */
	int no_sender;                  /* the last wait ended with nobody connecting */
	struct endpoint from_ep; /* --from */
	struct tls_opts tls;
	FILE *out; /* summaries: stdout, or stderr when stdout carries the stream */
};

/* Does the guest received at `hop` move on? */
static int forwards(const struct opts *o, unsigned int hop)
{
	return o->forward_to && !(o->keep_last && hop + 1 == o->hops);
}

/* Send the guest in `b` on to `to`. Returns 0 or < 0 (the guest stays here). */
static int forward(struct opts *o, struct xmig_backend *b)
{
	struct xmig_send_params sp = XMIG_SEND_PARAMS_INIT;
	struct tool_report rep = { .role = "send", .guest_downtime_ms = -1 };
	struct xmig_transport *t;
	struct xmig_session *s;
	int rc;

	rc = xmig_transport_connect(&t, o->forward_to, 10000);
	if (rc < 0) {
		fprintf(stderr, "%s: error: forwarding: %s\n", tool_name, xmig_error_last());
		return rc;
	}
	sp.verify = o->rp.require_verify;
	sp.log_fn = tool_log;
	sp.log_level = XMIG_LOG_DEBUG;
	sp.progress_fn = tool_progress;
	sp.annotate_fn = guest_annotate;
	sp.annotate_payload = &o->go;
	rc = xmig_send_new(&s, b, t, &sp);
	if (rc < 0) {
		fprintf(stderr, "%s: error: forwarding: %s\n", tool_name, xmig_error_last());
		xmig_transport_close(t);
		return rc;
	}
	tool_running(s);
	rc = tool_interrupted ? XMIG_ECANCELED : xmig_session_run(s);
	tool_running(NULL);
	if (tool_interrupted && rc < 0)
		fprintf(stderr, "%s: interrupted (%s) during the migration: the partial "
			"destination was destroyed (the source keeps the guest)\n", tool_name,
			strsignal(tool_interrupted));
	rep.backend = o->go.backend;
	rep.transport = o->forward_to;
	rep.policy = sp.policy;
	rep.result = rc;
	rep.error = xmig_session_error(s);
	rep.stats = xmig_session_stats(s);
	rep.target_downtime_ms = sp.target_downtime_ms;
	rep.verify = sp.verify;
	if (tool_verbosity > 0 || rc < 0) {
		fprintf(rc < 0 ? stderr : o->out, "\n== forwarded to %s\n", o->forward_to);
		print_summary(rc < 0 ? stderr : o->out, &rep);
	}
	xmig_session_free(s);
	xmig_transport_close(t);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for a sender in slices, so that SIGINT/SIGTERM end the wait, until
 * `deadline` (mono_ms; < 0: none). *arrived: a connection came (its TLS
 * handshake may still have failed).
 */
static int accept_interruptible(const struct opts *o, struct xmig_listener *l,
				struct xmig_transport **t, int64_t deadline, int *arrived)
{
	int rc;

	for (;;) {
		int64_t left = deadline < 0 ? 200 : deadline - mono_ms();
		int slice = left > 200 ? 200 : left < 0 ? 0 : (int)left;

		*arrived = 0;
		if (tool_interrupted)
			return xmig_backend_error(XMIG_ECANCELED, "interrupted (%s) while waiting "
						  "for a sender: no guest was received",
						  strsignal(tool_interrupted));
		if (deadline >= 0 && left <= 0)
			return xmig_backend_error(XMIG_ETIMEDOUT, "no sender connected within "
						  "%lld ms (--accept-timeout)",
						  (long long)o->accept_ms);
		if (tls_opts_on(&o->tls)) {
			rc = tls_opts_accept(&o->tls, l, t, slice, arrived);
		} else {
			rc = xmig_listener_accept(l, t, slice);
			*arrived = rc == 0;
		}
		if (rc != XMIG_ETIMEDOUT || *arrived)
			return rc;
	}
}

/*
 * A connection that never carried a valid header (not an xmig stream,
 * nothing sent in time, closed at once): no guest was created for it, so a
 * listening receiver drops it and waits on, as it does after a failed TLS
 * handshake. A sender that said why it failed, or a header refused, ends
 * the wait.
 */
static int stray(struct xmig_session *s, int rc)
{
	return rc < 0 && rc != XMIG_EREMOTE && rc != XMIG_ECANCELED && !tool_interrupted &&
	       xmig_session_stats(s)->pages_total == 0;
}

/* why: NULL when the session's error line was just logged */
static void dropped(unsigned int *strays, const char *why)
{
	++*strays;
	fprintf(stderr, "%s: dropped connection %u, not an xmig sender%s%s; still listening\n",
		tool_name, *strays, why ? ": " : " (above)", why ? why : "");
}

static void close_stream(struct opts *o, struct xmig_transport *t)
{
	if (o->from)
		endpoint_close(&o->from_ep, t, 1);
	else
		xmig_transport_close(t);
}

/*
 * The sender may not know how the migration ended (its confirmation was
 * lost): keep the answer for its outcome query (docs/stream-format.md,
 * "Outcome queries") on the same address until it asks or --linger passes.
 * A query for another migration is told "unknown"; a new migration is
 * refused as busy.
 */
static void linger(const struct opts *o, struct xmig_listener *l,
		   const struct xmig_outcome_record *held)
{
	const char *what = held->outcome == XMIG_OUTCOME_RUNNING ? "runs here"
								 : "was not started here";
	int64_t deadline = mono_ms() + (int64_t)o->linger_ms;
	struct xmig_transport *t;
	int rc, arrived;

	fprintf(stderr, "%s: the sender did not confirm that it learnt the outcome (the guest "
		"%s); answering its query for up to %.0f s (--linger)\n", tool_name, what,
		(double)o->linger_ms / 1e3);
	for (;;) {
		rc = accept_interruptible(o, l, &t, deadline, &arrived);
		if (rc < 0 && arrived && !tool_interrupted)
			continue; /* its TLS handshake failed */
		if (rc < 0) {
			fprintf(stderr, "%s: %s: no query came; the sender %s\n", tool_name,
				tool_interrupted ? "interrupted" : "--linger passed",
				held->outcome == XMIG_OUTCOME_RUNNING
					? "may still hold a paused copy, to destroy there (the "
					  "guest runs here)"
					: "may still hold the guest paused, the only copy: resume it "
					  "there");
			return;
		}
		rc = xmig_outcome_answer(t, held, 5000);
		xmig_transport_close(t);
		if (rc == 1) {
			fprintf(stderr, "%s: the sender asked and was told that the guest %s\n",
				tool_name, what);
			return;
		}
		if (rc == 0)
			fprintf(stderr, "%s: answered a query for another migration (unknown "
				"here); still waiting for this one's\n", tool_name);
		else
			fprintf(stderr, "%s: dropped a connection that was no outcome query: %s\n",
				tool_name, xmig_error_last());
	}
}

/* A failure before any session: the JSON says so too (nothing was measured). */
static int early_failure(const struct opts *o, struct tool_report *rep, int rc)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", xmig_error_last());
	rep->backend = o->go.backend;
	rep->transport = o->listen_addr ? o->listen_addr : o->from;
	rep->result = rc < 0 ? rc : XMIG_EINVAL;
	rep->error = why;
	rep->stats = NULL;
	if (o->json)
		(o->keep_listening ? write_json_line : write_json)(o->json, rep);
	return rc;
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

/*
 * --paused: COMMIT left the guest paused here and the source is gone. A Xen
 * domain outlives this process: say how to start it and return 1. A sim or
 * kvm guest lives in this process: wait for SIGUSR1, then start it (0).
 */
static int start_when_told(const struct opts *o, struct xmig_session *s, struct xmig_backend *b)
{
	int rc;

#ifdef XMIG_HAVE_XEN
	if (!strcmp(o->go.backend, "xen")) {
		fprintf(stderr, "%s: d%u is committed here and left paused (--paused): `xl unpause "
			"%u` starts it\n", tool_name, xmig_xen_domid(b), xmig_xen_domid(b));
		return 1;
	}
#endif
	(void)o;
	(void)b;
	fprintf(stderr, "%s: the guest is committed here and paused (--paused; its source is "
		"gone): kill -USR1 %ld starts it\n", tool_name, (long)getpid());
	while (!usr1 && !tool_interrupted)
		tool_sleep_ms(20);
	usr1 = 0;
	if (tool_interrupted) {
		fprintf(stderr, "%s: interrupted (%s) before the guest was started: it was "
			"committed here, its source is gone, and it ends with this process\n",
			tool_name, strsignal(tool_interrupted));
		return XMIG_ECANCELED;
	}
	rc = xmig_session_unpause(s);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_session_error(s));
		return rc;
	}
	fprintf(stderr, "%s: started the guest (SIGUSR1)\n", tool_name);
	return 0;
}

/* Receive one guest into `b` and check it. Returns 0 or < 0. */
static int receive_one(struct opts *o, struct xmig_backend *b, unsigned int hop)
{
	struct tool_report rep = { .role = "recv", .guest_downtime_ms = -1 };
	struct xmig_listener *l = NULL;
	struct xmig_transport *t = NULL;
	struct xmig_session *s = NULL;
	struct xmig_outcome_record held;
	unsigned int strays = 0;
	int64_t deadline = -1;
	int rc, arrived;

	if (o->from) {
		rc = endpoint_open(&o->from_ep, &t, 0);
		if (rc < 0)
			return early_failure(o, &rep, rc);
	} else {
		if (o->listener) {
			l = o->listener;
		} else {
			rc = xmig_listener_open(&l, o->listen_addr);
			if (rc < 0) {
				fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
				return early_failure(o, &rep, rc);
			}
		}
		if (tool_verbosity > 0 || hop == 0)
			fprintf(stderr, "%s: listening on %s (port %u)\n", tool_name,
				o->listen_addr, xmig_listener_port(l));
		if (o->accept_ms >= 0)
			deadline = mono_ms() + o->accept_ms;
	}
	o->no_sender = 0;
	for (;;) {
		if (l) {
			rc = accept_interruptible(o, l, &t, deadline, &arrived);
			if (rc < 0 && arrived && !tool_interrupted) {
				dropped(&strays, xmig_error_last()); /* its TLS handshake failed */
				continue;
			}
			if (rc < 0 && o->keep_listening) {
				/* the end of a wait between migrations: no failure */
				o->no_sender = 1;
				fprintf(stderr, "%s: %s\n", tool_name, xmig_error_last());
				return rc;
			}
			if (rc < 0) {
				fprintf(stderr, "%s: error: %s%s\n", tool_name, xmig_error_last(),
					strays ? " (every connection so far was dropped)" : "");
				xmig_listener_close(l);
				return early_failure(o, &rep, rc);
			}
		}
		guest_forget(&o->go);
		rc = xmig_recv_new(&s, b, t, &o->rp);
		if (rc < 0) {
			fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
			close_stream(o, t);
			if (l && l != o->listener)
				xmig_listener_close(l);
			return early_failure(o, &rep, rc);
		}
		tool_running(s);
		rc = tool_interrupted ? XMIG_ECANCELED : xmig_session_run(s);
		tool_running(NULL);
		if (!l || !stray(s, rc))
			break;
		dropped(&strays, NULL);
		xmig_session_free(s);
		s = NULL;
		close_stream(o, t);
		t = NULL;
	}
	if (l && o->linger_ms && !tool_interrupted && xmig_session_unsettled(s, &held))
		linger(o, l, &held);
	if (l && l != o->listener)
		xmig_listener_close(l);
	if (tool_interrupted && rc < 0)
		fprintf(stderr, "%s: interrupted (%s) during the migration: the partial "
			"destination was destroyed (the source keeps the guest)\n", tool_name,
			strsignal(tool_interrupted));

	rep.backend = o->go.backend;
	rep.transport = o->listen_addr ? o->listen_addr : o->from;
	rep.result = rc;
	rep.error = xmig_session_error(s);
	rep.stats = xmig_session_stats(s);
	rep.verify = rep.stats->verified;
	if (rc == 0 && o->rp.start_paused) {
		rc = start_when_told(o, s, b);
		rep.result = rc < 0 ? rc : 0;
		if (rc < 0)
			rep.error = xmig_session_error(s)[0] ? xmig_session_error(s)
							       : "interrupted before the start";
	}
	if (rc == 1) {
		rc = 0; /* a Xen domain left paused: nothing runs here to check */
	} else if (rc == 0) {
		int until_exit = !forwards(o, hop) && o->until_exit;

		if (guest_after(&o->go, b, xmig_session_annotations(s),
				until_exit ? o->exit_timeout_ms : o->run_after_ms, until_exit,
				&rep) < 0) {
			rc = XMIG_EGUEST;
			rep.result = rc;
			rep.error = "the guest's own check failed after the migration";
		}
	}
	print_summary(rc < 0 ? stderr : o->out, &rep);
	if (o->json && (o->keep_listening ? write_json_line : write_json)(o->json, &rep) < 0 &&
	    rc == 0)
		rc = -1;
	xmig_session_free(s);
	close_stream(o, t);
	return rc;
}

/*
 * --keep-listening: one listener, one migration after another, a fresh
 * destination for each (the last guest stopped, or, a Xen domain, left
 * running). Ends on SIGINT/SIGTERM or an --accept-timeout between
 * migrations; 0 when every migration served succeeded.
 */
static int keep_listening(struct opts *o, struct xmig_backend *b)
{
	unsigned int served = 0, failed = 0;
	int rc, broken = 0;

	rc = xmig_listener_open(&o->listener, o->listen_addr);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		guest_stop(&o->go, b);
		return EXIT_FAILED;
	}
	for (;;) {
		rc = receive_one(o, b, served + failed);
		if (o->no_sender)
			break; /* interrupted or timed out while waiting: nothing lost */
		if (rc < 0)
			failed++;
		else
			served++;
		fprintf(stderr, "%s: %u migrations received, %u failed%s\n", tool_name, served,
			failed, tool_interrupted ? "" : "; listening for the next");
		guest_stop(&o->go, b);
		b = NULL;
		if (tool_interrupted)
			break;
		if (guest_dest(&o->go, &b) < 0) {
			broken = 1; /* no destination for the next one */
			break;
		}
	}
	guest_stop(&o->go, b);
	xmig_listener_close(o->listener);
	o->listener = NULL;
	fprintf(stderr, "%s: stopped listening: %u migrations received, %u failed\n", tool_name,
		served, failed);
	rc = failed || broken ? EXIT_FAILED : 0;
	/* a signal between migrations is the normal way to stop it */
	return o->no_sender ? rc : tool_exit_status(rc);
}

/* Every address and path of the command line, before the destination is set up. */
static void check_endpoints(struct opts *o)
{
	struct endpoint ep;

	if (o->from) {
		endpoint_parse(&o->from_ep, "--from", o->from, ENDPOINT_RECV, 0);
		tls_opts_check(&o->tls, &o->from_ep);
		o->from_ep.tls = &o->tls;
	} else {
		endpoint_parse(&ep, "--listen", o->listen_addr, ENDPOINT_LISTEN, 0);
		tls_opts_check(&o->tls, &ep);
	}
	/* Its credentials are a server's; forwarding would need a client's. */
	if (o->forward_to && tls_opts_on(&o->tls))
		usage_error("--forward-to: forwarding over TLS is not supported (%s applies to "
			    "the stream received)", o->tls.first);
	if (o->forward_to)
		endpoint_parse(&ep, "--forward-to", o->forward_to, ENDPOINT_CONNECT, 0);
	if (o->json && o->from && endpoint_holds(&o->from_ep, o->json))
		usage_error("--json %s: that is the stream being restored (--from %s)", o->json,
			    o->from);
	/* stdout carries the stream or the JSON: the text goes to stderr */
	o->out = o->from_ep.on_stdout || (o->json && !strcmp(o->json, "-")) ? stderr : stdout;
}

int main(int argc, char **argv)
{
	struct opts o = { .go = GUEST_OPTS_INIT, .rp = XMIG_RECV_PARAMS_INIT, .accept_ms = -1,
			  .hops = 1, .exit_timeout_ms = 300000, .linger_ms = 60000 };
	struct xmig_backend *b = NULL;
	unsigned int hop;
	int c, rc = 0, max_mem_set = 0, cleanup = 0, dry_run = 0, others = 0;
	const char *resume = NULL;

	opterr = 0;
	tool_name = "xmig-recv";
	tls_opts_init(&o.tls);
	while ((c = getopt_long(argc, argv, ":qvh", long_opts, NULL)) != -1) {
		others += c != OPT_CLEANUP && c != OPT_DRY_RUN && c != OPT_RESUME && c != 'q' &&
			  c != 'v';
		switch (c) {
		case OPT_CLEANUP: cleanup = 1; break;
		case OPT_DRY_RUN: dry_run = 1; break;
		case OPT_RESUME: resume = optarg; break;
		case OPT_LISTEN: o.listen_addr = optarg; break;
		case OPT_FROM: o.from = optarg; break;
		case OPT_ACCEPT_TIMEOUT:
			o.accept_ms = (int64_t)parse_duration_ms("--accept-timeout", optarg);
			break;
		case OPT_TIMEOUT:
			o.rp.timeout_ms = (uint32_t)parse_duration_ms("--timeout", optarg);
			if (!o.rp.timeout_ms)
				usage_error("--timeout must be positive");
			break;
		case OPT_BACKEND: o.go.backend = optarg; break;
		case OPT_MAX_MEM:
			o.rp.max_mem_bytes = parse_size_arg("--max-mem", optarg);
			max_mem_set = 1;
			break;
		case OPT_MIN_RATE:
			o.rp.min_rate = strcmp(optarg, "0") ? parse_rate_arg("--min-rate", optarg) : 0;
			break;
		case OPT_REQUIRE_VERIFY: o.rp.require_verify = 1; break;
		case OPT_LINGER: o.linger_ms = parse_duration_ms("--linger", optarg); break;
		case OPT_RUN_AFTER: o.run_after_ms = parse_duration_ms("--run-after", optarg); break;
		case OPT_UNTIL_EXIT: o.until_exit = 1; break;
		case OPT_FORWARD: o.forward_to = optarg; break;
		case OPT_HOPS: o.hops = (unsigned int)parse_uint_arg("--hops", optarg, 1, 100000); break;
		case OPT_KEEP_LAST: o.keep_last = 1; break;
		case OPT_PAUSED: o.rp.start_paused = 1; break;
		case OPT_KEEP_LISTENING: o.keep_listening = 1; break;
		case OPT_NAME: o.go.name = optarg; break;
		case OPT_EXIT_TIMEOUT:
			o.exit_timeout_ms = parse_duration_ms("--exit-timeout", optarg);
			break;
		case OPT_JSON: o.json = optarg; break;
		case 'q': tool_verbosity = 0; break;
		case 'v': tool_verbosity++; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("%s (xmig) %s\n", tool_name, xmig_version()); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default:
			if (!tls_opts_parse(&o.tls, c, optarg))
				usage_error("unknown option %s", argv[optind - 1]);
			break;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if ((dry_run || resume) && !cleanup)
		usage_error("%s is for --cleanup", dry_run ? "--dry-run" : "--resume");
	if (cleanup && others)
		usage_error("--cleanup takes no other options (but --dry-run, --resume, -q, -v)");
	if (cleanup && dry_run && resume)
		usage_error("--resume changes a domain: not with --dry-run");
	if (cleanup)
		return guest_cleanup(dry_run, resume);
	if (!!o.listen_addr == !!o.from)
		usage_error("give exactly one of --listen ADDRESS and --from SOURCE");
	if (o.hops > 1 && (!o.forward_to || o.from))
		usage_error("--hops needs --forward-to and --listen");
	if (o.keep_last && !o.forward_to)
		usage_error("--keep-last needs --forward-to");
	if (o.until_exit && o.forward_to && !o.keep_last)
		usage_error("--until-exit with --forward-to needs --keep-last");
	if (o.keep_listening && (!o.listen_addr || o.forward_to))
		usage_error("--keep-listening needs --listen (and no --forward-to)");
	if (o.rp.start_paused && o.forward_to)
		usage_error("--paused keeps the guest here: not with --forward-to");
	if (o.rp.start_paused && !strcmp(o.go.backend, "xen") && (o.run_after_ms || o.until_exit))
		usage_error("--paused with --backend xen leaves the domain to `xl unpause`: "
			    "--run-after and --until-exit do not apply");
	if (o.forward_to && !strncmp(o.forward_to, "file:", 5))
		usage_error("--forward-to takes a network address; use xmig-send to save");
	check_endpoints(&o);
	guest_opts_check_recv(&o.go);
	if (!max_mem_set && strcmp(o.go.backend, "xen") != 0) {
		/* A sim or kvm guest is this process's memory: it must fit. */
		uint64_t avail = xmig__host_mem_available();

		if (avail)
			o.rp.max_mem_bytes = avail / 10 * 9;
	}
	if (o.until_exit && strcmp(o.go.backend, "kvm") != 0)
		usage_error("--until-exit is for the kvm backend");

	o.rp.log_fn = tool_log;
	o.rp.log_level = XMIG_LOG_DEBUG;
	o.rp.progress_fn = tool_progress;
	tool_signals();

	if (guest_dest(&o.go, &b) < 0) {
		guest_stop(&o.go, b);
		return EXIT_FAILED;
	}
	if (o.rp.start_paused) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
	}
	if (o.keep_listening)
		return keep_listening(&o, b);
	for (hop = 0; hop < o.hops; hop++) {
		rc = receive_one(&o, b, hop);
		if (rc < 0 || !forwards(&o, hop))
			break;
		rc = forward(&o, b);
		if (rc < 0)
			break;
	}
	if (o.hops > 1)
		fprintf(stderr, "%s: %u of %u hops done%s\n", tool_name, rc < 0 ? hop : o.hops,
			o.hops, rc < 0 ? ", then a failure" : "");
	guest_stop(&o.go, b);
	return tool_exit_status(rc < 0 ? EXIT_FAILED : 0);
}
