/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "toolutil.h"
#include "xmig/sys/backend.h"

const char *tool_name = "xmig";
int tool_verbosity = 1;

static struct xmig_session *volatile running_session;

volatile sig_atomic_t tool_interrupted;

static void on_signal(int sig)
{
	tool_interrupted = sig;
	if (running_session)
		xmig_session_cancel(running_session);
}

void tool_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: a blocked wait returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int tool_exit_status(int rc_status)
{
	return tool_interrupted ? 128 + tool_interrupted : rc_status;
}

int tool_sleep_ms(uint64_t ms)
{
	while (ms && !tool_interrupted) {
		uint64_t n = ms < 100 ? ms : 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)n * 1000000 };

		nanosleep(&ts, NULL);
		ms -= n;
	}
	return tool_interrupted ? -1 : 0;
}

void tool_running(struct xmig_session *s)
{
	running_session = s;
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", tool_name);
	exit(EXIT_USAGE);
}

static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*out = v;
	return 0;
}

uint64_t parse_size_arg(const char *opt, const char *s)
{
	uint64_t v;

	if (xmig__parse_size(s, &v) < 0)
		usage_error("%s: '%s' is not a size (like 512M = 512MiB, 1G)", opt, s);
	return v;
}

uint64_t parse_rate_arg(const char *opt, const char *s)
{
	uint64_t v;

	if (xmig__parse_rate(s, &v) < 0)
		usage_error("%s: '%s' is not a rate (like 50M/s = 50MiB/s, 50MB/s, 10Gbit/s)",
			    opt, s);
	return v;
}

uint64_t parse_duration_ms(const char *opt, const char *s)
{
	const char *p;
	uint64_t v;

	if (parse_u64(s, &p, &v) < 0)
		usage_error("%s: '%s' is not a duration (like 500ms, 2s, 1m)", opt, s);
	if (!strcmp(p, "ms"))
		return v;
	if (!strcmp(p, "s") || !*p)
		return v * 1000;
	if (!strcmp(p, "m"))
		return v * 60000;
	usage_error("%s: '%s' is not a duration (like 500ms, 2s, 1m)", opt, s);
}

uint64_t parse_duration_us(const char *opt, const char *s)
{
	size_t n = strlen(s);
	char buf[64];

	if (n > 2 && !strcmp(s + n - 2, "us") && n < sizeof(buf)) {
		memcpy(buf, s, n - 2);
		buf[n - 2] = '\0';
		return parse_uint_arg(opt, buf, 0, UINT64_MAX / 1000);
	}
	return parse_duration_ms(opt, s) * 1000;
}

uint64_t parse_uint_arg(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	const char *p;
	uint64_t v;

	if (parse_u64(s, &p, &v) < 0 || *p || v < min || v > max)
		usage_error("%s: '%s' is not a number in %llu..%llu", opt, s,
			    (unsigned long long)min, (unsigned long long)max);
	return v;
}

void tool_log(int level, const char *msg, void *payload)
{
	static const char *names[] = { "error", "warning", "info", "debug" };

	(void)payload;
	if (level == XMIG_LOG_INFO && tool_verbosity < 2)
		return;
	if (level > XMIG_LOG_INFO && tool_verbosity < 3)
		return;
	fprintf(stderr, "%s: %s: %s\n", tool_name, names[level & 3], msg);
}

const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ull << 30))
		snprintf(buf, len, "%.2f GiB", (double)b / (double)(1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)b / (double)(1ull << 20));
	else if (b >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)b / 1024.0);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	return buf;
}

/*
 * One line a round (on a terminal rewritten about every 100 ms): what is left
 * of the round, the data so far, the rate of this round so far (the engine's
 * own measurement comes only at its end), the time since the start and, live,
 * the downtime the policy expects if it stopped now.
 */
