/* SPDX-License-Identifier: MIT */
/* The stream: framing, round trips, and every class of decoder rejection. */
#include <string.h>

#include "common.h"
#include "stream/stream.h"
#include "testutil.h"
#include "xmig/errors.h"
#include "xmig/transport.h"

#define PSZ 4096u
#define NR_PAGES 100u

/* The reference stream: two rounds, digest, state, END. */
static void build_good(struct sample *s)
{
	static const uint64_t p0[] = { 0, 1, 2, 50, 99 };
	static const unsigned int e0[] = { XMIG_PAGE_FULL, XMIG_PAGE_ZERO, XMIG_PAGE_ABSENT,
					   XMIG_PAGE_FULL, XMIG_PAGE_ZERO };
	static const uint64_t p1[] = { 1, 50 };
	static const unsigned int e1[] = { XMIG_PAGE_FULL, XMIG_PAGE_FULL };
	uint8_t dg[40] = { 0 };
	uint8_t plat[16] = { 0 };

	sample_init(s);
	put_header(s, NR_PAGES, XMIG_HDR_F_DIGEST);
	put_batch(s, 0, 5, p0, e0);
	put_round_end(s, 0, 0);
	put_batch(s, 1, 2, p1, e1);
	put_round_end(s, 1, 1);
	xmig__put_le32(dg, XMIG_DIGEST_XXH3_128_CHUNKS);
	xmig__put_le64(dg + 8, NR_PAGES);
	put_rec(s, XMIG_REC_DIGEST, dg, sizeof(dg));
	put_vcpu(s, 0, 7, 24);
	put_vcpu(s, 1, 7, 24);
	xmig__put_le32(plat, 3);
	put_rec(s, XMIG_REC_PLATFORM_STATE, plat, sizeof(plat));
	put_rec(s, XMIG_REC_END, NULL, 0);
}

/*
 * Decode a whole buffer. Returns 0 when it ends cleanly at END, else the
 * first error. Counts decoded records into *nrec if given.
 */
static int decode_all(const uint8_t *buf, size_t len, int *nrec)
{
	struct mem_transport r;
	struct xmig__reader rd;
	struct xmig__decoder d;
	struct xmig__rec rec;
	struct xmig__item it;
	int rc = 0, n = 0;

	mem_transport_init(&r, buf, len);
	xmig__reader_init(&rd, &r.base);
	xmig__decoder_init(&d);
	while (d.phase != XMIG_DEC_ENDED) {
		rc = xmig__rec_read(&rd, &rec, -1);
		if (rc < 0)
			break;
		rc = xmig__decoder_feed(&d, &rec, &it);
		if (rc < 0)
			break;
		if (it.type == XMIG_REC_PAGE_BATCH) {
			/* What the decoder lets through is inside the guest. */
			for (uint32_t i = 0; i < it.u.batch.count; i++)
				ck_assert_uint_lt(xmig__le64(it.u.batch.entries + 8 * i) &
							  XMIG_ENTRY_PFN_MASK,
						  d.hdr.info.nr_pages);
		}
		n++;
		rc = 0;
	}
	if (rc == 0 && rd.bytes != len) {
		/* Something follows END: the decoder must refuse it. */
		rc = xmig__rec_read(&rd, &rec, -1);
		if (rc == 0)
			rc = xmig__decoder_feed(&d, &rec, &it);
		ck_assert_int_lt(rc, 0);
	}
	xmig__reader_fini(&rd);
	if (nrec)
		*nrec = n;
	return rc;
}

