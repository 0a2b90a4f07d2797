/* SPDX-License-Identifier: MIT */
/*
 * The memory digest behind --verify (docs/stream-format.md, DIGEST,
 * algorithm 4): the guest's frames in chunks of XMIG_DIGEST_CHUNK, one
 * XXH3-128 per chunk over its frames in pfn order, and the digest one
 * XXH3-128 over the chunks' hashes. Runs of frames without data (absent, or
 * all zero) go in as one item each, so a frame absent on one side and
 * present on the other is a mismatch, and a guest's never-written memory
 * costs its runs, not its size: the pages a backend knows to be untouched
 * (xmig__zero_page) are not even read. Frames in `exclude` (written by a
 * device after the pause) go in as runs of their own kind, their content
 * left out. The chunks are what make leaving a frame out cheap: only its
 * chunk is hashed again, not the guest.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "bitmap.h"
#include "engine.h"
#include "pagemap.h"

/* send.c marks a whole bitmap word's chunk at once */
_Static_assert(XMIG_DIGEST_CHUNK % 64 == 0, "a chunk is whole bitmap words");

enum { KIND_ABSENT = 0, KIND_ZERO = 1, KIND_DATA = 2, KIND_EXCLUDED = 3 };

/* The chunk being hashed: its state and the run of frames not yet fed. */
struct hasher {
	struct xmig__digest_table *t;
	XXH3_state_t st;
	uint64_t chunk; /* UINT64_MAX: none open */
	uint64_t first, count;
	uint32_t kind, data;
};

static void item(struct hasher *h, uint64_t first, uint64_t count, uint32_t kind)
{
	uint8_t b[24];

	xmig__put_le64(b, first);
	xmig__put_le64(b + 8, count);
	xmig__put_le32(b + 16, kind);
	xmig__put_le32(b + 20, 0);
	XXH3_128bits_update(&h->st, b, sizeof(b));
}

static void run_flush(struct hasher *h)
{
	if (h->count)
		item(h, h->first, h->count, h->kind);
	h->count = 0;
}

static void chunk_close(struct hasher *h)
{
	struct xmig__digest_chunk *c;
	XXH128_hash_t d;

	if (h->chunk == UINT64_MAX)
		return;
	run_flush(h);
	d = XXH3_128bits_digest(&h->st);
	c = &h->t->c[h->chunk];
	c->lo = d.low64;
	c->hi = d.high64;
	c->data = h->data;
	h->chunk = UINT64_MAX;
}

/* Frame `pfn` of kind `kind` (its bytes `p` for KIND_DATA), in pfn order. */
static void feed(struct hasher *h, uint64_t pfn, uint32_t kind, const void *p, size_t psz)
{
	if (pfn / XMIG_DIGEST_CHUNK != h->chunk) {
		chunk_close(h);
		h->chunk = pfn / XMIG_DIGEST_CHUNK;
		h->data = 0;
		XXH3_128bits_reset(&h->st);
	}
	if (kind == KIND_DATA) {
		run_flush(h);
		item(h, pfn, 1, KIND_DATA);
		XXH3_128bits_update(&h->st, p, psz);
		h->data++;
		return;
	}
	if (h->count && (h->kind != kind || h->first + h->count != pfn))
		run_flush(h);
	if (!h->count) {
		h->first = pfn;
		h->kind = kind;
	}
	h->count++;
}

int xmig__digest_table_init(struct xmig_session *s, struct xmig__digest_table *t)
{
	t->nr = (s->info.nr_pages + XMIG_DIGEST_CHUNK - 1) / XMIG_DIGEST_CHUNK;
	t->c = calloc(t->nr, sizeof(*t->c));
	if (!t->c)
		return xmig__serr(s, XMIG_ENOMEM, "no memory for the digest's %llu chunks",
				  (unsigned long long)t->nr);
	return 0;
}

void xmig__digest_table_free(struct xmig__digest_table *t)
{
	free(t->c);
	t->c = NULL;
	t->nr = 0;
}

int xmig__digest_hash(struct xmig_session *s, struct xmig__digest_table *t,
		      const uint64_t *which, const uint64_t *exclude)
{
	const struct xmig_backend_ops *ops = s->b->ops;
	const uint64_t n = s->info.nr_pages;
	const size_t psz = s->info.page_size;
	struct hasher h = { .t = t, .chunk = UINT64_MAX };
	uint64_t pfn, q;
	unsigned int i, cnt;
	int rc;

	XXH3_INITSTATE(&h.st); /* see xmig__rec_write: harmless unseeded, kept uniform */
	for (pfn = 0; pfn < n; pfn += cnt) {
		if (which && !xmig__bitmap_test(which, pfn / XMIG_DIGEST_CHUNK)) {
			cnt = (unsigned int)(XMIG_DIGEST_CHUNK - pfn % XMIG_DIGEST_CHUNK);
			continue;
		}
		if (exclude && xmig__bitmap_test(exclude, pfn)) {
			feed(&h, pfn, KIND_EXCLUDED, NULL, 0);
			cnt = 1;
			continue;
		}
		/* a batch of frames to read ends before the next excluded frame
		 * and before a chunk not to hash */
		for (i = 0; i < XMIG_BATCH_MAX && pfn + i < n; i++) {
			q = pfn + i;
			if (i && exclude && xmig__bitmap_test(exclude, q))
				break;
			if (i && which && q % XMIG_DIGEST_CHUNK == 0 &&
			    !xmig__bitmap_test(which, q / XMIG_DIGEST_CHUNK))
				break;
			s->pfns[i] = q;
		}
		cnt = i;
		rc = XMIG__HOOK(s, map_pages, s->pfns, cnt, s->ptrs, XMIG_MAP_READ);
		if (rc < 0)
			return xmig__serr_backend(s, rc, "map_pages (digest)");
		for (i = 0; i < cnt; i++) {
			const void *p = s->ptrs[i];

			if (!p)
				feed(&h, s->pfns[i], KIND_ABSENT, NULL, 0);
			else if (p == xmig__zero_page || xmig__is_zero(p, psz))
				feed(&h, s->pfns[i], KIND_ZERO, NULL, 0);
			else
				feed(&h, s->pfns[i], KIND_DATA, p, psz);
		}
		ops->unmap_pages(s->b, s->ptrs, cnt);
	}
	chunk_close(&h);
	return 0;
}

void xmig__digest_final(const struct xmig__digest_table *t, uint64_t *pages, uint8_t out[16])
{
	XXH3_state_t st;
	XXH128_hash_t h;
	uint8_t b[16];
	uint64_t i, data = 0;

	XXH3_INITSTATE(&st);
	XXH3_128bits_reset(&st);
	for (i = 0; i < t->nr; i++) {
		xmig__put_le64(b, t->c[i].lo);
		xmig__put_le64(b + 8, t->c[i].hi);
		XXH3_128bits_update(&st, b, sizeof(b));
		data += t->c[i].data;
	}
	h = XXH3_128bits_digest(&st);
	xmig__put_le64(out, h.low64);
	xmig__put_le64(out + 8, h.high64);
	*pages = data;
}
