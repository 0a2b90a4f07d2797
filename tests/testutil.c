/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "stream/stream.h"
#include "testutil.h"
#include "xmig/errors.h"
#include "xmig/transport.h"

int xmig_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

size_t tiny_elf(uint8_t *f, size_t cap, const uint8_t *code, size_t len, uint64_t paddr,
		int with_note)
{
	const size_t ph = 64, note = ph + 2 * 56, text = note + 20;

	ck_assert_uint_le(text + len, cap);
	memset(f, 0, text + len);
	memcpy(f, "\177ELF", 4);
	f[4] = 2; /* ELFCLASS64 */
	f[5] = 1; /* little-endian */
	f[6] = 1; /* EV_CURRENT */
	put16(f + 16, 2);     /* ET_EXEC */
	put16(f + 18, 62);    /* EM_X86_64 */
	put32(f + 20, 1);
	put64(f + 24, paddr);
	put64(f + 32, ph);    /* e_phoff */
	put16(f + 52, 64);    /* e_ehsize */
	put16(f + 54, 56);    /* e_phentsize */
	put16(f + 56, 2);     /* e_phnum */
	/* PT_LOAD */
	put32(f + ph, 1);
	put32(f + ph + 4, 5);
	put64(f + ph + 8, text);
	put64(f + ph + 16, paddr);
	put64(f + ph + 24, paddr);
	put64(f + ph + 32, len);
	put64(f + ph + 40, len);
	put64(f + ph + 48, 16);
	/* PT_NOTE (type 0 = PT_NULL when left out) */
	put32(f + ph + 56, with_note ? 4 : 0);
	put64(f + ph + 56 + 8, note);
	put64(f + ph + 56 + 32, 20);
	put64(f + ph + 56 + 40, 20);
	put64(f + ph + 56 + 48, 4);
	put32(f + note, 4);       /* namesz */
	put32(f + note + 4, 4);   /* descsz */
	put32(f + note + 8, 18);  /* XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(f + note + 12, "Xen", 4);
	put32(f + note + 16, (uint32_t)paddr);
	memcpy(f + text, code, len);
	return text + len;
}

static int mem_writev(struct xmig_transport *t, const struct iovec *iov, int iovcnt)
{
	struct mem_transport *m = (struct mem_transport *)t;
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (m->out_len + iov[i].iov_len > m->out_cap) {
			size_t cap = m->out_cap ? m->out_cap : 4096;

			while (cap < m->out_len + iov[i].iov_len)
				cap *= 2;
			m->out = realloc(m->out, cap);
			if (!m->out)
				return XMIG_ENOMEM;
			m->out_cap = cap;
		}
		if (iov[i].iov_len)
			memcpy(m->out + m->out_len, iov[i].iov_base, iov[i].iov_len);
		m->out_len += iov[i].iov_len;
	}
	return 0;
}

static int mem_read(struct xmig_transport *t, void *buf, size_t len, int timeout_ms)
{
	struct mem_transport *m = (struct mem_transport *)t;

	(void)timeout_ms;
	if (m->in_len - m->in_pos < len) {
		m->in_pos = m->in_len;
		return XMIG_EEOF;
	}
	memcpy(buf, m->in + m->in_pos, len);
	m->in_pos += len;
	return 0;
}

static void mem_shutdown(struct xmig_transport *t)
{
	(void)t;
}

static void mem_close(struct xmig_transport *t)
{
	(void)t;
}

static const struct xmig_transport_ops mem_ops = {
	.version = XMIG_TRANSPORT_OPS_VERSION,
	.name = "mem",
	.writev = mem_writev,
	.read = mem_read,
	.shutdown = mem_shutdown,
	.close = mem_close,
};

void mem_transport_init(struct mem_transport *m, const uint8_t *in, size_t in_len)
{
	memset(m, 0, sizeof(*m));
	m->base.ops = &mem_ops;
	m->base.flags = 0;
	m->in = in;
	m->in_len = in_len;
}

void mem_transport_fini(struct mem_transport *m)
{
	free(m->out);
	m->out = NULL;
}

static int cut_writev(struct xmig_transport *t, const struct iovec *iov, int iovcnt)
{
	struct cut_transport *c = (struct cut_transport *)t;
	uint32_t type = 0;
	int rc;

	if (c->cut)
		return XMIG_EIO;
	/* Every record goes out as one writev whose first part is its header. */
	if (iovcnt > 0 && iov[0].iov_len == 16)
		memcpy(&type, iov[0].iov_base, 4);
	if (type == c->type && ++c->seen == c->nth && c->corrupt) {
		uint8_t hdr[16];
		struct iovec v[8];

		memcpy(hdr, iov[0].iov_base, 16);
		hdr[8] ^= 0x01; /* one bit of the checksum */
		memcpy(v, iov, (size_t)(iovcnt < 8 ? iovcnt : 8) * sizeof(*v));
		v[0].iov_base = hdr;
		return c->inner->ops->writev(c->inner, v, iovcnt < 8 ? iovcnt : 8);
	}
	if (type == c->type && c->seen == c->nth && !c->corrupt) {
		c->cut = 1;
		if (c->drop) {
			c->inner->ops->shutdown(c->inner);
			return 0;
		}
		if (c->after_write) {
			rc = c->inner->ops->writev(c->inner, iov, iovcnt);
			c->inner->ops->shutdown(c->inner);
			return rc;
		}
		c->inner->ops->shutdown(c->inner);
		return XMIG_EIO;
	}
	return c->inner->ops->writev(c->inner, iov, iovcnt);
}