START_TEST(test_round_trip)
{
	struct sample s;
	struct mem_transport r;
	struct xmig__reader rd;
	struct xmig__decoder d;
	struct xmig__rec rec;
	struct xmig__item it;

	build_good(&s);
	ck_assert_uint_eq(s.w.out_len % 8, 0);
	mem_transport_init(&r, s.w.out, s.w.out_len);
	xmig__reader_init(&rd, &r.base);
	xmig__decoder_init(&d);

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.type, XMIG_REC_HEADER);
	ck_assert_uint_eq(it.u.header.version, XMIG_STREAM_VERSION);
	ck_assert_uint_eq(it.u.header.flags, XMIG_HDR_F_DIGEST);
	ck_assert_uint_eq(it.u.header.info.nr_pages, NR_PAGES);
	ck_assert_uint_eq(it.u.header.info.page_size, PSZ);
	ck_assert_uint_eq(it.u.header.info.nr_vcpus, 2);
	ck_assert_str_eq(it.u.header.info.backend, "sim");

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.type, XMIG_REC_PAGE_BATCH);
	ck_assert_uint_eq(it.u.batch.count, 5);
	ck_assert_uint_eq(it.u.batch.nr_full, 2);
	ck_assert_uint_eq(xmig__le64(it.u.batch.entries + 24),
			  XMIG_ENTRY(50, XMIG_PAGE_FULL));
	ck_assert_uint_eq(xmig__le64(it.u.batch.entries + 16),
			  XMIG_ENTRY(2, XMIG_PAGE_ABSENT));
	ck_assert_uint_eq(it.u.batch.data[0], 0 ^ 0x5a);
	ck_assert_uint_eq(it.u.batch.data[PSZ], 50 ^ 0x5a);

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.type, XMIG_REC_ROUND_END);
	ck_assert_uint_eq(it.u.round_end.round, 0);
	ck_assert_uint_eq(it.u.round_end.pages, 3);

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.u.batch.round, 1);
	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.u.round_end.flags, XMIG_ROUND_F_FINAL);
	ck_assert_int_eq(d.phase, XMIG_DEC_STATE);

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.type, XMIG_REC_DIGEST);
	ck_assert_uint_eq(it.u.digest.algorithm, XMIG_DIGEST_XXH3_128_CHUNKS);
	ck_assert_uint_eq(it.u.digest.pages, NR_PAGES);
	ck_assert_uint_eq(it.u.digest.nr_ranges, 0);

	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_uint_eq(it.type, XMIG_REC_VCPU_STATE);
	ck_assert_uint_eq(it.u.state.vcpu, 0);
	ck_assert_uint_eq(it.u.state.type, 7);
	ck_assert_uint_eq(it.u.state.len, 24);
	ck_assert_uint_eq(it.u.state.data[23], 0xab);

	ck_assert_int_eq(decode_all(s.w.out, s.w.out_len, NULL), 0);
	xmig__reader_fini(&rd);
	mem_transport_fini(&s.w);
}
END_TEST

/* Cut the stream at every byte: never accepted, always "ends inside". */
START_TEST(test_truncated_everywhere)
{
	struct sample s;
	size_t cut;

	build_good(&s);
	for (cut = 0; cut < s.w.out_len; cut++) {
		int rc = decode_all(s.w.out, cut, NULL);

		ck_assert_msg(rc == XMIG_EEOF, "cut at %zu: rc %d (%s)", cut, rc,
			      xmig_error_last());
	}
	mem_transport_fini(&s.w);
}
END_TEST

/* Flip every bit of the stream, one at a time: each flip is caught. */
START_TEST(test_every_bit_flip_detected)
{
	struct sample s;
	size_t i;
	int bit;

	build_good(&s);
	for (i = 0; i < s.w.out_len; i += (i < 256 ? 1 : 61)) {
		for (bit = 0; bit < 8; bit++) {
			int rc;

			s.w.out[i] ^= (uint8_t)(1u << bit);
			rc = decode_all(s.w.out, s.w.out_len, NULL);
			s.w.out[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(rc < 0, "flip of bit %d at byte %zu went unnoticed", bit, i);
		}
	}
	mem_transport_fini(&s.w);
}
END_TEST

/* Run a one-record mutation of a minimal stream; expect `want` and `msg`. */
static void expect_reject(struct sample *s, int want, const char *msg)
{
	int rc = decode_all(s->w.out, s->w.out_len, NULL);

	ck_assert_msg(rc == want, "rc %d (%s), wanted %d", rc, xmig_error_last(), want);
	ck_assert_msg(strstr(xmig_error_last(), msg), "message '%s' lacks '%s'",
		      xmig_error_last(), msg);
	mem_transport_fini(&s->w);
}

static void finish(struct sample *s)
{
	put_round_end(s, 0, 1);
	put_rec(s, XMIG_REC_END, NULL, 0);
}

START_TEST(test_pfn_beyond_guest)
{
	struct sample s;
	uint64_t pfn = NR_PAGES;
	unsigned int enc = XMIG_PAGE_FULL;

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_batch(&s, 0, 1, &pfn, &enc);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "pfn 0x64 beyond guest size 0x64");
}
END_TEST

