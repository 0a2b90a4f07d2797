/* SPDX-License-Identifier: MIT */
/*
 * Strict decoding of the sender's stream: every length, count, pfn and the
 * order of records is checked against the header before anything is used.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "stream.h"
#include "xmig/session.h"

/* Fail with the record's identity in front of the reason. */
static int XMIG__PRINTF(3, 4) reject(const struct xmig__rec *rec, int err, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return xmig__fail(err, "record %llu (%s) at offset 0x%llx: %s",
			  (unsigned long long)rec->index, xmig__rec_name(rec->type),
			  (unsigned long long)rec->offset, why);
}

void xmig__decoder_init(struct xmig__decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->phase = XMIG_DEC_START;
}

static int decode_header(struct xmig__decoder *d, const struct xmig__rec *rec,
			 struct xmig__header *h)
{
	const uint8_t *b = rec->body;
	struct xmig_guest_info *gi = &h->info;

	if (rec->length != XMIG_HEADER_LEN)
		return reject(rec, XMIG_EPROTO, "length %u, expected %u", rec->length,
			      XMIG_HEADER_LEN);
	if (memcmp(b, XMIG_STREAM_MAGIC, 8) != 0)
		return reject(rec, XMIG_EPROTO, "bad magic: not an xmig stream");
	memset(h, 0, sizeof(*h));
	h->version = xmig__le32(b + 8);
	if (h->version != XMIG_STREAM_VERSION)
		return reject(rec, XMIG_EVERSION, "stream version %u, this receiver reads %u",
			      h->version, XMIG_STREAM_VERSION);
	h->flags = xmig__le32(b + 12);
	if (h->flags & ~XMIG_HDR_F_ALL)
		return reject(rec, XMIG_EPROTO, "unknown flags 0x%x", h->flags & ~XMIG_HDR_F_ALL);
	gi->nr_pages = xmig__le64(b + 16);
	gi->page_size = xmig__le32(b + 24);
	gi->nr_vcpus = xmig__le32(b + 28);
	gi->guest_kind = xmig__le32(b + 32);
	if (gi->nr_pages == 0 || gi->nr_pages >= (1ull << 40))
		return reject(rec, XMIG_EPROTO, "guest size of %llu pages out of range",
			      (unsigned long long)gi->nr_pages);
	if (gi->page_size < 4096 || gi->page_size > 65536 ||
	    (gi->page_size & (gi->page_size - 1)))
		return reject(rec, XMIG_EPROTO, "page size %u is not a power of two in "
			      "4096..65536", gi->page_size);
	if (gi->nr_vcpus == 0 || gi->nr_vcpus > 4096)
		return reject(rec, XMIG_EPROTO, "%u vCPUs out of range 1..4096", gi->nr_vcpus);
	if (gi->guest_kind < XMIG_GUEST_SIM || gi->guest_kind > XMIG_GUEST_XEN_PV)
		return reject(rec, XMIG_EPROTO, "unknown guest kind %u", gi->guest_kind);
	if (xmig__le32(b + 36) != 0)
		return reject(rec, XMIG_EPROTO, "reserved field is not zero");
	if (b[55] != 0 || b[40] == 0)
		return reject(rec, XMIG_EPROTO, "backend name is empty or not terminated");
	memcpy(gi->backend, b + 40, 16);
	for (unsigned int i = 0; i < 16 && gi->backend[i]; i++)
		if (gi->backend[i] < 0x21 || gi->backend[i] > 0x7e)
			return reject(rec, XMIG_EPROTO, "backend name has a non-printable byte");
	d->hdr = *h;
	return 0;
}

static int decode_batch(struct xmig__decoder *d, const struct xmig__rec *rec,
			struct xmig__batch *bt)
{
	const uint64_t nr_pages = d->hdr.info.nr_pages;
	const uint32_t psz = d->hdr.info.page_size;
	uint64_t prev = 0, want;
	uint32_t i;

