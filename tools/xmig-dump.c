/* SPDX-License-Identifier: MIT */
/*
 * xmig-dump: print the records of a saved xmig stream, checking it with the
 * same strict decoder the receiver uses.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "stream/stream.h"
#include "toolutil.h"
#include "xmig/transport.h"

static const char usage_text[] =
	"Usage: xmig-dump [OPTIONS] FILE\n"
	"Print the records of a saved xmig stream (FILE, or - for stdin) and check it\n"
	"with the receiver's strict decoder. An `xl save` file made through\n"
	"xmig-xl-helper is read too: xl's header, libxl's records, and the xmig\n"
	"stream between them.\n"
	"\n"
	"  -p, --pages     list every page entry (pfn and encoding)\n"
	"  -s, --summary   only the header and one line per round\n"
	"      --json FILE what was found, as JSON (docs/json.md; - for stdout, the\n"
	"                  text then going to stderr); written when invalid too\n"
	"  -h, --help      this text\n"
	"      --version   the version\n"
	"\n"
	"Exit status: 0 the stream is complete and valid, 1 it is not (the first\n"
	"problem is printed), 2 bad command line.\n";

static const char *kind_name(uint32_t k)
{
	static const char *names[] = { "?", "sim", "kvm-pvh", "xen-pvh", "xen-hvm", "xen-pv" };

	return k < XMIG__ARRAY_SIZE(names) ? names[k] : "?";
}

static const char *enc_name(unsigned int e)
{
	return e == XMIG_PAGE_FULL ? "full" : e == XMIG_PAGE_ZERO ? "zero" : "absent";
}

/* Where the text goes: stdout, or stderr when the JSON takes stdout. */
static FILE *txt;

/* What --json reports (docs/json.md, "xmig-dump"). */
struct dump_round {
	uint32_t round;
	int final;
	uint64_t pages, bytes, full, zero, absent;
	double duration_ms;
};

static struct {
	const char *format;   /* "xmig" or "xl" */
	int have_header;
	struct xmig_guest_info info;
	uint32_t version, flags;
	uint64_t records, bytes, state_records;
	int digest, ended;
	char sender_error[600];
	struct dump_round *rounds;
	size_t nr_rounds, cap;
	char error[600];
} sum;

/* The first problem, printed and kept for the JSON. */
static void derr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void derr(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: error: %s\n", tool_name, msg);
	if (!sum.error[0])
		snprintf(sum.error, sizeof(sum.error), "%s", msg);
}

struct round_tally {
	uint64_t batches, full, zero, absent, bytes;
	uint64_t lo, hi;
};

/* ---- `xl save` files: xl's header, libxl's records, xmig's stream inside ---- */

/* tools/xl/xl.h: 32 bytes of magic, then u32 byteorder, mandatory and
 * optional flags and the optional data's length, native. */
#define XL_MAGIC "Xen saved domain, xl format\n \0 \r"
#define XL_BYTEORDER 0x01020304u
#define LIBXL_IDENT "LibxlFmt"
enum { LIBXL_END = 0, LIBXL_LIBXC_CONTEXT = 1, LIBXL_MAX_BODY = 16 << 20 };

static const char *libxl_rec_name(uint32_t type)
{
	static const char *names[] = { "END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA",
				       "EMULATOR_CONTEXT", "CHECKPOINT_END", "CHECKPOINT_STATE" };

	return type < XMIG__ARRAY_SIZE(names) ? names[type] : "unknown";
}