START_TEST(test_pfn_not_increasing)
{
	struct sample s;
	uint64_t pfns[] = { 5, 5 };
	unsigned int enc[] = { XMIG_PAGE_ZERO, XMIG_PAGE_ZERO };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_batch(&s, 0, 2, pfns, enc);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "not above the previous");
}
END_TEST

START_TEST(test_batch_bad_length)
{
	struct sample s;
	uint8_t body[8 + 8 + 100] = { 0 };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le32(body, 1);
	xmig__put_le64(body + 8, XMIG_ENTRY(3, XMIG_PAGE_FULL)); /* but 100 bytes of data */
	put_rec(&s, XMIG_REC_PAGE_BATCH, body, sizeof(body));
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "need 4112");
}
END_TEST

START_TEST(test_batch_bad_count)
{
	struct sample s;
	uint8_t body[16] = { 0 };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le32(body, 0);
	put_rec(&s, XMIG_REC_PAGE_BATCH, body, 8);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "page count 0 out of range");

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le32(body, XMIG_BATCH_MAX + 1);
	put_rec(&s, XMIG_REC_PAGE_BATCH, body, 16);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "page count 1025 out of range");
}
END_TEST

START_TEST(test_batch_reserved_and_encoding)
{
	struct sample s;
	uint8_t body[16] = { 0 };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le32(body, 1);
	xmig__put_le64(body + 8, 7 | (1ull << 53) | XMIG_ENTRY(0, XMIG_PAGE_ZERO));
	put_rec(&s, XMIG_REC_PAGE_BATCH, body, 16);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "reserved bits");

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le64(body + 8, XMIG_ENTRY(7, 9));
	put_rec(&s, XMIG_REC_PAGE_BATCH, body, 16);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "unknown page encoding 9");
}
END_TEST

START_TEST(test_length_over_limit)
{
	struct sample s;
	uint8_t hdr[16] = { 0 };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	xmig__put_le32(hdr, XMIG_REC_PAGE_BATCH);
	xmig__put_le32(hdr + 4, XMIG_REC_MAX_BODY + 8);
	struct iovec v = { hdr, sizeof(hdr) };
	ck_assert_int_eq(s.w.base.ops->writev(&s.w.base, &v, 1), 0);
	expect_reject(&s, XMIG_EPROTO, "exceeds the limit");
}
END_TEST

START_TEST(test_bad_checksum)
{
	struct sample s;

	build_good(&s);
	/* The checksum of record 0 sits at bytes 8..15. */
	s.w.out[12] ^= 0x01;
	expect_reject(&s, XMIG_ECHECKSUM, "record 0 (HEADER) at offset 0x0: checksum mismatch");
}
END_TEST

START_TEST(test_unknown_records)
{
	struct sample s;
	uint8_t junk[24] = { 1, 2, 3 };
	int n;

	/* optional: skipped */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_OPTIONAL | 0x77, junk, sizeof(junk));
	finish(&s);
	ck_assert_int_eq(decode_all(s.w.out, s.w.out_len, &n), 0);
	ck_assert_int_eq(n, 4);
	mem_transport_fini(&s.w);

	/* mandatory: rejected */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, 0x77, junk, sizeof(junk));
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "unknown mandatory record type 0x77");
}
END_TEST

START_TEST(test_duplicate_end_and_header)
{
	struct sample s;

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	finish(&s);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	expect_reject(&s, XMIG_EPROTO, "record after END");

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_header(&s, NR_PAGES, 0);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "second HEADER");
}
END_TEST