	if (rec->length < 8)
		return reject(rec, XMIG_EPROTO, "length %u is below the 8-byte minimum",
			      rec->length);
	bt->count = xmig__le32(rec->body);
	bt->round = xmig__le32(rec->body + 4);
	if (bt->count == 0 || bt->count > XMIG_BATCH_MAX)
		return reject(rec, XMIG_EPROTO, "page count %u out of range 1..%u", bt->count,
			      XMIG_BATCH_MAX);
	if (rec->length < 8 + 8ull * bt->count)
		return reject(rec, XMIG_EPROTO, "length %u too short for %u entries",
			      rec->length, bt->count);
	if (bt->round < d->round)
		return reject(rec, XMIG_EPROTO, "round %u after round %u", bt->round, d->round);
	if (bt->round > XMIG_ROUND_MAX)
		return reject(rec, XMIG_EPROTO, "round %u beyond the limit %u", bt->round,
			      XMIG_ROUND_MAX);
	bt->entries = rec->body + 8;
	bt->nr_full = 0;
	for (i = 0; i < bt->count; i++) {
		uint64_t e = xmig__le64(bt->entries + 8ull * i);
		uint64_t pfn = e & XMIG_ENTRY_PFN_MASK;
		unsigned int enc = XMIG_ENTRY_ENC(e);

		if (e & XMIG_ENTRY_RSVD_MASK)
			return reject(rec, XMIG_EPROTO, "entry %u: reserved bits set", i);
		if (enc > XMIG_PAGE_ABSENT)
			return reject(rec, XMIG_EPROTO, "entry %u: unknown page encoding %u", i,
				      enc);
		if (pfn >= nr_pages)
			return reject(rec, XMIG_EPROTO,
				      "entry %u: pfn 0x%llx beyond guest size 0x%llx", i,
				      (unsigned long long)pfn, (unsigned long long)nr_pages);
		if (i > 0 && pfn <= prev)
			return reject(rec, XMIG_EPROTO,
				      "entry %u: pfn 0x%llx not above the previous 0x%llx", i,
				      (unsigned long long)pfn, (unsigned long long)prev);
		prev = pfn;
		if (enc == XMIG_PAGE_FULL)
			bt->nr_full++;
	}
	want = 8 + 8ull * bt->count + (uint64_t)psz * bt->nr_full;
	if (rec->length != want)
		return reject(rec, XMIG_EPROTO, "length %u, but %u entries with %u full pages "
			      "need %llu", rec->length, bt->count, bt->nr_full,
			      (unsigned long long)want);
	bt->data = bt->entries + 8ull * bt->count;
	d->round = bt->round;
	d->round_open = 1;
	d->batches++;
	return 0;
}

static int decode_round_end(struct xmig__decoder *d, const struct xmig__rec *rec,
			    struct xmig__round_end *re)
{
	const uint8_t *b = rec->body;

	if (rec->length != 32)
		return reject(rec, XMIG_EPROTO, "length %u, expected 32", rec->length);
	re->round = xmig__le32(b);
	re->flags = xmig__le32(b + 4);
	re->pages = xmig__le64(b + 8);
	re->bytes = xmig__le64(b + 16);
	re->duration_ns = xmig__le64(b + 24);
	if (re->flags & ~XMIG_ROUND_F_FINAL)
		return reject(rec, XMIG_EPROTO, "unknown flags 0x%x", re->flags);
	if (re->round > XMIG_ROUND_MAX)
		return reject(rec, XMIG_EPROTO, "round %u beyond the limit %u", re->round,
			      XMIG_ROUND_MAX);
	if (re->round < d->round || (d->round_open && re->round != d->round))
		return reject(rec, XMIG_EPROTO, "ends round %u, but the stream is in round %u",
			      re->round, d->round);
	d->round = re->round + 1;
	d->round_open = 0;
	if (re->flags & XMIG_ROUND_F_FINAL)
		d->phase = XMIG_DEC_STATE;
	return 0;
}

static int decode_state(struct xmig__decoder *d, const struct xmig__rec *rec,
			struct xmig__state *st)
{
	if (rec->length < 8)
		return reject(rec, XMIG_EPROTO, "length %u is below the 8-byte minimum",
			      rec->length);
	if (d->phase != XMIG_DEC_STATE)
		return reject(rec, XMIG_EPROTO, "state before the final round");
	if (rec->type == XMIG_REC_VCPU_STATE) {
		st->vcpu = xmig__le32(rec->body);
		st->type = xmig__le32(rec->body + 4);
		if (st->vcpu >= d->hdr.info.nr_vcpus)
			return reject(rec, XMIG_EPROTO, "vCPU %u, but the guest has %u", st->vcpu,
				      d->hdr.info.nr_vcpus);
	} else {
		st->vcpu = XMIG_STATE_PLATFORM;
		st->type = xmig__le32(rec->body);
		if (xmig__le32(rec->body + 4) != 0)
			return reject(rec, XMIG_EPROTO, "reserved field is not zero");
	}
	st->data = rec->body + 8;
	st->len = rec->length - 8;
	return 0;
}

