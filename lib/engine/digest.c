/* SPDX-License-Identifier: MIT */
/*
 * The memory digest behind --verify (docs/stream-format.md, DIGEST): one
 * XXH3-128 stream over every frame of the guest, in pfn order. Runs of
 * frames without data (absent, or all zero) go in as one item each, so a
 * frame absent on one side and present on the other is a mismatch, and a
 * guest's never-written memory costs its runs, not its size: the pages a
 * backend knows to be untouched (xmig__zero_page) are not even read.
 * Frames in `exclude` (algorithm 3: written by a device after the pause)
 * go in as runs of their own kind, their content left out.
 */
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "bitmap.h"
#include "engine.h"
#include "pagemap.h"

enum { KIND_ABSENT = 0, KIND_ZERO = 1, KIND_DATA = 2, KIND_EXCLUDED = 3 };

struct run {
	uint64_t first, count;
	uint32_t kind;
};

static void item(XXH3_state_t *st, uint64_t first, uint64_t count, uint32_t kind)
{
	uint8_t b[24];

	xmig__put_le64(b, first);
	xmig__put_le64(b + 8, count);
	xmig__put_le32(b + 16, kind);
	xmig__put_le32(b + 20, 0);
	XXH3_128bits_update(st, b, sizeof(b));
}

static void run_flush(XXH3_state_t *st, struct run *r)
{
	if (r->count)
		item(st, r->first, r->count, r->kind);
	r->count = 0;
}

static void run_add(XXH3_state_t *st, struct run *r, uint64_t pfn, uint32_t kind)
{
	if (r->count && (r->kind != kind || r->first + r->count != pfn))
		run_flush(st, r);
	if (!r->count) {
		r->first = pfn;
		r->kind = kind;
	}
	r->count++;
}

int xmig__digest(struct xmig_session *s, const uint64_t *exclude, uint64_t *pages,
		 uint8_t out[16])
{
	const struct xmig_backend_ops *ops = s->b->ops;
	const uint64_t n = s->info.nr_pages;
	const size_t psz = s->info.page_size;
	struct run run = { 0 };
	XXH3_state_t st;
	XXH128_hash_t h;
	uint64_t pfn, hashed = 0;
	unsigned int i, cnt;
	int rc;

	XXH3_INITSTATE(&st); /* see xmig__rec_write: harmless unseeded, kept uniform */
	XXH3_128bits_reset(&st);
	for (pfn = 0; pfn < n; pfn += cnt) {
		cnt = (unsigned int)(n - pfn < XMIG_BATCH_MAX ? n - pfn : XMIG_BATCH_MAX);
		if (exclude && xmig__bitmap_test(exclude, pfn)) {
			run_add(&st, &run, pfn, KIND_EXCLUDED);
			cnt = 1;
			continue;
		}
		/* a batch of frames to read ends before the next excluded one */
		for (i = 0; i < cnt; i++) {
			if (exclude && i && xmig__bitmap_test(exclude, pfn + i))
				break;
			s->pfns[i] = pfn + i;
		}
		cnt = i;
		rc = XMIG__HOOK(s, map_pages, s->pfns, cnt, s->ptrs, XMIG_MAP_READ);
		if (rc < 0)
			return xmig__serr_backend(s, rc, "map_pages (digest)");
		for (i = 0; i < cnt; i++) {
			const void *p = s->ptrs[i];

			if (!p) {
				run_add(&st, &run, s->pfns[i], KIND_ABSENT);
			} else if (p == xmig__zero_page || xmig__is_zero(p, psz)) {
				run_add(&st, &run, s->pfns[i], KIND_ZERO);
			} else {
				run_flush(&st, &run);
				item(&st, s->pfns[i], 1, KIND_DATA);
				XXH3_128bits_update(&st, p, psz);
				hashed++;
			}
		}
		ops->unmap_pages(s->b, s->ptrs, cnt);
	}
	run_flush(&st, &run);
	h = XXH3_128bits_digest(&st);
	xmig__put_le64(out, h.low64);
	xmig__put_le64(out + 8, h.high64);
	*pages = hashed;
	return 0;
}