START_TEST(test_header_checks)
{
	struct xmig_guest_info gi = { .nr_pages = NR_PAGES, .page_size = PSZ, .nr_vcpus = 1,
				      .guest_kind = XMIG_GUEST_SIM, .backend = "sim" };
	uint8_t h[XMIG_HEADER_LEN];
	struct sample s;

	/* wrong version */
	xmig__header_encode(h, &gi, 0);
	xmig__put_le32(h + 8, 2);
	sample_init(&s);
	put_rec(&s, XMIG_REC_HEADER, h, sizeof(h));
	expect_reject(&s, XMIG_EVERSION, "stream version 2");

	/* bad magic */
	xmig__header_encode(h, &gi, 0);
	h[0] = 'Y';
	sample_init(&s);
	put_rec(&s, XMIG_REC_HEADER, h, sizeof(h));
	expect_reject(&s, XMIG_EPROTO, "bad magic");

	/* page size */
	gi.page_size = 4097;
	xmig__header_encode(h, &gi, 0);
	sample_init(&s);
	put_rec(&s, XMIG_REC_HEADER, h, sizeof(h));
	expect_reject(&s, XMIG_EPROTO, "page size 4097");
	gi.page_size = PSZ;

	/* unknown flags */
	xmig__header_encode(h, &gi, 0x80);
	sample_init(&s);
	put_rec(&s, XMIG_REC_HEADER, h, sizeof(h));
	expect_reject(&s, XMIG_EPROTO, "unknown flags");

	/* no header first */
	sample_init(&s);
	put_round_end(&s, 0, 1);
	expect_reject(&s, XMIG_EPROTO, "must start with HEADER");

	/* zero vCPUs */
	gi.nr_vcpus = 0;
	xmig__header_encode(h, &gi, 0);
	sample_init(&s);
	put_rec(&s, XMIG_REC_HEADER, h, sizeof(h));
	expect_reject(&s, XMIG_EPROTO, "0 vCPUs");
}
END_TEST

START_TEST(test_order_checks)
{
	struct sample s;
	uint64_t pfn = 1;
	unsigned int enc = XMIG_PAGE_ZERO;

	/* state before the final round */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_vcpu(&s, 0, 1, 8);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "state before the final round");

	/* vCPU index beyond the guest */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_round_end(&s, 0, 1);
	put_vcpu(&s, 2, 1, 8);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	expect_reject(&s, XMIG_EPROTO, "vCPU 2, but the guest has 2");

	/* pages after the final round */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_round_end(&s, 0, 1);
	put_batch(&s, 1, 1, &pfn, &enc);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	expect_reject(&s, XMIG_EPROTO, "pages after the final round");

	/* a round going back */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_batch(&s, 3, 1, &pfn, &enc);
	put_batch(&s, 2, 1, &pfn, &enc);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "round 2 after round 3");

	/* a round beyond the limit (it would wrap the decoder's counter) */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_round_end(&s, 0xffffffffu, 0);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "round 4294967295 beyond the limit 65535");

	/* END without the promised digest */
	sample_init(&s);
	put_header(&s, NR_PAGES, XMIG_HDR_F_DIGEST);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "without the DIGEST");

	/* END before any final round */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	expect_reject(&s, XMIG_EPROTO, "END before the final round");
}
END_TEST

/* A stream whose DIGEST (algorithm `alg`) leaves out `nr` ranges from `r`. */
static void digest_alg(struct sample *s, uint32_t alg, uint64_t pages, const uint64_t *r,
		       uint64_t nr, uint32_t len_adjust, int state_first)
{
	uint8_t body[40 + 16 * 4] = { 0 };
	uint64_t i;

	sample_init(s);
	put_header(s, NR_PAGES, XMIG_HDR_F_DIGEST);
	put_round_end(s, 0, 1);
	if (state_first)
		put_vcpu(s, 0, 7, 24);
	xmig__put_le32(body, alg);
	xmig__put_le64(body + 8, pages);
	xmig__put_le64(body + 32, nr);
	for (i = 0; i < nr; i++) {
		xmig__put_le64(body + 40 + 16 * i, r[2 * i]);
		xmig__put_le64(body + 48 + 16 * i, r[2 * i + 1]);
	}
	put_rec(s, XMIG_REC_DIGEST, body, (uint32_t)(40 + 16 * nr) - len_adjust);
	put_rec(s, XMIG_REC_END, NULL, 0);
}

