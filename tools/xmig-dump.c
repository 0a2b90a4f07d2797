/* SPDX-License-Identifier: MIT */
/*
 * xmig-dump: print the records of a saved xmig stream, checking it with the
 * same strict decoder the receiver uses.
 */
#include <getopt.h>
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
	"with the receiver's strict decoder.\n"
	"\n"
	"  -p, --pages     list every page entry (pfn and encoding)\n"
	"  -s, --summary   only the header and one line per round\n"
	"  -h, --help      this text\n"
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

struct round_tally {
	uint64_t batches, full, zero, absent, bytes;
	uint64_t lo, hi;
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", no_argument, NULL, 'p' },
		{ "summary", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int pages = 0, summary = 0, c, rc;
	struct xmig_transport *t;
	struct xmig__reader r;
	struct xmig__decoder d;
	struct xmig__rec rec;
	struct xmig__item it;
	struct round_tally tally = { .lo = UINT64_MAX };
	uint64_t records = 0;

	opterr = 0;
	tool_name = "xmig-dump";
	while ((c = getopt_long(argc, argv, ":psh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pages = 1; break;
		case 's': summary = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case ':': usage_error("%s needs an argument", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("give exactly one FILE");
	if (!strcmp(argv[optind], "-"))
		rc = xmig_transport_fd(&t, STDIN_FILENO, -1, XMIG_FD_WHOLE);
	else
		rc = xmig_transport_file(&t, argv[optind], 0);
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
		return EXIT_FAILED;
	}
	xmig__reader_init(&r, t);
	xmig__decoder_init(&d);
	for (;;) {
		rc = xmig__rec_read(&r, &rec, -1);
		if (rc < 0)
			break;
		records++;
		rc = xmig__decoder_feed(&d, &rec, &it);
		if (rc < 0)
			break;
		if (!summary || rec.type == XMIG_REC_HEADER || rec.type == XMIG_REC_ROUND_END ||
		    rec.type == XMIG_REC_END)
			printf("#%-6llu @0x%-10llx %-15s %8u bytes", (unsigned long long)rec.index,
			       (unsigned long long)rec.offset, xmig__rec_name(rec.type), rec.length);
		if (rc == 1) {
			printf("  (optional, skipped)\n");
			continue;
		}
		switch (it.type) {
		case XMIG_REC_HEADER: {
			const struct xmig_guest_info *gi = &it.u.header.info;

			printf("  v%u %s guest (%s backend): %llu pages of %u bytes (%llu MiB), "
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
			printf("  round %u: %u pages (%u full, %u zero, %u absent), pfn 0x%llx..0x%llx\n",
			       bt->round, bt->count, bt->nr_full, zero, absent,
			       (unsigned long long)first, (unsigned long long)last);
			for (i = 0; pages && i < bt->count; i++) {
				uint64_t e = xmig__le64(bt->entries + 8ull * i);

				printf("    pfn 0x%llx %s\n", (unsigned long long)(e & XMIG_ENTRY_PFN_MASK),
				       enc_name(XMIG_ENTRY_ENC(e)));
			}
			break;
		}
		case XMIG_REC_ROUND_END:
			printf("  round %u%s: %llu pages, %llu bytes, %.3f ms",
			       it.u.round_end.round,
			       it.u.round_end.flags & XMIG_ROUND_F_FINAL ? " (final)" : "",
			       (unsigned long long)it.u.round_end.pages,
			       (unsigned long long)it.u.round_end.bytes,
			       (double)it.u.round_end.duration_ns / 1e6);
			if (tally.batches)
				printf(" [%llu batches: %llu full, %llu zero, %llu absent, pfn "
				       "0x%llx..0x%llx]", (unsigned long long)tally.batches,
				       (unsigned long long)tally.full, (unsigned long long)tally.zero,
				       (unsigned long long)tally.absent, (unsigned long long)tally.lo,
				       (unsigned long long)tally.hi);
			printf("\n");
			memset(&tally, 0, sizeof(tally));
			tally.lo = UINT64_MAX;
			break;
		case XMIG_REC_VCPU_STATE:
		case XMIG_REC_PLATFORM_STATE:
			if (summary)
				break;
			if (it.u.state.vcpu == XMIG_STATE_PLATFORM)
				printf("  platform state type %u, %zu bytes\n", it.u.state.type,
				       it.u.state.len);
			else
				printf("  vCPU %u state type %u, %zu bytes\n", it.u.state.vcpu,
				       it.u.state.type, it.u.state.len);
			break;
		case XMIG_REC_DIGEST:
			if (summary)
				break;
			printf("  XXH3-128 over %llu pages: %016llx%016llx\n",
			       (unsigned long long)it.u.digest.pages,
			       (unsigned long long)xmig__le64(it.u.digest.digest + 8),
			       (unsigned long long)xmig__le64(it.u.digest.digest));
			break;
		case XMIG_REC_ERROR:
			printf("  the sender failed: %s\n", it.u.error.message);
			break;
		case XMIG_REC_END:
			printf("\n");
			break;
		}
		if (d.phase == XMIG_DEC_ENDED)
			break;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	} else if (it.type == XMIG_REC_ERROR) {
		rc = -1;
	} else {
		/* The input is the whole stream: anything after END is an error
		 * (the library's rule, as xmig-recv applies it). */
		if (xmig__reader_check_end(&r, -1) < 0) {
			fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
			rc = -1;
		} else {
			printf("%llu records, %llu bytes: complete and valid\n",
			       (unsigned long long)records, (unsigned long long)r.bytes);
		}
	}
	xmig__reader_fini(&r);
	xmig_transport_close(t);
	return rc < 0 ? EXIT_FAILED : 0;
}