/* The frames left out: ascending, disjoint ranges within the guest. */
static int decode_digest_ranges(struct xmig__decoder *d, const struct xmig__rec *rec,
				struct xmig__digest *dg)
{
	const uint64_t n = d->hdr.info.nr_pages;
	uint64_t i, first, count, next = 0;

	if (rec->length < 40)
		return reject(rec, XMIG_EPROTO, "length %u, algorithm 4 needs at least 40",
			      rec->length);
	dg->nr_ranges = xmig__le64(rec->body + 32);
	if (dg->nr_ranges > XMIG_DIGEST_RANGES_MAX || rec->length != 40 + 16 * dg->nr_ranges)
		return reject(rec, XMIG_EPROTO, "length %u does not hold %llu ranges", rec->length,
			      (unsigned long long)dg->nr_ranges);
	dg->ranges = dg->nr_ranges ? rec->body + 40 : NULL;
	dg->excluded = 0;
	for (i = 0; i < dg->nr_ranges; i++) {
		first = xmig__le64(dg->ranges + 16 * i);
		count = xmig__le64(dg->ranges + 16 * i + 8);
		if (count == 0 || first < next || first >= n || count > n - first)
			return reject(rec, XMIG_EPROTO, "excluded range %llu (pfn 0x%llx, %llu "
				      "frames) is empty, out of order or beyond the %llu-page guest",
				      (unsigned long long)i, (unsigned long long)first,
				      (unsigned long long)count, (unsigned long long)n);
		next = first + count;
		dg->excluded += count;
	}
	if (dg->pages > n - dg->excluded)
		return reject(rec, XMIG_EPROTO, "covers %llu pages, but %llu of the %llu are "
			      "excluded", (unsigned long long)dg->pages,
			      (unsigned long long)dg->excluded, (unsigned long long)n);
	return 0;
}

static int decode_digest(struct xmig__decoder *d, const struct xmig__rec *rec,
			 struct xmig__digest *dg)
{
	int rc;

	if (rec->length < 8)
		return reject(rec, XMIG_EPROTO, "length %u, expected at least 40", rec->length);
	if (d->phase != XMIG_DEC_STATE)
		return reject(rec, XMIG_EPROTO, "digest before the final round");
	if (d->seen_digest)
		return reject(rec, XMIG_EPROTO, "second DIGEST");
	if (!(d->hdr.flags & XMIG_HDR_F_DIGEST))
		return reject(rec, XMIG_EPROTO, "DIGEST not announced in the header");
	dg->algorithm = xmig__le32(rec->body);
	if (dg->algorithm >= XMIG_DIGEST_XXH3_128_V1 &&
	    dg->algorithm <= XMIG_DIGEST_XXH3_128_EXCL_V3)
		return reject(rec, XMIG_EPROTO, "digest algorithm %u, an older xmig's (this one "
			      "reads algorithm %u): update the sender, or migrate without "
			      "verification", dg->algorithm, XMIG_DIGEST_XXH3_128_CHUNKS);
	if (dg->algorithm != XMIG_DIGEST_XXH3_128_CHUNKS)
		return reject(rec, XMIG_EPROTO, "unknown digest algorithm %u", dg->algorithm);
	if (xmig__le32(rec->body + 4) != 0)
		return reject(rec, XMIG_EPROTO, "reserved field is not zero");
	if (rec->length < 40)
		return reject(rec, XMIG_EPROTO, "length %u, algorithm 4 needs at least 40",
			      rec->length);
	dg->pages = xmig__le64(rec->body + 8);
	if (dg->pages > d->hdr.info.nr_pages)
		return reject(rec, XMIG_EPROTO, "covers %llu pages of a %llu-page guest",
			      (unsigned long long)dg->pages,
			      (unsigned long long)d->hdr.info.nr_pages);
	memcpy(dg->digest, rec->body + 16, 16);
	/* the receiver hashed its memory at the final round and hashes the
	 * chunks with frames left out again: memory before load_state */
	if (d->seen_state)
		return reject(rec, XMIG_EPROTO, "DIGEST after the state records (it must come "
			      "first)");
	rc = decode_digest_ranges(d, rec, dg);
	if (rc < 0)
		return rc;
	d->seen_digest = 1;
	return 0;
}