static void digest_excl(struct sample *s, uint64_t pages, const uint64_t *r, uint64_t nr,
			uint32_t len_adjust, int state_first)
{
	digest_alg(s, XMIG_DIGEST_XXH3_128_CHUNKS, pages, r, nr, len_adjust, state_first);
}

/* The ranges left out: ascending, disjoint, non-empty, inside the guest;
 * the digest before the state; the older algorithms refused by name. */
START_TEST(test_digest_exclusions)
{
	static const uint64_t good[] = { 5, 3, 8, 1, 99, 1 };
	static const uint64_t back[] = { 10, 2, 5, 1 };
	static const uint64_t overlap[] = { 10, 5, 14, 1 };
	static const uint64_t empty[] = { 10, 0 };
	static const uint64_t beyond[] = { 90, 11 };
	static const uint64_t wrap[] = { 1, UINT64_MAX };
	struct sample s;
	uint32_t alg;

	digest_excl(&s, NR_PAGES - 5, good, 3, 0, 0);
	ck_assert_msg(decode_all(s.w.out, s.w.out_len, NULL) == 0, "%s", xmig_error_last());
	mem_transport_fini(&s.w);
	digest_excl(&s, NR_PAGES, good, 0, 0, 0); /* nothing left out */
	ck_assert_msg(decode_all(s.w.out, s.w.out_len, NULL) == 0, "%s", xmig_error_last());
	mem_transport_fini(&s.w);
	digest_excl(&s, NR_PAGES - 4, good, 3, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "covers 96 pages, but 5 of the 100 are excluded");
	digest_excl(&s, 1, good, 1, 0, 0);
	ck_assert_msg(decode_all(s.w.out, s.w.out_len, NULL) == 0, "%s", xmig_error_last());
	mem_transport_fini(&s.w);
	digest_excl(&s, 1, good, 3, 16, 0);
	expect_reject(&s, XMIG_EPROTO, "length 72 does not hold 3 ranges");
	digest_excl(&s, 1, good, 0, 8, 0);
	expect_reject(&s, XMIG_EPROTO, "algorithm 4 needs at least 40");
	digest_excl(&s, 1, back, 2, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "excluded range 1 (pfn 0x5, 1 frames)");
	digest_excl(&s, 1, overlap, 2, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "excluded range 1 (pfn 0xe, 1 frames)");
	digest_excl(&s, 1, empty, 1, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "excluded range 0 (pfn 0xa, 0 frames) is empty");
	digest_excl(&s, 1, beyond, 1, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "beyond the 100-page guest");
	digest_excl(&s, 1, wrap, 1, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "excluded range 0 (pfn 0x1, 18446744073709551615 frames)");
	/* the receiver hashes again for it: before any state is loaded */
	digest_excl(&s, NR_PAGES - 5, good, 3, 0, 1);
	expect_reject(&s, XMIG_EPROTO, "DIGEST after the state records");
	digest_excl(&s, NR_PAGES, good, 0, 0, 1);
	expect_reject(&s, XMIG_EPROTO, "DIGEST after the state records");
	for (alg = XMIG_DIGEST_XXH3_128_V1; alg <= XMIG_DIGEST_XXH3_128_EXCL_V3; alg++) {
		digest_alg(&s, alg, 1, good, 0, 8, 0);
		expect_reject(&s, XMIG_EPROTO, "an older xmig's (this one reads algorithm 4)");
	}
	digest_alg(&s, 5, 1, good, 0, 0, 0);
	expect_reject(&s, XMIG_EPROTO, "unknown digest algorithm 5");
}
END_TEST

