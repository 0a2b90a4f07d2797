/* SPDX-License-Identifier: MIT */
/*
 * The stream: record framing, encoding and strict decoding.
 * The format is specified in docs/stream-format.md; this file follows it.
 */
#ifndef XMIG_LIB_STREAM_H
#define XMIG_LIB_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "xmig/sys/backend.h"
#include "xmig/sys/transport.h"

#define XMIG_STREAM_VERSION 1
#define XMIG_STREAM_MAGIC "XMIGSTRM"
#define XMIG_REC_HDR_SIZE 16u
#define XMIG_REC_MAX_BODY (16u << 20)
#define XMIG_REC_OPTIONAL 0x80000000u
#define XMIG_BATCH_MAX 1024u
#define XMIG_ROUND_MAX 65535u /* round numbers are 0 .. XMIG_ROUND_MAX */
#define XMIG_ERROR_MSG_MAX 512u
#define XMIG_ANNOTATIONS_MAX 65536u

enum xmig_rec_type {
	XMIG_REC_HEADER = 1,
	XMIG_REC_PAGE_BATCH = 2,
	XMIG_REC_ROUND_END = 3,
	XMIG_REC_VCPU_STATE = 4,
	XMIG_REC_PLATFORM_STATE = 5,
	XMIG_REC_DIGEST = 6,
	XMIG_REC_END = 7,
	XMIG_REC_ANNOTATIONS = 0x80000008u, /* optional */
	XMIG_REC_MIGRATION_ID = 0x80000009u, /* optional */
	XMIG_REC_ACCEPT = 16,
	XMIG_REC_READY = 17,
	XMIG_REC_COMMIT = 18,
	XMIG_REC_DONE = 19,
	XMIG_REC_ERROR = 20,
	XMIG_REC_ROUND_ACK = 21,
	XMIG_REC_FINISHED = 22,
	XMIG_REC_QUERY = 23,
	XMIG_REC_OUTCOME = 24,
};

#define XMIG_MIGRATION_ID_LEN 16u

#define XMIG_HDR_F_DIGEST 0x1u
#define XMIG_HDR_F_DUPLEX 0x2u
#define XMIG_HDR_F_ALL (XMIG_HDR_F_DIGEST | XMIG_HDR_F_DUPLEX)
#define XMIG_HEADER_LEN 56u

enum xmig_page_enc {
	XMIG_PAGE_FULL = 0,
	XMIG_PAGE_ZERO = 1,
	XMIG_PAGE_ABSENT = 2,
};
#define XMIG_ENTRY_PFN_MASK ((1ull << 52) - 1)
#define XMIG_ENTRY_RSVD_MASK (0xfull << 52)
#define XMIG_ENTRY(pfn, enc) ((uint64_t)(pfn) | (uint64_t)(enc) << 56)
#define XMIG_ENTRY_ENC(e) ((unsigned int)((e) >> 56))

#define XMIG_ROUND_F_FINAL 0x1u
/* DIGEST algorithms. 1-3 (earlier xmigs': 1 skipped absent frames, 2 and 3
 * hashed the guest as one stream, so that leaving a frame out meant hashing
 * it all again) are refused. 4: XXH3-128 over the XXH3-128s of chunks of
 * XMIG_DIGEST_CHUNK frames, with the frames a device wrote after the pause
 * left out (ranges follow, maybe none). */
#define XMIG_DIGEST_XXH3_128_V1 1u
#define XMIG_DIGEST_XXH3_128_V2 2u
#define XMIG_DIGEST_XXH3_128_EXCL_V3 3u
#define XMIG_DIGEST_XXH3_128_CHUNKS 4u
#define XMIG_DIGEST_CHUNK 256u
#define XMIG_DIGEST_RANGES_MAX ((XMIG_REC_MAX_BODY - 40) / 16)

/* The printable name of a record type ("PAGE_BATCH", "type 0x...": static). */
const char *xmig__rec_name(uint32_t type);

/* --- writing --- */

/*
 * Write one record whose body is the concatenation of `body` (n parts; the
 * total is the body length), as one vectored write. `scratch` must have room
 * for n + 2 iovecs. Adds the written size to *bytes.
 */
int xmig__rec_write(struct xmig_transport *t, uint32_t type, const struct iovec *body,
		    int n, struct iovec *scratch, uint64_t *bytes);

/* A record with a small contiguous body (n may be 0). */
int xmig__rec_write_simple(struct xmig_transport *t, uint32_t type, const void *body,
			   size_t len, uint64_t *bytes);

void xmig__header_encode(uint8_t out[XMIG_HEADER_LEN], const struct xmig_guest_info *info,
			 uint32_t flags);

/* --- reading --- */

struct xmig__rec {
	uint32_t type;
	uint32_t length;
	const uint8_t *body; /* valid until the next read */
	uint64_t index;      /* 0-based record number in the stream */
	uint64_t offset;     /* byte offset of the record header */
};

struct xmig__reader {
	struct xmig_transport *t;
	uint8_t *buf;
	size_t cap;
	uint64_t bytes;   /* consumed so far */
	uint64_t records; /* read so far */
	uint64_t rec_start; /* offset of the record being read */
	uint8_t first[XMIG_REC_HDR_SIZE]; /* the stream's first bytes, as read */
	size_t first_len;
	int limit_ms;       /* its time limit */
};