void tool_progress(const struct xmig_progress *p, void *payload)
{
	static const char *phases[] = { "setup", "live", "stop-and-copy", "commit", "done" };
	static uint32_t round = UINT32_MAX;
	static uint64_t round_bytes, round_ns;
	int tty = isatty(STDERR_FILENO);
	int end = p->round_pages_done == p->round_pages;
	char b[32], rate[32], dt[48] = "";
	double s;

	(void)payload;
	if (p->round != round) {
		round = p->round;
		round_bytes = p->bytes;
		round_ns = p->elapsed_ns;
	}
	if (tool_verbosity < 1 || (!tty && !end))
		return;
	s = (double)(p->elapsed_ns - round_ns) / 1e9;
	if (end && p->bandwidth > 0)
		snprintf(rate, sizeof(rate), "%.0f MB/s", p->bandwidth / 1e6);
	else if (s >= 0.05)
		snprintf(rate, sizeof(rate), "%.0f MB/s", (double)(p->bytes - round_bytes) / s / 1e6);
	else
		snprintf(rate, sizeof(rate), "- MB/s");
	if (p->phase == XMIG_PHASE_LIVE && p->expected_downtime_ns)
		snprintf(dt, sizeof(dt), ", expected downtime ~%.0f ms",
			 (double)p->expected_downtime_ns / 1e6);
	fprintf(stderr, "%s%s: %.1f s, round %u (%s): %llu/%llu pages, %s on the wire, %s%s%s",
		tty ? "\r\033[K" : "", tool_name, (double)p->elapsed_ns / 1e9, p->round,
		phases[p->phase % 5], (unsigned long long)p->round_pages_done,
		(unsigned long long)p->round_pages, fmt_bytes(p->bytes, b, sizeof(b)), rate, dt,
		end || !tty ? "\n" : "");
	fflush(stderr);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void print_summary(FILE *f, const struct tool_report *r)
{
	const struct xmig_stats *st = r->stats;
	const struct xmig_downtime *tl = &st->timeline;
	uint64_t base = tl->pause_requested;
	char b1[32];
	uint32_t i;

	if (tool_verbosity == 0) /* -q: errors were logged; the verdict alone */
		goto verdict;
	if (st->nr_rounds)
		fprintf(f, "\n%-6s %-6s %10s %10s %10s %12s %10s %10s %12s\n", "round", "kind",
			"dirty", "sent", "zero", "bytes", "ms", "MB/s", "dirty pg/s");
	for (i = 0; i < st->nr_rounds; i++) {
		const struct xmig_round_stats *rs = &st->rounds[i];

		fprintf(f, "%-6u %-6s %10llu %10llu %10llu %12llu %10.2f %10.1f %12.0f\n",
			rs->round, rs->final ? "final" : "live", (unsigned long long)rs->pages_dirty,
			(unsigned long long)rs->pages_sent, (unsigned long long)rs->pages_zero,
			(unsigned long long)rs->bytes, ms(rs->duration_ns), rs->bandwidth / 1e6,
			rs->dirty_rate);
	}
	if (!strcmp(r->role, "send") && base) {
		fprintf(f, "\ndowntime breakdown (ms after the pause request):\n");
		fprintf(f, "  paused            %8.3f\n", ms(tl->paused - base));
		if (tl->last_page_sent)
			fprintf(f, "  last page sent    %8.3f\n", ms(tl->last_page_sent - base));
		if (tl->state_sent)
			fprintf(f, "  state sent        %8.3f%s\n", ms(tl->state_sent - base),
				st->digest_ns ? "  (includes the --verify digest)" : "");
		if (tl->receiver_ready)
			fprintf(f, "  receiver ready    %8.3f\n", ms(tl->receiver_ready - base));
		if (tl->commit_sent)
			fprintf(f, "  commit sent       %8.3f\n", ms(tl->commit_sent - base));
		if (tl->dest_running)
			fprintf(f, "  dest running      %8.3f\n", ms(tl->dest_running - base));
	} else if (!strcmp(r->role, "recv") && tl->state_sent) {
		fprintf(f, "\nreceiver timeline (ms after the final round ended):\n");
		base = tl->last_page_sent;
		fprintf(f, "  stream complete   %8.3f\n", ms(tl->state_sent - base));
		if (tl->receiver_ready)
			fprintf(f, "  ready sent        %8.3f\n", ms(tl->receiver_ready - base));
		if (tl->commit_sent)
			fprintf(f, "  commit received   %8.3f\n", ms(tl->commit_sent - base));
		if (tl->dest_running)
			fprintf(f, "  guest running     %8.3f\n", ms(tl->dest_running - base));
	}
	fprintf(f, "\ntotal time   %.3f s\n", (double)st->total_ns / 1e9);
	fprintf(f, "bytes        %llu (%s)\n", (unsigned long long)st->bytes,
		fmt_bytes(st->bytes, b1, sizeof(b1)));
	fprintf(f, "rounds       %u\n", st->nr_rounds);
	if (st->downtime_ns)
		fprintf(f, "downtime     %.3f ms (engine; target %.0f ms; %s)\n", ms(st->downtime_ns),
			r->target_downtime_ms, st->converged ? "converged" : "forced stop");
	if (st->downtime_ns && st->digest_ns && st->digest_ns < st->downtime_ns) {
		/* The receiver hashes its copy meanwhile; when it is the slower of
		 * the two, the sender waits for READY: --verify's cost as well. */
		uint64_t wait = tl->receiver_ready > tl->state_sent && tl->state_sent
					? tl->receiver_ready - tl->state_sent
					: 0;
		uint64_t rest = st->downtime_ns - st->digest_ns;

		rest = wait < rest ? rest - wait : 0;
		fprintf(f, "             %.3f ms of it hashing memory for --verify here, %.3f ms "
			"waiting for READY (the receiver's own hash, then its restore): %.3f ms "
			"without them\n", ms(st->digest_ns), ms(wait), ms(rest));
	}
	if (r->guest_downtime_ms >= 0)
		fprintf(f, "guest-seen   %.3f ms (from the source's last heartbeat, %llu, to the "
			"first here, %llu)\n", r->guest_downtime_ms,
			(unsigned long long)r->hb_src_seq, (unsigned long long)r->hb_first_seq);
	if (r->hb_count)
		fprintf(f, "heartbeats   %llu here, largest gap between them %.3f ms\n",
			(unsigned long long)r->hb_count, r->hb_max_gap_ms);
	if (r->verify)
		fprintf(f, "verify       %s\n", st->verified ? "memory digest matches" :
			!strcmp(r->role, "send") ? "checked by the receiver" : "not checked");
	if (r->verify && st->pages_excluded)
		fprintf(f, "             %llu frames left out: written after the pause by a device "
			"back end, not the guest\n", (unsigned long long)st->pages_excluded);
	if (r->guest_check)
		fprintf(f, "guest check  %s\n", r->guest_check);
	if (st->resolved)
		fprintf(f, "outcome      learnt by query (DONE was lost; downtime not measured)\n");
verdict:
	fprintf(f, "verdict      %s%s%s\n", r->result ? "FAILED" : "OK", r->result ? ": " : "",
		r->result ? r->error : "");
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A figure, or null when it is 0 and 0 means "did not happen / not known". */
static void json_ms_or_null(FILE *f, uint64_t ns)
{
	if (ns)
		fprintf(f, "%.3f", (double)ns / 1e6);
	else
		fputs("null", f);
}

void json_str_or_null(FILE *f, const char *s)
{
	if (s && *s)
		json_str(f, s);
	else
		fputs("null", f);
}

/*
 * The sender does not hash the receiver's copy: a success with --verify means
 * the receiver found the digests equal (it sends ERROR otherwise), a
 * mismatch reaches it as the receiver's error. A failure before any
 * comparison (the receiver's included: its stream ended before a digest) is
 * null, not false: nothing was found unequal.
 */
static const char *verified_json(const struct tool_report *r, int send)
{
	int mismatch = r->result == XMIG_EVERIFY ||
		       (r->error && strstr(r->error, "(XMIG_EVERIFY)"));

	if (!send && r->stats->verified)
		return "true";
	if (send && !r->verify)
		return "false";
	if (!r->result)
		return send ? "true" : "false";
	return mismatch ? "false" : "null";
}

/* docs/json.md is the schema; tests/json_check.py checks every tool against it. */
static int json_to(FILE *f, const struct tool_report *r);

int write_json(const char *path, const struct tool_report *r)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;

	if (!f) {
		fprintf(stderr, "%s: error: cannot write %s: %s\n", tool_name, path,
			strerror(errno));
		return -1;
	}
	json_to(f, r);
	if (f == stdout)
		fflush(f);
	if (f != stdout && fclose(f) != 0) {
		fprintf(stderr, "%s: error: writing %s: %s\n", tool_name, path, strerror(errno));
		return -1;
	}
	return 0;
}

int write_json_line(const char *path, const struct tool_report *r)
{
	char *buf = NULL, *w, *c;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len), *f;
	int rc = 0;

	if (!m) {
		fprintf(stderr, "%s: error: no memory for the JSON result\n", tool_name);
		return -1;
	}
	json_to(m, r);
	fclose(m);
	/* one line: a newline and the indentation after it are layout only (a
	 * string holds no raw newline: they are escaped) */
	for (w = c = buf; *c; c++) {
		if (*c == '\n') {
			while (c[1] == ' ')
				c++;
			continue;
		}
		*w++ = *c;
	}
	*w = '\0';
	f = strcmp(path, "-") ? fopen(path, "a") : stdout;
	if (!f || fprintf(f, "%s\n", buf) < 0 || fflush(f) != 0) {
		fprintf(stderr, "%s: error: writing %s: %s\n", tool_name, path, strerror(errno));
		rc = -1;
	}
	if (f && f != stdout && fclose(f) != 0 && rc == 0) {
		fprintf(stderr, "%s: error: writing %s: %s\n", tool_name, path, strerror(errno));
		rc = -1;
	}
	free(buf);
	return rc;
}

