/* SPDX-License-Identifier: MIT */
/*
 * xmig-simulate: policy studies at sizes no test machine has.
 *
 * A model, not a migration: a guest of N pages dirtied by a model (uniform
 * over memory, a hot set, a sequential sweep, at a rate), a link of given
 * bandwidth and round-trip time, and the library's own stop policies
 * (xmig_policy_*), fed the same inputs the engine feeds them. Each round
 * sends the pages dirty at its start; while it is on the wire the guest
 * dirties the expected number of distinct pages: h * (1 - exp(-r t / h)) for
 * r page writes per second spread uniformly over h pages (a sweep: r t, at
 * most h). Everything is expected values: deterministic, and instant even
 * for a 1 TiB guest on a 100 Gbit/s link.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "toolutil.h"

static const char usage_text[] =
	"Usage: xmig-simulate [OPTIONS]\n"
	"Model a pre-copy migration and run xmig's stop policies on it (no guest, no\n"
	"network: expected values of a model, computed instantly at any size).\n"
	"\n"
	"  --mem SIZE              guest memory (default 1T)\n"
	"  --link RATE             link bandwidth, e.g. 100Gbit/s, 12GB/s, 11GiB/s\n"
	"                          (default 10Gbit/s)\n"
	"  --rtt DUR               round trip, e.g. 200us, 1ms (default 200us)\n"
	"  --dirty MODEL           uniform:RATE | hot:SIZE:RATE | seq:RATE (default\n"
	"                          hot:MEM/64:2G/s, i.e. hot:16G:2G/s for 1T); RATE in\n"
	"                          bytes/s of page writes\n"
	"  --zero-percent N        share of pages that are all zero (default 25)\n"
	"  --pause-cost DUR        pause + state + resume on the other side (default 2ms)\n"
	"  --policy NAME           downtime (default), xen-classic, or both\n"
	"  --downtime MS           target downtime (default 50)\n"
	"  --max-rounds N          (default 30)\n"
	"  --on-no-converge WHAT   stop (default) or abort\n"
	"  --json FILE             write the rounds and the outcome as JSON (docs/json.md;\n"
	"                          - for stdout, the text then going to stderr)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n";

#define PAGE 4096.0

struct model {
	double nr_pages, hot_pages, writes_per_s;
	int seq;
};

/* Distinct pages the model dirties in `t` seconds. */
static double dirtied(const struct model *m, double t)
{
	double w = m->writes_per_s * t;

	if (m->seq)
		return w < m->hot_pages ? w : m->hot_pages;
	return m->hot_pages * (1.0 - exp(-w / m->hot_pages));
}

struct sim_round {
	double pages, bytes, seconds, dirtied;
	int decision;
};

struct outcome {
	struct sim_round r[1024];
	int n, aborted, converged;
	double downtime, total, bytes;
};

static void run(const struct model *m, double link, double rtt, double zero, double pause_cost,
		xmig_policy_fn fn, const struct xmig_policy_input *limits, struct outcome *o)
{
	double dirty = m->nr_pages, prev, elapsed = 0, bytes = 0, live_bytes = 0, live_s = 0;
	uint32_t stalled = 0;

	memset(o, 0, sizeof(*o));
	for (;;) {
		struct sim_round *r = &o->r[o->n++];
		struct xmig_policy_input in = *limits;
		/* round 0 meets the zero pages; later rounds send data pages only */
		double full = o->n == 1 ? dirty * (1.0 - zero) : dirty;

		r->pages = dirty;
		r->bytes = full * (PAGE + 8) + (dirty - full) * 8;
		r->seconds = r->bytes / link + rtt;
		r->dirtied = dirtied(m, r->seconds);
		elapsed += r->seconds;
		bytes += r->bytes;
		live_bytes += r->bytes;
		live_s += r->seconds;
		prev = dirty;
		dirty = r->dirtied;

		in.rounds_done = (uint32_t)o->n;
		in.dirty_pages = (uint64_t)dirty;
		in.nr_pages = (uint64_t)m->nr_pages;
		in.page_size = 4096;
		in.bandwidth = live_bytes / live_s;
		in.dirty_rate = dirty / r->seconds;
		in.elapsed_ns = (uint64_t)(elapsed * 1e9);
		in.bytes_sent = (uint64_t)bytes;
		in.fixed_cost_ns = (uint64_t)((pause_cost + rtt) * 1e9);
		xmig_policy_derive(&in, (uint64_t)prev, &stalled);
		r->decision = xmig_policy_decide(fn, &in, NULL);
		if (r->decision == XMIG_POLICY_CONTINUE && o->n >= 1023)
			r->decision = XMIG_POLICY_STOP;
		if (r->decision == XMIG_POLICY_ABORT) {
			o->aborted = 1;
			o->total = elapsed;
			o->bytes = bytes;
			return;
		}
		if (r->decision == XMIG_POLICY_STOP) {
			o->converged = in.expected_downtime_ns <= in.target_downtime_ns;
			break;
		}
	}
	/* stop-and-copy: the pages dirty at the decision, then state and commit */
	o->downtime = dirty * (PAGE + 8) / link + pause_cost + rtt;
	o->bytes = bytes + dirty * (PAGE + 8);
	o->total = elapsed + o->downtime;
}