START_TEST(test_annotations)
{
	struct sample s;
	int n;

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_round_end(&s, 0, 1);
	put_rec(&s, XMIG_REC_ANNOTATIONS, "a=1\nb=2\n", 8);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	ck_assert_int_eq(decode_all(s.w.out, s.w.out_len, &n), 0);
	ck_assert_int_eq(n, 4);
	mem_transport_fini(&s.w);

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_ANNOTATIONS, "a=1\n", 4);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "annotations before the final round");

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_round_end(&s, 0, 1);
	put_rec(&s, XMIG_REC_ANNOTATIONS, "a=\033[2J", 7);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	expect_reject(&s, XMIG_EPROTO, "byte 0x1b at 2 is not printable");
}
END_TEST

START_TEST(test_migration_id)
{
	static const uint8_t id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint64_t pfn = 1;
	unsigned int enc = XMIG_PAGE_ZERO;
	struct sample s;
	int n;

	/* right after HEADER, once: accepted, the id carried through */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_MIGRATION_ID, id, sizeof(id));
	put_round_end(&s, 0, 1);
	put_rec(&s, XMIG_REC_END, NULL, 0);
	ck_assert_int_eq(decode_all(s.w.out, s.w.out_len, &n), 0);
	ck_assert_int_eq(n, 4);
	mem_transport_fini(&s.w);

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_MIGRATION_ID, id, sizeof(id));
	put_rec(&s, XMIG_REC_MIGRATION_ID, id, sizeof(id));
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "second MIGRATION_ID");

	/* a sender cannot change its id once pages flowed */
	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_batch(&s, 0, 1, &pfn, &enc);
	put_rec(&s, XMIG_REC_MIGRATION_ID, id, sizeof(id));
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "MIGRATION_ID must follow HEADER");

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_MIGRATION_ID, id, 8);
	finish(&s);
	expect_reject(&s, XMIG_EPROTO, "length 8, expected 16");
}
END_TEST

/* The handshake's newer records, decoded from bodies made by hand. */
static int handshake(uint32_t type, const void *body, uint32_t len, struct xmig__item *it)
{
	struct xmig__rec rec = { .type = type, .length = len, .body = body };

	return xmig__decode_handshake(&rec, it);
}

START_TEST(test_outcome_records)
{
	uint8_t b[24] = { 0 };
	struct xmig__item it;

	ck_assert_int_eq(handshake(XMIG_REC_FINISHED, b, 0, &it), 0);
	ck_assert_int_eq(handshake(XMIG_REC_FINISHED, b, 8, &it), XMIG_EPROTO);
	b[0] = 0xab;
	ck_assert_int_eq(handshake(XMIG_REC_QUERY, b, 16, &it), 0);
	ck_assert_uint_eq(it.u.outcome.id[0], 0xab);
	ck_assert_int_eq(handshake(XMIG_REC_QUERY, b, 24, &it), XMIG_EPROTO);
	xmig__put_le32(b, 1); /* RUNNING */
	b[8] = 0xcd;
	ck_assert_int_eq(handshake(XMIG_REC_OUTCOME, b, 24, &it), 0);
	ck_assert_uint_eq(it.u.outcome.outcome, 1);
	ck_assert_uint_eq(it.u.outcome.id[0], 0xcd);
	ck_assert_int_eq(handshake(XMIG_REC_OUTCOME, b, 16, &it), XMIG_EPROTO);
	xmig__put_le32(b, 0);
	ck_assert_int_eq(handshake(XMIG_REC_OUTCOME, b, 24, &it), XMIG_EPROTO);
	ck_assert_msg(strstr(xmig_error_last(), "unknown outcome 0"), "%s", xmig_error_last());
	xmig__put_le32(b, 4);
	ck_assert_int_eq(handshake(XMIG_REC_OUTCOME, b, 24, &it), XMIG_EPROTO);
	xmig__put_le32(b, 2);
	xmig__put_le32(b + 4, 1);
	ck_assert_int_eq(handshake(XMIG_REC_OUTCOME, b, 24, &it), XMIG_EPROTO);
	ck_assert_msg(strstr(xmig_error_last(), "reserved"), "%s", xmig_error_last());
}
END_TEST

