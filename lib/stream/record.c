/* SPDX-License-Identifier: MIT */
/* Record framing: header, checksum, padding, size limit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "common.h"
#include "stream.h"

static const uint8_t zero_pad[8];

const char *xmig__rec_name(uint32_t type)
{
	switch (type) {
	case XMIG_REC_HEADER: return "HEADER";
	case XMIG_REC_PAGE_BATCH: return "PAGE_BATCH";
	case XMIG_REC_ROUND_END: return "ROUND_END";
	case XMIG_REC_VCPU_STATE: return "VCPU_STATE";
	case XMIG_REC_PLATFORM_STATE: return "PLATFORM_STATE";
	case XMIG_REC_DIGEST: return "DIGEST";
	case XMIG_REC_END: return "END";
	case XMIG_REC_ANNOTATIONS: return "ANNOTATIONS";
	case XMIG_REC_ACCEPT: return "ACCEPT";
	case XMIG_REC_READY: return "READY";
	case XMIG_REC_COMMIT: return "COMMIT";
	case XMIG_REC_DONE: return "DONE";
	case XMIG_REC_ERROR: return "ERROR";
	case XMIG_REC_ROUND_ACK: return "ROUND_ACK";
	case XMIG_REC_MIGRATION_ID: return "MIGRATION_ID";
	case XMIG_REC_FINISHED: return "FINISHED";
	case XMIG_REC_QUERY: return "QUERY";
	case XMIG_REC_OUTCOME: return "OUTCOME";
	}
	return (type & XMIG_REC_OPTIONAL) ? "unknown optional" : "unknown";
}

static uint64_t rec_seed(uint32_t type, uint32_t length)
{
	return (uint64_t)type | (uint64_t)length << 32;
}

int xmig__rec_write(struct xmig_transport *t, uint32_t type, const struct iovec *body,
		    int n, struct iovec *scratch, uint64_t *bytes)
{
	uint8_t hdr[XMIG_REC_HDR_SIZE];
	XXH3_state_t st;
	size_t len = 0, pad;
	int i, rc;

	for (i = 0; i < n; i++)
		len += body[i].iov_len;
	if (len > XMIG_REC_MAX_BODY)
		return xmig__fail(XMIG_EINVAL, "%s record of %zu bytes exceeds the limit",
				  xmig__rec_name(type), len);

	/*
	 * A state on the stack must be cleared before a seeded reset:
	 * xxhash (0.8.1) regenerates its secret only when the state's old seed
	 * differs from the new one, so stack garbage that happens to hold the
	 * same seed leaves a stale, clobbered secret in use, and the checksum
	 * comes out wrong at random.
	 */
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset_withSeed(&st, rec_seed(type, (uint32_t)len));
	for (i = 0; i < n; i++)
		XXH3_64bits_update(&st, body[i].iov_base, body[i].iov_len);
	xmig__put_le32(hdr, type);
	xmig__put_le32(hdr + 4, (uint32_t)len);
	xmig__put_le64(hdr + 8, XXH3_64bits_digest(&st));

	scratch[0].iov_base = hdr;
	scratch[0].iov_len = sizeof(hdr);
	if (n)
		memcpy(scratch + 1, body, (size_t)n * sizeof(*body));
	pad = XMIG__ALIGN_UP(len, (size_t)8) - len;
	scratch[n + 1].iov_base = (void *)zero_pad;
	scratch[n + 1].iov_len = pad;
	rc = t->ops->writev(t, scratch, n + 2);
	if (rc == 0 && bytes)
		*bytes += sizeof(hdr) + len + pad;
	return rc;
}

int xmig__rec_write_simple(struct xmig_transport *t, uint32_t type, const void *body,
			   size_t len, uint64_t *bytes)
{
	struct iovec part = { .iov_base = (void *)body, .iov_len = len };
	struct iovec scratch[3];

	return xmig__rec_write(t, type, &part, len ? 1 : 0, scratch, bytes);
}

void xmig__header_encode(uint8_t out[XMIG_HEADER_LEN], const struct xmig_guest_info *info,
			 uint32_t flags)
{
	memset(out, 0, XMIG_HEADER_LEN);
	memcpy(out, XMIG_STREAM_MAGIC, 8);
	xmig__put_le32(out + 8, XMIG_STREAM_VERSION);
	xmig__put_le32(out + 12, flags);
	xmig__put_le64(out + 16, info->nr_pages);
	xmig__put_le32(out + 24, info->page_size);
	xmig__put_le32(out + 28, info->nr_vcpus);
	xmig__put_le32(out + 32, info->guest_kind);
	memcpy(out + 40, info->backend, strnlen(info->backend, sizeof(info->backend) - 1));
}

void xmig__reader_init(struct xmig__reader *r, struct xmig_transport *t)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
}

