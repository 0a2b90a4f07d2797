/* SPDX-License-Identifier: MIT */
/* Never-written pages of anonymous memory, from /proc/self/pagemap. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "pagemap.h"

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_WINDOW 1024u /* entries read at once at most (8 KiB) */

const uint8_t xmig__zero_page[XMIG__ZERO_PAGE_SIZE]
	__attribute__((aligned(XMIG__ZERO_PAGE_SIZE)));

int xmig__pagemap_open(void)
{
	return open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

void xmig__pagemap_untouched(int fd, const uint8_t *base, const uint64_t *pfns, unsigned int n,
			     void **ptrs)
{
	uint64_t entries[PAGEMAP_WINDOW];
	uint64_t first = 0, have = 0, last = 0;
	uint64_t page0 = (uint64_t)(uintptr_t)base / XMIG__ZERO_PAGE_SIZE;

	if (fd < 0 || n == 0 || (uintptr_t)base % XMIG__ZERO_PAGE_SIZE)
		return;
	for (unsigned int i = 0; i < n; i++)
		if (pfns[i] > last)
			last = pfns[i];
	for (unsigned int i = 0; i < n; i++) {
		uint64_t pfn = pfns[i];

		if (!ptrs[i])
			continue; /* absent: stays so */
		/* A window of entries from this pfn on, as far as the batch
		 * reaches: one read for an ascending run, a new one whenever a
		 * pfn falls outside. */
		if (!have || pfn < first || pfn >= first + have) {
			uint64_t want = last >= pfn ? last - pfn + 1 : 1;
			ssize_t got;

			if (want > PAGEMAP_WINDOW)
				want = PAGEMAP_WINDOW;
			got = pread(fd, entries, want * 8, (off_t)((page0 + pfn) * 8));
			if (got < 8) {
				have = 0;
				continue;
			}
			first = pfn;
			have = (uint64_t)got / 8;
		}
		if (!(entries[pfn - first] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)))
			ptrs[i] = (void *)xmig__zero_page;
	}
}