static void print(FILE *f, const char *policy, const struct outcome *o)
{
	static const char *what[] = { "continue", "stop", "abort" };
	char b[32];
	int i;

	fprintf(f, "\npolicy %s\n%-6s %14s %14s %12s %14s  %s\n", policy, "round", "pages",
	       "bytes", "seconds", "dirtied", "then");
	for (i = 0; i < o->n; i++)
		fprintf(f, "%-6d %14.0f %14.0f %12.4f %14.0f  %s\n", i, o->r[i].pages, o->r[i].bytes,
		       o->r[i].seconds, o->r[i].dirtied, what[o->r[i].decision % 3]);
	if (o->aborted) {
		fprintf(f, "outcome: ABORTED after %.2f s and %s: the guest stays on the source\n",
		       o->total, fmt_bytes((uint64_t)o->bytes, b, sizeof(b)));
		return;
	}
	fprintf(f, "outcome: downtime %.2f ms (%s), total %.2f s, %s on the wire, %d live rounds\n",
	       o->downtime * 1e3, o->converged ? "within target" : "target missed", o->total,
	       fmt_bytes((uint64_t)o->bytes, b, sizeof(b)), o->n);
}

/* One result of docs/json.md's xmig-simulate object (schema 1). */
static void json_outcome(FILE *f, const char *policy, const struct outcome *o)
{
	static const char *what[] = { "continue", "stop", "abort" };
	int i;

	fprintf(f, "    {\"policy\": \"%s\", \"aborted\": %s, \"converged\": %s, ", policy,
		o->aborted ? "true" : "false",
		o->aborted ? "null" : o->converged ? "true" : "false");
	if (o->aborted)
		fprintf(f, "\"downtime_ms\": null, ");
	else
		fprintf(f, "\"downtime_ms\": %.3f, ", o->downtime * 1e3);
	fprintf(f, "\"total_ms\": %.3f, \"bytes\": %.0f, \"live_rounds\": %d, \"per_round\": [",
		o->total * 1e3, o->bytes, o->n);
	for (i = 0; i < o->n; i++)
		fprintf(f, "%s\n      {\"round\": %d, \"pages\": %.0f, \"bytes\": %.0f, "
			"\"duration_ms\": %.6f, \"dirtied\": %.0f, \"then\": \"%s\"}",
			i ? "," : "", i, o->r[i].pages, o->r[i].bytes, o->r[i].seconds * 1e3,
			o->r[i].dirtied, what[o->r[i].decision % 3]);
	fprintf(f, "]}");
}

static void parse_model(const char *s, struct model *m)
{
	char buf[128], *a, *b;

	if (strlen(s) >= sizeof(buf))
		usage_error("--dirty: too long");
	strcpy(buf, s);
	a = strchr(buf, ':');
	if (!a)
		usage_error("--dirty: '%s' is not uniform:RATE, hot:SIZE:RATE or seq:RATE", s);
	*a++ = '\0';
	if (!strcmp(buf, "hot")) {
		b = strchr(a, ':');
		if (!b)
			usage_error("--dirty: hot takes SIZE:RATE");
		*b++ = '\0';
		m->hot_pages = (double)(parse_size_arg("--dirty", a) / 4096);
		a = b;
		if (m->hot_pages < 1 || m->hot_pages > m->nr_pages)
			usage_error("--dirty: the hot set must be 1 page to --mem");
	} else if (!strcmp(buf, "uniform") || !strcmp(buf, "seq")) {
		m->hot_pages = m->nr_pages;
		m->seq = !strcmp(buf, "seq");
	} else {
		usage_error("--dirty: unknown model '%s'", buf);
	}
	m->writes_per_s = (double)parse_rate_arg("--dirty", a) / PAGE;
}