static int json_to(FILE *f, const struct tool_report *r)
{
	static const struct xmig_stats none;
	const struct xmig_stats *st = r->stats ? r->stats : &none;
	const struct xmig_downtime *tl = &st->timeline;
	struct tool_report rr = *r;
	int send = !strcmp(r->role, "send");
	const struct {
		const char *name;
		uint64_t ns;
	} moments[] = { { "pause_requested", tl->pause_requested }, { "paused", tl->paused },
			{ "last_page_sent", tl->last_page_sent }, { "state_sent", tl->state_sent },
			{ "receiver_ready", tl->receiver_ready }, { "commit_sent", tl->commit_sent },
			{ "dest_running", tl->dest_running } };
	uint32_t i;

	rr.stats = st;
	fprintf(f, "{\n  \"schema\": %d,\n  \"tool\": \"xmig-%s\",\n  \"role\": \"%s\",\n"
		"  \"version\": \"%s\",\n  \"backend\": ", XMIG_TOOL_JSON_SCHEMA, r->role, r->role,
		xmig_version());
	json_str_or_null(f, r->backend);
	fprintf(f, ",\n  \"transport\": ");
	json_str_or_null(f, r->transport);
	fprintf(f, ",\n  \"policy\": ");
	json_str_or_null(f, send ? r->policy : NULL);
	fprintf(f, ",\n  \"ok\": %s,\n  \"error\": ", r->result ? "false" : "true");
	json_str_or_null(f, r->result ? (r->error && *r->error ? r->error : "failed") : NULL);
	fprintf(f, ",\n  \"error_code\": ");
	json_str_or_null(f, r->result ? xmig_error_name(r->result) : NULL);
	fprintf(f, ",\n  \"guest_pages\": ");
	if (st->pages_total)
		fprintf(f, "%llu", (unsigned long long)st->pages_total);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"page_size\": ");
	if (st->page_size)
		fprintf(f, "%u", st->page_size);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"total_ms\": %.3f,\n  \"bytes\": %llu,\n  \"rounds\": %u,\n",
		(double)st->total_ns / 1e6, (unsigned long long)st->bytes, st->nr_rounds);
	fprintf(f, "  \"downtime_ms\": ");
	json_ms_or_null(f, send ? st->downtime_ns : 0);
	fprintf(f, ",\n  \"target_downtime_ms\": ");
	if (send)
		fprintf(f, "%.1f", r->target_downtime_ms);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"guest_downtime_ms\": ");
	if (r->guest_downtime_ms >= 0)
		fprintf(f, "%.3f", r->guest_downtime_ms);
	else
		fprintf(f, "null");
	fprintf(f, ",\n  \"heartbeat\": {\"source_last_seq\": %llu, \"source_last_realtime_ns\": "
		"%llu, \"dest_first_seq\": %llu, \"dest_count\": %llu, \"dest_max_gap_ms\": %.3f}",
		(unsigned long long)(r->hb_last_seq ? r->hb_last_seq : r->hb_src_seq),
		(unsigned long long)r->hb_last_ns, (unsigned long long)r->hb_first_seq,
		(unsigned long long)r->hb_count, r->hb_max_gap_ms);
	/* converged: the sender's policy's verdict, once the live phase ended */
	fprintf(f, ",\n  \"converged\": %s,\n  \"verify_requested\": %s,\n  \"verified\": %s,\n",
		!send || !tl->pause_requested ? "null" : st->converged ? "true" : "false",
		r->verify ? "true" : "false", verified_json(&rr, send));
	fprintf(f, "  \"digest_ms\": ");
	json_ms_or_null(f, st->digest_ns);
	fprintf(f, ",\n  \"verify_excluded_pages\": %llu", (unsigned long long)st->pages_excluded);
	fprintf(f, ",\n  \"guest_check\": ");
	json_str_or_null(f, r->guest_check);
	fprintf(f, ",\n  \"outcome_by_query\": %s", st->resolved ? "true" : "false");
	fprintf(f, ",\n  \"timeline_ms\": {");
	for (i = 0; i < sizeof(moments) / sizeof(moments[0]); i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "", moments[i].name);
		json_ms_or_null(f, moments[i].ns);
	}
	fprintf(f, "},\n  \"per_round\": [\n");
	for (i = 0; i < st->nr_rounds; i++) {
		const struct xmig_round_stats *rs = &st->rounds[i];

		fprintf(f, "    {\"round\": %u, \"final\": %s, \"pages_dirty\": %llu, "
			"\"pages_sent\": %llu, \"pages_zero\": %llu, \"pages_absent\": %llu, "
			"\"bytes\": %llu, \"start_ms\": %.3f, \"duration_ms\": %.3f, "
			"\"bandwidth_Bps\": %.0f, \"dirty_rate_pps\": %.0f}%s\n",
			rs->round, rs->final ? "true" : "false", (unsigned long long)rs->pages_dirty,
			(unsigned long long)rs->pages_sent, (unsigned long long)rs->pages_zero,
			(unsigned long long)rs->pages_absent, (unsigned long long)rs->bytes,
			ms(rs->start_ns), ms(rs->duration_ns), rs->bandwidth, rs->dirty_rate,
			i + 1 < st->nr_rounds ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return 0;
}

/* ---- a stream whose first bytes were looked at ---- */

static int pre_read(struct xmig_transport *t, void *buf, size_t len, int timeout_ms)
{
	struct prefixed_transport *p = (struct prefixed_transport *)t;
	size_t n = p->head_len - p->head_pos;

	if (n > len)
		n = len;
	memcpy(buf, p->head + p->head_pos, n);
	p->head_pos += n;
	if (n == len)
		return 0;
	return p->inner->ops->read(p->inner, (uint8_t *)buf + n, len - n, timeout_ms);
}

static int pre_writev(struct xmig_transport *t, const struct iovec *iov, int iovcnt)
{
	(void)t;
	(void)iov;
	(void)iovcnt;
	return xmig_backend_error(XMIG_ENOTSUP, "this stream is read-only");
}

static void pre_shutdown(struct xmig_transport *t)
{
	struct prefixed_transport *p = (struct prefixed_transport *)t;

	p->inner->ops->shutdown(p->inner);
}

static void pre_close(struct xmig_transport *t)
{
	struct prefixed_transport *p = (struct prefixed_transport *)t;

	xmig_transport_close(p->inner);
}

static const struct xmig_transport_ops prefixed_ops = {
	.version = XMIG_TRANSPORT_OPS_VERSION, .name = "prefixed", .writev = pre_writev,
	.read = pre_read, .shutdown = pre_shutdown, .close = pre_close,
};

void prefixed_init(struct prefixed_transport *p, struct xmig_transport *inner,
		   const void *head, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->base.ops = &prefixed_ops;
	p->base.flags = inner->flags & ~XMIG_TRANSPORT_DUPLEX;
	p->inner = inner;
	if (len > sizeof(p->head))
		len = sizeof(p->head);
	memcpy(p->head, head, len);
	p->head_len = len;
}