static int cut_read(struct xmig_transport *t, void *buf, size_t len, int timeout_ms)
{
	struct cut_transport *c = (struct cut_transport *)t;

	if (c->cut && !c->after_write)
		return XMIG_EIO;
	return c->inner->ops->read(c->inner, buf, len, timeout_ms);
}

static void cut_shutdown(struct xmig_transport *t)
{
	struct cut_transport *c = (struct cut_transport *)t;

	c->inner->ops->shutdown(c->inner);
}

static void cut_close(struct xmig_transport *t)
{
	(void)t;
}

static const struct xmig_transport_ops cut_ops = {
	.version = XMIG_TRANSPORT_OPS_VERSION,
	.name = "cut",
	.writev = cut_writev,
	.read = cut_read,
	.shutdown = cut_shutdown,
	.close = cut_close,
};

void cut_transport_init(struct cut_transport *c, struct xmig_transport *inner, uint32_t type,
			unsigned int nth, int after_write)
{
	memset(c, 0, sizeof(*c));
	c->base.ops = &cut_ops;
	c->base.flags = inner->flags;
	c->inner = inner;
	c->type = type;
	c->nth = nth;
	c->after_write = after_write;
}

/* --- spy backend --- */

/* ---- streams built by hand ---- */

void sample_init(struct sample *s)
{
	mem_transport_init(&s->w, NULL, 0);
}

void put_rec(struct sample *s, uint32_t type, const void *body, size_t len)
{
	ck_assert_int_eq(xmig__rec_write_simple(&s->w.base, type, body, len, NULL), 0);
}

void put_header(struct sample *s, uint64_t nr_pages, uint32_t flags)
{
	struct xmig_guest_info gi = { .nr_pages = nr_pages, .page_size = 4096, .nr_vcpus = 2,
				      .guest_kind = XMIG_GUEST_SIM, .backend = "sim" };
	uint8_t h[XMIG_HEADER_LEN];

	xmig__header_encode(h, &gi, flags);
	put_rec(s, XMIG_REC_HEADER, h, sizeof(h));
}

void put_batch(struct sample *s, uint32_t round, unsigned int n, const uint64_t *pfns,
	       const unsigned int *enc)
{
	static uint8_t body[8 + 8 * 16 + 16 * 4096];
	size_t len = 8 + 8ull * n;
	unsigned int i;

	ck_assert_uint_le(n, 16);
	xmig__put_le32(body, n);
	xmig__put_le32(body + 4, round);
	for (i = 0; i < n; i++) {
		xmig__put_le64(body + 8 + 8 * i, XMIG_ENTRY(pfns[i], enc[i]));
		if (enc[i] == XMIG_PAGE_FULL) {
			memset(body + len, (int)(pfns[i] ^ 0x5a), 4096);
			len += 4096;
		}
	}
	put_rec(s, XMIG_REC_PAGE_BATCH, body, len);
}

void put_round_end(struct sample *s, uint32_t round, int final)
{
	uint8_t b[32] = { 0 };

	xmig__put_le32(b, round);
	xmig__put_le32(b + 4, final ? XMIG_ROUND_F_FINAL : 0);
	xmig__put_le64(b + 8, 3);
	put_rec(s, XMIG_REC_ROUND_END, b, sizeof(b));
}

void put_vcpu(struct sample *s, uint32_t vcpu, uint32_t type, size_t blob)
{
	uint8_t b[64] = { 0 };

	ck_assert_uint_le(blob, sizeof(b) - 8);
	xmig__put_le32(b, vcpu);
	xmig__put_le32(b + 4, type);
	memset(b + 8, 0xab, blob);
	put_rec(s, XMIG_REC_VCPU_STATE, b, 8 + blob);
}