void xmig__reader_fini(struct xmig__reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* Reading: a transport failure keeps the transport's own code and message. */
static int read_exact(struct xmig__reader *r, void *buf, size_t len, int timeout_ms,
		      const char *what)
{
	int rc = r->t->ops->read(r->t, buf, len, timeout_ms);

	if (rc == XMIG_EEOF)
		return xmig__fail(XMIG_EEOF, "stream ends inside %s at offset 0x%llx", what,
				  (unsigned long long)r->bytes);
	if (rc == XMIG_ETIMEDOUT)
		return xmig__fail(XMIG_ETIMEDOUT,
				  "the record at offset 0x%llx did not arrive whole within the "
				  "%d ms limit (%s)",
				  (unsigned long long)r->rec_start, r->limit_ms, what);
	if (rc < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s",
			 xmig__last_message()[0] ? xmig__last_message() : xmig_strerror(rc));
		return xmig__fail(rc, "reading %s at offset 0x%llx: %s", what,
				  (unsigned long long)r->bytes, why);
	}
	r->bytes += len;
	return 0;
}

int xmig__rec_read(struct xmig__reader *r, struct xmig__rec *out, int timeout_ms)
{
	uint8_t hdr[XMIG_REC_HDR_SIZE];
	uint64_t offset = r->bytes, sum, deadline;
	size_t padded;
	uint32_t i;
	int rc;

	deadline = xmig__deadline(timeout_ms);
	r->rec_start = offset;
	r->limit_ms = timeout_ms;
	rc = read_exact(r, hdr, sizeof(hdr), timeout_ms, "a record header");
	if (rc < 0)
		return rc;
	if (offset == 0) {
		memcpy(r->first, hdr, sizeof(hdr));
		r->first_len = sizeof(hdr);
	}
	out->type = xmig__le32(hdr);
	out->length = xmig__le32(hdr + 4);
	out->index = r->records;
	out->offset = offset;
	if (out->length > XMIG_REC_MAX_BODY)
		return xmig__fail(XMIG_EPROTO,
				  "record %llu (%s) at offset 0x%llx: length %u exceeds the "
				  "limit of %u bytes",
				  (unsigned long long)out->index, xmig__rec_name(out->type),
				  (unsigned long long)offset, out->length, XMIG_REC_MAX_BODY);
	padded = XMIG__ALIGN_UP((size_t)out->length, (size_t)8);
	if (padded > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *nb;

		while (cap < padded)
			cap *= 2;
		nb = realloc(r->buf, cap);
		if (!nb)
			return xmig__fail(XMIG_ENOMEM, "no memory for a %zu-byte record", padded);
		r->buf = nb;
		r->cap = cap;
	}
	if (padded) {
		rc = read_exact(r, r->buf, padded, timeout_ms < 0 ? -1 : xmig__ms_left(deadline),
				"a record body");
		if (rc < 0)
			return rc;
	}
	for (i = out->length; i < padded; i++)
		if (r->buf[i] != 0)
			return xmig__fail(XMIG_EPROTO,
					  "record %llu (%s) at offset 0x%llx: non-zero padding",
					  (unsigned long long)out->index,
					  xmig__rec_name(out->type), (unsigned long long)offset);
	sum = XXH3_64bits_withSeed(r->buf, out->length, rec_seed(out->type, out->length));
	if (sum != xmig__le64(hdr + 8))
		return xmig__fail(XMIG_ECHECKSUM,
				  "record %llu (%s) at offset 0x%llx: checksum mismatch "
				  "(computed %016llx, stream says %016llx)",
				  (unsigned long long)out->index, xmig__rec_name(out->type),
				  (unsigned long long)offset, (unsigned long long)sum,
				  (unsigned long long)xmig__le64(hdr + 8));
	out->body = r->buf;
	r->records++;
	return 0;
}

int xmig__reader_check_end(struct xmig__reader *r, int timeout_ms)
{
	uint8_t extra;
	int rc;

	if (!(r->t->flags & XMIG_TRANSPORT_WHOLE))
		return 0;
	rc = r->t->ops->read(r->t, &extra, 1, timeout_ms);
	if (rc == XMIG_EEOF)
		return 0;
	if (rc == 0)
		return xmig__fail(XMIG_EPROTO, "data after END at offset 0x%llx",
				  (unsigned long long)r->bytes);
	return rc; /* the transport's own failure and message */
}

int xmig__reader_not_a_stream(const struct xmig__reader *r)
{
	char show[4 * XMIG_REC_HDR_SIZE + 8];
	size_t i, n = 0, text = 1;

	for (i = 0; i < r->first_len; i++)
		if (r->first[i] < 0x20 || r->first[i] > 0x7e)
			text = r->first[i] == '\r' || r->first[i] == '\n' || r->first[i] == '\t'
				       ? text : 0;
	if (!r->first_len)
		return xmig__fail(XMIG_EPROTO, "not an xmig stream (no xmig header at offset 0)");
	for (i = 0; i < r->first_len && n + 5 < sizeof(show); i++) {
		uint8_t c = r->first[i];

		if (text)
			show[n++] = (c >= 0x20 && c <= 0x7e) ? (char)c : ' ';
		else
			n += (size_t)snprintf(show + n, sizeof(show) - n, "%s%02x", i ? " " : "", c);
	}
	show[n] = '\0';
	return xmig__fail(XMIG_EPROTO, "not an xmig stream (no xmig header at offset 0; it "
			  "starts with %s%s%s)", text ? "\"" : "", show, text ? "\"" : "");
}