START_TEST(test_nonzero_padding)
{
	struct sample s;
	uint8_t body[3] = { 1, 2, 3 };

	sample_init(&s);
	put_header(&s, NR_PAGES, 0);
	put_rec(&s, XMIG_REC_OPTIONAL | 5, body, sizeof(body));
	/* padding of that record: bytes 3..7 of its body area */
	s.w.out[s.w.out_len - 1] = 0xff;
	expect_reject(&s, XMIG_EPROTO, "non-zero padding");
}
END_TEST

START_TEST(test_error_record_sanitised)
{
	struct sample s;
	uint8_t body[8 + 6] = { 0 };
	struct mem_transport r;
	struct xmig__reader rd;
	struct xmig__decoder d;
	struct xmig__rec rec;
	struct xmig__item it;

	sample_init(&s);
	xmig__put_le32(body, (uint32_t)XMIG_EBACKEND);
	memcpy(body + 8, "ab\x1b[2J", 6);
	put_rec(&s, XMIG_REC_ERROR, body, sizeof(body));
	mem_transport_init(&r, s.w.out, s.w.out_len);
	xmig__reader_init(&rd, &r.base);
	xmig__decoder_init(&d);
	ck_assert_int_eq(xmig__rec_read(&rd, &rec, -1), 0);
	ck_assert_int_eq(xmig__decoder_feed(&d, &rec, &it), 0);
	ck_assert_int_eq(it.u.error.code, XMIG_EBACKEND);
	ck_assert_str_eq(it.u.error.message, "ab?[2J");
	xmig__reader_fini(&rd);
	mem_transport_fini(&s.w);
}
END_TEST

/*
 * Leave, where the next call's frames will be, what an old XXH3 state with
 * `seed` would look like: in every 64-byte line, the seed at byte 40 and a
 * NULL external secret at 56 (the layout of xxhash 0.8's XXH3_state_s),
 * and garbage where its secret would be.
 */
static __attribute__((noinline)) void scribble_stack(uint64_t seed)
{
	volatile uint64_t area[8192] __attribute__((aligned(64)));

	for (size_t i = 0; i < XMIG__ARRAY_SIZE(area); i++)
		area[i] = i % 8 == 5 ? seed : i % 8 == 7 ? 0 : 0xa5a5a5a5a5a5a5a5ull ^ i;
}

/* A record's checksum depends on the record only, not on the stack under it. */
START_TEST(test_checksum_ignores_stack_garbage)
{
	static uint8_t body[4096];
	struct sample s;
	struct mem_transport r;
	struct xmig__reader rd;
	struct xmig__rec rec;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	mem_transport_init(&s.w, NULL, 0);
	for (int k = 0; k < 4; k++) {
		scribble_stack((uint64_t)XMIG_REC_PAGE_BATCH | (uint64_t)sizeof(body) << 32);
		put_rec(&s, XMIG_REC_PAGE_BATCH, body, sizeof(body));
	}
	mem_transport_init(&r, s.w.out, s.w.out_len);
	xmig__reader_init(&rd, &r.base);
	for (int k = 0; k < 4; k++)
		ck_assert_msg(xmig__rec_read(&rd, &rec, -1) == 0, "record %d: %s", k,
			      xmig_error_last());
	xmig__reader_fini(&rd);
	mem_transport_fini(&s.w);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_every_bit_flip_detected);
	tcase_add_test(tc, test_pfn_beyond_guest);
	tcase_add_test(tc, test_pfn_not_increasing);
	tcase_add_test(tc, test_batch_bad_length);
	tcase_add_test(tc, test_batch_bad_count);
	tcase_add_test(tc, test_batch_reserved_and_encoding);
	tcase_add_test(tc, test_length_over_limit);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_unknown_records);
	tcase_add_test(tc, test_duplicate_end_and_header);
	tcase_add_test(tc, test_header_checks);
	tcase_add_test(tc, test_order_checks);
	tcase_add_test(tc, test_annotations);
	tcase_add_test(tc, test_migration_id);
	tcase_add_test(tc, test_outcome_records);
	tcase_add_test(tc, test_nonzero_padding);
	tcase_add_test(tc, test_digest_exclusions);
	tcase_add_test(tc, test_error_record_sanitised);
	tcase_add_test(tc, test_checksum_ignores_stack_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(stream_suite());
}