#define SPY(b) ((struct spy_backend *)(b))
#define INNER(b) (SPY(b)->inner)

static int spy_snapshot(struct spy_backend *s)
{
	struct xmig_guest_info gi;
	uint64_t pfn;
	int rc = INNER(s)->ops->describe(INNER(s), &gi);

	if (rc < 0)
		return rc;
	free(s->image);
	free(s->absent);
	s->image = calloc(gi.nr_pages, gi.page_size);
	s->absent = calloc((gi.nr_pages + 63) / 64, 8);
	s->absent_pages = 0;
	if (!s->image || !s->absent)
		return XMIG_ENOMEM;
	s->image_pages = gi.nr_pages;
	s->page_size = gi.page_size;
	for (pfn = 0; pfn < gi.nr_pages; pfn++) {
		void *p;

		rc = INNER(s)->ops->map_pages(INNER(s), &pfn, 1, &p, XMIG_MAP_READ);
		if (rc < 0)
			return rc;
		if (p) {
			memcpy(s->image + pfn * gi.page_size, p, gi.page_size);
		} else {
			s->absent[pfn / 64] |= 1ull << (pfn % 64);
			s->absent_pages++;
		}
		INNER(s)->ops->unmap_pages(INNER(s), &p, 1);
	}
	return 0;
}

static int spy_describe(struct xmig_backend *b, struct xmig_guest_info *out)
{
	return INNER(b)->ops->describe(INNER(b), out);
}

static int spy_log_start(struct xmig_backend *b)
{
	return INNER(b)->ops->log_dirty_start(INNER(b));
}

static int spy_log_stop(struct xmig_backend *b)
{
	SPY(b)->log_stops++;
	return INNER(b)->ops->log_dirty_stop(INNER(b));
}

static int spy_fetch(struct xmig_backend *b, uint64_t *bm, int final)
{
	struct spy_backend *s = SPY(b);
	int rc;

	if (s->device && s->fetched_final)
		s->device(s, 1);
	rc = INNER(b)->ops->dirty_fetch(INNER(b), bm, final);
	if (final && !s->fetched_final) {
		s->fetched_final = 1;
		if (s->device)
			s->device(s, 0);
	}
	return rc;
}

static int spy_map(struct xmig_backend *b, const uint64_t *pfns, unsigned int n, void **ptrs,
		   unsigned int flags)
{
	return INNER(b)->ops->map_pages(INNER(b), pfns, n, ptrs, flags);
}

static void spy_unmap(struct xmig_backend *b, void **ptrs, unsigned int n)
{
	INNER(b)->ops->unmap_pages(INNER(b), ptrs, n);
}

static int spy_pause(struct xmig_backend *b)
{
	int rc = INNER(b)->ops->pause(INNER(b));

	SPY(b)->pauses++;
	return rc < 0 ? rc : spy_snapshot(SPY(b));
}

static int spy_resume(struct xmig_backend *b)
{
	SPY(b)->resumes++;
	return INNER(b)->ops->resume(INNER(b));
}

static int spy_save(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx)
{
	return INNER(b)->ops->save_state(INNER(b), emit, ctx);
}

static int spy_create(struct xmig_backend *b, const struct xmig_guest_info *gi)
{
	SPY(b)->creates++;
	return INNER(b)->ops->create(INNER(b), gi);
}

static int spy_populate(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	SPY(b)->populated += n;
	return INNER(b)->ops->populate(INNER(b), pfns, n);
}

static int spy_release(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	SPY(b)->released += n;
	return INNER(b)->ops->release(INNER(b), pfns, n);
}

static int spy_load(struct xmig_backend *b, uint32_t vcpu, uint32_t type, const void *d,
		    size_t len)
{
	return INNER(b)->ops->load_state(INNER(b), vcpu, type, d, len);
}

static int spy_restore_complete(struct xmig_backend *b)
{
	struct spy_backend *s = SPY(b);

	s->restore_completes++;
	s->restore_complete_after_unpause += s->unpauses > 0;
	if (s->fail_restore_complete)
		return xmig_backend_error(XMIG_EBACKEND, "spy: restore_complete made to fail");
	return INNER(b)->ops->restore_complete(INNER(b));
}

static int spy_unpause(struct xmig_backend *b)
{
	int rc;

	SPY(b)->unpauses++;
	if (SPY(b)->fail_unpause)
		return XMIG_EBACKEND;
	rc = spy_snapshot(SPY(b));
	return rc < 0 ? rc : INNER(b)->ops->unpause(INNER(b));
}

static int spy_commit(struct xmig_backend *b)
{
	SPY(b)->commits++;
	return INNER(b)->ops->commit(INNER(b));
}