int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "link", required_argument, NULL, 'l' },
		{ "rtt", required_argument, NULL, 'r' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "zero-percent", required_argument, NULL, 'z' },
		{ "pause-cost", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'p' },
		{ "downtime", required_argument, NULL, 't' },
		{ "max-rounds", required_argument, NULL, 'n' },
		{ "on-no-converge", required_argument, NULL, 'a' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct xmig_policy_input limits = { .target_downtime_ns = 50000000ull, .max_rounds = 30 };
	struct model m = { 0 };
	const char *dirty = NULL, *policy = "downtime", *json = NULL;
	char dirty_default[64];
	double link = 1250e6, rtt_us = 200, zero = 0.25, pause_us = 2000;
	static struct outcome o[2];
	const char *names[2];
	FILE *out, *jf = NULL;
	int c, i, n = 0;
	uint64_t mem = 1ull << 40;

	opterr = 0;
	tool_name = "xmig-simulate";
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mem = parse_size_arg("--mem", optarg); break;
		case 'l': link = (double)parse_rate_arg("--link", optarg); break;
		case 'r': rtt_us = (double)parse_duration_us("--rtt", optarg); break;
		case 'd': dirty = optarg; break;
		case 'z': zero = (double)parse_uint_arg("--zero-percent", optarg, 0, 100) / 100; break;
		case 'c': pause_us = (double)parse_duration_us("--pause-cost", optarg); break;
		case 'p': policy = optarg; break;
		case 't':
			limits.target_downtime_ns =
				parse_uint_arg("--downtime", optarg, 1, 3600000) * 1000000ull;
			break;
		case 'n': limits.max_rounds = (uint32_t)parse_uint_arg("--max-rounds", optarg, 1, 1000); break;
		case 'a':
			if (!strcmp(optarg, "abort"))
				limits.on_no_converge = XMIG_NOCONV_ABORT;
			else if (strcmp(optarg, "stop") != 0)
				usage_error("--on-no-converge: '%s' is neither stop nor abort", optarg);
			break;
		case 'j': json = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("%s (xmig) %s\n", tool_name, xmig_version()); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (mem < 4096 || link < 1)
		usage_error("--mem and --link must be positive");
	m.nr_pages = (double)(mem / 4096);
	if (!dirty) {
		/* a hot set of 1/64 of memory (at least a page), whatever the size */
		uint64_t hot = mem / 64 < 4096 ? 4096 : mem / 64 / 4096 * 4096;

		if (hot % (1u << 30) == 0)
			snprintf(dirty_default, sizeof(dirty_default), "hot:%lluG:2G/s",
				 (unsigned long long)(hot >> 30));
		else if (hot % (1u << 20) == 0)
			snprintf(dirty_default, sizeof(dirty_default), "hot:%lluM:2G/s",
				 (unsigned long long)(hot >> 20));
		else
			snprintf(dirty_default, sizeof(dirty_default), "hot:%llu:2G/s",
				 (unsigned long long)hot);
		dirty = dirty_default;
	}
	parse_model(dirty, &m);
	if (!strcmp(policy, "both")) {
		names[n++] = "xen-classic";
		names[n++] = "downtime";
	} else if (xmig_policy_lookup(policy)) {
		names[n++] = policy;
	} else {
		usage_error("--policy: unknown policy '%s' (downtime, xen-classic, both)", policy);
	}

	/* with --json -, the JSON alone on stdout: the text goes to stderr */
	out = json && !strcmp(json, "-") ? stderr : stdout;
	if (json && strcmp(json, "-")) {
		jf = fopen(json, "w");
		if (!jf) {
			fprintf(stderr, "%s: error: cannot write %s: %s\n", tool_name, json,
				strerror(errno));
			return EXIT_FAILED;
		}
	} else if (json) {
		jf = stdout;
	}
	fprintf(out, "model: %.0f pages (%s), link %.2f GB/s, rtt %.0f us, dirty %s, "
		"%.0f%% zero pages\n", m.nr_pages, fmt_bytes(mem, (char[32]){ 0 }, 32),
		link / 1e9, rtt_us, dirty, zero * 100);
	for (i = 0; i < n; i++) {
		run(&m, link, rtt_us / 1e6, zero, pause_us / 1e6, xmig_policy_lookup(names[i]),
		    &limits, &o[i]);
		print(out, names[i], &o[i]);
	}
	if (jf) {
		fprintf(jf, "{\n  \"schema\": %d, \"tool\": \"%s\", \"version\": \"%s\",\n",
			XMIG_TOOL_JSON_SCHEMA, tool_name, xmig_version());
		fprintf(jf, "  \"model\": {\"mem_bytes\": %llu, \"page_size\": 4096, "
			"\"link_Bps\": %.0f, \"rtt_ms\": %.3f, \"dirty\": \"%s\", "
			"\"zero_fraction\": %.2f, \"pause_cost_ms\": %.3f},\n",
			(unsigned long long)mem, link, rtt_us / 1e3, dirty, zero, pause_us / 1e3);
		fprintf(jf, "  \"limits\": {\"target_downtime_ms\": %.3f, \"max_rounds\": %u, "
			"\"on_no_converge\": \"%s\"},\n  \"results\": [\n",
			(double)limits.target_downtime_ns / 1e6, limits.max_rounds,
			limits.on_no_converge == XMIG_NOCONV_ABORT ? "abort" : "stop");
		for (i = 0; i < n; i++) {
			json_outcome(jf, names[i], &o[i]);
			fprintf(jf, i + 1 < n ? ",\n" : "\n");
		}
		fprintf(jf, "  ]\n}\n");
		if (fflush(jf) || (jf != stdout && fclose(jf))) {
			fprintf(stderr, "%s: error: writing %s: %s\n", tool_name, json,
				strerror(errno));
			return EXIT_FAILED;
		}
	}
	return 0;
}