static int xl_read(struct xmig_transport *t, void *buf, size_t len, uint64_t *at,
		   const char *what)
{
	if (t->ops->read(t, buf, len, -1) < 0) {
		derr("the xl save file ends inside %s at offset 0x%llx", what, (unsigned long long)*at);
		return -1;
	}
	*at += len;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One libxl record (docs/specs/libxl-migration-stream.pandoc): its type. */
static int libxl_record(struct xmig_transport *t, uint64_t *at, uint32_t *type)
{
	uint8_t h[8], skip[4096];
	uint64_t start = *at, left;
	uint32_t len;

	if (xl_read(t, h, sizeof(h), at, "a libxl record header"))
		return -1;
	*type = xmig__le32(h);
	len = xmig__le32(h + 4);
	if (len > LIBXL_MAX_BODY) {
		derr("libxl record %s at offset 0x%llx: length %u", libxl_rec_name(*type), (unsigned long long)start, len);
		return -1;
	}
	for (left = XMIG__ALIGN_UP((uint64_t)len, 8); left; ) {
		size_t n = left < sizeof(skip) ? (size_t)left : sizeof(skip);

		if (xl_read(t, skip, n, at, "a libxl record"))
			return -1;
		left -= n;
	}
	fprintf(txt, "libxl @0x%-10llx %-22s %8u bytes\n", (unsigned long long)start,
	       libxl_rec_name(*type), len);
	return 0;
}

/* Everything before the xmig stream; *at = its offset in the file. */
static int xl_prelude(struct xmig_transport *t, uint64_t *at)
{
	uint8_t magic[32], h[16], lh[16], cfg[4096];
	uint32_t v[4], type, cfg_len = 0;
	uint64_t left;

	*at = 0;
	if (xl_read(t, magic, sizeof(magic), at, "xl's header") ||
	    xl_read(t, h, sizeof(h), at, "xl's header"))
		return -1;
	if (memcmp(magic, XL_MAGIC, sizeof(magic))) {
		derr("not an xl save file (bad magic)");
		return -1;
	}
	memcpy(v, h, sizeof(v));
	if (v[0] != XL_BYTEORDER) {
		derr("xl save file of another byte order (0x%08x)", v[0]);
		return -1;
	}
	for (left = v[3]; left; ) {
		size_t n = left < sizeof(cfg) ? (size_t)left : sizeof(cfg);

		if (xl_read(t, cfg, n, at, "xl's optional data"))
			return -1;
		if (left == v[3] && n >= 4)
			memcpy(&cfg_len, cfg, 4);
		left -= n;
	}
	fprintf(txt, "xl save file: flags mandatory 0x%x optional 0x%x, %u bytes of optional data "
	       "(domain config %u bytes%s)\n", v[1], v[2], v[3], cfg_len,
	       v[1] & 2 ? ", JSON" : "");
	if (xl_read(t, lh, sizeof(lh), at, "libxl's header"))
		return -1;
	if (memcmp(lh, LIBXL_IDENT, 8) || be32(lh + 8) != 2 || (be32(lh + 12) & 1)) {
		derr("at offset 0x%llx: not a libxl stream v2 (little-"
			"endian)", (unsigned long long)(*at - sizeof(lh)));
		return -1;
	}
	fprintf(txt, "libxl stream v2, options 0x%x\n", be32(lh + 12));
	do {
		if (libxl_record(t, at, &type))
			return -1;
		if (type == LIBXL_END) {
			derr("libxl's stream ends without a LIBXC_CONTEXT: "
				"no domain memory in this file");
			return -1;
		}
	} while (type != LIBXL_LIBXC_CONTEXT);
	fprintf(txt, "xmig stream at offset 0x%llx (offsets below are within it):\n",
	       (unsigned long long)*at);
	return 0;
}

/* libxl's records after the xmig stream, to its END and the file's end. */
static int xl_trailer(struct xmig_transport *t, uint64_t at)
{
	uint32_t type;
	uint8_t extra;

	do {
		if (libxl_record(t, &at, &type))
			return -1;
	} while (type != LIBXL_END);
	if (t->ops->read(t, &extra, 1, -1) != XMIG_EEOF) {
		derr("data after libxl's END at offset 0x%llx", (unsigned long long)at);
		return -1;
	}
	fprintf(txt, "xl save file: %llu bytes, complete and valid\n", (unsigned long long)at);
	return 0;
}

/* A ROUND_END: the round as the JSON reports it (an allocation failure only
 * shortens the JSON's list, which then says so by its count). */
static void keep_round(const struct xmig__item *it, const struct round_tally *t)
{
	struct dump_round *d;

	if (sum.nr_rounds == sum.cap) {
		size_t cap = sum.cap ? sum.cap * 2 : 64;
		void *p = realloc(sum.rounds, cap * sizeof(*sum.rounds));

		if (!p)
			return;
		sum.rounds = p;
		sum.cap = cap;
	}
	d = &sum.rounds[sum.nr_rounds++];
	d->round = it->u.round_end.round;
	d->final = !!(it->u.round_end.flags & XMIG_ROUND_F_FINAL);
	d->pages = it->u.round_end.pages;
	d->bytes = it->u.round_end.bytes;
	d->duration_ms = (double)it->u.round_end.duration_ns / 1e6;
	d->full = t->full;
	d->zero = t->zero;
	d->absent = t->absent;
}

/* The object of docs/json.md's "xmig-dump" section; 0, or -1 if unwritable. */
static int write_dump_json(const char *path, const char *input, int ok)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	const struct xmig_guest_info *gi = &sum.info;

	if (!f) {
		fprintf(stderr, "%s: error: cannot write %s: %s\n", tool_name, path,
			strerror(errno));
		return -1;
	}
	fprintf(f, "{\"schema\": %d, \"tool\": \"xmig-dump\", \"version\": ",
		XMIG_TOOL_JSON_SCHEMA);
	json_str(f, xmig_version());
	fprintf(f, ", \"input\": ");
	json_str(f, input);
	fprintf(f, ", \"format\": ");
	json_str_or_null(f, sum.format);
	fprintf(f, ", \"ok\": %s, \"error\": ", ok ? "true" : "false");
	json_str_or_null(f, ok ? NULL : sum.error[0] ? sum.error : "invalid");
	if (sum.have_header) {
		fprintf(f, ", \"header\": {\"version\": %u, \"guest_kind\": \"%s\", "
			"\"backend\": ", sum.version, kind_name(gi->guest_kind));
		json_str(f, gi->backend);
		fprintf(f, ", \"guest_pages\": %llu, \"page_size\": %u, \"vcpus\": %u, "
			"\"digest\": %s, \"duplex\": %s}", (unsigned long long)gi->nr_pages,
			gi->page_size, gi->nr_vcpus,
			sum.flags & XMIG_HDR_F_DIGEST ? "true" : "false",
			sum.flags & XMIG_HDR_F_DUPLEX ? "true" : "false");
	} else {
		fprintf(f, ", \"header\": null");
	}
	fprintf(f, ", \"records\": %llu, \"bytes\": %llu, \"state_records\": %llu, "
		"\"digest_record\": %s, \"end\": %s, \"sender_error\": ",
		(unsigned long long)sum.records, (unsigned long long)sum.bytes,
		(unsigned long long)sum.state_records, sum.digest ? "true" : "false",
		sum.ended ? "true" : "false");
	json_str_or_null(f, sum.sender_error);
	fprintf(f, ", \"rounds\": %zu, \"per_round\": [", sum.nr_rounds);
	for (size_t i = 0; i < sum.nr_rounds; i++) {
		const struct dump_round *d = &sum.rounds[i];

		fprintf(f, "%s\n  {\"round\": %u, \"final\": %s, \"pages\": %llu, "
			"\"pages_full\": %llu, \"pages_zero\": %llu, \"pages_absent\": %llu, "
			"\"bytes\": %llu, \"duration_ms\": %.3f}", i ? "," : "", d->round,
			d->final ? "true" : "false", (unsigned long long)d->pages,
			(unsigned long long)d->full, (unsigned long long)d->zero,
			(unsigned long long)d->absent, (unsigned long long)d->bytes,
			d->duration_ms);
	}
	fprintf(f, "]}\n");
	if (fflush(f) || (f != stdout && fclose(f))) {
		fprintf(stderr, "%s: error: writing %s: %s\n", tool_name, path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Decode one xmig stream from `t` (to END). With `whole`, nothing may
 * follow it. 0, or -1 with the problem printed.
 */
static int dump_xmig(struct xmig_transport *t, int pages, int summary, int whole,
		     uint64_t *consumed)
{
	struct xmig__reader r;
	struct xmig__decoder d;
	struct xmig__rec rec;
	struct xmig__item it = { 0 };
	struct round_tally tally = { .lo = UINT64_MAX };
	uint64_t records = 0;
	int rc;

	xmig__reader_init(&r, t);
	xmig__decoder_init(&d);
	for (;;) {
		rc = xmig__rec_read(&r, &rec, -1);
		if (records == 0 && (rc == XMIG_EPROTO || rc == XMIG_ECHECKSUM ||
				     (rc == XMIG_EEOF && r.first_len &&
				      xmig__le32(r.first) != XMIG_REC_HEADER) ||
				     (rc == 0 && rec.type != XMIG_REC_HEADER)))
			rc = xmig__reader_not_a_stream(&r);
		if (rc < 0)
			break;
		records++;
		rc = xmig__decoder_feed(&d, &rec, &it);
		if (rc < 0)
			break;
		if (!summary || rec.type == XMIG_REC_HEADER || rec.type == XMIG_REC_ROUND_END ||
		    rec.type == XMIG_REC_END)
			fprintf(txt, "#%-6llu @0x%-10llx %-15s %8u bytes", (unsigned long long)rec.index,
			       (unsigned long long)rec.offset, xmig__rec_name(rec.type), rec.length);
		if (rc == 1) {
			fprintf(txt, "  (optional, skipped)\n");
			continue;
		}
		switch (it.type) {
		case XMIG_REC_HEADER: {
			const struct xmig_guest_info *gi = &it.u.header.info;

			sum.have_header = 1;
			sum.info = *gi;
			sum.version = it.u.header.version;
			sum.flags = it.u.header.flags;

			fprintf(txt, "  v%u %s guest (%s backend): %llu pages of %u bytes (%llu MiB), "
			       "%u vCPUs%s%s\n", it.u.header.version, kind_name(gi->guest_kind),
			       gi->backend, (unsigned long long)gi->nr_pages, gi->page_size,
			       (unsigned long long)((gi->nr_pages * gi->page_size) >> 20),
			       gi->nr_vcpus, it.u.header.flags & XMIG_HDR_F_DIGEST ? ", digest" : "",
			       it.u.header.flags & XMIG_HDR_F_DUPLEX ? ", duplex" : ", one-way");
			break;
		}
		case XMIG_REC_PAGE_BATCH: {
			const struct xmig__batch *bt = &it.u.batch;
			uint64_t first = xmig__le64(bt->entries) & XMIG_ENTRY_PFN_MASK;
			uint64_t last = xmig__le64(bt->entries + 8ull * (bt->count - 1)) &
					XMIG_ENTRY_PFN_MASK;
			uint32_t i, zero = 0, absent = 0;

			for (i = 0; i < bt->count; i++) {
				unsigned int e = XMIG_ENTRY_ENC(xmig__le64(bt->entries + 8ull * i));

				zero += e == XMIG_PAGE_ZERO;
				absent += e == XMIG_PAGE_ABSENT;
			}
			tally.batches++;
			tally.full += bt->nr_full;
			tally.zero += zero;
			tally.absent += absent;
			tally.bytes += rec.length + XMIG_REC_HDR_SIZE;
			tally.lo = first < tally.lo ? first : tally.lo;
			tally.hi = last > tally.hi ? last : tally.hi;
			if (summary)
				break;
			fprintf(txt, "  round %u: %u pages (%u full, %u zero, %u absent), pfn 0x%llx..0x%llx\n",
			       bt->round, bt->count, bt->nr_full, zero, absent,
			       (unsigned long long)first, (unsigned long long)last);
			for (i = 0; pages && i < bt->count; i++) {
				uint64_t e = xmig__le64(bt->entries + 8ull * i);

				fprintf(txt, "    pfn 0x%llx %s\n", (unsigned long long)(e & XMIG_ENTRY_PFN_MASK),
				       enc_name(XMIG_ENTRY_ENC(e)));
			}
			break;
		}
		case XMIG_REC_ROUND_END:
			keep_round(&it, &tally);
			fprintf(txt, "  round %u%s: %llu pages, %llu bytes, %.3f ms",
			       it.u.round_end.round,
			       it.u.round_end.flags & XMIG_ROUND_F_FINAL ? " (final)" : "",
			       (unsigned long long)it.u.round_end.pages,
			       (unsigned long long)it.u.round_end.bytes,
			       (double)it.u.round_end.duration_ns / 1e6);
			if (tally.batches)
				fprintf(txt, " [%llu batches: %llu full, %llu zero, %llu absent, pfn "
				       "0x%llx..0x%llx]", (unsigned long long)tally.batches,
				       (unsigned long long)tally.full, (unsigned long long)tally.zero,
				       (unsigned long long)tally.absent, (unsigned long long)tally.lo,
				       (unsigned long long)tally.hi);
			fprintf(txt, "\n");
			memset(&tally, 0, sizeof(tally));
			tally.lo = UINT64_MAX;
			break;
		case XMIG_REC_VCPU_STATE:
		case XMIG_REC_PLATFORM_STATE:
			sum.state_records++;
			if (summary)
				break;
			if (it.u.state.vcpu == XMIG_STATE_PLATFORM)
				fprintf(txt, "  platform state type %u, %zu bytes\n", it.u.state.type,
				       it.u.state.len);
			else
				fprintf(txt, "  vCPU %u state type %u, %zu bytes\n", it.u.state.vcpu,
				       it.u.state.type, it.u.state.len);
			break;
		case XMIG_REC_DIGEST:
			sum.digest = 1;
			if (summary)
				break;
			fprintf(txt, "  XXH3-128 over %llu pages: %016llx%016llx\n",
			       (unsigned long long)it.u.digest.pages,
			       (unsigned long long)xmig__le64(it.u.digest.digest + 8),
			       (unsigned long long)xmig__le64(it.u.digest.digest));
			if (it.u.digest.nr_ranges)
				fprintf(txt, "  %llu frames left out in %llu ranges (written after "
					"the pause by a device), the first at pfn 0x%llx\n",
					(unsigned long long)it.u.digest.excluded,
					(unsigned long long)it.u.digest.nr_ranges,
					(unsigned long long)xmig__le64(it.u.digest.ranges));
			break;
		case XMIG_REC_ERROR:
			fprintf(txt, "  the sender failed: %s\n", it.u.error.message);
			snprintf(sum.sender_error, sizeof(sum.sender_error), "%s",
				 it.u.error.message);
			break;
		case XMIG_REC_END:
			sum.ended = 1;
			fprintf(txt, "\n");
			break;
		}
		if (d.phase == XMIG_DEC_ENDED)
			break;
	}
	if (rc < 0) {
		derr("%s", xmig_error_last());
	} else if (it.type == XMIG_REC_ERROR) {
		derr("the stream ends with the sender's ERROR: %s", it.u.error.message);
		rc = -1;
	} else {
		/* The input is the whole stream: anything after END is an error
		 * (the library's rule, as xmig-recv applies it). */
		if (whole && xmig__reader_check_end(&r, -1) < 0) {
			derr("%s", xmig_error_last());
			rc = -1;
		} else {
			fprintf(txt, "%llu records, %llu bytes: complete and valid\n",
			       (unsigned long long)records, (unsigned long long)r.bytes);
		}
	}
	*consumed = r.bytes;
	sum.records = records;
	sum.bytes = r.bytes;
	xmig__reader_fini(&r);
	return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", no_argument, NULL, 'p' },
		{ "summary", no_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint8_t libxc_marker[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	int pages = 0, summary = 0, c, rc;
	const char *json = NULL;
	struct prefixed_transport pt;
	struct xmig_transport *t;
	uint8_t head[8];
	uint64_t consumed = 0, at = 0;
	opterr = 0;
	tool_name = "xmig-dump";
	while ((c = getopt_long(argc, argv, ":psh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pages = 1; break;
		case 's': summary = 1; break;
		case 'j': json = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("%s (xmig) %s\n", tool_name, xmig_version()); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("give exactly one FILE");
	txt = json && !strcmp(json, "-") ? stderr : stdout;
	if (!strcmp(argv[optind], "-"))
		rc = xmig_transport_fd(&t, STDIN_FILENO, -1, XMIG_FD_WHOLE);
	else
		rc = xmig_transport_file(&t, argv[optind], 0);
	if (rc < 0) {
		derr("%s", xmig_error_last());
		goto out;
	}
	/* What the input starts with: an xmig stream, an `xl save` file around
	 * one, or a stream of Xen's own helper. */
	if (t->ops->read(t, head, sizeof(head), -1) < 0) {
		derr("the input ends within its first %zu bytes: not a "
			"stream", sizeof(head));
		xmig_transport_close(t);
		rc = -1;
		goto out;
	}
	prefixed_init(&pt, t, head, sizeof(head));
	t = &pt.base;
	if (!memcmp(head, libxc_marker, sizeof(head))) {
		sum.format = "libxenguest";
		derr("a libxenguest stream (xc_domain_save, \"XENF\"), not "
			"xmig's: saved or sent by Xen's own save helper");
		rc = -1;
	} else if (!memcmp(head, XL_MAGIC, sizeof(head))) {
		sum.format = "xl";
		rc = xl_prelude(t, &at);
		if (rc == 0)
			rc = dump_xmig(t, pages, summary, 0, &consumed);
		if (rc == 0)
			rc = xl_trailer(t, at + consumed);
	} else {
		sum.format = "xmig";
		rc = dump_xmig(t, pages, summary, 1, &consumed);
	}
	xmig_transport_close(t);
out:
	if (json && write_dump_json(json, argv[optind], rc == 0) < 0)
		rc = -1;
	free(sum.rounds);
	return rc < 0 ? EXIT_FAILED : 0;
}