void xmig__reader_init(struct xmig__reader *r, struct xmig_transport *t);
void xmig__reader_fini(struct xmig__reader *r);

/*
 * Read one record: framing, length limit, padding and checksum are checked.
 * The whole record must arrive within `timeout_ms` (< 0: no limit), header
 * and body together: a peer that trickles bytes gets no more time than a
 * silent one. Errors: XMIG_EEOF, XMIG_EPROTO, XMIG_ECHECKSUM, XMIG_EIO,
 * XMIG_ETIMEDOUT; message in xmig_error_last().
 */
int xmig__rec_read(struct xmig__reader *r, struct xmig__rec *out, int timeout_ms);

/*
 * The first record did not read as a HEADER: fail with XMIG_EPROTO and "not
 * an xmig stream (no xmig header at offset 0; it starts with ...)", the
 * first bytes shown as text when they are printable (an HTTP request, a
 * text file), else in hex. Returns XMIG_EPROTO.
 */
int xmig__reader_not_a_stream(const struct xmig__reader *r);

/*
 * After END, on a transport that is the whole stream (XMIG_TRANSPORT_WHOLE):
 * 0 if the transport reaches its end within `timeout_ms` (< 0: no limit; a
 * file never waits), XMIG_EPROTO ("data after END") if a byte follows.
 * Other transports are not read: 0.
 */
int xmig__reader_check_end(struct xmig__reader *r, int timeout_ms);

/* --- strict decoding --- */

struct xmig__header {
	uint32_t version;
	uint32_t flags;
	struct xmig_guest_info info;
};

struct xmig__batch {
	uint32_t count;
	uint32_t round;
	uint32_t nr_full;
	const uint8_t *entries; /* count little-endian u64 */
	const uint8_t *data;    /* nr_full pages */
};

struct xmig__round_end {
	uint32_t round;
	uint32_t flags;
	uint64_t pages;
	uint64_t bytes;
	uint64_t duration_ns;
};

struct xmig__state {
	uint32_t vcpu; /* XMIG_STATE_PLATFORM for platform state */
	uint32_t type;
	const uint8_t *data;
	size_t len;
};

struct xmig__digest {
	uint32_t algorithm;
	uint64_t pages;
	uint8_t digest[16];
	/* `nr_ranges` (u64 first, u64 count) pairs in the record's body (valid
	 * until the next read; NULL if none), ascending and disjoint, covering
	 * `excluded` frames left out */
	const uint8_t *ranges;
	uint64_t nr_ranges, excluded;
};

struct xmig__round_ack {
	uint32_t round;
};

struct xmig__done {
	int32_t status;
	uint64_t unpause_ns;
};

struct xmig__annotations {
	const char *text; /* not NUL-terminated: `len` bytes */
	size_t len;
};

/* MIGRATION_ID and QUERY: the id; OUTCOME: the id and the answer. */
struct xmig__outcome {
	uint32_t outcome; /* enum xmig_outcome (OUTCOME only) */
	uint8_t id[XMIG_MIGRATION_ID_LEN];
};

struct xmig__error_rec {
	int32_t code;
	char message[XMIG_ERROR_MSG_MAX + 1]; /* sanitised, NUL-terminated */
};

/* A decoded record: `type` says which member is valid. */
struct xmig__item {
	uint32_t type;
	union {
		struct xmig__header header;
		struct xmig__batch batch;
		struct xmig__round_end round_end;
		struct xmig__state state;
		struct xmig__digest digest;
		struct xmig__done done;
		struct xmig__round_ack round_ack;
		struct xmig__error_rec error;
		struct xmig__annotations annotations;
		struct xmig__outcome outcome;
	} u;
};

enum xmig__dec_phase {
	XMIG_DEC_START = 0, /* expecting HEADER */
	XMIG_DEC_PAGES,     /* rounds */
	XMIG_DEC_STATE,     /* after the final ROUND_END */
	XMIG_DEC_ENDED,     /* after END */
};

/*
 * The sender's stream as the receiver sees it: checks every record's body
 * and its place in the sequence. Handshake records (ACCEPT...) are not its
 * business, except ERROR, which it decodes anywhere.
 */
struct xmig__decoder {
	int phase;
	struct xmig__header hdr;
	uint32_t round;      /* round of the last batch or ROUND_END */
	int round_open;      /* a batch of `round` came after the last ROUND_END */
	int seen_digest;
	int seen_state;      /* a VCPU_STATE or PLATFORM_STATE came */
	int seen_id;         /* MIGRATION_ID came */
	uint64_t batches;
};

void xmig__decoder_init(struct xmig__decoder *d);

/*
 * Decode `rec` into `item` and advance. Returns 0, 1 for an optional
 * record that was skipped (item->type = its type, nothing else valid), or
 * XMIG_EPROTO / XMIG_EVERSION with the reason in xmig_error_last(),
 * prefixed with the record's index, name and offset.
 */
int xmig__decoder_feed(struct xmig__decoder *d, const struct xmig__rec *rec,
		       struct xmig__item *item);

/*
 * Decode a handshake record body (ACCEPT, ROUND_ACK, READY, COMMIT, DONE,
 * FINISHED, ERROR) or an outcome query's (QUERY, OUTCOME).
 */
int xmig__decode_handshake(const struct xmig__rec *rec, struct xmig__item *item);

#endif