static int decode_error(const struct xmig__rec *rec, struct xmig__error_rec *er)
{
	uint32_t n, i;

	if (rec->length < 8 || rec->length > 8 + XMIG_ERROR_MSG_MAX)
		return reject(rec, XMIG_EPROTO, "length %u out of range 8..%u", rec->length,
			      8 + XMIG_ERROR_MSG_MAX);
	er->code = (int32_t)xmig__le32(rec->body);
	n = rec->length - 8;
	/* The peer is untrusted: keep printable ASCII only. A NUL ends the
	 * text for C, so it is replaced as well, not taken as the end. */
	for (i = 0; i < n; i++)
		er->message[i] = rec->body[8 + i] ? (char)rec->body[8 + i] : '?';
	er->message[n] = '\0';
	xmig__sanitize(er->message);
	return 0;
}

int xmig__decode_handshake(const struct xmig__rec *rec, struct xmig__item *item)
{
	memset(item, 0, sizeof(*item));
	item->type = rec->type;
	switch (rec->type) {
	case XMIG_REC_ACCEPT:
		if (rec->length != 8)
			return reject(rec, XMIG_EPROTO, "length %u, expected 8", rec->length);
		if (xmig__le32(rec->body) != XMIG_STREAM_VERSION)
			return reject(rec, XMIG_EVERSION, "peer speaks version %u",
				      xmig__le32(rec->body));
		return 0;
	case XMIG_REC_READY:
	case XMIG_REC_COMMIT:
	case XMIG_REC_FINISHED:
		if (rec->length != 0)
			return reject(rec, XMIG_EPROTO, "length %u, expected 0", rec->length);
		return 0;
	case XMIG_REC_ROUND_ACK:
		if (rec->length != 8)
			return reject(rec, XMIG_EPROTO, "length %u, expected 8", rec->length);
		item->u.round_ack.round = xmig__le32(rec->body);
		return 0;
	case XMIG_REC_DONE:
		if (rec->length != 16)
			return reject(rec, XMIG_EPROTO, "length %u, expected 16", rec->length);
		item->u.done.status = (int32_t)xmig__le32(rec->body);
		item->u.done.unpause_ns = xmig__le64(rec->body + 8);
		return 0;
	case XMIG_REC_ERROR:
		return decode_error(rec, &item->u.error);
	case XMIG_REC_QUERY:
		if (rec->length != XMIG_MIGRATION_ID_LEN)
			return reject(rec, XMIG_EPROTO, "length %u, expected %u", rec->length,
				      XMIG_MIGRATION_ID_LEN);
		memcpy(item->u.outcome.id, rec->body, XMIG_MIGRATION_ID_LEN);
		return 0;
	case XMIG_REC_OUTCOME:
		if (rec->length != 8 + XMIG_MIGRATION_ID_LEN)
			return reject(rec, XMIG_EPROTO, "length %u, expected %u", rec->length,
				      8 + XMIG_MIGRATION_ID_LEN);
		item->u.outcome.outcome = xmig__le32(rec->body);
		if (item->u.outcome.outcome < XMIG_OUTCOME_RUNNING ||
		    item->u.outcome.outcome > XMIG_OUTCOME_UNKNOWN)
			return reject(rec, XMIG_EPROTO, "unknown outcome %u",
				      item->u.outcome.outcome);
		if (xmig__le32(rec->body + 4) != 0)
			return reject(rec, XMIG_EPROTO, "reserved field 0x%x, must be zero",
				      xmig__le32(rec->body + 4));
		memcpy(item->u.outcome.id, rec->body + 8, XMIG_MIGRATION_ID_LEN);
		return 0;
	}
	return reject(rec, XMIG_EPROTO, "unexpected record type 0x%x in the handshake",
		      rec->type);
}

int xmig__decoder_feed(struct xmig__decoder *d, const struct xmig__rec *rec,
		       struct xmig__item *item)
{
	memset(item, 0, sizeof(*item));
	item->type = rec->type;

