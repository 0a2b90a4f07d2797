/* SPDX-License-Identifier: MIT */
/* The memory digest behind --verify (docs/stream-format.md, DIGEST). */
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "engine.h"

int xmig__digest(struct xmig_session *s, uint64_t *pages, uint8_t out[16])
{
	const struct xmig_backend_ops *ops = s->b->ops;
	const uint64_t n = s->info.nr_pages;
	XXH3_state_t st;
	XXH128_hash_t h;
	uint64_t pfn, hashed = 0;
	unsigned int i, cnt;
	int rc;

	XXH3_128bits_reset(&st);
	for (pfn = 0; pfn < n; pfn += cnt) {
		cnt = (unsigned int)(n - pfn < XMIG_BATCH_MAX ? n - pfn : XMIG_BATCH_MAX);
		for (i = 0; i < cnt; i++)
			s->pfns[i] = pfn + i;
		rc = XMIG__HOOK(s, map_pages, s->pfns, cnt, s->ptrs, XMIG_MAP_READ);
		if (rc < 0)
			return xmig__serr_backend(s, rc, "map_pages (digest)");
		for (i = 0; i < cnt; i++) {
			uint8_t le[8];

			if (!s->ptrs[i])
				continue;
			xmig__put_le64(le, s->pfns[i]);
			XXH3_128bits_update(&st, le, sizeof(le));
			XXH3_128bits_update(&st, s->ptrs[i], s->info.page_size);
			hashed++;
		}
		ops->unmap_pages(s->b, s->ptrs, cnt);
	}
	h = XXH3_128bits_digest(&st);
	xmig__put_le64(out, h.low64);
	xmig__put_le64(out + 8, h.high64);
	*pages = hashed;
	return 0;
}