static int spy_destroy(struct xmig_backend *b)
{
	SPY(b)->destroys++;
	if (SPY(b)->fail_destroys > 0) {
		SPY(b)->fail_destroys--;
		return xmig_backend_error(XMIG_EBACKEND, "spy: destroy made to fail");
	}
	return INNER(b)->ops->destroy(INNER(b));
}

static void spy_free(struct xmig_backend *b)
{
	(void)b; /* the test owns both */
}

static const struct xmig_backend_ops spy_ops = {
	.version = XMIG_BACKEND_OPS_VERSION,
	.name = NULL, /* set from the inner backend in spy_init */
	.describe = spy_describe,
	.log_dirty_start = spy_log_start,
	.log_dirty_stop = spy_log_stop,
	.dirty_fetch = spy_fetch,
	.map_pages = spy_map,
	.unmap_pages = spy_unmap,
	.pause = spy_pause,
	.resume = spy_resume,
	.save_state = spy_save,
	.create = spy_create,
	.populate = spy_populate,
	.release = spy_release,
	.load_state = spy_load,
	.restore_complete = spy_restore_complete,
	.unpause = spy_unpause,
	.destroy = spy_destroy,
	.free = spy_free,
	.commit = spy_commit, /* every backend of the library has one */
};

/* One ops table per inner backend name (the receiver matches on the name). */
static struct xmig_backend_ops spy_tables[4];

void spy_init(struct spy_backend *s, struct xmig_backend *inner)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->inner = inner;
	for (i = 0; i < 4; i++) {
		if (!spy_tables[i].name) {
			spy_tables[i] = spy_ops;
			spy_tables[i].name = inner->ops->name;
		}
		if (!strcmp(spy_tables[i].name, inner->ops->name))
			break;
	}
	s->base.ops = &spy_tables[i < 4 ? i : 0];
}

void spy_fini(struct spy_backend *s)
{
	free(s->image);
	free(s->absent);
	s->image = NULL;
	s->absent = NULL;
}

long long absent_diff(const struct spy_backend *a, const struct spy_backend *b)
{
	for (uint64_t i = 0; i < a->image_pages && i < b->image_pages; i++)
		if (((a->absent[i / 64] ^ b->absent[i / 64]) >> (i % 64)) & 1)
			return (long long)i;
	return a->image_pages == b->image_pages ? -1 : (long long)a->image_pages;
}

long long image_diff(const uint8_t *a, const uint8_t *b, uint64_t pages, uint32_t page_size)
{
	uint64_t i;

	for (i = 0; i < pages; i++)
		if (memcmp(a + i * page_size, b + i * page_size, page_size) != 0)
			return (long long)i;
	return -1;
}

/* ---- payloads for the transport suites ---- */

uint8_t test_pattern(size_t i, uint32_t seed)
{
	uint32_t x = (uint32_t)i * 0x9e3779b1u + seed;

	x ^= x >> 15;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	return (uint8_t)(x >> 24);
}

void test_payload_fill(struct test_payload *p, uint32_t seed,
		       const size_t sizes[XMIG_TEST_PAYLOAD_ENTRIES])
{
	size_t off = 0;

	p->len = 0;
	for (int i = 0; i < XMIG_TEST_PAYLOAD_ENTRIES; i++)
		p->len += sizes[i];
	p->buf = malloc(p->len);
	ck_assert_ptr_nonnull(p->buf);
	for (size_t i = 0; i < p->len; i++)
		p->buf[i] = test_pattern(i, seed);
	for (int i = 0; i < XMIG_TEST_PAYLOAD_ENTRIES; i++) {
		p->iov[i].iov_base = p->buf + off;
		p->iov[i].iov_len = sizes[i];
		off += sizes[i];
	}
	memcpy(p->copy, p->iov, sizeof(p->iov));
}

void test_payload_check(const uint8_t *got, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != test_pattern(i, seed))
			ck_abort_msg("byte %zu of %zu is 0x%02x, want 0x%02x", i, len, got[i],
				     test_pattern(i, seed));
}

void *test_reader_main(void *arg)
{
	struct test_reader *r = arg;
	size_t done = 0, n;

	r->rc = 0;
	for (size_t i = 0; done < r->len && r->rc == 0; i++) {
		n = r->pieces[i % r->npieces];
		if (n > r->len - done)
			n = r->len - done;
		r->rc = r->t->ops->read(r->t, r->buf + done, n, 20000);
		done += n;
	}
	snprintf(r->msg, sizeof(r->msg), "%s", xmig_error_last());
	return NULL;
}