	if (rec->type == XMIG_REC_ERROR)
		return decode_error(rec, &item->u.error);
	if (d->phase == XMIG_DEC_START) {
		if (rec->type != XMIG_REC_HEADER)
			return reject(rec, XMIG_EPROTO, "the stream must start with HEADER");
		int rc = decode_header(d, rec, &item->u.header);

		if (rc < 0)
			return rc;
		d->phase = XMIG_DEC_PAGES;
		return 0;
	}
	if (d->phase == XMIG_DEC_ENDED)
		return reject(rec, XMIG_EPROTO, "record after END");

	switch (rec->type) {
	case XMIG_REC_HEADER:
		return reject(rec, XMIG_EPROTO, "second HEADER");
	case XMIG_REC_PAGE_BATCH:
		if (d->phase != XMIG_DEC_PAGES)
			return reject(rec, XMIG_EPROTO, "pages after the final round");
		return decode_batch(d, rec, &item->u.batch);
	case XMIG_REC_ROUND_END:
		if (d->phase != XMIG_DEC_PAGES)
			return reject(rec, XMIG_EPROTO, "second final round");
		return decode_round_end(d, rec, &item->u.round_end);
	case XMIG_REC_VCPU_STATE:
	case XMIG_REC_PLATFORM_STATE:
		d->seen_state = 1;
		return decode_state(d, rec, &item->u.state);
	case XMIG_REC_DIGEST:
		return decode_digest(d, rec, &item->u.digest);
	case XMIG_REC_END:
		if (rec->length != 0)
			return reject(rec, XMIG_EPROTO, "length %u, expected 0", rec->length);
		if (d->phase != XMIG_DEC_STATE)
			return reject(rec, XMIG_EPROTO, "END before the final round");
		if ((d->hdr.flags & XMIG_HDR_F_DIGEST) && !d->seen_digest)
			return reject(rec, XMIG_EPROTO, "END without the DIGEST the header "
				      "announced");
		d->phase = XMIG_DEC_ENDED;
		return 0;
	case XMIG_REC_ANNOTATIONS:
		if (d->phase != XMIG_DEC_STATE)
			return reject(rec, XMIG_EPROTO, "annotations before the final round");
		if (rec->length > XMIG_ANNOTATIONS_MAX)
			return reject(rec, XMIG_EPROTO, "%u bytes of annotations, limit %u",
				      rec->length, XMIG_ANNOTATIONS_MAX);
		for (uint32_t i = 0; i < rec->length; i++)
			if ((rec->body[i] < 0x20 || rec->body[i] > 0x7e) && rec->body[i] != '\n')
				return reject(rec, XMIG_EPROTO,
					      "annotations: byte 0x%02x at %u is not printable",
					      rec->body[i], i);
		item->u.annotations.text = (const char *)rec->body;
		item->u.annotations.len = rec->length;
		return 0;
	case XMIG_REC_MIGRATION_ID:
		if (d->seen_id)
			return reject(rec, XMIG_EPROTO, "second MIGRATION_ID");
		if (d->phase != XMIG_DEC_PAGES || d->batches || d->round_open || d->round)
			return reject(rec, XMIG_EPROTO, "MIGRATION_ID must follow HEADER");
		if (rec->length != XMIG_MIGRATION_ID_LEN)
			return reject(rec, XMIG_EPROTO, "length %u, expected %u", rec->length,
				      XMIG_MIGRATION_ID_LEN);
		d->seen_id = 1;
		memcpy(item->u.outcome.id, rec->body, XMIG_MIGRATION_ID_LEN);
		return 0;
	case XMIG_REC_ACCEPT:
	case XMIG_REC_READY:
	case XMIG_REC_COMMIT:
	case XMIG_REC_DONE:
	case XMIG_REC_ROUND_ACK:
	case XMIG_REC_FINISHED:
	case XMIG_REC_QUERY:
	case XMIG_REC_OUTCOME:
		return reject(rec, XMIG_EPROTO, "handshake record inside the stream");
	}
	if (rec->type & XMIG_REC_OPTIONAL)
		return 1;
	return reject(rec, XMIG_EPROTO, "unknown mandatory record type 0x%x", rec->type);
}
